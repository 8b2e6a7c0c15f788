"""Composition root: settings -> storage, cache, device link, servicers, gRPC server, gateway.

The gRPC server, the HTTP gateway (uvicorn) and the MQTT side share one event loop in one process.
Nothing imports this module; `hxtp-cloud serve` (server/cli.py) runs it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn
from grpc_health.v1 import health_pb2 as grpc_health_pb2
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.app import Gateway
from gateway.transport import InProcessTransport, RemoteTransport, Transport
from server.cache import create_cache
from server.cache.base import Cache
from server.config import Settings
from server.devicelink.broker import EmbeddedBroker
from server.devicelink.connection import MqttConnection
from server.domain.authentication import Authenticator
from server.domain.health import HealthMonitor
from server.domain.presence import Presence
from server.domain.tokens import TokenService
from server.keyfiles import load_or_create_secret
from server.rpc.chain import Chain
from server.rpc.grpc_health import GrpcHealthServicer
from server.rpc.health import HealthServicer
from server.rpc.registry import Endpoint, build_endpoints, generic_handlers
from server.rpc.system import SystemServicer
from server.storage.database import Database
from server.storage.migrate import run_migrations_async

log = logging.getLogger("hxtp.app")

ROOT = Path(__file__).resolve().parent.parent


def _hotpath_ready() -> bool:
    try:
        import ext  # noqa: F401  (the device codec must import for the protocol to be served)
    except ImportError:
        return False
    return True


@dataclass
class Ports:
    http: int
    grpc: int


class Application:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database = Database(settings.database_url)
        self.cache: Cache = create_cache(settings.redis_url)
        self.broker = None if settings.mqtt_url else EmbeddedBroker(settings.embedded_mqtt_port)
        self.mqtt: MqttConnection | None = None  # created at start, once the broker's address is known
        self.presence = Presence()
        jwt_secret = load_or_create_secret(settings.jwt_secret, settings.data_dir / "jwt_secret")
        self.tokens = TokenService(jwt_secret)
        self.health = HealthMonitor(
            {
                "database": lambda: self.database.ping(settings.health_timeout),
                "redis": lambda: self.cache.ping(settings.health_timeout),
                "mqtt": self._mqtt_up,
                "protocol_ready": self._protocol_ready,
            },
            timeout=settings.health_timeout,
        )
        self.endpoints: dict[str, Endpoint] = build_endpoints(
            {
                "hxtp.cloud.v1.SystemService": SystemServicer(ROOT / "CHANGELOG.md"),
                "hxtp.cloud.v1.HealthService": HealthServicer(self.health, self.presence.active_count),
            },
            Chain(Authenticator(self.tokens)),
        )
        self.gateway = Gateway(self._transport())
        self.ports = Ports(http=0, grpc=0)
        self._grpc_server: grpc.aio.Server | None = None
        self._http_server: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    def _transport(self) -> Transport:
        if self.settings.grpc_target:
            return RemoteTransport(self.settings.grpc_target)
        return InProcessTransport({name: e.handler for name, e in self.endpoints.items()})

    async def _mqtt_up(self) -> bool:
        return self.mqtt is not None and self.mqtt.connected

    async def _protocol_ready(self) -> bool:
        return await self._mqtt_up() and _hotpath_ready()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await run_migrations_async(self.settings.database_url)
        if self.broker is not None:
            await self.broker.start()
        mqtt_url = self.broker.url if self.broker is not None else self.settings.mqtt_url
        self.mqtt = MqttConnection(mqtt_url, client_id=f"hxtp-cloud-{uuid.uuid4().hex[:12]}")
        await self.mqtt.start()
        if self.settings.grpc_port >= 0:
            await self._start_grpc()
        await self._start_http()

    async def _start_grpc(self) -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(generic_handlers(self.endpoints))
        names = sorted({e.service for e in self.endpoints.values()})
        health_pb2_grpc.add_HealthServicer_to_server(GrpcHealthServicer(self.health, names), server)
        reflection.enable_server_reflection(
            [
                *names,
                grpc_health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        self.ports.grpc = server.add_insecure_port(f"{self.settings.grpc_host}:{self.settings.grpc_port}")
        await server.start()
        self._grpc_server = server

    async def _start_http(self) -> None:
        config = uvicorn.Config(
            self.gateway,
            host=self.settings.http_host,
            port=self.settings.http_port,
            lifespan="off",
            log_level=self.settings.log_level,
            access_log=False,
            ws="websockets-sansio",
        )
        self._http_server = uvicorn.Server(config)
        self._http_server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        self._http_task = asyncio.create_task(self._http_server.serve())
        while not self._http_server.started:
            if self._http_task.done():
                self._http_task.result()  # surfaces the bind error
            await asyncio.sleep(0.01)
        sockets = [s for server in self._http_server.servers for s in server.sockets]
        self.ports.http = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._http_server is not None and self._http_task is not None:
            self._http_server.should_exit = True  # uvicorn closes its sockets and open connections
            await self._http_task
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace=1.0)
        await self.gateway.transport.close()
        if self.mqtt is not None:
            await self.mqtt.stop()
        if self.broker is not None:
            await self.broker.stop()
        await self.cache.close()
        await self.database.dispose()
