"""The embedded MQTT broker (amqtt), used when no external broker is configured.

It listens on loopback only, so every client is a local process and anonymous access is safe. Only
the anonymous-auth plugin is loaded: amqtt's defaults would add $SYS topic publishing (noise on
every subscriber of '#', and a psutil DeprecationWarning) and packet/event loggers.

This wrapper owns the TCP listener and hands each accepted connection to amqtt through its
"external" listener type. amqtt's own listener has two flaws for us:

- ``Broker.shutdown()`` drops its sessions *before* it stops listening, so a client reconnecting in
  that window is accepted into a broker that is going away, and that connection is never closed: the
  client believes it is connected to a dead broker.
- it exposes neither the bound port (port 0 cannot be resolved) nor its open connections.

- on Python 3.11 a session's reader task can swallow the cancellation ``shutdown()`` sends it (when the
  cancel races with a packet arriving, ``asyncio.wait_for`` returns the packet instead of raising),
  then waits for the next packet until the keepalive runs out: ``shutdown()`` hangs for ~45 s.

Here ``stop()`` closes the listener first, lets what the broker already holds reach the connected
subscribers (bounded by _DELIVERY_DRAIN_S), then closes every client socket (a reader that swallowed
its cancellation then sees end-of-file at once), then shuts amqtt down.

``deliver`` lets code in this process publish without being a client: the message goes straight onto
the queue amqtt puts a client's parsed PUBLISH on (server.devicelink.local_publisher uses it for the
server's own messages). That queue is served by server.devicelink.broker_loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from typing import Any

from amqtt.adapters import StreamWriterAdapter

from server.devicelink.broker_events import ConnectionEvents, Connections
from server.devicelink.broker_loop import InlineDeliveryBroker
from server.devicelink.mqtt_version import (
    CONNACK_UNACCEPTABLE_VERSION,
    MQTT_5,
    ReplayedReader,
    read_connect_head,
)

log = logging.getLogger(__name__)

_LISTENER = "default"  # amqtt requires a listener of this name
_CONNECTION_EVENTS = f"{ConnectionEvents.__module__}.{ConnectionEvents.__qualname__}"
_DELIVERY_DRAIN_S = 2.0  # at a stop, for the messages already handed over to reach their subscribers
_CLIENT_DRAIN_TIMEOUT_S = 2.0
_SHUTDOWN_TIMEOUT_S = 10.0

_BROKER_CONFIG: dict[str, Any] = {
    # "external": amqtt opens no socket (no TCP, no websockets); connections arrive via external_connected.
    "listeners": {_LISTENER: {"type": "external"}},
    # A "plugins" section switches amqtt from entry-point discovery (deprecated, and it would load every
    # installed plugin, $SYS included) to exactly this list.
    "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
}


class BrokerNotRunningError(ConnectionError):
    """``deliver`` was called while the broker is stopped (or stopping)."""


def _check_publish_topic(topic: str) -> None:
    # What amqtt refuses in a client's PUBLISH (it closes that client's connection); deliver skips
    # that check, so it makes it here: a message must name one topic, and never a broker's own "$...".
    if not topic or "#" in topic or "+" in topic or topic.startswith("$"):
        raise ValueError(f"cannot publish to the topic {topic!r}")


def _is_loopback_address(host: str) -> bool:
    # An address, not a name: "localhost" may resolve to two addresses, which port 0 would give two ports.
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmbeddedBroker:
    """Start/stop wrapper around amqtt's Broker; restartable.

    ``port=0`` picks a free port on the first start; later restarts reuse that port, so ``url`` stays
    valid and clients can reconnect to it.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", connections: Connections | None = None) -> None:
        if not _is_loopback_address(host):
            # Anonymous clients are allowed, which is only safe when nobody off this machine can connect.
            raise ValueError(f"the embedded broker binds a loopback IP address only, not {host!r}")
        if not 0 <= port <= 65535:
            raise ValueError(f"invalid port {port}")
        self._host = host
        self._port = port
        self._config: dict[str, Any] = dict(_BROKER_CONFIG)
        if connections is not None:  # presence follows the broker's own view of each connection
            plugins = {**_BROKER_CONFIG["plugins"], _CONNECTION_EVENTS: {"listener": connections}}
            self._config["plugins"] = plugins
        self._broker: InlineDeliveryBroker | None = None
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The listening port (the real one once started, even when constructed with 0)."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"mqtt://{host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        # A fresh Broker per start: amqtt's broker keeps state (plugins, tasks) from a previous run.
        broker = InlineDeliveryBroker(self._config)
        await broker.start()
        try:
            server = await asyncio.start_server(
                self._serve_client, self._host, self._port, reuse_address=True
            )
        except BaseException:
            await broker.shutdown()
            raise
        self._broker, self._server = broker, server
        self._port = int(server.sockets[0].getsockname()[1])
        log.info("embedded MQTT broker listening on %s", self.url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        broker, self._broker = self._broker, None
        if server is None or broker is None:
            return
        server.close()  # first: nobody may connect to a broker that is shutting down
        # What was handed over (a command answered 202 is among it) reaches the connected devices
        # before their connections close.
        if not await broker.delivered(_DELIVERY_DRAIN_S):
            log.warning(
                "embedded MQTT broker stopped with %d message(s) not delivered within %.0f s",
                broker.undelivered(),
                _DELIVERY_DRAIN_S,
            )
        for writer in self._clients.values():
            writer.close()
        try:
            async with asyncio.timeout(_SHUTDOWN_TIMEOUT_S):
                await broker.shutdown()
        except TimeoutError:
            log.warning("embedded MQTT broker did not shut down within %.0f s", _SHUTDOWN_TIMEOUT_S)
        if self._clients:
            _, pending = await asyncio.wait(self._clients.keys(), timeout=_CLIENT_DRAIN_TIMEOUT_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()
        log.info("embedded MQTT broker on %s stopped", self.url)

    async def deliver(self, topic: str, payload: bytes) -> None:
        """Hand one message to the broker's delivery, as if a client had published it.

        Each subscriber gets it at the QoS it subscribed with and without the retain flag, and
        nothing is retained: what amqtt does with a client's QoS 1 PUBLISH. The queue is unbounded,
        so this never waits: when it returns the broker holds the message, and messages handed
        over one after the other are delivered in that order (one task serves the queue, FIFO).
        Raises BrokerNotRunningError once ``stop()`` has begun.

        No ACL is applied on the way in (amqtt's ``topic-check`` plugins see a client's PUBLISH, not
        this): only the server's own code may call it, never on behalf of a device.
        """
        _check_publish_topic(topic)
        broker = self._broker
        if broker is None:
            raise BrokerNotRunningError(f"the embedded MQTT broker on {self.url} is not running")
        # qos None: amqtt then uses each subscription's QoS, as it does for a client's PUBLISH.
        await broker.internal_message_broadcast(topic, payload, None)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        broker = self._broker
        task = asyncio.current_task()
        if broker is None or task is None:
            writer.close()
            return
        self._clients[task] = writer
        try:
            head, level = await read_connect_head(reader)
            if level == MQTT_5:
                log.info("embedded MQTT broker speaks 3.1.1 only: an MQTT 5 connect got CONNACK 0x01")
                writer.write(CONNACK_UNACCEPTABLE_VERSION)
                await writer.drain()
                return
            await broker.external_connected(
                ReplayedReader(reader, head), StreamWriterAdapter(writer), _LISTENER
            )
        except asyncio.IncompleteReadError:
            pass  # closed before its CONNECT arrived
        except Exception:
            # One misbehaving client must not take the listener down; its connection just ends.
            log.warning("embedded MQTT broker: client connection failed", exc_info=True)
        finally:
            del self._clients[task]
            writer.close()
