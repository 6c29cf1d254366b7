"""`python -m pathvlm_tiny OUT_DIR [--seed S]`: write the tiny Qwen2.5-VL checkpoint."""

import argparse

from pathvlm_tiny.checkpoint import build_tiny_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build_tiny_checkpoint(args.out_dir, seed=args.seed))


if __name__ == "__main__":
    main()
