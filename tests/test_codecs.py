"""The output codec (issue 12): --codec h264, hevc, ffv1 or prores, and auto, which keeps the
source's class (FFV1 and ProRes masters, 10-bit HEVC) at its depth and subsampling. Each codec
goes through the real pipeline (segments joined without re-encoding) with the toy colorizer."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.filter
import av.logging
import numpy as np
import pytest
from clips import StopsAt, make_clip, read_video
from test_archive_io import picture
from test_depth import decoded
from test_determinism import textured_frames, video_packets, write_film
from toy_colorizer import ToyColorizer
from typer.testing import CliRunner

from vidcolor.batch.archive import run_batch
from vidcolor.cli import app
from vidcolor.errors import InputError
from vidcolor.media import VideoWriter, choose_codec, decode_frames, frames_for, probe_video
from vidcolor.options import RemasterOptions
from vidcolor.film.remaster import remaster
from vidcolor.film.segments import parts_folder


def colour(src: Path, out: Path | None, *, colorizer=None, warnings: list | None = None, resume: bool = False,
           **settings):
    options = RemasterOptions.of(**{"render_size": 48, "batch_size": 2, "segment_frames": 8, "progress": False,
                                    **settings})
    return remaster(src, out, options, colorizer=colorizer or ToyColorizer(), resume=resume,
                    on_warning=(warnings if warnings is not None else []).append)


def stream_of(path: Path) -> tuple[str, str, str | None, str]:
    """(codec, pix_fmt, profile, codec tag) of a film's video stream."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        cc = stream.codec_context
        return cc.name, cc.format.name, cc.profile, stream.codec_tag


