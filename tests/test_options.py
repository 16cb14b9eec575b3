"""Settings are checked in one place (options.py) and said by the command line as their flags; an
output is checked in one place too, with one wording for an output that is the input."""

import os
import pickle

import cv2
import numpy as np
import pytest
from clips import make_clip
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.errors import InputError, OptionError, OutputError
from vidcolor.exits import one_line
from vidcolor.media import check_output, probe_video
from vidcolor.options import RemasterOptions, check_setting
from vidcolor.stills import colorize_image


@pytest.mark.parametrize("name, value, message", [
    ("style", "loud", "style 'loud': must be one of vivid, muted"),
    ("precision", "half", "precision 'half': must be one of auto, float32, mixed_bfloat16, mixed_float16"),
    ("codec", "vp9", "codec 'vp9': must be one of auto, h264, hevc, ffv1, prores"),
    ("key_interval", 9, "key_interval 9: must be from 1 to 8"),
    ("render_size", 16, "render_size 16: must be at least 32"),
    ("smooth_strength", 1.5, "smooth_strength 1.5: must be from 0 to 1"),
    ("strength", "2", "strength '2': must be from 0 to 4"),
    ("batch_size", 0, "batch_size 0: must be at least 1"),
])
def test_a_setting_out_of_bounds_is_an_option_error_naming_it(name, value, message):
    with pytest.raises(OptionError) as refused:
        check_setting(name, value)
    assert str(refused.value) == message and isinstance(refused.value, (InputError, ValueError))
    assert pickle.loads(pickle.dumps(refused.value)).name == name  # crosses to and from Ray workers whole


def test_the_bounds_hold_for_the_library_too():
    check_setting("style", None), check_setting("batch_size", None), check_setting("key_interval", 8)
    with pytest.raises(OptionError, match="key_interval 0"):
        RemasterOptions.of(key_interval=0)
    with pytest.raises(OptionError, match="precision 'half'"):
        RemasterOptions().replace(precision="half")


def test_the_command_line_says_a_setting_as_its_flag(tmp_path):
    assert one_line(OptionError("smooth_strength", 2.0, "must be from 0 to 1")) == "--smooth-strength 2.0: must be from 0 to 1"
    film = make_clip(tmp_path / "film.mp4", frames=4)
    for args, line in [(["remaster", str(film), "--key-interval", "0"], "--key-interval 0: must be from 1 to 8"),
                       (["colorize", str(film), "--strength", "5"], "--strength 5.0: must be from 0 to 4"),
                       (["evaluate", str(film), "--render-size", "8"], "--render-size 8: must be at least 32")]:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and result.output.strip() == f"vidcolor: {line}", result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_an_output_that_is_the_input_is_refused_in_one_wording_force_or_not(tmp_path):
    film = make_clip(tmp_path / "film.mp4", frames=4)
    os.symlink(film, tmp_path / "link.mp4")
    info = probe_video(film)
    for dest, force in [(film, False), (film, True), (tmp_path / "link.mp4", True)]:
        with pytest.raises(OutputError, match="is the input file; choose another output name"):
            check_output(info, dest, force)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((32, 32), np.uint8))
    with pytest.raises(OutputError, match="photo.png: is the input file; choose another output name"):
        colorize_image(photo, photo, force=True, colorizer=object())
    assert check_output(info, tmp_path / "other.mkv").format_name == "matroska"
