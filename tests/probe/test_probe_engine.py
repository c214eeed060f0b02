"""The probe engine's status while scripts/run builds llama-cpp-python: the file, the Probes page, a probe asked for."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advisor import probe, probe_engine
from advisor.probe_engine import EngineStatus, progress_from_log, read_status, write_status

ROOT = Path(__file__).resolve().parents[2]

# What `pip wheel -v llama-cpp-python` prints, cut down: pip's own lines, scikit-build-core's, then ninja's.
PIP_WHEEL_LOG = """\
Building llama-cpp-python 0.3.36 (CMAKE_ARGS='-DGGML_NATIVE=OFF'; ~5-10 min once, then cached in /c) ...
Collecting llama-cpp-python==0.3.36
  Running command Building wheel for llama-cpp-python (pyproject.toml)
  *** scikit-build-core 0.11.6 using CMake 4.2.0 (wheel)
  *** Configuring CMake...
  -- The C compiler identification is GNU 12.2.0
  *** Building project with Ninja...
  [1/290] Building C object vendor/llama.cpp/ggml/src/CMakeFiles/ggml-base.dir/ggml.c.o
  [2/290] Building CXX object vendor/llama.cpp/ggml/src/CMakeFiles/ggml-base.dir/ggml.cpp.o
  [120/290] Building CXX object vendor/llama.cpp/src/CMakeFiles/llama.dir/llama-model.cpp.o
"""


def test_progress_comes_from_ninja_steps() -> None:
    assert progress_from_log("") == (None, None)
    assert progress_from_log(PIP_WHEEL_LOG.split("  *** Building")[0]) == ("configuring", None)
    assert progress_from_log(PIP_WHEEL_LOG) == ("compiling", (120, 290))
    done = PIP_WHEEL_LOG + "  [290/290] Linking CXX shared library\n  *** Installing project into wheel...\n"
    assert progress_from_log(done) == ("packaging", (290, 290))


def test_follow_writes_percent_until_the_build_ends(tmp_path: Path) -> None:
    status, log = tmp_path / "probe-engine.json", tmp_path / "build.log"
    log.write_text(PIP_WHEEL_LOG)
    write_status(status, new=True, state="building", phase="starting", started_at=time.time() - 200)
    build = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    probe_engine.follow(status, log, build.pid, every_s=0.1)
    build.wait()
    s = read_status(status)
    assert s is not None and s.preparing and s.phase == "compiling"
    assert s.step == (120, 290) and s.percent == pytest.approx(41.4)
    assert "compiling llama.cpp, 41% (120 of 290 steps), 3 min so far, about 5 min left" in s.describe()


def test_reading_the_status_file(tmp_path: Path) -> None:
    path = tmp_path / "probe-engine.json"
    assert read_status(path) is None  # nobody prepares an engine here: nothing changes
    path.write_text("{half a file")
    assert read_status(path) is None
    write_status(path, state="failed", message="llama-cpp-python did not build", log="/x/probe-engine.log")
    s = read_status(path)
    assert s is not None and s.state == "failed" and not s.preparing
    assert "could not be built: llama-cpp-python did not build (log: /x/probe-engine.log)" in s.describe()
    # A build whose process is gone (scripts/run stopped mid-build) is not "being prepared" for ever.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_status(path, new=True, state="building", pid=int(gone.stdout))
    s = read_status(path)
    assert s is not None and s.state == "stopped" and "run scripts/run again" in s.describe()
    write_status(path, new=True, state="ready")
    assert probe_engine.not_ready_message(path) is None
    assert EngineStatus("building", phase="installing", from_cache=True).progress_text() == (
        "installing the wheel from the cache"
    )


def test_the_status_tool_writes_json_values(tmp_path: Path) -> None:
    path = tmp_path / "probe-engine.json"
    tool = [sys.executable, str(ROOT / "advisor" / "probe_engine.py")]
    subprocess.run([*tool, "set", "--new", str(path), "state=building", "pid=12", "from_cache=false", "log=/v/x.log"],
                   check=True)  # fmt: skip
    assert json.loads(path.read_text()) | {"updated_at": 0} == {
        "state": "building", "pid": 12, "from_cache": False, "log": "/v/x.log", "updated_at": 0,
    }  # fmt: skip
    subprocess.run([*tool, "set", str(path), "state=ready"], check=True)
    assert json.loads(path.read_text())["pid"] == 12  # merged, not replaced


def test_a_probe_without_the_engine_says_it_is_being_prepared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    write_status(probe_engine.status_path(), new=True, state="building", phase="compiling", percent=12.0,
                 step=[35, 290], started_at=time.time() - 60)  # fmt: skip
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "llama_cpp" else real(name))
    with pytest.raises(probe.ProbeError) as info:
        probe.run_probe(probe.ProbeSpec(source="smollm2"))
    assert info.value.kind == "unavailable"
    assert "The probe engine (llama-cpp-python) is being prepared: compiling llama.cpp, 12%" in str(info.value)


@pytest.mark.django_db
def test_probes_page_shows_how_far_the_engine_is(client, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.PROBE_ENGINE_STATUS = tmp_path / "probe-engine.json"
    assert "probe-engine" not in client.get("/probes").content.decode()  # no file: nothing shown
    write_status(settings.PROBE_ENGINE_STATUS, new=True, state="building", phase="compiling", percent=41.4,
                 step=[120, 290], started_at=time.time() - 200, pid=None)  # fmt: skip
    page = client.get("/probes").content.decode()
    assert "The probe engine is being prepared" in page
    assert "41% (120 of 290 steps)" in page and 'value="41"' in page
    assert 'hx-get="/probes/engine"' in page  # the fragment refreshes itself
    fragment = client.get("/probes/engine")
    assert fragment.status_code == 200 and "41% (120 of 290 steps)" in fragment.content.decode()
    write_status(settings.PROBE_ENGINE_STATUS, state="ready", phase="done", percent=100)
    fragment = client.get("/probes/engine")
    assert fragment.status_code == 286  # htmx: stop polling
    assert "The probe engine is ready" in fragment.content.decode()
    assert "probe-engine" not in client.get("/probes").content.decode()


@pytest.mark.django_db
def test_a_probe_asked_for_while_the_engine_builds_says_so(client, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import User

    settings.PROBE_ENGINE_STATUS = tmp_path / "probe-engine.json"
    write_status(settings.PROBE_ENGINE_STATUS, new=True, state="building", phase="configuring",
                 started_at=time.time() - 20)  # fmt: skip
    client.force_login(User.objects.create_user("newcomer"))
    response = client.post("/probes", {"source": "smollm2", "ctx": "4096", "gpu_layers": "-1"})
    assert response.status_code == 503  # nothing queued, no worker yet: a message, not an error page
    assert "The probe engine (llama-cpp-python) is being prepared: configuring the llama.cpp build" in (
        response.content.decode()
    )
    api = client.post("/api/probes", {"source": "smollm2", "ctx": 4096}, content_type="application/json")
    assert api.status_code == 503 and "being prepared" in api.json()["error"]["message"], api.content
