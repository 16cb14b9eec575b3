"""`run_batch()`: colour every film and photo under a folder, resumably, in three steps.

- plan: `plan_batch()` walks SRC_DIR and decides, for each file, its kind, its output name
  (clashes settled up front) and what to do: colour it, redo it (--force), skip it (done per
  the manifest, or not media) or fail it (it could not even be inspected). No model, no TensorFlow.
- execute: an `Executor` colours the items to colour, in any order and anywhere, and reports a
  result for each; `LocalExecutor` (the default) does them here, one after another, loading
  the model once and only if there is something to colour.
- record: the driver hands every skip, failure and result to the manifest's `Recorder`, the
  only writer of OUT_DIR/vidcolor-manifest.jsonl (manifest.py), as each one is settled.

So a batch stopped by Ctrl-C, a crash or a power cut loses only the files it was on: a rerun
skips what is done and retries what failed. One bad file is recorded as failed and the batch goes on.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ..errors import InputError, ModelError, OutputError, VidcolorError
from ..exits import warn as print_warning
from ..images import IMAGE_SUFFIXES
from .manifest import ALREADY_DONE, MANIFEST_NAME, NOT_MEDIA, BatchRow, Recorder, done_outputs, read_manifest
from ..media import VideoInfo, probe_video
from ..media.codecs import wanted_codec
from ..outputs import colored_name, film_suffix
from ..model import ColorizerProtocol, colorizer_for
from ..options import STILL_STYLE, RemasterOptions
from ..film.remaster import kept_line, remaster
from ..stills import colorize_image

__all__ = ["MANIFEST_NAME", "BatchItem", "BatchJob", "BatchPlan", "BatchRow", "BatchSummary", "Executor",
           "ItemResult", "LocalExecutor", "color_item", "error_line", "format_summary", "plan_batch", "run_batch"]

# A file with one of these suffixes that cannot be read is a failed film, not a non-media file.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
                  ".wmv", ".flv", ".3gp", ".ogv", ".vob", ".dv", ".mxf", ".m2v"}

COLOR, REDO, SKIP, FAIL = "color", "redo", "skip", "fail"  # BatchItem.action


# --- plan ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchItem:
    """One file of the batch and what to do with it."""

    source: str  # relative to SRC_DIR, "/"-separated
    output: str | None  # relative to OUT_DIR, "/"-separated; None for a file that gets no output
    kind: str  # video, still or other ("?" for a done file whose manifest row does not say)
    action: str  # color, redo (done, but --force), skip or fail
    reason: str | None = None  # why it is skipped or failed, one line

    def row(self) -> BatchRow:
        """The manifest row of an item settled by the plan itself (skip or fail)."""
        status = {SKIP: "skipped", FAIL: "failed"}[self.action]
        return BatchRow(self.source, self.output, self.kind, status, error=self.reason)


@dataclass(frozen=True)
class BatchJob:
    """What an executor needs besides the items: where they are, where they go, and how."""

    src_dir: Path
    out_dir: Path
    options: RemasterOptions  # for the films; the stills take its render_size and force


@dataclass(frozen=True)
class BatchPlan:
    job: BatchJob
    items: tuple[BatchItem, ...]  # every file found, in walk order (sorted)
    unreadable: tuple[str, ...] = ()  # folders (relative to SRC_DIR) that could not be read

    @property
    def to_color(self) -> tuple[BatchItem, ...]:
        return tuple(item for item in self.items if item.action in (COLOR, REDO))


def plan_batch(src_dir: str | Path, out_dir: str | Path, options: RemasterOptions | None = None, *,
               latest: dict[str, dict] | None = None) -> BatchPlan:
    """What a batch from src_dir into out_dir would do, given the manifest there (or `latest`, its
    rows already read). Reads each file's header to tell films, stills and other files apart;
    writes nothing and loads no model."""
    options = options or RemasterOptions()
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    _check_folders(src_dir, out_dir)
    latest = read_manifest(out_dir / MANIFEST_NAME) if latest is None else latest
    done = done_outputs(latest, out_dir)
    claimed = {output: source for source, output in done.items()}  # output name -> the source it belongs to
    ours = {(out_dir / output).resolve() for output in done.values()}
    files, unreadable = find_files(src_dir, out_dir)
    items = []
    for path in tqdm([f for f in files if f.resolve() not in ours], desc="scanning", unit="file", leave=False,
                     disable=not options.run.progress):
        rel = path.relative_to(src_dir)
        source = rel.as_posix()
        if source in done and not options.run.force:
            items.append(BatchItem(source, done[source], latest[source].get("kind", "?"), SKIP, ALREADY_DONE))
            continue
        try:
            kind, info = detect_kind(path)
        except Exception as exc:  # noqa: BLE001 - an odd file must not end an overnight batch
            items.append(BatchItem(source, None, "other", FAIL, error_line(path, exc)))
            continue
        if kind == "other":
            items.append(BatchItem(source, None, kind, SKIP, NOT_MEDIA))
            continue
        codec = wanted_codec(options.film.codec, info) if info is not None else "h264"
        output = _claim(rel, output_suffix(rel, kind, codec), claimed)
        items.append(BatchItem(source, output, kind, REDO if source in done else COLOR))
    return BatchPlan(BatchJob(src_dir, out_dir, options), tuple(items),
                     tuple(Path(os.path.relpath(f, src_dir)).as_posix() for f in unreadable))


def _check_folders(src_dir: Path, out_dir: Path) -> None:
    if not src_dir.is_dir():
        raise InputError(f"{src_dir}: no such folder")
    if out_dir.resolve() == src_dir.resolve():
        raise InputError(f"{out_dir}: the output folder must not be the source folder")


def find_files(src_dir: Path, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Files under src_dir (sorted; hidden ones and out_dir left out) and the folders that could not be read."""
    skip, unreadable, found = out_dir.resolve(), [], []
    for folder, dirs, files in os.walk(src_dir, onerror=lambda e: unreadable.append(e.filename)):
        dirs[:] = [d for d in dirs if not d.startswith(".") and (Path(folder) / d).resolve() != skip]
        found += [Path(folder) / name for name in files if not name.startswith(".")]
    return sorted(found), unreadable


