"""Video probing, yuv420p decoding and H.264 writing with PyAV.

Frames travel as yuv420p planes so the colour pipeline can keep the source's
luma plane bit-exact and replace only the chroma planes.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import secrets
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidcolor.errors import InputError, OutputError

Warn = Callable[[str], None]

# Pixel formats without a YUV range of their own: their values are taken as
# full range so that e.g. a gray source keeps its exact values as luma.
_NON_YUV_PREFIXES = ("gray", "rgb", "bgr", "argb", "abgr", "gbr", "pal8", "0rgb", "0bgr", "ya", "mono")
# AVColorSpace / AVColorRange values (PyAV exposes these as plain ints).
_SPC_BT709, _SPC_BT470BG, _SPC_SMPTE170M, _SPC_SMPTE240M = 1, 5, 6, 7
_RANGE_MPEG, _RANGE_JPEG = 1, 2


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


@dataclass
class YuvFrame:
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pts: int | None
    index: int


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())  # one line


def _warner(on_warning: Warn | None) -> Warn:
    return on_warning if on_warning is not None else (lambda msg: warnings.warn(msg, stacklevel=3))


def _video_stream(container):
    """First video stream that is not a cover picture, or None."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _open_input(path: Path):
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise InputError(f"{path}: not a readable video ({_reason(e)})") from None


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
    with _open_input(path) as container:
        stream = _video_stream(container)
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
        full_range = cc.color_range == _RANGE_JPEG or pix_fmt.startswith("yuvj") or (
            cc.color_range != _RANGE_MPEG and pix_fmt.startswith(_NON_YUV_PREFIXES))
        if cc.colorspace in (_SPC_BT709, _SPC_SMPTE240M):
            matrix = "bt709"
        elif cc.colorspace in (_SPC_BT470BG, _SPC_SMPTE170M):
            matrix = "bt601"
        else:
            matrix = "bt709" if cc.height >= 720 else "bt601"
        return VideoInfo(
            path=path, width=cc.width, height=cc.height, fps=fps, time_base=time_base,
            frame_count=frame_count, duration=duration, full_range=full_range, matrix=matrix,
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
        )


def _iter_av_frames(path, info: VideoInfo | None, on_warning: Warn | None, *, deblock: bool = True):
    """Yield (index, av.VideoFrame, info) in presentation order, skipping undecodable packets.

    Both decode passes go through here so they agree on which frames exist. deblock=False skips
    the codec's loop filter (about a tenth of H.264 decoding), for frames only looked at small.
    """
    path = Path(path)
    info = info or probe_video(path)
    warn = _warner(on_warning)
    count, last_time = 0, None
    with _open_input(path) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        if not deblock:
            stream.codec_context.options = {"skip_loop_filter": "all"}
        start = _start_seconds(stream)
        times = _FrameTimes(use_packet_dts=container.format.name == "avi")
        for packet, frames in _decode_packets(container, stream, path, info, warn):
            for frame in times.push(packet, frames) if frames is not None else times.drain():
                if frame.pts is not None:
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
            warn(f"{path}: reading stopped at a damaged part of the file ({_reason(e)})")
            break
        try:
            frames = stream.decode(packet)
        except av.FFmpegError as e:
            stamp = packet.pts if packet.pts is not None else packet.dts
            seconds = float(stamp * info.time_base) if stamp is not None else 0.0
            warn(f"{path}: at about {seconds:.2f}s a frame could not be decoded, skipped ({_reason(e)})")
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


def _plane(frame, i: int) -> np.ndarray:
    """Plane i as a (height, width) array, without the line-size padding."""
    plane = frame.planes[i]
    data = np.frombuffer(plane, np.uint8)[: plane.line_size * plane.height]
    return data.reshape(plane.height, plane.line_size)[:, : plane.width].copy()


