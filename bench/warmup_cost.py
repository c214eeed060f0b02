"""What advisor.warmup.warm_catalog() costs a server process at start: CPU seconds and max RSS, with the first four
of WARM_PRESETS and with all of them, each in a fresh process.

    DEBUG=1 .venv/bin/python bench/warmup_cost.py > bench/data/warmup_cost.txt
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import os, resource, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
import django
django.setup()
from advisor import warmup
warmup.WARM_PRESETS = warmup.WARM_PRESETS[: int(sys.argv[1]) if sys.argv[1:] else None]
t = time.process_time()
n = warmup.warm_catalog()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"{len(warmup.WARM_PRESETS)} presets {warmup.WARM_PRESETS}: {n} models, {time.process_time() - t:.1f} s CPU, "
      f"max RSS {rss} MB")
"""


def main() -> int:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    print("command: DEBUG=1 .venv/bin/python bench/warmup_cost.py")
    print(
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; host: {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; code {commit.stdout.strip()}"
    )
    for first in (["4"], []):  # the first four presets, then all of them
        out = subprocess.run(
            [sys.executable, "-c", CHILD, *first], cwd=ROOT, capture_output=True, text=True, check=True
        )
        print(out.stdout.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
