"""Which of a film's streams is which, and what of them an output keeps (used by read.py and write.py).

- The main video stream: the largest picture that is not cover art; among equally large ones the
  default, then the first. (Not the default first: FFmpeg's muxers flag the first video track of a
  file default when none is, so a thumbnail track ahead of the film would win.) The other video
  streams are not coloured, and a warning names them.
- Side streams, copied untouched where the output container can hold them: sound, subtitles,
  cover art (MP4: a picture track; Matroska: an image attachment) and Matroska attachments.
- Metadata carried over: the container's tags and chapters, each stream's tags (title, language,
  ...) and dispositions (default, forced, ...), minus what describes the old encoding.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from fractions import Fraction

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

Disposition = av.stream.Disposition

# AVFieldOrder
FIELD_UNKNOWN, FIELD_PROGRESSIVE, FIELD_TT, FIELD_BB, FIELD_TB, FIELD_BT = range(6)
# Field orders, as the encoders take them: which field is shown first.
SHOWN_FIRST = {FIELD_TT: "tff", FIELD_BT: "tff", FIELD_BB: "bff", FIELD_TB: "bff"}

# MPEG program stream muxers (FFmpeg's names).
MPEG_PS_FORMATS = frozenset({"mpeg", "vob", "dvd", "svcd", "vcd"})
# Containers that hold cover art, and the picture codecs each takes (None: any).
COVER_FORMATS: dict[str, frozenset[str] | None] = {"mp4": frozenset({"mjpeg", "png", "bmp"}), "matroska": None}
ATTACHMENT_FORMATS = frozenset({"matroska"})
# Subtitles a container cannot hold as they are, carried as text where it holds that: an MP4's
# mov_text goes into Matroska as SubRip (its styling, rarely used, is left out).
AS_TEXT = {"mov_text": "subrip"}
# The containers a warning suggests for a side stream the output cannot carry, in that order.
_HOLDERS = ((".mp4", "mp4"), (".mkv", "matroska"), (".mov", "mov"))
COVER_MIMETYPES = {"mjpeg": ("image/jpeg", "jpg"), "png": ("image/png", "png"), "bmp": ("image/bmp", "bmp"),
                   "gif": ("image/gif", "gif"), "webp": ("image/webp", "webp"), "tiff": ("image/tiff", "tif")}

# Tags that describe a file's or a track's old encoding or muxing, not its content (lower case).
_CONTAINER_TAGS_DROPPED = frozenset({"encoder", "major_brand", "minor_version", "compatible_brands"})
_TRACK_TAGS_DROPPED = frozenset({"duration", "vendor_id", "number_of_frames", "number_of_bytes", "bps",
                                 "_statistics_tags", "_statistics_writing_app", "_statistics_writing_date_utc"})
_DEFAULT_HANDLERS = frozenset({"VideoHandler", "SoundHandler", "SubtitleHandler"})


def codec_names(stream) -> tuple[str, ...]:
    """The names a muxer may list a stream's codec under: the codec id's first ("dts", "mp3",
    "subrip"), then the implementation's ("dca", "mp3float", "srt"); () if PyAV does not know it."""
    codec = stream.codec_context.codec if stream.codec_context is not None else None
    return (codec.canonical_name, codec.name) if codec is not None else ()


def first_field(field_order: int) -> int | None:
    """Which rows an interlaced film shows first: 0 (the top field) or 1 (the bottom); None if progressive."""
    shown = SHOWN_FIRST.get(field_order)
    return None if shown is None else 0 if shown == "tff" else 1


def is_cover(stream) -> bool:
    return stream.type == "video" and bool(stream.disposition & Disposition.attached_pic)


def _area(stream) -> int:
    cc = stream.codec_context
    return (cc.width or 0) * (cc.height or 0) if cc is not None else 0


def main_video_stream(container):
    """The video stream to colour (see the module's note), or None if there is none."""
    films = [s for s in container.streams.video if not is_cover(s)]
    if not films:
        return None
    return max(films, key=lambda s: (_area(s), bool(s.disposition & Disposition.default), -s.index))


def other_videos(container, main) -> tuple[tuple[int, str, int, int], ...]:
    """(index, codec, width, height) of the video streams besides `main` that are not cover art."""
    return tuple((s.index, (codec_names(s) or ("unknown",))[0], s.codec_context.width, s.codec_context.height)
                 for s in container.streams.video if s.index != main.index and not is_cover(s))


def side_streams(container) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """(index, kind, codec names) of the streams a remaster copies: kind is "audio", "subtitle",
    "cover" or "attachment". Data streams (timecodes, an MP4's chapter track) are not copied;
    chapters are carried as chapters."""
    found = []
    for stream in container.streams:
        kind = "cover" if is_cover(stream) else stream.type
        if kind in ("audio", "subtitle", "cover", "attachment"):
            found.append((stream.index, kind, codec_names(stream)))
    return tuple(found)


def cannot_carry(format_name: str, supported: set[str], kind: str, names: tuple[str, ...]) -> bool:
    """Whether a `format_name` container cannot hold a copy of a side stream."""
    if kind == "attachment":
        return format_name not in ATTACHMENT_FORMATS
    if kind == "cover":
        allowed = COVER_FORMATS.get(format_name, frozenset())
        return not names or (allowed is not None and not set(names) & allowed)
    return bool(names) and not set(names) & supported


def text_codec(supported: set[str], kind: str, names: tuple[str, ...]) -> str | None:
    """The text codec in which a container that holds `supported` carries a subtitle stream it cannot
    hold as it is (SubRip, for an MP4's mov_text in Matroska); None if none."""
    if kind != "subtitle":
        return None
    return next((AS_TEXT[name] for name in names if AS_TEXT.get(name) in supported), None)


