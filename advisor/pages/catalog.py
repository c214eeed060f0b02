"""The catalog as the pages see it: the data files plus models imported from the Hub."""

from __future__ import annotations

from functools import lru_cache

from advisor.catalog.models_catalog import CatalogModel, load_models, parse_record
from advisor.core import recommend


def all_models() -> tuple[CatalogModel, ...]:
    """File catalog plus models imported from the Hub (stored as CatalogEntry records)."""
    from django.db import DatabaseError

    from advisor.models import CatalogEntry

    models = list(load_models())
    known = {m.id for m in models}
    try:
        entries = list(CatalogEntry.objects.filter(origin=CatalogEntry.Origin.HUB))
    except DatabaseError:  # not migrated yet (a CLI run on a fresh VAR_DIR): only the data-file catalog
        entries = []
    for entry in entries:
        if entry.model_id in known:
            continue
        try:
            models.append(parse_record(entry.record, f"hub import {entry.model_id}"))
        except ValueError:
            continue  # a record an older importer wrote; the admin shows it
    return tuple(models)


def find_model(model_id: str) -> CatalogModel | None:
    return next((m for m in all_models() if m.id == model_id), None)


def filter_choices() -> dict[str, list[str]]:
    models = load_models()
    return {"families": sorted({m.family for m in models}), "licenses": sorted({m.license for m in models})}


@lru_cache(maxsize=4)
def _catalog_at(hub_ids: tuple[str, ...]) -> tuple[tuple[recommend.ModelOption, ...], dict[str, CatalogModel]]:
    from advisor.catalog import weight_profiles
    from advisor.catalog.quality import load_ratings

    weight_profiles.load()  # precomputed weight bytes; without them the first request is slow
    models = all_models()
    return tuple(recommend.model_options(models, load_ratings(models))), {m.id: m for m in models}


def _hub_ids() -> tuple[str, ...]:
    from advisor.models import CatalogEntry

    hub = CatalogEntry.objects.filter(origin=CatalogEntry.Origin.HUB).values_list("model_id", "updated_at")
    return tuple(f"{m}@{t.isoformat()}" for m, t in hub.order_by("model_id"))


def model_options() -> tuple[recommend.ModelOption, ...]:
    """Candidates for the recommender: file catalog plus Hub imports (cached per set of imports)."""
    return _catalog_at(_hub_ids())[0]


def catalog_now() -> tuple[tuple[recommend.ModelOption, ...], dict[str, CatalogModel]]:
    """(``model_options()``, ``all_models()`` by id) from one read of the imports: a results page needs
    both, and re-parsing every import's record per request would cost more than the query. Read-only."""
    return _catalog_at(_hub_ids())


def catalog_version() -> str:
    """Changes when an import adds or updates a model (for cache keys)."""
    from django.db.models import Count, Max

    from advisor.models import CatalogEntry

    version = CatalogEntry.objects.aggregate(n=Count("id"), last=Max("updated_at"))
    return f"{version['n']}:{version['last']}"
