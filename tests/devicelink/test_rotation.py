"""A secret rotation never cuts a device off (wire protocol §6): the server keeps signing with the
secret the device holds until a message from the device verifies under the new one, then switches
and records the adoption in the key history."""

from __future__ import annotations

import pytest

from tests.devicelink.conftest import Link, accepted, eventually


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_commands_follow_the_secret_the_device_holds(link: Link) -> None:
    app = link.app
    assert app.outbound is not None
    device = await link.device()
    peer = await link.peer(device)
    path = f"/api/v1/devices/{device.device_id}"
    try:
        rotated = await link.http.post(f"{path}/rotate-secret", headers=link.headers())
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["new_secret"]
        assert "keeps signing with the previous secret" in rotated.json()["next_step"]

        # The device still holds the old secret: the command verifies there (accept_command checks).
        await app.outbound.send_command(device.device_id, "toggle", {})
        device.accept_command((await peer.next_message())[1])

        # Re-provisioned: its first message under the new secret switches the server over.
        device.secret_hex = new_secret
        states = accepted("state")
        peer.publish(device.topic("state"), device.build("state", '{"on":true}'))
        await eventually(lambda: accepted("state") > states)

        async def adopted() -> dict[str, object] | None:
            history = (
                await link.http.get(f"/api/v1/device/{device.device_id}/key-history", headers=link.headers())
            ).json()
            versions = {h["version"]: h for h in history["history"]}
            return history if versions[2]["status"] == "active" else None

        history = await eventually(adopted)
        versions = {h["version"]: h for h in history["history"]}  # type: ignore[union-attr]
        assert versions[2]["adopted_at"] and versions[1]["status"] == "grace"

        async def signed_with_new() -> bool:
            await app.outbound.send_command(device.device_id, "toggle", {})  # type: ignore[union-attr]
            try:
                device.accept_command((await peer.next_message())[1])
            except AssertionError:
                return False  # signed inside the key memo's second, with the old secret
            return True

        assert await eventually(signed_with_new)
    finally:
        await peer.close()
