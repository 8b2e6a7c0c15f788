"""Each command gate and rejection code, in the contract's order: the gates' rules in this process, and
through REST on the running server what the RPC chain adds (role, tenant quota) and the REST shapes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from server.domain.identity.principal import Role
from tests.commands.conftest import Fleet
from tests.commands.domain import Commands, status_and_code
from tests.devicelink.conftest import eventually


async def test_unknown_device_is_404_first_for_the_cli_login_probe(fleet: Fleet) -> None:
    for body in ({"action": "status", "params": None}, {"action": "status", "params": {}, "dry_run": False}):
        response = await fleet.post("/api/v1/devices/ping/command", body, **fleet.headers(Role.VIEWER))
        assert response.status_code == 404, response.text


async def test_dispatch_reaches_the_device_signed(commands: Commands) -> None:
    device, peer = await commands.device_on_mqtt("light")
    sent = await commands.dispatch(device.device_id, "light_on")
    assert sent.command_id and sent.message_id
    topic, payload = await peer.next_message()
    assert topic == device.topic("cmd")
    envelope = device.accept_command(payload)  # signature, hash rule, sequence: as the firmware checks
    assert envelope["action"] == "light_on" and envelope["message_id"] == sent.message_id
    record = await commands.app.command_log.get(commands.tenant_id, sent.command_id)
    assert (record.status, record.message_id) == ("dispatched", sent.message_id)


async def test_cli_string_params_are_coerced(commands: Commands) -> None:
    device, peer = await commands.device_on_mqtt("light")
    await commands.dispatch(device.device_id, "light_brightness", {"brightness": "80"})
    _, payload = await peer.next_message()
    assert '"brightness":80' in payload.decode(errors="replace")


async def test_role_gate_after_the_lookup(fleet: Fleet) -> None:
    device = await fleet.register("light")
    response = await fleet.post(
        f"/api/v1/device/{device['device_id']}/command", {"action": "light_on"}, **fleet.headers(Role.VIEWER)
    )
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


async def test_rejections_in_order(commands: Commands) -> None:
    light = (await commands.register("light")).device_id

    restricted = await commands.refused(light, "hello")
    assert status_and_code(restricted) == (403, "RESTRICTED_ACTION")

    missing = await commands.refused(light, "dance")
    assert status_and_code(missing) == (403, "ACTION_NOT_IN_MANIFEST")

    invalid = await commands.refused(light, "light_brightness", {"brightness": 150})
    assert status_and_code(invalid) == (400, "PARAMS_INVALID")
    assert invalid.reason == "brightness: maximum 100" and invalid.fields["param"] == "brightness"

    no_action = await commands.refused(light, "")
    assert status_and_code(no_action) == (400, "BAD_REQUEST") and no_action.fields["field"] == "action"


async def test_revoked_device(commands: Commands) -> None:
    device = (await commands.register("light")).device_id
    await commands.app.devices.revoke(commands.tenant_id, device)
    refused = await commands.refused(device, "light_on")
    assert status_and_code(refused) == (403, "DEVICE_REVOKED") and refused.reason == "Device is revoked"


async def test_manifest_not_found(commands: Commands) -> None:
    device = (await commands.register("light")).device_id
    async with commands.app.database.session() as session:  # a device whose manifest was never stored
        await session.exec(text("DELETE FROM device_manifest WHERE device_id = :d").bindparams(d=device))  # type: ignore[call-overload]
        await session.commit()
    commands.app.manifests._compiled.clear()  # the compiled cache is per process; a fresh process has none
    refused = await commands.refused(device, "light_on")
    assert status_and_code(refused) == (404, "MANIFEST_NOT_FOUND")


@pytest.mark.integration  # its own server over HTTP
async def test_per_device_rate_limit(tmp_path: object) -> None:
    from tests.commands.conftest import _fleet

    async for fleet in _fleet(tmp_path, HXTP_DEVICE_COMMANDS_PER_MINUTE="2"):  # type: ignore[arg-type]
        device, _ = await fleet.device_on_mqtt("light")
        url = f"/api/v1/device/{device.device_id}/command"
        assert (await fleet.post(url, {"action": "light_on"})).status_code == 202
        assert (await fleet.post(url, {"action": "light_on"})).status_code == 202
        limited = await fleet.post(url, {"action": "light_on"})
        assert limited.status_code == 429 and limited.json()["error"] == "RATE_LIMIT_EXCEEDED"
        assert int(limited.headers["retry-after"]) >= 1 and limited.json()["retry_after_seconds"] >= 1


async def test_history_newest_first_and_get_command(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    ids = []
    for action in ("light_on", "light_off"):
        response = await fleet.post(f"/api/v1/device/{device.device_id}/command", {"action": action})
        ids.append(response.json()["command_id"])
        await peer.next_message()
    history = await fleet.http.get(f"/api/v1/devices/{device.device_id}/commands", headers=fleet.headers())
    commands = history.json()["commands"]
    assert [c["id"] for c in commands] == ids[::-1]
    first = commands[0]
    assert set(first) >= {
        "id",
        "device_id",
        "action",
        "params",
        "status",
        "timestamp",
        "created_at",
        "message_id",
        "error",
    }
    assert (
        first["status"] == "dispatched"
        and first["timestamp"] == first["created_at"]
        and first["params"] == {}
    )
    page = await fleet.http.get(
        f"/api/v1/devices/{device.device_id}/commands",
        params={"limit": 1, "offset": 1},
        headers=fleet.headers(),
    )
    assert [c["id"] for c in page.json()["commands"]] == [ids[0]]
    bad = await fleet.http.get(
        f"/api/v1/devices/{device.device_id}/commands", params={"offset": -1}, headers=fleet.headers()
    )
    assert bad.status_code == 400 and bad.json()["field"] == "offset"
    one = await fleet.http.get(f"/api/v1/commands/{ids[0]}", headers=fleet.headers())
    assert one.status_code == 200 and one.json()["action"] == "light_on"
    other_tenant = Fleet(fleet.app, fleet.http)
    assert (
        await fleet.http.get(f"/api/v1/commands/{ids[0]}", headers=other_tenant.headers())
    ).status_code == 404


async def test_ack_marks_the_command_acked_or_failed(commands: Commands) -> None:
    device, peer = await commands.device_on_mqtt("light")
    sent = await commands.dispatch(device.device_id, "light_on")
    _, payload = await peer.next_message()
    envelope = device.accept_command(payload)
    peer.publish(device.topic("cmd_ack"), device.ack(envelope["message_id"]))

    async def status_of(command_id: str) -> str | None:
        record = await commands.app.command_log.get(commands.tenant_id, command_id)
        return record.status if record.status != "dispatched" else None

    assert await eventually(lambda: status_of(sent.command_id)) == "acked"

    failed = await commands.dispatch(device.device_id, "light_off")
    _, payload = await peer.next_message()
    peer.publish(
        device.topic("cmd_ack"), device.ack(device.accept_command(payload)["message_id"], error="JAMMED")
    )
    assert await eventually(lambda: status_of(failed.command_id)) == "failed"
    record = await commands.app.command_log.get(commands.tenant_id, failed.command_id)
    assert record.error == "JAMMED"


async def test_audit_records_dispatch_and_rejection(commands: Commands) -> None:
    device, _ = await commands.device_on_mqtt("light")
    await commands.dispatch(device.device_id, "light_on")
    await commands.refused(device.device_id, "dance")
    rows = await commands.app.audit.entries(commands.tenant_id, limit=1000)
    kinds = [(r.event_type, r.result) for r in rows]
    assert ("command_executed", "SUCCESS") in kinds and (
        "command_rejected",
        "ACTION_NOT_IN_MANIFEST",
    ) in kinds
    assert json.loads(next(r.details for r in rows if r.event_type == "command_executed"))["message_id"]


async def test_secret_rotation_revocation_and_manifest_changes_are_audited(fleet: Fleet) -> None:
    device = (await fleet.register("light"))["device_id"]
    await fleet.post(f"/api/v1/device/{device}/rotate-secret")
    manifest = {"capabilities": [{"action": "light_on", "safetyClass": "normal"}]}
    assert (
        await fleet.http.put(f"/api/v1/devices/{device}/manifest", json=manifest, headers=fleet.headers())
    ).status_code in (200, 201)
    await fleet.post(f"/api/v1/device/{device}/revoke")
    rows = [r for r in await fleet.app.audit.entries(fleet.tenant_id, limit=1000) if r.device_id == device]
    assert [r.event_type for r in rows] == [
        "device_registered",
        "safety_key_rotation",
        "MANIFEST_UPDATE",
        "device_revoked",
    ]
    assert all(r.user_id == "user-1" and r.tenant_id == fleet.tenant_id for r in rows)
    assert (await fleet.app.audit.verify()).intact


@pytest.mark.integration  # its own server over HTTP
async def test_tenant_quota_is_taken_after_validation(tmp_path: object) -> None:
    from tests.commands.conftest import _fleet

    async for fleet in _fleet(tmp_path, HXTP_DEVICE_COMMANDS_PER_MINUTE="1000"):  # type: ignore[arg-type]
        device, _ = await fleet.device_on_mqtt("light")
        url = f"/api/v1/device/{device.device_id}/command"
        statuses = []
        for _ in range(70):  # the free tier allows 60 requests a minute, registration included
            statuses.append((await fleet.post(url, {"action": "light_on"})).status_code)
            if statuses[-1] == 429:
                break
        assert statuses[-1] == 429 and set(statuses[:-1]) == {202}
        # The contract's order: a bad request is told so, not that the tenant is over its quota.
        invalid = await fleet.post(url, {"action": "light_brightness", "params": {"brightness": 500}})
        assert (invalid.status_code, invalid.json()["error"]) == (400, "PARAMS_INVALID")
        missing = await fleet.post(url, {"action": "dance"})
        assert missing.json()["error"] == "ACTION_NOT_IN_MANIFEST"
        limited = await fleet.post(url, {"action": "light_on"})
        assert limited.status_code == 429 and "retry-after" in limited.headers
        assert "x-ratelimit-limit" in limited.headers
