"""A fixed-window rate limit on the shared cache, keyed by user, API token or client address."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import HttpRequest


def client_key(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{request.META.get('REMOTE_ADDR', 'unknown')}"


def hit(action: str, key: str, per_minute: int) -> int | None:
    """Count one request; return None when allowed, else the seconds until the window resets."""
    window = int(time.time() // 60)
    cache_key = f"rl:{action}:{key}:{window}"
    cache.add(cache_key, 0, timeout=120)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=120)
        count = 1
    if count > per_minute:
        return 60 - int(time.time()) % 60
    return None
