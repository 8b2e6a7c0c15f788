"""The part sets a benchmark or the soak runs the server on: the embedded defaults, or this machine's
PostgreSQL (a scratch database, dropped afterwards), Redis and Mosquitto.

Production parts are addressed by BENCH_POSTGRES_DSN (default postgresql://postgres@127.0.0.1:5432/test),
BENCH_REDIS_URL (redis://127.0.0.1:6379/0) and BENCH_MQTT_URL (mqtt://127.0.0.1:1883).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from tests.scratch_postgres import create_scratch_database, drop_scratch_database

POSTGRES_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MQTT_URL = os.environ.get("BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")
KINDS = ("embedded", "production")


@contextlib.contextmanager
def parts(kind: str) -> Iterator[dict[str, str]]:
    """The server's settings for the part set `kind` (nothing to set for the embedded defaults)."""
    if kind not in KINDS:
        raise SystemExit(f"the part set is embedded or production, not {kind!r}")
    if kind == "embedded":
        yield {}
        return
    name = create_scratch_database(POSTGRES_DSN, "hxtp_bench")
    base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield {"HXTP_DATABASE_URL": f"{base}/{name}", "HXTP_REDIS_URL": REDIS_URL, "HXTP_MQTT_URL": MQTT_URL}
    finally:
        drop_scratch_database(POSTGRES_DSN, name)
