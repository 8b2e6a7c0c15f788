"""A firmware-like device (ext + gmqtt, no server code) against the whole server, through the
embedded broker and through this machine's Mosquitto: hello, a signed framed command it verifies
as the firmware would, its ack and state, and what the server records of each."""

from __future__ import annotations

import asyncio

import ext
from tests.devicelink.conftest import Link, accepted, eventually


async def test_command_ack_and_state_round_trip(link: Link) -> None:
    app = link.app
    device = await link.device()
    peer = await link.peer(device)
    try:
        hellos = accepted("hello")
        peer.publish(
            device.topic("hello"), device.build("hello", '{"device_type":"esp32","firmware_version":"1.2.0"}')
        )
        await eventually(lambda: accepted("hello") > hellos)

        async def listed() -> dict[str, object] | None:
            # Counted when verified; recorded a moment later, and device reads are memoised for 1 s.
            shown = await link.http.get(f"/api/v1/devices/{device.device_id}", headers=link.headers())
            return dict(shown.json()) if shown.json()["firmware"] == "1.2.0" else None

        assert (await eventually(listed))["active"] is True

        assert app.outbound is not None
        sent = await app.outbound.send_command(device.device_id, "toggle", {"state": 1})
        topic, payload = await peer.next_message()
        assert topic == device.topic("cmd")
        command = device.accept_command(payload)
        assert command["message_id"] == sent.message_id and command["action"] == "toggle"
        assert ext.extract_raw_params(ext.decode_frame(payload)[1]) == b'{"state":1}'
        assert command["sequence_number"] == sent.sequence_number

        # A second command: the firmware's tracker requires a strictly greater sequence.
        await app.outbound.send_command(device.device_id, "toggle", {"state": 0})
        device.accept_command((await peer.next_message())[1])

        async with app.events.subscribe(device.tenant_id) as events:
            first_event = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0.05)  # the bus's feed subscribes to the cache on its first turn
            peer.publish(device.topic("cmd_ack"), device.ack(sent.message_id))
            # Firmware params are written verbatim: spaces and unsorted keys stay, the hash is of this text.
            peer.publish(device.topic("state"), device.build("state", '{"power": "on", "brightness": 80}'))

            record = await eventually(lambda: app.command_outcomes.get(device.device_id, sent.message_id))
            assert record.status == "acked" and record.error is None
            event = await asyncio.wait_for(first_event, 5)
            assert event.type == "state_update" and event.device_id == device.device_id
            assert event.state == {"power": "on", "brightness": 80} and isinstance(event.timestamp, int)
        state = await app.device_messages.latest_state(device.device_id)
        assert state is not None and state[0] == {"power": "on", "brightness": 80}

        failed = device.ack("11111111-2222-4333-8444-555555555555", error="Missing 'state' parameter")
        peer.publish(device.topic("cmd_ack"), failed)
        record = await eventually(
            lambda: app.command_outcomes.get(device.device_id, "11111111-2222-4333-8444-555555555555")
        )
        assert record.status == "failed" and record.error == "Missing 'state' parameter"
    finally:
        await peer.close()
