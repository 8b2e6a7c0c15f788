"""Two server processes on one PostgreSQL, Redis and Mosquitto, splitting the devices' traffic
through a shared subscription (HXTP_MQTT_SHARED_GROUP): they behave as one server.

A command through A is acked by a device whose messages both process (B included); a WebSocket on
A sees every state the device sends back to back, whichever replica verified it; per-device
command limits and outbound sequence numbers are global; the audit chain verifies after both
appended to it concurrently."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from server.domain.identity.principal import Principal, Role
from server.domain.identity.tokens import TokenService
from tests.devicelink.conftest import eventually
from tests.devicelink.firmware import FirmwareDevice, MqttPeer
from tests.serving import server_process

UP = re.compile(r"HxTP Cloud is up: (http://[\d.]+:\d+)/api/v1/status")
COMMANDS_PER_MINUTE = 6


@contextlib.asynccontextmanager
async def _replica(name: str, tmp_path: Path, env: dict[str, str]) -> AsyncIterator[str]:
    data_dir = {"HXTP_DATA_DIR": str(tmp_path / name)}
    process = await server_process("serve", env={**env, **data_dir}, stderr=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        async with asyncio.timeout(60):
            while (match := UP.search((await process.stdout.readline()).decode())) is None:
                if process.returncode is not None:
                    raise AssertionError(f"replica {name} exited with {process.returncode}")
        drain = asyncio.create_task(process.stdout.read())  # keep its pipe from filling up
        yield match[1]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:
            drain.cancel()


async def _counter(http: httpx.AsyncClient, base: str, message_type: str) -> float:
    text = (await http.get(f"{base}/metrics")).text
    found = re.search(rf'^hxtp_device_messages_total\{{message_type="{message_type}"\}} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


async def test_two_replicas_behave_as_one(
    tmp_path: Path, fresh_postgres_url: str, redis_url: str, mosquitto_url: str
) -> None:
    jwt_secret = secrets.token_hex(32)
    env = {
        "HXTP_DATABASE_URL": fresh_postgres_url,
        "HXTP_REDIS_URL": redis_url,
        "HXTP_MQTT_URL": mosquitto_url,
        "HXTP_MQTT_SHARED_GROUP": f"replicas-{uuid.uuid4().hex[:8]}",
        "HXTP_JWT_SECRET": jwt_secret,
        "HXTP_SECRET_KEY": secrets.token_hex(32),
        "HXTP_LINK_SIGNING_KEY": secrets.token_hex(32),
        "HXTP_HTTP_PORT": "0",
        "HXTP_GRPC_PORT": "-1",
        "HXTP_LOG_LEVEL": "warning",
        "HXTP_DEVICE_COMMANDS_PER_MINUTE": str(COMMANDS_PER_MINUTE),
    }
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    credential = TokenService(jwt_secret).mint(Principal(user_id="u1", tenant_id=tenant, role=Role.OWNER))
    auth = {"authorization": f"Bearer {credential}"}
    async with (
        _replica("a", tmp_path, env) as a,
        _replica("b", tmp_path, env) as b,
        httpx.AsyncClient(timeout=20) as http,
    ):
        home = (await http.post(f"{a}/api/v1/homes", json={"home_name": "Lab"}, headers=auth)).json()["id"]

        # Concurrent appends to the audit chain from both replicas (registrations are audited).
        async def register(base: str) -> dict[str, str]:
            body = {"device_type": "light", "home_id": home}
            answer = await http.post(f"{base}/api/v1/devices/register", json=body, headers=auth)
            assert answer.status_code == 201, answer.text
            return dict(answer.json())

        registered = await asyncio.gather(*(register(a if n % 2 else b) for n in range(12)))
        first = registered[0]
        device = FirmwareDevice(first["device_id"], first["tenant_id"], first["device_secret"])
        peer = MqttPeer(mosquitto_url, f"hxtp-{device.device_id}")
        await peer.connect()
        await peer.subscribe(device.topic("cmd"))
        try:
            ws_url = a.replace("http://", "ws://") + f"/ws/state?token={credential}"
            async with connect(ws_url, open_timeout=10) as socket:
                # Live once a warm-up state arrives (either replica may verify it).
                async with asyncio.timeout(20):
                    while True:
                        peer.publish(device.topic("state"), device.build("state", '{"warmup":true}'))
                        with contextlib.suppress(TimeoutError):
                            frame = json.loads(await asyncio.wait_for(socket.recv(), 0.2))
                            if frame.get("type") == "state_update":
                                break
                states = [await _counter(http, base, "state") for base in (a, b)]
                for n in range(20):  # back to back, in order
                    peer.publish(device.topic("state"), device.build("state", f'{{"n":{n}}}'))
                seen: set[int] = set()
                async with asyncio.timeout(20):
                    while len(seen) < 20:
                        frame = json.loads(await socket.recv())
                        if frame.get("type") == "state_update" and "n" in frame["state"]:
                            seen.add(int(frame["state"]["n"]))
                assert seen == set(range(20))
            after = [await _counter(http, base, "state") for base in (a, b)]
            # No message dropped, and both replicas served the device (B processes its messages too).
            assert sum(after) - sum(states) >= 20
            assert all(x > y for x, y in zip(after, states, strict=True)), (states, after)

            # Commands through A and B, each acked by the device: one global outbound sequence.
            command_path = f"/api/v1/devices/{device.device_id}/command"
            body = {"action": "light_on", "params": {}, "dry_run": False}
            acks_before = [await _counter(http, base, "ack") for base in (a, b)]
            command_ids = []
            for n in range(COMMANDS_PER_MINUTE):
                sent = await http.post(f"{(a, b)[n % 2]}{command_path}", json=body, headers=auth)
                assert sent.status_code == 202, sent.text
                command_ids.append(sent.json()["command_id"])
                envelope = device.accept_command((await peer.next_message(within=10))[1])  # increasing
                # The broker deals each shared filter's messages out in turn: the acks alternate.
                peer.publish(device.topic("cmd_ack"), device.ack(envelope["message_id"]))
            # The per-device limit is global: the next command is refused on either replica.
            limited = await http.post(f"{b}{command_path}", json=body, headers=auth)
            assert limited.status_code == 429, limited.text

            async def all_acked() -> bool:
                for command_id in command_ids:
                    shown = await http.get(f"{a}/api/v1/commands/{command_id}", headers=auth)
                    if shown.json()["status"] != "acked":
                        return False
                return True

            await eventually(all_acked, within=20)
            acks_after = [await _counter(http, base, "ack") for base in (a, b)]
            assert acks_after[1] > acks_before[1], "B verified none of the acks"
        finally:
            await peer.close()

    verify_env = {"HXTP_DATABASE_URL": fresh_postgres_url, "HXTP_DATA_DIR": str(tmp_path / "v")}
    verify = await server_process("audit", "verify", env=verify_env)
    out, err = await asyncio.wait_for(verify.communicate(), 60)
    assert verify.returncode == 0, err.decode()
    assert "audit chains intact" in out.decode()


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
