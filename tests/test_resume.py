"""Resumable remasters: segments in a side folder, joined without re-encoding; kill -9 then resume."""

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from itertools import pairwise

import av
import numpy as np
import pytest
from clips import ColorizerWrapper, audio_packets, make_clip, read_video
from typer.testing import CliRunner

from vidcolor.cli import app
from vidcolor.media import decode_frames
from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster
from vidcolor.film.segments import PLAN, PLAN_SO_FAR, parts_folder

# 4 frames per model call: 2 key frames (every other frame of a shot) and the frames between them
SETTINGS = {"render_size": 32, "batch_size": 2, "key_interval": 2, "segment_frames": 8, "crf": 0, "progress": False}


class Counting(ColorizerWrapper):
    """A colorizer that counts the (key) frames it colours and can stop at a given model call."""

    def __init__(self, real):
        super().__init__(real)
        self.frames = self.calls = self.embeds = 0
        self.stop_at: tuple[int, BaseException] | None = None

    def embed(self, grey):
        self.embeds += 1
        return self.real.embed(grey)

    def predict_ab(self, light, embedding, hints=None):
        self.calls += 1
        if self.stop_at and self.calls == self.stop_at[0]:
            raise self.stop_at[1]
        self.frames += len(light)
        return self.real.predict_ab(light, embedding, hints)


@pytest.fixture(scope="module")
def colorizer(random_weights):
    from vidcolor.model import load_colorizer

    return Counting(load_colorizer(random_weights))


@pytest.fixture
def film(tmp_path):
    return make_clip(tmp_path / "film.mp4", size=(64, 48), frames=30, audio="aac")


def video_packets(path):
    with av.open(str(path)) as c:
        return [(p.pts, p.dts) for p in c.demux(video=0) if p.size]


def assert_same_film(out, src, reference=None):
    """The source's frames, timestamps, sound and luma (crf 0); the same timestamps as the reference run."""
    before, after = read_video(src), read_video(out)
    assert len(after) == len(before)
    assert [t for t, _ in after] == pytest.approx([t for t, _ in before], abs=1e-6)
    if reference is not None:
        assert [t for t, _ in after] == [t for t, _ in read_video(reference)]
        assert audio_packets(out) == audio_packets(reference)
    for (_, y_in), (_, y_out) in zip(before, after):
        np.testing.assert_array_equal(y_out, y_in)
    assert audio_packets(out) == audio_packets(src)
    dts = [d for _, d in video_packets(out)]
    assert all(a < b for a, b in pairwise(dts))


def test_film_in_segments_keeps_frames_timestamps_and_sound(tmp_path, film, colorizer):
    colorizer.frames = 0
    result = remaster(film, options=RemasterOptions.of(**SETTINGS), colorizer=colorizer)
    assert result.frames == 30 and result.shots == 2 and result.resumed_frames == 0
    assert colorizer.frames == 8 + 8  # frames 0, 2, ..., 14 of shot 0 and 15, 17, ..., 29 of shot 1
    assert_same_film(result.output, film)
    chroma = np.stack([np.abs(f.u.astype(int) - 128) for f in decode_frames(result.output)])
    assert chroma.mean() > 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4", "film_color.mp4"]  # side folder gone


KILLED_SETTINGS = {**SETTINGS, "segment_frames": 4}  # resumes at frame 8, inside the first shot (0-14)
KILLED_RUN = textwrap.dedent(f"""
    import sys, time
    from vidcolor.model import load_colorizer
    from vidcolor.options import RemasterOptions
    from vidcolor.film import shot_plan
    from vidcolor.film.remaster import remaster

    src, out, weights = sys.argv[1:4]
    shot_plan.SAVE_SO_FAR_SECONDS = 0  # the shots scanned so far kept as each one ends
    colorizer = load_colorizer(weights)
    real, calls = colorizer.predict_ab, []

    def predict_ab(light, embedding, hints=None):
        calls.append(len(light))
        if len(calls) == 4:  # frames 0-11 are coloured, 0-7 filled and smoothed: segments 0 and 1 can be finished
            time.sleep(600)  # and here it waits for SIGKILL
        return real(light, embedding, hints)

    real_embed, embeds = colorizer.embed, []

    def embed(grey):
        embeds.append(len(grey))
        if len(embeds) == 2:  # shot 1's, at the film's end (its frames are held until then): the scan does not end
            time.sleep(600)
        return real_embed(grey)

    colorizer.predict_ab, colorizer.embed = predict_ab, embed
    remaster(src, out, RemasterOptions.of(**{KILLED_SETTINGS!r}), colorizer=colorizer)
""")


