"""Is a shot already in colour? Real colour footage, told apart from black and white that is
grey, sepia-toned or tinted.

A tint, however it changes from shadows to highlights (sepia, a blue night tint, split toning),
gives every pixel of one lightness the same a*b*: its chroma is a function of its lightness.
Real colour is not: a red coat and a green hedge of the same lightness differ. So the meter
takes, for each lightness (bands 2 L* wide), the mean a*b* out (the tint) and measures what
chroma is left: its root mean square, `residual`, in a*b* units, over a few small frames of
the shot.

Measured (`python bench/color_shots.py --photos ../shared/data/val FILMS`) on the 242 colour
photos of shared/data/val and on the same photos turned into toned black and white (sepia up to
a*b* (10, 30), a blue tint up to (-6, -35), split toning from blue shadows to yellow highlights),
each through H.264 4:2:0 at crf 18 and 28, measured at 64 px: toned pictures leave a residual of
0.67 to 4.73 (chroma subsampling and compression), colour photos 2.2 to 36.8 (median 9.2), the
nine colour clips of shared/data/video 5.4 to 24.9, a real 1950s black-and-white film 0.02. The
rule below calls none of the toned pictures colour, 90 % of the colour photos and every clip; the
other colour photos have almost no colour, and are then coloured like black and white.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..color import rgb_to_lab

SAMPLE_EVERY = 4  # frames of a shot between the ones measured
SAMPLE_SIDE = 64  # short side at which they are measured
_BAND = 2.0  # L* width of the lightness bands
_BANDS = int(100 / _BAND) + 1
# colour: residual >= CLEAR, or residual >= FAINT and residual large beside the tint's own chroma
CLEAR, FAINT, FAINT_SHARE = 5.0, 3.0, 0.4


@dataclass(frozen=True)
class ShotColor:
    """What a shot's chroma is: `residual` (chroma that its lightness does not explain, a*b* units,
    RMS), `tint` (the chroma its lightness does explain, RMS)."""

    residual: float = 0.0
    tint: float = 0.0

    @property
    def is_color(self) -> bool:
        return self.residual >= CLEAR or (self.residual >= FAINT and self.residual / (self.tint + 2.0) >= FAINT_SHARE)

    def describe(self) -> str:
        if self.is_color:
            return f"colour (chroma {self.residual:.1f} beyond a tint)"
        return "black and white" if self.tint < 2.0 else f"black and white, tinted (tint {self.tint:.1f})"


class ChromaMeter:
    """Push small RGB frames of one shot; `result()` says how much colour they hold. Its state is a
    few numbers per lightness band, whatever the shot's length."""

    def __init__(self):
        self.count = np.zeros(_BANDS)
        self.ab_sum = np.zeros((_BANDS, 2))
        self.square_sum = 0.0

    def push(self, rgb: np.ndarray) -> None:
        lab = rgb_to_lab(rgb).reshape(-1, 3).astype(np.float64)
        band = np.clip((lab[:, 0] / _BAND).astype(int), 0, _BANDS - 1)
        self.count += np.bincount(band, minlength=_BANDS)
        for channel in (0, 1):
            self.ab_sum[:, channel] += np.bincount(band, lab[:, 1 + channel], minlength=_BANDS)
        self.square_sum += float((lab[:, 1:] ** 2).sum())

    def result(self) -> ShotColor:
        total = self.count.sum()
        if not total:
            return ShotColor()
        explained = float(((self.ab_sum ** 2).sum(axis=1) / np.maximum(self.count, 1)).sum())
        return ShotColor(float(np.sqrt(max(0.0, self.square_sum - explained) / total)), float(np.sqrt(explained / total)))
