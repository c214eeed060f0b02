"""A Redis cache that degrades to "no cache" when Redis is down.

Recommendations, rate limits and fit results only use the cache to go faster or to count. If
Redis goes away, every estimate and page must still work, so connection errors become misses
(and a warning in the log) instead of a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class ResilientRedisCache(RedisCache):
    def _safe(self, op: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(super(), op)(*args, **kwargs)
        except (RedisError, OSError) as exc:
            log.warning("cache %s skipped: Redis unavailable (%s)", op, exc)
            return default

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._safe("get", default, key, default, version)

    def set(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> None:
        self._safe("set", None, key, value, timeout, version)

    def add(self, key: Any, value: Any, timeout: Any = None, version: Any = None) -> bool:
        return bool(self._safe("add", False, key, value, timeout, version))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        # Without Redis nothing can be counted: report the first hit so nobody is locked out.
        return int(self._safe("incr", delta, key, delta, version))

    def delete(self, key: Any, version: Any = None) -> bool:
        return bool(self._safe("delete", False, key, version))

    def clear(self) -> None:
        self._safe("clear", None)
