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
from gateway.connections import ConnectionLimits, reserve_descriptors, uvicorn_options
from gateway.cors import Cors, parse_origins
from gateway.transport import InProcessTransport, RemoteTransport, Transport
from server import redaction
from server.cache import create_cache
from server.cache.base import Cache
from server.cache.gcra import RedisGcra
from server.cache.outage import cache_unreachable
from server.config import Settings
from server.devicelink.bridge import DeviceBridge
from server.devicelink.broker import EmbeddedBroker
from server.devicelink.connection import MqttConnection
from server.devicelink.inbound import InboundPipeline, Limits
from server.devicelink.local_publisher import LocalPublisher
from server.devicelink.ordering import DeviceOrder
from server.devicelink.ota import LinkOtaSender
from server.devicelink.outbound import OutboundLink
from server.devicelink.profiles import LinkSigner
from server.devicelink.sdk_events import SdkEvents
from server.domain.assistant.memories import AgentMemories
from server.domain.assistant.plans import Plans
from server.domain.assistant.verification import StateVerifier
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
from server.domain.fleet.claims import MAX_FUTURE_SECONDS, MAX_KEY_TEXT, ClaimWindow, DeviceClaims
from server.domain.fleet.devices import Devices
from server.domain.fleet.groups import Groups
from server.domain.fleet.homes import Homes
from server.domain.fleet.presence import Presence
from server.domain.fleet.secrets import SecretBox
from server.domain.health import Backends, HealthMonitor
from server.domain.identity.api_keys import ApiKeys
from server.domain.identity.authentication import Authenticator
from server.domain.identity.cli_handshake import CliHandshakes
from server.domain.identity.idp import IdentityProvider, IdpConfig
from server.domain.identity.onboarding import Onboarding
from server.domain.identity.rate_limits import InProcessRateLimiter, RateLimiter, SharedRateLimiter, Tiers
from server.domain.identity.sessions import Sessions
from server.domain.identity.tokens import TokenService
from server.domain.identity.users import Identity
from server.domain.link.bootstrap import Bootstrap, BootstrapAnswer
from server.domain.link.broker_access import BrokerAccess
from server.domain.link.keys import DeviceKeys, RecentDeviceKeys
from server.domain.link.messages import DeviceMessages
from server.domain.link.replay import ReplayGuard
from server.domain.link.sequence import OutboundSequence
from server.domain.link.variants import LinkVariants
from server.domain.memo import MemoHub
from server.domain.outages import Outages
from server.domain.platform.flags import FeatureFlags
from server.domain.platform.operator import OperatorKey
from server.domain.platform.suspensions import TenantSuspensions
from server.domain.platform.tenants import Platform
from server.domain.resources import FoundBy
from server.keyfiles import load_or_create_secret
from server.rpc.admin import AdminServicer
from server.rpc.assistant import AssistantServicer
from server.rpc.auth import AuthServicer
from server.rpc.broker_auth import BrokerAuthServicer
from server.rpc.chain import Chain
from server.rpc.cognition import CognitionServicer
from server.rpc.command import CommandServicer
from server.rpc.device import DeviceServicer, LinkFacts
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
from server.rpc.text_guard import TextGuard
from server.storage.bounds import text_bounds
from server.storage.database import Database
from server.storage.group_commit import GroupCommit
from server.storage.migrate import run_migrations_async
from server.storage.outage import database_unreachable
from server.storage.types import utc_now

log = logging.getLogger("hxtp.app")

ROOT = Path(__file__).resolve().parent.parent
_PEER_IN_FLIGHT_S = 2.0


@dataclass
class Ports:
    http: int
    grpc: int


