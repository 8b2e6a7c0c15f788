"""The command gates, in the contract's order (rest-contract.md §4.2):

device in the caller's tenant (404) -> [role: the chain] -> body (`params: null` is {}) -> revoked ->
RESTRICTED_ACTION -> MANIFEST_NOT_FOUND -> ACTION_NOT_IN_MANIFEST -> PARAMS_INVALID ->
RATE_LIMIT_EXCEEDED -> dry-run gate -> dispatch (202). Every rejection, dry run, confirmation and
dispatch is written to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ext
from server.domain.catalog.manifests import CompiledAction, Manifests
from server.domain.commands.dry_run import DryRunTokens, PendingCommand
from server.domain.commands.history import CommandLog, NewCommand, StatusChange
from server.domain.commands.limits import DeviceCommandLimiter
from server.domain.commands.ports import AuditTrail, Dispatcher, EventBus
from server.domain.fleet.devices import Devices
from server.domain.identity.quota import NO_QUOTA, Quota
from server.errors import Code, HxtpError

# Message types of the wire protocol itself: never commands a person may send.
PROTOCOL_ACTIONS = frozenset(
    {"hello", "hello_ack", "heartbeat", "ack", "cmd_ack", "state", "telemetry", "ota", "ota_status", "error"}
)


@dataclass(frozen=True)
class DryRunPolicy:
    critical_ttl_seconds: int = 60
    sensitive_ttl_seconds: int = 30
    confirm_sensitive: bool = False  # SEED asks only critical actions for confirmation

    def ttl_for(self, safety_class: str) -> int:
        return self.critical_ttl_seconds if safety_class == "critical" else self.sensitive_ttl_seconds

    def needs_confirmation(self, safety_class: str) -> bool:
        return safety_class == "critical" or (safety_class == "sensitive" and self.confirm_sensitive)


@dataclass(frozen=True)
class CommandRequest:
    tenant_id: str
    user_id: str
    device_id: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True)
class Dispatched:
    command_id: str
    message_id: str


@dataclass(frozen=True)
class DryRunAnswer:
    token: str
    reason: str
    expires_at: str


@dataclass(frozen=True)
class Admitted:
    """A command that passed every gate up to the dry-run gate."""

    request: CommandRequest
    params: dict[str, Any]
    safety_class: str


class CommandGates:
    def __init__(
        self,
        devices: Devices,
        manifests: Manifests,
        limiter: DeviceCommandLimiter,
        tokens: DryRunTokens,
        log: CommandLog,
        dispatcher: Dispatcher,
        audit: AuditTrail,
        events: EventBus,
        policy: DryRunPolicy,
    ) -> None:
        self._devices = devices
        self._manifests = manifests
        self._limiter = limiter
        self._tokens = tokens
        self._log = log
        self._dispatcher = dispatcher
        self._audit = audit
        self._events = events
        self._policy = policy

    # ------------------------------------------------------------------ gates

    async def _admit(self, request: CommandRequest, quota: Quota) -> Admitted:
        device = await self._devices.record(request.tenant_id, request.device_id)  # 404 first
        if not request.action:
            raise HxtpError(Code.BAD_REQUEST, "action is required", field="action")
        if device.revoked:
            raise HxtpError(Code.DEVICE_REVOKED, "Device is revoked")
        if request.action in PROTOCOL_ACTIONS:
            raise HxtpError(Code.RESTRICTED_ACTION, f"{request.action} is a protocol-internal action")
        actions = await self._manifests.compiled(request.tenant_id, request.device_id)  # MANIFEST_NOT_FOUND
        compiled = actions.get(request.action)
        if compiled is None:
            raise HxtpError(Code.ACTION_NOT_IN_MANIFEST, f"{request.action} is not in the device's manifest")
        safety_class = compiled.entry.safety_class
        if safety_class == "restricted":
            raise HxtpError(Code.RESTRICTED_ACTION, f"{request.action} is restricted to people on the device")
        params = _validated(compiled, request.params)
        await quota.take()  # the tenant's request quota, at this step of the gate order
        return Admitted(request, params, safety_class)

    async def _take_device_limits(self, admitted: Admitted) -> None:
        # Only a command about to be dispatched counts against the device's limits: a dry run sends
        # nothing, and counting it would halve the critical commands a person can really send.
        request = admitted.request
        await self._limiter.take(
            request.tenant_id, request.device_id, critical=admitted.safety_class == "critical"
        )

    async def execute(
        self, request: CommandRequest, confirmable: bool = True, quota: Quota = NO_QUOTA
    ) -> Dispatched | DryRunAnswer:
        """One command through every gate; a dry run or an unconfirmed critical action gets a token.

        Fan-outs pass confirmable=False: nobody could see a token there, so none is issued. `quota`
        is the call's untaken tenant quota (fan-out members: none, the fan-out call paid).
        """
        try:
            admitted = await self._admit(request, quota)
            if request.dry_run:
                return await self._dry_run(admitted, "Dry run requested: nothing was sent")
            if self._policy.needs_confirmation(admitted.safety_class):
                if not confirmable:
                    raise HxtpError(Code.DRY_RUN_REQUIRED, "Critical action requires confirmation")
                answer = await self._dry_run(admitted, "Critical action requires confirmation")
                raise HxtpError(
                    Code.DRY_RUN_REQUIRED,
                    answer.reason,
                    status="dry_run_required",
                    dry_run_token=answer.token,
                    expires_at=answer.expires_at,
                    error=f"DRY_RUN_REQUIRED: confirm with dry_run_token {answer.token}",
                )
            await self._take_device_limits(admitted)
        except HxtpError as error:
            await self._rejected(request, error)
            raise
        return await self._dispatch(admitted)

    async def confirm(
        self, tenant_id: str, user_id: str, device_id: str, token: str, quota: Quota = NO_QUOTA
    ) -> Dispatched:
        """Dispatches exactly the command the token approved (the dry-run gate is not run again)."""
        try:
            await self._devices.get(tenant_id, device_id)
            if not token:
                raise HxtpError(Code.BAD_REQUEST, "dry_run_token is required", field="dry_run_token")
            pending, expires = await self._tokens.redeem_until(token, tenant_id, device_id, user_id)
        except HxtpError as error:
            await self._audit.append(
                "command_rejected",
                tenant_id=tenant_id,
                user_id=user_id,
                device_id=device_id,
                result=error.spec.name,
                details={"stage": "confirm", "reason": error.reason},
            )
            raise
        request = CommandRequest(tenant_id, user_id, device_id, pending.action, pending.params)
        admitted = await self._admit(request, quota)  # the device may have been revoked meanwhile
        try:
            await self._take_device_limits(admitted)
        except HxtpError as error:
            if error.code == Code.RATE_LIMIT_EXCEEDED:
                await self._tokens.restore(token, pending, expires)  # usable again until it expires
            await self._rejected(request, error)
            raise
        await self._audit.append(
            "command_confirmed",
            tenant_id=tenant_id,
            user_id=user_id,
            device_id=device_id,
            action=pending.action,
        )
        return await self._dispatch(admitted)

    # ------------------------------------------------------------------ steps

    async def _dry_run(self, admitted: Admitted, reason: str) -> DryRunAnswer:
        request = admitted.request
        pending = PendingCommand(
            request.tenant_id, request.device_id, request.user_id, request.action, admitted.params
        )
        ticket = await self._tokens.issue(pending, self._policy.ttl_for(admitted.safety_class))
        await self._log.writer.submit(
            self._entry("dry_run_completed", request, details={"safety_class": admitted.safety_class})
        )
        return DryRunAnswer(ticket.token, reason, ticket.expires_at)

    async def _dispatch(self, admitted: Admitted) -> Dispatched:
        """Commit, then publish: the row (with the message id it is published under) and its audit
        entry are durable before the device can see the command, so whatever a device receives, and
        every 202, has both; a crash in between leaves a `pending` row that the restart expires.
        `dispatched` joins the next commit without being waited for: the 202 promises the row and
        its audit entry, and a row a crash leaves `pending` is resolved by the restart all the same."""
        request = admitted.request
        if not self._dispatcher.ready():
            error = HxtpError(Code.GATEWAY_ERROR, "The MQTT broker is not reachable")
            await self._rejected(request, error)
            raise error
        command = NewCommand(
            request.tenant_id, request.device_id, request.user_id, request.action, admitted.params
        )
        executed = {"command_id": command.id, "message_id": command.message_id}
        await self._log.writer.submit(command, self._entry("command_executed", request, details=executed))
        try:
            await self._dispatcher.dispatch(
                request.device_id, command.message_id, request.action, admitted.params
            )
        except HxtpError as error:
            # Recorded as failed, never silently lost.
            failed = StatusChange(command.id, "failed", error.reason or error.spec.message)
            await self._log.writer.submit(failed, *self._rejection(request, error))
            raise
        self._log.writer.submit_later(StatusChange(command.id, "dispatched"))
        await self._events.publish_command_status(
            request.tenant_id, request.device_id, command.id, "dispatched"
        )
        return Dispatched(command.id, command.message_id)

    def _rejection(self, request: CommandRequest, error: HxtpError) -> list[Any]:
        if error.code == Code.NOT_FOUND:
            return []  # unknown device: nothing of the tenant's to audit (and the CLI login probe lands here)
        return [
            self._entry("command_rejected", request, result=error.spec.name, details={"reason": error.reason})
        ]

    def _entry(self, event_type: str, request: CommandRequest, **fields: Any) -> Any:
        return self._audit.entry(
            event_type,
            tenant_id=request.tenant_id,
            user_id=request.user_id,
            device_id=request.device_id,
            action=request.action,
            **fields,
        )

    async def _rejected(self, request: CommandRequest, error: HxtpError) -> None:
        entries = self._rejection(request, error)
        if entries:
            await self._log.writer.submit(*entries)


def _validated(compiled: CompiledAction, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(compiled.validate(params))
    except ext.ParamsInvalid as error:
        raise HxtpError(Code.PARAMS_INVALID, str(error), param=error.param, rule=error.rule) from None
