"""Device ingest: verified state messages through the receive pipeline and the domain, per process.

Builds signed, framed `state` messages as the public firmware writes them (the ext-only test device
of tests/devicelink/firmware.py), for 100 devices registered through the REST API, then hands them
to the device bridge's message handler one after another (the MQTT socket excluded: what is timed
is frame, JSON, version, time window, nonce, payload hash, sequence, HMAC, then the state cache,
the live event and presence). Embedded defaults; in-process. Run: `.venv/bin/python bench/bench_ingest.py`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from prometheus_client import REGISTRY

from server.app import Application
from server.config import Settings
from tests.devicelink.firmware import FirmwareDevice

DEVICES = 100
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "20000"))


def _counted(name: str) -> float:
    return sum(
        sample.value for metric in REGISTRY.collect() for sample in metric.samples if sample.name == name
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings.from_env(
            {
                "HXTP_DATA_DIR": data_dir,
                "HXTP_HTTP_PORT": "0",
                "HXTP_GRPC_PORT": "-1",
                "HXTP_EMBEDDED_MQTT_PORT": "0",
                "HXTP_LOG_LEVEL": "warning",
            }
        )
        app = Application(settings)
        await app.start()
        try:
            # The unlimited tier (what `hxtp-cloud tenants set-tier` does): registering 100 devices
            # is not the subject.
            owner = await app.identity.identity.ensure_user("bench@example.com", "owner", "Bench")
            assert owner.tenant_id is not None
            await app.identity.identity.set_tier(owner.tenant_id, "fleet")
            token = app.tokens.mint(owner)
            headers = {"authorization": f"Bearer {token}"}
            transport = httpx.ASGITransport(app=app.gateway)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                home = (await http.post("/api/v1/homes", json={"home_name": "Bench"}, headers=headers)).json()
                devices = []
                for _ in range(DEVICES):
                    body = {"device_type": "sensor", "home_id": home["id"]}
                    answer = (await http.post("/api/v1/devices/register", json=body, headers=headers)).json()
                    devices.append(
                        FirmwareDevice(answer["device_id"], answer["tenant_id"], answer["device_secret"])
                    )
            messages = []
            for n in range(MESSAGES):
                device = devices[n % DEVICES]
                params = f'{{"temperature": {20 + n % 10}, "humidity": 40}}'
                messages.append((device.topic("state"), device.build("state", params)))
            assert app.bridge is not None
            handle = app.bridge._on_message  # the subscription's callback
            await handle(*messages[0])  # warm the per-device memos
            accepted_before = _counted("hxtp_device_messages_total")
            started = time.perf_counter()
            for topic, payload in messages[1:]:
                await handle(topic, payload)
            elapsed = time.perf_counter() - started
            accepted = _counted("hxtp_device_messages_total") - accepted_before
            rejected = _counted("hxtp_device_messages_rejected_total")
            assert accepted == len(messages) - 1 and rejected == 0, (accepted, rejected)
        finally:
            await app.stop()
    count = len(messages) - 1
    print(
        f"{count} verified state messages from {DEVICES} devices in {elapsed:.2f} s: "
        f"{count / elapsed:,.0f} messages/s ({elapsed / count * 1e6:.0f} us each)"
    )


if __name__ == "__main__":
    asyncio.run(main())
