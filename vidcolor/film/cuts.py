"""Shot boundaries from small grey frames, streamed in order, and bounded per-shot sampling.

The detector is our own rather than PySceneDetect's: its ContentDetector uses a fixed threshold
on the raw mean pixel difference (so fades, flicker and textured pans score like cuts), and its
AdaptiveDetector, which copes with camera motion, decides ``window_width`` frames late (it
looks ahead), which cannot answer ``push()`` for the frame just pushed.

Score between consecutive frames: each frame is shrunk, blurred (grain), and normalised to zero
mean / unit contrast, and the score is the mean absolute difference of the normalised frames.
Normalising makes flicker, exposure ramps and fades score near zero while an unrelated picture
scores about 1.1. A cut needs the score to exceed both ``threshold`` and ``ratio`` times the
median score of the recent frames of the current shot, so a pan (steadily raised scores) does
not fire; the current shot must already have ``min_shot_frames`` frames, and a flat (black)
frame never starts a shot.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

# Grey levels of contrast (std) below which a frame counts as flat: its noise is not blown up
# to unit contrast, so black frames in a fade do not look like changing pictures.
_CONTRAST_FLOOR = 10.0


class CutDetector:
    """Feed small grey frames in order; collects the indices where a new shot starts."""

    def __init__(
        self,
        threshold: float = 0.45,
        min_shot_frames: int = 8,
        ratio: float = 2.5,
        history: int = 12,
        work_side: int = 64,
    ):
        """
        threshold: minimum score for a cut (mean |difference| of contrast-normalised frames;
            unrelated pictures score ~1.1, camera noise and slow pans ~0.1-0.3).
        min_shot_frames: no cut closer than this to the previous shot start (frame 0 included).
        ratio: the score must also be this many times the median of the shot's recent scores.
        history: how many recent scores form that median.
        work_side: frames are shrunk so their short side is at most this (speed, grain).
        """
        if threshold <= 0 or ratio < 1 or min_shot_frames < 1 or history < 1 or work_side < 8:
            raise ValueError("CutDetector: bad parameter")
        self.threshold = float(threshold)
        self.min_shot_frames = int(min_shot_frames)
        self.ratio = float(ratio)
        self.work_side = int(work_side)
        self._recent: deque[float] = deque(maxlen=int(history))
        self._prev: np.ndarray | None = None
        self._index = -1
        self._shot_start = 0
        self._cuts: list[int] = []

    @property
    def cuts(self) -> list[int]:
        return list(self._cuts)

    @property
    def frame_count(self) -> int:
        return self._index + 1

    def push(self, gray: np.ndarray) -> bool:
        """Returns True if this frame starts a new shot (frame 0 returns False)."""
        self._index += 1
        norm, contrast = self._normalise(gray)
        prev = self._prev
        if prev is not None and prev.shape != norm.shape:
            raise ValueError(f"frame {self._index}: size {gray.shape} differs from earlier frames")
        self._prev = norm
        if prev is None:
            return False
        score = float(np.mean(np.abs(norm - prev)))
        baseline = float(np.median(self._recent)) if self._recent else 0.0
        # A flat frame (black, the bottom of a fade) never starts a shot: it stays with the shot
        # before it, so a fade out and in gives one cut, at the new picture.
        is_cut = (
            contrast >= _CONTRAST_FLOOR
            and score >= self.threshold
            and score >= self.ratio * baseline
            and self._index - self._shot_start >= self.min_shot_frames
        )
        if is_cut:
            self._cuts.append(self._index)
            self._shot_start = self._index
            self._recent.clear()
        else:
            self._recent.append(score)
        return is_cut

    def _normalise(self, gray: np.ndarray) -> tuple[np.ndarray, float]:
        img = np.asarray(gray)
        if img.ndim == 3:
            img = img[..., 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if img.ndim != 2 or min(img.shape) < 2:
            raise ValueError(f"frame {self._index}: expected a 2-D grey image, got {img.shape}")
        img = img.astype(np.float32)
        h, w = img.shape
        scale = self.work_side / min(h, w)
        if scale < 1.0:
            size = (max(2, round(w * scale)), max(2, round(h * scale)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        img = cv2.GaussianBlur(img, (0, 0), 1.0)
        mean, std = (float(v[0, 0]) for v in cv2.meanStdDev(img))
        return (img - mean) / max(std, _CONTRAST_FLOOR), std


class ShotSampler:
    """Keeps, for the current shot, a bounded set of evenly spread frames (for the per-shot
    embedding), without holding the whole shot in memory.

    Decimating buffer: keeps every k-th item; when it overflows it drops every other kept item
    and doubles k. The newest item is also kept so a sample can reach the end of the shot.
    At most ``max_keep`` items are held, whatever the shot length.
    """

    def __init__(self, max_keep: int = 16, pick: int = 3):
        if max_keep < 3 or pick < 1 or pick > max_keep:
            raise ValueError("ShotSampler: need max_keep >= 3 and 1 <= pick <= max_keep")
        self.max_keep = int(max_keep)
        self.pick = int(pick)
        self._reset()

    def _reset(self) -> None:
        self._kept: list[tuple[int, object]] = []  # (index in shot, item); indices multiples of k
        self._step = 1
        self._count = 0
        self._last: tuple[int, object] | None = None

    @property
    def count(self) -> int:
        """Items pushed since the last take()."""
        return self._count

    @property
    def held(self) -> int:
        """Items held now (<= max_keep)."""
        extra = self._last is not None and (not self._kept or self._kept[-1][0] != self._last[0])
        return len(self._kept) + int(extra)

    def push(self, item) -> None:
        index = self._count
        self._count += 1
        self._last = (index, item)
        if index % self._step:
            return
        self._kept.append((index, item))
        # One slot is reserved for the newest item.
        if len(self._kept) > self.max_keep - 1:
            self._kept = self._kept[::2]
            self._step *= 2

    def take(self) -> list:
        """Up to `pick` items evenly spread over the shot (first and last included); resets."""
        candidates = list(self._kept)
        if self._last is not None and (not candidates or candidates[-1][0] != self._last[0]):
            candidates.append(self._last)
        count = self._count
        self._reset()
        if not candidates:
            return []
        positions = np.array([index for index, _ in candidates])
        chosen: list[int] = []
        for target in np.linspace(0, count - 1, min(self.pick, len(candidates))):
            nearest = int(np.argmin(np.abs(positions - target)))
            if nearest not in chosen:
                chosen.append(nearest)
        return [candidates[i][1] for i in sorted(chosen)]
