"""The pipelined Redis client against the real Redis: replies matched to callers under concurrency,
error replies, scripts after a flush, a cut connection, a silent server, databases; and its parser."""

from __future__ import annotations

import asyncio
import secrets
import time
from urllib.parse import urlsplit

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.cache.outage import cache_unreachable
from server.cache.resp import RespClient, _Incomplete, _parse, encode
from tests.tcp_proxy import TcpProxy


@pytest.fixture
def key() -> str:
    return f"hxtp-test:resp:{secrets.token_hex(6)}"


async def test_concurrent_calls_each_get_their_own_reply(redis_url: str, key: str) -> None:
    client = RespClient(redis_url)
    try:
        replies = await asyncio.gather(*(client.call(b"INCR", key) for _ in range(2000)))
        # Written in call order, answered in order: the n-th caller sees the n-th increment.
        assert replies == list(range(1, 2001))
        echoed = await asyncio.gather(*(client.call(b"ECHO", f"v{n}") for n in range(500)))
        assert echoed == [f"v{n}".encode() for n in range(500)]
    finally:
        await client.call(b"DEL", key)
        client.close()


async def test_an_error_reply_fails_only_its_call(redis_url: str, key: str) -> None:
    client = RespClient(redis_url)
    try:
        await client.call(b"SET", key, b"text")
        results = await asyncio.gather(
            client.call(b"INCR", key), client.call(b"GET", key), return_exceptions=True
        )
        assert isinstance(results[0], ResponseError)
        assert results[1] == b"text"
        assert not cache_unreachable(results[0])
    finally:
        await client.call(b"DEL", key)
        client.close()


async def test_replies_of_every_shape_and_size(redis_url: str, key: str) -> None:
    client = RespClient(redis_url)
    big = secrets.token_bytes(3 * 1024 * 1024)  # arrives in many reads
    try:
        assert await client.call(b"SET", key, big) == b"OK"
        assert await client.call(b"GET", key) == big
        assert await client.call(b"GET", key + ":absent") is None
        script = client.script("return {1, 'two', {3}, redis.call('GET', KEYS[1]) == false}")
        assert await client.evalsha(script, [key + ":absent"], []) == [1, b"two", [3], 1]
    finally:
        await client.call(b"DEL", key)
        client.close()


async def test_a_script_survives_a_script_flush(redis_url: str, key: str) -> None:
    client = RespClient(redis_url)
    script = client.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    try:
        assert await client.evalsha(script, [key], [2]) == 2
        redis.Redis.from_url(redis_url).script_flush()
        assert await client.evalsha(script, [key], [3]) == 5  # NOSCRIPT, then EVAL
    finally:
        await client.call(b"DEL", key)
        client.close()


async def test_the_database_of_the_url_is_selected(redis_url: str, key: str) -> None:
    other = redis_url.rsplit("/", 1)[0] + "/3"
    client = RespClient(other)
    try:
        await client.call(b"SET", key, b"in-3")
        assert redis.Redis.from_url(other).get(key) == b"in-3"
        assert redis.Redis.from_url(redis_url).get(key) is None
    finally:
        await client.call(b"DEL", key)
        client.close()


async def test_a_cut_connection_fails_its_calls_and_the_next_call_reconnects(
    redis_url: str, key: str
) -> None:
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    client = RespClient(f"redis://127.0.0.1:{proxy.port}/0", timeout=2.0)
    try:
        assert await client.call(b"PING") == b"PONG"
        blocked = asyncio.ensure_future(client.call(b"BLPOP", key, 5))  # in flight when the cut comes
        await asyncio.sleep(0.1)
        await proxy.cut()
        with pytest.raises(RedisConnectionError) as lost:
            await blocked
        assert cache_unreachable(lost.value)
        with pytest.raises(RedisConnectionError):
            await client.call(b"PING")  # nothing listens now
        await proxy.start()
        assert await client.call(b"PING") == b"PONG"
    finally:
        client.close()
        await proxy.cut()
        await asyncio.sleep(0.2)  # the proxy's pipes see the cut and end before the loop does


async def test_a_silent_server_times_out_every_waiting_call(silent_port: int) -> None:
    client = RespClient(f"redis://127.0.0.1:{silent_port}/0", timeout=0.3)
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(client.call(b"PING") for _ in range(20)), return_exceptions=True)
        assert time.monotonic() - started < 1.5
        assert all(isinstance(r, RedisTimeoutError) and cache_unreachable(r) for r in results)
    finally:
        client.close()


async def test_a_refused_connection_is_an_outage() -> None:
    client = RespClient("redis://127.0.0.1:1/0", timeout=0.5)
    with pytest.raises(RedisConnectionError) as refused:
        await client.call(b"PING")
    assert cache_unreachable(refused.value)


def test_the_parser_waits_for_a_whole_reply() -> None:
    whole = b"*3\r\n$3\r\nabc\r\n:-7\r\n*2\r\n$-1\r\n+OK\r\n"
    assert _parse(whole, 0) == ([b"abc", -7, [None, b"OK"]], len(whole))
    for cut in range(1, len(whole)):
        with pytest.raises(_Incomplete):
            _parse(whole[:cut], 0)
    error, end = _parse(b"-ERR wrong\r\n", 0)
    assert isinstance(error, ResponseError) and str(error) == "ERR wrong" and end == 12


def test_commands_are_encoded_as_bulk_strings() -> None:
    assert encode((b"SET", "k", 12)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"


def test_only_tcp_redis_urls_are_taken() -> None:
    with pytest.raises(ValueError):
        RespClient("unix:///run/redis.sock")
    with pytest.raises(ValueError):
        RespClient("http://127.0.0.1:6379")
