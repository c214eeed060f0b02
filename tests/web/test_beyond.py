"""The team, drafter, runtime-default and APU sections on the model page and in ``GET /api/fit``."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]
GIB = 1024**3


def test_api_fit_has_the_sections_and_its_schema_names_the_parameters(client: Client) -> None:
    r = client.get("/api/fit", {"model": "llama-3.1-8b-instruct", "quant": "Q4_K_M", "gpu": "RTX 4090",
                                "ram": "64", "kv_type": "f16", "users": "4"})  # fmt: skip
    assert r.status_code == 200
    body = r.json()
    assert body["team"]["kv_cache_bytes"] == 4 * GIB and body["team"]["ctx_per_slot"] == 8192
    assert body["draft"]["drafter"] == "llama-3.2-1b-instruct"
    assert [d["runtime"] for d in body["runtime_defaults"]] == ["llama-server", "ollama", "lm-studio"]
    assert body["apu"] is None
    names = {p["name"] for p in client.get("/api/schema").json()["paths"]["/api/fit"]["get"]["parameters"]}
    assert {"users", "kv_unified", "draft", "carveout", "gtt"} <= names


def test_api_fit_bad_extras_are_400_with_the_field(client: Client) -> None:
    r = client.get("/api/fit", {"model": "qwen3-8b", "gpu": "RTX 4090", "draft": "llama-3.2-1b-instruct"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "draft"
    r = client.get("/api/fit", {"model": "qwen3-8b", "gpu": "Radeon 8060S", "ram": "32", "carveout": "48"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "carveout"


def test_model_page_team_and_draft_sections(client: Client) -> None:
    html = text(client.get("/models/llama-3.1-8b-instruct", {"gpu": "RTX 4090", "ram": "64", "ctx": "8192",
                                                              "users": "4", "quant": "Q4_K_M"}))  # fmt: skip
    assert '<h2 id="team-h">Serve a team of 4</h2>' in html
    assert "4 slots of 8,192 tokens each (KV per slot)" in html
    assert "llama-server -m llama-3.1-8b-instruct.gguf -c 32768 -np 4 -ngl 33" in html
    # the main launch command follows the same plan: every user gets the whole 8k
    assert "-c 32768 -ngl 33" in html and "-np 4" in html
    assert 'data-drafter="llama-3.2-1b-instruct"' in html and "issues/5877" in html
    assert "The plain speed above stays the prediction without drafts." in html
    assert '<li data-runtime="ollama" data-fits="yes">Ollama will pick num_ctx 4096' in html
    assert 'id="apu-h"' not in html


def test_model_page_says_when_a_draft_model_will_not_help(client: Client) -> None:
    # Llama-3.1-8B on an H200 with Llama-3.2-1B: measured 236.3 tok/s with drafts, 250.6 without.
    html = text(client.get("/models/llama-3.1-8b-instruct", {"gpu": "H200", "ram": "128", "quant": "Q4_K_M"}))
    line = re.search(r'<p id="draft-line"[^>]*data-speedup="([0-9.]+)" data-helps="no"', html)
    assert line is not None and float(line.group(1)) < 1.05
    assert '<p class="notice" id="draft-no-help"><strong>A draft model will not help here:' in html
    body = client.get("/api/fit", {"model": "llama-3.1-8b-instruct", "quant": "Q4_K_M", "gpu": "H200"}).json()
    assert body["draft"]["helps"] is False and body["draft"]["verdict"].startswith("A draft model will not help")
    # Llama-3.1-70B on the same GPU: measured 83.0 with drafts, 44.0 without; the line gives the speed-up.
    html = text(client.get("/models/llama-3.1-70b-instruct", {"gpu": "H200", "ram": "128", "quant": "Q4_K_M"}))
    assert 'data-helps="yes"' in html and 'id="draft-no-help"' not in html
    assert re.search(r"1\.[6-9]\dx llama-server's ~[0-9.]+ tok/s without it", html)


def test_model_page_apu_section_and_bad_carve_out(client: Client) -> None:
    html = text(client.get("/models/qwen3-32b", {"gpu": "Radeon 8060S", "ram": "128", "carveout": "16"}))
    assert '<h2 id="apu-h">AMD APU memory</h2>' in html
    rocm = re.search(r'<tr data-backend="rocm">.*?</tr>', html)
    # ROCm's hipMalloc sees the 16 GB carve-out only ("mem" writes a no-break space before the unit)
    assert rocm is not None and "hipMalloc: the carve-out only" in rocm.group(0)
    assert '<td class="num">16.0\u00a0GB</td>' in rocm.group(0)
    assert "ttm.pages_limit=" in html
    bad = client.get("/models/qwen3-32b", {"gpu": "Radeon 8060S", "ram": "32", "carveout": "64"})
    assert bad.status_code == 400 and "The carve-out is taken from RAM" in text(bad)


def test_model_page_mtp_section(client: Client) -> None:
    html = text(client.get("/models/glm-4.5-air", {"gpu": "H200", "ram": "256"}))
    assert 'data-kind="mtp"' in html and "--spec-type draft-mtp --spec-draft-n-max" in html
    html = text(client.get("/models/glm-4.5-air", {"gpu": "H200", "ram": "256", "draft": "none"}))
    assert "No drafter: no drafter asked for." in html


def test_unknown_draft_in_the_form_is_a_clear_error(client: Client) -> None:
    r = client.get("/models/qwen3-8b", {"gpu": "RTX 4090", "ram": "32", "draft": "qwen3-0.6"})
    assert r.status_code == 400 and "Unknown draft model &#x27;qwen3-0.6&#x27;" in text(r) and "qwen3-0.6b" in text(r)
