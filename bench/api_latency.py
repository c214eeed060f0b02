"""Server-side latency of GET /api/recommendations without the response cache (every request computes).

Usage: DEBUG=1 .venv/bin/python bench/api_latency.py [--runs 20] [--out bench/data/api_latency.txt]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402

SPECS = [
    "gpu=RTX+4090&ram=64&ctx=16384&use_case=coding",
    "gpu=Apple+M4+(10-core+GPU)&vram=16&ram=16&ctx=8192&use_case=chat",
    "gpu=RTX+3060&ram=32&ctx=8192",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    client = Client()
    lines = [
        f"command: DEBUG=1 .venv/bin/python bench/api_latency.py --runs {args.runs}"
        + (f" --out {args.out}" if args.out else ""),
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; host: {platform.machine()}, {os.cpu_count()} CPUs",
        "cache cleared before every request, so each one computes; the first request also warms the process",
        "",
        f"{'spec':<66} {'first ms':>9} {'median ms':>10} {'max ms':>8}",
    ]
    for spec in SPECS:
        times = []
        for _ in range(args.runs + 1):
            cache.clear()
            t = time.perf_counter()
            response = client.get("/api/recommendations?" + spec)
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, response.content[:300]
        rest = times[1:]
        lines.append(f"{spec:<66} {times[0]:9.1f} {statistics.median(rest):10.1f} {max(rest):8.1f}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
