"""Zero-weight stand-in GGUF files for any ``ModelShape``.

llama.cpp's memory use and speed depend on tensor shapes and types only, so a GGUF with the real tensor
names/shapes/metadata and all-zero data loads and runs like the real model. The file is written sparse:
header (metadata + tensor infos) first, then the file is truncated up to its full size, so the zero data
takes no disk space.

Metadata keys are ``LLM_KV_NAMES`` in ``src/llama-arch.cpp``; which keys each architecture reads is in
``load_arch_hparams`` of ``src/models/<arch>.cpp`` (llama.cpp vendored in llama-cpp-python 0.3.36).
The vocabulary is SentencePiece-style (``tokenizer.ggml.model = "llama"``): <unk>, <s>, </s>, the 256
byte tokens ``<0x00>``..``<0xFF>`` (llama-vocab.cpp looks up ``<0x0A>`` for the newline token), then
filler tokens up to ``vocab_size``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from advisor.core.ggml_types import GGMLType, tensor_bytes
from advisor.core.gguf_size import GGUF_ALIGNMENT, pad
from advisor.core.shape import ModelShape
from advisor.core.tensors import TensorSpec, converted_type, gguf_sort_key, tensor_inventory

# SentencePiece token types, llama_token_type in include/llama.h (LLAMA_TOKEN_TYPE_*).
_TOKEN_NORMAL, _TOKEN_UNKNOWN, _TOKEN_CONTROL, _TOKEN_BYTE = 1, 2, 3, 6


def standin_tensor_types(shape: ModelShape, float_type: GGMLType = GGMLType.F16) -> dict[str, GGMLType]:
    """Types of the stand-in's tensors: what convert_hf_to_gguf writes for an ``float_type`` export."""
    return {t.name: converted_type(t, float_type) for t in tensor_inventory(shape)}


# Remembered per size: many catalog models share a vocabulary size, and sizing a stand-in's header (every
# plan's download size) built the 150k-token lists anew each time (~20 ms per model). Tuples: shared, read only.
@functools.lru_cache(maxsize=16)
def _vocab(n_vocab: int) -> tuple[tuple[str, ...], tuple[float, ...], tuple[int, ...]]:
    if n_vocab < 3 + 256 + 1:
        raise ValueError(f"vocab_size {n_vocab} too small for a byte-fallback vocabulary")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [_TOKEN_UNKNOWN, _TOKEN_CONTROL, _TOKEN_CONTROL] + [_TOKEN_BYTE] * 256
    n_fill = n_vocab - len(tokens)
    tokens += [f"tok{i}" for i in range(n_fill)]
    types += [_TOKEN_NORMAL] * n_fill
    scores = [0.0] * 259 + [-float(i) for i in range(n_fill)]
    return tuple(tokens), tuple(scores), tuple(types)


# Architectures whose loader sizes the routed experts by feed_forward_length (n_ff) instead of
# expert_feed_forward_length: granite.cpp, granite-moe.cpp, granite-hybrid.cpp, mistral3.cpp, olmoe.cpp,
# minimax-m2.cpp.
_N_FF_IS_EXPERT_WIDTH = frozenset({"granite", "granitemoe", "granitehybrid", "mistral3", "olmoe", "minimax-m2"})
# Architectures that read head_count_kv per layer to tell recurrent layers (0) from attention layers:
# lfm2.cpp, lfm2moe.cpp, granite-hybrid.cpp, nemotron-h.cpp. Others with a recurrent-layer list read it
# from attention.recurrent_layers (qwen3next.cpp, qwen35.cpp) or treat every layer as recurrent.
_KV_ARRAY_ARCHS = frozenset({"lfm2", "lfm2moe", "granitehybrid", "nemotron_h", "nemotron_h_moe", "gemma4"})
_SHORTCONV_ARCHS = frozenset({"lfm2", "lfm2moe"})
_DELTA_NET_ARCHS = frozenset({"qwen3next", "qwen35", "qwen35moe"})


def _feed_forward_length(s: ModelShape) -> tuple[str, Any]:
    if s.n_ff_per_layer:
        return "arr_u32", list(s.n_ff_per_layer)
    if s.n_experts and s.arch in _N_FF_IS_EXPERT_WIDTH:
        return "u32", s.expert_ffn_size or s.ffn_size
    return "u32", s.ffn_size


