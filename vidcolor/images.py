"""Still image files: read (EXIF orientation, 8 or 16 bit, grey or colour) and write atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError

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
    """Write to a temporary name beside `path`, then rename: never a half file under the final name."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists (use --force to overwrite)")
    ok, encoded = cv2.imencode(path.suffix.lower() or ".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"{path}: cannot encode an image of this type")
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        partial.write_bytes(encoded.tobytes())
        os.replace(partial, path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def list_images(folder: str | Path, limit: int | None = None) -> list[Path]:
    """The image files under a folder (recursively), sorted; at most `limit`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{folder}: no images found")
    return files[:limit] if limit else files
