"""MoE expert offload (--n-cpu-moe) on the H200: the plan's GPU memory and speed against the lease's runs.

Reads bench/data/moe_offload_h200.jsonl (llama-bench -ngl 99 -ncmoe N -p 512 -n 128 -r 3 on zero-weight
stand-ins, with llama.cpp's buffer lines and NVML) and bench/data/fit_params_h200.jsonl (what
llama-fit-params chose for a simulated 24 GiB and 12 GiB card at 8k context, and llama-bench run with its
-ot). Measured speeds are the median of llama-bench's repetitions (samples_ts; the first repetition of
every pp512 runs up to 40% slower). The host: 16-vCPU Xeon with AVX-512 (system_info of
bench/data/speed_h200.jsonl), its RAM copy rate measured by the lease (gpu_env.cpu_copy_gbps), PCIe 5.0 x16.

Speed model (advisor/fit/engine.py ``with_experts_in_ram``):
* decode = the GPU part without the RAM-held experts + the CPU's read of the routed ones at speed.py's CPU
  rates (RAM bandwidth x its fitted share, 16 cores, AVX-512). No constant is fitted to these rows, so
  every decode row is held out.
* pp512 = the GPU computing every expert (op offload, batch >= 32) + the experts a micro-batch routes to,
  copied per micro-batch at EXPERT_COPY_BYTES_PER_S. A zero-weight stand-in routes every token to the same
  n_used experts (all router logits are 0), so it copies n_used/n_experts of each RAM-held tensor
  (ggml-backend.cpp copies only the used experts); a real model's 512 tokens route to nearly all of them,
  which is what a plan assumes. The rate is the one constant fitted here (engine's, on the first two
  models' rows); each model's rows are also predicted with the rate fitted on the other models' only.
  The copies come from llama.cpp's mmapped (pageable) host buffer, staged by the driver, so
  the rate is this host's, far under PCIe 5.0's; with --no-mmap the host buffer is pinned (not measured).

Usage: DEBUG=1 .venv/bin/python bench/moe_offload_check.py > bench/data/moe_offload_check.txt
Before a lease: ... moe_offload_check.py --predict glm-4.5-air Q4_K_M 0,12,24,35,44,46 <out.jsonl>
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")

from advisor.catalog.models_catalog import get_model  # noqa: E402
from advisor.core import memory, speed  # noqa: E402
from advisor.core.quantize import needs_imatrix, tensor_types  # noqa: E402
from advisor.core.shape import ModelShape  # noqa: E402
from advisor.core.tensors import tensor_inventory  # noqa: E402
from advisor.fit import engine  # noqa: E402
from advisor.fit.args import FitParams  # noqa: E402

MIB = 2**20
GIB = 2**30
DATA = ROOT / "bench" / "data"
HOST_CORES, HOST_ISA = 16, "avx512"
FIT_PARAMS_CTX = 8192


def host_cpu(gbps: float) -> speed.Device:
    return speed.cpu_device("Xeon, 16 vCPU (H200 host)", gbps, HOST_CORES, HOST_ISA)


def memory_plan(model_id: str, preset: str, n_cpu_moe: int | None, vram_gib: float | None = None,
                ctx: int = 4096) -> tuple[memory.FitResult, FitParams]:  # fmt: skip
    params = FitParams(
        model=model_id, quant=preset, ctx=ctx, kv_type="f16", flash_attn="auto", gpus=("NVIDIA H200",),
        vram_gib=vram_gib, n_cpu_moe=n_cpu_moe, runtime="llama-server",
    )  # fmt: skip
    resolved = engine.resolve_model(params, lambda m: get_model(m).to_shape())
    request = engine.build_request(params, resolved, engine.resolve_machine(params))
    return memory.estimate(request), params


def shape_of(model_id: str) -> ModelShape:
    return get_model(model_id).to_shape()


@dataclass(frozen=True)
class Row:
    model: str
    n: int
    decode: float
    pp512: float
    gpu_decode: float  # the plan's GPU part alone (experts in RAM not read)
    gpu_prefill: float  # the GPU computing every expert
    in_ram: tuple[speed.WeightChunk, ...]
    cpu: speed.Device


def plan_row(model_id: str, preset: str, n: int, cpu_copy_gbps: float, decode: float = math.nan,
             pp512: float = math.nan) -> Row:  # fmt: skip
    """The plan's speed pieces for -ncmoe N, as engine.predict puts them together (measured speeds beside)."""
    shape = shape_of(model_id)
    chunks = speed.weights_for(shape, preset)
    in_ram = tuple(c for c in chunks if c.expert and c.layer < n)
    on_gpu = tuple(c for c in chunks if not (c.expert and c.layer < n))
    _, params = memory_plan(model_id, preset, n)
    machine = engine.resolve_machine(params)
    cpu = host_cpu(cpu_copy_gbps)
    inputs = speed.SpeedInputs(shape=shape, weights=on_gpu, devices=machine.speed_devices, cpu=cpu)
    gpu = speed.predict_speed(inputs, curve_depths=())
    gpu_prefill = 1.0 / speed.prefill_time_s(replace(inputs, weights=chunks))
    return Row(model_id, n, decode, pp512, gpu.decode_tps, gpu_prefill, in_ram, cpu)


