"""The render step that films and stills share: the model's working size and what the model sees."""

import numpy as np
import pytest
from clips import RecordingColorizer, make_clip

from vidcolor.model import render
from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster
from vidcolor.stills import colorize_array


class Multiple:
    def __init__(self, multiple):
        self.input_multiple = multiple


@pytest.mark.parametrize("size,render_size,multiple,expected", [
    ((1080, 1920), 224, 32, (224, 384)),
    ((480, 640), 224, 8, (224, 296)),
    ((48, 64), 224, 32, (64, 64)),  # a small photo is not enlarged to 224, only to the model's multiple
    ((48, 64), 224, 8, (48, 64)),
    ((16, 16), 224, 32, (32, 32)),
])
def test_working_size_has_the_short_side_asked_never_more_than_the_picture(size, render_size, multiple, expected):
    h, w = render.model_size(*size, render_size, Multiple(multiple))
    assert (h, w) == expected and h % multiple == 0 and w % multiple == 0


def test_a_film_frame_and_the_same_picture_as_a_still_give_the_model_the_same_input(tmp_path, random_weights):
    from vidcolor.media import decode_frames
    from vidcolor.model import load_colorizer

    colorizer = load_colorizer(random_weights, precision="float32")
    film = make_clip(tmp_path / "film.mp4", size=(160, 96), frames=4, codec="libx264")
    film_sees, still_sees = RecordingColorizer(colorizer), RecordingColorizer(colorizer)
    remaster(film, tmp_path / "out.mp4", RemasterOptions.of(render_size=64, crf=0, progress=False), colorizer=film_sees)
    first = next(iter(decode_frames(film)))
    grey = np.clip((first.y.astype(np.float32) - 16) * 255 / 219, 0, 255).round().astype(np.uint8)  # limited range
    colorize_array(still_sees, grey, render_size=64)
    assert film_sees.seen[0].shape == still_sees.seen[0].shape == (64, 96)
    assert np.abs(film_sees.seen[0] - still_sees.seen[0]).mean() < 1.0  # L* units
