"""One film coloured by several workers at once, in pieces, and joined without re-encoding.

A film is encoded in segments (segments.py) whatever runs it. Here its segments are cut into
pieces of whole segments, each coloured by one worker into the film's side folder:

1. `scan_film` (a worker): the first pass, once: the shot plan, saved in the side folder;
2. `SplitFilm.pieces` (the driver): where the pieces start, about `piece_frames` each, a boundary
   moved by a segment where that brings it nearer a cut;
3. `color_piece` (any worker, in any order, several at once): the piece's segments, made as an
   uninterrupted run would make them. Its colouring starts early enough for the smoothing to
   warm up and runs out past its end far enough for the smoothing before it (segments.ResumePlan:
   whole chunks, never across a cut, so a boundary on a cut costs nothing);
4. `SplitFilm.join` (the driver): the segments' packets muxed into the film with its sound
   (copied once), under the film's output lock, which the driver holds from the first step on.

Each worker's step settles the film's run as remaster() does (film/run.py: `open_run`), so its
segments are fingerprinted alike, the direction's digest included; the film comes out as a
one-process remaster makes it: the same video packets, bit for bit.
A worker lost mid-piece loses only its unfinished segment: a piece run again goes on from there.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import OutputError
from ..film.direction_file import Direction
from ..film.remaster import color_pass, kept_line
from ..film.run import Film, claimed_output, film_direction, open_run
from ..film.segments import ResumePlan, SegmentStore, join_segments, parts_folder
from ..model import ColorizerProtocol
from ..options import RemasterOptions
from .archive import BatchItem, BatchJob, ItemResult

Piece = tuple[int, int | None]  # [first segment, stop segment); None: to the end of the film


@dataclass(frozen=True)
class FilmScan:
    """What the first pass tells the driver: enough to cut the film into pieces, and the shots left
    as they were (in colour already), for the film's batch row."""

    frames: int
    cuts: tuple[int, ...]
    segment_frames: int
    kept_shots: tuple[int, ...] = ()


def scan_film(item: BatchItem, job: BatchJob, colorizer: ColorizerProtocol | None, *,
              warn: Callable[[str], None], direction: Direction | None = None) -> FilmScan:
    """A worker's first step on a long film: its side folder (reused if it was made with the same
    settings, unless --force) and its shot plan, scanned once and saved there. `direction`: as
    remaster() takes it, and the same for every piece of the film."""
    film = Film.of(job.src_dir / item.source, job.out_dir / item.output, job.options)
    direction = film_direction(direction, film.source, film.info)
    run = open_run(film, job.options, colorizer, direction, warn=warn, resume=not job.options.run.force)
    with run.plan as plan:
        plan.finish()
        kept = run.director().kept_shots()
    return FilmScan(plan.frames, tuple(plan.cuts), run.segment_frames, tuple(kept))


def color_piece(item: BatchItem, job: BatchJob, piece: Piece, format_name: str, colorizer: ColorizerProtocol | None,
                *, warn: Callable[[str], None], on_frame: Callable[[], None] | None = None,
                direction: Direction | None = None) -> int:
    """Colour the segments of `piece` that are not finished yet; returns how many of its segments
    are finished now (for the last piece, up to the end of the film). `direction`: the film's scan's."""
    film = Film.of(job.src_dir / item.source, job.out_dir / item.output, job.options, format_name)
    run = open_run(film, job.options, colorizer, direction, warn=warn, shared=True)
    first, stop = piece
    made = run.store.finished(first, stop)
    before = made or (run.store.finished(first - 1, first) if first else [])
    resume = ResumePlan(first + len(made), run.segment_frames, run.options.chunk_frames,
                        before[-1].last_pts if before else None, stop_segment=stop)
    with run.plan:
        color_pass(run, resume, run.director(), on_frame)
    return len(run.store.finished(first, stop))


