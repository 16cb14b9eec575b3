"""A reference photo's palette as a prior over the model's a*b* bins.

The model gives each pixel a distribution over a*b* bins (chroma_bins.py). A reference (a colour
photo whose colours a shot or a still should take) becomes a distribution over the same bins: its
pixels' a*b* counted per bin, smoothed over the a*b* plane and mixed with a little of the uniform
distribution (so a colour the reference lacks is made rare, never impossible). Decoding multiplies
each pixel's distribution by that palette raised to a strength and renormalises
(Colorizer.predict_ab's `prior`, as log-weights): objects still take colours that fit them,
but from the reference's palette.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .chroma_bins import nearest_bin, smoothed_distribution
from ..color import rgb_to_lab
from ..errors import InputError, ModelError
from ..images import read_image

DEFAULT_STRENGTH = 1.0
UNIFORM_SHARE = 0.05  # of the uniform distribution mixed in: colours the reference lacks stay possible
_SIDE = 128  # the reference is counted at this long side: a palette needs no detail


def palette_prior(rgb: np.ndarray, centres: np.ndarray, strength: float = DEFAULT_STRENGTH) -> np.ndarray:
    """RGB picture (H, W, 3) -> (Q,) log-weights over the bins `centres` (Q, 2), times `strength`."""
    h, w = rgb.shape[:2]
    scale = min(1.0, _SIDE / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ab = rgb_to_lab(rgb)[..., 1:].reshape(-1, 2)
    counts = np.bincount(nearest_bin(ab, centres), minlength=len(centres))
    share = (1.0 - UNIFORM_SHARE) * smoothed_distribution(counts, centres) + UNIFORM_SHARE / len(centres)
    logs = np.log(share)
    return (strength * (logs - logs.mean())).astype(np.float32)


class Reference:
    """A reference photo read once, for any number of pictures that take its palette: its prior for a
    model's bins at a strength is computed once too. InputError naming it if it cannot be read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such reference photo")
        self._rgb = read_image(self.path)
        self._priors: dict[tuple[bytes, float], np.ndarray] = {}

    def prior(self, centres: np.ndarray, strength: float = DEFAULT_STRENGTH) -> np.ndarray:
        """palette_prior of the photo."""
        key = (np.ascontiguousarray(centres).tobytes(), float(strength))
        if key not in self._priors:
            self._priors[key] = palette_prior(self._rgb, centres, strength)
        return self._priors[key]


def palette_bins(colorizer) -> np.ndarray:
    """The (Q, 2) bins a colorizer's palette prior weighs; ModelError if it takes none."""
    bins = getattr(colorizer, "palette_bins", None)
    if bins is None:
        raise ModelError("this model takes no reference photo (it needs a classification head)")
    return bins
