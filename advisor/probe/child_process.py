"""The child process that runs llama.cpp (``advisor/probe/child.py``), watched for time, cancel and crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.probe.spec import ProbeCancelled, ProbeError


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _classify(text: str) -> str:
    t = text.lower()
    if "out of memory" in t or "failed to allocate" in t or "cudamalloc failed" in t or "unable to allocate" in t:
        return "oom"
    return "failed"


CANCEL_CHECK_S = 1.0  # how often a silent child's caller is asked whether to go on


def _run_child(job: dict[str, Any], on_progress: Callable[[str, float], bool], time_limit_s: float) -> dict[str, Any]:
    """Run one job in ``python advisor/probe/child.py``; return its result object."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the repository root, for the child's imports
    # Appended, so an existing PYTHONPATH (a test shim, a GPU machine's layout) keeps precedence.
    env["PYTHONPATH"] = (env["PYTHONPATH"] + os.pathsep if env.get("PYTHONPATH") else "") + root
    env["PYTHONUNBUFFERED"] = "1"
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in the finally below
    # Run as a script, not ``-m advisor.probe.child``: a probe then imports no part of the advisor
    # package (whose __init__ loads Celery), only llama_cpp.
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("child.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        env=env,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    messages: list[dict[str, Any]] = []
    lock = threading.Condition()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            with lock:
                messages.append(msg)
                lock.notify()
        with lock:
            messages.append({"type": "eof"})
            lock.notify()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.monotonic() + time_limit_s
    final: dict[str, Any] | None = None

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait()

    # The last progress is passed on again while the child is silent (a long prefill, a quantization), so
    # the caller can say "cancelled" within CANCEL_CHECK_S instead of at the child's next message.
    last: tuple[str, float] = ("preparing" if job.get("job") == "quantize" else "loading", 0.0)
    told = time.monotonic()
    try:
        while final is None:
            with lock:
                if not messages:
                    lock.wait(timeout=0.25)
                batch = list(messages)
                messages.clear()
            if not batch and time.monotonic() - told >= CANCEL_CHECK_S:
                batch = [{"type": "progress", "stage": last[0], "percent": last[1]}]
            for msg in batch:
                if msg["type"] == "progress":
                    last, told = (msg["stage"], float(msg["percent"])), time.monotonic()
                    if on_progress(*last) is False:
                        kill()
                        raise ProbeCancelled()
                elif msg["type"] in ("result", "error", "eof"):
                    final = msg
                    break
            if final is None and time.monotonic() > deadline:
                kill()
                raise ProbeError(f"probe exceeded its time limit of {time_limit_s:.0f} s", "timeout")
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        kill()
        raise ProbeError(f"probe exceeded its time limit of {time_limit_s:.0f} s", "timeout") from None
    finally:
        if proc.poll() is None:
            kill()
        stderr_file.seek(0)
        stderr_tail = stderr_file.read()[-4000:].decode(errors="replace")
        stderr_file.close()
    if final["type"] == "result" and rc == 0:
        return final
    if final["type"] == "error":
        detail = "\n".join(final.get("log_tail", [])[-8:]) + "\n" + stderr_tail[-1500:]
        raise ProbeError(f"{final['message']}\n{detail.strip()}", _classify(final["message"] + detail))
    if rc < 0:
        raise ProbeError(
            f"llama.cpp crashed ({_signal_name(rc)}); last output:\n{stderr_tail[-1500:].strip()}",
            "oom" if rc == -signal.SIGKILL or _classify(stderr_tail) == "oom" else "crash",
        )
    raise ProbeError(
        f"probe process exited with code {rc}; last output:\n{stderr_tail[-1500:].strip()}",
        _classify(stderr_tail) if _classify(stderr_tail) == "oom" else "crash",
    )
