"""docker-compose.yml describes the four services (no Docker engine here, so YAML is checked)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_web_worker_redis_postgres() -> None:
    services = load_compose()["services"]
    assert set(services) == {"web", "worker", "redis", "postgres"}
    assert "gunicorn advisor.wsgi:application" in services["web"]["command"]
    assert services["worker"]["command"] == "python manage.py start_worker"


def test_worker_reserves_an_nvidia_gpu() -> None:
    devices = load_compose()["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]


def test_database_and_broker_urls_switch_to_postgres_and_redis() -> None:
    env = load_compose()["services"]["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DEBUG"] == "0"


def test_docker_compose_config_when_the_client_has_compose() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        # No compose plugin on this machine: the YAML tests above are the check.
        return
    env = {"SECRET_KEY": "k", "POSTGRES_PASSWORD": "p", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([docker, "compose", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_the_compose_environment() -> None:
    import os
    import re
    import sys

    env = load_compose()["services"]["web"]["environment"]

    def expand(value: str) -> str:  # ${VAR:-default} -> default, ${VAR:?msg} -> a test value
        value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "compose-test-secret-value-that-is-long-and-random-4f9#x!", value)

    full = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    full.update({k: expand(v) for k, v in env.items() if k not in {"DATABASE_URL", "REDIS_URL"}})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=full, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
