"""The server's own messages handed to the embedded broker of this process, with no MQTT client between.

On the embedded defaults the broker (amqtt) runs in this process. Publishing through the server's
MQTT connection would have gmqtt encode each command, write it to loopback, amqtt read and parse
it and PUBACK it, and gmqtt parse the PUBACK: two MQTT stacks and a socket for a message that never
leaves the process. ``LocalPublisher`` puts the message straight onto the broker's delivery queue
(``EmbeddedBroker.deliver``) instead. The composition root chooses it, once, when the broker is the
embedded one; with an external broker (HXTP_MQTT_URL) the bridge publishes through the connection.
Devices' messages still reach the server over its MQTT connection: only the outbound side moves.

What the connection guarantees, this keeps:

- order: handing a message over never waits, and the broker's queue is FIFO and served by one
  task, so inside a device's turn (server.devicelink.ordering) the order of the publishes is the
  order in which the device receives them;
- ``acknowledged``: the broker holds the message once it is queued, which is what its PUBACK
  tells the connection; so every publish here returns at that point, acknowledged or not;
- a stopped broker: MqttNotConnectedError, as from a connection with no broker (the bridge turns
  it into the same 503);
- QoS 1 and no retain, as amqtt delivers the connection's QoS 1 PUBLISH (retain flag unset).

The broker's topic checks for clients do not apply here; nothing a device sends is published
through this object, only what the server builds (server.devicelink.outbound).
"""

from __future__ import annotations

from server.devicelink.broker import BrokerNotRunningError, EmbeddedBroker
from server.devicelink.connection import MqttNotConnectedError


class LocalPublisher:
    """Publishes into the embedded broker running in this process (the bridge's MqttPublisher)."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self._broker = broker

    @property
    def connected(self) -> bool:
        return self._broker.running

    async def publish(self, topic: str, payload: bytes, *, acknowledged: bool = False) -> None:
        """QoS 1; returns once the broker holds the message, whether or not `acknowledged` asks it."""
        try:
            await self._broker.deliver(topic, payload)
        except BrokerNotRunningError as error:
            raise MqttNotConnectedError(str(error)) from None
