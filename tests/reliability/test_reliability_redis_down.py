"""With Redis down, every estimate and page still works; starting a probe says why it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def run_with_dead_redis(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # a port where nothing listens
    env = {**os.environ, "REDIS_URL": dead, "DEBUG": "1", "VAR_DIR": str(tmp_path), "ALLOWED_HOSTS": "testserver"}
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    script = "import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'advisor.settings')\n"
    script += "django.setup()\nfrom django.core.management import call_command\n"
    script += "call_command('migrate', verbosity=0)\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_pages_and_estimates_work_and_probes_are_refused_with_a_reason(tmp_path: Path) -> None:
    out = run_with_dead_redis(
        """
        from django.contrib.auth.models import User
        from django.test import Client
        from advisor.models import ProbeRun
        c = Client()
        for url in ["/", "/api/recommendations?gpu=RTX+4090&ram=64&ctx=8192",
                    "/api/fit?model=llama-3.1-8b-instruct&quant=Q4_K_M&gpu=RTX+4090", "/tiers"]:
            r = c.get(url)
            print(url, r.status_code)
        User.objects.create_superuser("admin", "a@example.org", "pw-for-tests-only")
        c.login(username="admin", password="pw-for-tests-only")
        r = c.post("/api/probes", {"source": "smollm2", "ctx": 2048}, content_type="application/json")
        print("probe", r.status_code, r.json()["error"]["message"])
        print("queued", ProbeRun.objects.filter(status__in=["queued", "running"]).count())
        """,
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert all(line.endswith(" 200") for line in lines[:4]), out.stdout
    assert lines[4].startswith("probe 503 ")
    assert "No probe worker is running" in lines[4] or "broker is unavailable" in lines[4]
    assert lines[5] == "queued 0"


def test_startup_check_reports_an_unreachable_redis(tmp_path: Path) -> None:
    out = run_with_dead_redis("call_command('check')", tmp_path)
    assert "advisor.W001" in out.stderr + out.stdout
    assert "does not answer" in out.stderr + out.stdout
