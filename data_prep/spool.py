"""Images embedded in a source (Parquet bytes, generated demo images) are extracted once to OUT/images/.

Files are content-addressed (<sha256>.<ext>), so a repeated image is stored once and every row's
extra_info.image_path points at a readable file, as it does for sources whose images are already files.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from data_prep.writer import write_bytes_once

SPOOL_DIR = "images"
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif", "BMP": "bmp", "GIF": "gif"}


def image_extension(data: bytes) -> str:
    """File extension of encoded image bytes from their header ("bin" when not an image)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _EXTENSIONS.get(image.format or "", (image.format or "bin").lower())
    except (UnidentifiedImageError, OSError, ValueError):
        return "bin"


def spool(data: bytes, out_dir: Path) -> Path:
    """Write `data` to OUT/images/<sha256>.<ext> (once) and return that path."""
    path = out_dir / SPOOL_DIR / f"{hashlib.sha256(data).hexdigest()}.{image_extension(data)}"
    write_bytes_once(path, data)
    return path
