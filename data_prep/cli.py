"""`python -m data_prep <builder> ...`: one command per data set, each writing OUT/<split>.parquet + manifest.json."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from data_prep.build import SPLITS, BuildSettings, SplitPlan, build
from data_prep.config import load_pixel_budget, load_template
from data_prep.curriculum import add_parser as add_curriculum_parser
from data_prep.images import ImageError
from data_prep.records import Question, Skipped, SourceError

SIZE_FLAGS = {"sft_train": "sft_size", "grpo_train": "grpo_size", "val": "val_size", "test": "test_size"}
DEMO_SIZES = {"sft_train": 200, "grpo_train": 200, "val": 50, "test": 100}
# Namespace entries that are not the user's arguments (the manifest records the arguments).
NOT_ARGUMENTS = ("builder", "workers", "records", "manifest", "frozen_splits", "run", "summary")


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _common(parser: argparse.ArgumentParser, sizes_required: bool = False, fixed_split: bool = True) -> None:
    parser.add_argument("--out-dir", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (same input + seed = same files)")
    for split, dest in SIZE_FLAGS.items():
        required = sizes_required and split != "val"
        parser.add_argument(f"--{dest.replace('_', '-')}", dest=dest, type=int, required=required,
                            help=f"questions in {split}.parquet (image-disjoint split of everything read)")
    if fixed_split:
        parser.add_argument("--split", choices=SPLITS, default="test",
                            help="without sizes: write every question to OUT/<split>.parquet (default: test)")
    parser.add_argument("--strict", action="store_true", help="any unusable item is an error instead of a skip")
    parser.add_argument("--pixels", default="default", help="pixel preset: conf/pixels/<name>.yaml (default, tiny)")
    parser.add_argument("--min-pixels", type=int, default=None, help="override the preset's min_pixels")
    parser.add_argument("--max-pixels", type=int, default=None, help="override the preset's max_pixels")
    parser.add_argument("--template", type=Path, default=None, help="prompt template YAML (default: the paper's)")
    parser.add_argument("--workers", type=int, default=None, help="image reader threads (default: CPUs, max 8)")
    parser.set_defaults(run=run, summary=summary)


def _r1json_records(args: argparse.Namespace) -> Iterable[Question | Skipped]:
    from data_prep.sources.r1json import read_r1json

    for spec in args.split_file:
        split, _, file = spec.partition("=")
        if split not in SPLITS or not file:
            raise SourceError(f"--split-file {spec!r}: expected SPLIT=FILE with SPLIT in {SPLITS}")
        path = Path(file)
        yield from read_r1json(path, split, args.image_root or path.parent, args.data_source, args.ability)


def _pathmmu_records(args: argparse.Namespace) -> Iterable[Question | Skipped]:
    from data_prep.sources.pathmmu import SOURCE_SPLITS, read_pathmmu

    return read_pathmmu(args.root, args.categories, args.source_splits or SOURCE_SPLITS)


def _pathvqa_records(args: argparse.Namespace) -> Iterable[Question | Skipped]:
    from data_prep.sources.pathvqa import read_pathvqa

    return read_pathvqa(args.root, args.out_dir, args.source_splits)


def _quiltvqa_records(args: argparse.Namespace) -> Iterable[Question | Skipped]:
    from data_prep.sources.quiltvqa import read_quiltvqa

    return read_quiltvqa(args.root, args.out_dir, args.source_splits)


def _pmcvqa_records(args: argparse.Namespace) -> Iterable[Question | Skipped]:
    from data_prep.sources.pmcvqa import read_pmcvqa

    return read_pmcvqa(args.csv, args.images)


def _omnimedvqa_records(args: argparse.Namespace) -> Iterable[Question | Skipped]:
    from data_prep.sources.omnimedvqa import PRESETS, read_omnimedvqa

    return read_omnimedvqa(args.root, PRESETS[args.preset] if args.preset else args.datasets)


def _demo_records(args: argparse.Namespace) -> Iterable[Question | Skipped]:
    from data_prep.sources.demo import read_demo

    return read_demo(args.out_dir, args.seed)


def _demo_manifest() -> dict:
    from data_prep.sources.demo import image_sources

    return {"image_sources": image_sources()}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m data_prep", description=__doc__)
    builders = top.add_subparsers(dest="builder", required=True)

    p = builders.add_parser("pathmmu", help="PathMMU: ROOT/data.json + ROOT/images/, split image-disjointly")
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--categories", type=_csv, default=None,
                   help="e.g. PubMed,EduContent (default: every category in data.json)")
    p.add_argument("--source-splits", type=_csv, default=None, help="PathMMU splits to pool (default: all)")
    _common(p, sizes_required=True, fixed_split=False)
    p.set_defaults(records=_pathmmu_records)

    p = builders.add_parser("r1json", help="R1-style JSON [{image, problem, solution}] (MedVLM-R1 too) or VLM-R1 "
                            "JSONL {id, image, conversations}; frozen splits kept")
    p.add_argument("--split-file", action="append", required=True, metavar="SPLIT=FILE",
                   help=f"one per split, SPLIT in {SPLITS}, e.g. --split-file test=test.json")
    p.add_argument("--image-root", type=Path, default=None, help="folder `image` paths are relative to "
                   "(default: each JSON file's folder)")
    p.add_argument("--data-source", default="pathmmu", help="data_source of the rows (default: pathmmu)")
    p.add_argument("--ability", default="pathology")
    _common(p, fixed_split=False)
    p.set_defaults(records=_r1json_records, frozen_splits=True)

    for name, what, records in (("pathvqa", "PathVQA", _pathvqa_records),
                                ("quiltvqa", "Quilt-VQA", _quiltvqa_records)):
        p = builders.add_parser(name, help=f"{what}: Hugging Face Parquet files under ROOT")
        p.add_argument("--root", type=Path, required=True, help="a folder of *.parquet (searched recursively) or one")
        p.add_argument("--source-splits", type=_csv, default=None, help="train,validation,test (default: all)")
        p.add_argument("--keep-splits", action="store_true", help="keep the source's own splits: its train "
                       "files go to --train-split, validation to val.parquet, test to test.parquet (no sizes)")
        p.add_argument("--train-split", choices=("sft_train", "grpo_train"), default="sft_train",
                       help="with --keep-splits: where the source's train split goes (default: sft_train)")
        _common(p)
        p.set_defaults(records=records)

    p = builders.add_parser("pmcvqa", help="PMC-VQA: CSV files + a folder of figures")
    p.add_argument("--csv", type=Path, action="append", required=True, help="train.csv / test.csv (repeatable)")
    p.add_argument("--images", type=Path, required=True, help="folder that Figure_path is relative to")
    _common(p)
    p.set_defaults(records=_pmcvqa_records)

    p = builders.add_parser("omnimedvqa", help="OmniMedVQA: ROOT/QA_information/*/<dataset>.json + ROOT/Images/")
    p.add_argument("--root", type=Path, required=True)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--datasets", type=_csv, default=None, help="e.g. 'ISIC2020,Chest CT Scan' (default: all)")
    group.add_argument("--preset", choices=["paper"], default=None,
                       help="paper: Chest CT Scan, ISIC2020, Retinal OCT-C8, Diabetic Retinopathy")
    _common(p)
    p.set_defaults(records=_omnimedvqa_records)

    p = builders.add_parser("demo", help="the embedded demo set (packaged real images, answers by construction)")
    _common(p, fixed_split=False)
    p.set_defaults(**{dest: DEMO_SIZES[split] for split, dest in SIZE_FLAGS.items()}, records=_demo_records,
                   manifest=_demo_manifest)

    add_curriculum_parser(builders)
    return top


def _plan(args: argparse.Namespace) -> SplitPlan:
    sizes = {split: getattr(args, dest) for split, dest in SIZE_FLAGS.items() if getattr(args, dest) is not None}
    if getattr(args, "frozen_splits", False):
        if sizes:
            raise SourceError("r1json converts frozen splits as they are: give --split-file, not sizes")
        return SplitPlan(fixed="source", seed=args.seed)
    if getattr(args, "keep_splits", False):
        if sizes:
            raise SourceError("--keep-splits keeps the source's splits as they are: give no sizes")
        return SplitPlan(fixed="source", seed=args.seed,
                         source_names={"train": args.train_split, "validation": "val", "test": "test"})
    if sizes:
        return SplitPlan(sizes=sizes, seed=args.seed)
    return SplitPlan(fixed=args.split, seed=args.seed)


def _jsonable(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _arguments(args: argparse.Namespace) -> dict:
    return {k: _jsonable(v) for k, v in sorted(vars(args).items()) if k not in NOT_ARGUMENTS}


def run(args: argparse.Namespace) -> dict:
    """Build what the parsed command line asks for; returns the manifest."""
    budget = load_pixel_budget(args.pixels, args.min_pixels, args.max_pixels)
    settings = BuildSettings(builder=args.builder, out_dir=args.out_dir, plan=_plan(args), budget=budget,
                             template=load_template(args.template), strict=args.strict,
                             arguments=_arguments(args))
    if args.workers:
        settings.workers = args.workers
    records = args.records(args)
    settings.extra_manifest = getattr(args, "manifest", dict)()
    return build(records, settings)


def summary(manifest: dict) -> str:
    """The build's one-line result (warnings about short splits go to stderr)."""
    for split, short in manifest["short_splits"].items():
        print(f"data_prep: warning: {split} has {short['rows']} of {short['requested']} requested questions "
              f"({short['reason']})", file=sys.stderr)
    counts = ", ".join(f"{s}: {v['rows']} rows / {v['images']} images" for s, v in manifest["splits"].items())
    return (f"data_prep {manifest['builder']}: {counts}; skipped {len(manifest['skipped'])}, "
            f"duplicates {len(manifest['duplicates'])}, unused {manifest['questions_unused']}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        manifest = args.run(args)
    except (SourceError, ImageError, ValueError) as err:
        print(f"data_prep: error: {err}", file=sys.stderr)
        return 2
    print(args.summary(manifest))
    return 0
