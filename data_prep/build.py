"""The pipeline every builder runs: scan questions, check images, split, write Parquet and the manifest.

Pass 1 reads each distinct image file once (hash + full decode, in threads) and keeps only small metadata,
so memory does not grow with image bytes; pass 2 streams each split's rows into its Parquet file.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from data_prep.config import PixelBudget, Template
from data_prep.images import ImageError, ImageInfo, read_image, stored_image
from data_prep.records import Question, Skipped, SourceError
from data_prep.rows import RowContext, build_row
from data_prep.splitting import assign_groups, seeded_key
from data_prep.writer import file_sha256, write_json, write_parquet

SPLITS = ("sft_train", "grpo_train", "val", "test")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class SplitPlan:
    """Either `sizes` (pool everything, split image-disjointly) or `fixed` (every question's split is given:
    a split name, or "source" for the question's own source split, renamed by `source_names`)."""

    sizes: dict[str, int] | None = None
    fixed: str | None = None
    seed: int = 0
    source_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.sizes is None) == (self.fixed is None):
            raise ValueError("a split plan needs exactly one of sizes / fixed")
        unknown = set(self.sizes or {}) | ({self.fixed} - {None, "source"})
        if unknown - set(SPLITS):
            raise ValueError(f"unknown split names {sorted(unknown - set(SPLITS))}; use {SPLITS}")


@dataclass
class BuildSettings:
    builder: str
    out_dir: Path
    plan: SplitPlan
    budget: PixelBudget
    template: Template
    strict: bool = False
    workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))
    arguments: dict[str, Any] = field(default_factory=dict)
    extra_manifest: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scanned:
    question: Question
    info: ImageInfo
    split: str


def _probe(path: Path) -> ImageInfo | ImageError:
    try:
        return read_image(path)[1]
    except ImageError as err:
        return err


def _dedup_key(question: Question, sha: str) -> tuple:
    return (sha, " ".join(question.question.split()).casefold(), question.options, question.answer)


def scan(records: Iterable[Question | Skipped], settings: BuildSettings) -> tuple[list[_Scanned], list[Skipped],
                                                                                  list[dict[str, str]]]:
    """Questions with readable images (deduplicated in pooled mode), the skipped items and the duplicates."""
    questions, skipped = [], []
    for record in tqdm(records, desc=f"{settings.builder}: reading questions", unit=" q", disable=None):
        (skipped if isinstance(record, Skipped) else questions).append(record)
    paths = sorted({q.image_file for q in questions})
    with ThreadPoolExecutor(settings.workers) as pool:
        checked = tqdm(pool.map(_probe, paths), total=len(paths), unit=" img", disable=None,
                       desc=f"{settings.builder}: checking images")
        probes = dict(zip(paths, checked, strict=True))
    scanned, duplicates, seen = [], [], {}
    for question in questions:
        probe = probes[question.image_file]
        if isinstance(probe, ImageError):
            skipped.append(Skipped(question.where, str(probe)))
            continue
        split = settings.plan.fixed if settings.plan.fixed not in (None, "source") else \
            settings.plan.source_names.get(question.source_split, question.source_split)
        if settings.plan.sizes is not None:
            key = _dedup_key(question, probe.sha256)
            if key in seen:
                duplicates.append({"where": question.where, "kept": seen[key]})
                continue
            seen[key] = question.where
        scanned.append(_Scanned(question, probe, split))
    if settings.strict and skipped:
        listing = "; ".join(f"{s.where}: {s.reason}" for s in skipped[:10])
        raise SourceError(f"--strict: {len(skipped)} item(s) cannot be used, e.g. {listing}")
    return scanned, skipped, duplicates


def plan_splits(scanned: list[_Scanned], plan: SplitPlan) -> dict[str, list[_Scanned]]:
    """Split name -> its questions in output order (questions of one image adjacent)."""
    if plan.sizes is None:
        out: dict[str, list[_Scanned]] = {}
        for item in scanned:
            if item.split not in SPLITS:
                raise SourceError(f"{item.question.where}: split {item.split!r} is not one of {SPLITS}")
            out.setdefault(item.split, []).append(item)
        return {s: out[s] for s in SPLITS if s in out}
    by_image: dict[str, list[_Scanned]] = {}
    for item in scanned:
        by_image.setdefault(item.info.sha256, []).append(item)
    labels = {sha: [f"{i.question.category}|{i.question.gold_letter}" for i in items]
              for sha, items in by_image.items()}
    assigned = assign_groups(labels, plan.sizes, plan.seed)
    return {
        split: [item for sha in sorted(keys, key=lambda k: seeded_key(plan.seed, split, k)) for item in by_image[sha]]
        for split, keys in assigned.items()
    }


def short_splits(splits: dict[str, list[_Scanned]], plan: SplitPlan, usable: int) -> dict[str, dict[str, Any]]:
    """Requested splits that got fewer questions than asked, with the reason; {} in fixed mode."""
    short = {}
    for split, size in (plan.sizes or {}).items():
        rows = len(splits.get(split, []))
        if rows < size:
            reason = (f"only {usable} usable question(s) for {sum(plan.sizes.values())} requested" if
                      usable < sum(plan.sizes.values()) else "image groups did not fit the size exactly")
            short[split] = {"requested": size, "rows": rows, "reason": reason}
    return short


