"""Colouring single pictures: an array, an image file, or many files."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import render
from .color import grey_from_lightness, lightness, merge_lab
from .errors import InputError, VidcolorWarning
from .images import ALPHA_SUFFIXES, image_files, read_image, write_image
from .options import DEFAULT_RENDER_SIZE
from .outputs import colored_name, is_colored_name, refuse_overwrite


def colorize_lightness(colorizer, light: np.ndarray, render_size: int = DEFAULT_RENDER_SIZE,
                       hints: np.ndarray | None = None) -> np.ndarray:
    """Full-resolution L* (H, W) -> full-resolution a*b* (H, W, 2) (render.py).

    hints: optional (h, w, 3) a*, b* and mask at the working size (render.model_size).
    """
    size = render.model_size(*light.shape, render_size, colorizer)
    small = render.shrink(light, size)
    embedding = np.asarray(colorizer.embed(grey_from_lightness(light))).reshape(1, -1)
    ab_small = render.predict(colorizer, small[None], embedding, None if hints is None else hints[None])[0]
    return render.upsample_ab(ab_small, light)


def colorize_array(colorizer, image: np.ndarray, render_size: int = DEFAULT_RENDER_SIZE) -> np.ndarray:
    """RGB or grey image (8 or 16 bit) -> RGB of the same type in colour, with the input's lightness kept.

    A colour or tinted input is first reduced to its lightness. RGBA or grey+alpha (H, W, 4 or 2) ->
    RGBA: the alpha channel comes through untouched.
    """
    if image.ndim == 3 and image.shape[2] in (2, 4):
        colored = colorize_array(colorizer, image[..., :-1] if image.shape[2] == 4 else image[..., 0], render_size)
        return np.dstack([colored, image[..., -1]])
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    light = lightness(image)
    return merge_lab(light, colorize_lightness(colorizer, light, render_size), image.dtype)


@dataclass
class StillResult:
    source: Path
    output: Path


def colorize_image(
    source: str | Path,
    output: str | Path | None = None,
    *,
    colorizer=None,
    weights: str | Path | None = None,
    precision: str = "auto",
    render_size: int = DEFAULT_RENDER_SIZE,
    force: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> StillResult:
    """Colour one image file; writes `<stem>_color<suffix>` beside it unless `output` is given.

    Without a `colorizer`, loads one from `weights` (default: the shipped model) in `precision`
    (model.load_colorizer); to colour many files, load it once and pass it. An alpha channel is
    kept where the output's format has one. on_warning: where a damaged file or a dropped alpha
    channel is told (default warnings.warn).
    """
    source = Path(source)
    output = Path(output) if output else colored_name(source)
    refuse_overwrite(output, force)
    warn = on_warning or (lambda message: warnings.warn(message, VidcolorWarning, stacklevel=3))
    image = read_image(source, keep_depth=True, keep_alpha=True, on_warning=warn)
    if image.shape[2] == 4 and output.suffix.lower() not in ALPHA_SUFFIXES:
        if image[..., 3].min() < np.iinfo(image.dtype).max:  # not just an opaque alpha channel
            warn(f"{output}: a {output.suffix or 'suffix-less'} file has no alpha channel; the transparency of "
                 f"{source.name} is left out")
        image = np.ascontiguousarray(image[..., :3])
    if colorizer is None:
        from .model import load_colorizer

        colorizer = load_colorizer(weights, precision=precision)
    rgb = colorize_array(colorizer, image, render_size)
    if rgb.dtype == np.uint16 and output.suffix.lower() not in {".png", ".tif", ".tiff"}:
        rgb = (rgb // 257).astype(np.uint8)
    write_image(output, rgb, force=force)
    return StillResult(source, output)


def find_images(paths: list[Path]) -> list[Path]:
    """Files given directly, plus the images inside given folders (recursively), in order."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += [p for p in image_files(path) if not is_colored_name(p)]
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found
