# ruff: noqa: E501  (verbatim llama.cpp tables and log lines keep their widths)
"""The load-log parser and the engine against the logged buffers (tests/fixtures/loadlogs, issue 19)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from advisor.core.loadlog import MAX_CHARS, LogParseError, parse_load_log, parse_paste
from advisor.core.loadlog_fit import predict_log
from advisor.core.units import MIB

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "loadlogs"


def _load(name: str):  # type: ignore[no-untyped-def]
    return parse_load_log((LOGS / name).read_text())


def _diff(name: str, device: str, kind: str) -> tuple[float, float]:
    _, _, diffs = predict_log(_load(name))
    d = next(d for d in diffs if d.device == device and d.kind == kind)
    return d.logged / MIB, d.predicted / MIB


def test_parses_a_rocm_zero_layer_load() -> None:
    ld = _load("rocm_7900gre_qwen3_14b_q8_0_ngl0_c4096.log")
    assert (ld.backend, ld.arch, ld.file_type, ld.n_ctx, ld.n_ubatch) == ("rocm", "qwen3", "Q8_0", 4096, 512)
    assert (ld.n_gpu_layers, ld.n_layers_total, ld.flash_attn, ld.type_k) == (0, 41, False, "f16")
    assert ld.gpu_devices() == ("ROCm0",)
    assert ld.buffer_mib("ROCm0", "compute") == 1094.99
    assert ld.buffer_mib("host") == pytest.approx(14965.61 + 640.00 + 0.58 + 18.01)
    assert [(d.backend, d.index, d.description, d.free_mib) for d in ld.devices][:2] == [
        ("rocm", 0, "Radeon RX 7900 GRE", None),
        ("rocm", 1, "Radeon RX Vega", None),
    ]
    assert any(d.free_mib == 16312 for d in ld.devices)


def test_rocm_zero_layers_still_reserve_the_op_offload_compute_buffer() -> None:
    # llama.cpp -ngl 0 with a GPU present: ROCm0 holds a 1094.99 MiB compute buffer, no weights
    logged, predicted = _diff("rocm_7900gre_qwen3_14b_q8_0_ngl0_c4096.log", "ROCm0", "total")
    assert logged == pytest.approx(1094.99)
    assert predicted == pytest.approx(logged, abs=0.05)


def test_metal_maps_the_whole_file_for_the_device_with_the_output_layer() -> None:
    name = "metal_m4_qwen25_05b_q4_k_m_c512.log"
    ld = _load(name)
    assert ld.backend == "metal" and ld.working_set_mib == 12713.12 and ld.flash_attn is True
    assert ld.buffer_mib("MTL0", "model") == 462.96  # the file size: token_embd (CPU_Mapped 89.26) inside
    assert _diff(name, "MTL0", "model") == pytest.approx((462.96, 462.96), abs=0.01)
    assert _diff(name, "host", "model") == pytest.approx((89.26, 89.26), abs=0.01)
    logged, predicted = _diff(name, "MTL0", "total")
    assert abs(predicted - logged) / logged < 0.005


def test_metal_maps_the_whole_file_for_a_tied_model_too() -> None:
    # Granite-8B-Code Q4_0 has no output.weight: the Metal buffer is still the whole 4.27 GiB file,
    # token_embd (Q6_K, 157.50 MiB) included, and the CPU buffer holds token_embd again
    name = "metal_m1pro_granite8b_code_q4_0_c32768_np4.log"
    assert _diff(name, "host", "model") == pytest.approx((157.50, 157.50), abs=0.01)
    logged, predicted = _diff(name, "Metal", "model")
    assert logged == pytest.approx(4376.56, abs=0.01) and abs(predicted - logged) < 8  # biases not modelled
    assert _diff(name, "Metal", "kv") == (4608.0, 4608.0)


@pytest.mark.parametrize(
    ("name", "device", "logged_total"),
    [
        ("metal_m5_gpt_oss_20b_mxfp4_c131072.log", "MTL0", 15046.26),
        ("metal_m1pro_llama32_3b_q5_k_m_c4096_ub128.log", "MTL0", 2719.22),
        ("rocm_8060s_qwen3_06b_q8_0_c4096.log", "ROCm0", 1350.90),
        ("rocm_rx6600_gemma2_2b_q4_0_c16384_np2.log", "ROCm0", 3464.54),
        ("cuda_v100_open_llama_7b_q6_k_c512.log", "CUDA0", 5496.31),
    ],
)
def test_public_gpu_logs_match_the_engine(name: str, device: str, logged_total: float) -> None:
    logged, predicted = _diff(name, device, "total")
    assert logged == pytest.approx(logged_total, abs=0.01)
    assert abs(predicted - logged) / logged < 0.005


def test_cuda_2024_logs_in_the_old_format() -> None:
    for name, total in (("cuda_v100_open_llama_7b_q4_k_m_c512.log", 4147.44), ("cuda_v100_open_llama_7b_q4_k_m_c2048.log", 5008.94)):  # fmt: skip
        ld = _load(name)
        assert ld.file_type == "Q4_K_M" and ld.n_gpu_layers == 33 and ld.devices[0].description.startswith("Tesla V100")
        logged, predicted = _diff(name, "CUDA0", "total")
        assert logged == pytest.approx(total)
        assert abs(predicted - logged) / logged < 0.005


def test_gemma4_e4b_per_layer_inputs_on_the_h200() -> None:
    """Gemma 4 E4B's per-layer embedding inputs: the host looks them up (n_tok x n_layer x 256 F32, 21 MiB),
    the GPU holds the logits above three tensors that size (logged 581.02 MiB; 517 without them)."""
    from advisor.catalog.models_catalog import get_model
    from advisor.core.loadlog_fit import compare, request_from_log
    from advisor.core.memory import estimate

    ld = _load("cuda_h200_gemma4_e4b_q4km_full_32k.log")
    req = request_from_log(ld, shape=get_model("gemma-4-e4b-it").to_shape(), preset="Q4_K_M")
    diffs = {(d.device, d.kind): d for d in compare(ld, estimate(req))}
    host, gpu = diffs["host", "compute"], diffs["CUDA0", "compute"]
    assert host.logged / MIB == pytest.approx(65.02) and abs(host.error) / MIB < 0.01
    assert gpu.logged / MIB == pytest.approx(581.02) and abs(gpu.error) / MIB < 1.1
    assert abs(diffs["CUDA0", "total"].rel) < 0.001


@pytest.mark.parametrize(
    "name",
    [
        "cpu_smollm2_135m_q4_1_c2048_nofa.log",
        "cpu_smollm2_135m_q4_1_c8192_fa.log",
        "cpu_smollm2_135m_q4_1_c4096_q8kv.log",
        "cpu_gemma3_270m_q4_k_m_c32768_nofa.log",
    ],
)
def test_cpu_logs_produced_here_match_the_engine(name: str) -> None:
    ld = _load(name)
    assert ld.backend == "cpu" and ld.gpu_devices() == ()
    for kind in ("model", "kv"):
        logged, predicted = _diff(name, "host", kind)
        assert predicted == pytest.approx(logged, abs=0.01)
    logged, predicted = _diff(name, "host", "total")
    assert abs(predicted - logged) / logged < 0.002


def test_kv_types_swa_cells_and_repack_are_read() -> None:
    q8 = _load("cpu_smollm2_135m_q4_1_c4096_q8kv.log")
    assert (q8.type_k, q8.type_v, q8.flash_attn) == ("q8_0", "q8_0", True)
    gemma = _load("cpu_gemma3_270m_q4_k_m_c4096_auto.log")
    assert gemma.swa_cells == 1024 and gemma.kv_cells[0] == 4096
    assert gemma.buffer_mib("host", "repack") == 12.66  # CPU_REPACK: not counted as model memory
    assert gemma.buffer_mib("host", "model") == 235.16


def test_breakdown_table_and_prefixes() -> None:
    text = "\n".join(
        [
            "0.01.2 I llama_memory_breakdown_print: | memory breakdown [MiB] | total   free    self   model   context   compute    unaccounted |",
            "0.01.2 I llama_memory_breakdown_print: |   - CUDA0 (RTX 4090)   | 24080 = 1234 + (20000 = 15000 +    4000 +    1000) +        2846 |",
            "0.01.2 I llama_memory_breakdown_print: |   - Host               |                  1000 =   800 +       100 +     100                |",
            "\x1b[32mload_tensors:        CUDA0 model buffer size = 15000.00 MiB\x1b[0m",
            'time=2025-01-01 level=INFO source=server.go msg="llama_kv_cache:      CUDA0 KV buffer size =  4000.00 MiB"',
        ]
    )  # fmt: skip
    ld = parse_load_log(text)
    cuda, host = ld.breakdown
    assert (cuda.name, cuda.total, cuda.free, cuda.self_mib, cuda.model, cuda.unaccounted) == (
        "CUDA0 (RTX 4090)", 24080, 1234, 20000, 15000, 2846,
    )  # fmt: skip
    assert (host.name, host.self_mib, host.compute, host.total) == ("Host", 1000, 100, None)
    assert ld.buffer_mib("CUDA0") == 19000.0


def test_llama_bench_markdown_and_json_and_ollama_ps() -> None:
    md = """| model                          |       size |     params | backend    | ngl | fa |            test |                  t/s |
