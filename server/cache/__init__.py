"""Key/value with TTLs, atomic counters and claims, and pub/sub: in-process or on Redis."""

from __future__ import annotations

from server.cache.base import Cache
from server.cache.memory import MemoryCache
from server.cache.redis import RedisCache

__all__ = ["Cache", "MemoryCache", "RedisCache", "create_cache"]


def create_cache(redis_url: str) -> Cache:
    """The shared Redis cache when ``redis_url`` is set, else the in-process one."""
    if not redis_url:
        return MemoryCache()
    return RedisCache(redis_url)
