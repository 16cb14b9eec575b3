"""`remaster()`: a black-and-white film in, the same film in colour out, with its sound.

One decoding pass, with memory flat for a film of any length:

1. each frame, shrunk, goes through the shot scan, which finds the cuts and computes one
   embedding per shot (from a few frames spread over its first seconds; shot_scan.py); the
   frames wait until their shot is settled (a bounded wait, shot_plan.py);
2. the colour pass colours every key_interval-th frame of each shot in batches at
   a working size, fills the frames between and smooths a*b* over neighbouring
   key frames of the same shot along the optical flow, and re-encodes.

The video is encoded in segments kept in a side folder (segments.py) and joined
at the end, so an interrupted remaster can be resumed: the shot plan is saved
with the segments, and a resumed run re-colours only what no segment holds.

The source's luma plane goes to the encoder untouched: only the chroma planes
are new, computed from the predicted a*b* and upsampled guided by the luma.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..errors import VidcolorError, raise_if_interrupted
from ..media import (Timeline, VideoInfo, decode_frames_and_small, decode_frames_from, encoder_time_base, first_field,
                     probe_video)
from ..media.codecs import LABELS, wanted_codec
from ..options import RemasterOptions
from ..outputs import colored_film_name
from ..threads import BackgroundSink, background
from .direction_file import Direction
from .key_frames import max_key_gap
from .run import FilmRun, claimed_output, film_direction, open_run
from .shot_scan import EMBED_SHORT_SIDE
from .segments import ResumePlan, SegmentStore, SegmentWriter, join_segments
from .shot_director import ShotDirector
from .stages import ColorStage, EncodeStage, SmoothStage


@dataclass
class RemasterResult:
    source: Path
    output: Path
    frames: int
    shots: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # busy time per stage, summed over threads
    resumed_frames: int = 0  # frames taken from the segments of an interrupted run
    kept_shots: list[int] = field(default_factory=list)  # shots (from 1) left as they were: in colour already
    codec: str = ""  # the output's video codec ("H.264", "HEVC", "FFV1", "ProRes")


def kept_line(kept_shots: list[int], film: Path | None = None) -> str:
    """What a film's summary (or, naming the film, its batch row) says of the shots left as they were."""
    many = len(kept_shots) > 1
    return (f"{f'{film}: ' if film else ''}shot{'s' * many} {', '.join(map(str, kept_shots))}: in colour already, "
            f"left as {'they were' if many else 'it was'} (--recolor-all colours them too)")


def default_output(source: Path, codec: str = "h264") -> Path:
    """`<name>_color<ext>` beside the source; .mkv (.mov for ProRes) where vidcolor cannot write
    the source's container with `codec`."""
    return colored_film_name(source, codec=codec)


def remaster(
    source: str | Path,
    output: str | Path | None = None,
    options: RemasterOptions | None = None,
    *,
    colorizer=None,
    on_warning: Callable[[str], None] | None = None,
    resume: bool = False,
    direction: str | Path | Direction | None = None,
    on_frame: Callable[[], None] | None = None,
) -> RemasterResult:
    """Colour a black-and-white film; returns where it went and what was done.

    direction: a direction file (`vidcolor shots` writes one) or a Direction: a reference photo, hints,
    keep or grey, per film or per shot (direction_file.py); checked before any work. Shots that are in
    colour already are left as they are (RemasterResult.kept_shots) unless options say recolor_all.
    The model (a given colorizer too) colours in options.model.style, by default FILM_STYLE (muted).

    Finished segments are kept beside the output (segments.parts_folder) until
    the film is done; if the run stops, resume=True goes on from them, provided
    the source and the settings are the same (otherwise it starts over, warning).
    While it runs the output is locked (outputs.output_lock): another run to the
    same output fails at once instead of touching its segments. on_frame() is called as each
    frame is encoded.
    """
    started = time.time()
    options = options or RemasterOptions()
    source = Path(source)
    info = probe_video(source)
    direction = film_direction(direction, source, info)
    warnings: list[str] = []
    warn = _told_once(warnings, on_warning)
    output = Path(output) if output is not None else _default_output(source, info, options, warn)
    before = _file_identity(output)
    try:
        with claimed_output(source, output, options, info) as film:
            # one decoding pass, unless the colour pass may start inside the film, or a direction's shots (by
            # their first frames) must be checked against the scan before any colouring
            scan_along = not resume and not (direction and direction.first_frames)
            run = open_run(film, options, colorizer, direction, warn=warn, resume=resume, scan_along=scan_along)
            resumed = run.store.resume_plan(run.segment_frames, run.options.chunk_frames)
            frames, kept_shots = _color_and_join(run, resumed, on_frame)
        return RemasterResult(source, output, frames, run.plan.shots, time.time() - started, warnings,
                              dict(run.clock.seconds), resumed_frames=resumed.resumed_frames, kept_shots=kept_shots,
                              codec=film.codec.label)
    except KeyboardInterrupt as stop:
        if _file_identity(output) != before:  # it came once the film was finished
            stop.finished = output
        raise


