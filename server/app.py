"""Composition root: settings -> storage, cache, device link, servicers, gRPC server, gateway.

The gRPC server, the HTTP gateway (uvicorn) and the MQTT side share one event loop in one process.
Nothing imports this module; `hxtp-cloud serve` (server/cli.py) runs it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
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
from server.devicelink.bridge import DeviceBridge
from server.devicelink.broker import EmbeddedBroker
from server.devicelink.connection import MqttConnection
from server.devicelink.dispatch import LinkDispatcher
from server.devicelink.inbound import InboundPipeline, Limits
from server.devicelink.ota import LinkOtaSender
from server.devicelink.outbound import OutboundLink
from server.devicelink.profiles import LinkSigner
from server.domain.audit.log import AuditLog
from server.domain.catalog.manifests import Manifests
from server.domain.cognition.proposals import Cognition
from server.domain.commands.acks import CommandAcks
from server.domain.commands.dry_run import DryRunTokens
from server.domain.commands.fanout import FanOut
from server.domain.commands.gates import CommandGates, DryRunPolicy
from server.domain.commands.history import CommandLog
from server.domain.commands.intents import Intents
from server.domain.commands.limits import CommandLimits, DeviceCommandLimiter
from server.domain.events import EventBus
from server.domain.firmware.releases import FirmwareReleases
from server.domain.firmware.rollout import OTA_STATUS, Rollouts
from server.domain.firmware.signing import ReleaseSigner
from server.domain.fleet.devices import Devices
from server.domain.fleet.groups import Groups
from server.domain.fleet.homes import Homes
from server.domain.fleet.presence import Presence
from server.domain.fleet.secrets import SecretBox
from server.domain.health import HealthMonitor
from server.domain.identity.kit import IdentityKit, IdentitySettings
from server.domain.identity.tokens import TokenService
from server.domain.link.bootstrap import Bootstrap, BootstrapAnswer
from server.domain.link.broker_access import BrokerAccess
from server.domain.link.keys import DeviceKeys, RecentDeviceKeys
from server.domain.link.messages import DeviceMessages
from server.domain.link.outcomes import CachedOutcomes
from server.domain.link.replay import ReplayGuard
from server.domain.link.sequence import OutboundSequence
from server.domain.resources import FoundBy
from server.keyfiles import load_or_create_secret
from server.rpc.auth import AuthServicer
from server.rpc.broker_auth import BrokerAuthServicer
from server.rpc.chain import Chain
from server.rpc.cognition import CognitionServicer
from server.rpc.command import CommandServicer
from server.rpc.device import DeviceServicer
from server.rpc.firmware import FirmwareServicer
from server.rpc.group import GroupServicer
from server.rpc.grpc_health import GrpcHealthServicer
from server.rpc.health import HealthServicer
from server.rpc.home import HomeServicer
from server.rpc.intent import IntentServicer
from server.rpc.manifest import ManifestServicer
from server.rpc.registry import Endpoint, build_endpoints, generic_handlers
from server.rpc.state_stream import StateStreamServicer
from server.rpc.system import SystemServicer
from server.rpc.tenant import TenantServicer
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
        self.presence = Presence(settings.presence_window_seconds)
        jwt_secret = load_or_create_secret(settings.jwt_secret, settings.data_dir / "jwt_secret")
        self.tokens = TokenService(jwt_secret)
        self.identity = IdentityKit(
            self.database,
            self.cache,
            self.tokens,
            IdentitySettings(
                settings.redis_url,
                settings.idp_jwks_url,
                settings.idp_issuer,
                settings.idp_audience,
                settings.cookie_secure,
            ),
        )
        kit = self.identity
        self.health = HealthMonitor(
            {
                "database": lambda: self.database.ping(settings.health_timeout),
                "redis": lambda: self.cache.ping(settings.health_timeout),
                "mqtt": self._mqtt_up,
                "protocol_ready": self._protocol_ready,
            },
            timeout=settings.health_timeout,
        )
        # Fleet: device secrets sealed under the master key; releases signed with the server's Ed25519 key.
        secret_box = SecretBox(load_or_create_secret(settings.secret_key, settings.data_dir / "secret_key"))
        key_grace = timedelta(seconds=settings.key_grace_seconds)
        release_signer = ReleaseSigner(
            load_or_create_secret(settings.firmware_signing_key, settings.data_dir / "firmware_signing_key")
        )
        release_signer.publish(settings.data_dir / "firmware_signing_key.pub")
        self.device_keys = DeviceKeys(self.database, secret_box, key_grace)  # the device link's port
        # Hash-chained audit log and live event bus: the domain services that record and announce.
        self.audit = AuditLog(self.database)
        self.events = EventBus(self.cache, settings.ws_queue_size)
        self.manifests = Manifests(self.database, self.audit)
        self.devices = Devices(
            self.database, secret_box, self.presence, settings.api_base_url, key_grace, self.audit
        )
        self.groups = Groups(self.database)
        self.command_log = CommandLog(
            self.database, timedelta(seconds=settings.command_ack_seconds), self.devices
        )
        self._init_device_link(settings)
        self._init_commands(settings)
        self._init_firmware(settings, release_signer)
        self.endpoints: dict[str, Endpoint] = build_endpoints(
            {
                "hxtp.cloud.v1.SystemService": SystemServicer(ROOT / "CHANGELOG.md"),
                "hxtp.cloud.v1.StateStreamService": StateStreamServicer(self.events),
                "hxtp.cloud.v1.HealthService": HealthServicer(self.health, self.presence.active_count),
                "hxtp.cloud.v1.AuthService": AuthServicer(
                    kit.identity, kit.api_keys, kit.sessions, kit.handshakes
                ),
                "hxtp.cloud.v1.TenantService": TenantServicer(kit.identity),
                "hxtp.cloud.v1.HomeService": HomeServicer(Homes(self.database)),
                "hxtp.cloud.v1.DeviceService": DeviceServicer(
                    self.devices, self.bootstrap, self.device_messages
                ),
                "hxtp.cloud.v1.BrokerAuthService": BrokerAuthServicer(self.broker_access),
                "hxtp.cloud.v1.GroupService": GroupServicer(self.groups),
                "hxtp.cloud.v1.ManifestService": ManifestServicer(self.manifests),
                "hxtp.cloud.v1.CommandService": CommandServicer(self.commands, self.fanout, self.command_log),
                "hxtp.cloud.v1.IntentService": IntentServicer(Intents(self.fanout)),
                "hxtp.cloud.v1.CognitionService": CognitionServicer(
                    Cognition(self.database, self.devices, self.fanout)
                ),
                "hxtp.cloud.v1.FirmwareService": FirmwareServicer(self.releases, self.rollouts),
            },
            Chain(kit.authenticator, devices=FoundBy(self.devices.get), limiter=kit.limiter),
        )
        self.gateway = Gateway(self._transport())
        self.ports = Ports(http=0, grpc=0)
        self._grpc_server: grpc.aio.Server | None = None
        self._http_server: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None

    def _init_device_link(self, settings: Settings) -> None:
        """The device link's domain objects; its MQTT objects are made in start(), with the broker."""
        self.command_outcomes = CommandAcks(self.command_log, self.events, CachedOutcomes(self.cache))
        self.device_messages = DeviceMessages(
            self.database,
            self.cache,
            self.presence,
            self.command_outcomes,
            telemetry_keep=settings.telemetry_keep,
            telemetry_ttl=settings.telemetry_retention_seconds,
        )
        self.inbound = InboundPipeline(
            self.device_keys,
            Limits(settings.message_max_age_seconds, settings.message_max_future_seconds),
            replay_guard=ReplayGuard(self.cache),
        )
        self.outbound_sequence = OutboundSequence(self.database)
        self.link_signer = LinkSigner(
            load_or_create_secret(settings.link_signing_key, settings.data_dir / "link_signing_key")
        )
        self.bootstrap = Bootstrap(
            self.device_keys,
            self.cache,
            BootstrapAnswer(settings.device_mqtt_endpoint, settings.heartbeat_interval),
            max_age_s=settings.message_max_age_seconds,
            max_future_s=settings.message_max_future_seconds,
        )
        self.broker_access = BrokerAccess(
            self.device_keys, settings.broker_server_username, settings.broker_server_password
        )
        self.bridge: DeviceBridge | None = None
        self.outbound: OutboundLink | None = None  # the command engine's way to a device

    def _init_firmware(self, settings: Settings, signer: ReleaseSigner) -> None:
        """Releases and their staged OTA rollouts; the OTA sender gets the outbound link at start."""
        self.releases = FirmwareReleases(
            self.database, signer, settings.firmware_dir, settings.firmware_max_bytes, settings.api_base_url
        )
        self.ota_sender = LinkOtaSender()
        self.rollouts = Rollouts(
            self.database,
            self.releases,
            self.groups,
            self.ota_sender,
            self.command_log,
            self.events,
            self.audit,
            self.device_keys,
            self.cache,
            settings.api_base_url,
            max_age_s=settings.message_max_age_seconds,
            max_future_s=settings.message_max_future_seconds,
        )

    def _init_commands(self, settings: Settings) -> None:
        """The command gates; the dispatcher is handed the device link's outbound side at start."""
        self.dispatcher = LinkDispatcher()
        self.commands = CommandGates(
            self.devices,
            self.manifests,
            DeviceCommandLimiter(
                self.cache,
                CommandLimits(settings.device_commands_per_minute, settings.critical_commands_per_hour),
            ),
            DryRunTokens(self.cache),
            self.command_log,
            self.dispatcher,
            self.audit,
            self.events,
            DryRunPolicy(
                settings.dry_run_ttl_critical, settings.dry_run_ttl_sensitive, settings.confirm_sensitive
            ),
        )
        self.fanout = FanOut(self.commands, self.devices, self.groups, settings.fanout_max)

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
        self.mqtt = MqttConnection(
            mqtt_url,
            client_id=f"hxtp-cloud-{uuid.uuid4().hex[:12]}",
            max_in_flight=self.settings.mqtt_max_in_flight,
        )
        await self._start_device_link(self.mqtt)
        await self.mqtt.start()
        if self.settings.grpc_port >= 0:
            await self._start_grpc()
        await self._start_http()

    async def _start_device_link(self, mqtt: MqttConnection) -> None:
        self.bridge = DeviceBridge(
            mqtt,
            self.inbound,
            self.device_messages,
            shared_group=self.settings.mqtt_shared_group,
            embedded_broker=self.broker is not None,
        )
        self.outbound = OutboundLink(
            RecentDeviceKeys(self.device_keys),
            self.outbound_sequence,
            self.bridge,
            self.link_signer,
            client_id=str(uuid.uuid4()),
            receive_buffer=self.settings.device_receive_buffer,
        )
        self.bridge.outbound = self.outbound
        self.dispatcher.outbound = self.outbound
        self.ota_sender.outbound = self.outbound
        self.bridge.on_verified(OTA_STATUS, self.rollouts.on_status)
        await self.bridge.start()  # not connected yet: records the subscription for every connection

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
        await self.identity.close()
        await self.events.close()
        await self.cache.close()
        await self.database.dispose()
