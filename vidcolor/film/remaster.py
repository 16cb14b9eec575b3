"""`remaster()`: a black-and-white film in, the same film in colour out, with its sound.

Two decoding passes keep memory flat for a film of any length:

1. a cheap low-resolution pass finds the cuts and computes one embedding per
   shot (from a few frames spread over it); it runs in a background thread,
   ahead of the second (shotplan.py);
2. the full pass colours every key_interval-th frame of each shot in batches at
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
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from .direction import Direction, read_direction
from .director import ShotDirector
from .errors import OutputError, VidcolorError, raise_if_interrupted
from .media import (OutputCheck, OutputCodec, Timeline, VideoInfo, check_output, choose_codec, decode_frames_from,
                    encoder_time_base, first_field, frames_for, probe_video)
from .media.codecs import LABELS, wanted_codec
from .options import FILM_STYLE, RemasterOptions
from .outputs import colored_film_name, output_lock, refuse_overwrite
from .segments import ResumePlan, SegmentStore, SegmentWriter, fingerprint, join_segments, segment_length
from .shotplan import ShotPlan
from .stages import ColorStage, EncodeStage, SmoothStage
from .streams import BackgroundSink, StageClock, background

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
    keep or grey, per film or per shot (direction.py); checked before any work. Shots that are in
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
    if direction is not None and not isinstance(direction, Direction):
        direction = read_direction(direction)
    if direction is not None:
        direction.check_film(source, info.frame_count)
    warnings: list[str] = []
    told = threading.Lock()

    def warn(message: str) -> None:
        with told:  # the two decoding passes see the same damage: tell it once
            if message in warnings:
                return
            warnings.append(message)
        (on_warning or tqdm.write)(message)

    if output is None:
        wanted = wanted_codec(options.film.codec, info)
        output = default_output(source, wanted)
        if output.suffix != source.suffix:
            warn(f"{source}: vidcolor does not write {LABELS[wanted]} video to {source.suffix or 'suffix-less'} "
                 f"files; writing {output.name} instead (-o chooses another name)")
    output = Path(output)
    with claimed_output(source, output, info, options) as (checked, codec, info):
        return _remaster_locked(source, output, info, codec, checked, options, colorizer, warn, warnings, resume,
                                started, on_frame, direction)


def output_codec(info: VideoInfo, output: Path, options: RemasterOptions) -> tuple[OutputCodec, VideoInfo]:
    """The output's codec (the container's rule, --codec) and the source's info as its frames will be."""
    codec = choose_codec(options.film.codec, info, output)
    return codec, frames_for(info, codec)


@contextmanager
def claimed_output(source: Path, output: Path, info: VideoInfo,
                   options: RemasterOptions) -> Iterator[tuple[OutputCheck, OutputCodec, VideoInfo]]:
    """What a film's output must pass before any colouring (a codec its container holds, not there
    unless force, not the input, writable, able to hold the sound), then the output's lock, held
    for the block: another run to the same output fails at once instead of touching its segments.
    Yields the check, the output codec, and the source's info as that codec's frames will be."""
    codec, info = output_codec(info, output, options)
    refuse_overwrite(output, options.run.force)
    if output.resolve() == source.resolve():
        raise OutputError(f"{output}: is the input itself; choose another output name")
    checked = check_output(info, output, options.run.force)
    with output_lock(output):  # before the side folder is touched, and before the model loads
        refuse_overwrite(output, options.run.force)  # a run that held the lock may have finished it
        yield checked, codec, info


def _remaster_locked(source, output, info, codec, checked, options, colorizer, warn, warnings, resume, started,
                     on_frame, direction):
    """remaster() once the output is this run's: load the model, colour into segments, join them."""
    colorizer = film_colorizer(colorizer, options)
    for message in checked.warnings:
        warn(message)
    options, segment_frames, prints = segment_settings(source, options, colorizer, codec, direction)
    store = SegmentStore.open(output, prints, resume=resume, warn=warn)
    clock = StageClock()
    plan = store.load_plan() or ShotPlan.scan(source, info, colorizer, on_warning=warn, clock=clock,
                                              on_complete=store.save_plan)
    resume_plan = store.resume_plan(segment_frames, options.chunk_frames)
    try:
        with closing(plan):
            director = ShotDirector(plan, colorizer, direction, options.film.recolor_all)
            color_pass(source, output, checked.format_name, info, codec, plan, colorizer, options, store,
                       resume_plan, warn, clock, on_frame, director)
            plan.finish()
            kept_shots = director.kept_shots()
        raise_if_interrupted()  # a Ctrl-C that was lost on the way must not end in a finished film
        frames = clock.timed("join", lambda: join_segments(store.complete_segments(), info, output, codec=codec,
                                                           force=options.run.force))
    except BaseException as error:
        finished = store.complete_segments()
        kept = f"{len(finished)} finished segments are kept in {store.folder}; resume=True (--resume) goes on from them"
        if not finished:
            store.remove()
        elif isinstance(error, VidcolorError):  # said in its one line
            error.args = (f"{error}; {kept}",)
        elif isinstance(error, KeyboardInterrupt):
            error.kept_in = store.folder  # for the command's one line
        else:
            warn(kept)
        raise
    store.remove()
    return RemasterResult(source, output, frames, plan.shots, time.time() - started, warnings, dict(clock.seconds),
                          resumed_frames=resume_plan.resumed_frames, kept_shots=kept_shots, codec=codec.label)


