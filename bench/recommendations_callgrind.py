"""Instructions per uncached ``/api/recommendations`` request (``--page html``: the results page; ``model``: a
model page) under valgrind's callgrind: a count that does not move with the machine's load, where wall and CPU times
on these shared cores swing by a third between minutes.

The process runs ``advisor.warmup.prepare_process()`` and ``--warm`` requests of other machines uninstrumented, then
callgrind counts ``--n`` requests of distinct machines (bench/data/machine_specs.json, as recommendations_latency.py
draws them). PYTHONHASHSEED is fixed so that two checkouts run the same code paths.

Usage: DEBUG=1 VAR_DIR=/tmp/x .venv/bin/python bench/recommendations_callgrind.py [--n 30] [--warm 60]
(valgrind and callgrind_control from Debian's valgrind package; ~6 minutes on 2 cores; ``manage.py migrate`` first)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def child(page: str, n: int, warm: int, go: str) -> None:
    sys.path.insert(0, str(BENCH))
    from recommendations_latency import slices, urls  # noqa: I001  (first: it sets Django up)
    from django.test import Client
    from advisor.warmup import prepare_process

    prepare_process()
    client = Client()
    warm_specs, specs = slices(n, warm)[page]
    for url in urls(page, warm_specs):
        client.get(url)
    print("READY", flush=True)
    while not os.path.exists(go):  # busy, not asleep: valgrind takes callgrind_control's command between blocks
        sum(range(10_000))
    for url in urls(page, specs):
        assert client.get(url).status_code == 200, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--warm", type=int, default=60)
    parser.add_argument("--page", default="api", choices=("api", "html", "model"))
    parser.add_argument("--child", metavar="GO_FILE")
    args = parser.parse_args()
    if args.child:
        child(args.page, args.n, args.warm, args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        go, out = os.path.join(tmp, "go"), os.path.join(tmp, "callgrind.out")
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable,
               __file__, "--page", args.page, "--n", str(args.n), "--warm", str(args.warm), "--child", go]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "READY":
                break
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        Path(go).touch()
        start = time.time()
        if proc.wait() != 0:
            raise SystemExit("the measured process failed")
        total = int(re.search(r"^totals: (\d+)", Path(out).read_text(), re.M).group(1))  # type: ignore[union-attr]
    print(
        f"command: DEBUG=1 .venv/bin/python bench/recommendations_callgrind.py --page {args.page} --n {args.n} "
        f"--warm {args.warm}"
    )
    print(
        f"{args.n} {args.page} requests after prepare_process() and {args.warm} warm-up machines: {total:,} "
        f"instructions, {total / args.n / 1e6:.1f} M per request ({time.time() - start:.0f} s under callgrind)"
    )


if __name__ == "__main__":
    main()
