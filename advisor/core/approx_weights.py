"""An approximate weight size for a model whose architecture has no tensor inventory.

``tensor_inventory`` raises ``UnsupportedArchitecture`` for an architecture llama.cpp may load but this
project has not described. Such a model can still be sized roughly: its parameter count
(``advisor.core.params.count_params``: embeddings, attention, dense or expert FFNs, recurrent mixers,
norms) times the bits per weight the preset gives a standard decoder of the same widths (a llama-shaped
stand-in quantized with ``advisor.core.quantize.tensor_types``, i.e. llama.cpp's own type rules). The
result is labelled approximate: architecture-specific tensors, biases and type rules are not in it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from advisor.core.params import count_params
from advisor.core.quantize import DEFAULT_TYPE, bits_per_weight, ftype_by_name, tensor_types
from advisor.core.shape import ModelShape

# How every page, the API and the CLI label figures made this way.
APPROXIMATE_LABEL = "approximate: from parameter counts"
APPROXIMATE_BASIS = (
    "approximate: parameter count x bits per weight of a llama-shaped model of the same widths at this preset "
    "(no tensor inventory for this architecture)"
)


@dataclass(frozen=True)
class ApproximateWeights:
    """Weight bytes estimated from the parameter count; ``approximate`` is always True."""

    arch: str
    preset: str
    params: int
    bits_per_weight: float
    bytes: int
    approximate: bool = True
    basis: str = APPROXIMATE_BASIS


def proxy_shape(shape: ModelShape) -> ModelShape:
    """A llama-architecture shape with the same widths, so llama.cpp's type rules (and the memory and
    speed engines) can run on it. For a standard decoder its tensors hold exactly ``count_params``."""
    return replace(
        shape,
        arch="llama",
        n_kv_heads=max(1, shape.n_kv_heads),
        n_kv_heads_per_layer=(),
        n_ff_per_layer=(),
        recurrent_layers=(),
        swa_layers=(),
        sliding_window=None,
        ffn_size=shape.ffn_size or shape.expert_ffn_size or 4 * shape.hidden_size,
        shared_experts=0,
        shared_expert_ffn_size=0,
        first_dense_layers=0,
        kv_lora_rank=0,
        q_lora_rank=0,
        value_head_dim=None,
        extras=(),
    )


def approximate_weights_bytes(shape: ModelShape, preset: str) -> ApproximateWeights:
    """Approximate GGUF weight bytes of ``shape`` at ``preset`` (e.g. "Q4_K_M"), from its parameter count.

    >>> s = ModelShape(arch="rwkv7", n_layers=24, hidden_size=2048, n_heads=32, n_kv_heads=32,
    ...                head_dim=64, ffn_size=8192, vocab_size=65536, context_max=4096)
    >>> est = approximate_weights_bytes(s, "Q8_0")
    >>> est.approximate, round(est.bits_per_weight, 2), est.params
    (True, 8.5, 1879148544)
    """
    params, _active = count_params(shape)
    try:
        proxy = proxy_shape(shape)
        bpw = bits_per_weight(proxy, tensor_types(proxy, preset))
    except (ValueError, ZeroDivisionError, AssertionError):
        # widths the llama rules cannot take (no heads, odd sizes): the preset's default type alone
        from advisor.core.ggml_types import TRAITS

        bpw = TRAITS[DEFAULT_TYPE[ftype_by_name(preset)]].bits_per_weight
    return ApproximateWeights(
        arch=shape.arch, preset=preset, params=params, bits_per_weight=bpw, bytes=int(params * bpw // 8)
    )
