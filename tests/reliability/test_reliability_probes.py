"""Faults around probes, with a real Redis and real Celery workers: nothing stuck, nothing lost."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.db import close_old_connections

from advisor import services
from advisor.models import ProbeRun
from tests.conftest import PROBE_HOST, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def status(run: ProbeRun) -> str:
    return ProbeRun.objects.get(pk=run.pk).status


def test_worker_killed_mid_probe_marks_the_run_failed_within_60_s(probe_worker: Any, make_worker: Any) -> None:
    run, _ = services.start_probe(services.ProbeRequest(source="smollm2", ctx=8192), host=PROBE_HOST)
    wait_for(lambda: status(run) == "running", 120, "the probe to start", probe_worker)
    probe_worker.kill_hard()
    killed_at = time.monotonic()

    def failed() -> bool:
        services.reap_stale_runs()  # what every page and API read of a probe does
        return status(run) == "failed"

    wait_for(failed, 60, "the killed run to be marked failed")
    assert time.monotonic() - killed_at <= 60
    run.refresh_from_db()
    assert "worker stopped responding" in run.error
    assert run.finished_at is not None

    # A new worker takes the next probe and runs it normally.
    from tests.conftest import worker_db_url

    worker = make_worker(probe_worker.env["CELERY_BROKER_URL"], probe_worker.env["CELERY_RESULT_BACKEND"],
                         queues=f"default,probes.{PROBE_HOST}", DATABASE_URL=worker_db_url())  # fmt: skip
    wait_for(lambda: services.live_worker(PROBE_HOST), 60, "the new worker's heartbeat", worker)
    nxt, created = services.start_probe(services.ProbeRequest(source="smollm2", ctx=1024), host=PROBE_HOST)
    assert created
    wait_for(lambda: status(nxt) not in ProbeRun.ACTIVE, 240, "the next probe", worker)
    assert status(nxt) == "succeeded"


def test_crashing_model_fails_cleanly_and_the_worker_survives(probe_worker: Any, settings: Any) -> None:
    # A file that claims to be GGUF but is garbage: llama.cpp refuses it inside the probe's child process.
    bad = Path(settings.MODELS_DIR) / "broken.gguf"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"GGUF" + b"\xff" * 4096)
    run, _ = services.start_probe(services.ProbeRequest(source="gguf", gguf_path="broken.gguf"), host=PROBE_HOST)
    wait_for(lambda: status(run) not in ProbeRun.ACTIVE, 120, "the broken probe to end", probe_worker)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error
    assert probe_worker.proc.poll() is None  # the worker is still alive
    ok, _ = services.start_probe(services.ProbeRequest(source="smollm2", ctx=1024), host=PROBE_HOST)
    wait_for(lambda: status(ok) not in ProbeRun.ACTIVE, 240, "the next probe", probe_worker)
    ok.refresh_from_db()
    assert ok.status == "succeeded", ok.error


def test_twenty_concurrent_submissions_lose_nothing_and_never_overlap(probe_worker: Any) -> None:
    requests = [services.ProbeRequest(source="smollm2", ctx=1024 * (1 + i % 3)) for i in range(20)]

    def submit(req: services.ProbeRequest) -> int:
        try:
            run, _ = services.start_probe(req, host=PROBE_HOST)
            return run.pk
        finally:
            close_old_connections()

    with ThreadPoolExecutor(max_workers=20) as pool:
        ids = list(pool.map(submit, requests))
    runs = ProbeRun.objects.filter(host_id=PROBE_HOST, pk__in=set(ids))
    assert runs.count() == 3  # three distinct requests; duplicates collapsed onto them
    assert len(set(ids)) == 3
    wait_for(lambda: not ProbeRun.objects.filter(pk__in=set(ids), status__in=ProbeRun.ACTIVE).exists(),
             400, "all probes to finish", probe_worker)  # fmt: skip
    finished = list(ProbeRun.objects.filter(pk__in=set(ids)).order_by("started_at"))
    assert [r.status for r in finished] == ["succeeded"] * 3, [r.error for r in finished]
    for before, after in itertools.pairwise(finished):
        assert before.finished_at <= after.started_at  # one probe at a time on this host


def test_broker_down_refuses_the_probe_and_records_why(probe_worker: Any) -> None:
    from advisor.celery import app

    good = app.conf.broker_url
    # Point the sending side at a port where no broker listens. Celery caches its connection and
    # producer pools, so drop them (without closing the good ones other tests still use).
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app._pool = None
    app.amqp._producer_pool = None
    try:
        with pytest.raises(services.WorkerUnavailable, match="broker is unavailable"):
            services.start_probe(services.ProbeRequest(source="smollm2", ctx=3072), host=PROBE_HOST)
    finally:
        app.conf.broker_url = good
        app._pool = None
        app.amqp._producer_pool = None
    run = ProbeRun.objects.get(host_id=PROBE_HOST, ctx=3072)
    assert run.status == "failed"
    assert "nothing was queued" in run.error


def test_cancelling_a_running_probe_stops_it(probe_worker: Any) -> None:
    run, _ = services.start_probe(services.ProbeRequest(source="smollm2", ctx=16384), host=PROBE_HOST)
    wait_for(lambda: status(run) == "running", 120, "the probe to start", probe_worker)
    assert services.cancel_probe(run.pk)
    wait_for(lambda: status(run) not in ProbeRun.ACTIVE, 60, "the cancelled probe to stop", probe_worker)
    run.refresh_from_db()
    assert run.status == "cancelled", run.error
    assert probe_worker.proc.poll() is None  # the worker lives on
