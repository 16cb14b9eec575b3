"""Error types. Every message is one line that names the file and the problem.

Also what a stop asked for by a signal becomes: `Interrupted`, a KeyboardInterrupt (so every
`except KeyboardInterrupt` treats SIGTERM as it treats Ctrl-C), and `stop_on_signals()`, which
the command line wraps each command in.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class VidcolorError(Exception):
    """Base class: the CLI prints str(error) on one line and exits non-zero."""

    exit_code = 1


class InputError(VidcolorError):
    """The input is missing, unreadable, or not what the command needs."""

    exit_code = 2


class OptionError(InputError, ValueError):
    """A setting with a value it may not take (options.check_setting): names the setting, the value
    and what it must be, so the command line can say it as its flag (`--key-interval 0: ...`)."""

    def __init__(self, name: str, value, problem: str):
        super().__init__(f"{name} {value!r}: {problem}")
        self.name, self.value, self.problem = name, value, problem

    def __reduce__(self):  # rebuilt from its parts, not from its message (Ray sends errors between processes)
        return type(self), (self.name, self.value, self.problem)


class OutputError(VidcolorError):
    """The output cannot be written (exists, unwritable, disk full, another run is writing it)."""

    exit_code = 3


class ModelError(VidcolorError):
    """No usable weights, or an embedder's weights are missing."""

    exit_code = 4


class VidcolorWarning(UserWarning):
    """Something the user should know that did not stop the work (the CLI prints it as one line)."""


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop by a signal: SIGINT (Ctrl-C) or SIGTERM. Exit code 128 + its number."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def reason(self) -> str:
        return "terminated (SIGTERM)" if self.signum == signal.SIGTERM else "interrupted"


_received: list[int] = []  # the signals stop_on_signals' handler has seen, first first


def signal_received() -> int | None:
    """The first stop signal received while stop_on_signals() was active, or None."""
    return _received[0] if _received else None


def raise_if_interrupted() -> None:
    """Raise Interrupted if a stop signal has arrived. The handler raises at once; this is for the
    case where that KeyboardInterrupt was lost (Python only prints an exception raised inside a
    __del__ or a callback), so a long loop that calls this still stops."""
    if _received:
        raise Interrupted(_received[0])


def exit_code_of(interrupt: KeyboardInterrupt) -> int:
    return getattr(interrupt, "exit_code", 128 + signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While active, SIGINT and SIGTERM raise Interrupted in the main thread (so SIGTERM cleans up
    like Ctrl-C) and are remembered (raise_if_interrupted). Off the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        _received.append(signum)
        raise Interrupted(signum)

    _received.clear()
    kept = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, previous in kept.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        _received.clear()
