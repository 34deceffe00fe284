"""What the dashboard refuses before any route runs: weak tokens, foreign origins, big bodies.

- Token strength (``check_token``): at least ``MIN_TOKEN_CHARS`` characters of the URL-safe
  alphabet (A-Z a-z 0-9 ``-_.~``, so it survives a ``?token=`` URL unescaped) with at least
  ``MIN_TOKEN_DISTINCT`` different characters (not ``aaaaaaaaaaaaaaaa``). The random default
  (``secrets.token_urlsafe(18)``, 24 characters) always passes.
- Origin (``OriginGuard``): a browser sends ``Origin`` with every websocket handshake and every
  cross-site POST. State-changing requests (any method but GET/HEAD/OPTIONS) and the websocket
  are refused (403) when ``Origin`` is present and is neither in the configured allowed origins
  nor the page's own origin (``http://`` + the request's ``Host``, when that host is an IP
  address or ``localhost``: a DNS name could be an attacker's, rebound to this machine, so
  names must be listed). ``Sec-Fetch-Site: cross-site`` is refused too. A request without
  ``Origin`` is not a browser's cross-site request (curl, httpx, the ROS bridge): the token
  check decides. A cross-site form POST with the token in its URL is refused here.
- Body size (``BodyLimit``): an HTTP body over ``MAX_BODY_BYTES`` gets 413; with a
  ``Content-Length`` before one body byte is read, chunked as soon as the limit is passed.

Importing this module pulls in no web stack (the run config validates tokens with it).
Written by hand as small ASGI middlewares (as ``TokenAuth``): Starlette has none for origins
or body size, and CORS middleware does not refuse a request, it only withholds the answer.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

MIN_TOKEN_CHARS = 16
MIN_TOKEN_DISTINCT = 8
TOKEN_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_.~")
MAX_BODY_BYTES = 64 * 1024  # the largest body the page sends is a label, < 100 bytes
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_problem(token: str) -> str | None:
    """Why ``token`` is too weak for the dashboard, None when it is strong enough."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"expected at least {MIN_TOKEN_CHARS} characters, got {len(token)}"
    odd = sorted(set(token) - TOKEN_ALPHABET)
    if odd:
        return f"only A-Z a-z 0-9 - _ . ~ may be used (URL-safe), got {''.join(odd)!r}"
    if len(set(token)) < MIN_TOKEN_DISTINCT:
        return f"expected at least {MIN_TOKEN_DISTINCT} different characters, got {len(set(token))}"
    return None


def check_token(token: str, *, where: str = "token") -> None:
    """Raise ValueError naming ``where`` when ``token`` is too weak (see ``token_problem``)."""
    problem = token_problem(token)
    if problem is not None:
        raise ValueError(f"{where}: too weak a dashboard token: {problem}")


def normalise_origin(origin: str, *, where: str = "allowed_origins") -> str:
    """``scheme://host[:port]`` lower-cased; ValueError naming ``where`` for anything else."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}: expected an origin like http://host:8765, got {origin!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{where}: an origin is scheme://host[:port] only, got {origin!r}")
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError(f"{where}: bad port in {origin!r}") from err
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _literal_host(host: str) -> bool:
    """The Host header names an IP address or localhost (no DNS name to rebind)."""
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _deny(scope: dict[str, Any], receive: Any, send: Any, status: int, text: str) -> None:
    """An HTTP error answer, or a websocket handshake denial (HTTP status, else close 1008)."""
    from fastapi.responses import PlainTextResponse

    if scope["type"] == "http":
        await PlainTextResponse(text, status_code=status)(scope, receive, send)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": text.encode()})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": text[:120]})


class OriginGuard:
    """ASGI middleware: 403 for state-changing requests and websockets from another origin."""

    def __init__(self, app: Any, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(normalise_origin(o) for o in allowed_origins)

    def refusal(self, scope: dict[str, Any]) -> str | None:
        """Why this request is refused, None when its origin may change state."""
        if scope["type"] == "http" and scope.get("method", "GET") in SAFE_METHODS:
            return None
        if _header(scope, b"sec-fetch-site") == "cross-site":
            return "403: cross-site request refused"
        origin = _header(scope, b"origin")
        if origin is None:
            return None
        try:
            offered = normalise_origin(origin)
        except ValueError:
            return f"403: origin {origin[:60]!r} not allowed"
        if offered in self.allowed:
            return None
        host = _header(scope, b"host")
        if host and _literal_host(host):
            scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
            if offered == normalise_origin(f"{scheme}://{host}"):
                return None
        return f"403: origin {origin[:60]!r} not allowed (dashboard.allowed_origins)"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = self.refusal(scope)
            if refusal is not None:
                await _deny(scope, receive, send, 403, refusal)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: 413 for an HTTP body over ``max_bytes``, without reading all of it."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fastapi.responses import PlainTextResponse

        too_big = PlainTextResponse(
            f"413: request body over {self.max_bytes} bytes", status_code=413
        )
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit() or int(length) > self.max_bytes:
                await too_big(scope, receive, send)  # nothing of the body was read
                return
            await self.app(scope, receive, send)
            return
        # No length (chunked): read up to the limit here, then hand the body on whole.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)  # a disconnect: pass it on
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_big(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


def _replay(messages: list[dict[str, Any]], receive: Any) -> Any:
    """An ASGI ``receive`` that returns ``messages``, then the real ``receive``'s (a
    disconnect)."""
    pending = list(messages)

    async def replayed() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        return dict(await receive())

    return replayed


__all__ = [
    "MAX_BODY_BYTES",
    "MIN_TOKEN_CHARS",
    "BodyLimit",
    "OriginGuard",
    "check_token",
    "normalise_origin",
    "token_problem",
]
