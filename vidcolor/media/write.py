"""Writing films with PyAV (reading: read.py).

- `check_output`: before any work, whether the output can be written and which of the source's
  sound and subtitle streams it can carry (opens no encoder and no input).
- `VideoEncoder`: the H.264 yuv420p encoder, frames in, packets out.
- `VideoWriter`: frames in, a finished film out; `PacketRemuxer`: packets encoded earlier (the
  resumable segments) in, a finished film out, with no encoder settings. Both copy the source's
  sound and subtitles untouched and write to a temporary name renamed on success.
"""

from __future__ import annotations

import contextlib
import os
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dataclasses import dataclass

from ..errors import OutputError
from ..outputs import partial_path, refuse_overwrite
from .read import RANGE_JPEG, RANGE_MPEG, SPC_BT709, SPC_SMPTE170M, VideoInfo, error_reason, open_input

# What writing a film can raise besides OutputError (callers turn them into one line).
WRITE_ERRORS = (OSError, av.FFmpegError)


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
    headers, AVI's lack of pts); `detached` sets one up on a container that is never
    written (the resumable segments). `first_index` and `last_pts` carry the timeline on
    when a film is encoded in pieces.
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
        cc.color_range = RANGE_JPEG if source.full_range else RANGE_MPEG
        cc.thread_count = encoder_threads(self._width, self._height)
        cc.colorspace = SPC_BT709 if source.matrix == "bt709" else SPC_SMPTE170M
        stream.options = options
        self.stream = stream
        self._detached_container = None
        try:
            cc.open()  # fail now, naming the settings, rather than at the first frame
        except av.FFmpegError as e:
            raise OutputError(f"{dest}: cannot start the {codec} encoder with preset "
                              f"{preset!r}, crf {crf} ({error_reason(e)})") from None

    @classmethod
    def detached(cls, source: VideoInfo, format_name: str, dest: Path, **settings) -> "VideoEncoder":
        """An encoder shaped by a `format_name` container that writes nothing (close() it)."""
        container = av.open(os.devnull, mode="w", format=format_name)
        try:
            encoder = cls(container, source, dest, **settings)
        except BaseException:
            container.close()
            raise
        encoder._detached_container = container
        return encoder

    def close(self) -> None:
        if self._detached_container is not None:
            with contextlib.suppress(Exception):
                self._detached_container.close()
            self._detached_container = None

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


@dataclass(frozen=True)
class OutputCheck:
    format_name: str  # the container the output's name asks for ("mp4", "matroska", ...)
    copied: tuple[int, ...]  # indices of the source's sound and subtitle streams it will carry
    warnings: tuple[str, ...]  # streams that cannot be carried, one line each


def check_output(source: VideoInfo, dest: Path, force: bool = False) -> OutputCheck:
    """Whether `dest` can be written now, and what it can carry of the source: one-line
    OutputError if not. Opens no encoder and no input, and writes nothing."""
    dest = Path(dest)
    refuse_overwrite(dest, force)
    parent = dest.parent
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise OutputError(f"{dest}: cannot write (folder {parent} {what})")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{dest}: cannot write (folder {parent} is not writable)")
    if dest.exists() and source.path.exists() and os.path.samefile(dest, source.path):
        raise OutputError(f"{dest}: is the input file, choose another output name")
    try:
        container = av.open(str(partial_path(dest)), mode="w")  # nothing is written until encoding starts
    except (ValueError, av.FFmpegError, OSError) as e:
        raise OutputError(f"{dest}: cannot write this container type '{dest.suffix}' "
                          f"({error_reason(e)}; use .mp4, .mkv, .mov or .avi)") from None
    with container:
        format_name, supported = container.format.name, container.supported_codecs
    copied, warnings = [], []
    for index, kind, names in source.side_streams:
        if not names or set(names) & supported:
            copied.append(index)
            continue
        name = names[0]
        if kind == "subtitle":  # optional: left out, with a warning
            warnings.append(f"{dest}: subtitle stream #{index} ({name}) cannot be carried into a {dest.suffix} "
                            "file and was left out (use .mkv to keep it)")
        else:
            raise OutputError(f"{dest}: a {dest.suffix} file cannot hold the {name} audio "
                              f"of the input without re-encoding (use .mkv)")
    return OutputCheck(format_name, tuple(copied), tuple(warnings))


