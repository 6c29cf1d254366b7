"""`python -m pathvlm_rewards.audit {consistency,export,agreement,cost} ...`: validate the judge before a GRPO run.

Each subcommand writes OUT/report.md, OUT/<subcommand>.json and, where they help, PNG plots.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pathvlm_rewards.audit import agreement, consistency, cost, export
from pathvlm_rewards.audit.items import AuditInputError
from pathvlm_rewards.judge.openai_backend import JudgeConfigError

SUBCOMMANDS = {"consistency": consistency, "export": export, "agreement": agreement, "cost": cost}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m pathvlm_rewards.audit", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    for name, module in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__)
        module.add_arguments(sub)
        sub.add_argument("--out", type=Path, required=True, help="folder for report.md, the JSON and the plots")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        lines = SUBCOMMANDS[args.command].run(args)
    except (AuditInputError, JudgeConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    print(f"\nreport: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
