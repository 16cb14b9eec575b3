"""Interlaced films are coloured field by field (issue 12): each field is a picture of its own
moment for the model and the flow, and its chroma goes into its own rows, so one field's colour
is not painted on the other (the comb a whole-frame colouring leaves on a moving edge)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.codec.context import Flags
from clips import StopsAt, field_marker
from test_determinism import textured_frames, video_packets
from toy_colorizer import ToyColorizer

from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster

W, H, FRAMES = 160, 64, 8
GROUND, BRIGHT = 100, 210


class VividToy(ToyColorizer):
    """The toy colorizer with strong colours: grey at mid lightness, magenta the brighter, green the darker."""

    def predict_ab(self, light, embedding, hints=None):
        light = np.asarray(light, np.float32)[:, ::2, ::2] - 50.0
        return np.stack([light, -light], axis=-1)


def write_fields(path: Path, fields_of, *, order: str = "tff", codec: str = "libx264", frames: int = FRAMES) -> Path:
    """An interlaced film whose frame i weaves the two pictures fields_of(i) = (top rows, bottom rows)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        cc = stream.codec_context
        cc.flags = cc.flags | Flags.interlaced_dct | Flags.interlaced_me
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "qp": "0", "x264-params": f"{order}=1"}
        mark = field_marker(W, H, "yuv420p", Fraction(1, 25), order)
        for i in range(frames):
            y = np.empty((H, W), np.uint8)
            y[0::2], y[1::2] = fields_of(i)
            frame = av.VideoFrame.from_ndarray(np.concatenate([y.ravel(), np.full(W * H // 2, 128, np.uint8)])
                                               .reshape(-1, W), format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(mark(frame)))
        out.mux(stream.encode(None))
    return path


def bar(x: int) -> np.ndarray:
    """One field's rows: a bright bar 16 px wide at x on a grey ground (with a faint texture for the flow)."""
    rows = np.full((H // 2, W), GROUND, np.uint8) + (np.arange(W) % 7).astype(np.uint8)
    rows[:, x : x + 16] = BRIGHT
    return rows


def moving_bar(i: int) -> tuple[np.ndarray, np.ndarray]:
    """The bar moves 8 px a field: the bottom field (shown second) shows it 8 px right of the top."""
    return bar(8 + 16 * i), bar(16 + 16 * i)


def colour_planes(path: Path) -> list[np.ndarray]:
    """The V (Cr) plane of every frame, as int."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p")[H + H // 4 :].reshape(H // 2, W // 2).astype(int) for f in c.decode(video=0)]


def colour(src: Path, out: Path, colorizer=None, resume: bool = False, **settings):
    options = RemasterOptions.of(**{"render_size": 64, "batch_size": 2, "crf": 0, "progress": False, **settings})
    return remaster(src, out, options, colorizer=colorizer or VividToy(), resume=resume,
                    on_warning=lambda message: None)


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_a_moving_edge_takes_its_colour_in_each_field_not_the_other_fields(tmp_path, order):
    src = write_fields(tmp_path / "bar.mkv", moving_bar, order=order)
    # the model on every frame: the flow's fill between key frames is not what this is about
    planes = colour_planes(colour(src, tmp_path / "bar_color.mkv", key_interval=1).output)
    assert len(planes) == FRAMES
    bars, combs = [], []  # each field's bar colour; how far the other field's chroma goes toward it there
    for i in range(1, FRAMES - 1):
        v, x = planes[i], 4 + 8 * i  # the top field's bar covers chroma columns x to x+8, the bottom's x+4 to x+12
        ground = np.median(np.concatenate([v[:, : x - 6], v[:, x + 18 :]], axis=1))
        top_bar, bottom_bar = v[0::2, x : x + 4].mean() - ground, v[1::2, x + 8 : x + 12].mean() - ground
        bars += [top_bar, bottom_bar]
        combs += [(v[1::2, x : x + 4].mean() - ground) / top_bar, (v[0::2, x + 8 : x + 12].mean() - ground) / bottom_bar]
    # colouring whole frames gave 1.0 here: both fields' rows had the same chroma
    assert max(combs) < 0.2, combs
    assert min(bars) >= 15, bars  # and each field's bar has the colour of its lightness


def test_fields_of_different_lightness_get_different_colours(tmp_path):
    flat = lambda i: (np.full((H // 2, W), 70, np.uint8) + (np.arange(W) % 5).astype(np.uint8),  # noqa: E731
                      np.full((H // 2, W), 170, np.uint8) + (np.arange(W) % 5).astype(np.uint8))
    src = write_fields(tmp_path / "flat.mkv", flat)
    planes = colour_planes(colour(src, tmp_path / "flat_color.mkv").output)
    # the model makes the brighter field magenta, the darker green; one colour for both gave 0 here
    differences = [v[1::2].mean() - v[0::2].mean() for v in planes]
    assert len(planes) == FRAMES and min(differences) > 15, differences


def test_an_interlaced_film_stopped_and_resumed_gives_the_uninterrupted_packets(tmp_path):
    texture = textured_frames(W, H, 96)  # two pictures a frame: a panning texture, a field apart
    src = write_fields(tmp_path / "tape.mkv", lambda i: (texture[2 * i][0::2], texture[2 * i + 1][1::2]), frames=48)
    # chunks of 4 frames, fewer than the smoothing reaches back (8 frames: 2 key frames of 2 fields, 4 apart)
    whole = video_packets(colour(src, tmp_path / "whole.mkv", segment_frames=8, batch_size=1).output)
    out = tmp_path / "resumed.mkv"
    with pytest.raises(RuntimeError):
        colour(src, out, segment_frames=8, batch_size=1, colorizer=StopsAt(VividToy(), call=8, error=RuntimeError))
    result = colour(src, out, segment_frames=8, batch_size=1, resume=True)
    assert result.resumed_frames > 0 and len(whole) == 48 and video_packets(out) == whole


@pytest.mark.parametrize("said", ["grey", "keep"])
def test_a_grey_or_kept_interlaced_frame_goes_out_once_whole(tmp_path, said):
    from vidcolor.film.direction_file import Direction, ShotDirection

    src = write_fields(tmp_path / "bar.mkv", moving_bar)  # its chroma is neutral: kept or grey, it stays so
    direction = Direction(film=ShotDirection(**{said: True}))
    options = RemasterOptions.of(render_size=64, batch_size=2, crf=0, progress=False)
    out = remaster(src, tmp_path / "out.mkv", options, colorizer=VividToy(), direction=direction,
                   on_warning=lambda message: None).output
    planes = colour_planes(out)
    assert len(planes) == FRAMES and all((v == 128).all() for v in planes)
    with av.open(str(src)) as a, av.open(str(out)) as b:  # the lightness of both fields, as it was
        assert all(np.array_equal(x.to_ndarray()[:H], y.to_ndarray()[:H]) for x, y in zip(a.decode(video=0), b.decode(video=0)))
