"""Colouring still images: naming, lightness kept, 16-bit, EXIF orientation, folders."""

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from vidcolor.color import lightness
from vidcolor.errors import InputError, OutputError
from vidcolor.images import read_image
from vidcolor.model import load_colorizer
from vidcolor.stills import colorize_image, find_images


@pytest.fixture(scope="module")
def colorizer(random_weights):
    return load_colorizer(random_weights)


def grey_photo(path, size=(120, 80)):
    grey = cv2.resize(skimage.data.camera(), size, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), grey)
    return grey


def test_grey_png_gets_color_and_keeps_its_lightness(tmp_path, colorizer):
    grey = grey_photo(tmp_path / "camera.png")
    result = colorize_image(tmp_path / "camera.png", colorizer=colorizer, render_size=64)
    assert result.output == tmp_path / "camera_color.png"
    out = read_image(result.output)
    assert out.shape == (80, 120, 3)
    error = np.abs(lightness(out) - lightness(np.dstack([grey] * 3)))
    # 8-bit rounding moves L* by up to ~0.2; only colours outside the sRGB gamut, clipped, move it more
    assert np.median(error) < 0.3 and error.mean() < 0.6

    assert np.abs(out.astype(int) - out.mean(axis=2, keepdims=True)).mean() > 0.5  # not grey any more


