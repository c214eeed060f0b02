"""How far the probe engine (llama-cpp-python) is from ready, while ``scripts/run`` prepares it.

llama-cpp-python compiles llama.cpp, 5-10 minutes on a fresh 2-core machine. ``scripts/run`` serves the web
app at once and builds (or installs the cached wheel of) the engine in the background
(``scripts/_probe_engine``), which writes its progress to ``var/probe-engine.json``::

    {"state": "building", "phase": "compiling", "step": [120, 290], "percent": 41.4,
     "started_at": 1733100000.0, "updated_at": 1733100190.0, "log": "/.../var/probe-engine.log", "pid": 4242}

``state`` is ``building``, ``ready`` or ``failed``; the reader says ``stopped`` for a build whose process is
gone (scripts/run was stopped mid-build). No file means nobody is preparing an engine here (a Docker image
or a venv made by hand): then nothing changes.

``read_status`` is for the probes page, the probe API and ``manage.py probe``; ``write_status`` and
``follow`` are for the build script, which runs this file directly (``python advisor/probe_engine.py``)
so that the package's Celery/Django imports stay out of it. No Django imports here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS_NAME = "probe-engine.json"
PHASES = ("starting", "downloading", "configuring", "compiling", "packaging", "installing", "done")
_STEP = re.compile(r"^\s*\[(\d+)/(\d+)\]", re.MULTILINE)  # ninja's (and make's) "[n/N] Building ..." lines
# scikit-build-core's own lines (llama-cpp-python's build backend) mark the phases of ``pip wheel -v``.
_PHASE_MARKS = (
    ("packaging", "*** Installing project into wheel"),
    ("compiling", "*** Building project"),
    ("configuring", "*** Configuring CMake"),
    ("downloading", "Collecting llama"),
)


def status_path(var_dir: str | os.PathLike[str] | None = None) -> Path:
    """``var/probe-engine.json``: in ``var_dir``, else in $VAR_DIR, else in the checkout's var/ (as settings.py)."""
    base = var_dir or os.environ.get("VAR_DIR") or Path(__file__).resolve().parent.parent / "var"
    return Path(base) / STATUS_NAME


@dataclass(frozen=True)
class EngineStatus:
    state: str  # "building", "ready", "failed", or "stopped" (a build whose process is gone)
    phase: str = "starting"  # one of PHASES while building
    step: tuple[int, int] | None = None  # compile steps done, of how many
    percent: float | None = None  # of the compile steps
    started_at: float | None = None  # epoch seconds
    updated_at: float | None = None
    log: str = ""
    message: str = ""
    from_cache: bool = False
    pid: int | None = None

    @property
    def preparing(self) -> bool:
        return self.state == "building"

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def elapsed_s(self, now: float | None = None) -> float | None:
        return None if self.started_at is None else max(0.0, (now or time.time()) - self.started_at)

    def remaining_s(self, now: float | None = None) -> float | None:
        """A rough time left, from the pace so far; None until a tenth of the compile steps are done."""
        elapsed = self.elapsed_s(now)
        if self.phase != "compiling" or self.percent is None or self.percent < 10 or elapsed is None:
            return None
        return elapsed * (100 - self.percent) / self.percent

    def progress_text(self, now: float | None = None) -> str:
        """E.g. "compiling llama.cpp, 41% (120 of 290 steps), 3 min so far, about 4 min left"."""
        what = {
            "starting": "starting",
            "downloading": "fetching llama-cpp-python",
            "configuring": "configuring the llama.cpp build",
            "compiling": "compiling llama.cpp",
            "packaging": "packing the wheel",
            "installing": "installing the wheel" + (" from the cache" if self.from_cache else ""),
            "done": "done",
        }.get(self.phase, self.phase)
        parts = [what + (f", {self.percent:.0f}%" if self.phase == "compiling" and self.percent is not None else "")]
        if self.phase == "compiling" and self.step:
            parts[0] += f" ({self.step[0]} of {self.step[1]} steps)"
        if (elapsed := self.elapsed_s(now)) is not None:
            parts.append(f"{_duration(elapsed)} so far")
        if (left := self.remaining_s(now)) is not None:
            parts.append(f"about {_duration(left)} left")
        return ", ".join(parts)

    def describe(self, now: float | None = None) -> str:
        """One paragraph for a person: what is happening, and what works meanwhile."""
        log = f" (log: {self.log})" if self.log else ""
        if self.state == "building":
            return (
                f"The probe engine (llama-cpp-python) is being prepared: {self.progress_text(now)}{log}. "
                "Estimates work now; probes can start once it is ready, when scripts/run starts the probe worker."
            )
        if self.state == "failed":
            why = f": {self.message}" if self.message else ""
            return f"The probe engine (llama-cpp-python) could not be built{why}{log}. Estimates still work."
        if self.state == "stopped":
            return (
                f"The probe engine (llama-cpp-python) build stopped before it finished{log}: "
                "run scripts/run again to resume it. Estimates still work."
            )
        return "The probe engine (llama-cpp-python) is ready."


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    with contextlib.suppress(OSError, IndexError):  # a zombie (exited, not yet reaped) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def read_status(path: str | os.PathLike[str] | None = None) -> EngineStatus | None:
    """The engine's state from ``path`` (default ``status_path()``); None when no file says anything."""
    p = Path(path) if path is not None else status_path()
    try:
        raw = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("state") not in ("building", "ready", "failed"):
        return None

    def num(key: str) -> float | None:
        v = raw.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    step = raw.get("step")
    pid = raw.get("pid") if isinstance(raw.get("pid"), int) else None
    state = raw["state"]
    if state == "building" and pid is not None and not _pid_alive(pid):
        state = "stopped"
    return EngineStatus(
        state=state,
        phase=str(raw.get("phase") or "starting"),
        step=(int(step[0]), int(step[1])) if isinstance(step, list) and len(step) == 2 else None,
        percent=num("percent"),
        started_at=num("started_at"),
        updated_at=num("updated_at"),
        log=str(raw.get("log") or ""),
        message=str(raw.get("message") or ""),
        from_cache=bool(raw.get("from_cache")),
        pid=pid,
    )


