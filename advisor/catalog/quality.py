"""The recommender's one quality signal: published benchmark scores of catalog models.

``data/quality.json`` holds LiveBench's scores (release, URL and the exact table in the file; made by
``bench/livebench_quality.py``). A score rates the catalog records named by its ``ids`` or, for records
added later, the record whose Hugging Face repo is the rated one. Every other model is estimated by
``advisor.core.recommend.model_options``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from advisor.core.recommend import CatalogRecord, Rating

QUALITY_FILE = Path(__file__).resolve().parent / "data" / "quality.json"


@lru_cache(maxsize=1)
def quality_data() -> dict[str, Any]:
    with QUALITY_FILE.open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def load_ratings(records: Sequence[CatalogRecord]) -> dict[str, Rating]:
    """Ratings of ``records`` by catalog id."""
    data = quality_data()
    by_id: dict[str, dict[str, Any]] = {}
    by_repo: dict[str, dict[str, Any]] = {}
    for entry in data["models"]:
        for model_id in entry["ids"]:
            by_id[model_id] = entry
        by_repo[entry["hf_repo"].lower()] = entry
    out: dict[str, Rating] = {}
    for r in records:
        entry = by_id.get(r.id) or by_repo.get(r.hf_repo.lower())
        if entry is None:
            continue
        uses = tuple((u, float(entry[u])) for u in ("coding", "reasoning") if u in entry)
        out[r.id] = Rating(float(entry["overall"]), uses, data["benchmark"], data["data_url"])
    return out
