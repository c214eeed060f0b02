"""MoE expert offload (--n-cpu-moe) on the H200: the plan's GPU memory and speed against the lease's runs.

Reads bench/data/moe_offload_h200.jsonl (llama-bench -ngl 99 -ncmoe N on zero-weight stand-ins, with
llama.cpp's buffer lines and NVML) and bench/data/fit_params_h200.jsonl (what llama-fit-params chose for a
24 GiB and a 12 GiB card), and prints the memory engine's GPU buffers and the speed engine's decode and
prefill for the same N. The host's RAM read rate is the lease's own copy measurement (gpu_env.cpu_copy_gbps).

Prefill: the zero-weight stand-ins send every token to the same few experts, so the GPU copies few of
the experts held in RAM per micro-batch; a real model's 512-token batch routes to nearly all of them, which is
what the plan assumes (all of them copied over PCIe 4.0 x16 per micro-batch). The stand-in prefill column is
therefore an upper bound, not a check of the prediction.

Usage: DEBUG=1 .venv/bin/python bench/moe_offload_check.py > bench/data/moe_offload_check.txt
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")

from advisor.catalog.models_catalog import get_model  # noqa: E402
from advisor.core import memory  # noqa: E402
from advisor.fit import engine  # noqa: E402
from advisor.fit.args import FitParams  # noqa: E402

MIB = 2**20
GIB = 2**30
DATA = ROOT / "bench" / "data"


def plan_for(model_id: str, preset: str, n_cpu_moe: int | None, cpu_gbps: float, vram_gib: float | None = None,
             ctx: int = 4096):  # fmt: skip
    params = FitParams(
        model=model_id, quant=preset, ctx=ctx, kv_type="f16", flash_attn="auto", gpus=("NVIDIA H200",),
        vram_gib=vram_gib, n_cpu_moe=n_cpu_moe, runtime="llama-server",
    )  # fmt: skip
    resolved = engine.resolve_model(params, lambda m: get_model(m).to_shape())
    machine = engine.resolve_machine(params)
    machine = replace(machine, cpu=replace(machine.cpu, bandwidth_gbps=cpu_gbps))
    request = engine.build_request(params, resolved, machine)
    result = memory.estimate(request)
    return result, engine.predict(request, result, resolved, machine, preset)


def main() -> None:
    print(__doc__.split("\n\n")[0])
    print()
    print(f"{'model':<16} {'N':>3} {'GPU model MiB':>14} {'pred':>9} {'err':>7} {'decode':>7} {'pred':>7} {'err':>7}"
          f" {'pp512':>7} {'pred':>7} {'err':>7}")  # fmt: skip
    for line in (DATA / "moe_offload_h200.jsonl").read_text().splitlines():
        rec = json.loads(line)
        cpu_gbps = float(rec["gpu_env"]["cpu_copy_gbps"])
        result, speed = plan_for(rec["model_id"], rec["preset"], rec["n_cpu_moe"], cpu_gbps)
        gpu = result.devices[0]
        runs = {(b["n_prompt"], b["n_gen"]): b["avg_ts"] for b in rec["bench"]}
        tg, pp = runs.get((0, 128)), runs.get((512, 0))
        measured_w = rec["buffers_mib"]["CUDA0:model"]
        row = f"{rec['model_id']:<16} {rec['n_cpu_moe']:>3} {measured_w:>14.1f} {gpu.weights_bytes / MIB:>9.1f}"
        row += f" {100 * (gpu.weights_bytes / MIB / measured_w - 1):>+6.2f}%"
        for measured, predicted in ((tg, speed.decode_tps), (pp, speed.prefill_tps)):
            if measured and predicted:
                row += f" {measured:>7.1f} {predicted:>7.1f} {100 * (predicted / measured - 1):>+6.1f}%"
        print(row)
    print()
    print("llama-fit-params at 8k context on a simulated card: the layers whose experts it moves to RAM against")
    print("the plan's --n-cpu-moe at 8k; then the GPU peak of llama-bench run with its choice (at llama-bench's")
    print("own 640-token context) against the plan's GPU bytes for the same layers and context.")
    header = f"{'model':<16} {'card GiB':>8} {'its N':>6} {'plan N':>7} {'its peak GiB':>12} {'plan GiB':>9} {'err':>7}"
    print(header)
    for line in (DATA / "fit_params_h200.jsonl").read_text().splitlines():
        rec = json.loads(line)
        card, peak = rec["simulated_gpu_gib"], rec["bench_nvml_peak_minus_baseline_bytes"]
        theirs = rec["printed_args"].count("exps=CPU")
        chosen, _ = plan_for(rec["model_id"], rec["preset"], None, 57.4, vram_gib=float(card), ctx=8192)
        same, _ = plan_for(rec["model_id"], rec["preset"], theirs, 57.4, ctx=640)
        gpu = sum(d.total_bytes for d in same.devices if d.name != "host")
        print(f"{rec['model_id']:<16} {card:>8} {theirs:>6} {chosen.n_cpu_moe:>7} {peak / GIB:>12.2f}"
              f" {gpu / GIB:>9.2f} {100 * (gpu / peak - 1):>+6.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
