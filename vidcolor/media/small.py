"""Small frames for the shot scan (film/shot_scan.py): each frame's luma with a given short side,
from a decoding pass of their own (`decode_small_frames`) or from the colour pass's, which then
decodes its film once (`decode_frames_and_small`), or from a frame inside the film, for a scan that
goes on from there (`decode_small_frames_from`, seek.py). All decode alike (read._iter_av_frames), so
their small frames are the same."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from av.video.reformatter import VideoReformatter

from .read import VideoInfo, Warn, YuvConverter, YuvFrame, _iter_av_frames, _plane, probe_video
from .seek import _av_frames_from


@dataclass
class SmallFrame:
    """A frame of the scan: its luma at the small size, and the decoded frame, for a picture on demand."""

    index: int
    luma: np.ndarray
    seconds: float  # its time from the start of the film
    frame: object  # the av.VideoFrame
    info: VideoInfo

    def rgb(self, short_side: int) -> np.ndarray:
        """The frame in colour (RGB uint8) with the given short side, or its own size if smaller."""
        width, height = _small_size(self.info, min(short_side, self.info.width, self.info.height))
        colorspace = "ITU709" if self.info.matrix == "bt709" else "ITU601"
        picture = self.frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA",
                                      src_colorspace=colorspace, src_color_range="JPEG" if self.info.full_range else "MPEG")
        return picture.to_ndarray()


def _small_size(info: VideoInfo, short_side: int) -> tuple[int, int]:
    if info.width <= info.height:
        return short_side, max(1, round(info.height * short_side / info.width))
    return max(1, round(info.width * short_side / info.height)), short_side


class _Shrinker:
    """A decoded frame -> its SmallFrame; one per pass (it keeps its swscale context and the first frame's time)."""

    def __init__(self, info: VideoInfo, short_side: int, first: float | None = None):
        self.info, self.size = info, _small_size(info, short_side)
        self.reformatter = VideoReformatter()
        self.first = first  # the film's first frame's time; None: the first frame shrunk's

    def __call__(self, index: int, frame) -> SmallFrame:
        width, height = self.size
        # JPEG on both sides: swscale otherwise stretches limited-range luma to 0-255
        # when going to "gray"; this keeps the same code values as YuvFrame.y (a 10-bit one's
        # scaled to 8 bits, which the lightness table for 8 bits then reads alike).
        small = self.reformatter.reformat(frame, width=width, height=height, format="gray", interpolation="AREA",
                                          src_color_range="JPEG", dst_color_range="JPEG")
        time = float(frame.time) if frame.time is not None else index / float(self.info.fps)
        self.first = time if self.first is None else self.first
        return SmallFrame(index, _plane(small, 0), time - self.first, frame, self.info)


def decode_small_frames(path, short_side: int, *, on_warning: Warn | None = None) -> Iterator[SmallFrame]:
    """The scan's own pass: each frame's luma with `short_side` (8-bit codes), as decode_small_luma."""
    info = probe_video(path)
    shrink = _Shrinker(info, short_side)
    for index, frame, _ in _iter_av_frames(path, info, on_warning):
        yield shrink(index, frame)


def decode_small_frames_from(path, info: VideoInfo, short_side: int, first: int, frame_pts: Sequence[int] | None, *,
                             on_warning: Warn | None = None) -> Iterator[SmallFrame]:
    """decode_small_frames' frames from index `first` on, decoded from the key frame at or before it;
    `frame_pts`: the pts of frames 0 to `first` at least, as a decode from the start gives them
    (seek.py). Without them (or from 0): every frame, from the start."""
    if not first or frame_pts is None:
        yield from decode_small_frames(path, short_side, on_warning=on_warning)
        return
    shrink = _Shrinker(info, short_side, first=float(int(frame_pts[0]) * info.time_base))
    for index, frame, _ in _av_frames_from(path, info, first, [int(p) for p in frame_pts], on_warning,
                                           pts_of_all=False):
        yield shrink(index, frame)


def decode_frames_and_small(path, info: VideoInfo, short_side: int, *,
                            on_warning: Warn | None = None) -> Iterator[tuple[YuvFrame, SmallFrame]]:
    """One pass for the colour pass and the scan: each frame as decode_frames gives it and as
    decode_small_frames does (`info` may be the frames' as they travel in another codec: only their
    depth and subsampling differ, which the small frames do not use)."""
    to_yuv, shrink = YuvConverter(info), _Shrinker(info, short_side)
    for index, frame, _ in _iter_av_frames(path, info, on_warning):
        yield to_yuv(index, frame), shrink(index, frame)


def decode_small_luma(path, short_side: int, *, on_warning: Warn | None = None) -> Iterator[tuple[int, np.ndarray]]:
    for small in decode_small_frames(path, short_side, on_warning=on_warning):
        yield small.index, small.luma
