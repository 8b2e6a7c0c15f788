"""CommandService: single commands with dry-run and confirm, fan-outs, history (rules: domain.commands)."""

from __future__ import annotations

from typing import Any

from hxtp.cloud.v1 import command_pb2
from server.domain.commands.fanout import DeviceResult, FanOut
from server.domain.commands.gates import CommandGates, CommandRequest, DryRunAnswer
from server.domain.commands.history import CommandLog, CommandView
from server.rpc import call_context
from server.rpc.convert import dict_to_struct, struct_to_dict, tenant, when


def _caller() -> tuple[str, str]:
    return tenant(), call_context.principal().user_id


def _params(request: Any) -> dict[str, Any]:
    # An absent or null `params` is {} (GOSDK sends null; the CLI login probe does).
    return struct_to_dict(request.params) if request.HasField("params") else {}


def _results(results: list[DeviceResult]) -> list[command_pb2.DeviceCommandResult]:
    return [
        command_pb2.DeviceCommandResult(
            device_id=r.device_id,
            success=r.success,
            command_id=r.command_id,
            message_id=r.message_id,
            error=r.error,
        )
        for r in results
    ]


def command_record(view: CommandView) -> command_pb2.CommandRecord:
    created = when(view.created_at)
    return command_pb2.CommandRecord(
        id=view.id,
        device_id=view.device_id,
        action=view.action,
        params=dict_to_struct(view.params),
        status=view.status,
        timestamp=created,
        created_at=created,
        message_id=view.message_id,
        error=view.error,
    )


class CommandServicer:
    def __init__(self, gates: CommandGates, fanout: FanOut, log: CommandLog) -> None:
        self._gates = gates
        self._fanout = fanout
        self._log = log

    async def ExecuteCommand(
        self, request: command_pb2.ExecuteCommandRequest, context: Any
    ) -> command_pb2.ExecuteCommandResponse:
        tenant_id, user_id = _caller()
        outcome = await self._gates.execute(
            CommandRequest(
                tenant_id, user_id, request.device_id, request.action, _params(request), request.dry_run
            ),
            quota=call_context.quota(),
        )
        if isinstance(outcome, DryRunAnswer):
            return command_pb2.ExecuteCommandResponse(
                success=True,
                status="dry_run_required",
                dry_run_token=outcome.token,
                reason=outcome.reason,
                performed=False,
                expires_at=outcome.expires_at,
            )
        return command_pb2.ExecuteCommandResponse(
            success=True, command_id=outcome.command_id, message_id=outcome.message_id, status="dispatched"
        )

    async def ConfirmCommand(
        self, request: command_pb2.ConfirmCommandRequest, context: Any
    ) -> command_pb2.ConfirmCommandResponse:
        tenant_id, user_id = _caller()
        outcome = await self._gates.confirm(
            tenant_id, user_id, request.device_id, request.dry_run_token, call_context.quota()
        )
        return command_pb2.ConfirmCommandResponse(
            success=True, command_id=outcome.command_id, message_id=outcome.message_id, status="dispatched"
        )

    async def ExecuteBatchCommand(
        self, request: command_pb2.ExecuteBatchCommandRequest, context: Any
    ) -> command_pb2.ExecuteBatchCommandResponse:
        tenant_id, user_id = _caller()
        results = await self._fanout.to_devices(
            tenant_id, user_id, list(request.device_ids), request.action, _params(request)
        )
        return command_pb2.ExecuteBatchCommandResponse(results=_results(results))

    async def ExecuteRoomCommand(
        self, request: command_pb2.ExecuteRoomCommandRequest, context: Any
    ) -> command_pb2.ExecuteRoomCommandResponse:
        tenant_id, user_id = _caller()
        capability = request.capability if request.HasField("capability") else None
        results = await self._fanout.to_room(
            tenant_id, user_id, request.room_id, request.action, _params(request), capability
        )
        return command_pb2.ExecuteRoomCommandResponse(results=_results(results))

    async def ExecuteGroupCommand(
        self, request: command_pb2.ExecuteGroupCommandRequest, context: Any
    ) -> command_pb2.ExecuteGroupCommandResponse:
        tenant_id, user_id = _caller()
        capability = request.capability if request.HasField("capability") else None
        results = await self._fanout.to_group(
            tenant_id, user_id, request.slug, request.action, _params(request), capability
        )
        return command_pb2.ExecuteGroupCommandResponse(results=_results(results))

    async def ListDeviceCommands(
        self, request: command_pb2.ListDeviceCommandsRequest, context: Any
    ) -> command_pb2.ListDeviceCommandsResponse:
        tenant_id, _ = _caller()
        views = await self._log.history(tenant_id, request.device_id, request.limit, request.offset)
        return command_pb2.ListDeviceCommandsResponse(commands=[command_record(v) for v in views])

    async def GetCommand(
        self, request: command_pb2.GetCommandRequest, context: Any
    ) -> command_pb2.CommandRecord:
        tenant_id, _ = _caller()
        return command_record(await self._log.get(tenant_id, request.command_id))
