"""Whether the state a device reported after a command shows that command's effect.

pending: no state reported since the command (or no ack yet) and the ack window is still open;
verified / mismatch: the first state reported after the command was sent shows / does not show the
effect; timeout: the window closed without an ack or a state; failed: the device refused it;
unverifiable: the action changes nothing a device reports (ping, status).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.domain.assistant.effects import described, expected_state, shows_effect
from server.domain.commands.history import CommandLog
from server.storage.types import utc_now

LatestState = Callable[[str], Awaitable[tuple[dict[str, Any], int] | None]]


@dataclass(frozen=True)
class Verification:
    command_id: str
    device_id: str
    status: str
    expected: dict[str, Any]
    observed: dict[str, Any]
    checked_at: datetime


class StateVerifier:
    def __init__(self, log: CommandLog, latest_state: LatestState, window: timedelta) -> None:
        self._log = log
        self._latest_state = latest_state
        self._window = window

    async def verify(self, tenant_id: str, command_id: str) -> Verification:
        command = await self._log.get(tenant_id, command_id)  # another tenant's command: 404
        expected = expected_state(command.action, command.params)
        latest = await self._latest_state(command.device_id)
        sent_ms = int(command.created_at.timestamp() * 1000)
        observed = latest[0] if latest is not None and latest[1] >= sent_ms else {}
        now = utc_now()

        def answer(status: str) -> Verification:
            return Verification(command.id, command.device_id, status, described(expected), observed, now)

        if command.status == "failed":
            return answer("failed")
        if not expected:
            return answer("unverifiable")
        if observed:
            return answer("verified" if shows_effect(expected, observed) else "mismatch")
        if command.status == "expired" or now - command.created_at > self._window:
            return answer("timeout")
        return answer("pending")
