"""Metrics and contact sheets, checked against values worked out by hand."""

import math
import os

import cv2
import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from vidcolor.errors import InputError, OutputError
from vidcolor.training.metrics import (
    ImageScores,
    cdc,
    ciede2000,
    colorfulness,
    psnr,
    score_image,
    summarize,
    warp_error,
)
from vidcolor.sheets import contact_sheet


def solid(rgb, h=8, w=8):
    return np.full((h, w, 3), rgb, dtype=np.uint8)


def texture(h, w, seed=0):
    """Smooth random RGB texture, so optical flow has something to lock on to."""
    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 3 - 256, 0, 255).astype(np.uint8)


# --- colorfulness ---------------------------------------------------------------

@pytest.mark.parametrize("level", [0, 77, 255])
def test_colorfulness_of_grey_is_zero(level):
    assert colorfulness(solid((level, level, level))) == 0.0
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    assert colorfulness(ramp) == 0.0


def test_colorfulness_two_pixels_by_hand():
    img = np.array([[[200, 100, 50], [10, 40, 90]]], dtype=np.uint8)
    # pixel A: rg = |200-100| = 100, yb = |0.5*(200+100) - 50| = 100
    # pixel B: rg = |10-40|   = 30,  yb = |0.5*(10+40) - 90|   = 65
    # rg: mean (100+30)/2 = 65,  population std |100-30|/2 = 35
    # yb: mean (100+65)/2 = 82.5, population std |100-65|/2 = 17.5
    # CF = sqrt(35^2 + 17.5^2) + 0.3*sqrt(65^2 + 82.5^2)
    #    = sqrt(1531.25) + 0.3*sqrt(11031.25) = 39.13119... + 31.50893... = 70.64012...
    expected = math.sqrt(1531.25) + 0.3 * math.sqrt(11031.25)
    assert colorfulness(img) == pytest.approx(expected, rel=1e-12)
    assert colorfulness(img) == pytest.approx(70.64012, abs=1e-4)


def test_colorfulness_of_pure_red_by_hand():
    # rg = 255, yb = |0.5*255 - 0| = 127.5 everywhere, so both stds are 0:
    # CF = 0.3*sqrt(255^2 + 127.5^2) = 0.3*sqrt(81281.25) = 85.52960...
    assert colorfulness(solid((255, 0, 0))) == pytest.approx(0.3 * math.sqrt(81281.25), rel=1e-12)
    assert colorfulness(solid((255, 0, 0))) == pytest.approx(85.52960, abs=1e-4)


# --- psnr / ciede2000 ------------------------------------------------------------

def test_psnr_identical_is_inf():
    img = texture(16, 16)
    assert psnr(img, img.copy()) == float("inf")


def test_psnr_constant_offset_of_ten():
    truth = np.random.default_rng(1).integers(0, 246, (12, 10, 3)).astype(np.uint8)
    pred = truth + 10  # MSE = 100 -> PSNR = 10*log10(255^2/100) = 20*log10(25.5) = 28.1308...
    assert psnr(pred, truth) == pytest.approx(20 * math.log10(255 / 10), rel=1e-12)
    assert psnr(pred, truth) == pytest.approx(28.1308, abs=1e-4)


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(InputError):
        psnr(solid((0, 0, 0), 8, 8), solid((0, 0, 0), 8, 9))


def test_ciede2000_identical_is_zero():
    img = texture(16, 16)
    assert ciede2000(img, img.copy()) == 0.0


def test_ciede2000_near_greys_small_positive():
    d = ciede2000(solid((128, 128, 128)), solid((130, 130, 130)))
    assert 0 < d < 2


def test_ciede2000_matches_skimage_and_averages_over_pixels():
    a = np.array([[[120, 60, 30]]], dtype=np.uint8)
    b = np.array([[[100, 80, 40]]], dtype=np.uint8)
    one_pixel = float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b))[0, 0])
    assert one_pixel > 1
    assert ciede2000(a, b) == pytest.approx(one_pixel, rel=1e-12)
    # a second pixel that matches exactly halves the mean
    two_pixels = ciede2000(np.concatenate([a, a], axis=1), np.concatenate([b, a], axis=1))
    assert two_pixels == pytest.approx(one_pixel / 2)


