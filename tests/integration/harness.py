"""Starts the whole server (gRPC, gateway, MQTT side) in the test's event loop on free ports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from server.app import Application
from server.config import EMBEDDED_DATABASE_FILE, Settings, embedded_database_url
from server.domain.identity.principal import Principal, Role
from tests.schema_template import migrated_sqlite


def settings_for(data_dir: Path, **env: str) -> Settings:
    base = {
        "HXTP_DATA_DIR": str(data_dir),
        "HXTP_HTTP_PORT": "0",
        "HXTP_GRPC_PORT": "0",
        "HXTP_EMBEDDED_MQTT_PORT": "0",
        "HXTP_LOG_LEVEL": "warning",
        "HXTP_HEALTH_TIMEOUT": "1.0",
    }
    return Settings.from_env({**base, **env})


@contextlib.asynccontextmanager
async def running(
    data_dir: Path, wait_for_mqtt: bool = True, listeners: bool = True, **env: str
) -> AsyncIterator[Application]:
    """The application started on ``data_dir``; ``listeners=False`` leaves out its HTTP and gRPC
    servers, for tests that call the domain services in this process."""
    settings = settings_for(data_dir, **env)
    if settings.database_url == embedded_database_url(settings.data_dir):  # not PostgreSQL
        migrated_sqlite(settings.data_dir / EMBEDDED_DATABASE_FILE)
    app = Application(settings)
    await app.start(listeners=listeners)
    try:
        if wait_for_mqtt and app.mqtt is not None:
            await app.mqtt.wait_connected()
        yield app
    finally:
        await app.stop()


def token(app: Application, role: Role = Role.ADMIN, tenant_id: str | None = "tenant-1") -> str:
    return app.tokens.mint(Principal(user_id="user-1", tenant_id=tenant_id, role=role, email="a@example.com"))


def base_url(app: Application) -> str:
    return f"http://127.0.0.1:{app.ports.http}"