def _head_count(s: ModelShape) -> tuple[str, Any]:
    # laguna.cpp reads head_count per layer (conversion/laguna.py writes num_attention_heads_per_layer)
    return ("arr_u32", list(s.n_heads_per_layer)) if s.n_heads_per_layer else ("u32", s.n_heads)


def _arch_metadata(s: ModelShape) -> list[tuple[str, str, Any]]:
    """(key suffix, kind, value) for ``{arch}.*`` keys. kind: u32, f32, bool, arr_u32, arr_bool, arr_i32.

    Keys an architecture does not read are harmless, so the required keys of every architecture with
    an inventory are written whenever the shape has the values (``load_arch_hparams`` in
    ``src/models/<arch>.cpp``: get_key without ``false`` is required).
    """
    ff_kind, ff_value = _feed_forward_length(s)
    a: list[tuple[str, str, Any]] = [
        ("context_length", "u32", s.context_max),
        ("embedding_length", "u32", s.hidden_size),
        ("block_count", "u32", s.n_layers),
        ("feed_forward_length", ff_kind, ff_value),
        ("attention.head_count", *_head_count(s)),
        ("attention.layer_norm_rms_epsilon", "f32", 1e-6),
        ("rope.freq_base", "f32", float(s.extra("rope_freq_base", 10000.0) or 10000.0)),
        ("vocab_size", "u32", s.vocab_size),
    ]
    if s.is_mla:
        # convert_hf_to_gguf writes MLA models with one shared latent "head" (DeepseekV2Model)
        a.append(("attention.head_count_kv", "u32", 1))
    elif s.n_kv_heads_per_layer and s.arch in _KV_ARRAY_ARCHS:
        a.append(("attention.head_count_kv", "arr_u32", list(s.n_kv_heads_per_layer)))
    else:
        kv = max(s.n_kv_heads_per_layer) if s.n_kv_heads_per_layer else s.n_kv_heads
        a.append(("attention.head_count_kv", "u32", kv))
    if s.is_mla:
        # deepseek2.cpp: MLA caches kv_lora_rank + rope dims as one "head" of K and kv_lora_rank of V.
        a += [
            ("attention.key_length", "u32", s.kv_lora_rank + s.qk_rope_head_dim),
            ("attention.value_length", "u32", s.kv_lora_rank),
            ("attention.key_length_mla", "u32", s.qk_nope_head_dim + s.qk_rope_head_dim),
            ("attention.value_length_mla", "u32", s.v_head_dim_mla),
            ("attention.kv_lora_rank", "u32", s.kv_lora_rank),
            ("rope.dimension_count", "u32", s.qk_rope_head_dim),
            ("leading_dense_block_count", "u32", s.first_dense_layers),
            ("expert_shared_count", "u32", s.shared_experts),
        ]
        # deepseek2.cpp reads q_lora_rank as required (0: a plain attn_q, as in DeepSeek-V2-Lite)
        a.append(("attention.q_lora_rank", "u32", s.q_lora_rank))
        if s.extra("expert_probs_bias", False):
            a.append(("expert_gating_func", "u32", 2))  # LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID
    else:
        a += [
            ("attention.key_length", "u32", s.head_dim),
            ("attention.value_length", "u32", s.v_dim),
            ("rope.dimension_count", "u32", int(s.extra("rope_dim", s.head_dim) or s.head_dim)),
        ]
    if s.n_experts:
        a += [("expert_count", "u32", s.n_experts), ("expert_used_count", "u32", s.n_experts_used)]
        if s.expert_ffn_size:
            a.append(("expert_feed_forward_length", "u32", s.expert_ffn_size))
        if s.shared_expert_ffn_size:
            a.append(("expert_shared_feed_forward_length", "u32", s.shared_expert_ffn_size))
        if s.arch in ("glm4moe", "dots1"):
            a.append(("expert_shared_count", "u32", s.shared_experts))  # required by glm4-moe.cpp, dots1.cpp
        if s.arch in ("glm4moe", "lfm2moe", "dots1", "ernie4_5-moe", "laguna"):
            a.append(("leading_dense_block_count", "u32", s.first_dense_layers))
        if s.arch in ("lfm2moe", "minimax-m2", "dots1"):
            # lfm2moe.cpp requires it; minimax-m2.cpp and dots1.cpp have no default and abort building the
            # graph without it. 2 = LLAMA_EXPERT_GATING_FUNC_TYPE_SIGMOID (conversion/base.py writes it from
            # the config's scoring_func; lfm2.py always).
            a.append(("expert_gating_func", "u32", 2))
        if s.extra("moe_latent_size"):  # nemotron-h.cpp: the routed experts' latent width
            a.append(("moe_latent_size", "u32", int(s.extra("moe_latent_size", 0) or 0)))
        if s.arch in ("llama4", "ernie4_5-moe"):  # required by both loaders
            a.append(("interleave_moe_layer_step", "u32", int(s.extra("moe_layer_step", 1) or 1)))
    if s.sliding_window and s.arch not in ("llama",):
        a.append(("attention.sliding_window", "u32", s.sliding_window))
        if s.swa_layers and s.arch not in _SHORTCONV_ARCHS:
            # llama-model.cpp load_swa_pattern: an array of per-layer is-SWA flags is read first.
            a.append(("attention.sliding_window_pattern", "arr_bool", list(s.swa_layers)))
    if s.arch in _SHORTCONV_ARCHS:
        a.append(("shortconv.l_cache", "u32", int(s.extra("shortconv_l_cache", 3) or 3)))
    if s.ssm_d_state:
        a += [
            ("ssm.conv_kernel", "u32", s.ssm_d_conv),
            ("ssm.inner_size", "u32", s.ssm_d_inner),
            ("ssm.state_size", "u32", s.ssm_d_state),
            ("ssm.time_step_rank", "u32", s.ssm_dt_rank),
            ("ssm.group_count", "u32", s.ssm_n_group),
        ]
        if s.recurrent_layers and s.arch in _DELTA_NET_ARCHS:
            a.append(("attention.recurrent_layers", "arr_bool", list(s.recurrent_layers)))
    if s.arch in ("command-r", "cohere2", "granite", "granitemoe"):
        a.append(("logit_scale", "f32", 1.0))  # required by these loaders
    if s.arch in ("command-r", "cohere2", "nemotron_h", "nemotron_h_moe"):
        a.append(("attention.layer_norm_epsilon", "f32", 1e-5))  # LayerNorm epsilon, required
    if s.arch == "gemma4":
        # gemma4.cpp load_arch_hparams: the sliding layers' head size and the per-layer embedding width are
        # required; shared_kv_layers sets n_layer_kv_from_start.
        swa_hd = int(s.extra("head_dim_swa", s.head_dim) or s.head_dim)
        a += [
            ("attention.key_length_swa", "u32", swa_hd),
            ("attention.value_length_swa", "u32", swa_hd),
            ("rope.dimension_count_swa", "u32", swa_hd),
            ("embedding_length_per_layer_input", "u32", int(s.extra("per_layer_input", 0) or 0)),
            ("attention.shared_kv_layers", "u32", int(s.extra("kv_shared_layers", 0) or 0)),
        ]
    if s.arch in ("qwen35", "qwen35moe", "qwen3vl", "qwen3vlmoe"):
        # qwen35.cpp and qwen3vl.cpp read the M-RoPE sections as required; the text model uses the first one.
        a.append(("rope.dimension_sections", "arr_i32", [s.head_dim // 8, s.head_dim // 8, s.head_dim // 8, 0]))
    return a


def _global_metadata(s: ModelShape) -> list[tuple[str, str, Any]]:
    """Keys without the architecture prefix: apertus.cpp requires the xIELU activation parameters."""
    if s.arch != "apertus":
        return []
    return [(k, "f32", v) for k, v in (("xielu.alpha_n", 0.8), ("xielu.alpha_p", 0.8), ("xielu.beta", 0.5))] + [
        ("xielu.eps", "f32", -1e-6)
    ]


def trim_shape(s: ModelShape, max_layers: int = 4) -> ModelShape:
    """``s`` with at most ``max_layers`` layers that keep every kind of layer it has.

    A layer's kind is what changes its tensors or its cache: recurrent or not, KV heads, FFN width, SWA,
    dense-lead or MoE. The first layer of each kind is kept, then the earliest others up to
    ``max_layers``; per-layer tuples follow the kept layers, so the stand-in is a real slice of the model.
    """
    from advisor.core.inventories import is_moe_layer

    kv_end = s.kv_layers_from_start()

    def kind(i: int) -> tuple[object, ...]:
        shared = i >= kv_end  # Gemma 4: reuses an earlier layer's cache
        return (s.is_recurrent_layer(i), s.kv_heads_at(i), s.ffn_at(i), s.is_swa_layer(i), is_moe_layer(s, i), shared)

    keep: list[int] = []
    seen: set[tuple[object, ...]] = set()
    for i in range(s.n_layers):
        if kind(i) not in seen:
            seen.add(kind(i))
            keep.append(i)
    for i in range(s.n_layers):
        if len(keep) >= max(max_layers, len(seen)):
            break
        if i not in keep:
            keep.append(i)
    keep.sort()
    step = int(s.extra("moe_layer_step", 1) or 1)
    if step > 1:
        # llama4.cpp places MoE layers by position ((i + 1) % step == 0): keep whole periods instead.
        keep = list(range(min(s.n_layers, max(max_layers, step) // step * step)))

    def pick(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(values[i] for i in keep) if values else ()

    return replace(
        s,
        n_layers=len(keep),
        swa_layers=pick(s.swa_layers),
        n_kv_heads_per_layer=pick(s.n_kv_heads_per_layer),
        n_heads_per_layer=pick(s.n_heads_per_layer),
        recurrent_layers=pick(s.recurrent_layers),
        n_ff_per_layer=pick(s.n_ff_per_layer),
        first_dense_layers=sum(1 for i in keep if i < s.first_dense_layers),
        extras=_trimmed_extras(s, keep),
    )


def _trimmed_extras(s: ModelShape, keep: list[int]) -> tuple[tuple[str, int | float | str | bool], ...]:
    """Extras that count layers, recounted over the kept ones (Gemma 4's shared KV layers)."""
    if not s.extra("kv_shared_layers", 0):
        return s.extras
    shared = sum(1 for i in keep if i >= s.kv_layers_from_start())
    return tuple((k, shared if k == "kv_shared_layers" else v) for k, v in s.extras)


def standin_metadata(shape: ModelShape, file_type: int) -> list[tuple[str, str, Any]]:
    """Every key write_standin puts in the header besides ``general.architecture`` (GGUFWriter adds it),
    as (key, kind, value); kind: u32, f32, bool, str, arr_u32, arr_bool, arr_i32, arr_str, arr_f32.
    ``advisor.core.gguf_size`` sizes the header from the same list."""
    tokens, scores, ttypes = _vocab(shape.vocab_size)
    return [
        # llama-vocab.cpp keys some token attributes on the model name ("phi3" wants <|endoftext|>): keep it neutral
        ("general.name", "str", "zero-weight stand-in"),
        ("general.file_type", "u32", file_type),
        ("general.alignment", "u32", GGUF_ALIGNMENT),
        *[(f"{shape.arch}.{k}", kind, v) for k, kind, v in _arch_metadata(shape)],
        *_global_metadata(shape),
        ("tokenizer.ggml.model", "str", "llama"),
        ("tokenizer.ggml.pre", "str", "default"),
        ("tokenizer.ggml.tokens", "arr_str", tokens),
        ("tokenizer.ggml.scores", "arr_f32", scores),
        ("tokenizer.ggml.token_type", "arr_i32", ttypes),
        ("tokenizer.ggml.unknown_token_id", "u32", 0),
        ("tokenizer.ggml.bos_token_id", "u32", 1),
        ("tokenizer.ggml.eos_token_id", "u32", 2),
    ]


def write_standin(
    shape: ModelShape,
    path: str | os.PathLike[str],
    float_type: GGMLType = GGMLType.F16,
    tensor_types: dict[str, GGMLType] | None = None,
) -> Path:
    """Write a sparse zero-weight GGUF for ``shape`` and return its path.

    2-D tensors are ``float_type`` (F16 by default), 1-D and the convert-script F32 list stay F32,
    unless ``tensor_types`` overrides per tensor name.
    """
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter

    out = Path(path)
    specs: list[TensorSpec] = sorted(tensor_inventory(shape), key=lambda t: gguf_sort_key(t.name))
    types = standin_tensor_types(shape, float_type)
    if tensor_types:
        types.update(tensor_types)

    w = GGUFWriter(out, shape.arch)
    file_type = {GGMLType.F32: 0, GGMLType.F16: 1, GGMLType.BF16: 32}.get(float_type, 1)
    adders: dict[str, Callable[[str, Any], None]] = {
        "u32": lambda k, v: w.add_uint32(k, int(v)),
        "f32": lambda k, v: w.add_float32(k, float(v)),
        "bool": lambda k, v: w.add_bool(k, bool(v)),
        "str": w.add_string,
    }
    subtypes = {"arr_u32": GGUFValueType.UINT32, "arr_bool": GGUFValueType.BOOL, "arr_i32": GGUFValueType.INT32}
    for key, kind, val in standin_metadata(shape, file_type):
        if kind in adders:
            adders[kind](key, val)
        elif kind in subtypes:
            w.add_key_value(key, list(val), GGUFValueType.ARRAY, sub_type=subtypes[kind])
        else:  # arr_str, arr_f32
            w.add_array(key, list(val))

    data_size = 0
    for t in specs:
        ty = types[t.name]
        nbytes = tensor_bytes(ty, t.dims)
        # numpy order is reversed ggml order; GGUFWriter writes the dims back in ggml order.
        # A non-uint8 dtype with raw_dtype keeps the given (element) shape as is.
        w.add_tensor_info(
            t.name,
            tuple(reversed(t.dims)),
            np.dtype(np.float32),
            nbytes,
            raw_dtype=GGMLQuantizationType(int(ty)),
        )
        data_size += pad(nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    assert w.fout is not None
    fh = w.fout[0]
    header_end = fh.tell()
    w.close()
    with open(out, "r+b") as f:
        f.truncate(pad(header_end) + data_size)
    return out


def quantize_standin(
    f16_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    preset: str,
    *,
    imatrix: bool = False,
    nthread: int = 2,
    dry_run: bool = False,
) -> Path:
    """Quantize a stand-in with llama.cpp's own ``llama_model_quantize`` (llama-cpp-python), so the
    per-tensor type mix is llama.cpp's.

    Presets whose tensors need an importance matrix (IQ1/IQ2/IQ3_XXS, Q2_K_S;
    ``tensor_requires_imatrix`` in src/llama-quant.cpp) are refused by llama.cpp unless ``imatrix``
    is set: then a flat importance matrix (all ones, one value per column and expert) is passed for
    every 2-D/3-D weight. It also switches llama.cpp's has_imatrix rules on, so predict the result
    with ``tensor_types(..., has_imatrix=True)``. ``dry_run`` writes nothing: llama.cpp only logs the type
    it would give each tensor.
    """
    import ctypes

    import llama_cpp
    import numpy as np
    from gguf import GGUFReader

    from advisor.core.quantize import ftype_by_name

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype_by_name(preset))
    params.nthread = nthread
    params.dry_run = dry_run
    keep: list[Any] = []  # keeps the ctypes buffers alive during the call
    if imatrix:
        entries = []
        for t in GGUFReader(f16_path).tensors:
            dims = [int(d) for d in t.shape]  # ggml order, ne0 first
            if len(dims) < 2 or not t.name.endswith("weight"):
                continue
            n = dims[0] * (dims[2] if len(dims) > 2 else 1)
            data = np.ones(n, dtype=np.float32)
            name = t.name.encode()
            keep += [data, name]
            entries.append((name, data))
        arr = (llama_cpp.llama_model_imatrix_data * (len(entries) + 1))()
        for i, (name, data) in enumerate(entries):
            arr[i].name = name
            arr[i].data = data.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            arr[i].size = data.size
        arr[len(entries)].name = None
        keep.append(arr)
        params.imatrix = ctypes.cast(arr, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
    out = Path(out_path)
    rc = llama_cpp.llama_model_quantize(str(f16_path).encode(), str(out).encode(), ctypes.byref(params))
    del keep
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed ({rc}) for {preset}")
    return out
