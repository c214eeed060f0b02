"""Start (or stop) a real Celery worker process for this app.

``scripts/run`` uses it so that one command brings up web + worker. The worker listens on
the default queue and on this host's probe queue with concurrency 1, so only one probe
runs per GPU host at a time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from advisor.services import probe_queue_name


class Command(BaseCommand):
    help = "Start a Celery worker (default and probe queues), or stop one started with --detach."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--detach", action="store_true", help="run in the background and return")
        parser.add_argument("--stop", action="store_true", help="stop the worker named by --pidfile")
        parser.add_argument("--pidfile", default=str(settings.VAR_DIR / "worker.pid"))
        parser.add_argument("--logfile", default=str(settings.VAR_DIR / "worker.log"))

    def handle(self, *args: Any, **options: Any) -> None:
        pidfile = Path(options["pidfile"])
        if options["stop"]:
            self._stop(pidfile)
            return
        argv = [
            sys.executable, "-m", "celery", "-A", "advisor", "worker",
            "--queues", f"default,{probe_queue_name()}", "--concurrency", "1",
            "--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        if not options["detach"]:
            os.execv(sys.executable, argv)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(options["logfile"], "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(1.0)
        if proc.poll() is not None:
            raise CommandError(f"the Celery worker exited at once (code {proc.returncode}); see {options['logfile']}")
        pidfile.write_text(str(proc.pid))
        self.stdout.write(f"Celery worker started (pid {proc.pid}, queues default,{probe_queue_name()})")

    def _stop(self, pidfile: Path) -> None:
        try:
            pid = int(pidfile.read_text())
        except (OSError, ValueError):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        pidfile.unlink(missing_ok=True)
