"""The assistant routes as hxtp-py 1.2.0's own admin client calls them (execute_plan,
get_plan_status, write/get_agent_memories, get_state_verification), against devices that verify and
ack their commands on MQTT, on the embedded defaults and on PostgreSQL + Redis + Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from hxtp_py.client.admin_client import HxTPAdminError, SyncAdminClient

from hxtp.cloud.v1 import assistant_pb2, command_pb2
from server.domain.identity.principal import Principal, Role
from tests.commands.conftest import Fleet
from tests.devicelink.conftest import eventually
from tests.devicelink.firmware import FirmwareDevice, MqttPeer

FINAL = ("succeeded", "failed", "rolled_back")
# The tenant's free tier allows 60 requests a minute: pollers here ask a few times a second at most.
POLL_SECONDS = 0.25


def sdk(fleet: Fleet, tenant_id: str | None = None) -> SyncAdminClient:
    token = fleet.app.tokens.mint(Principal("agent-user", tenant_id or fleet.tenant_id, Role.ADMIN))
    return SyncAdminClient(f"http://127.0.0.1:{fleet.app.ports.http}/api/v1", api_key=token)


def stub(channel: grpc.aio.Channel, method: str, request: Any, reply: Any) -> Any:
    """A native unary call of `Service/Method` of hxtp.cloud.v1."""
    return channel.unary_unary(
        f"/hxtp.cloud.v1.{method}",
        request_serializer=request.SerializeToString,
        response_deserializer=reply.FromString,
    )


async def answer_commands(device: FirmwareDevice, peer: MqttPeer, seen: list[str], error: str | None) -> None:
    """The device's firmware: verify each command and ack it (as failed with `error` when given)."""
    while True:
        try:
            _, payload = await peer.next_message(within=30)
        except TimeoutError:
            return
        envelope = device.accept_command(payload)
        seen.append(envelope["action"])
        peer.publish(device.topic("cmd_ack"), device.ack(envelope["message_id"], error))


@contextlib.asynccontextmanager
async def answering(
    fleet: Fleet, *kinds: tuple[str, str | None]
) -> AsyncIterator[list[tuple[FirmwareDevice, list[str]]]]:
    """Devices of these types whose firmware acks every command; yields each with the actions it saw."""
    devices: list[tuple[FirmwareDevice, list[str]]] = []
    tasks = []
    for device_type, error in kinds:
        device, peer = await fleet.device_on_mqtt(device_type)
        seen: list[str] = []
        tasks.append(asyncio.create_task(answer_commands(device, peer, seen, error)))
        devices.append((device, seen))
    try:
        yield devices
    finally:
        broken = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if broken:  # a firmware twin that refused a command says why, instead of a bare timeout
            raise AssertionError(f"a device refused a command: {broken[0]!r}") from broken[0]


