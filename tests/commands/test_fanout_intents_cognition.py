"""Fan-out (batch, room, group), intents and cognition: the same gates, per device."""

from __future__ import annotations

import functools
from pathlib import Path

from server.app import Application
from tests.commands.conftest import Fleet, _fleet
from tests.devicelink.conftest import eventually
from tests.integration.harness import running


async def test_batch_partial_failure_never_stops_the_others(fleet: Fleet) -> None:
    (ok, ok_peer), (lock, _) = await fleet.device_on_mqtt("light"), await fleet.device_on_mqtt("lock")
    revoked = (await fleet.register("light"))["device_id"]
    await fleet.post(f"/api/v1/device/{revoked}/revoke")
    body = {"device_ids": [ok.device_id, revoked, lock.device_id, "no-such-device"], "action": "light_on"}
    response = await fleet.post("/api/v1/devices/command", body)
    assert response.status_code == 200, response.text
    results = {r["device_id"]: r for r in response.json()["results"]}
    assert results[ok.device_id]["success"] is True and results[ok.device_id]["message_id"]
    assert "error" not in results[ok.device_id]
    assert results[revoked] == {"device_id": revoked, "success": False, "error": "Device is revoked"}
    assert results[lock.device_id]["error"] == "ACTION_NOT_IN_MANIFEST"
    assert results["no-such-device"]["error"] == "Device not found"
    ok.accept_command((await ok_peer.next_message())[1])


async def test_critical_fanout_is_a_per_device_dry_run_error(fleet: Fleet) -> None:
    lock = (await fleet.register("lock"))["device_id"]
    response = await fleet.post("/api/v1/devices/command", {"device_ids": [lock], "action": "lock"})
    assert response.json()["results"] == [{"device_id": lock, "success": False, "error": "DRY_RUN_REQUIRED"}]


async def test_fanout_larger_than_the_maximum_is_refused_whole(tmp_path: Path) -> None:
    async for fleet in _fleet(tmp_path, HXTP_FANOUT_MAX="2"):
        response = await fleet.post("/api/v1/devices/command", {"device_ids": ["a", "b", "c"], "action": "x"})
        assert (response.status_code, response.json()["error"]) == (400, "FANOUT_TOO_LARGE")


async def test_room_command_with_capability_filter(fleet: Fleet) -> None:
    room = await fleet.room("Kitchen")
    (light, light_peer), (switch, _) = (
        await fleet.device_on_mqtt("light", room),
        await fleet.device_on_mqtt("switch", room),
    )
    response = await fleet.post(
        f"/api/v1/rooms/{room}/command", {"action": "light_on", "capability": "light"}
    )
    assert [r["device_id"] for r in response.json()["results"]] == [light.device_id]
    light.accept_command((await light_peer.next_message())[1])
    everyone = await fleet.post(f"/api/v1/rooms/{room}/command", {"action": "ping"})
    assert {r["device_id"] for r in everyone.json()["results"]} == {light.device_id, switch.device_id}
    assert all(r["success"] for r in everyone.json()["results"])
    assert (await fleet.post("/api/v1/rooms/no-room/command", {"action": "ping"})).status_code == 404


async def test_group_command_by_slug(fleet: Fleet) -> None:
    (a, a_peer), (b, b_peer) = await fleet.device_on_mqtt("light"), await fleet.device_on_mqtt("light")
    created = await fleet.post(
        "/api/v1/groups", {"name": "Living Room Lights", "device_ids": [a.device_id, b.device_id]}
    )
    assert created.status_code == 201, created.text
    response = await fleet.post(f"/api/v1/groups/{created.json()['slug']}/command", {"action": "light_off"})
    assert [r["success"] for r in response.json()["results"]] == [True, True]
    a.accept_command((await a_peer.next_message())[1])
    b.accept_command((await b_peer.next_message())[1])
    assert (await fleet.post("/api/v1/groups/nope/command", {"action": "light_off"})).status_code == 404


async def test_group_command_honours_capability(fleet: Fleet) -> None:
    (light, light_peer), (lock, _) = await fleet.device_on_mqtt("light"), await fleet.device_on_mqtt("lock")
    created = await fleet.post(
        "/api/v1/groups", {"name": "Porch", "device_ids": [light.device_id, lock.device_id]}
    )
    slug = created.json()["slug"]
    response = await fleet.post(
        f"/api/v1/groups/{slug}/command", {"action": "light_on", "capability": "light"}
    )
    assert response.status_code == 200, response.text
    [only] = response.json()["results"]
    assert (only["device_id"], only["success"]) == (light.device_id, True)
    light.accept_command((await light_peer.next_message())[1])
    unfiltered = await fleet.post(f"/api/v1/groups/{slug}/command", {"action": "light_on"})
    assert {r["device_id"]: r["success"] for r in unfiltered.json()["results"]} == {
        light.device_id: True,
        lock.device_id: False,
    }
    light.accept_command((await light_peer.next_message())[1])
    intent = await fleet.post(
        "/api/v1/intent",
        {"type": "group.control", "payload": {"group": slug, "capability": "lock", "action": "status"}},
    )
    assert [r["device_id"] for r in intent.json()["results"]] == [lock.device_id], intent.text


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
    async with running(tmp_path, wait_for_mqtt=False, HXTP_MQTT_URL="mqtt://127.0.0.1:1") as app:
        import httpx

        from tests.integration.harness import base_url

        async with httpx.AsyncClient(base_url=base_url(app), timeout=20) as http:
            fleet = Fleet(app, http)
            device = (await fleet.register("light"))["device_id"]
            response = await fleet.post(f"/api/v1/device/{device}/command", {"action": "light_on"})
            assert (response.status_code, response.json()["error"]) == (503, "GATEWAY_ERROR")
            # Failed fast: nothing was committed as a command (nothing could be sent), the refusal is audited.
            history = await http.get(f"/api/v1/device/{device}/commands", headers=fleet.headers())
            assert history.json()["commands"] == []
            rows = await app.audit.entries(fleet.tenant_id, limit=100)
            assert ("command_rejected", "GATEWAY_ERROR") in [(r.event_type, r.result) for r in rows]


def _connected(app: Application, expected: bool) -> bool:
    return app.mqtt.connected is expected


async def test_a_stopped_broker_fails_commands_fast_and_recovery_needs_no_restart(tmp_path: Path) -> None:
    async for fleet in _fleet(tmp_path):
        app = fleet.app
        assert app.broker is not None
        device = (await fleet.register("light"))["device_id"]
        path = f"/api/v1/device/{device}/command"
        assert (await fleet.post(path, {"action": "light_on"})).status_code == 202
        await app.broker.stop()  # the real broker goes away under the running server
        await eventually(functools.partial(_connected, app, False))
        refused = await fleet.post(path, {"action": "light_off"})
        assert (refused.status_code, refused.json()["error"]) == (503, "GATEWAY_ERROR")
        await app.broker.start()
        await eventually(functools.partial(_connected, app, True), within=30)
        assert (await fleet.post(path, {"action": "light_on"})).status_code == 202
        history = await fleet.http.get(f"/api/v1/device/{device}/commands", headers=fleet.headers())
        # The refused command was never written as one; the two answered ones are there.
        assert [c["action"] for c in history.json()["commands"]] == ["light_on", "light_on"]
