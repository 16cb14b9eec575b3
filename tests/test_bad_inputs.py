"""Every bad input through `vidcolor remaster`: one line naming the file, the right exit code,
the input untouched, and nothing half-written left behind."""

import contextlib
import errno
import hashlib
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from clips import audio_packets, bad_inputs, make_clip, read_video
from toy_colorizer import install
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.errors import VidcolorWarning

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


@pytest.mark.parametrize("option", [["--precision", "half"], ["--key-interval", "0"], ["--batch-size", "0"],
                                    ["--key-frames", "sometimes"]])
def test_bad_settings_are_one_line_exit_2(tmp_path, weights, option):
    src = make_clip(tmp_path / "film.mp4", frames=4)
    result = remaster(src, *weights, *option)
    assert result.exit_code == 2
    assert option[0] in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


@pytest.fixture
def toy(monkeypatch):
    """The toy colorizer (no TensorFlow) for every remaster of the test; its options for the command."""
    install({}, monkeypatch)
    return ["--render-size", "32", "-q"]


def test_disk_full_while_segments_are_written(tmp_path, toy, monkeypatch):
    import vidcolor.film.segments

    src = make_clip(tmp_path / "a.mp4", frames=30, audio="aac")

    class FillingDisk:
        """A segment file on a disk that fills after a few kB."""

        def __init__(self, file):
            self.file, self.written = file, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 3000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(vidcolor.film.segments, "open", lambda *a, **k: FillingDisk(open(*a, **k)), raising=False)
    result = remaster(src, *toy)
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in result.output
    # nothing under the final name, no temporary file, no lock; at most the complete segments for --resume
    assert sorted(p.name for p in tmp_path.iterdir()) in (["a.mp4"], [".a_color.mp4.vidcolor-parts", "a.mp4"])
    folder = tmp_path / ".a_color.mp4.vidcolor-parts"
    assert not folder.exists() or not any("partial" in p.name for p in folder.iterdir())


@pytest.mark.parametrize("key_frames", ["fixed", "adaptive"])
@pytest.mark.parametrize("size", [(16, 16), (2, 2), (640, 16), (16, 640), (30, 20)])
def test_tiny_frames_are_coloured(tmp_path, toy, size, key_frames):
    """The optical flow needs a minimum size; smaller frames are enlarged for it (the toy model, like
    the paper's, takes multiples of 8, so the flow sees frames down to 4x4)."""
    src = make_clip(tmp_path / "tiny.mkv", size=size, frames=12, codec="ffv1")
    result = remaster(src, *toy, "--key-interval", "2", "--key-frames", key_frames)
    assert result.exit_code == 0, result.output
    before, after = read_video(src), read_video(tmp_path / "tiny_color.mkv")
    assert len(after) == len(before) == 12


def test_webm_gets_a_container_that_holds_h264(tmp_path, toy):
    src = make_clip(tmp_path / "clip.webm", frames=8, codec="libvpx-vp9")
    result = remaster(src, *toy)
    assert result.exit_code == 0, result.output
    assert len(read_video(tmp_path / "clip_color.mkv")) == 8
    warnings = [line for line in result.output.splitlines() if line.startswith("vidcolor: warning:")]
    assert len(warnings) == 1 and "clip_color.mkv" in warnings[0] and ".webm" in warnings[0]


def test_a_warning_is_told_once_on_its_own_line(tmp_path, toy):
    """Both decoding passes see the same damage; the warning comes once, never glued to the progress bar."""
    whole = make_clip(tmp_path / "whole.mkv", frames=30, codec="ffv1").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 2])
    result = runner.invoke(app, ["remaster", str(cut), "--render-size", "32"])  # with the progress bar
    assert result.exit_code == 0, result.output
    told = [line.rsplit("\r", 1)[-1] for line in result.output.split("\n") if "ended early" in line]
    assert len(told) == 1 and told[0].startswith("vidcolor: warning: ")


def test_unknown_preset_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("vidcolor.model.colorizer.load_colorizer", no_model)
    src = make_clip(tmp_path / "film.mp4", frames=4)
    result = remaster(src, "--preset", "nonsense")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("vidcolor: --preset nonsense: must be one of ultrafast, superfast, veryfast, "
                                     "faster, fast, medium, slow, slower, veryslow, placebo")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def bad_configs(good: dict) -> dict[str, str | bytes]:
    return {"empty": "", "garbage": b"\x00\x9fgarbage{", "null": "null", "no bins": json.dumps({**good, "bins": []}),
            "bins not pairs": json.dumps({**good, "bins": "ab"}), "temperature text": json.dumps({**good, "temperature": "hot"}),
            "bin weights short": json.dumps({**good, "bin_weights": [1.0, 2.0], "prior_correction": 0.5}),
            "embedding size": json.dumps({**good, "embedding_size": "big"}),
            "other scaling": json.dumps({**good, "ab_scaling": 110.0}),
            "fewer bins than the weights": json.dumps({**good, "bins": good["bins"][:10]})}


@pytest.mark.parametrize("case", list(bad_configs({"bins": []})))
def test_a_wrong_model_config_is_one_line_exit_4(tmp_path, random_weights, case):
    good = json.loads(Path(random_weights).with_name("random.json").read_text())
    text = bad_configs(good)[case]
    shutil.copy(random_weights, tmp_path / "m.weights.h5")
    (tmp_path / "m.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    src = make_clip(tmp_path / "film.mp4", frames=4)
    result = remaster(src, "--weights", tmp_path / "m.weights.h5", "--render-size", "32", "-q")
    assert result.exit_code == 4, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith(f"vidcolor: {tmp_path / 'm.'}")
    assert not (tmp_path / "film_color.mp4").exists()


def test_unwritable_embedder_cache_falls_back_with_a_warning(tmp_path, random_weights, monkeypatch):
    """A service user without a home: the cache goes to a private temporary folder, said in one line."""
    import tempfile

    (tmp_path / "blocker").write_text("a file where the cache folder should be")
    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path / "blocker" / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    src = make_clip(tmp_path / "film.mp4", frames=6)
    result = remaster(src, "--weights", random_weights, "--render-size", "32", "-q")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("vidcolor: warning:")]
    assert len(warnings) == 1 and "blocker/cache" in warnings[0] and "Traceback" not in result.output
    assert list((tmp_path / "temp").glob("vidcolor-cache-*/efficientnet_lite0-*.weights.h5"))
    assert len(read_video(tmp_path / "film_color.mp4")) == 6


def test_disk_full_while_the_embedder_is_cached(tmp_path, monkeypatch):
    """The converted embedder cannot be kept: it is used all the same, with a warning, not a traceback."""
    import vidcolor.model.embedders as embedders

    @contextlib.contextmanager
    def disk_full(path, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
        yield

    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(embedders, "atomic_path", disk_full)
    with pytest.warns(VidcolorWarning, match="No space left on device"):
        embedder = embedders.load_embedder("efficientnet_lite0")
    assert embedder.embed(np.zeros((32, 32), np.uint8)).shape == (1, 1000)
    assert list((tmp_path / "cache").iterdir()) == []