def test_killed_remaster_resumes_to_the_same_film(tmp_path, film, colorizer, random_weights):
    out = tmp_path / "out.mp4"
    folder = parts_folder(out)
    log = tmp_path.parent / f"{tmp_path.name}-killed.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(film), str(out), str(random_weights)],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.time() + 120
        while not (folder / "segment-000001.json").exists():
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.time() < deadline, "no segment was finished in time"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not out.exists() and (folder / "segment-000000.json").exists()
    # the killed run's one decoding pass had not ended, when the plan is saved complete, but it kept
    # the shots it had ended so far: shot 0 (frames 0-14)
    assert (folder / PLAN_SO_FAR).exists() and not (folder / PLAN).exists()
    damaged = tmp_path / "damaged.mp4"  # the same side folder, its plan so far damaged
    shutil.copytree(folder, parts_folder(damaged))
    (parts_folder(damaged) / PLAN_SO_FAR).write_bytes((folder / PLAN_SO_FAR).read_bytes()[:-100])

    colorizer.frames = colorizer.embeds = 0
    result = remaster(film, out, RemasterOptions.of(**KILLED_SETTINGS), colorizer=colorizer, resume=True)
    assert result.resumed_frames == 8 and result.frames == 30 and result.shots == 2
    # warm-up from frame 4 (smoothing reaches 2 key frames = 4 frames back), then frames 8-29:
    # key frames 4, 6, ..., 14 of shot 0 and 15, 17, ..., 29 of shot 1
    assert colorizer.frames == 6 + 8
    # the resumed run scans in a pass of its own from frame 15 only, ahead of the colour pass: one shot
    assert colorizer.embeds == 1
    assert not folder.exists()
    # a damaged plan so far is not trusted: the whole film is scanned again
    colorizer.embeds = 0
    remaster(film, damaged, RemasterOptions.of(**KILLED_SETTINGS), colorizer=colorizer, resume=True)
    assert colorizer.embeds == 2 and not parts_folder(damaged).exists()

    reference = remaster(film, tmp_path / "reference.mp4", RemasterOptions.of(**KILLED_SETTINGS),
                         colorizer=colorizer).output
    for resumed in (out, damaged):
        assert_same_film(resumed, film, reference)
        # smoothing and embeddings did not change at the segment boundaries: the colours are the same too
        for frame, whole in zip(decode_frames(resumed), decode_frames(reference)):
            np.testing.assert_array_equal(frame.u, whole.u)
            np.testing.assert_array_equal(frame.v, whole.v)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.mp4", "film.mp4", "out.mp4", "reference.mp4"]


def test_ctrl_c_keeps_finished_segments_and_other_settings_start_over(tmp_path, film, colorizer):
    out = tmp_path / "out.mp4"
    colorizer.calls, colorizer.stop_at = 0, (6, KeyboardInterrupt())
    try:
        with pytest.raises(KeyboardInterrupt):
            remaster(film, out, RemasterOptions.of(**SETTINGS), colorizer=colorizer)
    finally:
        colorizer.stop_at = None
    folder = parts_folder(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name, "film.mp4"]  # no output, no temp file
    names = sorted(p.name for p in folder.iterdir())  # segment 1 too, if the encoder got to it before the stop
    assert names[:6] == ["embeddings.npy", "fingerprint.json", "frame_pts.npy", "plan.json",
                         "segment-000000.json", "segment-000000.packets"]
    assert set(names[6:]) <= {"segment-000001.json", "segment-000001.packets"}  # the unfinished one is removed

    warnings: list[str] = []
    colorizer.frames = 0
    other = RemasterOptions.of(**{**SETTINGS, "render_size": 40})
    result = remaster(film, out, other, colorizer=colorizer, resume=True, on_warning=warnings.append)
    assert result.resumed_frames == 0 and colorizer.frames == 16  # all key frames again
    assert len(warnings) == 1 and "starting over" in warnings[0] and "render_size" in warnings[0]
    assert len(read_video(out)) == 30 and not folder.exists()