async def final_plan(client: SyncAdminClient, plan_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        await asyncio.sleep(POLL_SECONDS)
        plan = await asyncio.to_thread(client.get_plan_status, plan_id)
        return plan if plan["status"] in FINAL else None

    try:
        return dict(await eventually(done, within=40))
    except TimeoutError:
        last = await asyncio.to_thread(client.get_plan_status, plan_id)
        raise AssertionError(f"plan {plan_id} did not finish: {last}") from None


async def test_a_plan_runs_its_steps_in_order_each_after_its_ack(fleet: Fleet) -> None:
    client = sdk(fleet)
    async with answering(fleet, ("light", None), ("switch", None)) as [(a, seen_a), (b, seen_b)]:
        steps = [
            {"device_id": a.device_id, "action": "light_on"},
            {"device_id": b.device_id, "action": "turn_on"},
            {"target_id": a.device_id, "action": "light_brightness", "params": {"brightness": 40}},
        ]
        accepted = await asyncio.to_thread(client.execute_plan, "evening", steps)
        assert accepted["status"] == "accepted" and accepted["plan_id"]
        plan = await final_plan(client, accepted["plan_id"])
    assert plan["status"] == "succeeded" and plan["name"] == "evening"
    assert plan["execution_mode"] == "sequential" and plan["on_failure"] == "rollback_all"
    assert [s["status"] for s in plan["steps"]] == ["succeeded"] * 3
    assert seen_a == ["light_on", "light_brightness"] and seen_b == ["turn_on"]
    for step in plan["steps"]:
        command = await fleet.http.get(f"/api/v1/commands/{step['command_id']}", headers=fleet.headers())
        assert command.json()["status"] == "acked"


async def test_a_failed_step_rolls_back_the_steps_done_with_manifest_inverses(fleet: Fleet) -> None:
    client = sdk(fleet)
    async with answering(fleet, ("light", None), ("light", "jammed")) as [(a, seen_a), (b, _)]:
        steps = [
            {"device_id": a.device_id, "action": "light_on"},
            {"device_id": b.device_id, "action": "light_on"},
            {"device_id": a.device_id, "action": "light_brightness", "params": {"brightness": 10}},
        ]
        accepted = await asyncio.to_thread(client.execute_plan, "doomed", steps)
        plan = await final_plan(client, accepted["plan_id"])
    assert plan["status"] == "rolled_back", plan
    first, second, third = plan["steps"]
    assert first["status"] == "rolled_back" and first["rollback"]["action"] == "light_off"
    assert first["rollback"]["status"] == "acked"
    assert second["status"] == "failed" and "jammed" in second["error"]
    assert third["status"] == "skipped" and third["command_id"] is None
    assert seen_a == ["light_on", "light_off"]  # undone on the device, the third step never sent


async def test_stop_leaves_done_steps_and_gate_refusals_fail_a_step(fleet: Fleet) -> None:
    client = sdk(fleet)
    async with answering(fleet, ("light", None)) as [(a, seen)]:
        steps = [
            {"device_id": a.device_id, "action": "light_on"},
            {"device_id": a.device_id, "action": "unlock"},
        ]
        accepted = await asyncio.to_thread(client.execute_plan, "halt", steps, "sequential", "stop")
        plan = await final_plan(client, accepted["plan_id"])
    assert plan["status"] == "failed"
    assert [s["status"] for s in plan["steps"]] == ["succeeded", "failed"]
    assert "manifest" in plan["steps"][1]["error"] and seen == ["light_on"]

    with pytest.raises(HxTPAdminError, match="400"):
        await asyncio.to_thread(client.execute_plan, "bad", [{"action": "light_on"}])
    with pytest.raises(HxTPAdminError, match="400"):
        await asyncio.to_thread(client.execute_plan, "bad", steps, "parallel")
    with pytest.raises(HxTPAdminError, match="404"):
        await asyncio.to_thread(sdk(fleet, "tenant-elsewhere").get_plan_status, accepted["plan_id"])


async def test_agent_memories_per_tenant_and_filtered(fleet: Fleet) -> None:
    client = sdk(fleet)
    for memory_type, subject, content in (
        ("preference", "living_room", {"temperature": 21}),
        ("preference", "bedroom", {"temperature": 18}),
        ("episode", "living_room", {"note": "movie night"}),
    ):
        stored = await asyncio.to_thread(client.write_agent_memory, "jarvis", memory_type, content, subject)
        assert stored["status"] == "created" and stored["id"]
    everything = (await asyncio.to_thread(client.get_agent_memories, "jarvis"))["memories"]
    assert len(everything) == 3 and everything[0]["memory_type"] == "episode"  # newest first
    preferences = (await asyncio.to_thread(client.get_agent_memories, "jarvis", "preference"))["memories"]
    assert {m["subject"] for m in preferences} == {"living_room", "bedroom"}
    exact = (await asyncio.to_thread(client.get_agent_memories, "jarvis", "preference", "bedroom"))[
        "memories"
    ]
    assert [m["content"] for m in exact] == [{"temperature": 18}] and exact[0]["agent_id"] == "jarvis"
    assert (await asyncio.to_thread(client.get_agent_memories, "friday"))["memories"] == []
    stranger = sdk(fleet, "tenant-elsewhere")
    assert (await asyncio.to_thread(stranger.get_agent_memories, "jarvis"))["memories"] == []
    with pytest.raises(HxTPAdminError, match="400"):
        await asyncio.to_thread(client.write_agent_memory, "jarvis", "bad type!", {"x": 1})


async def test_state_verification_after_commands(fleet: Fleet) -> None:
    device, peer = await fleet.device_on_mqtt("light")
    client = sdk(fleet)
    url = f"/api/v1/devices/{device.device_id}/command"

    async def command(action: str, state: str | None) -> str:
        sent = await fleet.post(url, {"action": action})
        envelope = device.accept_command((await peer.next_message())[1])
        peer.publish(device.topic("cmd_ack"), device.ack(envelope["message_id"]))
        if state is not None:
            peer.publish(device.topic("state"), device.build("state", state))
        return str(sent.json()["command_id"])

    def settled(command_id: str) -> Callable[[], Any]:
        async def check() -> dict[str, Any] | None:
            await asyncio.sleep(POLL_SECONDS)
            answer = await asyncio.to_thread(client.get_state_verification, command_id)
            return answer if answer["status"] != "pending" else None

        return check

    on = await command("light_on", '{"power":"on"}')
    verified = await eventually(settled(on))
    assert verified["verified"] is True and verified["status"] == "verified"
    assert verified["expected_state"] == {"power": "on", "on": True, "state": "on"}
    assert verified["observed_state"] == {"power": "on"} and verified["device_id"] == device.device_id

    off = await command("light_off", '{"power":"on"}')  # the device says it is still on
    mismatch = await eventually(settled(off))
    assert (mismatch["status"], mismatch["verified"]) == ("mismatch", False)

    silent = await command("light_on", None)
    assert (await asyncio.to_thread(client.get_state_verification, silent))["status"] == "pending"
    ping = await command("ping", None)
    assert (await asyncio.to_thread(client.get_state_verification, ping))["status"] == "unverifiable"
    with pytest.raises(HxTPAdminError, match="404"):
        await asyncio.to_thread(sdk(fleet, "tenant-elsewhere").get_state_verification, on)


async def test_assistant_over_native_grpc(fleet: Fleet) -> None:
    token = fleet.headers()["authorization"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fleet.app.ports.grpc}") as channel:
        create = stub(
            channel,
            "AssistantService/CreateAgentMemory",
            assistant_pb2.CreateAgentMemoryRequest,
            assistant_pb2.CreateAgentMemoryResponse,
        )
        listing = stub(
            channel,
            "AssistantService/ListAgentMemories",
            assistant_pb2.ListAgentMemoriesRequest,
            assistant_pb2.ListAgentMemoriesResponse,
        )
        request = assistant_pb2.CreateAgentMemoryRequest(
            agent_id="grpc-agent", memory_type="fact", subject="s"
        )
        request.content.update({"k": "v"})
        created = await create(request, metadata=(("authorization", token),))
        listed = await listing(
            assistant_pb2.ListAgentMemoriesRequest(agent_id="grpc-agent"),
            metadata=(("authorization", token),),
        )
        assert [m.id for m in listed.memories] == [created.id]


async def test_plans_and_group_capability_over_native_grpc(fleet: Fleet) -> None:
    metadata = (("authorization", fleet.headers()["authorization"]),)
    async with (
        answering(fleet, ("light", None), ("lock", None)) as [(light, seen_light), (lock, seen_lock)],
        grpc.aio.insecure_channel(f"127.0.0.1:{fleet.app.ports.grpc}") as channel,
    ):
        group = await fleet.post(
            "/api/v1/groups", {"name": "Hall", "device_ids": [light.device_id, lock.device_id]}
        )
        command = stub(
            channel,
            "CommandService/ExecuteGroupCommand",
            command_pb2.ExecuteGroupCommandRequest,
            command_pb2.ExecuteGroupCommandResponse,
        )
        sent = await command(
            command_pb2.ExecuteGroupCommandRequest(
                slug=group.json()["slug"], action="ping", capability="lock"
            ),
            metadata=metadata,
        )
        assert [r.device_id for r in sent.results] == [lock.device_id]

        execute = stub(
            channel,
            "AssistantService/ExecutePlan",
            assistant_pb2.ExecutePlanRequest,
            assistant_pb2.ExecutePlanResponse,
        )
        get_plan = stub(
            channel, "AssistantService/GetPlan", assistant_pb2.GetPlanRequest, assistant_pb2.GetPlanResponse
        )
        request = assistant_pb2.ExecutePlanRequest(
            name="rpc", execution_mode="sequential", on_failure="rollback_all"
        )
        request.steps.add().update({"device_id": light.device_id, "action": "light_on"})
        accepted = await execute(request, metadata=metadata)

        async def finished() -> assistant_pb2.GetPlanResponse | None:
            await asyncio.sleep(POLL_SECONDS)
            plan = await get_plan(assistant_pb2.GetPlanRequest(plan_id=accepted.plan_id), metadata=metadata)
            return plan if plan.status in FINAL else None

        plan = await eventually(finished, within=20)
    assert plan.status == "succeeded" and seen_light == ["light_on"] and seen_lock == ["ping"]


async def test_a_plan_stops_sending_once_its_tenant_is_suspended(fleet: Fleet) -> None:
    owner = await fleet.app.identity.identity.ensure_user("planner@example.com", "owner", "Plan Home")
    assert owner.tenant_id is not None
    fleet.tenant_id = owner.tenant_id  # a tenant the operator can suspend
    device, peer = await fleet.device_on_mqtt("light")
    client = sdk(fleet)
    steps = [
        {"device_id": device.device_id, "action": "light_on"},
        {"device_id": device.device_id, "action": "light_off"},
    ]
    accepted = await asyncio.to_thread(client.execute_plan, "interrupted", steps)
    envelope = device.accept_command((await peer.next_message())[1])
    await fleet.app.suspensions.suspend(fleet.tenant_id, "operator says stop")  # while step 1 is in flight
    peer.publish(device.topic("cmd_ack"), device.ack(envelope["message_id"]))
    plans = fleet.app.plans  # the running plan is read where it is stored, past the chain's refusal

    async def finished() -> Any:
        plan = await plans.get(fleet.tenant_id, accepted["plan_id"])
        return plan if plan.status in FINAL else None

    plan = await eventually(finished, within=20)
    assert plan.status == "failed"
    first, second = plan.steps
    assert first["status"] == "succeeded" and first["rollback"]["status"] == "failed"
    assert second["status"] == "failed" and "suspended" in second["error"]
    with pytest.raises(TimeoutError):  # nothing more reached the device: no step 2, no rollback
        await peer.next_message(within=0.5)
