"""A probe requested through the service goes through real Redis to a real worker, runs SmolLM2
on the CPU with llama.cpp, and its measured result is stored."""

from __future__ import annotations

from typing import Any

import pytest

from advisor import services
from advisor.models import ProbeRun
from tests.conftest import PROBE_HOST as HOST
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_smollm2_probe_runs_through_celery_and_is_stored(probe_worker: Any) -> None:
    run, created = services.start_probe(services.ProbeRequest(source="smollm2", ctx=1024), host=HOST)
    assert created
    wait_for(lambda: ProbeRun.objects.get(pk=run.pk).status not in ProbeRun.ACTIVE, 240, "probe end", probe_worker)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.stage == "done" and run.percent == 100
    result = run.result
    assert result["backend"] == "CPU"
    assert result["decode_tps"] > 1 and result["prefill_tps"] > result["decode_tps"]
    assert result["n_ctx"] == 1024
    kinds = {b["kind"] for b in result["buffers"]}
    assert {"model", "KV", "compute"} <= kinds


def test_duplicate_submission_returns_the_active_run(probe_worker: Any) -> None:
    req = services.ProbeRequest(source="smollm2", ctx=2048)
    first, created_first = services.start_probe(req, host=HOST)
    second, created_second = services.start_probe(req, host=HOST)
    assert created_first and not created_second
    assert first.pk == second.pk
    wait_for(lambda: not ProbeRun.objects.get(pk=first.pk).is_active, 240, "probe end", probe_worker)
    assert ProbeRun.objects.filter(dedupe_key=first.dedupe_key).count() == 1


def test_no_worker_means_a_clear_refusal_and_nothing_queued() -> None:
    with pytest.raises(services.WorkerUnavailable, match="No probe worker is running"):
        services.start_probe(services.ProbeRequest(source="smollm2"), host="host-without-worker")
    assert not ProbeRun.objects.filter(host_id="host-without-worker").exists()


def test_unknown_model_is_refused_with_a_message() -> None:
    with pytest.raises(services.ProbeRequestError, match="llama-9000"):
        services.start_probe(services.ProbeRequest(source="standin", model_id="llama-9000", quant="Q4_K_M"), host=HOST)
