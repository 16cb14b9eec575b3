"""The studio's render: the film remastered with its direction in a background thread (remaster(),
with resume=True: a cancelled render keeps its finished segments, and rendering again goes on from
them), its progress as frames, frames per second and time left; or a still coloured and saved.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..errors import VidcolorError
from ..film.segments import SegmentStore, parts_folder


class Cancelled(KeyboardInterrupt):
    """Raised in the remaster's encoding thread to stop it as Ctrl-C does: its finished segments are kept."""


class RenderJob:
    """One film's render at a time: start(), cancel(), status()."""

    def __init__(self):
        self.state = "idle"  # idle, running, done, cancelled, failed
        self.output: Path | None = None
        self.error: str | None = None
        self.total = self.done_frames = self.resumed = 0
        self.warnings: list[str] = []
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = self._first_frame = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, remaster_film, output: Path, total: int) -> None:
        """Run remaster_film(on_frame, on_warning) -> RemasterResult in a thread; `output`: where it writes."""
        if self.running:
            raise VidcolorError("a render is running already")
        self.state, self.output, self.error, self.warnings = "running", Path(output), None, []
        self.total, self.done_frames = total, 0
        self.resumed = sum(s.frames for s in SegmentStore(parts_folder(self.output)).finished())  # a guess till done
        self._cancel.clear()
        self._started, self._first_frame = time.monotonic(), 0.0
        self._thread = threading.Thread(target=self._run, args=(remaster_film,), name="vidcolor-studio-render",
                                        daemon=True)
        self._thread.start()

    def _run(self, remaster_film) -> None:
        try:
            result = remaster_film(self._frame_done, self.warnings.append)
        except Cancelled:
            self.state = "cancelled"
        except VidcolorError as error:
            self.state, self.error = "failed", str(error)
        except Exception as error:  # noqa: BLE001 (said on the page, in one line)
            self.state, self.error = "failed", f"{type(error).__name__}: {error}"
        else:
            self.state, self.output, self.resumed = "done", result.output, result.resumed_frames
            self.done_frames = result.frames - result.resumed_frames

    def _frame_done(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        if not self.done_frames:
            self._first_frame = time.monotonic()
        self.done_frames += 1

    def cancel(self, wait: float = 30.0) -> None:
        """Stop the render (its finished segments are kept for the next one to go on from)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(wait)

    def status(self) -> dict:
        done = min(self.total, self.resumed + self.done_frames) if self.total else self.done_frames
        elapsed = time.monotonic() - self._first_frame if self._first_frame else 0.0
        fps = (self.done_frames - 1) / elapsed if elapsed > 0 and self.done_frames > 1 else None
        left = (self.total - done) / fps if fps and self.total and self.state == "running" else None
        return {"state": self.state, "frames": done, "total": self.total, "fps": fps, "seconds_left": left,
                "output": None if self.output is None else str(self.output), "error": self.error,
                "warnings": list(self.warnings)}
