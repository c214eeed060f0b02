"""Per-tensor types of llama.cpp quantization presets, and weight bytes of Hugging Face formats.

GGUF presets reproduce ``src/llama-quant.cpp`` of the llama.cpp vendored in llama-cpp-python 0.3.36:
``tensor_allows_quantization`` (what may be quantized), ``llama_tensor_get_type_impl`` (the per-preset
mixture rules, use_more_bits, GQA/MoE special cases, output/token_embd rules), ``tensor_type_fallback``
(row length not a multiple of the block) and ``llama_ftype_get_default_type``. Tensors are visited in
the order of ``llama_model_loader::weights_map`` (block number, then name), because the quantizer's
per-layer counters follow that order.

The input is assumed to be a convert_hf_to_gguf F16/BF16/F32 export (``tensors.converted_type``), as
every published quant is made from one; tensors the quantizer does not touch keep that type.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from advisor.core.ggml_types import TRAITS, GGMLType, block_size, tensor_bytes
from advisor.core.shape import ModelShape
from advisor.core.tensors import TensorSpec, converted_type, gguf_sort_key, tensor_inventory


class FType(enum.IntEnum):
    """``enum llama_ftype`` (include/llama.h); the value is what ``general.file_type`` stores."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q8_0 = 7
    Q5_0 = 8
    Q5_1 = 9
    Q2_K = 10
    Q3_K_S = 11
    Q3_K_M = 12
    Q3_K_L = 13
    Q4_K_S = 14
    Q4_K_M = 15
    Q5_K_S = 16
    Q5_K_M = 17
    Q6_K = 18
    IQ2_XXS = 19
    IQ2_XS = 20
    Q2_K_S = 21
    IQ3_XS = 22
    IQ3_XXS = 23
    IQ1_S = 24
    IQ4_NL = 25
    IQ3_S = 26
    IQ3_M = 27
    IQ2_S = 28
    IQ2_M = 29
    IQ4_XS = 30
    IQ1_M = 31
    BF16 = 32
    TQ1_0 = 36
    TQ2_0 = 37
    MXFP4_MOE = 38


# llama_ftype_get_default_type (src/llama-quant.cpp).
DEFAULT_TYPE: dict[FType, GGMLType] = {
    FType.F32: GGMLType.F32,
    FType.F16: GGMLType.F16,
    FType.BF16: GGMLType.BF16,
    FType.Q4_0: GGMLType.Q4_0,
    FType.Q4_1: GGMLType.Q4_1,
    FType.Q5_0: GGMLType.Q5_0,
    FType.Q5_1: GGMLType.Q5_1,
    FType.Q8_0: GGMLType.Q8_0,
    FType.MXFP4_MOE: GGMLType.MXFP4,
    FType.Q2_K_S: GGMLType.Q2_K,
    FType.Q2_K: GGMLType.Q2_K,
    FType.IQ3_XS: GGMLType.IQ3_S,
    FType.Q3_K_S: GGMLType.Q3_K,
    FType.Q3_K_M: GGMLType.Q3_K,
    FType.Q3_K_L: GGMLType.Q3_K,
    FType.Q4_K_S: GGMLType.Q4_K,
    FType.Q4_K_M: GGMLType.Q4_K,
    FType.Q5_K_S: GGMLType.Q5_K,
    FType.Q5_K_M: GGMLType.Q5_K,
    FType.Q6_K: GGMLType.Q6_K,
    FType.TQ1_0: GGMLType.TQ1_0,
    FType.TQ2_0: GGMLType.TQ2_0,
    FType.IQ2_XXS: GGMLType.IQ2_XXS,
    FType.IQ2_XS: GGMLType.IQ2_XS,
    FType.IQ2_S: GGMLType.IQ2_XS,
    FType.IQ2_M: GGMLType.IQ2_S,
    FType.IQ3_XXS: GGMLType.IQ3_XXS,
    FType.IQ1_S: GGMLType.IQ1_S,
    FType.IQ1_M: GGMLType.IQ1_M,
    FType.IQ4_NL: GGMLType.IQ4_NL,
    FType.IQ4_XS: GGMLType.IQ4_XS,
    FType.IQ3_S: GGMLType.IQ3_S,
    FType.IQ3_M: GGMLType.IQ3_S,
}

