"""Archive-grade films (issue 12): the output keeps what the source says besides its pictures.

Display properties (rotation, sample aspect ratio, field order, colour tags), the exact size,
tags, dispositions, chapters, cover art and attachments, the right video stream, and an MPEG-PS
film's timestamps; each read back with plain PyAV. Most go through VideoWriter; the last tests
run whole remasters (segments joined by PacketRemuxer) with a small random-weight colorizer.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import (CHAPTERS, FONT, audio_packets, make_clip, make_tagged_clip, make_thumbnail_first_clip, png_bytes,
                   read_video, transcode)

from vidcolor.media import check_output, decode_frames, probe_video

D = av.stream.Disposition
TT, BB = 2, 3  # AVFieldOrder


def picture(path: Path) -> dict:
    """What the first video stream and its first frame say of the picture's display."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        cc = stream.codec_context
        frame = next(c.decode(stream))
        matrix = frame.side_data.get(av.sidedata.sidedata.Type.DISPLAYMATRIX)
        return {"size": (stream.width, stream.height), "frame_size": (frame.width, frame.height),
                "rotation": frame.rotation, "matrix": bytes(matrix) if matrix is not None else None,
                "sar": stream.sample_aspect_ratio, "field_order": cc.field_order,
                "interlaced": frame.interlaced_frame,
                "tags": (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range)}


def luma_equal(a: Path, b: Path) -> bool:
    before, after = read_video(a), read_video(b)
    return len(before) == len(after) and all(np.array_equal(x, y) for (_, x), (_, y) in zip(before, after))


# --- 1. display properties ---------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_rotation_and_sample_aspect_ratio_are_kept(tmp_path, suffix):
    src = make_clip(tmp_path / "phone.mp4", rotation=-90, sar=Fraction(4, 3), frames=6)
    before = picture(src)
    assert (before["rotation"], before["sar"]) == (-90, Fraction(4, 3))  # the clip is what the test needs
    after = picture(transcode(src, tmp_path / f"out{suffix}", crf=0))
    assert after["rotation"] == -90 and after["matrix"] == before["matrix"]
    assert after["sar"] == Fraction(4, 3)
    assert luma_equal(src, tmp_path / f"out{suffix}")


@pytest.mark.parametrize("color", [(1, 1, 1, 1), (5, 6, 5, 2), (6, 6, 6, 1), (9, 14, 9, 1)],
                         ids=["bt709", "pal-full-range", "ntsc", "bt2020"])
def test_colour_tags_are_kept(tmp_path, color):
    src = make_clip(tmp_path / "in.mkv", color=color, frames=4)
    assert picture(src)["tags"] == color
    primaries, trc, matrix, color_range = picture(transcode(src, tmp_path / "out.mp4"))["tags"]
    assert (primaries, trc, color_range) == (color[0], color[1], color[3])
    # the matrix tag says how the new chroma was computed: the source's where vidcolor computes
    # with it (BT.709, BT.601), else the one used (BT.709 at this size would be 601: 6)
    assert matrix == (color[2] if color[2] != 9 else 6)


@pytest.mark.parametrize("codec,fields,suffix", [("libx264", "tff", ".mkv"), ("libx264", "bff", ".mp4"),
                                                 ("mpeg2video", "tff", ".mpg"), ("mpeg2video", "bff", ".mkv")])
@pytest.mark.parametrize("out_suffix", [".mp4", ".mkv"])
def test_interlaced_source_keeps_its_field_order(tmp_path, codec, fields, suffix, out_suffix):
    src = make_clip(tmp_path / f"in{suffix}", codec=codec, fields=fields, frames=8)
    order = {"tff": TT, "bff": BB}[fields]
    assert probe_video(src).field_order == order and picture(src)["interlaced"]
    out = transcode(src, tmp_path / f"out{out_suffix}", crf=0)
    after = picture(out)
    assert after["field_order"] == order and after["interlaced"]  # coded interlaced, flagged alike
    assert luma_equal(src, out)
    assert [t for t, _ in read_video(out)] == pytest.approx([t for t, _ in read_video(src)], abs=1e-6)


