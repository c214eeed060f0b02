"""Op offload with zero or few layers on a GPU: the engine against the H200 measurements.

bench/data/op_offload_h200.jsonl: 4 Q4_K_M stand-ins x -ngl 0/1/2 x 4k/16k x op offload on/off
(bench/op_offload_bench.py); bench/data/op_offload_predictions_h200.jsonl: what the engine predicted
before the lease (no op-offload rule: nothing on the GPU at -ngl 0 but the backend overhead).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.catalog.models_catalog import get_model
from advisor.core import memory
from advisor.core.loadlog import parse_paste
from advisor.core.loadlog_fit import request_from_log
from bench.op_offload_predict import request

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadlogs"
MIB = 1024 * 1024
GEMMA = "gemma-3-4b-it"  # logs 28.3 MiB more GPU compute than the rule with op offload on (not explained)


def _within(pred: int, meas: int, rel: float = 0.01, floor: int = 16 * MIB) -> bool:
    return abs(pred - meas) <= max(rel * meas, floor)


def _loads() -> list[dict]:
    return [json.loads(ln) for ln in (DATA / "op_offload_h200.jsonl").read_text().splitlines() if ln.strip()]


def _buf(load: dict, *names: str) -> int:
    return sum(v for n, v in load["buffer_list"] if n in names)


def _key(d: dict) -> tuple:
    return d["model_id"], d["n_gpu_layers"], d["n_ctx"], d["op_offload"]


@pytest.fixture(scope="module")
def rows() -> list[tuple[dict, memory.FitResult]]:
    return [(ld, memory.estimate(request(*_key(ld)))) for ld in _loads()]


def test_measurements_complete() -> None:
    loads = _loads()
    assert len(loads) == 48 and len({_key(d) for d in loads}) == 48
    assert all(d["gpu"] == "NVIDIA H200" and d["driver"] == "580.159.04" and d["decode_rc"] == 0 for d in loads)


def test_op_offload_field_defaults_on() -> None:
    assert memory.FitRequest(shape=request("llama-3.1-8b-instruct", 0, 4096, True).shape).op_offload is True


def test_zero_layers_gpu_compute(rows: list[tuple[dict, memory.FitResult]]) -> None:
    """-ngl 0, op offload on: GPU 0 reserves the output split (copied output matrix + hidden state +
    logits); off: nothing."""
    n = 0
    for ld, r in rows:
        if ld["n_gpu_layers"] != 0:
            continue
        meas, pred = _buf(ld, "CUDA0:compute"), r.devices[0].compute_bytes
        if not ld["op_offload"]:
            assert meas == 0 and pred == 0
        elif ld["model_id"] == GEMMA:
            assert -29 * MIB <= pred - meas < 0, (ld["model_id"], pred / MIB, meas / MIB)
        else:
            assert _within(pred, meas), (_key(ld), pred / MIB, meas / MIB)
        n += 1
    assert n == 16


def test_zero_layers_nvml(rows: list[tuple[dict, memory.FitResult]]) -> None:
    """NVML device memory after the 512-token decode: CUDA context alone without op offload (527 MiB),
    context + pool + the compute buffer (+ cuBLAS for Qwen3-30B-A3B's F32 router) with it."""
    for ld, r in rows:
        if ld["n_gpu_layers"] != 0:
            continue
        pred, meas = r.devices[0].total_bytes, ld["used_bytes"]
        rel = 0.02 if ld["model_id"] == GEMMA and ld["op_offload"] else 0.01
        assert _within(pred, meas, rel), (_key(ld), pred / MIB, meas / MIB)


def test_host_compute_all_loads(rows: list[tuple[dict, memory.FitResult]]) -> None:
    """Host compute (CUDA_Host compute + output buffer): graph inputs alone while op offload runs the host
    layers on the GPU; the host layers' FFN peak on top with --no-op-offload; the CPU graph at -ngl 0
    without op offload."""
    for ld, r in rows:
        meas = _buf(ld, "CUDA_Host:compute", "CPU:compute", "CPU:output", "CUDA_Host:output")
        pred = r.devices[-1].compute_bytes
        assert _within(pred, meas), (_key(ld), pred / MIB, meas / MIB)


def test_few_layers_dense_nvml(rows: list[tuple[dict, memory.FitResult]]) -> None:
    """-ngl 1/2 of the dense models, op offload on and off (Llama-3.2-1B at -ngl 2, 16k, op offload on
    logs 52 MiB more GPU compute than at 4k: not modelled)."""
    for ld, r in rows:
        k = _key(ld)
        if ld["n_gpu_layers"] == 0 or ld["model_id"] in (GEMMA, "qwen3-30b-a3b") or k[1:] == (2, 16384, True):
            continue
        assert _within(r.devices[0].total_bytes, ld["used_bytes"]), (k, r.devices[0].total_bytes / MIB)


def test_predictions_before_were_off() -> None:
    """The committed pre-lease predictions put only the backend overhead on the GPU at -ngl 0."""
    before = {
        _key(d): d for d in map(json.loads, (DATA / "op_offload_predictions_h200.jsonl").read_text().splitlines())
    }
    for ld in _loads():
        if ld["n_gpu_layers"] == 0 and ld["op_offload"]:
            b = before[_key(ld)]
            assert b["compute_bytes"] == 0 and b["gpu_total_bytes"] < 0.6 * ld["used_bytes"]


def test_zero_layers_vulkan_compute() -> None:
    """Vulkan's -ngl 0 op-offload compute buffer on the H200 (751.41 MiB) is CUDA's output split (669.48
    MiB, same model and flags) plus the last host layer's ffn_down copy and FFN activations."""
    got = {}
    for kind in ("vulkan", "cuda"):
        ld = parse_paste((FIXTURES / f"{kind}_h200_llama31_8b_q4km_ngl0_4k.log").read_text()).load
        assert ld is not None
        req = request_from_log(ld, shape=get_model("llama-3.1-8b-instruct").to_shape(), preset="Q4_K_M")
        got[kind] = memory.estimate(req).devices[0].compute_bytes
    assert abs(got["vulkan"] - 751.41 * MIB) <= 0.01 * 751.41 * MIB, got["vulkan"] / MIB
    assert abs(got["cuda"] - 669.48 * MIB) <= 0.01 * 669.48 * MIB, got["cuda"] / MIB
