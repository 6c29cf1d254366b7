"""What every subcommand leaves in its output folder: report.md and <subcommand>.json (atomic writes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pathvlm_eval.files import write_json, write_text


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table."""
    return [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}",
            *(f"| {' | '.join(str(cell) for cell in row)} |" for row in rows)]


def write_report(out: Path, name: str, lines: Sequence[str], data: dict[str, Any]) -> tuple[Path, Path]:
    """`out/report.md` and `out/<name>.json`."""
    return write_text(out / "report.md", "\n".join(lines) + "\n"), write_json(out / f"{name}.json", data)
