"""What the broker says about device connections, turned into presence (server.domain.fleet.presence).

- The embedded broker (amqtt): a plugin on its client connected / disconnected events.
- EMQX: its client event topics, `$SYS/brokers/<node>/clients/<clientid>/connected` and
  `.../disconnected`, JSON with `clientid` and `username` (the server's account must be allowed to
  subscribe to them). Other brokers publish nothing there, so subscribing is harmless.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from amqtt.contexts import BaseContext
from amqtt.plugins.base import BasePlugin

from server.domain.fleet.presence import device_of

log = logging.getLogger(__name__)

EMQX_CLIENT_EVENTS = "$SYS/brokers/+/clients/+/+"
_EMQX_PREFIX = "$SYS/brokers/"


class Connections(Protocol):
    def connected(self, device_id: str) -> None: ...

    def disconnected(self, device_id: str) -> None: ...


class ConnectionEvents(BasePlugin[BaseContext]):
    """amqtt plugin: the embedded broker's connect / disconnect of each client."""

    @dataclass
    class Config:
        listener: Any = None  # a Connections

    async def on_broker_client_connected(self, *, client_id: str, client_session: Any) -> None:
        device_id = device_of(client_id, getattr(client_session, "username", None))
        if device_id is not None:
            self._listener().connected(device_id)

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Any) -> None:
        device_id = device_of(client_id, getattr(client_session, "username", None))
        if device_id is not None:
            self._listener().disconnected(device_id)

    def _listener(self) -> Connections:
        listener: Connections = self.config.listener
        return listener


def is_emqx_client_event(topic: str) -> bool:
    return topic.startswith(_EMQX_PREFIX) and "/clients/" in topic


def apply_emqx_client_event(connections: Connections, topic: str, payload: bytes) -> None:
    """One EMQX client event; anything unreadable is logged and skipped."""
    event = topic.rsplit("/", 1)[-1]
    if event not in ("connected", "disconnected"):
        return
    try:
        body = json.loads(payload)
        client_id = str(body["clientid"])
        username = body.get("username")
    except (ValueError, KeyError, TypeError):
        log.info("unreadable broker client event on %r", topic)
        return
    device_id = device_of(client_id, username if isinstance(username, str) else None)
    if device_id is None:
        return
    if event == "connected":
        connections.connected(device_id)
    else:
        connections.disconnected(device_id)
