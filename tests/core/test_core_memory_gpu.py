"""The memory engine against real llama.cpp loads on an H100 (bench/data/memory_h100.jsonl).

Each record is a probe run of a zero-weight stand-in (llama-cpp-python 0.3.36, CUDA, H100 80GB HBM3,
driver 580.159.04): the buffers llama.cpp logged and NVML's device memory in use after a 512-token
eval. bench/memory_accuracy.py rebuilds each load's request; these tests hold the engine to the issue's
targets on every load (median |error| <= 1 %, none beyond max(3 %, 128 MiB)) and to the logged buffer
sizes of named loads.
"""

from __future__ import annotations

import dataclasses
import statistics

import pytest

from advisor.catalog.models_catalog import get_model
from advisor.core.memory import (
    BACKEND_OVERHEAD_BYTES,
    CUBLAS_OVERHEAD_BYTES,
    CUDA_ALLOC_GRANULARITY,
    Device,
    FitRequest,
    compute_buffer_bytes,
    estimate,
    resolve_context,
    resolve_types,
    weight_split,
)
from advisor.core.units import MIB
from bench.memory_accuracy import Row, load_records, request_for, rows, truncated_shape, within_worst_target

LOADS = load_records()
ROWS = rows(LOADS)
LOG_MIB = 0.005 + 1e-9  # llama.cpp prints buffer sizes in MiB with two decimals


def _row(model_id: str, n_ctx: int, type_k: str, fa: str, ngl: int = -1, source: str = "memory") -> Row:
    found = [r for r in ROWS if r.load.model_id == model_id and r.load.n_ctx == n_ctx and r.load.type_k == type_k
             and r.load.flash_attn == fa and r.load.n_gpu_layers == ngl and r.load.source == source]  # fmt: skip
    assert len(found) == 1, f"{model_id} {n_ctx} {type_k} {fa}: {len(found)} records"
    return found[0]


def test_the_bench_data_is_there() -> None:
    assert len(LOADS) >= 60
    assert len({ld.model_id for ld in LOADS}) >= 9
    # flash attention off, quantized caches, 128k contexts, MoE and a partial offload are all covered
    assert any(ld.flash_attn == "off" for ld in LOADS)
    assert any(ld.type_k == "q4_0" and ld.n_ctx == 131072 for ld in LOADS)
    assert any(ld.n_gpu_layers >= 0 for ld in LOADS)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.load.source}:{r.load.label}".replace(" ", "_"))
def test_every_load_within_the_target(row: Row) -> None:
    assert within_worst_target(row.error_bytes, row.load.used_bytes), (
        f"predicted {row.gpu.total_bytes / MIB:.1f} MiB, NVML {row.load.used_bytes / MIB:.1f} MiB"
    )


def test_median_error_within_one_percent() -> None:
    errs = [abs(r.error) for r in ROWS]
    assert statistics.median(errs) <= 0.01
    # where the calibration stands today (bench/data/memory_accuracy.txt): median 0.04 %, worst 0.56 %
    assert statistics.median(errs) <= 0.002


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.load.source}:{r.load.label}".replace(" ", "_"))
def test_weights_kv_and_host_buffers_match_the_log(row: Row) -> None:
    ld = row.load
    # ggml-cuda buffer sizes: tensor bytes, quantized rows padded to 512, 128-byte alignment
    assert row.gpu.weights_bytes / MIB == pytest.approx(ld.gpu("model") / MIB, abs=LOG_MIB)
    assert row.gpu.kv_cache_bytes / MIB == pytest.approx(ld.gpu("KV") / MIB, abs=2 * LOG_MIB)
    # CUDA_Host: the graph inputs (embeddings, masks, KV indices, rotations) plus the logits buffer
    assert row.host.compute_bytes / MIB == pytest.approx(ld.host_compute / MIB, abs=2 * LOG_MIB)
    # llama_model_size is every tensor's ggml_nbytes: the file's tensor data, exactly
    req = request_for(ld)
    assert weight_split(req.shape, resolve_types(req)).file_bytes == ld.model_size_bytes


# The first lease's dense models, which the compute rules were fitted to.
CALIBRATION_DENSE = frozenset({
    "smollm2-135m-instruct", "llama-3.2-1b-instruct", "llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "qwen3-8b",
    "gemma-3-12b-it", "gemma-2-9b-it", "llama-3.1-70b-instruct",
})  # fmt: skip


def test_dense_compute_buffers_are_exact() -> None:
    # the calibration models' CUDA0 compute buffers to the logged 0.01 MiB (MoE: see below)
    dense = [r for r in ROWS if r.load.model_id in CALIBRATION_DENSE]
    assert len(dense) >= 50
    for r in dense:
        tol = 8 * MIB if r.load.model_id == "gemma-3-12b-it" and r.load.flash_attn == "off" else 0.1 * MIB
        assert abs(r.gpu.compute_bytes - r.load.gpu("compute")) <= tol, r.load.label


