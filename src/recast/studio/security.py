"""The studio's request gate: a per-start token, Host and Origin checks (pure ASGI middleware).

* **Token** — a random value made at start. The page opened from the printed URL carries it as
  ``?token=…``; the server answers with a ``SameSite=Strict``, ``HttpOnly`` cookie and a redirect to
  the same path without it. Every later request must carry the cookie or an ``X-Recast-Token``
  header (scripts and tests).
* **Host** — only the names the server was started for (``127.0.0.1``, ``localhost``, ``[::1]`` and
  the ``--host`` given, with the port): a DNS-rebinding page that resolves its own name to
  127.0.0.1 sends its own Host and is refused.
* **Origin** — when present (browsers send it on cross-origin requests and every non-GET request),
  it must be this server's own origin.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "recast_token"
HEADER = "x-recast-token"
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")


def new_token() -> str:
    """A fresh random token (32 bytes, URL-safe)."""
    return secrets.token_urlsafe(32)


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values accepted for a server bound to ``host:port``."""
    names = {*LOCAL_NAMES, f"[{host}]" if ":" in host and not host.startswith("[") else host}
    names.discard("0.0.0.0")
    return frozenset(f"{name}:{port}" for name in names)


class SecurityMiddleware:
    """Refuse requests without the token, with a foreign Host, or from a foreign Origin.

    ``app`` is the wrapped ASGI app; ``token`` the start token; ``hosts`` the accepted ``Host``
    values (see :func:`allowed_hosts`). Lifespan messages pass through untouched.
    """

    def __init__(self, app: ASGIApp, token: str, hosts: frozenset[str]) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if host not in self.hosts:
            await _refuse(send, 400, f"unknown Host {host!r}: the studio answers only on {sorted(self.hosts)[0]}")
            return
        origin = headers.get("origin")
        if origin is not None and origin not in {f"http://{h}" for h in self.hosts}:
            await _refuse(send, 403, f"cross-origin request from {origin!r} refused")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "token" in query and self._valid(query["token"]) and scope["type"] == "http":
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            await _redirect_with_cookie(send, scope["path"] + (f"?{rest}" if rest else ""), self.token)
            return
        if not (self._valid(headers.get(HEADER, "")) or self._valid(_cookie(headers.get("cookie", "")))):
            await _refuse(send, 401, "missing or wrong studio token: open the URL recast studio printed")
            return
        await self.app(scope, receive, send)

    def _valid(self, candidate: str) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())


def _cookie(header: str) -> str:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is the same as none
        return ""
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else ""


async def _refuse(send: Send, status: int, message: str) -> None:
    body = message.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(send: Send, location: str, token: str) -> None:
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                            (b"content-length", b"0"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})
