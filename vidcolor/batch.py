"""`run_batch()`: colour every film and photo under a folder, resumably.

Each finished file appends one JSON line to OUT_DIR/vidcolor-manifest.jsonl
(flushed and fsynced), so a batch stopped by Ctrl-C, a crash or a power cut
loses only the file it was on: a rerun skips what is done and retries what
failed. One bad file is recorded as failed and the batch goes on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from .errors import InputError, ModelError, OutputError, VidcolorError
from .images import IMAGE_SUFFIXES
from .media import probe_video
from .pipeline import RemasterOptions, remaster
from .stills import colorize_image

MANIFEST_NAME = "vidcolor-manifest.jsonl"
NOT_MEDIA = "not an image or video"
# A file with one of these suffixes that cannot be read is a failed film, not a non-media file.
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
                  ".wmv", ".flv", ".3gp", ".ogv", ".vob", ".dv", ".mxf", ".m2v"}
WRITABLE_VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi"}  # containers the H.264 writer can fill


@dataclass
class BatchRow:
    """One manifest line."""

    source: str  # relative to SRC_DIR, "/"-separated
    output: str | None  # relative to OUT_DIR
    kind: str  # video, still or other
    status: str  # done, failed or skipped
    frames: int | None = None  # films only
    seconds: float = 0.0
    error: str | None = None  # why it failed or was skipped, one line
    warnings: list[str] = field(default_factory=list)


@dataclass
class BatchSummary:
    src_dir: Path
    out_dir: Path
    rows: list[BatchRow]  # this run's rows; files already done show as skipped
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


class Manifest:
    """Append-only JSON lines; the latest row for a source wins."""

    def __init__(self, path: Path):
        self.path = path
        self.latest: dict[str, dict] = {}
        try:
            text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
        except OSError as exc:
            raise InputError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
        for line in text.splitlines():
            try:
                row = json.loads(line)
                self.latest[row["source"]] = row
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
        self._needs_newline = bool(text) and not text.endswith("\n")
        self._file = None

    def append(self, row: BatchRow) -> None:
        try:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")
                if self._needs_newline:  # don't glue the new row onto a half-written one
                    self._file.write("\n")
            self._file.write(json.dumps(asdict(row)) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write the manifest ({exc.strerror or exc})") from None
        self.latest[row.source] = asdict(row)

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()


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


def detect_kind(path: Path) -> str:
    """'still', 'video' or 'other', by content; the suffix only decides what an unreadable file was meant to be."""
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES and _decodes_as_image(path):
        return "still"
    try:
        probe_video(path)
        return "video"
    except InputError:
        pass
    if suffix in VIDEO_SUFFIXES:
        return "video"  # damaged: remaster() will say why
    return "still" if suffix in IMAGE_SUFFIXES else "other"


def output_name(rel: Path, kind: str) -> str:
    suffix = rel.suffix
    if kind == "still" and not (suffix and cv2.haveImageWriter("x" + suffix.lower())):
        suffix = ".png"
    elif kind == "video" and suffix.lower() not in WRITABLE_VIDEO_SUFFIXES:
        suffix = ".mkv"
    return f"{rel.stem}_color{suffix}"


def run_batch(src_dir: str | Path, out_dir: str | Path, options: RemasterOptions | None = None, *,
              colorizer=None, progress: bool = True) -> BatchSummary:
    """Colour every film and still under src_dir into out_dir (same tree), recording each file in the manifest.

    `options` serve the films, and the stills take their render size; options.force also redoes files
    the manifest has as done.

    Per-file problems are recorded and the batch goes on; a model that cannot
    load, an unwritable manifest and Ctrl-C stop it.
    """
    started = time.time()
    settings = replace(options or RemasterOptions(), progress=progress)
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if not src_dir.is_dir():
        raise InputError(f"{src_dir}: no such folder")
    if out_dir.resolve() == src_dir.resolve():
        raise InputError(f"{out_dir}: the output folder must not be the source folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc})") from None

    def model():
        nonlocal colorizer
        if colorizer is None:
            from .model import load_colorizer

            colorizer = load_colorizer(settings.weights, precision=settings.precision)  # once, and only if something needs colouring
            _ = colorizer.embedder  # now, so that its errors stop the batch at once and its time is no film's
        return colorizer

    with Manifest(out_dir / MANIFEST_NAME) as manifest:
        done = {s: r["output"] for s, r in manifest.latest.items()  # done, and the output is still there
                if r.get("status") == "done" and r.get("output") and (out_dir / r["output"]).is_file()}
        claimed = {output: source for source, output in done.items()}  # output name -> the source it belongs to
        ours = {(out_dir / output).resolve() for output in done.values()}
        files, unreadable = find_files(src_dir, out_dir)
        rows = [BatchRow(Path(os.path.relpath(f, src_dir)).as_posix(), None, "other", "failed",
                         error=f"{f}: cannot read this folder") for f in unreadable]
        bar = tqdm([f for f in files if f.resolve() not in ours], desc="files", unit="file", position=0,
                   disable=not progress)
        for path in bar:
            rel = path.relative_to(src_dir)
            source = rel.as_posix()
            bar.set_postfix_str(source, refresh=False)
            if not settings.force and source in done:
                rows.append(BatchRow(source, done[source], manifest.latest[source].get("kind", "?"), "skipped",
                                     error="already done"))
                continue
            row = _colour_one(path, rel, out_dir, settings, model, claimed)
            if row.status != "skipped" or manifest.latest.get(source, {}).get("status") != "skipped":
                manifest.append(row)  # a non-media file already recorded as such is not recorded again
            if row.status == "failed" and progress:
                tqdm.write(f"vidcolor: {row.error}", file=sys.stderr)
            rows.append(row)
        bar.close()
    return BatchSummary(src_dir, out_dir, rows, time.time() - started)


def _colour_one(path: Path, rel: Path, out_dir: Path, settings: RemasterOptions, model, claimed: dict) -> BatchRow:
    started, source = time.time(), rel.as_posix()
    kind, output, frames, warnings = "other", None, None, []

    def warn(message: str) -> None:
        warnings.append(message)
        if settings.progress:
            tqdm.write(f"vidcolor: warning: {message}", file=sys.stderr)

    try:
        kind = detect_kind(path)
        if kind == "other":
            return BatchRow(source, None, kind, "skipped", seconds=round(time.time() - started, 3), error=NOT_MEDIA)
        loading = time.time()
        colorizer = model()
        started += time.time() - loading  # the first file's time is its own, not the model's
        output = (rel.parent / output_name(rel, kind)).as_posix()
        if claimed.get(output, source) != source:  # e.g. "photo" and "photo.png" both give photo_color.png
            output = (rel.parent / (rel.name + "_color" + Path(output).suffix)).as_posix()
        claimed[output] = source
        target = out_dir / output
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "video":
            # a film interrupted in an earlier batch run goes on from its last finished segment
            frames = remaster(path, target, settings, colorizer=colorizer, on_warning=warn, resume=not settings.force).frames
        else:
            colorize_image(path, target, colorizer=colorizer, render_size=settings.render_size, force=settings.force)
        status, error = "done", None
    except ModelError:
        raise  # the model, not this file: every other file would fail the same way
    except VidcolorError as exc:
        status, error = "failed", " ".join(str(exc).split())
    except Exception as exc:  # noqa: BLE001 - an odd file or a bug must not end an overnight batch
        status, error = "failed", " ".join(f"{path}: {type(exc).__name__}: {exc}".split())
    return BatchRow(source, output, kind, status, frames, round(time.time() - started, 3), error, warnings)


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
    lines.append(f"manifest: {summary.out_dir / MANIFEST_NAME}")
    return "\n".join(lines)
