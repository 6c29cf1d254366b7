"""The cluster path, shortened: a real 2-node Ray cluster on this machine (token authentication, one virtual
GPU per node), and the stage launchers submitted to it through RAY_ADDRESS exactly as on a GPU cluster:
world size 2 across both nodes, run and data folders on storage both nodes see, stage 1 stopped mid-run and
resubmitted, a pass-rate curriculum after it, stage 3 (stage 2's GRPO plus the judge) on the curriculum, judged
by a judge server, then the evaluation of every stage. Stage 2 runs the same trainer without the judge; the
full pipeline, with it, is `make demo-cluster` (and `make test-demo` on one node)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from pathvlm_cpu.env import env as cpu_env
from pathvlm_rewards.judge.serve import free_port

# The module's pipeline runs in its first test's setup: far past the suite's per-test timeout of 900 s.
pytestmark = pytest.mark.timeout(3600)

REPO = Path(__file__).resolve().parents[2]
NODES = 2
# What every launcher gets on top of the cluster's address: the CPU profiles sized for two ranks.
# Stage 1 saves every 2 of its 6 steps: stopped once its first checkpoint is written, it has steps left to resume.
SFT_STEPS = 6
STAGE1 = ["+profile=cpu_tiny_sft", f"trainer.total_training_steps={SFT_STEPS}", "trainer.save_freq=2"]
GRPO = ["+profile=cpu_tiny", "data.val_max_samples=8", "trainer.val_before_train=false"]
# Rows of grpo_train the SFT model is evaluated on for the pass-rate curriculum that stage 3 trains on: two GRPO
# batches of 4 prompts.
CURRICULUM_ROWS = 8


def _ray(env: dict, *args: str) -> str:
    """Ray's CLI against the test cluster (the token travels as on any client)."""
    done = subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *args], env=dict(env, RAY_AUTH_MODE="token"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# Ray's job and state clients, in a process of their own: Ray reads RAY_AUTH_MODE when it starts.
LIST_JOBS = """import json, sys
from ray.job_submission import JobSubmissionClient
print(json.dumps([{"submission_id": job.submission_id, "status": str(job.status.value), "entrypoint": job.entrypoint,
                   "runtime_env": job.runtime_env, "metadata": job.metadata}
                  for job in JobSubmissionClient(sys.argv[1]).list_jobs()]))"""
LIST_ACTORS = """import json, sys
from ray.util.state import list_actors
print(json.dumps([{"class_name": actor.class_name, "node_id": actor.node_id}
                  for actor in list_actors(address=sys.argv[1], detail=True, limit=10000)]))"""


def _python(env: dict, code: str) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", code, env["RAY_ADDRESS"]], env=dict(env, RAY_AUTH_MODE="token"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _jobs(env: dict) -> list[dict]:
    """The launchers' jobs (named pathvlm-<stage>-<time>)."""
    return [job for job in _python(env, LIST_JOBS) if job["submission_id"].startswith("pathvlm-")]


def _launch(env: dict, launcher: str, args: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(["bash", f"recipes/{launcher}", *args], cwd=REPO, env=env, stdout=out,
                            stderr=subprocess.STDOUT)


def _run(env: dict, launcher: str, args: list[str], log: Path, timeout: int = 900) -> None:
    process = _launch(env, launcher, args, log)
    assert process.wait(timeout) == 0, log.read_text()[-8000:]


def _metrics(run: Path, stage: str) -> list[dict]:
    path = run / "metrics" / "pathvlm-r1" / f"{stage}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two Ray nodes started by `python -m pathvlm_cpu.local_cluster`, stopped by its pid."""
    env_file = tmp_path_factory.mktemp("cluster") / "cluster.env"
    process = subprocess.Popen([sys.executable, "-m", "pathvlm_cpu.local_cluster", "--nodes", str(NODES),
                                "--env-file", str(env_file)], cwd=REPO, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not env_file.exists():
            assert process.poll() is None, "the local cluster exited before it was up"
            assert time.monotonic() < deadline, "the local cluster did not come up in 300 s"
            time.sleep(1)
        yield dict(line.removeprefix("export ").split("=", 1) for line in env_file.read_text().splitlines())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_missing_token_is_refused_with_what_to_do(cluster, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": cluster["RAY_ADDRESS"], "HOME": str(tmp_path), "RUN_DIR": str(tmp_path),
           "DATA_DIR": str(tmp_path), "PYTHON": sys.executable}
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    done = subprocess.run(["bash", "recipes/stage2_grpo"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "uses Ray's token authentication" in done.stderr, done.stderr[-3000:]


@pytest.fixture(scope="module")
def pipeline(cluster, tmp_path_factory):
    """Stages 1 and 3 and the evaluations as Ray jobs; stage 1 is stopped after its first checkpoint and resubmitted."""
    shared = tmp_path_factory.mktemp("shared")  # stands for the cluster's shared filesystem
    run, data, logs = shared / "runs", shared / "data", shared / "logs"
    logs.mkdir()
    subprocess.run([sys.executable, "-m", "data_prep", "demo", "--out-dir", str(data), "--pixels", "tiny"],
                   cwd=REPO, check=True, capture_output=True)
    base = subprocess.run([sys.executable, "-m", "pathvlm_tiny", str(shared / "tiny")], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    env = {**os.environ, **cpu_env(), **cluster, "PYTHON": sys.executable, "RUN_DIR": str(run),
           "DATA_DIR": str(data), "VERL_FILE_LOGGER_ROOT": str(run / "metrics"), "NNODES": str(NODES),
           "GPUS_PER_NODE": "1", "OMP_NUM_THREADS": "1", "OPENAI_API_KEY": "sk-never-leaves-this-machine"}

    # Stage 1, stopped once its first checkpoint is written, then resubmitted.
    latest = run / "stage1_sft" / "checkpoints" / "latest_checkpointed_iteration.txt"
    first = _launch(dict(env, MODEL=base), "stage1_sft", STAGE1, logs / "stage1_stopped.log")
    deadline = time.monotonic() + 900
    while not latest.exists():
        assert first.poll() is None, (logs / "stage1_stopped.log").read_text()[-8000:]
        assert time.monotonic() < deadline, "stage 1 wrote no checkpoint in 900 s"
        time.sleep(1)
    running = [job["submission_id"] for job in _jobs(env) if job["status"] == "RUNNING"]
    assert len(running) == 1, running
    _ray(env, "job", "stop", "--address", env["RAY_ADDRESS"], running[0])
    # Ray's CLI returns 0 for a stopped job; the launcher does not, so `stage1 && stage2` stops there.
    assert first.wait(300) != 0 and f"job {running[0]} ended STOPPED" in (logs / "stage1_stopped.log").read_text()
    stopped_at = int(latest.read_text())
    _run(dict(env, MODEL=base), "stage1_sft", STAGE1, logs / "stage1.log")

    # The pass-rate curriculum (README): the SFT model answers 8 grpo_train questions 4 times each; the
    # questions kept feed stage 3. A tiny random model solves none, so the band is [0, 0] here.
    curriculum = shared / "curriculum"
    _run(dict(env, MODEL=str(run / "stage1_sft" / "hf"), MODEL_NAME="stage1_sft", MODEL_REFERENCE="null",
              DATA_FILES=str(data / "grpo_train.parquet"), OUT_DIR=str(run / "stage1_passrate")),
         "evaluate", ["pixels=tiny", "generation.n=4", "generation.temperature=1.0", "generation.max_new_tokens=24",
                      f"data.limit={CURRICULUM_ROWS}"], logs / "stage1_passrate.log")
    subprocess.run([sys.executable, "-m", "data_prep", "curriculum", "--eval-run", str(run / "stage1_passrate"),
                    "--data", str(data / "grpo_train.parquet"), "--out-dir", str(curriculum), "--max-pass", "0",
                    "--inclusive"], cwd=REPO, check=True, capture_output=True)

    # Stage 3, from stage 1's model, on the curriculum. Its judge: the tiny model served by recipes/serve_judge
    # (`transformers serve`), reached over HTTP by the reward workers of both nodes through the
    # judge=transformers_local preset, as a judge server on a cluster is.
    port = str(free_port())
    judge_env = dict(env, JUDGE_ENGINE="transformers", JUDGE_MODEL=base, JUDGE_DIR=str(shared / "judge"),
                     JUDGE_PORT=port, JUDGE_BASE_URL=f"http://127.0.0.1:{port}/v1")
    _run(judge_env, "serve_judge", [], logs / "serve_judge.log")
    try:
        _run(dict(judge_env, MODEL=str(run / "stage1_sft" / "hf")), "stage3_grpo_dual",
             [*GRPO, f"data.train_files={curriculum / 'grpo_train.parquet'}", "trainer.total_training_steps=1",
              "judge=transformers_local"], logs / "stage3.log")
    finally:
        _run(judge_env, "serve_judge", ["stop"], logs / "serve_judge_stop.log")
    models = [f"+models.{name}.path='{path}'" for name, path in
              [("base", base), ("stage1_sft", run / "stage1_sft" / "hf")]]
    _run(dict(env, MODEL=str(run / "stage3_grpo_dual" / "hf"), MODEL_NAME="stage3_grpo_dual", MODEL_REFERENCE="null",
              DATA_FILES=str(data / "test.parquet"), OUT_DIR=str(run / "eval")),
         "evaluate", ["pixels=tiny", *models, *[m.split(".path")[0] + ".reference=null" for m in models],
                      "generation.max_new_tokens=48", "data.limit=2"], logs / "eval.log")
    return {"run": run, "env": env, "stopped_at": stopped_at, "jobs": _jobs(env), "base": Path(base)}


@pytest.mark.slow
def test_every_job_succeeded_except_the_one_stopped(pipeline):
    statuses = sorted(job["status"] for job in pipeline["jobs"])
    # stage 1 (resumed), its pass-rate evaluation, stage 3, the evaluation
    assert statuses == ["STOPPED"] + ["SUCCEEDED"] * 4


@pytest.mark.slow
def test_no_secret_in_job_metadata(pipeline):
    listing = json.dumps(pipeline["jobs"])
    assert "sk-never-leaves-this-machine" not in listing and "OPENAI_API_KEY" not in listing


@pytest.mark.slow
def test_trainer_and_rollout_processes_ran_on_both_nodes(pipeline):
    actors = _python(pipeline["env"], LIST_ACTORS)
    nodes_of = {}
    for actor in actors:
        nodes_of.setdefault(actor["class_name"], set()).add(actor["node_id"])
    assert len(nodes_of["TrainingWorker"]) == NODES  # stage 1: verl's Ray SFT trainer
    assert len(nodes_of["HFRolloutServer"]) == NODES  # stage 3: one hf rollout replica per rank
    assert len(nodes_of["RewardLoopWorker"]) == NODES


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["stage1_sft", "stage3_grpo_dual"])
def test_both_ranks_shards_export_to_one_model_that_generates(pipeline, stage):
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    run = pipeline["run"]
    step = (run / stage / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip()
    model_dir = run / stage / "checkpoints" / f"global_step_{step}"
    model_dir = model_dir / "actor" if (model_dir / "actor").is_dir() else model_dir
    assert sorted(p.name for p in model_dir.glob("model_world_size_*_rank_*.pt")) == [
        "model_world_size_2_rank_0.pt", "model_world_size_2_rank_1.pt"]
    hf = run / stage / "hf"
    model = AutoModelForImageTextToText.from_pretrained(hf)
    tokens = AutoTokenizer.from_pretrained(hf)("Which stain?", return_tensors="pt")
    generated = model.generate(**tokens, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == tokens["input_ids"].shape[1] + 4


@pytest.mark.slow
def test_ray_sft_workers_kept_the_vision_tower_frozen(pipeline):
    from safetensors.torch import load_file

    base = load_file(pipeline["base"] / "model.safetensors")
    tuned = load_file(pipeline["run"] / "stage1_sft" / "hf" / "model.safetensors")
    changed = {name for name in base if not torch.equal(base[name].to(tuned[name].dtype), tuned[name])}
    assert changed and not any("visual" in name for name in changed)


@pytest.mark.slow
def test_stage1_resumed_after_the_stop(pipeline):
    run = pipeline["run"]
    steps = [r["step"] for r in _metrics(run, "stage1_sft") if "train/loss" in r["data"]]
    # The resubmitted job went on from the last checkpoint the stopped one wrote (step 2, or 4 if the stop came
    # late) and trained only the steps after it (verl's file logger starts the stage's metrics file anew in each
    # job; a run from scratch would log steps 1 to 6).
    assert pipeline["stopped_at"] in (2, 4) and steps == list(range(pipeline["stopped_at"] + 1, SFT_STEPS + 1))
    latest = run / "stage1_sft" / "checkpoints" / "latest_checkpointed_iteration.txt"
    assert latest.read_text().strip() == str(SFT_STEPS)


@pytest.mark.slow
def test_stage3_trained_from_stage1_through_the_rollout_and_the_actor(pipeline):
    run = pipeline["run"]
    log = (run.parent / "logs" / "stage3.log").read_text()
    assert f"stage3_grpo_dual: from {run / 'stage1_sft' / 'hf'}" in log
    assert "engine is not available" not in log  # verl's optional-engine notices, silenced in every worker
    steps = [r for r in _metrics(run, "stage3_grpo_dual") if "actor/pg_loss" in r["data"]]
    assert [r["step"] for r in steps] == [1]
    metrics = steps[0]["data"]
    for key in ("critic/score/mean", "critic/advantages/mean", "actor/pg_loss", "timing_s/gen",
                "timing_s/update_weights", "response_length/mean"):
        assert key in metrics, key
    assert metrics["response_length/mean"] > 0
    # The CPU profile takes the rollout's log-probs as the old policy's (rollout_correction.bypass_mode): the actor,
    # sharded over both nodes, computes the same ones from the weights the rollout replicas were given.
    assert abs(metrics["actor/ppo_kl"]) < 1e-4 and metrics["actor/pg_clipfrac"] == 0


@pytest.mark.slow
def test_stage3_trained_on_the_curriculum_with_the_evaluations_pass_rates(pipeline):
    run = pipeline["run"]
    scores: dict[str, list[float]] = {}
    for line in (run / "stage1_passrate" / "samples" / "stage1_sft.jsonl").read_text().splitlines():
        record = json.loads(line)
        scores.setdefault(record["prompt_id"], []).append(record["strict"]["accuracy"])
    assert len(scores) == CURRICULUM_ROWS and all(len(values) == 4 for values in scores.values())
    curriculum = run.parent / "curriculum" / "grpo_train.parquet"
    rows = pq.read_table(curriculum).to_pylist()
    rates = {f"{r['data_source']}/{r['extra_info']['split']}/{r['extra_info']['index']}": r["extra_info"]["pass_rate"]
             for r in rows}
    assert rates == {key: sum(values) / 4 for key, values in scores.items() if sum(values) == 0}
    # Stage 3 was given the curriculum, and every prompt it sampled is one of the curriculum's questions (the
    # driver's forwarded log lines are not relied on: under load Ray may drop a node's lines at the job's end).
    stage3_jobs = [job for job in pipeline["jobs"] if "stage3_grpo_dual" in job["submission_id"]]
    assert stage3_jobs and all(f"data.train_files={curriculum}" in job["entrypoint"] for job in stage3_jobs)
    kept = {(row["extra_info"]["question"], row["reward_model"]["ground_truth"]) for row in rows}
    sampled = [json.loads(line) for path in (run / "stage3_grpo_dual" / "rollouts").glob("*.jsonl")
               for line in path.read_text().splitlines()]
    assert len(sampled) == 1 * 4 * 4  # steps x prompts x group size
    assert all(any(question in s["input"] and gold == s["gts"] for question, gold in kept) for s in sampled)


@pytest.mark.slow
def test_stage3_judge_server_saw_every_image_from_both_nodes(pipeline):
    samples = [json.loads(line) for path in sorted((pipeline["run"] / "stage3_grpo_dual" / "validation").glob(
        "*.jsonl")) for line in path.read_text().splitlines()]
    assert samples and all(sample["judge_error"] == 0 for sample in samples)
    # every response was judged (a cache hit counts no call), and the server reported the tokens it read
    assert all(sample["judge_calls"] + sample["judge_cache_hit"] >= 1 for sample in samples)
    assert any(sample["judge_prompt_tokens"] > 0 for sample in samples)


@pytest.mark.slow
def test_the_evaluation_lists_every_stage(pipeline):
    results = json.loads((pipeline["run"] / "eval" / "results.json").read_text())
    assert {model["name"] for model in results["models"]} == {"base", "stage1_sft", "stage3_grpo_dual"}
