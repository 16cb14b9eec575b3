"""How a command ends: library errors, Ctrl-C and SIGTERM as one line on stderr and an exit
code; warnings as their own line, above any progress bar."""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Callable

import typer

from .errors import (Interrupted, OptionError, VidcolorError, VidcolorWarning, exit_code_of, signal_received,
                     stop_on_signals)


def fail(message: str, code: int) -> None:
    typer.echo(f"vidcolor: {message}", err=True)
    raise typer.Exit(code)


def one_line(error: VidcolorError) -> str:
    """What a command says of a library error: its message; a setting's (OptionError) as the flag
    that set it, `--key-interval 0: must be from 1 to 8`."""
    if isinstance(error, OptionError):
        return f"--{error.name.replace('_', '-')} {error.value}: {error.problem}"
    return str(error)


def stopped(interrupt: KeyboardInterrupt, what_next: str) -> None:
    """Ctrl-C or SIGTERM as one line (what stopped it; what_next) and its exit code (130, 143)."""
    fail(f"{getattr(interrupt, 'reason', 'interrupted')}; {what_next}", exit_code_of(interrupt))


def warn(message: str) -> None:
    """One warning line on stderr, above any progress bar (never glued onto its line)."""
    from tqdm import tqdm

    tqdm.write(f"vidcolor: warning: {message}", file=sys.stderr)


def _show_warning(shown):
    """warnings.showwarning for a command: the library's own warnings (VidcolorWarning) as one line."""

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, VidcolorWarning):
            warn(str(message))
        else:
            shown(message, category, filename, lineno, file, line)

    return show


def ends_in_one_line(function, debug: Callable[[], bool]):
    """`function` as a command whose library errors, Ctrl-C and SIGTERM become one line and an
    exit code (2 bad input, 3 output, 4 model, 130 Ctrl-C, 143 SIGTERM), wherever in the command
    they happen; debug() True: the traceback instead."""

    @functools.wraps(function)
    def command(*args, **kwargs):
        with stop_on_signals(), warnings.catch_warnings():
            warnings.showwarning = _show_warning(warnings.showwarning)
            if debug():
                return function(*args, **kwargs)
            try:
                result = function(*args, **kwargs)
            except VidcolorError as exc:
                fail(one_line(exc), exc.exit_code)
            except KeyboardInterrupt as exc:
                finished = getattr(exc, "finished", None)  # the output, where the stop came once it was in place
                stopped(exc, f"{finished} is finished (the stop came after it was written)" if finished is not None
                        else "no partial output was kept")
            lost = signal_received()
            if lost is not None:  # a stop whose KeyboardInterrupt was swallowed on the way: still a stop
                stop = Interrupted(lost)
                fail(f"{stop.reason} while finishing; what was written before the stop is complete", stop.exit_code)
            return result

    return command
