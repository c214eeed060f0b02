"""Speculative decoding on the H200: predictions committed BEFORE the measurement, and the commands to measure.

    python bench/draft_predict.py > bench/data/draft_predictions_h200.txt
    # also writes bench/data/draft_predictions_h200.jsonl (one row per pair, draft length and acceptance)

The committed output (76f25ad) is the record of what was predicted before the H200 measured these rows
(bench/data/draft_rows_h200.jsonl, each row carrying the prediction it tested); rerunning this script now
gives the model of today, with the fixed costs bench/draft_compare.py fitted to those very rows.
bench/data/draft_compare.txt sets both beside the measurements.

What is predicted (advisor/fit/beyond.py, advisor/core/draft.py, advisor/core/serving.py): decode tok/s of
the target alone, of the draft alone, and with drafts of k tokens at a per-token acceptance a:
``(1 - a^(k+1)) / (1 - a)`` tokens per round over ``k`` draft steps plus one target step over ``k + 1``
tokens; and the GPU memory the draft adds (weights, its own f16 KV cache at the same context, compute).

How to measure, on the H200 lease (llama.cpp as vendored in llama-cpp-python 0.3.36, built with the
speculative examples; stand-ins from bench/h200_prebuild.py / gpu_bench.build_file, zero weights):

1. Zero-weight stand-ins agree on every token (all logits equal, both pick the same id), so acceptance is
   ~100 %: that checks the cost side (draft steps + verify step) of the prediction with a = 1.0::

       llama-speculative-simple -m T.gguf -md D.gguf -c 4096 -ngl 99 -ngld 99 -fa on \
           --spec-draft-n-max K --spec-draft-p-min 0 -n 256 -p "hello" --temp 0 --top-k 1
       # read "decoded N tokens in S seconds, speed: X t/s" and "accept = ..." (expect ~100 %)

   for (T, D, K) in the rows below with a == 1.0 (K = 1, 3, 5), and the target alone for the plain speed::

       llama-bench -m T.gguf -ngl 99 -fa 1 -p 0 -n 128 -o json

2. The cited acceptance, forced with llama-server's synthetic acceptance (benchmarking only: it accepts
   position i with the unconditional probability a^(i+1), common/speculative.cpp synth rates)::

       llama-server -m T.gguf -md D.gguf -c 4096 -ngl 99 -ngld 99 -fa on --spec-draft-n-max K \
           --spec-synth-rates R1,...,RK --port 8089 &
       curl -s localhost:8089/completion -d '{"prompt": "hello", "n_predict": 256, "temperature": 0}'
       # timings.predicted_per_second, and "draft acceptance" in the server log

   with the rates the ``synth_rates`` column of each row gives.

3. Memory: llama.cpp's "model buffer size" / "KV buffer size" / "compute buffer size" lines of the draft
   context (they follow the target's) and NVML, against ``draft_*_bytes`` below.

MTP heads are predicted in the model page and the API but not here: the stand-in writer does not emit the
nextn tensors, so there is nothing to load with --spec-type draft-mtp yet.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
os.environ.setdefault("DEBUG", "1")

OUT = ROOT / "bench" / "data" / "draft_predictions_h200.jsonl"
CTX = 4096
# (target, target preset, draft, draft preset): the pairs, all sharing a tokenizer.
PAIRS = (
    ("llama-3.1-8b-instruct", "Q4_K_M", "llama-3.2-1b-instruct", "Q8_0"),
    ("llama-3.1-70b-instruct", "Q4_K_M", "llama-3.2-1b-instruct", "Q8_0"),
    ("qwen2.5-coder-32b-instruct", "Q4_K_M", "qwen2.5-coder-0.5b-instruct", "Q8_0"),
)
DRAFT_LENGTHS = (1, 3, 5)


def main() -> None:
    import django

    django.setup()
    from advisor.catalog.models_catalog import get_model
    from advisor.core import draft
    from advisor.fit.args import FitParams
    from advisor.fit.beyond import verify_seconds
    from advisor.fit.engine import make_plan

    rows = []
    for target, tq, drafter, dq in PAIRS:
        base = FitParams(model=target, quant=tq, ctx=CTX, kv_type="f16", flash_attn="on", gpus=("H200",))
        plan = make_plan(base)
        dplan = make_plan(FitParams(model=drafter, quant=dq, ctx=CTX, kv_type="f16", flash_attn="on",
                                    gpus=("H200",)))  # fmt: skip
        plain, dtps = plan.speed.decode_tps or 0.0, dplan.speed.decode_tps or 0.0
        cited = draft.acceptance_for(get_model(target).family)
        for a, why in ((1.0, "zero-weight stand-ins"), (cited.rate, f"cited: {cited.source}")):
            for k in DRAFT_LENGTHS:
                s = draft.speculative_tps(verify_seconds(plan, k), 1 / dtps, a, k)
                rows.append({
                    "target": target, "target_quant": tq, "draft": drafter, "draft_quant": dq, "ctx": CTX,
                    "draft_max": k, "acceptance": a, "acceptance_basis": why,
                    "synth_rates": ",".join(f"{a ** (i + 1):.4f}" for i in range(k)),
                    "predicted_plain_tps": round(plain, 1), "predicted_draft_tps": round(dtps, 1),
                    "predicted_verify_ms": round(1000 * verify_seconds(plan, k), 3),
                    "predicted_tokens_per_round": round(s.tokens_per_round, 3),
                    "predicted_spec_tps": round(s.tps, 1), "predicted_speedup": round(s.tps / plain, 2),
                    "draft_weights_bytes": dplan.memory.weights_bytes, "draft_kv_bytes": dplan.memory.kv_cache_bytes,
                    "draft_compute_bytes": dplan.memory.compute_bytes,
                    "target_gpu_bytes": plan.memory.gpu_bytes,
                    "target_plus_draft_gpu_bytes": plan.memory.gpu_bytes + dplan.memory.gpu_bytes
                    - dplan.memory.overhead_bytes,
                })  # fmt: skip
    OUT.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{'target':28} {'draft':28} {'k':>2} {'a':>6} {'plain':>7} {'draft':>7} {'spec':>7} {'x':>5}  synth rates")
    for r in rows:
        print(f"{r['target']:28} {r['draft']:28} {r['draft_max']:>2} {r['acceptance']:>6.3f} "
              f"{r['predicted_plain_tps']:>7.1f} {r['predicted_draft_tps']:>7.1f} {r['predicted_spec_tps']:>7.1f} "
              f"{r['predicted_speedup']:>5.2f}  {r['synth_rates']}")  # fmt: skip
    print("memory (GiB): draft weights / KV / compute, target, target + draft on the GPU")
    for r in rows[:: 2 * len(DRAFT_LENGTHS)]:
        g = 1024**3
        print(f"{r['target']:28} {r['draft']:28} {r['draft_weights_bytes'] / g:.3f} / {r['draft_kv_bytes'] / g:.3f}"
              f" / {r['draft_compute_bytes'] / g:.3f}, {r['target_gpu_bytes'] / g:.2f}, "
              f"{r['target_plus_draft_gpu_bytes'] / g:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
