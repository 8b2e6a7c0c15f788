"""Fixtures for the gateway tests: the real gateway over a scripted transport (see scripted.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import Gateway
from tests.gateway.scripted import ScriptedTransport


@pytest.fixture
def transport() -> ScriptedTransport:
    return ScriptedTransport()


@pytest.fixture
def gateway(transport: ScriptedTransport) -> Gateway:
    return Gateway(transport)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://testserver"
    ) as c:
        yield c
