"""Launchers and the preflight check for the PathVLM-R1 stages."""
