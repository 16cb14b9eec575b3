"""The batch manifest, OUT_DIR/vidcolor-manifest.jsonl: one JSON line per finished file, the latest
line for a source wins.

`read_manifest()` reads it (a line cut short by a crash is passed over); `Recorder` is the one
writer: each row is appended, flushed and fsynced as the file finishes, so a batch stopped by
Ctrl-C, a crash or a power cut loses only the files it was on. Rows written before `warnings`
existed read the same (readers take rows as dicts and use .get for the later fields).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError, OutputError

MANIFEST_NAME = "vidcolor-manifest.jsonl"
NOT_MEDIA = "not an image or video"
ALREADY_DONE = "already done"


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
    warnings: list[str] = field(default_factory=list)  # what went into the output differently than asked


def read_manifest(path: Path) -> dict[str, dict]:
    """The latest row of each source, as dicts; {} when there is no manifest yet."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    latest: dict[str, dict] = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
            latest[row["source"]] = row
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash
    return latest


def done_outputs(latest: dict[str, dict], out_dir: Path) -> dict[str, str]:
    """Source -> output of the sources the manifest has as done whose output is still there."""
    return {source: row["output"] for source, row in latest.items()
            if row.get("status") == "done" and row.get("output") and (out_dir / row["output"]).is_file()}


class Recorder:
    """The one writer of the manifest. Rows come from the driver, one per planned file, as each is
    settled; `record()` appends those that tell the manifest something new:

    - a file skipped as already done is not written again (the manifest has it as done);
    - a non-media file the manifest already has as skipped is not written again;
    - everything else (done, failed, newly skipped) is.
    """

    def __init__(self, path: Path, latest: dict[str, dict] | None = None):
        self.path = path
        self.latest = read_manifest(path) if latest is None else dict(latest)
        try:
            self._needs_newline = path.is_file() and path.stat().st_size > 0 and not _ends_with_newline(path)
        except OSError as exc:
            raise InputError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
        self._file = None

    def record(self, row: BatchRow) -> bool:
        """Append `row` unless it repeats what the manifest says; True if it was written."""
        if row.status == "skipped" and (row.error == ALREADY_DONE
                                        or self.latest.get(row.source, {}).get("status") == "skipped"):
            return False
        self._append(row)
        return True

    def _append(self, row: BatchRow) -> None:
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

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"
