"""Every bad input through `vidcolor remaster`: one line naming the file, the right exit code,
the input untouched, and nothing half-written left behind."""

import errno
import hashlib

import av
import pytest
from clips import audio_packets, bad_inputs, make_clip, read_video
from typer.testing import CliRunner

from vidcolor.cli import app

runner = CliRunner()


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def remaster(*args):
    return runner.invoke(app, ["remaster", *map(str, args)])


@pytest.fixture
def weights(random_weights):
    return ["--weights", random_weights, "--render-size", "32", "-q"]


@pytest.mark.parametrize("name", ["missing.mp4", "folder.mp4", "empty.mp4", "text.mp4", "image.mp4", "audio.mp4",
                                  "truncated.mp4"])
def test_unreadable_films_are_one_line_exit_2_and_leave_nothing(tmp_path, weights, name):
    path = bad_inputs(tmp_path)[name]
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    result = remaster(path, *weights)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.output
    assert {p.name: digest(p) for p in tmp_path.iterdir()} == before  # input untouched, nothing new


def test_truncated_mkv_says_how_much_it_got(tmp_path, weights):
    whole = make_clip(tmp_path / "whole.mkv", frames=30, codec="ffv1").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 2])
    result = remaster(cut, *weights)
    assert result.exit_code == 0
    frames = len(read_video(tmp_path / "cut_color.mkv"))
    assert 5 < frames < 25
    assert f"decoded {frames} of about 30" in result.output


def test_six_channel_sound_is_copied_untouched(tmp_path, weights):
    src = make_clip(tmp_path / "surround.mp4", frames=8, audio="aac", layout="5.1")
    assert av.open(str(src)).streams.audio[0].codec_context.layout.nb_channels == 6
    result = remaster(src, *weights)
    assert result.exit_code == 0, result.output
    assert audio_packets(tmp_path / "surround_color.mp4") == audio_packets(src)


def test_output_folder_that_cannot_be_written(tmp_path, weights):
    src = make_clip(tmp_path / "a.mp4", frames=4)
    (tmp_path / "blocker").write_text("a file where a folder should be")
    result = remaster(src, "-o", tmp_path / "blocker" / "out.mp4", *weights)
    assert result.exit_code == 3 and "out.mp4" in result.output and len(result.output.strip().splitlines()) == 1


def test_disk_full_mid_film_leaves_nothing(tmp_path, weights, monkeypatch):
    src = make_clip(tmp_path / "a.mp4", frames=12, audio="aac")
    real_mux = av.container.OutputContainer.mux
    calls = {"n": 0}

    def filling_disk(self, packets):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_mux(self, packets)

    monkeypatch.setattr(av.container.OutputContainer, "mux", filling_disk)
    before = digest(src)
    result = remaster(src, *weights)
    assert result.exit_code == 3 and "No space left on device" in result.output
    assert digest(src) == before
    # no output and no temporary file; only the hidden folder of finished segments that --resume would reuse
    assert sorted(p.name for p in tmp_path.iterdir()) in (["a.mp4"], [".a_color.mp4.vidcolor-parts", "a.mp4"])


@pytest.mark.parametrize("option", [["--precision", "half"], ["--key-interval", "0"], ["--batch-size", "0"]])
def test_bad_settings_are_one_line_exit_2(tmp_path, weights, option):
    src = make_clip(tmp_path / "film.mp4", frames=4)
    result = remaster(src, *weights, *option)
    assert result.exit_code == 2
    assert option[0] in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]
