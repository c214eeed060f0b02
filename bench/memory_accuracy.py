"""Predicted vs measured GPU memory on the H100 (bench/data/memory_h100.jsonl).

    python bench/memory_accuracy.py

Each record is one probe run (advisor.probe) of a stand-in after a 512-token eval: llama.cpp's logged
buffers (model / KV / compute per device) and NVML's device memory in use, minus what was in use before
the process started. The overhead column is (device used) - (sum of CUDA buffers): the CUDA context,
cuBLAS workspace and the memory pool.

The predicted column calls ``advisor.core.memory.estimate`` when that module exists; the call is made
through ``predict()`` below, the one place to adapt to its signature.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))
DATA = ROOT / "bench" / "data" / "memory_h100.jsonl"
MIB = 1024 * 1024


def load() -> list[dict[str, Any]]:
    if not DATA.exists():
        return []
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def predict(rec: dict[str, Any]) -> dict[str, int] | None:
    """Bytes the memory engine predicts on the GPU for this record's settings, by kind, or None."""
    try:
        from advisor.catalog.models_catalog import get_model
        from advisor.core import memory
    except ImportError:
        return None
    s = rec["settings"]
    shape = get_model(rec["model_id"]).to_shape()
    try:
        est = memory.estimate(  # type: ignore[attr-defined, call-arg]
            shape, quant=rec["preset"], n_ctx=s["n_ctx"], kv_type_k=s["type_k"], kv_type_v=s["type_v"],
            flash_attn=s["flash_attn"] != "off", n_gpu_layers=s.get("n_gpu_layers", -1),
        )
    except TypeError:
        return None
    out: dict[str, int] = {}
    for name in ("weights_gpu_bytes", "kv_gpu_bytes", "compute_gpu_bytes", "overhead_bytes", "gpu_total_bytes"):
        if hasattr(est, name):
            out[name] = int(getattr(est, name))
    return out or None


def main() -> int:
    recs = load()
    if not recs:
        print(f"no data in {DATA}")
        return 1
    print(f"{'model':<20} {'preset':<9} {'ctx':>6} {'kv':<5} {'fa':<4} {'ngl':>4} {'model':>9} {'KV':>8} "
          f"{'compute':>8} {'used':>9} {'ovh':>6} {'pred':>9} {'err':>6}")
    overheads: list[float] = []
    errs: list[float] = []
    for r in recs:
        p = r["probe"]
        s = r["settings"]
        if "error" in p:
            print(f"{r['model_id']:<20} {r['preset']:<9} {s['n_ctx']:>6} ERROR {p['error_kind']}: "
                  f"{p['error'].splitlines()[0][:80]}")
            continue
        sums = r["buffer_sums"]

        def gpu(kind: str, sums: dict[str, int] = sums) -> float:
            return sum(v for k, v in sums.items() if k.startswith("CUDA") and "_Host" not in k
                       and k.endswith(":" + kind)) / MIB

        used = p["gpu_after_prefill_bytes"] / MIB
        ovh = r["overhead_after_prefill_bytes"] / MIB
        if s.get("n_gpu_layers", -1) == -1:
            overheads.append(ovh)
        pred = predict(r)
        pred_total = pred.get("gpu_total_bytes") if pred else None
        err = ""
        if pred_total:
            e = (pred_total / MIB - used) / used
            errs.append(e)
            err = f"{100 * e:5.1f}%"
        print(f"{r['model_id']:<20} {r['preset']:<9} {s['n_ctx']:>6} {s['type_k']:<5} {s['flash_attn']:<4} "
              f"{s.get('n_gpu_layers', -1):>4} {gpu('model'):9.0f} {gpu('KV'):8.0f} {gpu('compute'):8.0f} "
              f"{used:9.0f} {ovh:6.0f} {(pred_total or 0) / MIB:9.0f} {err:>6}")
    if overheads:
        print(f"\nCUDA overhead outside llama.cpp's buffers (full offload): median {statistics.median(overheads):.0f} "
              f"MiB, min {min(overheads):.0f}, max {max(overheads):.0f} (n={len(overheads)})")
    if errs:
        ab = [abs(e) for e in errs]
        print(f"memory estimate: median |err| {100 * statistics.median(ab):.1f}%, max {100 * max(ab):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