def film_colorizer(colorizer, options: RemasterOptions):
    """The colorizer as films are coloured: in options.model.style, by default FILM_STYLE (muted);
    without one, the model of options.model loaded so."""
    style = options.model.style or FILM_STYLE
    if colorizer is None:
        from .model import load_colorizer

        return load_colorizer(options.model.weights, precision=options.model.precision, style=style)
    return colorizer.styled(style)


def segment_settings(source: Path, options: RemasterOptions, colorizer, codec: OutputCodec,
                     direction: Direction | None = None) -> tuple[RemasterOptions, int, dict]:
    """The run's options with the colorizer's batch size settled, its frames per segment, and the
    fingerprint of its segments: the settings that shape the output, which a resumed run (or
    another worker's piece of the film) must share."""
    if options.model.batch_size is None:
        options = options.replace(batch_size=colorizer.batch_size)
    segment_frames = segment_length(options.film.segment_frames, options.chunk_frames)
    model, film = options.model, options.film
    return options, segment_frames, fingerprint(source, {
        "codec": [codec.name, codec.depth, codec.chroma, codec.profile],
        "render_size": model.render_size, "batch_size": model.batch_size, "key_interval": film.key_interval,
        "smooth": film.smooth, "precision": colorizer.precision, "recolor_all": film.recolor_all,
        "smooth_strength": film.smooth_strength, "smooth_radius": film.smooth_radius, "crf": film.crf,
        "preset": film.preset, "segment_frames": segment_frames, "model": colorizer.identity,
        "direction": direction and direction.identity(),
    })


def color_pass(source: Path, output: Path, format_name: str, info: VideoInfo, codec: OutputCodec, plan: ShotPlan,
               colorizer, options: RemasterOptions, store: SegmentStore, resume: ResumePlan, warn, clock: StageClock,
               on_frame: Callable[[], None] | None = None, director: ShotDirector | None = None) -> None:
    """Second pass, for the segments `resume` asks for: the stages (stages.py) in four
    threads joined by bounded queues: decode -> model (this thread) -> per-shot hook and
    smoothing -> upsample and encode into segments. The model's thread does nothing else, so it
    never waits on the rest."""
    if resume.first_segment and resume.is_complete(plan.finish().frames):
        return  # every frame is in a segment already
    chunk, film = options.chunk_frames, options.film
    smooth = SmoothStage(film.smooth_strength if film.smooth else 0.0, film.smooth_radius, film.key_interval,
                         colorizer.output_stride, clock,
                         pictures_per_frame=1 if first_field(info.field_order) is None else 2)
    start, stop = resume.start, resume.stop
    warm_up = resume.warm_up(smooth.reach, plan.shot_start(plan.shot_of(start)) if start else 0)
    run_out = resume.run_out(smooth.reach, None if stop is None else plan.next_cut(stop))
    director = director or ShotDirector(plan, colorizer, None, film.recolor_all)
    color = ColorStage(info, plan, colorizer, options.model.render_size, film.key_interval, chunk, clock, director,
                       first_frame=warm_up)
    bar = tqdm(total=info.frame_count or None, initial=start, desc=f"coloring {source.name}",
               unit="frame", disable=not options.run.progress)
    writer = SegmentWriter(store, info, output, format_name, codec=codec, crf=film.crf, preset=film.preset,
                           segment_frames=resume.segment_frames, first_segment=resume.first_segment,
                           last_pts=resume.last_pts)
    # A piece of a film that starts where no finished segment tells its timeline replays the frames before it.
    timeline = Timeline(info, encoder_time_base(info, format_name)) if start and resume.last_pts is None else None
    # Decoding starts at the key frame before the first frame needed (hints are followed from their shot's start).
    first, frame_pts = (warm_up, plan.frame_pts) if plan.frame_pts is not None and not director.follows_hints else (0, None)

    def frame_done() -> None:
        bar.update(1)
        if on_frame is not None:
            on_frame()

    encode = EncodeStage(info, writer, clock, on_frame=frame_done)

    def send(ready_items) -> None:
        for ready in ready_items:
            # earlier ones only warmed up the smoothing, later ones only ran it out
            if ready.frame.index >= start and (stop is None or ready.frame.index < stop):
                encode_thread.put(ready)

    def decode():
        for pts in frame_pts[:first] if timeline is not None and first else ():
            timeline.next(int(pts))  # the frames not decoded
        with closing(decode_frames_from(source, info, first, frame_pts, on_warning=warn)) as frames:
            for frame in frames:
                if run_out is not None and frame.index >= run_out:
                    return
                if timeline is not None and frame.index < start:
                    timeline.next(frame.pts)
                elif timeline is not None and frame.index == start:
                    writer.last_pts = timeline.last_pts  # before the writer sees its first frame, which comes after this
                if frame.index >= warm_up or director.follows_hints:  # hints are followed from their shot's start
                    yield color.lightness(frame)

    encode_thread = BackgroundSink(encode.push, chunk, "encode")
    smooth_thread = BackgroundSink(lambda item: send(smooth.push(item)), chunk, "smooth")
    decoded = background(decode(), chunk, clock, "decode")
    try:
        with closing(decoded) as frames:
            for frame in frames:
                raise_if_interrupted()
                for item in color.push(frame):
                    smooth_thread.put(item)
        for item in color.flush():
            smooth_thread.put(item)
        smooth_thread.close()
        send(smooth.flush())
        encode_thread.close()
        encode.flush()
    except BaseException as error:
        for thread in (smooth_thread, encode_thread):
            if isinstance(error, Exception):
                # The later stages finish what the model has already coloured, so the
                # segments they complete are kept for a resumed run.
                with suppress(Exception):
                    thread.close()
            else:  # interrupted: stop now
                thread.cancel()
        writer.abort()
        raise
    finally:
        bar.close()
