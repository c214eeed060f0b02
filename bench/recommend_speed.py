"""How long one recommendation over the whole catalog takes (target: 50 ms server-side).

    .venv/bin/python bench/recommend_speed.py [--runs N] [--out bench/data/recommend_speed.txt]

For every hardware tier, with its default context and the llama-server runtime, it ranks every catalog
model in every quant the runtime loads. Three numbers per tier:

* ``first``: the first request at these settings in this process (KV and compute per model are computed
  and cached, the per-model quant tables too);
* ``median`` / ``max`` of ``--runs`` repeated requests (what a server answers once warm), wall-clock;
* ``cpu med``: the median CPU time of those requests (this process only: the machine is shared, so
  wall-clock includes waiting for a core).

Start-up costs are reported once: loading the stored weight profiles and the catalog, and, for
reference, computing the profiles of one model from scratch (what a model missing from
``advisor/catalog/data/weight_profiles.json`` costs on first use).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.catalog.machines import load_tiers, tier_machine  # noqa: E402
from advisor.catalog.models_catalog import load_models  # noqa: E402
from advisor.catalog.quants import quant_options  # noqa: E402
from advisor.catalog.recommender import catalog_options, recommend_for  # noqa: E402
from advisor.catalog.weight_profiles import load as load_profiles  # noqa: E402
from advisor.core import recommend as rec  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = ap.parse_args()

    lines: list[str] = []

    def say(s: str = "") -> None:
        lines.append(s)
        print(s)

    say(f"command: .venv/bin/python bench/recommend_speed.py --runs {args.runs}")
    say(f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    cpu = platform.processor() or platform.machine()
    say(f"host: {cpu}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}")
    say()

    t = time.perf_counter()
    n_profiles = load_profiles()
    t_profiles = time.perf_counter() - t
    t = time.perf_counter()
    options = catalog_options()
    t_options = time.perf_counter() - t
    quants = quant_options("llama-server")
    say(
        f"start-up: load {n_profiles} stored weight profiles {ms(t_profiles)} ms; "
        f"{len(options)} catalog models as candidates (score fit) {ms(t_options)} ms"
    )
    shape = next(m for m in load_models() if m.id == "llama-3.1-8b-instruct").to_shape()
    t = time.perf_counter()
    for q in quants:
        rec.compute_profile(shape, q)
    say(
        f"reference: profiles of one model (llama-3.1-8b) in all {len(quants)} quants from scratch: "
        f"{ms(time.perf_counter() - t)} ms"
    )
    say()
    say(
        f"{'tier':<18} {'ctx':>6} {'models':>6} {'quants':>6} {'first':>7} {'median':>7} {'max':>7} {'cpu med':>7}"
        "  best pick"
    )
    worst_median = 0.0
    for tier in load_tiers():
        machine = tier_machine(tier)
        rec.clear_caches()
        t = time.perf_counter()
        r = recommend_for(machine, ctx=tier.default_ctx)
        first = time.perf_counter() - t
        runs = []
        cpu_runs = []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            recommend_for(machine, ctx=tier.default_ctx)
            runs.append(time.perf_counter() - t)
            cpu_runs.append(time.process_time() - c)
        med = statistics.median(runs)
        cpu_med = statistics.median(cpu_runs)
        worst_median = max(worst_median, med)
        best = r.best.pick if r.best else None
        pick = f"{best.model.id} {best.quant.name} ({best.fit.name})" if best else "-"
        say(
            f"{tier.id:<18} {tier.default_ctx:>6} {r.considered:>6} {len(quants):>6} {ms(first)} {ms(med)} "
            f"{ms(max(runs))} {ms(cpu_med)}  {pick}"
        )
    say()
    say(f"slowest median over tiers: {ms(worst_median).strip()} ms (target 50 ms)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
