"""config.json readers of the architectures the inventories cover (advisor/core/hf_config.py).

Two checks: a config written from a catalog record gives the record's own tensors, sliding window and
recurrent layers (the Hub import and the catalog agree), and the published configs in
bench/arch_cpu_loads.py (the ones llama.cpp loaded as stand-ins) give the values their model cards state.
"""

from __future__ import annotations

from typing import Any

import pytest

from advisor.catalog.models_catalog import CatalogModel, load_models
from advisor.core.hf_config import InvalidConfig, shape_from_hf_config
from advisor.core.memory import recurrent_state_bytes_per_seq
from advisor.core.shape import ModelShape
from advisor.core.tensors import tensor_inventory
from tests.core.test_core_arch_inventory import bench_module as _bench

# model_types whose config reader came with the inventories, and that the catalog has records of
NEW_TYPES = ("cohere", "cohere2", "gemma", "glm4", "glm4_moe", "olmo2", "granite", "exaone4", "minimax_m2")
NEW_TYPES += ("seed_oss", "smollm3", "llama4")


def _config(m: CatalogModel) -> dict[str, Any]:
    """The config.json keys each family's converter reads, filled from the catalog record."""
    extras = dict(m.extras)
    c: dict[str, Any] = {
        "model_type": m.model_type,
        "num_hidden_layers": m.n_layers,
        "hidden_size": m.hidden_size,
        "num_attention_heads": m.n_heads,
        "num_key_value_heads": m.n_kv_heads,
        "head_dim": m.head_dim,
        "intermediate_size": m.ffn_size,
        "vocab_size": m.vocab_size,
        "max_position_embeddings": m.context_max,
        "tie_word_embeddings": m.tied_embeddings,
    }
    if m.sliding_window and m.model_type in ("cohere2", "exaone4"):
        c.update(sliding_window=m.sliding_window, sliding_window_pattern=m.swa_pattern)
    if m.model_type == "glm4_moe":
        c.update(
            n_routed_experts=m.n_experts,
            num_experts_per_tok=m.n_experts_used,
            moe_intermediate_size=m.expert_ffn_size,
            n_shared_experts=m.shared_experts,
            first_k_dense_replace=m.first_dense_layers,
            use_qk_norm=bool(extras.get("qk_norm", False)),
        )
    elif m.model_type == "minimax_m2":
        c.update(num_local_experts=m.n_experts, num_experts_per_tok=m.n_experts_used)
    elif m.model_type == "llama4":
        c.update(
            intermediate_size=m.expert_ffn_size,
            intermediate_size_mlp=m.ffn_size,
            num_local_experts=m.n_experts,
            num_experts_per_tok=m.n_experts_used,
            interleave_moe_layer_step=extras.get("moe_layer_step", 1),
        )
        if extras.get("rope_freqs"):
            c["rope_scaling"] = {"rope_type": "llama3", "factor": 16.0}
        return {"model_type": "llama4", "text_config": c}
    return c


@pytest.mark.parametrize("model", [m for m in load_models() if m.model_type in NEW_TYPES], ids=lambda m: m.id)
def test_config_of_a_record_gives_the_records_tensors(model: CatalogModel) -> None:
    ours = shape_from_hf_config(_config(model), model.id)
    theirs = model.to_shape()
    assert ours.arch == theirs.arch
    assert tensor_inventory(ours) == tensor_inventory(theirs)
    assert (ours.sliding_window, ours.swa_layers) == (theirs.sliding_window, theirs.swa_layers)


def _published(arch: str) -> ModelShape:
    bench = _bench()
    for src, config in bench.EXTRA_CONFIGS.values():
        s = shape_from_hf_config(config, src)
        if s.arch == arch:
            return s
    raise AssertionError(arch)