class _FilmFile:
    """A film being written: a hidden temporary file beside dest, renamed into place by close().

    Copies the source's sound and subtitle packets untouched, interleaved with the video that
    the subclass adds; `warnings` names the streams the container cannot hold.
    """

    def __init__(self, source: VideoInfo, dest: Path, *, force: bool = False, copy_audio: bool = True):
        self.source = source
        self.dest = dest = Path(dest)
        self._lock = threading.RLock()  # write() may run in an encoder thread, abort() in another
        self._out = self._in = self._packets = self._pending = self.temp = None
        self._done = False
        self._copy_map: dict = {}  # input stream index -> output stream
        check = check_output(source, dest, force)
        self.warnings = list(check.warnings)
        self.temp = partial_path(dest)  # the real suffix last: the muxer picks the container from it
        try:
            self._out = av.open(str(self.temp), mode="w")
            self._encoder = self._add_video()
            self._video = self._encoder.stream
            if copy_audio and check.copied:
                self._setup_copy(check.copied)
            self._out.start_encoding()  # opens the file and checks the codecs now, not mid-film
        except BaseException as e:
            self.abort()
            if isinstance(e, (OSError, av.FFmpegError, ValueError)):
                raise OutputError(f"{dest}: cannot write ({error_reason(e)})") from None
            raise

    def _add_video(self) -> VideoEncoder:
        raise NotImplementedError

    @property
    def format_name(self) -> str:
        return self._out.format.name

    @property
    def time_base(self) -> Fraction:
        return self._encoder.time_base

    def _setup_copy(self, indices: tuple[int, ...]) -> None:
        self._in = open_input(self.source.path)
        for in_stream in self._in.streams:
            if in_stream.index in indices:
                self._copy_map[in_stream.index] = self._out.add_stream_from_template(in_stream)
        streams = [s for s in self._in.streams if s.index in self._copy_map]
        self._packets = self._in.demux(*streams)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _check_open(self) -> None:
        if self._done:
            raise OutputError(f"{self.dest}: writer is already closed")

    def _guarded(self, action) -> None:
        try:
            action()
        except (OSError, av.FFmpegError) as e:
            self.abort()
            raise OutputError(f"{self.dest}: cannot write ({error_reason(e)})") from None

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


class VideoWriter(_FilmFile):
    """Frames in (yuv420p planes), an H.264 film with the source's sound and subtitles out."""

    def __init__(self, source: VideoInfo, dest: Path, *, crf: int = 18, preset: str = "veryfast",
                 codec: str = "libx264", force: bool = False, copy_audio: bool = True):
        self._settings = {"crf": crf, "preset": preset, "codec": codec}
        super().__init__(source, dest, force=force, copy_audio=copy_audio)

    def _add_video(self) -> VideoEncoder:
        return VideoEncoder(self._out, self.source, self.dest, **self._settings)

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None) -> None:
        with self._lock:
            self._check_open()
            self._guarded(lambda: self._mux_video(self._encoder.encode(y, u, v, pts)))


class PacketRemuxer(_FilmFile):
    """H.264 packets encoded earlier by VideoEncoders set up for the same container (their
    header `extradata` given here) in, a film with the source's sound and subtitles out."""

    def __init__(self, source: VideoInfo, dest: Path, *, extradata: bytes | None, force: bool = False):
        self._extradata = extradata
        super().__init__(source, dest, force=force)

    def _add_video(self) -> VideoEncoder:
        # The stream is set up as the segments' encoders were (time base, size, flags); its own
        # encoder never encodes, and the header describes the packets to come.
        encoder = VideoEncoder(self._out, self.source, self.dest, preset="ultrafast")
        if self._extradata is not None:
            encoder.stream.codec_context.extradata = self._extradata
        return encoder

    def write_packet(self, data: bytes, pts: int, dts: int, duration: int, keyframe: bool) -> None:
        """Mux one packet; times in `time_base`."""
        with self._lock:
            self._check_open()
            packet = av.Packet(data)
            packet.pts, packet.dts, packet.duration = pts, dts, duration
            packet.is_keyframe = keyframe
            packet.time_base, packet.stream = self.time_base, self._video
            self._guarded(lambda: self._mux_video([packet]))
