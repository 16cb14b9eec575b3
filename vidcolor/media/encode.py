"""The film's encoder (used by write.py and segments.py): YUV planes in, H.264 packets out, set
up to keep what the source's picture stream says of its display.

- Bit depth and subsampling: those the frames travel at (`VideoInfo.pix_fmt`): 8-bit 4:2:0
  (High), or for a deeper source 10-bit 4:2:0 (High 10) or 4:2:2 (High 4:2:2).

- Size: exactly the source's. 4:2:0 H.264 cannot code an odd width or height (its cropping works
  in whole chroma samples), so an odd-sized film is coded 4:4:4 (High 4:4:4 Predictive), its
  chroma planes repeated up to full size; the luma plane goes in untouched either way.
- Sample aspect ratio, colour tags (primaries, transfer, matrix, range): in the H.264 headers and
  the stream's parameters, which the muxers copy into their own boxes.
- Field order: an interlaced source is coded interlaced (x264's MBAFF), each frame marked with
  its field order (x264 takes it from the frame) and the stream flagged with it (an odd-height
  one, which x264 cannot code interlaced, is only flagged).
- Rotation and flips (the display matrix) are the container's: see `add_output_stream`.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np
from av.codec.context import Flags

from ..errors import OutputError
from .read import RANGE_JPEG, RANGE_MPEG, SPC_BT470BG, SPC_BT709, SPC_SMPTE170M, SPC_SMPTE240M, VideoInfo, error_reason
from .streams import FIELD_BB, FIELD_BT, FIELD_TB, FIELD_TT, MPEG_PS_FORMATS

# Matrices whose tag an output keeps: those the chroma is computed with (color.py: BT.709 for
# bt709 and smpte240m, BT.601 for the others). Other sources are tagged with the one used.
_KEPT_MATRICES = frozenset({SPC_BT709, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M})
# The AVColorPrimaries and AVColorTransferCharacteristic values H.264 can state (others: reserved).
_PRIMARIES = frozenset({1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 22})
_TRANSFERS = frozenset(range(1, 19)) - {2, 3}
# Field orders, as x264 takes them: which field is shown first.
_SHOWN_FIRST = {FIELD_TT: "tff", FIELD_BT: "tff", FIELD_BB: "bff", FIELD_TB: "bff"}


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


class _FieldMarker:
    """Marks frames interlaced with a field order (FFmpeg's setfield filter: PyAV cannot set frame flags)."""

    def __init__(self, width: int, height: int, pix_fmt: str, time_base: Fraction, order: str):
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(width=width, height=height, format=pix_fmt, time_base=time_base)
        mark, sink = self.graph.add("setfield", order), self.graph.add("buffersink")
        source.link_to(mark)
        mark.link_to(sink)
        self.graph.configure()

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        self.graph.push(frame)
        return self.graph.pull()


def encoder_time_base(source: VideoInfo, format_name: str) -> Fraction:
    """The time base of the encoder's packets for a `format_name` container."""
    return 1 / source.fps if format_name == "avi" else source.time_base  # AVI times frames by their index


class Timeline:
    """The encoder's timestamp of each frame in turn: the source's pts in the encoder's time base
    (or the frame's index at the film's rate, for a frame without one), kept rising. A film encoded
    in pieces carries it on with `first_index` and `last_pts`; replaying the frames before a piece
    gives the `last_pts` it starts after."""

    def __init__(self, source: VideoInfo, time_base: Fraction, first_index: int = 0, last_pts: int | None = None):
        self.source, self.time_base = source, time_base
        self.count, self.last_pts = first_index, last_pts

    def next(self, pts: int | None) -> int:
        if pts is None:
            out = round(self.count / self.source.fps / self.time_base)
        else:
            out = round(pts * self.source.time_base / self.time_base)
        if self.last_pts is not None and out <= self.last_pts:
            out = self.last_pts + 1  # the encoder refuses repeated timestamps
        self.count += 1
        self.last_pts = out
        return out


class VideoEncoder:
    """The H.264 encoder of a film: frames in, packets (in `time_base`) out.

    It is set up on a stream of a `format_name` container that writes nowhere, so the format
    shapes it (global headers, AVI's lack of pts) the same way for the frame writer, the
    resumable segments and the remuxer that joins them; `add_output_stream` gives the real file
    a stream with the same parameters. `first_index` and `last_pts` carry the timeline on when a
    film is encoded in pieces. close() it.
    """

    def __init__(self, source: VideoInfo, format_name: str, dest: Path, *, codec: str = "libx264", crf: int = 18,
                 preset: str = "veryfast", first_index: int = 0, last_pts: int | None = None):
        self.source = source
        self.time_base = encoder_time_base(source, format_name)
        self._timeline = Timeline(source, self.time_base, first_index, last_pts)
        self._width, self._height = source.width, source.height
        odd = self._width % 2 or self._height % 2
        self.pix_fmt = source.pix_fmt if not odd else "yuv444p" if source.bit_depth == 8 else f"yuv444p{source.bit_depth}le"
        self._container = av.open(os.devnull, mode="w", format=format_name)
        try:
            self._setup(format_name, dest, codec, crf, preset)
        except BaseException:
            self.close()
            raise

    @classmethod
    def detached(cls, source: VideoInfo, format_name: str, dest: Path, **settings) -> "VideoEncoder":
        """An encoder shaped by a `format_name` container (the same as the constructor)."""
        return cls(source, format_name, dest, **settings)

    def _setup(self, format_name: str, dest: Path, codec: str, crf: int, preset: str) -> None:
        source = self.source
        options = {"crf": str(crf), "preset": preset}
        if crf == 0 and source.bit_depth > 8:
            # x264's crf 0 is lossless at 8 bits only (deeper, its scale starts 12 steps lower): qp 0 is
            options = {"qp": "0", "preset": preset}
        # x264's macroblock tree reads memory it has not written when a stream ends (each segment
        # ends one), so the same frames could give different packets from run to run; without it
        # the output depends on the input and the settings alone.
        x264_params = ["mbtree=0"]
        if format_name in MPEG_PS_FORMATS:
            # MPEG-PS stamps few H.264 frames and carries no frame rate: the one in the H.264
            # headers is then all a reader has (else x264 writes its time base there, 90 kHz)
            x264_params.append("force-cfr=1")
        if format_name == "avi":
            options["bf"] = "0"  # AVI has no pts: B-frames would need the "packed bitstream" hack
        stream = self._container.add_stream(codec, rate=source.fps)
        stream.width, stream.height, stream.pix_fmt = self._width, self._height, self.pix_fmt
        stream.time_base = self.time_base
        cc = stream.codec_context
        cc.time_base = self.time_base
        cc.thread_count = encoder_threads(self._width, self._height)
        cc.color_range = RANGE_JPEG if source.full_range else RANGE_MPEG
        if source.colorspace in _KEPT_MATRICES:
            cc.colorspace = source.colorspace
        else:
            cc.colorspace = SPC_BT709 if source.matrix == "bt709" else SPC_SMPTE170M
        cc.color_primaries = source.color_primaries if source.color_primaries in _PRIMARIES else 2
        cc.color_trc = source.color_trc if source.color_trc in _TRANSFERS else 2  # 2: unspecified
        if source.sample_aspect_ratio:
            cc.sample_aspect_ratio = source.sample_aspect_ratio
        cc.field_order = source.field_order
        self._mark_fields = None
        if source.field_order in _SHOWN_FIRST and self._height % 2 == 0:  # x264 cannot code odd-height fields
            cc.flags = cc.flags | Flags.interlaced_dct | Flags.interlaced_me
            # x264 takes each frame's field order, but writes its headers before the first frame
            x264_params += [f"{_SHOWN_FIRST[source.field_order]}=1", "pic-struct=1"]
            self._mark_fields = _FieldMarker(self._width, self._height, self.pix_fmt, self.time_base,
                                             _SHOWN_FIRST[source.field_order])
        if x264_params and codec == "libx264":
            options["x264-params"] = ":".join(x264_params)
        stream.options = options
        self.stream = stream
        try:
            cc.open()  # fail now, naming the settings, rather than at the first frame
        except av.FFmpegError as e:
            raise OutputError(f"{dest}: cannot start the {codec} encoder with preset "
                              f"{preset!r}, crf {crf} ({error_reason(e)})") from None
        self._container.start_encoding()  # fills the stream's parameters (headers, tags) from the encoder

    def add_output_stream(self, container, extradata: bytes | None = None):
        """A stream in `container` for this encoder's packets: its parameters, the header
        `extradata` of the encoder that made the packets if given, and the source's display matrix."""
        stream = container.add_stream_from_template(self.stream, opaque=True)
        if extradata is not None:
            stream.codec_context.extradata = extradata
        if self.source.display_matrix is not None:
            stream.set_display_matrix(self.source.display_matrix)
        return stream

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None

    @property
    def extradata(self) -> bytes | None:
        return self.stream.codec_context.extradata

    def _frame(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> av.VideoFrame:
        if self.pix_fmt == "yuv420p":
            return av.VideoFrame.from_ndarray(np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(-1, self._width),
                                              format="yuv420p")
        h, w = self._height, self._width
        if self.pix_fmt == "yuv444p":
            return av.VideoFrame.from_ndarray(np.stack([y, u.repeat(2, 0).repeat(2, 1)[:h, :w],
                                                        v.repeat(2, 0).repeat(2, 1)[:h, :w]]), format="yuv444p")
        if self.pix_fmt.startswith("yuv444p"):  # a deeper odd-sized film: chroma repeated up to full size
            rows = 1 if self.source.chroma == "422" else 2
            u, v = u.repeat(rows, 0).repeat(2, 1)[:h, :w], v.repeat(rows, 0).repeat(2, 1)[:h, :w]
        frame = av.VideoFrame(w, h, self.pix_fmt)
        for plane, data in zip(frame.planes, (y, u, v)):
            padded = np.zeros((plane.height, plane.line_size // data.itemsize), data.dtype)
            padded[:, : plane.width] = data
            plane.update(padded.tobytes())
        return frame

    def encode(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None) -> list:
        frame = self._frame(y, u, v)
        frame.time_base = self.time_base
        frame.pts = self._timeline.next(pts)
        if self._mark_fields is not None:
            frame = self._mark_fields(frame)
        cc = self.stream.codec_context
        frame.color_range, frame.colorspace = cc.color_range, cc.colorspace
        frame.color_primaries, frame.color_trc = cc.color_primaries, cc.color_trc
        return self.stream.encode(frame)

    def flush(self) -> list:
        return self.stream.encode(None)

    @property
    def last_pts(self) -> int | None:
        return self._timeline.last_pts
