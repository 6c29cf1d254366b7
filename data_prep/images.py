"""Images: identify by content, check they decode, and store them as the processor will see them.

An image keeps its original bytes when it is 8-bit RGB in a common format and within the pixel budget.
Otherwise it is converted once: greyscale/CMYK/palette/alpha/16-bit become 8-bit RGB, and an image over
`max_pixels` is resized, keeping its aspect, so that Qwen2.5-VL's processor (which snaps sizes to a
28-pixel grid) gives it at most `max_pixels / 784` image tokens in SFT and RL alike.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from data_prep.config import PixelBudget

# Qwen2.5-VL: 14-pixel patches merged 2x2, so the processor snaps sizes to multiples of 28 (rounding), and
# it rejects aspect ratios above 200 (qwen_vl_utils MAX_RATIO; not imported: it pulls in torchvision).
RESIZE_FACTOR = 28
MAX_RATIO = 200
KEPT_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Decompression-bomb guard stays on, but real slides and figures may exceed PIL's default warning size.
Image.MAX_IMAGE_PIXELS = 30_000 * 30_000


class ImageError(ValueError):
    """An image that cannot be used: missing, not decodable, or of an impossible shape."""


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    width: int
    height: int
    mode: str
    format: str


def inspect(data: bytes) -> ImageInfo:
    """Content hash and header facts of encoded image bytes; ImageError when it does not fully decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                info = ImageInfo(hashlib.sha256(data).hexdigest(), image.width, image.height, image.mode,
                                 image.format or "")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
        raise ImageError(f"not a readable image: {err}") from err
    if min(info.width, info.height) < 1 or max(info.width, info.height) / min(info.width, info.height) > MAX_RATIO:
        raise ImageError(f"aspect ratio of {info.width}x{info.height} exceeds the processor's limit {MAX_RATIO}")
    return info


def read_image(path: Path) -> tuple[bytes, ImageInfo]:
    """Bytes and facts of an image file; ImageError naming the file when missing or unreadable."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImageError(f"image missing: {path} ({err.strerror or err})") from err
    try:
        return data, inspect(data)
    except ImageError as err:
        raise ImageError(f"{path}: {err}") from err


def target_size(width: int, height: int, budget: PixelBudget) -> tuple[int, int] | None:
    """(width, height) to resize to, or None when the image is within the budget.

    The aspect is kept exactly (to a pixel), and the size is the largest whose 28-pixel grid, as the
    processor rounds it, stays within `max_pixels`: the processor then keeps that grid in every stage.
    """
    if width * height <= budget.max_pixels:
        return None
    scale = (budget.max_pixels / (width * height)) ** 0.5
    while True:
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        grid = _grid(size[0]) * _grid(size[1])
        if grid <= budget.max_pixels or size == (1, 1):
            return size
        scale *= 0.99


def _grid(length: int) -> int:
    """A side as the processor snaps it: the nearest multiple of 28, at least 28."""
    return max(RESIZE_FACTOR, round(length / RESIZE_FACTOR) * RESIZE_FACTOR)


def stored_image(data: bytes, info: ImageInfo, budget: PixelBudget) -> tuple[bytes, str, bool]:
    """(bytes to store, file extension, converted?) for one image."""
    size = target_size(info.width, info.height, budget)
    if size is None and info.mode == "RGB" and info.format in KEPT_FORMATS:
        return data, KEPT_FORMATS[info.format], False
    with Image.open(io.BytesIO(data)) as image:
        rgb = to_rgb(image)
    if size is not None:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if info.format == "JPEG":
        rgb.save(buffer, format="JPEG", quality=95)
        return buffer.getvalue(), "jpg", True
    rgb.save(buffer, format="PNG")
    return buffer.getvalue(), "png", True


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: alpha composited on white, 16-bit/float greyscale stretched to its own range."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return Image.fromarray(stretch_to_uint8(np.asarray(image, dtype=np.float64))).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def stretch_to_uint8(values: np.ndarray) -> np.ndarray:
    """Linear map of an array's [min, max] onto [0, 255] (a flat array becomes 0)."""
    low, high = float(values.min()), float(values.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.clip((values - low) * scale, 0, 255).round().astype(np.uint8)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
