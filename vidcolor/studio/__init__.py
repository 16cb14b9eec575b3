"""`vidcolor studio FILM`: direct the colour of a film (or a still) in the browser.

A local web application (Starlette on uvicorn, the optional extra `vidcolor[studio]`) over the
direction machinery the command line uses: the shots as `vidcolor shots` finds them, the direction
file it writes and `remaster --direction` reads, the model loaded once. The page is static files
shipped in the package (static/); it listens on 127.0.0.1 and every request carries a token made per
start (guard.py).

- settings.py: what a run is set to; session.py: the studio's state and everything the page can do;
- footage.py: the film's shots and frames (or a still); directing.py: the direction being edited,
  saved by the file's own writer; previews.py: the pictures, coloured as the colour pass colours;
- rendering.py: the remaster in the background; server.py: the web application; guard.py: who may use it.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import webbrowser
from pathlib import Path
from typing import Callable

from ..errors import InputError, VidcolorError
from .settings import StudioSettings

EXTRA = "studio"
NEEDS = ("starlette", "uvicorn")
__all__ = ["StudioSettings", "exposure_warning", "run_studio", "studio_unavailable_message"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def studio_unavailable_message() -> str | None:
    """One line saying how to install the studio when its web stack is missing; None when it is there."""
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"the studio needs {' and '.join(missing)}: pip install \"vidcolor[{EXTRA}]\" "
            f"(or pip install -e \".[{EXTRA}]\" in a checkout)")


def exposure_warning(host: str, port: int) -> str | None:
    """What --host must say: a studio reachable from other machines shows them the film."""
    if host in LOCAL_HOSTS:
        return None
    return (f"the studio listens on {host}:{port}: anyone who can reach this machine there and has the link "
            "(it carries the token) can see the film and change its colours")


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror or error}); choose another --port") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def run_studio(path: str | Path, settings: StudioSettings | None = None, *, open_browser: bool = True,
               colorizer=None, on_ready: Callable[[str], None] | None = None,
               on_warning: Callable[[str], None] | None = None) -> None:
    """Serve the studio for the film or still at `path` until Ctrl-C (or SIGTERM), which stops it
    cleanly (a running render keeps its finished segments for the next one) and is raised again.

    settings: the model's, where a render writes and where the studio listens (StudioSettings; by
    default 127.0.0.1 on a free port). on_ready(url): the link to open (it carries the token), once
    the server listens; the browser opens it too unless open_browser is False. on_warning(line): what
    the user should know (--host exposes the film; the model failed). Errors before it listens are
    one-line VidcolorErrors (no such film, a direction file that does not fit it, another studio on it).
    """
    message = studio_unavailable_message()
    if message:
        raise VidcolorError(message)
    import uvicorn

    from .guard import Guard
    from .server import create_app
    from .session import Studio

    settings = settings or StudioSettings()
    warn = on_warning or (lambda line: None)
    with Studio(path, settings, colorizer=colorizer, on_warning=warn) as studio:
        sock = _listening_socket(settings.host, settings.port)
        guard = Guard(sock.getsockname()[1], settings.host)
        if exposure_warning(settings.host, guard.port):
            warn(exposure_warning(settings.host, guard.port))
        studio.start()
        config = uvicorn.Config(create_app(studio, guard), log_level="warning", lifespan="off", access_log=False,
                                timeout_graceful_shutdown=3)  # a page left open does not hold the stop up
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="vidcolor-studio-server",
                                  daemon=True)
        thread.start()
        try:
            _serve_until_stopped(server, thread, guard.url(), on_ready, open_browser)
        finally:
            server.should_exit = True
            thread.join()  # before the socket closes under it
            sock.close()


def _serve_until_stopped(server, thread: threading.Thread, url: str, on_ready, open_browser: bool) -> None:
    while not server.started and thread.is_alive():
        thread.join(0.05)
    if not thread.is_alive():
        raise VidcolorError("the studio's server stopped as it started")
    (on_ready or print)(url)
    if open_browser:
        webbrowser.open(url)
    while thread.is_alive():
        thread.join(0.2)  # Ctrl-C lands here, in the main thread
