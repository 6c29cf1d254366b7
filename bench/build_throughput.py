"""Build throughput: data_prep's PathMMU builder vs a naive `datasets` pipeline, at two input sizes.

Prints, all measured in this run on the same synthetic PathMMU-shaped input (data.json + JPEG images,
about 1.3 questions per image):
  * items/s and peak RSS of `python -m data_prep pathmmu ...` (image-disjoint split into three files);
  * items/s and peak RSS of the baseline `datasets.Dataset.from_list(items).map(read + decode image,
    render prompt).to_parquet(...)`, doing the same per-item work without splitting;
  * the ratios (target: our items/s / baseline items/s > 1, and our peak RSS at the large size no more
    than 1.25x our peak RSS at the small size, i.e. flat in the dataset size).
Each measurement runs in a fresh subprocess, so peak RSS is its own.
Usage: python bench/build_throughput.py [--sizes 2000 8000] [--strict]   (--strict: exit 1 when a target is missed)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = r"""
import io, json, resource, sys, time
from pathlib import Path
import datasets
from PIL import Image
from data_prep.config import load_template

root, out = Path(sys.argv[1]), Path(sys.argv[2])
template = load_template()
start = time.perf_counter()
data = json.loads((root / "data.json").read_text())
items = [dict(item, category=c) for c, splits in data.items() for s, lst in splits.items() for item in lst]

def convert(item):
    raw = (root / "images" / item["img"]).read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
    text = template.user_text("mcq", item["question"], tuple(item["options"]))
    return {"prompt": [{"role": "user", "content": "<image>" + text}],
            "messages": [{"role": "user", "content": "<image>" + text},
                         {"role": "assistant",
                          "content": template.assistant_text(item["explanation"], item["answer"])}],
            "images": [{"bytes": raw, "path": item["img"]}],
            "reward_model": {"style": "rule", "ground_truth": item["answer"]}}

dataset = datasets.Dataset.from_list(items).map(convert, remove_columns=["options", "answer", "explanation"])
dataset.to_parquet(str(out / "all.parquet"))
elapsed = time.perf_counter() - start
print(json.dumps({"items": len(items), "seconds": elapsed,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

OURS = r"""
import json, resource, sys, time
from data_prep.cli import parser, run
start = time.perf_counter()
manifest = run(parser().parse_args(sys.argv[1:]))
elapsed = time.perf_counter() - start
print(json.dumps({"items": sum(s["rows"] for s in manifest["splits"].values()), "seconds": elapsed,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_input(root: Path, n_items: int, seed: int = 0) -> None:
    """PathMMU layout with smooth 384x320 JPEGs (realistic size on disk) and ~1.3 questions per image."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    data: dict[str, dict[str, list]] = {"PubMed": {"test": []}, "EduContent": {"test": []}}
    n_images = int(n_items / 1.3)
    for i in range(n_images):
        low = rng.integers(0, 255, (10, 12, 3), dtype=np.uint8)
        Image.fromarray(low).resize((384, 320), Image.Resampling.BICUBIC).save(root / "images" / f"{i}.jpg",
                                                                                 quality=90)
    for no in range(n_items):
        options = [f"{'ABCD'[k]}) candidate finding number {k} for item {no}" for k in range(4)]
        category = "PubMed" if no % 5 < 3 else "EduContent"
        data[category]["test"].append({
            "No": no, "img": f"{no % n_images}.jpg", "question": f"Which finding best describes image {no}?",
            "options": options, "answer": options[int(rng.integers(4))],
            "explanation": "The tissue shows glands lined by atypical columnar cells with crowded nuclei. " * 3,
        })
    (root / "data.json").write_text(json.dumps(data))


def measure(script: str, args: list[str]) -> dict:
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=[2000, 8000])
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            root, out_ours, out_base = Path(tmp, f"in{n}"), Path(tmp, f"ours{n}"), Path(tmp, f"base{n}")
            started = time.perf_counter()
            make_input(root, n)
            out_base.mkdir()
            print(f"[{n} items] input made in {time.perf_counter() - started:.1f} s", flush=True)
            sft, grpo = int(n * 0.55), int(n * 0.2)
            ours = measure(OURS, ["pathmmu", "--root", str(root), "--out-dir", str(out_ours), "--sft-size", str(sft),
                                  "--grpo-size", str(grpo), "--test-size", str(n - sft - grpo)])
            base = measure(BASELINE, [str(root), str(out_base)])
            results[n] = (ours, base)
            for name, r in (("data_prep", ours), ("datasets baseline", base)):
                print(f"[{n} items] {name:18s} {r['items'] / r['seconds']:8.1f} items/s  "
                      f"peak RSS {r['peak_rss_mib']:7.1f} MiB  ({r['items']} rows in {r['seconds']:.1f} s)")
            speed = (ours["items"] / ours["seconds"]) / (base["items"] / base["seconds"])
            print(f"[{n} items] speed ratio data_prep / baseline: {speed:.2f}x (target > 1)", flush=True)
    small, large = (results[n][0]["peak_rss_mib"] for n in args.sizes)
    base_small, base_large = (results[n][1]["peak_rss_mib"] for n in args.sizes)
    growth = large / small
    print(f"peak RSS growth {args.sizes[0]} -> {args.sizes[1]} items: data_prep {growth:.2f}x (target <= 1.25), "
          f"baseline {base_large / base_small:.2f}x")
    speeds_ok = all((o["items"] / o["seconds"]) > (b["items"] / b["seconds"]) for o, b in results.values())
    return 1 if args.strict and not (speeds_ok and growth <= 1.25) else 0


if __name__ == "__main__":
    sys.exit(main())
