"""Per-architecture tensor inventories: the tensors llama.cpp's loader creates for a ``ModelShape``.

Which tensors a block holds and their dims follow ``load_arch_tensors`` in ``src/models/<arch>.cpp`` of
the llama.cpp vendored in llama-cpp-python 0.3.36 (``create_tensor_qkv`` and
``create_tensor_gate_up_exps`` in ``src/llama-model.cpp``). Every name is checked against gguf's list
for the architecture (``advisor.core.tensor_spec.Builder``). Dims are in ggml order: ``dims[0]`` (ne0)
is the row length.

Most architectures are a standard pre-norm decoder and are described by a ``Recipe``: which norms,
attention widths, biases and q/k norms a block has, and whether its feed-forward is dense, fused or a
mixture of experts (``decoder``). Code of its own is kept only where llama.cpp has a block of its own:
multi-head latent attention (deepseek2), attention sinks (gpt-oss), recurrent mixers (Mamba-2 in
granitehybrid, nemotron_h, falcon-h1, mamba2; gated delta nets in qwen3next and qwen35/qwen35moe; LFM2
short convolutions) and Phi-3's fused FFN.

Optional tensors (``TENSOR_NOT_REQUIRED``) are included when the published GGUFs of that family carry
them; the switches live in ``ModelShape.extras``:

* ``attn_qkv_bias`` (bool): q/k/v biases (default on for qwen2, qwen2moe, gpt-oss, glm4, glm4moe, seed_oss).
* ``attn_out_bias`` (bool): ``attn_output.bias``.
* ``attn_qkv_fused`` (bool): one ``attn_qkv`` tensor instead of q/k/v (default on for phi3).
* ``qk_norm`` (bool): q/k norms where llama.cpp makes them optional (glm4moe: GLM-4.5/4.6/4.7 have them,
  GLM-4.5-Air does not).
* ``rope_freqs`` (bool): Llama-3.1-style ``rope_freqs.weight`` (n_rot/2 floats).
* ``rope_factors`` (bool): Phi-3 LongRoPE ``rope_factors_long/short.weight``.
* ``rope_dim`` (int): n_rot when it differs from head_dim.
* ``expert_probs_bias`` (bool): DeepSeek-V3-style ``exp_probs_b.bias`` router bias.
* ``moe_layer_step`` (int): every Nth layer is MoE (llama4 ``interleave_moe_layer_step``).
* ``shortconv_l_cache`` (int): LFM2 short-convolution kernel length.
* ``moe_latent_size`` (int): Nemotron 3 Super's latent expert width (ffn_latent_down/up).
* ``ssm_conv_bias`` (bool): Mamba-2 ``ssm_conv1d.bias`` (default on); ``ssm_norm`` (bool): Mamba-2 gated
  norm (default on, off for falcon-h1 whose configs say ``mamba_rms_norm: false``).

MTP/NextN blocks that some GGUFs append (GLM-4.5, Qwen3.5) are loaded with ``TENSOR_SKIP`` unless MTP
is requested, so they take no memory and are not listed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from advisor.core.shape import ModelShape
from advisor.core.tensor_spec import Builder, TensorSpec


def _flag(shape: ModelShape, key: str, default: bool) -> bool:
    v = shape.extra(key, default)
    return bool(v)


def _int_extra(shape: ModelShape, key: str, default: int) -> int:
    v = shape.extra(key, default)
    assert isinstance(v, (int, float)) and not isinstance(v, bool), f"extra {key} must be a number"
    return int(v)


def _embeddings(b: Builder, s: ModelShape, *, output_allowed: bool = True, output_norm: str = "output_norm") -> None:
    b.add("token_embd.weight", s.hidden_size, s.vocab_size)
    b.add(f"{output_norm}.weight", s.hidden_size)
    if output_allowed and not s.tied_embeddings:
        b.add("output.weight", s.hidden_size, s.vocab_size)


def _qkv(b: Builder, s: ModelShape, i: int, n_q: int, n_k: int, n_v: int, *, bias: bool, fused: bool) -> None:
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


def _dense_ffn(b: Builder, s: ModelShape, i: int, n_ff: int) -> None:
    b.blk(i, "ffn_gate.weight", s.hidden_size, n_ff)
    b.blk(i, "ffn_down.weight", n_ff, s.hidden_size)
    b.blk(i, "ffn_up.weight", s.hidden_size, n_ff)


def _moe_ffn(b: Builder, s: ModelShape, i: int, n_ff_exp: int) -> None:
    b.blk(i, "ffn_gate_inp.weight", s.hidden_size, s.n_experts)
    b.blk(i, "ffn_gate_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)
    b.blk(i, "ffn_down_exps.weight", n_ff_exp, s.hidden_size, s.n_experts)
    b.blk(i, "ffn_up_exps.weight", s.hidden_size, n_ff_exp, s.n_experts)


def _shexp(b: Builder, s: ModelShape, i: int, n_ff_sh: int, *, gate: bool = True) -> None:
    if gate:
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


def _phi3(s: ModelShape) -> list[TensorSpec]:
    # src/models/phi3.cpp: fused attn_qkv in published GGUFs; ffn_up is {n_embd, 2*n_ff} (gate+up).
    b = Builder(s.arch)
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
    b = Builder(s.arch)
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
    b = Builder(s.arch)
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
    b = Builder(s.arch)
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
    b = Builder(s.arch)
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


# --------------------------------------------------------------------------------------------------
# The standard decoder, described per architecture by a recipe
# --------------------------------------------------------------------------------------------------

QKNorm = Literal["", "head", "full", "per_head"]


@dataclass(frozen=True)
class Recipe:
    """What one block of a standard decoder holds, read off the architecture's ``load_arch_tensors``.

    ``qk_norm``: "head" = ``{head_dim}`` each; "full" = the width of q and of k (olmo2, minimax-m2);
    "per_head" = ``{head_dim, n_head}`` / ``{head_dim, n_head_kv}`` (command-r with 64+ layers).
    """

    output: Literal["optional", "always", "never"] = "optional"  # never: the loader ties it (DUPLICATED)
    attn_norm: bool = True
    q_embd: bool = False  # attn_q is n_embd wide, and so is attn_output's input
    o_embd: bool = False  # attn_output's input is n_embd
    qkv_bias: bool = False  # default of extras attn_qkv_bias
    out_bias: bool = False  # default of extras attn_out_bias
    qk_norm: QKNorm = ""
    post_attn_norm: bool = False  # post_attention_norm (a pre-FFN norm where ffn_norm is absent)
    ffn_norm: bool = True
    ffn_gate: bool = True  # False: ungated up/down (apertus)
    ffn_up_fused: bool = False  # ffn_up {n_embd, 2*n_ff} holds gate and up (glm4)
    post_ffn_norm: bool = False  # post_ffw_norm
    rope_freqs: bool = False  # the block reads an optional rope_freqs.weight (extras rope_freqs)
    router_bias: bool = False  # exp_probs_b.bias on MoE layers
    shexp_gate: bool = False  # ffn_gate_inp_shexp on MoE layers


def is_moe_layer(s: ModelShape, i: int) -> bool:
    """Routed-expert FFN at layer ``i``: after the leading dense layers (n_layer_dense_lead), on every
    ``moe_layer_step``-th layer (llama4.cpp: ``(i + 1) % n_moe_layer_step == 0``)."""
    if s.n_experts == 0 or i < s.first_dense_layers:
        return False
    return (i + 1) % _int_extra(s, "moe_layer_step", 1) == 0


def _attention(b: Builder, s: ModelShape, i: int, r: Recipe) -> None:
    d = s.hidden_size
    n_kv = s.kv_heads_at(i)
    n_q = d if r.q_embd else s.n_heads * s.head_dim
    n_k, n_v = n_kv * s.head_dim, n_kv * s.v_dim
    if r.attn_norm:
        b.blk(i, "attn_norm.weight", d)
    _qkv(b, s, i, n_q, n_k, n_v, bias=_flag(s, "attn_qkv_bias", r.qkv_bias), fused=_flag(s, "attn_qkv_fused", False))
    b.blk(i, "attn_output.weight", d if r.o_embd else n_q, d)
    if _flag(s, "attn_out_bias", r.out_bias):
        b.blk(i, "attn_output.bias", d)
    if r.qk_norm == "head":
        b.blk(i, "attn_q_norm.weight", s.head_dim)
        b.blk(i, "attn_k_norm.weight", s.head_dim)
    elif r.qk_norm == "full":
        b.blk(i, "attn_q_norm.weight", n_q)
        b.blk(i, "attn_k_norm.weight", n_k)
    elif r.qk_norm == "per_head":
        b.blk(i, "attn_q_norm.weight", s.head_dim, s.n_heads)
        b.blk(i, "attn_k_norm.weight", s.head_dim, n_kv)
    if r.post_attn_norm:
        b.blk(i, "post_attention_norm.weight", d)


def _ffn(b: Builder, s: ModelShape, i: int, r: Recipe) -> None:
    d = s.hidden_size
    if r.ffn_norm:
        b.blk(i, "ffn_norm.weight", d)
    if is_moe_layer(s, i):
        n_exp = _expert_ff(s)
        b.blk(i, "ffn_gate_inp.weight", d, s.n_experts)
        if r.router_bias or _flag(s, "expert_probs_bias", False):
            b.blk(i, "exp_probs_b.bias", s.n_experts)
        if r.ffn_gate:
            b.blk(i, "ffn_gate_exps.weight", d, n_exp, s.n_experts)
        b.blk(i, "ffn_down_exps.weight", n_exp, d, s.n_experts)
        b.blk(i, "ffn_up_exps.weight", d, n_exp, s.n_experts)
        n_sh = s.shared_experts * s.shared_expert_ffn_size
        if n_sh:
            if r.shexp_gate:
                b.blk(i, "ffn_gate_inp_shexp.weight", d)
            _shexp(b, s, i, n_sh, gate=r.ffn_gate)
    else:
        n_ff = s.ffn_at(i)
        if r.ffn_up_fused:
            b.blk(i, "ffn_down.weight", n_ff, d)
            b.blk(i, "ffn_up.weight", d, 2 * n_ff)
        elif r.ffn_gate:
            _dense_ffn(b, s, i, n_ff)
        else:
            b.blk(i, "ffn_down.weight", n_ff, d)
            b.blk(i, "ffn_up.weight", d, n_ff)
    if r.post_ffn_norm:
        b.blk(i, "post_ffw_norm.weight", d)


def _output(b: Builder, s: ModelShape, r: Recipe) -> None:
    b.add("token_embd.weight", s.hidden_size, s.vocab_size)
    b.add("output_norm.weight", s.hidden_size)
    if r.output == "always" or (r.output == "optional" and not s.tied_embeddings):
        b.add("output.weight", s.hidden_size, s.vocab_size)
    if r.rope_freqs and _flag(s, "rope_freqs", False):
        b.add("rope_freqs.weight", _n_rot(s) // 2)  # created for layer 0, duplicated for the others


def decoder(s: ModelShape, r: Recipe) -> list[TensorSpec]:
    """The inventory of a standard decoder: embeddings, output, then attention and FFN per block."""
    b = Builder(s.arch)
    _output(b, s, r)
    for i in range(s.n_layers):
        _attention(b, s, i, r)
        _ffn(b, s, i, r)
    return b.out


# A block normed only after attention and after the FFN (no attn_norm / ffn_norm).
_POST_NORMS = Recipe(attn_norm=False, post_attn_norm=True, ffn_norm=False, post_ffn_norm=True)


def _recipe(r: Recipe) -> Callable[[ModelShape], Recipe]:
    return lambda _s: r


# llama.cpp architecture -> its recipe (from src/models/<file>.cpp, named beside each).
RECIPES: dict[str, Callable[[ModelShape], Recipe]] = {
    # llama.cpp (Mixtral-style MoE when n_expert > 0), qwen2.cpp (q and wo n_embd wide, q/k/v biases),
    # qwen3.cpp / qwen3moe.cpp (q/k norms), gemma2.cpp (output always tied) and gemma3.cpp (q/k norms):
    # the sandwich norms of Gemma are post_attention_norm and post_ffw_norm.
    "llama": _recipe(Recipe(rope_freqs=True)),
    "qwen2": _recipe(Recipe(q_embd=True, qkv_bias=True)),
    "qwen3": _recipe(Recipe(qk_norm="head")),
    "qwen3moe": _recipe(Recipe(qk_norm="head")),
    # qwen3vl.cpp / qwen3vlmoe.cpp: the Qwen3-VL text models are qwen3 / qwen3moe blocks (M-RoPE and the
    # deepstack inputs add no tensors to the text model).
    "qwen3vl": _recipe(Recipe(qk_norm="head")),
    "qwen3vlmoe": _recipe(Recipe(qk_norm="head")),
    "gemma2": _recipe(Recipe(output="never", post_attn_norm=True, post_ffn_norm=True)),
    "gemma3": _recipe(Recipe(qk_norm="head", post_attn_norm=True, post_ffn_norm=True)),
    # granite.cpp, granite-moe.cpp, mistral3.cpp: llama blocks, optional wo bias and rope_freqs, MoE with
    # an optional (granite) shared expert.
    "granite": _recipe(Recipe(rope_freqs=True)),
    "granitemoe": _recipe(Recipe(rope_freqs=True)),
    "mistral3": _recipe(Recipe(rope_freqs=True)),
    "smollm3": _recipe(Recipe()),  # smollm3.cpp
    "llama4": _recipe(Recipe(rope_freqs=True)),  # llama4.cpp: MoE on every moe_layer_step-th layer
    # seed-oss.cpp: post_attention_norm is the pre-FFN norm; Seed-OSS ships q/k/v biases.
    "seed_oss": _recipe(Recipe(qkv_bias=True, post_attn_norm=True, ffn_norm=False)),
    "gemma": _recipe(Recipe(output="never")),  # gemma.cpp
    # glm4.cpp: four norms per block, ffn_up holds gate and up; GLM-4-0414 ships q/k/v biases.
    "glm4": _recipe(Recipe(qkv_bias=True, post_attn_norm=True, ffn_up_fused=True, post_ffn_norm=True)),
    # glm4-moe.cpp: post_attention_norm before the FFN, optional q/k norms, sigmoid router bias.
    "glm4moe": lambda s: Recipe(
        qkv_bias=True,
        qk_norm="head" if _flag(s, "qk_norm", False) else "",
        post_attn_norm=True,
        ffn_norm=False,
        router_bias=True,
    ),
    # command-r.cpp: parallel attention/FFN on one norm, q/k norms per head when n_layer >= 64.
    "command-r": lambda s: Recipe(
        output="never", q_embd=True, ffn_norm=False, qk_norm="per_head" if s.n_layers >= 64 else ""
    ),
    "cohere2": _recipe(Recipe(output="never", q_embd=True, ffn_norm=False)),  # cohere2.cpp
    # exaone4.cpp and olmo2.cpp: norms after attention and FFN only; q/k norms per head (exaone4) or over
    # the whole q and k (olmo2).
    "exaone4": _recipe(replace(_POST_NORMS, o_embd=True, rope_freqs=True, qk_norm="head")),
    "olmo2": _recipe(replace(_POST_NORMS, output="always", q_embd=True, qk_norm="full")),
    "olmoe": _recipe(Recipe(output="always", q_embd=True, qk_norm="full")),  # olmoe.cpp
    "minimax-m2": _recipe(Recipe(output="always", qk_norm="full", router_bias=True)),  # minimax-m2.cpp
    # qwen2moe.cpp: sigmoid-gated shared expert (ffn_gate_inp_shexp).
    "qwen2moe": _recipe(Recipe(output="always", q_embd=True, qkv_bias=True, shexp_gate=True)),
    # ernie4-5.cpp (both archs): MoE after n_layer_dense_lead dense layers, a router bias where the
    # converter finds moe_statics.e_score_correction_bias (ERNIE-4.5 MoE checkpoints have it).
    "ernie4_5": _recipe(Recipe()),
    "ernie4_5-moe": _recipe(Recipe(router_bias=True)),
    # dots1.cpp: q/k norms, MoE after the leading dense layers with a router bias and shared experts.
    "dots1": _recipe(Recipe(output="always", qk_norm="head", router_bias=True)),
    # apertus.cpp: ungated (xIELU) FFN, q/k norms.
    "apertus": _recipe(Recipe(output="always", rope_freqs=True, qk_norm="head", ffn_gate=False)),
    # hunyuan-dense.cpp: llama blocks with q/k norms per head; the output is tied unless present.
    "hunyuan-dense": _recipe(Recipe(qk_norm="head")),
}


# --------------------------------------------------------------------------------------------------
# Recurrent mixers and the hybrid architectures built on them
# --------------------------------------------------------------------------------------------------


def _mamba2(b: Builder, s: ModelShape, i: int) -> None:
    # mamba2.cpp / granite-hybrid.cpp / nemotron-h.cpp / falcon-h1.cpp: in_proj packs z, x, B, C, dt.
    d, d_inner, n_head, n_group = s.hidden_size, s.ssm_d_inner, s.ssm_dt_rank, s.ssm_n_group
    conv_dim = d_inner + 2 * n_group * s.ssm_d_state
    b.blk(i, "ssm_in.weight", d, d_inner + conv_dim + n_head)
    b.blk(i, "ssm_conv1d.weight", s.ssm_d_conv, conv_dim)
    if _flag(s, "ssm_conv_bias", True):
        b.blk(i, "ssm_conv1d.bias", conv_dim)
    b.blk(i, "ssm_dt.bias", n_head)
    b.blk(i, "ssm_a", 1, n_head)  # no ".weight" suffix (llama.cpp names)
    b.blk(i, "ssm_d", 1, n_head)
    if _flag(s, "ssm_norm", s.arch != "falcon-h1"):
        b.blk(i, "ssm_norm.weight", d_inner // n_group, n_group)
    b.blk(i, "ssm_out.weight", d_inner, d)


def _mamba2_model(s: ModelShape) -> list[TensorSpec]:
    # mamba2.cpp: attn_norm and a Mamba-2 mixer per block, nothing else.
    b = Builder(s.arch)
    _output(b, s, Recipe())
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", s.hidden_size)
        _mamba2(b, s, i)
    return b.out


def _granite_hybrid(s: ModelShape) -> list[TensorSpec]:
    # granite-hybrid.cpp: Mamba-2 or attention per layer (head_count_kv 0 = Mamba), then an FFN that is
    # MoE with a shared expert (granite-4.0-h-tiny/small) or dense (granite-4.0-h-1b).
    b = Builder(s.arch)
    r = Recipe()
    _output(b, s, r)
    for i in range(s.n_layers):
        if s.is_recurrent_layer(i):
            b.blk(i, "attn_norm.weight", s.hidden_size)
            _mamba2(b, s, i)
        else:
            _attention(b, s, i, r)
        _ffn(b, s, i, r)
    return b.out


def _nemotron_h(s: ModelShape) -> list[TensorSpec]:
    # nemotron-h.cpp: every block is one of Mamba-2, attention (no FFN), or FFN (no mixer); the FFN is
    # ungated (squared ReLU), MoE ones have a router bias and an ungated shared expert.
    b = Builder(s.arch)
    r = Recipe(attn_norm=False, ffn_norm=False, ffn_gate=False, router_bias=True)
    latent = _int_extra(s, "moe_latent_size", 0)
    _output(b, s, r)
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", s.hidden_size)
        if s.is_recurrent_layer(i):
            _mamba2(b, s, i)
        elif s.ffn_at(i) == 0:
            _attention(b, s, i, r)
        elif latent and is_moe_layer(s, i):
            _latent_moe(b, s, i, latent)
        else:
            _ffn(b, s, i, r)
    return b.out


def _latent_moe(b: Builder, s: ModelShape, i: int, latent: int) -> None:
    # nemotron-h.cpp (moe_latent_size > 0, Nemotron 3 Super): the routed experts work in a latent width,
    # reached through ffn_latent_down / ffn_latent_up; router and shared expert stay at n_embd.
    d, n_exp = s.hidden_size, _expert_ff(s)
    b.blk(i, "ffn_gate_inp.weight", d, s.n_experts)
    b.blk(i, "exp_probs_b.bias", s.n_experts)
    b.blk(i, "ffn_latent_down.weight", d, latent)
    b.blk(i, "ffn_latent_up.weight", latent, d)
    b.blk(i, "ffn_down_exps.weight", n_exp, latent, s.n_experts)
    b.blk(i, "ffn_up_exps.weight", latent, n_exp, s.n_experts)
    _shexp(b, s, i, s.shared_experts * s.shared_expert_ffn_size, gate=False)


def _falcon_h1(s: ModelShape) -> list[TensorSpec]:
    # falcon-h1.cpp: every block runs attention and a Mamba-2 mixer in parallel, then a gated FFN whose
    # pre-norm is named "blk.N.ffn_norm" without a suffix (the converter maps pre_ff_layernorm.weight so).
    b = Builder(s.arch)
    _output(b, s, Recipe())
    d = s.hidden_size
    for i in range(s.n_layers):
        _mamba2(b, s, i)
        _attention(b, s, i, Recipe())
        b.blk(i, "ffn_norm", d)
        _dense_ffn(b, s, i, s.ffn_at(i))
    return b.out


def _gated_delta_net(b: Builder, s: ModelShape, i: int, *, split_ba: bool) -> None:
    # qwen3next.cpp / qwen35.cpp: head_v_dim = head_k_dim = ssm_d_state; q, k (n_group heads) and v
    # (dt_rank heads) in attn_qkv, the output gate in attn_gate; beta/alpha per value head, fused as
    # ssm_ba (qwen3next) or split (qwen35).
    d, head = s.hidden_size, s.ssm_d_state
    key_dim, value_dim = head * s.ssm_n_group, head * s.ssm_dt_rank
    b.blk(i, "attn_qkv.weight", d, key_dim * 2 + value_dim)
    b.blk(i, "attn_gate.weight", d, value_dim)
    b.blk(i, "ssm_conv1d.weight", s.ssm_d_conv, key_dim * 2 + value_dim)
    b.blk(i, "ssm_dt.bias", s.ssm_dt_rank)
    b.blk(i, "ssm_a", s.ssm_dt_rank)
    if split_ba:
        b.blk(i, "ssm_beta.weight", d, s.ssm_dt_rank)
        b.blk(i, "ssm_alpha.weight", d, s.ssm_dt_rank)
    else:
        b.blk(i, "ssm_ba.weight", d, s.ssm_dt_rank * 2)
    b.blk(i, "ssm_norm.weight", head)
    b.blk(i, "ssm_out.weight", value_dim, d)


def _qwen35(s: ModelShape) -> list[TensorSpec]:
    # qwen35.cpp (dense FFN) and qwen35moe.cpp (routed experts + gated shared expert in every layer):
    # gated-attention layers (attn_q 2x wide) every full_attention_interval-th layer, delta nets between.
    b = Builder(s.arch)
    _output(b, s, Recipe())
    d = s.hidden_size
    for i in range(s.n_layers):
        b.blk(i, "attn_norm.weight", d)
        b.blk(i, "post_attention_norm.weight", d)
        if s.is_recurrent_layer(i):
            _gated_delta_net(b, s, i, split_ba=True)
        else:
            n_kv = s.kv_heads_at(i)
            _qkv(b, s, i, 2 * s.n_heads * s.head_dim, n_kv * s.head_dim, n_kv * s.v_dim, bias=False, fused=False)
            b.blk(i, "attn_output.weight", s.n_heads * s.head_dim, d)
            b.blk(i, "attn_q_norm.weight", s.head_dim)
            b.blk(i, "attn_k_norm.weight", s.head_dim)
        if s.arch == "qwen35moe":
            n_exp = _expert_ff(s)
            n_sh = s.shared_experts * s.shared_expert_ffn_size or s.ffn_size
            _moe_ffn(b, s, i, n_exp)
            b.blk(i, "ffn_gate_inp_shexp.weight", d)
            _shexp(b, s, i, n_sh)
        else:
            _ffn(b, s, i, Recipe(ffn_norm=False))
    return b.out


def _lfm2moe(s: ModelShape) -> list[TensorSpec]:
    # lfm2moe.cpp: LFM2 blocks (short convolution or attention) whose FFN is MoE after
    # n_layer_dense_lead dense layers, with a sigmoid router bias.
    b = Builder(s.arch)
    _embeddings(b, s, output_norm="token_embd_norm")
    l_cache = _int_extra(s, "shortconv_l_cache", 3)
    d = s.hidden_size
    for i in range(s.n_layers):
        _ffn(b, s, i, Recipe(router_bias=True))
        b.blk(i, "attn_norm.weight", d)
        if s.kv_heads_at(i) > 0:
            n_gqa = s.head_dim * s.kv_heads_at(i)
            b.blk(i, "attn_q_norm.weight", s.head_dim)
            b.blk(i, "attn_k_norm.weight", s.head_dim)
            _qkv(b, s, i, d, n_gqa, n_gqa, bias=False, fused=False)
            b.blk(i, "attn_output.weight", d, d)
        else:
            b.blk(i, "shortconv.conv.weight", l_cache, d)
            b.blk(i, "shortconv.in_proj.weight", d, 3 * d)
            b.blk(i, "shortconv.out_proj.weight", d, d)
    return b.out


def _from_recipe(recipe: Callable[[ModelShape], Recipe], s: ModelShape) -> list[TensorSpec]:
    return decoder(s, recipe(s))


# llama-hparams.h: n_altup = 4, laurel_rank = 64, n_embd_altup = 256 (gemma3n.cpp reads none of them from
# the file; every Gemma 3n config has altup_num_inputs 4, laurel_rank 64, hidden_size_per_layer_input 256).
GEMMA3N_ALTUP = 4
GEMMA3N_LAUREL_RANK = 64
GEMMA3N_PER_LAYER_INPUT = 256


def _gemma3n(s: ModelShape) -> list[TensorSpec]:
    # gemma3n.cpp: Gemma 3 blocks plus per-layer token embeddings (one 256-wide slice per layer, looked up
    # on the CPU like token_embd), AltUp (4 streams: predict/correct coefficients, router) and LAuReL
    # (a rank-64 residual) in every block.
    b = Builder(s.arch)
    d, n_alt, e_alt, n = s.hidden_size, GEMMA3N_ALTUP, GEMMA3N_PER_LAYER_INPUT, s.n_layers
    r = Recipe(qk_norm="head", post_attn_norm=True, post_ffn_norm=True)
    _output(b, s, r)
    b.add("altup_proj.weight", d, d, n_alt - 1)
    b.add("altup_unembd_proj.weight", d, d, n_alt - 1)
    b.add("per_layer_token_embd.weight", e_alt * n, s.vocab_size)
    b.add("per_layer_model_proj.weight", d, e_alt * n)  # created for layer 0
    b.add("per_layer_proj_norm.weight", e_alt)  # created for layer 0
    for i in range(n):
        _attention(b, s, i, r)
        _ffn(b, s, i, r)
        b.blk(i, "inp_gate.weight", d, e_alt)
        b.blk(i, "proj.weight", e_alt, d)
        b.blk(i, "post_norm.weight", d)
        b.blk(i, "altup_correct_coef.weight", n_alt, n_alt)
        b.blk(i, "altup_correct_scale.weight", d)
        b.blk(i, "altup_predict_coef.weight", n_alt, n_alt * n_alt)
        b.blk(i, "altup_router.weight", d, n_alt)
        b.blk(i, "altup_router_norm.weight", d)
        b.blk(i, "laurel_l.weight", d, GEMMA3N_LAUREL_RANK)
        b.blk(i, "laurel_r.weight", GEMMA3N_LAUREL_RANK, d)
        b.blk(i, "laurel_post_norm.weight", d)
    return b.out


def _gemma4(s: ModelShape) -> list[TensorSpec]:
    # gemma4.cpp load_arch_tensors: sandwich-normed blocks whose sliding and full layers differ in head size
    # (key_length_swa / key_length) and KV heads; q/k norms; a per-layer output scale; the full layers share
    # one rope_freqs (proportional RoPE). Layers past n_layer_kv_from_start have no K/V of their own
    # (kv_flags), full layers of attention_k_eq_v models no V. The dense FFN is in every layer; 26B-A4B adds a
    # routed-expert block (fused gate_up experts, router scale, per-expert down scale, three more norms);
    # E2B/E4B add per-layer token embeddings (read lazily, like token_embd, on the CPU).
    b = Builder(s.arch)
    d, n, ple = s.hidden_size, s.n_layers, _int_extra(s, "per_layer_input", 0)
    b.add("token_embd.weight", d, s.vocab_size)
    b.add("output_norm.weight", d)
    if not s.tied_embeddings:
        b.add("output.weight", d, s.vocab_size)
    if ple:
        b.add("per_layer_token_embd.weight", ple * n, s.vocab_size)
        b.add("per_layer_model_proj.weight", d, ple * n)  # created for layer 0
        b.add("per_layer_proj_norm.weight", ple)
    if not all(s.is_swa_layer(i) for i in range(n)):
        b.add("rope_freqs.weight", s.head_dim // 2)  # first full layer; the others duplicate it
    kv_end, k_eq_v = s.kv_layers_from_start(), _flag(s, "k_eq_v", False)
    for i in range(n):
        hd, n_kv = s.head_dim_at(i), s.kv_heads_at(i)
        b.blk(i, "attn_norm.weight", d)
        b.blk(i, "attn_q.weight", d, hd * s.n_heads)
        if i < kv_end:
            b.blk(i, "attn_k.weight", d, hd * n_kv)
            if s.is_swa_layer(i) or not k_eq_v:
                b.blk(i, "attn_v.weight", d, s.v_dim_at(i) * n_kv)
            b.blk(i, "attn_k_norm.weight", hd)
        b.blk(i, "attn_output.weight", hd * s.n_heads, d)
        b.blk(i, "attn_q_norm.weight", hd)
        b.blk(i, "post_attention_norm.weight", d)
        b.blk(i, "layer_output_scale.weight", 1)
        b.blk(i, "ffn_norm.weight", d)
        _dense_ffn(b, s, i, s.ffn_at(i))
        b.blk(i, "post_ffw_norm.weight", d)
        if s.n_experts:
            n_exp = s.expert_ffn_size
            b.blk(i, "ffn_gate_inp.weight", d, s.n_experts)
            b.blk(i, "ffn_gate_inp.scale", d)
            b.blk(i, "pre_ffw_norm_2.weight", d)
            b.blk(i, "post_ffw_norm_1.weight", d)
            b.blk(i, "post_ffw_norm_2.weight", d)
            b.blk(i, "ffn_gate_up_exps.weight", d, 2 * n_exp, s.n_experts)
            b.blk(i, "ffn_down_exps.weight", n_exp, d, s.n_experts)
            b.blk(i, "ffn_down_exps.scale", s.n_experts)
        if ple:
            b.blk(i, "inp_gate.weight", d, ple)
            b.blk(i, "proj.weight", ple, d)
            b.blk(i, "post_norm.weight", d)
    return b.out


def _laguna(s: ModelShape) -> list[TensorSpec]:
    # laguna.cpp: q/k-normed attention with per-layer query heads and a per-head output gate (attn_gate
    # {n_embd, n_head}), then a dense FFN on the leading layers and routed experts (sigmoid router with a
    # bias) plus one gated shared expert after them.
    b = Builder(s.arch)
    _output(b, s, Recipe())
    d = s.hidden_size
    for i in range(s.n_layers):
        n_q, n_kv = s.heads_at(i) * s.head_dim, s.kv_heads_at(i) * s.head_dim
        b.blk(i, "attn_norm.weight", d)
        _qkv(b, s, i, n_q, n_kv, n_kv, bias=False, fused=False)
        b.blk(i, "attn_output.weight", n_q, d)
        b.blk(i, "attn_q_norm.weight", s.head_dim)
        b.blk(i, "attn_k_norm.weight", s.head_dim)
        b.blk(i, "attn_gate.weight", d, s.heads_at(i))
        _ffn(b, s, i, Recipe(router_bias=True))
    return b.out


# llama.cpp architecture -> the function that lists its tensors.
ARCH_BUILDERS: dict[str, Callable[[ModelShape], list[TensorSpec]]] = {
    "phi3": _phi3,
    "deepseek2": _deepseek2,
    "gpt-oss": _gpt_oss,
    "lfm2": _lfm2,
    "lfm2moe": _lfm2moe,
    "qwen3next": _qwen3next,
    "qwen35": _qwen35,
    "qwen35moe": _qwen35,
    "mamba2": _mamba2_model,
    "granitehybrid": _granite_hybrid,
    "nemotron_h": _nemotron_h,
    "nemotron_h_moe": _nemotron_h,
    "falcon-h1": _falcon_h1,
    "gemma3n": _gemma3n,
    "gemma4": _gemma4,
    "laguna": _laguna,
    **{arch: functools.partial(_from_recipe, recipe) for arch, recipe in RECIPES.items()},
}

# How each architecture's inventory is made: "recipe" (the standard decoder) or "own code".
HOW_BUILT: dict[str, str] = {arch: ("recipe" if arch in RECIPES else "own code") for arch in ARCH_BUILDERS}
