"""Direction with the shipped model: a reference's palette and hints move the colours as they should.

Margins are about half of what the shipped model measured (see the figures in each test), so that
a better-trained model in the same format passes too."""

import cv2
import numpy as np
import pytest
import skimage.data

from vidcolor.color import rgb_to_lab
from vidcolor.film.direction_file import make_hint
from vidcolor.training.evaluate import grey_version
from vidcolor.model import load_colorizer
from vidcolor.model.palette import palette_prior
from vidcolor.stills import colorize_array


@pytest.fixture(scope="module")
def shipped():
    return load_colorizer()


def blue_sky(height=96, width=128) -> np.ndarray:
    """A mostly blue photo: a sky from deep to pale blue over a greyish strip of ground."""
    lab = np.zeros((height, width, 3), np.float32)
    t = np.linspace(0, 1, height)[:, None]
    lab[..., 0] = 45 + 40 * t + 5 * np.sin(np.arange(width) / 9)[None, :]
    lab[..., 1] = -4 + 6 * np.cos(np.arange(width) / 13)[None, :]
    lab[..., 2] = -35 + 25 * t
    lab[int(height * 0.8):, :, 1:] = [2, 4]
    return (np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(np.uint8)


def mean_ab(rgb):
    return rgb_to_lab(rgb)[..., 1:].reshape(-1, 2).mean(axis=0)


@pytest.mark.parametrize("photo", ["astronaut", "chelsea"])
def test_a_blue_reference_moves_the_mean_colour_toward_blue(shipped, photo):
    """Shipped model, strength 1: mean b* 17.6 -> 6.2 (astronaut) and 24.2 -> 6.2 (chelsea); the mean
    colour's distance to the reference's (-2.9, -19.0): 41.4 -> 27.1 and 45.8 -> 25.6."""
    grey = grey_version(getattr(skimage.data, photo)())
    sky = blue_sky()
    reference = mean_ab(sky)
    plain = mean_ab(colorize_array(shipped, grey))
    directed = mean_ab(colorize_array(shipped, grey, prior=palette_prior(sky, shipped.palette_bins)))
    assert directed[1] < plain[1] - 5.0  # bluer: b* down
    assert np.linalg.norm(directed - reference) < np.linalg.norm(plain - reference) - 6.0
    stronger = mean_ab(colorize_array(shipped, grey, prior=palette_prior(sky, shipped.palette_bins, 2.0)))
    assert stronger[1] < directed[1]
    unchanged = mean_ab(colorize_array(shipped, grey, prior=palette_prior(sky, shipped.palette_bins, 0.0)))
    np.testing.assert_allclose(unchanged, plain, atol=1e-3)  # strength 0: as without a reference


@pytest.mark.parametrize("photo", ["astronaut", "chelsea"])
def test_a_hint_changes_the_colour_around_its_point_and_not_far_away(shipped, photo):
    """Shipped model, six hints per photo (a 15 px patch at the 224 px working size): the colour near a
    hint moved a median 25 % (astronaut) and 10 % (chelsea) of the way to the hint's (mean |change|
    near it at least 5.6 and 2.3 a*b* units), and not at all 60 px from the far corner."""
    grey = grey_version(getattr(skimage.data, photo)())
    height, width = grey.shape[:2]
    plain = rgb_to_lab(colorize_array(shipped, grey))[..., 1:]
    pulls = []
    for x, y in [(0.3, 0.3), (0.7, 0.5), (0.5, 0.8)]:
        for color in ["#1f3a93", "#3a9a30"]:
            hint = make_hint(x, y, color)
            hinted = rgb_to_lab(colorize_array(shipped, grey, hints=[hint]))[..., 1:]
            cy, cx = int(y * (height - 1)), int(x * (width - 1))
            near = (slice(cy - 6, cy + 6), slice(cx - 6, cx + 6))
            far = (slice(0, 60), slice(0, 60)) if y > 0.5 or x > 0.5 else (slice(-60, None), slice(-60, None))
            distance = lambda ab: np.linalg.norm(ab[near].reshape(-1, 2).mean(axis=0) - hint.ab)
            pulls.append(1 - distance(hinted) / distance(plain))
            assert np.abs(hinted[near] - plain[near]).mean() > 1.0
            assert np.abs(hinted[far] - plain[far]).mean() < 0.5
    assert np.median(pulls) > 0.04
