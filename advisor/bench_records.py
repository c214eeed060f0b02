"""Reading the committed GPU bench records (bench/data/*.jsonl); no Django, so the bench scripts, the
tests and the accuracy page share it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HeldoutPair:
    """One llama-bench measurement of a lease and the prediction committed before that lease ran."""

    model_id: str
    preset: str
    decode: bool  # tg (else pp)
    n_tokens: int  # n_gen for tg, n_prompt for pp
    depth: int
    variant: str  # "" for the full-GPU runs, else e.g. "cpu-only", "partial-ngl20"
    measured_tps: float
    predicted_tps: float


def heldout_pairs(
    predictions: Iterable[dict[str, Any]], speed_records: Iterable[dict[str, Any]], bench_set: int
) -> list[HeldoutPair]:
    """Match bench/heldout_predict.py's lines (keyed by model, preset and depth or variant) with the
    llama-bench rows of ``speed_h100.jsonl`` marked ``bench_set``."""
    by_key = {(d.get("model_id"), d.get("preset"), d.get("variant") or d.get("depth", 0)): d for d in predictions}
    out = []
    for rec in speed_records:
        bench = rec.get("bench") or {}
        if rec.get("bench_set") != bench_set or rec.get("tool") != "llama-bench" or "avg_ts" not in bench:
            continue
        decode = int(bench.get("n_gen") or 0) > 0
        depth = int(bench.get("n_depth") or 0)
        pred = by_key.get((rec.get("model_id"), rec.get("preset"), rec.get("variant") or depth))
        kind = "decode_tps" if decode else "prefill_tps"
        if pred is None or kind not in pred:
            continue
        out.append(
            HeldoutPair(
                model_id=rec["model_id"],
                preset=rec["preset"],
                decode=decode,
                n_tokens=int(bench["n_gen"] if decode else bench.get("n_prompt") or 0),
                depth=depth,
                variant=rec.get("variant") or "",
                measured_tps=float(bench["avg_ts"]),
                predicted_tps=float(pred[kind]),
            )
        )
    return out
