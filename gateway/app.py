"""The REST/WebSocket gateway as a plain ASGI application.

Per request: match the compiled route, bind the request message, call the transport with the
forwarded headers as metadata, and write JSON (or the raw HttpBody). Every failure goes through
gateway.errors. Nothing here knows any endpoint by name: the routes come from the protos.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import orjson
from google.protobuf.message import Message
from starlette.requests import Request

from contract import metadata as http_metadata
from contract.ids import random_uuid
from gateway import metrics
from gateway.binding import JSON_LIMIT, BodyTooLarge, RequestBinder, parse_json_body
from gateway.codec import BindError, codec_for
from gateway.descriptors import API_PREFIX, MethodInfo, load_methods
from gateway.errors import ErrorResponse, error_response, failure_response
from gateway.openapi import build_openapi
from gateway.routes import Match, MethodMismatch, Router
from gateway.transport import Metadata, RpcFailure, Transport
from gateway.websocket import SdkEnvelope, refuse_handshake, serve_websocket

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger("hxtp.gateway")

MAX_UPLOAD = 32 << 20  # bytes of a multipart upload (firmware images)
# What a body route reads as JSON: no content type at all (bare clients) or a JSON media type.
_JSON_MEDIA_TYPES = ("application/json", "text/json")
OPENAPI_PATH = API_PREFIX + "/openapi.json"
_STATIC_HEADERS = [(b"x-api-version", b"1"), (b"x-protocol-version", b"HxTP/3.0")]
# On every answer unless the servicer set its own: no type sniffing, no URL (which may carry a CLI
# code) in Referer, and no caching anywhere of answers that carry secrets, tokens or tenant data.
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
SESSION_COOKIE = "hxtp_session="
_JSON = (b"content-type", b"application/json")


class ClientGone(Exception):
    """The client disconnected before its request body was complete: there is no one to answer."""


class Gateway:
    def __init__(
        self,
        transport: Transport,
        methods: list[MethodInfo] | None = None,
        sdk_envelope: SdkEnvelope | None = None,
        json_limit: int = JSON_LIMIT,
        upload_limit: int = MAX_UPLOAD,
    ) -> None:
        self.transport = transport
        self._sdk_envelope = sdk_envelope  # live events for clients that opened with the HxTP hello
        self.json_limit = json_limit
        self.upload_limit = upload_limit
        self.router = Router(methods if methods is not None else load_methods())
        self._binders = {id(route): RequestBinder(route) for route in self.router.routes}
        for route in self.router.routes:  # compile every codec now, not on the first request
            codec_for(route.method.output_type.DESCRIPTOR)
        self._openapi = orjson.dumps(build_openapi(self.router))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    # ------------------------------------------------------------------ HTTP

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = _header_map(scope)
        request_id = headers.get("x-request-id") or random_uuid()
        method, path = scope["method"], scope["path"]
        match = self.router.match(method, path)
        template = match.route.template if isinstance(match, Match) else "unmatched"
        extra: list[tuple[bytes, bytes]]
        if path == OPENAPI_PATH and method == "GET":
            status, body, content_type, extra = 200, self._openapi, b"application/json", []
        elif isinstance(match, Match):
            try:
                status, body, content_type, extra = await self._call(
                    match, scope, receive, headers, request_id
                )
            except ClientGone:
                return
        elif isinstance(match, MethodMismatch):
            status, body, content_type, extra = _error(
                error_response("METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}")
            )
            extra.append((b"allow", ", ".join(match.allowed).encode()))
        else:
            status, body, content_type, extra = _error(
                error_response("NOT_FOUND", f"No route for {method} {path}")
            )
        own = {name for name, _ in extra}
        response_headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            *_STATIC_HEADERS,
            *(header for header in _SECURITY_HEADERS if header[0] not in own),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
        metrics.observe(method, template, status, time.perf_counter() - started)

    async def _call(
        self, match: Match, scope: Scope, receive: Receive, headers: dict[str, str], request_id: str
    ) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        route = match.route
        if route.websocket:
            return _error(error_response("BAD_REQUEST", "This route is a WebSocket: send an upgrade request"))
        binder = self._binders[id(route)]
        refusal = self._refuse_body_up_front(binder, headers)
        if refusal is not None:
            return _error(refusal)
        try:
            message = await self._bind(binder, match, scope, receive, headers)
        except BindError as error:
            return _error(error_response("BAD_REQUEST", str(error), field=error.field))
        except BodyTooLarge as error:
            return _error(error_response("PAYLOAD_TOO_LARGE", str(error)))
        metadata = _metadata(headers, request_id, scope)
        try:
            result = await self.transport.unary(route.method, message, metadata)
        except RpcFailure as failure:
            rendered = failure_response(failure)
            headers_out = _trailing_headers(failure.trailing)[1]
            retry_after = rendered.body.get("retry_after_seconds")
            if retry_after is not None and not any(name == b"retry-after" for name, _ in headers_out):
                # Every limited answer tells the client when to come back, whichever limit refused it.
                headers_out.append((b"retry-after", str(retry_after).encode()))
            status, body, content_type, extra = _error(rendered)
            return status, body, content_type, extra + headers_out
        except Exception:
            log.exception("unhandled error in %s (request %s)", route.method.full_name, request_id)
            return _error(error_response("INTERNAL_ERROR"))
        override, extra = _trailing_headers(result.trailing)
        status = override or route.method.success_status
        if route.method.raw_response:
            response: Any = result.response
            return (
                status,
                bytes(response.data),
                (response.content_type or "application/octet-stream").encode(),
                extra,
            )
        body = orjson.dumps(codec_for(result.response.DESCRIPTOR).encode(result.response))
        return status, body, b"application/json", extra

    def _refuse_body_up_front(self, binder: RequestBinder, headers: dict[str, str]) -> ErrorResponse | None:
        """415 and 413 from the headers alone, before a byte of the body is read."""
        declared = headers.get("content-length")
        if declared is not None and not declared.isdigit():
            return error_response("BAD_REQUEST", "Content-Length is not a number of bytes")
        length = int(declared) if declared is not None else None
        if not binder.route.body or length == 0 or (length is None and "transfer-encoding" not in headers):
            return None  # no body to read: an empty one is `{}` whatever its type says
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        limit = self.json_limit
        if media_type == "multipart/form-data":
            limit = self.upload_limit
        elif media_type and media_type not in _JSON_MEDIA_TYPES and not media_type.endswith("+json"):
            return error_response(
                "UNSUPPORTED_MEDIA_TYPE",
                f"Content-Type {media_type[:100]} is not accepted: send application/json",
            )
        if length is not None and length > limit:
            return error_response("PAYLOAD_TOO_LARGE", f"request bodies are limited to {limit} bytes")
        return None

    async def _bind(
        self, binder: RequestBinder, match: Match, scope: Scope, receive: Receive, headers: dict[str, str]
    ) -> Message:
        message = binder.new_message()
        binder.bind_query(message, scope.get("query_string", b""))
        if binder.route.body:
            content_type = headers.get("content-type", "")
            if content_type.startswith("multipart/form-data"):
                binder.bind_form(message, await _read_form(scope, receive, self.upload_limit))
            else:
                raw = await _read_body(receive, self.json_limit)
                binder.bind_body(message, parse_json_body(raw, self.json_limit))
        binder.bind_path(message, match.params)
        return message

    # ------------------------------------------------------------------ WebSocket

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _header_map(scope)
        request_id = headers.get("x-request-id") or random_uuid()
        match = self.router.match("GET", scope["path"])
        if not isinstance(match, Match) or not match.route.websocket:
            await send({"type": "websocket.close", "code": 4404})
            return
        binder = self._binders[id(match.route)]
        try:
            message = binder.new_message()
            binder.bind_query(message, scope.get("query_string", b""))
            binder.bind_path(message, match.params)
        except BindError:
            await send({"type": "websocket.close", "code": 4400})
            return
        query_token = getattr(message, "token", None)
        if "authorization" not in headers and query_token:
            # Browsers cannot set headers on a WebSocket: the query token is the credential.
            headers["authorization"] = f"Bearer {query_token}"
        if _rides_the_session_cookie(headers) and not _same_origin(headers):
            # Browsers send the cookie with a WebSocket opened by any page (CSWSH): only our own
            # pages may use it; other origins must present a token.
            refusal = error_response(
                "FORBIDDEN", "Cross-origin WebSocket with a session cookie: send a token"
            )
            await refuse_handshake(receive, send, refusal)
            return
        metadata = _metadata(headers, request_id, scope)
        await serve_websocket(
            self.transport, match.route.method, message, metadata, receive, send, self._sdk_envelope
        )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _rides_the_session_cookie(headers: dict[str, str]) -> bool:
    return (
        "authorization" not in headers
        and "x-api-key" not in headers
        and SESSION_COOKIE in headers.get("cookie", "")
    )


def _same_origin(headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser: it holds the cookie itself, nobody rides on it
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def _header_map(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


def _metadata(headers: dict[str, str], request_id: str, scope: Scope) -> Metadata:
    pairs: list[tuple[str, str | bytes]] = [
        (name, value)
        for name, value in headers.items()
        if name in http_metadata.FORWARDED_HEADERS or name.startswith(http_metadata.FORWARDED_PREFIX)
    ]
    if "x-request-id" not in headers:
        pairs.append(("x-request-id", request_id))
    pairs.append((http_metadata.HTTP_METHOD, scope.get("method", "GET")))
    return tuple(pairs)


def _trailing_headers(trailing: Metadata) -> tuple[int, list[tuple[bytes, bytes]]]:
    status = 0
    extra: list[tuple[bytes, bytes]] = []
    for key, value in trailing:
        if key.endswith("-bin"):
            continue  # binary metadata (grpc-status-details-bin) is never an HTTP status or header
        text = value.decode() if isinstance(value, bytes) else value
        if key == http_metadata.HTTP_STATUS:
            status = int(text)
        elif key.startswith(http_metadata.HTTP_HEADER_PREFIX):
            extra.append((key[len(http_metadata.HTTP_HEADER_PREFIX) :].encode(), text.encode("latin-1")))
    return status, extra


def _error(error: ErrorResponse) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
    return error.status, orjson.dumps(error.body), b"application/json", []


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise ClientGone
        chunk = event.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request bodies are limited to {limit} bytes")
        chunks.append(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks)


async def _read_form(scope: Scope, receive: Receive, limit: int) -> list[tuple[str, str | bytes]]:
    request = Request(scope, receive)
    fields: list[tuple[str, str | bytes]] = []
    try:
        async with request.form(max_part_size=limit) as form:
            for key, value in form.multi_items():
                fields.append((key, value if isinstance(value, str) else await value.read()))
    except Exception as error:  # starlette raises its own errors for malformed multipart bodies
        raise BindError("body", f"malformed multipart form ({error})") from error
    return fields
