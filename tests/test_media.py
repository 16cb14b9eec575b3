"""Tests for vidcolor.media with tiny clips made by PyAV in tmp_path."""

from __future__ import annotations

import errno
import threading
from fractions import Fraction

import av
import numpy as np
import pytest
from clips import (
    audio_packets,
    bad_inputs,
    make_clip,
    one_line_naming,
    read_video,
    transcode,
)

from vidcolor.errors import InputError, OutputError
from vidcolor.media import VideoInfo, VideoWriter, check_output, YuvFrame, decode_frames, decode_small_luma, encoder_threads, probe_video


VFR_PTS = [0, 40, 80, 160, 193, 233, 400, 440, 480, 530, 560, 600]


# --- probe ------------------------------------------------------------------------------

def test_probe_25fps_mp4_with_aac(tmp_path):
    info = probe_video(make_clip(tmp_path / "a.mp4", audio="aac"))
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.fps, info.frame_count) == (64, 48, 25, 20)
    assert info.audio_streams == 1 and info.subtitle_streams == 0
    assert info.duration == pytest.approx(0.8, abs=0.05)
    assert not info.full_range and info.matrix == "bt601"
    assert info.path == tmp_path / "a.mp4"


def test_probe_ntsc_mkv_estimates_frames(tmp_path):
    info = probe_video(make_clip(tmp_path / "b.mkv", rate=Fraction(30000, 1001), audio="pcm_s16le"))
    assert info.fps == Fraction(30000, 1001)
    assert info.time_base == Fraction(1, 1000)
    assert info.frame_count == 20  # mkv has no frame count: estimated from duration
    assert info.audio_streams == 1


def test_probe_full_range_and_bt709_tag(tmp_path):
    assert probe_video(make_clip(tmp_path / "j.mp4", pix_fmt="yuvj420p")).full_range
    assert probe_video(make_clip(tmp_path / "t.mp4", colorspace=1)).matrix == "bt709"


# --- round trip ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["25fps-lossless", "ntsc", "vfr"])
def test_round_trip_keeps_timestamps_and_luma(tmp_path, case):
    if case == "25fps-lossless":
        src, crf = make_clip(tmp_path / "in.mp4", frames=24), 0
    elif case == "ntsc":
        src, crf = make_clip(tmp_path / "in.mp4", rate=Fraction(30000, 1001)), 18
    else:
        src, crf = make_clip(tmp_path / "in.mp4", frames=len(VFR_PTS), time_base=Fraction(1, 1000),
                             pts=VFR_PTS), 18
    out = transcode(src, tmp_path / "out.mp4", crf=crf)
    before, after = read_video(src), read_video(out)
    assert len(after) == len(before)
    assert np.allclose([t for t, _ in after], [t for t, _ in before], rtol=0, atol=1e-6)
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for (_, a), (_, b) in zip(before, after)]
    assert max(diffs) == 0 if crf == 0 else max(diffs) < 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_color_tags_follow_source(tmp_path):
    src = make_clip(tmp_path / "in.mp4", colorspace=1, frames=4)
    info = probe_video(transcode(src, tmp_path / "out.mp4"))
    assert (info.matrix, info.full_range) == ("bt709", False)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert (c.streams.video[0].codec_context.colorspace, c.streams.video[0].codec_context.color_range) == (1, 1)


def test_pts_none_uses_frame_index(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10)
    info = probe_video(src)
    with VideoWriter(info, tmp_path / "out.mp4") as writer:
        for f in decode_frames(src, info):
            writer.write(f.y, f.u, f.v, None)
    assert [t for t, _ in read_video(tmp_path / "out.mp4")] == pytest.approx([i / 25 for i in range(10)])


def test_write_from_another_thread(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10)
    info = probe_video(src)
    writer = VideoWriter(info, tmp_path / "out.mp4")
    frames = list(decode_frames(src, info))
    thread = threading.Thread(target=lambda: [writer.write(f.y, f.u, f.v, f.pts) for f in frames])
    thread.start()
    thread.join()
    writer.close()
    assert len(read_video(tmp_path / "out.mp4")) == 10


