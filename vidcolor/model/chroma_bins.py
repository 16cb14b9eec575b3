"""Colour as classification: quantised a*b* bins and class rebalancing (decoding: heads.py).

After Zhang, Isola & Efros (2016): the a*b* plane is cut into cells of 10x10
and only the cells that some sRGB colour reaches are kept (261 here; Zhang et al. count
313). The model predicts a distribution over those bins per pixel; rare,
saturated bins get larger loss weights, and the annealed mean (temperature
T ~ 0.38) turns a distribution into a colour that is vivid but not noisy.
"""

from __future__ import annotations

import numpy as np

from ..color import rgb_to_lab

GRID = 10.0
SOFT_SIGMA = 5.0
REBALANCE_MIX = 0.5


def in_gamut_bins(grid: float = GRID) -> np.ndarray:
    """(Q, 2) centres of the a*b* cells that in-gamut sRGB colours fall into."""
    levels = np.linspace(0.0, 1.0, 64, dtype=np.float32)
    rgb = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)
    ab = rgb_to_lab(rgb)[0, :, 1:]
    cells = np.unique(np.round(ab / grid).astype(np.int32), axis=0)
    return (cells * grid).astype(np.float32)


def nearest_bin(ab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((ab[..., None, :] - centres) ** 2).sum(-1).argmin(-1)


def rebalance_weights(counts: np.ndarray, centres: np.ndarray, mix: float = REBALANCE_MIX, sigma: float = SOFT_SIGMA) -> np.ndarray:
    """Per-bin loss weights from the training set's bin counts (Zhang et al., eq. 3-4).

    The empirical prior is smoothed with a Gaussian over the a*b* plane, mixed
    with a uniform prior and inverted; weights are normalised so that their
    expectation under the smoothed prior is 1.
    """
    smoothed = smoothed_distribution(counts, centres, sigma)
    weights = 1.0 / ((1.0 - mix) * smoothed + mix / len(smoothed))
    weights /= (smoothed * weights).sum()
    return weights.astype(np.float32)


def smoothed_distribution(counts: np.ndarray, centres: np.ndarray, sigma: float = SOFT_SIGMA) -> np.ndarray:
    """Bin counts -> a distribution over the bins, smoothed with a Gaussian of `sigma` over the a*b* plane."""
    share = counts.astype(np.float64) / max(float(counts.sum()), 1.0)
    d2 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2.0 * sigma * sigma))
    smoothed = kernel @ share / kernel.sum(1)
    return smoothed / smoothed.sum()
