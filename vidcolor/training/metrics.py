"""Colour quality metrics for colorized images and films.

Every image is RGB uint8 with shape (H, W, 3). Pure numpy / OpenCV / scikit-image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Sequence

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from vidcolor.errors import InputError

CDC_STEPS = (1, 2, 4)
# CIELAB chroma thresholds of false and missed colour: strong colour is above 20, nearly neutral below 8
STRONG_CHROMA, NEUTRAL_CHROMA = 20.0, 8.0


def _check_image(img: np.ndarray, name: str = "image") -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InputError(f"{name}: expected RGB uint8 (H, W, 3), got {img.dtype} {img.shape}")
    return img


def _check_pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, truth = _check_image(pred, "prediction"), _check_image(truth, "truth")
    if pred.shape != truth.shape:
        raise InputError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    return pred, truth


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio over all RGB values (data range 255); inf when identical."""
    pred, truth = _check_pair(pred, truth)
    mse = np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def ciede2000(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference over pixels."""
    pred, truth = _check_pair(pred, truth)
    return float(np.mean(deltaE_ciede2000(rgb2lab(pred), rgb2lab(truth))))


def chroma_errors(pred_lab: np.ndarray, truth_lab: np.ndarray) -> tuple[float, float]:
    """(false colour, missed colour) of two CIELAB images: the share of pixels coloured strongly (chroma
    above STRONG_CHROMA) where the truth is nearly neutral (below NEUTRAL_CHROMA), and the share left
    nearly neutral where the truth is strongly coloured."""
    pred_chroma = np.hypot(pred_lab[..., 1], pred_lab[..., 2])
    truth_chroma = np.hypot(truth_lab[..., 1], truth_lab[..., 2])
    false = (pred_chroma > STRONG_CHROMA) & (truth_chroma < NEUTRAL_CHROMA)
    missed = (pred_chroma < NEUTRAL_CHROMA) & (truth_chroma > STRONG_CHROMA)
    return float(false.mean()), float(missed.mean())


def colorfulness(img: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colorfulness, with absolute opponent differences."""
    rgb = _check_image(img).astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = np.abs(r - g)
    yb = np.abs(0.5 * (r + g) - b)
    std_root = math.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mean_root = math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(std_root + 0.3 * mean_root)


def _channel_histograms(frame: np.ndarray) -> np.ndarray:
    """(3, 256) histograms, each normalised to sum 1."""
    hists = np.stack([np.bincount(frame[..., c].ravel(), minlength=256) for c in range(3)])
    return hists / hists.sum(axis=1, keepdims=True)


def _js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2) between rows of p and q; 0 log 0 taken as 0."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        ratio = np.divide(a, m, out=np.ones_like(a), where=a > 0)
        return np.sum(a * np.log2(ratio), axis=-1)

    return 0.5 * kl(p) + 0.5 * kl(q)


def cdc(frames: Sequence[np.ndarray]) -> float:
    """Colour Distribution Consistency: mean JS divergence of channel histograms at
    frame distances 1, 2 and 4; distances with no frame pairs are skipped. Lower is steadier."""
    if len(frames) < 2:
        raise InputError(f"cdc needs at least 2 frames, got {len(frames)}")
    hists = [_channel_histograms(_check_image(f, "frame")) for f in frames]
    per_step = []
    for d in CDC_STEPS:
        if d >= len(hists):
            continue
        per_step.append(np.mean([_js_divergence(hists[t], hists[t + d]).mean()
                                 for t in range(len(hists) - d)]))
    return float(np.mean(per_step))


def _warp_pair_error(dis: cv2.DISOpticalFlow, grey_t: np.ndarray, grey_t1: np.ndarray,
                     pred_t: np.ndarray, pred_t1: np.ndarray) -> float | None:
    h, w = grey_t.shape
    fw = dis.calc(grey_t, grey_t1, None)
    bw = dis.calc(grey_t1, grey_t, None)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = xs + fw[..., 0], ys + fw[..., 1]

    bw_at_target = cv2.remap(bw, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.sum((fw + bw_at_target) ** 2, axis=-1)
    magnitudes = np.sum(fw**2, axis=-1) + np.sum(bw_at_target**2, axis=-1)
    valid = round_trip < 0.01 * magnitudes + 0.5
    # Pixels whose flow leaves the frame have no counterpart in t+1: treat them as occluded.
    valid &= (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    if not valid.any():
        return None

    warped = cv2.remap(pred_t1.astype(np.float32) / 255.0, map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    sq_diff = (pred_t.astype(np.float32) / 255.0 - warped) ** 2
    return float(np.mean(sq_diff[valid].astype(np.float64)))


def warp_error(pred_frames: Sequence[np.ndarray], truth_frames: Sequence[np.ndarray]) -> float:
    """Temporal warp error of pred along the truth's optical flow (DIS, medium preset),
    masked by forward-backward consistency; RGB on a [0, 1] scale. Lower is steadier."""
    if len(pred_frames) != len(truth_frames):
        raise InputError(f"warp_error: {len(pred_frames)} predicted frames "
                         f"but {len(truth_frames)} truth frames")
    if len(truth_frames) < 2:
        raise InputError(f"warp_error needs at least 2 frames, got {len(truth_frames)}")
    pairs = [_check_pair(p, t) for p, t in zip(pred_frames, truth_frames)]
    greys = [cv2.cvtColor(t, cv2.COLOR_RGB2GRAY) for _, t in pairs]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    errors = []
    for t in range(len(pairs) - 1):
        err = _warp_pair_error(dis, greys[t], greys[t + 1], pairs[t][0], pairs[t + 1][0])
        if err is not None:
            errors.append(err)
    if not errors:
        return float("nan")  # every pixel occluded in every pair: nothing to measure
    return float(np.mean(errors))


@dataclass
class ImageScores:
    psnr: float
    ciede2000: float
    colorfulness: float
    truth_colorfulness: float
    false_color: float  # chroma_errors: share of pixels
    missed_color: float


def score_image(pred: np.ndarray, truth: np.ndarray) -> ImageScores:
    pred, truth = _check_pair(pred, truth)
    pred_lab, truth_lab = rgb2lab(pred), rgb2lab(truth)
    false, missed = chroma_errors(pred_lab, truth_lab)
    return ImageScores(
        psnr=psnr(pred, truth),
        ciede2000=float(np.mean(deltaE_ciede2000(pred_lab, truth_lab))),
        colorfulness=colorfulness(pred),
        truth_colorfulness=colorfulness(truth),
        false_color=false,
        missed_color=missed,
    )


def summarize(scores: list[ImageScores]) -> dict:
    """Mean of each field, plus colorfulness_ratio (mean pred CF / mean truth CF).

    PSNR is averaged over finite values only (identical images score inf); it is inf
    when every image was identical. The ratio is nan when the truth has no colour at all."""
    if not scores:
        raise InputError("summarize: no image scores to summarize")
    summary: dict = {"count": len(scores)}
    for field in fields(ImageScores):
        summary[field.name] = float(np.mean([getattr(s, field.name) for s in scores]))
    finite_psnr = [s.psnr for s in scores if math.isfinite(s.psnr)]
    summary["psnr"] = float(np.mean(finite_psnr)) if finite_psnr else float("inf")
    truth_cf = summary["truth_colorfulness"]
    summary["colorfulness_ratio"] = summary["colorfulness"] / truth_cf if truth_cf > 0 else float("nan")
    return summary
