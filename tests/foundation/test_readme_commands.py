"""Every command in README.md, run exactly as written, from a clean environment: no DEBUG, no SECRET_KEY.

The commands come from the README itself: each line of its ``sh`` code blocks, and each inline code span
that starts like a command (``.venv/bin/python manage.py ...``, ``python ...``, ``scripts/...``, or those
after ``NAME=value``). A command the README gains runs here too, so the README cannot show one that fails.
The few that cannot run here say why in NOT_RUN, and each of those must still be in the README.

What stands in for the outside world: ``HF_ENDPOINT`` points at the local fake Hub (tests/fakehub.py),
since this machine reaches no Hub, and ``VAR_DIR`` at a fresh folder, so the database, logs and the probe
engine's status file are the test's own. ``scripts/run`` runs until it serves its first page, then gets
Ctrl-C (SIGINT to its process group) and must stop everything it started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import subprocess
import termios
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakehub import FakeFile, FakeHub, FakeRepo

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
HF_CONFIGS = ROOT / "tests" / "fixtures" / "hf_configs"

NOT_RUN = {
    "scripts/test": "runs this test, and every other",
    'CMAKE_ARGS="-DGGML_CUDA=on" scripts/run': "builds llama.cpp for CUDA: needs an NVIDIA GPU and the CUDA toolkit",
}
SERVERS = {"scripts/run"}  # run until the first page, then stopped (test_scripts_run_serves_the_first_page)
# Commands that ask questions: the answers a newcomer would type, after each prompt.
PASSWORD = "a-newcomer's long passphrase 42"
ANSWERS = {
    ".venv/bin/python manage.py createsuperuser": [
        ("Username", "newcomer"),
        ("Email address", "newcomer@example.org"),
        ("Password:", PASSWORD),
        ("Password (again)", PASSWORD),
    ],
}
COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:\.venv/bin/|python3?\s|scripts/)")


def readme_commands(text: str) -> list[str]:
    """The commands of ``text``: lines of sh/bash/console blocks, and inline spans that look like commands."""
    commands: list[str] = []
    prose: list[str] = []
    fence: str | None = None  # the open block's language
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip() or "text"
            continue
        if fence is None:
            prose.append(line)
        elif fence in ("sh", "bash", "shell", "console"):
            command = re.sub(r"(^|\s+)#.*$", "", line).strip().removeprefix("$ ")
            if command:
                commands.append(command)
    for span in re.findall(r"`([^`\n]+)`", "\n".join(prose)):
        if COMMAND.match(span) and span not in commands:
            commands.append(span)
    return commands


COMMANDS = readme_commands(README)
RUN = [c for c in COMMANDS if c not in NOT_RUN and c not in SERVERS]


def clean_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """A newcomer's shell: no DEBUG, no SECRET_KEY, no Django or Redis settings, no activated venv."""
    keep = ("HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "XDG_CACHE_HOME", "LLM_FIT_WHEELS", "CMAKE_ARGS")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    venv = str(ROOT / ".venv")
    env["PATH"] = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if not p.startswith(venv))
    env |= {"VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", **extra}
    return env


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    h = FakeHub()
    h.add(FakeRepo("Qwen/Qwen3-8B", {"config.json": FakeFile(data=(HF_CONFIGS / "qwen3-8b.json").read_bytes())},
                   card_data={"license": "apache-2.0"}))  # fmt: skip
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var/ as scripts/run leaves it: the database migrated and the catalog loaded."""
    var = tmp_path_factory.mktemp("var")
    for step in ("migrate --noinput -v0", "load_catalog"):
        r = subprocess.run(f".venv/bin/python manage.py {step}", shell=True, cwd=ROOT, env=clean_env(var),
                           capture_output=True, text=True, timeout=300)  # fmt: skip
        assert r.returncode == 0, r.stderr
    return var


def run_answering(command: str, env: dict[str, str], answers: list[tuple[str, str]], timeout: float) -> tuple[int, str]:
    """Run ``command`` on a terminal of its own, typing each answer once its prompt shows."""
    master, slave = pty.openpty()

    def take_terminal() -> None:  # a session whose controlling terminal is the pty, as in a real shell
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=take_terminal)  # fmt: skip
    os.close(slave)
    out, seen, pending = b"", 0, list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the command closed its terminal
                break
            if not chunk:
                break
            out += chunk
            if pending and (i := out.find(pending[0][0].encode(), seen)) >= 0:
                seen = i + len(pending[0][0])
                os.write(master, pending.pop(0)[1].encode() + b"\n")
        else:
            proc.kill()
            pytest.fail(f"{command!r} did not finish within {timeout} s:\n{out.decode(errors='replace')}")
        return proc.wait(timeout=30), out.decode(errors="replace")
    finally:
        os.close(master)


def test_readme_has_the_two_setup_commands_and_the_cli() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0]
    assert readme_commands(f"```sh\n{first_block}```") == ["scripts/run", "scripts/test"]
    assert set(NOT_RUN) <= set(COMMANDS), "NOT_RUN names a command the README no longer shows"
    for name in ("fit", "catalog", "import_hf", "probe"):
        assert any(c.startswith(f".venv/bin/python manage.py {name} ") for c in RUN), name


@pytest.mark.parametrize("command", RUN, ids=lambda c: c.removeprefix(".venv/bin/python manage.py ").replace('"', "'"))
def test_readme_command_runs_as_written(command: str, var_dir: Path, hub: FakeHub, tmp_path: Path) -> None:
    env = clean_env(var_dir, HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"))
    if command in ANSWERS:
        rc, out = run_answering(command, env, ANSWERS[command], timeout=300)
        err = out
    else:
        r = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)  # fmt: skip
        rc, out, err = r.returncode, r.stdout, r.stderr
    assert rc == 0, f"{command!r} exited {rc}:\n{out}\n{err}"
    assert "Traceback" not in err, err
    if " --json" in command:
        json.loads(out)
    if " createsuperuser" in command:
        assert "Superuser created successfully" in out, out


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError):  # our own child that exited: reap it
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True


def test_scripts_run_serves_the_first_page(tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    env = clean_env(tmp_path, PORT=str(port))
    # A terminal delivers Ctrl-C: undo the SIG_IGN for SIGINT that a test run started in the background (a CI job
    # without job control) hands down, which bash and Python would otherwise keep.
    proc = subprocess.Popen(["bash", "-c", "scripts/run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/"
    status = tmp_path / "probe-engine.json"
    worker = 0
    try:
        deadline = time.monotonic() + 300  # on a fresh venv it installs the dependencies first
        while not any(f"running at {url}" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        code = 0
        while code != 200 and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                code, _ = _get(url)
            time.sleep(0.2)
        assert code == 200, "".join(lines)
        code, page = _get(url + "probes")
        assert code == 200
        engine = json.loads(status.read_text())
        builder = int(engine["pid"])
        assert engine["state"] in ("building", "ready"), engine
        if engine["state"] == "building":
            assert "The probe engine is being prepared" in page
        # With llama-cpp-python installed or cached (after scripts/test), the worker comes up within seconds;
        # a real build takes minutes, and this test stops it.
        while engine["state"] == "building" and engine.get("phase") in ("starting", "installing"):
            assert time.monotonic() < deadline, engine
            time.sleep(0.5)
            engine = json.loads(status.read_text())
        if engine["state"] == "ready":
            while not (tmp_path / "worker.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            worker = int((tmp_path / "worker.pid").read_text())
            assert _alive(worker)
        else:
            assert engine["state"] == "building", engine
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at the terminal
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("scripts/run did not stop within 60 s of Ctrl-C; its output:\n" + "".join(lines))
    assert proc.returncode in (0, 130), "".join(lines)
    deadline = time.monotonic() + 30
    while (_alive(builder) or (worker and _alive(worker))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(builder), "the probe engine's build outlived scripts/run"
    assert not worker or not _alive(worker), "the Celery worker outlived scripts/run"


@pytest.mark.parametrize(
    "command",
    [
        ".venv/bin/python manage.py runserver --noreload 127.0.0.1:9",
        ".venv/bin/python manage.py check --deploy",
        ".venv/bin/python -c 'import advisor.wsgi'",
        ".venv/bin/python -m celery -A advisor inspect ping",
    ],
)
def test_what_serves_still_needs_a_secret_key(command: str, tmp_path: Path) -> None:
    r = subprocess.run(["bash", "-c", command], cwd=ROOT, env=clean_env(tmp_path), capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in r.stderr
