"""The folder vidcolor keeps what it makes once and reuses in: the converted embedder and the frozen
inference graphs (graph_cache.py). $VIDCOLOR_CACHE, else the user's cache folder."""

from __future__ import annotations

import functools
import os
import stat
import tempfile
import warnings
from pathlib import Path

from ..errors import ModelError, VidcolorWarning


def cache_dir() -> Path:
    """$VIDCOLOR_CACHE, else the user's cache folder; created if need be. Where that cannot be
    created or written (a service user without a home), a private folder in the system's temporary
    folder, with a warning."""
    import platformdirs

    return _usable_cache_dir(Path(os.environ.get("VIDCOLOR_CACHE") or platformdirs.user_cache_dir("vidcolor")))


@functools.lru_cache(maxsize=None)
def _usable_cache_dir(wanted: Path) -> Path:
    """cache_dir() for `wanted`, decided once per process: the embedder and each cached graph ask for
    it, and a fallback is said once."""
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        if not os.access(wanted, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable")
        return wanted
    except OSError as exc:
        reason = exc.strerror or str(exc)
    fallback = _private_temp_folder()
    warnings.warn(f"{wanted}: cannot keep the model cache there ({reason}); using {fallback} "
                  "(set VIDCOLOR_CACHE to choose a folder)", VidcolorWarning, stacklevel=2)
    return fallback


def _private_temp_folder() -> Path:
    """<temp>/vidcolor-cache-<uid>, if it is this user's alone; else a new folder of this run's."""
    folder = Path(tempfile.gettempdir()) / f"vidcolor-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
        mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
        if stat.S_ISDIR(info.st_mode) and mine and not info.st_mode & 0o022:
            return folder
    except OSError:
        pass
    try:
        return Path(tempfile.mkdtemp(prefix="vidcolor-cache-"))
    except OSError as exc:
        raise ModelError(f"no folder to keep the converted embedder in: {folder} and the temporary folder "
                         f"cannot be written ({exc.strerror or exc}); set VIDCOLOR_CACHE") from None
