"""Batched decode: fit advisor.core.serving's constants to llama-batched-bench on the H200, and compare
the plan's prediction for N users with what ran.

    python bench/batched_predict.py > bench/data/batched_predict_h200.txt

Measured rows: bench/data/batched_h200.jsonl, made on the H200 lease by

    python bench/gpu_bench.py --set h200 --stages batched
    # = llama-batched-bench -m <stand-in> -c 8192 -b 2048 -ub 512 -npp 128 -ntg 128 -npl 1,2,4,8,16,32 -ngl 99

Each row decodes ``pl`` sequences of 128 tokens after a 128-token prompt each, so a sequence is between
128 and 256 tokens deep (the prediction uses depth 192). Two columns of predictions are printed:
``from measured t1`` feeds the batched-step model the measured single-sequence step and prefill rate (it
checks the step model alone); ``from the plan`` uses the speed engine's own decode and prefill for the
H200 (what a person sees on the model page).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")

from advisor.core import serving  # noqa: E402

DATA = ROOT / "bench" / "data" / "batched_h200.jsonl"
DEPTH = 192  # middle of 128..256


def rows() -> list[dict]:
    out = []
    for line in DATA.read_text().splitlines():
        rec = json.loads(line)
        if "bench" in rec:
            b = rec["bench"]
            out.append(
                {
                    "model": rec["model_id"],
                    "preset": rec["preset"],
                    "pl": b["pl"],
                    "step_s": b["t_tg"] / b["tg"],
                    "tg": b["speed_tg"],
                    "pp": b["speed_pp"],
                }
            )
    return out


def fit(rs: list[dict]) -> tuple[float, float, float]:
    """(K_VEC, MMQ_BASE, pp): least squares in prefill-token units, pp = the 512-token batch (pl=4)."""
    t1 = next(r["step_s"] for r in rs if r["pl"] == 1)
    pp = next(r["pp"] for r in rs if r["pl"] == 4)  # 4 x 128 = a pp512-like batch
    small = [(r["pl"] - 1, (r["step_s"] - t1) * pp) for r in rs if 1 < r["pl"] <= serving.MMVQ_MAX_BATCH]
    k_vec = sum(x * y for x, y in small) / sum(x * x for x, _ in small)
    big = [(r["step_s"] - t1) * pp - r["pl"] for r in rs if r["pl"] > serving.MMVQ_MAX_BATCH]
    return k_vec, sum(big) / len(big), pp


def plan_speed() -> tuple[float, float, Callable[[int], float | None]]:
    import django

    django.setup()
    from advisor.fit.args import FitParams
    from advisor.fit.engine import make_plan

    plan = make_plan(FitParams(model="llama-3.1-8b-instruct", quant="Q4_K_M", ctx=8192, gpus=("H200",)))
    return plan.speed.decode_at(0) or 0.0, plan.speed.prefill_tps or 0.0, plan.speed.decode_at


def main() -> None:
    rs = rows()
    k_vec, base, pp = fit(rs)
    print(f"fit: K_VEC = {k_vec:.2f}, MMQ_BASE = {base:.1f} (serving.py holds {serving.K_VEC}, {serving.MMQ_BASE})")
    t1 = next(r["step_s"] for r in rs if r["pl"] == 1)
    plan_t1, plan_pp, decode_at = plan_speed()
    print(
        f"plan (H200, Llama-3.1-8B Q4_K_M): decode {plan_t1:.1f} tok/s, prefill {plan_pp:.0f} tok/s; "
        f"measured pl=1 {1 / t1:.1f} tok/s, pp (pl=4) {pp:.0f} tok/s"
    )
    print(f"{'users':>5} {'measured agg':>12} {'from t1':>9} {'err':>7} {'from plan':>9} {'err':>7}")
    for r in rs:
        b = r["pl"]
        step = serving.step_seconds(t1, t1, pp, b, "cuda")
        from_t1 = b / step
        # llama-batched-bench samples nothing: the batched step alone (team_speed adds llama-server's work)
        alone, empty = decode_at(DEPTH) or 1.0, decode_at(0) or 1.0
        from_plan = b / serving.step_seconds(1 / alone, 1 / empty, plan_pp, b, "cuda")
        print(
            f"{b:>5} {r['tg']:>12.1f} {from_t1:>9.1f} {100 * (from_t1 / r['tg'] - 1):>+6.1f}% "
            f"{from_plan:>9.1f} {100 * (from_plan / r['tg'] - 1):>+6.1f}%"
        )


if __name__ == "__main__":
    main()