def split(frames: int, segment_frames: int, cuts: tuple[int, ...], piece_frames: int) -> list[Piece]:
    """The pieces of a film: about `piece_frames` frames each in whole segments, as many as fit
    (one if the film is shorter than two); each boundary moved by one segment where that brings
    it nearer a cut less than a segment away."""
    segments = -(-frames // segment_frames)
    count = max(1, segments // max(1, round(piece_frames / segment_frames)))

    def cut_distance(bound: int) -> int:
        distance = min((abs(cut - bound * segment_frames) for cut in cuts), default=segment_frames)
        return min(distance, segment_frames)

    bounds = [0]
    for i in range(1, count):
        ideal = round(i * segments / count)
        near = [b for b in (ideal, ideal - 1, ideal + 1) if bounds[-1] < b < segments]
        if near:
            bounds.append(min(near, key=cut_distance))  # the first of equals: the ideal one
    return [(a, b) for a, b in zip(bounds, bounds[1:])] + [(bounds[-1], None)]


class SplitFilm:
    """The driver's side of a film coloured in pieces: claims its output (the checks a remaster
    makes, then its output lock, held until `release`), cuts it into pieces, follows them, joins them."""

    def __init__(self, item: BatchItem, job: BatchJob, piece_frames: int):
        self.item, self.job, self.piece_frames = item, job, piece_frames
        self.source, self.output = job.src_dir / item.source, job.out_dir / item.output
        self.started = time.time()
        self.warnings: list[str] = []
        self.error: str | None = None
        self.waiting: set[Piece] = set()  # pieces handed out or queued, not yet finished
        self.segments = 0  # segments the film has: known once its last piece is finished
        self.kept_shots: tuple[int, ...] = ()  # as its scan found them
        self.film: Film | None = None  # once claimed
        self._held = contextlib.ExitStack()

    @property
    def options(self) -> RemasterOptions:
        return self.job.options

    @property
    def format_name(self) -> str:
        """The output's container, for the workers ("" until claimed)."""
        return self.film.format_name if self.film else ""

    def warn(self, message: str) -> None:
        if message not in self.warnings:  # each piece decodes the film up to it: tell its damage once
            self.warnings.append(message)

    def claim(self) -> None:
        """What remaster() checks before it colours, and its output lock: per-file errors raise."""
        try:
            self.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.output}: cannot create its folder ({exc.strerror or exc})") from None
        self.film = self._held.enter_context(claimed_output(self.source, self.output, self.options))
        for message in self.film.warnings:
            self.warn(message)

    def pieces(self, scan: FilmScan) -> list[Piece]:
        pieces = split(scan.frames, scan.segment_frames, scan.cuts, self.piece_frames)
        self.waiting, self.kept_shots = set(pieces), scan.kept_shots
        return pieces

    def finished(self, piece: Piece, segments: int) -> bool:
        """A piece is finished with `segments` of its segments complete; True once the film's last one is."""
        first, stop = piece
        if stop is None:
            self.segments = first + segments
        elif segments < stop - first:
            self.fail(f"{self.source}: piece {first}-{stop} ended with {segments} of its {stop - first} segments")
        self.waiting.discard(piece)
        return not self.waiting

    def fail(self, error: str) -> None:
        self.error = self.error or error

    def join(self) -> int:
        """Mux the finished segments into the film (no re-encoding, the sound copied once); the frame count."""
        store = SegmentStore(parts_folder(self.output))
        segments = store.complete_segments()
        if len(segments) != self.segments:
            raise OutputError(f"{self.output}: cannot join it: {len(segments)} of its {self.segments} segments "
                              f"are in {store.folder}")
        frames = join_segments(segments, self.film.info, self.output, codec=self.film.codec,
                               force=self.options.run.force)
        if self.kept_shots:  # as a one-process batch tells it (archive.color_item)
            self.warn(kept_line(list(self.kept_shots), self.source))
        store.remove()
        return frames

    def result(self, frames: int | None = None) -> ItemResult:
        status = "failed" if self.error else "done"
        return ItemResult(self.item, status, None if self.error else frames, round(time.time() - self.started, 3),
                          self.error, tuple(self.warnings))

    def release(self) -> None:
        self._held.close()