class IdentityKit:
    """The identity side assembled once: who calls, with which credential, and how fast their
    tenant may go (the Redis limiter when Redis is configured, so replicas share one limit)."""

    def __init__(
        self, database: Database, cache: Cache, tokens: TokenService, settings: Settings, memos: MemoHub
    ) -> None:
        self.tiers = Tiers.parse(settings.tiers)
        self.identity = Identity(database, self.tiers, memos)
        self.api_keys = ApiKeys(database)
        self.sessions = Sessions(cache, secure_cookies=settings.cookie_secure)
        self.handshakes = CliHandshakes(cache, tokens)
        self.onboarding = Onboarding(
            database, self.identity, settings.signup_creates_tenant, settings.signup_url
        )
        idp = None
        if settings.idp_jwks_url or settings.idp_hs256_secret:
            config = IdpConfig(
                settings.idp_jwks_url, settings.idp_issuer, settings.idp_audience, settings.idp_hs256_secret
            )
            idp = IdentityProvider(config, self.identity, self.onboarding)
        self.authenticator = Authenticator(tokens, self.identity, self.api_keys, self.sessions, idp)
        self._redis_limiter = SharedRateLimiter(RedisGcra(settings.redis_url)) if settings.redis_url else None
        self.limiter: RateLimiter = self._redis_limiter or InProcessRateLimiter()

    async def close(self) -> None:
        if self._redis_limiter is not None:
            await self._redis_limiter.close()


