"""Each command gate and rejection code, in the contract's order, through REST on the running server."""

from __future__ import annotations

import json

from server.domain.identity.principal import Role
from tests.commands.conftest import Fleet
from tests.devicelink.conftest import eventually


async def test_unknown_device_is_404_first_for_the_cli_login_probe(fleet: Fleet) -> None:
    for body in ({"action": "status", "params": None}, {"action": "status", "params": {}, "dry_run": False}):
        response = await fleet.post("/api/v1/devices/ping/command", body, **fleet.headers(Role.VIEWER))
        assert response.status_code == 404, response.text


async def test_dispatch_reaches_the_device_signed(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    response = await fleet.post(
        f"/api/v1/device/{device.device_id}/command", {"action": "light_on", "params": None}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert (
        body["success"] is True
        and body["status"] == "dispatched"
        and body["command_id"]
        and body["message_id"]
    )
    topic, payload = await peer.next_message()
    assert topic == device.topic("cmd")
    envelope = device.accept_command(payload)  # signature, hash rule, sequence: as the firmware checks
    assert envelope["action"] == "light_on" and envelope["message_id"] == body["message_id"]


async def test_cli_string_params_are_coerced(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    response = await fleet.post(
        f"/api/v1/devices/{device.device_id}/command",
        {"action": "light_brightness", "params": {"brightness": "80"}, "dry_run": False},
    )
    assert response.status_code == 202, response.text
    _, payload = await peer.next_message()
    assert '"brightness":80' in payload.decode(errors="replace")


async def test_role_gate_after_the_lookup(fleet: Fleet) -> None:
    device = await fleet.register("light")
    response = await fleet.post(
        f"/api/v1/device/{device['device_id']}/command", {"action": "light_on"}, **fleet.headers(Role.VIEWER)
    )
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"


async def test_rejections_in_order(fleet: Fleet) -> None:
    light = (await fleet.register("light"))["device_id"]
    url = f"/api/v1/device/{light}/command"

    restricted = await fleet.post(url, {"action": "hello"})
    assert (restricted.status_code, restricted.json()["error"]) == (403, "RESTRICTED_ACTION")

    missing = await fleet.post(url, {"action": "dance"})
    assert (missing.status_code, missing.json()["error"]) == (403, "ACTION_NOT_IN_MANIFEST")

    invalid = await fleet.post(url, {"action": "light_brightness", "params": {"brightness": 150}})
    assert (invalid.status_code, invalid.json()["error"]) == (400, "PARAMS_INVALID")
    assert invalid.json()["reason"] == "brightness: maximum 100" and invalid.json()["param"] == "brightness"

    no_action = await fleet.post(url, {"params": {}})
    assert no_action.status_code == 400 and no_action.json()["field"] == "action"


async def test_revoked_device(fleet: Fleet) -> None:
    device = (await fleet.register("light"))["device_id"]
    assert (await fleet.post(f"/api/v1/device/{device}/revoke")).status_code == 200
    response = await fleet.post(f"/api/v1/device/{device}/command", {"action": "light_on"})
    assert response.status_code == 403 and response.json()["error"] == "Device is revoked"


async def test_manifest_not_found(fleet: Fleet) -> None:
    device = (await fleet.register("light"))["device_id"]
    async with fleet.app.database.session() as session:  # a device whose manifest was never stored
        from sqlalchemy import text

        await session.exec(text("DELETE FROM device_manifest WHERE device_id = :d").bindparams(d=device))  # type: ignore[call-overload]
        await session.commit()
    fleet.app.manifests._compiled.clear()  # the compiled cache is per process; a fresh process has none
    response = await fleet.post(f"/api/v1/device/{device}/command", {"action": "light_on"})
    assert (response.status_code, response.json()["error"]) == (404, "MANIFEST_NOT_FOUND")


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


async def test_ack_marks_the_command_acked_or_failed(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    sent = await fleet.post(f"/api/v1/device/{device.device_id}/command", {"action": "light_on"})
    _, payload = await peer.next_message()
    envelope = device.accept_command(payload)
    peer.publish(device.topic("cmd_ack"), device.ack(envelope["message_id"]))

    async def status() -> str | None:
        response = await fleet.http.get(
            f"/api/v1/commands/{sent.json()['command_id']}", headers=fleet.headers()
        )
        return response.json()["status"] if response.json()["status"] != "dispatched" else None

    assert await eventually(status) == "acked"

    failed = await fleet.post(f"/api/v1/device/{device.device_id}/command", {"action": "light_off"})
    _, payload = await peer.next_message()
    peer.publish(
        device.topic("cmd_ack"), device.ack(device.accept_command(payload)["message_id"], error="JAMMED")
    )

    async def failure() -> dict[str, object] | None:
        response = await fleet.http.get(
            f"/api/v1/commands/{failed.json()['command_id']}", headers=fleet.headers()
        )
        return response.json() if response.json()["status"] == "failed" else None

    record = await eventually(failure)
    assert record is not None and record["error"] == "JAMMED"


async def test_audit_records_dispatch_and_rejection(fleet: Fleet) -> None:
    device, _ = await fleet.device_on_mqtt("light")
    await fleet.post(f"/api/v1/device/{device.device_id}/command", {"action": "light_on"})
    await fleet.post(f"/api/v1/device/{device.device_id}/command", {"action": "dance"})
    rows = await fleet.app.audit.entries(fleet.tenant_id, limit=1000)
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
