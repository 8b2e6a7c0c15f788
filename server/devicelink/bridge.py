"""The MQTT side of the device link: the device channels in, QoS 1 publications out.

In: one subscription per device channel, `hxtp/+/device/+/{channel}` (as `$share/<group>/...` when a
group is configured and the broker is a real one, so replicas split the devices' traffic; amqtt, the
embedded broker, ignores shared subscriptions). Not the full wildcard `hxtp/+/device/+/#`: that would
deliver every command and OTA order we publish back to us, doubling the broker's work and ours.
Each message goes through the receive pipeline; a verified one is dispatched on its message_type
through a dict to the device-link business rules. One bad message never stops
the loop: the pipeline counts and drops what a peer got wrong, a message that arrives while the
database or Redis is down is counted and dropped (the outage is said once, by `Outages`, not once
per message), and anything else that goes wrong with one message is logged (with its topic, never
its payload) and the next message is served.

Out: `publish` at QoS 1 through an `MqttPublisher`: the connection (its bounded in-flight window), or,
when the broker is the embedded one in this process, straight into that broker
(server.devicelink.local_publisher); the composition root picks one. A broker that is down or does
not acknowledge in time answers GATEWAY_ERROR (503) to the caller, the one translation of broker
errors.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from prometheus_client import Counter

from server.devicelink import profiles
from server.devicelink.broker_events import (
    EMQX_CLIENT_EVENTS,
    Connections,
    apply_emqx_client_event,
    is_emqx_client_event,
)
from server.devicelink.connection import MqttConnection, MqttNotConnectedError, MqttSubscriptionRefusedError
from server.devicelink.inbound import InboundPipeline
from server.devicelink.outbound import OutboundLink
from server.domain.link.channels import DEVICE_CHANNELS
from server.domain.link.messages import DeviceMessage, DeviceMessages
from server.domain.outages import Outages
from server.errors import Code, HxtpError

log = logging.getLogger(__name__)

DROPPED_IN_OUTAGE = Counter(
    "hxtp_device_messages_dropped_outage",
    "Device messages dropped because a dependency (database, redis) was down",
    ["dependency"],
)


def subscription_filters(shared_group: str, embedded_broker: bool) -> tuple[str, ...]:
    """The topic filters the server subscribes to: the channels devices publish on, and only those."""
    prefix = f"$share/{shared_group}/" if shared_group and not embedded_broker else ""
    return tuple(f"{prefix}hxtp/+/device/+/{channel}" for channel in sorted(DEVICE_CHANNELS))


class MqttPublisher(Protocol):
    """Where the bridge's messages go: MqttConnection, or LocalPublisher on the embedded broker."""

    @property
    def connected(self) -> bool: ...

    async def publish(self, topic: str, payload: bytes, *, acknowledged: bool = False) -> None:
        """QoS 1; returns once the broker holds it when `acknowledged`. Raises MqttNotConnectedError
        while the broker cannot take it, TimeoutError when it does not acknowledge in time."""
        ...


class DeviceBridge:
    def __init__(
        self,
        mqtt: MqttConnection,
        pipeline: InboundPipeline,
        messages: DeviceMessages,
        *,
        publisher: MqttPublisher | None = None,
        shared_group: str = "",
        embedded_broker: bool = True,
        connections: Connections | None = None,
        outages: Outages | None = None,
    ) -> None:
        self._mqtt = mqtt
        self._publisher: MqttPublisher = mqtt if publisher is None else publisher
        self._outages = outages if outages is not None else Outages({}, {})
        # EMQX reports client connections on $SYS topics (every replica hears each: presence is per
        # process); the embedded broker reports them to its plugin instead.
        self._connections = None if embedded_broker else connections
        self._pipeline = pipeline
        self._messages = messages
        self.outbound: OutboundLink | None = None  # set by the composition root (it publishes through us)
        self.topic_filters = subscription_filters(shared_group, embedded_broker)
        self._after: dict[str, Callable[[DeviceMessage], Awaitable[None]]] = {"hello": self._answer_hello}

    def on_verified(self, message_type: str, handler: Callable[[DeviceMessage], Awaitable[None]]) -> None:
        """Run `handler` after the business rules for every verified message of this type."""
        self._after[message_type] = handler

    async def start(self) -> None:
        self._mqtt.on_message(self._on_message)
        for topic_filter in self.topic_filters:
            await self._mqtt.subscribe(topic_filter, qos=1)
        if self._connections is not None:
            try:
                await self._mqtt.subscribe(EMQX_CLIENT_EVENTS, qos=0)
            except MqttSubscriptionRefusedError:  # an ACL without $SYS: presence falls back to traffic
                log.warning("the MQTT broker refused %r; presence follows traffic only", EMQX_CLIENT_EVENTS)

    @property
    def connected(self) -> bool:
        # Both ways: a command published while the connection is down would reach the device, but
        # its ack would not reach us; it is refused up front, as when both were one connection.
        return self._mqtt.connected and self._publisher.connected

    async def publish(self, topic: str, payload: bytes, acknowledged: bool = False) -> None:
        try:
            await self._publisher.publish(topic, payload, acknowledged=acknowledged)
        except MqttNotConnectedError:
            raise HxtpError(Code.GATEWAY_ERROR, "The MQTT broker is not reachable") from None
        except TimeoutError:
            raise HxtpError(Code.GATEWAY_ERROR, "The MQTT broker does not acknowledge") from None

    async def _on_message(self, topic: str, payload: bytes) -> None:
        if self._connections is not None and is_emqx_client_event(topic):
            apply_emqx_client_event(self._connections, topic, payload)
            return
        try:
            message = await self._pipeline.receive(topic, payload)
            if message is None:
                return
            await self._messages.handle(message)
            after = self._after.get(message.message_type)
            if after is not None:
                await after(message)
        except Exception as error:
            dependency = self._outages.noted(error)
            if dependency is None:
                log.exception("device message on %r could not be processed", topic)
            else:
                DROPPED_IN_OUTAGE.labels(dependency).inc()

    async def _answer_hello(self, message: DeviceMessage) -> None:
        if self.outbound is None or not profiles.outbound_for(message.profile).hello_ack:
            return
        try:
            await self.outbound.send_hello_ack(message.device_id)
        except HxtpError as error:  # e.g. the broker went away: the SDK re-sends HELLO on reconnect
            log.warning("no hello_ack for device %s: %s", message.device_id, error)
