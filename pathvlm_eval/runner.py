"""The evaluation run: generate what is missing, score it, then write results.json, plots and report.md."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from tqdm import tqdm

from pathvlm_eval.config import EvalConfig, ModelSpec, load_config
from pathvlm_eval.data import EvalItem, load_items, rows_per_source
from pathvlm_eval.engines import Generation, Request, create_engine, resolve_engine_name
from pathvlm_eval.files import write_json, write_text
from pathvlm_eval.lmms_results import write_lmms_results
from pathvlm_eval.plots import draw_plots
from pathvlm_eval.reference import load_reference
from pathvlm_eval.report import render_report
from pathvlm_eval.results import build_results
from pathvlm_eval.scoring import Scorer
from pathvlm_eval.store import SampleKey, SampleStore
from pathvlm_eval.vlmevalkit import item_prompt
from pathvlm_rewards.openai_client import endpoint_url

log = logging.getLogger(__name__)
Pending = tuple[EvalItem, list[int]]  # a question and its sample numbers still to generate


def _batches(pending: Sequence[Pending], size: int) -> Iterator[Sequence[Pending]]:
    for start in range(0, len(pending), size):
        yield pending[start:start + size]


def _record(model: ModelSpec, item: EvalItem, sample: int, engine: str, generation: Generation,
            scores: dict[str, Any], reward_version: Any) -> dict[str, Any]:
    """One line of samples/<model>.jsonl: the question's identity, the response, its scores."""
    return {"model": model.name, "prompt_id": item.prompt_id, "sample": sample, "data_source": item.data_source,
            "split": item.split, "index": item.index, "answer_type": item.answer_type,
            "ground_truth": item.ground_truth, "response": generation.text, "output_tokens": generation.num_tokens,
            "finish_reason": generation.finish_reason, "engine": engine, "usage": generation.usage, **scores,
            "reward_version": reward_version}


def sample_store(config: EvalConfig, model: ModelSpec) -> SampleStore:
    """`samples/<model>.jsonl` of the run folder."""
    return SampleStore(config.output_dir / "samples" / f"{model.name}.jsonl")


def prompt_of(config: EvalConfig, item: EvalItem) -> list[dict[str, str]]:
    """The question's prompt under `scoring.protocol`: the row's own, or VLMEvalKit's."""
    return item_prompt(item) if config.protocol == "vlmevalkit" else item.prompt


def missing_samples(config: EvalConfig, items: Sequence[EvalItem], done: set[SampleKey]) -> list[Pending]:
    """The questions with sample numbers below `config.n` not in `done`."""
    return [(item, missing) for item in items
            if (missing := [s for s in range(config.n) if (item.prompt_id, s) not in done])]


def generate_missing(config: EvalConfig, model: ModelSpec, items: Sequence[EvalItem], scorer: Scorer,
                     engine_name: str, store: SampleStore) -> int:
    """Generate and score every (question, sample) of `model` not yet in `store`; returns how many."""
    done = store.done()
    pending = missing_samples(config, items, done)
    total = sum(len(samples) for _, samples in pending)
    log.info("%s: %d samples stored, %d to generate", model.name, len(done), total)
    if not total:
        return 0
    engine = create_engine(engine_name, model.path, config.pixels, config.engine_kwargs(engine_name),
                           config.sampling.seed)
    try:
        with store, tqdm(total=total, desc=f"generate {model.name}", unit="sample") as bar:
            for batch in _batches(pending, config.batch_size(engine_name)):
                requests = [Request(prompt_of(config, item), item.images(), tuple(samples)) for item, samples in batch]
                for finished in engine.generate(requests, config.sampling):  # stored as they finish
                    flat = [(batch[position][0], sample, generation) for position, sample, generation in finished]
                    scores = scorer.score([f[0] for f in flat], [f[2].text for f in flat])
                    store.append(_record(model, item, sample, engine_name, generation, score, scorer.version)
                                 for (item, sample, generation), score in zip(flat, scores, strict=True))
                    bar.update(len(flat))
    except BaseException:
        log.error("%s: generation stopped; the samples stored so far stay in %s and a rerun resumes after them",
                  model.name, store.path)
        raise
    finally:
        engine.close()
    return total


