"""Where outputs go and how they are written: the one home of the output naming, the
refusal to overwrite, the atomic write (a temporary name beside the target, then a
rename, so a half-written file never sits under a final name), and the lock that keeps
two runs from writing one output at once."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

from .errors import OutputError

try:
    import fcntl
except ImportError:  # not a POSIX system: outputs are not locked
    fcntl = None

COLOR_TAG = "_color"
SHOTS_TAG, DIRECTION_TAG = "_shots", "_direction"  # `vidcolor shots`: its contact sheet (.png) and direction file (.toml)
FILM_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")  # containers a default H.264 output keeps
FALLBACK_FILM_SUFFIX = ".mkv"  # Matroska holds H.264 with any sound or subtitles
# The containers that hold each other output codec (README's table), the one a default output
# name falls back to first. H.264 goes in any container that takes it (FFmpeg says at the start).
CODEC_SUFFIXES = {"hevc": (".mkv", ".mp4", ".mov"), "ffv1": (".mkv", ".avi"), "prores": (".mov", ".mkv")}


def tagged_name(source: str | Path, tag: str, folder: str | Path | None = None, suffix: str | None = None) -> Path:
    """`<stem><tag><suffix>` beside the source, or inside `folder`; `suffix` defaults to the source's."""
    source = Path(source)
    return Path(folder if folder is not None else source.parent) / f"{source.stem}{tag}{suffix or source.suffix}"


def colored_name(source: str | Path, folder: str | Path | None = None, suffix: str | None = None) -> Path:
    """`<stem>_color<suffix>` beside the source, or inside `folder`; `suffix` defaults to the source's."""
    return tagged_name(source, COLOR_TAG, folder, suffix)


def shots_names(source: str | Path, folder: str | Path | None = None) -> tuple[Path, Path]:
    """What `vidcolor shots` writes: `<stem>_shots.png` (contact sheet) and `<stem>_direction.toml`."""
    return tagged_name(source, SHOTS_TAG, folder, ".png"), tagged_name(source, DIRECTION_TAG, folder, ".toml")


def film_suffix(source: str | Path, codec: str = "h264") -> str:
    """The source's suffix where vidcolor writes that container with `codec`, else .mkv (.mov for
    ProRes): .webm and .ogv cannot hold H.264 at all; .mpg, .ts and others not with every sound a
    source has; .mp4 no FFV1 or ProRes."""
    suffix = Path(source).suffix
    allowed = CODEC_SUFFIXES.get(codec, (FALLBACK_FILM_SUFFIX, *FILM_SUFFIXES))
    return suffix if suffix.lower() in allowed else allowed[0]


def colored_film_name(source: str | Path, folder: str | Path | None = None, codec: str = "h264") -> Path:
    """colored_name for a film, with its film_suffix."""
    return colored_name(source, folder, film_suffix(source, codec))


def is_colored_name(path: str | Path) -> bool:
    """True for a name colored_name makes (so folder walks skip earlier outputs)."""
    return COLOR_TAG in Path(path).stem


def refuse_overwrite(path: str | Path, force: bool, source: str | Path | None = None) -> None:
    """OutputError if `path` is the input `source` (by any name: a link too; never overwritten,
    force or not), a folder, or exists and overwriting was not asked for."""
    path = Path(path)
    if source is not None and path.exists() and Path(source).exists() and os.path.samefile(path, source):
        raise OutputError(f"{path}: is the input file; choose another output name")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory")
    if path.exists() and not force:
        raise OutputError(f"{path}: already exists (use --force to overwrite)")


def check_folder(path: str | Path) -> None:
    """OutputError unless the folder `path` goes in is there and writable."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise OutputError(f"{path}: cannot write (folder {parent} {what})")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{path}: cannot write (folder {parent} is not writable)")


def make_folder(folder: str | Path) -> Path:
    """`folder` and its parents, made where missing; one-line OutputError if it cannot be."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the output folder ({exc.strerror})") from None
    return folder


@contextlib.contextmanager
def output_folder(folder: str | Path | None) -> Iterator[Path | None]:
    """`folder` made where missing (make_folder) for the block; if the block fails, the folders
    made for it are removed again where they are still empty (a failed run leaves no empty
    folder behind). None: nothing to make."""
    if folder is None:
        yield None
        return
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    make_folder(folder)
    try:
        yield folder
    except BaseException:
        for made in missing:
            with contextlib.suppress(OSError):
                made.rmdir()  # only if empty
        raise


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


def lock_path(output: str | Path) -> Path:
    """The lock file of an output: hidden, beside it."""
    output = Path(output)
    return output.with_name(f".{output.name}.vidcolor-lock")


@contextlib.contextmanager
def output_lock(output: str | Path) -> Iterator[None]:
    """Holds the output for this process: a second run (another process, or another call in this
    one) that asks for it while the block runs fails at once with a one-line OutputError naming
    the holder's process id. The lock is an flock on a file beside the output, so the system lets
    go of it when its process dies, even by kill -9; a later run takes it over. The file is
    removed when the block ends."""
    output = Path(output)
    if fcntl is None:
        yield
        return
    path = lock_path(output)
    file = _take_lock(output, path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still locked: a run waiting on this file sees it is gone and starts afresh
        file.close()


def _take_lock(output: Path, path: Path):
    for _ in range(100):
        try:
            file = open(path, "a+")  # noqa: SIM115 (open for as long as the lock is held)
        except OSError as exc:
            check_folder(output)  # says why, where the folder is the reason
            raise OutputError(f"{output}: cannot write ({exc.strerror or exc})") from None
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(file)
            file.close()
            raise OutputError(f"{output}: another vidcolor run ({holder}) is writing it now; "
                              "wait for it to finish, or stop it first") from None
        except OSError:  # a file system without locks: go on unlocked, as before there were locks
            return file
        try:
            same = os.stat(path).st_ino == os.fstat(file.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the run that held it removed it meanwhile: take the new one
            try:
                file.seek(0)
                file.truncate()
                file.write(f"{os.getpid()}\n")
                file.flush()
            except OSError as exc:
                file.close()
                raise OutputError(f"{output}: cannot write ({exc.strerror or exc})") from None
            return file
        file.close()
    raise OutputError(f"{output}: cannot take its lock file {path.name}")


def _holder(file) -> str:
    """'pid N' of the run that holds the lock (it writes its pid just after taking it)."""
    for _ in range(20):
        file.seek(0)
        text = file.read().strip()
        if text.isdigit():
            return f"pid {text}"
        time.sleep(0.05)
    return "another process"
