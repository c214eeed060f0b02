"""A host's probe results calibrate later speed predictions for the same device, and a probe of the
very model shows as measured beside the prediction."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import probe, services
from advisor.fit.args import parse_fit_params
from advisor.models import ProbeRun

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def smollm2_result() -> dict[str, Any]:
    """A real llama.cpp run of SmolLM2-135M Q4_1 on this machine's CPU."""
    spec = probe.ProbeSpec(source="smollm2", n_ctx=1024, n_threads=2, time_limit_s=300)
    return probe.run_probe(spec, None).to_dict()


def fit_smollm2() -> dict[str, Any]:
    params = parse_fit_params({"model": ["smollm2-135m-instruct"], "quant": ["Q4_1"], "ctx": ["1024"]})
    return services.plan_for(params).to_dict()


def test_the_servers_cpu_probe_never_changes_cpu_advice(smollm2_result: dict[str, Any]) -> None:
    """A probe records no CPU model, so this server's CPU never stands in for the CPU a visitor names
    (nor for the typical desktop CPU assumed when none is named)."""
    before = fit_smollm2()["speed"]
    named = parse_fit_params({"model": ["smollm2-135m-instruct"], "quant": ["Q4_1"], "cpu": ["Ryzen 9 7950X"]})
    before_named = services.plan_for(named).to_dict()["speed"]
    assert before["basis"] == "predicted" and before["decode_tps"] > 0
    ProbeRun.objects.create(host_id="this-host", source="smollm2", status="succeeded", dedupe_key="k1",
                            result=smollm2_result)  # fmt: skip
    assert fit_smollm2()["speed"] == before
    assert services.plan_for(named).to_dict()["speed"] == before_named


def test_gpu_predictions_ignore_cpu_probes(smollm2_result: dict[str, Any]) -> None:
    ProbeRun.objects.create(host_id="this-host", source="smollm2", status="succeeded", dedupe_key="k2",
                            result=smollm2_result)  # fmt: skip
    params = parse_fit_params({"model": ["smollm2-135m-instruct"], "quant": ["Q4_1"], "gpu": ["RTX 4090"]})
    assert services.plan_for(params).to_dict()["speed"]["basis"] == "predicted"