| ------------------------------ | ---------: | ---------: | ---------- | --: | -: | --------------: | -------------------: |
| qwen3 14B Q8_0                 |  14.61 GiB |    14.77 B | ROCm       |  99 |  1 |           pp512 |       1480.11 ± 4.20 |
| qwen3 14B Q8_0                 |  14.61 GiB |    14.77 B | ROCm       |  99 |  1 |   tg128 @ d4096 |         38.52 ± 0.03 |
"""
    p = parse_paste(md)
    assert p.kind == "llama-bench"
    assert [(r.test, r.tps, r.depth, r.n_gpu_layers, r.flash_attn) for r in p.bench] == [
        ("pp512", 1480.11, 0, 99, True), ("tg128", 38.52, 4096, 99, True),
    ]  # fmt: skip
    assert p.bench[0].size_gib == pytest.approx(14.61)
    js = json.dumps([{"model_type": "llama 8B Q4_K - Medium", "model_size": 4920734976, "n_gpu_layers": 99,
                      "n_prompt": 0, "n_gen": 128, "avg_ts": 102.5, "stddev_ts": 0.4, "backends": "CUDA",
                      "flash_attn": True, "type_k": "f16", "type_v": "f16", "n_ubatch": 512, "n_depth": 0}])  # fmt: skip
    (row,) = parse_paste(js).bench
    assert (row.test, row.tps, row.backend) == ("tg128", 102.5, "CUDA")
    ps = """NAME           ID              SIZE     PROCESSOR          CONTEXT    UNTIL
