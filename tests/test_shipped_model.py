"""The shipped weights: they load with no flag and colour a real photo better than leaving it grey."""

import numpy as np
import pytest
import skimage.data

from vidcolor.training.evaluate import grey_version
from vidcolor.training.metrics import ciede2000, colorfulness
from vidcolor.model import default_weights, load_colorizer
from vidcolor.stills import colorize_array


@pytest.fixture(scope="module")
def shipped():
    assert default_weights().is_file(), "weights/vidcolor.weights.h5 is part of the product"
    return load_colorizer()


def test_shipped_model_card_matches_the_file(shipped):
    import hashlib
    import re
    from pathlib import Path

    card = (Path(default_weights()).parent / "README.md").read_text()
    digest = hashlib.sha256(default_weights().read_bytes()).hexdigest()
    assert digest in card, "the model card must give the sha256 of the shipped file"
    assert shipped.config.embedder == "efficientnet_lite0" and re.search(r"efficientnet.lite0", card, re.I)


# coffee and chelsea are among the training photos; retina is not
@pytest.mark.parametrize("photo", ["coffee", "chelsea", "retina"])
def test_shipped_model_colors_a_photo_better_than_grey(shipped, photo):
    truth = getattr(skimage.data, photo)()
    grey = grey_version(truth)
    colored = colorize_array(shipped, grey)
    assert colorfulness(colored) > 10.0  # well above a grey picture's 0
    assert ciede2000(colored, truth) < ciede2000(grey, truth)
    assert np.abs(colored.astype(int) - grey.astype(int)).mean() > 2.0


def test_a_hint_moves_the_color_in_its_region_toward_it_and_leaves_the_rest(shipped):
    """The shipped model's pull toward a hint is still weak and not yet reliable (see the model card):
    on the median it is there; no hint changes colours far from it."""
    from vidcolor.model import hints, render
    from vidcolor.color import lightness
    from vidcolor.model.render import colorize_lightness

    light = lightness(skimage.data.coffee())  # 400 x 600
    h, w = render.model_size(*light.shape, 224, shipped)
    plain = colorize_lightness(shipped, light)
    ratios = []
    for x, y in [(0.3, 0.3), (0.7, 0.5), (0.5, 0.8)]:
        for color in [(-5.0, -45.0), (60.0, 40.0), (-40.0, 40.0)]:
            hinted = colorize_lightness(shipped, light, hints=hints.place(h, w, [(x, y, color)], size=7))
            cy, cx = int(y * (light.shape[0] - 1)), int(x * (light.shape[1] - 1))
            near = (slice(cy - 6, cy + 6), slice(cx - 6, cx + 6))
            distance = lambda ab: np.linalg.norm(ab[near].reshape(-1, 2).mean(0) - color)
            ratios.append(distance(hinted) / distance(plain))
            far = (slice(0, 60), slice(0, 60)) if y > 0.5 or x > 0.5 else (slice(-60, None), slice(-60, None))
            assert np.abs(hinted[far] - plain[far]).mean() < 2.0
    assert np.median(ratios) < 0.97
