"""The tensors llama.cpp's loader expects for a model shape.

Names and dims follow ``load_arch_tensors`` in ``src/models/<arch>.cpp`` of the llama.cpp vendored in
llama-cpp-python 0.3.36; tensor-name templates are ``LLM_TENSOR_NAMES`` in ``src/llama-arch.cpp``.
Dims are in ggml order: ``dims[0]`` (ne0) is the row length.

Optional tensors (``TENSOR_NOT_REQUIRED``) are included when the published GGUFs of that family carry
them; the switches live in ``ModelShape.extras``:

* ``attn_qkv_bias`` (bool): q/k/v biases (default on for qwen2 and gpt-oss).
* ``attn_qkv_fused`` (bool): one ``attn_qkv`` tensor instead of q/k/v (default on for phi3).
* ``rope_freqs`` (bool): Llama-3.1-style ``rope_freqs.weight`` (n_rot/2 floats).
* ``rope_factors`` (bool): Phi-3 LongRoPE ``rope_factors_long/short.weight``.
* ``rope_dim`` (int): n_rot when it differs from head_dim.
* ``expert_probs_bias`` (bool): DeepSeek-V3-style ``exp_probs_b.bias`` router bias.
* ``shortconv_l_cache`` (int): LFM2 short-convolution kernel length.
* ``norm_topk_shexp_gate`` -- not used; Qwen3-Next always has ``ffn_gate_inp_shexp``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from advisor.core.ggml_types import GGMLType
from advisor.core.shape import ModelShape


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: GGUF name and ggml dims (ne0 first)."""

    name: str
    dims: tuple[int, ...]

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def layer(self) -> int | None:
        """Block index for ``blk.N.*`` tensors, else None."""
        m = _BLK_RE.match(self.name)
        return int(m.group(1)) if m else None


_BLK_RE = re.compile(r"blk\.(\d+)\.")


def _flag(shape: ModelShape, key: str, default: bool) -> bool:
    v = shape.extra(key, default)
    return bool(v)


def _int_extra(shape: ModelShape, key: str, default: int) -> int:
    v = shape.extra(key, default)
    assert isinstance(v, (int, float)) and not isinstance(v, bool), f"extra {key} must be a number"
    return int(v)


class _Builder:
    def __init__(self) -> None:
        self.out: list[TensorSpec] = []

    def add(self, name: str, *dims: int) -> None:
        self.out.append(TensorSpec(name, tuple(int(d) for d in dims)))

    def blk(self, i: int, name: str, *dims: int) -> None:
        self.add(f"blk.{i}.{name}", *dims)


def _embeddings(b: _Builder, s: ModelShape, *, output_allowed: bool = True, output_norm: str = "output_norm") -> None:
    b.add("token_embd.weight", s.hidden_size, s.vocab_size)
    b.add(f"{output_norm}.weight", s.hidden_size)
    if output_allowed and not s.tied_embeddings:
        b.add("output.weight", s.hidden_size, s.vocab_size)


def _qkv(b: _Builder, s: ModelShape, i: int, n_q: int, n_k: int, n_v: int, *, bias: bool, fused: bool) -> None:
    # llama-model.cpp create_tensor_qkv: fused attn_qkv {n_embd, q+k+v} or separate q/k/v, optional biases.
    if fused:
        b.blk(i, "attn_qkv.weight", s.hidden_size, n_q + n_k + n_v)
        if bias:
            b.blk(i, "attn_qkv.bias", n_q + n_k + n_v)
        return
    b.blk(i, "attn_q.weight", s.hidden_size, n_q)
    b.blk(i, "attn_k.weight", s.hidden_size, n_k)
    b.blk(i, "attn_v.weight", s.hidden_size, n_v)
    if bias:
        b.blk(i, "attn_q.bias", n_q)
        b.blk(i, "attn_k.bias", n_k)
        b.blk(i, "attn_v.bias", n_v)