def decode_frames(path, info: VideoInfo | None = None, *, on_warning: Warn | None = None) -> Iterator[YuvFrame]:
    reformatter = VideoReformatter()  # one per pass: frame.reformat() would rebuild swscale each frame
    for index, frame, info in _iter_av_frames(path, info, on_warning):
        if frame.format.name != "yuv420p" or frame.width != info.width or frame.height != info.height:
            # Same range and matrix on both sides: only the layout/subsampling changes.
            color_range = "JPEG" if info.full_range else "MPEG"
            colorspace = "ITU709" if info.matrix == "bt709" else "ITU601"
            frame = reformatter.reformat(
                frame, width=info.width, height=info.height, format="yuv420p",
                src_colorspace=colorspace, dst_colorspace=colorspace,
                src_color_range=color_range, dst_color_range=color_range)
        yield YuvFrame(_plane(frame, 0), _plane(frame, 1), _plane(frame, 2), frame.pts, index)


def decode_small_luma(path, short_side: int, *, on_warning: Warn | None = None) -> Iterator[tuple[int, np.ndarray]]:
    info = probe_video(path)
    if info.width <= info.height:
        width, height = short_side, max(1, round(info.height * short_side / info.width))
    else:
        width, height = max(1, round(info.width * short_side / info.height)), short_side
    reformatter = VideoReformatter()
    for index, frame, _ in _iter_av_frames(path, info, on_warning, deblock=False):
        # JPEG on both sides: swscale otherwise stretches limited-range luma to 0-255
        # when going to "gray"; this keeps the same code values as YuvFrame.y.
        small = reformatter.reformat(frame, width=width, height=height, format="gray", interpolation="AREA",
                                     src_color_range="JPEG", dst_color_range="JPEG")
        yield index, _plane(small, 0)