def check_short(short: dict[str, dict[str, Any]], unused: int, strict: bool) -> None:
    """--strict: a split left short because the data ran out (or left empty) is an error."""
    fatal = {s: v for s, v in short.items() if v["rows"] == 0 or unused == 0}
    if strict and fatal:
        listing = "; ".join(f"{s}: {v['rows']} of {v['requested']} ({v['reason']})" for s, v in fatal.items())
        raise SourceError(f"--strict: requested split size(s) exceed the data: {listing}")


def _stored(item: _Scanned, budget: PixelBudget) -> tuple[bytes, bool]:
    """The bytes to store for the item's image (decoded again only when it needs converting)."""
    try:
        data = item.question.image_file.read_bytes()
    except OSError as err:
        raise SourceError(f"{item.question.image_file} disappeared while the build was running ({err})") from err
    if hashlib.sha256(data).hexdigest() != item.info.sha256:
        raise SourceError(f"{item.question.image_file} changed while the build was running")
    stored, _, converted = stored_image(data, item.info, budget)
    return stored, converted


def _rows(items: list[_Scanned], split: str, settings: BuildSettings, converted: set[str]) -> Iterator[dict[str, Any]]:
    """Rows of one split in order; images are read and converted in threads, a window at a time."""
    window = 64
    with ThreadPoolExecutor(settings.workers) as pool:
        iterator = iter(items)
        index = 0
        while chunk := list(islice(iterator, window)):
            unique = list({item.info.sha256: item for item in chunk}.values())
            results = pool.map(lambda i: _stored(i, settings.budget), unique)
            stored = dict(zip((i.info.sha256 for i in unique), results, strict=True))
            for item in chunk:
                question = item.question
                data, was_converted = stored[item.info.sha256]
                if was_converted:
                    converted.add(item.info.sha256)
                user_text = settings.template.user_text(question.answer_type, question.question, question.options)
                context = RowContext(
                    question=question, split=split, index=index, user_text=user_text,
                    assistant_text=settings.template.assistant_text(question.reasoning, question.answer),
                    image_bytes=data, image_path=str(question.image_file.resolve()), image_sha256=item.info.sha256,
                )
                index += 1
                yield build_row(context, question.image_name)


def _summary(items: list[_Scanned]) -> dict[str, Any]:
    return {
        "rows": len(items),
        "images": len({i.info.sha256 for i in items}),
        "by_category": dict(sorted(Counter(i.question.category for i in items).items())),
        "by_answer": dict(sorted(Counter(i.question.gold_letter for i in items).items())),
        "by_answer_type": dict(sorted(Counter(i.question.answer_type for i in items).items())),
    }


def build(records: Iterable[Question | Skipped], settings: BuildSettings) -> dict[str, Any]:
    """Run the whole pipeline; returns the manifest (also written to OUT/manifest.json)."""
    scanned, skipped, duplicates = scan(records, settings)
    splits = plan_splits(scanned, settings.plan)
    unused = len(scanned) - sum(len(items) for items in splits.values())
    short = short_splits(splits, settings.plan, len(scanned))
    check_short(short, unused, settings.strict)
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    converted: set[str] = set()
    summaries = {}
    for split, items in splits.items():
        path = settings.out_dir / f"{split}.parquet"
        rows = tqdm(_rows(items, split, settings, converted), total=len(items), unit=" row", disable=None,
                    desc=f"{settings.builder}: writing {path.name}")
        write_parquet(path, rows)
        summaries[split] = {"file": path.name, "sha256": file_sha256(path), **_summary(items)}
    for stale in set(SPLITS) - set(splits):  # a split file of an earlier run would contradict the manifest
        (settings.out_dir / f"{stale}.parquet").unlink(missing_ok=True)
    owners: dict[str, set[str]] = {}
    for split, items in splits.items():
        for item in items:
            owners.setdefault(item.info.sha256, set()).add(split)
    manifest = {
        "builder": settings.builder,
        "arguments": settings.arguments,
        "seed": settings.plan.seed,
        "requested": settings.plan.sizes or {"fixed_split": settings.plan.fixed},
        "pixel_budget": {"min_pixels": settings.budget.min_pixels, "max_pixels": settings.budget.max_pixels},
        "template": settings.template.source,
        "splits": summaries,
        "questions_read": len(scanned) + len(skipped) + len(duplicates),
        "questions_unused": unused,
        "short_splits": short,
        "images_converted": len(converted),
        "images_shared_across_splits": sum(len(s) > 1 for s in owners.values()),
        "skipped": [{"where": s.where, "reason": s.reason} for s in skipped],
        "duplicates": duplicates,
        **settings.extra_manifest,
    }
    write_json(settings.out_dir / MANIFEST, manifest)
    return manifest
