"""Dry run and confirmation (rest-contract.md §4.3): the tokens' rules in this process, and the 409 and
confirm shapes as the unmodified CLIs drive them over REST."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.domain.commands.gates import Dispatched, DryRunAnswer
from server.errors import HxtpError
from tests.commands.conftest import Fleet, in_process
from tests.commands.domain import Commands, status_and_code


async def test_critical_action_without_confirmation_is_409_with_the_token(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("lock")
    response = await fleet.post(f"/api/v1/device/{device.device_id}/command", {"action": "lock"})
    assert response.status_code == 409
    body = response.json()
    assert body["status"] == "dry_run_required" and body["code"] == "DRY_RUN_REQUIRED"
    assert body["reason"] == "Critical action requires confirmation"
    token = body["dry_run_token"]
    assert isinstance(token, str) and token in body["error"] and body["expires_at"].endswith("Z")
    history = await fleet.http.get(f"/api/v1/device/{device.device_id}/commands", headers=fleet.headers())
    assert history.json()["commands"] == []  # nothing dispatched

    # GOCLI / JSCLI / PYSDK confirm: plural path, body {token}
    confirmed = await fleet.post(f"/api/v1/devices/{device.device_id}/command/confirm", {"token": token})
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["success"] is True and confirmed.json()["status"] == "dispatched"
    envelope = device.accept_command((await peer.next_message())[1])
    assert envelope["action"] == "lock" and envelope["message_id"] == confirmed.json()["message_id"]

    reused = await fleet.post(f"/api/v1/device/{device.device_id}/command/confirm", {"dry_run_token": token})
    assert (reused.status_code, reused.json()["error"]) == (400, "DRY_RUN_TOKEN_INVALID")


async def test_an_explicit_dry_run_is_2xx_over_rest_and_performs_nothing(fleet: Fleet) -> None:
    device = (await fleet.register("light"))["device_id"]
    body = {"action": "light_brightness", "params": {"brightness": "40"}, "dry_run": True}
    response = await fleet.post(f"/api/v1/devices/{device}/command", body)
    assert 200 <= response.status_code < 300
    answer = response.json()
    assert answer["status"] == "dry_run_required" and answer["performed"] is False
    assert isinstance(answer["dry_run_token"], str) and answer["reason"]


async def test_explicit_dry_run_answers_2xx_and_dispatches_nothing(commands: Commands) -> None:
    device, peer = await commands.device_on_mqtt("light")
    answer = await commands.execute(device.device_id, "light_brightness", {"brightness": "40"}, dry_run=True)
    assert isinstance(answer, DryRunAnswer)
    assert isinstance(answer.token, str) and answer.token and answer.reason
    assert answer.expires_at.endswith("Z")
    assert await commands.history(device.device_id) == []
    confirmed = await commands.confirm(device.device_id, answer.token)
    envelope = device.accept_command((await peer.next_message())[1])
    assert envelope["action"] == "light_brightness"  # exactly the approved command, params included
    record = await commands.app.command_log.get(commands.tenant_id, confirmed.command_id)
    assert record.params == {"brightness": 40} and envelope["message_id"] == confirmed.message_id


async def test_token_is_bound_to_device_user_and_tenant(commands: Commands) -> None:
    lock = (await commands.register("lock")).device_id
    other = (await commands.register("lock")).device_id
    token = await commands.confirmation_token(lock, "lock")
    wrong_device = await commands.refused_confirmation(other, token)
    assert status_and_code(wrong_device) == (400, "DRY_RUN_TOKEN_INVALID")
    wrong_user = await commands.refused_confirmation(lock, token, user_id="user-2")
    assert status_and_code(wrong_user) == (400, "DRY_RUN_TOKEN_INVALID")
    stranger = Commands(commands.app)  # another tenant: the device does not exist for it
    foreign = await stranger.refused_confirmation(lock, token)
    assert status_and_code(foreign)[0] == 404
    # None of the refused attempts consumed it: the rightful caller still can. No device listens on
    # MQTT here, but the broker takes the message, so it is dispatched.
    rightful = await commands.confirm(lock, token)
    assert isinstance(rightful, Dispatched) and rightful.command_id


async def test_concurrent_confirmations_dispatch_once(commands: Commands) -> None:
    device, peer = await commands.device_on_mqtt("lock")
    token = await commands.confirmation_token(device.device_id, "unlock")
    answers = await asyncio.gather(
        *(commands.confirm(device.device_id, token) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(a, Dispatched) for a in answers) == 1
    refusals = [a for a in answers if not isinstance(a, Dispatched)]
    assert all(
        isinstance(a, HxtpError) and status_and_code(a) == (400, "DRY_RUN_TOKEN_INVALID") for a in refusals
    )
    assert len(refusals) == 4
    device.accept_command((await peer.next_message())[1])
    with pytest.raises(TimeoutError):  # and the device received it exactly once
        await peer.next_message(within=0.5)


async def test_tokens_expire(tmp_path: Path) -> None:
    async with in_process(tmp_path, HXTP_DRY_RUN_TTL_CRITICAL="1") as commands:
        lock = (await commands.register("lock")).device_id
        token = await commands.confirmation_token(lock, "lock")
        await asyncio.sleep(1.3)
        late = await commands.refused_confirmation(lock, token)
        assert status_and_code(late) == (400, "DRY_RUN_TOKEN_INVALID")


async def test_only_dispatched_critical_commands_count_and_a_429_keeps_the_token(
    tmp_path: Path, parts: dict[str, str]
) -> None:
    async with in_process(tmp_path, HXTP_CRITICAL_COMMANDS_PER_HOUR="1", **parts) as commands:
        device, peer = await commands.device_on_mqtt("lock")
        for _ in range(3):  # explicit dry runs and unconfirmed attempts send nothing, so count nothing
            explicit = await commands.execute(device.device_id, "lock", dry_run=True)
            assert isinstance(explicit, DryRunAnswer)
            await commands.confirmation_token(device.device_id, "unlock")
        first = await commands.confirmation_token(device.device_id, "lock")
        await commands.confirm(device.device_id, first)  # the one critical command this hour
        device.accept_command((await peer.next_message())[1])

        second = await commands.confirmation_token(device.device_id, "unlock")
        for _ in range(2):  # refused by the limit, and still the same usable token afterwards
            limited = await commands.refused_confirmation(device.device_id, second)
            assert status_and_code(limited) == (429, "RATE_LIMIT_EXCEEDED")
            assert limited.fields["retry_after_seconds"] >= 1
        wrong_user = await commands.refused_confirmation(device.device_id, second, user_id="user-2")
        assert status_and_code(wrong_user) == (400, "DRY_RUN_TOKEN_INVALID")  # still bound to its caller
        assert [c.action for c in await commands.history(device.device_id)] == ["lock"]


async def test_a_restored_token_still_expires_on_time(tmp_path: Path) -> None:
    async with in_process(
        tmp_path, HXTP_CRITICAL_COMMANDS_PER_HOUR="0", HXTP_DRY_RUN_TTL_CRITICAL="1"
    ) as commands:
        lock = (await commands.register("lock")).device_id
        token = await commands.confirmation_token(lock, "lock")
        limited = await commands.refused_confirmation(lock, token)
        assert status_and_code(limited) == (429, "RATE_LIMIT_EXCEEDED")
        await asyncio.sleep(1.3)
        late = await commands.refused_confirmation(lock, token)
        assert status_and_code(late) == (400, "DRY_RUN_TOKEN_INVALID")
