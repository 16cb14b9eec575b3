"""`vidcolor evaluate`: the report puts the grey baseline beside the prediction, for photos and films."""

import json

import av
import cv2
import numpy as np
import pytest
import skimage.data
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.color import lightness
from vidcolor.training.evaluate import evaluate_path, grey_version
from vidcolor.training.metrics import colorfulness
from vidcolor.model import load_colorizer


@pytest.fixture(scope="module")
def colorizer(random_weights):
    return load_colorizer(random_weights)


def test_grey_version_has_no_color_and_keeps_lightness():
    grey = grey_version(skimage.data.coffee())
    assert colorfulness(grey) < 0.1
    assert np.abs(lightness(grey) - lightness(skimage.data.coffee())).mean() < 0.5


def test_photo_folder_report_and_cli(tmp_path, random_weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, image in [("coffee.png", skimage.data.coffee()), ("rocket.jpg", skimage.data.rocket())]:
        small = cv2.resize(image, (96, 64), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(photos / name), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    result = CliRunner().invoke(app, ["evaluate", str(photos), "--weights", str(random_weights), "--report",
                                      str(tmp_path / "r.json"), "--sheet", str(tmp_path / "s.png"), "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["images"] == 2
    for side in ("prediction", "grey_baseline"):
        assert set(report[side]) >= {"psnr", "ciede2000", "colorfulness", "truth_colorfulness", "colorfulness_ratio"}
    assert report["grey_baseline"]["colorfulness"] < 0.1 < report["grey_baseline"]["truth_colorfulness"]
    assert report["grey_baseline"]["truth_colorfulness"] == report["prediction"]["truth_colorfulness"]
    assert cv2.imread(str(tmp_path / "s.png")).shape[0] > 2 * 64

    (tmp_path / "r.json").write_text("kept")
    again = ["evaluate", str(photos), "--weights", str(random_weights), "--report", str(tmp_path / "r.json"),
             "--sheet", str(tmp_path / "other.png"), "-q"]
    refused = CliRunner().invoke(app, again)
    assert refused.exit_code != 0 and "already exists" in refused.output
    assert (tmp_path / "r.json").read_text() == "kept" and not (tmp_path / "other.png").exists()
    assert CliRunner().invoke(app, [*again, "--force"]).exit_code == 0
    assert json.loads((tmp_path / "r.json").read_text())["images"] == 2


def test_film_report_has_steadiness_of_prediction_and_truth(tmp_path, colorizer):
    path = tmp_path / "color.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "10", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        base = cv2.resize(skimage.data.coffee(), (128, 64), interpolation=cv2.INTER_AREA)
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i * 2 : i * 2 + 96]), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode(None))
    report = evaluate_path(path, colorizer=colorizer, sheet=tmp_path / "s.png", render_size=32, progress=False)
    assert report["frames"] == 10
    assert {"cdc", "warp_error"} <= set(report["prediction"]) and {"cdc", "warp_error"} <= set(report["truth"])
    assert report["grey_baseline"]["colorfulness"] < 0.5 < report["grey_baseline"]["truth_colorfulness"]
    assert (tmp_path / "s.png").is_file()


def test_missing_source_is_one_line(tmp_path, random_weights):
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nothing"), "--weights", str(random_weights)])
    assert result.exit_code == 2 and "no such file or folder" in result.output
