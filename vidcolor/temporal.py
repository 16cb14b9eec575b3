"""Temporal smoothing of predicted a*b* chroma: motion-aware, never across a cut, streaming.

For frame t, each neighbour n of the same shot within `radius` frames is warped onto t with
dense optical flow computed on lightness (DIS, t -> n), then weighted by a Gaussian in |t - n|
and by photometric agreement exp(-(L_t - warped L_n)^2 / photo_sigma^2), so occluded or badly
aligned pixels (and pixels whose flow leaves the frame) contribute ~nothing. Frame t's own ab
has weight 1. out = ab_t + strength * (weighted average - ab_t).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_OFF_FRAME = -1.0e6  # lightness given to samples from outside the frame


@dataclass
class _Frame:
    key: object
    light8: np.ndarray  # (h, w) uint8, input to the optical flow
    stack: np.ndarray  # (h, w, 3) float32: a, b, blurred lightness (0..255); remapped together


class TemporalSmoother:
    """Push frames in order; get back (key, smoothed_ab) once a frame's window is complete.

    Holds at most 2*radius+1 frames. Output order is push order; every key comes out once.
    """

    def __init__(
        self,
        radius: int = 2,
        strength: float = 0.6,
        time_sigma: float | None = None,
        photo_sigma: float = 10.0,
        light_max: float = 255.0,
    ):
        """
        radius: neighbours on each side (0 = off).
        strength: 0 = off, 1 = the full weighted average.
        time_sigma: Gaussian width in frames; default 0.5 + radius / 2.
        photo_sigma: lightness mismatch (in 0..255 grey levels) at which a warped neighbour's
            weight falls to 1/e.
        light_max: the value of white in the `light` arrays (255 for uint8; e.g. 100 for L*).
        """
        if radius < 0 or not 0.0 <= strength <= 1.0 or photo_sigma <= 0 or light_max <= 0:
            raise ValueError("TemporalSmoother: need radius >= 0, 0 <= strength <= 1, sizes > 0")
        self.radius = int(radius)
        self.strength = float(strength)
        self.photo_sigma = float(photo_sigma)
        self.light_max = float(light_max)
        sigma = 0.5 + self.radius / 2 if time_sigma is None else float(time_sigma)
        self._time_weight = [np.exp(-(d * d) / (2 * sigma * sigma)) for d in range(self.radius + 1)]
        self._active = self.radius > 0 and self.strength > 0
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._frames: list[_Frame] = []  # consecutive frames of the current shot, oldest first
        self._next = 0  # position in _frames of the oldest frame not yet emitted
        self._shot: object = None
        self._pixel_grid: np.ndarray | None = None  # (h, w, 2) x, y of each pixel

    @property
    def held(self) -> int:
        """Frames held now (at most 2*radius+1)."""
        return len(self._frames)

    def push(
        self, key, shot: int, light: np.ndarray, ab: np.ndarray
    ) -> list[tuple[object, np.ndarray]]:
        """Add the next frame; returns [(key, smoothed_ab), ...] for frames now complete."""
        if not self._active:
            return [(key, ab)]
        frame = self._prepare(key, light, ab)
        out: list[tuple[object, np.ndarray]] = []
        if self._frames and shot != self._shot:
            out += self._drain()  # the previous shot's windows are closed
        elif self._frames and frame.light8.shape != self._frames[0].light8.shape:
            raise ValueError(f"frame {key!r}: size {light.shape} differs from its shot")
        self._shot = shot
        self._frames.append(frame)
        while self._next + self.radius < len(self._frames):
            out.append(self._emit(self._next))
            self._next += 1
        drop = max(0, self._next - self.radius)  # no later window reaches these
        del self._frames[:drop]
        self._next -= drop
        return out

    def flush(self) -> list[tuple[object, np.ndarray]]:
        """At the end: emits every frame still pending."""
        return self._drain() if self._active else []

    def _drain(self) -> list[tuple[object, np.ndarray]]:
        out = [self._emit(i) for i in range(self._next, len(self._frames))]
        self._frames.clear()
        self._next = 0
        self._shot = None
        return out

    def _prepare(self, key, light: np.ndarray, ab: np.ndarray) -> _Frame:
        light = np.asarray(light)
        ab = np.asarray(ab)
        if light.ndim != 2 or ab.shape != light.shape + (2,):
            raise ValueError(f"frame {key!r}: light {light.shape} and ab {ab.shape} do not match")
        scaled = light.astype(np.float32) * np.float32(255.0 / self.light_max)
        light8 = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
        stack = np.empty(light.shape + (3,), np.float32)
        stack[..., :2] = ab
        # Grain differs from frame to frame; blur so it does not read as misalignment.
        stack[..., 2] = cv2.GaussianBlur(scaled, (0, 0), 1.0)
        return _Frame(key, light8, stack)

    def _grid(self, shape: tuple[int, int]) -> np.ndarray:
        if self._pixel_grid is None or self._pixel_grid.shape[:2] != shape:
            ys, xs = np.indices(shape, dtype=np.float32)
            self._pixel_grid = np.dstack([xs, ys])
        return self._pixel_grid

    def _emit(self, i: int) -> tuple[object, np.ndarray]:
        frame = self._frames[i]
        grid = self._grid(frame.light8.shape)
        # Planar (channel-first) copies: numpy is several times faster on contiguous planes
        # than on the interleaved channels that cv2.remap works with.
        own = _planes(frame.stack)
        own_ab, own_light = own[:2], own[2]
        delta = np.zeros_like(own_ab)  # sum of weight * (warped ab - own ab)
        weight_sum = np.ones_like(own_light)  # own frame counts 1
        neg_inv_var = np.float32(-1.0 / (self.photo_sigma * self.photo_sigma))
        lo, hi = max(0, i - self.radius), min(len(self._frames), i + self.radius + 1)
        for j in range(lo, hi):
            if j == i:
                continue
            other = self._frames[j]
            coords = self._flow.calc(frame.light8, other.light8, None)
            coords += grid  # flow t -> n: pixel x of t is seen at x + flow in n
            # Samples from outside the frame get a far-off lightness, hence zero weight.
            warped = _planes(cv2.remap(
                other.stack, coords, None, cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, _OFF_FRAME),
            ))
            mismatch = own_light - warped[2]
            exponent = mismatch * mismatch * neg_inv_var
            exponent += np.float32(np.log(self._time_weight[abs(j - i)]))
            np.maximum(exponent, -60.0, out=exponent)  # exp() is slow where it gives denormals
            weight = np.exp(exponent)
            change = warped[:2] - own_ab
            change *= weight
            delta += change
            weight_sum += weight
        delta /= weight_sum
        delta *= np.float32(self.strength)
        delta += own_ab
        return frame.key, np.ascontiguousarray(delta.transpose(1, 2, 0))


def _planes(image: np.ndarray) -> np.ndarray:
    """(h, w, c) -> contiguous (c, h, w)."""
    return np.ascontiguousarray(image.transpose(2, 0, 1))
