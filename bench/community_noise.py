"""How far runs of the same thing disagree in the community speed sample: the floor under any speed model's error.

    python bench/community_noise.py [--groups]

A group is every row of one hardware name, model file (repository and quant), runtime, GPU count, depth and
generated length: the same measurement, submitted more than once. A model that knows only those (which is all a
hardware name and a model give) predicts one number per group, so each run's distance from its group is error no
such model can remove. Per backend (as ``bench/community_fit.py`` classes the rows) it reports the median of
|run / geometric mean of the group's other runs - 1| over every run of a group with two or more, beside the
held-out and in-sample decode medians that ``community_fit.py`` reports. The distance to the other runs' mean
carries their own spread too, so it reads a little above the floor for the true mean; with 2-4 runs a group
(most here), by up to ~sqrt(1 + 1/(n - 1)).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT / "bench"))

from community_fit import SAMPLE, load_rows  # noqa: E402


def group_key(raw: dict[str, object]) -> tuple[object, ...]:
    """What a run measured: the rows of one key differ only in who ran them, when and on which unit."""
    return tuple(raw.get(k) for k in ("hardware", "hf_repo", "quant", "runtime", "gpu_count", "depth", "n_gen"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", action="store_true", help="print every group's runs")
    args = ap.parse_args()
    raw = {r["id"]: r for r in map(json.loads, (SAMPLE / "speeds.jsonl").read_text().splitlines())}
    rows, _ = load_rows()
    groups: dict[str, dict[tuple[object, ...], list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.tg:
            groups[row.backend][group_key(raw[row.id])].append(row.tg)
    print(f"{'backend':<8} {'groups':>6} {'runs':>5}  median |run / others - 1|")
    for backend in ("cuda", "metal", "rocm", "cpu"):
        deviations: list[float] = []
        repeated = {k: v for k, v in groups[backend].items() if len(v) >= 2}
        for runs in repeated.values():
            for i, tg in enumerate(runs):
                others = runs[:i] + runs[i + 1 :]
                mean = math.exp(sum(map(math.log, others)) / len(others))
                deviations.append(abs(tg / mean - 1))
        median = f"{100 * statistics.median(deviations):5.1f}%" if deviations else "    -"
        print(f"{backend:<8} {len(repeated):6d} {len(deviations):5d}  {median}")
        if args.groups:
            for key, runs in sorted(repeated.items(), key=str):
                print(f"           {str(key[0])[:34]:<34} {str(key[1])[:34]:<34} {key[2]!s:<8} {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
