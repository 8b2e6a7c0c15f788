"""Observations in, proposals out: each observation is stored, the tenant's rules are evaluated, and
the first rule that fires becomes a pending proposal. Approving one runs the command gates for its
targets (exactly as a REST fan-out would)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from server.domain.catalog.capabilities import category_for_type
from server.domain.cognition.rules import DEFAULT_RULES, Rule, first_match, parse_rules
from server.domain.commands.fanout import DeviceResult, FanOut
from server.domain.fleet.devices import MAX_PAGE, Devices
from server.errors import Code, HxtpError
from server.storage.cognition_tables import Observation, Proposal, RuleSet
from server.storage.database import Database
from server.storage.types import utc_now

_JSON = {"separators": (",", ":"), "sort_keys": True}
MAX_PROPOSALS = 500


@dataclass(frozen=True)
class ProposalView:
    id: str
    device_id: str
    context: str
    observation: dict[str, Any]
    action: str
    params: dict[str, Any]
    targets: list[str]
    status: str
    rationale: str
    created_at: datetime
    decided_at: datetime | None
    command_id: str | None


def _view(row: Proposal) -> ProposalView:
    return ProposalView(
        row.id,
        row.device_id,
        row.context,
        json.loads(row.observation_json),
        row.action,
        json.loads(row.params_json),
        json.loads(row.targets_json),
        row.status,
        row.rationale,
        row.created_at,
        row.decided_at,
        row.command_id,
    )


class Cognition:
    def __init__(self, database: Database, devices: Devices, fanout: FanOut) -> None:
        self._db = database
        self._devices = devices
        self._fanout = fanout

    # ------------------------------------------------------------------ rules

    async def rules(self, tenant_id: str) -> tuple[list[dict[str, Any]], bool]:
        """The tenant's rules as written, and whether they are the built-in defaults."""
        async with self._db.session() as session:
            row = await session.get(RuleSet, tenant_id)
        if row is None:
            return DEFAULT_RULES, True
        return list(json.loads(row.rules_json)), False

    async def set_rules(self, tenant_id: str, raw_rules: list[Any]) -> int:
        parse_rules(raw_rules)
        async with self._db.session() as session:
            row = await session.get(RuleSet, tenant_id) or RuleSet(tenant_id=tenant_id)
            row.rules_json, row.updated_at = json.dumps(raw_rules, **_JSON), utc_now()  # type: ignore[arg-type]
            session.add(row)
            await session.commit()
        return len(raw_rules)

    # ------------------------------------------------------------------ observations

    async def _targets(self, tenant_id: str, observer: str, rule: Rule) -> list[str]:
        if rule.target == "device":
            return [observer]
        device = await self._devices.get(tenant_id, observer)
        if device.room_id is None:
            return []
        devices, _ = await self._devices.page(tenant_id, None, device.room_id, MAX_PAGE, 0)
        return [
            d.id
            for d in devices
            if not d.revoked and (rule.category is None or category_for_type(d.device_type) == rule.category)
        ]

    async def observe(self, tenant_id: str, device_id: str, data: dict[str, Any], context: str) -> str | None:
        """Stores the observation; returns the id of the proposal a rule made of it, if any."""
        await self._devices.get(tenant_id, device_id)  # another tenant's device is unknown here
        raw_rules, _ = await self.rules(tenant_id)
        rule = first_match(parse_rules(raw_rules), data, context)
        targets = await self._targets(tenant_id, device_id, rule) if rule is not None else []
        observation = Observation(
            tenant_id=tenant_id,
            device_id=device_id,
            context=context,
            data_json=json.dumps(data, **_JSON),  # type: ignore[arg-type]
        )
        proposal = None
        if rule is not None and targets:
            proposal = Proposal(
                tenant_id=tenant_id,
                observation_id=observation.id,
                device_id=device_id,
                context=context,
                observation_json=observation.data_json,
                action=rule.action,
                params_json=json.dumps(rule.params, **_JSON),  # type: ignore[arg-type]
                targets_json=json.dumps(targets),
                rationale=f"rule '{rule.name}' matched",
            )
        async with self._db.session() as session:
            session.add(observation)
            if proposal is not None:
                session.add(proposal)
            await session.commit()
        return proposal.id if proposal is not None else None

    # ------------------------------------------------------------------ proposals

    async def proposals(
        self, tenant_id: str, status: str | None, device_id: str | None, limit: int
    ) -> list[ProposalView]:
        if limit < 0 or limit > MAX_PROPOSALS:
            raise HxtpError(Code.BAD_REQUEST, f"limit must be between 0 and {MAX_PROPOSALS}", field="limit")
        query = select(Proposal).where(Proposal.tenant_id == tenant_id)
        if status:
            query = query.where(Proposal.status == status)
        if device_id:
            query = query.where(Proposal.device_id == device_id)
        async with self._db.session() as session:
            rows = await session.exec(query.order_by(col(Proposal.created_at).desc()).limit(limit or 50))
            return [_view(row) for row in rows]

    async def approve(
        self, tenant_id: str, user_id: str, proposal_id: str
    ) -> tuple[ProposalView, list[DeviceResult]]:
        async with self._db.session() as session:
            row = await session.get(Proposal, proposal_id) if len(proposal_id) <= 36 else None
            if row is None or row.tenant_id != tenant_id:
                raise HxtpError(Code.NOT_FOUND, "Proposal not found", field="proposal_id")
            if row.status != "pending":
                raise HxtpError(Code.CONFLICT, f"Proposal is already {row.status}")
            # Claimed before dispatching, so a second approval cannot run the commands twice.
            row.status, row.decided_at = "approved", utc_now()
            session.add(row)
            await session.commit()
        results = await self._fanout.to_devices(
            tenant_id, user_id, json.loads(row.targets_json), row.action, json.loads(row.params_json)
        )
        first = next((r for r in results if r.success), None)
        if first is not None:
            async with self._db.session() as session:
                row.command_id = first.command_id
                session.add(row)
                await session.commit()
        return _view(row), results
