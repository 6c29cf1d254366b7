"""`export`: a blinded rating sheet for pathologists (sheet.html) and the ratings.csv they fill in.

The page is self-contained (images inlined), one card per response, with the rubric's two dimensions and their
allowed values; item ids are stable, the order is random (seeded), and no model or judge score is shown.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
from functools import cache
from html import escape
from importlib import resources
from string import Template

from pathvlm_eval.files import write_text
from pathvlm_rewards.audit import inputs
from pathvlm_rewards.audit.items import AuditItem
from pathvlm_rewards.audit.outputs import write_report
from pathvlm_rewards.audit.rubric import dimensions, levels, rubric
from pathvlm_rewards.judge.image import judge_image

SHEET, RATINGS = "sheet.html", "ratings.csv"
CSV_COLUMNS = ("card", "item_id", *dimensions(), "comment")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    inputs.add_item_arguments(parser)
    parser.add_argument("--title", default="Rating sheet: reasoning of pathology answers")


@cache
def _template() -> Template:
    return Template((resources.files("pathvlm_rewards.audit") / "rating_sheet.html").read_text(encoding="utf-8"))


def allowed_values() -> str:
    return " / ".join(f"{level:g}" for level in levels())


def rubric_html() -> str:
    """The rubric's dimensions, their rule, what they check and the allowed values."""
    parts = []
    for name, dimension in rubric()["dimensions"].items():
        checks = "".join(f"<li>{escape(item)}</li>" for item in dimension["items"])
        parts.append(f"<h3>{escape(dimension['title'])} &mdash; column <code>{name}</code></h3>"
                     f"<p>{escape(dimension['rule'])} Allowed values: <span class='levels'>{allowed_values()}</span>"
                     f"</p><ol>{checks}</ol>")
    return "\n".join(parts)


def card_html(position: int, item: AuditItem) -> str:
    image = judge_image(item.row.extra_info, None)
    source = f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"
    scales = "".join(f"<p class='scale'>{escape(name)}: <span class='levels'>{allowed_values()}</span></p>"
                     for name in dimensions())
    return (f"<section class='card' id='{item.item_id}'><h2>Card {position} &middot; item {item.item_id}</h2>"
            f"<img src='{source}' alt='image of item {item.item_id}'>"
            f"<p><b>Question</b> (as the model saw it, options included)</p>"
            f"<div class='question'>{escape(item.row.question)}</div>"
            f"<p><b>Gold answer.</b> {escape(item.row.gold)}</p>"
            f"<p><b>Response.</b></p><div class='response'>{escape(item.response)}</div>{scales}</section>")


def ratings_csv(items: list[AuditItem]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([position, item.item_id, *[""] * len(dimensions()), ""] for position, item in
                     enumerate(items, 1))
    return buffer.getvalue()


def run(args: argparse.Namespace) -> list[str]:
    items, skipped = inputs.items_from(args)
    cards = "\n".join(card_html(position, item) for position, item in enumerate(items, 1))
    write_text(args.out / SHEET, _template().substitute(title=escape(args.title), count=len(items),
                                                        rubric=rubric_html(), cards=cards))
    write_text(args.out / RATINGS, ratings_csv(items))
    data = {"items": len(items), "seed": args.seed, "left_out": skipped, "columns": list(CSV_COLUMNS),
            "levels": list(levels()),
            "key": [{"card": position, "item_id": item.item_id, "source": item.source,
                     "row": "/".join(map(str, item.row.key))} for position, item in enumerate(items, 1)]}
    lines = [
        "# Rating sheet",
        "",
        f"{len(items)} responses (seed {args.seed}; left out of the inputs: {skipped or 'none'}).",
        f"Give each rater `{SHEET}` and a copy of `{RATINGS}` named after them (e.g. `ratings_rater1.csv`); "
        f"they fill `{'`, `'.join(dimensions())}` with {allowed_values()}.",
        "`export.json` maps items to their responses' sources; keep it from the raters.",
    ]
    write_report(args.out, "export", lines, data)
    return lines
