"""The model catalog: architecture records read from ``data/models/*.json``.

Each JSON file holds a list of records, one per model, with values taken from the
model's Hugging Face ``config.json`` and model card (the ``sources`` of each record say
where). This module validates them and turns them into ``ModelShape`` objects for the
memory and speed engines. It imports nothing from Django.

>>> m = get_model("llama-3.1-8b-instruct")
>>> (m.n_layers, m.hidden_size, m.n_kv_heads)
(32, 4096, 8)
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from advisor.core.shape import HF_MODEL_TYPE_TO_ARCH, ModelShape, llama_cpp_arch

MODELS_DIR = Path(__file__).resolve().parent / "data" / "models"

USE_CASES = frozenset({"chat", "coding", "long-documents", "reasoning"})

# Layer kinds in ``layer_types`` that keep a recurrent state instead of a KV cache.
# Names as written in the configs (Granite 4.0-H "mamba", Qwen3-Next "linear_attention").
RECURRENT_LAYER_TYPES = frozenset({"mamba", "mamba2", "linear_attention", "conv"})
ATTENTION_LAYER_TYPES = frozenset({"attention", "full_attention", "sliding_attention"})
# Layers with a feed-forward block and no mixer (Nemotron-H's "-" and "E" layers, as its
# layers_block_type names them); where a record has them, its attention layers have no FFN.
FFN_LAYER_TYPES = frozenset({"mlp", "moe"})
# model_types whose every layer has both attention and a Mamba-2 mixer (src/models/falcon-h1.cpp).
PARALLEL_HYBRID_MODEL_TYPES = frozenset({"falcon_h1"})

# model_types whose sliding window llama.cpp honours, and the pattern it uses:
# layer i is SWA iff i % pattern < pattern - 1 (llama-hparams.cpp ``set_swa_pattern``).
# Gemma 2 and gpt-oss alternate (2), Gemma 3 has one full layer in 6, Cohere2 and
# Llama 4 (chunked attention) one in 4. Mistral-style "llama"/"mistral" configs that
# carry a sliding_window are loaded without it, so they get no SWA layers.
SWA_MODEL_TYPES: dict[str, int] = {
    "gemma2": 2,
    "gpt_oss": 2,
    "gemma3": 6,
    "gemma3_text": 6,
    "cohere2": 4,
    "llama4": 4,
    "gemma4": 6,  # E2B: 5 (its record says so); conversion/gemma.py writes the flags from layer_types
}

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


class CatalogError(ValueError):
    """A catalog record is malformed."""


@dataclass(frozen=True)
class Quality:
    score: float
    metric: str
    source: str


@dataclass(frozen=True)
class CatalogModel:
    """One catalog record. Field names match the JSON keys exactly."""

    id: str
    hf_repo: str
    family: str
    architecture: str
    model_type: str
    params_total: int
    params_active: int
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_size: int
    vocab_size: int
    context_max: int
    tied_embeddings: bool
    sliding_window: int | None
    swa_pattern: int | None
    n_experts: int
    n_experts_used: int
    expert_ffn_size: int
    shared_experts: int
    shared_expert_ffn_size: int
    first_dense_layers: int
    kv_lora_rank: int
    q_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    layer_types: tuple[str, ...] | None
    ssm_d_state: int
    ssm_d_conv: int
    ssm_d_inner: int
    ssm_n_group: int
    ssm_n_heads: int
    license: str
    released: str
    gguf_repos: tuple[str, ...]
    quality: Quality | None
    use_cases: tuple[str, ...]
    sources: tuple[str, ...]
    notes: str = ""
    # llama.cpp details the fields above cannot state (``ModelShape.extras``, keys in ``EXTRA_KEYS``).
    extras: tuple[tuple[str, int | float | str | bool], ...] = ()

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    def swa_layers(self) -> tuple[bool, ...]:
        """Which layers use sliding-window (or chunked) attention in llama.cpp: from ``layer_types`` where it
        names them (Laguna: full at layer % 4 == 0), else from ``swa_pattern``."""
        if self.sliding_window is not None and self.layer_types and "sliding_attention" in self.layer_types:
            return tuple(t == "sliding_attention" for t in self.layer_types)
        if self.sliding_window is None or self.swa_pattern is None:
            return ()
        p = self.swa_pattern
        return tuple(i % p < p - 1 for i in range(self.n_layers))

    def recurrent_layers(self) -> tuple[bool, ...]:
        if self.model_type in PARALLEL_HYBRID_MODEL_TYPES:
            return (True,) * self.n_layers
        if self.layer_types is None:
            return ()
        return tuple(t in RECURRENT_LAYER_TYPES for t in self.layer_types)

    def _ffn_per_layer(self) -> tuple[int, ...]:
        """Per-layer FFN widths where some layers have none (layer_types with mlp/moe layers)."""
        if self.layer_types is None or not FFN_LAYER_TYPES & set(self.layer_types):
            return ()
        width = {"mlp": self.ffn_size, "moe": self.expert_ffn_size}
        return tuple(width.get(t, 0) for t in self.layer_types)

    def to_shape(self) -> ModelShape:
        """The record in llama.cpp's terms."""
        recurrent = self.recurrent_layers()
        ffn_per_layer = self._ffn_per_layer()
        kv_per_layer: tuple[int, ...] = ()
        if ffn_per_layer and self.layer_types is not None:
            kv_per_layer = tuple(self.n_kv_heads if t in ATTENTION_LAYER_TYPES else 0 for t in self.layer_types)
        elif any(recurrent) and self.model_type not in PARALLEL_HYBRID_MODEL_TYPES:  # those keep attention
            kv_per_layer = tuple(0 if r else self.n_kv_heads for r in recurrent)
        value_head_dim = self.v_head_dim if self.is_mla else None
        swa = self.swa_layers()
        head_dim, extras, ffn_per_layer, kv_per_layer = self._gemma4(swa, ffn_per_layer, kv_per_layer)
        swa_heads = int(dict(self.extras).get("swa_heads", 0))
        heads_per_layer = tuple(swa_heads if w else self.n_heads for w in swa) if swa_heads and swa else ()
        extras = tuple((k, v) for k, v in extras if k != "swa_heads")
        return ModelShape(
            arch=llama_cpp_arch(self.model_type, self.n_experts),
            n_layers=self.n_layers,
            hidden_size=self.hidden_size,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            head_dim=head_dim,
            ffn_size=self.ffn_size,
            vocab_size=self.vocab_size,
            context_max=self.context_max,
            value_head_dim=value_head_dim,
            tied_embeddings=self.tied_embeddings,
            sliding_window=self.sliding_window if swa else None,
            swa_layers=swa,
            n_kv_heads_per_layer=kv_per_layer,
            n_heads_per_layer=heads_per_layer,
            n_experts=self.n_experts,
            n_experts_used=self.n_experts_used,
            expert_ffn_size=self.expert_ffn_size,
            shared_experts=self.shared_experts,
            shared_expert_ffn_size=self.shared_expert_ffn_size,
            first_dense_layers=self.first_dense_layers,
            kv_lora_rank=self.kv_lora_rank,
            q_lora_rank=self.q_lora_rank,
            qk_rope_head_dim=self.qk_rope_head_dim,
            qk_nope_head_dim=self.qk_nope_head_dim,
            v_head_dim_mla=self.v_head_dim if self.is_mla else 0,
            recurrent_layers=recurrent if any(recurrent) else (),
            ssm_d_state=self.ssm_d_state,
            ssm_d_conv=self.ssm_d_conv,
            ssm_d_inner=self.ssm_d_inner,
            ssm_n_group=self.ssm_n_group,
            ssm_dt_rank=self.ssm_n_heads,
            n_ff_per_layer=ffn_per_layer,
            extras=extras,
        )

    def _gemma4(
        self, swa: tuple[bool, ...], ffn: tuple[int, ...], kv: tuple[int, ...]
    ) -> tuple[int, tuple[tuple[str, int | float | str | bool], ...], tuple[int, ...], tuple[int, ...]]:
        """Gemma 4's record in llama.cpp's terms: key_length is the full layers' head size and the
        sliding layers' goes in extras (head_dim_swa); per-layer KV heads and FFN widths from extras."""
        ex = dict(self.extras)
        if "global_head_dim" not in ex:
            return self.head_dim, self.extras, ffn, kv
        full_kv = int(ex.pop("global_kv_heads", self.n_kv_heads))
        if full_kv != self.n_kv_heads:
            kv = tuple(self.n_kv_heads if w else full_kv for w in swa)
        shared = int(ex.get("kv_shared_layers", 0))
        if ex.pop("double_wide_mlp", False) and shared:
            first = self.n_layers - shared
            ffn = tuple(self.ffn_size * (2 if i >= first else 1) for i in range(self.n_layers))
        ex["head_dim_swa"] = self.head_dim
        return int(ex.pop("global_head_dim")), tuple(sorted(ex.items())), ffn, kv

    def to_record(self, *, with_notes: bool = False) -> dict[str, Any]:
        """The record as JSON-ready data with exactly the catalog's required field names; with
        ``with_notes``, also the optional ones that are set (``notes``, ``extras``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in OPTIONAL_FIELDS and not (with_notes and value):
                continue
            if f.name == "extras":
                value = dict(value)
            elif isinstance(value, Quality):
                value = {"score": value.score, "metric": value.metric, "source": value.source}
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def arch_record_fields(s: ModelShape) -> dict[str, Any]:
    """Catalog fields that differ from the shape's own values for Gemma 4 and Laguna (the inverse of what
    ``CatalogModel.to_shape`` does for them); nothing for other architectures."""
    if s.arch == "gemma4":
        return _gemma4_record_fields(s)
    if s.arch == "laguna" and s.swa_layers:
        types = ["sliding_attention" if w else "full_attention" for w in s.swa_layers]
        fields_: dict[str, Any] = {"layer_types": types, "swa_pattern": None}
        swa = [s.heads_at(i) for i in range(s.n_layers) if s.swa_layers[i]]
        if s.n_heads_per_layer and swa:
            fields_["extras"] = {"swa_heads": swa[0]}
        return fields_
    return {}


def _gemma4_record_fields(s: ModelShape) -> dict[str, Any]:
    """The catalog fields of a Gemma 4 shape (the inverse of ``CatalogModel._gemma4``): head_dim and
    n_kv_heads are the sliding layers' (as in config.json), the full layers' go in extras."""
    swa_hd = int(s.extra("head_dim_swa", s.head_dim) or s.head_dim)
    extras: dict[str, Any] = {"global_head_dim": s.head_dim}
    full = [i for i in range(s.n_layers) if not s.is_swa_layer(i)]
    if full and s.kv_heads_at(full[0]) != s.n_kv_heads:
        extras["global_kv_heads"] = s.kv_heads_at(full[0])
    for key in ("kv_shared_layers", "per_layer_input", "k_eq_v"):
        if s.extra(key):
            extras[key] = s.extra(key)
    if s.n_ff_per_layer and max(s.n_ff_per_layer) == 2 * s.ffn_size:
        extras["double_wide_mlp"] = True
    return {"head_dim": swa_hd, "n_kv_heads": s.n_kv_heads, "extras": extras}


# Integer fields; ``bool`` is rejected for them explicitly because ``True`` is an int in Python.
_INT_FIELDS = [f.name for f in fields(CatalogModel) if f.type == "int"]
_POSITIVE_FIELDS = frozenset(
    {"params_total", "params_active", "n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim"}
    | {"vocab_size", "context_max"}
)
_STR_FIELDS = ["id", "hf_repo", "family", "architecture", "model_type", "license", "released"]
OPTIONAL_FIELDS = frozenset({"notes", "extras"})
REQUIRED_FIELDS = frozenset(f.name for f in fields(CatalogModel)) - OPTIONAL_FIELDS
# ``extras`` keys a record may set, with their JSON type (see advisor/core/inventories.py).
EXTRA_KEYS: dict[str, type] = {
    "qk_norm": bool,
    "moe_layer_step": int,
    "attn_qkv_bias": bool,
    "attn_out_bias": bool,
    "rope_freqs": bool,
    "expert_probs_bias": bool,
    "ssm_conv_bias": bool,
    "ssm_norm": bool,
    "shortconv_l_cache": int,
    "moe_latent_size": int,  # Nemotron 3 Super: routed experts in a latent width
    "swa_heads": int,  # Laguna: query heads of the sliding-window layers (n_heads is the full layers')
    # Gemma 4 (config keys of the same names; meanings in advisor/core/hf_config.py ``_gemma4_values``):
    # the full-attention layers' head size and KV heads, the layers that reuse earlier caches, the per-layer
    # embedding width, E2B's double-wide FFN on the shared layers, and full layers without V.
    "global_head_dim": int,
    "global_kv_heads": int,
    "kv_shared_layers": int,
    "per_layer_input": int,
    "double_wide_mlp": bool,
    "k_eq_v": bool,
}


def _fail(where: str, message: str) -> CatalogError:
    return CatalogError(f"{where}: {message}")


def _str_list(where: str, name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, f"'{name}' must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _extras(where: str, raw: Any) -> tuple[tuple[str, int | float | str | bool], ...]:
    if not isinstance(raw, dict):
        raise _fail(where, f"'extras' must be an object, got {type(raw).__name__}")
    for key, value in raw.items():
        kind = EXTRA_KEYS.get(key)
        if kind is None:
            raise _fail(where, f"unknown extras key {key!r}; known: {', '.join(sorted(EXTRA_KEYS))}")
        if type(value) is not kind or (isinstance(value, int) and kind is int and value < 1):
            raise _fail(where, f"extras {key!r} must be a {'positive integer' if kind is int else 'boolean'}")
    return tuple(sorted(raw.items()))


def parse_record(raw: Any, where: str) -> CatalogModel:
    """Validate one JSON record and build a ``CatalogModel``; raise ``CatalogError``."""
    if not isinstance(raw, dict):
        raise _fail(where, f"a record must be an object, got {type(raw).__name__}")
    keys = set(raw)
    missing = REQUIRED_FIELDS - keys
    if missing:
        raise _fail(where, f"missing fields: {', '.join(sorted(missing))}")
    unknown = keys - REQUIRED_FIELDS - OPTIONAL_FIELDS
    if unknown:
        raise _fail(where, f"unknown fields: {', '.join(sorted(unknown))}")
    where = f"{where} ({raw.get('id')!r})"
    values: dict[str, Any] = {}
    for name in _STR_FIELDS:
        v = raw[name]
        if not isinstance(v, str) or not v:
            raise _fail(where, f"'{name}' must be a non-empty string, got {v!r}")
        values[name] = v
    if not _ID_RE.match(values["id"]):
        raise _fail(where, "'id' must be a lowercase slug")
    if "/" not in values["hf_repo"]:
        raise _fail(where, "'hf_repo' must be 'owner/name'")
    if not _DATE_RE.match(values["released"]):
        raise _fail(where, "'released' must be YYYY-MM or YYYY-MM-DD")
    if values["model_type"] not in HF_MODEL_TYPE_TO_ARCH:
        raise _fail(where, f"model_type {values['model_type']!r} has no llama.cpp architecture")
    for name in _INT_FIELDS:
        v = raw[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _fail(where, f"'{name}' must be a non-negative integer, got {v!r}")
        if name in _POSITIVE_FIELDS and v == 0:
            raise _fail(where, f"'{name}' must be positive")
        values[name] = v
    if not isinstance(raw["tied_embeddings"], bool):
        raise _fail(where, "'tied_embeddings' must be true or false")
    values["tied_embeddings"] = raw["tied_embeddings"]
    for name in ("sliding_window", "swa_pattern"):
        v = raw[name]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise _fail(where, f"'{name}' must be a positive integer or null, got {v!r}")
        values[name] = v
    # A window without a pattern is allowed: Mistral-style configs carry one that llama.cpp ignores.
    if values["swa_pattern"] is not None and values["sliding_window"] is None:
        raise _fail(where, "'swa_pattern' needs a 'sliding_window'")
    layer_types = raw["layer_types"]
    if layer_types is not None:
        types = _str_list(where, "layer_types", layer_types)
        bad = set(types) - RECURRENT_LAYER_TYPES - ATTENTION_LAYER_TYPES - FFN_LAYER_TYPES
        if bad:
            raise _fail(where, f"unknown layer types {sorted(bad)}")
        if len(types) != values["n_layers"]:
            raise _fail(where, f"'layer_types' has {len(types)} entries for {values['n_layers']} layers")
        values["layer_types"] = types
    else:
        values["layer_types"] = None
    quality = raw["quality"]
    if quality is None:
        values["quality"] = None
    else:
        if not isinstance(quality, dict) or set(quality) != {"score", "metric", "source"}:
            raise _fail(where, "'quality' must be null or {score, metric, source}")
        score = quality["score"]
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise _fail(where, "'quality.score' must be a number")
        if not isinstance(quality["metric"], str) or not str(quality["source"]).startswith("https://"):
            raise _fail(where, "'quality' needs a metric name and an https source")
        values["quality"] = Quality(float(score), quality["metric"], quality["source"])
    values["gguf_repos"] = _str_list(where, "gguf_repos", raw["gguf_repos"])
    values["use_cases"] = _str_list(where, "use_cases", raw["use_cases"])
    if not values["use_cases"] or set(values["use_cases"]) - USE_CASES:
        raise _fail(where, f"'use_cases' must be a non-empty subset of {sorted(USE_CASES)}")
    values["sources"] = _str_list(where, "sources", raw["sources"])
    if not values["sources"] or not all(s.startswith(("https://", "http://")) for s in values["sources"]):
        raise _fail(where, "'sources' must list at least one http(s) URL")
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise _fail(where, "'notes' must be a string")
    values["notes"] = notes
    values["extras"] = _extras(where, raw.get("extras", {}))
    # Cross-field checks.
    if values["params_active"] > values["params_total"]:
        raise _fail(where, "params_active exceeds params_total")
    if values["n_heads"] % values["n_kv_heads"]:
        raise _fail(where, "n_heads must be a multiple of n_kv_heads")
    moe = values["n_experts"] > 1
    if moe and not (0 < values["n_experts_used"] <= values["n_experts"] and values["expert_ffn_size"] > 0):
        raise _fail(where, "an MoE record needs n_experts_used in 1..n_experts and expert_ffn_size")
    if values["first_dense_layers"] >= values["n_layers"]:
        raise _fail(where, "first_dense_layers must be below n_layers")
    if values["kv_lora_rank"] and not (values["qk_rope_head_dim"] and values["v_head_dim"]):
        raise _fail(where, "an MLA record needs qk_rope_head_dim and v_head_dim")
    return CatalogModel(**values)


def _load_dir(directory: Path) -> tuple[CatalogModel, ...]:
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise CatalogError(f"{directory}: no catalog files")
    models: list[CatalogModel] = []
    seen: dict[str, str] = {}
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{path.name}: invalid JSON: {exc}") from exc
        if not isinstance(data, list):
            raise CatalogError(f"{path.name}: the file must hold a JSON list of records")
        for index, raw in enumerate(data):
            model = parse_record(raw, f"{path.name}[{index}]")
            if model.id in seen:
                raise CatalogError(f"{path.name}[{index}]: duplicate id {model.id!r} (also in {seen[model.id]})")
            seen[model.id] = path.name
            models.append(model)
    return tuple(models)


@lru_cache(maxsize=1)
def load_models() -> tuple[CatalogModel, ...]:
    """Every catalog model, validated, in file then record order (cached)."""
    return _load_dir(MODELS_DIR)


@lru_cache(maxsize=1)
def _by_id() -> dict[str, CatalogModel]:
    return {m.id: m for m in load_models()}


def get_model(model_id: str) -> CatalogModel:
    """The catalog model with this id; ``KeyError`` names the closest ids otherwise."""
    index = _by_id()
    try:
        return index[model_id]
    except KeyError:
        close = difflib.get_close_matches(model_id.lower(), index.keys(), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no catalog model {model_id!r}{hint}") from None
