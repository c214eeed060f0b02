"""Uncached GET /api/recommendations for varied machines: every request a different spec, cache cleared.

The specs come from a fixed seed, so each run asks the same list. In-process (Django's test client), so
this is the server's compute time without HTTP.

Usage: DEBUG=1 .venv/bin/python bench/recommendations_latency.py [--n 30] [--out bench/data/recommendations_latency.txt]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
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

GPUS = ("GeForce RTX 3060", "GeForce RTX 4090", "GeForce RTX 4070", "GeForce RTX 3090", "Radeon RX 7900 XTX",
        "Apple M4 Pro (20-core GPU)", "Apple M3 (10-core GPU)", "GeForce RTX 4060", "")  # fmt: skip


def specs(n: int, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        spec = {"ram": str(rng.choice([16, 32, 64, 96])), "ctx": str(rng.choice([4096, 8192, 16384, 32768]))}
        gpu = rng.choice(GPUS)
        spec.update({"gpu": gpu} if gpu else {"cpu": "Ryzen 7 7700X"})
        out.append(spec)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--out")
    args = parser.parse_args()
    client = Client()
    client.get("/api/recommendations", {"gpu": "GeForce RTX 4090", "ram": "64"})  # warm the process
    times = []
    for spec in specs(args.n):
        cache.clear()
        t = time.perf_counter()
        response = client.get("/api/recommendations", spec)
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.content[:300]
    times.sort()
    text = "\n".join([
        f"command: DEBUG=1 .venv/bin/python bench/recommendations_latency.py --n {args.n}",
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; host: {platform.machine()}, {os.cpu_count()} CPUs",
        f"{args.n} uncached requests, each a different spec (seed 1), 25 results each",
        f"median {statistics.median(times):.0f} ms, p90 {times[int(0.9 * (len(times) - 1))]:.0f} ms, "
        f"max {times[-1]:.0f} ms",
    ]) + "\n"  # fmt: skip
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
