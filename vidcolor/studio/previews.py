"""The studio's pictures, coloured as the colour pass colours a shot's key frames: the model at the
working size with the shot's palette and its hints where they are on each frame (followed from the
shot's first frame by the colour pass's own HintFollower), its a*b* upsampled guided by each
picture's lightness (render.py). A shot left as it is shows its own colours; a grey shot, grey.

One model call colours a shot's first frame and the strip across it together; each hint's track
through the shot is followed once and kept, so an edit follows only the hint it moved.
"""

from __future__ import annotations

import base64
from collections import OrderedDict

import cv2
import numpy as np

from ..color import merge_lab
from ..film.direction_file import Hint
from ..film.shot_director import GREY, KEEP, HintFollower, ShotChoice
from ..model import hints as model_hints
from ..model import render
from .footage import Picture, ShotFrames

KEPT_TRACKS = 256


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return data.tobytes()


def data_url(rgb: np.ndarray) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg(rgb)).decode()


def grey_of(picture: Picture) -> np.ndarray:
    return merge_lab(picture.light, np.zeros(picture.light.shape + (2,), np.float32))


class Tracks:
    """Where each hint is on a shot's strip frames: followed once per (shot, place), then kept."""

    def __init__(self):
        self._tracks: OrderedDict[tuple, list] = OrderedDict()

    def places(self, shot: int, frames: ShotFrames, hints: tuple[Hint, ...]) -> list[list[tuple]]:
        """For each strip frame, its hints as (x, y, (a*, b*)), x and y as fractions; a hint the
        follower lost (it left the picture or was covered) is gone from then on."""
        tracks = [self._track(shot, frames, hint) for hint in hints]
        return [[(*track[k], hint.ab) for hint, track in zip(hints, tracks) if track[k] is not None]
                for k in range(len(frames.strip_at))]

    def _track(self, shot: int, frames: ShotFrames, hint: Hint) -> list:
        key = (shot, id(frames), hint.x, hint.y)
        if key not in self._tracks:
            self._tracks[key] = follow(frames, hint)
            while len(self._tracks) > KEPT_TRACKS:
                self._tracks.popitem(last=False)
        return self._tracks[key]


def follow(frames: ShotFrames, hint: Hint) -> list[tuple[float, float] | None]:
    """The hint's place on each strip frame (None once lost), followed frame by frame from the first."""
    follower, places = HintFollower(), []
    wanted = set(frames.strip_at)
    last = max(frames.strip_at, default=0)
    found = True
    for k in range(min(last + 1, len(frames.working))):
        if found:
            points = follower.follow(0, (hint,), frames.working[k].astype(np.float32) / 2.55)
            found = bool(points)
        if k in wanted:
            places.append((points[0][0], points[0][1]) if found else None)
    return places


def colour_shot(colorizer, frames: ShotFrames, choice: ShotChoice, embedding: np.ndarray,
                placed: list[list[tuple]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(its first frame, the strip) in colour as `choice` says; placed: each strip frame's hints (Tracks)."""
    if choice.mode == KEEP:
        return frames.key.rgb, [p.rgb for p in frames.strip]
    if choice.mode == GREY:
        return grey_of(frames.key), [grey_of(p) for p in frames.strip]
    lights = frames.working[frames.strip_at].astype(np.float32) / 2.55  # strip_at[0] is the first frame
    count, (h, w) = len(lights), lights.shape[1:]
    given = None
    if any(placed):
        given = np.stack([model_hints.user_hints(h, w, points) for points in placed])
    prior = None if choice.prior is None else np.repeat(choice.prior[None], count, axis=0)
    embeddings = np.repeat(np.asarray(embedding, np.float32).reshape(1, -1), count, axis=0)
    ab = render.predict(colorizer, lights, embeddings, given, prior)
    key = merge_lab(frames.key.light, render.upsample_ab(ab[0], frames.key.light))
    return key, [merge_lab(p.light, render.upsample_ab(a, p.light)) for p, a in zip(frames.strip, ab)]


def colour_thumbnail(colorizer, rgb: np.ndarray, choice: ShotChoice, embedding: np.ndarray,
                     render_size: int) -> np.ndarray:
    """A shot's first frame, small, as `vidcolor shots --preview` colours it."""
    if choice.mode == KEEP:
        return rgb
    from ..color import lightness

    light = lightness(rgb)
    if choice.mode == GREY:
        return merge_lab(light, np.zeros(light.shape + (2,), np.float32))
    given = render.placed_hints(colorizer, light.shape, render_size, choice.hints)
    return merge_lab(light, render.colorize_lightness(colorizer, light, render_size, given, choice.prior, embedding))
