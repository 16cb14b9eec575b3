"""The shot plan of a film: where its cuts are and one embedding per shot (shot_scan.py finds them).

A remaster decodes its film once: `ShotPlan.along` is scanned by the colour pass's own decoding
(`scan_along`), which hands each frame on once its shot is settled, so the colour pass never
waits for the scan and holds a bounded number of frames. Where the colour pass starts inside the
film (a resumed run whose plan was not saved complete), `ShotPlan.scan` scans in a pass of its own
in a background thread, ahead of the colour pass, which waits only if the scan has not yet reached
a frame's shot. A saved plan (`saved`) is complete from the start.

Either scan hands its keeper (segments.SegmentStore) the plan once complete, and, as it goes, the
shots it has ended so far (`PlanSoFar`, as a shot ends, at most every SAVE_SO_FAR_SECONDS). A run
killed midway and resumed scans only from where they end, the start of the shot that was still
open (`ShotPlan.scan` with `so_far`: decoded from the key frame at or before it), and comes to the
plan that a scan from the start makes.
"""

from __future__ import annotations

import bisect
import queue
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..media import SmallFrame, VideoInfo, YuvFrame, decode_small_frames_from
from ..threads import StageClock, background
from .shot_scan import EMBED_SHORT_SIDE, Shot, ShotScanner, ended_shots
from .truecolor import ShotColor

_SCANNED = object()  # the end of a plan's updates
SAVE_SO_FAR_SECONDS = 5.0  # a scan hands its keeper the shots ended so far at most this often
_SO_FAR_ARRAYS = ("ends", "embeddings", "colors", "frame_pts")


@dataclass(frozen=True)
class PlanSoFar:
    """The shots that an unfinished scan had ended, from frame 0 to `frames` (where the shot still
    open starts), and that frame's pts: where a resumed scan goes on. A side folder keeps its
    `arrays()` (segments.py)."""

    shots: tuple[Shot, ...]
    next_pts: int

    @property
    def frames(self) -> int:
        return self.shots[-1].end

    @property
    def frame_pts(self) -> np.ndarray:
        """The pts of frames 0 to `frames`, that one included (media.decode_small_frames_from seeks with them)."""
        return np.array([pts for shot in self.shots for pts in shot.pts] + [self.next_pts], np.int64)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"ends": np.array([shot.end for shot in self.shots], np.int64),
                "embeddings": np.stack([shot.embedding for shot in self.shots]),
                "colors": np.array([[shot.color.residual, shot.color.tint] for shot in self.shots], np.float64),
                "frame_pts": self.frame_pts}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> PlanSoFar | None:
        """The plan so far that `arrays` hold; None where they do not hold one (a damaged file)."""
        if any(name not in arrays for name in _SO_FAR_ARRAYS):
            return None
        ends, embeddings, colors, frame_pts = (np.asarray(arrays[name]) for name in _SO_FAR_ARRAYS)
        count = len(ends) if ends.ndim == 1 else 0
        if not (count and ends.dtype.kind == frame_pts.dtype.kind == "i"
                and embeddings.dtype.kind == colors.dtype.kind == "f" and np.all(np.diff(ends, prepend=0) > 0)
                and embeddings.ndim == 2 and len(embeddings) == count and colors.shape == (count, 2)
                and frame_pts.shape == (ends[-1] + 1,) and np.isfinite(embeddings).all() and np.isfinite(colors).all()):
            return None
        starts, ends = [0] + ends[:-1].tolist(), ends.tolist()
        shots = tuple(Shot(start, end, embeddings[i], ShotColor(*colors[i].tolist()),
                           pts=tuple(frame_pts[start:end].tolist()), seen=end - start)
                      for i, (start, end) in enumerate(zip(starts, ends)))
        return cls(shots, int(frame_pts[-1]))


class PlanKeeper(Protocol):
    """Where a scan keeps its plan (segments.SegmentStore)."""

    def save_plan(self, plan: ShotPlan) -> None: ...

    def save_plan_so_far(self, so_far: PlanSoFar) -> None: ...


class _KeptScanner(ShotScanner):
    """A ShotScanner (from the end of `so_far`, where given) that hands `keeper` the shots ended so far
    as a shot ends, at most every SAVE_SO_FAR_SECONDS, and the complete plan once finished."""

    def __init__(self, info: VideoInfo, colorizer, *, clock: StageClock | None = None,
                 keeper: PlanKeeper | None = None, so_far: PlanSoFar | None = None):
        super().__init__(info, colorizer, clock=clock, first_index=so_far.frames if so_far else 0)
        self.keeper = keeper
        self.ended: list[Shot] = list(so_far.shots) if so_far else []
        self._saved_at = time.monotonic()

    def push(self, small: SmallFrame) -> list[Shot]:
        shots = super().push(small)
        ended = [shot for shot in shots if shot.end is not None]
        if ended:
            self.ended += ended
            if self.keeper is not None and time.monotonic() - self._saved_at >= SAVE_SO_FAR_SECONDS:
                self._save_so_far(small.frame.pts)  # `small` is the first frame of the shot now open
        return shots

    def finish(self) -> list[Shot]:
        shots = super().finish()
        self.ended += shots
        if self.keeper is not None:
            self.keeper.save_plan(ShotPlan(self.ended))
        return shots

    def _save_so_far(self, next_pts: int | None) -> None:
        # kept only with every pts (a resumed scan seeks with them) and every embedding (the plan needs them)
        if next_pts is not None and all(shot.embedding is not None and None not in shot.pts for shot in self.ended):
            self.keeper.save_plan_so_far(PlanSoFar(tuple(self.ended), next_pts))
        self._saved_at = time.monotonic()


