"""Command-line arguments the subcommands share: which responses, which rows, how many, where the report goes."""

from __future__ import annotations

import argparse
from pathlib import Path

from pathvlm_rewards.audit.items import AuditInputError, AuditItem, collect, sample

__all__ = ["AuditInputError", "add_bootstrap_arguments", "add_item_arguments", "items_from"]


def add_item_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--responses", type=Path, nargs="+", required=True,
                        help="verl dump folders/files (rollouts/, validation/) or evaluation samples/<model>.jsonl")
    parser.add_argument("--data", type=Path, nargs="+", required=True,
                        help="the data_prep Parquet files the responses were generated from (e.g. val.parquet)")
    parser.add_argument("--n", type=int, default=100, help="responses to sample (all if fewer)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample, its order and the bootstrap")


def add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the 95%% intervals")


def items_from(args: argparse.Namespace) -> tuple[list[AuditItem], dict[str, int]]:
    """The seeded sample of --n responses, and the responses left out by reason."""
    if args.n < 1:
        raise AuditInputError("--n must be at least 1")
    collected = collect(args.responses, args.data)
    return sample(collected.items, args.n, args.seed), dict(collected.skipped)
