"""IntentService: POST /intent, routed through the command gates (rules in server.domain.commands.intents)."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import intent_pb2
from server.domain.commands.intents import MODE, Intent, Intents
from server.rpc import call_context
from server.rpc.convert import struct_to_dict, tenant


def _intent(request: intent_pb2.RouteIntentRequest) -> Intent:
    payload = request.payload
    device_ids = tuple(payload.device_ids) or ((payload.device_id,) if payload.device_id else ())
    return Intent(
        type=request.type,
        action=payload.action,
        params=struct_to_dict(payload.params) if payload.HasField("params") else {},
        device_ids=device_ids,
        room_id=payload.room_id,
        group=payload.group,
        capability=payload.capability if payload.HasField("capability") else None,
    )


class IntentServicer:
    def __init__(self, intents: Intents) -> None:
        self._intents = intents

    async def RouteIntent(
        self, request: intent_pb2.RouteIntentRequest, context: Any
    ) -> intent_pb2.RouteIntentResponse:
        outcome = await self._intents.route(tenant(), call_context.principal().user_id, _intent(request))
        return intent_pb2.RouteIntentResponse(
            status=outcome.status,
            mode=MODE,
            commands_executed=outcome.executed,
            commands_rejected=outcome.rejected,
            results=[
                intent_pb2.IntentCommandResult(
                    device_id=r.device_id,
                    action=request.payload.action,
                    status="dispatched" if r.success else "rejected",
                    command_id=r.command_id or "",
                    error=r.error,
                )
                for r in outcome.results
            ],
        )
