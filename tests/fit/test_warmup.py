"""advisor.warmup: what a server process works out at start is what the first plans then read."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import warmup
from advisor.catalog.models_catalog import get_model
from advisor.core import gguf_size, speed
from advisor.fit import engine
from advisor.fit.args import parse_fit_params

pytestmark = pytest.mark.django_db


def test_a_warmed_model_plans_at_a_warmed_preset_without_a_first_sight(monkeypatch: Any) -> None:
    """Each table is warmed under the cache key a plan asks it by (lru_cache keys f(x) and f(x, True) apart)."""
    model = get_model("qwen3-8b")
    monkeypatch.setattr(warmup, "load_models", lambda: [model])
    for f in (gguf_size._standin_header_bytes, speed.weights_for, engine.preset_file_bytes):
        f.cache_clear()
    assert warmup.warm_catalog() == 1
    caches = (gguf_size._standin_header_bytes, speed.weights_for, engine.preset_file_bytes)
    misses = [f.cache_info().misses for f in caches]
    layer_sums = len(speed._LAYER_SUMS)  # per chunks tuple: a plan that reads new chunks adds one
    params = parse_fit_params({"model": [model.id], "quant": [warmup.WARM_PRESETS[-1]], "gpu": ["RTX 4090"]})
    assert engine.make_plan(params).placement == "gpu"
    assert [f.cache_info().misses for f in caches] == misses
    assert len(speed._LAYER_SUMS) == layer_sums
