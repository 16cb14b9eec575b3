"""The film's encoder (used by write.py and segments.py): YUV planes in, packets of the output
codec (codecs.py: H.264, HEVC, FFV1 or ProRes) out, set up to keep what the source's picture
stream says of its display.

- Bit depth and subsampling: those the frames travel at (`VideoInfo.pix_fmt`, the codec's).
- Size: exactly the source's. 4:2:0 and 4:2:2 H.264 and HEVC cannot code an odd width or height
  (their cropping works in whole chroma samples), so such a film is coded 4:4:4 by them, its
  chroma planes repeated up to full size (FFV1 and ProRes code any size); the luma plane goes in
  untouched either way.
- Sample aspect ratio, colour tags (primaries, transfer, matrix, range): in the H.264 headers and
  the stream's parameters, which the muxers copy into their own boxes.
- Field order: an interlaced source is coded interlaced (x264's MBAFF, ProRes' and FFV1's field
  pictures), each frame marked with its field order (the encoders take it from the frame) and
  the stream flagged with it (an odd-height one, which x264 cannot code interlaced, and HEVC, see
  codecs.OutputCodec.codes_fields, are only flagged).
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
from .codecs import OutputCodec, encoder_options
from .read import (RANGE_JPEG, RANGE_MPEG, SPC_BT470BG, SPC_BT709, SPC_SMPTE170M, SPC_SMPTE240M, VideoInfo,
                   error_reason, planar_format)
from .streams import SHOWN_FIRST, first_field

# Matrices whose tag an output keeps: those the chroma is computed with (color.py: BT.709 for
# bt709 and smpte240m, BT.601 for the others). Other sources are tagged with the one used.
_KEPT_MATRICES = frozenset({SPC_BT709, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M})
# The AVColorPrimaries and AVColorTransferCharacteristic values H.264 can state (others: reserved).
_PRIMARIES = frozenset({1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 22})
_TRANSFERS = frozenset(range(1, 19)) - {2, 3}
_MOV_FORMATS = frozenset({"mp4", "mov"})  # where HEVC needs the hvc1 tag (Apple's players take no other)


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


class _FrameMarker:
    """Sets what PyAV cannot set on a frame, with FFmpeg's filters: its field order (setfield) and
    its sample aspect ratio (setsar, which FFV1 codes per frame)."""

    def __init__(self, width: int, height: int, pix_fmt: str, time_base: Fraction, filters: list[tuple[str, str]]):
        self.graph = av.filter.Graph()
        last = self.graph.add_buffer(width=width, height=height, format=pix_fmt, time_base=time_base)
        for name, argument in filters:
            node = self.graph.add(name, argument)
            last.link_to(node)
            last = node
        sink = self.graph.add("buffersink")
        last.link_to(sink)
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
    """The encoder of a film: frames in, packets (in `time_base`) out.

    It is set up on a stream of a `format_name` container that writes nowhere, so the format
    shapes it (global headers, AVI's lack of pts) the same way for the frame writer, the
    resumable segments and the remuxer that joins them; `add_output_stream` gives the real file
    a stream with the same parameters. `first_index` and `last_pts` carry the timeline on when a
    film is encoded in pieces. close() it.
    """

    def __init__(self, source: VideoInfo, format_name: str, dest: Path, *, codec: OutputCodec | None = None,
                 crf: int = 18, preset: str = "veryfast", first_index: int = 0, last_pts: int | None = None):
        self.source = source
        self.codec = codec or OutputCodec("h264", source.bit_depth, source.chroma)
        self.time_base = encoder_time_base(source, format_name)
        self._timeline = Timeline(source, self.time_base, first_index, last_pts)
        self._width, self._height = source.width, source.height
        odd = self._width % 2 or self._height % 2
        whole = self.codec.name in ("ffv1", "prores") or source.chroma == "444"  # codes any size as it is
        self.pix_fmt = source.pix_fmt if whole or not odd else planar_format(source.bit_depth, "444")
        self._container = av.open(os.devnull, mode="w", format=format_name)
        try:
            self._setup(format_name, dest, crf, preset)
        except BaseException:
            self.close()
            raise

    def _setup(self, format_name: str, dest: Path, crf: int, preset: str) -> None:
        source, codec = self.source, self.codec
        # (x264 cannot code odd-height fields: such films are only flagged)
        fields = SHOWN_FIRST.get(source.field_order) if codec.codes_fields and self._height % 2 == 0 else None
        threads = encoder_threads(self._width, self._height)
        options = encoder_options(codec, crf=crf, preset=preset, width=self._width, height=self._height,
                                  pix_fmt=self.pix_fmt, threads=threads, format_name=format_name,
                                  fields=fields if codec.name == "h264" else None)
        if format_name == "avi":
            options["bf"] = "0"  # AVI has no pts: B-frames would need the "packed bitstream" hack
        stream = self._container.add_stream(codec.encoder, rate=source.fps)
        stream.width, stream.height, stream.pix_fmt = self._width, self._height, self.pix_fmt
        stream.time_base = self.time_base
        cc = stream.codec_context
        cc.time_base = self.time_base
        cc.thread_count = threads if codec.name == "h264" else 0  # x265 threads by its own settings
        if codec.name == "hevc" and format_name in _MOV_FORMATS:
            cc.codec_tag = "hvc1"
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
        marks = []
        if fields:
            cc.flags = cc.flags | Flags.interlaced_dct | Flags.interlaced_me
            marks.append(("setfield", fields))
        if codec.name == "ffv1" and source.sample_aspect_ratio:
            # FFV1 codes the frame's, and Matroska's muxer takes it from the stream, which PyAV cannot set
            marks.append(("setsar", f"{source.sample_aspect_ratio.numerator}/{source.sample_aspect_ratio.denominator}"))
        self._mark = _FrameMarker(self._width, self._height, self.pix_fmt, self.time_base, marks) if marks else None
        stream.options = options
        self.stream = stream
        try:
            cc.open()  # fail now, naming the settings, rather than at the first frame
        except av.FFmpegError as e:
            raise OutputError(f"{dest}: cannot start the {codec.encoder} encoder with "
                              f"{', '.join(f'{k} {v}' for k, v in options.items())} ({error_reason(e)})") from None
        self._container.start_encoding()  # fills the stream's parameters (headers, tags) from the encoder

    def add_output_stream(self, container, extradata: bytes | None = None):
        """A stream in `container` for this encoder's packets: its parameters, the header
        `extradata` of the encoder that made the packets if given, and the source's display matrix."""
        stream = container.add_stream_from_template(self.stream, opaque=True)
        stream.codec_tag = self.stream.codec_tag  # ProRes' profile, HEVC's hvc1 (the template drops it)
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
        if self.pix_fmt == "yuv420p" and self._width % 2 == 0 and self._height % 2 == 0:
            return av.VideoFrame.from_ndarray(np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(-1, self._width),
                                              format="yuv420p")
        h, w = self._height, self._width
        if self.pix_fmt != self.source.pix_fmt:  # an odd-sized film coded 4:4:4: chroma repeated up to full size
            rows, step = self._chroma_rows(u.shape[0]), 1 if u.shape[1] == w else 2
            u, v = u[rows].repeat(step, 1)[:, :w], v[rows].repeat(step, 1)[:, :w]
        frame = av.VideoFrame(w, h, self.pix_fmt)
        for plane, data in zip(frame.planes, (y, u, v)):
            padded = np.zeros((plane.height, plane.line_size // data.itemsize), data.dtype)
            padded[:, : plane.width] = data
            plane.update(padded)
        return frame

    def _chroma_rows(self, chroma_height: int) -> np.ndarray:
        """The chroma row each picture row takes, for chroma_height rows: its own field's when interlaced."""
        rows = np.arange(self._height)
        if chroma_height == self._height:
            return rows
        if first_field(self.source.field_order) is None:
            return np.minimum(rows // 2, chroma_height - 1)
        return np.minimum(2 * (rows // 4) + rows % 2, chroma_height - 1)  # 4:2:0 fields: chroma rows alternate too

    def encode(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None) -> list:
        frame = self._frame(y, u, v)
        frame.time_base = self.time_base
        frame.pts = self._timeline.next(pts)
        if self._mark is not None:
            frame = self._mark(frame)
        cc = self.stream.codec_context
        frame.color_range, frame.colorspace = cc.color_range, cc.colorspace
        frame.color_primaries, frame.color_trc = cc.color_primaries, cc.color_trc
        return self.stream.encode(frame)

    def flush(self) -> list:
        return self.stream.encode(None)

    @property
    def last_pts(self) -> int | None:
        return self._timeline.last_pts
