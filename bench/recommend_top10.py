"""The top 10 recommendations per use case on ten machines, as the home page shows them, with the reason
each was picked (issue 14's acceptance list).

Every row is a card of ``advisor.pages.results.ranked_cards``: the recommender's usable-quality order
(minimum speed 10 tok/s), each figure from the model's ``Plan``. Run from the repository root::

    VAR_DIR=/tmp/var-bench DEBUG=1 python manage.py migrate -v0
    VAR_DIR=/tmp/var-bench DEBUG=1 python bench/recommend_top10.py > bench/data/recommend_top10.txt

It writes bench/data/recommend_top10.jsonl beside the text.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
django.setup()

from advisor.pages.results import Filters, ranked_cards  # noqa: E402
from advisor.pages.spec import Spec, machine_for  # noqa: E402

# The machines of issue 14, each with the RAM and CPU such a machine has (no CPU: the plan's default host,
# dual-channel DDR5-5600).
MACHINES: dict[str, Spec] = {
    "8 GB laptop (RTX 4060 Laptop, 16 GB RAM)": Spec(gpu="GeForce RTX 4060 Mobile", ram=16, cpu="Intel Core i7-13700H"),
    "RTX 3060 12 GB, 32 GB RAM": Spec(gpu="GeForce RTX 3060 12 GB", ram=32),
    "RTX 4070 Ti Super 16 GB, 32 GB RAM": Spec(gpu="GeForce RTX 4070 Ti SUPER", ram=32),
    "RTX 4090 24 GB, 64 GB RAM": Spec(gpu="GeForce RTX 4090", ram=64),
    "2x RTX 3090, 64 GB RAM": Spec(gpu="GeForce RTX 3090", gpu_count=2, ram=64),
    "MacBook Air M3 16 GB": Spec(gpu="Apple M3 (10-core GPU)", ram=16),
    "M4 Max 64 GB": Spec(gpu="Apple M4 Max (40-core GPU)", ram=64),
    "Mac Studio M3 Ultra 192 GB": Spec(gpu="Apple M3 Ultra (60-core GPU)", ram=192),
    "CPU only, 32 GB RAM": Spec(ram=32),
    "H100 SXM5 80 GB, 256 GB RAM": Spec(gpu="H100 SXM5 80 GB", ram=256),
}
USE_CASES = ("", "chat", "coding", "reasoning", "long-documents")


def main() -> None:
    rows = []
    for name, base in MACHINES.items():
        machine = machine_for(base)
        for use in USE_CASES:
            spec = Spec(**{**base.__dict__, "use_case": use})
            ranked = ranked_cards(spec, machine, Filters(limit=10))
            print(f"\n== {name} · {use or 'any use'} · {spec.ctx} ctx · minimum {spec.min_tps:g} tok/s")
            for i, c in enumerate(ranked.cards, 1):
                q = c.pick.quality
                tps = c.plan.speed.decode_tps
                think = c.thinking
                row = {
                    "machine": name, "use_case": use or None, "rank": i, "model": c.model.id, "quant": c.plan.quant,
                    "placement": c.plan.placement, "n_gpu_layers": c.plan.n_gpu_layers, "n_cpu_moe": c.plan.n_cpu_moe,
                    "decode_tps": tps, "usable": c.tier == 0, "score": round(q.score, 2),
                    "score_source": q.metric, "estimated": q.base_estimated,
                    "thinking_s": None if think is None else round(think.seconds, 1), "reason": c.explanation,
                }  # fmt: skip
                rows.append(row)
                flag = "est" if q.base_estimated else "LB "
                speed = f"{tps:6.1f}" if tps is not None else "     -"
                wait = f" think~{think.seconds:.0f}s" if think else ""
                print(f"{i:2d}. {c.model.id:38s} {c.plan.quant:9s} {c.label[:44]:44s} {speed} tok/s "
                      f"score {q.score:5.1f} {flag}{wait}")  # fmt: skip
                print(f"      why: {c.explanation}")
    out = Path(__file__).resolve().parent / "data" / "recommend_top10.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
