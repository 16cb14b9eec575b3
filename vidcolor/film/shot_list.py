"""`vidcolor shots FILM`: a film's shots, found as the remaster finds them (shot_scan.scan_shots, the
same detector on the same small frames), as a contact sheet (each shot's first frame with its
number and timecode; with `preview`, beside it as the remaster would colour it) and a direction
file listing every shot for the user to edit (direction_file.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..color import lightness, merge_lab
from .direction_file import Direction, direction_text, read_direction, timecode
from .shot_director import GREY, KEEP, ShotDirector
from ..media import probe_video
from ..options import DEFAULT_RENDER_SIZE, FILM_STYLE, check_style
from ..outputs import output_folder, refuse_overwrite, shots_names, write_text
from ..sheets import captioned_sheet
from .shot_plan import ShotPlan
from .shot_scan import EMBED_SHORT_SIDE, scan_shots
from ..model import ColorizerProtocol, colorizer_for
from ..model.render import colorize_lightness, placed_hints


@dataclass
class ShotListing:
    number: int  # from 1
    first_frame: int
    end_frame: int  # exclusive
    start: float  # seconds
    end: float
    looks: str  # what its colour looks like (truecolor.ShotColor.describe)
    is_color: bool


@dataclass
class ShotsResult:
    source: Path
    sheet: Path
    direction: Path | None  # None when a direction was given to preview (no new file is written)
    shots: list[ShotListing] = field(default_factory=list)

    @property
    def cuts(self) -> list[int]:
        return [shot.first_frame for shot in self.shots[1:]]


def list_shots(source: str | Path, out_dir: str | Path | None = None, *, preview: bool = False,
               direction: str | Path | Direction | None = None, recolor_all: bool = False,
               colorizer: ColorizerProtocol | None = None,
               weights: str | Path | None = None, precision: str = "auto", render_size: int = DEFAULT_RENDER_SIZE,
               force: bool = False, on_warning: Callable[[str], None] | None = None,
               style: str | None = None) -> ShotsResult:
    """Write `<stem>_shots.png` and `<stem>_direction.toml` beside the film (or in out_dir).

    preview: colour each shot's first frame as the remaster would (loads the model; in `style`, default
    FILM_STYLE), with `direction` if given: then only the sheet is written, to see a direction before a remaster.
    """
    check_style(style)
    style = style or FILM_STYLE
    source = Path(source)
    info = probe_video(source)
    sheet, listing = shots_names(source, out_dir)
    if direction is not None and not isinstance(direction, Direction):
        direction = read_direction(direction)
    if direction is not None:
        direction.check_film(source, info.frame_count)
        listing = None
    for path in (sheet, listing):
        if path is not None:
            refuse_overwrite(path, force)
    with output_folder(out_dir):  # not left behind, made and empty, if the run fails
        if preview:
            colorizer = colorizer_for(style, colorizer, weights, precision)
        shots = list(scan_shots(source, info, colorizer if preview else None, on_warning=on_warning,
                                first_picture=lambda small: small.rgb(EMBED_SHORT_SIDE)))
        found = [ShotListing(k, s.start, s.end, s.seconds, s.end_seconds, s.color.describe(), s.color.is_color)
                 for k, s in enumerate(shots, 1)]
        cells = [[shot.first] for shot in shots]
        if preview:
            director = ShotDirector(ShotPlan(shots), colorizer, direction, recolor_all)
            cells = [[shot.first, _previewed(shot, director.choice(k), colorizer, render_size)]
                     for k, shot in enumerate(shots)]
        captions = [f"{s.number}  {timecode(s.start)}" + ("  colour" if s.is_color else "") for s in found]
        captioned_sheet(cells, captions, sheet, columns=2 if preview else 4)
        if listing is not None:
            write_text(listing, direction_text(source, info.frame_count, [(s.first_frame, s.start, s.end, s.looks)
                                                                           for s in found], listing.name))
    return ShotsResult(source, sheet, listing, found)


def _previewed(shot, choice, colorizer: ColorizerProtocol, render_size: int) -> np.ndarray:
    """The shot's first frame as the remaster colours it (a key frame, before smoothing)."""
    if choice.mode == KEEP:
        return shot.first
    light = lightness(shot.first)
    if choice.mode == GREY:
        return merge_lab(light, np.zeros(light.shape + (2,), np.float32))
    given = placed_hints(colorizer, light.shape, render_size, choice.hints)
    return merge_lab(light, colorize_lightness(colorizer, light, render_size, given, choice.prior, shot.embedding))
