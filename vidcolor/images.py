"""Still image files: read (EXIF orientation, 8 or 16 bit, grey or colour, alpha kept on request)
and write atomically."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, OutputError, VidcolorWarning
from .outputs import refuse_overwrite, write_bytes

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
ALPHA_SUFFIXES = {".png", ".tif", ".tiff", ".webp"}  # image files that can keep an alpha channel
_ALPHA_MAGIC = (b"\x89PNG", b"II*\x00", b"MM\x00*", b"RIFF")  # PNG, TIFF, WebP: formats with alpha


def read_image(path: str | Path, keep_depth: bool = False, *, keep_alpha: bool = False,
               on_warning: Callable[[str], None] | None = None) -> np.ndarray:
    """RGB (H, W, 3) uint8, or uint16 for a 16-bit file when keep_depth; EXIF orientation applied.
    keep_alpha: RGBA (H, W, 4) when the file has an alpha channel (grey+alpha too).

    A damaged file that still decodes is read as far as it goes, with one warning that names it
    (on_warning; default warnings.warn) instead of the image library's bare line on stderr.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    data = np.fromfile(path, np.uint8)
    flags = cv2.IMREAD_COLOR | (cv2.IMREAD_ANYDEPTH if keep_depth else 0)
    with _library_messages() as said:
        image = cv2.imdecode(data, flags)
        alpha = None
        if image is not None and keep_alpha and bytes(data[:4]) in _ALPHA_MAGIC:
            alpha = _alpha(data, flags, image)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: unsupported sample type {image.dtype}")
    if said:
        message = f"{path}: damaged image data, read as far as it decodes ({'; '.join(said)})"
        (on_warning or (lambda m: warnings.warn(m, VidcolorWarning, stacklevel=3)))(message)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return rgb if alpha is None else np.dstack([rgb, alpha])


def picture_count(path: str | Path) -> int:
    """How many pictures an image file holds: an animated GIF's, PNG's or WebP's frames, a TIFF's
    pages; 1 for a plain picture (and where the image library cannot tell)."""
    with _library_messages():
        try:
            return max(1, int(cv2.imcount(str(path))))
        except cv2.error:
            return 1


def _alpha(data: np.ndarray, flags: int, image: np.ndarray) -> np.ndarray | None:
    """The file's alpha channel, the type of `image` and turned as it was (EXIF orientation); None if none."""
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # the only way to the alpha, but without the orientation
    if raw is None or raw.ndim != 3 or raw.shape[2] not in (2, 4):
        return None
    alpha = raw[..., -1]
    if alpha.dtype != image.dtype:
        alpha = (alpha >> 8).astype(np.uint8) if image.dtype == np.uint8 else alpha.astype(np.uint16) * 257
    unturned = cv2.imdecode(data, flags | cv2.IMREAD_IGNORE_ORIENTATION)
    for turn in _TURNS:  # the one of the eight turns and flips that the orientation applied
        if unturned is not None and turn(unturned).shape == image.shape and np.array_equal(turn(unturned), image):
            return np.ascontiguousarray(turn(alpha))
    return None


_TURNS = [lambda a, k=k, f=f: np.rot90(a[:, ::-1] if f else a, k) for f in (False, True) for k in range(4)]
_stderr_lock = threading.Lock()  # one redirection of the process's stderr at a time


@contextlib.contextmanager
def _library_messages():
    """Collects what C libraries (libjpeg, libpng) print on stderr during the block, instead of printing it.

    Yields a list that holds those lines, without repeats, once the block ends."""
    said: list[str] = []
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (AttributeError, OSError, ValueError):  # no stderr to redirect
            yield said
            return
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield said
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                for line in capture.read().decode(errors="replace").splitlines():
                    line = " ".join(line.split())
                    if line and line not in said:
                        said.append(line)


def write_image(path: str | Path, image: np.ndarray, force: bool = False) -> Path:
    """RGB, or RGBA (H, W, 4), encoded by the suffix and written atomically (outputs.write_bytes): never a
    half file under the final name. Alpha is kept where the format has it (ALPHA_SUFFIXES), else left out."""
    path = Path(path)
    refuse_overwrite(path, force)
    suffix = path.suffix.lower() or ".png"
    if image.ndim == 3 and image.shape[2] == 4:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if suffix in ALPHA_SUFFIXES else cv2.COLOR_RGBA2BGR)
    else:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    try:
        ok, encoded = cv2.imencode(suffix, bgr)
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
