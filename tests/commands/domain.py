"""One tenant's caller of the command domain, in this process: the application's own services, as the
servicers call them, with no HTTP or gRPC in between (the REST shapes have their own tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from server.app import Application
from server.domain.commands.gates import CommandRequest, Dispatched, DryRunAnswer
from server.domain.commands.history import CommandView
from server.domain.fleet.devices import Registration
from server.errors import HxtpError
from tests.devicelink.firmware import FirmwareDevice, MqttPeer


@dataclass
class Commands:
    app: Application
    tenant_id: str = field(default_factory=lambda: f"tenant-{uuid.uuid4().hex[:8]}")
    user_id: str = "user-1"
    home_id: str = ""
    peers: list[MqttPeer] = field(default_factory=list)

    async def register(self, device_type: str, room_id: str | None = None) -> Registration:
        if not self.home_id:
            self.home_id = (await self.app.homes.create(self.tenant_id, "Lab", None)).id
        return await self.app.devices.register(self.tenant_id, device_type, self.home_id, room_id)

    async def room(self, name: str) -> str:
        if not self.home_id:
            await self.register("esp32")
        return (await self.app.homes.add_room(self.tenant_id, self.home_id, name)).id

    async def device_on_mqtt(
        self, device_type: str, room_id: str | None = None
    ) -> tuple[FirmwareDevice, MqttPeer]:
        """A registered device whose firmware twin listens on its `cmd` topic."""
        registration = await self.register(device_type, room_id)
        device = FirmwareDevice(registration.device_id, registration.tenant_id, registration.device_secret)
        peer = await listening(self.app, device)
        self.peers.append(peer)
        return device, peer

    async def execute(
        self,
        device_id: str,
        action: str,
        params: dict[str, Any] | None = None,
        dry_run: bool = False,
        user_id: str | None = None,
    ) -> Dispatched | DryRunAnswer:
        request = CommandRequest(
            self.tenant_id, user_id or self.user_id, device_id, action, params or {}, dry_run
        )
        return await self.app.commands.execute(request)

    async def dispatch(self, device_id: str, action: str, params: dict[str, Any] | None = None) -> Dispatched:
        outcome = await self.execute(device_id, action, params)
        assert isinstance(outcome, Dispatched), outcome
        return outcome

    async def confirm(self, device_id: str, token: str, user_id: str | None = None) -> Dispatched:
        return await self.app.commands.confirm(self.tenant_id, user_id or self.user_id, device_id, token)

    async def refused(self, device_id: str, action: str, params: dict[str, Any] | None = None) -> HxtpError:
        """The error of a command that must be refused."""
        with pytest.raises(HxtpError) as raised:
            await self.execute(device_id, action, params)
        return raised.value

    async def confirmation_token(self, device_id: str, action: str) -> str:
        """The dry-run token a critical ``action`` is refused with until it is confirmed."""
        refused = await self.refused(device_id, action)
        assert status_and_code(refused) == (409, "DRY_RUN_REQUIRED"), refused
        return str(refused.fields["dry_run_token"])

    async def refused_confirmation(self, device_id: str, token: str, user_id: str | None = None) -> HxtpError:
        with pytest.raises(HxtpError) as raised:
            await self.confirm(device_id, token, user_id)
        return raised.value

    async def history(self, device_id: str) -> list[CommandView]:
        return await self.app.command_log.history(self.tenant_id, device_id, limit=100)

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()


def status_and_code(error: HxtpError) -> tuple[int, str]:
    """The HTTP status and code name a REST caller would see for ``error``."""
    return error.spec.http_status, error.spec.name


async def listening(app: Application, device: FirmwareDevice) -> MqttPeer:
    """The device's firmware twin on the app's broker, subscribed to its `cmd` topic."""
    broker = app.broker.url if app.broker is not None else app.settings.mqtt_url
    peer = MqttPeer(broker, f"fw-{device.device_id}")
    await peer.connect()
    await peer.subscribe(device.topic("cmd"))
    return peer
