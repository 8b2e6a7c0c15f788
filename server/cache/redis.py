"""Redis implementation of the cache interface, shared by every server replica.

Each operation is a single Redis command or Lua script, so atomicity holds across replicas. Commands
go through the pipelined client of server.cache.resp; subscriptions through redis-py. Keys and
channels are prefixed, so several deployments (or test runs) can share one Redis without colliding.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncGenerator
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from server.cache.resp import RespClient

log = logging.getLogger(__name__)

# Increment, and set the expiry only when this call created the key: a rate-limit window that started
# with the first hit must not be extended by later hits. One script = one atomic step.
_INCR_SCRIPT = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""

# Compare-and-set upwards. Values are non-negative decimal integers without leading zeros, compared
# by length then text so that numbers beyond 2^53 (Lua's doubles) still compare exactly.
_SET_IF_GREATER_SCRIPT = """
local current = redis.call('GET', KEYS[1])
local value = ARGV[1]
if current and (#current > #value or (#current == #value and current >= value)) then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], value)
end
return 1
"""

# Compare-and-delete: the release of a claim, only by its holder.
_DELETE_IF_EQUAL_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# A sliding window of seen numbers (see Cache.mark_in_window): field "top" holds the highest marked,
# field "s<n mod window>" the last number marked in that slot. A slot holding n means n was seen; a
# number at or below top - window is too old. Exact for numbers below 2^53 (Lua's doubles).
_MARK_IN_WINDOW_SCRIPT = """
local n = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local top = redis.call('HGET', KEYS[1], 'top')
local slot = 's' .. string.format('%.0f', n % w)
if top then
  top = tonumber(top)
  if n <= top - w then return 0 end
  local seen = redis.call('HGET', KEYS[1], slot)
  if seen and tonumber(seen) == n then return 0 end
end
redis.call('HSET', KEYS[1], slot, ARGV[1])
if (not top) or n > top then redis.call('HSET', KEYS[1], 'top', ARGV[1]) end
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""

# How long a subscriber waits for one message before re-checking whether the cache was closed.
_SUBSCRIBE_POLL_S = 1.0
_SOCKET_TIMEOUT_S = 5.0
# Idle connections (notably subscriptions) send a PING this often, so a dead peer is noticed.
_HEALTH_CHECK_INTERVAL_S = 30


def _ttl_ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl}")
    return max(1, math.ceil(ttl * 1000))


def _expiry(ttl: float | None) -> tuple[bytes | int, ...]:
    """SET's arguments for `ttl`: PX <ms>, or none for a value that never expires."""
    ttl_ms = _ttl_ms(ttl)
    return () if ttl_ms is None else (b"PX", ttl_ms)


class RedisCache:
    def __init__(self, url: str, prefix: str = "hxtp:") -> None:
        self._prefix = prefix
        # Connects lazily: constructing the cache never fails because Redis is down.
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_connect_timeout=_SOCKET_TIMEOUT_S,
            socket_timeout=_SOCKET_TIMEOUT_S,
            health_check_interval=_HEALTH_CHECK_INTERVAL_S,
        )
        # Everything but subscriptions: the pipelined client (server.cache.resp).
        self._client = RespClient(url, timeout=_SOCKET_TIMEOUT_S)
        self._incr = self._client.script(_INCR_SCRIPT)
        self._set_if_greater = self._client.script(_SET_IF_GREATER_SCRIPT)
        self._mark_in_window = self._client.script(_MARK_IN_WINDOW_SCRIPT)
        self._delete_if_equal = self._client.script(_DELETE_IF_EQUAL_SCRIPT)
        self._closed = False

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        return cast(bytes | None, await self._client.call(b"GET", self._key(key)))

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        await self._client.call(b"SET", self._key(key), value, *_expiry(ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        stored = await self._client.call(b"SET", self._key(key), value, *_expiry(ttl), b"NX")
        return stored is not None

    async def set_if_greater(self, key: str, value: int, ttl: float | None = None) -> bool:
        if value < 0:
            raise ValueError(f"value must not be negative, got {value}")
        stored = await self._client.evalsha(
            self._set_if_greater, [self._key(key)], [value, _ttl_ms(ttl) or 0]
        )
        return bool(stored)

    async def mark_in_window(self, key: str, number: int, window: int, ttl: float | None = None) -> bool:
        if number < 0 or window < 1:
            raise ValueError(f"number must not be negative and window positive, got {number}, {window}")
        marked = await self._client.evalsha(
            self._mark_in_window, [self._key(key)], [number, window, _ttl_ms(ttl) or 0]
        )
        return bool(marked)

    async def delete(self, key: str) -> bool:
        removed = await self._client.call(b"DEL", self._key(key))
        return bool(removed)

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        removed = await self._client.evalsha(self._delete_if_equal, [self._key(key)], [value])
        return bool(removed)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        try:
            value = await self._client.evalsha(self._incr, [self._key(key)], [amount, _ttl_ms(ttl) or 0])
        except ResponseError as exc:
            # Same contract as MemoryCache: a non-integer value is the caller's error.
            raise ValueError(f"value of {key!r} is not an integer: {exc}") from exc
        return int(value)

    async def publish(self, channel: str, data: bytes) -> int:
        return int(await self._client.call(b"PUBLISH", self._key(channel), data))

    async def subscribe(self, channel: str) -> AsyncGenerator[bytes, None]:
        # One connection per subscription: a connection in subscribe mode can run nothing else.
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._key(channel))
            while not self._closed:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_SUBSCRIBE_POLL_S)
                if message is not None and message["type"] == "message":
                    yield message["data"]
        except RedisConnectionError:
            if not self._closed:
                raise
            # close() pulled the connection from under us: that is the end of the stream, not an error.
        finally:
            # Closing the connection also ends the subscription server-side.
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    # The timeout is a parameter, not the caller's asyncio.timeout: a health check must answer False
    # on time instead of raising, so it bounds itself.
    async def ping(self, timeout: float = 1.0) -> bool:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                return bool(await self._client.call(b"PING") == b"PONG")
        except Exception as exc:
            log.debug("redis ping failed: %r", exc)
            return False

    async def close(self) -> None:
        self._closed = True
        self._client.close()
        await self._redis.aclose()
