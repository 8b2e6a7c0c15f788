"""The chain's error funnel on both sides: an unexpected exception in a streaming servicer is a
logged INTERNAL_ERROR like on the unary side, and a dependency outage is a 503 on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.transport import LocalAbort, LocalContext
from hxtp.cloud.v1 import options_pb2
from server.cache.memory import MemoryCache
from server.cache.outage import cache_unreachable
from server.domain.identity.api_keys import ApiKeys
from server.domain.identity.authentication import Authenticator
from server.domain.identity.sessions import Sessions
from server.domain.identity.tokens import TokenService
from server.domain.identity.users import Identity
from server.domain.outages import Outages
from server.rpc.chain import Chain, MethodSpec
from server.storage.database import Database

PUBLIC = options_pb2.MethodPolicy(auth=options_pb2.AUTH_MODE_PUBLIC)


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[Chain]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    authenticator = Authenticator(
        TokenService("k" * 32), Identity(database), ApiKeys(database), Sessions(MemoryCache())
    )

    async def redis_up() -> bool:
        return True

    outages = Outages({"redis": cache_unreachable}, {"redis": redis_up})
    yield Chain(authenticator, outages=outages)
    await outages.close()
    await database.dispose()


def _failing_stream(error: Exception) -> Any:
    async def handler(request: Any, context: Any) -> AsyncIterator[Any]:
        yield "first"
        raise error

    return handler


async def _drain(call: Any) -> tuple[list[Any], LocalAbort]:
    items = []
    with pytest.raises(LocalAbort) as aborted:
        async for item in call(options_pb2.MethodPolicy(), LocalContext(())):
            items.append(item)
    return items, aborted.value


async def test_streaming_bug_is_a_logged_internal_error(
    chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    call = chain.wrap(
        MethodSpec("/t.S/Stream", PUBLIC, True), _failing_stream(KeyError("secret-internal-name"))
    )
    items, abort = await _drain(call)
    assert items == ["first"]
    assert abort.code == grpc.StatusCode.INTERNAL
    assert "secret-internal-name" not in abort.details
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "unhandled error in /t.S/Stream (request -)"
    ]
    caplog.clear()  # logged on purpose


async def test_streaming_outage_is_unavailable(chain: Chain) -> None:
    call = chain.wrap(MethodSpec("/t.S/Stream", PUBLIC, True), _failing_stream(RedisConnectionError("gone")))
    _, abort = await _drain(call)
    assert abort.code == grpc.StatusCode.UNAVAILABLE
    assert "redis" in abort.details
