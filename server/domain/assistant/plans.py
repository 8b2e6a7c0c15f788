"""Multi-step plans for AI agents (hxtp-py's execute_plan): steps run one after another through the
same command gates as any command, each waiting for its device's ack before the next starts.

A step is `{"device_id", "action", "params"?, "rollback"?: {"action", "params"?}}` (`target_id` is
accepted for `device_id`, as hxtp-py's dispatch names it). When a step fails (refused by a gate,
failed or unacknowledged by the device) and `on_failure` is `rollback_all`, the steps already done
are undone newest first: each with its own `rollback`, else the inverse of its action when the
device's manifest has it (light_on -> light_off, lock -> unlock). `stop` leaves them as they are;
`continue` runs the remaining steps anyway. Critical actions fail a plan step: nobody is there to
confirm their dry run.

POST answers at once; the plan runs in this process and every change is stored, so any replica
reports its progress. A plan whose process stopped mid-way stays `running`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from server.domain import fields
from server.domain.assistant.effects import inverse_of
from server.domain.catalog.manifests import Manifests
from server.domain.commands.gates import CommandGates, CommandRequest, Dispatched
from server.domain.commands.history import CommandLog
from server.domain.platform.suspensions import TenantSuspensions
from server.errors import Code, HxtpError
from server.storage.database import Database
from server.storage.platform_tables import Plan
from server.storage.types import utc_now

log = logging.getLogger(__name__)

MODES = ("sequential",)
ON_FAILURE = ("rollback_all", "stop", "continue")
MAX_STEPS = 50
_DONE = frozenset({"acked", "failed", "expired"})


@dataclass(frozen=True)
class PlanView:
    id: str
    name: str
    status: str
    execution_mode: str
    on_failure: str
    steps: list[dict[str, Any]]
    created_at: Any


def _step(index: int, raw: Any) -> dict[str, Any]:
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise fields.bad(where, "must be an object")
    device_id = raw.get("device_id") or raw.get("target_id")
    if not isinstance(device_id, str) or not device_id:
        raise fields.bad(f"{where}.device_id", "is required")
    action = raw.get("action")
    if not isinstance(action, str) or not action:
        raise fields.bad(f"{where}.action", "is required")
    params = raw.get("params") or {}
    rollback = raw.get("rollback")
    if not isinstance(params, dict) or (rollback is not None and not isinstance(rollback, dict)):
        raise fields.bad(where, "params and rollback must be objects")
    if rollback is not None and not isinstance(rollback.get("action"), str):
        raise fields.bad(f"{where}.rollback.action", "is required")
    return {
        "index": index,
        "device_id": device_id,
        "action": action,
        "params": params,
        "status": "pending",
        "command_id": None,
        "error": None,
        **({"rollback_request": rollback} if rollback else {}),
    }


class Plans:
    def __init__(
        self,
        database: Database,
        gates: CommandGates,
        log: CommandLog,
        manifests: Manifests,
        suspensions: TenantSuspensions,
        poll_seconds: float = 0.1,
    ) -> None:
        self._db = database
        self._gates = gates
        self._log = log
        self._manifests = manifests
        self._suspensions = suspensions
        self._poll = poll_seconds
        self._running: set[asyncio.Task[None]] = set()

    async def start(
        self, tenant_id: str, user_id: str, name: str, steps: list[Any], mode: str, on_failure: str
    ) -> str:
        mode, on_failure = (mode or "sequential").strip(), (on_failure or "rollback_all").strip()
        if mode not in MODES:
            raise fields.bad("execution_mode", f"must be one of {', '.join(MODES)}")
        if on_failure not in ON_FAILURE:
            raise fields.bad("on_failure", f"must be one of {', '.join(ON_FAILURE)}")
        if not steps or len(steps) > MAX_STEPS:
            raise fields.bad("steps", f"must hold 1 to {MAX_STEPS} steps")
        parsed = [_step(i, raw) for i, raw in enumerate(steps)]
        row = Plan(
            tenant_id=tenant_id,
            user_id=user_id,
            name=fields.text("name", name, 200, required=False),
            execution_mode=mode,
            on_failure=on_failure,
            steps_json=json.dumps(parsed),
        )
        async with self._db.session() as session:
            session.add(row)
            await session.commit()
        task = asyncio.create_task(self._guarded(row.id, tenant_id, user_id, parsed, on_failure))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return row.id

    async def get(self, tenant_id: str, plan_id: str) -> PlanView:
        async with self._db.session() as session:
            row = await session.get(Plan, plan_id) if len(plan_id) <= 36 else None
        if row is None or row.tenant_id != tenant_id:
            raise HxtpError(Code.NOT_FOUND, "Plan not found", field="plan_id")
        steps = json.loads(row.steps_json)
        for step in steps:
            step.pop("rollback_request", None)
        return PlanView(
            row.id, row.name, row.status, row.execution_mode, row.on_failure, steps, row.created_at
        )

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    # ------------------------------------------------------------------ running

    async def _guarded(
        self, plan_id: str, tenant_id: str, user_id: str, steps: list[dict[str, Any]], on_failure: str
    ) -> None:
        try:
            await self._run(plan_id, tenant_id, user_id, steps, on_failure)
        except asyncio.CancelledError:
            raise
        except Exception:  # a plan nobody awaits must still end in a state its reader can see
            log.exception("plan %s stopped by an unexpected error", plan_id)
            await self._save(plan_id, "failed", steps)

    async def _run(
        self, plan_id: str, tenant_id: str, user_id: str, steps: list[dict[str, Any]], on_failure: str
    ) -> None:
        await self._save(plan_id, "running", steps)
        failed = False
        for step in steps:
            if failed and on_failure != "continue":
                step["status"] = "skipped"
                continue
            step["status"] = "running"
            await self._save(plan_id, "running", steps)
            ok, command_id, error = await self._command(
                tenant_id, user_id, step["device_id"], step["action"], step["params"]
            )
            step.update(status="succeeded" if ok else "failed", command_id=command_id, error=error)
            failed = failed or not ok
            await self._save(plan_id, "running", steps)
        status = "failed" if failed else "succeeded"
        if failed and on_failure == "rollback_all":
            status = await self._roll_back(tenant_id, user_id, steps)
        await self._save(plan_id, status, steps)

    async def _roll_back(self, tenant_id: str, user_id: str, steps: list[dict[str, Any]]) -> str:
        all_undone = True
        for step in reversed([s for s in steps if s["status"] == "succeeded"]):
            undo = await self._undo_of(tenant_id, step)
            if undo is None:
                step["rollback"] = {"status": "unavailable", "error": f"no inverse of {step['action']}"}
                all_undone = False
                continue
            action, params = undo
            ok, command_id, error = await self._command(tenant_id, user_id, step["device_id"], action, params)
            step["rollback"] = {
                "action": action,
                "command_id": command_id,
                "status": "acked" if ok else "failed",
            }
            if ok:
                step["status"] = "rolled_back"
            else:
                step["rollback"]["error"] = error
                all_undone = False
        return "rolled_back" if all_undone else "failed"

    async def _undo_of(self, tenant_id: str, step: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        explicit = step.get("rollback_request")
        if explicit:
            return str(explicit["action"]), dict(explicit.get("params") or {})
        inverse = inverse_of(step["action"])
        if inverse is None:
            return None
        try:
            actions = await self._manifests.compiled(tenant_id, step["device_id"])
        except HxtpError:
            return None
        return (inverse, {}) if inverse in actions else None

    async def _command(
        self, tenant_id: str, user_id: str, device_id: str, action: str, params: dict[str, Any]
    ) -> tuple[bool, str | None, str | None]:
        """(acked, command id, error): through the gates, then waits for the device's answer."""
        try:
            # A plan outlives its request: a tenant suspended meanwhile sends nothing more.
            await self._suspensions.refuse_if_suspended(tenant_id)
            outcome = await self._gates.execute(
                CommandRequest(tenant_id, user_id, device_id, action, params), confirmable=False
            )
        except HxtpError as error:
            return False, None, error.reason or error.spec.message
        assert isinstance(outcome, Dispatched)  # confirmable=False never answers a dry run
        while True:
            command = await self._log.get(tenant_id, outcome.command_id)
            if command.status in _DONE:
                break
            await asyncio.sleep(self._poll)
        if command.status == "acked":
            return True, command.id, None
        reason = command.error or (
            "no ack from the device in time" if command.status == "expired" else "failed"
        )
        return False, command.id, reason

    async def _save(self, plan_id: str, status: str, steps: list[dict[str, Any]]) -> None:
        async with self._db.session() as session:
            row = await session.get(Plan, plan_id)
            if row is None:
                return
            row.status, row.steps_json, row.updated_at = status, json.dumps(steps), utc_now()
            session.add(row)
            await session.commit()
