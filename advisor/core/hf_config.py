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

from advisor.core.shape import HF_MODEL_TYPE_TO_ARCH, ModelShape

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
        "gemma2",
        "gemma3",
        "gemma3_text",
        "phi3",
        "deepseek_v2",
        "deepseek_v3",
        "kimi_k2",
        "gpt_oss",
        "granitemoehybrid",
    }
)

# Sliding-window layer period per model_type: layer i is SWA iff i % p < p - 1
# (src/llama-hparams.cpp ``set_swa_pattern`` with dense_first = false).
# gemma2 and gpt-oss: ``load_swa_pattern(ml, 2)`` (src/models/gemma2.cpp, openai-moe.cpp);
# gemma3: ``load_swa_pattern(ml, 6)`` (src/models/gemma3.cpp).
# llama/mistral/mixtral (src/models/llama.cpp) and phi3 (src/models/phi3.cpp, "Phi SWA is
# currently disabled") never set a sliding window, so they are absent here on purpose.
SWA_PERIOD: dict[str, int] = {"gemma2": 2, "gpt_oss": 2, "gemma3": 6, "gemma3_text": 6}

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
TIED_DEFAULT: dict[str, bool] = {"gemma2": True, "gemma3": True, "gemma3_text": True}

_RECURRENT_LAYER_TYPES = frozenset({"linear_attention", "mamba", "mamba2"})
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
    if model_type == "gemma2":
        window = cfg.opt("sliding_window", default=GEMMA2_DEFAULT_WINDOW, minimum=1)
    elif model_type == "gpt_oss":
        # src/models/openai-moe.cpp reads the window as a required key.
        window = cfg.req("sliding_window")
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
    if model_type not in SUPPORTED_MODEL_TYPES:
        arch = HF_MODEL_TYPE_TO_ARCH.get(model_type)
        known = f" (llama.cpp architecture {arch!r})" if arch else " (no llama.cpp architecture is known)"
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
    ffn = cfg.opt("intermediate_size", "n_inner", "hidden_dim", default=0, minimum=0)

    if model_type in ("mixtral", "llama", "mistral") and cfg.has("num_local_experts"):
        # Mixtral: each expert is a full-width FFN (conversion/llama.py; src/models/llama.cpp uses n_ff).
        kw.update(
            n_experts=cfg.req("num_local_experts"),
            n_experts_used=cfg.req("num_experts_per_tok"),
            expert_ffn_size=cfg.req("intermediate_size"),
        )
    elif model_type in ("qwen2_moe", "qwen3_moe", "qwen3_next"):
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
    elif model_type in ("deepseek_v2", "deepseek_v3", "kimi_k2"):
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

    if kw.get("n_experts", 0) > MAX_EXPERTS:
        raise InvalidConfig(f"{where}: {kw['n_experts']} experts is more than llama.cpp's limit of {MAX_EXPERTS}")
    if kw.get("n_experts", 0) and not 0 < kw["n_experts_used"] <= kw["n_experts"]:
        raise InvalidConfig(
            f"{where}: experts per token ({kw['n_experts_used']}) must be between 1 and the "
            f"number of experts ({kw['n_experts']})"
        )

    if model_type == "qwen3_next":
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

    window, swa_layers = _swa(cfg, model_type, n_layers)
    return ModelShape(
        arch=HF_MODEL_TYPE_TO_ARCH[model_type],
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
        extras=(("hf_model_type", model_type),),
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