PRESETS: tuple[str, ...] = tuple(f.name for f in FType)


def ftype_by_name(name: str) -> FType:
    key = name.strip().upper().replace("-", "_")
    if key == "MXFP4":
        key = "MXFP4_MOE"
    return FType[key]


class _Cat(enum.Enum):
    """tensor_category / tensor_get_category (src/llama-quant.cpp), first match wins."""

    OUTPUT = "output"
    TOKEN_EMBD = "token_embd"
    ATTN_QKV = "attn_qkv"
    ATTN_KV_B = "attn_kv_b"
    ATTN_V = "attn_v"
    ATTN_K = "attn_k"
    ATTN_Q = "attn_q"
    ATTN_OUTPUT = "attn_output"
    FFN_UP = "ffn_up"
    FFN_GATE = "ffn_gate"
    FFN_DOWN = "ffn_down"
    OTHER = "other"


def _category(name: str) -> _Cat:
    if name == "output.weight":
        return _Cat.OUTPUT
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return _Cat.TOKEN_EMBD
    for needle, cat in (
        ("attn_qkv.weight", _Cat.ATTN_QKV),
        ("attn_kv_b.weight", _Cat.ATTN_KV_B),
        ("attn_v.weight", _Cat.ATTN_V),
        ("attn_k.weight", _Cat.ATTN_K),
        ("attn_q.weight", _Cat.ATTN_Q),
        ("attn_output.weight", _Cat.ATTN_OUTPUT),
        ("ffn_up", _Cat.FFN_UP),
        ("ffn_gate", _Cat.FFN_GATE),
        ("ffn_down", _Cat.FFN_DOWN),
    ):
        if needle in name:
            return cat
    return _Cat.OTHER


_ATTN_V_LIKE = (_Cat.ATTN_V, _Cat.ATTN_QKV, _Cat.ATTN_KV_B)

# tensor_allows_quantization: substrings that keep a tensor unquantized (the arch-independent ones).
_NEVER_QUANTIZED = (
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
)


def allows_quantization(spec: TensorSpec, quantize_output: bool = True) -> bool:
    """tensor_allows_quantization: only 2-D/3-D tensors whose name ends in 'weight', minus exceptions."""
    if len(spec.dims) < 2 or not spec.name.endswith("weight"):
        return False
    if not quantize_output and spec.name == "output.weight":
        return False
    if spec.name in ("position_embd.weight", "token_types.weight"):
        return False
    return not any(m in spec.name for m in _NEVER_QUANTIZED)


def _use_more_bits(i_layer: int, n_layers: int) -> bool:
    # llama_tensor_get_type_impl: first and last eighth, and every third layer in between.
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def _is_70b(shape: ModelShape) -> bool:
    # qs.model.type == LLM_TYPE_70B: set by load_arch_hparams in src/models/llama.cpp (80 layers, GQA)
    # and src/models/qwen2.cpp (80 layers).
    if shape.n_layers != 80:
        return False
    if shape.arch == "llama":
        return shape.n_experts == 0 and shape.n_heads != shape.n_kv_heads
    return shape.arch == "qwen2"


@dataclass
class _State:
    """quantize_state_impl counters."""

    n_attention_wv: int = 0
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0
    n_fallback: int = 0


_IQ_LOW = frozenset({FType.IQ2_XXS, FType.IQ2_XS, FType.IQ1_S, FType.IQ2_S, FType.IQ2_M, FType.IQ1_M})


