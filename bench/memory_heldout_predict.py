"""Predict the GPU memory of the second-lease loads (bench/gpu_bench.py --set 2) before they are measured.

    python bench/memory_heldout_predict.py > bench/data/memory_heldout_predictions.jsonl

One line per load of PLANS_2's memory grid (the same runs gpu_bench.run_plan makes on the first
preset: contexts x KV types with flash attention on, then f16 at fa_off_ctx with flash attention off
and auto) and per speed-phase probe (flash attention auto, n_ctx max(4096, 640 + depth) on the first
preset, 4096 on the others). Weights use the simulated llama-quantize mix of each preset (no
importance matrix, as gpu_bench quantizes). ``bench/memory_accuracy.py --heldout`` compares these
committed numbers with the measurements once they exist, so the comparison is out of sample.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))

from advisor.catalog.models_catalog import get_model
from advisor.core import memory
from bench.gpu_bench import plans_from_argv
from bench.memory_accuracy import Load, request_for


def planned_loads() -> list[tuple[str, Load]]:
    """(phase, Load) of every planned load; measured fields are zero."""
    out: list[tuple[str, Load]] = []
    for plan in plans_from_argv():
        shape = get_model(plan.model_id).to_shape()
        runs: list[dict[str, Any]] = []
        for ctx in plan.contexts:
            if ctx <= shape.context_max:
                runs.extend({"n_ctx": ctx, "type_k": kv, "type_v": kv, "flash_attn": "on"} for kv in plan.kv_types)
        if plan.fa_off_ctx and plan.fa_off_ctx <= shape.context_max:
            for fa in ("off", "auto"):
                runs.append({"n_ctx": plan.fa_off_ctx, "type_k": "f16", "type_v": "f16", "flash_attn": fa})
        if plan.partial_ngl:
            runs.append({"n_ctx": 8192, "type_k": "f16", "type_v": "f16", "flash_attn": "on",
                         "n_gpu_layers": plan.partial_ngl})  # fmt: skip
        phases = [("memory", plan.presets[0], kw) for kw in runs]
        for pi, preset in enumerate(plan.presets):
            n_ctx = max(4096, 640 + max(plan.depths or (0,))) if pi == 0 else 4096
            phases.append(("speed", preset, {"n_ctx": n_ctx, "type_k": "f16", "type_v": "f16", "flash_attn": "auto"}))
        for phase, preset, kw in phases:
            out.append((phase, Load(
                source=phase, model_id=plan.model_id, preset=preset, file="", n_layers=shape.n_layers,
                n_ctx=kw["n_ctx"], type_k=kw["type_k"], type_v=kw["type_v"], flash_attn=kw["flash_attn"],
                n_gpu_layers=kw.get("n_gpu_layers", -1), n_batch=2048, n_ubatch=512, used_bytes=0, buffers={},
                buffer_list=(), model_size_bytes=0,
            )))  # fmt: skip
    return out


def main() -> None:
    for phase, ld in planned_loads():
        r = memory.estimate(request_for(ld, types={}))
        g = r.devices[0]
        print(json.dumps({
            "phase": phase, "model_id": ld.model_id, "preset": ld.preset, "n_ctx": ld.n_ctx, "type_k": ld.type_k,
            "type_v": ld.type_v, "flash_attn": ld.flash_attn, "n_gpu_layers": ld.n_gpu_layers,
            "gpu_total_bytes": g.total_bytes, "weights_bytes": g.weights_bytes, "kv_bytes": g.kv_cache_bytes,
            "compute_bytes": g.compute_bytes, "overhead_bytes": g.overhead_bytes,
            "host_compute_bytes": r.devices[-1].compute_bytes,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
