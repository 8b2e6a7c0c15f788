"""Who may connect to a production broker and what each client may publish or subscribe to.

Mosquitto's go-auth HTTP backend and EMQX's HTTP authenticator/authorizer ask the server (routes in
server.rpc.broker_auth). Rules (wire protocol §2):

- a device connects with username = its device id, password = its secret as 64 hex characters (the
  current secret, or a previous one still in its rotation grace period); unknown or revoked: refused;
- a device may publish only to its own device channels and subscribe (and be delivered) only its own
  server channels (server.domain.link.channels), under its tenant or the empty tenant of a
  SoftAP-provisioned device (§9.1);
- a device that connects with a rotated-in secret holds it now (it becomes the signing key);
- a device the broker authenticates counts as live (presence) within the presence window;
- the server's own account (settings) may do anything; it is the only superuser. With no password
  configured it is refused.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import ext
from server.domain.link.channels import DEVICE_CHANNELS, SERVER_CHANNELS
from server.domain.link.ports import LinkDirectory

PUBLISH = "publish"
SUBSCRIBE = "subscribe"  # also "read": delivery of a message on a topic the client subscribed to


class BrokerAccess:
    def __init__(
        self,
        directory: LinkDirectory,
        server_username: str,
        server_password: str,
        on_device_connect: Callable[[str], None] | None = None,
    ) -> None:
        self._directory = directory
        self._on_device_connect = on_device_connect  # a broker connecting a device is a sign of life
        self._server_username = server_username
        self._server_password = server_password

    def is_server(self, username: str) -> bool:
        return bool(self._server_password) and hmac.compare_digest(
            username.encode(), self._server_username.encode()
        )

    async def authenticate(self, username: str, password: str) -> bool:
        if username == self._server_username:
            return bool(self._server_password) and hmac.compare_digest(
                password.encode(), self._server_password.encode()
            )
        device = await self._directory.profile(username) if username else None
        if device is None or device.revoked:
            return False
        offered = password.strip().lower().encode()
        matched: bytes | None = None
        for secret in await self._directory.active_and_previous(username):
            # Every secret compared, in constant time, so timing tells nothing about which matched.
            if hmac.compare_digest(offered, secret.hex().encode()):
                matched = secret
        if matched is None:
            return False
        # The device connects with a rotated-in secret: it holds it now (a no-op for its current one).
        await self._directory.adopt(username, matched)
        if self._on_device_connect is not None:
            self._on_device_connect(username)
        return True

    async def authorize(self, username: str, topic: str, action: str) -> bool:
        if self.is_server(username):
            return True
        route = ext.parse_topic(topic)
        if route is None or not username:
            return False
        tenant_id, device_id, channel = route
        if device_id != username:
            return False
        allowed = {PUBLISH: DEVICE_CHANNELS, SUBSCRIBE: SERVER_CHANNELS}.get(action, frozenset())
        if channel not in allowed:
            return False
        device = await self._directory.profile(username)
        return device is not None and not device.revoked and tenant_id in ("", device.tenant_id)
