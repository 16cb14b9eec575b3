"""The stages of the colour pass, in the order a frame goes through them.

decode (media) -> `ColorStage` (each shot's direction; the model, on key frames) -> `SmoothStage`
(fill between key frames, smooth a*b*) -> `EncodeStage` (upsample, encode).

Each stage has one interface: push(item) returns the items it has finished (possibly none,
possibly several), and flush() returns the rest at the end. They know nothing of threads:
remaster.py wires them together, each in its own thread, with bounded queues.

An interlaced film's frames hold two moments, one per field, so its pictures are its fields (in
the order they are shown): the model colours both fields of a key frame, each at the frame's
working size; the flow fills and smooths field by field; each field's chroma is upsampled guided
by that field's own rows and woven back into the frame. So a moving edge takes its colour where
each field shows it, with no comb of the other field's colour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..model import hints, render
from ..color import grey_to_lightness_table, guided_planes, lab_to_rgb, rgb_to_chroma
from .shot_director import COLOR, KEEP, HintFollower, ShotDirector
from ..media import VideoInfo, YuvFrame, first_field
from ..threads import StageClock
from .key_frames import KeyPicker
from .temporal import TemporalSmoother

if TYPE_CHECKING:
    from .run import FilmRun


@dataclass
class Colored:
    """A frame on its way through the stages."""

    frame: YuvFrame
    shot: int
    light: np.ndarray  # L* at the model's working size
    ab: np.ndarray | None  # a*b* at the model's output size; None between key frames until filled
    mode: str = COLOR  # director.COLOR; KEEP: the frame's own chroma goes out; GREY: neutral chroma
    field: int | None = None  # an interlaced film's field: the frame's rows field::2; None: the whole frame
    planes: tuple[np.ndarray, np.ndarray] | None = None  # its U and V planes, once upsampled (EncodeStage.upsample)


class ColorStage:
    """Applies each shot's direction (shot_director.py) and runs the model on the key frames of the shots
    it colours (key_frames.py), in batches, with their reference's palette and their hints; the frames
    between go on with no a*b* (the smoothing stage fills them). Frames before `first_frame` (a resumed
    run's warm-up reaches back no further) only carry hints along, where their shot has any, and show
    the key picker what it needs from `sees_from` on."""

    def __init__(self, run: FilmRun, director: ShotDirector, first_frame: int = 0):
        info, options = run.film.info, run.options
        self.plan, self.colorizer, self.clock, self.director = run.plan, run.colorizer, run.clock, director
        self.chunk, self.first_frame, self.follower = options.chunk_frames, first_frame, HintFollower()
        self.keys = KeyPicker(options.film.key_interval, options.film.key_frames)
        shot_start = self.plan.shot_start(self.plan.shot_of(first_frame)) if first_frame else 0
        self.sees_from = self.keys.sees_from(first_frame, shot_start)
        self.table = grey_to_lightness_table(info.full_range, info.bit_depth)  # indexed by the frame's own codes
        self.h, self.w = render.model_size(info.height, info.width, options.model.render_size, run.colorizer)
        self.pending: list[tuple[YuvFrame, int, np.ndarray, str, list, bool]] = []  # frame, shot, light, mode, hints, is key
        first = first_field(info.field_order)
        self.fields = None if first is None else (first, 1 - first)  # the rows of each picture, as shown

    def lightness(self, frame: YuvFrame) -> tuple[YuvFrame, np.ndarray]:
        """The frame with its L* at the working size, one per field if interlaced (run in the decoding thread)."""
        if self.fields is None:
            return frame, self._light(frame.y)
        return frame, np.stack([self._light(frame.y[field::2]) for field in self.fields])

    def _light(self, luma: np.ndarray) -> np.ndarray:
        return self.table[cv2.resize(luma, (self.w, self.h), interpolation=cv2.INTER_AREA)]

    def push(self, item: tuple[YuvFrame, np.ndarray]) -> list[Colored]:
        frame, light = item
        shot = self.plan.shot_of(frame.index)
        choice = self.director.choice(shot)
        # hints are followed on the first field shown (both fields of a frame take them)
        shown = light if self.fields is None else light[0]
        points = self.follower.follow(shot, choice.hints, shown) if choice.hints else []
        key = False
        if choice.mode == COLOR and frame.index >= self.sees_from:
            start = time.perf_counter()
            key = self.keys.is_key(shot, frame.index - self.plan.shot_start(shot), shown)
            self.clock.add("color", time.perf_counter() - start)  # the model's thread
        if frame.index < self.first_frame:
            return []
        self.pending.append((frame, shot, light, choice.mode, points, key))
        return self._run_batch() if len(self.pending) >= self.chunk else []

    def flush(self) -> list[Colored]:
        return self._run_batch() if self.pending else []

    def _run_batch(self) -> list[Colored]:
        pending, self.pending = self.pending, []
        start = time.perf_counter()
        out: list[tuple[Colored, list, bool]] = []
        for frame, shot, light, mode, points, key in pending:
            if self.fields is None:
                out.append((Colored(frame, shot, light, None, mode), points, key))
            else:
                out += [(Colored(frame, shot, picture, None, mode, field), points, key)
                        for field, picture in zip(self.fields, light)]
        keys = [(c, points) for c, points, key in out if key]
        if keys:
            light = np.stack([c.light for c, _ in keys])
            choices = [self.director.choice(c.shot) for c, _ in keys]
            given = None
            if any(points for _, points in keys):
                given = np.stack([hints.user_hints(self.h, self.w, points) for _, points in keys])
            prior = None
            if any(choice.prior is not None for choice in choices):
                prior = np.stack([np.zeros(len(self.director.bins), np.float32) if choice.prior is None
                                  else choice.prior for choice in choices])
            predicted = render.predict(self.colorizer, light, self.plan.embeddings[[c.shot for c, _ in keys]],
                                       given, prior)
            for (c, _), ab in zip(keys, predicted):
                c.ab = ab
        self.clock.add("color", time.perf_counter() - start)
        return [c for c, _, _ in out]


class SmoothStage:
    """Temporal a*b* at the model's output size (temporal.py): smooths key frames, fills the rest,
    picture by picture (`pictures_per_frame`: 2 for an interlaced film's fields)."""

    def __init__(self, strength: float, radius: int, key_interval: int, output_stride: int, clock: StageClock,
                 pictures_per_frame: int = 1):
        self.smoother = TemporalSmoother(radius=radius, strength=strength, light_max=100.0,
                                         key_interval=key_interval * pictures_per_frame, key_pictures=pictures_per_frame)
        self.clock = clock
        self.stride = output_stride
        self.pictures_per_frame = pictures_per_frame

    @property
    def reach(self) -> int:
        """How many frames back the smoothing of a frame looks (key_interval: the most frames between key frames)."""
        return -(-self.smoother.reach // self.pictures_per_frame)

    def push(self, item: Colored) -> list[Colored]:
        if item.mode != COLOR:  # the shot's own chroma or none: nothing to fill or smooth
            return self.flush() + [item]
        start = time.perf_counter()
        light = item.light
        size = (light.shape[1] // self.stride, light.shape[0] // self.stride)
        small = cv2.resize(light, size, interpolation=cv2.INTER_AREA)
        out = self.smoother.push((item.frame, small, item.field), item.shot, small, item.ab)
        self.clock.add("smooth", time.perf_counter() - start)
        return [Colored(frame, -1, small, ab, field=field) for (frame, small, field), ab in out]

    def flush(self) -> list[Colored]:
        return [Colored(frame, -1, small, ab, field=field) for (frame, small, field), ab in self.smoother.flush()]


class EncodeStage:
    """Upsamples each frame's a*b* to chroma planes guided by its luma (each field's by its own
    rows, woven together), and writes the frame. A progressive frame's planes are best made by
    `upsample` in the thread before (the smoothing's): the encoder's thread, which x264 keeps
    busy, is the one that sets the pace."""

    def __init__(self, info: VideoInfo, writer, clock: StageClock, on_frame=None):
        self.info, self.writer, self.clock, self.on_frame = info, writer, clock, on_frame
        self._first_field = first_field(info.field_order)
        self._neutral: np.ndarray | None = None  # a grey frame's chroma planes (the encoder copies them)
        self._woven: tuple[YuvFrame, np.ndarray, np.ndarray, list[int]] | None = None  # a frame's fields so far

    def push(self, item: Colored) -> list:
        frame = item.frame
        if item.mode != COLOR:
            if item.field is not None and item.field == self._first_field:
                return []  # the frame goes out once, with its other field
            if item.mode == KEEP:
                u, v = frame.u, frame.v
            else:  # GREY
                if self._neutral is None:
                    self._neutral = np.full_like(frame.u, 1 << (self.info.bit_depth - 1))
                u = v = self._neutral
        elif item.field is None:
            u, v = item.planes or self.upsample(item).planes
        else:
            planes = self.clock.timed("upsample", self._weave, item)
            if planes is None:
                return []  # its other field comes next
            u, v = planes
        self.clock.timed("encode", self.writer.write, frame.y, u, v, frame.pts)
        if self.on_frame:
            self.on_frame()
        return []

    def upsample(self, item: Colored) -> Colored:
        """The item with its chroma planes, where it is a progressive frame to colour (others as they are)."""
        if item.mode != COLOR or item.field is not None or item.planes is not None:
            return item
        frame = item.frame
        planes = self.clock.timed("upsample", chroma_planes, frame.y, frame.u.shape, item.light, item.ab, self.info)
        return replace(item, planes=planes)

    def _weave(self, item: Colored) -> tuple[np.ndarray, np.ndarray] | None:
        """The field's chroma into its rows of the frame's planes; both planes once both fields are in."""
        frame, field = item.frame, item.field
        if self._woven is None or self._woven[0] is not frame:
            self._woven = (frame, np.empty_like(frame.u), np.empty_like(frame.v), [])
        _, u, v, done = self._woven
        # interlaced 4:2:0 alternates its chroma rows between the fields too
        u[field::2], v[field::2] = chroma_planes(frame.y[field::2], u[field::2].shape, item.light, item.ab, self.info)
        done.append(field)
        if len(done) < 2:
            return None
        self._woven = None
        return u, v

    def flush(self) -> list:
        self.writer.close()
        return []


def chroma_planes(luma: np.ndarray, shape: tuple[int, int], light: np.ndarray, ab: np.ndarray,
                  info: VideoInfo) -> tuple[np.ndarray, np.ndarray]:
    """Predicted a*b* (with its lightness) -> U and V planes of `shape`, edge-aware upsampled
    guided by the picture's `luma`, at the film's depth (uint8 for 8 bits, uint16 deeper)."""
    lab = cv2.merge((np.asarray(light, np.float32), np.asarray(ab, np.float32)))
    chroma = rgb_to_chroma(lab_to_rgb(lab), info.matrix, info.full_range, info.bit_depth)
    ch, cw = shape
    top = info.max_code
    guide = cv2.resize(luma, (cw, ch), interpolation=cv2.INTER_AREA)
    guide = np.multiply(guide, np.float32(1.0 / top), dtype=np.float32)
    u, v = guided_planes(chroma, guide, dtype=luma.dtype.type)
    if top < np.iinfo(luma.dtype).max:  # codes deeper than 8 bits, in 16-bit words
        np.minimum(u, top, out=u)
        np.minimum(v, top, out=v)
    return u, v