def master(path: Path, codec: str, pix_fmt: str, frames: int = 12, **options) -> Path:
    """A small film of `codec` at `pix_fmt` whose luma uses the whole depth (test_depth.deep_luma, scaled)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        stream.options = options
        depth = av.VideoFormat(pix_fmt, 2, 2).components[0].bits
        for i in range(frames):
            frame = av.VideoFrame(64, 48, pix_fmt)
            for k, plane in enumerate(frame.planes):
                dtype = np.uint8 if depth == 8 else np.uint16
                yy, xx = np.mgrid[0 : plane.height, 0 : plane.width]
                data = (16 + (xx * 13 + yy * 7 + i * 5) % 219) << (depth - 8) if k == 0 else np.full(yy.shape, 128 << (depth - 8))
                rows = np.zeros((plane.height, plane.line_size // np.dtype(dtype).itemsize), dtype)
                rows[:, : plane.width] = data + (k == 0) * (i % 3)  # codes an 8-bit round trip would lose
                plane.update(rows.tobytes())
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


# --- auto: the source's class ----------------------------------------------------------------------

@pytest.mark.parametrize("codec,pix_fmt,options,expected", [
    ("libx264", "yuv420p", {}, ("h264", 8, "420", None)),
    ("mpeg2video", "yuv422p", {}, ("h264", 8, "422", None)),  # 8-bit 4:2:2 stays 4:2:2 (High 4:2:2)
    ("libx265", "yuv420p", {"x265-params": "log-level=error"}, ("h264", 8, "420", None)),
    ("libx265", "yuv420p10le", {"x265-params": "log-level=error"}, ("hevc", 10, "420", None)),
    ("ffv1", "yuv422p10le", {}, ("ffv1", 10, "422", None)),
    ("ffv1", "yuv444p12le", {}, ("ffv1", 12, "444", None)),
    ("ffv1", "yuv420p16le", {}, ("ffv1", 16, "420", None)),
    ("prores_ks", "yuv422p10le", {"profile": "lt"}, ("prores", 10, "422", "lt")),
    ("prores_ks", "yuv444p10le", {"profile": "4444"}, ("prores", 10, "444", "4444")),
])
def test_auto_keeps_the_source_class_depth_and_subsampling(tmp_path, codec, pix_fmt, options, expected):
    src = master(tmp_path / "in.mkv", codec, pix_fmt, frames=2, **options)
    chosen = choose_codec("auto", probe_video(src), tmp_path / "out.mkv")
    assert (chosen.name, chosen.depth, chosen.chroma, chosen.profile) == expected
    # 4:4:4 and depths beyond the codec's are what H.264 cannot keep
    h264 = choose_codec("h264", probe_video(src), tmp_path / "out.mkv")
    assert (h264.depth, h264.chroma) == (min(10, expected[1]) if expected[1] > 8 else 8,
                                         expected[2] if expected[2] != "444" else "420")


def test_an_asked_for_codec_its_container_cannot_hold_is_refused_before_any_work(tmp_path):
    src = make_clip(tmp_path / "film.mp4", frames=4)
    with pytest.raises(InputError, match=r"out.mp4: a .mp4 file cannot hold ProRes video \(use .mov or .mkv"):
        choose_codec("prores", probe_video(src), tmp_path / "out.mp4")
    result = CliRunner().invoke(app, ["remaster", str(src), "--codec", "ffv1", "-o", str(tmp_path / "out.mov")])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"vidcolor: {tmp_path / 'out.mov'}: a .mov file cannot hold FFV1 video (use .mkv or .avi, or another --codec)"]
    assert not list(tmp_path.glob(".*")) and not (tmp_path / "out.mov").exists()
    result = CliRunner().invoke(app, ["batch", str(tmp_path), "-o", str(tmp_path / "o"), "--codec", "vp9"])
    assert result.exit_code == 2 and "--codec vp9: must be one of auto, h264, hevc, ffv1, prores" in result.output


def test_auto_writes_h264_where_the_container_cannot_hold_the_master_and_names_switch_containers(tmp_path):
    src = master(tmp_path / "scan.mkv", "ffv1", "yuv422p10le")
    result = colour(src, tmp_path / "access.mp4")  # an access copy of an FFV1 master
    assert result.codec == "H.264" and stream_of(result.output)[:2] == ("h264", "yuv422p10le")
    warnings = []
    result = colour(make_clip(tmp_path / "film.mp4", frames=12), None, codec="prores", warnings=warnings)
    assert result.output == tmp_path / "film_color.mov" and stream_of(result.output)[:3] == ("prores", "yuv422p10le", "HQ")
    assert warnings == [f"{tmp_path / 'film.mp4'}: vidcolor does not write ProRes video to .mp4 files; "
                        "writing film_color.mov instead (-o chooses another name)"]


# --- each codec through the pipeline --------------------------------------------------------------

def test_ffv1_master_comes_back_ffv1_at_its_depth_with_the_luma_bit_exact(tmp_path):
    for pix_fmt in ("yuv422p10le", "yuv420p12le"):
        src = master(tmp_path / f"{pix_fmt}.mkv", "ffv1", pix_fmt)
        result = colour(src, None)  # several segments, joined
        assert result.output.suffix == ".mkv" and result.codec == "FFV1"
        (src_fmt, before), (out_fmt, after) = decoded(src), decoded(result.output)
        assert stream_of(result.output)[0] == "ffv1" and out_fmt == src_fmt == pix_fmt
        assert len(after) == 12 and all(np.array_equal(a, b) for (_, a), (_, b) in zip(after, before))
        assert [t for t, _ in after] == pytest.approx([t for t, _ in before], abs=1e-6)
        assert len({plane.tobytes() for plane in chroma_of(result.output)}) > 1  # coloured, not the flat source chroma


def chroma_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [np.frombuffer(f.planes[1], np.uint8).copy() for f in c.decode(video=0)]


def test_prores_master_keeps_its_profile_and_an_8_bit_film_becomes_10_bit_prores_exactly(tmp_path):
    src = master(tmp_path / "reel.mov", "prores_ks", "yuv422p10le", profile="standard")
    result = colour(src, None)
    assert result.output.name == "reel_color.mov" and stream_of(result.output) == ("prores", "yuv422p10le", "Standard", "apcn")
    (_, before), (_, after) = decoded(src), decoded(result.output)
    # ProRes is lossy: on this sawtooth of a picture, 1 % of the range on average
    assert len(after) == 12 and np.mean([np.abs(a.astype(int) - b).mean() for (_, a), (_, b) in zip(after, before)]) < 16
    eight = make_clip(tmp_path / "eight.mp4", frames=12)
    result = colour(eight, tmp_path / "eight.mkv", codec="prores")
    (_, before), (_, after) = decoded(eight), decoded(result.output)
    # 8-bit codes become 10-bit ones by a shift (16 -> 64, 235 -> 940), then ProRes' own loss (swscale's
    # stretch of full-range luma would be off by up to 3 everywhere)
    errors = [np.abs(a.astype(int) - (b.astype(int) << 2)) for (_, a), (_, b) in zip(after, before)]
    assert np.mean([e.mean() for e in errors]) < 1 and max(e.max() for e in errors) <= 16


@pytest.mark.parametrize("suffix,tag", [(".mp4", "hvc1"), (".mkv", None)])
def test_hevc_at_crf_0_is_lossless_and_tagged_for_apple_players_in_mp4(tmp_path, suffix, tag):
    src = master(tmp_path / "phone.mkv", "libx265", "yuv420p10le", **{"x265-params": "log-level=error"})
    result = colour(src, tmp_path / f"out{suffix}", crf=0)
    name, pix_fmt, _, codec_tag = stream_of(result.output)
    assert (name, pix_fmt, result.codec) == ("hevc", "yuv420p10le", "HEVC") and (tag is None or codec_tag == tag)
    (_, before), (_, after) = decoded(src), decoded(result.output)
    assert len(after) == 12 and all(np.array_equal(a, b) for (_, a), (_, b) in zip(after, before))


def test_8_bit_4_2_2_stays_4_2_2_with_the_luma_bit_exact(tmp_path):
    src = master(tmp_path / "tape.mkv", "ffv1", "yuv422p")
    result = colour(src, tmp_path / "tape.mp4", crf=0)
    assert stream_of(result.output)[:2] == ("h264", "yuv422p")
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(read_video(result.output), read_video(src)))


def frame_sar(path: Path) -> str:
    """The first frame's own sample aspect ratio, as FFmpeg's showinfo filter reports it (PyAV has no getter)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frame = next(c.decode(stream))
        graph = av.filter.Graph()
        source, show, sink = graph.add_buffer(template=stream), graph.add("showinfo"), graph.add("buffersink")
        source.link_to(show)
        show.link_to(sink)
        graph.configure()
        level = av.logging.get_level()
        av.logging.set_level(av.logging.INFO)
        try:
            with av.logging.Capture() as logs:
                graph.push(frame)
                graph.pull()
        finally:
            av.logging.set_level(level)
    return next(line.split(" sar:")[1].split()[0] for _, _, line in logs if " sar:" in line)