def _dense_ffn(b: _Builder, s: ModelShape, i: int, n_ff: int) -> None:
    b.blk(i, "ffn_gate.weight", s.hidden_size, n_ff)
    b.blk(i, "ffn_down.weight", n_ff, s.hidden_size)
    b.blk(i, "ffn_up.weight", s.hidden_size, n_ff)


def _moe_ffn(b: _Builder, s: ModelShape, i: int, n_ff_exp: int) -> None:
    b.blk(i, "ffn_gate_inp.weight", s.hidden_size, s.n_experts)
    b.blk(i, "ffn_gate_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)
    b.blk(i, "ffn_down_exps.weight", n_ff_exp, s.hidden_size, s.n_experts)
    b.blk(i, "ffn_up_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)


def _shexp(b: _Builder, s: ModelShape, i: int, n_ff_sh: int) -> None:
    b.blk(i, "ffn_gate_shexp.weight", s.hidden_size, n_ff_sh)
    b.blk(i, "ffn_down_shexp.weight", n_ff_sh, s.hidden_size)
    b.blk(i, "ffn_up_shexp.weight", s.hidden_size, n_ff_sh)


def _n_rot(s: ModelShape) -> int:
    return _int_extra(s, "rope_dim", s.head_dim)


def _expert_ff(s: ModelShape) -> int:
    # qwen3moe.cpp: n_ff_exp = hparams.n_ff_exp() ? n_ff_exp : n_ff / n_expert_used
    if s.expert_ffn_size:
        return s.expert_ffn_size
    return s.ffn_size // max(1, s.n_experts_used)


def _llama(s: ModelShape) -> list[TensorSpec]:
    # src/models/llama.cpp (Mixtral-style MoE when n_expert > 0; granite-style shared expert when set).
    b = _Builder()
    _embeddings(b, s)
    if _flag(s, "rope_freqs", False):
        b.add("rope_freqs.weight", _n_rot(s) // 2)
    bias = _flag(s, "attn_qkv_bias", False)
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", s.hidden_size)
        _qkv(
            b,
            s,
            i,
            s.head_dim * s.n_heads,
            s.head_dim * s.kv_heads_at(i),
            s.v_dim * s.kv_heads_at(i),
            bias=bias,
            fused=_flag(s, "attn_qkv_fused", False),
        )
        b.blk(i, "attn_output.weight", s.head_dim * s.n_heads, s.hidden_size)
        b.blk(i, "ffn_norm.weight", s.hidden_size)
        if s.n_experts == 0:
            _dense_ffn(b, s, i, s.ffn_size)
        else:
            _moe_ffn(b, s, i, _expert_ff(s))
            if s.shared_expert_ffn_size:
                _shexp(b, s, i, s.shared_expert_ffn_size)
    return b.out


def _qwen2(s: ModelShape) -> list[TensorSpec]:
    # src/models/qwen2.cpp: attention dims are n_embd (q) and n_embd_gqa (k, v); Qwen2 ships q/k/v biases.
    b = _Builder()
    _embeddings(b, s)
    bias = _flag(s, "attn_qkv_bias", True)
    for i in range(s.n_layers):
        n_gqa = s.v_dim * s.kv_heads_at(i)
        b.blk(i, "attn_norm.weight", s.hidden_size)
        _qkv(b, s, i, s.hidden_size, n_gqa, n_gqa, bias=bias, fused=False)
        b.blk(i, "attn_output.weight", s.hidden_size, s.hidden_size)
        b.blk(i, "ffn_norm.weight", s.hidden_size)
        _dense_ffn(b, s, i, s.ffn_size)
    return b.out


def _qwen3(s: ModelShape) -> list[TensorSpec]:
    # src/models/qwen3.cpp and qwen3moe.cpp: q/k norms of head_dim; MoE has ffn_gate_inp + *_exps.
    b = _Builder()
    _embeddings(b, s)
    for i in range(s.n_layers):
        n_gqa = s.v_dim * s.kv_heads_at(i)
        b.blk(i, "attn_norm.weight", s.hidden_size)
        _qkv(b, s, i, s.head_dim * s.n_heads, n_gqa, n_gqa, bias=_flag(s, "attn_qkv_bias", False), fused=False)
        b.blk(i, "attn_output.weight", s.head_dim * s.n_heads, s.hidden_size)
        b.blk(i, "attn_k_norm.weight", s.head_dim)
        b.blk(i, "attn_q_norm.weight", s.head_dim)
        b.blk(i, "ffn_norm.weight", s.hidden_size)
        if s.arch == "qwen3moe":
            _moe_ffn(b, s, i, _expert_ff(s))
        else:
            _dense_ffn(b, s, i, s.ffn_size)
    return b.out


def _gemma(s: ModelShape) -> list[TensorSpec]:
    # src/models/gemma2.cpp (output always tied) and gemma3.cpp (q/k norms).
    b = _Builder()
    _embeddings(b, s, output_allowed=s.arch != "gemma2")
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", s.hidden_size)
        _qkv(
            b,
            s,
            i,
            s.head_dim * s.n_heads,
            s.head_dim * s.kv_heads_at(i),
            s.v_dim * s.kv_heads_at(i),
            bias=False,
            fused=False,
        )
        b.blk(i, "attn_output.weight", s.head_dim * s.n_heads, s.hidden_size)
        b.blk(i, "post_attention_norm.weight", s.hidden_size)
        if s.arch == "gemma3":
            b.blk(i, "attn_k_norm.weight", s.head_dim)
            b.blk(i, "attn_q_norm.weight", s.head_dim)
        b.blk(i, "ffn_norm.weight", s.hidden_size)
        _dense_ffn(b, s, i, s.ffn_size)
        b.blk(i, "post_ffw_norm.weight", s.hidden_size)
    return b.out


def _phi3(s: ModelShape) -> list[TensorSpec]:
    # src/models/phi3.cpp: fused attn_qkv in published GGUFs; ffn_up is {n_embd, 2*n_ff} (gate+up).
    b = _Builder()
    _embeddings(b, s)
    if _flag(s, "rope_factors", False):
        b.add("rope_factors_long.weight", _n_rot(s) // 2)
        b.add("rope_factors_short.weight", _n_rot(s) // 2)
    for i in range(s.n_layers):
        n_gqa = s.v_dim * s.kv_heads_at(i)
        b.blk(i, "attn_norm.weight", s.hidden_size)
        _qkv(b, s, i, s.hidden_size, n_gqa, n_gqa, bias=False, fused=_flag(s, "attn_qkv_fused", True))
        b.blk(i, "attn_output.weight", s.hidden_size, s.hidden_size)
        b.blk(i, "ffn_norm.weight", s.hidden_size)
        b.blk(i, "ffn_down.weight", s.ffn_size, s.hidden_size)
        b.blk(i, "ffn_up.weight", s.hidden_size, 2 * s.ffn_size)
    return b.out


def _deepseek2(s: ModelShape) -> list[TensorSpec]:
    # src/models/deepseek2.cpp, MLA form (attn_k_b / attn_v_b split, as current converters write it).
    b = _Builder()
    _embeddings(b, s)
    qk_nope, qk_rope, v_mla = s.qk_nope_head_dim, s.qk_rope_head_dim, s.v_head_dim_mla
    k_mla = qk_nope + qk_rope
    n_ff_exp = s.expert_ffn_size
    n_sh = s.shared_experts * n_ff_exp
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", s.hidden_size)
        if s.q_lora_rank > 0:
            b.blk(i, "attn_q_a_norm.weight", s.q_lora_rank)
        b.blk(i, "attn_kv_a_norm.weight", s.kv_lora_rank)
        if s.q_lora_rank > 0:
            b.blk(i, "attn_q_a.weight", s.hidden_size, s.q_lora_rank)
            b.blk(i, "attn_q_b.weight", s.q_lora_rank, s.n_heads * k_mla)
        else:
            b.blk(i, "attn_q.weight", s.hidden_size, s.n_heads * k_mla)
        b.blk(i, "attn_kv_a_mqa.weight", s.hidden_size, s.kv_lora_rank + qk_rope)
        b.blk(i, "attn_k_b.weight", qk_nope, s.kv_lora_rank, s.n_heads)
        b.blk(i, "attn_v_b.weight", s.kv_lora_rank, v_mla, s.n_heads)
        b.blk(i, "attn_output.weight", s.n_heads * v_mla, s.hidden_size)
        b.blk(i, "ffn_norm.weight", s.hidden_size)
        if i < s.first_dense_layers:
            _dense_ffn(b, s, i, s.ffn_size)
        else:
            b.blk(i, "ffn_gate_inp.weight", s.hidden_size, s.n_experts)
            if _flag(s, "expert_probs_bias", False):
                b.blk(i, "exp_probs_b.bias", s.n_experts)
            b.blk(i, "ffn_down_exps.weight", n_ff_exp, s.hidden_size, s.n_experts)
            b.blk(i, "ffn_gate_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)
            b.blk(i, "ffn_up_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)
            _shexp(b, s, i, n_sh)
    return b.out


def _gpt_oss(s: ModelShape) -> list[TensorSpec]:
    # src/models/openai-moe.cpp: output always present, attention sinks, biases everywhere.
    b = _Builder()
    b.add("token_embd.weight", s.hidden_size, s.vocab_size)
    b.add("output_norm.weight", s.hidden_size)
    b.add("output.weight", s.hidden_size, s.vocab_size)
    n_rot = _n_rot(s)
    n_ff_exp = s.expert_ffn_size
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", s.hidden_size)
        b.blk(i, "post_attention_norm.weight", s.hidden_size)
        _qkv(
            b,
            s,
            i,
            s.n_heads * n_rot,
            s.kv_heads_at(i) * n_rot,
            s.kv_heads_at(i) * n_rot,
            bias=_flag(s, "attn_qkv_bias", True),
            fused=False,
        )
        b.blk(i, "attn_output.weight", s.n_heads * n_rot, s.hidden_size)
        b.blk(i, "attn_sinks.weight", s.n_heads)
        _moe_ffn(b, s, i, n_ff_exp)
        b.blk(i, "attn_output.bias", s.hidden_size)
        b.blk(i, "ffn_gate_inp.bias", s.n_experts)
        b.blk(i, "ffn_gate_exps.bias", n_ff_exp, s.n_experts)
        b.blk(i, "ffn_down_exps.bias", s.hidden_size, s.n_experts)
        b.blk(i, "ffn_up_exps.bias", n_ff_exp, s.n_experts)
    return b.out


def _lfm2(s: ModelShape) -> list[TensorSpec]:
    # src/models/lfm2.cpp: recurrent (short-conv) layers are those with n_head_kv == 0; output norm is
    # named token_embd_norm (LLM_TENSOR_OUTPUT_NORM_LFM2).
    b = _Builder()
    _embeddings(b, s, output_norm="token_embd_norm")
    l_cache = _int_extra(s, "shortconv_l_cache", 3)
    for i in range(s.n_layers):
        b.blk(i, "ffn_norm.weight", s.hidden_size)
        _dense_ffn(b, s, i, s.ffn_size)
        b.blk(i, "attn_norm.weight", s.hidden_size)
        if s.kv_heads_at(i) > 0:
            n_gqa = s.head_dim * s.kv_heads_at(i)
            b.blk(i, "attn_q_norm.weight", s.head_dim)
            b.blk(i, "attn_k_norm.weight", s.head_dim)
            _qkv(b, s, i, s.hidden_size, n_gqa, n_gqa, bias=False, fused=False)
            b.blk(i, "attn_output.weight", s.hidden_size, s.hidden_size)
        else:
            b.blk(i, "shortconv.conv.weight", l_cache, s.hidden_size)
            b.blk(i, "shortconv.in_proj.weight", s.hidden_size, 3 * s.hidden_size)
            b.blk(i, "shortconv.out_proj.weight", s.hidden_size, s.hidden_size)
    return b.out


def _qwen3next(s: ModelShape) -> list[TensorSpec]:
    # src/models/qwen3next.cpp: gated-delta-net (recurrent) layers and gated full-attention layers
    # (attn_q is 2x wide: query + gate), MoE with a gated shared expert in every layer.
    b = _Builder()
    _embeddings(b, s)
    head_k = head_v = s.ssm_d_state
    key_dim = head_k * s.ssm_n_group
    value_dim = head_v * s.ssm_dt_rank
    conv_dim = key_dim * 2 + value_dim
    n_ff_exp = _expert_ff(s)
    n_ff_sh = s.shared_expert_ffn_size or s.ffn_size
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", s.hidden_size)
        b.blk(i, "post_attention_norm.weight", s.hidden_size)
        if not s.is_recurrent_layer(i):
            n_gqa = s.head_dim * s.kv_heads_at(i)
            _qkv(b, s, i, s.head_dim * s.n_heads * 2, n_gqa, n_gqa, bias=False, fused=False)
            b.blk(i, "attn_output.weight", s.head_dim * s.n_heads, s.hidden_size)
            b.blk(i, "attn_q_norm.weight", s.head_dim)
            b.blk(i, "attn_k_norm.weight", s.head_dim)
        else:
            b.blk(i, "attn_qkv.weight", s.hidden_size, key_dim * 2 + value_dim)
            b.blk(i, "attn_gate.weight", s.hidden_size, value_dim)
            b.blk(i, "ssm_conv1d.weight", s.ssm_d_conv, conv_dim)
            b.blk(i, "ssm_dt.bias", s.ssm_dt_rank)
            b.blk(i, "ssm_a", s.ssm_dt_rank)
            b.blk(i, "ssm_ba.weight", s.hidden_size, s.ssm_dt_rank * 2)
            b.blk(i, "ssm_norm.weight", head_v)
            b.blk(i, "ssm_out.weight", value_dim, s.hidden_size)
        b.blk(i, "ffn_gate_inp.weight", s.hidden_size, s.n_experts)
        b.blk(i, "ffn_down_exps.weight", n_ff_exp, s.hidden_size, s.n_experts)
        b.blk(i, "ffn_gate_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)
        b.blk(i, "ffn_up_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)
        b.blk(i, "ffn_gate_inp_shexp.weight", s.hidden_size)
        _shexp(b, s, i, n_ff_sh)
    return b.out


_ARCH_BUILDERS: dict[str, Callable[[ModelShape], list[TensorSpec]]] = {
    "llama": _llama,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "qwen3moe": _qwen3,
    "gemma2": _gemma,
    "gemma3": _gemma,
    "phi3": _phi3,
    "deepseek2": _deepseek2,
    "gpt-oss": _gpt_oss,
    "lfm2": _lfm2,
    "qwen3next": _qwen3next,
}

SUPPORTED_ARCHS: tuple[str, ...] = tuple(_ARCH_BUILDERS)


@functools.lru_cache(maxsize=1024)  # shapes are frozen; memory searches ask for the same one many times
def tensor_inventory(shape: ModelShape) -> tuple[TensorSpec, ...]:
    """Every tensor the loader creates for ``shape``, in loader order (not file order)."""
    try:
        build = _ARCH_BUILDERS[shape.arch]
    except KeyError:
        raise NotImplementedError(f"no tensor inventory for arch {shape.arch!r}; have {SUPPORTED_ARCHS}") from None
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
)


def converted_type(spec: TensorSpec, float_type: GGMLType = GGMLType.F16) -> GGMLType:
    """Type that convert_hf_to_gguf gives a tensor in a ``float_type`` (F16/BF16/F32) export."""
    if len(spec.dims) <= 1 or spec.name.endswith("_norm.weight") or not spec.name.endswith(".weight"):
        return GGMLType.F32
    if any(spec.name.endswith(m) for m in _F32_2D_MARKERS):
        return GGMLType.F32
    return float_type
