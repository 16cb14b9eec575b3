"""What keeps the studio the user's alone: every request is checked before it reaches the studio.

- Host: only the names the server was started on (127.0.0.1, localhost, [::1], or --host), so a page
  whose own name was made to point at 127.0.0.1 (DNS rebinding) is refused;
- the token: random per start, in the link the studio opens; the first page load trades it for a
  cookie (HttpOnly, SameSite=Strict), API clients may send it as a header; compared in constant time;
- Origin: a request that changes anything must come from the studio's own page (as Jupyter Server
  checks), so another page in the browser cannot post to it even with the cookie;
- paths: nothing outside the film's folder is read, and uploads are images of bounded size.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

TOKEN_HEADER = "x-vidcolor-token"
UPLOAD_LIMIT = 25 * 1024 * 1024  # bytes of one uploaded reference photo
READS = {"GET", "HEAD"}
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::")
# What the page may load and talk to: itself only (no CDN, no inline script), and no page may frame it.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class Refused(Exception):
    """A request the studio does not serve: its HTTP status and one line saying why."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        super().__init__(message)
        self.status, self.reason = status, reason  # reason: what the page may offer ("conflict": keep both or load)


@dataclass
class Guard:
    """The checks of one studio run: its port, the host it listens on and its token."""

    port: int
    host: str = "127.0.0.1"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def cookie(self) -> str:
        return f"vidcolor_studio_{self.port}"

    @property
    def hosts(self) -> set[str]:
        names = set(LOCAL_NAMES)
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            names.add(f"[{self.host}]" if ":" in self.host else self.host)
        return {f"{name}:{self.port}" for name in names}

    def host_allowed(self, host: str) -> bool:
        """Listening on every address (0.0.0.0, ::), any name of the machine is allowed, as Jupyter
        Server allows remote access: then the token alone keeps others out."""
        return host.lower() in self.hosts or (self.host in WILDCARDS and host.endswith(f":{self.port}"))

    def url(self, path: str = "/") -> str:
        """The link that opens the studio (it carries the token)."""
        host = "127.0.0.1" if self.host in WILDCARDS else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}{path}?token={self.token}"

    def is_token(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def check(self, method: str, headers, cookies: dict, query: dict) -> bool:
        """Raise Refused unless the request may be served; True when it came with the token in its URL
        (a first page load: the caller sets the cookie)."""
        host = headers.get("host", "")
        if not self.host_allowed(host):
            raise Refused(403, f"host {host!r} refused: open the studio at {self.url('/').split('?')[0]}")
        in_url = self.is_token(query.get("token"))
        given = cookies.get(self.cookie) if not in_url else None
        header = headers.get(TOKEN_HEADER)
        if not (in_url or self.is_token(given) or self.is_token(header)):
            raise Refused(403, "no valid studio token: open the link the studio printed when it started")
        if method not in READS:
            origin = headers.get("origin")
            if origin is None and not self.is_token(header):
                raise Refused(403, "a change needs the studio's page (Origin) or the token header")
            if origin is not None and (not origin.lower().startswith("http://")
                                       or not self.host_allowed(origin.lower()[len("http://"):])):
                raise Refused(403, f"origin {origin!r} refused: changes come only from the studio's own page")
        return in_url


def inside(folder: Path, relative: str) -> Path:
    """`relative` (a path from `folder`, as the page names files) as a path inside `folder`; InputError
    for anything that would lead out of it (.., an absolute path, a link that points outside)."""
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise InputError(f"{relative!r}: not a file name")
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or Path(relative).is_absolute():
        raise InputError(f"{relative}: outside the film's folder {folder}")
    return path


def safe_stem(name: str) -> str:
    """A file name's stem with only letters, digits, '-' and '_' (at most 60 of them); 'reference' if none."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name or "").stem).strip("_")[:60]
    return stem or "reference"


async def read_limited(stream, declared: str | None, limit: int = UPLOAD_LIMIT) -> bytes:
    """An upload's bytes, refused (413) past `limit` whether or not its Content-Length says so."""
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Refused(413, f"the upload is larger than {limit // (1024 * 1024)} MB")
    data = bytearray()
    async for chunk in stream:
        data += chunk
        if len(data) > limit:
            raise Refused(413, f"the upload is larger than {limit // (1024 * 1024)} MB")
    if not data:
        raise Refused(400, "the upload is empty")
    return bytes(data)