def _decodes_as_image(path: Path) -> bool:
    # The signature check reads only the header, so a film is never read whole here.
    if not cv2.haveImageReader(str(path)):
        return False
    level = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a text file that starts "P3" is no error
    try:
        return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None
    except (OSError, cv2.error):
        return False
    finally:
        cv2.utils.logging.setLogLevel(level)


def detect_kind(path: Path) -> tuple[str, VideoInfo | None]:
    """'still', 'video' or 'other', by content, and a readable film's VideoInfo; the suffix only
    decides what an unreadable file was meant to be."""
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES and _decodes_as_image(path):
        return "still", None
    try:
        return "video", probe_video(path)
    except InputError:
        pass
    if suffix in VIDEO_SUFFIXES:
        return "video", None  # damaged: remaster() will say why
    return ("still" if suffix in IMAGE_SUFFIXES else "other"), None


def output_suffix(rel: Path, kind: str, codec: str = "h264") -> str:
    """The source's suffix if a file of its kind can be written with it (a film with `codec`);
    else .png (stills) or outputs.film_suffix's (films: .mkv, or .mov for ProRes)."""
    suffix = rel.suffix
    if kind == "still" and not (suffix and cv2.haveImageWriter("x" + suffix.lower())):
        return ".png"
    return film_suffix(rel, codec) if kind == "video" else suffix


def _claim(rel: Path, suffix: str, claimed: dict[str, str]) -> str:
    """The output name of `rel`, claimed for it: <stem>_color<suffix>, or, when another source has that
    (e.g. "photo" and "photo.png" both give photo_color.png), <name>_color<suffix>, then <name>-2_color<suffix>..."""
    source = rel.as_posix()
    for stem in itertools.chain([rel.stem, rel.name], (f"{rel.name}-{n}" for n in itertools.count(2))):
        output = colored_name(rel.with_name(stem + suffix), suffix=suffix).as_posix()  # suffix is never ""
        if claimed.get(output, source) == source:
            claimed[output] = source
            return output
    raise AssertionError("unreachable")


