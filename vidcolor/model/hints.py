"""Colour hints: a few points or small patches whose a*b* the user (or, in training, the truth) gives.

As the model sees them (Zhang et al. 2017): an (h, w, 3) array of a*, b* in Lab units and a
mask that is 1 where a colour is given. In training they are drawn from the truth as the
paper's reference implementation does: a geometrically distributed number of points, each
a small square patch whose colour is the truth's mean there.
"""

from __future__ import annotations

import numpy as np

from ..color import scale_ab


def empty(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width, 3), np.float32)


def sample_from_truth(ab: np.ndarray, rng: np.random.Generator, p_stop: float = 1 / 8, max_points: int = 24) -> np.ndarray:
    """Hints for a training sample from its true a*b* (h, w, 2): 1 + Geometric(p_stop) patches
    (at most max_points) of side 1 to 9 px."""
    h, w = ab.shape[:2]
    hints = empty(h, w)
    count = min(max_points, int(rng.geometric(p_stop)))
    for _ in range(count):
        size = int(rng.integers(1, 10))
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        hints[y : y + size, x : x + size, :2] = ab[y : y + size, x : x + size].reshape(-1, 2).mean(axis=0)
        hints[y : y + size, x : x + size, 2] = 1.0
    return hints


def place(height: int, width: int, points: list[tuple[float, float, tuple[float, float]]], size: int = 5) -> np.ndarray:
    """Hints from (x, y, (a*, b*)) points, x and y as fractions of the frame: a size x size patch each."""
    hints = empty(height, width)
    half = size // 2
    for x, y, ab in points:
        cx = min(width - 1, max(0, int(round(x * (width - 1)))))
        cy = min(height - 1, max(0, int(round(y * (height - 1)))))
        ys, xs = slice(max(0, cy - half), cy + half + 1), slice(max(0, cx - half), cx + half + 1)
        hints[ys, xs, :2] = ab
        hints[ys, xs, 2] = 1.0
    return hints


def hint_channels(hints: np.ndarray | None, shape: tuple) -> np.ndarray:
    """Hints as the model sees them: (a*/128 * mask, b*/128 * mask, mask); zeros for none."""
    if hints is None:
        return np.zeros(tuple(shape) + (3,), np.float32)
    hints = np.asarray(hints, np.float32)
    mask = hints[..., 2:3]
    return np.concatenate([scale_ab(hints[..., :2]) * mask, mask], axis=-1)


# A user's hint covers a square patch this share of the picture's short side (15 px at the default
# working size of 224). Measured with the shipped model on three photos, nine hints each (median pull
# of the colour near a hint toward it): 7 px 5-11 %, 15 px 12-25 %, 25 px 16-37 %; larger patches
# pull more, but colour more of what lies beside the point.
USER_HINT_SHARE = 0.065


def user_hints(height: int, width: int, points: list[tuple[float, float, tuple[float, float]]]) -> np.ndarray:
    """Hints at the working size (height, width) from a user's (x, y, (a*, b*)) points, x and y as fractions."""
    size = max(1, int(round(USER_HINT_SHARE * min(height, width))))
    return place(height, width, points, size=size | 1)
