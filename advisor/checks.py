"""Startup checks that report a misconfiguration instead of failing later."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_broker_url(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    url = settings.CELERY_BROKER_URL
    known = ("redis://", "rediss://", "sqla+", "amqp://", "filesystem://", "memory://")
    if not url.startswith(known):
        return [
            Error(
                f"CELERY_BROKER_URL {url!r} has an unknown scheme",
                hint=f"Use one of {known}.",
                id="advisor.E001",
            )
        ]
    return []


@register()
def check_models_dir(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    models_dir = settings.MODELS_DIR
    if models_dir.exists() and not models_dir.is_dir():
        return [Error(f"MODELS_DIR {models_dir} is not a directory", id="advisor.E002")]
    return []


@register()
def check_redis_reachable(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    """With REDIS_URL set, say at startup when nothing answers there (pages still work; probes cannot)."""
    if not settings.REDIS_URL:
        return []
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        return [
            Warning(
                f"REDIS_URL {settings.REDIS_URL!r} does not answer ({exc.__class__.__name__}): "
                "estimates still work, but probes cannot be queued",
                hint="Start Redis, fix REDIS_URL, or unset it to use the embedded SQLite broker.",
                id="advisor.W001",
            )
        ]
    return []
