"""The fast uncached path gives the plan object's numbers: for 50 machines of the benchmark's committed
list, every result of ``/api/recommendations`` (planned through ``services.planner``, with the memory
engine's aimed max-context and --n-cpu-moe searches and its -ngl lower bound) equals ``make_plan``'s plan
computed with the plain searches those replace (halving for max_context and --n-cpu-moe, every -ngl
counted down from all layers) and the engine's caches emptied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client

from advisor.core import memory, speed
from advisor.fit.engine import make_plan
from advisor.pages.spec import Spec

pytestmark = pytest.mark.django_db

SPECS = Path(__file__).parents[2] / "bench" / "data" / "machine_specs.json"
N_MACHINES = 50
N_RESULTS = 10
SPEC_INTS = ("gpu_count", "ctx", "users")
SPEC_FLOATS = ("ram",)


def _specs() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(SPECS.read_text())["specs"]
    return rows


def _bisect_max_context(request: memory.FitRequest, ngl: int, known: Any = None) -> int:
    """max_context as a plain halving search over multiples of 256 (what the aimed search replaced)."""
    lo, hi = 256, (request.shape.context_max + 255) // 256 * 256
    if not memory._fits_at(request, ngl, lo):
        return 0
    if memory._fits_at(request, ngl, hi):
        return min(hi, request.shape.context_max) if request.shape.context_max >= 256 else hi
    while hi - lo > 256:
        mid = ((lo + hi) // 2 + 255) // 256 * 256
        if mid >= hi:
            mid = hi - 256
        lo, hi = (mid, hi) if memory._fits_at(request, ngl, mid) else (lo, mid)
    return lo


def _bisect_n_cpu_moe(
    req: memory.FitRequest, ctx: memory.ContextSettings, types: Any, placed: dict[int, Any] | None = None
) -> int:
    """_n_cpu_moe as a plain halving search (what the aimed search replaced); it hands ``estimate`` no
    placement to reuse (``placed`` stays empty), so -ngl's search places every count itself."""
    if req.n_cpu_moe is not None:
        return max(0, min(req.n_cpu_moe, req.shape.n_layers))
    if not any(memory.weight_split(req.shape, types).expert_bytes) or req.n_gpu_layers not in (None, -1):
        return 0

    def gpus_fit(n: int) -> bool:
        return all(d.fits for d in memory._place(req, ctx, types, req.shape.n_layers + 1, n) if d.name != "host")

    if gpus_fit(0):
        return 0
    lo, hi = 0, req.shape.n_layers
    if not gpus_fit(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if gpus_fit(mid) else (mid, hi)
    return hi


def _clear_engine_caches() -> None:
    for fn in (memory.kv_cache_layer_bytes, memory.compute_parts, memory.gpu_compute_parts,
               memory.gpu_host_compute_bytes, memory._layer_devices, memory._kv_buffer_groups, memory._kv_layout,
               memory._attn_groups, speed.weights_for, speed.default_efficiency):  # fmt: skip
        fn.cache_clear()


def _spec(row: dict[str, str]) -> Spec:
    values: dict[str, Any] = dict(row)
    for k in SPEC_INTS:
        if k in values:
            values[k] = int(values[k])
    for k in SPEC_FLOATS:
        values[k] = float(values[k])
    return Spec(**values)


def test_machine_specs_are_distinct() -> None:
    rows = _specs()
    assert len(rows) >= 1000
    assert len({tuple(sorted(r.items())) for r in rows}) == len(rows)


def test_recommendations_equal_reference_plans(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[tuple[Spec, list[dict[str, Any]]]] = []
    for row in _specs()[:N_MACHINES]:
        response = client.get(f"/api/recommendations?{urlencode(row)}&limit={N_RESULTS}")
        assert response.status_code == 200, (row, response.content[:300])
        served.append((_spec(row), response.json()["results"]))
    assert sum(len(results) for _, results in served) >= N_MACHINES * N_RESULTS * 0.9

    monkeypatch.setattr(memory, "max_context", _bisect_max_context)
    monkeypatch.setattr(memory, "_ngl_bound", lambda req, ctx, types: req.shape.n_layers + 1)
    monkeypatch.setattr(memory, "_n_cpu_moe", _bisect_n_cpu_moe)
    _clear_engine_caches()
    compared = 0
    for spec, results in served:
        for result in results:
            params = spec.fit_params(result["model_info"]["id"], result["quant_info"]["name"])
            reference = json.loads(json.dumps(make_plan(params).to_dict(), cls=DjangoJSONEncoder))
            assert {k: result[k] for k in reference} == reference, (spec, params.model, params.quant)
            compared += 1
    assert compared == sum(len(results) for _, results in served)
