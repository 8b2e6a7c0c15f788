"""The GCRA rate limiter of server/domain/identity/rate_limits.py on Redis, shared by every replica.

The script is the same arithmetic as `rate_limits.gcra`, run atomically inside Redis on Redis' own
clock (TIME), so replicas with skewed clocks still share one exact limit per tenant.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from server.domain.identity.rate_limits import PERIOD_SECONDS, UNLIMITED, UNLIMITED_DECISION, Decision

# KEYS[1] = tenant key; ARGV = limit, period (us). Returns {allowed, remaining, reset_us, retry_us}.
# The stored value is "stamp_us:debt_us" (see rate_limits: an absolute TAT loses a large limit's
# interval to rounding). TIME's seconds and microseconds make an exact integer in a double.
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local debt = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local sep = string.find(stored, ':', 1, true)
  if sep then
    local stamp = tonumber(string.sub(stored, 1, sep - 1))
    local left = tonumber(string.sub(stored, sep + 1))
    if stamp and left then
      debt = math.max(0, left - math.max(0, now - stamp))
    end
  end
end
local new_debt = debt + interval
if new_debt > period then
  return {0, 0, math.ceil(debt), math.ceil(new_debt - period)}
end
local state = string.format('%.0f:%.17g', now, new_debt)
redis.call('SET', KEYS[1], state, 'PX', math.max(1, math.ceil(new_debt / 1000)))
local remaining = math.floor((period - new_debt) / interval + 1e-9)
return {1, remaining, math.ceil(new_debt), 0}
"""


def _seconds(us: int) -> int:
    return -(-int(us) // 1_000_000)


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
        if limit == UNLIMITED:
            return UNLIMITED_DECISION  # nothing to count: no round trip
        allowed, remaining, reset_us, retry_us = await self._script(
            keys=[self._prefix + tenant_id], args=[limit, int(PERIOD_SECONDS * 1_000_000)]
        )
        return Decision(
            allowed=bool(allowed),
            limit=limit,
            remaining=max(0, int(remaining)),
            reset_seconds=_seconds(reset_us),
            retry_after_seconds=0 if allowed else max(1, _seconds(retry_us)),
        )

    async def close(self) -> None:
        await self._redis.aclose()
        await self._pool.disconnect()  # a pool passed in explicitly is not closed with the client
