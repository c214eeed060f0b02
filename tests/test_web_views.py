"""Pages through Django's test client: every view, the htmx partials, and bad input as a 4xx with a message."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from advisor.models import ProbeRun, WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_cache(settings: Any, request: pytest.FixtureRequest) -> None:
    """A fresh in-memory cache per test: rate-limit counters and cached reports do not leak between tests."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": request.node.nodeid}}  # fmt: skip


HTMX = {"HX-Request": "true"}


def text(response: Any) -> str:
    return response.content.decode()


def result_ids(html: str) -> list[str]:
    return re.findall(r'<li class="rec fit-[a-z]+" data-model="([^"]+)"', html)


# ---------------------------------------------------------------- home and results


def test_home_without_spec_shows_the_form_and_typical_machines(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = text(response)
    assert 'hx-get="/"' in html and 'hx-trigger="change delay:300ms, submit"' in html and 'hx-push-url="true"' in html
    assert 'method="get" action="/#results"' in html  # the form works without JavaScript (and shows its results)
    assert "MacBook Air, 16 GB" in html
    assert result_ids(html) == []


def test_results_for_an_rtx_4090_rank_models_that_fit(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 4090", "ram": "64"})
    assert response.status_code == 200
    html = text(response)
    assert "Best models for RTX 4090, 64 GB RAM" in html
    ids = result_ids(html)
    assert len(ids) == 25  # the default page size
    assert "Fits on GPU (-ngl" in html
    # 24 GiB card: the VRAM line of the memory bar says so.
    assert "VRAM 24.0\xa0GB" in html
    # Every card links to its model page with the spec, so the page can be shared.
    assert f'href="/models/{ids[0]}?gpu=RTX+4090&amp;gpu_count=1&amp;ram=64.0' in html


def test_htmx_request_gets_only_the_results_partial(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 4090", "ram": "64"}, headers=HTMX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html and "<form" not in html


def test_unknown_gpu_is_a_400_with_suggestions(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 9090"}, headers=HTMX)
    assert response.status_code == 400
    html = text(response)
    assert "Please check the form" in html
    assert "Unknown GPU &#x27;RTX 9090&#x27;. Did you mean: GeForce RTX 5090" in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ctx": "20000000"}, "less than or equal to 10000000"),
        ({"gpu_count": "17"}, "less than or equal to 16"),
        ({"gpu": "x" * 201}, "at most 200 characters"),
        ({"ram": "lots"}, "Enter a number"),
        ({"runtime": "ollama", "kv_type": "q5_0"}, "ollama offers the KV-cache types f16, q8_0, q4_0, not q5_0"),
        ({"runtime": "koboldcpp"}, "Select a valid choice"),
        ({"cpu": "Pentium 9000"}, "Unknown CPU"),
        ({"ram": "32", "sort": "random"}, "Select a valid choice"),
    ],
)
def test_bad_machine_input_is_a_400_with_a_message(client: Client, params: dict[str, str], message: str) -> None:
    response = client.get("/", params)
    assert response.status_code == 400
    assert message in text(response)


def test_filters_keep_only_the_family_and_sort_by_speed(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 4090", "ram": "64", "family": "qwen3", "sort": "speed", "limit": "100"})
    html = text(response)
    ids = result_ids(html)
    assert ids and all(i.startswith("qwen3-") for i in ids)
    speeds = [float(s) for s in re.findall(r"<strong>([0-9.]+)</strong> tok/s decode", html)]
    assert speeds == sorted(speeds, reverse=True)


def test_size_and_license_filters(client: Client) -> None:
    html = text(client.get("/", {"gpu": "RTX 4090", "ram": "64", "size": "4", "license": "apache-2.0", "limit": "200"}))
    params = [float(p) for p in re.findall(r'<p class="meta">([0-9.]+)B params', html)]
    assert params and max(params) <= 4.0
    licenses = re.findall(r'<p class="meta">[0-9.]+B params[^·]*· [^·]+ · ([a-z0-9.-]+)\s', html)
    assert licenses and set(licenses) == {"apache-2.0"}


def test_cpu_only_machine_gets_cpu_verdicts(client: Client) -> None:
    html = text(client.get("/", {"ram": "16"}))
    assert "Best models for CPU only, 16 GB RAM" in html
    assert "CPU only" in html and "Fits on GPU" not in html


def test_detect_redirects_to_a_spec_of_this_host(client: Client) -> None:
    import psutil

    response = client.get("/detect", {"gpu": "RTX 4090", "ram": "512", "ctx": "32768", "runtime": "ollama"})
    assert response.status_code == 302
    assert response["Location"].startswith("/?")
    # The host's hardware replaces the typed one; the workload stays.
    assert f"ram={psutil.virtual_memory().total / 2**30:.0f}" in response["Location"]
    assert "ctx=32768" in response["Location"] and "runtime=ollama" in response["Location"]
    assert "gpu=RTX+4090" not in response["Location"] and "ram=512" not in response["Location"]


def test_gpu_search_partial_lists_apple_chips(client: Client) -> None:
    response = client.get("/gpus", {"gpu": "m4 max"}, headers=HTMX)
    assert response.status_code == 200
    assert '<option value="Apple M4 Max (40-core GPU)">' in text(response)
    page = client.get("/gpus", {"gpu": "m4 max"})
    assert 'href="/?gpu=Apple%20M4%20Max%20%2840-core%20GPU%29"' in text(page)


# ---------------------------------------------------------------- model detail


def test_model_page_has_ladder_and_launch_commands(client: Client) -> None:
    response = client.get("/models/qwen3-8b", {"gpu": "RTX 4060", "ram": "32", "ctx": "8192"})
    assert response.status_code == 200
    html = text(response)
    assert '<table id="ladder">' in html and ">Q4_K_M</a>" in html and ">Q8_0</a>" in html
    # Qwen3-8B has 36 layers: -ngl 37 puts them and the output layer on the GPU.
    assert "llama-server -hf unsloth/Qwen3-8B-GGUF:" in html
    assert "-c 8192 -ngl 37 -fa on -ctk q8_0 -ctv q8_0" in html
    assert "OLLAMA_KV_CACHE_TYPE=q8_0 ollama serve" in html and "PARAMETER num_ctx 8192" in html
    assert 'bnb_4bit_quant_type="nf4"' in html
    assert 'data-chart="memory-data"' in html and 'id="memory-data" type="application/json"' in html


def test_model_page_partial_offload_command(client: Client) -> None:
    html = text(client.get("/models/qwen3-8b", {"gpu": "RTX 4060", "ram": "32", "quant": "F16"}))
    ngl = re.search(r"-c 8192 -ngl (\d+) ", html)
    assert ngl is not None and 0 < int(ngl.group(1)) < 37  # 16 GB of F16 weights on an 8 GB card
    # Ollama takes the same -ngl as a Modelfile parameter: shell lines only, no REPL command.
    assert f"PARAMETER num_gpu {ngl.group(1)}" in html and "/set parameter" not in html


def test_unknown_model_is_404_and_bad_spec_is_400(client: Client) -> None:
    assert client.get("/models/llama-9000").status_code == 404
    response = client.get("/models/qwen3-8b", {"gpu": "RTX 9090"})
    assert response.status_code == 400
    assert "Did you mean" in text(response)


# ---------------------------------------------------------------- tiers and accuracy


def test_tier_pages(client: Client) -> None:
    listing = client.get("/tiers")
    assert listing.status_code == 200 and 'href="/tiers/mac-16gb"' in text(listing)
    page = client.get("/tiers/mac-16gb")
    html = text(page)
    assert page.status_code == 200
    assert "What fits on a MacBook Air, 16 GB" in html
    assert '<table id="tier-top">' in html and "Long documents" in html
    assert client.get("/tiers/no-such-tier").status_code == 404


def test_tier_page_shows_probe_measurements(client: Client) -> None:
    ProbeRun.objects.create(
        host_id="bench-host", source="standin", model_id="qwen3-8b", quant="Q4_K_M", ctx=4096,
        dedupe_key="x", status="succeeded", result={"decode_tps": 123.4, "prefill_tps": 4567.0, "backend": "CUDA"},
    )  # fmt: skip
    html = text(client.get("/tiers/gpu-24gb"))
    assert "Measured with live probes" in html
    # Only when the tier's pick is the measured quant does the row appear; the badge is there either way.
    assert "123.4" in html or "No probe has measured these models yet" in html


def test_accuracy_page_compares_with_bench_data(client: Client) -> None:
    response = client.get("/accuracy")
    html = text(response)
    assert response.status_code == 200
    assert '<table id="cpu-accuracy">' in html
    assert "smollm2-135m-instruct" in html and "median error" in html


# ---------------------------------------------------------------- probes


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


# ---------------------------------------------------------------- import


def test_import_page_needs_login_to_post(client: Client) -> None:
    assert client.get("/import").status_code == 200
    response = client.post("/import", {"source": "Qwen/Qwen3-8B"})
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("not a repo", "Enter a Hugging Face repo id"),
        ("https://example.com/model.gguf", "Enter a Hugging Face repo id"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_import_bad_input_is_400(admin_client: Client, source: str, message: str) -> None:
    response = admin_client.post("/import", {"source": source})
    assert response.status_code == 400
    assert message in text(response)


def test_healthz(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


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


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    from pathlib import Path

    from tests.fakehub import FakeFile, FakeHub, FakeRepo, use_fake_hub

    config = (Path(__file__).parent / "fixtures" / "hf_configs" / "qwen3-8b.json").read_bytes()
    hub = FakeHub()
    hub.add(FakeRepo("someone/Qwen3-8B-Variant", {"config.json": FakeFile(data=config)},
                     card_data={"license": "apache-2.0"}))  # fmt: skip
    hub.start()
    use_fake_hub(hub, monkeypatch, tmp_path)
    yield hub
    hub.stop()


def test_import_from_the_hub_adds_a_model(admin_client: Client, fake_hub: Any) -> None:
    from advisor.models import CatalogEntry

    response = admin_client.post("/import", {"source": "someone/Qwen3-8B-Variant"})
    assert response.status_code == 302 and response["Location"] == "/models/qwen3-8b-variant"
    entry = CatalogEntry.objects.get(model_id="qwen3-8b-variant")
    assert entry.origin == "hub" and entry.imported_by is not None
    assert entry.record["n_layers"] == 36 and entry.record["n_kv_heads"] == 8
    page = admin_client.get("/models/qwen3-8b-variant", {"gpu": "RTX 4090"})
    assert page.status_code == 200 and "-ngl 37" in text(page)
    missing = admin_client.post("/import", {"source": "someone/does-not-exist"})
    assert missing.status_code == 400 and "someone/does-not-exist" in text(missing)
    assert CatalogEntry.objects.filter(origin="hub").count() == 1


def test_accuracy_page_reads_gpu_bench_records(client: Client, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records as bench/gpu_bench.py writes them; the predictions come from fit on the H100."""
    import json

    from advisor.pages import accuracy as accuracy_pages

    (tmp_path / "cpu_buffers").mkdir()
    memory = {"model_id": "qwen3-8b", "phase": "memory", "preset": "Q4_K_M",
              "settings": {"n_ctx": 4096, "type_k": "f16", "type_v": "f16", "flash_attn": "on"},
              "probe": {"gpu_after_prefill_bytes": 6 * 1024**3}}  # fmt: skip
    speed = {"model_id": "qwen3-8b", "phase": "speed", "tool": "llama-bench", "preset": "Q4_K_M",
             "bench": {"n_prompt": 0, "n_gen": 128, "n_depth": 0, "avg_ts": 150.0}}  # fmt: skip
    (tmp_path / "memory_h100.jsonl").write_text(json.dumps(memory) + "\n")
    (tmp_path / "speed_h100.jsonl").write_text(json.dumps(speed) + "\n")
    monkeypatch.setattr(accuracy_pages, "BENCH_DATA", tmp_path)
    html = text(client.get("/accuracy"))
    assert '<table id="gpu-memory-accuracy">' in html and '<table id="gpu-speed-accuracy">' in html
    row = re.search(r"<td>tg128</td>(.*?)</tr>", html, re.S)
    assert row is not None
    measured, predicted, error = re.findall(r'<td class="num">([^<]+)</td>', row.group(1))
    assert measured == "150.0" and float(predicted) > 0 and error.endswith("%")


def test_accuracy_page_shows_held_out_predictions_and_synthetic_probes(client: Client) -> None:
    """The committed bench data: set 4 was predicted before it was measured; synthetic probes timed."""
    html = text(client.get("/accuracy"))
    table = re.search(r'<table id="heldout-speed">.*?</table>', html, re.S)
    assert table is not None
    # DeepSeek-Coder-V2-Lite Q8_0 tg128 at depth 0: 278.0 measured, 293.5 predicted before (+5.6%)
    cells = r"deepseek-coder-v2-lite-instruct <small>Q8_0</small></td><td>tg128 <small>depth 0</small>(.*?)</tr>"
    row = re.search(cells, table.group(0), re.S)
    assert row is not None
    assert re.findall(r'<td class="num">([^<]+)</td>', row.group(1)) == ["278.0", "293.5", "5.6%"]
    assert "Set 4, decode: median error 1.8%, worst 6.0% (5 runs)." in html
    synthetic = re.search(r'<table id="synthetic-probes">.*?</table>', html, re.S)
    assert synthetic is not None and "52.3 s" in synthetic.group(0) and "8 + 16 layers" in synthetic.group(0)


def test_transformers_runtime_shows_the_bitsandbytes_config_of_the_chosen_quant(client: Client) -> None:
    html = text(client.get("/models/qwen3-8b", {"gpu": "RTX 4090", "runtime": "transformers", "quant": "bnb-int8"}))
    assert "BitsAndBytesConfig(load_in_8bit=True)" in html
    assert "llama-server -hf" not in html and "is a Hugging Face format" in html
    html = text(client.get("/models/qwen3-8b", {"gpu": "RTX 4090", "runtime": "transformers", "quant": "bnb-fp4"}))
    assert 'bnb_4bit_quant_type="fp4"' in html and "bnb_4bit_use_double_quant=False" in html


def test_import_by_gguf_url_checks_the_file(admin_client: Client, fake_hub: Any) -> None:
    from advisor.imports import repo_from_source
    from advisor.models import CatalogEntry

    url = "https://huggingface.co/someone/Qwen3-8B-Variant/resolve/main/qwen3-8b-Q4_K_M.gguf"
    assert repo_from_source(url) == ("someone/Qwen3-8B-Variant", "qwen3-8b-Q4_K_M.gguf")
    response = admin_client.post("/import", {"source": url})
    assert response.status_code == 400
    assert "someone/Qwen3-8B-Variant has no GGUF file &#x27;qwen3-8b-Q4_K_M.gguf&#x27;" in text(response)
    assert not CatalogEntry.objects.exists()  # nothing half-written
    page = admin_client.post("/import", {"source": "https://huggingface.co/someone/Qwen3-8B-Variant"})
    assert page.status_code == 302 and CatalogEntry.objects.filter(model_id="qwen3-8b-variant").exists()


def test_accuracy_page_lists_probes_with_predicted_kv(client: Client) -> None:
    ProbeRun.objects.create(
        host_id="h", dedupe_key="k4", status="succeeded", source="smollm2", ctx=1024,
        result={"decode_tps": 4.3, "backend": "CPU", "buffers": [{"kind": "KV", "device": "CPU", "bytes": 23592960}]},
    )  # fmt: skip
    html = text(client.get("/accuracy"))
    row = re.search(r'<table id="probe-accuracy">.*?<tbody><tr>(.*?)</tr>', html, re.S)
    assert row is not None and "22.5\xa0MB <small>(0.0%)</small>" in row.group(1)


def test_favicon_ico_points_at_the_svg_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
