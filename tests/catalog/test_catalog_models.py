"""The model catalog: record validity, parameter counts and exact spot checks.

Parameter tolerance: ``count_params`` leaves out biases, attention sinks, rotary
tables and multi-token-prediction heads, which are a few percent at most (gpt-oss has
biases on every expert: -3%; DeepSeek V3's 14B MTP layer: -2%). So every record must
land within 5% of its stated ``params_total``. Records the catalog fields cannot
describe are listed in ``PARAM_EXCEPTIONS`` with the reason, and each of them must
explain itself in its ``notes``.
"""

from __future__ import annotations

import json

import pytest

from advisor.catalog import models_catalog
from advisor.catalog.models_catalog import CatalogError, get_model, load_models, parse_record
from advisor.core.params import count_params
from advisor.core.shape import llama_cpp_arch

MODELS = load_models()
IDS = [m.id for m in MODELS]

PARAM_TOLERANCE = 0.05
# id -> a phrase its notes must contain, saying why count_params cannot match.
PARAM_EXCEPTIONS = {
    "llama-4-maverick-17b-128e-instruct": "interleave_moe_layer_step",
    "gemma-3-4b-it": "vision encoder",
    "gemma-3-4b-it-qat": "vision encoder",
    "nemotron-3-nano-30b-a3b": "hybrid_override_pattern",
    "nemotron-3-super-120b-a12b": "hybrid_override_pattern",
    "nemotron-nano-9b-v2": "hybrid_override_pattern",
}


def test_catalog_has_at_least_180_models() -> None:
    assert len(MODELS) >= 180


def test_ids_are_unique() -> None:
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_count_params_matches_stated_total(model: models_catalog.CatalogModel) -> None:
    total, _active = count_params(model.to_shape())
    error = abs(total - model.params_total) / model.params_total
    if model.id in PARAM_EXCEPTIONS:
        assert PARAM_EXCEPTIONS[model.id] in model.notes
        assert error > PARAM_TOLERANCE, "exception no longer needed: remove it"
    else:
        assert error <= PARAM_TOLERANCE, f"{model.id}: computed {total:,} vs stated {model.params_total:,}"


def test_exceptions_name_real_records() -> None:
    assert set(PARAM_EXCEPTIONS) <= set(IDS)


@pytest.mark.parametrize("model", [m for m in MODELS if m.is_moe], ids=lambda m: m.id)
def test_moe_active_below_total(model: models_catalog.CatalogModel) -> None:
    assert model.params_active < model.params_total
    total, active = count_params(model.to_shape())
    assert active < total
    assert model.n_experts_used < model.n_experts


@pytest.mark.parametrize("model", [m for m in MODELS if not m.is_moe], ids=lambda m: m.id)
def test_dense_active_equals_total(model: models_catalog.CatalogModel) -> None:
    assert model.params_active == model.params_total


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_arch_and_swa_pattern(model: models_catalog.CatalogModel) -> None:
    shape = model.to_shape()
    assert shape.arch == llama_cpp_arch(model.model_type, model.n_experts)
    if model.model_type in models_catalog.SWA_MODEL_TYPES or model.model_type == "exaone4":
        assert model.sliding_window and model.swa_pattern, "an SWA architecture needs its window and pattern"
        assert len(shape.swa_layers) == model.n_layers
        assert any(shape.swa_layers) and not all(shape.swa_layers)
    if model.model_type in {"llama", "mistral", "mistral3"}:
        assert shape.swa_layers == ()  # llama.cpp loads these without a window


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_every_record_cites_sources(model: models_catalog.CatalogModel) -> None:
    assert model.sources and all(s.startswith("https://") for s in model.sources)
    assert any(s.startswith(f"https://huggingface.co/{model.hf_repo}") for s in model.sources) or any(
        "config.json" in s for s in model.sources
    )


QUALITY_METRICS = {
    "MMLU-Pro (Open LLM Leaderboard v2, normalized)",
    "MMLU-Pro (reported by the developer)",
    "MMLU-Pro (reported by the developer), of the unquantized model",
    "MMLU-Pro (base model, reported by the developer)",
    "MMLU-Pro (of the base model, reported by the developer)",
}


@pytest.mark.parametrize("model", [m for m in MODELS if m.quality], ids=lambda m: m.id)
def test_quality_is_a_known_metric_in_range(model: models_catalog.CatalogModel) -> None:
    assert model.quality is not None
    assert model.quality.metric in QUALITY_METRICS  # scores are comparable only within one metric
    assert 0 < model.quality.score <= 100
    assert model.quality.source.startswith("https://")


@pytest.mark.parametrize("model", [m for m in MODELS if "long-documents" in m.use_cases], ids=lambda m: m.id)
def test_long_document_models_have_long_contexts(model: models_catalog.CatalogModel) -> None:
    assert model.context_max >= 65536


def test_most_records_have_quality_and_gguf_repos() -> None:
    assert sum(1 for m in MODELS if m.quality) >= 100
    assert sum(1 for m in MODELS if m.gguf_repos) >= 100
    for m in MODELS:
        assert all(repo.count("/") == 1 and "gguf" in repo.lower() for repo in m.gguf_repos), m.id


def test_spot_check_llama_3_1_8b() -> None:
    m = get_model("llama-3.1-8b-instruct")
    assert (m.n_layers, m.hidden_size, m.n_heads, m.n_kv_heads, m.head_dim) == (32, 4096, 32, 8, 128)
    assert (m.ffn_size, m.vocab_size, m.context_max, m.tied_embeddings) == (14336, 128256, 131072, False)
    assert count_params(m.to_shape())[0] == 8_030_261_248  # the safetensors count, exactly


