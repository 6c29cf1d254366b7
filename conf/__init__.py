"""Hydra configs of pathvlm-r1, installed as the package `pathvlm_conf` (pkg://pathvlm_conf)."""