def _told_once(warnings: list[str], on_warning: Callable[[str], None] | None) -> Callable[[str], None]:
    """warn(message): kept in `warnings` and told (on_warning, else tqdm.write), each message once."""
    told = threading.Lock()

    def warn(message: str) -> None:
        with told:  # a scan's own pass and the colour pass see the same damage: tell it once
            if message in warnings:
                return
            warnings.append(message)
        (on_warning or tqdm.write)(message)

    return warn


def _default_output(source: Path, info: VideoInfo, options: RemasterOptions, warn: Callable[[str], None]) -> Path:
    wanted = wanted_codec(options.film.codec, info)
    output = default_output(source, wanted)
    if output.suffix != source.suffix:
        warn(f"{source}: vidcolor does not write {LABELS[wanted]} video to {source.suffix or 'suffix-less'} "
             f"files; writing {output.name} instead (-o chooses another name)")
    return output


def _color_and_join(run: FilmRun, resume: ResumePlan, on_frame: Callable[[], None] | None) -> tuple[int, list[int]]:
    """remaster() once the output is this run's: colour into segments, join them, remove them; the
    frame count and the shots left as they were. If it stops before the joined film is in place, the
    finished segments are kept (and said so); once it is, the film is finished (_finish_joined)."""
    store, output = run.store, run.film.output
    before = _file_identity(output)
    try:
        with closing(run.plan):
            director = run.director()
            color_pass(run, resume, director, on_frame)
            run.plan.finish()
            kept_shots = director.kept_shots()
        raise_if_interrupted()  # a Ctrl-C that was lost on the way must not end in a finished film
        film = run.film
        frames = run.clock.timed("join", lambda: join_segments(store.complete_segments(), film.info, film.output,
                                                               codec=film.codec, force=run.options.run.force))
        store.remove()
    except BaseException as error:
        if _file_identity(output) == before:
            _keep_finished(store, error, run.warn)
        else:
            _finish_joined(store, output, error)
        raise
    return frames, kept_shots


