"""The public estimate API: placement like llama-model.cpp, fit verdicts, max context, JSON shape."""

from __future__ import annotations

import dataclasses

import pytest

from advisor.core.memory import (
    Device,
    FitRequest,
    estimate,
    kv_cache_bytes,
    resolve_context,
    weight_split,
)
from advisor.core.quantize import HFFormat, HFQuant, tensor_types
from advisor.core.runtimes import RUNTIMES
from advisor.core.units import GIB, MIB
from tests.core_shapes import GEMMA3_270M, QWEN3_06B, SMOLLM2_135M


def _gpu(gib: float, name: str = "gpu0") -> Device:
    return Device(name, "cuda", int(gib * GIB))


def test_to_dict_has_the_public_keys() -> None:
    r = estimate(FitRequest(shape=QWEN3_06B, n_ctx=8192, devices=(_gpu(24),), host_ram_bytes=32 * GIB))
    d = r.to_dict()
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes", "gpu_bytes", "cpu_bytes"):
        assert isinstance(d["memory"][key], int)
    assert isinstance(d["memory"]["devices"], list) and len(d["memory"]["devices"]) == 2
    assert d["fit"] == "full_gpu"
    assert d["speed"] == {"decode_tps": None, "prefill_tps": None}
    assert d["memory"]["gpu_bytes"] + d["memory"]["cpu_bytes"] == sum(x["total_bytes"] for x in d["memory"]["devices"])


def test_full_offload_keeps_token_embd_on_host_and_duplicates_tied_output() -> None:
    types = tensor_types(QWEN3_06B, "Q4_K_M")
    ws = weight_split(QWEN3_06B, types)
    r = estimate(FitRequest(shape=QWEN3_06B, n_ctx=4096, devices=(_gpu(24),), host_ram_bytes=32 * GIB))
    gpu, host = r.devices
    assert host.weights_bytes == ws.input_bytes  # token_embd only
    # tied embeddings: the output layer gets its own copy of token_embd on the GPU
    assert gpu.weights_bytes == sum(ws.layer_bytes) + ws.output_bytes + ws.input_bytes
    assert r.n_gpu_layers == QWEN3_06B.n_layers + 1


def test_n_gpu_layers_offloads_output_first() -> None:
    # llama-model.cpp: i_gpu_start = n_layer + 1 - n_gpu_layers; il == n_layer is the output layer.
    req = FitRequest(shape=SMOLLM2_135M, n_ctx=4096, devices=(_gpu(24),), n_gpu_layers=1)
    r = estimate(req)
    gpu, _host = r.devices
    assert gpu.n_layers == 1 and gpu.kv_cache_bytes == 0
    assert r.fit == "partial"
    r5 = estimate(dataclasses.replace(req, n_gpu_layers=5))
    per_layer_kv = kv_cache_bytes(SMOLLM2_135M, resolve_context(req)) // SMOLLM2_135M.n_layers
    assert r5.devices[0].kv_cache_bytes == 4 * per_layer_kv
    assert r5.devices[1].kv_cache_bytes == 26 * per_layer_kv


def test_two_gpus_split_layers_by_free_memory() -> None:
    req = FitRequest(
        shape=QWEN3_06B, n_ctx=4096, devices=(_gpu(24, "a"), _gpu(8, "b")), n_gpu_layers=-1, host_ram_bytes=GIB * 64
    )
    r = estimate(req)
    a, b, _host = r.devices
    assert a.n_layers + b.n_layers == QWEN3_06B.n_layers + 1
    # split points 0.75 / 1.0 over 29 offloaded layers: layers with (il/29) < 0.75 go to "a"
    assert a.n_layers == 22 and b.n_layers == 7
    r2 = estimate(dataclasses.replace(req, tensor_split=(1.0, 1.0)))
    assert {r2.devices[0].n_layers, r2.devices[1].n_layers} == {15, 14}


def test_fit_verdicts_and_best_layers() -> None:
    big = estimate(FitRequest(shape=QWEN3_06B, n_ctx=4096, devices=(_gpu(24),), host_ram_bytes=16 * GIB))
    assert big.fit == "full_gpu"
    # a GPU that holds the overhead, the compute buffer and a few layers only
    small = estimate(
        FitRequest(
            shape=QWEN3_06B,
            n_ctx=4096,
            devices=(Device("small", "cuda", 1024 * MIB),),
            host_ram_bytes=16 * GIB,
            overhead_bytes=256 * MIB,
        )
    )
    assert small.fit == "partial"
    assert 0 < small.n_gpu_layers < QWEN3_06B.n_layers + 1
    assert small.devices[0].total_bytes <= 1024 * MIB
    over = estimate(FitRequest(shape=QWEN3_06B, n_ctx=4096, host_ram_bytes=100 * MIB))
    assert over.fit == "no_fit"
    cpu = estimate(FitRequest(shape=QWEN3_06B, n_ctx=4096, host_ram_bytes=16 * GIB))
    assert cpu.fit == "cpu" and cpu.n_gpu_layers == 0


def test_max_context_is_the_largest_that_fits() -> None:
    dev = Device("g", "cuda", 2 * GIB)
    req = FitRequest(shape=QWEN3_06B, n_ctx=4096, devices=(dev,), n_gpu_layers=-1, overhead_bytes=0,
                     runtime="llama-cli")  # fmt: skip
    r = estimate(req)
    m = r.max_context
    assert 256 <= m < QWEN3_06B.context_max and m % 256 == 0
    at = estimate(dataclasses.replace(req, n_ctx=m))
    above = estimate(dataclasses.replace(req, n_ctx=m + 256))
    assert at.devices[0].fits and not above.devices[0].fits


