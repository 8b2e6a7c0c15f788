"""Cross-origin requests from an explicit allow-list of origins (HXTP_CORS_ORIGINS; off when empty).

An ASGI wrapper around the gateway, so no route needs to know about it. For an allowed origin it
answers preflights (OPTIONS with Access-Control-Request-Method) itself with 204 and the methods and
headers the API takes, and adds Access-Control-Allow-Origin (that origin, never "*") to every other
answer. Credentials are allowed, because the dashboard's session cookie and Bearer header both are
credentials; that is exactly why the list is explicit. A preflight from any other origin is refused
with 403; an ordinary request from it is served without CORS headers, which the browser then hides
from the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

from gateway.errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ALLOWED_METHODS = b"GET, POST, PUT, PATCH, DELETE, OPTIONS"
# What clients send: credentials, the CSRF token, the operator key, device bootstrap headers.
ALLOWED_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "x-api-key",
        "x-csrf-token",
        "x-request-id",
        "x-hxtp-admin-key",
    }
)
# What a page may read from an answer besides the CORS-safelisted headers.
EXPOSED_HEADERS = b"x-request-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after"
MAX_AGE = b"600"


def parse_origins(text: str) -> frozenset[str]:
    """Comma-separated origins as a browser sends them (scheme://host[:port], no path)."""
    return frozenset(o.strip().rstrip("/").lower() for o in text.split(",") if o.strip())


def _requested_headers(value: str) -> list[str]:
    return [h.strip().lower() for h in value.split(",") if h.strip()]


def _allowed_header(name: str) -> bool:
    return name in ALLOWED_HEADERS or name.startswith("x-hxtp-")


class Cors:
    def __init__(self, app: App, origins: Iterable[str]) -> None:
        self._app = app
        self._origins = frozenset(origins)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)  # the wrapped gateway's attributes (transport, router)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._origins:
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        origin = headers.get("origin", "")
        if not origin:
            await self._app(scope, receive, send)
            return
        allowed = origin.rstrip("/").lower() in self._origins
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, allowed, headers, send)
            return
        if not allowed:
            await self._app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *_origin_headers(origin)]
                message["headers"].append((b"access-control-expose-headers", EXPOSED_HEADERS))
            await send(message)

        await self._app(scope, receive, send_with_cors)

    async def _preflight(self, origin: str, allowed: bool, headers: dict[str, str], send: Send) -> None:
        requested = _requested_headers(headers.get("access-control-request-headers", ""))
        refused = [h for h in requested if not _allowed_header(h)]
        if not allowed or refused:
            reason = (
                f"Origin {origin} is not allowed" if not allowed else f"Header {refused[0]} is not allowed"
            )
            error = error_response("FORBIDDEN", reason)
            body = orjson.dumps(error.body)
            response = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await _answer(send, error.status, [*response, (b"vary", b"Origin")], body)
            return
        response = [
            *_origin_headers(origin),
            (b"access-control-allow-methods", ALLOWED_METHODS),
            (b"access-control-max-age", MAX_AGE),
            (b"content-length", b"0"),
        ]
        if requested:
            response.append((b"access-control-allow-headers", ", ".join(requested).encode("latin-1")))
        await _answer(send, 204, response, b"")


def _origin_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
