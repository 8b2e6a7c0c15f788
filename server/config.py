"""One settings object, read from HXTP_* environment variables, with embedded defaults.

Every variable is listed in SETTINGS_DOC so the README table and `hxtp-cloud config` cannot drift
from what the code reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# name -> (default, meaning). The default "" means "use the embedded implementation".
SETTINGS_DOC: dict[str, tuple[str, str]] = {
    "HXTP_HTTP_HOST": ("127.0.0.1", "address the REST/WebSocket gateway listens on"),
    "HXTP_HTTP_PORT": ("8080", "port of the REST/WebSocket gateway"),
    "HXTP_GRPC_HOST": ("127.0.0.1", "address the gRPC server listens on"),
    "HXTP_GRPC_PORT": ("50051", "port of the gRPC server (0 = any free port, -1 = no gRPC listener)"),
    "HXTP_GRPC_TARGET": ("", "gateway only: call a remote gRPC server (host:port) instead of in-process"),
    "HXTP_DATA_DIR": ("./var", "where the embedded database, generated keys and firmware images live"),
    "HXTP_DATABASE_URL": ("", "PostgreSQL URL (postgresql://...); empty = SQLite file under the data dir"),
    "HXTP_REDIS_URL": ("", "Redis URL (redis://...); empty = in-process cache, limits and pub/sub"),
    "HXTP_MQTT_URL": ("", "MQTT broker URL (mqtt://host:port); empty = embedded broker on loopback"),
    "HXTP_EMBEDDED_MQTT_PORT": ("1884", "port of the embedded MQTT broker (loopback only)"),
    "HXTP_API_BASE_URL": ("http://localhost:8080/api/v1", "api_base_url handed to registered devices"),
    "HXTP_JWT_SECRET": (
        "",
        "HS256 secret for server-minted tokens; empty = generated once under the data dir",
    ),
    "HXTP_SECRET_KEY": (
        "",
        "master key for device secrets at rest; empty = generated once under the data dir",
    ),
    "HXTP_HEALTH_TIMEOUT": ("1.0", "seconds one dependency check may take before it counts as down"),
    "HXTP_LOG_LEVEL": ("info", "log level: debug, info, warning, error"),
}


def _sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'hxtp.db'}"


def _async_database_url(url: str) -> str:
    """Accept the plain URLs people paste (postgresql://...) and pick the async driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


@dataclass(frozen=True)
class Settings:
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    grpc_target: str = ""
    data_dir: Path = field(default_factory=lambda: Path("./var"))
    database_url: str = ""
    redis_url: str = ""
    mqtt_url: str = ""
    embedded_mqtt_port: int = 1884
    api_base_url: str = "http://localhost:8080/api/v1"
    jwt_secret: str = ""
    secret_key: str = ""
    health_timeout: float = 1.0
    log_level: str = "info"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env

        def get(name: str) -> str:
            return source.get(name, SETTINGS_DOC[name][0])

        data_dir = Path(get("HXTP_DATA_DIR"))
        database_url = get("HXTP_DATABASE_URL") or _sqlite_url(data_dir)
        return cls(
            http_host=get("HXTP_HTTP_HOST"),
            http_port=int(get("HXTP_HTTP_PORT")),
            grpc_host=get("HXTP_GRPC_HOST"),
            grpc_port=int(get("HXTP_GRPC_PORT")),
            grpc_target=get("HXTP_GRPC_TARGET"),
            data_dir=data_dir,
            database_url=_async_database_url(database_url),
            redis_url=get("HXTP_REDIS_URL"),
            mqtt_url=get("HXTP_MQTT_URL"),
            embedded_mqtt_port=int(get("HXTP_EMBEDDED_MQTT_PORT")),
            api_base_url=get("HXTP_API_BASE_URL"),
            jwt_secret=get("HXTP_JWT_SECRET"),
            secret_key=get("HXTP_SECRET_KEY"),
            health_timeout=float(get("HXTP_HEALTH_TIMEOUT")),
            log_level=get("HXTP_LOG_LEVEL"),
        )

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.mqtt_url
