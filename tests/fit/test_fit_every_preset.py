"""Every catalog model plans at every GGUF preset on three everyday machines, without an exception.

The machines are the ones issue #13 names: an RTX 4090 with 64 GB of RAM, a 16 GB Apple M-series Mac
(unified memory) and a CPU-only box with 32 GB. A plan may say a model does not fit; it must never
raise. This goes through ``advisor.fit.engine.make_plan`` directly (no HTTP), one test per model.
"""

from __future__ import annotations

from typing import Any

import pytest

from advisor.catalog.models_catalog import CatalogModel, load_models
from advisor.fit.args import FitParams
from advisor.fit.engine import GGUF_PRESETS, make_plan

MACHINES: dict[str, dict[str, Any]] = {
    "rtx4090-64gb": {"gpus": ("GeForce RTX 4090",), "ram_gib": 64},
    "mac-16gb": {"gpus": ("Apple M1 (8-core GPU)",), "ram_gib": 16},
    "cpu-32gb": {"ram_gib": 32},
}


@pytest.mark.parametrize("model", load_models(), ids=lambda m: m.id)
def test_model_plans_at_every_preset_on_three_machines(model: CatalogModel) -> None:
    fits = {name: 0 for name in MACHINES}
    for quant in GGUF_PRESETS:
        for name, machine in MACHINES.items():
            plan = make_plan(FitParams(model=model.id, quant=quant, ctx=4096, **machine))
            assert plan.memory.weights_bytes > 0 and plan.n_layers == model.n_layers, (model.id, quant, name)
            fits[name] += plan.fits
    # a model small enough for a 16 GB Mac at Q4_K_M fits it at some preset
    if model.params_total < 8e9:
        assert fits["mac-16gb"] > 0, model.id
    assert fits["rtx4090-64gb"] >= fits["cpu-32gb"], model.id