def test_spot_check_gemma_3_12b_swa() -> None:
    shape = get_model("gemma-3-12b-it").to_shape()
    assert shape.arch == "gemma3" and shape.sliding_window == 1024
    # Layer i is SWA iff (i + 1) % 6 != 0: layers 5, 11, ... are full attention.
    assert [i for i, swa in enumerate(shape.swa_layers) if not swa] == list(range(5, 48, 6))


def test_spot_check_gemma_2_and_gpt_oss_alternate() -> None:
    for model_id in ("gemma-2-9b-it", "gpt-oss-20b"):
        shape = get_model(model_id).to_shape()
        assert shape.swa_layers[:4] == (True, False, True, False)
    assert get_model("gpt-oss-20b").to_shape().sliding_window == 128


def test_spot_check_qwen3_30b_a3b_moe() -> None:
    m = get_model("qwen3-30b-a3b")
    assert (m.n_layers, m.hidden_size, m.n_heads, m.n_kv_heads, m.head_dim) == (48, 2048, 32, 4, 128)
    assert (m.n_experts, m.n_experts_used, m.expert_ffn_size) == (128, 8, 768)
    total, active = count_params(m.to_shape())
    # Safetensors count of Qwen/Qwen3-30B-A3B; count_params skips the 48 x 256 q/k-norm weights.
    assert 30_532_122_624 - total == 48 * 2 * 128
    assert 3.2e9 < active < 3.4e9  # the model card's "3.3B activated"


def test_spot_check_deepseek_v3_mla() -> None:
    shape = get_model("deepseek-v3").to_shape()
    assert shape.is_mla and shape.arch == "deepseek2"
    assert (shape.kv_lora_rank, shape.qk_rope_head_dim, shape.q_lora_rank) == (512, 64, 1536)
    assert (shape.first_dense_layers, shape.n_experts, shape.shared_experts) == (3, 256, 1)
    total, active = count_params(shape)
    assert 670e9 < total < 672e9  # 671B main model; the 14B MTP module is not in the GGUF
    assert 36e9 < active < 38e9  # "37B activated"


def test_spot_check_granite_4_hybrid_layers() -> None:
    m = get_model("granite-4.0-h-tiny")
    shape = m.to_shape()
    assert shape.arch == "granitehybrid"
    attention = [i for i, recurrent in enumerate(shape.recurrent_layers) if not recurrent]
    assert attention == [5, 15, 25, 35]  # config.json layer_types: 4 attention layers among 40
    assert [shape.kv_heads_at(i) for i in (4, 5)] == [0, 4]
    assert (shape.ssm_d_state, shape.ssm_d_inner, shape.ssm_n_group, shape.ssm_dt_rank) == (128, 3072, 1, 48)
    assert count_params(shape)[0] == m.params_total  # the safetensors count, exactly


def test_spot_check_qwen3_next_linear_attention() -> None:
    shape = get_model("qwen3-next-80b-a3b-instruct").to_shape()
    assert shape.arch == "qwen3next"
    # full_attention_interval 4: layers 3, 7, ... keep a KV cache, the rest are gated delta-net layers.
    assert [i for i, r in enumerate(shape.recurrent_layers) if not r] == list(range(3, 48, 4))
    assert (shape.n_experts, shape.n_experts_used, shape.shared_experts) == (512, 10, 1)


def test_spot_check_mistral_nemo_head_dim() -> None:
    m = get_model("mistral-nemo-instruct-2407")
    assert (m.hidden_size, m.n_heads, m.head_dim) == (5120, 32, 128)  # head_dim is not 5120 / 32


def test_get_model_suggests_near_matches() -> None:
    with pytest.raises(KeyError, match=r"llama-3\.1-8b-instruct"):
        get_model("llama-3.1-8b-instruc")


def _valid_record() -> dict[str, object]:
    return get_model("llama-3.1-8b-instruct").to_record(with_notes=True)


def test_parse_record_round_trips() -> None:
    record = _valid_record()
    assert parse_record(json.loads(json.dumps(record)), "t") == get_model("llama-3.1-8b-instruct")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_layers": "32"}, "n_layers"),
        ({"tied_embeddings": 1}, "tied_embeddings"),
        ({"model_type": "nope"}, "model_type"),
        ({"sources": []}, "sources"),
        ({"use_cases": ["gaming"]}, "use_cases"),
        ({"swa_pattern": 4, "sliding_window": None}, "swa_pattern"),
        ({"params_active": 9_000_000_000}, "params_active"),
        ({"extra_field": 1}, "unknown fields"),
    ],
)
def test_parse_record_rejects_bad_values(change: dict[str, object], message: str) -> None:
    record = _valid_record() | change
    with pytest.raises(CatalogError, match=message):
        parse_record(record, "t")


def test_missing_field_is_named() -> None:
    record = _valid_record()
    del record["vocab_size"]
    with pytest.raises(CatalogError, match="missing fields: vocab_size"):
        parse_record(record, "t")


def test_duplicate_ids_are_rejected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    record = _valid_record()
    (tmp_path / "a.json").write_text(json.dumps([record]))
    (tmp_path / "b.json").write_text(json.dumps([record]))
    with pytest.raises(CatalogError, match="duplicate id"):
        models_catalog._load_dir(tmp_path)
