"""Reward plugin for verl (placeholder until the reward issue lands)."""
