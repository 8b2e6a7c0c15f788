"""Broker authentication and ACL endpoints, as Mosquitto go-auth (status codes) and EMQX (`result`)
call them: the allow/deny matrix for devices, strangers and the server's own account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.devicelink.conftest import Link, _ready
from tests.integration.harness import base_url, running

SERVER_PASSWORD = "server-broker-password"


@pytest.fixture
async def link(tmp_path: Path) -> AsyncIterator[Link]:
    async with running(tmp_path, HXTP_BROKER_SERVER_PASSWORD=SERVER_PASSWORD) as app:
        assert app.broker is not None
        async with httpx.AsyncClient(base_url=base_url(app)) as http:
            yield await _ready(Link(app, http, app.broker.url))


async def _mosquitto(link: Link, route: str, **body: object) -> bool:
    response = await link.http.post(f"/api/v1/broker/mosquitto/{route}", json=body)
    assert response.status_code in (200, 403), response.text
    return response.status_code == 200


async def _emqx(link: Link, route: str, **body: object) -> dict[str, object]:
    response = await link.http.post(f"/api/v1/broker/emqx/{route}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_authentication(link: Link) -> None:
    device = await link.register()
    device_id, secret = device["device_id"], device["device_secret"]
    other = await link.register()
    cases = [
        (device_id, secret, True),
        (device_id, secret.upper(), True),  # hex is hex
        (device_id, other["device_secret"], False),
        (device_id, "", False),
        ("f" * 32, secret, False),  # unknown device
        ("", "", False),
        ("hxtp-cloud", SERVER_PASSWORD, True),
        ("hxtp-cloud", "wrong", False),
    ]
    for username, password, allowed in cases:
        body = {"username": username, "password": password, "clientid": f"hxtp-{username}"}
        assert await _mosquitto(link, "user", **body) is allowed, (username, password)
        result = await _emqx(link, "authn", **body)
        assert result["result"] == ("allow" if allowed else "deny"), (username, password)
        assert result["is_superuser"] is (allowed and username == "hxtp-cloud")
    assert await _mosquitto(link, "superuser", username="hxtp-cloud") is True
    assert await _mosquitto(link, "superuser", username=device_id) is False

    rotated = await link.http.post(f"/api/v1/devices/{device_id}/rotate-secret", headers=link.headers())
    new_secret = rotated.json()["new_secret"]
    for password in (new_secret, secret):  # the previous secret still works in its grace period
        assert await _mosquitto(link, "user", username=device_id, password=password, clientid="c")
    await link.http.post(f"/api/v1/devices/{device_id}/revoke", headers=link.headers())
    assert not await _mosquitto(link, "user", username=device_id, password=new_secret, clientid="c")


async def test_acl_matrix(link: Link) -> None:
    device = await link.register()
    device_id, tenant = device["device_id"], device["tenant_id"]
    other = (await link.register())["device_id"]

    def topic(channel: str, device: str = device_id, tenant_id: str = tenant) -> str:
        return f"hxtp/{tenant_id}/device/{device}/{channel}"

    publish_ok = ["hello", "state", "telemetry", "cmd_ack", "heartbeat", "ota_status"]
    subscribe_ok = ["cmd", "ota"]
    matrix: list[tuple[str, str, str, bool]] = []
    for channel in publish_ok:
        matrix += [(device_id, topic(channel), "publish", True)]
        matrix += [(device_id, topic(channel), "subscribe", False)]
    for channel in subscribe_ok:
        matrix += [(device_id, topic(channel), "subscribe", True)]
        matrix += [(device_id, topic(channel), "publish", False)]
    matrix += [
        (device_id, topic("state", tenant_id=""), "publish", True),  # SoftAP device: empty tenant
        (device_id, topic("cmd", tenant_id=""), "subscribe", True),
        (device_id, topic("state", device=other), "publish", False),  # another device's topics
        (device_id, topic("cmd", device=other), "subscribe", False),
        (device_id, topic("state", tenant_id="other-tenant"), "publish", False),
        (device_id, "hxtp/+/device/+/#", "subscribe", False),
        (device_id, f"hxtp/{tenant}/device/{device_id}/#", "subscribe", False),
        (device_id, "$SYS/broker/clients", "subscribe", False),
        ("f" * 32, topic("state", device="f" * 32), "publish", False),  # unknown device
        ("hxtp-cloud", "hxtp/+/device/+/#", "subscribe", True),  # the server itself
        ("hxtp-cloud", topic("cmd"), "publish", True),
        ("", topic("state"), "publish", False),
    ]
    acc = {"publish": 2, "subscribe": 4}
    for username, name, action, allowed in matrix:
        body = {"username": username, "clientid": "c", "topic": name}
        assert await _mosquitto(link, "acl", **body, acc=acc[action]) is allowed, (username, name, action)
        assert (await _emqx(link, "authz", **body, action=action))["result"] == (
            "allow" if allowed else "deny"
        ), (username, name, action)
    # go-auth `acc` 1 (delivery) follows subscribe; 3 (read and write) needs both; others are denied.
    assert await _mosquitto(link, "acl", username=device_id, clientid="c", topic=topic("cmd"), acc=1)
    assert not await _mosquitto(link, "acl", username=device_id, clientid="c", topic=topic("cmd"), acc=3)
    assert not await _mosquitto(link, "acl", username=device_id, clientid="c", topic=topic("cmd"), acc=9)
    assert (await _emqx(link, "authz", username=device_id, clientid="c", topic=topic("cmd"), action="all"))[
        "result"
    ] == "deny"