def _mixture_type(
    st: _State,
    shape: ModelShape,
    spec: TensorSpec,
    cat: _Cat,
    ftype: FType,
    new_type: GGMLType,
    tied: bool,
    has_imatrix: bool,
) -> GGMLType:
    n_expert = shape.n_experts
    n_gqa = _n_gqa(shape)
    n_layer_all = shape.n_layers

    def layer_of(counter: int) -> int:
        # layer_info: with experts the layer is parsed from the name, else the running counter is used.
        if max(1, n_expert) > 1:
            lay = spec.layer
            assert lay is not None
            return lay
        return counter

    if cat == _Cat.OUTPUT or (tied and cat == _Cat.TOKEN_EMBD):
        nx = spec.dims[0]
        if ftype == FType.MXFP4_MOE:
            return GGMLType.Q8_0
        if shape.arch == "falcon" or nx % block_size(new_type) != 0:
            return GGMLType.Q8_0
        if ftype in (
            FType.IQ2_XXS,
            FType.IQ2_XS,
            FType.IQ3_XXS,
            FType.IQ1_S,
            FType.IQ2_S,
            FType.IQ2_M,
            FType.IQ1_M,
        ):
            return GGMLType.Q5_K
        if new_type != GGMLType.Q8_0:
            return GGMLType.Q6_K
        return new_type
    if ftype == FType.MXFP4_MOE:
        # experts (3-D) -> MXFP4, everything else -> Q8_0
        return GGMLType.MXFP4 if len(spec.dims) > 2 and spec.dims[2] > 1 else GGMLType.Q8_0
    if cat == _Cat.TOKEN_EMBD:
        if ftype in (FType.IQ2_XXS, FType.IQ2_XS, FType.IQ1_S, FType.IQ1_M):
            return GGMLType.Q2_K
        if ftype in (FType.IQ2_S, FType.IQ2_M, FType.IQ3_XXS):
            return GGMLType.IQ3_S
        if ftype in (FType.TQ1_0, FType.TQ2_0):
            return GGMLType.Q4_K
        return new_type
    if ftype in _IQ_LOW:
        iq2_s_m = ftype in (FType.IQ2_S, FType.IQ2_M)
        if cat in _ATTN_V_LIKE:
            if n_gqa >= 4 or n_expert >= 4:  # noqa: SIM108 - same shape as llama-quant.cpp
                new_type = GGMLType.Q4_K
            else:
                new_type = GGMLType.IQ3_S if iq2_s_m else GGMLType.Q2_K
            st.i_attention_wv += 1
        elif n_expert == 8 and cat == _Cat.ATTN_K:
            new_type = GGMLType.Q4_K
        elif cat == _Cat.FFN_DOWN:
            if st.i_ffn_down < n_layer_all // 8:
                new_type = GGMLType.IQ3_S if iq2_s_m else GGMLType.Q2_K
            st.i_ffn_down += 1
        elif cat == _Cat.ATTN_OUTPUT:
            if n_expert == 8:
                new_type = GGMLType.Q5_K
            elif ftype in (FType.IQ1_S, FType.IQ1_M):
                new_type = GGMLType.IQ2_XXS
            elif iq2_s_m:
                new_type = GGMLType.IQ3_S
        return new_type
    if cat in _ATTN_V_LIKE:
        i, n = st.i_attention_wv, st.n_attention_wv
        if ftype == FType.Q2_K:
            new_type = GGMLType.Q4_K if n_gqa >= 4 else GGMLType.Q3_K
        elif ftype == FType.Q2_K_S and n_gqa >= 4:
            new_type = GGMLType.Q4_K
        elif ftype == FType.IQ3_XXS:
            new_type = GGMLType.Q4_K if n_gqa >= 4 else (GGMLType.IQ3_S if not has_imatrix else GGMLType.IQ3_XXS)
        elif ftype in (FType.IQ3_XS, FType.IQ3_S) and n_gqa >= 4:  # noqa: SIM114 - same order as llama-quant.cpp
            new_type = GGMLType.Q4_K
        elif ftype == FType.IQ3_M:
            new_type = GGMLType.Q4_K
        elif ftype == FType.Q3_K_M:
            new_type = GGMLType.Q5_K if i < 2 else GGMLType.Q4_K
        elif ftype == FType.Q3_K_L:  # noqa: SIM114
            new_type = GGMLType.Q5_K
        elif ftype in (FType.IQ4_NL, FType.IQ4_XS) and n_gqa >= 4:
            new_type = GGMLType.Q5_K
        elif ftype in (FType.Q4_K_M, FType.Q5_K_M) and _use_more_bits(i, n):
            new_type = GGMLType.Q6_K
        elif ftype == FType.Q4_K_S and i < 4:
            new_type = GGMLType.Q5_K
        if _is_70b(shape) and new_type in (GGMLType.Q3_K, GGMLType.Q4_K):
            new_type = GGMLType.Q5_K
        if n_expert == 8:
            new_type = GGMLType.Q8_0
        st.i_attention_wv += 1
        return new_type
    if cat == _Cat.ATTN_K:
        if n_expert == 8:
            return GGMLType.Q8_0
        if ftype == FType.IQ3_XS:
            return GGMLType.IQ3_XXS
        if ftype == FType.IQ3_XXS:
            return GGMLType.IQ2_S
        return new_type
    if cat == _Cat.ATTN_Q:
        if ftype == FType.IQ3_XS:
            return GGMLType.IQ3_XXS
        if ftype == FType.IQ3_XXS:
            return GGMLType.IQ2_S
        return new_type
    if cat == _Cat.FFN_DOWN:
        i_layer, n_layer = layer_of(st.i_ffn_down), n_layer_all
        falcon = shape.arch == "falcon"
        if ftype == FType.Q2_K:
            new_type = GGMLType.Q3_K
        elif ftype == FType.Q2_K_S:
            if i_layer < n_layer // 8:
                new_type = GGMLType.Q4_K
        elif ftype == FType.IQ3_XXS and not has_imatrix:
            new_type = GGMLType.Q4_K if i_layer < n_layer // 8 else GGMLType.Q3_K
        elif ftype == FType.Q3_K_M:
            if i_layer < n_layer // 16:
                new_type = GGMLType.Q5_K
            elif not falcon or _use_more_bits(i_layer, n_layer):
                new_type = GGMLType.Q4_K
            else:
                new_type = GGMLType.Q3_K
        elif ftype == FType.IQ3_M and (i_layer < n_layer // 8 or (n_expert == 8 and _use_more_bits(i_layer, n_layer))):
            new_type = GGMLType.Q4_K
        elif ftype == FType.Q3_K_L:
            new_type = GGMLType.Q4_K if falcon else GGMLType.Q5_K
        elif ftype == FType.Q4_K_M:
            if falcon:
                if i_layer < n_layer // 16:
                    new_type = GGMLType.Q6_K
                elif _use_more_bits(i_layer, n_layer):
                    new_type = GGMLType.Q5_K
                else:
                    new_type = GGMLType.Q4_K
            elif _use_more_bits(i_layer, n_layer):
                new_type = GGMLType.Q6_K
        elif i_layer < n_layer // 8 and ftype in (FType.IQ4_NL, FType.IQ4_XS) and not has_imatrix:
            new_type = GGMLType.Q5_K
        elif ftype == FType.Q5_K_M and _use_more_bits(i_layer, n_layer):
            new_type = GGMLType.Q6_K
        elif ftype == FType.Q4_K_S and not falcon and i_layer < n_layer // 8:
            new_type = GGMLType.Q5_K
        elif ftype in (FType.Q4_0, FType.Q5_0) and has_imatrix and i_layer < n_layer // 8:
            new_type = GGMLType.Q4_1 if ftype == FType.Q4_0 else GGMLType.Q5_1
        st.i_ffn_down += 1
        return new_type
    if cat == _Cat.ATTN_OUTPUT:
        if shape.arch != "falcon":
            if n_expert == 8:
                if ftype in (
                    FType.Q2_K,
                    FType.IQ3_XS,
                    FType.IQ3_XXS,
                    FType.Q3_K_S,
                    FType.Q3_K_M,
                    FType.IQ4_NL,
                    FType.Q4_K_S,
                    FType.Q4_K_M,
                    FType.IQ3_S,
                    FType.IQ3_M,
                    FType.IQ4_XS,
                ):
                    new_type = GGMLType.Q5_K
            else:
                new_type = {
                    FType.Q2_K: GGMLType.Q3_K,
                    FType.IQ3_XXS: GGMLType.IQ3_S,
                    FType.Q3_K_M: GGMLType.Q4_K,
                    FType.Q3_K_L: GGMLType.Q5_K,
                    FType.IQ3_M: GGMLType.Q4_K,
                }.get(ftype, new_type)
        elif ftype == FType.Q3_K_L:
            new_type = GGMLType.Q4_K
        return new_type
    if cat in (_Cat.FFN_GATE, _Cat.FFN_UP):
        counter = st.i_ffn_gate if cat == _Cat.FFN_GATE else st.i_ffn_up
        i_layer, n_layer = layer_of(counter), n_layer_all
        if ftype == FType.IQ3_XS and n_layer // 8 <= i_layer < 7 * n_layer // 8:
            new_type = GGMLType.IQ3_XXS
        if cat == _Cat.FFN_GATE:
            st.i_ffn_gate += 1
        else:
            st.i_ffn_up += 1
        return new_type
    return new_type


def _n_gqa(shape: ModelShape) -> int:
    # llama_hparams::n_gqa(il = 0): n_head / n_head_kv of layer 0, 0 when layer 0 has no KV heads.
    kv = shape.kv_heads_at(0)
    if shape.is_mla:
        kv = 1  # deepseek2 GGUFs store head_count_kv = 1 in MLA form
    return shape.n_heads // kv if kv else 0


def _fallback(st: _State, spec: TensorSpec, t: GGMLType) -> GGMLType:
    """tensor_type_fallback: demote when ne0 is not a multiple of the block size."""
    ncols = spec.dims[0]
    if ncols % block_size(t) == 0:
        return t
    st.n_fallback += 1
    fb = {
        GGMLType.IQ1_S: GGMLType.IQ4_NL,
        GGMLType.IQ1_M: GGMLType.IQ4_NL,
        GGMLType.IQ2_XXS: GGMLType.IQ4_NL,
        GGMLType.IQ2_XS: GGMLType.IQ4_NL,
        GGMLType.IQ2_S: GGMLType.IQ4_NL,
        GGMLType.IQ3_XXS: GGMLType.IQ4_NL,
        GGMLType.IQ3_S: GGMLType.IQ4_NL,
        GGMLType.IQ4_XS: GGMLType.IQ4_NL,
        GGMLType.Q2_0: GGMLType.Q4_0,
        GGMLType.Q2_K: GGMLType.Q4_0,
        GGMLType.Q3_K: GGMLType.Q4_0,
        GGMLType.TQ1_0: GGMLType.Q4_0,
        GGMLType.TQ2_0: GGMLType.Q4_0,
        GGMLType.Q4_K: GGMLType.Q5_0,
        GGMLType.Q5_K: GGMLType.Q5_1,
        GGMLType.Q6_K: GGMLType.Q8_0,
    }
    if t in fb:
        out = fb[t]
    elif block_size(t) <= 32:
        out = t
    else:
        raise ValueError(f"no tensor type fallback for {TRAITS[t].name}")
    if ncols % block_size(out) != 0:
        out = GGMLType.F16
    return out


def tensor_types(
    shape: ModelShape,
    preset: str | FType,
    *,
    source_type: GGMLType = GGMLType.F16,
    has_imatrix: bool = False,
    pure: bool = False,
    output_type: GGMLType | None = None,
    token_embedding_type: GGMLType | None = None,
) -> dict[str, GGMLType]:
    """Type of every tensor after ``llama-quantize <src> <dst> <preset>`` on a ``source_type`` export.

    ``output_type`` / ``token_embedding_type`` mirror ``--output-tensor-type`` / ``--token-embedding-type``;
    ``pure`` mirrors ``--pure`` (default type everywhere, no mixture rules).
    """
    ftype = preset if isinstance(preset, FType) else ftype_by_name(preset)
    # Cached: max_context and --fit searches ask for the same shape and preset many times per request.
    return dict(_tensor_types(shape, ftype, source_type, has_imatrix, pure, output_type, token_embedding_type))


@functools.lru_cache(maxsize=1024)
def tensor_rows(
    shape: ModelShape, source_type: GGMLType
) -> tuple[tuple[tuple[TensorSpec, GGMLType, bool, _Cat], ...], bool, int]:
    """What ``_tensor_types`` reads of each tensor whatever the preset, in llama-quantize's order: (tensor,
    its type in the export, whether it may be quantized, its category); whether the output is tied to
    token_embd; how many attention V-like tensors there are. Worked out once per model, not per preset."""
    specs = sorted(tensor_inventory(shape), key=lambda t: gguf_sort_key(t.name))
    tied = not any(t.name == "output.weight" for t in specs)
    n_attention_wv = sum(1 for t in specs if _category(t.name) in _ATTN_V_LIKE)
    rows = tuple((t, converted_type(t, source_type), allows_quantization(t), _category(t.name)) for t in specs)
    return rows, tied, n_attention_wv


@functools.lru_cache(maxsize=1024)
def _tensor_types(
    shape: ModelShape,
    ftype: FType,
    source_type: GGMLType,
    has_imatrix: bool,
    pure: bool,
    output_type: GGMLType | None,
    token_embedding_type: GGMLType | None,
) -> tuple[tuple[str, GGMLType], ...]:
    default_type = DEFAULT_TYPE[ftype]
    rows, tied, n_attention_wv = tensor_rows(shape, source_type)
    st = _State(n_attention_wv=n_attention_wv)
    out: dict[str, GGMLType] = {}
    for spec, src, allowed, cat in rows:
        if not allowed:
            out[spec.name] = src
            continue
        if token_embedding_type is not None and cat == _Cat.TOKEN_EMBD:
            out[spec.name] = token_embedding_type
            continue
        if output_type is not None and cat == _Cat.OUTPUT:
            out[spec.name] = output_type
            continue
        new_type = default_type
        if TRAITS[default_type].is_quantized:
            if not pure:
                new_type = _mixture_type(st, shape, spec, cat, ftype, new_type, tied, has_imatrix)
            new_type = _fallback(st, spec, new_type)
        out[spec.name] = new_type
    return tuple(out.items())


def weights_bytes(shape: ModelShape, types: dict[str, GGMLType]) -> int:
    """Bytes of tensor data for ``types`` (as from ``tensor_types``), unpadded."""
    return sum(tensor_bytes(types[t.name], t.dims) for t in tensor_inventory(shape))


def gguf_data_bytes(shape: ModelShape, types: dict[str, GGMLType], alignment: int = 32) -> int:
    """Bytes of the GGUF data section: each tensor padded to ``alignment`` (GGML_PAD in gguf.cpp)."""
    return sum(
        (tensor_bytes(types[t.name], t.dims) + alignment - 1) // alignment * alignment for t in tensor_inventory(shape)
    )


def bits_per_weight(shape: ModelShape, types: dict[str, GGMLType]) -> float:
    n = sum(t.n_elements for t in tensor_inventory(shape))
    return 8.0 * weights_bytes(shape, types) / n


# --------------------------------------------------------------------------------------------------
# Hugging Face formats (transformers runtime)
# --------------------------------------------------------------------------------------------------


class HFQuant(enum.Enum):
    """Weight storage of a transformers checkpoint / load."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    BNB_NF4 = "bnb_nf4"
    BNB_FP4 = "bnb_fp4"
    BNB_INT8 = "bnb_int8"
    GPTQ = "gptq"
    AWQ = "awq"


@dataclass(frozen=True)
class HFFormat:
    """A transformers weight format.

    ``double_quant`` is bitsandbytes' ``bnb_4bit_use_double_quant``; ``bits``/``group_size`` apply to
    GPTQ/AWQ. ``compute_bytes`` is the element size of unquantized tensors (torch_dtype): 2 for fp16/bf16.
    """

    quant: HFQuant
    double_quant: bool = False
    bits: int = 4
    group_size: int = 128
    compute_bytes: int = 2


# bitsandbytes 4-bit: 2 weights per byte, blocksize 64 with an fp32 absmax per block; with double quant
# the absmax is stored as 8 bits and every 256 absmax values share an fp32 scale (bitsandbytes
# functional.quantize_4bit / QuantState; transformers BitsAndBytesConfig docs).
_BNB4_BLOCK = 64
_BNB4_NESTED_BLOCK = 256


def _is_hf_linear(spec: TensorSpec) -> bool:
    """Weights that transformers holds in nn.Linear modules inside the decoder blocks (the ones
    bitsandbytes/GPTQ/AWQ replace). Embeddings, lm_head, norms, biases, convs and 1-D params are not."""
    if spec.layer is None or len(spec.dims) < 2 or not spec.name.endswith(".weight"):
        return False
    return not any(m in spec.name for m in ("_norm.weight", "ssm_conv1d", "shortconv.conv", "attn_sinks", "ssm_a"))


def _linear_bytes(spec: TensorSpec, fmt: HFFormat, *, is_router: bool) -> int:
    n = spec.n_elements
    n_in = spec.dims[0]  # ggml ne0 = in_features
    n_out = n // n_in  # out_features (times experts for 3-D)
    q = fmt.quant
    if q in (HFQuant.BNB_NF4, HFQuant.BNB_FP4):
        n_blocks = -(-n // _BNB4_BLOCK)
        # double quant: 8-bit absmax per block + an fp32 scale per 256 absmax values
        nested = n_blocks + -(-n_blocks // _BNB4_NESTED_BLOCK) * 4
        absmax = nested if fmt.double_quant else n_blocks * 4
        return -(-n // 2) + absmax
    if q == HFQuant.BNB_INT8:
        return n + n_out * 4  # int8 weights + fp32 row scale (SCB)
    if q in (HFQuant.GPTQ, HFQuant.AWQ):
        if is_router:
            return n * fmt.compute_bytes  # GPTQ/AWQ quantizers skip the MoE router (mlp.gate)
        groups = -(-n_in // fmt.group_size)
        qweight = n * fmt.bits // 8
        scales = groups * n_out * 2  # fp16 scale per group and output column
        qzeros = groups * n_out * fmt.bits // 8
        g_idx = n_in * 4 if q == HFQuant.GPTQ else 0  # int32 act-order index per input column
        return qweight + scales + qzeros + g_idx
    raise AssertionError(q)


def hf_weights_bytes(shape: ModelShape, fmt: HFFormat) -> int:
    """Weight bytes of ``shape`` loaded in transformers with ``fmt``.

    Quantized formats replace only the decoder's Linear weights; embeddings, lm_head (transformers'
    ``get_keys_to_not_convert`` keeps the output embedding), norms and biases stay at ``compute_bytes``
    per element. bitsandbytes quantizes the MoE router too (it is an nn.Linear); GPTQ/AWQ do not.
    """
    if fmt.quant in (HFQuant.FP32, HFQuant.FP16, HFQuant.BF16):
        el = 4 if fmt.quant == HFQuant.FP32 else 2
        return sum(t.n_elements for t in tensor_inventory(shape)) * el
    total = 0
    for spec in tensor_inventory(shape):
        if _is_hf_linear(spec):
            total += _linear_bytes(spec, fmt, is_router="ffn_gate_inp" in spec.name)
        else:
            total += spec.n_elements * fmt.compute_bytes
    return total


# Tensor types llama.cpp writes only with an importance matrix (``tensor_requires_imatrix`` in
# src/llama-quant.cpp); q2_K too, in a Q2_K_S file. token_embd and output are exempt.
_IMATRIX_TYPES = frozenset(
    {GGMLType.IQ3_XXS, GGMLType.IQ2_XXS, GGMLType.IQ2_XS, GGMLType.IQ2_S, GGMLType.IQ1_M, GGMLType.IQ1_S}
)


@functools.lru_cache(maxsize=4096)
def needs_imatrix(shape: ModelShape, preset: str) -> bool:
    """Whether ``llama-quantize`` refuses ``preset`` for ``shape`` without an importance matrix (as it
    does for the IQ1/IQ2 presets, IQ3_XXS, IQ3_XS and Q2_K_S). Published files of such presets are made
    with one, so their type mix follows the has_imatrix rules."""
    ftype = ftype_by_name(preset)
    for name, t in tensor_types(shape, ftype).items():
        if name in ("token_embd.weight", "output.weight"):
            continue
        if t in _IMATRIX_TYPES or (t == GGMLType.Q2_K and ftype == FType.Q2_K_S):
            return True
    return False
