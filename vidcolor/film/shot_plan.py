"""The shot plan of a film: where its cuts are and one embedding per shot.

`scan_shots` finds them from small grey frames (the cheap first pass). `ShotPlan.scan` runs
that scan in a background thread while the colour pass goes on behind it: the colour pass asks
for a frame's shot and waits only if the scan has not yet closed that shot. The scan needs
a fraction of the colour pass's time, so on two cores it fits in the colour pass's gaps.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..color import grey_from_lightness, grey_to_lightness_table
from ..media import SmallFrame, VideoInfo, decode_small_frames
from .cuts import CutDetector, ShotSampler
from ..threads import StageClock, background
from .truecolor import SAMPLE_EVERY, SAMPLE_SIDE, ChromaMeter, ShotColor

EMBED_SHORT_SIDE = 224


@dataclass
class _Shot:
    start: int
    end: int  # exclusive
    embedding: np.ndarray | None  # None where the scan had no colorizer
    color: ShotColor = ShotColor()
    seconds: float = 0.0  # when it starts
    end_seconds: float = 0.0  # when its last frame ends
    first: object = None  # what `first_picture` made of its first frame
    pts: tuple = ()  # its frames' pts, as decoded (none where unknown)


def scan_shots(source: Path, info: VideoInfo, colorizer, *, on_warning=None, clock: StageClock | None = None,
               first_picture: Callable[[SmallFrame], object] | None = None) -> Iterator[_Shot]:
    """First pass: yields each shot once it ends, with its embedding (from a few frames spread over it;
    none without a colorizer) and how much colour it holds already (truecolor.py)."""
    clock = clock or StageClock()
    grey_of_luma = grey_from_lightness(grey_to_lightness_table(info.full_range))  # what the embedders see
    detector, sampler, meter = CutDetector(), ShotSampler(), ChromaMeter()
    start = count = 0
    opening = last = None
    times: list = []

    def close_shot(end: int) -> _Shot:
        picks = sampler.take()
        embedding = None if colorizer is None else clock.timed("embed", colorizer.embed, np.stack(picks)).mean(axis=0)
        duration = 1.0 / float(info.fps)
        return _Shot(start, end, None if embedding is None else embedding.astype(np.float32), meter.result(),
                     opening.seconds, last.seconds + duration, first_picture(opening) if first_picture else None,
                     tuple(times))

    small_frames = decode_small_frames(source, EMBED_SHORT_SIDE, on_warning=on_warning)
    with closing(background(small_frames, 16, clock, "decode_small")) as frames:
        for small in frames:
            grey = grey_of_luma[small.luma]
            if clock.timed("shots", detector.push, grey):
                yield close_shot(count)
                start, meter, times = count, ChromaMeter(), []
            if count == start:
                opening = small
            if (count - start) % SAMPLE_EVERY == 0:
                clock.timed("color_check", meter.push, small.rgb(SAMPLE_SIDE))
            sampler.push(grey)
            times.append(small.frame.pts)
            last = small
            count += 1
    if count:
        yield close_shot(count)


class ShotPlan:
    """Where a film's shots start and their embeddings: complete (`saved`), or still being
    scanned in a background thread (`scan`), when lookups wait for the scan to reach them.

    `scan`'s on_complete(plan) is called in the scanning thread as soon as the scan ends (e.g. to
    save it). Close the plan (or use it as a context manager) to stop a scan early.
    """

    def __init__(self, shots: list[_Shot], events: Iterator[_Shot] | None = None, frame_pts: np.ndarray | None = None):
        self._shots = list(shots)
        self._starts = [shot.start for shot in self._shots]
        self._events = events
        self._frame_pts = frame_pts

    @classmethod
    def saved(cls, cuts: list[int], embeddings: np.ndarray, frames: int, colors: list[ShotColor] | None = None,
              frame_pts: np.ndarray | None = None) -> "ShotPlan":
        starts = [0] + list(cuts)
        ends = list(cuts) + [frames]
        colors = colors or [ShotColor()] * len(starts)
        return cls([_Shot(s, e, embeddings[i], colors[i]) for i, (s, e) in enumerate(zip(starts, ends))],
                   frame_pts=frame_pts if frame_pts is not None and len(frame_pts) == frames else None)

    @classmethod
    def scan(cls, source: Path, info: VideoInfo, colorizer, *, on_warning=None, clock: StageClock | None = None,
             on_complete: Callable[["ShotPlan"], None] | None = None) -> "ShotPlan":
        def scanning() -> Iterator[_Shot]:
            shots = []
            for shot in scan_shots(source, info, colorizer, on_warning=on_warning, clock=clock):
                shots.append(shot)
                yield shot
            if on_complete:
                on_complete(cls(shots))

        return cls([], background(scanning(), 1 << 16, stage="plan"))

    def _pull(self) -> bool:
        """Take the next scanned shot; False once the scan is over."""
        if self._events is None:
            return False
        try:
            shot = next(self._events)
        except StopIteration:
            self._events = None
            return False
        self._shots.append(shot)
        self._starts.append(shot.start)
        return True

    def shot_of(self, index: int) -> int:
        while not self._shots or index >= self._shots[-1].end:
            if not self._pull():
                break  # past the scanned end (the scan saw fewer frames): the last shot
        return max(0, bisect.bisect_right(self._starts, index) - 1)

    def shot_start(self, shot: int) -> int:
        return self._shots[shot].start

    def shot_starts(self, count: int) -> list[int]:
        """Where the first `count` shots start (fewer if the film has fewer), waiting for the scan that far."""
        while len(self._shots) < count and self._pull():
            pass
        return self._starts[:count]

    def color_of(self, shot: int) -> ShotColor:
        """How much colour the shot holds already (a shot that shot_of has answered)."""
        return self._shots[shot].color

    @property
    def colors(self) -> list[ShotColor]:
        return [shot.color for shot in self._shots]

    def next_cut(self, index: int) -> int | None:
        """The first shot start at or after frame `index`; None if there is none (waits for the scan)."""
        self.finish()
        found = bisect.bisect_left(self._starts, index)
        return self._starts[found] if found < len(self._starts) else None

    @property
    def embeddings(self) -> "_Embeddings":
        """plan.embeddings[shot_numbers] for shots already scanned; np.asarray() for all."""
        return _Embeddings(self._shots)

    def finish(self) -> "ShotPlan":
        """Wait for the scan to end; the plan, complete."""
        while self._pull():
            pass
        return self

    @property
    def frame_pts(self) -> np.ndarray | None:
        """Every frame's pts as a decode from the start gives them (media.decode_frames_from seeks with
        them); None while the scan goes on, or where some are unknown."""
        if self._frame_pts is None and self._events is None and self._shots and all(s.pts for s in self._shots):
            times = [pts for shot in self._shots for pts in shot.pts]
            if None not in times:
                self._frame_pts = np.array(times, np.int64)
        return self._frame_pts

    @property
    def cuts(self) -> list[int]:
        return self._starts[1:]

    @property
    def frames(self) -> int:
        return self._shots[-1].end if self._shots else 0

    @property
    def shots(self) -> int:
        return max(1, len(self._shots))

    def close(self) -> None:
        if self._events is not None:
            self._events.close()

    def __enter__(self) -> "ShotPlan":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Embeddings:
    def __init__(self, shots: list[_Shot]):
        self._shots = shots

    def __getitem__(self, shots) -> np.ndarray:
        return np.stack([self._shots[s].embedding for s in shots])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if not self._shots:
            return np.zeros((0, 1000), dtype or np.float32)
        return np.stack([s.embedding for s in self._shots]).astype(dtype or np.float32)
