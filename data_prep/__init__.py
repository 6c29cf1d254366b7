"""Parquet builders for verl (placeholder until the data_prep issue lands)."""