def test_progressive_source_stays_progressive(tmp_path):
    after = picture(transcode(make_clip(tmp_path / "in.mp4", frames=4), tmp_path / "out.mkv"))
    assert after["field_order"] == 1 and not after["interlaced"]


# --- 2. size ------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_odd_size_161x121_comes_out_161x121(tmp_path, suffix):
    src = make_clip(tmp_path / "scan.mkv", size=(161, 121), codec="ffv1", frames=6, chroma=(110, 140))
    out = transcode(src, tmp_path / f"out{suffix}", crf=0)
    after = picture(out)
    assert after["size"] == after["frame_size"] == (161, 121)
    assert luma_equal(src, out)  # bit-exact
    for a, b in zip(decode_frames(src), decode_frames(out)):
        assert b.u.shape == a.u.shape == (61, 81) and np.abs(b.u.astype(int) - a.u).max() <= 1
        assert np.abs(b.v.astype(int) - a.v).max() <= 1


# --- 3. metadata ----------------------------------------------------------------------------------

def tags_of(path: Path) -> dict:
    """Container tags, chapters (seconds, title) and per stream (type, language, title, disposition)."""
    with av.open(str(path)) as c:
        streams = []
        for s in c.streams:
            if s.type == "data":  # an MP4's chapter text track
                continue
            title = s.metadata.get("title", s.metadata.get("name"))  # MP4 reads a track's title back as "name"
            streams.append((s.type, s.metadata.get("language"), title, int(s.disposition)))
        chapters = [(float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]), ch["metadata"]["title"])
                    for ch in c.chapters()]
        tags = {k.lower(): v for k, v in c.metadata.items() if k.lower() in ("title", "comment")}
        return {"tags": tags, "chapters": chapters, "streams": streams}


def attachments_of(path: Path) -> dict:
    """filename -> bytes of a Matroska's attachments and the covers' pictures."""
    found = {}
    with av.open(str(path)) as c:
        for s in c.streams:
            if s.type == "attachment":
                found[s.metadata["filename"]] = s.data
        covers = [s for s in c.streams if s.type == "video" and s.disposition & D.attached_pic]
        for s, packet in zip(covers, c.demux(*covers)):
            found[s.metadata.get("filename", "cover")] = bytes(packet)
    return found


def test_tags_dispositions_chapters_cover_and_attachments_kept_in_mkv(tmp_path):
    src = make_tagged_clip(tmp_path / "in.mkv")
    out = transcode(src, tmp_path / "out.mkv")
    expected = {"tags": {"title": "The Film", "comment": "reel 2 of 3"},
                "chapters": [(0.0, 0.2, "Opening"), (0.2, 0.48, "The end")],
                "streams": [("video", "fra", "Picture", D.default), ("audio", "ger", "Deutsch", D.default),
                            ("audio", "eng", "Commentary", D.comment), ("subtitle", "eng", "Signs", D.forced),
                            ("video", None, None, D.attached_pic), ("attachment", None, None, 0)]}
    assert tags_of(src) == tags_of(out) == expected
    assert attachments_of(out) == attachments_of(src) == {"cover.png": png_bytes(), "font.ttf": FONT}
    assert [c["metadata"]["title"] for c in CHAPTERS] == ["Opening", "The end"]


