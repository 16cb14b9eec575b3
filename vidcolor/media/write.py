"""Writing films with PyAV (reading: read.py; the encoder: encode.py; what is kept of the
source's streams and tags: streams.py).

- `check_output`: before any work, whether the output can be written and which of the source's
  streams it can carry (opens no encoder and no input).
- `VideoWriter`: frames in, a finished film out; `PacketRemuxer`: packets encoded earlier (the
  resumable segments) in, a finished film out, with no encoder settings. Both copy the source's
  sound, subtitles, cover art and attachments untouched, carry its tags, dispositions and
  chapters, and write to a temporary name renamed on success.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import OutputError
from ..outputs import check_folder, partial_path, refuse_overwrite
from . import streams
from .codecs import OutputCodec
from .encode import VideoEncoder
from .read import VideoInfo, error_reason, open_input

# What writing a film can raise besides OutputError (callers turn them into one line).
WRITE_ERRORS = (OSError, av.FFmpegError)
# MPEG program stream muxers shift a film that starts before their `preload` (0.5 s) to start
# there, so the preload is set to the film's own start (see _FilmFile._start).
_MPEG_PS = streams.MPEG_PS_FORMATS
_MOV = frozenset({"mov", "mp4", "ipod", "3gp", "3g2", "psp", "ismv", "f4v"})


@dataclass(frozen=True)
class OutputCheck:
    format_name: str  # the container the output's name asks for ("mp4", "matroska", ...)
    copied: tuple[int, ...]  # indices of the source's streams it will copy (sound, subtitles, covers, attachments)
    warnings: tuple[str, ...]  # streams that are not coloured or cannot be carried, one line each
    as_text: tuple[tuple[int, str], ...] = ()  # (index, text codec) of the copied subtitles carried as text


def check_output(source: VideoInfo, dest: Path, force: bool = False) -> OutputCheck:
    """Everything a film's output must pass before any work, in one place: not the input
    (source.path, by any name), not a folder, not there unless `force`, its folder there and
    writable, a container type PyAV writes, and able to carry the source's sound untouched.
    One-line OutputError if not; else what it will carry of the source (the streams it cannot
    carry, and any other video streams, as warnings). Opens no encoder and no input, and writes
    nothing. Whether the container holds the video codec is choose_codec's to say (codecs.py)."""
    dest = Path(dest)
    refuse_overwrite(dest, force, source.path)
    check_folder(dest)
    try:
        container = av.open(str(partial_path(dest)), mode="w")  # nothing is written until encoding starts
    except (ValueError, av.FFmpegError, OSError) as e:
        raise OutputError(f"{dest}: cannot write this container type '{dest.suffix}' "
                          f"({error_reason(e)}; use .mp4, .mkv, .mov or .avi)") from None
    with container:
        format_name, supported = container.format.name, container.supported_codecs
    warnings = [f"{source.path}: video stream #{index} ({codec} {width}x{height}) is not coloured and was left "
                f"out of {dest.name}; only stream #{source.stream_index} ({source.width}x{source.height}) is"
                for index, codec, width, height in source.other_videos]
    copied, as_text = [], []
    for index, kind, names in source.side_streams:
        if not streams.cannot_carry(format_name, supported, kind, names):
            copied.append(index)
            continue
        text = streams.text_codec(supported, kind, names)  # held as text instead
        if text:
            copied.append(index)
            as_text.append((index, text))
            continue
        name = names[0] if names else "unknown"
        if kind == "audio":
            raise OutputError(f"{dest}: a {dest.suffix} file cannot hold the {name} audio "
                              f"of the input without re-encoding (use .mkv)")
        what = {"subtitle": f"subtitle stream #{index} ({name})", "cover": f"cover art #{index} ({name})",
                "attachment": f"attachment #{index}"}[kind]
        holders = streams.containers_holding(kind, names, but=format_name)  # never the one asked for
        hint = f" (use {_one_of(holders)} to keep it)" if holders else ""
        warnings.append(f"{dest}: {what} cannot be carried into a {dest.suffix} file and was left out{hint}")
    return OutputCheck(format_name, tuple(copied), tuple(warnings), tuple(as_text))


def _one_of(choices: list[str]) -> str:
    """'.mkv', '.mp4 or .mkv', '.mp4, .mkv or .mov'."""
    return " or ".join([", ".join(choices[:-1]), choices[-1]] if len(choices) > 1 else choices)


