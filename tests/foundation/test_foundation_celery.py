"""A task goes through a real broker to a real `celery worker` subprocess and its result comes back."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from celery import Celery

pytestmark = pytest.mark.integration


def round_trip(broker: str, backend: str, make_worker: Any) -> dict[str, Any]:
    worker = make_worker(broker, backend)
    client = Celery("test-client", broker=broker, backend=backend)
    try:
        result = client.send_task("advisor.worker_info_task", queue="default")
        try:
            value = result.get(timeout=90)
        except Exception as exc:  # pragma: no cover - shows the worker's log on failure
            raise AssertionError(f"no result: {exc!r}\n--- worker log ---\n{worker.log()}") from exc
    finally:
        client.close()
    return value


def test_task_round_trip_through_real_redis(redis_url: str, make_worker: Any) -> None:
    info = round_trip(redis_url, redis_url, make_worker)
    assert info["hostname"] == socket.gethostname()
    assert info["cpu_count"] >= 1
    assert info["ram_bytes"] > 2**30


def test_task_round_trip_through_embedded_sqlite_broker(tmp_path: Path, make_worker: Any) -> None:
    broker = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    backend = f"db+sqlite:///{tmp_path / 'results.sqlite3'}"
    info = round_trip(broker, backend, make_worker)
    assert info["hostname"] == socket.gethostname()
    assert info["ram_bytes"] > 2**30
