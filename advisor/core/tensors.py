"""The tensors llama.cpp's loader expects for a model shape.

``tensor_inventory`` dispatches to the per-architecture inventories of ``advisor/core/inventories.py``
(names and dims from ``load_arch_tensors`` in ``src/models/<arch>.cpp`` of the llama.cpp vendored in
llama-cpp-python 0.3.36, names checked against gguf's per-architecture lists). An architecture without
one raises ``UnsupportedArchitecture``; ``advisor.core.approx_weights`` then gives a labelled estimate
from the parameter count instead.
"""

from __future__ import annotations

import functools
import re

from advisor.core.ggml_types import GGMLType
from advisor.core.inventories import ARCH_BUILDERS, HOW_BUILT
from advisor.core.shape import ModelShape
from advisor.core.tensor_spec import TensorSpec

__all__ = [
    "HOW_BUILT",
    "SUPPORTED_ARCHS",
    "TensorSpec",
    "UnsupportedArchitecture",
    "converted_type",
    "gguf_sort_key",
    "tensor_inventory",
]

_BLK_RE = re.compile(r"blk\.(\d+)\.")


class UnsupportedArchitecture(NotImplementedError, ValueError):
    """No tensor inventory exists for this llama.cpp architecture.

    A NotImplementedError (what ``fit.engine.make_plan`` and the recommender catch today) and a
    ValueError (bad input, not a bug). The message is one line naming the architecture.
    """

    def __init__(self, arch: str) -> None:
        self.arch = arch
        super().__init__(
            f"no tensor inventory for llama.cpp architecture {arch!r}: its memory can only be estimated "
            "approximately from the parameter count"
        )


SUPPORTED_ARCHS: tuple[str, ...] = tuple(ARCH_BUILDERS)


@functools.lru_cache(maxsize=1024)  # shapes are frozen; memory searches ask for the same one many times
def tensor_inventory(shape: ModelShape) -> tuple[TensorSpec, ...]:
    """Every tensor the loader creates for ``shape``, in loader order (not file order).

    >>> from advisor.core.shape import ModelShape
    >>> s = ModelShape(arch="llama", n_layers=1, hidden_size=8, n_heads=2, n_kv_heads=1,
    ...                head_dim=4, ffn_size=16, vocab_size=10, context_max=32, tied_embeddings=True)
    >>> [t.name for t in tensor_inventory(s)][:3]
    ['token_embd.weight', 'output_norm.weight', 'blk.0.attn_norm.weight']
    >>> try:
    ...     tensor_inventory(ModelShape(arch="rwkv7", n_layers=1, hidden_size=8, n_heads=2, n_kv_heads=1,
    ...                                 head_dim=4, ffn_size=16, vocab_size=10, context_max=32))
    ... except UnsupportedArchitecture as exc:
    ...     print(exc.arch, isinstance(exc, NotImplementedError))
    rwkv7 True
    """
    build = ARCH_BUILDERS.get(shape.arch)
    if build is None:
        raise UnsupportedArchitecture(shape.arch)
    return tuple(build(shape))


def gguf_sort_key(name: str) -> tuple[int, str]:
    """Order of ``llama_model_loader::weights_map`` (weight_name_comparer, src/llama-model-loader.h):
    by block number (non-block tensors first, as -1), then by name. llama_model_quantize walks tensors in
    this order, so its per-layer counters (use_more_bits) follow it."""
    m = _BLK_RE.match(name)
    return (int(m.group(1)) if m else -1, name)


# convert_hf_to_gguf keeps these 2-D tensors in F32 even in an F16 export (conversion/base.py, the
# "Some tensor types are always in float32" list); 1-D tensors, *_norm.weight and names not ending in
# ".weight" are F32 too.
_F32_2D_MARKERS = (
    "ffn_gate_inp.weight",
    "ffn_gate_inp_shexp.weight",
    "ssm_conv1d.weight",
    "shortconv.conv.weight",
    "altup_correct_coef.weight",
    "altup_predict_coef.weight",
)


def converted_type(spec: TensorSpec, float_type: GGMLType = GGMLType.F16) -> GGMLType:
    """Type that convert_hf_to_gguf gives a tensor in a ``float_type`` (F16/BF16/F32) export."""
    if len(spec.dims) <= 1 or spec.name.endswith("_norm.weight") or not spec.name.endswith(".weight"):
        return GGMLType.F32
    if any(spec.name.endswith(m) for m in _F32_2D_MARKERS):
        return GGMLType.F32
    return float_type
