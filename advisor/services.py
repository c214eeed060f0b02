"""Services: the writes and the orchestration between core, catalog, database and Celery."""

from __future__ import annotations

from dataclasses import dataclass

import psutil
from django.conf import settings


@dataclass(frozen=True)
class HostSummary:
    cpu_count: int
    ram_bytes: int

    @property
    def ram_gib(self) -> float:
        return self.ram_bytes / 2**30


def host_summary() -> HostSummary:
    return HostSummary(cpu_count=psutil.cpu_count(logical=True) or 1, ram_bytes=psutil.virtual_memory().total)


def broker_kind() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return "Redis"
    if url.startswith("sqla+"):
        return "embedded SQLite"
    return url.split(":", 1)[0]


def host_id() -> str:
    """The id of this host's probe queue: HOST_ID, or the hostname."""
    import socket

    return settings.HOST_ID or socket.gethostname()


def probe_queue_name(host: str | None = None) -> str:
    return f"probes.{host or host_id()}"


def load_file_catalog() -> tuple[int, int]:
    """Upsert every data-file model into CatalogEntry in one transaction. Returns (created, updated)."""
    from django.db import transaction

    from advisor.catalog.models_catalog import load_models
    from advisor.models import CatalogEntry

    created = updated = 0
    with transaction.atomic():
        for model in load_models():
            _, was_created = CatalogEntry.objects.update_or_create(
                model_id=model.id,
                defaults={
                    "hf_repo": model.hf_repo,
                    "origin": CatalogEntry.Origin.FILE,
                    "record": model.to_record(),
                },
            )
            created += was_created
            updated += not was_created
    return created, updated
