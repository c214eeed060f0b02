"""The H200 lease against the engine's predictions and the H100 measurements.

    python bench/h200_report.py --out bench/data/speed_accuracy_h200.txt

Reads bench/data/speed_h200.jsonl (llama-bench and probe records of ``bench/gpu_bench.py --set h200``),
bench/data/heldout_predictions_h200.jsonl (``bench/heldout_predict.py --set h200 --gpu "NVIDIA H200"``,
committed before the lease), bench/data/speed_h100.jsonl (the same model/preset/depth measured on the
H100), and the MoE offload, llama-fit-params and batched-bench records (moe_offload_h200.jsonl,
fit_params_h200.jsonl, batched_h200.jsonl).

Columns of the speed table: the H100's llama-bench figure, the engine's prediction for the H200 and what
the H200 measured, the error of the prediction (predicted / measured - 1), and the H200/H100 ratio as
measured and as the engine predicts it (its H100 prediction for the same run, same constants).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))

from advisor.bench_records import heldout_pairs  # noqa: E402
from advisor.catalog.models_catalog import get_model  # noqa: E402
from advisor.core.speed import SpeedInputs, predict_speed, weights_for  # noqa: E402
from bench.speed_accuracy import h100  # noqa: E402

DATA = ROOT / "bench" / "data"
MIB = 1024 * 1024


def load(name: str) -> list[dict[str, Any]]:
    p = DATA / name
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def h100_measured() -> dict[tuple[str, str, bool, int, int], float]:
    """(model, preset, decode, n_tokens, depth) -> llama-bench avg_ts on the H100 (last lease wins)."""
    out = {}
    for rec in load("speed_h100.jsonl"):
        b = rec.get("bench") or {}
        if rec.get("tool") != "llama-bench" or rec.get("variant") or "avg_ts" not in b:
            continue
        dec = int(b.get("n_gen") or 0) > 0
        out[(rec["model_id"], rec["preset"], dec, int(b["n_gen"] if dec else b["n_prompt"]), int(b["n_depth"]))] = (
            float(b["avg_ts"])
        )
    return out


def h100_predicted(model_id: str, preset: str, depth: int, decode: bool) -> float:
    shape = get_model(model_id).to_shape()
    p = predict_speed(SpeedInputs(shape, weights_for(shape, preset), (h100(),), depth=depth), curve_depths=())
    return p.decode_tps if decode else p.prefill_tps


def pct(x: float) -> str:
    return f"{100 * x:+.1f}%"


def summary(errs: Iterable[float]) -> str:
    e = [abs(x) for x in errs]
    if not e:
        return "none"
    return (
        f"n={len(e)}, median |error| {100 * statistics.median(e):.1f}%, max {100 * max(e):.1f}%, "
        f"over 10%: {sum(x > 0.10 for x in e)}, over 20%: {sum(x > 0.20 for x in e)}"
    )


def speed_section(w: io.StringIO) -> None:
    preds = load("heldout_predictions_h200.jsonl")
    recs = load("speed_h200.jsonl")
    pairs = heldout_pairs(preds, recs, "h200")  # type: ignore[arg-type]
    h100m = h100_measured()
    w.write("## Speed: llama-bench on the H200 vs the engine (predicted before the lease) and the H100\n\n")
    w.write(
        f"{'model':<28} {'preset':<10} {'test':<6} {'depth':>6} {'H100 meas':>10} {'H200 pred':>10} "
        f"{'H200 meas':>10} {'error':>8} {'H200/H100 meas':>15} {'pred':>6}\n"
    )
    errs: dict[str, list[float]] = {"decode": [], "prefill": []}
    worst: list[tuple[float, str]] = []
    for p in sorted(pairs, key=lambda p: (p.model_id, p.preset, not p.decode, p.depth)):
        test = f"{'tg' if p.decode else 'pp'}{p.n_tokens}"
        err = p.predicted_tps / p.measured_tps - 1
        errs["decode" if p.decode else "prefill"].append(err)
        worst.append((abs(err), f"{p.model_id} {p.preset} {test}@d{p.depth} {pct(err)}"))
        h = h100m.get((p.model_id, p.preset, p.decode, p.n_tokens, p.depth))
        hp = h100_predicted(p.model_id, p.preset, p.depth, p.decode)
        ratio = f"{p.measured_tps / h:.3f}" if h else ""
        w.write(
            f"{p.model_id:<28} {p.preset:<10} {test:<6} {p.depth:>6} {(f'{h:.1f}' if h else '-'):>10} "
            f"{p.predicted_tps:>10.1f} {p.measured_tps:>10.1f} {pct(err):>8} {ratio:>15} "
            f"{p.predicted_tps / hp:>6.3f}\n"
        )
    w.write("\n")
    for kind in ("decode", "prefill"):
        w.write(f"{kind}: {summary(errs[kind])}\n")
    for depth0 in (True, False):
        sel = [p.predicted_tps / p.measured_tps - 1 for p in pairs if p.decode and ((p.depth == 0) == depth0)]
        w.write(f"decode at {'depth 0' if depth0 else 'depth > 0'}: {summary(sel)}\n")
    w.write("worst: " + "; ".join(s for _, s in sorted(worst, reverse=True)[:5]) + "\n")
    ratios = [
        p.measured_tps / h
        for p in pairs
        if p.decode and (h := h100m.get((p.model_id, p.preset, True, p.n_tokens, p.depth)))
    ]
    if ratios:
        w.write(
            f"decode H200/H100, measured: median {statistics.median(ratios):.3f} "
            f"(range {min(ratios):.3f}-{max(ratios):.3f}, n={len(ratios)}); "
            f"HBM bandwidth ratio 4800/3350 = {4800 / 3350:.3f}\n"
        )
    pr = [
        p.measured_tps / h
        for p in pairs
        if not p.decode and (h := h100m.get((p.model_id, p.preset, False, p.n_tokens, p.depth)))
    ]
    if pr:
        w.write(
            f"prefill H200/H100, measured: median {statistics.median(pr):.3f} (range {min(pr):.3f}-{max(pr):.3f}, "
            f"n={len(pr)})\n"
        )
    # probe vs llama-bench on the same file
    bench = {}
    for rec in recs:
        b = rec.get("bench") or {}
        if rec.get("tool") == "llama-bench" and "avg_ts" in b and b.get("n_depth") == 0:
            bench[(rec["model_id"], rec["preset"], int(b.get("n_gen") or 0) > 0)] = b["avg_ts"]
    rows = []
    for rec in recs:
        d = rec.get("probe") or {}
        if rec.get("tool") != "probe":
            continue
        if "error" in d:
            rows.append(f"  {rec['model_id']} {rec['preset']}: probe error {d['error'][:120]}")
            continue
        tg, pp = bench.get((rec["model_id"], rec["preset"], True)), bench.get((rec["model_id"], rec["preset"], False))
        rows.append(
            f"  {rec['model_id']:<28} {rec['preset']:<8} tg {d['decode_tps']:.1f} vs {tg or 0:.1f} "
            f"({pct(d['decode_tps'] / tg - 1) if tg else '-'}), pp {d['prefill_tps']:.0f} vs {pp or 0:.0f} "
            f"({pct(d['prefill_tps'] / pp - 1) if pp else '-'}), load {d.get('load_s', 0):.1f} s"
        )
    if rows:
        w.write("\n## Probe (advisor.probe.run_probe) vs llama-bench on the same files, depth 0\n\n")
        w.write("\n".join(rows) + "\n")


def moe_section(w: io.StringIO) -> None:
    recs = load("moe_offload_h200.jsonl")
    if not recs:
        return
    w.write("\n## MoE expert offload: llama-bench -ncmoe N (experts of the first N layers in host memory)\n\n")
    w.write(
        f"{'model':<16} {'preset':<10} {'N':>3} {'pp512':>9} {'tg128':>8} {'CUDA0 model':>12} "
        f"{'host model':>11} {'CUDA0 KV+compute':>17} {'NVML peak':>10}\n"
    )
    for r in recs:
        b = {("tg" if x.get("n_gen") else "pp"): x.get("avg_ts") for x in r.get("bench", [])}
        mib = r.get("buffers_mib", {})
        host = sum(v for k, v in mib.items() if k.endswith(":model") and not k.startswith("CUDA0"))
        kvc = sum(v for k, v in mib.items() if k.startswith("CUDA0:") and k != "CUDA0:model")
        peak = r.get("nvml_peak_minus_baseline_bytes")
        w.write(
            f"{r['model_id']:<16} {r['preset']:<10} {r['n_cpu_moe']:>3} "
            f"{b.get('pp') or 0:>9.1f} {b.get('tg') or 0:>8.1f} "
            f"{mib.get('CUDA0:model', 0):>10.0f} M {host:>9.0f} M {kvc:>15.0f} M "
            f"{(peak or 0) / MIB:>8.0f} M" + (f"  rc={r['rc']}" if r.get("rc") else "") + "\n"
        )
    w.write(
        "(MiB; model/KV/compute from llama.cpp's buffer lines (llama-bench -v); NVML peak = device memory in use "
        "at the peak minus before, sampled every 50 ms)\n"
    )


# common_params_fit_impl's lines worth keeping (common/fit.cpp): the projection, the budget, the result.
FIT_LINES = ("projected to use", "target=", "overflowing", "no changes needed", "surplus")


def fit_section(w: io.StringIO) -> None:
    recs = load("fit_params_h200.jsonl")
    if not recs:
        return
    w.write("\n## llama-fit-params, -c 8192, a smaller GPU simulated with --fit-target\n\n")
    for r in recs:
        b = {("tg" if x.get("n_gen") else "pp"): x.get("avg_ts") for x in r.get("bench", [])}
        peak = r.get("bench_nvml_peak_minus_baseline_bytes")
        args = r.get("printed_args", "")
        n_ot = args.count("=CPU")
        w.write(
            f"{r['model_id']} {r['preset']}, {r['simulated_gpu_gib']} GiB (margin {r['fit_target_mib']} MiB of "
            f"{r['free_mib_real']} free): rc={r['rc']}; printed {args[:90]}{'...' if len(args) > 90 else ''} "
            f"({n_ot} -ot patterns to CPU)\n"
        )
        if b:
            w.write(
                f"    run with llama-bench on the H200: pp512 {b.get('pp') or 0:.1f}, "
                f"tg128 {b.get('tg') or 0:.1f} tok/s, "
                f"NVML peak {(peak or 0) / MIB:.0f} MiB (budget {r['simulated_gpu_gib'] * 1024} MiB)\n"
            )
        for ln in r.get("fit_log", []):
            if any(k in ln for k in FIT_LINES):
                w.write(f"    | {ln.split(' ', 2)[-1][:150]}\n")
        est = r.get("fit_print_stdout", "").strip().replace("\n", " | ")
        w.write(f"    | --fit-print on (device, model, context, compute MiB, as loaded unfitted): {est}\n")


def batched_section(w: io.StringIO) -> None:
    recs = [r for r in load("batched_h200.jsonl") if "bench" in r]
    if not recs:
        return
    w.write("\n## llama-batched-bench (-npp 128 -ntg 128, prompts not shared)\n\n")
    w.write(f"{'model':<24} {'preset':<8} {'B':>3} {'S_PP t/s':>10} {'S_TG t/s':>10} {'per seq':>8} {'S t/s':>9}\n")
    for r in recs:
        b = r["bench"]
        w.write(
            f"{r['model_id']:<24} {r['preset']:<8} {b['pl']:>3} {b['speed_pp']:>10.1f} {b['speed_tg']:>10.1f} "
            f"{b['speed_tg'] / b['pl']:>8.1f} {b['speed']:>9.1f}\n"
        )


def header(w: io.StringIO) -> None:
    recs = load("speed_h200.jsonl")
    env = next((r["gpu_env"] for r in recs if "gpu_env" in r), {})
    b = next((r["bench"] for r in recs if r.get("tool") == "llama-bench" and "avg_ts" in r.get("bench", {})), {})
    w.write("H200 lease: predicted vs measured (python bench/h200_report.py)\n\n")
    w.write(f"GPU: {env.get('nvidia_smi', '?')}; {env.get('pcie', '')}\n")
    w.write(f"host: {env.get('cpu_model', '?')}, {env.get('cpu_count', '?')} CPUs; {env.get('nvcc', '')}\n")
    w.write(f"llama.cpp: {recs[0].get('llama_cpp') if recs else '?'}, build_commit {b.get('build_commit', '?')}\n\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    w = io.StringIO()
    header(w)
    speed_section(w)
    moe_section(w)
    fit_section(w)
    batched_section(w)
    text = w.getvalue()
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
