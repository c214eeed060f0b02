"""Web tests of the probes page (and its partials): real requests, real HTML."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from advisor.models import ProbeRun, WorkerHeartbeat
from tests.web.pages import HTMX, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]


def test_probe_list_and_anonymous_start_goes_to_login(client: Client) -> None:
    assert client.get("/probes").status_code == 200
    response = client.post("/probes", {"source": "smollm2", "ctx": "1024"})
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")
    assert not ProbeRun.objects.exists()


def test_probe_start_without_worker_is_503_with_message(admin_client: Client) -> None:
    response = admin_client.post("/probes", {"source": "smollm2", "ctx": "1024", "gpu_layers": "-1"})
    assert response.status_code == 503
    assert "No probe worker is running" in text(response)
    assert not ProbeRun.objects.exists()


def test_probe_bad_input_is_400(admin_client: Client) -> None:
    response = admin_client.post("/probes", {"source": "standin", "ctx": "1024"})
    assert response.status_code == 400
    assert "Choose the catalog model to stand in for." in text(response)
    response = admin_client.post("/probes", {"source": "smollm2", "ctx": "99"})
    assert response.status_code == 400


def test_probe_start_with_a_live_worker_redirects_to_the_run(
    admin_client: Client, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.HOST_ID = "web-test-host"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    WorkerHeartbeat.objects.create(host_id="web-test-host", hostname="h", queue="probes.web-test-host",
                                   last_seen=timezone.now())  # fmt: skip
    from advisor import services

    sent: list[int] = []
    original = services._enqueue
    services._enqueue = lambda run: sent.append(run.pk)  # type: ignore[assignment]
    try:
        with django_capture_on_commit_callbacks(execute=True) as queued:
            response = admin_client.post("/probes", {"source": "smollm2", "ctx": "1024"})
    finally:
        services._enqueue = original  # type: ignore[assignment]
    run = ProbeRun.objects.get()
    assert len(queued) == 1  # queued only once the run is committed
    assert response.status_code == 302 and response["Location"] == f"/probes/{run.pk}"
    assert sent == [run.pk] and run.host_id == "web-test-host"


def test_probe_detail_polls_until_finished_then_286(client: Client) -> None:
    run = ProbeRun.objects.create(host_id="h", dedupe_key="k", status="running", stage="decode", percent=60)
    page = client.get(f"/probes/{run.pk}")
    assert page.status_code == 200 and 'hx-trigger="every 1s"' in text(page) and 'value="60"' in text(page)
    poll = client.get(f"/probes/{run.pk}", headers=HTMX)
    assert poll.status_code == 200 and text(poll).lstrip().startswith('<section id="progress"')
    ProbeRun.objects.filter(pk=run.pk).update(
        status="succeeded", percent=100, stage="done",
        result={"decode_tps": 210.5, "prefill_tps": 1800.0,
                "buffers": [{"kind": "KV", "device": "CPU", "bytes": 23592960}]},
    )  # fmt: skip
    done = client.get(f"/probes/{run.pk}", headers=HTMX)
    assert done.status_code == 286
    assert "every 1s" not in text(done) and "210.5" in text(done)
    assert client.get("/probes/999999").status_code == 404


def test_probe_cancel_needs_login_and_cancels(client: Client, admin_client: Client) -> None:
    run = ProbeRun.objects.create(host_id="h", dedupe_key="k2", status="queued")
    assert client.post(f"/probes/{run.pk}/cancel").status_code == 302
    assert ProbeRun.objects.get(pk=run.pk).status == "queued"
    assert admin_client.post(f"/probes/{run.pk}/cancel").status_code == 302
    assert ProbeRun.objects.get(pk=run.pk).status == "cancelled"


def test_probe_page_compares_smollm2_buffers_with_the_prediction(client: Client) -> None:
    # SmolLM2-135M at 1024 tokens: 30 layers x 3 KV heads x 64 x 2 (K, V) x 2 bytes x 1024 = 23,592,960 bytes,
    # what llama.cpp logged in bench/data/cpu_buffers/smollm2_c1024_ub512_fatrue.json (22.5 MiB).
    run = ProbeRun.objects.create(
        host_id="h", dedupe_key="k3", status="succeeded", source="smollm2", ctx=1024, percent=100, stage="done",
        result={"decode_tps": 4.3, "prefill_tps": 69.4, "backend": "CPU", "flash_attn": "auto",
                "buffers": [{"kind": "KV", "device": "CPU", "bytes": 23592960}]},
    )  # fmt: skip
    html = text(client.get(f"/probes/{run.pk}"))
    row = re.search(r"<td>KV cache</td>(.*?)</tr>", html, re.S)
    assert row is not None
    assert re.findall(r'<td class="num">([^<]+)</td>', row.group(1)) == ["22.5\xa0MB", "22.5\xa0MB", "0.0%"]
