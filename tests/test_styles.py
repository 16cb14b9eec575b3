"""Styles (options.STYLES): films are coloured muted and stills vivid unless told, through every way
in (remaster, colorize_image, pieces, a batch, evaluate, a shots preview), with a toy whose two
styles paint different yellows."""

from __future__ import annotations

import subprocess
import sys

import av
import cv2
import numpy as np
import pytest
from clips import make_clip
from toy_colorizer import ToyColorizer

from vidcolor.batch.archive import run_batch
from vidcolor.color import rgb_to_lab
from vidcolor.training.evaluate import evaluate_path
from vidcolor.images import read_image
from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster
from vidcolor.stills import colorize_image

YELLOW = {"vivid": 40.0, "muted": 8.0}  # the b* each style paints


class StyledToy(ToyColorizer):
    def __init__(self, style="vivid"):
        super().__init__()
        self.style = style

    def styled(self, style):
        return StyledToy(style)

    def predict_ab(self, light, embedding, hints=None, prior=None):
        light = np.asarray(light, np.float32)[:, ::2, ::2]
        return np.stack([np.zeros_like(light), np.full_like(light, YELLOW[self.style])], axis=-1)


def yellow(rgb: np.ndarray) -> float:
    return float(rgb_to_lab(rgb)[..., 2].mean())


def film_yellow(path) -> float:
    with av.open(str(path)) as container:
        return yellow(next(container.decode(video=0)).to_ndarray(format="rgb24"))


def styles_of(found: dict[str, float], muted: float, vivid: float) -> dict[str, str]:
    """Which style painted each picture: the nearer of the two told ones' yellows (which must differ)."""
    assert vivid - muted > 10, (muted, vivid)
    return {name: "muted" if abs(b - muted) < abs(b - vivid) else "vivid" for name, b in found.items()}


def grey_photo(path):
    cv2.imwrite(str(path), np.tile(np.linspace(60, 200, 64, dtype=np.uint8), (48, 1)))
    return path


def test_films_are_muted_and_stills_vivid_unless_told(tmp_path):
    clip, photo = make_clip(tmp_path / "film.mp4", frames=4), grey_photo(tmp_path / "photo.png")
    films = {}
    for name, given, told in [("default", "vivid", None), ("muted", "vivid", "muted"), ("vivid", "muted", "vivid")]:
        remaster(clip, tmp_path / f"{name}.mp4", RemasterOptions.of(progress=False, style=told), colorizer=StyledToy(given))
        films[name] = film_yellow(tmp_path / f"{name}.mp4")
    assert styles_of({"default": films["default"]}, films["muted"], films["vivid"]) == {"default": "muted"}

    stills = {}
    for name, given, told in [("default", "muted", None), ("muted", "vivid", "muted"), ("vivid", "muted", "vivid")]:
        colorize_image(photo, tmp_path / f"{name}.png", colorizer=StyledToy(given), style=told)
        stills[name] = yellow(read_image(tmp_path / f"{name}.png"))
    assert styles_of({"default": stills["default"]}, stills["muted"], stills["vivid"]) == {"default": "vivid"}
    with pytest.raises(ValueError, match="style 'loud'"):
        colorize_image(photo, tmp_path / "loud.png", colorizer=StyledToy(), style="loud")
    assert not (tmp_path / "loud.png").exists()


def test_a_film_coloured_in_pieces_is_muted_as_its_one_process_remaster(tmp_path):
    from test_pieces import OPTIONS, color_in_pieces

    src = tmp_path / "src"
    src.mkdir()
    make_clip(src / "film.mp4", frames=24)
    remaster(src / "film.mp4", tmp_path / "whole.mp4", OPTIONS, colorizer=StyledToy())
    color_in_pieces(src, tmp_path / "out", OPTIONS, 8, StyledToy())
    assert abs(film_yellow(tmp_path / "out" / "film_color.mp4") - film_yellow(tmp_path / "whole.mp4")) < 1
    remaster(src / "film.mp4", tmp_path / "vivid.mp4", OPTIONS.replace(style="vivid"), colorizer=StyledToy())
    assert film_yellow(tmp_path / "vivid.mp4") - film_yellow(tmp_path / "whole.mp4") > 10


def test_a_batch_colours_its_films_muted_and_its_photos_vivid(tmp_path):
    src = tmp_path / "archive"
    src.mkdir()
    make_clip(src / "film.mp4", frames=4)
    grey_photo(src / "photo.png")
    for out, style in [("default", None), ("muted", "muted"), ("vivid", "vivid")]:
        run_batch(src, tmp_path / out, RemasterOptions.of(render_size=32, style=style), colorizer=StyledToy(),
                  progress=False)
    films = {out: film_yellow(tmp_path / out / "film_color.mp4") for out in ("default", "muted", "vivid")}
    stills = {out: yellow(read_image(tmp_path / out / "photo_color.png")) for out in ("default", "muted", "vivid")}
    assert styles_of({"film": films["default"]}, films["muted"], films["vivid"]) == {"film": "muted"}
    assert styles_of({"photo": stills["default"]}, stills["muted"], stills["vivid"]) == {"photo": "vivid"}


def test_evaluate_scores_a_film_in_the_films_style_and_says_which(tmp_path):
    clip = make_clip(tmp_path / "film.mp4", frames=4, chroma=(110, 150))
    report = evaluate_path(clip, colorizer=StyledToy(), progress=False)
    assert report["style"] == "muted"
    assert evaluate_path(clip, colorizer=StyledToy(), progress=False, style="vivid")["style"] == "vivid"


def test_a_shots_preview_is_coloured_as_the_remaster_would(tmp_path):
    from vidcolor.film.shot_list import list_shots

    clip = make_clip(tmp_path / "film.mp4", frames=4)
    sheets = {}
    for name, style in [("default", None), ("muted", "muted"), ("vivid", "vivid")]:
        sheets[name] = read_image(list_shots(clip, tmp_path / name, preview=True, colorizer=StyledToy(),
                                             style=style).sheet)
    assert np.array_equal(sheets["default"], sheets["muted"]) and not np.array_equal(sheets["muted"], sheets["vivid"])


def test_an_unknown_style_is_one_line_and_exit_2(tmp_path):
    clip = make_clip(tmp_path / "film.mp4", frames=2)
    done = subprocess.run([sys.executable, "-m", "vidcolor", "remaster", str(clip), "--style", "loud"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "vidcolor: --style loud: must be one of vivid, muted"]
    assert not (tmp_path / "film_color.mp4").exists()