# --- cdc -------------------------------------------------------------------------

def test_cdc_identical_frames_is_zero():
    frame = texture(16, 16)
    assert cdc([frame] * 6) == 0.0


def test_cdc_disjoint_histograms_two_frames():
    # Two frames: only d=1 exists. Black vs white: every channel's histograms are disjoint,
    # M = (0.5, 0.5) on two bins, KL(P||M) = KL(Q||M) = 1*log2(1/0.5) = 1, so JS = 1.
    assert cdc([solid((0, 0, 0)), solid((255, 255, 255))]) == pytest.approx(1.0, abs=1e-12)


def test_cdc_partial_overlap_by_hand():
    half = solid((0, 0, 0))
    half[:, 4:] = 255
    # P = {0: .5, 255: .5}, Q = {0: 1}, M = {0: .75, 255: .25}
    # KL(P||M) = .5*log2(.5/.75) + .5*log2(.5/.25) = .5*(-0.5849625) + .5*1 = 0.2075187
    # KL(Q||M) = log2(1/.75) = 0.4150375;  JS = (0.2075187 + 0.4150375)/2 = 0.3112781
    expected = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * 1 + math.log2(1 / 0.75))
    assert cdc([half, solid((0, 0, 0))]) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.3112781, abs=1e-7)


def test_cdc_reweights_when_d4_has_no_pairs():
    a, b = solid((0, 0, 0)), solid((255, 255, 255))
    # frames a, a, b: d=1 pairs (a,a)=0, (a,b)=1 -> 0.5; d=2 pair (a,b)=1 -> 1; d=4 none.
    # CDC = (0.5 + 1)/2 = 0.75
    assert cdc([a, a, b]) == pytest.approx(0.75, abs=1e-12)


def test_cdc_needs_two_frames():
    with pytest.raises(InputError):
        cdc([solid((0, 0, 0))])


# --- warp_error --------------------------------------------------------------------

def shifted_clip(n=4, step=2, size=64, seed=3):
    big = texture(size + 24, size + 24 + n * step, seed)
    return [np.ascontiguousarray(big[12:12 + size, 12 + t * step:12 + t * step + size]) for t in range(n)]


def test_warp_error_static_identical_frames_is_zero():
    frame = texture(64, 64)
    assert warp_error([frame] * 3, [frame] * 3) == pytest.approx(0.0, abs=1e-9)


def test_warp_error_moving_texture_pred_equals_truth_is_small():
    clip = shifted_clip()
    assert warp_error(clip, clip) < 1e-3


def test_warp_error_flicker_is_clearly_larger():
    clip = shifted_clip()
    flicker = [f.copy() for f in clip]
    for t in (1, 3):
        flicker[t][..., 0] = (flicker[t][..., 0] * 0.5).astype(np.uint8)
        flicker[t][..., 2] = np.minimum(flicker[t][..., 2].astype(int) + 60, 255).astype(np.uint8)
    steady = warp_error(clip, clip)
    flickering = warp_error(flicker, clip)
    assert flickering > 5e-3
    assert flickering > 10 * steady


def test_warp_error_rejects_length_mismatch():
    clip = shifted_clip()
    with pytest.raises(InputError):
        warp_error(clip[:3], clip)


# --- aggregation -----------------------------------------------------------------

def test_summarize_ratio_of_means():
    scores = [
        ImageScores(psnr=30.0, ciede2000=2.0, colorfulness=10.0, truth_colorfulness=40.0, false_color=0.1, missed_color=0.0),
        ImageScores(psnr=float("inf"), ciede2000=0.0, colorfulness=30.0, truth_colorfulness=20.0, false_color=0.0, missed_color=0.3),
        ImageScores(psnr=40.0, ciede2000=4.0, colorfulness=20.0, truth_colorfulness=30.0, false_color=0.2, missed_color=0.0),
    ]
    summary = summarize(scores)
    assert summary["psnr"] == pytest.approx(35.0)  # inf left out: (30 + 40)/2
    assert summary["ciede2000"] == pytest.approx(2.0)
    assert summary["colorfulness"] == pytest.approx(20.0)
    assert summary["truth_colorfulness"] == pytest.approx(30.0)
    assert summary["false_color"] == pytest.approx(0.1) and summary["missed_color"] == pytest.approx(0.1)
    # ratio of the means (60/3)/(90/3) = 2/3, not the mean of per-image ratios (0.25+1.5+0.667)/3
    assert summary["colorfulness_ratio"] == pytest.approx(2 / 3)


