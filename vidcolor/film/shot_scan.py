"""The scan of a film's shots, frame by frame: where its cuts are, one embedding per shot and how
much colour each shot holds already, from small grey frames.

`ShotScanner` takes the small frames one at a time, from their own decoding pass (`scan_shots`, the
first pass of `vidcolor shots` and of a film coloured in pieces) or from the colour pass's own
decoding (shot_plan.ShotPlan.along: a remaster decodes its film once). Either way a shot is
*settled* (its embedding and colour measure fixed) at its end or once `settle_frames` of its frames
have been seen, whichever comes first: the colour pass holds the full-size frames of a shot until
it is settled, so this bounds what it holds (`settle_frames`) whatever the length of the shot, and
both ways give the same plan. A long shot's embedding comes from its first `settle_frames` frames.

Everything a scanner finds of a shot comes from that shot's own frames (the cut detector, too, starts
each shot afresh at its cut: cuts.py), so a scanner started at a cut (`first_index`), on the frames
from there, finds the shots that one started at frame 0 finds from there: a scan killed midway goes on
from the end of its last ended shot (shot_plan.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..color import grey_from_lightness, grey_to_lightness_table
from ..media import SmallFrame, VideoInfo, decode_small_frames
from ..threads import StageClock, background
from .cuts import CutDetector, ShotSampler
from .truecolor import SAMPLE_EVERY, SAMPLE_SIDE, ChromaMeter, ShotColor

EMBED_SHORT_SIDE = 224
HELD_PIXELS = 32 * 1920 * 1080  # the full-size frames the colour pass may hold while a shot settles
MOST_SETTLE_FRAMES, LEAST_SETTLE_FRAMES = 250, 16


def settle_frames(info: VideoInfo) -> int:
    """Frames of a shot after which it is settled: as many frames as HELD_PIXELS holds (32 at
    1920x1080, about 100 MB in 8-bit 4:2:0; 216 at 640x480), within 16 and 250. From the picture's
    size alone, so that every scan of a film settles its shots alike."""
    return int(np.clip(HELD_PIXELS // max(info.width * info.height, 1), LEAST_SETTLE_FRAMES, MOST_SETTLE_FRAMES))


@dataclass
class Shot:
    start: int
    end: int | None  # exclusive; None while the shot goes on (settled, not yet ended)
    embedding: np.ndarray | None  # None where the scan had no colorizer
    color: ShotColor = ShotColor()
    seconds: float = 0.0  # when it starts
    end_seconds: float = 0.0  # when its last frame ends
    first: object = None  # what `first_picture` made of its first frame
    pts: tuple = ()  # its frames' pts, as decoded (none where unknown); complete once it has ended
    seen: int = 0  # its frames scanned so far


class ShotScanner:
    """push(small frame) -> the shots that frame settled or ended, in order (a shot that ends
    before it settles comes once, ended; a long one twice, the same object: settled, then ended).
    finish() ends the last one. `first_index`: the film's index of the first frame pushed, the
    first of a shot (0, or a cut where an earlier scan stopped)."""

    def __init__(self, info: VideoInfo, colorizer, *, clock: StageClock | None = None,
                 first_picture: Callable[[SmallFrame], object] | None = None, first_index: int = 0):
        self.info, self.colorizer, self.first_picture = info, colorizer, first_picture
        self.clock = clock or StageClock()
        self.settle = settle_frames(info)
        self._grey_of_luma = grey_from_lightness(grey_to_lightness_table(info.full_range))  # what embedders see
        self._detector = CutDetector()
        self._shot: Shot | None = None  # the current one
        self._settled = False
        self._count = first_index
        self._last: SmallFrame | None = None

    @property
    def settled_frames(self) -> int:
        """Frames scanned whose shot is settled: the colour pass may take them."""
        return self._count if self._settled else (self._shot.start if self._shot else 0)

    def push(self, small: SmallFrame) -> list[Shot]:
        grey = self._grey_of_luma[small.luma]
        out = []
        if self.clock.timed("shots", self._detector.push, grey):
            out += self._end()
        if self._shot is None:
            self._open(small)
        shot = self._shot
        if not self._settled:
            if shot.seen % SAMPLE_EVERY == 0:
                self.clock.timed("color_check", self._meter.push, small.rgb(SAMPLE_SIDE))
            self._sampler.push(grey)
        self._times.append(small.frame.pts)
        self._last = small
        self._count += 1
        shot.seen += 1
        if not self._settled and shot.seen >= self.settle:
            self._settle()
            out.append(shot)
        return out

    def finish(self) -> list[Shot]:
        return self._end() if self._shot is not None else []

    def _open(self, small: SmallFrame) -> None:
        self._shot = Shot(self._count, None, None, seconds=small.seconds,
                          first=self.first_picture(small) if self.first_picture else None)
        self._settled = False
        self._sampler, self._meter, self._times = ShotSampler(), ChromaMeter(), []

    def _settle(self) -> None:
        shot, picks = self._shot, self._sampler.take()
        if self.colorizer is not None:
            shot.embedding = self.clock.timed("embed", self.colorizer.embed, np.stack(picks)).mean(axis=0)
            shot.embedding = shot.embedding.astype(np.float32)
        shot.color = self._meter.result()
        self._settled = True

    def _end(self) -> list[Shot]:
        shot, was_settled = self._shot, self._settled
        if not was_settled:
            self._settle()
        shot.pts = tuple(self._times)
        shot.end_seconds = self._last.seconds + 1.0 / float(self.info.fps)
        shot.end = self._count  # last: a reader in another thread takes an end as the shot complete
        self._shot = None
        return [shot]


def scan_shots(source: Path, info: VideoInfo, colorizer, *, on_warning=None, clock: StageClock | None = None,
               first_picture: Callable[[SmallFrame], object] | None = None) -> Iterator[Shot]:
    """A film's own scanning pass: yields each shot once it has ended (ShotScanner)."""
    scanner = ShotScanner(info, colorizer, clock=clock, first_picture=first_picture)
    yield from ended_shots(scanner, decode_small_frames(source, EMBED_SHORT_SIDE, on_warning=on_warning))


def ended_shots(scanner: ShotScanner, small_frames: Iterator[SmallFrame]) -> Iterator[Shot]:
    """Each shot `scanner` finds in `small_frames` (decoded in a thread of their own), once it has ended."""
    with closing(background(small_frames, 16, scanner.clock, "decode_small")) as frames:
        for small in frames:
            yield from (shot for shot in scanner.push(small) if shot.end is not None)
    yield from scanner.finish()
