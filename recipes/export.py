"""Export the latest verl FSDP checkpoint of a stage to a Hugging Face folder (verl's model merger). A LoRA
run's adapter is folded into the weights (peft's merge), so the folder is always one plain model.

    python -m recipes.export --checkpoints runs/stage1_sft/checkpoints --out runs/stage1_sft/hf
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from peft import LoraConfig, PeftModel
from peft.utils import SAFETENSORS_WEIGHTS_NAME
from safetensors import safe_open
from transformers import AutoModelForImageTextToText, AutoProcessor
from verl.model_merger.base_model_merger import ModelMergerConfig
from verl.model_merger.fsdp_model_merger import FSDPModelMerger
from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path


def latest_model_dir(checkpoints: Path) -> Path:
    """The newest `global_step_N` model folder: `actor/` for GRPO runs, the step folder itself for SFT."""
    step_dir = find_latest_ckpt_path(str(checkpoints))
    if step_dir is None:
        raise FileNotFoundError(f"{checkpoints}: no latest_checkpointed_iteration.txt pointing at a checkpoint")
    actor = Path(step_dir) / "actor"
    return actor if actor.is_dir() else Path(step_dir)


# Where verl's model merger writes a LoRA checkpoint's adapter, beside the base weights it leaves unmerged.
LORA_ADAPTER_DIR = "lora_adapter"


def adapted_modules(adapter: Path) -> list[str]:
    """Full names of the modules the adapter holds weights for (`base_model.model.<name>.lora_A.weight`)."""
    with safe_open(adapter / SAFETENSORS_WEIGHTS_NAME, framework="pt") as weights:
        return sorted({key.removeprefix("base_model.model.").split(".lora_A.")[0]
                       for key in weights.keys() if ".lora_A." in key})


def fold_lora_adapter(unmerged: Path, out: Path) -> Path:
    """The base model in `unmerged` with its `lora_adapter/` merged into the weights (peft's merge_and_unload),
    saved with its processor to `out`. verl's merger names the targets by their last name component (`gate_proj`),
    which the vision tower's MLP shares: the adapter is applied to exactly the modules it has weights for."""
    adapter = unmerged / LORA_ADAPTER_DIR
    config = LoraConfig.from_pretrained(adapter)
    config.target_modules = adapted_modules(adapter)
    base = AutoModelForImageTextToText.from_pretrained(unmerged, dtype="auto")
    PeftModel.from_pretrained(base, adapter, config=config).merge_and_unload().save_pretrained(out)
    AutoProcessor.from_pretrained(unmerged).save_pretrained(out)
    return out


def export(checkpoints: Path, out: Path) -> Path:
    """Merge the latest checkpoint into `out` (written to a temp folder, then renamed)."""
    model_dir = latest_model_dir(checkpoints)
    out.parent.mkdir(parents=True, exist_ok=True)
    hf_dir = model_dir / "huggingface"
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as staging:
        merged = Path(staging) / "merged"
        merger = FSDPModelMerger(ModelMergerConfig(operation="merge", backend="fsdp", local_dir=str(model_dir),
                                                   target_dir=str(merged), hf_model_config_path=str(hf_dir)))
        merger.merge_and_save()  # weights, config, processor and tokenizer
        merger.cleanup()
        if (merged / LORA_ADAPTER_DIR).is_dir():
            merged = fold_lora_adapter(merged, Path(staging) / "folded")
        if out.exists():
            shutil.rmtree(out)
        merged.rename(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, required=True, help="trainer.default_local_dir of the stage")
    parser.add_argument("--out", type=Path, required=True, help="Hugging Face folder to write")
    args = parser.parse_args()
    print(export(args.checkpoints, args.out))


if __name__ == "__main__":
    main()