def test_sixteen_bit_stays_sixteen_bit(tmp_path, colorizer):
    ramp = np.tile(np.linspace(0, 65535, 96, dtype=np.uint16), (64, 1))
    cv2.imwrite(str(tmp_path / "deep.tif"), ramp)
    out = cv2.imread(str(colorize_image(tmp_path / "deep.tif", colorizer=colorizer, render_size=32).output), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (64, 96, 3)
    assert len(np.unique(out[..., 1])) > 256  # more levels than 8 bits could hold


def test_exif_orientation_is_honoured(tmp_path, colorizer):
    pixels = np.zeros((40, 64, 3), np.uint8)
    pixels[:, :16] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    out = read_image(colorize_image(tmp_path / "rotated.jpg", colorizer=colorizer, render_size=32).output)
    assert out.shape[:2] == (64, 40)
    assert out[:16].mean() > 200 and out[-16:].mean() < 60  # the white band now runs along the top


def test_existing_output_and_bad_input(tmp_path, colorizer):
    grey_photo(tmp_path / "a.png")
    (tmp_path / "a_color.png").write_bytes(b"mine")
    with pytest.raises(OutputError, match="already exists"):
        colorize_image(tmp_path / "a.png", colorizer=colorizer)
    assert (tmp_path / "a_color.png").read_bytes() == b"mine"
    (tmp_path / "b.png").write_text("not an image")
    with pytest.raises(InputError, match="b.png: not a readable image"):
        colorize_image(tmp_path / "b.png", colorizer=colorizer)
    assert not (tmp_path / "b_color.png").exists()


def test_without_a_colorizer_one_is_loaded_in_the_precision_asked(tmp_path, colorizer, monkeypatch):
    asked = []
    monkeypatch.setattr("vidcolor.model.colorizer.load_colorizer",
                        lambda weights=None, precision="auto", style="vivid": asked.append((weights, precision, style))
                        or colorizer)
    grey_photo(tmp_path / "a.png")
    colorize_image(tmp_path / "a.png", weights="w.weights.h5", precision="float32", render_size=32)
    assert asked == [("w.weights.h5", "float32", "vivid")] and (tmp_path / "a_color.png").is_file()


def test_find_images_walks_folders_and_skips_our_own_outputs(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["x.jpg", "sub/y.PNG", "sub/y_color.PNG", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_images([tmp_path])] == ["y.PNG", "x.jpg"] or [p.name for p in find_images([tmp_path])] == ["x.jpg", "y.PNG"]
    with pytest.raises(InputError, match="no such file"):
        find_images([tmp_path / "missing"])


def test_grey_and_alpha_png_keeps_its_alpha(tmp_path, colorizer):
    grey = cv2.resize(skimage.data.camera(), (96, 64), interpolation=cv2.INTER_AREA)
    alpha = np.zeros_like(grey)
    alpha[:, 48:] = 255
    alpha[:10] = 128
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "cutout.png")
    out = cv2.imread(str(colorize_image(tmp_path / "cutout.png", colorizer=colorizer, render_size=32).output),
                     cv2.IMREAD_UNCHANGED)
    assert out.shape == (64, 96, 4)
    np.testing.assert_array_equal(out[..., 3], alpha)
    rgb = cv2.cvtColor(out[..., :3], cv2.COLOR_BGR2RGB)
    assert np.abs(lightness(rgb) - lightness(np.dstack([grey] * 3))).mean() < 0.6  # the lightness kept
    assert np.abs(rgb.astype(int) - rgb.mean(axis=2, keepdims=True)).mean() > 0.5  # and coloured


def test_sixteen_bit_rgba_keeps_its_alpha(tmp_path, colorizer):
    grey = np.tile(np.linspace(0, 65535, 48, dtype=np.uint16), (32, 1))
    alpha = np.zeros_like(grey)
    alpha[:8] = 65535
    cv2.imwrite(str(tmp_path / "deep.png"), np.dstack([grey, grey, grey, alpha]))
    out = cv2.imread(str(colorize_image(tmp_path / "deep.png", colorizer=colorizer, render_size=32).output),
                     cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (32, 48, 4)
    np.testing.assert_array_equal(out[..., 3], alpha)


def test_alpha_turns_with_the_exif_orientation(tmp_path, colorizer):
    rgba = np.full((40, 64, 4), 255, np.uint8)
    rgba[:, :16, :3], rgba[:, :16, 3] = 200, 100  # a light, half-transparent band on the left
    image = Image.fromarray(rgba, "RGBA")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "turned.png", exif=exif)
    out = read_image(colorize_image(tmp_path / "turned.png", colorizer=colorizer, render_size=32).output,
                     keep_alpha=True)
    assert out.shape == (64, 40, 4)
    assert (out[:16, :, 3] == 100).all() and (out[16:, :, 3] == 255).all()  # the band now runs along the top


def test_alpha_into_a_jpeg_is_left_out_with_a_warning(tmp_path, colorizer):
    rgba = np.zeros((24, 32, 4), np.uint8)
    rgba[..., :3], rgba[:, 16:, 3] = 120, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "half.png")
    told = []
    colorize_image(tmp_path / "half.png", tmp_path / "half.jpg", colorizer=colorizer, render_size=32, on_warning=told.append)
    assert cv2.imread(str(tmp_path / "half.jpg"), cv2.IMREAD_UNCHANGED).shape == (24, 32, 3)
    assert len(told) == 1 and "half.jpg" in told[0] and "transparency" in told[0]


def test_damaged_jpeg_is_one_warning_that_names_it(tmp_path, colorizer, monkeypatch, capfd):
    """libjpeg prints 'Corrupt JPEG data: ...' on stderr without the file's name; it comes as one warning instead."""
    from typer.testing import CliRunner

    from vidcolor.cli import app

    encoded = bytearray(cv2.imencode(".jpg", grey_photo(tmp_path / "x.png"))[1].tobytes())
    middle = len(encoded) // 2
    encoded[middle : middle + 12] = b"\xff\x00" * 6
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "scratched.jpg").write_bytes(bytes(encoded))
    monkeypatch.setattr("vidcolor.model.colorizer.load_colorizer", lambda *args, **kwargs: colorizer)
    result = CliRunner().invoke(app, ["colorize", str(tmp_path / "photos"), "--render-size", "32", "-q"])
    assert result.exit_code == 0, result.output
    assert "Corrupt JPEG data" not in capfd.readouterr().err  # not the bare line
    told = [line for line in result.output.splitlines() if "Corrupt JPEG data" in line]
    assert len(told) == 1 and told[0].startswith("vidcolor: warning: ") and "scratched.jpg" in told[0]
    assert (tmp_path / "photos" / "scratched_color.jpg").is_file()