def test_full_range_source_stays_full_range(tmp_path):
    src = make_clip(tmp_path / "in.mp4", pix_fmt="yuvj420p", frames=8)
    out = transcode(src, tmp_path / "out.mp4", crf=0)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.color_range == 2
    assert probe_video(out).full_range and probe_video(out).matrix == "bt601"
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(read_video(src), read_video(out)))


# --- audio copy -----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,codec", [(".mp4", "aac"), (".mkv", "pcm_s16le")])
def test_audio_packets_copied_bit_exact(tmp_path, suffix, codec):
    src = make_clip(tmp_path / f"in{suffix}", audio=codec)
    out = transcode(src, tmp_path / f"out{suffix}")
    before, after = audio_packets(src), audio_packets(out)
    assert [b for _, b in after] == [b for _, b in before]
    assert np.allclose([t for t, _ in after], [t for t, _ in before], rtol=0, atol=1e-6)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == codec


def test_subtitles_copied_to_mkv_and_skipped_for_mp4(tmp_path):
    src = make_clip(tmp_path / "in.mkv", audio="pcm_s16le", subtitles=True, frames=20)
    assert probe_video(src).subtitle_streams == 1

    def subtitle_packets(path):
        with av.open(str(path)) as c:
            return [(p.pts, bytes(p)) for p in c.demux(subtitles=0) if p.size]

    transcode(src, tmp_path / "out.mkv")
    assert subtitle_packets(tmp_path / "out.mkv") == subtitle_packets(src) == [(0, b"First line"),
                                                                              (300, b"Second line")]
    check = check_output(probe_video(src), tmp_path / "out.mp4")
    assert len(check.warnings) == 1 and "subtitle stream #2 (subrip)" in check.warnings[0] and ".mkv" in check.warnings[0]
    assert check.format_name == "mp4" and not (tmp_path / "out.mp4").exists()  # the check wrote nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.mkv"]
    with VideoWriter(probe_video(src), tmp_path / "out.mp4") as writer:
        assert writer.warnings == list(check.warnings)
        for f in decode_frames(src):
            writer.write(f.y, f.u, f.v, f.pts)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert (len(c.streams.audio), len(c.streams.subtitles)) == (1, 0)


def test_copy_audio_false_drops_audio(tmp_path):
    src = make_clip(tmp_path / "in.mp4", audio="aac", frames=6)
    with av.open(str(transcode(src, tmp_path / "out.mp4", copy_audio=False))) as c:
        assert len(c.streams.audio) == 0


def test_audio_codec_container_cannot_hold(tmp_path):
    src = make_clip(tmp_path / "in.mkv", audio="pcm_u8", frames=6)
    with pytest.raises(OutputError) as e:
        VideoWriter(probe_video(src), tmp_path / "out.mp4")
    assert one_line_naming(e.value, tmp_path / "out.mp4") and "pcm_u8" in str(e.value) and ".mkv" in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == ["in.mkv"]


# --- sizes, pixel formats, containers ---------------------------------------------------------

def test_odd_size_keeps_its_size(tmp_path):  # 161x121 and the pipeline: test_archive_io.py
    src = make_clip(tmp_path / "in.mkv", size=(65, 47), codec="ffv1", frames=6)
    info = probe_video(src)
    assert (info.width, info.height) == (65, 47)
    first = next(decode_frames(src, info))
    assert first.y.shape == (47, 65) and first.u.shape == (24, 33) and first.v.shape == (24, 33)
    out = transcode(src, tmp_path / "out.mp4", crf=0)
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (65, 47)
    for (_, a), (_, b) in zip(read_video(src), read_video(out)):
        assert b.shape == (47, 65) and np.array_equal(b, a)
    back = next(decode_frames(out))
    assert back.u.shape == first.u.shape and np.abs(back.u.astype(int) - first.u).max() <= 1


