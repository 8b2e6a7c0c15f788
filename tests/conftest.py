"""Fixtures for the real services (PostgreSQL, Redis, Mosquitto) and the embedded defaults.

Written to move to tests/conftest.py unchanged. Each service's address comes from an environment
variable with this machine's default:

    HXTP_TEST_POSTGRES_DSN  postgresql://postgres@127.0.0.1:5432/test   (an existing database to connect to)
    HXTP_TEST_REDIS_URL     redis://127.0.0.1:6379/0
    HXTP_TEST_MQTT_URL      mqtt://127.0.0.1:1883

A service that cannot be reached skips its tests, except on CI (CI=true), where it fails them: CI
starts every service, so an unreachable one there is a broken set-up, not an optional extra.

For a free port, use ``free_tcp_port`` from anyio's pytest plugin (installed with anyio).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from typing import NoReturn
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis
from sqlalchemy.engine import make_url

from server.devicelink.broker import EmbeddedBroker
from tests import scratch_postgres

POSTGRES_DSN = os.environ.get("HXTP_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HXTP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MQTT_URL = os.environ.get("HXTP_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")


def service_unavailable(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: every service must be running)", pytrace=False)
    pytest.skip(message)


def tcp_port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Loggers of our own code: "server.*" modules log under their names, the chain and gateway under "hxtp.*".
OUR_LOGGERS = ("server", "gateway", "hxtp")
# asyncio logs a task that died unobserved ("Task exception was never retrieved") or a failing
# callback: a bug in our code just as surely, though the record names asyncio.
FAILING_LOGGERS = (*OUR_LOGGERS, "asyncio")


class _AsyncioErrors(logging.Handler):
    """Collects asyncio's error records, including those emitted when a task is collected late."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_ASYNCIO_ERRORS = _AsyncioErrors()
logging.getLogger("asyncio").addHandler(_ASYNCIO_ERRORS)


def _describe(records: list[logging.LogRecord]) -> str:
    return "\n".join(
        f"{r.name}: {r.getMessage()}"
        + (f"\n{logging.Formatter().formatException(r.exc_info)}" if r.exc_info else "")
        for r in records
    )


@pytest.fixture(autouse=True)
def fail_on_server_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """An ERROR logged by our code (say, a swallowed callback exception) or by asyncio fails the test.

    A test that provokes one on purpose asserts on it and then calls ``caplog.clear()``.
    """
    for name in OUR_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    _ASYNCIO_ERRORS.records.clear()
    yield
    errors = [
        record
        for record in caplog.get_records("call")
        if record.levelno >= logging.ERROR and record.name.startswith(OUR_LOGGERS)
    ]
    # The test's event loop is closed by now, so tasks it left behind have been collected.
    late = list(_ASYNCIO_ERRORS.records)
    _ASYNCIO_ERRORS.records.clear()
    if errors or late:
        pytest.fail(f"errors were logged during the test:\n{_describe(errors + late)}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tasks that outlived every test are collected here; their errors fail the run."""
    gc.collect()
    if _ASYNCIO_ERRORS.records:
        print(f"\nasyncio logged errors after the tests:\n{_describe(_ASYNCIO_ERRORS.records)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- PostgreSQL --------------------------------------------------------------------------------


def _postgres_url(database: str) -> str:
    """The async SQLAlchemy URL (what Settings.database_url holds) for ``database`` on the test server."""
    url = make_url(POSTGRES_DSN).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


def create_scratch_database() -> str:
    """Create a uniquely named empty database on the test server; returns its name."""
    return scratch_postgres.create_scratch_database(POSTGRES_DSN, "hxtp_test")


def drop_scratch_database(name: str) -> None:
    scratch_postgres.drop_scratch_database(POSTGRES_DSN, name)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin DSN of a reachable PostgreSQL server (skips or fails otherwise)."""
    try:
        asyncio.run(scratch_postgres.run_admin(POSTGRES_DSN, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_unavailable(f"PostgreSQL at {POSTGRES_DSN} is not reachable: {exc!r}")
    return POSTGRES_DSN


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """An async URL to a scratch database shared by the whole test session, dropped at the end."""
    name = create_scratch_database()
    yield _postgres_url(name)
    drop_scratch_database(name)


@pytest.fixture
def fresh_postgres_url(postgres_server: str) -> Iterator[str]:
    """An async URL to an empty scratch database of this test alone."""
    name = create_scratch_database()
    yield _postgres_url(name)
    drop_scratch_database(name)


# -- Redis -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis at {REDIS_URL} is not reachable: {exc!r}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test alone; every key under it is deleted afterwards.

    Synchronous on purpose: async fixtures can request it (pytest-asyncio cannot nest async fixtures
    requested through ``request.getfixturevalue``).
    """
    prefix = f"hxtp-test:{secrets.token_hex(6)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# -- MQTT --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mosquitto_url() -> str:
    parts = urlsplit(MQTT_URL)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    if not tcp_port_open(host, port):
        service_unavailable(f"MQTT broker at {MQTT_URL} is not reachable")
    return MQTT_URL


@pytest.fixture
async def embedded_broker() -> AsyncIterator[EmbeddedBroker]:
    """A running embedded broker on a free loopback port (port 0: the OS picks, no race)."""
    broker = EmbeddedBroker(port=0)
    await broker.start()
    yield broker
    await broker.stop()


# -- integration marks -------------------------------------------------------------------------

# A test that uses one of these starts the application's listeners, a broker or a real service: it is
# an integration test (`make quicktest` leaves those out). Fixtures over the embedded parts alone (a
# SQLite file, the in-memory cache) are not listed; their real-service variants carry the mark on
# their parameter instead.
INTEGRATION_FIXTURES = frozenset(
    {
        "postgres_server",
        "postgres_url",
        "fresh_postgres_url",
        "redis_url",
        "mosquitto_url",
        "embedded_broker",
        "app",
        "fleet",
        "link",
        "embedded_link",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_integration_package = "integration" in item.path.parts
        starts_a_server = getattr(getattr(item, "module", None), "running", None) is not None
        fixtures = set(getattr(item, "fixturenames", ()))
        if in_integration_package or starts_a_server or fixtures & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
