"""Celery tasks: thin wrappers that call services."""

from __future__ import annotations

import platform
import socket

import psutil
from celery import shared_task


@shared_task(name="advisor.worker_info")
def worker_info() -> dict[str, object]:
    """Describe the worker's host, so the web app knows where probes will run."""
    return {
        "hostname": socket.gethostname(),
        "python": platform.python_version(),
        "cpu_count": psutil.cpu_count(logical=True),
        "ram_bytes": psutil.virtual_memory().total,
    }
