"""The `vidcolor` command: help without TensorFlow, one-line errors and exit codes, real runs."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import make_clip, read_video
from toy_colorizer import install
from typer.testing import CliRunner

from vidcolor.cli import app

runner = CliRunner()


def test_help_does_not_import_tensorflow():
    code = "import sys; from vidcolor.cli import app; from typer.testing import CliRunner; " \
           "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; " \
           "assert 'remaster' in r.output and 'colorize' in r.output; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_option_and_input_checks_answer_without_keras(tmp_path):
    """Bad inputs and options are refused before TensorFlow or Keras is imported (that takes seconds)."""
    film, missing_weights = make_clip(tmp_path / "film.mp4", frames=4), str(tmp_path / "none.weights.h5")
    cases = [(["remaster", str(tmp_path / "missing.mp4")], 2), (["colorize", str(tmp_path / "missing.jpg")], 2),
             (["evaluate", str(tmp_path / "missing")], 2), (["batch", str(tmp_path / "missing"), "-o", str(tmp_path / "out")], 2),
             (["train", str(tmp_path), str(tmp_path / "run"), "--crop", "30"], 2),
             (["remaster", str(film), "--precision", "half"], 2), (["remaster", str(film), "-w", missing_weights], 4),
             (["remaster", str(film), "--preset", "nonsense"], 2),
             (["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--preset", "nonsense"], 2),
             (["remaster", str(film), "--codec", "vp9"], 2),
             (["remaster", str(film), "--codec", "prores", "-o", str(tmp_path / "out.mp4")], 2)]
    code = ("import json, sys; from typer.testing import CliRunner; from vidcolor.cli import app\n"
            "for args in json.loads(sys.argv[1]):\n"
            "    r = CliRunner().invoke(app, args)\n"
            "    heavy = sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules)\n"
            "    print(json.dumps([args, r.exit_code, heavy]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps([args for args, _ in cases])], capture_output=True,
                         text=True, check=True)
    assert [json.loads(line) for line in out.stdout.splitlines()] == [[args, exit_code, []] for args, exit_code in cases]


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "vidcolor", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "remaster" in result.stdout


@pytest.mark.parametrize(
    "make, message, code",
    [
        (lambda d: d / "missing.mp4", "missing.mp4", 2),
        (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", "notes.mp4: not", 2),
    ],
)
def test_bad_film_is_one_line_and_exit_code(tmp_path, make, message, code):
    result = runner.invoke(app, ["remaster", str(make(tmp_path))])
    assert result.exit_code == code
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_weights_is_one_line(tmp_path):
    src = make_clip(tmp_path / "f.mp4", frames=4)
    result = runner.invoke(app, ["remaster", str(src), "--weights", str(tmp_path / "nope.weights.h5")])
    assert result.exit_code == 4 and "no weights file found" in result.output
    assert not (tmp_path / "f_color.mp4").exists()


def test_remaster_and_colorize_run_for_real(tmp_path, random_weights):
    src = make_clip(tmp_path / "film.mkv", frames=10, audio="aac")
    result = runner.invoke(app, ["remaster", str(src), "-o", str(tmp_path / "out.mkv"), "--weights", str(random_weights),
                                 "--render-size", "32", "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(read_video(tmp_path / "out.mkv")) == 10
    again = runner.invoke(app, ["remaster", str(src), "-o", str(tmp_path / "out.mkv"), "--weights", str(random_weights)])
    assert again.exit_code == 3 and "already exists" in again.output

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ["a.png", "b.jpg"]:
        cv2.imwrite(str(photos / name), np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)))
    result = runner.invoke(app, ["colorize", str(photos), "-o", str(tmp_path / "colored"), "--weights", str(random_weights), "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "colored").iterdir()) == ["a_color.png", "b_color.jpg"]


@pytest.mark.parametrize("args,message", [
    (["--crop", "30"], "multiple of 32 for lite0_unet"),
    (["--crop", "36", "--arch", "koalarization"], "multiple of 8 for koalarization"),
    (["--arch", "vgg"], "--arch vgg"),
    (["--head", "regression"], "lite0_unet: takes --head classification"),
    (["--init", "missing.weights.h5"], "no such weights file"),
])
def test_train_rejects_bad_options(tmp_path, args, message):
    result = runner.invoke(app, ["train", str(tmp_path), str(tmp_path / "run"), *args])
    assert result.exit_code == 2 and message in result.output


def test_readme_quick_start_says_how_to_run_it_again(tmp_path, monkeypatch):
    """The quick-start command stops the second time (the sample output exists); the README says how to rerun."""
    root = Path(__file__).resolve().parents[1]
    quick_start = (root / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    rerun = re.search(r"`vidcolor remaster samples/four_shots_bw\.mp4 ([^`]+)`", quick_start)
    assert rerun, "the quick start does not show how to colour the sample again"
    install({}, monkeypatch)  # a model without TensorFlow: this is about the command, not the colours
    film = shutil.copy(root / "samples" / "four_shots_bw.mp4", tmp_path / "four_shots_bw.mp4")
    assert runner.invoke(app, ["remaster", str(film), "-q"]).exit_code == 0
    again = runner.invoke(app, ["remaster", str(film), "-q"])
    assert again.exit_code == 3 and "already exists" in again.output
    assert runner.invoke(app, ["remaster", str(film), *rerun.group(1).split(), "-q"]).exit_code == 0
