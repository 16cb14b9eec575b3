"""Still image files: read (EXIF orientation, 8 or 16 bit, grey or colour) and write atomically."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError
from .outputs import refuse_overwrite, write_bytes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def read_image(path: str | Path, keep_depth: bool = False) -> np.ndarray:
    """RGB (H, W, 3) uint8, or uint16 for a 16-bit file when keep_depth; EXIF orientation applied."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    flags = cv2.IMREAD_COLOR | (cv2.IMREAD_ANYDEPTH if keep_depth else 0)
    image = cv2.imdecode(np.fromfile(path, np.uint8), flags)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: unsupported sample type {image.dtype}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_image(path: str | Path, rgb: np.ndarray, force: bool = False) -> Path:
    """Encode by the suffix and write atomically (outputs.write_bytes): never a half file under the final name."""
    path = Path(path)
    refuse_overwrite(path, force)
    try:
        ok, encoded = cv2.imencode(path.suffix.lower() or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:  # no encoder for the suffix
        ok = False
    if not ok:
        raise OutputError(f"{path}: cannot encode an image of this type")
    return write_bytes(path, encoded.tobytes())


def image_files(folder: str | Path) -> list[Path]:
    """The image files under a folder (recursively, by suffix), sorted; none if it is not a folder."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def list_images(folder: str | Path, limit: int | None = None) -> list[Path]:
    """The image files under a folder (recursively), sorted; at most `limit`. InputError if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    files = image_files(folder)
    if not files:
        raise InputError(f"{folder}: no images found")
    return files[:limit] if limit else files
