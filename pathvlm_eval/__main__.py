"""`python -m pathvlm_eval [Hydra overrides]`: evaluate checkpoints (config: pkg://pathvlm_conf/pathvlm_eval)."""

import hydra
from omegaconf import DictConfig

from pathvlm_eval.runner import evaluate


@hydra.main(config_path="pkg://pathvlm_conf", config_name="pathvlm_eval", version_base=None)
def main(cfg: DictConfig) -> None:
    out = evaluate(cfg)
    print(f"results: {out / 'results.json'}\nreport:  {out / 'report.md'}\nsamples: {out / 'samples'}")


if __name__ == "__main__":
    main()