qwen3:14b      bdbd181c33f2    10 GB    100% GPU           4096       4 minutes from now
llama3:70b     786f3184aec0    42 GB    48%/52% CPU/GPU    8192       Forever
"""
    rows = parse_paste(ps).ollama
    assert [(r.name, r.size_bytes, r.gpu_percent, r.context) for r in rows] == [
        ("qwen3:14b", 10 * 1000**3, 100, 4096), ("llama3:70b", 42 * 1000**3, 52, 8192),
    ]  # fmt: skip


def test_hostile_input_is_capped_and_never_raises() -> None:
    start = time.monotonic()
    huge = ("load_tensors: " + "(" * 10_000 + " buffer size = = =\n") * 600
    p = parse_paste(huge + "x" * MAX_CHARS)
    assert p.kind == "empty" and any("read the first" in n for n in p.notes)
    assert any("cut" in n for n in p.notes)
    assert parse_paste("").kind == "empty"
    assert parse_paste(12).kind == "empty"  # type: ignore[arg-type]
    assert parse_paste("[" * 100_000).kind == "empty"
    assert parse_paste("load_tensors: CUDA0 model buffer size = nan MiB\n").kind == "empty"
    assert time.monotonic() - start < 10
    with pytest.raises(LogParseError):
        parse_load_log("hello\nworld\n")
