"""The part sets a benchmark or the soak runs the server on: the embedded defaults, or this machine's
PostgreSQL (a scratch database, dropped afterwards), Redis and Mosquitto.

Production parts are addressed by BENCH_POSTGRES_DSN (default postgresql://postgres@127.0.0.1:5432/test),
BENCH_REDIS_URL (redis://127.0.0.1:6379/0) and BENCH_MQTT_URL (mqtt://127.0.0.1:1883).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator

POSTGRES_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MQTT_URL = os.environ.get("BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")
KINDS = ("embedded", "production")


async def _postgres_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def parts(kind: str) -> Iterator[dict[str, str]]:
    """The server's settings for the part set `kind` (nothing to set for the embedded defaults)."""
    if kind not in KINDS:
        raise SystemExit(f"the part set is embedded or production, not {kind!r}")
    if kind == "embedded":
        yield {}
        return
    name = f"hxtp_bench_{secrets.token_hex(6)}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield {"HXTP_DATABASE_URL": f"{base}/{name}", "HXTP_REDIS_URL": REDIS_URL, "HXTP_MQTT_URL": MQTT_URL}
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