def speed_row(rec: dict) -> Row:
    runs = {(b["n_prompt"], b["n_gen"]): statistics.median(b["samples_ts"]) for b in rec["bench"]}
    gbps = float(rec["gpu_env"]["cpu_copy_gbps"])
    return plan_row(rec["model_id"], rec["preset"], rec["n_cpu_moe"], gbps, runs[(0, 128)], runs[(512, 0)])


def write_predictions(model_id: str, preset: str, ns: tuple[int, ...], path: Path) -> None:
    """Before a lease: the plan's GPU buffers and stand-in speeds at every N, with the last lease's host
    copy rate (the new host's own rate is measured by the lease and used in the report)."""
    recs = [json.loads(line) for line in (DATA / "moe_offload_h200.jsonl").read_text().splitlines()]
    gbps = float(recs[-1]["gpu_env"]["cpu_copy_gbps"])
    with path.open("w") as out:
        for n in ns:
            result, _ = memory_plan(model_id, preset, n, ctx=512)
            gpu = result.devices[0]
            row = plan_row(model_id, preset, n, gbps)
            p = predicted(row, engine.EXPERT_COPY_BYTES_PER_S, True) if n else None
            rec = {
                "model_id": model_id, "preset": preset, "n_cpu_moe": n, "cpu_copy_gbps_assumed": gbps,
                "gpu_model_mib": round(gpu.weights_bytes / MIB, 1),
                "gpu_compute_mib": round(gpu.compute_bytes / MIB, 1),
                "decode_tps": round(p.decode_tps if p else row.gpu_decode, 2),
                "pp512_tps_standin": round(p.prefill_tps if p else row.gpu_prefill, 1),
            }  # fmt: skip
            out.write(json.dumps(rec) + "\n")


def predicted(row: Row, copy_rate: float, standin: bool) -> speed.SpeedPrediction:
    shape = shape_of(row.model)
    base = speed.SpeedPrediction(row.gpu_decode, row.gpu_prefill, (), "predicted")
    share = shape.n_experts_used / shape.n_experts if standin else None
    return engine.with_experts_in_ram(base, row.in_ram, shape, row.cpu, 512, copy_bytes_per_s=copy_rate,
                                      used_share=share)  # fmt: skip


def fit_copy_rate(rows: list[Row]) -> float:
    """The copy rate that minimises the squared log error of the stand-ins' pp512 (golden-section search)."""

    def loss(rate: float) -> float:
        return sum(math.log(predicted(r, rate, True).prefill_tps / r.pp512) ** 2 for r in rows)

    lo, hi = 0.5e9, 60e9
    for _ in range(100):
        a, b = lo + (hi - lo) * 0.382, lo + (hi - lo) * 0.618
        lo, hi = (lo, b) if loss(a) < loss(b) else (a, hi)
    return (lo + hi) / 2


def pct(pred: float, meas: float) -> str:
    return f"{100 * (pred / meas - 1):+6.1f}%"


