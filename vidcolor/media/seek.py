"""Decoding a film from a frame in it: a seek to the key frame at or before that frame, instead of
decoding every frame before it (a piece of a long film, a resumed run).

A frame's index is its place in a decode from the start (read._iter_av_frames counts them, passing
over what cannot be decoded), which a seek cannot know by itself: `frame_pts`, the pts of every
frame as a decode from the start gives them (the shot scan records them), tells it. After the seek,
the frames before the first key frame the decoder gives are passed over (an open GOP's leading
pictures, which need frames from before the seek); from that key frame on, each frame must be the
next one of `frame_pts`, with its own pts: a frame whose pts was made up or reordered (read._FrameTimes:
AVI's frames take their packets' times, which a seek shifts) cannot be told by it. Wherever they
disagree (the container cannot seek, it landed after the frame, a frame is missing or unknown), the
film is decoded from its start instead, and goes on from the frame the seek had reached: the frames
are the same either way. For the shot scan resumed inside a film (small.decode_small_frames_from),
`frame_pts` may hold only the frames up to the first one wanted (`pts_of_all=False`): the frames after
them are taken as the decoder gives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import av

from . import read
from .read import VideoInfo, Warn, YuvFrame, decode_frames, open_input, yuv_frames


class _Lost(Exception):
    """The frames after the seek disagree with frame_pts."""


def decode_frames_from(path, info: VideoInfo, first: int, frame_pts: Sequence[int] | None, *,
                       on_warning: Warn | None = None, pts_of_all: bool = True) -> Iterator[YuvFrame]:
    """The frames of `path` from index `first` on (decode_frames' frames, the same ones), decoded from
    the key frame at or before it. frame_pts: every frame's pts, or (pts_of_all=False) those of
    frames 0 to `first` at least. Without them (or from 0): every frame, from the start."""
    if not first or frame_pts is None:
        yield from decode_frames(path, info, on_warning=on_warning)
        return
    yield from yuv_frames(_av_frames_from(Path(path), info, first, [int(p) for p in frame_pts], on_warning,
                                          pts_of_all), info)


def _av_frames_from(path: Path, info: VideoInfo, first: int, frame_pts: list[int], on_warning: Warn | None,
                    pts_of_all: bool = True):
    wanted = first  # the next frame to hand on
    if first < len(frame_pts) and len(set(frame_pts)) == len(frame_pts):
        try:
            for index, frame in _seeked(path, info, first, frame_pts, read._warner(on_warning), pts_of_all):
                if index >= first:
                    yield index, frame, info
                    wanted = index + 1
            if wanted >= len(frame_pts):
                return
        except _Lost:
            pass
    for index, frame, _ in read._iter_av_frames(path, info, on_warning):
        if index >= wanted:
            yield index, frame, info


def _seeked(path: Path, info: VideoInfo, first: int, frame_pts: list[int], warn: Warn, pts_of_all: bool = True):
    """(index, av.VideoFrame) from the key frame the seek lands on; _Lost where they disagree with frame_pts,
    or go on past them though it holds every frame's (pts_of_all)."""
    index_of = {pts: index for index, pts in enumerate(frame_pts)}
    with open_input(path) as container:
        stream = container.streams[info.stream_index]
        stream.thread_type = "AUTO"
        if container.format.name == "avi":
            raise _Lost  # its frames' times are their packets' (read._FrameTimes)
        try:
            container.seek(frame_pts[first], stream=stream, backward=True)
        except (av.FFmpegError, OSError, ValueError):
            raise _Lost from None
        times, own = read._FrameTimes(use_packet_dts=False), {}
        expected = None
        for packet, frames in read._decode_packets(container, stream, path, info, warn):
            own.update((id(frame), frame.pts) for frame in frames or ())
            for frame in times.push(packet, frames) if frames is not None else times.drain():
                if own.pop(id(frame)) != frame.pts:
                    raise _Lost  # reordered by _FrameTimes
                if expected is None:
                    if not frame.key_frame:
                        continue  # before the key frame the decoder starts at
                    expected = index_of.get(frame.pts)
                    if expected is None or expected > first:
                        raise _Lost  # landed after the frame, or on one a decode from the start does not give
                known = expected < len(frame_pts)
                if (known and frame.pts != frame_pts[expected]) or (not known and pts_of_all):
                    raise _Lost
                yield expected, frame
                expected += 1