# --- execute ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemResult:
    """What colouring one item came to: all an executor hands back (picklable, no paths of its machine)."""

    item: BatchItem
    status: str  # done or failed
    frames: int | None = None  # films only
    seconds: float = 0.0
    error: str | None = None  # why it failed, one line
    warnings: tuple[str, ...] = ()

    def row(self) -> BatchRow:
        item = self.item
        return BatchRow(item.source, item.output, item.kind, self.status, self.frames, self.seconds, self.error,
                        list(self.warnings))


class Executor(Protocol):
    def run(self, items: Sequence[BatchItem], job: BatchJob, report: Callable[[ItemResult], None]) -> None:
        """Colour every item (action color or redo), in any order and anywhere, calling report(result) in the
        calling process once per item as it finishes. A problem with one file is a failed result, not an
        exception; ModelError (the model, not the file) and KeyboardInterrupt stop the batch. An executor
        never writes the manifest: the driver records what it reports."""


def color_item(item: BatchItem, job: BatchJob, colorizer: ColorizerProtocol,
               on_warning: Callable[[str], None] | None = None, on_frame: Callable[[], None] | None = None,
               resume: bool | None = None) -> ItemResult:
    """Colour one planned item into job.out_dir with a loaded colorizer: the work of any executor.
    on_frame() is called as each frame of a film is done; `resume`: whether a film goes on from the
    finished segments of an interrupted run (default: unless --force)."""
    started, frames, warnings = time.time(), None, []
    path, target = job.src_dir / item.source, job.out_dir / item.output

    def warn(message: str) -> None:
        warnings.append(message)
        if on_warning is not None:
            on_warning(message)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.kind == "video":
            # a film interrupted in an earlier batch run goes on from its last finished segment
            result = remaster(path, target, job.options, colorizer=colorizer, on_warning=warn,
                              resume=not job.options.run.force if resume is None else resume, on_frame=on_frame)
            frames = result.frames
            if result.kept_shots:  # the manifest row tells which shots were in colour already
                warnings.append(kept_line(result.kept_shots, path))
        else:
            result = colorize_image(path, target, colorizer=colorizer, render_size=job.options.model.render_size,
                                    force=job.options.run.force, on_warning=warn, style=job.options.model.style)
        warnings += [w for w in getattr(result, "warnings", None) or () if w not in warnings]  # any not told
        status, error = "done", None
    except ModelError:
        raise  # the model, not this file: every other file would fail the same way
    except Exception as exc:  # noqa: BLE001 - an odd file or a bug must not end an overnight batch
        status, error = "failed", error_line(path, exc)
    return ItemResult(item, status, frames, round(time.time() - started, 3), error, tuple(warnings))


class LocalExecutor:
    """Here, one item after another in plan order; loads the model once, and only if there are items."""

    def __init__(self, colorizer: ColorizerProtocol | None = None):
        self.colorizer = colorizer

    def run(self, items: Sequence[BatchItem], job: BatchJob, report: Callable[[ItemResult], None]) -> None:
        if not items:
            return
        colorizer = self.load(job.options)  # before the first item, so its time is its own, not the model's
        for item in items:
            report(color_item(item, job, colorizer, print_warning if job.options.run.progress else None))

    def load(self, options: RemasterOptions) -> ColorizerProtocol:
        if self.colorizer is None:
            self.colorizer = load_batch_colorizer(options)
        return self.colorizer


def load_batch_colorizer(options: RemasterOptions) -> ColorizerProtocol:
    """The model of options.model as a batch loads it, once for all its items (each restyles it for its
    medium), with its embedder loaded now, so that its errors stop the batch at once."""
    colorizer = colorizer_for(STILL_STYLE, weights=options.model.weights, precision=options.model.precision)
    colorizer.prepare()
    return colorizer


def error_line(path: Path, exc: Exception) -> str:
    """An exception as one line that names the file (a VidcolorError names it already)."""
    text = str(exc) if isinstance(exc, VidcolorError) else f"{path}: {type(exc).__name__}: {exc}"
    return " ".join(text.split())