def speed_section(recs: list[dict]) -> None:
    rows = [speed_row(r) for r in recs if r["n_cpu_moe"] > 0]
    models = sorted({r.model for r in rows})
    fitted = {m: fit_copy_rate([r for r in rows if r.model == m]) for m in models}
    others = {m: fit_copy_rate([r for r in rows if r.model != m]) for m in models}
    pooled = fit_copy_rate(rows)
    print("Copy rate of the experts a micro-batch uses (pp512), fitted on each model's rows and on all:")
    for m in models:
        print(f"  {m:<16} {fitted[m] / 1e9:5.2f} GB/s   (the others' rows: {others[m] / 1e9:5.2f} GB/s)")
    print(f"  {'all':<16} {pooled / 1e9:5.2f} GB/s   engine.EXPERT_COPY_BYTES_PER_S = "
          f"{engine.EXPERT_COPY_BYTES_PER_S / 1e9:.2f} GB/s")  # fmt: skip
    print()
    print("Speeds, tok/s. decode: every row held out (no constant fitted here). pp512 (stand-in routing):")
    print("'in-sample' with the shipped rate (fitted on the first two models' rows), 'held out' with the rate")
    print("fitted on the other models' rows only. 'real pp512' is the plan for the real model (a 512-token")
    print("batch uses ~all experts).")
    print(f"{'model':<16} {'N':>3} {'decode':>7} {'plan':>7} {'held out':>8}"
          f" {'pp512':>7} {'plan':>7} {'in-sample':>9} {'plan':>7} {'held out':>8} {'real pp512':>10}")  # fmt: skip
    worst = {"decode": 0.0, "pp_in": 0.0, "pp_out": 0.0}
    decode_errors: list[float] = []
    for r in rows:
        other = others[r.model]
        shipped = predicted(r, engine.EXPERT_COPY_BYTES_PER_S, True)
        held = predicted(r, other, True)
        real = predicted(r, engine.EXPERT_COPY_BYTES_PER_S, False)
        decode_errors.append(abs(shipped.decode_tps / r.decode - 1))
        worst["decode"] = max(worst["decode"], decode_errors[-1])
        worst["pp_in"] = max(worst["pp_in"], abs(shipped.prefill_tps / r.pp512 - 1))
        worst["pp_out"] = max(worst["pp_out"], abs(held.prefill_tps / r.pp512 - 1))
        print(f"{r.model:<16} {r.n:>3} {r.decode:>7.1f} {shipped.decode_tps:>7.1f}"
              f" {pct(shipped.decode_tps, r.decode):>8} {r.pp512:>7.0f} {shipped.prefill_tps:>7.0f}"
              f" {pct(shipped.prefill_tps, r.pp512):>9}"
              f" {held.prefill_tps:>7.0f} {pct(held.prefill_tps, r.pp512):>8} {real.prefill_tps:>10.0f}")  # fmt: skip
    print(f"worst |error|: decode {100 * worst['decode']:.1f}% (held out), pp512 {100 * worst['pp_in']:.1f}%"
          f" in-sample, {100 * worst['pp_out']:.1f}% held out")  # fmt: skip
    print(f"median |error|: decode {100 * statistics.median(decode_errors):.1f}% (held out)")


def memory_section(recs: list[dict]) -> None:
    print("GPU buffers at every N (llama-bench's pp512 context, 512): model and compute, MiB.")
    print(f"{'model':<16} {'N':>3} {'model':>9} {'plan':>9} {'err':>7} {'compute':>8} {'plan':>8} {'err':>7}")
    for rec in recs:
        result, _ = memory_plan(rec["model_id"], rec["preset"], rec["n_cpu_moe"], ctx=512)
        gpu = result.devices[0]
        w, c = rec["buffers_mib"]["CUDA0:model"], rec["buffers_mib"]["CUDA0:compute"]
        print(f"{rec['model_id']:<16} {rec['n_cpu_moe']:>3} {w:>9.1f} {gpu.weights_bytes / MIB:>9.1f}"
              f" {pct(gpu.weights_bytes / MIB, w):>7} {c:>8.1f} {gpu.compute_bytes / MIB:>8.1f}"
              f" {pct(gpu.compute_bytes / MIB, c):>7}")  # fmt: skip


def ot_patterns(printed_args: str) -> list[re.Pattern[str]]:
    """The -ot "<regex>=CPU,..." overrides llama-fit-params printed."""
    m = re.search(r'-ot "([^"]*)"', printed_args)
    return [re.compile(p.rsplit("=", 1)[0]) for p in m.group(1).split(",")] if m else []


