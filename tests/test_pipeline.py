"""`remaster()` end to end on tiny real clips, with a small random-weight colorizer and the real embedder."""

import numpy as np
import pytest
from clips import RecordingColorizer, audio_packets, make_clip, read_video

import vidcolor
from vidcolor.model import chroma_bins
from vidcolor.model.embedders import load_embedder
from vidcolor.errors import InputError, OutputError
from vidcolor.media import decode_frames
from vidcolor.model import Colorizer, ModelConfig, build_colorizer
from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster


class CountingEmbedder:
    def __init__(self):
        self.real = load_embedder("efficientnet_lite0")
        self.calls = 0

    def embed(self, grey):
        self.calls += 1
        return self.real.embed(grey)


@pytest.fixture(scope="module")
def colorizer():
    import keras

    keras.utils.set_random_seed(1)
    centres = chroma_bins.in_gamut_bins()
    config = ModelConfig(head="classification", bins=centres.tolist())
    return Colorizer(build_colorizer(config), config, embedder=CountingEmbedder())


def options(**kw):
    return RemasterOptions.of(**{"render_size": 48, "progress": False, **kw})


def test_two_shot_film_keeps_frames_timestamps_sound_and_lightness(tmp_path, colorizer):
    src = make_clip(tmp_path / "film.mp4", size=(96, 64), frames=40, audio="aac")
    colorizer.embedder.calls = 0
    result = vidcolor.remaster(src, colorizer=colorizer, options=options(crf=0))  # the public library API
    assert result.output == tmp_path / "film_color.mp4"
    assert result.shots == 2 and colorizer.embedder.calls == 2  # one embedding per shot, not per frame
    before, after = read_video(src), read_video(result.output)
    assert len(after) == len(before) == result.frames == 40
    assert [t for t, _ in after] == pytest.approx([t for t, _ in before], abs=1e-6)
    for (_, y_in), (_, y_out) in zip(before, after):
        np.testing.assert_array_equal(y_out, y_in)  # crf 0: the original luma exactly
    assert audio_packets(result.output) == audio_packets(src)
    chroma = np.stack([np.abs(f.u.astype(int) - 128) + np.abs(f.v.astype(int) - 128) for f in decode_frames(result.output)])
    assert chroma.mean() > 1.0  # it is in colour now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4", "film_color.mp4"]


def test_the_model_sees_every_nth_frame_of_each_shot_and_flow_fills_the_rest(tmp_path, colorizer):
    src = make_clip(tmp_path / "film.mp4", size=(96, 64), frames=40)  # shots: frames 0-19 and 20-39
    runs = {}
    for interval in (1, 3):
        recording = RecordingColorizer(colorizer)
        out = remaster(src, tmp_path / f"k{interval}.mp4", colorizer=recording,
                       options=options(key_interval=interval, batch_size=4, crf=0)).output
        runs[interval] = (recording.seen, [(f.u.astype(float), f.v.astype(float)) for f in decode_frames(out)])
    every, keyed = runs[1][0], runs[3][0]
    assert len(every) == 40
    keys = [*range(0, 20, 3), *range(20, 40, 3)]  # each shot starts with a key frame
    assert len(keyed) == len(keys)
    for seen, k in zip(keyed, keys):
        np.testing.assert_array_equal(seen, every[k])
    # in-between frames are coloured (not grey) and close to what the model gives them itself
    planes_every, planes_keyed = runs[1][1], runs[3][1]
    for k in set(range(40)) - set(keys):
        (u1, v1), (u3, v3) = planes_every[k], planes_keyed[k]
        assert np.abs(u3 - 128).mean() + np.abs(v3 - 128).mean() > 1.0
        assert np.abs(u3 - u1).mean() + np.abs(v3 - v1).mean() < 0.5 * (np.abs(u1 - 128).mean() + np.abs(v1 - 128).mean())


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("vfr.mkv", dict(pts=[0, 40, 80, 160, 193, 233, 400, 440, 480, 530, 560, 600], time_base=None)),
        ("ntsc.mp4", dict(rate=None)),
        ("odd.mkv", dict(size=(65, 47), codec="ffv1", audio="pcm_s16le")),
        ("pcm.mov", dict(audio="pcm_s16le")),
        ("silent.avi", dict()),
    ],
)
def test_other_clips_keep_their_timing(tmp_path, colorizer, name, kwargs):
    from fractions import Fraction

    if name.startswith("vfr"):
        kwargs["time_base"] = Fraction(1, 1000)
    if name.startswith("ntsc"):
        kwargs["rate"] = Fraction(30000, 1001)
    src = make_clip(tmp_path / name, frames=kwargs.pop("frames", 12), **kwargs)
    out = remaster(src, tmp_path / f"out_{name}", colorizer=colorizer, options=options(smooth=False)).output
    before, after = read_video(src), read_video(out)
    assert len(after) == len(before)
    assert [t for t, _ in after] == pytest.approx([t for t, _ in before], abs=1e-3)
    h, w = before[0][1].shape
    for (_, y_in), (_, y_out) in zip(before, after):
        assert np.abs(y_out[:h, :w].astype(int) - y_in).mean() < 2.0


def test_existing_output_is_never_overwritten_without_force(tmp_path, colorizer):
    src = make_clip(tmp_path / "a.mp4", frames=6)
    target = tmp_path / "a_color.mp4"
    target.write_bytes(b"precious")
    with pytest.raises(OutputError, match="already exists"):
        remaster(src, colorizer=colorizer, options=options())
    assert target.read_bytes() == b"precious"
    remaster(src, colorizer=colorizer, options=options(force=True))
    assert len(read_video(target)) == 6


def test_not_a_video_leaves_nothing(tmp_path, colorizer):
    bad = tmp_path / "notes.mp4"
    bad.write_text("just text\n")
    with pytest.raises(InputError, match="notes.mp4"):
        remaster(bad, colorizer=colorizer, options=options())
    assert [p.name for p in tmp_path.iterdir()] == ["notes.mp4"]


def test_failure_mid_film_leaves_no_output(tmp_path, colorizer, monkeypatch):
    src = make_clip(tmp_path / "b.mp4", frames=20)

    def broken(*args, **kwargs):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(colorizer, "predict_ab", broken)
    with pytest.raises(RuntimeError):
        remaster(src, colorizer=colorizer, options=options())
    assert [p.name for p in tmp_path.iterdir()] == ["b.mp4"]


def test_subtitles_an_mp4_cannot_hold_are_named_in_a_warning(tmp_path, colorizer):
    src = make_clip(tmp_path / "film.mkv", size=(64, 48), frames=10, audio="aac", subtitles=True)
    warnings = []
    result = remaster(src, tmp_path / "film.mp4", options(), colorizer=colorizer, on_warning=warnings.append)
    assert [w for w in warnings if "subtitle stream" in w] == [w for w in result.warnings if "subtitle stream" in w]
    assert len([w for w in warnings if "subtitle stream #2 (subrip)" in w and "left out" in w]) == 1
    assert len(read_video(result.output)) == 10
