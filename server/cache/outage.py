"""Which exceptions mean "Redis cannot be reached" (an outage, answered 503), as opposed to a bug."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def cache_unreachable(error: BaseException) -> bool:
    # redis-py wraps every socket failure (refused, reset, timed out) in one of these two.
    return isinstance(error, (RedisConnectionError, RedisTimeoutError))
