"""One film's run, settled before any colouring: `FilmRun`, made by `open_run()` alike for a
one-process remaster (remaster.py) and for each worker's step on a film coloured in pieces
(batch/pieces.py), so that the two cannot drift apart.

A run holds what a film's segments depend on: the film and its output (`Film`, claimed by
`claimed_output` before any work), the options with the model's batch size settled, the colorizer
decoding in the films' style, the direction, and, from all of these, the fingerprint that its
side folder is kept under (segments.py: a resumed run, or another worker's piece, reuses
segments only under the same fingerprint), that folder, and the film's shot plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError
from ..media import OutputCodec, VideoInfo, check_output, choose_codec, frames_for, probe_video
from ..model import ColorizerProtocol, colorizer_for
from ..options import FILM_STYLE, RemasterOptions
from ..outputs import output_lock, refuse_overwrite
from ..threads import StageClock
from .direction_file import Direction, read_direction
from .segments import SegmentStore, fingerprint, segment_length
from .shot_director import ShotDirector
from .shot_plan import ShotPlan


@dataclass(frozen=True)
class Film:
    """A film and its output, as a run writes it."""

    source: Path
    output: Path
    info: VideoInfo  # the source's, its frames as they travel in the output codec (media.frames_for)
    codec: OutputCodec
    format_name: str  # the output's container (media.check_output); "" where the run writes nothing
    warnings: tuple[str, ...] = ()  # what the output leaves out of the source (media.check_output)

    @classmethod
    def of(cls, source: Path, output: Path, options: RemasterOptions, format_name: str = "") -> Film:
        """The film as a worker colours a piece of it, its output claimed by the driver (claimed_output)."""
        info, codec = _output_frames(probe_video(source), output, options)
        return cls(source, output, info, codec, format_name)


def _output_frames(info: VideoInfo, output: Path, options: RemasterOptions) -> tuple[VideoInfo, OutputCodec]:
    """The source's info as the output codec's frames will be, and that codec (the container's rule, --codec)."""
    codec = choose_codec(options.film.codec, info, output)
    return frames_for(info, codec), codec


@contextmanager
def claimed_output(source: Path, output: Path, options: RemasterOptions,
                   info: VideoInfo | None = None) -> Iterator[Film]:
    """The film, once its output has passed the one output check before any colouring
    (media.check_output: a codec its container holds, not there unless force, not the input,
    writable, able to hold the sound), with the output's lock held for the block: another run to
    the same output fails at once instead of touching its segments. `info`: the source's, probed."""
    info, codec = _output_frames(info or probe_video(source), output, options)
    checked = check_output(info, output, options.run.force)
    with output_lock(output):  # before the side folder is touched, and before the model loads
        # Once more under the lock: a run that held it while this one was checked may have finished the
        # film since, and this one would find out only at the join, after colouring all of it again.
        refuse_overwrite(output, options.run.force)
        yield Film(source, output, info, codec, checked.format_name, checked.warnings)


def film_direction(direction: str | Path | Direction | None, source: Path, info: VideoInfo) -> Direction | None:
    """The film's direction, read if it is a file's path; InputError if it was made for another film."""
    if direction is not None and not isinstance(direction, Direction):
        direction = read_direction(direction)
    if direction is not None:
        direction.check_film(source, info.frame_count)
    return direction


@dataclass(frozen=True)
class FilmRun:
    """One film's settled setup, the same for a one-process remaster and for each piece of a split film."""

    film: Film
    options: RemasterOptions  # the model's batch size settled
    colorizer: ColorizerProtocol  # decoding in the films' style
    direction: Direction | None
    segment_frames: int
    store: SegmentStore  # the side folder of the run's fingerprint
    plan: ShotPlan  # the store's, or being scanned (and saved there once complete); close it when done
    warn: Callable[[str], None]
    clock: StageClock  # busy time per stage

    def director(self) -> ShotDirector:
        """Each shot's choice, from the direction, the plan's colour measure and recolor_all."""
        return ShotDirector(self.plan, self.colorizer, self.direction, self.options.film.recolor_all)


def open_run(film: Film, options: RemasterOptions, colorizer: ColorizerProtocol | None = None,
             direction: Direction | None = None, *, warn: Callable[[str], None], resume: bool = False,
             shared: bool = False, scan_along: bool = False) -> FilmRun:
    """The run of `film`: the colorizer (the one given, else options' model, loaded) decoding in
    options' style (default FILM_STYLE), the options with its batch size settled, and the side
    folder of the run's fingerprint, with the film's shot plan:

    - a new folder (any other one discarded, warning), or with resume=True the folder there if it
      was made with the same fingerprint (else a new one, warning why); its plan, or one to be
      scanned, kept there as it goes and once complete: by the colour pass's decoding where
      scan_along=True (remaster() without resume: the colour pass decodes the film from its start),
      else in a pass of its own in the background, from where the shots that an unfinished scan
      kept there end (shot_plan.PlanSoFar);
    - shared=True, for a piece of a film coloured in pieces: the folder and plan its scan made
      (OutputError if the folder is gone, was made with another fingerprint, or has no plan).
    """
    model = options.model
    colorizer = colorizer_for(model.style or FILM_STYLE, colorizer, model.weights, model.precision)
    colorizer.prepare()  # the embedder now, readied in the background with the colorizer: the shot scan needs it first
    for message in film.warnings:
        warn(message)
    if model.batch_size is None:
        options = options.replace(batch_size=colorizer.batch_size)
    segment_frames = segment_length(options.film.segment_frames, options.chunk_frames)
    prints = _fingerprint(film, options, colorizer, direction, segment_frames)
    clock = StageClock()
    if shared:
        store = SegmentStore.reopen(film.output, prints)
        plan = store.load_plan()
        if plan is None:
            raise OutputError(f"{store.folder}: the film's shot plan is missing there")
    else:
        store = SegmentStore.open(film.output, prints, resume=resume, warn=warn)
        plan = store.load_plan()
        if plan is None and scan_along:
            plan = ShotPlan.along(film.info, colorizer, clock=clock, keeper=store)
        elif plan is None:
            plan = ShotPlan.scan(film.source, film.info, colorizer, on_warning=warn, clock=clock, keeper=store,
                                 so_far=store.load_plan_so_far())
    return FilmRun(film, options, colorizer, direction, segment_frames, store, plan, warn, clock)


def _fingerprint(film: Film, options: RemasterOptions, colorizer: ColorizerProtocol, direction: Direction | None,
                 segment_frames: int) -> dict:
    """The fingerprint of a run's segments: the settings that shape the output, which a resumed run
    (or another worker's piece of the film) must share; the direction's digest too, split or not."""
    model, settings, codec = options.model, options.film, film.codec
    return fingerprint(film.source, {
        "codec": [codec.name, codec.depth, codec.chroma, codec.profile],
        "render_size": model.render_size, "batch_size": model.batch_size, "key_interval": settings.key_interval,
        "key_frames": settings.key_frames,
        "smooth": settings.smooth, "precision": colorizer.precision, "recolor_all": settings.recolor_all,
        "smooth_strength": settings.smooth_strength, "smooth_radius": settings.smooth_radius, "crf": settings.crf,
        "preset": settings.preset, "segment_frames": segment_frames, "model": colorizer.identity,
        "direction": direction and direction.identity(),
    })
