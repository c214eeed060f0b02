"""Web tests of the accuracy page (and its partials): real requests, real HTML."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from advisor.models import ProbeRun
from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]


def test_accuracy_page_compares_with_bench_data(client: Client) -> None:
    response = client.get("/accuracy")
    html = text(response)
    assert response.status_code == 200
    assert '<table id="cpu-accuracy">' in html
    assert "smollm2-135m-instruct" in html and "median error" in html


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


def test_accuracy_page_lists_probes_with_predicted_kv(client: Client) -> None:
    ProbeRun.objects.create(
        host_id="h", dedupe_key="k4", status="succeeded", source="smollm2", ctx=1024,
        result={"decode_tps": 4.3, "backend": "CPU", "buffers": [{"kind": "KV", "device": "CPU", "bytes": 23592960}]},
    )  # fmt: skip
    html = text(client.get("/accuracy"))
    row = re.search(r'<table id="probe-accuracy">.*?<tbody><tr>(.*?)</tr>', html, re.S)
    assert row is not None and "22.5\xa0MB <small>(0.0%)</small>" in row.group(1)