@pytest.mark.parametrize("codec,suffix", [("hevc", ".mp4"), ("hevc", ".mkv"), ("ffv1", ".mkv"), ("prores", ".mov")])
def test_display_properties_are_kept_in_every_codec(tmp_path, codec, suffix):
    src = make_clip(tmp_path / "phone.mp4", rotation=-90, sar=Fraction(4, 3), color=(5, 6, 5, 1), frames=4)
    info = probe_video(src)
    chosen = choose_codec(codec, info, tmp_path / f"out{suffix}")
    info = frames_for(info, chosen)
    with VideoWriter(info, tmp_path / f"out{suffix}", codec=chosen) as writer:
        for f in decode_frames(src, info):
            writer.write(f.y, f.u, f.v, f.pts)
    before, after = picture(src), picture(tmp_path / f"out{suffix}")
    assert (after["rotation"], after["tags"]) == (before["rotation"], before["tags"])
    # FFV1 codes the aspect ratio in each frame (PyAV cannot give Matroska's muxer the stream's)
    assert (after["sar"] if codec != "ffv1" else frame_sar(tmp_path / f"out{suffix}")) in (Fraction(4, 3), "4/3")


@pytest.mark.parametrize("codec,suffix", [("ffv1", ".mkv"), ("prores", ".mov"), ("hevc", ".mp4")])
def test_interlaced_film_keeps_its_field_order_in_every_codec(tmp_path, codec, suffix):
    src = make_clip(tmp_path / "tape.mkv", fields="bff", frames=8)
    result = colour(src, tmp_path / f"out{suffix}", codec=codec)
    with av.open(str(result.output)) as c:
        stream = c.streams.video[0]
        frame = next(c.decode(stream))
        # HEVC is coded progressive (FFmpeg decodes HEVC fields as half-height pictures) and flagged
        assert stream.codec_context.field_order == 3 and frame.interlaced_frame == (codec != "hevc")