def test_runtime_defaults_change_the_estimate() -> None:
    # llama-cpp-python keeps full-size SWA caches; llama-server does not (RUNTIMES sources).
    base = FitRequest(shape=GEMMA3_270M, n_ctx=32768, host_ram_bytes=16 * GIB)
    py = estimate(dataclasses.replace(base, runtime="llama-cpp-python"))
    srv = estimate(dataclasses.replace(base, runtime="llama-cli"))
    assert py.context.swa_full and not srv.context.swa_full
    assert py.kv_cache_bytes == 576 * MIB and srv.kv_cache_bytes == 111 * MIB  # as llama.cpp logged
    assert not py.context.flash_attn and srv.context.flash_attn
    server = estimate(dataclasses.replace(base, runtime="llama-server"))
    assert server.context.n_seq == 4 and server.context.kv_unified
    # unified server cache: SWA layers hold pad256(512 * 4 + 512) cells
    assert server.kv_cache_bytes == (3 * 32768 + 15 * 2560) * 1024
    assert RUNTIMES["ollama"].verified is False


def test_transformers_runtime() -> None:
    r = estimate(
        FitRequest(
            shape=QWEN3_06B,
            runtime="transformers",
            n_ctx=4096,
            hf_format=HFFormat(HFQuant.BF16),
            host_ram_bytes=8 * GIB,
        )
    )
    assert r.weights_bytes == 2 * 596_049_920  # catalog params_total of Qwen3-0.6B, tied embeddings
    assert r.kv_cache_bytes == 2 * 28 * 8 * 128 * 2 * 4096


@pytest.mark.parametrize("type_k,type_v", [("q8_0", "q8_0"), ("q4_0", "f16")])
def test_quantized_cache(type_k: str, type_v: str) -> None:
    r = estimate(FitRequest(shape=SMOLLM2_135M, n_ctx=4096, type_k=type_k, type_v=type_v, flash_attn=True))
    f16 = estimate(FitRequest(shape=SMOLLM2_135M, n_ctx=4096, flash_attn=True))
    assert r.kv_cache_bytes < f16.kv_cache_bytes


def test_llama_server_fit_lowers_context_to_keep_margin() -> None:
    # common/fit.cpp: with n_ctx unset the server shrinks the context so that 1 GiB stays free.
    dev = Device("g", "cuda", 3 * GIB)
    req = FitRequest(shape=QWEN3_06B, runtime="llama-server", devices=(dev,), host_ram_bytes=16 * GIB, overhead_bytes=0)
    r = estimate(req)
    assert r.fit == "full_gpu"
    assert 4096 <= r.context.n_ctx < QWEN3_06B.context_max
    assert r.devices[0].total_bytes <= dev.free_bytes - 1024 * MIB
    assert any("--fit" in n for n in r.notes)
    # on a smaller GPU --fit stops at 4096 tokens and offloads fewer layers, still keeping the margin
    small = estimate(dataclasses.replace(req, devices=(Device("s", "cuda", 1536 * MIB),)))
    assert small.context.n_ctx == 4096 and small.fit == "partial"
    assert small.devices[0].total_bytes <= 512 * MIB
    # a pinned context is left alone
    pinned = estimate(dataclasses.replace(req, n_ctx=QWEN3_06B.context_max))
    assert pinned.context.n_ctx == QWEN3_06B.context_max


def test_no_kv_offload_keeps_cache_on_host() -> None:
    req = FitRequest(shape=QWEN3_06B, n_ctx=8192, devices=(_gpu(24),), n_gpu_layers=-1, offload_kqv=False)
    r = estimate(req)
    assert r.devices[0].kv_cache_bytes == 0
    assert r.devices[1].kv_cache_bytes == kv_cache_bytes(QWEN3_06B, r.context)


def test_sliding_window_ignored_where_llama_cpp_ignores_it() -> None:
    # phi3.cpp disables SWA and llama.cpp's llama arch never reads it: full caches on every layer.
    for arch in ("phi3", "llama"):
        s = dataclasses.replace(SMOLLM2_135M, arch=arch, sliding_window=512, swa_layers=(True,) * 30)
        plain = dataclasses.replace(SMOLLM2_135M, arch=arch)
        ctx = resolve_context(FitRequest(shape=s, n_ctx=8192, runtime="llama-cli"))
        assert kv_cache_bytes(s, ctx) == kv_cache_bytes(plain, ctx)


def test_only_the_output_gpu_reserves_the_logits() -> None:
    req = FitRequest(
        shape=QWEN3_06B, n_ctx=4096, devices=(_gpu(24, "a"), _gpu(24, "b")), n_gpu_layers=-1, flash_attn=True
    )
    a, b, _host = estimate(req).devices
    logits = 512 * QWEN3_06B.vocab_size * 4
    # the last layers and the output layer sit on "b" (llama-model.cpp split points)
    act = 512 * QWEN3_06B.hidden_size * 4
    assert b.compute_bytes == logits + act  # the logits phase, as measured on CUDA (memory_h100.jsonl)
    # "a" only runs attention: FA output + 4k F16 mask + two q-sized and one hidden-sized activation
    q = 512 * QWEN3_06B.n_heads * QWEN3_06B.head_dim * 4
    assert a.compute_bytes == q + 4096 * 512 * 2 + 2 * q + act
