"""The JSON API through Django's test client: fit, recommendations, probes (auth, 503), schema, errors."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from advisor.models import ApiToken, ProbeRun, WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_cache(settings: Any, request: pytest.FixtureRequest) -> None:
    """A fresh in-memory cache per test: rate-limit counters and cached reports do not leak between tests."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": request.node.nodeid}}  # fmt: skip


GIB = 1024**3


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    return dict(body["error"])


# ---------------------------------------------------------------- /api/fit


def test_fit_returns_memory_fit_and_speed() -> None:
    response = Client().get(
        "/api/fit", {"model": "qwen3-8b", "quant": "Q4_K_M", "gpu": "RTX 4090", "ctx": "32768", "kv_type": "f16"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "qwen3-8b" and body["quant"] == "Q4_K_M"
    mem = body["memory"]
    assert {"weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes", "gpu_bytes", "cpu_bytes"} <= set(mem)
    # Qwen3-8B's f16 KV cache: 36 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes = 144 KiB per token.
    assert mem["kv_cache_bytes"] == 36 * 8 * 128 * 2 * 2 * 32768
    assert body["fit"] == "full_gpu" and body["n_gpu_layers"] == 37
    assert body["speed"]["decode_tps"] > 0 and body["speed"]["prefill_tps"] > body["speed"]["decode_tps"]


def test_fit_repeated_gpu_gives_two_devices() -> None:
    body = Client().get("/api/fit?model=qwen3-8b&gpu=RTX+3090&gpu=RTX+3090").json()
    gpus = [d for d in body["memory"]["devices"] if d["name"] != "host"]
    # Choosing -ngl itself, a plan keeps llama.cpp's --fit margin (1 GiB) free on every 24 GiB card.
    assert len(gpus) == 2 and all(d["capacity_bytes"] == 23 * GIB for d in gpus)


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        ("model=qwen3-8bb", "model", "no catalog model 'qwen3-8bb'; did you mean qwen3-8b"),
        ("model=qwen3-8b&gpu=RTX+9090", "gpu", "Did you mean"),
        ("model=qwen3-8b&ctx=10000001", "ctx", "between 1 and 10000000"),
        ("model=qwen3-8b&kv_type=q9", "kv_type", "must be one of"),
        ("model=qwen3-8b&quant=Q4_K_X", "quant", "must be one of"),
        ("model=qwen3-8b&parallel=0", "parallel", "between 1 and 256"),
        ("model=" + "x" * 201, "model", "at most 200 characters"),
        ("model=qwen3-8b&hf_config=/etc/passwd", "model", "exactly one of"),
        ("gguf=/etc/passwd", "gguf", "huggingface.co"),
        ("", "model", "exactly one of"),
    ],
)
def test_fit_bad_input_is_400_json(query: str, field: str, fragment: str) -> None:
    response = Client().get("/api/fit?" + query)
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == field and fragment in error["message"]


def test_fit_unknown_model_suggests_near_ids() -> None:
    error = error_of(Client().get("/api/fit?model=qwen3-8bb"))
    assert "qwen3-8b" in error["suggestions"]


# ---------------------------------------------------------------- /api/recommendations


def test_recommendations_ranked_with_fit_shaped_memory() -> None:
    response = Client().get("/api/recommendations", {"gpu": "RTX 4090", "ram": "64", "ctx": "8192", "limit": "5"})
    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert len(results) == 5
    for r in results:
        assert {"model", "quant", "fit", "memory", "speed", "quality"} <= set(r)
        assert r["memory"]["kv_cache_bytes"] > 0 and r["memory"]["weights_bytes"] > 0
        assert r["memory"]["gpu_bytes"] <= 24 * GIB
        # usable quality first, wherever the model sits: all on the GPU, or its experts in RAM
        assert r["speed"]["decode_tps"] >= 10
        if r["placement"] == "gpu" or r["n_cpu_moe"]:
            assert r["n_gpu_layers"] == r["n_layers"] + 1  # the output layer counts as one
    assert body["machine"]["vram_bytes"] == 24 * GIB and body["machine"]["ram_bytes"] == 64 * GIB


def test_recommendations_answer_anew_after_a_probe_of_the_device() -> None:
    """The cached answer is keyed on what plans read (services.inputs_version): a probe that finishes on
    the device changes the next answer for the same query, within the cache's 60 s."""
    query = {"gpu": "RTX 4090", "ram": "64", "ctx": "8192", "limit": "1"}
    top = Client().get("/api/recommendations", query).json()["results"][0]
    assert top["speed"]["basis"] == "predicted"
    ProbeRun.objects.create(
        host_id="h1", source="standin", model_id=top["model"], quant=top["quant"], dedupe_key="rec", status="succeeded",
        finished_at=timezone.now(), result={"decode_tps": 7.0, "prefill_tps": 99.0, "gpu_name": "GeForce RTX 4090",
                                            "backend": "CUDA"},
    )  # fmt: skip
    again = Client().get("/api/recommendations", query).json()["results"][0]
    assert again["speed"] != top["speed"]