def test_what_an_mp4_can_hold_is_kept_and_the_rest_named(tmp_path):
    src = make_tagged_clip(tmp_path / "in.mkv")
    check = check_output(probe_video(src), tmp_path / "out.mp4")
    assert len(check.warnings) == 2
    assert "subtitle stream #3 (subrip)" in check.warnings[0] and "attachment #5" in check.warnings[1]
    out = transcode(src, tmp_path / "out.mp4")
    assert tags_of(out) == {"tags": {"title": "The Film", "comment": "reel 2 of 3"},
                            "chapters": [(0.0, 0.2, "Opening"), (0.2, 0.48, "The end")],
                            "streams": [("video", "fra", "Picture", D.default),
                                        ("audio", "ger", "Deutsch", D.default),
                                        ("audio", "eng", "Commentary", D.comment),
                                        ("video", None, None, D.attached_pic)]}
    assert attachments_of(out) == {"cover": png_bytes()}
    # and back from MP4 (its cover art and track names) into Matroska
    again = transcode(out, tmp_path / "again.mkv")
    assert tags_of(again)["streams"] == tags_of(out)["streams"]
    assert attachments_of(again) == {"cover.png": png_bytes()}


def test_mov_cannot_hold_cover_art_and_says_so(tmp_path):
    src = make_tagged_clip(tmp_path / "in.mp4")
    check = check_output(probe_video(src), tmp_path / "out.mov")
    assert check.warnings == (f"{tmp_path / 'out.mov'}: cover art #4 (png) cannot be carried into a .mov file "
                              "and was left out (use .mp4 or .mkv to keep it)",)


# --- 4. the right stream ----------------------------------------------------------------------------

def test_the_film_is_coloured_not_the_thumbnail_track_before_it(tmp_path):
    src = make_thumbnail_first_clip(tmp_path / "in.mp4")
    with av.open(str(src)) as c:  # FFmpeg flags the first track default: "default first" would pick the thumbnail
        assert [(s.width, bool(s.disposition & D.default)) for s in c.streams.video] == [(32, True), (96, False)]
    info = probe_video(src)
    assert (info.stream_index, info.width, info.height, info.frame_count) == (1, 96, 64, 12)
    check = check_output(info, tmp_path / "out.mkv")
    assert check.warnings == (f"{src}: video stream #0 (h264 32x24) is not coloured and was left out of out.mkv; "
                              "only stream #1 (96x64) is",)
    out = transcode(src, tmp_path / "out.mkv", crf=0)
    with av.open(str(out)) as c:
        assert [(s.width, s.height) for s in c.streams.video] == [(96, 64)]
    with av.open(str(src)) as c:
        film = [np.frombuffer(f.planes[0], np.uint8).reshape(64, -1)[:, :96] for f in c.decode(video=1)]
    assert len(film) == 12 and all(np.array_equal(a, b) for a, (_, b) in zip(film, read_video(out)))


# --- 5. MPEG-PS timestamps -----------------------------------------------------------------------------

def ps_film(tmp_path: Path) -> Path:
    """A DVD-like film: MPEG-2 video with B-frames and MP2 sound in an MPEG program stream (it
    starts at 0.5 s, where FFmpeg's muxer puts a film)."""
    return make_clip(tmp_path / "film.mpg", codec="mpeg2video", bframes=2, audio="mp2", audio_rate=48000, frames=24)


@pytest.mark.parametrize("suffix", [".mpg", ".mp4", ".mkv"])
def test_mpeg_ps_timestamps_are_kept(tmp_path, suffix):
    src = ps_film(tmp_path)
    before = [t for t, _ in read_video(src)]
    assert before[0] == pytest.approx(0.54) and len(before) == 24
    out = transcode(src, tmp_path / f"out{suffix}")
    info = probe_video(out)
    assert [f.pts * info.time_base for f in decode_frames(out, info)] == pytest.approx(before, abs=1e-6)
    with av.open(str(out)) as c:  # plain PyAV; H.264 in MPEG-PS stamps only frames that start a PES packet
        stamped = [(i, float(f.pts * f.time_base)) for i, f in enumerate(c.decode(video=0)) if f.pts is not None]
    assert stamped[0] == (0, pytest.approx(0.54, abs=1e-6))
    assert all(t == pytest.approx(before[i], abs=1e-6) for i, t in stamped)
    # the sound starts 10 ms before the picture, at 47698/90000 s: exact in MPEG-PS, to the sample in
    # MP4 (its sound track counts samples), to the millisecond in Matroska (all it stores)
    tolerance = {".mpg": 1e-6, ".mp4": 1 / 48000, ".mkv": 0.5e-3}[suffix]
    assert [t for t, _ in audio_packets(out)] == pytest.approx([t for t, _ in audio_packets(src)], abs=tolerance)
    assert [b for _, b in audio_packets(out)] == [b for _, b in audio_packets(src)]


