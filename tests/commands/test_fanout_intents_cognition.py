"""Fan-out (batch, room, group), intents and cognition: the same gates, per device. The fan-out and
broker rules run in this process; intents and cognition go through REST on the running server."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from server.app import Application
from server.domain.commands.fanout import DeviceResult
from server.domain.commands.intents import Intent
from server.errors import HxtpError
from tests.commands.conftest import Fleet, in_process
from tests.commands.domain import Commands, status_and_code
from tests.devicelink.conftest import eventually


async def test_batch_partial_failure_never_stops_the_others(commands: Commands) -> None:
    (ok, ok_peer), (lock, _) = await commands.device_on_mqtt("light"), await commands.device_on_mqtt("lock")
    revoked = (await commands.register("light")).device_id
    await commands.app.devices.revoke(commands.tenant_id, revoked)
    targets = [ok.device_id, revoked, lock.device_id, "no-such-device"]
    answered = await commands.app.fanout.to_devices(commands.tenant_id, "user-1", targets, "light_on", {})
    results = {r.device_id: r for r in answered}
    assert [r.device_id for r in answered] == targets
    assert results[ok.device_id].success is True and results[ok.device_id].message_id
    assert results[ok.device_id].error is None
    assert results[revoked] == DeviceResult(revoked, False, error="Device is revoked")
    assert results[lock.device_id] == DeviceResult(lock.device_id, False, error="ACTION_NOT_IN_MANIFEST")
    assert results["no-such-device"] == DeviceResult("no-such-device", False, error="Device not found")
    ok.accept_command((await ok_peer.next_message())[1])


async def test_critical_fanout_is_a_per_device_dry_run_error(commands: Commands) -> None:
    lock = (await commands.register("lock")).device_id
    results = await commands.app.fanout.to_devices(commands.tenant_id, "user-1", [lock], "lock", {})
    assert results == [DeviceResult(lock, False, error="DRY_RUN_REQUIRED")]


async def test_fanout_larger_than_the_maximum_is_refused_whole(tmp_path: Path) -> None:
    async with in_process(tmp_path, HXTP_FANOUT_MAX="2") as commands:
        with pytest.raises(HxtpError) as refused:
            await commands.app.fanout.to_devices(commands.tenant_id, "user-1", ["a", "b", "c"], "x", {})
        assert status_and_code(refused.value) == (400, "FANOUT_TOO_LARGE")


async def test_room_command_with_capability_filter(commands: Commands) -> None:
    fanout, tenant = commands.app.fanout, commands.tenant_id
    room = await commands.room("Kitchen")
    (light, light_peer), (switch, _) = (
        await commands.device_on_mqtt("light", room),
        await commands.device_on_mqtt("switch", room),
    )
    filtered = await fanout.to_room(tenant, "user-1", room, "light_on", {}, "light")
    assert [r.device_id for r in filtered] == [light.device_id] and filtered[0].success
    light.accept_command((await light_peer.next_message())[1])
    everyone = await fanout.to_room(tenant, "user-1", room, "ping", {}, None)
    assert {r.device_id for r in everyone} == {light.device_id, switch.device_id}
    assert all(r.success for r in everyone)
    with pytest.raises(HxtpError) as missing:
        await fanout.to_room(tenant, "user-1", "no-room", "ping", {}, None)
    assert status_and_code(missing.value)[0] == 404


async def test_group_command_by_slug(commands: Commands) -> None:
    fanout, tenant = commands.app.fanout, commands.tenant_id
    (a, a_peer), (b, b_peer) = await commands.device_on_mqtt("light"), await commands.device_on_mqtt("light")
    group = await commands.app.groups.create(
        tenant, "Living Room Lights", None, [a.device_id, b.device_id], None, None
    )
    results = await fanout.to_group(tenant, "user-1", group.slug, "light_off", {}, None)
    assert [r.success for r in results] == [True, True]
    a.accept_command((await a_peer.next_message())[1])
    b.accept_command((await b_peer.next_message())[1])
    with pytest.raises(HxtpError) as missing:
        await fanout.to_group(tenant, "user-1", "nope", "light_off", {}, None)
    assert status_and_code(missing.value)[0] == 404


async def test_group_command_honours_capability(commands: Commands) -> None:
    fanout, tenant = commands.app.fanout, commands.tenant_id
    (light, light_peer), (lock, _) = (
        await commands.device_on_mqtt("light"),
        await commands.device_on_mqtt("lock"),
    )
    group = await commands.app.groups.create(
        tenant, "Porch", None, [light.device_id, lock.device_id], None, None
    )
    [only] = await fanout.to_group(tenant, "user-1", group.slug, "light_on", {}, "light")
    assert (only.device_id, only.success) == (light.device_id, True)
    light.accept_command((await light_peer.next_message())[1])
    unfiltered = await fanout.to_group(tenant, "user-1", group.slug, "light_on", {}, None)
    assert {r.device_id: r.success for r in unfiltered} == {light.device_id: True, lock.device_id: False}
    light.accept_command((await light_peer.next_message())[1])
    intent = Intent("group.control", "status", group=group.slug, capability="lock")
    outcome = await commands.app.intents.route(tenant, "user-1", intent)
    assert [r.device_id for r in outcome.results] == [lock.device_id], outcome


async def test_intent_device_control(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    body = {
        "type": "device.control",
        "payload": {
            "device_id": device.device_id,
            "action": "light_brightness",
            "params": {"brightness": 100},
        },
    }
    response = await fleet.post("/api/v1/intent", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["mode"], answer["commands_executed"], answer["commands_rejected"]) == (
        "SUCCESS",
        "CLOUD_ENHANCED",
        1,
        0,
    )
    result = answer["results"][0]
    assert (result["device_id"], result["action"], result["status"]) == (
        device.device_id,
        "light_brightness",
        "dispatched",
    )
    assert result["command_id"]
    device.accept_command((await peer.next_message())[1])
    rejected = await fleet.post(
        "/api/v1/intent", {"type": "device.control", "payload": {"device_id": "x", "action": "a"}}
    )
    assert rejected.json()["status"] == "REJECTED" and rejected.json()["commands_rejected"] == 1
    unknown = await fleet.post("/api/v1/intent", {"type": "dance.party", "payload": {"action": "a"}})
    assert unknown.status_code == 400 and unknown.json()["field"] == "type"


async def test_observation_proposal_and_approval(fleet: Fleet) -> None:
    room = await fleet.room("Hall")
    sensor = (await fleet.register("sensor", room))["device_id"]
    light, peer = await fleet.device_on_mqtt("light", room)
    quiet = await fleet.post(
        "/api/v1/cognition/observation",
        {"device_id": sensor, "data": {"occupancy": False, "lux": 10}, "context": "room_entry"},
    )
    assert quiet.status_code == 202 and quiet.json() == {
        "status": "OBSERVATION_RECEIVED",
        "proposal_id": None,
    }
    observed = await fleet.post(
        "/api/v1/cognition/observation",
        {"device_id": sensor, "data": {"lux": 10, "occupancy": True}, "context": "room_entry"},
    )
    proposal_id = observed.json()["proposal_id"]
    assert observed.status_code == 202 and proposal_id
    listed = (await fleet.http.get("/api/v1/cognition/proposals", headers=fleet.headers())).json()[
        "proposals"
    ]
    assert listed[0]["id"] == proposal_id and listed[0]["target_device_ids"] == [light.device_id]
    assert listed[0]["status"] == "pending" and listed[0]["action"] == "light_on"
    approved = await fleet.post(f"/api/v1/cognition/proposals/{proposal_id}/approve")
    assert (
        approved.status_code == 200
        and approved.json()["status"] == "executed"
        and approved.json()["command_id"]
    )
    light.accept_command((await peer.next_message())[1])
    again = await fleet.post(f"/api/v1/cognition/proposals/{proposal_id}/approve")
    assert again.status_code == 409


async def test_rules_are_per_tenant_and_validated(fleet: Fleet) -> None:
    defaults = (await fleet.http.get("/api/v1/cognition/rules", headers=fleet.headers())).json()
    assert defaults["defaults"] is True and defaults["rules"][0]["then"]["action"] == "light_on"
    rules = [
        {"name": "hot", "when": {"temperature": {"gt": 25}}, "then": {"action": "ping", "target": "device"}}
    ]
    response = await fleet.http.put("/api/v1/cognition/rules", json={"rules": rules}, headers=fleet.headers())
    assert response.json() == {"status": "updated", "count": 1}
    sensor = (await fleet.register("sensor"))["device_id"]
    fired = await fleet.post(
        "/api/v1/cognition/observation", {"device_id": sensor, "data": {"temperature": 30}}
    )
    assert fired.json()["proposal_id"]
    bad = await fleet.http.put(
        "/api/v1/cognition/rules", json={"rules": [{"when": {}, "then": {}}]}, headers=fleet.headers()
    )
    assert bad.status_code == 400 and bad.json()["field"] == "rules[0].when"


async def test_broker_down_is_gateway_error_at_once_and_audited(tmp_path: Path) -> None:
    async with in_process(tmp_path, wait_for_mqtt=False, HXTP_MQTT_URL="mqtt://127.0.0.1:1") as commands:
        device = (await commands.register("light")).device_id
        refused = await commands.refused(device, "light_on")
        assert status_and_code(refused) == (503, "GATEWAY_ERROR")
        # Failed fast: nothing was committed as a command (nothing could be sent), the refusal is audited.
        assert await commands.history(device) == []
        rows = await commands.app.audit.entries(commands.tenant_id, limit=100)
        assert ("command_rejected", "GATEWAY_ERROR") in [(r.event_type, r.result) for r in rows]


def _connected(app: Application, expected: bool) -> bool:
    return app.mqtt.connected is expected


async def test_a_stopped_broker_fails_commands_fast_and_recovery_needs_no_restart(tmp_path: Path) -> None:
    async with in_process(tmp_path) as commands:
        app = commands.app
        assert app.broker is not None
        device = (await commands.register("light")).device_id
        await commands.dispatch(device, "light_on")
        await app.broker.stop()  # the real broker goes away under the running server
        await eventually(functools.partial(_connected, app, False))
        refused = await commands.refused(device, "light_off")
        assert status_and_code(refused) == (503, "GATEWAY_ERROR")
        await app.broker.start()
        await eventually(functools.partial(_connected, app, True), within=30)
        await commands.dispatch(device, "light_on")
        # The refused command was never written as one; the two answered ones are there.
        assert [c.action for c in await commands.history(device)] == ["light_on", "light_on"]
