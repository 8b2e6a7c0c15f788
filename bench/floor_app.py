"""The floor of the command path: the least work a command can take on the product's own stack.

`bench/bench_floor.py` runs this ASGI app under the same uvicorn + uvloop + httptools the product
serves on, once per rung of a ladder (FLOOR_LEVEL), each rung adding one thing a command must do:

- `parse`: read the body, parse the JSON, verify an HS256 bearer token (stdlib hmac), find the device
  in a dict, answer 202 with a fresh command id;
- `sign`: + validate the params with the compiled validator (ext), build the envelope a new device
  gets (hxtp-3.1) with its payload hash, sequence, nonce and timestamp through the product's own
  rules (`server.devicelink.profiles`, `outbound.new_nonce`), sign it (ext.HmacKey);
- `commit`: + durable before the answer: the command row and a hash-chained audit row written by one
  group-commit writer (sqlite3 on the loop thread, WAL, synchronous=NORMAL, one transaction for all
  that is pending, no thread hop);
- `publish`: + the signed frame handed to the embedded broker (EmbeddedBroker.deliver), as the
  product does on embedded defaults.

Nothing here is the product's code path (no gateway, no chain, no ORM, no memo): it is the smallest
program that still does each step for real, so the ratio of each rung to the empty handler bounds
what the product can reach on this stack. `GET /floor/counts` says how much of each step was done,
so the runner can check that the rung did its work (rows == answers, deliveries == answers).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import ext
from contract.ids import random_uuid
from server.devicelink import profiles
from server.devicelink.broker import EmbeddedBroker
from server.devicelink.outbound import new_nonce

LEVELS = ("parse", "sign", "commit", "publish")
LEVEL = os.environ.get("FLOOR_LEVEL", "publish")
RUNG = LEVELS.index(LEVEL)
TOKEN_SECRET = b"floor-benchmark-token-secret-0123456789"
TENANT = "floor-tenant"
DEVICE_COUNT = int(os.environ.get("FLOOR_DEVICES", "50"))
DATABASE = os.environ.get("FLOOR_DB", "")
BROKER_PORT = int(os.environ.get("FLOOR_BROKER_PORT", "0"))
CLIENT_ID = random_uuid()

_SCHEMA = {
    "type": "object",
    "properties": {
        "brightness": {"type": "integer", "minimum": 0, "maximum": 100},
        "transition": {"type": "integer", "minimum": 0, "maximum": 10000},
        "color": {"type": "string", "maxLength": 16},
    },
    "required": ["brightness"],
    "additionalProperties": False,
}
_VALIDATE = ext.compile_params_schema(_SCHEMA)
_JSON_HEADERS = [(b"content-type", b"application/json")]
_ANSWERED: dict[str, int] = {"answered": 0, "signed": 0, "committed": 0, "delivered": 0}


def device_ids() -> list[str]:
    return [f"floor-device-{n:03d}" for n in range(DEVICE_COUNT)]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(user_id: str = "floor-user", lifetime_s: int = 3600) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": user_id, "tid": TENANT, "role": "owner", "exp": int(time.time()) + lifetime_s}
    body = _b64(json.dumps(claims).encode())
    signature = _b64(hmac.new(TOKEN_SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{signature}"


def _principal(authorization: bytes) -> dict[str, Any] | None:
    if not authorization.startswith(b"Bearer "):
        return None
    head, body, signature = authorization[7:].decode().split(".")
    expected = hmac.new(TOKEN_SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _unb64(signature)):
        return None
    claims: dict[str, Any] = json.loads(_unb64(body))
    return claims if claims["exp"] > time.time() else None


class _Device:
    __slots__ = ("device_id", "key", "sequence", "topic")

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.key = ext.HmacKey(hashlib.sha256(device_id.encode()).digest())
        self.sequence = 0
        self.topic = ext.device_topic(TENANT, device_id, "cmd")


_DEVICES = {device_id: _Device(device_id) for device_id in device_ids()}


_OUTBOUND = profiles.OUTBOUND[profiles.PROFILE_FIRMWARE_31]  # what the product writes to a new device


def _envelope(device: _Device, action: str, params: dict[str, Any], message_id: str) -> bytes:
    """The product's envelope, through the same owners of its rules (payload hash, signing string,
    nonce, framing), without the per-device lookups and checks around them."""
    params_text = json.dumps(params, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    device.sequence += 1
    header = {
        "version": _OUTBOUND.version,
        "message_type": "command",
        "device_id": device.device_id,
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "message_id": message_id,
        "request_id": message_id,
        "sequence_number": device.sequence,
        "timestamp": int(time.time() * 1000),
        "nonce": new_nonce(),
        "payload_hash": profiles.outbound_payload_hash(_OUTBOUND.variant, params, params_text, action),
        "action": action,
    }
    signing = profiles.outbound_signing_string(_OUTBOUND.variant, header, params, params_text)
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    body = f'{head[:-1]},"params":{params_text},"signature":"{device.key.sign(signing)}"}}'.encode()
    return ext.encode_frame(ext.frame_type_for("command"), body) if _OUTBOUND.framed else body


class _Writer:
    """Group commit on the loop thread: everything pending goes into one transaction."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS command (id TEXT PRIMARY KEY, tenant_id TEXT, device_id TEXT,"
            " user_id TEXT, action TEXT, params_json TEXT, status TEXT, message_id TEXT, created_at TEXT)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS audit_log (chain_id TEXT, row_id INTEGER, prev_hash TEXT,"
            " row_hash TEXT, event_type TEXT, device_id TEXT, timestamp TEXT, details TEXT,"
            " PRIMARY KEY (chain_id, row_id))"
        )
        row = self._db.execute(
            "SELECT row_id, row_hash FROM audit_log ORDER BY row_id DESC LIMIT 1"
        ).fetchone()
        self._last_row: int = row[0] if row else 0
        self._last_hash: str = row[1] if row else "0" * 64
        self._pending: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    def submit(self, command: tuple[Any, ...], audit: dict[str, Any]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((command, audit, future))
        if self._task is None:
            self._task = asyncio.create_task(self._write())
        return future

    async def _write(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # the callers made ready by the last commit join this batch
                batch, self._pending = self._pending, []
                try:
                    self._commit(batch)
                except Exception as error:  # its callers answer 500, which the runner counts: no hang
                    for *_, future in batch:
                        future.set_exception(error)
                    continue
                for *_, future in batch:
                    future.set_result(None)
                _ANSWERED["committed"] += len(batch)
        finally:
            self._task = None

    def _commit(self, batch: list[tuple[tuple[Any, ...], dict[str, Any], asyncio.Future[None]]]) -> None:
        audit_rows = []
        row_id, last_hash = self._last_row, self._last_hash
        for _, audit, _ in batch:
            row_id += 1
            details = json.dumps(audit, sort_keys=True, separators=(",", ":"))
            row_hash = ext.sha256_hex(f"{last_hash}|{row_id}|{details}")
            audit_rows.append(
                (TENANT, row_id, last_hash, row_hash, "command", audit["device_id"], audit["at"], details)
            )
            last_hash = row_hash
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT INTO command VALUES (?,?,?,?,?,?,?,?,?)", [c for c, _, _ in batch])
            self._db.executemany("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?)", audit_rows)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._last_row, self._last_hash = row_id, last_hash


_STATE: dict[str, Any] = {}


async def _respond(
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]], status: int, body: bytes
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _command(scope: MutableMapping[str, Any], raw: bytes) -> tuple[int, bytes]:
    authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
    principal = _principal(authorization)
    if principal is None:
        return 401, b'{"error":"unauthorized"}'
    device = _DEVICES.get(scope["path"].split("/")[4])
    if device is None:
        return 404, b'{"error":"device not found"}'
    request = json.loads(raw)
    action, params = request["action"], request.get("params", {})
    command_id = random_uuid()
    if RUNG >= 1:
        params = _VALIDATE(params)
        payload = _envelope(device, action, params, command_id)
        _ANSWERED["signed"] += 1
    if RUNG >= 2:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        row = (
            command_id,
            TENANT,
            device.device_id,
            principal["sub"],
            action,
            json.dumps(params),
            "pending",
            command_id,
            now,
        )
        audit = {"device_id": device.device_id, "command_id": command_id, "action": action, "at": now}
        await _STATE["writer"].submit(row, audit)
    if RUNG >= 3:
        await _STATE["broker"].deliver(device.topic, payload)
        _ANSWERED["delivered"] += 1
    _ANSWERED["answered"] += 1
    body = json.dumps(
        {"success": True, "command_id": command_id, "message_id": command_id, "status": "dispatched"}
    )
    return 202, body.encode()


async def _lifespan(
    receive: Callable[[], Awaitable[Any]], send: Callable[[MutableMapping[str, Any]], Awaitable[None]]
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if RUNG >= 2:
                _STATE["writer"] = _Writer(DATABASE)
            if RUNG >= 3:
                _STATE["broker"] = EmbeddedBroker(BROKER_PORT)
                await _STATE["broker"].start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if "broker" in _STATE:
                await _STATE["broker"].stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["method"] == "GET" and scope["path"] == "/floor/counts":
        await _respond(send, 200, json.dumps({"level": LEVEL, **_ANSWERED}).encode())
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    status, body = await _command(scope, b"".join(chunks))
    await _respond(send, status, body)
