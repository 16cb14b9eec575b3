"""Where outputs go and how they are written: the one home of the output naming, the
refusal to overwrite, and the atomic write (a temporary name beside the target, then a
rename, so a half-written file never sits under a final name)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from .errors import OutputError

COLOR_TAG = "_color"


def colored_name(source: str | Path, folder: str | Path | None = None, suffix: str | None = None) -> Path:
    """`<stem>_color<suffix>` beside the source, or inside `folder`; `suffix` defaults to the source's."""
    source = Path(source)
    return Path(folder if folder is not None else source.parent) / f"{source.stem}{COLOR_TAG}{suffix or source.suffix}"


def is_colored_name(path: str | Path) -> bool:
    """True for a name colored_name makes (so folder walks skip earlier outputs)."""
    return COLOR_TAG in Path(path).stem


def refuse_overwrite(path: str | Path, force: bool) -> None:
    """OutputError if `path` exists and overwriting was not asked for."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory")
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists (use --force to overwrite)")


def partial_path(path: str | Path, suffix: str | None = None) -> Path:
    """The temporary name a file is written under before it is renamed to `path`: hidden, in the
    same folder (so the rename is atomic), unique to this process, the same suffix (libraries
    that choose the format by suffix still do).

    suffix: the ending the temporary name keeps, when a library needs more than the last
    suffix (Keras writes weights only to names ending in ".weights.h5"); default path.suffix.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    base = path.name[: len(path.name) - len(suffix)] if suffix and path.name.endswith(suffix) else path.name
    return path.with_name(f".{base}.partial-{os.getpid()}{suffix}")


@contextlib.contextmanager
def atomic_path(path: str | Path, sync: bool = False, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temporary path to write; renamed to `path` when the block succeeds, removed if it
    fails. sync=True flushes the file to disk before the rename (for files a resume relies on);
    suffix: the temporary name's ending (partial_path)."""
    path = Path(path)
    temp = partial_path(path, suffix)
    try:
        yield temp
        if sync:
            with open(temp, "rb+") as file:
                os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def write_bytes(path: str | Path, data: bytes, sync: bool = False) -> Path:
    """`data` to `path` atomically; one-line OutputError if the folder cannot take it."""
    path = Path(path)
    try:
        with atomic_path(path, sync=sync) as temp:
            temp.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode())
