"""--n-cpu-moe: experts of the first N layers in RAM, against llama.cpp's own buffers and llama-bench's speeds
on the H200 lease (bench/data/moe_offload_h200.jsonl) and the choices llama-fit-params made
(bench/data/fit_params_h200.jsonl). The report with every number: bench/data/moe_offload_check.txt."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from advisor.catalog.models_catalog import get_model
from advisor.core import memory
from advisor.core.quantize import tensor_types
from advisor.fit import engine
from bench.moe_offload_check import (
    FIT_PARAMS_CTX,
    buffers,
    fit_copy_rate,
    fit_log_mib,
    gpu_for_placement,
    host_cpu,
    memory_plan,
    moved_tensors,
    ot_patterns,
    predicted,
    speed_row,
)

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
MIB = 2**20
GIB = 2**30
RUNS = [json.loads(line) for line in (DATA / "moe_offload_h200.jsonl").read_text().splitlines()]
FITS = [json.loads(line) for line in (DATA / "fit_params_h200.jsonl").read_text().splitlines()]
OFFLOADED = [r for r in RUNS if r["n_cpu_moe"] > 0]
# The worst errors bench/data/moe_offload_check.txt states: decode (no constant fitted to these rows) and
# pp512 with the copy rate fitted on the other model's rows only, and with the shipped rate.
# Decode since the CPU's kernel, memory and per-core sides combine as a norm (speed.cpu_weights_time): median
# 10.9 % (18.3 % with the largest side alone), worst 31.3 % (gpt-oss-120b N=27, measured only 9 % above N=36;
# 29.4 % before, qwen3-30b-a3b with 48 layers in RAM, now 19.9 %).
DECODE_HELD_OUT = 0.32
DECODE_HELD_OUT_MEDIAN = 0.12
# The rate fitted on the other models' rows: 26.8 % (gpt-oss-120b N=36 at glm + qwen3's 7.34 GB/s; 25.4 % before
# 046ac8a gave Qwen3's Q/K norms a prefill cost, which leaves less of qwen3's pp512 time to the copies: its own
# rate 6.81 -> 7.05 GB/s). gpt-oss-120b's own rows fit 5.72 GB/s: held out it is always predicted fast.
PP512_HELD_OUT = 0.27
PP512_SHIPPED = 0.17  # engine's rate on the rows it was fitted to (qwen3-30b-a3b, gpt-oss-120b)
# GLM-4.5-Air was measured on a later lease, after its plan was committed (moe_offload_predictions_glm.jsonl):
# its rows check the shipped rate and the memory rules as held-out data. Its compute buffer with experts in
# RAM is 60.5 MiB above the rule (874.51 logged, 814.00 planned; not modelled), 0.9 % of a 12 GiB card.
FITTED_MODELS = {"qwen3-30b-a3b", "gpt-oss-120b"}
PP512_SHIPPED_HELD_OUT = 0.24  # glm-4.5-air N=24: -23.0 %


def _estimate(model_id: str, preset: str, n_cpu_moe: int | None, vram_gib: float, ctx: int) -> memory.FitResult:
    return memory.estimate(
        memory.FitRequest(
            shape=get_model(model_id).to_shape(), preset=preset, n_ctx=ctx, type_k="f16", type_v="f16",
            devices=(memory.Device("GPU", "cuda", int(vram_gib * GIB)),), n_cpu_moe=n_cpu_moe,
            n_gpu_layers=-1 if n_cpu_moe is not None else None, margin_bytes=memory.LLAMA_FIT_MARGIN_BYTES,
        )
    )  # fmt: skip


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{r['model_id']}-ncmoe{r['n_cpu_moe']}")
def test_gpu_model_buffer_at_every_n(run: dict) -> None:
    result = _estimate(run["model_id"], run["preset"], run["n_cpu_moe"], 140, 4096)
    gpu = result.devices[0]
    assert result.n_cpu_moe == run["n_cpu_moe"]
    # llama.cpp logs "CUDA0 model buffer size = X MiB" to two decimals.
    assert gpu.weights_bytes / MIB == pytest.approx(run["buffers_mib"]["CUDA0:model"], abs=0.01)


@pytest.mark.parametrize("run", OFFLOADED, ids=lambda r: f"{r['model_id']}-ncmoe{r['n_cpu_moe']}")
def test_compute_buffer_holds_the_copy_of_the_largest_host_expert_tensor(run: dict) -> None:
    # gpt-oss-120b: 405.02 MiB with its experts on the GPU, 608.29 with any in RAM (the 537.89 MiB MXFP4
    # tensor copied for op offload); Qwen3-30B-A3B's copies fit under its logits peak (342.01).
    result, _ = memory_plan(run["model_id"], run["preset"], run["n_cpu_moe"], ctx=512)
    measured = run["buffers_mib"]["CUDA0:compute"]
    limit = 0.01 if run["model_id"] == "gpt-oss-120b" else 0.12  # Qwen at N=48: 300.75 logged, 336.75 planned
    assert result.devices[0].compute_bytes / MIB == pytest.approx(measured, rel=limit)


def test_no_expert_copy_below_op_offloads_batch() -> None:
    shape = get_model("gpt-oss-120b").to_shape()
    types = tensor_types(shape, "MXFP4_MOE")
    small = memory.resolve_context(memory.FitRequest(shape=shape, preset="MXFP4_MOE", n_ctx=4096, n_ubatch=16))
    assert memory.expert_offload_compute_bytes(shape, small, types, 12) == 0
    big = replace(small, n_ubatch=512)
    assert memory.expert_offload_compute_bytes(shape, big, types, 12) / MIB == pytest.approx(605.39, abs=0.01)
    assert memory.expert_offload_compute_bytes(shape, big, types, 0) == 0


@pytest.mark.parametrize("fit", FITS, ids=lambda f: f"{f['model_id']}-{f['simulated_gpu_gib']}gib")
def test_gpu_memory_of_llama_fit_params_placement(fit: dict) -> None:
    shape = get_model(fit["model_id"]).to_shape()
    moved = moved_tensors(shape, fit["preset"], ot_patterns(fit["printed_args"]))
    # llama-fit-params' own projection at 8k (model + KV + compute) and NVML's peak of llama-bench with its -ot
    at_8k = buffers(gpu_for_placement(fit, moved, FIT_PARAMS_CTX)) / MIB
    rel = 0.005 if fit["model_id"] in FITTED_MODELS else 0.011  # glm-4.5-air at 12 GiB: -0.87 % / -1.04 %
    assert at_8k == pytest.approx(fit_log_mib(fit), rel=rel)
    peak = fit["bench_nvml_peak_minus_baseline_bytes"]
    assert gpu_for_placement(fit, moved, 512).total_bytes == pytest.approx(peak, rel=rel)


@pytest.mark.parametrize("fit", FITS, ids=lambda f: f"{f['model_id']}-{f['simulated_gpu_gib']}gib")
def test_the_plan_moves_as_many_experts_as_llama_fit_params(fit: dict) -> None:
    shape = get_model(fit["model_id"]).to_shape()
    moved = moved_tensors(shape, fit["preset"], ot_patterns(fit["printed_args"]))
    ours = _estimate(fit["model_id"], fit["preset"], None, fit["simulated_gpu_gib"], FIT_PARAMS_CTX)
    assert ours.fit == "full_gpu" and ours.n_gpu_layers == shape.n_layers + 1
    # It may move part of a layer; the plan moves whole layers, and counts the CUDA context's growth during a
    # run (~715 MiB against the ~526 MiB llama-fit-params sees), so it can move one layer more.
    assert len(moved) <= ours.n_cpu_moe <= len(moved) + 1
    assert all(d.fits for d in ours.devices if d.name != "host")


@pytest.fixture(scope="module")
def rows() -> list:
    return [speed_row(r) for r in OFFLOADED]


def test_decode_with_experts_in_ram_within_the_held_out_error(rows: list) -> None:
    errors = [predicted(r, engine.EXPERT_COPY_BYTES_PER_S, True).decode_tps / r.decode - 1 for r in rows]
    assert len(errors) == len(OFFLOADED) == 13 and max(abs(e) for e in errors) <= DECODE_HELD_OUT
    assert statistics.median(abs(e) for e in errors) <= DECODE_HELD_OUT_MEDIAN


def test_prefill_copy_rate_fitted_on_the_other_models_predicts_each(rows: list) -> None:
    models = {r.model for r in rows}
    for model in models:
        rate = fit_copy_rate([r for r in rows if r.model != model])
        held_out = [r for r in rows if r.model == model]
        assert max(abs(predicted(r, rate, True).prefill_tps / r.pp512 - 1) for r in held_out) <= PP512_HELD_OUT
    fitted = [r for r in rows if r.model in FITTED_MODELS]
    assert fit_copy_rate(fitted) == pytest.approx(engine.EXPERT_COPY_BYTES_PER_S, rel=0.01)
    for subset, bound in ((fitted, PP512_SHIPPED), ([r for r in rows if r not in fitted], PP512_SHIPPED_HELD_OUT)):
        shipped = [predicted(r, engine.EXPERT_COPY_BYTES_PER_S, True).prefill_tps / r.pp512 - 1 for r in subset]
        assert subset and max(abs(e) for e in shipped) <= bound


def test_the_plan_puts_the_same_pieces_together(rows: list) -> None:
    """engine.predict (what every page shows) against the bench's reconstruction, for a real model."""
    row = next(r for r in rows if r.model == "gpt-oss-120b" and r.n == 36)
    result, params = memory_plan(row.model, "MXFP4_MOE", row.n)
    resolved = engine.resolve_model(params, lambda m: get_model(m).to_shape())
    machine = replace(engine.resolve_machine(params), cpu=host_cpu(row.cpu.bandwidth_gbps))
    plan = engine.predict(engine.build_request(params, resolved, machine), result, resolved, machine, "MXFP4_MOE")
    real = predicted(row, engine.EXPERT_COPY_BYTES_PER_S, False)
    assert plan.decode_tps == pytest.approx(real.decode_tps, rel=0.01)
    assert plan.prefill_tps == pytest.approx(real.prefill_tps, rel=0.01)
    # A real 512-token batch routes to ~every expert: it copies ~all 58.4 GB, not the stand-in's 4/128.
    assert engine.experts_used_share(resolved.shape, 512) == pytest.approx(1.0, abs=1e-6)
    assert plan.prefill_tps < row.pp512 / 10
    assert math.isfinite(plan.decode_tps)