# --- drive and record ---------------------------------------------------------------------------

@dataclass
class BatchSummary:
    src_dir: Path
    out_dir: Path
    rows: list[BatchRow]  # this run's rows, in plan order; files already done show as skipped
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        return {status: sum(r.status == status for r in self.rows) for status in ("done", "skipped", "failed")}

    @property
    def frames(self) -> int:
        return sum(r.frames or 0 for r in self.rows if r.kind == "video" and r.status == "done")

    @property
    def film_seconds(self) -> float:
        return sum(r.seconds for r in self.rows if r.kind == "video" and r.status == "done")


def run_batch(src_dir: str | Path, out_dir: str | Path, options: RemasterOptions | None = None, *,
              colorizer: ColorizerProtocol | None = None, executor: Executor | None = None,
              progress: bool = True) -> BatchSummary:
    """Colour every film and still under src_dir into out_dir (same tree), recording each file in the manifest.

    `options` serve the films, and the stills take their render size; options.force also redoes files
    the manifest has as done. `executor` colours the items (default: LocalExecutor(colorizer)).

    Per-file problems are recorded and the batch goes on; a model that cannot
    load, an unwritable manifest and Ctrl-C stop it.
    """
    started = time.time()
    settings = (options or RemasterOptions()).replace(progress=progress)
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if executor is None:
        executor = LocalExecutor(colorizer)
    elif colorizer is not None:
        raise ValueError("run_batch: give the colorizer to the executor, not to run_batch")
    _check_folders(src_dir, out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc})") from None

    rows: dict[str, BatchRow] = {}
    lock = threading.Lock()  # an executor may report from threads of its own
    with Recorder(out_dir / MANIFEST_NAME) as recorder:
        plan = plan_batch(src_dir, out_dir, settings, latest=recorder.latest)
        todo = plan.to_color
        bar = tqdm(total=len(todo), desc="files", unit="file", position=0, disable=not progress)

        def settle(row: BatchRow, finished: bool = False) -> None:
            with lock:
                recorder.record(row)
                rows[row.source] = row
                if row.status == "failed" and progress:
                    tqdm.write(f"vidcolor: {row.error}", file=sys.stderr)
                if finished:
                    bar.set_postfix_str(row.source, refresh=False)
                    bar.update()

        try:
            for item in plan.items:
                if item.action in (SKIP, FAIL):
                    settle(item.row())
            executor.run(todo, plan.job, lambda result: settle(result.row(), finished=True))
            for item in todo:
                if item.source not in rows:  # e.g. lost with a machine: failed, so a rerun retries it
                    lost = f"{src_dir / item.source}: the executor gave no result"
                    settle(ItemResult(item, "failed", error=lost).row())
        finally:
            bar.close()

    unreadable = [BatchRow(rel, None, "other", "failed", error=f"{src_dir / rel}: cannot read this folder")
                  for rel in plan.unreadable]
    return BatchSummary(src_dir, out_dir, unreadable + [rows[item.source] for item in plan.items],
                        time.time() - started)


def format_summary(summary: BatchSummary) -> str:
    counts = summary.counts
    lines = [f"vidcolor batch: {len(summary.rows)} files in {summary.seconds:.1f} s"]
    lines += [f"  {status:<9}{counts[status]:>6}" for status in ("done", "skipped", "failed")]
    if summary.frames:
        fps = summary.frames / max(summary.film_seconds, 1e-9)
        lines.append(f"  {'films':<9}{summary.frames:>6} frames, {fps:.1f} frames/s")
    failed = [r for r in summary.rows if r.status == "failed"]
    if failed:
        lines.append("failed:")
        lines += [f"  {r.source}: {r.error}" for r in failed]
    warned = [(r.source, w) for r in summary.rows for w in r.warnings]
    if warned:
        lines.append("warnings:")
        lines += [f"  {source}: {warning}" for source, warning in warned]
    lines.append(f"manifest: {summary.out_dir / MANIFEST_NAME}")
    return "\n".join(lines)