class Application:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.database = Database(settings.database_url, background_checkpoints=True)
        # One writer: a command's row and its audit entry commit together, concurrent work shares commits.
        self.writer = GroupCommit(self.database.engine)
        self.cache: Cache = create_cache(settings.redis_url)
        self.memos = MemoHub(self.cache)  # hot-path memos, invalidated on every replica at once
        self.presence = Presence(settings.presence_window_seconds)
        self.broker = (
            None
            if settings.mqtt_url
            else EmbeddedBroker(settings.embedded_mqtt_port, connections=self.presence)
        )
        self.mqtt = MqttConnection(
            self._mqtt_url,  # read at start: an embedded broker on port 0 has its address once it runs
            client_id=f"hxtp-cloud-{uuid.uuid4().hex[:12]}",
            max_in_flight=settings.mqtt_max_in_flight,
        )
        jwt_secret = load_or_create_secret(settings.jwt_secret, settings.data_dir / "jwt_secret")
        self.tokens = TokenService(jwt_secret)
        self.identity = IdentityKit(self.database, self.cache, self.tokens, settings, self.memos)
        kit = self.identity
        self.health = HealthMonitor(
            {
                "database": lambda: self.database.ping(settings.health_timeout),
                "redis": lambda: self.cache.ping(settings.health_timeout),
                "mqtt": self._mqtt_up,
                "protocol_ready": self._protocol_ready,
            },
            timeout=settings.health_timeout,
            backends=Backends.of(settings.database_url, settings.redis_url, settings.mqtt_url),
        )
        self.outages = Outages(
            {"database": database_unreachable, "redis": cache_unreachable},
            {
                "database": lambda: self.database.ping(settings.health_timeout),
                "redis": lambda: self.cache.ping(settings.health_timeout),
            },
        )
        # Fleet: device secrets sealed under the master key; releases signed with the server's Ed25519 key.
        secret_box = SecretBox(load_or_create_secret(settings.secret_key, settings.data_dir / "secret_key"))
        key_grace = timedelta(seconds=settings.key_grace_seconds)
        release_signer = ReleaseSigner(
            load_or_create_secret(settings.firmware_signing_key, settings.data_dir / "firmware_signing_key")
        )
        release_signer.publish(settings.data_dir / "firmware_signing_key.pub")
        self.device_keys = DeviceKeys(self.database, secret_box, key_grace, self.memos)  # the link's port
        # Hash-chained audit log and live event bus: the domain services that record and announce.
        self.audit = AuditLog(self.database, self.writer)
        self.events = EventBus(self.cache, settings.ws_queue_size, local_only=not settings.redis_url)
        self.manifests = Manifests(self.database, self.audit, self.memos)
        self.devices = Devices(
            self.database, secret_box, self.presence, settings.api_base_url, key_grace, self.audit, self.memos
        )
        self.homes = Homes(self.database)
        self.groups = Groups(self.database)
        self.suspensions = TenantSuspensions(self.database)
        self.command_log = CommandLog(
            self.database, timedelta(seconds=settings.command_ack_seconds), self.devices, self.writer
        )
        self._init_device_link(settings)
        self._init_commands(settings)
        self._init_firmware(settings, release_signer)
        self.bridge.on_verified(OTA_STATUS, self.rollouts.on_status)
        self.endpoints: dict[str, Endpoint] = build_endpoints(
            {
                "hxtp.cloud.v1.SystemService": SystemServicer(ROOT / "CHANGELOG.md"),
                "hxtp.cloud.v1.StateStreamService": StateStreamServicer(self.events),
                "hxtp.cloud.v1.HealthService": HealthServicer(self.health, self.presence.active_count),
                "hxtp.cloud.v1.AuthService": AuthServicer(
                    kit.identity, kit.api_keys, kit.sessions, kit.handshakes, kit.onboarding
                ),
                "hxtp.cloud.v1.TenantService": TenantServicer(kit.identity, kit.onboarding),
                "hxtp.cloud.v1.AdminService": self._admin(settings),
                "hxtp.cloud.v1.HomeService": HomeServicer(self.homes),
                "hxtp.cloud.v1.DeviceService": DeviceServicer(
                    self.devices,
                    self.bootstrap,
                    self.device_messages,
                    LinkFacts(
                        self.link_signer.public_key_hex,
                        settings.telemetry_keep,
                        int(settings.telemetry_retention_seconds),
                    ),
                    self._claims(settings),
                ),
                "hxtp.cloud.v1.BrokerAuthService": BrokerAuthServicer(self.broker_access),
                "hxtp.cloud.v1.GroupService": GroupServicer(self.groups),
                "hxtp.cloud.v1.ManifestService": ManifestServicer(self.manifests),
                "hxtp.cloud.v1.CommandService": CommandServicer(self.commands, self.fanout, self.command_log),
                "hxtp.cloud.v1.IntentService": IntentServicer(self.intents),
                "hxtp.cloud.v1.CognitionService": CognitionServicer(
                    Cognition(self.database, self.devices, self.fanout)
                ),
                "hxtp.cloud.v1.AssistantService": AssistantServicer(
                    self.plans,
                    AgentMemories(self.database),
                    StateVerifier(
                        self.command_log,
                        self.device_messages.latest_state,
                        timedelta(seconds=settings.command_ack_seconds),
                    ),
                ),
                "hxtp.cloud.v1.FirmwareService": FirmwareServicer(self.releases, self.rollouts),
            },
            Chain(
                kit.authenticator,
                devices=FoundBy(self.devices.record),
                limiter=kit.limiter,
                tiers=kit.tiers,
                outages=self.outages,
                text_guard=TextGuard(
                    text_bounds(), {"hxtp.cloud.v1.ClaimDeviceRequest.public_key": MAX_KEY_TEXT}
                ),
                suspensions=self.suspensions,
            ),
        )
        sdk_events = SdkEvents(self.link_signer, client_id=str(uuid.uuid4()))
        # Multipart uploads carry one firmware image plus the form's few text parts.
        upload_limit = settings.firmware_max_bytes + (64 << 10)
        self.gateway = Gateway(
            self._transport(),
            sdk_envelope=sdk_events.envelope,
            json_limit=settings.http_max_body_bytes,
            upload_limit=upload_limit,
        )
        self.ports = Ports(http=0, grpc=0)
        self._grpc_server: grpc.aio.Server | None = None
        self._http_server: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._sweep: asyncio.Task[None] | None = None
        self._started_at = utc_now()

    def _init_device_link(self, settings: Settings) -> None:
        """The device link: its domain objects, the bridge over the MQTT connection, the outbound side."""
        # One instance: the inbound side learns what the outbound side signs with.
        self.link_variants = link_variants = LinkVariants(self.database, self.memos)
        self.command_outcomes = CommandAcks(self.command_log, self.events, self.cache)
        self.device_messages = DeviceMessages(
            self.database,
            self.cache,
            self.presence,
            self.events,
            self.command_outcomes.record_ack,
            telemetry_keep=settings.telemetry_keep,
            telemetry_ttl=settings.telemetry_retention_seconds,
            variants=link_variants,
            memos=self.memos,
        )
        # One memo of each device's profile and keys for both directions of the link.
        self.link_keys = RecentDeviceKeys(self.device_keys, self.memos)
        self.inbound = InboundPipeline(
            self.link_keys,
            Limits(settings.message_max_age_seconds, settings.message_max_future_seconds),
            replay_guard=ReplayGuard(self.cache),
        )
        self.outbound_sequence = OutboundSequence(self.database, cache=self.cache, variants=link_variants)
        self.link_signer = LinkSigner(
            load_or_create_secret(settings.link_signing_key, settings.data_dir / "link_signing_key")
        )
        self.link_signer.publish(settings.data_dir / "link_signing_key.pub")
        self.bootstrap = Bootstrap(
            self.device_keys,
            self.cache,
            BootstrapAnswer(
                settings.device_mqtt_endpoint, settings.heartbeat_interval, self.link_signer.public_key_hex
            ),
            max_age_s=settings.message_max_age_seconds,
            max_future_s=settings.message_max_future_seconds,
        )
        self.broker_access = BrokerAccess(
            self.device_keys,
            settings.broker_server_username,
            settings.broker_server_password,
            on_device_connect=self.presence.seen,
        )
        self.bridge = DeviceBridge(
            self.mqtt,
            self.inbound,
            self.device_messages,
            # An embedded broker runs in this process: our messages go straight into it, not over loopback.
            publisher=self.mqtt if self.broker is None else LocalPublisher(self.broker),
            shared_group=settings.mqtt_shared_group,
            embedded_broker=self.broker is not None,
            connections=self.presence,
            outages=self.outages,
        )
        self.outbound = OutboundLink(  # the command gates' way to a device
            self.link_keys,
            self.outbound_sequence,
            self.bridge,
            self.link_signer,
            client_id=str(uuid.uuid4()),
            receive_buffer=settings.device_receive_buffer,
            # Replicas share Redis: a device's turn to be sent to is then taken there.
            order=DeviceOrder(self.cache if settings.redis_url else None),
        )
        self.bridge.outbound = self.outbound

    def _init_firmware(self, settings: Settings, signer: ReleaseSigner) -> None:
        """Releases and their staged OTA rollouts, sent over the device link's outbound side."""
        self.releases = FirmwareReleases(
            self.database, signer, settings.firmware_dir, settings.firmware_max_bytes, settings.api_base_url
        )
        self.ota_sender = LinkOtaSender(self.outbound)
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
        """The command gates, dispatching through the device link's outbound side."""
        self.commands = CommandGates(
            self.devices,
            self.manifests,
            DeviceCommandLimiter(
                self.cache,
                CommandLimits(settings.device_commands_per_minute, settings.critical_commands_per_hour),
            ),
            DryRunTokens(self.cache),
            self.command_log,
            self.outbound,
            self.audit,
            self.events,
            DryRunPolicy(
                settings.dry_run_ttl_critical, settings.dry_run_ttl_sensitive, settings.confirm_sensitive
            ),
        )
        self.fanout = FanOut(self.commands, self.devices, self.groups, settings.fanout_max)
        self.intents = Intents(self.fanout)
        self.plans = Plans(self.database, self.commands, self.command_log, self.manifests, self.suspensions)

    def _admin(self, settings: Settings) -> AdminServicer:
        async def healthy() -> bool:
            return (await self.health.check()).healthy

        platform = Platform(self.database, self.suspensions, self.presence.active_count, healthy)
        return AdminServicer(
            OperatorKey(settings.admin_key),
            self.identity.onboarding,
            platform,
            self.suspensions,
            FeatureFlags(self.database),
        )

    def _claims(self, settings: Settings) -> DeviceClaims:
        window = ClaimWindow(settings.claim_window_seconds, MAX_FUTURE_SECONDS)
        return DeviceClaims(self.devices, self.homes, self.cache, window, settings.device_mqtt_endpoint)

    def _transport(self) -> Transport:
        if self.settings.grpc_target:
            return RemoteTransport(self.settings.grpc_target)
        return InProcessTransport({name: e.handler for name, e in self.endpoints.items()})

    def _mqtt_url(self) -> str:
        return self.broker.url if self.broker is not None else self.settings.mqtt_url

    async def _mqtt_up(self) -> bool:
        return self.mqtt.connected

    async def _protocol_ready(self) -> bool:
        # The device codec (ext) is imported by this module's imports, so the link is what can fail.
        return await self._mqtt_up()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, listeners: bool = True) -> None:
        """Starts storage, the cache's memos, the device link and, with ``listeners``, the gRPC and
        HTTP servers. Without them the domain services are called in this process only (tests)."""
        redaction.install()  # before the first request can log a URL with a token in it
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await run_migrations_async(self.settings.database_url)
        self.database.start()
        await self.memos.start()
        self._started_at = utc_now()
        self._sweep = asyncio.create_task(self._resolve_left_in_flight(), name="resolve-left-in-flight")
        if self.broker is not None:
            await self.broker.start()
        await self.bridge.start()  # not connected yet: records the subscription for every connection
        await self.mqtt.start()
        if not listeners:
            return
        if self.settings.grpc_port >= 0:
            await self._start_grpc()
        await self._start_http()

    async def _resolve_left_in_flight(self) -> None:
        """Expires what a stopped process committed and never published. Waits out a peer replica's
        in-flight commands first: a pending row lives for one publish, milliseconds."""
        await asyncio.sleep(_PEER_IN_FLIGHT_S)
        while True:
            try:
                expired = await self.command_log.resolve_left_in_flight(self._started_at)
                break
            except Exception as error:
                if self.outages.noted(error) is None:
                    log.exception("commands left in flight could not be resolved; they expire when read")
                    return
                await asyncio.sleep(_PEER_IN_FLIGHT_S)  # the outage is said once; tried until it is back
        if expired:
            log.warning("%d command(s) left unpublished by a stopped server marked expired", expired)

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
        limits = ConnectionLimits(
            max_connections=self.settings.http_max_connections,
            keep_alive=self.settings.http_keep_alive_seconds,
            header_timeout=self.settings.http_header_timeout_seconds,
            body_timeout=self.settings.http_body_timeout_seconds,
            max_header_bytes=self.settings.http_max_header_bytes,
        )
        reserve_descriptors(limits)
        config = uvicorn.Config(
            Cors(self.gateway, parse_origins(",".join(self.settings.cors_origins))),
            host=self.settings.http_host,
            port=self.settings.http_port,
            lifespan="off",
            log_level=self.settings.log_level,
            access_log=False,
            ws="websockets-sansio",
            **uvicorn_options(limits),
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
        await self.plans.close()
        await self.gateway.transport.close()
        await self.mqtt.stop()
        if self.broker is not None:
            await self.broker.stop()
        if self._sweep is not None:
            self._sweep.cancel()
            await asyncio.gather(self._sweep, return_exceptions=True)
        await self.writer.drain()
        await self.outages.close()
        await self.identity.close()
        await self.memos.close()
        await self.events.close()
        await self.cache.close()
        await self.database.dispose()
