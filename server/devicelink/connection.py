"""One supervised MQTT client connection (gmqtt) that survives broker outages.

``start()`` never fails because the broker is down: a background task connects, and reconnects with
exponential backoff (capped at ``max_backoff`` seconds, jittered so replicas do not reconnect in
lockstep). ``connected`` tells the health check the current state.

gmqtt's own reconnect logic is replaced, not used: it retries at a fixed delay and only after a
connection that once succeeded (a failed first ``connect()`` just raises). Here each attempt gets a
fresh gmqtt client with a clean session; subscriptions made through ``subscribe`` are remembered and
sent again on every new connection.

Inbound messages go through one inbox (``inbox.Inbox``) to one dispatcher task, so callbacks see
them in arrival order and an exception raised by a callback is logged with its traceback and never
stops delivery of the next message. When the dispatcher falls behind, the inbox pauses gmqtt's socket
reader instead of dropping messages, and the broker holds the rest (see ``inbox``).

QoS 1 publishing is bounded (``max_in_flight``): gmqtt has no flow control, so ``publish`` waits while
that many messages are unacknowledged; a PUBACK (seen through a wrapper on gmqtt's packet handler)
frees a slot, and a lost connection frees them all (its clean session drops them anyway).

MQTT 3.1.1 is spoken on purpose: amqtt (the embedded broker) supports nothing newer, and the HxTP
firmware's MQTT stack speaks 3.1.1 too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv311

from server.devicelink.inbox import Inbox

log = logging.getLogger(__name__)

MessageCallback = Callable[[str, bytes], Awaitable[None] | None]

DEFAULT_MQTT_PORT = 1883
_INITIAL_BACKOFF_S = 0.2
_DEFAULT_MAX_BACKOFF_S = 10.0
_CONNECT_TIMEOUT_S = 10.0  # TCP connect + CONNACK; a black-holed host must not stall the loop forever
_ACK_TIMEOUT_S = 10.0
_CLOSE_TIMEOUT_S = 5.0
_DEFAULT_KEEPALIVE_S = 30  # a dead broker is noticed after ~2 keepalives without traffic
_SUBACK_FAILURE = 0x80


class MqttNotConnectedError(ConnectionError):
    """Raised by ``publish`` while there is no live broker connection."""


class MqttSubscriptionRefusedError(Exception):
    """The broker answered a SUBSCRIBE with a failure code (for example, an ACL denied the filter)."""


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int = DEFAULT_MQTT_PORT
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        """``mqtt://host[:port]`` or ``mqtt://user:password@host[:port]`` (percent-encoded credentials)."""
        parts = urlsplit(url)
        if parts.scheme != "mqtt":
            raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} in {url!r}; expected mqtt://")
        if not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} has no host")
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        return cls(
            host=parts.hostname,
            port=DEFAULT_MQTT_PORT if port is None else port,
            username=None if parts.username is None else unquote(parts.username),
            password=None if parts.password is None else unquote(parts.password),
        )


def _check_qos(qos: int) -> None:
    if qos not in (0, 1, 2):
        raise ValueError(f"MQTT QoS must be 0, 1 or 2, not {qos}")


class _SupervisedClient(Client):  # type: ignore[misc, unused-ignore]  # gmqtt is untyped: Client is Any
    """A gmqtt client that reports a lost connection instead of reconnecting by itself.

    gmqtt calls ``reconnect`` whenever the connection drops or a CONNACK is refused; overriding it
    is the one hook that sees both, and it hands the decision to ``MqttConnection``'s supervisor.
    """

    def __init__(self, client_id: str, on_lost: Callable[[], None], on_puback: Callable[[], None]) -> None:
        super().__init__(client_id, clean_session=True)
        self._report_lost = on_lost
        # gmqtt has no flow control and no PUBACK callback. Its package handler looks packet handlers
        # up by name on itself, so an instance attribute wraps the PUBACK one: that frees a window slot.
        handler = self._package_handler
        handle_puback = handler._handle_puback_packet

        def puback_received(cmd: Any, packet: Any) -> None:
            handle_puback(cmd, packet)
            on_puback()

        handler._handle_puback_packet = puback_received

    async def reconnect(self, delay: bool = False) -> None:
        self._report_lost()

    def gate_reads(self, inbox: Inbox) -> None:
        """Make gmqtt's socket reader wait, before each read, until the inbox is readable.

        gmqtt's read loop calls ``read`` on its protocol (an asyncio StreamReaderProtocol) for every
        chunk, so an instance attribute wraps it. While the loop waits, the protocol's StreamReader
        fills up and pauses the transport itself, and resumes it once the loop reads again: asyncio's
        own flow control does the pausing. Calling ``transport.pause_reading()`` from here instead
        would be undone by that StreamReader whenever it had paused first (a burst), since it resumes
        the transport when its buffer drains.
        """
        connection = self._connection
        protocol = connection._protocol
        read = protocol.read
        # gmqtt closes a connection it has heard nothing from for two keepalives. While paused the
        # silence is ours, not the broker's: the wait tells gmqtt so every half keepalive. A broker
        # that died meanwhile is noticed within two keepalives of reading again.
        interval = max(1.0, connection.keepalive / 2)

        async def gated_read(n: int = -1) -> bytes:
            while not inbox.readable:
                try:
                    async with asyncio.timeout(interval):
                        await inbox.wait_readable()
                except TimeoutError:
                    connection._last_data_in = time.monotonic()
            return cast(bytes, await read(n))

        protocol.read = gated_read