class ShotPlan:
    """Where a film's shots start and their embeddings: complete (`saved`), or still being
    scanned (`along`, `scan`), when lookups wait for the scan to reach them.

    A scan's keeper is handed the plan in the scanning thread as soon as the scan ends (and the
    shots ended so far as it goes). Close the plan (or use it as a context manager) to stop a scan early.
    """

    def __init__(self, shots: list[Shot], events: Iterator[Shot] | None = None, frame_pts: np.ndarray | None = None):
        self._shots = list(shots)
        self._starts = [shot.start for shot in self._shots]
        self._events = events
        self._frame_pts = frame_pts
        self._along: tuple[_KeptScanner, queue.SimpleQueue] | None = None

    @classmethod
    def along(cls, info: VideoInfo, colorizer, *, clock: StageClock | None = None,
              keeper: PlanKeeper | None = None) -> "ShotPlan":
        """A plan that the colour pass's decoding scans as it goes (scan_along), kept by `keeper`."""
        updates: queue.SimpleQueue = queue.SimpleQueue()
        plan = cls([], iter(updates.get, _SCANNED))
        plan._along = _KeptScanner(info, colorizer, clock=clock, keeper=keeper), updates
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
        scanner, updates = self._along
        held: deque[YuvFrame] = deque()
        try:
            for frame, small in frames:
                for shot in scanner.push(small):
                    updates.put(shot)
                held.append(frame)
                while held and held[0].index < scanner.settled_frames:
                    yield held.popleft()
            for shot in scanner.finish():
                updates.put(shot)
            yield from held
        finally:
            updates.put(_SCANNED)

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
             keeper: PlanKeeper | None = None, so_far: PlanSoFar | None = None) -> "ShotPlan":
        """A plan scanned in a pass of its own, in a background thread, kept by `keeper`. With `so_far`
        (the shots a killed scan had ended), it holds those from the start, and the pass decodes and
        scans the film from the frame after them only."""
        scanner = _KeptScanner(info, colorizer, clock=clock, keeper=keeper, so_far=so_far)
        small_frames = decode_small_frames_from(source, info, EMBED_SHORT_SIDE, so_far.frames if so_far else 0,
                                                so_far.frame_pts if so_far else None, on_warning=on_warning)
        return cls(list(so_far.shots) if so_far else [],
                   background(ended_shots(scanner, small_frames), 1 << 16, stage="plan"))

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

    def frames_through(self, index: int) -> int:
        """`frames` once the scan has reached frame `index` or ended (waiting that far, not to the end):
        more than `index` where the film has that frame."""
        self.shot_of(index)
        return self.frames

    def frame_pts_through(self, index: int) -> np.ndarray | None:
        """The pts of frames 0 to `index` at least, as a decode from the start gives them, once the
        shots that hold them have ended (waiting that far, not to the end; every frame's once the
        scan is over); None where some are unknown."""
        while self._events is not None and self._ended_frames() <= index:
            self._pull()
        if self._events is None:
            return self.frame_pts
        return _pts_of([shot for shot in self._shots if shot.end is not None])

    def _ended_frames(self) -> int:
        """Where the shots ended so far end (all but the last one taken may have ended)."""
        return next((shot.end for shot in reversed(self._shots) if shot.end is not None), 0)

    @property
    def frame_pts(self) -> np.ndarray | None:
        """Every frame's pts as a decode from the start gives them (media.decode_frames_from seeks with
        them); None while the scan goes on, or where some are unknown."""
        if self._frame_pts is None and self._events is None and self._shots:
            self._frame_pts = _pts_of(self._shots)
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


def _pts_of(shots: list[Shot]) -> np.ndarray | None:
    """The pts of the shots' frames, in order (shots that have ended); None where some are unknown."""
    if any(shot.end is None for shot in shots):
        return None
    times = [pts for shot in shots for pts in shot.pts]
    if len(times) != sum(shot.end - shot.start for shot in shots) or None in times:
        return None
    return np.array(times, np.int64)


class _Embeddings:
    def __init__(self, shots: list[Shot]):
        self._shots = shots

    def __getitem__(self, shots) -> np.ndarray:
        return np.stack([self._shots[s].embedding for s in shots])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if not self._shots:
            return np.zeros((0, 1000), dtype or np.float32)
        return np.stack([s.embedding for s in self._shots]).astype(dtype or np.float32)
