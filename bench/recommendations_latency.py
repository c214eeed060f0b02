"""Uncached latency and throughput of the recommendation pages, every request a different machine.

The machines come from ``bench/data/machine_specs.json`` (``bench/machine_specs.py``: a committed list
drawn with a fixed seed, no spec twice), so no request is answered from the recommendations cache or a
per-process plan cache. Three pages: ``/api/recommendations`` (25 results), the HTML results page
(``/?<spec>``, the form and its 25 cards) and a model page (``/models/<id>?<spec>``, every quant planned
on the machine; the model is drawn per request with the same seed).

* ``--inproc`` (default): Django's test client in this process, after ``advisor.warmup.prepare_process()`` (what
  each server process runs at start) and ``--warm`` requests of other specs, ``--n`` requests per page: the
  server's compute time without HTTP.
* ``--gunicorn``: gunicorn with ``--workers`` sync workers on 127.0.0.1; each worker first serves
  ``--warm`` other specs; then one client at a time (time to first byte and to the last byte) and
  ``--clients`` concurrent clients over distinct URLs for the sustained rate, errors counted. The load
  generator is this process (threads over http.client), on the same cores as the server.

Usage (``--out`` writes the report, e.g. bench/data/recommendations_latency.txt / recommendations_gunicorn.txt):
  DEBUG=1 .venv/bin/python bench/recommendations_latency.py --inproc --n 200 --out FILE
  DEBUG=1 .venv/bin/python bench/recommendations_latency.py --gunicorn --n 100 --out FILE
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")

import django  # noqa: E402

django.setup()

from machine_specs import load as load_specs  # noqa: E402

from advisor.catalog.models_catalog import load_models  # noqa: E402

PAGES = ("api", "html", "model")
SEED = 18


def urls(page: str, specs: Sequence[dict[str, str]]) -> list[str]:
    """One URL per spec for ``page``; model pages draw their model with a fixed seed."""
    if page == "api":
        return [f"/api/recommendations?{urlencode(s)}" for s in specs]
    if page == "html":
        return [f"/?{urlencode(s)}" for s in specs]
    rng = random.Random(SEED)
    ids = [m.id for m in load_models()]
    return [f"/models/{quote(rng.choice(ids))}?{urlencode(s)}" for s in specs]


def slices(n: int, warm: int) -> dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]:
    """(warm-up specs, measured specs) per page, all disjoint: no spec is asked twice in a run."""
    rows = load_specs()
    out = {}
    start = 0
    for page in PAGES:
        out[page] = (rows[start : start + warm], rows[start + warm : start + warm + n])
        start += warm + n
    return out


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(ms: Sequence[float]) -> str:
    return (
        f"p50 {statistics.median(ms):.0f} ms, p90 {pct(ms, 0.9):.0f} ms, p99 {pct(ms, 0.99):.0f} ms, "
        f"max {max(ms):.0f} ms"
    )


def inproc(n: int, warm: int) -> list[str]:
    from django.test import Client

    from advisor.warmup import prepare_process

    client = Client()
    prepare_process()  # what advisor.wsgi does when a server process starts
    lines = [f"in-process (Django test client), after advisor.warmup.prepare_process() (as advisor.wsgi runs it), {n} "
             f"requests per page after {warm} warm-up requests of other specs"]  # fmt: skip
    for page, (warm_specs, specs) in slices(n, warm).items():
        for url in urls(page, warm_specs):
            client.get(url)
        times, cpu = [], []
        for url in urls(page, specs):
            t, c = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
        lines.append(f"  {page:5s} wall {summary(times)}; CPU p50 {statistics.median(cpu):.0f} ms")
    return lines


def fetch(port: int, url: str) -> tuple[int, float, float]:
    """(status, ms to the first byte of the response, ms to its last byte); status 0: no answer."""
    t = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", url)
        response = conn.getresponse()
        first = time.perf_counter()
        response.read()
        conn.close()
    except (OSError, http.client.HTTPException):
        return 0, 0.0, (time.perf_counter() - t) * 1000
    return response.status, (first - t) * 1000, (time.perf_counter() - t) * 1000


def load_run(port: int, todo: list[str], clients: int) -> tuple[float, list[tuple[int, float, float]]]:
    """``clients`` threads take URLs off one list until it is empty: (seconds, results)."""
    results: list[tuple[int, float, float]] = []
    lock = threading.Lock()
    queue = list(reversed(todo))

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                url = queue.pop()
            got = fetch(port, url)
            with lock:
                results.append(got)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t, results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    # Production settings, less the redirect to HTTPS (loopback has no TLS proxy).
    env = dict(os.environ, DEBUG="0", SECRET_KEY="bench-recommendations-latency", ALLOWED_HOSTS="127.0.0.1",
               SECURE_SSL_REDIRECT="0")  # fmt: skip
    cmd = [str(ROOT / ".venv" / "bin" / "gunicorn"), "advisor.wsgi:application", "--bind", f"127.0.0.1:{port}",
           "--workers", str(workers), "--log-level", "warning", "--timeout", "120"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    for _ in range(600):
        if fetch(port, "/healthz")[0]:
            return proc, port
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def through_gunicorn(n: int, warm: int, workers: int, clients: int, sustained: int) -> list[str]:
    proc, port = serve(workers)
    lines = [f"gunicorn, {workers} sync workers on 127.0.0.1, DEBUG=0 (SECURE_SSL_REDIRECT=0); each page first "
             f"gets {warm} warm-up requests of other specs over {workers} clients (every worker warms)"]  # fmt: skip
    try:
        rows = load_specs()
        used = 0
        for page, (warm_specs, specs) in slices(n, warm).items():
            load_run(port, urls(page, warm_specs), workers)
            ttfb, total, bad = [], [], 0
            for url in urls(page, specs):
                status, first, last = fetch(port, url)
                if status != 200 and not bad:
                    lines.append(f"  first error: HTTP {status} for {url}")
                bad += status != 200
                ttfb.append(first)
                total.append(last)
            lines.append(f"  {page:5s} one client, {n} requests: first byte {summary(ttfb)}")
            lines.append(f"  {'':5s} {'':23s} last byte  {summary(total)}; errors {bad}")
            used = max(used, (PAGES.index(page) + 1) * (warm + n))
        for page in ("api", "html"):
            todo = urls(page, rows[used : used + sustained])
            used += sustained
            seconds, results = load_run(port, todo, clients)
            errors = sum(1 for r in results if r[0] != 200)
            lines.append(
                f"  {page:5s} sustained: {len(results)} distinct URLs over {clients} clients in {seconds:.1f} s = "
                f"{len(results) / seconds:.1f} req/s, errors {errors}; last byte {summary([r[2] for r in results])}"
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return lines


def commit() -> str:
    """The commit measured, and whether the tree had uncommitted edits (other work in progress)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" with uncommitted edits in the tree" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--inproc", action="store_true")
    mode.add_argument("--gunicorn", action="store_true")
    parser.add_argument("--n", type=int, default=100, help="measured requests per page")
    parser.add_argument("--warm", type=int, default=60, help="warm-up requests per page (other specs)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sustained", type=int, default=400, help="distinct URLs per page in the sustained run")
    parser.add_argument("--out")
    args = parser.parse_args()
    load = os.getloadavg()
    if args.gunicorn:
        body = through_gunicorn(args.n, args.warm, args.workers, args.clients, args.sustained)
        flags = f"--gunicorn --n {args.n} --warm {args.warm} --workers {args.workers} --clients {args.clients} " \
                f"--sustained {args.sustained}"  # fmt: skip
    else:
        body = inproc(args.n, args.warm)
        flags = f"--inproc --n {args.n} --warm {args.warm}"
    head = [
        f"command: DEBUG=1 .venv/bin/python bench/recommendations_latency.py {flags}",
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC; host: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.platform()}; load average before the run "
        f"{load[0]:.1f} (other processes share these cores)",
        "specs: bench/data/machine_specs.json (seed 18, distinct), so every request is a different machine",
        f"code: {commit()}",
    ]
    text = "\n".join(head + body) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
