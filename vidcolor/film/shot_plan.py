"""The shot plan of a film: where its cuts are and one embedding per shot (shot_scan.py finds them).

A remaster decodes its film once: `ShotPlan.along` is scanned by the colour pass's own decoding
(`scan_along`), which hands each frame on once its shot is settled, so the colour pass never
waits for the scan and holds a bounded number of frames. Where the colour pass starts inside the
film (a resumed run whose plan was not saved), `ShotPlan.scan` scans in a pass of its own in a
background thread, ahead of the colour pass, which waits only if the scan has not yet reached a
frame's shot. A saved plan (`saved`) is complete from the start.
"""

from __future__ import annotations

import bisect
import queue
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..media import SmallFrame, VideoInfo, YuvFrame
from ..threads import StageClock, background
from .shot_scan import Shot, ShotScanner, scan_shots
from .truecolor import ShotColor

_SCANNED = object()  # the end of a plan's updates


class ShotPlan:
    """Where a film's shots start and their embeddings: complete (`saved`), or still being
    scanned (`along`, `scan`), when lookups wait for the scan to reach them.

    on_complete(plan) is called in the scanning thread as soon as the scan ends (e.g. to save
    it). Close the plan (or use it as a context manager) to stop a scan early.
    """

    def __init__(self, shots: list[Shot], events: Iterator[Shot] | None = None, frame_pts: np.ndarray | None = None):
        self._shots = list(shots)
        self._starts = [shot.start for shot in self._shots]
        self._events = events
        self._frame_pts = frame_pts
        self._along: tuple[ShotScanner, queue.SimpleQueue, Callable | None] | None = None

    @classmethod
    def along(cls, info: VideoInfo, colorizer, *, clock: StageClock | None = None,
              on_complete: Callable[["ShotPlan"], None] | None = None) -> "ShotPlan":
        """A plan that the colour pass's decoding scans as it goes (scan_along)."""
        updates: queue.SimpleQueue = queue.SimpleQueue()
        plan = cls([], iter(updates.get, _SCANNED))
        plan._along = ShotScanner(info, colorizer, clock=clock), updates, on_complete
        return plan

    @property
    def scans_along(self) -> bool:
        """Made `along`: scan_along must be given the film's frames."""
        return self._along is not None

    def scan_along(self, frames: Iterator[tuple[YuvFrame, SmallFrame]]) -> Iterator[YuvFrame]:
        """For a plan made `along`: scans the small frame of each decoded frame (media.decode_frames_and_small)
        and hands on the frames, in order, once their shot is settled (shot_scan.py: it holds at most
        settle_frames of them). Run it in the decoding thread: lookups in the colour pass's thread
        find the shot of every frame handed on."""
        scanner, updates, on_complete = self._along
        held: deque[YuvFrame] = deque()
        ended: list[Shot] = []
        try:
            for frame, small in frames:
                self._send(scanner.push(small), updates, ended)
                held.append(frame)
                while held and held[0].index < scanner.settled_frames:
                    yield held.popleft()
            self._send(scanner.finish(), updates, ended)
            if on_complete:
                on_complete(ShotPlan(ended))
            yield from held
        finally:
            updates.put(_SCANNED)

    @staticmethod
    def _send(shots: list[Shot], updates: queue.SimpleQueue, ended: list[Shot]) -> None:
        for shot in shots:
            updates.put(shot)
            if shot.end is not None:
                ended.append(shot)

    @classmethod
    def saved(cls, cuts: list[int], embeddings: np.ndarray, frames: int, colors: list[ShotColor] | None = None,
              frame_pts: np.ndarray | None = None) -> "ShotPlan":
        starts = [0] + list(cuts)
        ends = list(cuts) + [frames]
        colors = colors or [ShotColor()] * len(starts)
        return cls([Shot(s, e, embeddings[i], colors[i]) for i, (s, e) in enumerate(zip(starts, ends))],
                   frame_pts=frame_pts if frame_pts is not None and len(frame_pts) == frames else None)

    @classmethod
    def scan(cls, source: Path, info: VideoInfo, colorizer, *, on_warning=None, clock: StageClock | None = None,
             on_complete: Callable[["ShotPlan"], None] | None = None) -> "ShotPlan":
        def scanning() -> Iterator[Shot]:
            shots = []
            for shot in scan_shots(source, info, colorizer, on_warning=on_warning, clock=clock):
                shots.append(shot)
                yield shot
            if on_complete:
                on_complete(cls(shots))

        return cls([], background(scanning(), 1 << 16, stage="plan"))

    def _pull(self) -> bool:
        """Take the next update of the scan (a shot settled or ended); False once the scan is over."""
        if self._events is None:
            return False
        try:
            shot = next(self._events)
        except StopIteration:
            self._events = None
            return False
        if not self._shots or self._shots[-1] is not shot:  # a long shot comes again when it ends
            self._shots.append(shot)
            self._starts.append(shot.start)
        return True

    def _reaches(self, index: int) -> bool:
        """Whether the shots taken so far say which shot frame `index` is in."""
        if not self._shots:
            return False
        last = self._shots[-1]
        return index < (last.end if last.end is not None else last.start + last.seen)

    def shot_of(self, index: int) -> int:
        while not self._reaches(index):
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
        """The frames scanned so far (all of them once finished)."""
        if not self._shots:
            return 0
        last = self._shots[-1]
        return last.end if last.end is not None else last.start + last.seen

    @property
    def shots(self) -> int:
        return max(1, len(self._shots))

    def close(self) -> None:
        if self._events is not None and hasattr(self._events, "close"):  # a scan's thread (along: the decoding's)
            self._events.close()

    def __enter__(self) -> "ShotPlan":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Embeddings:
    def __init__(self, shots: list[Shot]):
        self._shots = shots

    def __getitem__(self, shots) -> np.ndarray:
        return np.stack([self._shots[s].embedding for s in shots])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if not self._shots:
            return np.zeros((0, 1000), dtype or np.float32)
        return np.stack([s.embedding for s in self._shots]).astype(dtype or np.float32)
