"""Turn a Hugging Face ``config.json`` into a ``ModelShape``.

The rules follow what llama.cpp's converter writes into the GGUF and what llama.cpp then
reads back, as vendored in llama-cpp-python 0.3.36:

- ``conversion/base.py`` (``TextModel.set_gguf_parameters``, ``find_hparam``): which config keys
  become ``block_count``, ``embedding_length``, ``head_count`` ... and that a nested
  ``text_config`` is merged over the top level.
- ``src/llama-model.cpp`` (generic ``load_hparams``): ``key_length`` defaults to
  ``n_embd / n_head``, ``head_count_kv`` defaults to ``head_count``; at most
  ``LLAMA_MAX_LAYERS`` = 512 layers (``src/llama-hparams.h``).
- ``src/models/<arch>.cpp`` (``load_arch_hparams``): which architectures honour a sliding
  window, and with which layer pattern.

Conventions shared with the catalog (``advisor/catalog/models_catalog.py``):

- MLA models (DeepSeek V2/V3) keep Hugging Face's head geometry: ``head_dim`` =
  ``qk_nope_head_dim + qk_rope_head_dim``, ``n_kv_heads`` = ``num_key_value_heads``,
  ``value_head_dim`` = ``v_head_dim``; the KV engine sizes the latent cache from
  ``kv_lora_rank`` and ``qk_rope_head_dim``.
- ``shared_experts`` counts shared experts and ``shared_expert_ffn_size`` is the FFN width of
  one of them (``advisor/core/params.py`` counts ``shared_experts * 3 * d * shared_expert_ffn_size``):
  Qwen's single shared block is ``shared_expert_intermediate_size`` wide, DeepSeek's
  ``n_shared_experts`` blocks are ``moe_intermediate_size`` wide each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from advisor.core.shape import HF_MODEL_TYPE_TO_ARCH, ModelShape, llama_cpp_arch
from advisor.core.tensors import SUPPORTED_ARCHS

# src/llama-hparams.h: ``#define LLAMA_MAX_LAYERS 512``; also keeps per-layer tuples small.
MAX_LAYERS = 512
# src/llama-hparams.h: ``#define LLAMA_MAX_EXPERTS 1024``.
MAX_EXPERTS = 1024
# A config.json larger than this is not a config (the largest real ones, with
# ``layer_types`` lists and quantization tables, are tens of KiB).
MAX_CONFIG_BYTES = 4 * 1024 * 1024

# The model_types this module knows how to read. Others in HF_MODEL_TYPE_TO_ARCH have a
# llama.cpp architecture but no reader here yet.
SUPPORTED_MODEL_TYPES: frozenset[str] = frozenset(
    {
        "llama",
        "mistral",
        "mixtral",
        "qwen2",
        "qwen2_moe",
        "qwen3",
        "qwen3_moe",
        "qwen3_next",
        "qwen3_vl",
        "qwen3_vl_moe",
        "gemma2",
        "gemma3",
        "gemma3_text",
        "phi3",
        "deepseek_v2",
        "deepseek_v3",
        "kimi_k2",
        "kimi_k25",
        "glm4_moe_lite",
        "gpt_oss",
        "granitemoehybrid",
        # Architectures read since the inventories cover them (advisor/core/inventories.py).
        "apertus",
        "cohere",
        "dots1",
        "ernie4_5",
        "ernie4_5_moe",
        "cohere2",
        "exaone4",
        "falcon_h1",
        "gemma",
        "gemma3n",
        "gemma3n_text",
        "gemma4",
        "gemma4_text",
        "laguna",
        "glm4",
        "glm4_moe",
        "granite",
        "granitemoe",
        "granitemoeshared",
        "hunyuan_v1_dense",
        "lfm2",
        "lfm2_moe",
        "llama4",
        "minimax_m2",
        "ministral3",
        "nemotron_h",
        "olmo2",
        "olmo3",
        "olmoe",
        "qwen3_5",
        "qwen3_5_moe",
        "seed_oss",
        "smollm3",
    }
)

# Sliding-window layer period per model_type: layer i is SWA iff i % p < p - 1
# (src/llama-hparams.cpp ``set_swa_pattern`` with dense_first = false).
# gemma2 and gpt-oss: ``load_swa_pattern(ml, 2)`` (src/models/gemma2.cpp, openai-moe.cpp);
# gemma3: ``load_swa_pattern(ml, 6)`` (src/models/gemma3.cpp).
# llama/mistral/mixtral (src/models/llama.cpp) and phi3 (src/models/phi3.cpp, "Phi SWA is
# currently disabled") never set a sliding window, so they are absent here on purpose.
SWA_PERIOD: dict[str, int] = {
    "gemma2": 2,
    "gpt_oss": 2,
    "gemma3": 6,
    "gemma3_text": 6,
    "cohere2": 4,
    "exaone4": 4,
    "gemma3n": 5,  # src/models/gemma3n.cpp: load_swa_pattern(ml, 5)
    "gemma3n_text": 5,
    # conversion/gemma.py (Gemma4Model) writes the per-layer flags from layer_types (always present)
    "gemma4": 6,
    "gemma4_text": 6,
    # conversion/laguna.py writes the window; src/models/laguna.cpp load_swa_pattern(ml, 4, dense_first=true)
    # (full at layer % 4 == 0): the flags come from layer_types, which Laguna configs carry
    "laguna": 4,
    # conversion/olmo.py writes Olmo 3's window with a pattern from layer_types (default: every 4th layer
    # full); src/models/olmo2.cpp load_swa_pattern(ml, 4)
    "olmo3": 4,
}
# src/models/exaone4.cpp turns sliding windows on only for the 64-layer (32B) model.
EXAONE4_SWA_LAYERS = 64
# src/models/llama4.cpp: chunked attention over 8192 tokens on 3 layers of every 4 unless the converter
# wrote sliding_window 0 (every layer_types entry "full_attention").
LLAMA4_CHUNK = 8192
LLAMA4_CHUNK_PERIOD = 4

# src/models/gemma2.cpp: ``hparams.n_swa = 4096; // default value of gemma 2``.
GEMMA2_DEFAULT_WINDOW = 4096
# conversion/qwen.py (Qwen3NextModel): ``full_attention_interval`` defaults to 4.
QWEN3_NEXT_DEFAULT_INTERVAL = 4
# conversion/gemma.py (Gemma3Model): defaults the converter writes when a key is absent.
GEMMA3_DEFAULTS = {
    "max_position_embeddings": 131072,
    "num_attention_heads": 8,
    "head_dim": 256,
    "num_key_value_heads": 4,
}

# ``tie_word_embeddings`` when the config omits it: the default of the family's transformers config
# class. Gemma 2/3 configs on the Hub leave the key out and their output head is the embedding
# table (the catalog's records agree); the other families here default to untied (e.g. transformers
# ``models/granitemoehybrid/configuration_granitemoehybrid.py``: ``tie_word_embeddings=False``).
TIED_DEFAULT: dict[str, bool] = {
    "gemma": True,
    "gemma3n": True,
    "gemma3n_text": True,
    "gemma4": True,
    "gemma4_text": True,
    "gemma2": True,
    "gemma3": True,
    "gemma3_text": True,
    # transformers CohereConfig / Cohere2Config default tie_word_embeddings=True (and their loaders in
    # llama.cpp always tie the output)
    "cohere": True,
    "cohere2": True,
    # transformers Lfm2Config / Lfm2MoeConfig default tie_word_embeddings=True (LFM2 v1 configs say
    # "tie_embedding": true instead)
    "lfm2": True,
    "lfm2_moe": True,
}
# attention_bias when a config omits it, for the families whose llama.cpp loader takes q/k/v biases:
# transformers Glm4Config / Glm4MoeConfig and SeedOssConfig default it to True.
ATTENTION_BIAS_DEFAULT: dict[str, bool] = {"glm4": True, "glm4_moe": True, "seed_oss": True}

_RECURRENT_LAYER_TYPES = frozenset({"linear_attention", "mamba", "mamba2", "conv"})
_ATTENTION_LAYER_TYPES = frozenset({"full_attention", "sliding_attention", "attention"})


class InvalidConfig(ValueError):
    """The config.json is malformed: not JSON, missing a key, or a value of the wrong kind."""


class UnsupportedModel(ValueError):
    """The config is well formed but describes an architecture this importer cannot read."""


def _where(source: str) -> str:
    return source or "config.json"


class _Config:
    """A merged config (``text_config`` over the top level) with checked accessors."""

    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.source = _where(source)
        merged: dict[str, Any] = dict(raw)
        text = raw.get("text_config")
        if text is not None:
            if not isinstance(text, Mapping):
                raise InvalidConfig(f"{self.source}: 'text_config' must be an object, got {type(text).__name__}")
            # conversion/base.py: ``self.hparams = {**self.hparams, **self.hparams["text_config"]}``.
            merged.update(text)
        self.values = merged

    def has(self, key: str) -> bool:
        return self.values.get(key) is not None

    def _int(self, key: str, value: Any, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            # JSON writers sometimes emit 4096.0; accept integral floats only.
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise InvalidConfig(f"{self.source}: '{key}' must be an integer, got {value!r}")
        if value < minimum:
            raise InvalidConfig(f"{self.source}: '{key}' must be at least {minimum}, got {value}")
        return int(value)

    def req(self, *keys: str, minimum: int = 1) -> int:
        """The first of ``keys`` present (converter's ``find_hparam`` order); missing -> error."""
        for key in keys:
            if self.has(key):
                return self._int(key, self.values[key], minimum)
        also = f" (also looked for {', '.join(repr(k) for k in keys[1:])})" if len(keys) > 1 else ""
        raise InvalidConfig(f"{self.source} is missing {keys[0]!r}{also}")

    def opt(self, *keys: str, default: int, minimum: int = 0) -> int:
        for key in keys:
            if self.has(key):
                return self._int(key, self.values[key], minimum)
        return default

    def flag(self, key: str, default: bool) -> bool:
        value = self.values.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidConfig(f"{self.source}: '{key}' must be true or false, got {value!r}")
        return value

    def str_list(self, key: str) -> tuple[str, ...] | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidConfig(f"{self.source}: '{key}' must be a list of strings")
        return tuple(value)


def model_type_of(config: Mapping[str, Any]) -> str:
    """The config's ``model_type`` (top level first, then ``text_config``); '' when absent."""
    value = config.get("model_type")
    if not value:
        text = config.get("text_config")
        if isinstance(text, Mapping):
            value = text.get("model_type")
    return value if isinstance(value, str) else ""


def _period_pattern(n_layers: int, period: int) -> tuple[bool, ...]:
    return tuple(i % period < period - 1 for i in range(n_layers))


def _layer_types(cfg: _Config, n_layers: int) -> tuple[str, ...] | None:
    types = cfg.str_list("layer_types")
    if types is None:
        return None
    if len(types) != n_layers:
        raise InvalidConfig(f"{cfg.source}: 'layer_types' has {len(types)} entries for {n_layers} layers")
    unknown = set(types) - _RECURRENT_LAYER_TYPES - _ATTENTION_LAYER_TYPES
    if unknown:
        raise UnsupportedModel(f"{cfg.source}: unknown layer types {sorted(unknown)}")
    return types


def _swa(cfg: _Config, model_type: str, n_layers: int) -> tuple[int | None, tuple[bool, ...]]:
    """Sliding window and the per-layer SWA flags, as llama.cpp would load them."""
    period = SWA_PERIOD.get(model_type)
    if period is None:
        return None, ()
    if model_type == "exaone4" and n_layers != EXAONE4_SWA_LAYERS:
        return None, ()
    if model_type == "gemma2":
        window = cfg.opt("sliding_window", default=GEMMA2_DEFAULT_WINDOW, minimum=1)
    elif model_type in ("gpt_oss", "cohere2", "exaone4"):
        # src/models/openai-moe.cpp, cohere2.cpp read the window as a required key; exaone4.cpp has 4096 as
        # default, which the 32B config states too.
        window = cfg.req("sliding_window")
        if model_type != "gpt_oss":
            period = cfg.opt("sliding_window_pattern", default=period, minimum=1)
    else:
        # conversion/gemma.py writes the window unless ``sliding_window_pattern`` is 1, and
        # src/models/gemma3.cpp turns SWA off without one.
        if cfg.values.get("sliding_window_pattern") == 1 or not cfg.has("sliding_window"):
            return None, ()
        window = cfg.req("sliding_window")
        # Gemma 3 configs state the period as ``sliding_window_pattern`` (older) or
        # ``_sliding_window_pattern`` next to ``layer_types`` (newer).
        period = cfg.opt("sliding_window_pattern", "_sliding_window_pattern", default=period, minimum=1)
    types = _layer_types(cfg, n_layers)
    if types is not None and any(t == "sliding_attention" for t in types):
        flags = tuple(t == "sliding_attention" for t in types)
    else:
        flags = _period_pattern(n_layers, period)
    if not any(flags):
        return None, ()
    return window, flags


def _recurrent_qwen3_next(cfg: _Config, n_layers: int) -> tuple[bool, ...]:
    # conversion/qwen.py (Qwen3NextModel) writes ``layer_types == "linear_attention"`` when
    # present; otherwise src/models/qwen3next.cpp uses ``(i + 1) % full_attention_interval != 0``.
    types = _layer_types(cfg, n_layers)
    if types is not None:
        return tuple(t in _RECURRENT_LAYER_TYPES for t in types)
    interval = cfg.opt("full_attention_interval", default=QWEN3_NEXT_DEFAULT_INTERVAL, minimum=1)
    return tuple((i + 1) % interval != 0 for i in range(n_layers))


def _attention_layers_granite(cfg: _Config, n_layers: int) -> tuple[bool, ...]:
    # conversion/granite.py (GraniteHybridModel.get_attn_layers): ``layer_types`` entries equal
    # to "attention", else ``attn_layer_indices``, else ``attn_layer_period``/``attn_layer_offset``.
    types = _layer_types(cfg, n_layers)
    if types is not None:
        return tuple(t == "attention" for t in types)
    indices = cfg.values.get("attn_layer_indices")
    if indices:
        if not isinstance(indices, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n_layers for i in indices
        ):
            raise InvalidConfig(f"{cfg.source}: 'attn_layer_indices' must list layer numbers below {n_layers}")
        return tuple(i in set(indices) for i in range(n_layers))
    period = cfg.req("attn_layer_period")
    offset = cfg.req("attn_layer_offset", minimum=0)
    return tuple(i % period == offset for i in range(n_layers))


# model_types whose config may state attention_bias for a loader that takes optional q/k/v biases.
_NEW_TYPES = frozenset(
    {"apertus", "exaone4", "granite", "granitemoe", "granitemoeshared", "olmo2", "smollm3", "llama4", "minimax_m2"}
    | {"ernie4_5", "ernie4_5_moe", "dots1", "olmo3"}
)


def _int_list(cfg: _Config, key: str, n_layers: int) -> tuple[int, ...]:
    """A per-layer integer list (or one integer for every layer)."""
    value = cfg.values.get(key)
    if not isinstance(value, list):
        return (cfg.req(key),) * n_layers
    if len(value) != n_layers or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise InvalidConfig(f"{cfg.source}: '{key}' must list {n_layers} positive integers")
    return tuple(value)


def _lfm2_ffn(cfg: _Config) -> int:
    # conversion/lfm2.py (LFM2Model._add_feed_forward_length): SwiGLU width adjusted like Llama's.
    ff = cfg.req("block_ff_dim", "intermediate_size")
    if cfg.flag("block_auto_adjust_ff_dim", False):
        ff = int(2 * ff / 3)
        multiplier = cfg.values.get("block_ffn_dim_multiplier")
        if isinstance(multiplier, (int, float)) and not isinstance(multiplier, bool):
            ff = int(multiplier * ff)
        multiple_of = cfg.opt("block_multiple_of", default=256, minimum=1)
        ff = multiple_of * ((ff + multiple_of - 1) // multiple_of)
    return ff


def _moe_values(
    cfg: _Config, model_type: str, n_layers: int, extras: dict[str, int | float | str | bool]
) -> dict[str, Any]:
    """Expert counts and widths of the MoE families whose converters write them under their own keys."""
    kw: dict[str, Any] = {
        "n_experts": cfg.req("num_local_experts", "num_experts", "n_routed_experts"),
        "n_experts_used": cfg.req("num_experts_per_tok"),
    }
    if model_type == "glm4_moe":
        # conversion/glm.py: moe_intermediate_size per expert, n_shared_experts of that width,
        # first_k_dense_replace dense layers; use_qk_norm switches glm4-moe.cpp's q/k norms on.
        width = cfg.req("moe_intermediate_size")
        n_shared = cfg.opt("n_shared_experts", default=0)
        kw.update(
            expert_ffn_size=width,
            shared_experts=n_shared,
            shared_expert_ffn_size=width if n_shared else 0,
            first_dense_layers=min(cfg.opt("first_k_dense_replace", default=0), n_layers),
        )
        if cfg.flag("use_qk_norm", False):
            extras["qk_norm"] = True
    elif model_type == "lfm2_moe":
        # conversion/lfm2.py (LFM2MoeModel): num_dense_layers leading dense blocks.
        kw.update(
            expert_ffn_size=cfg.req("moe_intermediate_size"),
            first_dense_layers=min(cfg.opt("num_dense_layers", default=0), n_layers),
        )
    elif model_type == "llama4":
        # conversion/llama.py (Llama4Model): intermediate_size is the expert width, intermediate_size_mlp
        # the dense one; one shared expert as wide as a routed one; MoE every interleave_moe_layer_step.
        width = cfg.req("intermediate_size")
        kw.update(expert_ffn_size=width, shared_experts=1, shared_expert_ffn_size=width)
        extras["moe_layer_step"] = cfg.opt("interleave_moe_layer_step", default=1, minimum=1)
        rope = cfg.values.get("rope_scaling") or cfg.values.get("rope_parameters")
        if isinstance(rope, Mapping) and str(rope.get("rope_type", rope.get("type", ""))).lower() == "llama3":
            extras["rope_freqs"] = True  # LlamaModel.generate_extra_tensors writes rope_freqs.weight
    else:
        # granitemoe(shared), olmoe, minimax_m2: intermediate_size is the width of one expert.
        kw["expert_ffn_size"] = cfg.req("intermediate_size")
        shared = cfg.opt("shared_intermediate_size", default=0)
        if shared:
            kw.update(shared_experts=1, shared_expert_ffn_size=shared)
    return kw


def _leading_dense_moe(cfg: _Config, model_type: str, n_layers: int) -> dict[str, Any]:
    """dots1 and ERNIE 4.5 MoE: routed experts after some leading dense layers, with shared experts."""
    if model_type == "dots1":
        # conversion/dots1.py: DeepSeek-style keys; n_shared_experts blocks of the expert width
        width = cfg.req("moe_intermediate_size")
        n_shared = cfg.opt("n_shared_experts", default=0)
        return {
            "n_experts": cfg.req("n_routed_experts"),
            "n_experts_used": cfg.req("num_experts_per_tok"),
            "expert_ffn_size": width,
            "shared_experts": n_shared,
            "shared_expert_ffn_size": width if n_shared else 0,
            "first_dense_layers": min(cfg.opt("first_k_dense_replace", default=0), n_layers),
        }
    # conversion/ernie.py (Ernie4_5MoeModel): the shared experts' width is written as
    # intermediate_size // num_key_value_heads, one block
    n_shared = cfg.opt("moe_num_shared_experts", default=0)
    shared = cfg.req("intermediate_size") // cfg.opt("num_key_value_heads", default=1, minimum=1) if n_shared else 0
    return {
        "n_experts": cfg.req("moe_num_experts"),
        "n_experts_used": cfg.req("moe_k"),
        "expert_ffn_size": cfg.req("moe_intermediate_size"),
        "shared_experts": 1 if shared else 0,
        "shared_expert_ffn_size": shared,
        "first_dense_layers": min(cfg.opt("moe_layer_start_index", default=0), n_layers),
    }


def _nemotron_pattern(cfg: _Config, n_layers: int) -> str:
    # conversion/nemotron.py: M = Mamba-2, * = attention, - = MLP, E = MoE, one letter per layer; newer configs
    # list the same as layers_block_type (mamba / attention / mlp / moe), which the converter also reads.
    pattern = cfg.values.get("hybrid_override_pattern")
    kinds = cfg.values.get("layers_block_type")
    if pattern is None and isinstance(kinds, list):
        letters = {"mamba": "M", "attention": "*", "mlp": "-", "moe": "E"}
        pattern = "".join(letters.get(k, "?") if isinstance(k, str) else "?" for k in kinds)
    if not isinstance(pattern, str) or len(pattern) != n_layers or set(pattern) - set("M*-E"):
        raise InvalidConfig(f"{cfg.source}: 'hybrid_override_pattern' must be {n_layers} letters of M, *, - and E")
    return pattern


def _hybrid_values(
    cfg: _Config, model_type: str, n_layers: int, n_kv: int, ffn: int, extras: dict[str, int | float | str | bool]
) -> dict[str, Any]:
    """Per-layer kinds and recurrent sizes of Nemotron-H, Falcon-H1 and LFM2."""
    if model_type in ("lfm2", "lfm2_moe"):
        # conversion/lfm2.py: head_count_kv 0 on "conv" layers; conv_L_cache is the kernel length. LFM2 v1
        # configs list the attention layers as full_attn_idxs (transformers Lfm2Config turns them into
        # layer_types).
        types = cfg.str_list("layer_types")
        idxs = cfg.values.get("full_attn_idxs")
        if types is None and isinstance(idxs, list) and all(isinstance(i, int) for i in idxs):
            types = tuple("full_attention" if i in idxs else "conv" for i in range(n_layers))
        if types is None or len(types) != n_layers:
            raise InvalidConfig(f"{cfg.source}: 'layer_types' must list {n_layers} layer kinds")
        extras["shortconv_l_cache"] = cfg.req("conv_L_cache")
        return {"n_kv_heads_per_layer": tuple(0 if t == "conv" else n_kv for t in types)}
    if model_type == "falcon_h1":
        # conversion/falcon_h1.py: every layer has attention and a Mamba-2 mixer side by side.
        extras["ssm_conv_bias"] = cfg.flag("mamba_conv_bias", True)
        extras["ssm_norm"] = cfg.flag("mamba_rms_norm", False)
        return {
            "recurrent_layers": (True,) * n_layers,
            "ssm_d_conv": cfg.req("mamba_d_conv"),
            "ssm_d_state": cfg.req("mamba_d_state"),
            "ssm_n_group": cfg.req("mamba_n_groups"),
            "ssm_dt_rank": cfg.req("mamba_n_heads"),
            "ssm_d_inner": cfg.req("mamba_d_ssm"),
        }
    pattern = _nemotron_pattern(cfg, n_layers)
    n_heads = cfg.req("mamba_num_heads")
    width = cfg.req("moe_intermediate_size") if cfg.has("num_experts_per_tok") else ffn
    return {
        "recurrent_layers": tuple(c == "M" for c in pattern),
        "n_kv_heads_per_layer": tuple(n_kv if c == "*" else 0 for c in pattern),
        "n_ff_per_layer": tuple(width if c in "-E" else 0 for c in pattern),
        "ssm_d_conv": cfg.req("conv_kernel"),
        "ssm_d_state": cfg.req("ssm_state_size"),
        "ssm_n_group": cfg.req("n_groups"),
        "ssm_dt_rank": n_heads,
        "ssm_d_inner": n_heads * cfg.req("mamba_head_dim"),
    }


def _llama4_chunks(cfg: _Config, n_layers: int) -> tuple[int | None, tuple[bool, ...]]:
    types = _layer_types(cfg, n_layers)
    if types is not None and all(t == "full_attention" for t in types):
        return None, ()
    return LLAMA4_CHUNK, _period_pattern(n_layers, LLAMA4_CHUNK_PERIOD)


def _laguna_values(cfg: _Config, n_layers: int, n_heads: int) -> dict[str, Any]:
    """Laguna (conversion/laguna.py, src/models/laguna.cpp): per-layer query heads
    (``num_attention_heads_per_layer``), routed experts after the leading ``dense`` entries of
    ``mlp_layer_types`` with one shared expert of its own width, and a per-head output gate (the only
    kind this reader knows: a per-element gate would be 128x wider)."""
    gating = cfg.values.get("gating")
    kinds = set(cfg.str_list("gating_types") or ()) | ({gating} if isinstance(gating, str) else set())
    if kinds - {"per_head", "per-head"}:
        raise UnsupportedModel(f"{cfg.source}: Laguna with a per-element attention gate is not supported")
    heads = cfg.values.get("num_attention_heads_per_layer")
    out: dict[str, Any] = {}
    if heads is not None:
        out["n_heads_per_layer"] = _int_list(cfg, "num_attention_heads_per_layer", n_layers)
    mlp = cfg.str_list("mlp_layer_types") or ()
    dense = next((i for i, t in enumerate(mlp) if t != "dense"), len(mlp))
    out.update(
        n_experts=cfg.req("num_experts"),
        n_experts_used=cfg.req("num_experts_per_tok"),
        expert_ffn_size=cfg.req("moe_intermediate_size"),
        shared_experts=1,
        shared_expert_ffn_size=cfg.req("shared_expert_intermediate_size"),
        first_dense_layers=dense,
    )
    return out


def _gemma4_values(
    cfg: _Config, n_layers: int, n_kv: int, ffn: int, kw: dict[str, Any], extras: dict[str, int | float | str | bool]
) -> int:
    """Gemma 4 (conversion/gemma.py Gemma4Model, src/models/gemma4.cpp); returns llama.cpp's key_length.

    Full-attention layers have their own head size (``global_head_dim``, key_length) and KV heads
    (``num_global_key_value_heads``); sliding layers keep ``head_dim`` (key_length_swa). The last
    ``num_kv_shared_layers`` layers reuse earlier caches. E2B/E4B add per-layer token embeddings, E2B a
    double-wide FFN on the shared layers; 26B-A4B adds a routed-expert block to every layer's dense FFN.
    ``attention_k_eq_v``: full layers have no V projection (V is K)."""
    types = _layer_types(cfg, n_layers) or ()
    swa = tuple(t == "sliding_attention" for t in types)
    full_kv = cfg.opt("num_global_key_value_heads", default=n_kv, minimum=1)
    if full_kv != n_kv and swa:
        kw["n_kv_heads_per_layer"] = tuple(n_kv if w else full_kv for w in swa)
    shared = cfg.opt("num_kv_shared_layers", default=0)
    if shared:
        extras["kv_shared_layers"] = shared
        if cfg.flag("use_double_wide_mlp", False):
            kw["n_ff_per_layer"] = tuple(ffn if i < n_layers - shared else 2 * ffn for i in range(n_layers))
    per_layer = cfg.opt("hidden_size_per_layer_input", default=0)
    if per_layer:
        extras["per_layer_input"] = per_layer
    if cfg.flag("attention_k_eq_v", False):
        extras["k_eq_v"] = True
    if cfg.flag("enable_moe_block", False):
        kw.update(
            n_experts=cfg.req("num_experts", "num_local_experts"),
            n_experts_used=cfg.req("top_k_experts", "num_experts_per_tok"),
            expert_ffn_size=cfg.req("moe_intermediate_size", "expert_intermediate_size"),
        )
    head_swa = cfg.req("head_dim")
    extras["head_dim_swa"] = head_swa
    return cfg.opt("global_head_dim", default=head_swa, minimum=1)


def shape_from_hf_config(config: Mapping[str, Any], source: str = "config.json") -> ModelShape:
    """Build the ``ModelShape`` llama.cpp would load from a GGUF converted from this config.

    ``source`` names the config in error messages (a path or ``repo/config.json``).

    >>> s = shape_from_hf_config({"model_type": "qwen3", "num_hidden_layers": 36,
    ...     "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
    ...     "head_dim": 128, "intermediate_size": 12288, "vocab_size": 151936,
    ...     "max_position_embeddings": 40960, "tie_word_embeddings": False})
    >>> (s.arch, s.n_layers, s.n_kv_heads, s.head_dim)
    ('qwen3', 36, 8, 128)
    """
    where = _where(source)
    if not isinstance(config, Mapping):
        raise InvalidConfig(f"{where}: the top level must be a JSON object, got {type(config).__name__}")
    model_type = model_type_of(config)
    if not model_type:
        raise InvalidConfig(f"{where} has no 'model_type', so its architecture is unknown")
    # A model_type without a reader and without a tensor inventory is read generically (the common decoder
    # keys): its plans are then approximate, from parameter counts (advisor.core.approx_weights).
    generic = model_type not in SUPPORTED_MODEL_TYPES
    if generic and HF_MODEL_TYPE_TO_ARCH.get(model_type) in SUPPORTED_ARCHS:
        arch = HF_MODEL_TYPE_TO_ARCH.get(model_type)
        known = f" (llama.cpp architecture {arch!r})"
        raise UnsupportedModel(
            f"{where}: model_type {model_type!r}{known} is not supported; supported model types: "
            + ", ".join(sorted(SUPPORTED_MODEL_TYPES))
        )
    cfg = _Config(config, where)
    # The top-level model_type names the family (a gemma3 wrapper has a gemma3_text inside).
    if model_type == "gemma3":
        for key, value in GEMMA3_DEFAULTS.items():
            cfg.values.setdefault(key, value)

    n_layers = cfg.req("num_hidden_layers", "n_layers", "n_layer", "num_layers")
    if n_layers > MAX_LAYERS:
        raise InvalidConfig(f"{where}: {n_layers} layers is more than llama.cpp's limit of {MAX_LAYERS}")
    hidden = cfg.req("hidden_size", "n_embd", "dim")
    n_heads = cfg.req("num_attention_heads", "n_head", "n_heads")
    n_kv = cfg.opt("num_key_value_heads", "n_kv_heads", default=n_heads, minimum=1)
    if n_heads % n_kv:
        raise InvalidConfig(
            f"{where}: num_attention_heads ({n_heads}) is not a multiple of num_key_value_heads ({n_kv})"
        )
    if cfg.has("head_dim"):
        head_dim = cfg.req("head_dim")
    else:
        if hidden % n_heads:
            raise InvalidConfig(
                f"{where} has no 'head_dim' and hidden_size ({hidden}) is not a multiple of "
                f"num_attention_heads ({n_heads})"
            )
        head_dim = hidden // n_heads
    vocab = cfg.req("vocab_size")
    context = cfg.req(
        "max_position_embeddings",
        "n_ctx",
        "n_positions",
        "max_length",
        "max_sequence_length",
        "model_max_length",
    )
    tied = cfg.flag("tie_word_embeddings", TIED_DEFAULT.get(model_type, False))

    kw: dict[str, Any] = {}
    extras: dict[str, int | float | str | bool] = {"hf_model_type": model_type}
    listed_ffn = isinstance(cfg.values.get("intermediate_size"), list)
    ffn = 0 if listed_ffn else cfg.opt("intermediate_size", "n_inner", "hidden_dim", default=0, minimum=0)
    if model_type in ATTENTION_BIAS_DEFAULT or (model_type in _NEW_TYPES and cfg.has("attention_bias")):
        extras["attn_qkv_bias"] = cfg.flag("attention_bias", ATTENTION_BIAS_DEFAULT.get(model_type, False))
    if model_type == "seed_oss" and cfg.has("attention_out_bias"):
        extras["attn_out_bias"] = cfg.flag("attention_out_bias", False)
    if model_type == "lfm2":
        ffn = _lfm2_ffn(cfg)
    if model_type in ("gemma3n", "gemma3n_text"):
        # Gemma 3n configs give intermediate_size per layer (conversion/gemma.py writes the list)
        widths = _int_list(cfg, "intermediate_size", n_layers)
        ffn = max(widths)
        if len(set(widths)) > 1:
            kw["n_ff_per_layer"] = widths

    if model_type in ("mixtral", "llama", "mistral") and cfg.has("num_local_experts"):
        # Mixtral: each expert is a full-width FFN (conversion/llama.py; src/models/llama.cpp uses n_ff).
        kw.update(
            n_experts=cfg.req("num_local_experts"),
            n_experts_used=cfg.req("num_experts_per_tok"),
            expert_ffn_size=cfg.req("intermediate_size"),
        )
    elif model_type in ("qwen2_moe", "qwen3_moe", "qwen3_next", "qwen3_vl_moe"):
        kw.update(
            n_experts=cfg.req("num_experts"),
            n_experts_used=cfg.req("num_experts_per_tok"),
            expert_ffn_size=cfg.req("moe_intermediate_size"),
        )
        shared = cfg.opt("shared_expert_intermediate_size", default=0)
        if shared:
            kw.update(shared_experts=1, shared_expert_ffn_size=shared)
    elif model_type == "gpt_oss":
        # conversion/gpt_oss.py: expert_feed_forward_length = intermediate_size.
        kw.update(
            n_experts=cfg.req("num_local_experts", "num_experts"),
            n_experts_used=cfg.req("num_experts_per_tok", "experts_per_token"),
            expert_ffn_size=cfg.req("intermediate_size"),
        )
    elif model_type in ("deepseek_v2", "deepseek_v3", "kimi_k2", "kimi_k25", "glm4_moe_lite"):
        n_routed = cfg.opt("n_routed_experts", default=0)
        moe_ffn = cfg.req("moe_intermediate_size", "intermediate_size")
        n_shared = cfg.opt("n_shared_experts", default=0)
        # conversion/deepseek.py: first_k_dense_replace defaults to all layers without experts, else 0.
        dense = cfg.opt("first_k_dense_replace", default=0 if n_routed else n_layers)
        kw.update(
            n_experts=n_routed,
            n_experts_used=cfg.opt("num_experts_per_tok", default=0) if n_routed else 0,
            expert_ffn_size=moe_ffn if n_routed else 0,
            shared_experts=n_shared,
            shared_expert_ffn_size=moe_ffn if n_shared else 0,
            first_dense_layers=min(dense, n_layers),
        )
        rope = cfg.req("qk_rope_head_dim")
        nope = cfg.req("qk_nope_head_dim")
        v_dim = cfg.req("v_head_dim")
        kw.update(
            kv_lora_rank=cfg.opt("kv_lora_rank", default=512, minimum=1),
            q_lora_rank=cfg.opt("q_lora_rank", default=0),
            qk_rope_head_dim=rope,
            qk_nope_head_dim=nope,
            v_head_dim_mla=v_dim,
            value_head_dim=v_dim,
        )
        head_dim = nope + rope
    elif model_type in ("glm4_moe", "lfm2_moe", "olmoe", "minimax_m2", "llama4", "granitemoe", "granitemoeshared"):
        kw.update(_moe_values(cfg, model_type, n_layers, extras))
        if model_type == "llama4":
            ffn = cfg.req("intermediate_size_mlp")
    elif model_type in ("dots1", "ernie4_5_moe"):
        kw.update(_leading_dense_moe(cfg, model_type, n_layers))
    elif model_type == "qwen3_5_moe":
        kw.update(
            n_experts=cfg.req("num_experts"),
            n_experts_used=cfg.req("num_experts_per_tok"),
            expert_ffn_size=cfg.req("moe_intermediate_size"),
            shared_experts=1,
            shared_expert_ffn_size=cfg.opt("shared_expert_intermediate_size", default=ffn),
        )
    elif model_type == "nemotron_h" and cfg.has("num_experts_per_tok"):
        # conversion/nemotron.py (NemotronHModel, MoE form): one shared expert of its own width.
        kw.update(
            n_experts=cfg.req("n_routed_experts"),
            n_experts_used=cfg.req("num_experts_per_tok"),
            expert_ffn_size=cfg.req("moe_intermediate_size"),
            shared_experts=1 if cfg.opt("n_shared_experts", default=1) else 0,
            shared_expert_ffn_size=cfg.opt("moe_shared_expert_intermediate_size", default=0),
        )
        if cfg.opt("moe_latent_size", default=0):
            extras["moe_latent_size"] = cfg.req("moe_latent_size")
    elif model_type == "granitemoehybrid":
        n_exp = cfg.opt("num_local_experts", default=0)
        if n_exp:
            kw.update(
                n_experts=n_exp,
                n_experts_used=cfg.req("num_experts_per_tok"),
                expert_ffn_size=cfg.req("intermediate_size"),
            )
        shared = cfg.opt("shared_intermediate_size", default=0)
        if shared:
            kw.update(shared_experts=1, shared_expert_ffn_size=shared)

    if model_type in ("gemma4", "gemma4_text"):
        head_dim = _gemma4_values(cfg, n_layers, n_kv, ffn, kw, extras)
    if model_type == "laguna":
        kw.update(_laguna_values(cfg, n_layers, n_heads))
    if generic and any(cfg.has(k) for k in ("num_local_experts", "num_experts", "n_routed_experts")):
        n_experts = cfg.req("num_local_experts", "num_experts", "n_routed_experts")
        if n_experts > 1:
            kw.update(n_experts=n_experts, n_experts_used=cfg.req("num_experts_per_tok"),
                      expert_ffn_size=cfg.opt("moe_intermediate_size", default=ffn))  # fmt: skip
    if kw.get("n_experts", 0) > MAX_EXPERTS:
        raise InvalidConfig(f"{where}: {kw['n_experts']} experts is more than llama.cpp's limit of {MAX_EXPERTS}")
    if kw.get("n_experts", 0) and not 0 < kw["n_experts_used"] <= kw["n_experts"]:
        raise InvalidConfig(
            f"{where}: experts per token ({kw['n_experts_used']}) must be between 1 and the "
            f"number of experts ({kw['n_experts']})"
        )

    if model_type in ("qwen3_next", "qwen3_5", "qwen3_5_moe"):
        recurrent = _recurrent_qwen3_next(cfg, n_layers)
        # conversion/qwen.py (Qwen3NextModel.set_gguf_parameters).
        n_v_heads = cfg.req("linear_num_value_heads")
        kw.update(
            recurrent_layers=recurrent,
            ssm_d_conv=cfg.req("linear_conv_kernel_dim"),
            ssm_d_state=cfg.req("linear_key_head_dim"),
            ssm_n_group=cfg.req("linear_num_key_heads"),
            ssm_dt_rank=n_v_heads,
            ssm_d_inner=cfg.req("linear_value_head_dim") * n_v_heads,
        )
        # Recurrent layers keep no KV cache (same convention as the catalog's ``to_shape``).
        kw["n_kv_heads_per_layer"] = tuple(0 if r else n_kv for r in recurrent)
    elif model_type == "granitemoehybrid":
        attention = _attention_layers_granite(cfg, n_layers)

        # conversion/granite.py: head_count_kv is 0 on Mamba layers, which src/models/granite-hybrid.cpp
        # then treats as recurrent. Its ``find_hparam`` tries each key, then each key prefixed "mamba_".
        def mamba(*keys: str, minimum: int = 1) -> int:
            return cfg.req(*keys, *(f"mamba_{k}" for k in keys), minimum=minimum)

        d_model = cfg.req("mamba_head_dim", "hidden_size", "d_model")
        kw.update(
            recurrent_layers=tuple(not a for a in attention),
            n_kv_heads_per_layer=tuple(n_kv if a else 0 for a in attention),
            ssm_d_conv=mamba("conv_kernel", "d_conv"),
            ssm_d_state=mamba("state_size", "d_state", "state_dim", "ssm_state_size"),
            ssm_n_group=mamba("n_groups", "num_groups"),
            ssm_dt_rank=mamba("n_heads", "num_heads"),
            ssm_d_inner=mamba("expand", "num_heads") * d_model,
        )
        if not any(kw["recurrent_layers"]):
            kw["recurrent_layers"] = ()
            kw["n_kv_heads_per_layer"] = ()
    elif model_type in ("nemotron_h", "falcon_h1", "lfm2", "lfm2_moe"):
        kw.update(_hybrid_values(cfg, model_type, n_layers, n_kv, ffn, extras))

    window, swa_layers = _swa(cfg, model_type, n_layers)
    if model_type == "llama4":
        window, swa_layers = _llama4_chunks(cfg, n_layers)
    if model_type in ("nemotron_h", "falcon_h1"):
        head_dim = cfg.opt("head_dim", "attention_head_dim", default=head_dim, minimum=1)
    return ModelShape(
        arch=HF_MODEL_TYPE_TO_ARCH.get(model_type, model_type)
        if generic
        else llama_cpp_arch(model_type, kw.get("n_experts", 0)),
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        ffn_size=ffn,
        vocab_size=vocab,
        context_max=context,
        tied_embeddings=tied,
        sliding_window=window,
        swa_layers=swa_layers,
        extras=tuple(extras.items()),
        **kw,
    )


def load_hf_config(path: str | Path) -> dict[str, Any]:
    """Read a config.json with a size bound; ``InvalidConfig`` for unreadable or non-object JSON."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InvalidConfig(f"{p}: cannot read config: {exc.strerror or exc}") from exc
    if size > MAX_CONFIG_BYTES:
        raise InvalidConfig(f"{p}: {size} bytes is too large for a config.json (limit {MAX_CONFIG_BYTES})")
    return parse_hf_config_text(p.read_bytes(), str(p))


def parse_hf_config_text(data: bytes | str, source: str = "config.json") -> dict[str, Any]:
    """Parse config.json text; ``InvalidConfig`` names the JSON error's line and column."""
    if len(data) > MAX_CONFIG_BYTES:
        raise InvalidConfig(f"{source}: {len(data)} bytes is too large for a config.json")
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidConfig(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidConfig(f"{source} is not UTF-8 text: {exc.reason}") from exc
    if not isinstance(raw, dict):
        raise InvalidConfig(f"{source}: the top level must be a JSON object, got {type(raw).__name__}")
    return raw


def shape_from_hf_config_path(path: str | Path) -> ModelShape:
    """``shape_from_hf_config`` for a config.json on disk."""
    return shape_from_hf_config(load_hf_config(path), str(path))


def architectures_of(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``architectures`` list (e.g. ``("Qwen3ForCausalLM",)``), empty when absent or malformed."""
    value = config.get("architectures")
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(v for v in value if isinstance(v, str))
    return ()
