"""Colour conversions and the guided upsampling, against their plain formulas on random pictures."""

import cv2
import numpy as np
import pytest

from vidcolor.color import guided_planes, guided_upsample, rgb_to_chroma, yuv_to_rgb


def _chroma_by_the_equations(rgb: np.ndarray, kr: float, kb: float, full_range: bool, depth: int) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = kr * r + (1.0 - kr - kb) * g + kb * b
    step = 1 << (depth - 8)
    scale = (1 << depth) - 1 if full_range else 224 * step
    return np.stack([128 * step + scale * (b - y) / (2 * (1 - kb)),
                     128 * step + scale * (r - y) / (2 * (1 - kr))], axis=-1)


@pytest.mark.parametrize("matrix, weights", [("bt601", (0.299, 0.114)), ("bt709", (0.2126, 0.0722))])
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("depth", [8, 10])
def test_chroma_of_rgb_is_the_ycbcr_equations(matrix, weights, full_range, depth):
    rgb = np.random.default_rng(1).random((17, 23, 3), dtype=np.float32)
    chroma = rgb_to_chroma(rgb, matrix, full_range, depth)
    assert chroma.shape == (17, 23, 2) and chroma.dtype == np.float32
    np.testing.assert_allclose(chroma, _chroma_by_the_equations(rgb, *weights, full_range, depth), atol=2e-3)


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
def test_chroma_and_luma_decode_back_to_the_rgb(matrix):
    rgb = np.random.default_rng(2).integers(0, 256, (9, 11, 3)).astype(np.float32) / 255.0
    kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[matrix]
    luma = 16.0 + 219.0 * (kr * rgb[..., 0] + (1.0 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2])
    u, v = np.moveaxis(rgb_to_chroma(rgb, matrix, False), -1, 0)
    back = yuv_to_rgb(luma, u, v, matrix, False)
    assert np.abs(back.astype(int) - np.round(rgb * 255.0)).max() <= 1


def _guided_by_the_formulas(src: np.ndarray, guide: np.ndarray, radius: int = 4, eps: float = 1e-3) -> np.ndarray:
    """He & Sun's fast guided filter written out plainly in float64 (the way color.py first did it)."""
    (height, width), (h, w) = guide.shape, src.shape[:2]
    small = cv2.resize(guide.astype(np.float64), (w, h), interpolation=cv2.INTER_AREA)[..., None]
    src = src.astype(np.float64)

    def mean(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1,) * 2, borderType=cv2.BORDER_REFLECT).reshape(x.shape)

    mean_g, mean_s = mean(small), mean(src)
    a = (mean(small * src) - mean_g * mean_s) / (mean(small * small) - mean_g * mean_g + eps)
    b = mean_s - a * mean_g
    a_full, b_full = (cv2.resize(mean(x), (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)
                      for x in (a, b))
    return a_full * guide[..., None] + b_full


def _picture(rng, shape):
    """Smooth random shapes with hard edges, like chroma and lightness are."""
    return cv2.resize(rng.random((shape[0] // 8, shape[1] // 8) + shape[2:], dtype=np.float32), shape[1::-1],
                      interpolation=cv2.INTER_NEAREST).reshape(shape)


def test_guided_upsample_is_the_fast_guided_filter():
    rng = np.random.default_rng(3)
    src = _picture(rng, (56, 72, 2)) * 200.0 + 20.0
    guide = _picture(rng, (120, 160))
    out = guided_upsample(src, guide)
    assert out.shape == (120, 160, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out, _guided_by_the_formulas(src, guide), atol=2e-3)


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 1023)])
def test_guided_planes_round_to_codes_and_saturate(dtype, top):
    rng = np.random.default_rng(4)
    src = _picture(rng, (40, 48, 2)) * (1.4 * top) - 0.2 * top  # codes beyond both ends
    guide = _picture(rng, (80, 96))
    codes = guided_planes(src, guide, dtype=dtype)
    expected = np.clip(np.round(_guided_by_the_formulas(src, guide)), 0, np.iinfo(dtype).max)
    for channel, plane in enumerate(codes):
        assert plane.dtype == dtype and plane.shape == (80, 96) and plane.flags.c_contiguous
        assert np.abs(plane.astype(np.int64) - expected[..., channel]).max() <= 1
    assert min(plane.min() for plane in codes) == 0
