"""`consistency`: judge N responses k times, cache off; run-to-run Spearman ρ and ICC(2,1) per dimension."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pathvlm_eval.files import write_text
from pathvlm_rewards.audit import inputs
from pathvlm_rewards.audit.judging import judge_config, judge_runs
from pathvlm_rewards.audit.outputs import table, write_report
from pathvlm_rewards.audit.plots import histograms
from pathvlm_rewards.audit.rubric import rubric, scores_of
from pathvlm_rewards.audit.stats import Estimate, bootstrap, icc_2_1, mean_pairwise_spearman
from pathvlm_rewards.judge.report import summarize
from pathvlm_rewards.judge.runner import JUDGE_VERSION
from pathvlm_rewards.judge.verdict import Verdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs.add_item_arguments(parser)
    parser.add_argument("--k", type=int, default=3, help="judgings of every response (the paper: 3)")
    parser.add_argument("--judge-config", type=Path, help="YAML of reward_kwargs.judge settings "
                        "(at the top or under `judge:`), e.g. conf/judge/gpt4o.yaml")
    parser.add_argument("--judge-set", action="append", default=[], metavar="KEY=VALUE",
                        help="one judge setting over the file, e.g. model=gpt-4o (repeatable)")
    inputs.add_bootstrap_arguments(parser)


def _matrix(verdicts: list[list[Verdict]], dimension: str) -> np.ndarray:
    """items × runs scores of one dimension."""
    return np.array([[scores_of(v.integrity, v.knowledge)[dimension] for v in run] for run in verdicts]).T


def run(args: argparse.Namespace) -> list[str]:
    if args.k < 2:
        raise inputs.AuditInputError("--k must be at least 2 (run-to-run agreement needs two judgings)")
    config = judge_config(args.judge_config, args.judge_set)
    items, skipped = inputs.items_from(args)
    verdicts = judge_runs(config, items, args.k)
    # Only responses the judge itself scored in every run: a fallback is the reward's, not the judge's.
    kept = [i for i in range(len(items)) if not any(run[i].fallback for run in verdicts)]
    usable = [[run[i] for i in kept] for run in verdicts]
    paper = rubric()["paper_repeatability"]
    results = {}
    for dimension, paper_rho in paper["spearman"].items():
        scores = _matrix(usable, dimension) if kept else np.zeros((0, args.k))
        results[dimension] = {
            "spearman": bootstrap(mean_pairwise_spearman, scores, args.bootstrap, args.seed).to_json(),
            "icc_2_1": bootstrap(icc_2_1, scores, args.bootstrap, args.seed).to_json(),
            "paper_spearman": paper_rho,
        }
    usage = summarize(verdict.fields() for run in verdicts for verdict in run)
    data = {
        "judge": {"backend": config.backend, "model": config.model, "base_url": config.base_url,
                  "temperature": config.temperature, "max_tokens": config.max_tokens, "version": JUDGE_VERSION},
        "responses": len(items), "runs": args.k, "scored_in_every_run": len(kept), "left_out": skipped,
        "seed": args.seed, "bootstrap_resamples": args.bootstrap, "paper": paper, "statistics": results,
        "fallbacks_per_run": [sum(v.fallback for v in run) for run in verdicts],
        "usage": {"calls": usage.calls, "prompt_tokens": usage.prompt_tokens,
                  "completion_tokens": usage.completion_tokens, "latency_s": usage.latency_s},
        "items": [{"item_id": item.item_id, "source": item.source, "correct": item.correct,
                   "runs": [{"integrity": run[i].integrity, "knowledge": run[i].knowledge,
                             "fallback": run[i].reason} for run in verdicts]}
                  for i, item in enumerate(items)],
    }
    write_report(args.out, "consistency", _report(data), data)
    write_text(args.out / "calls.jsonl", "".join(json.dumps(v.fields()) + "\n" for run in verdicts for v in run))
    histograms(args.out / "scores.png", f"{config.model}: scores per run",
               {f"run {r + 1}": {d: _matrix([run], d)[:, 0] for d in paper["spearman"]} for r, run in
                enumerate(usable)})
    return _report(data)


def _report(data: dict) -> list[str]:
    paper = data["paper"]
    rows = [(dimension, Estimate(**s["spearman"]).text(), Estimate(**s["icc_2_1"]).text(), f"{s['paper_spearman']:.3f}")
            for dimension, s in data["statistics"].items()]
    return [
        f"# Judge consistency: {data['judge']['model']} ({data['judge']['backend']})",
        "",
        f"{data['responses']} responses judged {data['runs']} times with the cache off; "
        f"{data['scored_in_every_run']} scored by the judge in every run (the others got the fallback in at least "
        f"one run: {data['fallbacks_per_run']} per run). Left out of the inputs: {data['left_out'] or 'none'}.",
        "",
        *table(["dimension", "Spearman ρ (mean over run pairs) [95% CI]", "ICC(2,1) [95% CI]",
                f"paper ρ ({paper['chains']} chains, {paper['runs']} runs)"], rows),
        "",
        f"ICC(2,1): two-way random effects, absolute agreement, one judging. Intervals: percentile bootstrap over "
        f"responses ({data['bootstrap_resamples']} resamples, seed {data['seed']}). n/a: undefined (constant scores).",
        f"Judge calls {data['usage']['calls']}, tokens {data['usage']['prompt_tokens']} prompt + "
        f"{data['usage']['completion_tokens']} completion. Scores per run: scores.png.",
    ]