def as_text_packet(packet):
    """A mov_text packet as plain text (SubRip's packets) with the same times, or None where it says
    nothing (the gaps an MP4 keeps between lines). A mov_text (3GPP timed text) sample is a 16-bit
    length, the UTF-8 text, then style boxes, which are left out."""
    data = bytes(packet)
    text = data[2 : 2 + int.from_bytes(data[:2], "big")] if len(data) >= 2 else b""
    if not text.strip():
        return None
    converted = av.Packet(text)
    converted.pts, converted.dts, converted.duration = packet.pts, packet.dts, packet.duration
    converted.time_base = packet.time_base
    return converted


def containers_holding(kind: str, names: tuple[str, ...], but: str) -> list[str]:
    """The suffixes of the containers a film is written to that hold such a side stream (as it is, or
    as text), other than `but` (a format name): what a warning suggests to keep it."""
    return [suffix for suffix, format_name in _HOLDERS if format_name != but and (
        not cannot_carry(format_name, _supported_codecs(format_name), kind, names)
        or text_codec(_supported_codecs(format_name), kind, names))]


@functools.lru_cache(maxsize=None)
def _supported_codecs(format_name: str) -> frozenset[str]:
    with av.open(io.BytesIO(), mode="w", format=format_name) as container:  # writes nothing
        return frozenset(container.supported_codecs)


def display_matrix(container, stream, max_packets: int = 64) -> tuple[int, ...] | None:
    """The stream's display matrix (rotation, flips; FFmpeg's 9 int32 layout), as its first decoded
    frame carries it, or None. PyAV exposes no stream side data: this decodes one frame."""
    try:
        for packet in itertools.islice(container.demux(stream), max_packets):
            for frame in stream.decode(packet):
                data = frame.side_data.get(SideDataType.DISPLAYMATRIX)
                return tuple(np.frombuffer(bytes(data), np.int32).tolist()) if data is not None else None
    except av.FFmpegError:
        pass
    return None


def sample_aspect_ratio(stream) -> Fraction | None:
    sar = stream.sample_aspect_ratio
    return Fraction(sar) if sar else None


def container_tags(container) -> dict[str, str]:
    return {k: v for k, v in container.metadata.items() if k.lower() not in _CONTAINER_TAGS_DROPPED}


def track_tags(stream, *, reencoded: bool) -> dict[str, str]:
    """A stream's tags for its copy (or its re-encoding): an MP4's track name becomes the title."""
    tags = dict(stream.metadata)
    if "name" in tags and stream.container.format.name.startswith("mov"):
        tags.setdefault("title", tags.pop("name"))
    if tags.get("handler_name") in _DEFAULT_HANDLERS:
        del tags["handler_name"]
    dropped = _TRACK_TAGS_DROPPED | ({"encoder"} if reencoded else set())
    return {k: v for k, v in tags.items() if k.lower() not in dropped and not k.lower().startswith("_statistics")}


def carry_tags(source_stream, out_stream, *, reencoded: bool) -> None:
    """The source stream's tags and dispositions onto its copy in an output."""
    out_stream.metadata.update(track_tags(source_stream, reencoded=reencoded))
    out_stream.disposition = int(source_stream.disposition) & ~int(Disposition.attached_pic)


def carry_container_tags(source, out) -> None:
    out.metadata.update(container_tags(source))
    chapters = source.chapters()
    if chapters and out.format.name != "avi" and out.format.name not in MPEG_PS_FORMATS:
        out.set_chapters(chapters)


def cover_pictures(path, indices: list[int]) -> dict[int, bytes]:
    """The picture of each cover-art stream: FFmpeg hands them out before any other packet."""
    if not indices:
        return {}
    with av.open(str(path)) as container:
        streams = [container.streams[i] for i in indices]
        pictures: dict[int, bytes] = {}
        for packet in itertools.islice(container.demux(*streams), 2 * len(streams)):
            if packet.size and packet.stream.index not in pictures:
                pictures[packet.stream.index] = bytes(packet)
        return pictures


def add_cover(out, stream, picture: bytes) -> av.Packet | None:
    """Cover art into `out`: an image attachment in Matroska (None), or a picture track in MP4
    (the picture's packet, to be muxed once the file is started)."""
    name = (codec_names(stream) or ("mjpeg",))[0]
    if out.format.name == "matroska":
        mimetype, ext = COVER_MIMETYPES.get(name, ("application/octet-stream", "bin"))
        attached = out.add_attachment(stream.metadata.get("filename", f"cover.{ext}"),
                                      stream.metadata.get("mimetype", mimetype), picture)
        attached.metadata.update({k: v for k, v in track_tags(stream, reencoded=False).items()
                                  if k not in ("filename", "mimetype")})
        return None
    copy = out.add_stream_from_template(stream, opaque=True)
    carry_tags(stream, copy, reencoded=False)
    copy.disposition = Disposition.attached_pic
    packet = av.Packet(picture)
    packet.stream, packet.time_base, packet.pts, packet.dts, packet.is_keyframe = copy, Fraction(1, 90000), 0, 0, True
    return packet


def movie_timescale(time_bases: list[Fraction], limit: int = 1_000_000) -> int | None:
    """A clock for an MP4/MOV's movie header and edit lists that every stream's start time fits
    exactly (FFmpeg's default, 1/1000 s, moves e.g. an MPEG-PS file's sound start by up to 1 ms)."""
    clock = 1
    for time_base in time_bases:
        if time_base:
            clock = math.lcm(clock, Fraction(time_base).denominator)
    return clock if 1000 < clock <= limit else None