class _Session:
    """One gmqtt client and one broker connection, from the first attempt until it is lost."""

    def __init__(
        self, client_id: str, on_lost: Callable[[_Session], None], on_puback: Callable[[], None]
    ) -> None:
        self.client = _SupervisedClient(client_id, self._lost_now, on_puback)
        self.client.on_subscribe = self._on_suback
        self.lost = asyncio.Event()
        self.established = False
        self._on_lost = on_lost
        self._subacks: dict[int, asyncio.Future[tuple[int, ...] | None]] = {}

    def _lost_now(self) -> None:
        if self.lost.is_set():
            return
        self.lost.set()
        self._settle_subacks()
        self._on_lost(self)

    def _on_suback(self, _client: Any, mid: int, granted_qos: tuple[int, ...], _properties: Any) -> None:
        waiter = self._subacks.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(tuple(granted_qos))

    def _settle_subacks(self) -> None:
        # None = "no answer on this connection"; the subscription is replayed on the next one.
        for waiter in self._subacks.values():
            if not waiter.done():
                waiter.set_result(None)
        self._subacks.clear()

    async def subscribe(self, topic: str, qos: int) -> tuple[int, ...] | None:
        """Send SUBSCRIBE and wait for the SUBACK; None when the connection went away first."""
        if self.lost.is_set():
            return None
        mid = self.client.subscribe(topic, qos=qos)
        # Registering after the write is safe: the SUBACK is read on a later loop iteration.
        waiter: asyncio.Future[tuple[int, ...] | None] = asyncio.get_running_loop().create_future()
        self._subacks[mid] = waiter
        try:
            async with asyncio.timeout(_ACK_TIMEOUT_S):
                return await waiter
        finally:
            self._subacks.pop(mid, None)

    async def close(self) -> None:
        self._settle_subacks()
        # After a loss the transport is already closed; a DISCONNECT written to it would only make
        # gmqtt log "[TRYING WRITE TO CLOSED SOCKET]".
        if self.established and not self.client.is_connected:
            return
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self.client.disconnect()
        except Exception as exc:
            log.warning("error while closing MQTT connection (ignored): %r", exc)


