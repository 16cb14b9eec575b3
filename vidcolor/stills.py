"""Colouring single pictures: an array, an image file, or many files."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .color import lightness, merge_lab
from .film.direction_file import Hint, parse_hint
from .errors import InputError, VidcolorWarning
from .images import ALPHA_SUFFIXES, image_files, picture_count, read_image, write_image
from .model import ColorizerProtocol, colorizer_for
from .model.render import colorize_lightness, placed_hints
from .options import DEFAULT_RENDER_SIZE, STILL_STYLE, check_style
from .outputs import check_folder, colored_name, is_colored_name, refuse_overwrite
from .model.palette import DEFAULT_STRENGTH, Reference, palette_bins


def colorize_array(colorizer: ColorizerProtocol, image: np.ndarray, render_size: int = DEFAULT_RENDER_SIZE, *,
                   prior: np.ndarray | None = None, hints: Sequence[Hint] = ()) -> np.ndarray:
    """RGB or grey image (8 or 16 bit) -> RGB of the same type in colour, with the input's lightness kept.

    A colour or tinted input is first reduced to its lightness. RGBA or grey+alpha (H, W, 4 or 2) ->
    RGBA: the alpha channel comes through untouched. prior: a reference's palette (palette.py);
    hints: direction.Hint colours at points of the picture.
    """
    if image.ndim == 3 and image.shape[2] in (2, 4):
        colored = colorize_array(colorizer, image[..., :-1] if image.shape[2] == 4 else image[..., 0], render_size,
                                 prior=prior, hints=hints)
        return np.dstack([colored, image[..., -1]])
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    light = lightness(image)
    given = placed_hints(colorizer, light.shape, render_size, hints)
    return merge_lab(light, colorize_lightness(colorizer, light, render_size, given, prior), image.dtype)


@dataclass
class StillResult:
    source: Path
    output: Path


def colorize_image(
    source: str | Path,
    output: str | Path | None = None,
    *,
    colorizer: ColorizerProtocol | None = None,
    weights: str | Path | None = None,
    precision: str = "auto",
    render_size: int = DEFAULT_RENDER_SIZE,
    force: bool = False,
    on_warning: Callable[[str], None] | None = None,
    reference: str | Path | Reference | None = None,
    strength: float = DEFAULT_STRENGTH,
    hints: Sequence[Hint | str] = (),
    style: str | None = None,
) -> StillResult:
    """Colour one image file; writes `<stem>_color<suffix>` beside it unless `output` is given.

    reference: a colour photo whose palette the picture takes, `strength` 0 to 4 (palette.py; for many
    pictures, pass a palette.Reference: it reads the photo once); hints: colours at points, as
    direction.Hint or "0.3,0.4=#1f3a93" (x, y: fractions of the width and height). style: how boldly
    the model colours (options.STYLES; default STILL_STYLE, vivid).

    Without a `colorizer`, loads one from `weights` (default: the shipped model) in `precision`
    (model.colorizer_for); to colour many files, load it once and pass it. An alpha channel is
    kept where the output's format has one. on_warning: where a damaged file or a dropped alpha
    channel is told (default warnings.warn).
    """
    check_style(style)
    source = Path(source)
    output = Path(output) if output else colored_name(source)
    check_still_output(source, output, force)
    hints = [parse_hint(hint) if isinstance(hint, str) else hint for hint in hints]
    if reference is not None and not isinstance(reference, Reference):
        reference = Reference(reference)
    warn = on_warning or (lambda message: warnings.warn(message, VidcolorWarning, stacklevel=3))
    image = read_image(source, keep_depth=True, keep_alpha=True, on_warning=warn)
    _tell_other_pictures(source, warn)
    if image.shape[2] == 4 and output.suffix.lower() not in ALPHA_SUFFIXES:
        if image[..., 3].min() < np.iinfo(image.dtype).max:  # not just an opaque alpha channel
            warn(f"{output}: a {output.suffix or 'suffix-less'} file has no alpha channel; the transparency of "
                 f"{source.name} is left out")
        image = np.ascontiguousarray(image[..., :3])
    colorizer = colorizer_for(style or STILL_STYLE, colorizer, weights, precision)
    prior = None if reference is None else reference.prior(palette_bins(colorizer), strength)
    rgb = colorize_array(colorizer, image, render_size, prior=prior, hints=hints)
    if rgb.dtype == np.uint16 and output.suffix.lower() not in {".png", ".tif", ".tiff"}:
        rgb = (rgb // 257).astype(np.uint8)
    write_image(output, rgb, force=force)
    return StillResult(source, output)


def check_still_output(source: str | Path, output: str | Path, force: bool = False) -> None:
    """What a still's output must pass before any work (before the model loads): not the input,
    not there unless force, its folder there and writable. One-line OutputError if not."""
    refuse_overwrite(output, force, source)
    check_folder(output)


def _tell_other_pictures(source: Path, warn: Callable[[str], None]) -> None:
    """A file of several pictures (an animated GIF, a TIFF's pages) is coloured as its first: said, never silently."""
    count = picture_count(source)
    if count == 1:
        return
    with open(source, "rb") as file:
        magic = file.read(4)
    if magic.startswith(b"GIF8"):
        warn(f"{source}: an animated GIF of {count} frames; only its first frame is coloured, as a still "
             "(`vidcolor remaster` colours every frame, into a film)")
    elif magic in (b"II*\x00", b"MM\x00*"):
        warn(f"{source}: a TIFF of {count} pages; only its first page is coloured")
    else:
        warn(f"{source}: an animated image of {count} frames; only its first frame is coloured, as a still")


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