def moved_tensors(shape: ModelShape, preset: str, pats: list[re.Pattern[str]]) -> dict[int, tuple[list[str], int]]:
    """Per layer, the tensors the overrides send to the CPU and their bytes in a CUDA buffer."""
    types = tensor_types(shape, preset, has_imatrix=needs_imatrix(shape, preset))
    out: dict[int, tuple[list[str], int]] = {}
    for t in tensor_inventory(shape):
        if t.layer is not None and any(p.search(t.name) for p in pats):
            names, b = out.get(t.layer, ([], 0))
            b += memory.cuda_tensor_alloc_bytes(types[t.name], t.dims)
            out[t.layer] = ([*names, t.name.split(".", 2)[2]], b)
    return out


def placement_label(shape: ModelShape, moved: dict[int, tuple[list[str], int]]) -> str:
    """'23 + L12 (gate, down)': whole layers' experts, and a layer of which only some moved."""
    whole = [il for il, (names, _) in moved.items() if sum("_exps.weight" in n for n in names) >= 3]
    parts = [f"L{il} ({', '.join(sorted({n.split('_')[1] for n in names if n.startswith('ffn_')}))})"
             for il, (names, _) in sorted(moved.items()) if il not in whole]  # fmt: skip
    return " + ".join([str(len(whole)), *parts])


def gpu_for_placement(rec: dict, moved: dict[int, tuple[list[str], int]], ctx: int) -> memory.DeviceMemory:
    """The plan's GPU for llama-fit-params' exact tensors: the buffers of --n-cpu-moe over the layers it
    touched (compute, KV, overhead), with the weights of every tensor it moved taken off exactly."""
    full, _ = memory_plan(rec["model_id"], rec["preset"], 0, ctx=ctx)
    same, _ = memory_plan(rec["model_id"], rec["preset"], len(moved), ctx=ctx)
    weights = full.devices[0].weights_bytes - sum(b for _, b in moved.values())
    return replace(same.devices[0], weights_bytes=weights)


def fit_log_mib(rec: dict) -> float:
    """llama-fit-params' own projection of its choice's device memory at 8k (model + KV + compute)."""
    log = " ".join(rec["fit_log"]) if isinstance(rec["fit_log"], list) else rec["fit_log"]
    used = re.findall(r"CUDA0 \([^)]*\): .*?(\d+) MiB used", log)
    return float(used[-1]) if used else float(re.findall(r"projected to use (\d+) MiB", log)[0])


def buffers(dev: memory.DeviceMemory) -> int:
    return dev.weights_bytes + dev.kv_cache_bytes + dev.compute_bytes


def fit_params_section(recs: list[dict]) -> None:
    print("llama-fit-params (-c 8192, -fitt for a simulated 24/12 GiB card) on the H200. 'its experts in RAM':")
    print("whole layers, + a layer it split (it moves parts of one layer, which --n-cpu-moe cannot). 'plan N':")
    print("the plan's --n-cpu-moe for the same card at 8k. Then the same tensors placed in the plan: its")
    print("projection at 8k (model + KV + compute) against llama-fit-params' own, and its GPU total (with the")
    print("CUDA context) at llama-bench's pp512 context against NVML's peak of llama-bench run with that -ot.")
    print("The plan may move one layer more: it counts the CUDA context as NVML sees it during a run (~713 MiB),")
    print("llama-fit-params the ~526 MiB a process holds when it fits (free memory 143155 -> 142629 MiB in its log).")
    print(f"{'model':<16} {'card':>4} {'its experts in RAM':<22} {'plan N':>6} {'its 8k MiB':>10} {'plan':>7}"
          f" {'err':>7} {'peak GiB':>8} {'plan':>6} {'err':>7}")  # fmt: skip
    for rec in recs:
        shape = shape_of(rec["model_id"])
        moved = moved_tensors(shape, rec["preset"], ot_patterns(rec["printed_args"]))
        card = float(rec["simulated_gpu_gib"])
        chosen, _ = memory_plan(rec["model_id"], rec["preset"], None, vram_gib=card, ctx=FIT_PARAMS_CTX)
        at_8k = buffers(gpu_for_placement(rec, moved, FIT_PARAMS_CTX)) / MIB
        peak = rec["bench_nvml_peak_minus_baseline_bytes"] / GIB
        at_bench = gpu_for_placement(rec, moved, 512).total_bytes / GIB
        theirs = fit_log_mib(rec)
        print(f"{rec['model_id']:<16} {card:>4g} {placement_label(shape, moved):<22} {chosen.n_cpu_moe:>6}"
              f" {theirs:>10.0f} {at_8k:>7.0f} {pct(at_8k, theirs):>7} {peak:>8.2f} {at_bench:>6.2f}"
              f" {pct(at_bench, peak):>7}")  # fmt: skip