def test_tinted_source_luma_untouched(tmp_path):
    src = make_clip(tmp_path / "sepia.mp4", chroma=(100, 150), frames=6)
    with av.open(str(src)) as c:
        refs = [f.reformat(format="gray", src_color_range="JPEG", dst_color_range="JPEG").to_ndarray()
                for f in c.decode(video=0)]
    frames = list(decode_frames(src))
    assert len(frames) == len(refs)
    for f, ref in zip(frames, refs):
        assert isinstance(f, YuvFrame) and f.y.dtype == np.uint8
        assert np.abs(f.y.astype(int) - ref).max() <= 1
        assert abs(f.u.mean() - 100) < 3 and abs(f.v.mean() - 150) < 3


@pytest.mark.parametrize("codec,pix_fmt", [("ffv1", "gray"), ("ffv1", "yuv422p"), ("ffv1", "yuv420p10le"),
                                           ("ffv1", "bgr0"), ("libx264", "yuvj420p")])
def test_other_pixel_formats_become_planar_yuv(tmp_path, codec, pix_fmt):
    src = make_clip(tmp_path / "in.mkv", codec=codec, pix_fmt=pix_fmt, frames=4)
    info = probe_video(src)
    with av.open(str(src)) as c:
        raw = [f for f in c.decode(video=0)]
        assert raw[0].format.name == pix_fmt
        if pix_fmt == "bgr0":  # expected luma: full-range BT.601 of the decoded RGB
            rgb = [f.to_ndarray(format="rgb24").astype(float) for f in raw]
            refs = [r[..., 0] * 0.299 + r[..., 1] * 0.587 + r[..., 2] * 0.114 for r in rgb]
        elif pix_fmt == "yuv420p10le":  # kept at 10 bits (test_depth.py)
            refs = [f.to_ndarray()[:48].astype(float) for f in raw]
        else:
            refs = [np.frombuffer(f.planes[0], np.uint8).reshape(48, -1)[:, :64].astype(float) for f in raw]
    frames = list(decode_frames(src, info))
    assert len(frames) == 4
    for f, ref in zip(frames, refs):
        deep = pix_fmt == "yuv420p10le"
        chroma = (48, 32) if pix_fmt == "yuv422p" else (24, 32)  # 4:2:2 stays 4:2:2 (H.264 High 4:2:2)
        assert f.y.shape == (48, 64) and f.u.shape == chroma and f.y.dtype == (np.uint16 if deep else np.uint8)
        assert np.abs(f.y - ref).max() <= (0 if pix_fmt in ("gray", "yuv422p", "yuvj420p", "yuv420p10le") else 2)


@pytest.mark.parametrize("suffix", [".mkv", ".mov", ".avi"])
def test_output_containers(tmp_path, suffix):
    src = make_clip(tmp_path / "in.mkv", audio="pcm_s16le", frames=12)
    out = transcode(src, tmp_path / f"out{suffix}")
    frames = read_video(out)
    assert len(frames) == 12
    if suffix != ".avi":  # PyAV's own pts guess for AVI is one frame late; decode_frames is checked below
        assert [t for t, _ in frames] == pytest.approx([i / 25 for i in range(12)], abs=1e-3)
    # PCM has no packets of its own: MOV regroups the samples, so compare the bytes
    assert b"".join(b for _, b in audio_packets(out)) == b"".join(b for _, b in audio_packets(src))
    assert probe_video(out).frame_count == 12
    assert [f.pts * probe_video(out).time_base for f in decode_frames(out)] == [Fraction(i, 25) for i in range(12)]


def test_avi_with_b_frames_gets_presentation_times(tmp_path):
    # AVI stores no pts; with B-frames the demuxer's guesses come out shuffled
    src = tmp_path / "in.avi"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.options = 64, 48, {"preset": "veryfast", "bf": "3"}
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    frames = list(decode_frames(src))
    assert len(frames) == 20
    pts = [f.pts for f in frames]
    assert pts == list(range(pts[0], pts[0] + 20))
    assert np.all(np.diff([f.y.mean() for f in frames]) > 0)  # frames really are in display order
    out = transcode(src, tmp_path / "out.avi")
    assert [f.pts for f in decode_frames(out)] == pts


