"""A host's probe results calibrate later speed predictions for the same device, and a probe of the
very model shows as measured beside the prediction."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import probe, services
from advisor.fit_args import parse_fit_params
from advisor.models import ProbeRun

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def smollm2_result() -> dict[str, Any]:
    """A real llama.cpp run of SmolLM2-135M Q4_1 on this machine's CPU."""
    spec = probe.ProbeSpec(source="smollm2", n_ctx=1024, n_threads=2, time_limit_s=300)
    return probe.run_probe(spec, None).to_dict()


def fit_smollm2() -> dict[str, Any]:
    params = parse_fit_params({"model": ["smollm2-135m-instruct"], "quant": ["Q4_1"], "ctx": ["1024"]})
    return services.fit_report(params)


def test_cpu_probe_calibrates_the_cpu_prediction(smollm2_result: dict[str, Any]) -> None:
    before = fit_smollm2()["speed"]
    assert before["basis"] == "predicted" and "measured" not in before
    ProbeRun.objects.create(host_id="this-host", source="smollm2", status="succeeded", dedupe_key="k1",
                            result=smollm2_result)  # fmt: skip
    after = fit_smollm2()["speed"]
    assert after["basis"] == "calibrated"
    assert after["calibration"]["device"] == "CPU"
    assert after["calibration"]["samples"] == 1 and after["calibration"]["confidence"] == "low"
    measured = smollm2_result["decode_tps"]
    assert after["measured"]["decode_tps"] == measured
    # Fitted to this one run, the calibrated prediction lands on it.
    assert after["decode_tps"] == pytest.approx(measured, rel=0.05)


def test_gpu_predictions_ignore_cpu_probes(smollm2_result: dict[str, Any]) -> None:
    ProbeRun.objects.create(host_id="this-host", source="smollm2", status="succeeded", dedupe_key="k2",
                            result=smollm2_result)  # fmt: skip
    params = parse_fit_params({"model": ["smollm2-135m-instruct"], "quant": ["Q4_1"], "gpu": ["RTX 4090"]})
    assert services.fit_report(params)["speed"]["basis"] == "predicted"
