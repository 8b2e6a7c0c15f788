"""Dry run and confirmation as the unmodified CLIs drive them (rest-contract.md §4.3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.domain.identity.principal import Role
from tests.commands.conftest import Fleet, _fleet


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


async def test_explicit_dry_run_answers_2xx_and_dispatches_nothing(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    body = {"action": "light_brightness", "params": {"brightness": "40"}, "dry_run": True}
    response = await fleet.post(f"/api/v1/devices/{device.device_id}/command", body)
    assert 200 <= response.status_code < 300
    answer = response.json()
    assert answer["status"] == "dry_run_required" and answer["performed"] is False
    assert isinstance(answer["dry_run_token"], str) and answer["reason"]
    history = await fleet.http.get(f"/api/v1/device/{device.device_id}/commands", headers=fleet.headers())
    assert history.json()["commands"] == []
    confirmed = await fleet.post(
        f"/api/v1/devices/{device.device_id}/command/confirm", {"token": answer["dry_run_token"]}
    )
    assert confirmed.status_code == 202
    envelope = device.accept_command((await peer.next_message())[1])
    assert envelope["action"] == "light_brightness"  # exactly the approved command, params included
    assert (
        '"brightness":40'
        in (
            await fleet.http.get(
                f"/api/v1/commands/{confirmed.json()['command_id']}", headers=fleet.headers()
            )
        ).text
    )


async def test_token_is_bound_to_device_user_and_tenant(fleet: Fleet) -> None:
    lock = (await fleet.register("lock"))["device_id"]
    other = (await fleet.register("lock"))["device_id"]
    token = (await fleet.post(f"/api/v1/device/{lock}/command", {"action": "lock"})).json()["dry_run_token"]
    wrong_device = await fleet.post(f"/api/v1/device/{other}/command/confirm", {"token": token})
    assert wrong_device.json()["error"] == "DRY_RUN_TOKEN_INVALID"
    wrong_user = await fleet.post(
        f"/api/v1/device/{lock}/command/confirm",
        {"token": token},
        **fleet.headers(Role.ADMIN, user_id="user-2"),
    )
    assert wrong_user.json()["error"] == "DRY_RUN_TOKEN_INVALID"
    stranger = Fleet(fleet.app, fleet.http)  # another tenant: the device does not exist for it
    foreign = await stranger.post(f"/api/v1/device/{lock}/command/confirm", {"token": token})
    assert foreign.status_code == 404
    # None of the refused attempts consumed it: the rightful caller still can. No device listens on
    # MQTT here, but the broker takes the message, so it is dispatched.
    rightful = await fleet.post(f"/api/v1/device/{lock}/command/confirm", {"token": token})
    assert rightful.status_code == 202, rightful.text


async def test_concurrent_confirmations_dispatch_once(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("lock")
    token = (await fleet.post(f"/api/v1/device/{device.device_id}/command", {"action": "unlock"})).json()[
        "dry_run_token"
    ]
    url = f"/api/v1/device/{device.device_id}/command/confirm"
    answers = await asyncio.gather(*(fleet.post(url, {"token": token}) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [202, 400, 400, 400, 400]
    device.accept_command((await peer.next_message())[1])
    with pytest.raises(TimeoutError):  # and the device received it exactly once
        await peer.next_message(within=0.5)


async def test_tokens_expire(tmp_path: Path) -> None:
    async for fleet in _fleet(tmp_path, HXTP_DRY_RUN_TTL_CRITICAL="1"):
        lock = (await fleet.register("lock"))["device_id"]
        token = (await fleet.post(f"/api/v1/device/{lock}/command", {"action": "lock"})).json()[
            "dry_run_token"
        ]
        await asyncio.sleep(1.3)
        late = await fleet.post(f"/api/v1/device/{lock}/command/confirm", {"token": token})
        assert (late.status_code, late.json()["error"]) == (400, "DRY_RUN_TOKEN_INVALID")


async def test_only_dispatched_critical_commands_count_and_a_429_keeps_the_token(
    tmp_path: Path, parts: dict[str, str]
) -> None:
    async for fleet in _fleet(tmp_path, HXTP_CRITICAL_COMMANDS_PER_HOUR="1", **parts):
        device, peer = await fleet.device_on_mqtt("lock")
        url = f"/api/v1/devices/{device.device_id}/command"
        for _ in range(3):  # explicit dry runs and unconfirmed attempts send nothing, so count nothing
            explicit = await fleet.post(url, {"action": "lock", "dry_run": True})
            assert explicit.status_code == 202 and explicit.json()["performed"] is False
            assert (await fleet.post(url, {"action": "unlock"})).status_code == 409
        first = (await fleet.post(url, {"action": "lock"})).json()["dry_run_token"]
        confirmed = await fleet.post(f"{url}/confirm", {"token": first})
        assert confirmed.status_code == 202, confirmed.text  # the one critical command this hour
        device.accept_command((await peer.next_message())[1])

        second = (await fleet.post(url, {"action": "unlock"})).json()["dry_run_token"]
        for _ in range(2):  # refused by the limit, and still the same usable token afterwards
            limited = await fleet.post(f"{url}/confirm", {"token": second})
            assert (limited.status_code, limited.json()["error"]) == (429, "RATE_LIMIT_EXCEEDED")
            assert int(limited.headers["retry-after"]) >= 1
        wrong_user = await fleet.post(
            f"{url}/confirm", {"token": second}, **fleet.headers(Role.ADMIN, user_id="user-2")
        )
        assert wrong_user.json()["error"] == "DRY_RUN_TOKEN_INVALID"  # still bound to its caller
        history = await fleet.http.get(f"/api/v1/device/{device.device_id}/commands", headers=fleet.headers())
        assert [c["action"] for c in history.json()["commands"]] == ["lock"]


async def test_a_restored_token_still_expires_on_time(tmp_path: Path) -> None:
    async for fleet in _fleet(tmp_path, HXTP_CRITICAL_COMMANDS_PER_HOUR="0", HXTP_DRY_RUN_TTL_CRITICAL="1"):
        lock = (await fleet.register("lock"))["device_id"]
        url = f"/api/v1/device/{lock}/command"
        token = (await fleet.post(url, {"action": "lock"})).json()["dry_run_token"]
        assert (await fleet.post(f"{url}/confirm", {"token": token})).status_code == 429
        await asyncio.sleep(1.3)
        late = await fleet.post(f"{url}/confirm", {"token": token})
        assert (late.status_code, late.json()["error"]) == (400, "DRY_RUN_TOKEN_INVALID")
