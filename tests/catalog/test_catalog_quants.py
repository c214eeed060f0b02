"""The quant catalog (advisor/catalog/data/quants.json) against llama.cpp's own tables and our quantizer."""

from __future__ import annotations

import pytest

from advisor.catalog.models_catalog import get_model
from advisor.catalog.quants import (
    UnknownQuant,
    UnknownRuntime,
    get_quant,
    get_runtime,
    load_quants,
    quality_cost_kld,
    quants_for_runtime,
)
from advisor.core import quantize
from advisor.core.ggml_types import GGMLType
from advisor.core.tensors import tensor_inventory

BRIEF_GGUF = [
    *("Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_1", "Q5_K_S"),
    *("Q5_K_M", "Q6_K", "Q8_0", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS"),
    *("IQ3_S", "IQ3_M", "IQ4_NL", "IQ4_XS", "MXFP4_MOE", "F16", "BF16", "F32"),
]

# tensor_requires_imatrix (src/llama-quant.cpp): these target types refuse to quantize without an imatrix.
_IMATRIX_TYPES = {
    GGMLType.IQ3_XXS,
    GGMLType.IQ2_XXS,
    GGMLType.IQ2_XS,
    GGMLType.IQ2_S,
    GGMLType.IQ1_M,
    GGMLType.IQ1_S,
}


def test_every_preset_and_hf_format_is_present() -> None:
    names = {q.name for q in load_quants()}
    assert set(BRIEF_GGUF) <= names
    assert {
        "bnb-nf4",
        "bnb-fp4",
        "bnb-int8",
        "gptq-4bit-g128",
        "awq-4bit-g128",
        "hf-fp16",
        "hf-bf16",
    } <= names


@pytest.mark.parametrize("name", [*BRIEF_GGUF, "Q2_K_S"])
def test_gguf_bits_per_weight_match_our_quantizer_on_llama_31_8b(name: str) -> None:
    """The README's bits/weight column (or our computed value) equals advisor.core.quantize's mix.

    IQ3_XXS is published with an importance matrix, which changes its attn_v type."""
    q = get_quant(name)
    shape = get_model("llama-3.1-8b").to_shape()
    types = quantize.tensor_types(shape, q.preset or name, has_imatrix=q.needs_imatrix)
    assert quantize.bits_per_weight(shape, types) == pytest.approx(q.bits_per_weight, abs=6e-5)


@pytest.mark.parametrize("name", [*BRIEF_GGUF, "Q2_K_S"])
def test_needs_imatrix_matches_the_tensor_types_the_preset_produces(name: str) -> None:
    q = get_quant(name)
    shape = get_model("llama-3.1-8b").to_shape()
    types = quantize.tensor_types(shape, q.preset or name)
    produced = {t for n, t in types.items() if n not in ("token_embd.weight", "output.weight")}
    requires = bool(produced & _IMATRIX_TYPES) or name == "Q2_K_S"  # Q2_K tensors of a Q2_K_S file
    assert q.needs_imatrix == requires


def test_scoreboard_values_are_transcribed() -> None:
    # tools/perplexity/README.md, LLaMA 3 8b Scoreboard.
    assert get_quant("Q4_K_M").measurement(imatrix=False).kld == 0.031273  # type: ignore[union-attr]
    assert get_quant("Q4_K_M").measurement(imatrix=True).kld == 0.028152  # type: ignore[union-attr]
    assert get_quant("Q8_0").kld() == 0.001355
    assert get_quant("IQ1_S").measurement().delta_ppl == 54.462959  # type: ignore[union-attr]
    assert get_quant("Q2_K").measurement(imatrix=False).delta_ppl == 3.519934  # type: ignore[union-attr]
    # Quants measured only with an imatrix answer with that row either way.
    assert get_quant("IQ4_XS").kld(imatrix=False) == 0.036334


def test_kld_grows_as_bits_fall_among_measured_k_quants() -> None:
    ladder = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K"]
    klds = [get_quant(n).kld(imatrix=False) for n in ladder]
    assert klds == sorted(klds)  # type: ignore[type-var]
    bits = [get_quant(n).bits_per_weight for n in ladder]
    assert bits == sorted(bits, reverse=True)


def test_proxies_resolve_to_measured_costs() -> None:
    assert quality_cost_kld(get_quant("bnb-nf4")) == get_quant("Q4_0").kld()
    assert quality_cost_kld(get_quant("gptq-4bit-g128")) == 0.031951  # Q4_K_S, WT 10m
    assert quality_cost_kld(get_quant("bnb-int8")) == 0.001355
    assert quality_cost_kld(get_quant("F32")) == 0.000551  # F16 row: only the logit-file downcast
    assert quality_cost_kld(get_quant("BF16")) == 0.00002515


def test_get_quant_is_forgiving_and_suggests() -> None:
    assert get_quant("q4_k_m").name == "Q4_K_M"
    assert get_quant("mxfp4").name == "MXFP4_MOE"
    assert get_quant("GPTQ_4bit_g128").name == "gptq-4bit-g128"
    with pytest.raises(UnknownQuant) as exc:
        get_quant("Q4_K_X")
    assert isinstance(exc.value, KeyError)
    assert "Q4_K_M" in str(exc.value) and "Q4_K_S" in str(exc.value)


def test_runtimes_and_what_they_load() -> None:
    assert get_runtime("llama.cpp").id == "llama-server"
    assert get_runtime("ollama").default_kv_type == "q8_0"
    assert get_runtime("transformers").default_kv_type == "f16"
    assert get_runtime("vllm").default_kv_type == "f16"
    with pytest.raises(UnknownRuntime):
        get_runtime("exllama")
    gguf = {q.name for q in quants_for_runtime("llama-cpp-python")}
    assert "IQ2_XXS" in gguf and "bnb-nf4" not in gguf
    hf = {q.name for q in quants_for_runtime("vllm")}
    assert {"awq-4bit-g128", "gptq-4bit-g128", "hf-bf16"} <= hf and "Q4_K_M" not in hf


def test_hf_nominal_bits_agree_with_the_quantizer_on_linear_layers() -> None:
    """bits_per_weight of HF formats is the Linear-layer rate; check it on one decoder projection."""
    shape = get_model("llama-3.1-8b").to_shape()
    spec = next(t for t in tensor_inventory(shape) if t.name == "blk.0.ffn_up.weight")
    for name, fmt in (
        ("bnb-nf4", quantize.HFFormat(quantize.HFQuant.BNB_NF4)),
        ("bnb-nf4-dq", quantize.HFFormat(quantize.HFQuant.BNB_NF4, double_quant=True)),
        ("awq-4bit-g128", quantize.HFFormat(quantize.HFQuant.AWQ)),
    ):
        got = 8 * quantize._linear_bytes(spec, fmt, is_router=False) / spec.n_elements
        assert got == pytest.approx(get_quant(name).bits_per_weight, abs=0.01), name
