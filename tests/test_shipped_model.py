"""The shipped weights: they load with no flag and colour a real photo better than leaving it grey."""

import numpy as np
import pytest
import skimage.data

from vidcolor.evaluate import grey_version
from vidcolor.metrics import ciede2000, colourfulness
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
def test_shipped_model_colours_a_photo_better_than_grey(shipped, photo):
    truth = getattr(skimage.data, photo)()
    grey = grey_version(truth)
    coloured = colorize_array(shipped, grey)
    assert colourfulness(coloured) > 10.0  # well above a grey picture's 0
    assert ciede2000(coloured, truth) < ciede2000(grey, truth)
    assert np.abs(coloured.astype(int) - grey.astype(int)).mean() > 2.0
