"""Reading films with PyAV: probing, and decoding to YUV planes (writing: write.py).

Frames travel as planar YUV so the colour pipeline can keep the source's luma plane bit-exact
and replace only the chroma planes, at the depth and subsampling the output codec takes
(`VideoInfo.pix_fmt`; codecs.frame_format): uint8 planes for 8 bits, uint16 deeper. A probed
film's are H.264's (codecs.frames_for gives another codec's); a luma made deeper on the way is
shifted up, exactly (an 8-bit film as ProRes: code << 2).
"""

from __future__ import annotations

import contextlib
import heapq
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import InputError
from .codecs import frame_format
from .streams import display_matrix, main_video_stream, other_videos, sample_aspect_ratio, side_streams

Warn = Callable[[str], None]

# Pixel formats without a YUV range of their own: their values are taken as
# full range so that e.g. a gray source keeps its exact values as luma.
_NON_YUV_PREFIXES = ("gray", "rgb", "bgr", "argb", "abgr", "gbr", "pal8", "0rgb", "0bgr", "ya", "mono")
# AVColorSpace / AVColorRange values (PyAV exposes these as plain ints).
SPC_BT709, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 1, 5, 6, 7
RANGE_MPEG, RANGE_JPEG = 1, 2


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frame_count: int
    duration: float
    full_range: bool
    matrix: str
    audio_streams: int
    subtitle_streams: int
    # the streams a remaster copies: (index, "audio", "subtitle", "cover" or "attachment", codec names)
    side_streams: tuple[tuple[int, str, tuple[str, ...]], ...] = ()
    # The video stream coloured (streams.main_video_stream), and the other ones: (index, codec, width, height).
    stream_index: int = 0
    other_videos: tuple[tuple[int, str, int, int], ...] = ()
    # What an output keeps of the picture's display: the sample aspect ratio (None: square or
    # unknown), the field order (streams.FIELD_*), the colour tags (AVColorPrimaries,
    # AVColorTransferCharacteristic, AVColorSpace; 2 is unspecified) and the display matrix
    # (rotation and flips, 9 int32 as FFmpeg has it; None: none).
    sample_aspect_ratio: Fraction | None = None
    field_order: int = 0
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    display_matrix: tuple[int, ...] | None = None
    # The depth and chroma subsampling ("420", "422", "444") the frames travel at: the output
    # codec's (codecs.frame_format; probe_video gives H.264's), and the source's own.
    bit_depth: int = 8
    chroma: str = "420"
    source_depth: int = 8
    source_chroma: str = "420"
    codec: str = ""  # the source's video codec ("h264", "ffv1", "prores", ...) and profile
    profile: str | None = None

    @property
    def pix_fmt(self) -> str:
        """The planar format of the decoded frames (and the encoder's, for an even-sized film)."""
        return planar_format(self.bit_depth, self.chroma)

    @property
    def max_code(self) -> int:
        return (1 << self.bit_depth) - 1


@dataclass
class YuvFrame:
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pts: int | None
    index: int


def planar_format(depth: int, chroma: str) -> str:
    return f"yuv{chroma}p" + (f"{depth}le" if depth > 8 else "")


def source_format(pix_fmt: str) -> tuple[int, str]:
    """(bit depth, chroma subsampling) of a source in `pix_fmt`: "444", "422", or "420" for
    4:2:0, grey, and the rarer ones (4:1:1, 4:4:0); RGB counts as 4:4:4. 8-bit 4:2:0 if unknown."""
    try:
        components = av.VideoFormat(pix_fmt, 2, 2).components
    except (ValueError, av.FFmpegError, TypeError):
        return 8, "420"
    if not components:
        return 8, "420"
    shape = (components[1].width, components[1].height) if len(components) >= 3 else None
    return components[0].bits, {(2, 2): "444", (1, 2): "422"}.get(shape, "420")


def error_reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())  # one line


def _warner(on_warning: Warn | None) -> Warn:
    return on_warning if on_warning is not None else (lambda msg: warnings.warn(msg, stacklevel=3))


def library_versions() -> dict:
    """PyAV's and libavcodec's versions (a resumed run must decode and encode alike)."""
    return {"pyav": av.__version__, "libavcodec": list(av.library_versions["libavcodec"])}


def open_input(path: Path):
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise InputError(f"{path}: not a readable video ({error_reason(e)})") from None


