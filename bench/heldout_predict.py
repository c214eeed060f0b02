"""Predict a lease's speed runs (bench/gpu_bench.py --set N) before measuring them.

    python bench/heldout_predict.py --set 2 > bench/data/heldout_predictions.txt
    python bench/heldout_predict.py --set 3 > bench/data/heldout_predictions_set3.jsonl
    python bench/heldout_predict.py --set h200 --gpu "NVIDIA H200" > bench/data/heldout_predictions_h200.jsonl

``--gpu NAME``: predict for that catalog GPU (advisor.catalog.hardware.find_gpu, as the app resolves a
name) instead of the H100 SXM of the bench's datasheet figures; its lines carry ``"gpu"``.

Uses advisor.core.speed with its committed H100 constants and llama.cpp's simulated type mix
(advisor.core.quantize; presets that need an importance matrix with llama.cpp's has_imatrix rules, as
gpu_bench quantizes them), so the comparison in bench/speed_accuracy.py is out of sample. llama-bench
variants (partial offload, CPU only) use the H100 host's CPU bandwidth measured on the first lease.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from advisor.catalog.models_catalog import get_model
from advisor.core import speed
from advisor.core.speed import Device, SpeedInputs, predict_speed, weights_for
from bench.gpu_bench import plans_from_argv
from bench.speed_accuracy import h100, load_jsonl


def host_cpu() -> Device:
    env = next(r["gpu_env"] for r in load_jsonl("speed_h100.jsonl") if "gpu_env" in r)
    return Device("cpu", env["cpu_copy_gbps"], None, "H100 host: torch copy, read+write GB/s")


def gpu_from_argv() -> Device:
    if "--gpu" not in sys.argv:
        return h100()
    from advisor.catalog.hardware import find_gpu

    return speed.device_for_gpu(find_gpu(sys.argv[sys.argv.index("--gpu") + 1]))


def main() -> None:
    dev = gpu_from_argv()
    tag = {"gpu": dev.name} if "--gpu" in sys.argv else {}
    for plan in plans_from_argv():
        shape = get_model(plan.model_id).to_shape()
        for pi, preset in enumerate(plan.presets):
            w = weights_for(shape, preset)
            for depth in (0, *(plan.depths if pi == 0 else ())):
                p = predict_speed(SpeedInputs(shape, w, (dev,), depth=depth), curve_depths=())
                row = {"model_id": plan.model_id, "preset": preset, "depth": depth, **tag}
                print(json.dumps({**row, "decode_tps": round(p.decode_tps, 1), "prefill_tps": round(p.prefill_tps, 1)}))
            for label, _env, args in plan.extra_bench if pi == 0 else ():
                ngl = int(args[args.index("-ngl") + 1])
                devs = (dev,) if ngl > 0 else ()
                inp = SpeedInputs(shape, w, devs, cpu=host_cpu(), n_gpu_layers=ngl)
                t = sum(speed.decode_time_s(inp, 0).values())
                print(json.dumps({"model_id": plan.model_id, "preset": preset, "variant": label,
                                  "decode_tps": round(1 / t, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
