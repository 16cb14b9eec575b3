"""Temporal a*b* for a film: motion-aware smoothing and in-between frames, never across a cut, streaming.

Key frames carry a predicted a*b*. For a key frame t, each key frame n of the same shot within
`radius` keys is warped onto t with dense optical flow computed on lightness (DIS, t -> n), then
weighted by a Gaussian in the key distance and by photometric agreement
exp(-(L_t - warped L_n)^2 / photo_sigma^2), so occluded or badly aligned pixels (and pixels whose
flow leaves the frame) contribute ~nothing. Frame t's own ab has weight 1.
out = ab_t + strength * (weighted average - ab_t).

In-between frames (pushed with ab=None; the caller predicts a shot's first frame and then one at
least every `key_interval` frames, evenly or where the film needs them: key_frames.py) get the
same kind of average of the nearest key frame on each side, weighted linearly by closeness in
time, with no own ab: the model runs on a fraction of the frames and the chroma follows the
motion in between. Key frames' neighbours are counted in key frames, wherever those fall.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# DIS optical flow builds its pyramid for pictures at least this big (short side, long side); for
# smaller ones it picks its levels from the width alone, and fails (16x640, 8x8) or even crashes
# the process (16x100). Smaller frames are enlarged for the flow, which is brought back to their size.
_FLOW_MIN_SHORT, _FLOW_MIN_LONG = 32, 96
_FILL_FLOOR = 1e-3  # photometric weight every key keeps for an in-between frame, so its average is defined


@dataclass
class _Frame:
    key: object
    light8: np.ndarray  # (h, w) uint8, input to the optical flow
    stack: np.ndarray  # (h, w, 4) float32: a, b (0 for in-between frames), blurred lightness (0..255), 0
    # (four channels: cv2.remap is twice as fast on four as on three)
    is_key: bool
    key_number: int  # key frames of its shot pushed before it (counted in key_pictures)


class TemporalSmoother:
    """Push frames in order; get back (key, ab) once a frame's window is complete.

    Holds at most 2*reach+1 frames, reach = radius * key_interval. Output order is push order;
    every key comes out once.
    """

    def __init__(
        self,
        radius: int = 2,
        strength: float = 0.6,
        time_sigma: float | None = None,
        photo_sigma: float = 10.0,
        light_max: float = 255.0,
        key_interval: int = 1,
        key_pictures: int = 1,
    ):
        """
        radius: neighbouring key frames on each side a key frame is smoothed with (0 = off).
        strength: 0 = off, 1 = the full weighted average.
        time_sigma: Gaussian width in key frames; default 0.5 + radius / 2.
        photo_sigma: lightness mismatch (in 0..255 grey levels) at which a warped neighbour's
            weight falls to 1/e.
        light_max: the value of white in the `light` arrays (255 for uint8; e.g. 100 for L*).
        key_interval: frames from one key frame to the next within a shot, at most (1 = every frame is one).
        key_pictures: consecutive key frames at each key (2: an interlaced film's two fields, pushed
            as pictures of their own); an in-between frame takes from all of them on either side.
        """
        if radius < 0 or not 0.0 <= strength <= 1.0 or photo_sigma <= 0 or light_max <= 0 or key_interval < 1:
            raise ValueError("TemporalSmoother: need radius >= 0, 0 <= strength <= 1, sizes > 0, key_interval >= 1")
        self.radius = int(radius)
        self.strength = float(strength)
        self.photo_sigma = float(photo_sigma)
        self.light_max = float(light_max)
        self.key_interval = int(key_interval)
        self.key_pictures = int(key_pictures)
        sigma = 0.5 + self.radius / 2 if time_sigma is None else float(time_sigma)
        self._time_weight = [np.exp(-(d * d) / (2 * sigma * sigma)) for d in range(self.radius + 1)]
        self._smooths = self.radius > 0 and self.strength > 0
        self.reach = max(self.radius * self.key_interval if self._smooths else 0, self.key_interval - 1)
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._frames: list[_Frame] = []  # consecutive frames of the current shot, oldest first
        self._next = 0  # position in _frames of the oldest frame not yet emitted
        self._shot: object = None
        self._keys_seen = 0  # key pictures of the current shot pushed so far
        self._pixel_grid: np.ndarray | None = None  # (h, w, 2) x, y of each pixel

    @property
    def held(self) -> int:
        """Frames held now (at most 2*reach+1)."""
        return len(self._frames)

    def push(
        self, key, shot: int, light: np.ndarray, ab: np.ndarray | None
    ) -> list[tuple[object, np.ndarray]]:
        """Add the next frame (ab=None: an in-between frame); returns [(key, ab), ...] for frames now complete."""
        if self.reach == 0:
            if ab is None:
                raise ValueError(f"frame {key!r}: no a*b* given, and key_interval is 1")
            return [(key, ab)]
        out: list[tuple[object, np.ndarray]] = []
        frame = self._prepare(key, light, ab)
        if self._frames and shot != self._shot:
            out += self._drain()  # the previous shot's windows are closed
        elif self._frames and frame.light8.shape != self._frames[0].light8.shape:
            raise ValueError(f"frame {key!r}: size {light.shape} differs from its shot")
        self._shot = shot
        frame.key_number = self._keys_seen // self.key_pictures
        self._keys_seen += frame.is_key
        self._frames.append(frame)
        while self._next + self.reach < len(self._frames):
            out.append(self._emit(self._next))
            self._next += 1
        drop = max(0, self._next - self.reach)  # no later window reaches these
        del self._frames[:drop]
        self._next -= drop
        return out

    def flush(self) -> list[tuple[object, np.ndarray]]:
        """At the end: emits every frame still pending."""
        return self._drain()

    def _drain(self) -> list[tuple[object, np.ndarray]]:
        out = [self._emit(i) for i in range(self._next, len(self._frames))]
        self._frames.clear()
        self._next = 0
        self._shot = None
        self._keys_seen = 0
        return out

    def _prepare(self, key, light: np.ndarray, ab: np.ndarray | None) -> _Frame:
        light = np.asarray(light)
        if light.ndim != 2 or (ab is not None and np.shape(ab) != light.shape + (2,)):
            raise ValueError(f"frame {key!r}: light {light.shape} and ab {np.shape(ab)} do not match")
        scaled = light.astype(np.float32) * np.float32(255.0 / self.light_max)
        light8 = np.clip(scaled + 0.5, 0, 255).astype(np.uint8)
        stack = np.zeros(light.shape + (4,), np.float32)
        if ab is not None:
            stack[..., :2] = ab
        # Grain differs from frame to frame; blur so it does not read as misalignment.
        stack[..., 2] = cv2.GaussianBlur(scaled, (0, 0), 1.0)
        return _Frame(key, light8, stack, ab is not None, 0)

    def _grid(self, shape: tuple[int, int]) -> np.ndarray:
        if self._pixel_grid is None or self._pixel_grid.shape[:2] != shape:
            ys, xs = np.indices(shape, dtype=np.float32)
            self._pixel_grid = np.dstack([xs, ys])
        return self._pixel_grid

    def _neighbours(self, i: int) -> list[tuple[int, float, float]]:
        """(position, time weight, photometric floor) of the key frames frame i averages over."""
        frame, step = self._frames[i], self.key_interval
        keys = [j for j, other in enumerate(self._frames) if other.is_key and j != i]
        if frame.is_key:
            if not self._smooths:
                return []
            # in key frames (an interlaced key frame's two fields are one), however far apart they fall
            apart = [(j, abs(self._frames[j].key_number - frame.key_number)) for j in keys]
            return [(j, self._time_weight[n], 0.0) for j, n in apart
                    if n <= self.radius and abs(j - i) <= self.radius * step]
        before = [j for j in keys if j < i and i - j < step][-self.key_pictures:]
        after = [j for j in keys if j > i and j - i < step][: self.key_pictures]
        gap = after[0] - before[0] if before and after else step  # from one key frame to the next
        return [(j, 1.0 - abs(j - i) / gap, _FILL_FLOOR) for j in before + after]

    def _emit(self, i: int) -> tuple[object, np.ndarray]:
        frame = self._frames[i]
        neighbours = self._neighbours(i)
        if not neighbours:  # a key frame left as predicted, or (only where a shot starts with no key) grey
            return frame.key, frame.stack[..., :2].copy()
        grid = self._grid(frame.light8.shape)
        # Planar (channel-first) copies: numpy is several times faster on contiguous planes
        # than on the interleaved channels that cv2.remap works with.
        own = _planes(frame.stack[..., :3])
        own_ab, own_light = own[:2], own[2]
        # sum of weight * ab and of weights; a key frame's own ab counts 1 (an in-between frame's is 0)
        total = own_ab.copy()
        weight_sum = np.full_like(own_light, 1.0 if frame.is_key else 0.0)
        for j, time_weight, floor in neighbours:
            coords = dense_flow(self._flow, frame.light8, self._frames[j].light8)
            coords += grid  # flow t -> n: pixel x of t is seen at x + flow in n
            warped = _planes(cv2.remap(self._frames[j].stack, coords, None, cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE))
            weight = self._photometric_weight(own_light, warped[2], coords)
            if floor:
                weight += np.float32(floor)
            weight *= np.float32(time_weight)
            warped_ab = warped[:2]
            warped_ab *= weight
            total += warped_ab
            weight_sum += weight
        total /= weight_sum  # the weighted average
        if frame.is_key:
            total -= own_ab
            total *= np.float32(self.strength)
            total += own_ab
        return frame.key, cv2.merge(tuple(total))

    def _photometric_weight(self, own_light: np.ndarray, warped_light: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """exp(-(L_t - warped L_n)^2 / photo_sigma^2); ~0 (e^-60) where the flow leaves the frame
        (an in-between frame takes the nearest edge's a*b* there, through its floor)."""
        height, width = own_light.shape
        outside = cv2.inRange(coords, (0.0, 0.0), (width - 1.0, height - 1.0)) == 0
        exponent = own_light - warped_light
        exponent *= exponent
        exponent *= np.float32(-1.0 / (self.photo_sigma * self.photo_sigma))
        np.maximum(exponent, -60.0, out=exponent)  # exp() is slow where it gives denormals
        exponent[outside] = -60.0
        return np.exp(exponent, out=exponent)


def dense_flow(dis: cv2.DISOpticalFlow, light: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Dense flow (h, w, 2) from `light` to `other` (uint8), for frames of any size (one pixel too)."""
    height, width = light.shape
    short, long = min(height, width), max(height, width)
    if short >= _FLOW_MIN_SHORT and long >= _FLOW_MIN_LONG:
        return dis.calc(light, other, None)
    scale = max(-(-_FLOW_MIN_SHORT // short), -(-_FLOW_MIN_LONG // long))
    size = (width * scale, height * scale)
    flow = dis.calc(cv2.resize(light, size, interpolation=cv2.INTER_LINEAR),
                    cv2.resize(other, size, interpolation=cv2.INTER_LINEAR), None)
    return cv2.resize(flow, (width, height), interpolation=cv2.INTER_AREA) * np.float32(1.0 / scale)


def _planes(image: np.ndarray) -> np.ndarray:
    """(h, w, c) -> contiguous (c, h, w)."""
    return np.ascontiguousarray(image.transpose(2, 0, 1))
