"""Resumable films: the coloured video is kept as finished segments in a side folder.

Every remaster encodes its video in segments of a fixed number of frames, each
saved in `.<output name>.vidcolor-parts/` beside the output and renamed into
place once complete. At the end the segments' packets are muxed, not re-encoded,
into the output along with the source's audio and subtitles (copied once, over
the whole length), and the folder is removed. After a crash, kill -9 or Ctrl-C,
a run with resume=True reuses a folder made from the same source with the same
settings: its shot plan and every complete segment, so only the rest is coloured.
While the plan's scan goes on, the shots it has ended so far are kept too (plan_so_far.npz, one
file rewritten whole), so that a resumed run scans only the rest of the film (shot_plan.py).

A segment holds its encoder's packets as they came out (bytes in a .packets file,
pts/dts/duration/key flag in a .json index written last): with no container in
between, the timestamps come back exactly as the encoder made them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import OutputError
from ..media import WRITE_ERRORS, OutputCodec, PacketRemuxer, VideoEncoder, VideoInfo, library_versions
from ..outputs import atomic_path
from .shot_plan import PlanSoFar, ShotPlan
from .truecolor import ShotColor

FINGERPRINT = "fingerprint.json"
PLAN = "plan.json"
EMBEDDINGS = "embeddings.npy"
FRAME_PTS = "frame_pts.npy"  # every frame's pts, for decoding from a frame inside the film (media.decode_frames_from)
PLAN_SO_FAR = "plan_so_far.npz"  # an unfinished scan's ended shots (PlanSoFar.arrays); gone once plan.json is there
# How segments are encoded (2: exact sizes, 4:4:4 for odd ones, no macroblock tree; 3: a 10-bit
# source's at 10 bits, 8-bit ones as in 2; 4: the output codec's packets, interlaced films coloured
# per field); segments of another format are not reused.
SEGMENT_FORMAT = 4


def parts_folder(output: Path) -> Path:
    return output.with_name(f".{output.name}.vidcolor-parts")


@dataclass
class Segment:
    index: int
    first_frame: int
    frames: int
    time_base: Fraction
    extradata: bytes | None
    last_pts: int  # encoder pts of its last frame: the next segment's pts continue after it
    packets: list[list[int]]  # [size, pts, dts, duration, keyframe] in encoder time base, decode order
    data: Path


def segment_length(requested: int, chunk: int) -> int:
    """Frames per segment: `requested` rounded up to whole chunks (a chunk is what one model call
    takes), so a resumed run's batches line up with an uninterrupted run's."""
    return -(-max(1, requested) // chunk) * chunk


def fingerprint(source: Path, settings: dict) -> dict:
    """What a resumed run must share with the interrupted one for the film to come out the same:
    the source file as it was, the software's versions, and the run's `settings`."""
    stat = source.stat()
    return {"vidcolor": __version__, "segment_format": SEGMENT_FORMAT, **library_versions(), "source": str(source.resolve()),
            "source_size": stat.st_size, "source_mtime_ns": stat.st_mtime_ns, **settings}


@dataclass(frozen=True)
class ResumePlan:
    """Which segments a run makes: those after the ones an interrupted run finished (`after`), or,
    for one piece of a film coloured by several workers, segments first_segment..stop_segment-1.

    Frames before `start` are coloured again only as far back as the smoothing at `start`
    reaches (`warm_up`), and, for a piece, frames from `stop` on only as far as the smoothing
    before it looks ahead (`run_out`); both in whole chunks aligned as in an uninterrupted run and
    never across a cut (the smoothing stops there), so the segments come out as if the whole film
    had been coloured in one go.
    """

    first_segment: int
    segment_frames: int
    chunk: int
    last_pts: int | None = None  # encoder pts of segment first_segment - 1's last frame; None if not known
    resumed_frames: int = 0  # frames of the finished segments before first_segment
    stop_segment: int | None = None  # the first segment not made; None: to the end of the film

    @classmethod
    def after(cls, done: list[Segment] | tuple[Segment, ...], segment_frames: int, chunk: int) -> ResumePlan:
        return cls(len(done), segment_frames, chunk, done[-1].last_pts if done else None, sum(s.frames for s in done))

    @property
    def start(self) -> int:
        return self.first_segment * self.segment_frames

    @property
    def stop(self) -> int | None:
        return None if self.stop_segment is None else self.stop_segment * self.segment_frames

    def warm_up(self, reach: int, shot_start: int = 0) -> int:
        """The first frame to colour, for smoothing that looks `reach` frames back; `shot_start`:
        where the shot of frame `start` begins."""
        back = self.start - min(self.start, -(-reach // self.chunk) * self.chunk)
        return max(back, shot_start // self.chunk * self.chunk)

    def run_out(self, reach: int, next_cut: int | None = None) -> int | None:
        """The first frame not to colour (None: to the end), for smoothing that looks `reach` frames
        ahead; `next_cut`: the first shot start at or after `stop`, if any."""
        if self.stop is None:
            return None
        ahead = self.stop + -(-reach // self.chunk) * self.chunk
        return ahead if next_cut is None else min(ahead, -(-next_cut // self.chunk) * self.chunk)

    def is_complete(self, frames: int) -> bool:
        if self.stop_segment is not None:
            return self.first_segment >= self.stop_segment
        return self.first_segment > 0 and self.start >= frames


class SegmentStore:
    """The side folder of one output: fingerprint, shot plan and complete segments."""

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def open(cls, output: Path, fingerprint: dict, *, resume: bool, warn: Callable[[str], None]) -> SegmentStore:
        """The folder for `output`, reused if resume and it was made with the same fingerprint, else new."""
        folder = parts_folder(output)
        fingerprint = json.loads(json.dumps(fingerprint))  # as it reads back
        if folder.is_dir():
            if resume:
                changed = _changed(folder, fingerprint)
                if changed == []:
                    return cls(folder)
                why = f"made with other {', '.join(changed)}" if changed else "unreadable"
                warn(f"{folder}: starting over, the unfinished work kept there was {why}")
            else:
                warn(f"{folder}: starting over; the unfinished work kept there is discarded (--resume goes on from it)")
        _remove(folder)
        with _writing_errors(folder):
            folder.mkdir()
            _write_atomic(folder / FINGERPRINT, json.dumps(fingerprint, indent=1).encode())
        return cls(folder)

    @classmethod
    def reopen(cls, output: Path, fingerprint: dict) -> SegmentStore:
        """The folder of `output` that another process opened (SegmentStore.open) with the same
        fingerprint: OutputError if it is gone or was made with other settings."""
        folder = parts_folder(output)
        changed = _changed(folder, json.loads(json.dumps(fingerprint)))
        if changed != []:
            why = f"was made with other {', '.join(changed)}" if changed else "is gone"
            raise OutputError(f"{folder}: this worker cannot add segments: the folder {why}")
        return cls(folder)

    def resume_plan(self, segment_frames: int, chunk: int) -> ResumePlan:
        return ResumePlan.after(self.complete_segments(), segment_frames, chunk)

    def finished(self, first: int = 0, stop: int | None = None) -> list[Segment]:
        """Complete segments first, first + 1, ... (before `stop`) for as long as they are complete;
        unlike complete_segments() it deletes nothing, so other processes may be writing others."""
        segments: list[Segment] = []
        while (stop is None or first + len(segments) < stop) and (
                segment := self._read_segment(first + len(segments))) is not None:
            segments.append(segment)
        return segments

    def save_plan(self, plan: ShotPlan) -> None:
        """Keep a finished scan's shot plan (its embeddings, and each frame's pts where known) here."""
        with _writing_errors(self.folder):
            for name, array in ((EMBEDDINGS, np.asarray(plan.embeddings)), (FRAME_PTS, plan.frame_pts)):
                if array is not None:
                    with atomic_path(self.folder / name, sync=True) as temp, open(temp, "wb") as file:
                        np.save(file, np.ascontiguousarray(array), allow_pickle=False)
            colors = [[c.residual, c.tint] for c in plan.colors]
            _write_atomic(self.folder / PLAN, json.dumps({"cuts": plan.cuts, "frames": plan.frames,
                                                          "colors": colors}).encode())
            (self.folder / PLAN_SO_FAR).unlink(missing_ok=True)

    def save_plan_so_far(self, so_far: PlanSoFar) -> None:
        """Keep the shots an unfinished scan has ended (if the folder cannot take them, it goes on without)."""
        with contextlib.suppress(OSError), atomic_path(self.folder / PLAN_SO_FAR, sync=True) as temp, \
                open(temp, "wb") as file:
            np.savez(file, **so_far.arrays())

    def load_plan_so_far(self) -> PlanSoFar | None:
        """The shots an unfinished scan had ended, or None (none kept, or a damaged file: not trusted)."""
        try:
            with np.load(self.folder / PLAN_SO_FAR, allow_pickle=False) as arrays:
                return PlanSoFar.from_arrays({name: arrays[name] for name in arrays.files})
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None

    def load_plan(self) -> ShotPlan | None:
        """The saved shot plan (ShotPlan.saved), or None."""
        plan = _read_json(self.folder / PLAN)  # written last: there only if the embeddings are complete
        if plan is None or "colors" not in plan:
            return None
        try:
            embeddings = np.load(self.folder / EMBEDDINGS, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if not len(embeddings) == len(plan["colors"]) == len(plan["cuts"]) + 1:
            return None
        try:
            frame_pts = np.load(self.folder / FRAME_PTS, allow_pickle=False)
        except (OSError, ValueError):
            frame_pts = None  # a side folder made by an older version
        colors = [ShotColor(float(residual), float(tint)) for residual, tint in plan["colors"]]
        return ShotPlan.saved([int(c) for c in plan["cuts"]], embeddings, int(plan["frames"]), colors,
                              frame_pts=frame_pts)

    def complete_segments(self) -> list[Segment]:
        """Segments 0, 1, ... for as long as they are complete; every other segment file is deleted."""
        if not self.folder.is_dir():
            return []
        segments = self.finished()
        keep = {FINGERPRINT, PLAN, EMBEDDINGS, FRAME_PTS, PLAN_SO_FAR}
        keep |= {p.name for s in segments for p in self.paths(s.index)}
        for path in self.folder.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
        return segments

    def remove(self) -> None:
        _remove(self.folder)

    def paths(self, index: int) -> tuple[Path, Path]:
        stem = self.folder / f"segment-{index:06d}"
        return stem.with_suffix(".packets"), stem.with_suffix(".json")

    def _read_segment(self, index: int) -> Segment | None:
        data, meta_path = self.paths(index)
        meta = _read_json(meta_path)
        try:
            if meta is None or data.stat().st_size != meta["size"]:
                return None
            extradata = base64.b64decode(meta["extradata"]) if meta["extradata"] is not None else None
            return Segment(index, meta["first_frame"], meta["frames"], Fraction(meta["time_base"]), extradata,
                           meta["last_pts"], meta["packets"], data)
        except (OSError, KeyError, TypeError, ValueError):
            return None


class SegmentWriter:
    """Encodes frames into segments of `segment_frames` frames, saving each once complete.

    Each segment has its own encoder, set up for the final file's container format (so the
    same global headers), so the packets of all segments join into one stream. write() may
    run in another thread than the constructor; abort() removes the unfinished segment.
    """

    def __init__(self, store: SegmentStore, source: VideoInfo, output: Path, format_name: str, *,
                 codec: OutputCodec, crf: int, preset: str, segment_frames: int, first_segment: int,
                 last_pts: int | None):
        self.store, self.source, self.output, self.format_name = store, source, output, format_name
        self.codec, self.crf, self.preset, self.segment_frames = codec, crf, preset, segment_frames
        self.index, self.last_pts = first_segment, last_pts
        self._encoder = self._file = self._data = None
        self._packets: list[list[int]] = []
        self._frames = self._size = 0

    def write(self, y: np.ndarray, u: np.ndarray, v: np.ndarray, pts: int | None) -> None:
        with _writing_errors(self.store.folder):
            if self._encoder is None:
                self._start()
            self._store_packets(self._encoder.encode(y, u, v, pts))
            self._frames += 1
            if self._frames == self.segment_frames:
                self._finish()

    def close(self) -> None:
        """Saves the last, shorter segment, if any."""
        if self._encoder is not None:
            with _writing_errors(self.store.folder):
                self._finish()

    def abort(self) -> None:
        """Throws the unfinished segment away. It runs while an error is being handled, so it never
        raises one of its own over it: on a full disk, closing the file fails again (the data its
        buffer still holds cannot be written either)."""
        encoder, file, data = self._encoder, self._file, self._data
        self._encoder = self._file = self._data = None
        if encoder is not None:
            with contextlib.suppress(Exception):
                encoder.close()
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
        if data is not None:
            with contextlib.suppress(Exception):
                data.__exit__(RuntimeError, RuntimeError("aborted"), None)  # removes the partial file

    def _start(self) -> None:
        first_frame = self.index * self.segment_frames
        self._encoder = VideoEncoder(self.source, self.format_name, self.output, codec=self.codec, crf=self.crf,
                                     preset=self.preset, first_index=first_frame, last_pts=self.last_pts)
        self._data = atomic_path(self.store.paths(self.index)[0], sync=True)
        self._file = open(self._data.__enter__(), "wb")  # noqa: SIM115 (open until _finish)
        self._packets, self._frames, self._size = [], 0, 0

    def _store_packets(self, packets) -> None:
        for packet in packets:
            data = bytes(packet)
            self._file.write(data)
            self._size += len(data)
            self._packets.append([len(data), packet.pts, packet.dts, packet.duration or 0, int(packet.is_keyframe)])

    def _finish(self) -> None:
        self._store_packets(self._encoder.flush())
        meta_path = self.store.paths(self.index)[1]
        self._file.close()
        self._data.__exit__(None, None, None)  # synced and renamed into place
        extradata = self._encoder.extradata
        meta = {
            "first_frame": self.index * self.segment_frames, "frames": self._frames, "size": self._size,
            "time_base": str(self._encoder.time_base), "last_pts": self._encoder.last_pts,
            "extradata": base64.b64encode(extradata).decode() if extradata else None, "packets": self._packets,
        }
        _write_atomic(meta_path, json.dumps(meta, separators=(",", ":")).encode())  # the segment is complete now
        self.last_pts = self._encoder.last_pts
        self._encoder.close()
        self._encoder = self._file = self._data = None
        self.index += 1


def join_segments(segments: list[Segment], source: VideoInfo, output: Path, *, codec: OutputCodec,
                  force: bool) -> int:
    """Mux the segments' `codec` packets and the source's audio/subtitles into output; returns the frame count."""
    extradata = segments[0].extradata
    if any(s.extradata != extradata or s.time_base != segments[0].time_base for s in segments):
        raise OutputError(f"{output}: cannot join its segments: they were encoded with different settings")
    with PacketRemuxer(source, output, extradata=extradata, codec=codec, force=force) as writer:
        if writer.time_base != segments[0].time_base:
            raise OutputError(f"{output}: cannot join its segments: they were encoded for another container")
        last_dts = None
        for segment in segments:
            with open(segment.data, "rb") as file:
                for size, pts, dts, duration, keyframe in segment.packets:
                    if last_dts is not None and dts <= last_dts:
                        # Each segment's encoder starts its dts one B-frame delay before its first pts,
                        # measured from its own first frames: after a long gap in a VFR film that can
                        # reach back before the previous segment's last dts.
                        dts = last_dts + 1
                        if dts > pts:
                            raise OutputError(f"{output}: cannot join segment {segment.index}: its first "
                                              "frames are too close in time to the previous segment's")
                    writer.write_packet(file.read(size), pts, dts, duration, bool(keyframe))
                    last_dts = dts
    return sum(s.frames for s in segments)


@contextlib.contextmanager
def _writing_errors(folder: Path):
    try:
        yield
    except WRITE_ERRORS as e:
        reason = " ".join(str(getattr(e, "strerror", None) or e).split())
        raise OutputError(f"{folder}: cannot write the finished segments there ({reason})") from None


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path, sync=True) as temp:
        temp.write_bytes(data)


def _changed(folder: Path, fingerprint: dict) -> list[str] | None:
    """The settings in which `folder`'s fingerprint differs from `fingerprint` ([] if none), or
    None if it has no readable fingerprint."""
    kept = _read_json(folder / FINGERPRINT)
    if not kept:
        return None
    return sorted(k for k in set(fingerprint) | set(kept) if kept.get(k) != fingerprint.get(k))


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _remove(folder: Path) -> None:
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)
