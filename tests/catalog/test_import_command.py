"""`manage.py import_hf` against the local fake Hub: stores an entry, or fails with one line and stores nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.models import CatalogEntry
from tests.catalog.test_hub_import import hub, split_shards  # noqa: F401  (fixtures)
from tests.conftest import worker_db_url
from tests.fakehub import FakeHub

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def import_hf(repo: str, hub_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env |= {"HF_ENDPOINT": hub_url, "HF_HOME": str(tmp_path / "hf"), "DEBUG": "1", "DATABASE_URL": worker_db_url()}
    return subprocess.run([sys.executable, "manage.py", "import_hf", repo], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_import_of_a_model_already_in_the_catalog_says_so(hub: FakeHub, tmp_path: Path) -> None:  # noqa: F811
    out = import_hf("Qwen/Qwen3-30B-A3B", hub.url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "qwen3-30b-a3b is already in the catalog" in out.stdout
    assert not CatalogEntry.objects.filter(hf_repo="Qwen/Qwen3-30B-A3B").exists()


def test_import_gguf_repo_records_each_quant_file(hub: FakeHub, tmp_path: Path) -> None:  # noqa: F811
    out = import_hf("fake-org/SmolLM2-135M-Instruct-GGUF", hub.url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "imported smollm2-135m-instruct-gguf" in out.stdout
    entry = CatalogEntry.objects.get(model_id="smollm2-135m-instruct-gguf")
    assert entry.origin == "hub"
    assert entry.hf_repo == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the canonical repo, from base_model
    assert entry.gguf_files[0]["quant"] == "Q4_1"


@pytest.mark.parametrize(("repo", "fragment"), [("google/gated-model", "gated"), ("fake-org/no-config", "config")])
def test_failed_import_is_one_line_and_stores_nothing(hub: FakeHub, tmp_path: Path, repo: str, fragment: str) -> None:  # noqa: F811
    before = CatalogEntry.objects.count()
    out = import_hf(repo, hub.url, tmp_path)
    assert out.returncode == 2
    assert fragment in out.stderr.lower() and "Traceback" not in out.stderr
    assert CatalogEntry.objects.count() == before