# --- determinism and resuming, per codec -----------------------------------------------------------

@pytest.mark.parametrize("codec,suffix", [("hevc", ".mkv"), ("ffv1", ".mkv"), ("prores", ".mov")])
def test_each_codec_gives_identical_packets_run_twice_or_stopped_and_resumed(tmp_path, codec, suffix):
    film = write_film(tmp_path / "film.mp4", textured_frames(160, 120, 48))
    first = video_packets(colour(film, tmp_path / f"first{suffix}", codec=codec, render_size=64).output)
    second = video_packets(colour(film, tmp_path / f"second{suffix}", codec=codec, render_size=64).output)
    assert len(first) == 48 and second == first
    out = tmp_path / f"resumed{suffix}"
    with pytest.raises(RuntimeError):
        colour(film, out, codec=codec, render_size=64, colorizer=StopsAt(ToyColorizer(), 4, RuntimeError))
    assert any(parts_folder(out).glob("segment-*.json")) and not out.exists()
    warnings = []
    result = colour(film, out, codec=codec, render_size=64, resume=True, warnings=warnings)
    assert result.resumed_frames > 0 and not warnings
    assert video_packets(out) == first


def test_a_resume_with_another_codec_starts_over(tmp_path):
    film = write_film(tmp_path / "film.mp4", textured_frames(160, 120, 48))
    out = tmp_path / "out.mkv"
    with pytest.raises(RuntimeError):
        colour(film, out, codec="ffv1", colorizer=StopsAt(ToyColorizer(), 4, RuntimeError))
    warnings = []
    result = colour(film, out, codec="h264", resume=True, warnings=warnings)
    assert result.resumed_frames == 0 and stream_of(out)[0] == "h264" and len(video_packets(out)) == 48
    assert len(warnings) == 1 and "starting over" in warnings[0] and "codec" in warnings[0]


def test_batch_names_outputs_for_the_codec(tmp_path, monkeypatch):
    import toy_colorizer

    toy_colorizer.install({}, monkeypatch)
    src = tmp_path / "src"
    src.mkdir()
    make_clip(src / "film.mp4", frames=8)
    master(src / "scan.mkv", "ffv1", "yuv420p10le", frames=8)
    run_batch(src, tmp_path / "auto", RemasterOptions.of(render_size=48), progress=False)
    assert stream_of(tmp_path / "auto" / "film_color.mp4")[0] == "h264"
    assert stream_of(tmp_path / "auto" / "scan_color.mkv")[:2] == ("ffv1", "yuv420p10le")
    run_batch(src, tmp_path / "prores", RemasterOptions.of(render_size=48, codec="prores"), progress=False)
    assert sorted(p.name for p in (tmp_path / "prores").glob("*_color.*")) == ["film_color.mov", "scan_color.mkv"]
    assert {stream_of(p)[0] for p in (tmp_path / "prores").glob("*_color.*")} == {"prores"}
