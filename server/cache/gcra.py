"""The GCRA rate limiter of server/domain/identity/rate_limits.py on Redis, shared by every replica.

The script is the same arithmetic as `rate_limits.gcra`, run atomically inside Redis on Redis' own
clock (TIME), so replicas with skewed clocks still share one exact limit per tenant.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from server.domain.identity.rate_limits import PERIOD_SECONDS, Decision

# KEYS[1] = tenant key; ARGV = limit, period (ms). Returns {allowed, remaining, reset_ms, retry_ms}.
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local base = math.max(tat, now)
local new_tat = base + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, math.ceil(base - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now))
local remaining = math.floor((period - (new_tat - now)) / interval + 1e-9)
return {1, remaining, math.ceil(new_tat - now), 0}
"""


def _seconds(ms: int) -> int:
    return -(-int(ms) // 1000)


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str = "hxtp:") -> None:
        # Blocking pool: a burst of concurrent requests waits for a connection instead of failing.
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=32, timeout=5.0, socket_timeout=5.0
        )
        self._redis: aioredis.Redis = aioredis.Redis(connection_pool=self._pool)
        self._script = self._redis.register_script(_GCRA_SCRIPT)
        self._prefix = prefix + "ratelimit:"

    async def hit(self, tenant_id: str, limit: int) -> Decision:
        allowed, remaining, reset_ms, retry_ms = await self._script(
            keys=[self._prefix + tenant_id], args=[limit, int(PERIOD_SECONDS * 1000)]
        )
        return Decision(
            allowed=bool(allowed),
            limit=limit,
            remaining=max(0, int(remaining)),
            reset_seconds=_seconds(reset_ms),
            retry_after_seconds=0 if allowed else max(1, _seconds(retry_ms)),
        )

    async def close(self) -> None:
        await self._redis.aclose()
        await self._pool.disconnect()  # a pool passed in explicitly is not closed with the client