def _start_seconds(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _video_duration(container, stream, time_base: Fraction) -> float:
    """Duration of the video stream alone, in seconds (0.0 if unknown)."""
    if stream.duration:
        return float(stream.duration * time_base)
    # Matroska stores the track's end time as a DURATION tag ("00:01:02.500000000").
    with contextlib.suppress(ValueError):
        hours, minutes, seconds = stream.metadata.get("DURATION", "").split(":")
        return max(0.0, int(hours) * 3600 + int(minutes) * 60 + float(seconds) - _start_seconds(stream))
    if container.duration:
        # The container's duration spans all streams; drop the video's late start.
        container_start = (container.start_time or 0) / av.time_base
        return max(0.0, container.duration / av.time_base - (_start_seconds(stream) - container_start))
    return 0.0


def probe_video(path) -> VideoInfo:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    with open_input(path) as container:
        stream = main_video_stream(container)
        if stream is None:
            raise InputError(f"{path}: no video stream (audio-only or not a video)")
        format_name = container.format.name
        if format_name == "image2" or format_name.endswith("_pipe"):  # png_pipe, jpeg_pipe, ...
            raise InputError(f"{path}: is a still image ({format_name}), not a video")
        cc = stream.codec_context
        if not cc.width or not cc.height:
            raise InputError(f"{path}: video stream has no picture size (unsupported or damaged)")
        fps = Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or 25)
        time_base = Fraction(stream.time_base) if stream.time_base else 1 / fps
        duration = _video_duration(container, stream, time_base)
        frame_count = stream.frames or int(round(duration * fps))
        if frame_count <= 1 and duration == 0.0:
            raise InputError(f"{path}: is a single image, not a video")
        pix_fmt = cc.format.name if cc.format is not None else ""
        full_range = cc.color_range == RANGE_JPEG or pix_fmt.startswith("yuvj") or (
            cc.color_range != RANGE_MPEG and pix_fmt.startswith(_NON_YUV_PREFIXES))
        if cc.colorspace in (SPC_BT709, SPC_SMPTE240M):
            matrix = "bt709"
        elif cc.colorspace in (SPC_BT470BG, SPC_SMPTE170M):
            matrix = "bt601"
        else:
            matrix = "bt709" if cc.height >= 720 else "bt601"
        depth, chroma = source_format(pix_fmt)
        travel_depth, travel_chroma = frame_format("h264", depth, chroma)
        return VideoInfo(
            path=path, width=cc.width, height=cc.height, fps=fps, time_base=time_base,
            frame_count=frame_count, duration=duration, full_range=full_range, matrix=matrix,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
            side_streams=side_streams(container),
            stream_index=stream.index, other_videos=other_videos(container, stream),
            sample_aspect_ratio=sample_aspect_ratio(stream), field_order=cc.field_order,
            color_primaries=cc.color_primaries, color_trc=cc.color_trc, colorspace=cc.colorspace,
            bit_depth=travel_depth, chroma=travel_chroma, source_depth=depth, source_chroma=chroma,
            codec=cc.name, profile=cc.profile,
            display_matrix=display_matrix(container, stream),  # last: it decodes a frame
        )


def _iter_av_frames(path, info: VideoInfo | None, on_warning: Warn | None):
    """Yield (index, av.VideoFrame, info) in presentation order, skipping undecodable packets.

    Every decoding pass goes through here so they agree on which frames exist, and decodes them
    alike (the loop filter too): the small frames the shot scan sees are the same whether a pass
    of their own or the colour pass decodes them (media.small).
    """
    path = Path(path)
    info = info or probe_video(path)
    warn = _warner(on_warning)
    count, last_time, last_pts = 0, None, None
    step = max(1, round(1 / (info.fps * info.time_base)))  # one frame, in time_base
    with open_input(path) as container:
        stream = container.streams[info.stream_index]
        stream.thread_type = "AUTO"
        start = _start_seconds(stream)
        times = _FrameTimes(use_packet_dts=container.format.name == "avi")
        for packet, frames in _decode_packets(container, stream, path, info, warn):
            for frame in times.push(packet, frames) if frames is not None else times.drain():
                if frame.pts is None and last_pts is not None:
                    # H.264 in MPEG-PS stamps only the frames that start a PES packet
                    frame.pts = last_pts + step
                if frame.pts is not None:
                    last_pts = frame.pts
                    last_time = float(frame.pts * info.time_base) + 1 / float(info.fps)
                yield count, frame, info
                count += 1
    if count == 0:
        raise InputError(f"{path}: no video frame could be decoded")
    expected = info.frame_count
    # Frame counts can be off (AVI counts filler entries), so also require that
    # the last frame stops well short of the stream's end time.
    end_time = start + info.duration
    if expected and count < expected * 0.9 - 1 and (last_time is None or last_time < end_time * 0.9):
        warn(f"{path}: file ended early, decoded {count} of about {expected} frames")


