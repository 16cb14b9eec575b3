"""What the studio directs: a film's shots, scanned as `vidcolor shots` and remaster scan them
(shot_scan.scan_shots: the same cut detector on the same small frames), and the frames of a shot
the page shows; or a still, as one shot.

A shot's frames are decoded when the page first opens it (from the key frame before it: the scan
notes every frame's time) and kept for the few shots opened last: its first frame at the display
size, a strip of frames across it, and each frame's lightness at the model's working size, through
which hints are followed as the colour pass follows them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..color import grey_from_lightness, grey_to_lightness_table, lightness, yuv_to_rgb
from ..errors import InputError
from ..film.shot_plan import ShotPlan
from ..film.shot_scan import scan_shots
from ..film.truecolor import ShotColor
from ..images import read_image
from ..media import decode_frames_from, probe_video
from ..model.render import model_size
from ..threads import StageClock

DISPLAY_SIDE = 432  # short side of the large frame, in pixels (never more than the film's own)
STILL_SIDE = 720  # a still is shown larger: it is all there is
THUMB_SIDE = 144  # short side of the shots' strip pictures
STRIP_SIDE = 96  # short side of the frames across a shot
STRIP_FRAMES = 6
MAX_FOLLOWED = 1500  # frames of a shot its hints are followed through in the studio (a minute at 25 fps)
KEPT_SHOTS = 3  # shots whose frames stay decoded


@dataclass
class Picture:
    light: np.ndarray  # L* (H, W), float32
    rgb: np.ndarray  # the picture as it is (uint8 RGB): what a shot left as it is shows


@dataclass
class ShotFrames:
    """The frames of one shot that the page shows."""

    key: Picture  # its first frame, at the display size
    strip: list[Picture]  # frames across it, small
    strip_at: list[int]  # their places in the shot (the first is 0: its first frame)
    working: np.ndarray  # (N, h, w) uint8: each frame's L* x 2.55 at the model's working size (N <= MAX_FOLLOWED)


@dataclass
class StillShot:
    """A still as the one shot of its footage."""

    embedding: np.ndarray
    first: np.ndarray  # its thumbnail (RGB)
    start: int = 0
    end: int = 1
    seconds: float = 0.0
    end_seconds: float = 0.0
    color: ShotColor = ShotColor()


def _scaled(picture: np.ndarray, short_side: int) -> np.ndarray:
    h, w = picture.shape[:2]
    scale = min(1.0, short_side / min(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else picture


def _picture(rgb: np.ndarray, short_side: int) -> Picture:
    rgb = _scaled(rgb, short_side)
    return Picture(lightness(rgb).astype(np.float32), rgb)


class FilmFootage:
    """A film's shots, found by scan() (run in a background thread), and each shot's frames."""

    kind = "film"

    def __init__(self, source: Path):
        self.source = Path(source)
        self.info = probe_video(self.source)
        self.shots: list = []
        self.scanned_frames = 0
        self.done = False
        self._frames: OrderedDict[int, ShotFrames] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def frames(self) -> int:
        return self.info.frame_count

    def scan(self, colorizer) -> None:
        """Find the shots (each with its embedding), as they end; returns when the film is scanned."""
        footage = self

        class Counting(StageClock):  # the detector looks at each frame once: its calls count the frames
            def timed(self, stage, function, *args):
                if stage == "shots":
                    footage.scanned_frames += 1
                return super().timed(stage, function, *args)

        for shot in scan_shots(self.source, self.info, colorizer, clock=Counting(),
                               first_picture=lambda small: small.rgb(THUMB_SIDE)):
            self.shots.append(shot)
        self.scanned_frames = max(self.scanned_frames, self.shots[-1].end if self.shots else 0)
        self.done = True

    def listing(self) -> list[tuple[int, float, float, str]]:
        """Each shot's (first frame, start, end, what it looks like), as the direction file lists them."""
        return [(s.start, s.seconds, s.end_seconds, s.color.describe()) for s in self.shots]

    def shot_frames(self, shot: int, working: tuple[int, int]) -> ShotFrames:
        """Shot `shot`'s frames (counted from 0), decoded on first use; `working`: the model's (h, w)."""
        with self._lock:
            if shot not in self._frames:
                self._frames[shot] = self._decode(shot, working)
                while len(self._frames) > KEPT_SHOTS:
                    self._frames.popitem(last=False)
            self._frames.move_to_end(shot)
            return self._frames[shot]

    def _decode(self, shot: int, working: tuple[int, int]) -> ShotFrames:
        first, end = self.shots[shot].start, self.shots[shot].end
        stop = min(end, first + MAX_FOLLOWED)
        strip_at = sorted({int(round(k)) for k in np.linspace(0, stop - first - 1, STRIP_FRAMES)})
        info, (h, w) = self.info, working
        table = grey_to_lightness_table(info.full_range, info.bit_depth)  # as the colour pass reads the luma
        greys, strip, key = [], [], None
        frames = decode_frames_from(self.source, info, first, ShotPlan(list(self.shots)).frame_pts)
        try:
            for frame in frames:
                if frame.index >= stop:
                    break
                place = frame.index - first
                light = table[cv2.resize(frame.y, (w, h), interpolation=cv2.INTER_AREA)]
                greys.append(np.clip(light * 2.55 + 0.5, 0, 255).astype(np.uint8))
                if place == 0 or place in strip_at:
                    rgb = yuv_to_rgb(frame.y, frame.u, frame.v, info.matrix, info.full_range, info.bit_depth)
                    key = _picture(rgb, DISPLAY_SIDE) if place == 0 else key
                    if place in strip_at:
                        strip.append(_picture(rgb, STRIP_SIDE))
        finally:
            frames.close()
        if key is None:
            raise InputError(f"{self.source}: the frames of shot {shot + 1} cannot be decoded")
        return ShotFrames(key, strip, strip_at[: len(strip)], np.stack(greys))


class StillFootage:
    """A still, as a footage of one shot with no frames across it."""

    kind = "still"
    done = True

    def __init__(self, source: Path):
        self.source = Path(source)
        self.rgb = read_image(self.source)
        self.shots: list = []
        self.scanned_frames = 0
        self.frames = 1

    def scan(self, colorizer) -> None:
        light = lightness(self.rgb)
        embedding = np.asarray(colorizer.embed(grey_from_lightness(light))).reshape(-1)
        self.shots = [StillShot(embedding.astype(np.float32), _scaled(self.rgb, THUMB_SIDE))]
        self.scanned_frames = 1

    def listing(self) -> list[tuple[int, float, float, str]]:
        return [(0, 0.0, 0.0, "a still")]

    def shot_frames(self, shot: int, working: tuple[int, int]) -> ShotFrames:
        h, w = working
        light = cv2.resize(lightness(self.rgb), (w, h), interpolation=cv2.INTER_AREA)
        grey = np.clip(light * 2.55 + 0.5, 0, 255).astype(np.uint8)
        return ShotFrames(_picture(self.rgb, STILL_SIDE), [], [0], grey[None])  # no strip: its first frame only


def open_footage(source: Path):
    """FilmFootage, or StillFootage for a picture the still reader reads."""
    from ..images import IMAGE_SUFFIXES

    return StillFootage(source) if Path(source).suffix.lower() in IMAGE_SUFFIXES else FilmFootage(source)


def working_size(footage, colorizer, render_size: int) -> tuple[int, int]:
    """The (h, w) the model colours the footage's frames at, as remaster and stills choose it."""
    if footage.kind == "still":
        return model_size(*footage.rgb.shape[:2], render_size, colorizer)
    return model_size(footage.info.height, footage.info.width, render_size, colorizer)
