"""What the colour pass does with each shot: the user's direction (direction_file.py) and the shot's own
colour (truecolor.py) turned into a choice the stages act on, and hints followed through a shot.

A shot is coloured by the model (with its reference's palette and its hints, if any), left as it
is (its own chroma goes to the output untouched: `keep`, or automatically when it is in colour
already, unless `recolor_all`), or left grey (neutral chroma).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .direction_file import Direction, Hint
from ..errors import ModelError
from ..model.palette import DEFAULT_STRENGTH, Reference, palette_bins

COLOR, KEEP, GREY = "color", "keep", "grey"


@dataclass(frozen=True)
class ShotChoice:
    mode: str = COLOR  # COLOR, KEEP or GREY
    prior: np.ndarray | None = None  # (Q,) log-weights over the model's bins: the reference's palette
    hints: tuple[Hint, ...] = ()
    automatic: bool = False  # kept because it is in colour already, not because the user said so


class ShotDirector:
    """Each shot's ShotChoice, from the direction, the plan's colour measure and recolor_all."""

    def __init__(self, plan, colorizer, direction: Direction | None = None, recolor_all: bool = False,
                 references: dict[Path, Reference] | None = None):
        self.plan, self.direction, self.recolor_all = plan, direction or Direction(), recolor_all
        self._choices: dict[int, ShotChoice] = {}
        # each photo read once, its prior per strength cached (`references`: a cache shared with other directors)
        self._references: dict[Path, Reference] = {} if references is None else references
        said = [self.direction.film, *self.direction.shots.values()]
        self.bins = palette_bins(colorizer) if any(d.reference is not None for d in said) else None
        self.follows_hints = any(d.hints for d in said)
        if self.follows_hints and not colorizer.accepts_hints:
            raise ModelError("this model takes no colour hints")
        if self.direction.first_frames:  # before any shot is coloured: waits for the scan to find them
            self.direction.check_shot_starts(plan.shot_starts(max(self.direction.first_frames)))

    def kept_shots(self) -> list[int]:
        """The shots (counted from 1) left as they were because they are in colour already."""
        return [shot + 1 for shot in range(self.plan.shots) if self.choice(shot).automatic]

    def choice(self, shot: int) -> ShotChoice:
        """The choice for shot `shot` (counted from 0, as the plan counts; the file counts from 1)."""
        if shot not in self._choices:
            self._choices[shot] = self._choose(shot)
        return self._choices[shot]

    def _choose(self, shot: int) -> ShotChoice:
        said = self.direction.of_shot(shot + 1)
        if said.grey:
            return ShotChoice(GREY)
        if said.keep or (said.keep is None and not self.recolor_all and self.plan.color_of(shot).is_color):
            return ShotChoice(KEEP, automatic=not said.keep)
        prior = None
        if said.reference is not None:
            strength = DEFAULT_STRENGTH if said.strength is None else said.strength
            if said.reference not in self._references:
                self._references[said.reference] = Reference(said.reference)
            prior = self._references[said.reference].prior(self.bins, strength)
        return ShotChoice(COLOR, prior, said.hints or ())


class HintFollower:
    """Where a shot's hints are on each of its frames, frame after frame in order: placed on its first
    frame, then carried by sparse optical flow (pyramidal Lucas-Kanade on the lightness, a few points
    around each hint, their median motion). A hint whose points are lost, or that leaves the picture,
    is dropped for the rest of the shot: it does not stay behind on whatever comes into its place."""

    SPREAD = 3  # px between the points followed around a hint (at the working size)
    OFFSETS = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], np.float32) * SPREAD

    def __init__(self):
        self.shot = None
        self.points: list[tuple[np.ndarray, tuple[float, float]]] = []  # (xy, a*b*) per live hint
        self.previous: np.ndarray | None = None

    def follow(self, shot: int, hints: tuple[Hint, ...], light: np.ndarray) -> list[tuple[float, float, tuple]]:
        """This frame's hints as (x, y, (a*, b*)), x and y as fractions; light: its L* at the working size."""
        grey = np.clip(np.asarray(light) * 2.55 + 0.5, 0, 255).astype(np.uint8)
        height, width = grey.shape
        if shot != self.shot:
            self.shot = shot
            self.points = [(np.array([h.x * (width - 1), h.y * (height - 1)], np.float32), h.ab) for h in hints]
        elif self.points:
            self.points = [p for p in (self._moved(xy, ab, grey) for xy, ab in self.points) if p is not None]
        self.previous = grey
        return [(float(xy[0]) / max(1, width - 1), float(xy[1]) / max(1, height - 1), ab) for xy, ab in self.points]

    def _moved(self, xy: np.ndarray, ab, grey: np.ndarray):
        start = (xy + self.OFFSETS).reshape(-1, 1, 2)
        moved, found, _ = cv2.calcOpticalFlowPyrLK(self.previous, grey, start, None, winSize=(15, 15), maxLevel=2)
        found = found.ravel().astype(bool)
        if found.sum() < len(self.OFFSETS) // 2 + 1:
            return None
        xy = xy + np.median((moved - start).reshape(-1, 2)[found], axis=0)
        height, width = grey.shape
        if not (0 <= xy[0] <= width - 1 and 0 <= xy[1] <= height - 1):
            return None
        return xy.astype(np.float32), ab