def _decode_packets(container, stream, path: Path, info: VideoInfo, warn: Warn):
    """Yield (packet, frames it decoded to), then (None, None) once the decoder is flushed."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.FFmpegError as e:
            warn(f"{path}: reading stopped at a damaged part of the file ({error_reason(e)})")
            break
        try:
            frames = stream.decode(packet)
        except av.FFmpegError as e:
            stamp = packet.pts if packet.pts is not None else packet.dts
            seconds = float(stamp * info.time_base) if stamp is not None else 0.0
            warn(f"{path}: at about {seconds:.2f}s a frame could not be decoded, skipped ({error_reason(e)})")
            continue
        yield packet, frames
    try:
        yield None, stream.decode(None)  # flush, in case demux stopped before its own flush packet
    except av.FFmpegError:
        pass  # EOFError: already flushed
    yield None, None


class _FrameTimes:
    """Fix the pts of frames, which leave the decoder in presentation order.

    Some files carry pts in decode order (B-frames in AVI, some raw streams), so
    frames come out with shuffled pts: sorting them within a small window fixes
    that and changes nothing for well-formed streams. AVI stores no pts at all (the
    demuxer guesses them, often one frame late), so there each frame takes the next
    packet dts instead: an AVI dts is the frame's slot on a constant-rate timeline.
    """

    DEPTH = 8

    def __init__(self, use_packet_dts: bool):
        self._use_dts = use_packet_dts
        self._frames: deque = deque()
        self._stamps: list[int] = []  # heap

    def push(self, packet, frames):
        if self._use_dts and packet is not None and packet.dts is not None and packet.size:
            heapq.heappush(self._stamps, packet.dts)
        for frame in frames:
            self._frames.append(frame)
            if not self._use_dts and frame.pts is not None:
                heapq.heappush(self._stamps, frame.pts)
            if len(self._frames) > self.DEPTH:
                yield self._pop()

    def drain(self):
        while self._frames:
            yield self._pop()

    def _pop(self):
        frame = self._frames.popleft()
        if self._stamps and (self._use_dts or frame.pts is not None):
            frame.pts = heapq.heappop(self._stamps)
        return frame


def _plane(frame, i: int, dtype=np.uint8) -> np.ndarray:
    """Plane i as a (height, width) array of `dtype` samples, without the line-size padding."""
    plane = frame.planes[i]
    size = np.dtype(dtype).itemsize
    data = np.frombuffer(plane, dtype)[: plane.line_size // size * plane.height]
    return data.reshape(plane.height, plane.line_size // size)[:, : plane.width].copy()


def decode_frames(path, info: VideoInfo | None = None, *, on_warning: Warn | None = None) -> Iterator[YuvFrame]:
    info = info or probe_video(path)
    yield from yuv_frames(_iter_av_frames(path, info, on_warning), info)


def yuv_frames(av_frames: Iterator[tuple[int, object, VideoInfo]], info: VideoInfo) -> Iterator[YuvFrame]:
    """Decoded frames (index, av.VideoFrame, info) as YuvFrames in `info`'s planar format."""
    to_yuv = YuvConverter(info)
    for index, frame, _ in av_frames:
        yield to_yuv(index, frame)


class YuvConverter:
    """A decoded av.VideoFrame -> its YuvFrame in `info`'s planar format; one per pass (it keeps
    its swscale context: frame.reformat() would rebuild one for each frame)."""

    def __init__(self, info: VideoInfo):
        self.info = info
        self.reformatter = VideoReformatter()

    def __call__(self, index: int, frame) -> YuvFrame:
        info = self.info
        dtype = np.uint8 if info.bit_depth == 8 else np.uint16
        # a shallower source is made deeper by a shift, not by swscale (which scales full-range
        # 4:2:0 luma by 1023/255)
        shift = max(0, info.bit_depth - frame.format.components[0].bits)
        target = planar_format(info.bit_depth - shift, info.chroma) if shift else info.pix_fmt
        if frame.format.name != target or frame.width != info.width or frame.height != info.height:
            # Same range and matrix on both sides: only the layout/subsampling changes.
            color_range = "JPEG" if info.full_range else "MPEG"
            colorspace = "ITU709" if info.matrix == "bt709" else "ITU601"
            frame = self.reformatter.reformat(
                frame, width=info.width, height=info.height, format=target,
                src_colorspace=colorspace, dst_colorspace=colorspace,
                src_color_range=color_range, dst_color_range=color_range)
        source_type = dtype if not shift or info.bit_depth - shift > 8 else np.uint8
        y, u, v = (_plane(frame, i, source_type).astype(dtype, copy=False) for i in range(3))
        if shift:
            y <<= shift  # private copies (_plane)
            u <<= shift
            v <<= shift
        return YuvFrame(y, u, v, frame.pts, index)
