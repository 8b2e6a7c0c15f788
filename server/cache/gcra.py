"""One GCRA step on Redis, shared by every replica: the store behind the domain's SharedRateLimiter.

The script is the same arithmetic as `server.domain.identity.rate_limits.gcra`, run atomically
inside Redis on Redis' own clock (TIME), so replicas with skewed clocks still share one exact limit
per tenant. This module only moves numbers: what a limit means (tiers, unlimited, the decision and
its headers) is the domain's, which is why nothing here imports it.
"""

from __future__ import annotations

from server.cache.resp import RespClient

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


class RedisGcra:
    def __init__(self, url: str, prefix: str = "hxtp:") -> None:
        # One pipelined connection: concurrent requests share its round trips (server.cache.resp).
        self._client = RespClient(url, timeout=5.0)
        self._script = self._client.script(_GCRA_SCRIPT)
        self._prefix = prefix + "ratelimit:"

    async def step(self, key: str, limit: int, period_us: int) -> tuple[bool, int, int, int]:
        """(allowed, remaining, reset in us, retry after in us) of one request against `key`."""
        allowed, remaining, reset_us, retry_us = await self._client.evalsha(
            self._script, [self._prefix + key], [limit, period_us]
        )
        return bool(allowed), int(remaining), int(reset_us), int(retry_us)

    async def close(self) -> None:
        self._client.close()
