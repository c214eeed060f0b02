"""``manage.py catalog``: the table and the --json records, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from advisor.catalog.models_catalog import REQUIRED_FIELDS, load_models

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    env = dict(os.environ, DEBUG="1", DJANGO_SETTINGS_MODULE="advisor.settings")
    done = subprocess.run(
        [sys.executable, "manage.py", "catalog", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_catalog_json_has_exactly_the_catalog_fields() -> None:
    records = json.loads(_run("--json"))
    assert len(records) == len(load_models())
    assert all(set(r) == REQUIRED_FIELDS for r in records)
    llama = next(r for r in records if r["id"] == "llama-3.1-8b-instruct")
    shape = (llama["n_layers"], llama["hidden_size"], llama["n_kv_heads"], llama["vocab_size"])
    assert shape == (32, 4096, 8, 128256)
    assert llama["hf_repo"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_catalog_json_notes_on_request() -> None:
    records = json.loads(_run("--json", "--notes"))
    maverick = next(r for r in records if r["id"] == "llama-4-maverick-17b-128e-instruct")
    assert "interleave_moe_layer_step" in maverick["notes"]


def test_catalog_table_lists_every_model() -> None:
    out = _run()
    lines = out.splitlines()
    assert lines[-1] == f"{len(load_models())} models"
    row = next(line for line in lines if line.startswith("qwen3-30b-a3b "))
    assert "qwen3moe" in row and "30.53B" in row


def test_a_reader_that_went_away_gets_no_traceback() -> None:
    # `manage.py catalog --json | head -1`: the reader has closed its end of the pipe. Closing it before the
    # command starts makes every write fail with EPIPE, however fast either side runs.
    env = dict(os.environ, DEBUG="1", DJANGO_SETTINGS_MODULE="advisor.settings")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "catalog", "--json"],
            cwd=ROOT, env=env, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    assert done.returncode == 1
