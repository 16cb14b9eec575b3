"""Tiny real media made with PyAV for the tests: clips with two shots, sound, odd sizes, VFR."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np
from av.codec.context import Flags

AUDIO_RATE = 8000


def field_marker(width: int, height: int, pix_fmt: str, time_base: Fraction, order: str):
    """frame -> the frame marked interlaced, `order` ("tff"/"bff") field first (FFmpeg's setfield)."""
    graph = av.filter.Graph()
    source = graph.add_buffer(width=width, height=height, format=pix_fmt, time_base=time_base)
    mark, sink = graph.add("setfield", order), graph.add("buffersink")
    source.link_to(mark)
    mark.link_to(sink)
    graph.configure()

    def marked(frame):
        graph.push(frame)
        return graph.pull()

    return marked


def luma_pattern(i: int, n: int, w: int, h: int) -> np.ndarray:
    """Two 'shots': a dark moving gradient, then a bright checker pattern."""
    yy, xx = np.mgrid[0:h, 0:w]
    if i < n // 2:
        return (16 + (xx * 2 + yy + i * 4) % 64).astype(np.uint8)
    return (140 + ((xx // 8 + yy // 8) % 2) * 60 + i).astype(np.uint8)


def make_clip(path: Path, *, size=(64, 48), frames=20, rate=25, time_base=None, pts=None,
              audio: str | None = None, codec="libx264", pix_fmt="yuv420p", chroma=(128, 128),
              colorspace: int | None = None, subtitles: bool = False, layout: str = "mono",
              rotation: float | None = None, sar: Fraction | None = None, fields: str | None = None,
              color: tuple[int, int, int, int] | None = None, bframes: int | None = None,
              audio_rate: int = AUDIO_RATE, gop: int | None = None, open_gop: bool = False) -> Path:
    """Write a small clip. pts (with time_base) gives explicit, possibly irregular timestamps.

    gop: frames from one key frame to the next (x264's default: 250); open_gop: x264's open GOPs.

    Display properties: rotation (degrees counter-clockwise, the display matrix), sar (sample
    aspect ratio), fields ("tff" or "bff": coded interlaced, frames marked with that field order),
    color (primaries, transfer, matrix, range: FFmpeg's numbers)."""
    w, h = size
    cw, ch = (w + 1) // 2, (h + 1) // 2
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = w, h, pix_fmt
        cc = video.codec_context
        if time_base is not None:
            cc.time_base = video.time_base = time_base
        if codec == "libx264":
            video.options = {"preset": "ultrafast"}
        if colorspace is not None:
            cc.colorspace = colorspace
        if bframes is not None:
            cc.max_b_frames = bframes
        if gop is not None:
            cc.gop_size = gop
        if open_gop:
            video.options = {**video.options, "x264-params": "open-gop=1"}
        if color is not None:
            cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = color
        if sar is not None:
            cc.sample_aspect_ratio = sar
        if rotation is not None:
            video.set_display_rotation(rotation)
        mark_fields = None
        if fields is not None:
            cc.flags = cc.flags | Flags.interlaced_dct | Flags.interlaced_me
            if codec == "libx264":  # x264 writes its headers before it sees the first frame's field order
                video.options = {**video.options, "x264-params": f"{fields}=1"}
            mark_fields = field_marker(w, h, pix_fmt, time_base or Fraction(1, rate), fields)
        astream = None
        if audio:
            astream = out.add_stream(audio, rate=audio_rate)
            astream.layout = layout
        if subtitles:  # pre-made SubRip packets: PyAV has no usable subtitle encoder
            subs = out.add_mux_stream("subrip", time_base=Fraction(1, 1000))
            for k, text in enumerate([b"First line", b"Second line"]):
                packet = av.Packet(text)
                packet.pts = packet.dts = k * 300
                packet.duration, packet.time_base, packet.stream = 300, Fraction(1, 1000), subs
                out.mux(packet)
        for i in range(frames):
            if w % 2 or h % 2:
                frame = av.VideoFrame(w, h, "yuv420p")
                for plane, data in zip(frame.planes, (luma_pattern(i, frames, w, h),
                                                      np.full((ch, cw), chroma[0], np.uint8),
                                                      np.full((ch, cw), chroma[1], np.uint8))):
                    buf = np.zeros((plane.height, plane.line_size), np.uint8)
                    buf[:, : plane.width] = data
                    plane.update(buf.tobytes())
            else:
                yuv = np.concatenate([luma_pattern(i, frames, w, h).ravel(),
                                      np.full(cw * ch, chroma[0], np.uint8),
                                      np.full(cw * ch, chroma[1], np.uint8)]).reshape(-1, w)
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            if mark_fields is not None:
                frame = mark_fields(frame)
            if color is not None:
                frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = color
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if astream is not None:
            seconds = (pts[-1] * time_base + Fraction(1, 25)) if pts else Fraction(frames) / Fraction(rate)
            write_tone(out, astream, seconds, layout, audio_rate)
    return path


def _gray_frame(i: int, frames: int, w: int, h: int) -> av.VideoFrame:
    yuv = np.concatenate([luma_pattern(i, frames, w, h).ravel(), np.full(w * h // 2, 128, np.uint8)])
    frame = av.VideoFrame.from_ndarray(yuv.reshape(-1, w), format="yuv420p")
    frame.pts = i
    return frame


def make_thumbnail_first_clip(path: Path, *, thumbnail=(32, 24), size=(96, 64), frames=12) -> Path:
    """A film whose first video track is a small thumbnail track (flat grey), the film second."""
    with av.open(str(path), "w") as out:
        tracks = []
        for w, h in (thumbnail, size):
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.options = w, h, {"preset": "ultrafast"}
            tracks.append(stream)
        for i in range(frames):
            out.mux(tracks[0].encode(_gray_frame(0, 2, *thumbnail)))  # a still
            out.mux(tracks[1].encode(_gray_frame(i, frames, *size)))
        for stream in tracks:
            out.mux(stream.encode(None))
    return path


CHAPTERS = [{"id": 1, "start": 0, "end": 200, "time_base": Fraction(1, 1000), "metadata": {"title": "Opening"}},
            {"id": 2, "start": 200, "end": 480, "time_base": Fraction(1, 1000), "metadata": {"title": "The end"}}]
FONT = b"\x00\x01\x00\x00 not really a font"


def make_tagged_clip(path: Path, *, frames: int = 12) -> Path:
    """A clip with what an archive's file holds besides pictures and sound: a title and comment,
    two chapters, a French picture track titled "Picture", two sound tracks (German "Deutsch",
    default; English "Commentary", a commentary), cover art (png) and, in Matroska, a forced
    English subtitle track "Signs" and a font attachment."""
    mkv = path.suffix == ".mkv"
    D = av.stream.Disposition
    with av.open(str(path), "w") as out:
        out.metadata.update({"title": "The Film", "comment": "reel 2 of 3"})
        out.set_chapters(CHAPTERS)
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.options = 64, 48, {"preset": "ultrafast"}
        video.metadata.update({"language": "fra", "title": "Picture"})
        video.disposition = D.default
        sound = []
        for language, title, disposition in (("ger", "Deutsch", D.default), ("eng", "Commentary", D.comment)):
            stream = out.add_stream("pcm_s16le" if mkv else "aac", rate=AUDIO_RATE)
            stream.layout = "mono"
            stream.metadata.update({"language": language, "title": title})
            stream.disposition = disposition
            sound.append(stream)
        if mkv:
            subs = out.add_mux_stream("subrip", time_base=Fraction(1, 1000))
            subs.metadata.update({"language": "eng", "title": "Signs"})
            subs.disposition = D.forced
            out.add_attachment("cover.png", "image/png", png_bytes())
            out.add_attachment("font.ttf", "font/ttf", FONT)
            packet = av.Packet(b"A sign")
            packet.pts = packet.dts = 0
            packet.duration = 300
            packet.time_base, packet.stream = Fraction(1, 1000), subs
            out.mux(packet)
        else:
            cover = out.add_mux_stream("png", width=32, height=24)
            cover.disposition = D.attached_pic
            packet = av.Packet(png_bytes())
            packet.pts = packet.dts = 0
            packet.time_base, packet.stream, packet.is_keyframe = Fraction(1, 25), cover, True
            out.mux(packet)
        for i in range(frames):
            out.mux(video.encode(_gray_frame(i, frames, 64, 48)))
        out.mux(video.encode(None))
        for stream in sound:
            write_tone(out, stream, Fraction(frames, 25))
    return path


def write_tone(out, astream, seconds, layout: str = "mono", rate: int = AUDIO_RATE) -> None:
    """A 440 Hz tone of `seconds` into `astream` (encoded, muxed, flushed)."""
    t = np.arange(int(rate * seconds)) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    fmt = astream.codec_context.format.name
    step = astream.codec_context.frame_size or 400
    for start in range(0, len(samples), step):
        channels = astream.codec_context.layout.nb_channels
        chunk = np.repeat(samples[start:start + step][None, :], channels, axis=0)
        data = {"fltp": lambda: (chunk / 32768).astype(np.float32), "s16": lambda: chunk,
                "u8": lambda: (chunk // 256 + 128).astype(np.uint8)}[fmt]()
        if not astream.codec_context.format.is_planar:
            data = np.ascontiguousarray(data.T).reshape(1, -1)
        aframe = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        aframe.sample_rate, aframe.pts = rate, start
        out.mux(astream.encode(aframe))
    out.mux(astream.encode(None))


def read_video(path: Path) -> list[tuple[float, np.ndarray]]:
    """(pts in seconds, luma plane) per frame, read with plain PyAV."""
    result = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            y = np.frombuffer(f.planes[0], np.uint8).reshape(f.planes[0].height, -1)[:, : f.width]
            result.append((float(f.pts * f.time_base), y.copy()))
    return result


def audio_packets(path: Path) -> list[tuple[float, bytes]]:
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return [(float(p.pts * p.time_base), bytes(p)) for p in c.demux(s) if p.size]


def one_line_naming(error: Exception, path: Path) -> bool:
    return "\n" not in str(error) and path.name in str(error)


def png_bytes() -> bytes:
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 32, 24, "rgb24"
    frame = av.VideoFrame.from_ndarray(np.zeros((24, 32, 3), np.uint8), format="rgb24")
    return b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "folder.mp4").mkdir()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 20)
    (tmp_path / "image.mp4").write_bytes(png_bytes())
    with av.open(str(tmp_path / "audio.mp4"), "w") as out:
        stream = out.add_stream("aac", rate=AUDIO_RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    whole = make_clip(tmp_path / "whole.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    names = ["missing.mp4", "folder.mp4", "empty.mp4", "text.mp4", "image.mp4", "audio.mp4", "truncated.mp4"]
    return {name: tmp_path / name for name in names}


class ColorizerWrapper:
    """Stands in for a real colorizer, passing every attribute it does not override through to it."""

    def __init__(self, real):
        self.real = real

    def __getattr__(self, name):
        return getattr(self.real, name)

    def styled(self, style):
        return self  # the wrapped colorizer's style: passed through, the wrapper would be lost


class StopsAt(ColorizerWrapper):
    """Raises `error` at the n-th model call: KeyboardInterrupt as Ctrl-C would, in the model's thread,
    or a failure of the model (what was coloured before it is finished into segments)."""

    def __init__(self, real, call: int, error: BaseException | type[BaseException] = KeyboardInterrupt):
        super().__init__(real)
        self.call, self.calls, self.error = call, 0, error

    def predict_ab(self, light, embedding, hints=None):
        self.calls += 1
        if self.calls == self.call:
            raise self.error
        return self.real.predict_ab(light, embedding, hints)


class RecordingColorizer(ColorizerWrapper):
    """Wraps a colorizer and keeps the lightness of every frame it is asked to colour."""

    def __init__(self, real):
        super().__init__(real)
        self.seen = []

    def predict_ab(self, light, embedding, hints=None):
        self.seen += list(light)
        return self.real.predict_ab(light, embedding, hints)


def transcode(src: Path, dest: Path, **kwargs) -> Path:
    """The film through vidcolor's reader and writer, unchanged (VideoWriter's kwargs)."""
    from vidcolor.media import VideoWriter, decode_frames, probe_video

    info = probe_video(src)
    with VideoWriter(info, dest, **kwargs) as writer:
        for f in decode_frames(src, info):
            writer.write(f.y, f.u, f.v, f.pts)
    return dest
