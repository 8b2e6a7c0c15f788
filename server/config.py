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
    "HXTP_KEY_GRACE_SECONDS": (
        "86400",
        "seconds a rotated-out device secret still verifies the device's messages",
    ),
    "HXTP_FIRMWARE_DIR": (
        "",
        "where uploaded firmware images are stored; empty = firmware/ under the data dir",
    ),
    "HXTP_FIRMWARE_MAX_BYTES": ("4000000", "largest firmware image an upload may carry, in bytes"),
    "HXTP_FIRMWARE_SIGNING_KEY": (
        "",
        "Ed25519 seed (64 hex) that signs firmware releases; empty = generated once under the data dir",
    ),
    "HXTP_IDP_JWKS_URL": (
        "",
        "JWKS URL of an external identity provider whose JWTs are accepted as Bearer; empty = off",
    ),
    "HXTP_IDP_ISSUER": ("", "required iss claim of identity-provider JWTs (empty = not checked)"),
    "HXTP_IDP_AUDIENCE": ("", "required aud claim of identity-provider JWTs (empty = not checked)"),
    "HXTP_IDP_SHARED_SECRET": (
        "",
        "shared HS256 secret of identity-provider JWTs (a Supabase project's JWT secret); empty = off",
    ),
    "HXTP_SIGNUP_CREATES_TENANT": (
        "false",
        "a person without tenant or invite gets a tenant of their own at identity-provider sign-in",
    ),
    "HXTP_SIGNUP_URL": ("http://localhost:3000/signup", "dashboard page that invite links point to"),
    "HXTP_ADMIN_KEY": ("", "platform operator key for /admin/* (x-hxtp-admin-key); empty = no admin routes"),
    "HXTP_COOKIE_SECURE": ("false", "mark the browser session cookie Secure (true behind HTTPS)"),
    "HXTP_MQTT_SHARED_GROUP": (
        "",
        "shared-subscription group of the replicas ($share/<group>/...); empty or embedded broker = plain",
    ),
    "HXTP_MQTT_MAX_IN_FLIGHT": (
        "100",
        "QoS 1 messages the server may have unacknowledged by the broker at once",
    ),
    "HXTP_MESSAGE_MAX_AGE_SECONDS": (
        "30",
        "oldest device message timestamp accepted, in seconds",
    ),
    "HXTP_MESSAGE_MAX_FUTURE_SECONDS": (
        "5",
        "how far ahead of the server clock a device timestamp may be, in seconds",
    ),
    "HXTP_DEVICE_RECEIVE_BUFFER": (
        "4096",
        "bytes of a device's MQTT receive buffer; larger messages are refused before sending",
    ),
    "HXTP_DEVICE_MQTT_ENDPOINT": (
        "mqtts://localhost:8883",
        "mqtt_endpoint the bootstrap route hands to devices",
    ),
    "HXTP_HEARTBEAT_INTERVAL": (
        "30",
        "heartbeat_interval (seconds) the bootstrap route hands to devices",
    ),
    "HXTP_PRESENCE_WINDOW_SECONDS": (
        "90",
        "a device without valid traffic for this long is shown offline",
    ),
    "HXTP_TELEMETRY_KEEP": (
        "100",
        "telemetry samples kept per device (newest first out of the cache)",
    ),
    "HXTP_TELEMETRY_RETENTION_SECONDS": (
        "86400",
        "seconds a device's telemetry is kept after its last sample",
    ),
    "HXTP_BROKER_SERVER_USERNAME": (
        "hxtp-cloud",
        "MQTT username of the server's own account at the broker auth endpoints",
    ),
    "HXTP_BROKER_SERVER_PASSWORD": (
        "",
        "password of the server's own MQTT account (empty = that account is refused)",
    ),
    "HXTP_LINK_SIGNING_KEY": (
        "",
        "Ed25519 seed (64 hex) signing messages to hxtp-3.1-ed25519 devices; empty = generated once",
    ),
    "HXTP_DEVICE_COMMANDS_PER_MINUTE": ("60", "commands one device accepts per minute"),
    "HXTP_CRITICAL_COMMANDS_PER_HOUR": ("5", "critical commands one device accepts per hour"),
    "HXTP_DRY_RUN_TTL_CRITICAL": ("60", "seconds a dry-run token of a critical action stays valid"),
    "HXTP_DRY_RUN_TTL_SENSITIVE": ("30", "seconds a dry-run token of a sensitive action stays valid"),
    "HXTP_CONFIRM_SENSITIVE": ("false", "sensitive actions also need a dry-run confirmation"),
    "HXTP_FANOUT_MAX": ("100", "most devices one batch, room, group or intent command may target"),
    "HXTP_COMMAND_ACK_SECONDS": ("30", "seconds a dispatched command waits for its ack before it is expired"),
    "HXTP_HEALTH_TIMEOUT": ("1.0", "seconds one dependency check may take before it counts as down"),
    "HXTP_TIERS": (
        "free=60,pro=300,fleet=0",
        "plan tiers as name=requests per minute (0 = unlimited); the first is for tenants on an unknown tier",
    ),
    "HXTP_WS_QUEUE_SIZE": (
        "256",
        "live events a WebSocket client may fall behind by before its oldest are dropped",
    ),
    "HXTP_HTTP_MAX_CONNECTIONS": (
        "1000",
        "open HTTP/WebSocket connections at most; at the cap the longest-idle one is closed, else 503",
    ),
    "HXTP_HTTP_KEEP_ALIVE_SECONDS": ("5", "seconds an idle keep-alive connection stays open"),
    "HXTP_HTTP_HEADER_TIMEOUT_SECONDS": ("10", "seconds a request head may take to arrive (408 after)"),
    "HXTP_HTTP_BODY_TIMEOUT_SECONDS": (
        "30",
        "seconds a request body may take to arrive after its head (408 after)",
    ),
    "HXTP_HTTP_MAX_HEADER_BYTES": ("16384", "bytes of a request head at most (431 above)"),
    "HXTP_HTTP_MAX_BODY_BYTES": (
        "1048576",
        "bytes of a JSON request body at most (413 above); uploads are bounded by HXTP_FIRMWARE_MAX_BYTES",
    ),
    "HXTP_LOG_LEVEL": ("info", "log level: debug, info, warning, error"),
    "HXTP_CLAIM_WINDOW_SECONDS": ("300", "oldest device-claim timestamp accepted, in seconds"),
    "HXTP_CORS_ORIGINS": (
        "",
        "origins (comma-separated, as https://app.example.com) whose pages may call the API; empty = no CORS",
    ),
}