def _generate_in_child(config: EvalConfig, model: ModelSpec, engine_name: str, log_level: int) -> int:
    """The child process's work: load the questions and the scorer again, then `generate_missing`."""
    logging.basicConfig(level=log_level, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    scorer = Scorer(config.scoring_module, config.reward_kwargs)
    try:
        return generate_missing(config, model, load_items(config.files, config.limit), scorer, engine_name,
                                sample_store(config, model))
    finally:
        scorer.close()


def generate_isolated(config: EvalConfig, model: ModelSpec, engine_name: str) -> int:
    """`generate_missing` in a fresh (spawned) process that exits before this returns, so all memory the
    engine took (vLLM's GPU memory above all) is back before the next model loads. Samples are appended and
    flushed by the child as in process; its exceptions are raised here."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = pool.submit(_generate_in_child, config, model, engine_name, logging.getLogger().getEffectiveLevel())
        try:
            return job.result()
        except BrokenProcessPool as err:
            raise RuntimeError(f"model {model.name}: its generation process died; the samples it stored are kept "
                               f"in {sample_store(config, model).path} and a rerun resumes after them") from err


def rescore(store: SampleStore, items: Sequence[EvalItem], scorer: Scorer) -> None:
    """Replace the scores of the stored samples of these questions with the installed reward code's
    (responses unchanged; samples of other questions are kept as they are)."""
    by_id = {item.prompt_id: item for item in items}
    records = store.load()
    chosen = [r for r in records if r["prompt_id"] in by_id]
    if not chosen:
        return
    scores = scorer.score([by_id[r["prompt_id"]] for r in chosen], [r["response"] for r in chosen])
    rescored = iter([{**r, **s, "reward_version": scorer.version} for r, s in zip(chosen, scores, strict=True)])
    store.rewrite([next(rescored) if r["prompt_id"] in by_id else r for r in records])
    log.info("%s: rescored %d samples", store.path.stem, len(chosen))


def _generation_meta(config: EvalConfig, model: ModelSpec, engine_name: str) -> dict[str, Any]:
    """What the stored samples depend on; a folder generated otherwise is refused. processor_kwargs: how the budget
    reached the processor, so samples stored while it was a `size` dict (which a checkpoint's own
    min_pixels/max_pixels overrode) are never resumed into. An endpoint adds where it is and what every request
    carries (never the key)."""
    meta = {"model_path": model.path, "sampling": asdict(config.sampling), "pixels": asdict(config.pixels),
            "processor_kwargs": config.pixels.processor_kwargs()}
    if engine_name == "openai":
        options = config.engine_options["openai"]
        meta.update(engine="openai", endpoint=endpoint_url(options["base_url"]), extra_body=options["extra_body"])
    if config.protocol != "ours":  # only then: folders written before the key existed still resume
        meta["protocol"] = config.protocol
    return meta


def evaluate(cfg: DictConfig | EvalConfig) -> Path:
    """Run the evaluation `cfg` describes (see conf/pathvlm_eval.yaml); returns the run folder."""
    config = cfg if isinstance(cfg, EvalConfig) else load_config(cfg)
    reference = load_reference(config.reference)
    unknown = {m.reference for m in config.models if m.reference} - reference.row_ids()
    if unknown:
        raise ValueError(f"models.*.reference {sorted(unknown)} not in the reference tables; "
                         f"known ids: {sorted(reference.row_ids())}")
    items = load_items(config.files, config.limit)
    for item in items:  # a row the protocol cannot ask is refused before any model loads
        prompt_of(config, item)
    scorer = Scorer(config.scoring_module, config.reward_kwargs)
    engine_name = resolve_engine_name(config.engine)
    out = config.output_dir
    stores = {m.name: sample_store(config, m) for m in config.models}
    try:
        for model in config.models:
            store = stores[model.name]
            store.check_meta(_generation_meta(config, model, engine_name))
            if config.rescore:
                rescore(store, items, scorer)
            if not config.isolates_models(engine_name):
                generate_missing(config, model, items, scorer, engine_name, store)
            elif missing_samples(config, items, store.done()):
                generate_isolated(config, model, engine_name)
    finally:
        scorer.close()
    records = {name: store.load() for name, store in stores.items()}
    results = build_results(config, items, records, reference, engine_name, scorer.reasoning)
    write_json(out / "results.json", results)
    prompts = {item.prompt_id: "\n".join(m["content"] for m in prompt_of(config, item)) for item in items}
    write_lmms_results(out / "lmms_eval", results, items, records, prompts, rows_per_source(config.files))
    plots = draw_plots(results, reference, out / "plots") if config.plots else []
    write_text(out / "report.md", render_report(results, reference, [p.relative_to(out) for p in plots]))
    log.info("results: %s, report: %s", out / "results.json", out / "report.md")
    return out