# --- the same through a whole remaster: segments encoded apart, then joined -----------------------------

@pytest.fixture(scope="module")
def colorizer():
    import keras

    from vidcolor.model import chroma_bins
    from vidcolor.model import Colorizer, ModelConfig, build_colorizer

    keras.utils.set_random_seed(1)
    config = ModelConfig(head="classification", bins=chroma_bins.in_gamut_bins().tolist())
    return Colorizer(build_colorizer(config), config)


def remaster(src: Path, out: Path, colorizer):
    from vidcolor.options import RemasterOptions
    from vidcolor.film.remaster import remaster

    warnings: list[str] = []
    options = RemasterOptions.of(render_size=48, progress=False, crf=0, batch_size=4, segment_frames=8)
    return remaster(src, out, options, colorizer=colorizer, on_warning=warnings.append), warnings


@pytest.mark.parametrize("kind", ["phone-scan", "interlaced"])
def test_remaster_keeps_display_properties_and_size(tmp_path, colorizer, kind):
    if kind == "phone-scan":  # odd-sized, rotated, anamorphic, PAL-tagged
        src = make_clip(tmp_path / "in.mkv", size=(161, 121), codec="ffv1", rotation=-90, sar=Fraction(4, 3),
                        color=(5, 6, 5, 1), frames=20)
        out = tmp_path / "out.mp4"
    else:
        src = make_clip(tmp_path / "in.mkv", fields="bff", color=(6, 6, 6, 1), frames=20)  # NTSC-tagged tape
        out = tmp_path / "out.mkv"
    (result, _), before = remaster(src, out, colorizer), picture(src)
    assert result.frames == 20
    after = picture(out)
    for key in ("size", "frame_size", "rotation", "matrix", "sar", "interlaced", "tags"):
        assert after[key] == before[key], key
    assert after["field_order"] == (before["field_order"] or 1)  # FFV1 leaves it unknown; H.264 says progressive
    assert luma_equal(src, out)
    assert [t for t, _ in read_video(out)] == pytest.approx([t for t, _ in read_video(src)], abs=1e-6)


def test_remaster_keeps_tags_and_names_the_video_it_leaves_out(tmp_path, colorizer):
    src = make_tagged_clip(tmp_path / "tagged.mkv")
    remaster(src, tmp_path / "tagged_out.mkv", colorizer)
    assert tags_of(tmp_path / "tagged_out.mkv") == tags_of(src)
    assert attachments_of(tmp_path / "tagged_out.mkv") == attachments_of(src)

    src = make_thumbnail_first_clip(tmp_path / "two.mp4")
    result, warnings = remaster(src, tmp_path / "two_out.mp4", colorizer)
    left_out = [w for w in result.warnings if "video stream #0 (h264 32x24) is not coloured" in w]
    assert len(left_out) == 1 and left_out == [w for w in warnings if "video stream #0" in w]
    assert result.frames == 12 and picture(tmp_path / "two_out.mp4")["size"] == (96, 64)


def test_remaster_of_an_mpeg_ps_film_keeps_its_timestamps(tmp_path, colorizer):
    src = ps_film(tmp_path)
    result, _ = remaster(src, tmp_path / "film_color.mpg", colorizer)
    out = probe_video(result.output)
    assert [f.pts * out.time_base for f in decode_frames(result.output, out)] == pytest.approx(
        [t for t, _ in read_video(src)], abs=1e-6)
    assert audio_packets(result.output) == audio_packets(src)
