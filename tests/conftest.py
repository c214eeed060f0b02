"""Shared fixtures: real redis-server, real Celery worker subprocesses, Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis that answers: REDIS_URL if set and alive, else our own redis-server on a free port."""
    url = os.environ.get("REDIS_URL", "")
    if url and redis_answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run scripts/test (it apt-gets it) or apt-get install redis-server")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"redis-server did not start on port {port}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


class Worker:
    """A real `celery worker` subprocess with its own environment."""

    def __init__(self, env: dict[str, str], queues: str, logfile: Path) -> None:
        self.logfile = logfile
        self.env = env
        self.queues = queues
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        argv = [sys.executable, "-m", "celery", "-A", "advisor", "worker", "--queues", self.queues,
                "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                "--without-heartbeat"]  # fmt: skip
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill_hard(self) -> None:
        """SIGKILL the worker and every process it started, as when a machine or container dies."""
        import signal

        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")


def worker_env(broker: str, backend: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend, "DEBUG": "1"})
    env.update(extra)
    return env


@pytest.fixture
def make_worker(tmp_path: Path) -> Iterator[object]:
    workers: list[Worker] = []

    def make(broker: str, backend: str, queues: str = "default", **extra: str) -> Worker:
        worker = Worker(worker_env(broker, backend, **extra), queues, tmp_path / f"worker{len(workers)}.log")
        workers.append(worker.start())
        return worker

    yield make
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run scripts/test (it apt-gets chromium) or apt-get install chromium")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    yield page
    context.close()


PROBE_HOST = "ci-probe-host"


def wait_for(predicate: Any, timeout: float, what: str, worker: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            log = worker.log()[-4000:] if worker is not None else ""
            raise AssertionError(f"timed out waiting for {what}\n--- worker log ---\n{log}")
        time.sleep(0.5)


def worker_db_url() -> str:
    from django.conf import settings

    return f"sqlite:///{settings.DATABASES['default']['NAME']}"


@pytest.fixture
def probe_worker(redis_url: str, make_worker: Any) -> Any:
    """A real Celery worker serving PROBE_HOST's probe queue over real Redis, on the test database."""
    from advisor.celery import app
    from advisor.models import WorkerHeartbeat

    # The test process sends through the same Redis as the worker (session-wide: the pool is cached).
    app.conf.broker_url = redis_url
    app.conf.result_backend = redis_url
    worker = make_worker(redis_url, redis_url, queues=f"default,probes.{PROBE_HOST}", DATABASE_URL=worker_db_url())
    wait_for(lambda: WorkerHeartbeat.objects.filter(host_id=PROBE_HOST).exists(), 60, "worker heartbeat", worker)
    return worker
