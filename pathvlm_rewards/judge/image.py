"""The row's image for the judge: read from extra_info, hashed, checked, optionally downscaled.

extra_info carries it as `image_bytes` (encoded PNG/JPEG/… bytes; data_prep writes them into every row, so
the image travels with the row to whichever node runs the reward) or, in rows without them, `image_path`
(a file the reward worker can read). An image that cannot be had raises ImageUnavailable.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image

# Formats every OpenAI-compatible vision endpoint accepts as they are; others are re-encoded as PNG.
_PASS_THROUGH = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageUnavailable(ValueError):
    """The row's image is absent, unreadable or not an image (the message names the field and row)."""


@dataclass(frozen=True)
class JudgeImage:
    sha256: str
    data: bytes
    mime: str


def raw_image(extra_info: Mapping) -> bytes:
    """Encoded image bytes of the row; ImageUnavailable naming the field and row when absent or unreadable."""
    where = f"row index {extra_info.get('index')!r}"
    data = extra_info.get("image_bytes")
    if data is not None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageUnavailable(f"extra_info['image_bytes'] must be bytes, got {type(data).__name__} ({where})")
        return bytes(data)
    path = extra_info.get("image_path")
    if path:
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise ImageUnavailable(f"extra_info['image_path'] {path!r} cannot be read ({where}): {error}") from error
    raise ImageUnavailable(f"the process reward needs extra_info['image_bytes'] or ['image_path'] ({where})")


@lru_cache(maxsize=64)
def _prepared(data: bytes, max_pixels: int | None) -> JudgeImage:
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            fmt = image.format
            too_big = max_pixels is not None and image.width * image.height > max_pixels
            if fmt in _PASS_THROUGH and not too_big:
                return JudgeImage(digest, data, _PASS_THROUGH[fmt])
            if too_big:
                scale = (max_pixels / (image.width * image.height)) ** 0.5
                size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
                image = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageUnavailable(f"the judge image is not a readable image: {error}") from error
    return JudgeImage(digest, buffer.getvalue(), "image/png")


def judge_image(extra_info: Mapping, max_pixels: int | None) -> JudgeImage:
    """The row's image, hashed (of the original bytes) and ready for the judge; ImageUnavailable if it cannot be."""
    data = raw_image(extra_info)
    try:
        return _prepared(data, max_pixels)
    except ImageUnavailable as error:
        raise ImageUnavailable(f"{error} (row index {extra_info.get('index')!r})") from error


def decode(image: JudgeImage) -> Image.Image:
    """PIL RGB image (for in-process judges)."""
    with Image.open(io.BytesIO(image.data)) as opened:
        return opened.convert("RGB")
