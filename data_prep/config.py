"""Settings read from files: the pixel budget (conf/pixels/*.yaml, shared with the trainers) and the prompt template."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from omegaconf import OmegaConf

TEMPLATE_KEYS = ("mcq", "yesno", "open")
DEFAULT_TEMPLATE = files("data_prep") / "templates" / "default.yaml"


@dataclass(frozen=True)
class PixelBudget:
    """Images with more than `max_pixels` pixels are resized once; `min_pixels` is the processor's floor."""

    min_pixels: int
    max_pixels: int

    def __post_init__(self) -> None:
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"pixel budget needs 0 < min_pixels <= max_pixels, "
                             f"got {self.min_pixels}, {self.max_pixels}")


def load_pixel_budget(
    preset: str = "default", min_pixels: int | None = None, max_pixels: int | None = None
) -> PixelBudget:
    """The budget of conf/pixels/<preset>.yaml (package `pathvlm_conf`), with optional overrides."""
    source = files("pathvlm_conf") / "pixels" / f"{preset}.yaml"
    if not source.is_file():
        raise ValueError(f"unknown pixel preset {preset!r}: {source} does not exist")
    conf = OmegaConf.create(source.read_text(encoding="utf-8"))
    return PixelBudget(
        min_pixels=int(min_pixels if min_pixels is not None else conf.min_pixels),
        max_pixels=int(max_pixels if max_pixels is not None else conf.max_pixels),
    )


@dataclass(frozen=True)
class Template:
    """Prompt wording: one user template per answer type and the SFT assistant template."""

    prompt: dict[str, str]
    assistant: str
    source: str

    def user_text(self, answer_type: str, question: str, options: tuple[str, ...]) -> str:
        """The user prompt without the image placeholder."""
        return self.prompt[answer_type].format(question=question.strip(), options="\n".join(options))

    def assistant_text(self, reasoning: str, answer: str) -> str:
        return self.assistant.format(reasoning=reasoning.strip(), answer=answer)


def load_template(path: str | Path | None = None) -> Template:
    """Read a template YAML (default: data_prep/templates/default.yaml) and check its keys and placeholders."""
    source = Path(path) if path is not None else DEFAULT_TEMPLATE
    conf = OmegaConf.to_container(OmegaConf.create(source.read_text(encoding="utf-8")), resolve=True)
    prompt = conf.get("prompt") if isinstance(conf, dict) else None
    if not isinstance(prompt, dict) or any(not isinstance(prompt.get(k), str) for k in TEMPLATE_KEYS):
        raise ValueError(f"{source}: `prompt` must map each of {TEMPLATE_KEYS} to a string")
    if "{question}" not in prompt["mcq"] or "{options}" not in prompt["mcq"]:
        raise ValueError(f"{source}: prompt.mcq must contain {{question}} and {{options}}")
    if "<image>" in "".join(prompt.values()):
        raise ValueError(f"{source}: templates must not contain <image>; the builder adds the placeholder")
    assistant = conf.get("assistant")
    if not isinstance(assistant, str) or "{answer}" not in assistant:
        raise ValueError(f"{source}: `assistant` must be a string containing {{answer}}")
    return Template(prompt={k: prompt[k] for k in TEMPLATE_KEYS}, assistant=assistant, source=str(source))