class _FilmFile:
    """A film being written: a hidden temporary file beside dest, renamed into place by close().

    Copies the source's side streams untouched (sound and subtitle packets interleaved with the
    video that the subclass adds) and its tags and chapters; `warnings` names the streams the
    output does not carry. checked: the check_output this output passed already (a film checks
    its output once, before any work, and holds its lock since); None: it is checked now.
    """

    def __init__(self, source: VideoInfo, dest: Path, *, force: bool = False, copy_audio: bool = True,
                 checked: OutputCheck | None = None):
        self.source = source
        self.dest = dest = Path(dest)
        self._lock = threading.RLock()  # write() may run in an encoder thread, abort() in another
        self._out = self._in = self._packets = self._pending = self.temp = self._encoder = None
        self._done = self._started = False
        self._copy_map: dict = {}  # input stream index -> output stream
        self._as_text: dict[int, str] = {}  # input stream index -> the text codec it is carried as
        self._covers: list = []  # cover pictures to mux once the file is started
        check = checked if checked is not None else check_output(source, dest, force)
        self.warnings = list(check.warnings)
        self.temp = partial_path(dest)  # the real suffix last: the muxer picks the container from it
        try:
            self._out = av.open(str(self.temp), mode="w")
            self._in = open_input(source.path)
            self._encoder = self._add_video()
            self._video = self._encoder.add_output_stream(self._out, self._header())
            streams.carry_tags(self._in.streams[source.stream_index], self._video, reencoded=True)
            streams.carry_container_tags(self._in, self._out)
            self._as_text = dict(check.as_text) if copy_audio else {}
            self._setup_copy(check.copied if copy_audio else ())
            if self.format_name not in _MPEG_PS:
                self._start(None)  # opens the file and checks the codecs now, not mid-film
        except BaseException as e:
            self.abort()
            if isinstance(e, (OSError, av.FFmpegError, ValueError)):
                raise OutputError(f"{dest}: cannot write ({error_reason(e)})") from None
            raise

    def _add_video(self) -> VideoEncoder:
        raise NotImplementedError

    def _header(self) -> bytes | None:
        """The header (extradata) of the encoder that made the video packets, if not the own one's."""
        return None

    @property
    def format_name(self) -> str:
        return self._out.format.name

    @property
    def time_base(self) -> Fraction:
        return self._encoder.time_base

    def _setup_copy(self, indices: tuple[int, ...]) -> None:
        source_streams = {s.index: s for s in self._in.streams}
        covers = [i for i in indices if streams.is_cover(source_streams[i])]
        for index, picture in streams.cover_pictures(self.source.path, covers).items():
            packet = streams.add_cover(self._out, source_streams[index], picture)
            if packet is not None:
                self._covers.append(packet)
        for index in indices:
            stream = source_streams[index]
            if index in covers:
                continue
            if index in self._as_text:
                copy = self._out.add_mux_stream(self._as_text[index], time_base=stream.time_base)
            else:
                copy = self._out.add_stream_from_template(stream)
            if stream.type != "attachment":  # an attachment's copy has its tags already
                streams.carry_tags(stream, copy, reencoded=False)
                self._copy_map[index] = copy
        if self._copy_map:
            self._packets = self._in.demux(*[source_streams[i] for i in self._copy_map])
        if self.format_name in _MOV:
            kept = [self.source.time_base] + [source_streams[i].time_base for i in self._copy_map]
            clock = streams.movie_timescale(kept)
            if clock:
                self._out.container_options["movie_timescale"] = str(clock)

    def _start(self, video_time: Fraction | None) -> None:
        """Write the file's header, before the first packet: an MPEG-PS muxer's preload is set
        to where the film starts (`video_time`, or the first copied packet if earlier), so it
        keeps the source's timestamps instead of shifting them to start at 0.5 s."""
        if self._started:
            return
        if self.format_name in _MPEG_PS:
            first = [t for t in (video_time, self._peek_copied()) if t is not None]
            if first:
                self._out.container_options["preload"] = str(max(0, math.floor(min(first) * 1_000_000)))
        self._out.start_encoding()
        self._started = True
        for packet in self._covers:
            self._out.mux(packet)
        self._covers = []

    def _peek_copied(self) -> Fraction | None:
        """The time of the next copied packet, which is kept pending."""
        if self._pending is None and self._packets is not None:
            self._pending = self._next_copied()
        return self._pending.dts * self._pending.time_base if self._pending is not None else None

    def _next_copied(self):
        while self._packets is not None:
            try:
                packet = next(self._packets)
            except (StopIteration, av.FFmpegError):
                self._packets = None  # end of input (a damaged tail ends audio like video)
                return None
            if packet.dts is not None and packet.size:
                return packet  # not the demuxer's flush packets
        return None

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
            time = stamp * packet.time_base if stamp is not None else None
            self._start(time)
            if time is not None:
                self._mux_copied_until(time)
            packet.stream = self._video
            self._out.mux(packet)

    def _mux_copied_until(self, limit: Fraction | None) -> None:
        """Mux copied audio/subtitle packets whose time is <= limit (all if None)."""
        while True:
            if self._pending is None:
                self._pending = self._next_copied()
                if self._pending is None:
                    return
            packet = self._pending
            if limit is not None and packet.dts * packet.time_base > limit:
                return
            index = packet.stream.index
            self._pending = None
            if index in self._as_text:
                packet = streams.as_text_packet(packet)
                if packet is None:
                    continue
            packet.stream = self._copy_map[index]
            self._out.mux(packet)

    def close(self) -> None:
        with self._lock:
            if self._done:
                return

            def finish():
                self._mux_video(self._flush_video())
                self._start(None)
                self._mux_copied_until(None)
                self._out.close()
                os.replace(self.temp, self.dest)

            try:
                self._guarded(finish)
            except BaseException:  # Ctrl-C too: no temporary file is left (nor, once renamed, is one needed)
                self.abort()
                raise
            self._done = True
            self._close_inputs()

    def _flush_video(self) -> list:
        return []

    def abort(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._close_inputs()
            if self._out is not None:
                with contextlib.suppress(Exception):  # the file is thrown away anyway
                    self._out.close()
            if self.temp is not None:
                with contextlib.suppress(OSError):
                    self.temp.unlink(missing_ok=True)

    def _close_inputs(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
        if self._in is not None:
            self._packets = None
            self._in.close()
            self._in = None


class VideoWriter(_FilmFile):
    """Frames in (planes at `VideoInfo.pix_fmt`), a film with the source's sound and subtitles out,
    coded with `codec` (default: H.264 at the frames' depth and subsampling)."""

    def __init__(self, source: VideoInfo, dest: Path, *, crf: int = 18, preset: str = "veryfast",
                 codec: OutputCodec | None = None, force: bool = False, copy_audio: bool = True,
                 checked: OutputCheck | None = None):
        self._settings = {"crf": crf, "preset": preset, "codec": codec}
        super().__init__(source, dest, force=force, copy_audio=copy_audio, checked=checked)

    def _add_video(self) -> VideoEncoder:
        return VideoEncoder(self.source, self._out.format.name, self.dest, **self._settings)

    def _flush_video(self) -> list:
        return self._encoder.flush()

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None) -> None:
        with self._lock:
            self._check_open()
            self._guarded(lambda: self._mux_video(self._encoder.encode(y, u, v, pts)))


class PacketRemuxer(_FilmFile):
    """Packets encoded earlier by VideoEncoders of `codec` set up for the same container (their
    header `extradata` given here) in, a film with the source's sound and subtitles out."""

    def __init__(self, source: VideoInfo, dest: Path, *, extradata: bytes | None, codec: OutputCodec | None = None,
                 force: bool = False, checked: OutputCheck | None = None):
        self._extradata, self._codec = extradata, codec
        super().__init__(source, dest, force=force, checked=checked)

    def _add_video(self) -> VideoEncoder:
        # Set up as the segments' encoders were (time base, size, flags, tags); it never encodes,
        # and the header describes the packets to come.
        return VideoEncoder(self.source, self._out.format.name, self.dest, codec=self._codec, preset="ultrafast")

    def _header(self) -> bytes | None:
        return self._extradata

    def write_packet(self, data: bytes, pts: int, dts: int, duration: int, keyframe: bool) -> None:
        """Mux one packet; times in `time_base`."""
        with self._lock:
            self._check_open()
            packet = av.Packet(data)
            packet.pts, packet.dts, packet.duration = pts, dts, duration
            packet.is_keyframe = keyframe
            packet.time_base = self.time_base
            self._guarded(lambda: self._mux_video([packet]))
