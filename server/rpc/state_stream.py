"""StateStreamService: the tenant's live events as a server stream (the gateway's /ws/state).

The chain has authenticated the caller and checked its tenant before ``StreamState`` runs. Each call
holds one subscription on the event bus; its bounded queue is what keeps a slow WebSocket from holding
up anyone else (see server.domain.events). The same event object reaches every subscriber, so its
proto message is built once and shared, not once per client.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import Counter, Gauge

from hxtp.cloud.v1 import state_pb2
from server.domain.events import Event, EventBus
from server.errors import Code, HxtpError
from server.rpc import call_context

EVENTS_DROPPED = Counter(
    "hxtp_ws_events_dropped", "Live events dropped because a stream client fell too far behind"
)
CLIENTS = Gauge("hxtp_ws_clients", "Live state stream clients connected to this replica")

# Recently rendered events kept by identity. It holds strong references, so an id() cannot be
# reused by another object while its entry lives.
_RENDERED_KEEP = 256


class _Renderer:
    def __init__(self) -> None:
        self._recent: collections.OrderedDict[int, tuple[Event, state_pb2.StreamStateResponse]] = (
            collections.OrderedDict()
        )

    def __call__(self, event: Event) -> state_pb2.StreamStateResponse:
        hit = self._recent.get(id(event))
        if hit is not None and hit[0] is event:
            return hit[1]
        message = state_pb2.StreamStateResponse(
            type=event.type, device_id=event.device_id, timestamp=event.timestamp
        )
        if event.state is not None:
            message.state.update(event.state)
        if event.data is not None:
            message.data.update(event.data)
        if event.command_id is not None:
            message.command_id = event.command_id
        if event.status is not None:
            message.status = event.status
        if event.error is not None:
            message.error = event.error
        self._recent[id(event)] = (event, message)
        if len(self._recent) > _RENDERED_KEEP:
            self._recent.popitem(last=False)
        return message


class StateStreamServicer:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._render = _Renderer()

    async def StreamState(
        self, request: state_pb2.StreamStateRequest, context: Any
    ) -> AsyncIterator[state_pb2.StreamStateResponse]:
        tenant_id = call_context.principal().tenant_id
        if tenant_id is None:  # the policy requires a tenant; this keeps the type honest
            raise HxtpError(Code.TENANT_REQUIRED)
        async with self._bus.subscribe(tenant_id, on_drop=EVENTS_DROPPED.inc) as subscription:
            CLIENTS.inc()
            try:
                async for event in subscription:
                    yield self._render(event)
            finally:
                CLIENTS.dec()
