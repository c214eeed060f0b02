"""cProfile of the whole uncached path of ``/api/recommendations`` (query -> form -> recommender -> 25 plans
-> JSON), in-process, over distinct machines of ``bench/data/machine_specs.json`` after a warm-up on others.

Usage: DEBUG=1 .venv/bin/python bench/recommendations_profile.py [--n 30] [--warm 60] [--page api|html|model]
       [--out bench/data/recommendations_profile.txt]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DEBUG", "1")

from recommendations_latency import slices, urls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--warm", type=int, default=60)
    parser.add_argument("--page", default="api", choices=("api", "html", "model"))
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--out")
    args = parser.parse_args()
    from django.test import Client

    from advisor.warmup import prepare_process

    client = Client()
    prepare_process()  # what advisor.wsgi does when a server process starts
    warm_specs, specs = slices(args.n, args.warm)[args.page]
    for url in urls(args.page, warm_specs):
        client.get(url)
    profile = cProfile.Profile()
    profile.enable()
    for url in urls(args.page, specs):
        assert client.get(url).status_code == 200, url
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    head = (
        f"command: DEBUG=1 .venv/bin/python bench/recommendations_profile.py --n {args.n} --warm {args.warm} "
        f"--page {args.page}\n"
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; host: {platform.machine()}, {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}\n"
        f"{args.n} distinct machines after prepare_process() and {args.warm} warm-up machines; times are under the "
        "profiler (several "
        "times the unprofiled ones), for the shares\n"
    )
    text = head + out.getvalue()
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
