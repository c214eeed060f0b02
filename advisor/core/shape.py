"""The shape of a model: every architecture value the memory and speed engines need.

A ``ModelShape`` is built from a catalog record, a Hugging Face ``config.json`` or a
GGUF header. Field meanings follow llama.cpp's hparams (``src/llama-hparams.h``), so
``arch`` is llama.cpp's architecture name ("llama", "qwen3moe", "gemma3", "deepseek2").
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# Hugging Face ``model_type`` -> llama.cpp ``general.architecture``.
# Source: llama.cpp convert_hf_to_gguf.py (@ModelBase.register) and src/llama-arch.cpp.
HF_MODEL_TYPE_TO_ARCH: dict[str, str] = {
    "llama": "llama",
    "mistral": "llama",
    "mistral3": "llama",
    "ministral3": "mistral3",  # conversion/mistral3.py: Ministral3ForCausalLM (Devstral 2 123B) is MISTRAL3
    "mixtral": "llama",
    "llama4": "llama4",
    "qwen2": "qwen2",
    "qwen2_moe": "qwen2moe",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
    "qwen3_next": "qwen3next",
    "qwen3_vl": "qwen3vl",  # conversion/qwen3vl.py: the text model of Qwen3VLForConditionalGeneration
    "qwen3_vl_moe": "qwen3vlmoe",
    "qwen3_5": "qwen35",
    "qwen3_5_moe": "qwen35moe",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
    "gemma3n": "gemma3n",
    "gemma3n_text": "gemma3n",
    "gemma4": "gemma4",
    "gemma4_text": "gemma4",
    "phi3": "phi3",
    "phi4": "phi3",
    "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2",
    "kimi_k2": "deepseek2",
    "kimi_k25": "deepseek2",  # conversion/deepseek.py registers KimiK25ForConditionalGeneration
    "glm4_moe_lite": "deepseek2",  # conversion/glm.py: Glm4MoeLiteModel(DeepseekV2Model), GLM-4.7-Flash
    "gpt_oss": "gpt-oss",
    "granitemoehybrid": "granitehybrid",
    "granite": "granite",
    "granitemoe": "granitemoe",
    "granitemoeshared": "granitemoe",
    "cohere": "command-r",
    "cohere2": "cohere2",
    "olmo2": "olmo2",
    "olmo3": "olmo2",  # conversion/olmo.py registers Olmo3ForCausalLM with MODEL_ARCH.OLMO2
    "olmo": "olmo",
    "falcon": "falcon",
    "exaone": "exaone",
    "exaone4": "exaone4",
    "glm4": "glm4",
    "glm4_moe": "glm4moe",
    "chatglm": "chatglm",
    "starcoder2": "starcoder2",
    "internlm2": "internlm2",
    "smollm3": "smollm3",
    "ernie4_5": "ernie4_5",
    "ernie4_5_moe": "ernie4_5-moe",
    "minimax_m2": "minimax-m2",
    "seed_oss": "seed_oss",
    "hunyuan_v1_dense": "hunyuan-dense",
    "hunyuan_v1_moe": "hunyuan-moe",
    "dots1": "dots1",
    "bailingmoe2": "bailingmoe2",
    "apertus": "apertus",
    "laguna": "laguna",
    "lfm2": "lfm2",
    "lfm2_moe": "lfm2moe",
    "falcon_h1": "falcon-h1",
    "olmoe": "olmoe",
    "nemotron_h": "nemotron_h",
    "jamba": "jamba",
    "mamba": "mamba",
    "mamba2": "mamba2",
}


# model_types whose converter picks another llama.cpp architecture when the model has routed experts
# (conversion/nemotron.py: NEMOTRON_H_MOE when the config has num_experts_per_tok).
MOE_ARCH: dict[str, str] = {"nemotron_h": "nemotron_h_moe"}


def llama_cpp_arch(model_type: str, n_experts: int = 0) -> str:
    """The llama.cpp architecture a Hugging Face model_type converts to (KeyError when none is known).

    >>> llama_cpp_arch("nemotron_h"), llama_cpp_arch("nemotron_h", n_experts=128)
    ('nemotron_h', 'nemotron_h_moe')
    """
    if n_experts and model_type in MOE_ARCH:
        return MOE_ARCH[model_type]
    return HF_MODEL_TYPE_TO_ARCH[model_type]


@dataclass(frozen=True)
class ModelShape:
    """Architecture values, in llama.cpp's terms.

    Per-layer values are tuples of length ``n_layers`` where a model varies them
    (Gemma 3's SWA pattern, OpenELM's head counts, hybrid models' recurrent layers).
    """

    arch: str
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int  # key_length
    ffn_size: int
    vocab_size: int
    context_max: int
    value_head_dim: int | None = None  # value_length; defaults to head_dim
    tied_embeddings: bool = False
    # Sliding-window attention: window size and which layers use it.
    sliding_window: int | None = None
    swa_layers: tuple[bool, ...] = ()
    # Per-layer KV head counts, when they vary (0 for layers without attention).
    n_kv_heads_per_layer: tuple[int, ...] = ()
    # Per-layer query head counts, when they vary (Laguna: more heads on its sliding-window layers).
    n_heads_per_layer: tuple[int, ...] = ()
    # Mixture of experts.
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn_size: int = 0
    shared_experts: int = 0
    shared_expert_ffn_size: int = 0
    first_dense_layers: int = 0  # DeepSeek/GLM "first_k_dense_replace"
    # Multi-head latent attention (DeepSeek V2/V3, Kimi K2).
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim_mla: int = 0
    # Recurrent / hybrid layers: which layers keep a fixed-size state instead of KV.
    recurrent_layers: tuple[bool, ...] = ()
    ssm_d_state: int = 0
    ssm_d_conv: int = 0
    ssm_d_inner: int = 0
    ssm_n_group: int = 0
    ssm_dt_rank: int = 0  # Mamba-2: number of heads
    # Per-layer FFN widths, when they vary (0 for a layer without a feed-forward block, such as
    # Nemotron-H's Mamba and attention layers; llama_hparams::n_ff_arr).
    n_ff_per_layer: tuple[int, ...] = ()
    # Free-form extras a specific architecture needs (e.g. attention biases).
    extras: tuple[tuple[str, int | float | str | bool], ...] = field(default=())

    def __hash__(self) -> int:
        """The fields' hash, as the dataclass would give it, worked out once: every cache keyed by a shape
        hashes it (~2,000 times per recommendations request, 1.4 us each). It is kept in ``__dict__`` as
        ``_hash``: make a variant with ``dataclasses.replace``, not from ``__dict__``."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict[str, Any]:
        # A string's hash differs between processes: a pickled shape hashes again where it is loaded.
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def v_dim(self) -> int:
        return self.value_head_dim if self.value_head_dim is not None else self.head_dim

    def kv_heads_at(self, layer: int) -> int:
        if self.n_kv_heads_per_layer:
            return self.n_kv_heads_per_layer[layer]
        return self.n_kv_heads

    def heads_at(self, layer: int) -> int:
        if self.n_heads_per_layer:
            return self.n_heads_per_layer[layer]
        return self.n_heads

    def head_dim_at(self, layer: int) -> int:
        """K head size of a layer: Gemma 4's sliding-window layers have their own (key_length_swa)."""
        swa = self.extra("head_dim_swa", 0)
        return int(swa) if swa and self.is_swa_layer(layer) else self.head_dim

    def v_dim_at(self, layer: int) -> int:
        swa = self.extra("head_dim_swa", 0)
        return int(swa) if swa and self.is_swa_layer(layer) else self.v_dim

    def kv_layers_from_start(self) -> int:
        """Layers that keep a KV cache of their own; the later ones reuse one (Gemma 4's
        ``shared_kv_layers``, llama_hparams::n_layer_kv_from_start)."""
        return self.n_layers - int(self.extra("kv_shared_layers", 0) or 0)

    def ffn_at(self, layer: int) -> int:
        if self.n_ff_per_layer:
            return self.n_ff_per_layer[layer]
        return self.ffn_size

    def is_swa_layer(self, layer: int) -> bool:
        return bool(self.swa_layers) and self.swa_layers[layer]

    def is_recurrent_layer(self, layer: int) -> bool:
        return bool(self.recurrent_layers) and self.recurrent_layers[layer]

    def extra(self, key: str, default: int | float | str | bool | None = None) -> int | float | str | bool | None:
        for k, v in self.extras:
            if k == key:
                return v
        return default
