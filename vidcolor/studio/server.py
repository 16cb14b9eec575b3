"""The studio's web server: a Starlette application over one `Studio`, served by uvicorn.

Every request passes the guard first (guard.py: host, token, origin); the page is static HTML, CSS
and JavaScript shipped in the package (static/), with no build step and nothing from the network.
Every answer the page gets to a bad request is JSON, {"error": one line}, never a traceback.
"""

from __future__ import annotations

import json
import threading
import time
from importlib import resources
from pathlib import Path

import cv2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import InputError, VidcolorError
from ..images import IMAGE_SUFFIXES, read_image, write_image
from .guard import SECURITY_HEADERS, Guard, Refused, inside, read_limited, safe_stem
from .previews import jpeg
from .session import Studio

STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/static/style.css": ("style.css", "text/css"),
          **{f"/static/{name}": (name, "text/javascript") for name in ("app.js", "common.js", "frame.js")}}
LISTED_IMAGES = 500  # at most this many pictures of the film's folder are offered as references
REFERENCE_SIDE = 640  # long side of a reference photo as the page shows it (for the eyedropper)


class Guarded:
    """ASGI middleware: the guard's checks on every request, a cookie for the token's first use, and
    the security headers on every answer."""

    def __init__(self, app, guard: Guard):
        self.app, self.guard = app, guard

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        try:
            first = self.guard.check(request.method, request.headers, request.cookies, request.query_params)
        except Refused as refused:
            response = JSONResponse({"error": str(refused)}, refused.status)
            return await _secured(response)(scope, receive, send)
        if first and request.method == "GET" and scope["path"] == "/":  # trade the token for a cookie
            response = RedirectResponse("/", 303)
            response.set_cookie(self.guard.cookie, self.guard.token, httponly=True, samesite="strict")
            return await _secured(response)(scope, receive, send)

        async def secured_send(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in names]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, secured_send)


def _secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def _error(status: int, message: str, reason: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **({"reason": reason} if reason else {})}, status)


async def _refused(request, error: Refused):
    return _error(error.status, str(error), error.reason)


async def _vidcolor_error(request, error: VidcolorError):
    return _error(409 if error.exit_code == 3 else 400, str(error))


async def _http_error(request, error: HTTPException):
    return _error(error.status_code, error.detail if isinstance(error.detail, str) else "bad request")


async def _unexpected(request, error: Exception):
    return _error(500, f"the studio failed: {type(error).__name__} (the terminal that runs it has the details)")


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the request's body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the request's body must be a JSON object")
    return data


def _image_list(folder: Path) -> list[str]:
    """Pictures in the film's folder and the folders in it, one level down (hidden ones left out)."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        try:
            inner = sorted(path.iterdir()) if path.is_dir() else [path]
        except OSError:  # a folder it may not read
            continue
        found += [p.relative_to(folder).as_posix() for p in inner
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")]
        if len(found) >= LISTED_IMAGES:
            break
    return found[:LISTED_IMAGES]


def create_app(studio: Studio, guard: Guard) -> Guarded:
    """The studio's application, guarded."""
    handlers = {Refused: _refused, VidcolorError: _vidcolor_error, HTTPException: _http_error, Exception: _unexpected}
    return Guarded(Starlette(routes=Endpoints(studio).routes(), exception_handlers=handlers), guard)


class Endpoints:
    """What each address does: the studio's methods, run off the event loop where they take time."""

    def __init__(self, studio: Studio):
        self.studio, self.folder = studio, studio.source.parent

    def routes(self) -> list[Route]:
        return [Route(path, self.page) for path in STATIC] + [
            Route("/api/state", self.state),
            Route("/api/shots/{number:int}/thumb.jpg", self.thumbnail),
            Route("/api/shots/{number:int}/preview", self.preview),
            Route("/api/direction/film", self.edit, methods=["PUT"]),
            Route("/api/direction/shots/{number:int}", self.edit, methods=["PUT"]),
            Route("/api/save", self.save, methods=["POST"]),
            Route("/api/reload", self.reload, methods=["POST"]),
            Route("/api/images", self.images),
            Route("/api/image", self.image),
            Route("/api/references", self.upload, methods=["POST"]),
            Route("/api/render", self.render, methods=["POST"]),
            Route("/api/render/cancel", self.cancel, methods=["POST"]),
        ]

    async def page(self, request: Request):
        name, kind = STATIC[request.url.path]
        return Response(resources.files(__package__).joinpath("static", name).read_bytes(), media_type=kind)

    async def state(self, request):
        return JSONResponse(self.studio.state())

    async def thumbnail(self, request):
        picture = await run_in_threadpool(self.studio.thumbnail, request.path_params["number"])
        return Response(picture, media_type="image/jpeg")

    async def preview(self, request):
        return JSONResponse(await run_in_threadpool(self.studio.preview, request.path_params["number"]))

    async def edit(self, request):
        target = str(request.path_params.get("number", "film"))
        return JSONResponse(await run_in_threadpool(self.studio.edit, target, await _body(request)))

    async def save(self, request):
        body = await _body(request)
        saved = await run_in_threadpool(self.studio.save, bool(body.get("keep_theirs")), bool(body.get("overwrite")))
        return JSONResponse({**saved, "state": self.studio.state()})

    async def reload(self, request):
        return JSONResponse(await run_in_threadpool(self.studio.reload))

    async def images(self, request):
        return JSONResponse({"images": await run_in_threadpool(_image_list, self.folder)})

    async def image(self, request):
        path = inside(self.folder, request.query_params.get("path", ""))
        return Response(await run_in_threadpool(_shown_reference, path), media_type="image/jpeg")

    async def upload(self, request):
        data = await read_limited(request.stream(), request.headers.get("content-length"))
        name = await run_in_threadpool(_store_upload, data, request.query_params.get("name", ""), self.studio)
        return JSONResponse({"path": name, "images": await run_in_threadpool(_image_list, self.folder)})

    async def render(self, request):
        body = await _body(request)
        return JSONResponse(await run_in_threadpool(self.studio.start_render, bool(body.get("force"))))

    async def cancel(self, request):
        return JSONResponse(await run_in_threadpool(self.studio.cancel_render))


def _shown_reference(path: Path) -> bytes:
    """A reference photo as the page shows it (for the eyedropper): read by the stills' reader, small, JPEG."""
    rgb = read_image(path)
    scale = min(1.0, REFERENCE_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return jpeg(rgb)


def _store_upload(data: bytes, name: str, studio: Studio) -> str:
    """An uploaded reference photo, decoded by the stills' reader (anything else is refused) and saved
    again as PNG in `<film>_references/` beside the film; its path from the film's folder."""
    folder = studio.source.parent / f"{studio.source.stem}_references"
    folder.mkdir(exist_ok=True)
    probe = folder / f".upload-{threading.get_ident()}-{time.monotonic_ns()}"
    try:
        probe.write_bytes(data)
        try:
            rgb = read_image(probe)
        except InputError:
            raise InputError("the upload is not a picture the studio reads (JPEG, PNG, TIFF, BMP or WebP)") from None
    finally:
        probe.unlink(missing_ok=True)
    stem = safe_stem(name)
    for k in range(1, 10_000):
        target = folder / f"{stem}{'' if k == 1 else f'-{k}'}.png"
        if not target.exists():
            write_image(target, rgb)
            return target.relative_to(studio.source.parent).as_posix()
    raise InputError(f"{folder}: too many pictures named {stem}")