def glm_section() -> None:
    """GLM-4.5-Air was planned before its lease: the committed predictions against what the lease measured."""
    pred_path = DATA / "moe_offload_predictions_glm.jsonl"
    preds = {r["n_cpu_moe"]: r for r in map(json.loads, pred_path.read_text().splitlines())}
    recs = [json.loads(line) for line in (DATA / "moe_offload_h200.jsonl").read_text().splitlines()]
    meas = {r["n_cpu_moe"]: r for r in recs if r["model_id"] == "glm-4.5-air"}
    print("GLM-4.5-Air Q4_K_M: the predictions committed before its lease (bench/data/moe_offload_predictions_glm")
    print(".jsonl, with the previous lease's host copy rate of 57.4 GB/s; this lease's host measured 81.1 GB/s)")
    print("against llama-bench -ncmoe N on the H200 (decode tg128, pp512 with stand-in routing; MiB, tok/s).")
    print(f"{'N':>3} {'model':>9} {'pred':>9} {'err':>7} {'compute':>8} {'pred':>7} {'err':>7}"
          f" {'decode':>7} {'pred':>7} {'err':>7} {'pp512':>7} {'pred':>7} {'err':>7}")  # fmt: skip
    for n, p in sorted(preds.items()):
        if n not in meas:
            continue
        rec = meas[n]
        runs = {(b["n_prompt"], b["n_gen"]): statistics.median(b["samples_ts"]) for b in rec["bench"]}
        w, c = rec["buffers_mib"]["CUDA0:model"], rec["buffers_mib"]["CUDA0:compute"]
        d, pp = runs[(0, 128)], runs[(512, 0)]
        print(f"{n:>3} {w:>9.1f} {p['gpu_model_mib']:>9.1f} {pct(p['gpu_model_mib'], w):>7} {c:>8.1f}"
              f" {p['gpu_compute_mib']:>7.1f} {pct(p['gpu_compute_mib'], c):>7} {d:>7.1f} {p['decode_tps']:>7.1f}"
              f" {pct(p['decode_tps'], d):>7} {pp:>7.0f} {p['pp512_tps_standin']:>7.0f}"
              f" {pct(p['pp512_tps_standin'], pp):>7}")  # fmt: skip
    print("The plan's choice for a 24 / 12 GiB card at 8k (llama-fit-params' own is in the table above):")
    print(f"{'card GiB':>8} {'plan N':>6} {'of layers':>9} {'GPU MiB':>8} {'model':>8} {'KV':>6} {'compute':>8}"
          f" {'overhead':>8} {'RAM MiB':>8}")  # fmt: skip
    for card in (24.0, 12.0):
        result, _ = memory_plan("glm-4.5-air", "Q4_K_M", None, vram_gib=card, ctx=FIT_PARAMS_CTX)
        gpu, host = result.devices[0], result.devices[-1]
        print(f"{card:>8g} {result.n_cpu_moe:>6} {shape_of('glm-4.5-air').n_layers:>9} {gpu.total_bytes / MIB:>8.0f}"
              f" {gpu.weights_bytes / MIB:>8.0f} {gpu.kv_cache_bytes / MIB:>6.0f} {gpu.compute_bytes / MIB:>8.0f}"
              f" {gpu.overhead_bytes / MIB:>8.0f} {host.total_bytes / MIB:>8.0f}")  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["--predict"]:  # --predict MODEL PRESET N,N,... OUT.jsonl
        model_id, preset, ns, out = sys.argv[2:6]
        write_predictions(model_id, preset, tuple(int(x) for x in ns.split(",")), Path(out))
        return
    print(__doc__.split("\n\nUsage")[0])
    print()
    recs = [json.loads(line) for line in (DATA / "moe_offload_h200.jsonl").read_text().splitlines()]
    memory_section(recs)
    print()
    speed_section(recs)
    print()
    fit_params_section([json.loads(line) for line in (DATA / "fit_params_h200.jsonl").read_text().splitlines()])
    print()
    glm_section()


if __name__ == "__main__":
    main()