def test_score_image_fields():
    truth = texture(16, 16)
    grey = np.repeat(cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    s = score_image(grey, truth)
    assert s.colorfulness == 0.0
    assert s.truth_colorfulness == pytest.approx(colorfulness(truth))
    assert s.psnr == pytest.approx(psnr(grey, truth))
    assert s.ciede2000 > 0


def test_false_and_missed_colour_count_only_strong_colour_against_near_neutral_truth():
    grey_half = np.full((8, 8, 3), 128, np.uint8)
    red_half = np.zeros((8, 8, 3), np.uint8)
    red_half[...] = (200, 40, 40)
    truth = np.concatenate([grey_half, red_half], axis=1)  # left neutral, right strongly red
    swapped = np.concatenate([red_half, grey_half], axis=1)  # colour where the truth is grey, and none where red
    s = score_image(swapped, truth)
    assert s.false_color == pytest.approx(0.5) and s.missed_color == pytest.approx(0.5)
    faint = truth.copy()
    faint[:, :8] = (136, 124, 124)  # a faint tint on the grey: chroma under 20, not false colour
    right = score_image(faint, truth)
    assert right.false_color == 0.0 and right.missed_color == 0.0
    assert score_image(truth, truth).false_color == 0.0


# --- sheets ----------------------------------------------------------------------

def test_contact_sheet_layout(tmp_path):
    red, blue = solid((255, 0, 0), 40, 60), solid((0, 0, 255), 40, 60)
    grey = np.full((40, 60), 128, dtype=np.uint8)
    rows = [[grey, red, blue], [solid((0, 255, 0), 80, 40), solid((0, 0, 0), 20, 60)]]
    out = contact_sheet(rows, tmp_path / "sheet.png", cell_height=50)
    # cells at height 50: 40x60 -> 75 wide, 80x40 -> 25, 20x60 -> 150
    # columns are as wide as their widest cell: 75, 150, 75; gutters: 4 around every cell
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 50 + 3 * 4, 75 + 150 + 75 + 4 * 4, 3)
    assert os.listdir(tmp_path) == ["sheet.png"]
    assert (sheet[0:4] == 255).all() and (sheet[:, 0:4] == 255).all()
    # second cell of the first row is red: column 2 starts at x = 4 + 75 + 4, centred in a 150 px column
    assert tuple(sheet[4 + 25, 4 + 75 + 4 + 75]) == (0, 0, 255)  # BGR as read by OpenCV
    assert tuple(sheet[4 + 25, 4 + 30]) == (128, 128, 128)


def test_contact_sheet_labels_and_max_rows(tmp_path):
    rows = [[solid((200, 50, 50), 30, 30)] * 3] * 5
    out = contact_sheet(rows, tmp_path / "s.png", labels=["grey", "pred", "truth"],
                        cell_height=30, max_rows=2)
    sheet = cv2.imread(str(out))
    assert sheet.shape == (24 + 2 * 30 + 3 * 4, 3 * 30 + 4 * 4, 3)  # 24 px label band
    assert (sheet[:24] < 128).any()  # text was drawn
    out = contact_sheet(rows, out, cell_height=30)  # overwrites in place
    assert cv2.imread(str(out)).shape[0] == 5 * 30 + 6 * 4
    assert os.listdir(tmp_path) == ["s.png"]


def test_contact_sheet_unwritable_leaves_nothing(tmp_path):
    with pytest.raises(OutputError):
        contact_sheet([[solid((1, 2, 3))]], tmp_path / "missing" / "s.png")
    assert os.listdir(tmp_path) == []

