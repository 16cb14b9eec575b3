"""Make a clean training lightness look like real archive film: grain, blur, tone curves,
vignetting, dust and scratches, compression artefacts.

Only the model's input is degraded; the colour it must predict stays the clean photo's,
so the model learns to colour through the damage that old films and scans carry.
Every function takes L* in 0..100 (h, w) float32 and a numpy Generator, and returns L*.
"""

from __future__ import annotations

import cv2
import numpy as np


def grain(light, rng):
    """Film grain: noise of a random strength and grain size."""
    noise = rng.normal(0.0, rng.uniform(1.0, 6.0), light.shape).astype(np.float32)
    size = rng.choice([1, 3])
    if size > 1:
        noise = cv2.GaussianBlur(noise, (size, size), 0) * 1.7
    return light + noise


def blur(light, rng):
    """Soft optics or a low-resolution transfer."""
    return cv2.GaussianBlur(light, (0, 0), rng.uniform(0.5, 1.8))


def tone(light, rng):
    """Contrast, brightness and a gamma curve: faded, crushed or washed-out prints."""
    x = np.clip(light / 100.0, 0.0, 1.0) ** rng.uniform(0.7, 1.45)
    x = (x - 0.5) * rng.uniform(0.65, 1.3) + 0.5 + rng.uniform(-0.1, 0.1)
    return x * 100.0


def vignette(light, rng):
    """Darker corners, as old lenses and projectors give."""
    h, w = light.shape
    y, x = np.ogrid[-1.0 : 1.0 : h * 1j, -1.0 : 1.0 : w * 1j]
    falloff = 1.0 - rng.uniform(0.1, 0.45) * np.clip((x * x + y * y) / 2.0, 0.0, 1.0) ** 1.5
    return light * falloff.astype(np.float32)


def dust_and_scratches(light, rng):
    """Specks of dust (dark or bright) and thin vertical scratches."""
    out = light.copy()
    h, w = light.shape
    for _ in range(rng.integers(1, 12)):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(out, centre, int(rng.integers(1, 4)), float(rng.choice([3.0, 97.0])), -1)
    for _ in range(rng.integers(0, 3)):
        x = int(rng.integers(0, w))
        cv2.line(out, (x, 0), (x + int(rng.integers(-4, 5)), h - 1), float(rng.choice([10.0, 92.0])), 1)
    return out


def compression(light, rng):
    """Blocking and ringing of a heavily compressed transfer."""
    grey = np.clip(np.round(light * 2.55), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 60))])
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 2.55


# (degradation, how often it is applied)
DEGRADATIONS = ((tone, 0.5), (blur, 0.3), (vignette, 0.25), (grain, 0.4), (dust_and_scratches, 0.15), (compression, 0.25))


def degrade(light: np.ndarray, rng: np.random.Generator, probability: float = 0.6) -> np.ndarray:
    """With `probability`, some of the degradations (each by its own chance); else the clean input."""
    light = np.asarray(light, np.float32)
    if rng.random() >= probability:
        return light
    for degradation, chance in DEGRADATIONS:
        if rng.random() < chance:
            light = degradation(light, rng)
    return np.clip(light, 0.0, 100.0).astype(np.float32)