def test_cli_resume_option(tmp_path, film, colorizer, random_weights):
    out = tmp_path / "out.mp4"
    colorizer.calls, colorizer.stop_at = 0, (4, RuntimeError("model exploded"))
    try:
        with pytest.raises(RuntimeError):
            remaster(film, out, RemasterOptions.of(**SETTINGS), colorizer=colorizer)
    finally:
        colorizer.stop_at = None
    assert (parts_folder(out) / "segment-000000.json").exists()
    # the command's own settings (batch size 8, segments of 512 frames) differ: it starts over, saying why
    result = CliRunner().invoke(app, ["remaster", str(film), "-o", str(out), "--weights", str(random_weights),
                                      "--render-size", "32", "--resume", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "starting over" in result.output and "batch_size" in result.output
    assert len(read_video(out)) == 30 and not parts_folder(out).exists()


def test_cli_interrupted_names_the_kept_segments(tmp_path, monkeypatch):
    import vidcolor.film.remaster

    src = make_clip(tmp_path / "f.mp4", frames=4)

    def interrupted(source, output, options, **kwargs):
        parts_folder(output).mkdir()
        stop = KeyboardInterrupt()
        stop.kept_in = parts_folder(output)  # as remaster() tells where it kept finished segments
        raise stop

    monkeypatch.setattr(vidcolor.film.remaster, "remaster", interrupted)
    result = CliRunner().invoke(app, ["remaster", str(src), "-o", str(tmp_path / "out.mp4")])
    assert result.exit_code == 130
    assert "--resume" in result.output and parts_folder(tmp_path / "out.mp4").name in result.output


VFR_12800 = [0, 512, 1024, 1536, 2000, 3500, 3600, 3700, 4500, 4600, 5900, 6000]  # a gap just after a boundary


@pytest.mark.parametrize("name, kwargs", [
    ("ntsc.mp4", {"rate": Fraction(30000, 1001), "frames": 20, "audio": "aac"}),
    ("vfr.mp4", {"time_base": Fraction(1, 12800), "pts": VFR_12800, "frames": 12, "audio": "aac"}),
    ("vfr.mkv", {"time_base": Fraction(1, 1000), "pts": [0, 40, 80, 160, 193, 233, 400, 440, 480, 530, 560, 600],
                 "frames": 12, "audio": "pcm_s16le"}),
    ("silent.avi", {"frames": 12}),
])
def test_joined_segments_keep_exact_timestamps(tmp_path, colorizer, name, kwargs):
    src = make_clip(tmp_path / name, **kwargs)
    options = RemasterOptions.of(**{**SETTINGS, "segment_frames": 4, "smooth": False, "crf": 18})
    out = remaster(src, tmp_path / f"out_{name}", options, colorizer=colorizer).output
    before, after = read_video(src), read_video(out)
    assert len(after) == len(before) == kwargs["frames"]
    assert [f.pts * f_tb for f, f_tb in _times(out)] == [f.pts * f_tb for f, f_tb in _times(src)]
    if not name.endswith(".avi"):  # PyAV's own pts guess for AVI is one frame late
        assert [t for t, _ in after] == pytest.approx([t for t, _ in before], abs=1e-6)
        assert audio_packets(out) == audio_packets(src)
    packets = video_packets(out)
    if not name.endswith(".mkv"):  # Matroska keeps no dts of its own
        assert all(a[1] < b[1] for a, b in pairwise(packets))  # dts strictly increasing across joins
        assert all(pts is None or dts <= pts for pts, dts in packets)


def _times(path):
    from vidcolor.media import probe_video

    time_base = probe_video(path).time_base
    return [(f, time_base) for f in decode_frames(path)]