class MqttConnection:
    """A broker connection that keeps itself up; see the module docstring."""

    def __init__(
        self,
        url: str | Callable[[], str],
        client_id: str,
        *,
        keepalive: int = _DEFAULT_KEEPALIVE_S,
        max_backoff: float = _DEFAULT_MAX_BACKOFF_S,
        max_in_flight: int = 0,
        inbox: Inbox | None = None,
    ) -> None:
        # A callable is read at start(): an embedded broker on port 0 has its address only once it runs.
        self._url = url
        self.endpoint = MqttEndpoint.parse(url) if isinstance(url, str) else None
        self._broker = f"{self.endpoint.host}:{self.endpoint.port}" if self.endpoint else "(not started)"
        self.client_id = client_id
        self._keepalive = keepalive
        self._max_backoff = max_backoff
        self._callbacks: list[MessageCallback] = []
        self._subscriptions: dict[str, int] = {}  # topic filter -> QoS, replayed on every connection
        self._session: _Session | None = None  # set only while connected
        self._connected = asyncio.Event()
        self._inbox = Inbox() if inbox is None else inbox
        self._supervisor: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        # The QoS 1 messages sent on this connection and not yet PUBACKed, oldest first: the broker
        # acknowledges them in the order it received them (MQTT 3.1.1 §4.6), so each PUBACK settles
        # the oldest. A future where the publisher waits for its PUBACK, None where it does not.
        # publish waits while max_in_flight are out (0 = no bound). A lost connection forgets them:
        # every connection starts a clean session.
        self._acks: deque[asyncio.Future[None] | None] = deque()
        self._max_in_flight = max_in_flight
        self._window_open = asyncio.Event()

    # -- public API -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._session is not None

    def on_message(self, callback: MessageCallback) -> MessageCallback:
        """Register ``callback(topic, payload)`` (plain or async) for every inbound message.

        Returns the callback, so it can be used as a decorator.
        """
        self._callbacks.append(callback)
        return callback

    async def start(self) -> None:
        """Begin connecting in the background; returns at once, even when the broker is down."""
        if self._supervisor is not None:
            return
        if self.endpoint is None:
            assert callable(self._url)
            self.endpoint = MqttEndpoint.parse(self._url())
            self._broker = f"{self.endpoint.host}:{self.endpoint.port}"
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"mqtt-dispatch:{self.client_id}")
        self._supervisor = asyncio.create_task(self._supervise(), name=f"mqtt-supervisor:{self.client_id}")

    async def wait_connected(self) -> None:
        """Return once there is a live connection (bound it with ``asyncio.timeout``)."""
        await self._connected.wait()

    async def publish(self, topic: str, payload: bytes, qos: int = 1, acknowledged: bool = False) -> None:
        """Send one message; raises MqttNotConnectedError while the broker is unreachable.

        The message is written to the socket, and awaited until the broker acknowledges it only when
        `acknowledged` (QoS 1): then the broker holds it before anything published after this call
        returns, from any connection. A QoS 1 message in flight when the connection drops is not
        resent (every connection starts a clean session); a waiting publisher gets
        MqttNotConnectedError, and TimeoutError when no PUBACK comes in time.
        """
        _check_qos(qos)
        if qos == 1 and 0 < self._max_in_flight <= len(self._acks):
            async with asyncio.timeout(_ACK_TIMEOUT_S):
                while len(self._acks) >= self._max_in_flight:
                    self._window_open.clear()
                    await self._window_open.wait()
        session = self._session
        # is_connected also catches a socket that closed a moment ago, before gmqtt reported the loss.
        if session is None or not session.client.is_connected:
            raise MqttNotConnectedError(f"not connected to MQTT broker {self._broker}")
        session.client.publish(topic, payload, qos=qos)
        if qos == 1:
            if not acknowledged:
                self._acks.append(None)
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._acks.append(waiter)
            async with asyncio.timeout(_ACK_TIMEOUT_S):
                await waiter

    @property
    def in_flight(self) -> int:
        """QoS 1 messages published on this connection and not yet acknowledged by the broker."""
        return len(self._acks)

    def _puback(self) -> None:
        if self._acks:
            waiter = self._acks.popleft()
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        self._window_open.set()

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now (waiting for the SUBACK) if connected, and again on every reconnect.

        Raises MqttSubscriptionRefusedError if the broker refuses the filter and TimeoutError if it
        does not answer in time (the subscription stays recorded and is retried on reconnect). While
        disconnected it only records the subscription.
        """
        _check_qos(qos)
        self._subscriptions[topic] = qos
        session = self._session
        if session is not None:
            granted = await session.subscribe(topic, qos)
            if granted is not None and any(code >= _SUBACK_FAILURE for code in granted):
                del self._subscriptions[topic]
                raise MqttSubscriptionRefusedError(f"broker refused subscription to {topic!r}")

    async def stop(self) -> None:
        """Disconnect cleanly and stop reconnecting; pending inbound messages are dropped."""
        supervisor, self._supervisor = self._supervisor, None
        dispatcher, self._dispatcher = self._dispatcher, None
        for task in (supervisor, dispatcher):
            if task is not None:
                task.cancel()
        for task in (supervisor, dispatcher):
            if task is not None:
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._inbox.clear()

    # -- connection supervision -------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = _INITIAL_BACKOFF_S
        outage_reported = False
        while True:
            session = self._new_session()
            try:
                await self._connect(session)
            except Exception as exc:
                await session.close()
                # Loud once per outage, quiet while it lasts (a broker down for hours would flood the log).
                level = logging.DEBUG if outage_reported else logging.WARNING
                log.log(level, "MQTT broker %s unreachable (%r); retrying", self._broker, exc)
                outage_reported = True
                backoff = await self._pause(backoff)
                continue
            except BaseException:
                await session.close()
                raise
            outage_reported = False
            connected_at = loop.time()
            try:
                await self._serve(session)
            except Exception:
                # For example no SUBACK in time: treat the connection as broken and start over.
                log.exception("MQTT connection to %s failed; reconnecting", self._broker)
            finally:
                self._forget_session(session)
                await session.close()
            # Back off after a loss too, so a broker that accepts and then drops us is not hammered;
            # only a connection that stayed up for a while earns a quick retry.
            if loop.time() - connected_at >= self._max_backoff:
                backoff = _INITIAL_BACKOFF_S
            backoff = await self._pause(backoff)

    def _new_session(self) -> _Session:
        session = _Session(self.client_id, self._forget_session, self._puback)
        session.client.on_message = self._receive
        assert self.endpoint is not None  # resolved by start()
        if self.endpoint.username is not None:
            session.client.set_auth_credentials(self.endpoint.username, self.endpoint.password)
        return session

    async def _pause(self, backoff: float) -> float:
        """Sleep for about ``backoff`` seconds (jittered); returns the next, doubled, capped backoff."""
        await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
        return min(backoff * 2, self._max_backoff)

    async def _connect(self, session: _Session) -> None:
        assert self.endpoint is not None  # resolved by start()
        handshake = asyncio.ensure_future(
            session.client.connect(
                self.endpoint.host, self.endpoint.port, keepalive=self._keepalive, version=MQTTv311
            )
        )
        # gmqtt's connect() waits for a CONNACK even after the socket closed (a broker going away
        # mid-handshake); the loss report ends the attempt at once instead of at the timeout.
        lost = asyncio.ensure_future(session.lost.wait())
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                await asyncio.wait({handshake, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for attempt in (handshake, lost):
                attempt.cancel()
            await asyncio.gather(handshake, lost, return_exceptions=True)
        if handshake.cancelled():
            raise ConnectionError("connection closed during the MQTT handshake")
        handshake.result()  # re-raises a refused CONNACK or a socket error
        session.established = True
        # Only now: a handshake must never wait for a full inbox to drain (the CONNACK is read first).
        session.client.gate_reads(self._inbox)

    async def _serve(self, session: _Session) -> None:
        """Hold one established connection until it is lost."""
        if session.lost.is_set():  # dropped between CONNACK and here
            return
        self._session = session
        self._connected.set()
        log.info("connected to MQTT broker %s as %r", self._broker, self.client_id)
        for topic, qos in list(self._subscriptions.items()):
            granted = await session.subscribe(topic, qos)
            if granted is not None and any(code >= _SUBACK_FAILURE for code in granted):
                log.error("MQTT broker refused the subscription to %r on reconnect", topic)
        await session.lost.wait()
        log.warning("lost connection to MQTT broker %s; reconnecting", self._broker)

    def _forget_session(self, session: _Session) -> None:
        # Runs synchronously from gmqtt's loss report, so `connected` turns False at once.
        if self._session is session:
            self._session = None
            self._connected.clear()
            acks, self._acks = self._acks, deque()
            for waiter in acks:
                if waiter is not None and not waiter.done():
                    waiter.set_exception(MqttNotConnectedError(f"connection to {self._broker} lost"))
            self._window_open.set()

    # -- inbound messages -------------------------------------------------------------------

    def _receive(self, _client: Any, topic: str | bytes, payload: bytes, _qos: int, _properties: Any) -> None:
        if isinstance(topic, bytes):  # gmqtt passes the raw bytes when the topic is not valid UTF-8
            topic = topic.decode("utf-8", errors="replace")
        self._inbox.put(topic, payload)

    async def _dispatch(self) -> None:
        inbox = self._inbox
        while True:
            await inbox.wait_arrived()
            # Everything queued is served before waiting again: one wake-up per burst, not per
            # message. Popping one message at a time keeps the inbox's count (and so its flow
            # control) exact, and arrival order is kept, so each device's messages stay in order.
            while (message := inbox.pop()) is not None:
                topic, payload = message
                for callback in tuple(self._callbacks):
                    try:
                        result = callback(topic, payload)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:
                        log.exception("MQTT message callback %r failed on topic %r", callback, topic)
