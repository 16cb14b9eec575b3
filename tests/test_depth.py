"""Bit depth (issue 12, item 2): a 10-bit film (4:2:0 or 4:2:2) comes out 10-bit with the same
subsampling and its luma plane bit-exact at crf 0; an 8-bit one still comes out 8-bit 4:2:0."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clips import make_clip

from vidcolor.color import grey_to_lightness_table, rgb_to_chroma
from vidcolor.media import VideoWriter, decode_frames, probe_video


def deep_luma(i: int, w: int, h: int) -> np.ndarray:
    """10-bit limited-range luma, most codes not multiples of 4 (an 8-bit round trip loses them)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (64 + (xx * 13 + yy * 7 + i * 5) % 877).astype(np.uint16)


def make_deep_clip(path: Path, pix_fmt: str, *, size=(64, 48), frames=10, codec="libx264") -> Path:
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "0"}
        for i in range(frames):
            frame = av.VideoFrame(w, h, pix_fmt)
            for k, plane in enumerate(frame.planes):
                data = deep_luma(i, w, h) if k == 0 else np.full((plane.height, plane.width), 512 + 40 * k, np.uint16)
                rows = np.zeros((plane.height, plane.line_size // 2), np.uint16)
                rows[:, : plane.width] = data
                plane.update(rows.tobytes())
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def decoded(path: Path) -> tuple[str, list[tuple[float, np.ndarray]]]:
    """The video stream's pix_fmt, and (pts in seconds, luma plane at its own depth) per frame."""
    frames = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        pix_fmt = stream.codec_context.format.name
        for f in c.decode(stream):
            dtype = np.uint16 if f.format.components[0].bits > 8 else np.uint8
            plane = f.planes[0]
            y = np.frombuffer(plane, dtype).reshape(plane.height, -1)[:, : f.width]
            frames.append((float(f.pts * f.time_base), y.copy()))
    return pix_fmt, frames


@pytest.fixture(scope="module")
def colorizer(random_weights):
    from vidcolor.model import load_colorizer

    return load_colorizer(random_weights)


def remaster(src: Path, out: Path, colorizer):
    from vidcolor.options import RemasterOptions
    from vidcolor.film.remaster import remaster

    options = RemasterOptions.of(render_size=48, progress=False, crf=0, batch_size=4, segment_frames=8)
    return remaster(src, out, options, colorizer=colorizer, on_warning=lambda message: None)


def test_lightness_table_for_10_bits_matches_the_8_bit_one_at_the_same_levels():
    eight, ten = grey_to_lightness_table(False), grey_to_lightness_table(False, 10)
    assert ten.shape == (1024,) and np.array_equal(ten[64:941:4], eight[16:236])
    assert ten[64] == 0.0 and ten[940] == pytest.approx(100.0)
    chroma8, chroma10 = (rgb_to_chroma(np.full((1, 1, 3), 0.5, np.float32), "bt709", False, d) for d in (8, 10))
    assert np.allclose(chroma8, 128) and np.allclose(chroma10, 512)


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv422p10le"])
def test_10_bit_decodes_at_its_depth(tmp_path, pix_fmt):
    src = make_deep_clip(tmp_path / "deep.mkv", pix_fmt, frames=3)
    info = probe_video(src)
    assert (info.bit_depth, info.pix_fmt) == (10, pix_fmt)
    frames = list(decode_frames(src, info))
    assert [f.y.dtype for f in frames] == [np.dtype(np.uint16)] * 3
    assert frames[0].u.shape == ((24, 32) if pix_fmt == "yuv420p10le" else (48, 32))
    assert all(np.array_equal(f.y, y) for f, (_, y) in zip(frames, decoded(src)[1]))


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv422p10le"])
def test_10_bit_remaster_is_10_bit_with_the_luma_bit_exact(tmp_path, colorizer, pix_fmt):
    src = make_deep_clip(tmp_path / "deep.mkv", pix_fmt, frames=12)
    source_fmt, before = decoded(src)
    assert source_fmt == pix_fmt and any(int(y[0, 1]) % 4 for _, y in before)  # the clip is what the test needs
    result = remaster(src, tmp_path / "deep_color.mp4", colorizer)
    out_fmt, after = decoded(result.output)
    assert out_fmt == pix_fmt and result.frames == 12
    assert [t for t, _ in after] == pytest.approx([t for t, _ in before], abs=1e-6)
    assert len(after) == len(before) and all(y.dtype == np.uint16 for _, y in after)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(after, before))
    with av.open(str(result.output)) as c:
        frame = next(c.decode(video=0))
        plane = frame.planes[1]
        u = np.frombuffer(plane, np.uint16).reshape(plane.height, -1)[:, : plane.width]
    assert u.shape == ((24, 32) if pix_fmt == "yuv420p10le" else (48, 32))
    assert u.max() < 1024 and np.unique(u).size > 1  # 10-bit chroma made by the colour pass, not the flat source's


@pytest.mark.parametrize("pix_fmt", ["yuv420p10le", "yuv422p10le"])
def test_odd_sized_10_bit_film_is_coded_4_4_4_at_10_bits_with_the_luma_bit_exact(tmp_path, pix_fmt):
    src = make_deep_clip(tmp_path / "odd.mkv", pix_fmt, size=(33, 25), frames=4, codec="ffv1")
    info = probe_video(src)
    with VideoWriter(info, tmp_path / "odd.mp4", crf=0, preset="ultrafast") as writer:
        for f in decode_frames(src, info):
            writer.write(f.y, f.u, f.v, f.pts)
    (_, before), (out_fmt, after) = decoded(src), decoded(tmp_path / "odd.mp4")
    assert out_fmt == "yuv444p10le" and len(after) == 4
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(after, before))


def test_8_bit_film_still_comes_out_8_bit_4_2_0(tmp_path, colorizer):
    src = make_clip(tmp_path / "eight.mp4", frames=12)
    assert probe_video(src).bit_depth == 8
    result = remaster(src, tmp_path / "eight_color.mp4", colorizer)
    out_fmt, after = decoded(result.output)
    assert out_fmt == "yuv420p" and len(after) == 12 and after[0][1].dtype == np.uint8
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(after, decoded(src)[1]))