def test_aac_priming_offset_kept_in_mkv(tmp_path):
    # AAC in mp4 starts at a negative time; Matroska shifts every stream to start at 0,
    # which must keep the audio/video offset.
    src = make_clip(tmp_path / "in.mp4", audio="aac", frames=12)
    out = transcode(src, tmp_path / "out.mkv")

    def offset(path):
        return read_video(path)[0][0] - audio_packets(path)[0][0]

    assert offset(out) == pytest.approx(offset(src), abs=1e-3)
    assert len(read_video(out)) == 12


# --- input errors ------------------------------------------------------------------------------

def test_bad_inputs_raise_one_line_input_errors(tmp_path):
    for name, path in bad_inputs(tmp_path).items():
        with pytest.raises(InputError) as e:
            probe_video(path)
        assert one_line_naming(e.value, path), (name, str(e.value))


def test_truncated_mkv_warns_and_decodes_what_it_can(tmp_path):
    whole = make_clip(tmp_path / "whole.mkv", frames=30, codec="ffv1").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 2])
    messages: list[str] = []
    frames = list(decode_frames(cut, on_warning=messages.append))
    assert 5 < len(frames) < 25
    assert any(f"decoded {len(frames)} of about 30" in m and "cut.mkv" in m for m in messages)
    assert all("\n" not in m for m in messages)
    with pytest.warns(UserWarning, match="decoded"):
        assert len(list(decode_small_luma(cut, 16))) == len(frames)


def test_undecodable_packet_is_skipped_with_warning(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mkv", codec="ffv1", frames=10)
    info = probe_video(src)  # probing decodes a frame too: before the decoder is made flaky
    good = [f.pts for f in decode_frames(src, info)]
    original = av.video.stream.VideoStream.decode
    calls = {"n": 0}

    def flaky_decode(self, packet=None):
        calls["n"] += 1
        if calls["n"] == 4:
            raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
        return original(self, packet)

    monkeypatch.setattr(av.video.stream.VideoStream, "decode", flaky_decode)
    messages: list[str] = []
    frames = list(decode_frames(src, info, on_warning=messages.append))
    assert [f.index for f in frames] == list(range(9))
    assert [f.pts for f in frames] == good[:3] + good[4:]  # no shifted timestamps
    assert any("could not be decoded, skipped" in m and "in.mkv" in m for m in messages)
    calls["n"] = 0
    assert [i for i, _ in decode_small_luma(src, 16, on_warning=messages.append)] == list(range(9))


def test_nothing_decodable_is_an_input_error(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mkv", codec="ffv1", frames=4)

    def broken_decode(self, packet=None):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(av.video.stream.VideoStream, "decode", broken_decode)
    messages: list[str] = []
    with pytest.raises(InputError, match="no video frame could be decoded"):
        list(decode_frames(src, on_warning=messages.append))


# --- output errors ------------------------------------------------------------------------------

def test_existing_output_needs_force(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=6)
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"keep me")
    with pytest.raises(OutputError) as e:
        VideoWriter(probe_video(src), dest)
    assert one_line_naming(e.value, dest) and "already exists" in str(e.value)
    assert dest.read_bytes() == b"keep me"
    transcode(src, dest, force=True)
    assert len(read_video(dest)) == 6


@pytest.mark.parametrize("parent", ["missing_dir", "a_file"])
def test_unwritable_destination(tmp_path, parent):
    src = make_clip(tmp_path / "in.mp4", frames=4)
    (tmp_path / "a_file").write_text("x")
    dest = tmp_path / parent / "out.mp4"
    with pytest.raises(OutputError) as e:
        VideoWriter(probe_video(src), dest)
    assert one_line_naming(e.value, dest)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_exception_inside_with_leaves_nothing(tmp_path, error):
    src = make_clip(tmp_path / "in.mp4", frames=6, audio="aac")
    info = probe_video(src)
    with pytest.raises(error):
        with VideoWriter(info, tmp_path / "out.mp4") as writer:
            for f in decode_frames(src, info):
                writer.write(f.y, f.u, f.v, f.pts)
            raise error("stop")
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


def test_disk_full_becomes_output_error(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", frames=6, audio="aac")

    def full_disk(self, packets):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(av.container.OutputContainer, "mux", full_disk)
    with pytest.raises(OutputError) as e:
        transcode(src, tmp_path / "out.mp4")
    assert one_line_naming(e.value, tmp_path / "out.mp4") and "No space left on device" in str(e.value)
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]


# --- first pass ------------------------------------------------------------------------------

@pytest.mark.parametrize("size,short,expected", [((160, 120), 32, (32, 43)), ((48, 64), 24, (32, 24))])
def test_decode_small_luma_matches_frames(tmp_path, size, short, expected):
    src = make_clip(tmp_path / "in.mp4", size=size, frames=10)
    small = list(decode_small_luma(src, short))
    assert [i for i, _ in small] == [f.index for f in decode_frames(src)]
    assert all(g.shape == expected and g.dtype == np.uint8 for _, g in small)
    # same code values as the luma plane: a flat dark frame stays dark, not range-expanded
    assert small[0][1].min() >= 16 and small[0][1].max() <= 80


# --- encoder threads ------------------------------------------------------------------------

def test_small_frames_are_encoded_on_one_thread_larger_ones_as_x264_chooses(tmp_path, monkeypatch):
    monkeypatch.delenv("VIDCOLOR_ENCODER_THREADS", raising=False)
    assert encoder_threads(640, 480) == 1 and encoder_threads(160, 120) == 1
    assert encoder_threads(768, 576) == 0 and encoder_threads(1920, 1080) == 0
    src = make_clip(tmp_path / "in.mp4", size=(160, 120), frames=4)
    with VideoWriter(probe_video(src), tmp_path / "out.mp4") as writer:
        assert writer._encoder.stream.codec_context.thread_count == 1
        for f in decode_frames(src):
            writer.write(f.y, f.u, f.v, f.pts)
    assert len(read_video(tmp_path / "out.mp4")) == 4
    monkeypatch.setenv("VIDCOLOR_ENCODER_THREADS", "3")
    assert encoder_threads(160, 120) == 3
    monkeypatch.setenv("VIDCOLOR_ENCODER_THREADS", "many")
    with pytest.raises(OutputError, match="VIDCOLOR_ENCODER_THREADS='many'"):
        encoder_threads(160, 120)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".ts", ".avi", ".mpg", ".mov"])