def test_nemotron_3_nano() -> None:
    s = _published("nemotron_h_moe")
    assert (s.n_layers, s.n_experts, s.n_experts_used, s.expert_ffn_size, s.shared_expert_ffn_size) == (
        52, 128, 6, 1856, 3712
    )  # fmt: skip
    assert sum(s.recurrent_layers) == 23 and sum(1 for k in s.n_kv_heads_per_layer if k) == 6
    assert sum(1 for f in s.n_ff_per_layer if f) == 23
    # llama_hparams::n_embd_r/n_embd_s: conv (4-1) x (4096 + 2*8*128) and state 128 x 4096, F32
    assert s.ssm_d_inner == 4096 and recurrent_state_bytes_per_seq(s) == 4 * (3 * 6144 + 128 * 4096)


def test_nemotron_layers_block_type_reads_like_the_pattern() -> None:
    # newer Nemotron-H configs (Nemotron 3.5) list layers_block_type instead of hybrid_override_pattern;
    # conversion/nemotron.py reads either
    config = dict(_bench().EXTRA_CONFIGS["nemotron_h_moe"][1])
    names = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
    config["layers_block_type"] = [names[c] for c in config.pop("hybrid_override_pattern")]
    assert shape_from_hf_config(config) == _published("nemotron_h_moe")


def test_falcon_h1_runs_attention_and_mamba_in_every_layer() -> None:
    s = _published("falcon-h1")
    assert all(s.recurrent_layers) and s.n_kv_heads == 2 and s.head_dim == 64
    inv = tensor_inventory(s)
    assert sum(1 for t in inv if t.name.endswith("ssm_in.weight")) == 36
    assert sum(1 for t in inv if t.name.endswith("attn_q.weight")) == 36
    assert not any(t.name.endswith("ssm_norm.weight") for t in inv)  # mamba_rms_norm: false
    assert ("blk.0.ffn_norm", (1024,)) in {(t.name, t.dims) for t in inv}


def test_lfm2_feed_forward_is_llama_adjusted() -> None:
    s = _published("lfm2")
    # block_ff_dim 12288 with block_auto_adjust_ff_dim: 2/3, rounded to 256 -> 8192 (conversion/lfm2.py)
    assert s.ffn_size == 8192
    assert [i for i, k in enumerate(s.n_kv_heads_per_layer) if k] == [2, 5, 8, 10, 12, 14]


def test_qwen3_5_layers() -> None:
    dense, moe = _published("qwen35"), _published("qwen35moe")
    assert sum(dense.recurrent_layers) == 48 and sum(moe.recurrent_layers) == 30
    assert (moe.n_experts, moe.expert_ffn_size, moe.shared_expert_ffn_size) == (256, 512, 512)
    # gated attention: attn_q is twice n_head * head_dim wide
    q = next(t for t in tensor_inventory(dense) if t.name == "blk.3.attn_q.weight")
    assert q.dims == (5120, 2 * 24 * 256)


def test_nemotron_pattern_must_match_the_layers() -> None:
    bench = _bench()
    _src, config = bench.EXTRA_CONFIGS["nemotron_h"]
    with pytest.raises(InvalidConfig, match="hybrid_override_pattern"):
        shape_from_hf_config({**config, "hybrid_override_pattern": "M*M"})
    with pytest.raises(InvalidConfig, match="hybrid_override_pattern"):
        shape_from_hf_config({**config, "hybrid_override_pattern": "M*MX"})


def test_olmo3_is_olmo2_with_a_sliding_window() -> None:
    # allenai/Olmo-3-7B-Instruct widths; conversion/olmo.py converts it to arch olmo2 with the window and
    # a pattern of three sliding layers and one full layer
    s = shape_from_hf_config(
        {"model_type": "olmo3", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
         "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 100278,
         "max_position_embeddings": 65536, "sliding_window": 4096,
         "layer_types": (["sliding_attention"] * 3 + ["full_attention"]) * 8}
    )  # fmt: skip
    assert (s.arch, s.sliding_window) == ("olmo2", 4096)
    assert [i for i, w in enumerate(s.swa_layers) if not w] == [3, 7, 11, 15, 19, 23, 27, 31]
    assert sum(1 for t in tensor_inventory(s) if t.name.endswith("attn_k_norm.weight")) == 32