EMBEDDED_DATABASE_FILE = "hxtp.db"  # in the data directory, when no database URL is set


def embedded_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / EMBEDDED_DATABASE_FILE}"


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
    key_grace_seconds: float = 86400.0
    firmware_dir: Path = field(default_factory=lambda: Path("./var/firmware"))
    firmware_max_bytes: int = 4000000  # below gRPC's 4 MiB message limit, so native uploads fit too
    firmware_signing_key: str = ""
    idp_jwks_url: str = ""
    idp_issuer: str = ""
    idp_audience: str = ""
    cookie_secure: bool = False
    mqtt_shared_group: str = ""
    mqtt_max_in_flight: int = 100
    message_max_age_seconds: int = 30
    message_max_future_seconds: int = 5
    device_receive_buffer: int = 4096
    device_mqtt_endpoint: str = "mqtts://localhost:8883"
    heartbeat_interval: int = 30
    presence_window_seconds: float = 90.0
    telemetry_keep: int = 100
    telemetry_retention_seconds: float = 86400.0
    broker_server_username: str = "hxtp-cloud"
    broker_server_password: str = ""
    link_signing_key: str = ""
    device_commands_per_minute: int = 60
    critical_commands_per_hour: int = 5
    dry_run_ttl_critical: int = 60
    dry_run_ttl_sensitive: int = 30
    confirm_sensitive: bool = False
    fanout_max: int = 100
    command_ack_seconds: float = 30.0
    health_timeout: float = 1.0
    ws_queue_size: int = 256
    tiers: str = "free=60,pro=300,fleet=0"
    http_max_connections: int = 1000
    http_keep_alive_seconds: float = 5.0
    http_header_timeout_seconds: float = 10.0
    http_body_timeout_seconds: float = 30.0
    http_max_header_bytes: int = 16384
    http_max_body_bytes: int = 1048576
    log_level: str = "info"
    cors_origins: tuple[str, ...] = ()
    idp_hs256_secret: str = ""
    signup_creates_tenant: bool = False
    signup_url: str = "http://localhost:3000/signup"
    admin_key: str = ""
    claim_window_seconds: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env

        def get(name: str) -> str:
            return source.get(name, SETTINGS_DOC[name][0])

        data_dir = Path(get("HXTP_DATA_DIR"))
        database_url = get("HXTP_DATABASE_URL") or embedded_database_url(data_dir)
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
            idp_jwks_url=get("HXTP_IDP_JWKS_URL"),
            idp_issuer=get("HXTP_IDP_ISSUER"),
            idp_audience=get("HXTP_IDP_AUDIENCE"),
            cookie_secure=get("HXTP_COOKIE_SECURE").strip().lower() in ("1", "true", "yes"),
            key_grace_seconds=float(get("HXTP_KEY_GRACE_SECONDS")),
            firmware_dir=Path(get("HXTP_FIRMWARE_DIR") or data_dir / "firmware"),
            firmware_max_bytes=int(get("HXTP_FIRMWARE_MAX_BYTES")),
            firmware_signing_key=get("HXTP_FIRMWARE_SIGNING_KEY"),
            mqtt_shared_group=get("HXTP_MQTT_SHARED_GROUP"),
            mqtt_max_in_flight=int(get("HXTP_MQTT_MAX_IN_FLIGHT")),
            message_max_age_seconds=int(get("HXTP_MESSAGE_MAX_AGE_SECONDS")),
            message_max_future_seconds=int(get("HXTP_MESSAGE_MAX_FUTURE_SECONDS")),
            device_receive_buffer=int(get("HXTP_DEVICE_RECEIVE_BUFFER")),
            device_mqtt_endpoint=get("HXTP_DEVICE_MQTT_ENDPOINT"),
            heartbeat_interval=int(get("HXTP_HEARTBEAT_INTERVAL")),
            presence_window_seconds=float(get("HXTP_PRESENCE_WINDOW_SECONDS")),
            telemetry_keep=int(get("HXTP_TELEMETRY_KEEP")),
            telemetry_retention_seconds=float(get("HXTP_TELEMETRY_RETENTION_SECONDS")),
            broker_server_username=get("HXTP_BROKER_SERVER_USERNAME"),
            broker_server_password=get("HXTP_BROKER_SERVER_PASSWORD"),
            link_signing_key=get("HXTP_LINK_SIGNING_KEY"),
            device_commands_per_minute=int(get("HXTP_DEVICE_COMMANDS_PER_MINUTE")),
            critical_commands_per_hour=int(get("HXTP_CRITICAL_COMMANDS_PER_HOUR")),
            dry_run_ttl_critical=int(get("HXTP_DRY_RUN_TTL_CRITICAL")),
            dry_run_ttl_sensitive=int(get("HXTP_DRY_RUN_TTL_SENSITIVE")),
            confirm_sensitive=get("HXTP_CONFIRM_SENSITIVE").strip().lower() in ("1", "true", "yes"),
            fanout_max=int(get("HXTP_FANOUT_MAX")),
            command_ack_seconds=float(get("HXTP_COMMAND_ACK_SECONDS")),
            health_timeout=float(get("HXTP_HEALTH_TIMEOUT")),
            ws_queue_size=int(get("HXTP_WS_QUEUE_SIZE")),
            tiers=get("HXTP_TIERS"),
            http_max_connections=int(get("HXTP_HTTP_MAX_CONNECTIONS")),
            http_keep_alive_seconds=float(get("HXTP_HTTP_KEEP_ALIVE_SECONDS")),
            http_header_timeout_seconds=float(get("HXTP_HTTP_HEADER_TIMEOUT_SECONDS")),
            http_body_timeout_seconds=float(get("HXTP_HTTP_BODY_TIMEOUT_SECONDS")),
            http_max_header_bytes=int(get("HXTP_HTTP_MAX_HEADER_BYTES")),
            http_max_body_bytes=int(get("HXTP_HTTP_MAX_BODY_BYTES")),
            log_level=get("HXTP_LOG_LEVEL"),
            claim_window_seconds=float(get("HXTP_CLAIM_WINDOW_SECONDS")),
            idp_hs256_secret=get("HXTP_IDP_SHARED_SECRET"),
            signup_creates_tenant=get("HXTP_SIGNUP_CREATES_TENANT").strip().lower() in ("1", "true", "yes"),
            signup_url=get("HXTP_SIGNUP_URL"),
            admin_key=get("HXTP_ADMIN_KEY"),
            cors_origins=tuple(o.strip() for o in get("HXTP_CORS_ORIGINS").split(",") if o.strip()),
        )

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.mqtt_url
