"""Celery tasks: thin wrappers that call services."""

from __future__ import annotations

import os
import platform
import socket
import threading
from typing import Any

import psutil
from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down

_heartbeat_stop = threading.Event()


@shared_task(name="advisor.worker_info_task")
def worker_info_task() -> dict[str, object]:
    """Describe the worker's host, so the web app knows where probes will run."""
    return {
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "cpu_count": psutil.cpu_count(logical=True),
        "ram_bytes": psutil.virtual_memory().total,
    }


@shared_task(name="advisor.run_probe_task", acks_late=True, reject_on_worker_lost=True)
def run_probe_task(run_id: int) -> str:
    from advisor import services

    return services.execute_probe(run_id)


def _queues(sender: Any) -> list[str]:
    try:
        return [q.name for q in sender.app.amqp.queues.consume_from.values()]
    except AttributeError:
        return []


@worker_ready.connect
def start_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    """While this worker consumes a host's probe queue, record that it is alive every few seconds."""
    from advisor import services

    probe_queues = [q for q in _queues(sender) if q.startswith("probes.")]
    if not probe_queues:
        return
    host = probe_queues[0].removeprefix("probes.")
    info = {"pid": os.getpid(), **worker_info_task()}

    def beat() -> None:
        from django.db import close_old_connections

        while True:
            try:
                services.record_worker_heartbeat(host, socket.gethostname(), probe_queues[0], info)
                services.reap_stale_runs()
            except Exception:
                close_old_connections()
            if _heartbeat_stop.wait(services.HEARTBEAT_EVERY_S):
                return

    threading.Thread(target=beat, name="probe-heartbeat", daemon=True).start()


@worker_shutting_down.connect
def stop_heartbeat(**kwargs: Any) -> None:
    _heartbeat_stop.set()
