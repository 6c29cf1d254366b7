"""Turn an RL row's prompt into the chat text the model sees, the way verl's rollout builds it."""

from __future__ import annotations

from typing import Any

from pathvlm_eval.data import IMAGE_TOKEN


def to_chat_messages(prompt: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Each `<image>` of a message becomes an image part, in place, and the text around it text parts
    (as verl's RLHFDataset does); a row without images keeps its string contents."""
    if not any(IMAGE_TOKEN in message["content"] for message in prompt):
        return [dict(message) for message in prompt]
    messages = []
    for message in prompt:
        parts: list[dict[str, str]] = []
        for i, text in enumerate(message["content"].split(IMAGE_TOKEN)):
            if i:
                parts.append({"type": "image"})
            if text:
                parts.append({"type": "text", "text": text})
        messages.append({"role": message["role"], "content": parts})
    return messages


def render_prompt(processor: Any, prompt: list[dict[str, str]]) -> str:
    """The prompt text through the checkpoint's own chat template, ending with the assistant header."""
    return processor.apply_chat_template(to_chat_messages(prompt), add_generation_prompt=True, tokenize=False)


def endpoint_messages(prompt: list[dict[str, str]], image_urls: list[str]) -> list[dict[str, Any]]:
    """The chat messages an OpenAI-compatible endpoint takes: `to_chat_messages`, each image part in turn an
    `image_url` part holding the next URL (the server's chat template renders them as the local engines do)."""
    urls = iter(image_urls)
    return [{**message, "content": [{"type": "image_url", "image_url": {"url": next(urls)}}
                                    if part["type"] == "image" else part for part in message["content"]]}
            if isinstance(message["content"], list) else message for message in to_chat_messages(prompt)]