def test_every_compute_buffer_within_the_allocator_spread() -> None:
    # ggml-alloc's placement can leave a hole below the logits: Mistral Nemo at 4k holds 308.01 MiB,
    # at 32k exactly logits + one activation (266.00); Qwen3-30B-A3B 341.54 vs 300.75. The engine keeps
    # the rule (and an expert-output allowance for MoE), so every load lands within -48..+41 MiB.
    for r in ROWS:
        d = r.gpu.compute_bytes - r.load.gpu("compute")
        assert -48 * MIB <= d <= 41 * MIB, r.load.label


def test_llama_8b_32k_f16_flash_attention() -> None:
    r = _row("llama-3.1-8b-instruct", 32768, "f16", "on")
    # KV: 32 layers x 32768 cells x (1024 K + 1024 V) x 2 bytes
    assert r.gpu.kv_cache_bytes == 32 * 32768 * 2048 * 2 == r.load.gpu("KV")
    # compute: 512 x 128256 F32 logits + one 512 x 4096 F32 activation = 258.50 MiB
    assert r.gpu.compute_bytes == 512 * 128256 * 4 + 512 * 4096 * 4
    assert r.gpu.compute_bytes / MIB == pytest.approx(258.50, abs=LOG_MIB)
    # CUDA_Host compute 48.01 MiB: 2 activations + the 32768 x 512 F16 mask + indices
    assert (r.host.compute_bytes - 128256 * 4) / MIB == pytest.approx(48.01, abs=LOG_MIB)
    assert abs(r.error_bytes) <= 8 * MIB


def test_llama_8b_128k_q8_0_copies_the_cache_to_f16_for_flash_attention() -> None:
    r = _row("llama-3.1-8b-instruct", 131072, "q8_0", "on")
    assert r.gpu.kv_cache_bytes == 32 * 131072 * 2 * 1024 // 32 * 34 == r.load.gpu("KV")
    # fattn.cu: the FA node grows by F16 copies of one layer's K and V (131072 x 1024 x 2 bytes each)
    f16_copies = 2 * 131072 * 1024 * 2
    assert r.gpu.compute_bytes / MIB == pytest.approx(672.09, abs=0.1)
    assert r.gpu.compute_bytes > f16_copies + 128 * MIB  # plus the 128 MiB F16 mask
    f16 = _row("llama-3.1-8b-instruct", 131072, "f16", "on")
    assert f16.gpu.compute_bytes / MIB == pytest.approx(258.50, abs=LOG_MIB)


def test_llama_8b_flash_attention_off_holds_the_scores() -> None:
    r = _row("llama-3.1-8b-instruct", 32768, "f16", "off")
    kq = 4 * 512 * 32768 * 32
    assert r.gpu.compute_bytes / MIB == pytest.approx(2148.01, abs=0.02)
    assert r.gpu.compute_bytes > kq
    # transposed V: the V row indices are 512 x 1024 I64 (4 MiB) on the host, the mask F32
    assert (r.host.compute_bytes - 128256 * 4) / MIB == pytest.approx(84.01, abs=LOG_MIB)
    # cuBLAS runs KQ and KQV: its workspace and kernels are in the overhead
    on = _row("llama-3.1-8b-instruct", 32768, "f16", "on")
    measured = r.load.overhead - on.load.overhead  # 108.5 MiB
    predicted = r.gpu.overhead_bytes - on.gpu.overhead_bytes  # cuBLAS + the rounding of a larger buffer
    assert measured >= 90 * MIB and predicted >= CUBLAS_OVERHEAD_BYTES["cuda"] - 2 * MIB
    assert abs(predicted - measured) <= 12 * MIB


def test_llama_8b_partial_offload_placement() -> None:
    # n_gpu_layers 16: the output layer and the last 15 repeating layers on CUDA0 (llama-model.cpp)
    r = _row("llama-3.1-8b-instruct", 8192, "f16", "on", ngl=16)
    assert r.gpu.n_layers == 16 and r.host.n_layers == 17
    assert r.gpu.kv_cache_bytes == 15 * 8192 * 2048 * 2 == r.load.gpu("KV")  # 480 MiB
    assert r.host.kv_cache_bytes == 17 * 8192 * 2048 * 2 == r.load.buffers["CPU:KV"]  # 544 MiB
    assert r.gpu.weights_bytes / MIB == pytest.approx(2290.21, abs=LOG_MIB)
    assert r.host.weights_bytes / MIB == pytest.approx(2395.09, abs=LOG_MIB)  # CPU_Mapped
    assert r.gpu.compute_bytes / MIB == pytest.approx(258.50, abs=LOG_MIB)


