"""Fixtures of the page tests (tests/web/test_page_*.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakehub import FakeFile, FakeHub, FakeRepo, use_fake_hub


@pytest.fixture
def own_cache(settings: Any, request: pytest.FixtureRequest) -> None:
    """A fresh in-memory cache per test: rate-limit counters and cached reports do not leak between tests."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": request.node.nodeid}}  # fmt: skip


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    config = (Path(__file__).parents[1] / "fixtures" / "hf_configs" / "qwen3-8b.json").read_bytes()
    hub = FakeHub()
    hub.add(FakeRepo("someone/Qwen3-8B-Variant", {"config.json": FakeFile(data=config)},
                     card_data={"license": "apache-2.0"}))  # fmt: skip
    # An architecture llama.cpp has but the inventories lack: Qwen3-8B's widths relabelled StarCoder2.
    unknown = json.loads(config) | {"model_type": "starcoder2", "architectures": ["Starcoder2ForCausalLM"]}
    hub.add(FakeRepo("someone/Coder-Unknown-Arch", {"config.json": FakeFile(data=json.dumps(unknown).encode())},
                     card_data={"license": "apache-2.0"}))  # fmt: skip
    hub.start()
    use_fake_hub(hub, monkeypatch, tmp_path)
    yield hub
    hub.stop()
