"""The one render step that films and stills share: the model looks at a small copy of the
lightness, and its a*b* goes back to full size guided by the full-resolution lightness.

The working size has the requested short side (never more than the picture's own) with
both sides multiples of what the model needs; the model answers at 1/output_stride of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..color import grey_from_lightness, guided_upsample, working_size
from ..options import DEFAULT_RENDER_SIZE
from .hints import user_hints


def model_size(height: int, width: int, render_size: int, colorizer) -> tuple[int, int]:
    """(h, w) the model works at for a picture of height x width: short side min(render_size,
    the picture's), both sides multiples of the colorizer's input_multiple. A picture is never
    enlarged to reach render_size, only to reach the smallest size the model takes."""
    return working_size(height, width, min(render_size, height, width), colorizer.input_multiple)


def shrink(light: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """L* (H, W) -> L* at (h, w), averaging where it shrinks."""
    h, w = size
    interpolation = cv2.INTER_AREA if h <= light.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(light, (w, h), interpolation=interpolation)


def predict(colorizer, lights: np.ndarray, embeddings: np.ndarray, hints: np.ndarray | None = None,
            prior: np.ndarray | None = None) -> np.ndarray:
    """L* at the working size (B, h, w) -> a*b* (B, h/stride, w/stride, 2), in batches of colorizer.batch_size.
    hints: (B, h, w, 3) or None; prior: (B, Q) palette log-weights (palette.py) or None."""
    size = colorizer.batch_size
    parts = []
    for start in range(0, len(lights), size):
        batch = slice(start, start + size)
        given = None if hints is None else hints[batch]
        palette = {} if prior is None else {"prior": prior[batch]}  # only models that take one are given one
        parts.append(colorizer.predict_ab(lights[batch], embeddings[batch], given, **palette))
    return np.concatenate(parts)


def upsample_ab(ab: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Predicted a*b* (h, w, 2) -> (H, W, 2), edges snapped to the full-resolution L* (H, W)."""
    return guided_upsample(ab, np.asarray(light, np.float32) / 100.0)


def colorize_lightness(colorizer, light: np.ndarray, render_size: int = DEFAULT_RENDER_SIZE,
                       hints: np.ndarray | None = None, prior: np.ndarray | None = None,
                       embedding: np.ndarray | None = None) -> np.ndarray:
    """Full-resolution L* (H, W) -> full-resolution a*b* (H, W, 2).

    hints: optional (h, w, 3) a*, b* and mask at the working size (model_size); prior: optional
    (Q,) palette log-weights (palette.py); embedding: the picture's own unless given (a film's shot's).
    """
    size = model_size(*light.shape, render_size, colorizer)
    small = shrink(light, size)
    if embedding is None:
        embedding = colorizer.embed(grey_from_lightness(light))
    embedding = np.asarray(embedding).reshape(1, -1)
    ab_small = predict(colorizer, small[None], embedding, None if hints is None else hints[None],
                              None if prior is None else prior[None])[0]
    return upsample_ab(ab_small, light)


def placed_hints(colorizer, shape: tuple[int, int], render_size: int, hints: Sequence) -> np.ndarray | None:
    """Hints as the model takes them at the working size of a picture of `shape` (None for none)."""
    if not hints:
        return None
    height, width = model_size(*shape, render_size, colorizer)
    return user_hints(height, width, [(hint.x, hint.y, hint.ab) for hint in hints])