def test_gemma3_iswa_two_caches_and_f16_copies() -> None:
    r = _row("gemma-3-12b-it", 131072, "q8_0", "on")
    # 8 full layers x 131072 cells + 40 SWA layers x pad256(1024 + 512) cells, q8_0 rows of 2048
    row = 2048 // 32 * 34
    assert r.gpu.kv_cache_bytes == 2 * row * (8 * 131072 + 40 * 1536) == r.load.gpu("KV")
    assert r.gpu.compute_bytes / MIB == pytest.approx(1185.05, abs=0.1)


def test_overhead_constant_is_the_measured_median() -> None:
    # NVML used - CUDA buffers rounded to 2 MiB, dense models with flash attention: 603.6..619.6 MiB over
    # 23 files of 4 leases, the same to 0.01 MiB for every load of a file
    residual: dict[tuple[str, str], float] = {}
    for r in ROWS:
        if r.load.source != "memory" or r.load.flash_attn == "off" or get_model(r.load.model_id).to_shape().is_moe:
            continue
        slack = sum(-(-b // CUDA_ALLOC_GRANULARITY) * CUDA_ALLOC_GRANULARITY - b
                    for k, b in r.load.buffer_list if k.startswith("CUDA0:"))  # fmt: skip
        key = (r.load.model_id, r.load.preset)
        residual.setdefault(key, (r.load.overhead - slack) / MIB)
        # whatever its context or cache type
        assert (r.load.overhead - slack) / MIB == pytest.approx(residual[key], abs=0.02)
    assert len(residual) >= 20
    assert statistics.median(residual.values()) == pytest.approx(BACKEND_OVERHEAD_BYTES["cuda"] / MIB, abs=1.0)
    assert max(abs(v - BACKEND_OVERHEAD_BYTES["cuda"] / MIB) for v in residual.values()) <= 10


def test_overhead_source_says_what_was_measured() -> None:
    r = ROWS[0].result
    assert r.overhead_source.startswith("measured: CUDA")
    for kind in ("rocm", "metal", "vulkan"):
        other = estimate(dataclasses.replace(request_for(ROWS[0].load), devices=(Device("g", kind, 80 * 1024 * MIB),)))
        assert "not measured" in other.overhead_source


def _h100_request(model_id: str, **kw: object) -> FitRequest:
    base = request_for(_row("llama-3.1-8b-instruct", 32768, "f16", "on").load)
    shape = truncated_shape(model_id, get_model(model_id).to_shape().n_layers)
    return dataclasses.replace(base, shape=shape, tensor_types=(), **kw)  # type: ignore[arg-type]


def test_cublas_overhead_follows_float_matmuls() -> None:
    # Q4_K_M dense: MMQ only; F16 weights or a MoE router (F32 ffn_gate_inp) bring cuBLAS in
    q4 = estimate(_h100_request("llama-3.1-8b-instruct", preset="Q4_K_M")).devices[0]
    f16 = estimate(_h100_request("llama-3.1-8b-instruct", preset="F16")).devices[0]
    moe = estimate(_h100_request("qwen3-30b-a3b", preset="Q4_K_M")).devices[0]
    base = BACKEND_OVERHEAD_BYTES["cuda"]
    cublas = CUBLAS_OVERHEAD_BYTES["cuda"]
    assert base <= q4.overhead_bytes < base + CUDA_ALLOC_GRANULARITY * 4
    assert base + cublas <= f16.overhead_bytes < base + cublas + CUDA_ALLOC_GRANULARITY * 4
    assert base + cublas <= moe.overhead_bytes < base + cublas + CUDA_ALLOC_GRANULARITY * 4


def test_f16_copies_of_a_quantized_cache_are_ggml_cuda_only() -> None:
    req = _h100_request("llama-3.1-8b-instruct", n_ctx=131072, type_k="q8_0", type_v="q8_0")
    cuda = estimate(req).devices[0].compute_bytes
    metal = estimate(dataclasses.replace(req, devices=(Device("m", "metal", 128 * 1024 * MIB),))).devices[0]
    assert cuda - metal.compute_bytes > 400 * MIB  # 2 x 256 MiB of F16 K/V minus the logits-phase peak
    assert metal.compute_bytes == 512 * 128256 * 4 + 512 * 4096 * 4


def test_compute_buffer_bytes_by_backend() -> None:
    r = _row("gemma-3-12b-it", 131072, "q8_0", "on")
    req = request_for(r.load)
    ctx = resolve_context(req)
    assert compute_buffer_bytes(req.shape, ctx, "cuda") == r.gpu.compute_bytes
    assert compute_buffer_bytes(req.shape, ctx) != compute_buffer_bytes(req.shape, ctx, "cuda")  # CPU graph