def not_ready_message(path: str | os.PathLike[str] | None = None) -> str | None:
    """What to tell someone who asks for a probe while the engine is being prepared (or failed); else None."""
    status = read_status(path)
    return None if status is None or status.ready else status.describe()


# ---------------------------------------------------------------- the writer side (scripts/_probe_engine)


def write_status(path: str | os.PathLike[str], new: bool = False, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the status file (``new``: replace it), atomically: readers never see half a file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    current: dict[str, Any] = {}
    if not new:
        with contextlib.suppress(OSError, ValueError):
            if isinstance(loaded := json.loads(p.read_text()), dict):
                current = loaded
    current.update(fields)
    current["updated_at"] = time.time()
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".probe-engine.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(current, f)
    os.replace(tmp, p)
    return current


def progress_from_log(text: str) -> tuple[str | None, tuple[int, int] | None]:
    """The build's phase and its last "[n/N]" compile step, from ``pip wheel -v`` output so far."""
    phase = next((name for name, mark in _PHASE_MARKS if mark in text), None)
    steps = _STEP.findall(text)
    step = (int(steps[-1][0]), int(steps[-1][1])) if steps else None
    if step and phase in (None, "downloading", "configuring"):
        phase = "compiling"
    return phase, step


def follow(path: str | os.PathLike[str], log: str | os.PathLike[str], pid: int, every_s: float = 2.0) -> None:
    """Update the status file from ``log`` until process ``pid`` (the ``pip wheel``) exits."""
    last: tuple[str | None, tuple[int, int] | None] = (None, None)
    while True:
        alive = _pid_alive(pid)
        with contextlib.suppress(OSError):
            seen = progress_from_log(Path(log).read_text(errors="replace"))
            if seen != last and seen[0] is not None:
                phase, step = seen
                percent = round(100.0 * step[0] / step[1], 1) if step and phase == "compiling" else None
                if phase == "packaging":
                    percent = 100.0
                write_status(path, phase=phase, step=list(step) if step else None, percent=percent)
                last = seen
        if not alive:
            return
        time.sleep(every_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the probe engine's status file (for scripts/_probe_engine).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("set", help="merge KEY=VALUE fields (VALUE as JSON when it parses, else a string)")
    s.add_argument("--new", action="store_true", help="start a new file instead of merging")
    s.add_argument("path")
    s.add_argument("fields", nargs="*")
    f = sub.add_parser("follow", help="follow a build log until a process exits")
    f.add_argument("path")
    f.add_argument("--log", required=True)
    f.add_argument("--pid", type=int, required=True)
    r = sub.add_parser("show", help="print the status as a person would read it")
    r.add_argument("path", nargs="?")
    args = parser.parse_args(argv)
    if args.cmd == "set":
        fields: dict[str, Any] = {}
        for item in args.fields:
            key, _, value = item.partition("=")
            try:
                fields[key] = json.loads(value)
            except ValueError:
                fields[key] = value
        write_status(args.path, new=args.new, **fields)
    elif args.cmd == "follow":
        follow(args.path, args.log, args.pid)
    else:
        status = read_status(args.path)
        print(status.describe() if status else "No probe engine is being prepared here.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