def _pad_to(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    pad_h, pad_w = height - plane.shape[0], width - plane.shape[1]
    if pad_h or pad_w:
        plane = np.pad(plane, ((0, pad_h), (0, pad_w)), mode="edge")
    return plane


def encoder_threads(width: int, height: int) -> int:
    """x264 threads for frames of this size: 1 up to 640x480, else 0 (x264's own choice);
    $VIDCOLOR_ENCODER_THREADS overrides.

    The colouring stages keep the other core busy; for small frames x264's frame threads then
    cost more than they gain (on 2 cores, `bench/bench_remaster.py --sizes 480p`: 1.43x the
    reference transcode's time with one thread, 1.54x with x264's choice; at 576p, 720p and
    1080p its choice is faster).
    """
    asked = os.environ.get("VIDCOLOR_ENCODER_THREADS")
    if asked:
        if not asked.isdigit():
            raise OutputError(f"VIDCOLOR_ENCODER_THREADS={asked!r}: must be a whole number (0: x264's choice)")
        return int(asked)
    return 1 if width * height <= 640 * 480 else 0


class VideoEncoder:
    """The H.264 yuv420p encoder of a VideoWriter: frames in, packets (in `time_base`) out.

    It is set up on `container`'s video stream, so the container shapes it (global
    headers, AVI's lack of pts); segments.py runs one on a container it never writes.
    `first_index` and `last_pts` carry the timeline on when a film is encoded in pieces.
    """

    def __init__(self, container, source: VideoInfo, dest: Path, *, codec: str = "libx264", crf: int = 18,
                 preset: str = "veryfast", first_index: int = 0, last_pts: int | None = None):
        self.source = source
        self._count, self.last_pts = first_index, last_pts
        options = {"crf": str(crf), "preset": preset}
        self._width, self._height = source.width + source.width % 2, source.height + source.height % 2
        if container.format.name == "avi":  # AVI times frames by their index, at 1/fps
            self.time_base = 1 / source.fps
            options["bf"] = "0"  # AVI has no pts: B-frames would need the "packed bitstream" hack
        else:
            self.time_base = source.time_base
        stream = container.add_stream(codec, rate=source.fps)
        stream.width, stream.height, stream.pix_fmt = self._width, self._height, "yuv420p"
        stream.time_base = self.time_base
        cc = stream.codec_context
        cc.time_base = self.time_base
        cc.color_range = _RANGE_JPEG if source.full_range else _RANGE_MPEG
        cc.thread_count = encoder_threads(self._width, self._height)
        cc.colorspace = _SPC_BT709 if source.matrix == "bt709" else _SPC_SMPTE170M
        stream.options = options
        self.stream = stream
        try:
            cc.open()  # fail now, naming the settings, rather than at the first frame
        except av.FFmpegError as e:
            raise OutputError(f"{dest}: cannot start the {codec} encoder with preset "
                              f"{preset!r}, crf {crf} ({_reason(e)})") from None

    @property
    def extradata(self) -> bytes | None:
        return self.stream.codec_context.extradata

    def encode(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None) -> list:
        frame = av.VideoFrame.from_ndarray(np.concatenate([
            _pad_to(y, self._height, self._width).ravel(),
            _pad_to(u, self._height // 2, self._width // 2).ravel(),
            _pad_to(v, self._height // 2, self._width // 2).ravel(),
        ]).reshape(-1, self._width), format="yuv420p")
        frame.color_range = self.stream.codec_context.color_range
        frame.colorspace = self.stream.codec_context.colorspace
        frame.time_base = self.time_base
        frame.pts = self._encoder_pts(pts)
        self._count += 1
        return self.stream.encode(frame)

    def flush(self) -> list:
        return self.stream.encode(None)

    def _encoder_pts(self, pts: int | None) -> int:
        if pts is None:
            out = round(self._count / self.source.fps / self.time_base)
        else:
            out = round(pts * self.source.time_base / self.time_base)
        if self.last_pts is not None and out <= self.last_pts:
            out = self.last_pts + 1  # the encoder refuses repeated timestamps
        self.last_pts = out
        return out


class VideoWriter:
    """H.264 yuv420p writer that copies the source's audio/subtitle packets untouched.

    Writes to a hidden temporary file beside dest; close() renames it into place.
    skipped_streams names the subtitle streams the output container cannot hold.
    Video comes either as frames (write) or as packets encoded earlier with the
    same settings (write_packet, with the encoder's extradata given here).
    """

    def __init__(self, source: VideoInfo, dest: Path, *, crf: int = 18, preset: str = "veryfast",
                 codec: str = "libx264", force: bool = False, copy_audio: bool = True,
                 extradata: bytes | None = None):
        self.source = source
        self.dest = dest = Path(dest)
        self._lock = threading.RLock()  # write() may run in an encoder thread, abort() in another
        self._out = self._in = self._packets = self._pending = self.temp = None
        self._done = False
        self._copy_map: dict = {}  # input stream index -> output stream
        self.skipped_streams: list[str] = []
        if dest.is_dir():
            raise OutputError(f"{dest}: is a directory")
        if dest.exists() and not force:
            raise OutputError(f"{dest}: already exists (use --force to overwrite)")
        parent = dest.parent
        if not parent.is_dir():
            what = "does not exist" if not parent.exists() else "is not a directory"
            raise OutputError(f"{dest}: cannot write (folder {parent} {what})")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"{dest}: cannot write (folder {parent} is not writable)")
        if dest.exists() and source.path.exists() and os.path.samefile(dest, source.path):
            raise OutputError(f"{dest}: is the input file, choose another output name")
        # Unique per writer; the real suffix last so the muxer picks the container from it.
        self.temp = parent / f".{dest.name}.partial.{os.getpid()}-{secrets.token_hex(3)}{dest.suffix}"
        try:
            self._out = av.open(str(self.temp), mode="w")
        except (ValueError, av.FFmpegError, OSError) as e:
            raise OutputError(f"{dest}: cannot write this container type '{dest.suffix}' "
                              f"({_reason(e)}; use .mp4, .mkv, .mov or .avi)") from None
        try:
            self._encoder = VideoEncoder(self._out, source, dest, codec=codec, crf=crf, preset=preset)
            self._video = self._encoder.stream
            if extradata is not None:  # the header must describe the packets to come, not this encoder
                self._video.codec_context.extradata = extradata
            if copy_audio and (source.audio_streams or source.subtitle_streams):
                self._setup_copy()
            self._out.start_encoding()  # opens the file and checks the codecs now, not mid-film
        except BaseException as e:
            self.abort()
            if isinstance(e, (OSError, av.FFmpegError, ValueError)):
                raise OutputError(f"{dest}: cannot write ({_reason(e)})") from None
            raise

    @property
    def format_name(self) -> str:
        return self._out.format.name

    def _setup_copy(self) -> None:
        self._in = _open_input(self.source.path)
        supported = self._out.supported_codecs
        for in_stream in list(self._in.streams.audio) + list(self._in.streams.subtitles):
            codec = in_stream.codec_context.codec if in_stream.codec_context is not None else None
            name = codec.canonical_name if codec is not None else "unknown"  # "mp3", not "mp3float"
            # supported_codecs lists implementation names: the decoder's ("dca") or the id's ("dts")
            if codec is not None and not {codec.name, name} & supported:
                if in_stream.type == "subtitle":  # optional: drop what the container cannot hold
                    self.skipped_streams.append(f"subtitle stream #{in_stream.index} ({name})")
                    continue
                raise OutputError(f"{self.dest}: a {self.dest.suffix} file cannot hold the {name} audio "
                                  f"of the input without re-encoding (use .mkv)")
            self._copy_map[in_stream.index] = self._out.add_stream_from_template(in_stream)
        if self._copy_map:
            streams = [s for s in self._in.streams if s.index in self._copy_map]
            self._packets = self._in.demux(*streams)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None) -> None:
        with self._lock:
            self._check_open()
            self._guarded(lambda: self._mux_video(self._encoder.encode(y, u, v, pts)))

    def write_packet(self, data: bytes, pts: int, dts: int, duration: int, keyframe: bool) -> None:
        """Mux one packet from an encoder set up like this writer's; times in `time_base`."""
        with self._lock:
            self._check_open()
            packet = av.Packet(data)
            packet.pts, packet.dts, packet.duration = pts, dts, duration
            packet.is_keyframe = keyframe
            packet.time_base, packet.stream = self.time_base, self._video
            self._guarded(lambda: self._mux_video([packet]))

    @property
    def time_base(self) -> Fraction:
        return self._encoder.time_base

    def _check_open(self) -> None:
        if self._done:
            raise OutputError(f"{self.dest}: writer is already closed")

    def _guarded(self, action) -> None:
        try:
            action()
        except (OSError, av.FFmpegError) as e:
            self.abort()
            raise OutputError(f"{self.dest}: cannot write ({_reason(e)})") from None

    def _mux_video(self, packets) -> None:
        for packet in packets:
            stamp = packet.dts if packet.dts is not None else packet.pts
            if stamp is not None:
                self._mux_copied_until(stamp * packet.time_base)
            self._out.mux(packet)

    def _mux_copied_until(self, limit: Fraction | None) -> None:
        """Mux copied audio/subtitle packets whose time is <= limit (all if None)."""
        while self._packets is not None:
            if self._pending is None:
                try:
                    packet = next(self._packets)
                except (StopIteration, av.FFmpegError):
                    self._packets = None  # end of input (a damaged tail ends audio like video)
                    return
                if packet.dts is None or packet.size == 0:
                    continue  # demuxer's flush packets
                self._pending = packet
            packet = self._pending
            if limit is not None and packet.dts * packet.time_base > limit:
                return
            packet.stream = self._copy_map[packet.stream.index]
            self._pending = None
            self._out.mux(packet)

    def close(self) -> None:
        with self._lock:
            if self._done:
                return

            def finish():
                self._mux_video(self._encoder.flush())
                self._mux_copied_until(None)
                self._out.close()
                os.replace(self.temp, self.dest)

            self._guarded(finish)
            self._done = True
            self._close_input()

    def abort(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._close_input()
            if self._out is not None:
                with contextlib.suppress(Exception):  # the file is thrown away anyway
                    self._out.close()
            if self.temp is not None:
                with contextlib.suppress(OSError):
                    self.temp.unlink(missing_ok=True)

    def _close_input(self) -> None:
        if self._in is not None:
            self._packets = None
            self._in.close()
            self._in = None
