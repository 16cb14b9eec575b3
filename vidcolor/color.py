"""CIE L*a*b* conversion and scaling, chroma upsampling and merging.

The same functions serve training and inference, so the model always sees
lightness and chroma scaled the same way. OpenCV does the conversions (it is
about 25x faster than scikit-image's); on float32 input in [0, 1] it returns
L in 0..100 and a*, b* in about -128..127.
"""

from __future__ import annotations

import cv2
import numpy as np

AB_SCALE = 128.0


def scale_lightness(light: np.ndarray) -> np.ndarray:
    """L* in 0..100 -> [-1, 1]."""
    return np.asarray(light, np.float32) / 50.0 - 1.0


def scale_ab(ab: np.ndarray) -> np.ndarray:
    """a*b* in Lab units -> about [-1, 1]."""
    return np.asarray(ab, np.float32) / AB_SCALE


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (or float in [0, 1]) image -> float32 Lab."""
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / 255.0
    elif rgb.dtype == np.uint16:
        rgb = rgb.astype(np.float32) / 65535.0
    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float32 Lab -> RGB float32 in [0, 1] (clipped)."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def lightness(rgb: np.ndarray) -> np.ndarray:
    """L* (0..100) of an RGB image: what a grey version of it looks like."""
    return rgb_to_lab(rgb)[..., 0]


def grey_from_lightness(light: np.ndarray) -> np.ndarray:
    """L* (0..100) -> the 8-bit grey picture the embedders see."""
    return np.clip(np.round(np.asarray(light) * 2.55), 0, 255).astype(np.uint8)


def grey_to_lightness_table(full_range: bool, depth: int = 8) -> np.ndarray:
    """Lookup table from a `depth`-bit video luma code to L*.

    A grey pixel has R = G = B = luma, so L* is a function of luma alone and a
    2**depth-entry table replaces a full-frame colour conversion.
    """
    size, step = 1 << depth, float(1 << (depth - 8))
    codes = np.arange(size, dtype=np.float32)
    if full_range:
        grey = codes / float(size - 1)
    else:
        grey = np.clip((codes - 16.0 * step) / (219.0 * step), 0.0, 1.0)
    rgb = np.repeat(grey[:, None, None], 3, axis=2).reshape(1, size, 3)
    return rgb_to_lab(rgb)[0, :, 0].copy()


# Y'CbCr matrices (Kr, Kb) of the two colour standards videos are tagged with.
_LUMA_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def rgb_to_chroma(rgb: np.ndarray, matrix: str, full_range: bool, depth: int = 8) -> np.ndarray:
    """RGB float in [0, 1] (h, w, 3) -> (h, w, 2) float32 Cb, Cr as `depth`-bit codes."""
    return cv2.transform(np.asarray(rgb, np.float32), _chroma_matrix(matrix, full_range, depth))


def _chroma_matrix(matrix: str, full_range: bool, depth: int) -> np.ndarray:
    """The affine map RGB -> (Cb, Cr) codes as a 2x4 matrix for cv2.transform (the last column: the centre)."""
    kr, kb = _LUMA_WEIGHTS[matrix]
    kg = 1.0 - kr - kb
    step = float(1 << (depth - 8))
    scale = float((1 << depth) - 1) if full_range else 224.0 * step
    centre = 128.0 * step
    cb = np.array([-kr, -kg, 1.0 - kb]) * (scale / (2.0 * (1.0 - kb)))  # (B - Y) / (2 (1 - Kb))
    cr = np.array([1.0 - kr, -kg, -kb]) * (scale / (2.0 * (1.0 - kr)))  # (R - Y) / (2 (1 - Kr))
    return np.array([[*cb, centre], [*cr, centre]], np.float32)


def guided_upsample(src: np.ndarray, guide: np.ndarray, radius: int = 4, eps: float = 1e-3) -> np.ndarray:
    """Upsample low-resolution `src` (h, w, c) to the size of `guide` (H, W), edge-aware.

    A fast guided filter (He & Sun 2015): the linear model src ~ A * guide + B is
    fitted on the small grid, its coefficients are upsampled smoothly, and applied
    to the full-resolution guide, so chroma edges snap to lightness edges.
    `guide` is float in [0, 1]. Returns float32 (H, W, c).
    """
    return np.dstack(guided_planes(src, guide, radius, eps))


def guided_planes(src: np.ndarray, guide: np.ndarray, radius: int = 4, eps: float = 1e-3,
                  dtype: type | None = None) -> list[np.ndarray]:
    """guided_upsample as one (H, W) plane per channel of `src`: float32, or with `dtype`
    (np.uint8, np.uint16) rounded to the nearest code and saturated to that type's range."""
    height, width = guide.shape[:2]
    h, w = src.shape[:2]
    src = np.asarray(src, np.float32).reshape(h, w, -1)
    guide = np.asarray(guide, np.float32)
    guide_small = cv2.resize(guide, (w, h), interpolation=cv2.INTER_AREA)
    box = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, box, borderType=cv2.BORDER_REFLECT)

    mean_g = mean(guide_small)
    inverse = 1.0 / (mean(guide_small * guide_small) - mean_g * mean_g + np.float32(eps))  # 1 / (var + eps)
    out_depth = -1 if dtype is None else {np.uint8: cv2.CV_8U, np.uint16: cv2.CV_16U}[dtype]
    planes = []
    for channel in range(src.shape[2]):
        plane = np.ascontiguousarray(src[..., channel])
        mean_s = mean(plane)
        a = (mean(guide_small * plane) - mean_g * mean_s) * inverse  # cov / (var + eps)
        b = mean_s - a * mean_g
        a_full = cv2.resize(mean(a), (width, height), interpolation=cv2.INTER_LINEAR)
        b_full = cv2.resize(mean(b), (width, height), interpolation=cv2.INTER_LINEAR)
        planes.append(cv2.add(cv2.multiply(a_full, guide), b_full, dtype=out_depth))
    return planes


def merge_lab(light: np.ndarray, ab: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Full-resolution L* (H, W) and a*b* (H, W, 2) -> RGB of the given integer type."""
    lab = np.concatenate([light[..., None].astype(np.float32), ab.astype(np.float32)], axis=-1)
    return np.round(lab_to_rgb(lab) * np.iinfo(dtype).max).astype(dtype)


def working_size(height: int, width: int, short_side: int, multiple: int = 8) -> tuple[int, int]:
    """(h, w) with the given short side, the source's aspect, both multiples of `multiple`."""
    scale = short_side / min(height, width)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    return h, w


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str, full_range: bool,
               depth: int = 8) -> np.ndarray:
    """`depth`-bit 4:2:0 (or 4:2:2) planes -> RGB uint8 (H, W, 3): the inverse of rgb_to_chroma plus the luma."""
    height, width = y.shape
    kr, kb = _LUMA_WEIGHTS[matrix]
    step = float(1 << (depth - 8))
    cb = cv2.resize(u, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) - 128.0 * step
    cr = cv2.resize(v, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32) - 128.0 * step
    if full_range:
        top = float((1 << depth) - 1)
        luma, scale = y.astype(np.float32) / top, top
    else:
        luma, scale = (y.astype(np.float32) - 16.0 * step) / (219.0 * step), 224.0 * step
    cb, cr = cb / scale, cr / scale
    r = luma + 2.0 * (1.0 - kr) * cr
    b = luma + 2.0 * (1.0 - kb) * cb
    g = (luma - kr * r - kb * b) / (1.0 - kr - kb)
    return np.clip(np.round(np.stack([r, g, b], axis=-1) * 255.0), 0, 255).astype(np.uint8)