def _file_identity(path: Path) -> tuple[int, ...] | None:
    """What tells a file from the one that replaces it (the join renames a new file into place)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _finish_joined(store: SegmentStore, output: Path, error: BaseException) -> None:
    """The join's rename is the run's commit point: once the film is in place, whatever stops the
    run after it, its segments go (even if Ctrl-C comes again meanwhile), and a stop says the film
    is finished (`finished`, for the command's one line), not that work is kept for --resume."""
    while True:
        try:
            store.remove()
            break
        except KeyboardInterrupt:
            continue
    if isinstance(error, KeyboardInterrupt):
        error.finished = output


def _keep_finished(store: SegmentStore, error: BaseException, warn: Callable[[str], None]) -> None:
    """A run that stops keeps its finished segments for --resume, and says where (none: no folder)."""
    finished = store.complete_segments()
    kept = f"{len(finished)} finished segments are kept in {store.folder}; rerun with --resume to go on from them"
    if not finished:
        store.remove()
    elif isinstance(error, VidcolorError):  # said in its one line
        error.args = (f"{error}; {kept}",)
    elif isinstance(error, KeyboardInterrupt):
        error.kept_in = store.folder  # for the command's one line
    else:
        warn(kept)


def color_pass(run: FilmRun, resume: ResumePlan, director: ShotDirector,
               on_frame: Callable[[], None] | None = None) -> None:
    """The colour pass, for the segments `resume` asks for: the stages (stages.py) in four
    threads joined by bounded queues: decode -> model (this thread) -> per-shot hook and
    smoothing -> upsample and encode into segments. The model's thread does nothing else, so it
    never waits on the rest."""
    # a resumed run's scan may still go on, ahead of the colour pass: waited for only as far as its first frame
    if resume.first_segment and resume.is_complete(run.plan.frames_through(resume.start)):
        return  # every frame is in a segment already
    _ColorPass(run, resume, director, on_frame).run()


class _ColorPass:
    """The colour pass of one run: its stages, set up for the frames `resume` asks for, and the
    threads that drive them."""

    def __init__(self, run: FilmRun, resume: ResumePlan, director: ShotDirector,
                 on_frame: Callable[[], None] | None):
        film, plan, options, settings = run.film, run.plan, run.options, run.options.film
        self.film, self.clock, self.warn, self.director, self.on_frame = film, run.clock, run.warn, director, on_frame
        self.plan = plan
        self.chunk = options.chunk_frames
        key_gap = max_key_gap(settings.key_interval, settings.key_frames)
        self.smooth = SmoothStage(settings.smooth_strength if settings.smooth else 0.0, settings.smooth_radius,
                                  key_gap, run.colorizer.output_stride, run.clock,
                                  pictures_per_frame=1 if first_field(film.info.field_order) is None else 2)
        self.start, self.stop = start, stop = resume.start, resume.stop
        self.warm_up = resume.warm_up(self.smooth.reach, plan.shot_start(plan.shot_of(start)) if start else 0)
        self.run_out = resume.run_out(self.smooth.reach, None if stop is None else plan.next_cut(stop))
        self.color = ColorStage(run, director, first_frame=self.warm_up)
        self.bar = tqdm(total=film.info.frame_count or None, initial=start, desc=f"coloring {film.source.name}",
                        unit="frame", disable=not options.run.progress)
        self.writer = SegmentWriter(run.store, film.info, film.output, film.format_name, codec=film.codec,
                                    crf=settings.crf, preset=settings.preset, segment_frames=resume.segment_frames,
                                    first_segment=resume.first_segment, last_pts=resume.last_pts)
        # A piece of a film that starts where no finished segment tells its timeline replays the frames before it.
        self.timeline = (Timeline(film.info, encoder_time_base(film.info, film.format_name))
                         if start and resume.last_pts is None else None)
        self.first, self.frame_pts, self.pts_of_all = self._seek_to(plan, director)
        self.encode = EncodeStage(film.info, self.writer, run.clock, on_frame=self._frame_done)

    def _seek_to(self, plan, director: ShotDirector) -> tuple[int, Sequence[int] | None, bool]:
        """Where decoding starts: the key frame before the first frame needed (hints are followed from
        their shot's start), found by the pts of the frames before it (all of them, or those a scan still
        going on has reached: True where all); (0, None, True): from the film's start."""
        first = self.color.sees_from
        if not first or plan.scans_along or director.follows_hints:
            return 0, None, True
        frame_pts = plan.frame_pts_through(first)
        return (first, frame_pts, plan.frame_pts is not None) if frame_pts is not None else (0, None, True)

    def run(self) -> None:
        encode_thread = self.encode_thread = BackgroundSink(self.encode.push, self.chunk, "encode")
        smooth_thread = BackgroundSink(lambda item: self._send(self.smooth.push(item)), self.chunk, "smooth")
        decoded = background(self._decode(), self.chunk, self.clock, "decode")
        try:
            with closing(decoded) as frames:
                for frame in frames:
                    raise_if_interrupted()
                    for item in self.color.push(frame):
                        smooth_thread.put(item)
            for item in self.color.flush():
                smooth_thread.put(item)
            smooth_thread.close()
            self._send(self.smooth.flush())
            encode_thread.close()
            self.encode.flush()
        except BaseException as error:
            for thread in (smooth_thread, encode_thread):
                if isinstance(error, Exception):
                    # The later stages finish what the model has already coloured, so the
                    # segments they complete are kept for a resumed run.
                    with suppress(Exception):
                        thread.close()
                else:  # interrupted: stop now
                    thread.cancel()
            self.writer.abort()
            raise
        finally:
            self.bar.close()

    def _decode(self):
        """The frames to colour with their L* at the working size (run in the decoding thread)."""
        timeline, start, first, frame_pts = self.timeline, self.start, self.first, self.frame_pts
        for pts in frame_pts[:first] if timeline is not None and first else ():
            timeline.next(int(pts))  # the frames not decoded
        with closing(self._decoded(first, frame_pts)) as frames:
            for frame in frames:
                if self.run_out is not None and frame.index >= self.run_out:
                    return
                if timeline is not None and frame.index < start:
                    timeline.next(frame.pts)
                elif timeline is not None and frame.index == start:
                    # before the writer sees its first frame, which comes after this
                    self.writer.last_pts = timeline.last_pts
                if frame.index >= self.color.sees_from or self.director.follows_hints:  # hints: from their shot's start
                    yield self.color.lightness(frame)

    def _decoded(self, first: int, frame_pts):
        film = self.film
        if self.plan.scans_along:  # one decoding for the scan and the colour (shot_plan.py)
            return self.plan.scan_along(decode_frames_and_small(film.source, film.info, EMBED_SHORT_SIDE,
                                                                on_warning=self.warn))
        return decode_frames_from(film.source, film.info, first, frame_pts, on_warning=self.warn,
                                  pts_of_all=self.pts_of_all)

    def _send(self, ready_items) -> None:
        for ready in ready_items:
            # earlier ones only warmed up the smoothing, later ones only ran it out
            if ready.frame.index >= self.start and (self.stop is None or ready.frame.index < self.stop):
                self.encode_thread.put(self.encode.upsample(ready))  # here, off the encoder's thread

    def _frame_done(self) -> None:
        self.bar.update(1)
        if self.on_frame is not None:
            self.on_frame()
