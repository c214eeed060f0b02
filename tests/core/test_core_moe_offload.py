"""--n-cpu-moe: experts of the first N layers in RAM, against llama.cpp's own buffers on the H200 lease
(bench/data/moe_offload_h200.jsonl) and the choices llama-fit-params made (bench/data/fit_params_h200.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.catalog.models_catalog import get_model
from advisor.core import memory

DATA = Path(__file__).resolve().parents[2] / "bench" / "data"
MIB = 2**20
GIB = 2**30
RUNS = [json.loads(line) for line in (DATA / "moe_offload_h200.jsonl").read_text().splitlines()]
FITS = [json.loads(line) for line in (DATA / "fit_params_h200.jsonl").read_text().splitlines()]


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


@pytest.mark.parametrize("fit", FITS, ids=lambda f: f"{f['model_id']}-{f['simulated_gpu_gib']}gib")
def test_the_plan_moves_as_many_experts_as_llama_fit_params(fit: dict) -> None:
    theirs = fit["printed_args"].count("exps=CPU")  # one -ot override per layer whose experts move
    ours = _estimate(fit["model_id"], fit["preset"], None, fit["simulated_gpu_gib"], 8192)
    assert ours.fit == "full_gpu" and ours.n_gpu_layers == get_model(fit["model_id"]).n_layers + 1
    # llama-fit-params also moves part of one more layer's FFN; the plan moves whole layers' experts.
    assert theirs <= ours.n_cpu_moe <= theirs + 1
    assert all(d.fits for d in ours.devices if d.name != "host")
