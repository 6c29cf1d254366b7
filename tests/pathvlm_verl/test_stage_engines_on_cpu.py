"""The stage configs themselves load pathvlm_verl (`model.external_lib`): with VERL_USE_EXTERNAL_MODULES
naming only the CPU backend, verl's own code paths still build the freezing engine. Each case runs in a
fresh process, as a worker does: this test process has pathvlm_verl imported already."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pathvlm_conf
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from pathvlm_cpu import env as cpu_env

HERE = Path(__file__).parent
CONF_DIR = os.path.dirname(pathvlm_conf.__file__)
# data_prep resizes every image to the pixel budget; this one it did not (the tiny budget is 112 x 112).
UNRESIZED_SIDE = 1024


def _environment(tmp_path: Path) -> dict[str, str]:
    """The CPU backend only (`base={}`: pathvlm_verl absent from VERL_USE_EXTERNAL_MODULES, and verl's
    entry-point plugins off, so only the configs' external_lib can load it), offline, one process of a gloo
    group."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {**os.environ, **cpu_env(base={}), "VERL_USE_EXTERNAL_PLUGINS": "none", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "HYDRA_FULL_ERROR": "1", "TOKENIZERS_PARALLELISM": "false",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0",
            "VERL_FILE_LOGGER_PATH": str(tmp_path / "metrics.jsonl")}


def _run(command: list[str], environment: dict[str, str], log: Path, timeout: int = 600) -> str:
    """Run `command` in its own session, its output kept in `log`; on a timeout its whole process group goes
    (torchrun's worker would outlive torchrun)."""
    with open(log, "w") as sink:
        process = subprocess.Popen(command, env=environment, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    output = log.read_text(errors="replace")
    assert returncode == 0, f"{' '.join(command[:4])} ... exited {returncode}:\n{output[-6000:]}"
    return output


def _png(side: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _sft_rows(path: Path, sides: list[int]) -> Path:
    """verl SFT rows (messages with `<image>` in the user turn, images [{bytes, path}]), one image per row."""
    records = [{
        "messages": [{"role": "user", "content": "<image>Which tissue is shown?\nA) epithelium\nB) muscle"},
                     {"role": "assistant", "content": "<think>The cells line a surface.</think><answer>A</answer>"}],
        "images": [{"bytes": _png(side, seed), "path": f"image_{seed}.png"}],
    } for seed, side in enumerate(sides)]
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


def _vision_and_language(weights: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    vision = {name: tensor for name, tensor in weights.items() if ".visual." in f".{name}"}
    return vision, {name: tensor for name, tensor in weights.items() if name not in vision}


@pytest.mark.slow
def test_grpo_actor_is_built_freezing_without_the_environment_variable(tiny_ckpt, tmp_path):
    command = [sys.executable, str(HERE / "build_grpo_actor.py"), "+profile=cpu",
               f"actor_rollout_ref.model.path={tiny_ckpt}"]
    built = json.loads(_run(command, _environment(tmp_path), tmp_path / "build.log").strip().splitlines()[-1])

    assert not built["loaded_by_environment"]  # only external_lib can have loaded pathvlm_verl
    assert built["engine"] == "FrozenVisionFSDPEngine"
    assert built["frozen"] and all(".visual." in f".{name}" for name in built["frozen"])
    assert built["trainable"] and not any(".visual." in f".{name}" for name in built["trainable"])


@pytest.mark.slow
def test_sft_run_logs_freezes_keeps_two_checkpoints_and_budgets_an_unresized_image(tiny_ckpt, tmp_path):
    # 2 rows, both in each step: one step per epoch, 3 epochs; one image as large as data_prep never leaves one.
    data = _sft_rows(tmp_path / "sft.parquet", sides=[56, UNRESIZED_SIDE])
    checkpoints = tmp_path / "ckpt"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=1",
        "-m", "verl.trainer.sft_trainer", f"--config-path={CONF_DIR}", "--config-name=pathvlm_sft",
        "+profile=cpu_sft", "pixels=tiny", f"data.train_files={data}", "data.val_files=null",
        "data.train_batch_size=2", "data.num_workers=0", f"model.path={tiny_ckpt}",
        # a step large enough to change float32 language weights visibly at every step
        "optim.lr=1e-3", "optim.lr_scheduler_type=constant",
        "trainer.total_epochs=3", "trainer.logger=[console,file]", f"trainer.default_local_dir={checkpoints}",
        # also write each checkpoint's weights as a Hugging Face folder, to compare them
        "checkpoint.save_contents=[model,optimizer,extra,hf_model]",
        # inductor's C++ compile takes minutes on a 2-core CPU; nothing checked here depends on it
        "engine.use_torch_compile=false",
    ]
    _run(command, _environment(tmp_path), tmp_path / "sft.log")

    # verl's file logger: one positive loss per step
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [record["data"]["train/loss"] for record in records if "train/loss" in record["data"]]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    # save_freq=after_each_epoch saved steps 1, 2 and 3; max_ckpt_to_keep=2 pruned step 1.
    assert sorted(path.name for path in checkpoints.glob("global_step_*")) == ["global_step_2", "global_step_3"]
    assert (checkpoints / "latest_checkpointed_iteration.txt").read_text().strip() == "3"
    assert (checkpoints / "global_step_3" / "model_world_size_1_rank_0.pt").is_file()
    vision_2, language_2 = _vision_and_language(load_file(checkpoints / "global_step_2/huggingface/model.safetensors"))
    vision_3, language_3 = _vision_and_language(load_file(checkpoints / "global_step_3/huggingface/model.safetensors"))
    assert vision_2 and all(torch.equal(vision_2[name], vision_3[name]) for name in vision_2)
    assert any(not torch.equal(language_2[name], language_3[name]) for name in language_2)