def test_recommendations_for_an_apple_chip_use_the_unified_share() -> None:
    body = Client().get("/api/recommendations", {"gpu": "Apple M4 (10-core GPU)", "ram": "16"}).json()
    # macOS lets the GPU wire about 2/3 of 16 GB (advisor/catalog/data/apple_silicon.json).
    assert abs(body["machine"]["vram_bytes"] / (16 * GIB) - 2 / 3) < 0.001
    assert body["machine"]["unified"] is True and body["results"]


def test_recommendations_use_case_filters_models() -> None:
    body = Client().get("/api/recommendations", {"gpu": "RTX 4090", "use_case": "coding", "limit": "50"}).json()
    assert body["results"] and all("coding" in r["model_info"]["use_cases"] for r in body["results"])


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"gpu": "RTX 9090"}, "gpu", "Did you mean"),
        ({"gpu_count": "17"}, "gpu_count", "less than or equal to 16"),
        ({"ctx": "10000001"}, "ctx", "less than or equal to 10000000"),
        ({"gpu": "a" * 201}, "gpu", "at most 200 characters"),
        ({"kv_type": "q3_k"}, "kv_type", "Select a valid choice"),
        ({"use_case": "poetry"}, "use_case", "Select a valid choice"),
        ({"vram": "-1"}, "vram", "greater than or equal to 0.25"),
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
        ({"family": "qwen4"}, "family", "Did you mean: qwen3"),
        ({"license": "gpl"}, "license", "Unknown license 'gpl'"),
    ],
)
def test_recommendations_bad_input_is_400_json(params: dict[str, str], field: str, fragment: str) -> None:
    response = Client().get("/api/recommendations", params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == field and fragment in error["message"]


def test_unknown_gpu_error_carries_suggestions() -> None:
    error = error_of(Client().get("/api/recommendations", {"gpu": "RTX 9090"}))
    assert "GeForce RTX 4090" in error["suggestions"]


def test_gpu_search_api() -> None:
    body = Client().get("/api/gpus", {"q": "h100"}).json()
    assert any(g["name"].startswith("H100") and g["vram_bytes"] == 80 * GIB for g in body["results"])
    assert Client().get("/api/gpus", {"q": "x" * 201}).status_code == 400


# ---------------------------------------------------------------- /api/probes


@pytest.fixture
def token(django_user_model: Any) -> str:
    user = django_user_model.objects.create_user("bot", password="unused-password-1")
    secret = "test-token-0123456789"
    ApiToken.objects.create(user=user, token_hash=hashlib.sha256(secret.encode()).hexdigest(), label="ci")
    return secret


@pytest.fixture
def live_worker(settings: Any) -> Iterator[list[int]]:
    """A worker heartbeat for this host, and the broker send recorded instead of made (tests using it commit
    for real: a run is queued only once it is committed)."""
    from advisor import services

    settings.HOST_ID = "api-test-host"
    WorkerHeartbeat.objects.create(host_id="api-test-host", hostname="h", queue="probes.api-test-host",
                                   last_seen=timezone.now())  # fmt: skip
    sent: list[int] = []
    original = services._enqueue
    services._enqueue = lambda run: sent.append(run.pk)  # type: ignore[assignment]
    yield sent
    services._enqueue = original  # type: ignore[assignment]


def test_probe_post_needs_auth() -> None:
    response = Client().post("/api/probes", {"source": "smollm2", "ctx": "1024"})
    assert response.status_code == 401
    response = Client().post("/api/probes", {"source": "smollm2"}, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401 and "invalid or unknown API token" in error_of(response)["message"]
    assert not ProbeRun.objects.exists()


def test_probe_post_without_worker_is_503_json(token: str) -> None:
    response = Client().post(
        "/api/probes", {"source": "smollm2", "ctx": 1024}, content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 503
    assert "No probe worker is running" in error_of(response)["message"]
    assert not ProbeRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_probe_post_with_token_starts_and_dedupes(token: str, live_worker: list[int]) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    body = {"source": "standin", "model_id": "qwen3-0.6b", "quant": "Q4_K_M", "ctx": 2048}
    first = Client().post("/api/probes", body, content_type="application/json", headers=auth)
    assert first.status_code == 201
    run = first.json()
    assert run["status"] == "queued" and run["model_id"] == "qwen3-0.6b" and run["host"] == "api-test-host"
    assert first["Location"] == f"/api/probes/{run['id']}"
    again = Client().post("/api/probes", body, content_type="application/json", headers=auth)
    assert again.status_code == 200 and again.json()["id"] == run["id"]
    assert live_worker == [run["id"]]
    detail = Client().get(f"/api/probes/{run['id']}").json()
    assert detail["status"] == "queued" and detail["ctx"] == 2048


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"source": "standin", "ctx": 2048}, "model_id", "Choose the catalog model"),
        ({"source": "standin", "model_id": "llama-9000", "quant": "Q4_K_M", "ctx": 2048}, "model_id", "llama-9000"),
        ({"source": "standin", "model_id": "qwen3-0.6b", "quant": "Q9_K", "ctx": 2048}, "model_id", "Q9_K"),
        ({"source": "smollm2", "ctx": 131073}, "ctx", "less than or equal to 131072"),
        ({"source": "rm -rf", "ctx": 1024}, "source", "Select a valid choice"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_probe_bad_body_is_400(token: str, live_worker: list[int], body: dict[str, Any], field: str,
                               fragment: str) -> None:  # fmt: skip
    response = Client().post("/api/probes", body, content_type="application/json",
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 400
    error = error_of(response)
    assert error["field"] == field and fragment in error["message"]
    assert live_worker == []


def test_probe_post_with_malformed_json_is_400(token: str) -> None:
    response = Client().post("/api/probes", "{not json", content_type="application/json",
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 400 and "not valid JSON" in error_of(response)["message"]


@pytest.mark.django_db(transaction=True)
def test_probe_post_with_session_needs_csrf(django_user_model: Any, live_worker: list[int]) -> None:
    django_user_model.objects.create_user("alice", password="pw-for-alice-1")
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="alice", password="pw-for-alice-1")
    response = client.post("/api/probes", {"source": "smollm2", "ctx": "1024"})
    assert response.status_code == 403 and "CSRF" in error_of(response)["message"]
    client.get("/probes")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    response = client.post("/api/probes", {"source": "smollm2", "ctx": "1024"}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 201


def test_probe_detail_404_is_json() -> None:
    response = Client().get("/api/probes/999999")
    assert response.status_code == 404 and error_of(response)["field"] == "id"


def test_probe_list_api() -> None:
    ProbeRun.objects.create(host_id="h1", dedupe_key="a", status="succeeded", result={"decode_tps": 50.0})
    body = Client().get("/api/probes", {"host": "h1"}).json()
    assert [r["result"]["decode_tps"] for r in body["results"]] == [50.0]


# ---------------------------------------------------------------- /api/schema


def test_schema_lists_every_endpoint_and_parameter() -> None:
    from advisor.forms import FilterForm, MachineForm

    schema = Client().get("/api/schema").json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert set(paths) == {"/api/fit", "/api/recommendations", "/api/gpus", "/api/probes", "/api/probes/{id}",
                          "/api/checks", "/api/schema"}  # fmt: skip
    rec_params = {p["name"] for p in paths["/api/recommendations"]["get"]["parameters"]}
    assert set(MachineForm.base_fields) | set(FilterForm.base_fields) == rec_params
    fit_params = {p["name"] for p in paths["/api/fit"]["get"]["parameters"]}
    assert {
        "model",
        "quant",
        "ctx",
        "kv_type",
        "gpu",
        "vram",
        "bandwidth",
        "ram",
        "gpu_layers",
        "runtime",
    } <= fit_params
    gpu = next(p for p in paths["/api/fit"]["get"]["parameters"] if p["name"] == "gpu")
    assert gpu["schema"]["type"] == "array" and gpu["explode"] is True
    assert "503" in paths["/api/probes"]["post"]["responses"]
    ctx = next(p for p in paths["/api/recommendations"]["get"]["parameters"] if p["name"] == "ctx")
    assert ctx["schema"]["maximum"] == 10_000_000


def test_token_page_issues_a_token_that_the_api_accepts(admin_client: Client) -> None:
    assert Client().get("/account/tokens").status_code == 302  # login first
    response = admin_client.post("/account/tokens", {"label": "ci script"})
    assert response.status_code == 201
    secret = re.search(r'<pre id="new-token" tabindex="0">([^<]+)</pre>', response.content.decode())
    assert secret is not None
    token = ApiToken.objects.get(label="ci script")
    assert token.token_hash == hashlib.sha256(secret.group(1).encode()).hexdigest()
    # The token authenticates: with no worker the API answers 503, not 401.
    refused = Client().post("/api/probes", {"source": "smollm2", "ctx": "1024"},
                            headers={"Authorization": f"Bearer {secret.group(1)}"})  # fmt: skip
    assert refused.status_code == 503
    assert secret.group(1) not in admin_client.get("/account/tokens").content.decode()
