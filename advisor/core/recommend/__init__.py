"""Which models, at which quantization, to run on a machine: ranked by the quality that fits.

For every candidate model and every quant its runtime can load, the recommender works out where the model
would live (all on the GPU, split between GPU and system RAM, or all on the CPU), how much memory that
takes at the requested context, how fast it would decode, and how much quality the quant costs. Per model
it keeps the best quant that fits plus a few alternatives, then ranks the models.

The practical rules come from published advice on running quantized models locally; each is a named
function that quotes its source:

* ``quant_quality_loss``: measured KLD (llama.cpp's Llama 3 8B scoreboard) turned into a share of the
  model's score; 4-bit costs about 1%.
* ``below_4bit_penalty``: below 4 bits quality drops fast.
* ``min_bits_for_model``: models under ~7B stay at 6-8 bits.
* ``prefer_larger_at_4bit``: a larger model at >= 4 bits beats a smaller one at 16 bits.
* ``default_kv_type``: a q8_0 KV cache wherever the runtime offers it.
* ``with_safety_margin``: 20% on top of the weights must fit too.

A quant that costs half of the score or more (``MAX_QUALITY_LOSS``) is never offered.

The screen is fast: weight bytes per (model, quant) are computed once (``weight_profile``, cached; stored
in ``advisor/catalog/data/weight_profiles.json``), the KV cache and compute buffer come from the memory
engine's formulas once per model and request, and only placement runs per quant. Its bytes are estimates
(``"basis": "estimate"``) that agree with ``advisor.core.memory.estimate`` for full-GPU picks and within a
few percent for partial offload; ``confirm(pick, request)`` returns the engine's own figures for a pick.

The modules, each importing only those before it: ``options`` (the request and its inputs), ``quality``
(what a quant costs, scores on one scale), ``profiles`` (weight, KV cache and compute bytes), ``placement``
(where a candidate fits, how fast it decodes), ``picks`` (the results), ``rank`` (the recommender) and
``engine`` (``confirm``). Every name is re-exported here: use ``advisor.core.recommend.X``.
"""

from __future__ import annotations

# Besides every public name, the ``X as X`` imports re-export the private names other code may reach for:
# the caches (one dict each, shared by every module), the placement hot path, and the quant cost and
# preference tier of a candidate.
# A test that replaces a rule patches the submodule that reads it (``recommend.rank.min_bits_for_model``).
from advisor.core.recommend.engine import confirm, engine_request
from advisor.core.recommend.options import (
    DEFAULT_MIN_TPS,
    LLAMA_CPP_RUNTIMES,
    SWA_FULL_RUNTIMES,
    Budget,
    DeviceKind,
    ModelOption,
    Placement,
    QuantOption,
    Request,
    default_kv_type,
)
from advisor.core.recommend.picks import (
    FIT_NAMES,
    PLACEMENT_PHRASE,
    Fit,
    Memory,
    ModelRecommendation,
    Pick,
    Quality,
    Recommendation,
    Speed,
    Thinking,
    quant_reason,
    rank_key,
    thinking_cost,
)
from advisor.core.recommend.placement import (
    GPU_MARGIN_BYTES,
    RAM_RESERVE_BYTES,
    READING_SPEED_TPS,
    SAFETY_FACTOR,
    VLLM_GPU_MEMORY_UTILIZATION,
    Room,
    decode_tps,
    gpu_reserve_bytes,
    place,
    with_safety_margin,
)
from advisor.core.recommend.placement import _place as _place
from advisor.core.recommend.profiles import _CONTEXT_COSTS as _CONTEXT_COSTS
from advisor.core.recommend.profiles import _KV_LAYERS as _KV_LAYERS
from advisor.core.recommend.profiles import _MODEL_KEYS as _MODEL_KEYS
from advisor.core.recommend.profiles import _PROFILES as _PROFILES
from advisor.core.recommend.profiles import (
    N_UBATCH,
    FitSettings,
    KVLayers,
    KVPlan,
    WeightProfile,
    approximate_profile,
    compute_profile,
    context_costs,
    context_request,
    kv_layers,
    kv_plan,
    memory_runtimes,
    model_shape_key,
    prime_profiles,
    shape_key,
    weight_profile,
)
from advisor.core.recommend.quality import (
    BELOW_4BIT_SLOPE,
    FOUR_BITS,
    KLD_TO_LOSS,
    MAX_QUALITY_LOSS,
    QUALITY_TIE,
    SMALL_MODEL_MIN_BITS,
    SMALL_MODEL_PARAMS,
    CatalogRecord,
    Rating,
    ScoreModel,
    below_4bit_penalty,
    calibrate_scores,
    is_base_model,
    min_bits_for_model,
    model_line,
    model_options,
    quant_cost,
    quant_quality_loss,
    successor_floor,
)
from advisor.core.recommend.rank import _TABLES as _TABLES
from advisor.core.recommend.rank import (
    apply_size_rule,
    clear_caches,
    prefer_larger_at_4bit,
    preference_tier,
    recommend,
)
from advisor.core.units import GIB, MIB

__all__ = [
    "BELOW_4BIT_SLOPE",
    "DEFAULT_MIN_TPS",
    "FIT_NAMES",
    "FOUR_BITS",
    "GIB",
    "GPU_MARGIN_BYTES",
    "KLD_TO_LOSS",
    "LLAMA_CPP_RUNTIMES",
    "MAX_QUALITY_LOSS",
    "MIB",
    "N_UBATCH",
    "PLACEMENT_PHRASE",
    "QUALITY_TIE",
    "RAM_RESERVE_BYTES",
    "READING_SPEED_TPS",
    "SAFETY_FACTOR",
    "SMALL_MODEL_MIN_BITS",
    "SMALL_MODEL_PARAMS",
    "SWA_FULL_RUNTIMES",
    "VLLM_GPU_MEMORY_UTILIZATION",
    "Budget",
    "CatalogRecord",
    "DeviceKind",
    "Fit",
    "FitSettings",
    "KVLayers",
    "KVPlan",
    "Memory",
    "ModelOption",
    "ModelRecommendation",
    "Pick",
    "Placement",
    "Quality",
    "QuantOption",
    "Rating",
    "Recommendation",
    "Request",
    "Room",
    "ScoreModel",
    "Speed",
    "Thinking",
    "WeightProfile",
    "apply_size_rule",
    "approximate_profile",
    "below_4bit_penalty",
    "calibrate_scores",
    "clear_caches",
    "compute_profile",
    "confirm",
    "context_costs",
    "context_request",
    "decode_tps",
    "default_kv_type",
    "engine_request",
    "gpu_reserve_bytes",
    "is_base_model",
    "kv_layers",
    "kv_plan",
    "memory_runtimes",
    "min_bits_for_model",
    "model_line",
    "model_options",
    "model_shape_key",
    "place",
    "prefer_larger_at_4bit",
    "preference_tier",
    "prime_profiles",
    "quant_cost",
    "quant_quality_loss",
    "quant_reason",
    "rank_key",
    "recommend",
    "shape_key",
    "successor_floor",
    "thinking_cost",
    "weight_profile",
    "with_safety_margin",
]
