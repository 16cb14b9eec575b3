"""Which frames of a shot the model colours (its key frames); the flow fills the rest (temporal.py).

fixed: every `interval`-th frame of a shot, from its first.

adaptive: frames at a shot offset that is a multiple of 2*interval (the ceiling) always are key
frames; the one halfway between is one too where the last key frame's picture, carried along the
flow onto it, no longer matches it: large or fast motion the flow cannot follow, something coming
into view or uncovered, a change of light. The share of mismatched pixels (lightness off by more
than `_MATCH_LEVELS`, or carried from outside the picture) is the measure. A still shot gets a
key frame at each ceiling only, a moving one every interval frames, as `fixed`.

Denser key frames (a floor of interval/2) measured worse, not better, on colour clips (0.05-0.06 dB
less on two moving ones with more key frames than `fixed`): the model's own frame-to-frame noise,
which the smoothing over neighbouring key frames averages out, costs more than the flow's errors.

Each decision looks back only to the last multiple of the ceiling in its shot, so a run that
starts inside a shot (a piece, a resumed run) picks the same key frames as a run from the film's
start once it has seen the frames from there (`sees_from`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..options import KEY_FRAMES
from .temporal import dense_flow

_MATCH_LEVELS = 12.0  # lightness (0..255) off by more than this: the carried colour is not trusted there
_MISMATCH_SHARE = 0.06  # a new key frame once this share of the picture is not trusted
_FLOW_SIDE = 96  # short side the match is measured at; enough to see what the flow misses


def max_key_gap(interval: int, rule: str) -> int:
    """The most frames from one key frame to the next in a shot."""
    return 2 * interval if rule == "adaptive" else interval


class KeyPicker:
    """Decides, frame by frame in order, which frames of each shot are key frames."""

    def __init__(self, interval: int, rule: str = "fixed", mismatch_share: float = _MISMATCH_SHARE):
        if rule not in KEY_FRAMES or interval < 1:
            raise ValueError(f"KeyPicker: rule {rule!r} must be one of {KEY_FRAMES}, interval >= 1")
        self.adaptive = rule == "adaptive"
        self.floor = interval  # the grid of key frames: every interval-th frame may be one
        self.ceiling = max_key_gap(interval, rule)
        self.mismatch_share = float(mismatch_share)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._shot: object = None
        self._key: np.ndarray | None = None  # the small lightness (uint8) of the shot's last frame at a ceiling

    def sees_from(self, first_frame: int, shot_start: int) -> int:
        """The first frame a run colouring from `first_frame` (in the shot starting at `shot_start`)
        must show the picker, for it to pick as a run from the shot's start does."""
        return first_frame - (first_frame - shot_start) % self.ceiling if self.adaptive else first_frame

    def is_key(self, shot: object, offset: int, light: np.ndarray) -> bool:
        """Whether the frame `offset` frames into `shot`, with lightness `light` (L* 0..100,
        any size), is a key frame. Frames come in order; a new shot starts afresh."""
        if shot != self._shot:
            self._shot, self._key = shot, None
        if offset % self.ceiling == 0:
            if self.adaptive:
                self._key = _small(light)
            return True
        if offset % self.floor or not self.adaptive or self._key is None:
            return False  # (no ceiling frame seen: only before sees_from, where nothing is kept)
        return self.mismatch(self._key, _small(light)) > self.mismatch_share

    def mismatch(self, key: np.ndarray, light: np.ndarray) -> float:
        """The share of `light`'s pixels that `key` (both uint8), carried along the flow, does not match."""
        height, width = light.shape
        flow = dense_flow(self._dis, light, key)
        ys, xs = np.indices((height, width), dtype=np.float32)
        flow[..., 0] += xs
        flow[..., 1] += ys
        carried = cv2.remap(key, flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        off = cv2.absdiff(carried, light) > _MATCH_LEVELS
        off |= cv2.inRange(flow, (0.0, 0.0), (width - 1.0, height - 1.0)) == 0
        return float(np.count_nonzero(off)) / off.size


def _small(light: np.ndarray) -> np.ndarray:
    """L* (0..100) -> uint8 lightness at _FLOW_SIDE on its short side (never enlarged), grain blurred."""
    height, width = light.shape
    scale = min(1.0, _FLOW_SIDE / min(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(np.asarray(light, np.float32), size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    return np.clip(small * np.float32(2.55) + 0.5, 0, 255).astype(np.uint8)
