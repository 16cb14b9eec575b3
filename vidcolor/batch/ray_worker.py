"""What runs on each Ray worker of `vidcolor batch --ray` (ray_executor.py): `ColorWorker`, which the
driver makes a Ray actor. It loads the model once, at its first unit of work (and again after Ray
restarts it), and colours one unit at a time: a whole item (batch.color_item), a long film's first
pass (pieces.scan_film) or one of its pieces (pieces.color_piece). It never imports Ray itself.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .archive import BatchItem, BatchJob, color_item, error_line
from ..errors import InputError, ModelError, OutputError, VidcolorError
from ..model import ColorizerProtocol
from ..options import RemasterOptions
from ..outputs import write_text
from .pieces import FilmScan, Piece, color_piece, scan_film


def storage_problem(src_dir: Path, out_dir: Path, token_name: str, token: str,
                    sample: str | None) -> VidcolorError | None:
    """What a worker cannot see or do of the batch's folders (InputError: SRC_DIR or a file in it;
    OutputError: the file the driver left in OUT_DIR, or a file of its own written there), or None."""
    if not src_dir.is_dir() or (sample is not None and not (src_dir / sample).is_file()):
        return InputError(f"cannot see {src_dir if not src_dir.is_dir() else src_dir / sample}")
    try:
        seen = (out_dir / token_name).read_text()
    except OSError:
        seen = None
    if seen != token:
        return OutputError(f"cannot see the file the driver left in {out_dir}")
    try:
        write_text(out_dir / f"{token_name}-{os.getpid()}", token).unlink()
    except (OSError, OutputError) as exc:
        return OutputError(f"cannot write in {out_dir} ({getattr(exc, 'strerror', None) or exc})")
    return None


@dataclass(frozen=True)
class Outcome:
    """A first pass's or a piece's result, as a worker hands it back."""

    value: FilmScan | int | None  # a piece: how many of its segments are finished
    error: str | None = None
    warnings: tuple[str, ...] = ()
    frames: int = 0  # frames coloured


class ColorWorker:
    """A Ray actor: loads the model at its first unit (again after a restart) and keeps it."""

    def __init__(self, load: Callable[[RemasterOptions], ColorizerProtocol], cpus: int | None):
        self._load, self._colorizer, self.frames = load, None, 0
        if cpus:  # the colour pass's other threads keep a core busy (model.backend.share_cores)
            os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, cpus - 1)))

    def where(self) -> str:
        return f"{socket.gethostname()} (pid {os.getpid()})"

    def check(self, src_dir: Path, out_dir: Path, token_name: str, token: str,
              sample: str | None) -> VidcolorError | None:
        problem = storage_problem(src_dir, out_dir, token_name, token, sample)
        return None if problem is None else type(problem)(f"the Ray worker on {self.where()} {problem}")

    def load(self, options: RemasterOptions) -> None:
        if self._colorizer is None:
            self._colorizer = self._load(options)
            self._colorizer.prepare()  # now, so that its errors stop the batch at once

    def progress(self) -> int:
        return self.frames

    def _frame(self) -> None:
        self.frames += 1

    def run(self, kind: str, item: BatchItem, job: BatchJob, piece: Piece | None = None, format_name: str = "",
            again: bool = False):
        """One unit; `again`: a unit whose worker was lost, so a film goes on from the segments this batch made."""
        self.frames = 0
        self.load(job.options)
        if kind == "item":
            return color_item(item, job, self._colorizer, on_frame=self._frame, resume=True if again else None)
        warnings: list[str] = []

        def warn(message: str) -> None:
            if message not in warnings:
                warnings.append(message)

        try:
            if kind == "scan":
                value = scan_film(item, job, self._colorizer, warn=warn)
            else:
                value = color_piece(item, job, piece, format_name, self._colorizer, warn=warn, on_frame=self._frame)
            return Outcome(value, None, tuple(warnings), self.frames)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - as in color_item: one bad film must not end the batch
            return Outcome(None, error_line(job.src_dir / item.source, exc), tuple(warnings), self.frames)