def test_decoding_from_a_frame_gives_the_frames_decoded_from_the_start(tmp_path, suffix, monkeypatch):
    import vidcolor.media.read as read
    from vidcolor.media import decode_frames_from

    path = make_clip(tmp_path / f"film{suffix}", frames=60, gop=12, bframes=2, open_gop=True)
    info = probe_video(path)
    whole = list(decode_frames(path, info))
    frame_pts = [f.pts for f in whole]
    decoded, real = [], read._decode_packets

    def counting(*args):
        for packet, frames in real(*args):
            decoded.extend(frames or ())
            yield packet, frames

    monkeypatch.setattr(read, "_decode_packets", counting)
    seekable = None not in frame_pts
    # a wrong frame_pts (another film's) falls back to a decode from the start: the same frames
    for first, given in ((0, frame_pts), (29, frame_pts), (59, frame_pts), (29, [p + 1 for p in frame_pts]),
                         (29, None)):
        decoded.clear()
        from_there = list(decode_frames_from(path, info, first, None if given is None or not seekable else given))
        assert [f.index for f in from_there] == list(range(first if given is not None and seekable else 0, 60))
        for frame in from_there:
            for plane in "yuv":
                np.testing.assert_array_equal(getattr(frame, plane), getattr(whole[frame.index], plane))
            assert frame.pts == whole[frame.index].pts
        if (first, given) == (29, frame_pts) and suffix in (".mp4", ".mkv"):  # containers with an index
            assert len(decoded) <= 60 - 24 + 2  # from the key frame at 24 (two leading pictures of the open GOP)
