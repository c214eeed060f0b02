"""Parameter counts from a model's shape.

``count_params`` adds up the weight matrices a checkpoint holds for a ``ModelShape``:
token embeddings, the output head (once when tied), attention (grouped-query or
multi-head latent), dense and expert feed-forward blocks, routers, recurrent mixers and
RMS/LayerNorm weights. Biases are left out: they are well under 0.1% of any catalog model.

The formulas follow the tensor lists llama.cpp loads per architecture
(``src/llama-model.cpp``, ``load_tensors``) and the Hugging Face module layouts:

* attention: ``wq [n_embd, n_head*k]``, ``wk/wv [n_embd, n_head_kv*k]``, ``wo [n_head*v, n_embd]``;
* MLA (DeepSeek V2/V3, Kimi K2): ``wq_a [n_embd, q_lora]``, ``wq_b [q_lora, n_head*(nope+rope)]``
  (or a plain ``wq`` without q_lora), ``wkv_a_mqa [n_embd, kv_lora+rope]``,
  ``wkv_b [kv_lora, n_head*(nope+v)]``, ``wo [n_head*v, n_embd]``;
* gated FFN (SwiGLU/GeGLU): gate, up and down, ``3 * n_embd * n_ff`` (Apertus: up and down only);
* MoE: the same per expert, plus the router ``ffn_gate_inp [n_embd, n_expert]``;
* Mamba-2 (``src/models/granite-hybrid.cpp``):
  ``ssm_in [n_embd, 2*d_inner + 2*n_group*d_state + n_head]``,
  ``ssm_conv1d [d_conv, d_inner + 2*n_group*d_state]`` and its bias, ``ssm_a``, ``ssm_d``, ``ssm_dt``
  per head, ``ssm_norm [d_inner]``, ``ssm_out [d_inner, n_embd]``; Falcon-H1 layers hold attention and
  a Mamba-2 mixer side by side (``src/models/falcon-h1.cpp``), so both are counted;
* gated delta-net (Qwen3-Next, ``src/models/qwen3next.cpp``):
  ``in_proj_qkvz [n_embd, 2*key_dim + 2*d_inner]``, ``in_proj_ba [n_embd, 2*n_head]``,
  a conv over ``2*key_dim + d_inner`` channels and ``ssm_out [d_inner, n_embd]``,
  where ``key_dim = n_group * d_state``. Its attention layers' output gate (a second ``wq`` half) is left
  out: under 0.2% of Qwen3-Next-80B.
"""

from __future__ import annotations

from advisor.core.shape import ModelShape

# Architectures whose ``ssm_*`` values describe a gated delta-net (linear attention)
# rather than a Mamba-2 mixer.
_DELTA_NET_ARCHS = frozenset({"qwen3next"})
# Architectures whose every layer runs attention and a Mamba-2 mixer side by side (src/models/falcon-h1.cpp).
_PARALLEL_HYBRID_ARCHS = frozenset({"falcon-h1"})
# Architectures whose FFN has no gate, only up and down (src/models/apertus.cpp: xIELU on ffn_up).
_UNGATED_FFN_ARCHS = frozenset({"apertus"})


def _attention_params(shape: ModelShape, layer: int) -> int:
    """Weights of one attention block (projections only)."""
    d = shape.hidden_size
    if shape.is_mla:
        qk_head = shape.qk_nope_head_dim + shape.qk_rope_head_dim
        v_head = shape.v_head_dim_mla
        if shape.q_lora_rank > 0:
            q = d * shape.q_lora_rank + shape.q_lora_rank + shape.q_lora_rank * shape.n_heads * qk_head
        else:
            q = d * shape.n_heads * qk_head
        kv_a = d * (shape.kv_lora_rank + shape.qk_rope_head_dim) + shape.kv_lora_rank
        kv_b = shape.kv_lora_rank * shape.n_heads * (shape.qk_nope_head_dim + v_head)
        out = shape.n_heads * v_head * d
        return q + kv_a + kv_b + out
    n_kv = shape.kv_heads_at(layer)
    hd, vd = shape.head_dim_at(layer), shape.v_dim_at(layer)
    n_heads = shape.heads_at(layer)
    q = d * n_heads * hd
    kv = d * n_kv * hd + d * n_kv * vd
    if layer >= shape.kv_layers_from_start():
        kv = 0  # Gemma 4: the layer reuses an earlier layer's K and V
    elif shape.extra("k_eq_v") and not shape.is_swa_layer(layer):
        kv = d * n_kv * hd  # Gemma 4 full layers: V is K
    out = n_heads * vd * d
    return q + kv + out


def _recurrent_params(shape: ModelShape) -> int:
    """Weights of one recurrent mixer (Mamba-2 or gated delta-net)."""
    d = shape.hidden_size
    d_inner = shape.ssm_d_inner
    n_heads = shape.ssm_dt_rank
    if shape.arch in ("lfm2", "lfm2moe"):
        # LFM2 short convolution (lfm2.cpp): in_proj d -> 3d, a depthwise kernel of l_cache taps, out_proj
        return 3 * d * d + int(shape.extra("shortconv_l_cache", 3) or 3) * d + d * d
    if shape.arch in _DELTA_NET_ARCHS:
        key_dim = shape.ssm_n_group * shape.ssm_d_state
        in_proj = d * (2 * key_dim + 2 * d_inner) + d * 2 * n_heads
        conv = (2 * key_dim + d_inner) * shape.ssm_d_conv
        per_head = 2 * n_heads  # A_log, dt_bias
        norm = shape.ssm_d_state
        return in_proj + conv + per_head + norm + d_inner * d
    groups = 2 * shape.ssm_n_group * shape.ssm_d_state
    in_proj = d * (2 * d_inner + groups + n_heads)
    conv = (d_inner + groups) * (shape.ssm_d_conv + 1)  # kernel plus ``ssm_conv1d_b``
    per_head = 3 * n_heads  # A_log, D, dt_bias
    return in_proj + conv + per_head + d_inner + d_inner * d


def _is_moe_layer(shape: ModelShape, layer: int) -> bool:
    return shape.is_moe and layer >= shape.first_dense_layers


def count_params(shape: ModelShape) -> tuple[int, int]:
    """Return ``(total, active)`` parameter counts for ``shape``.

    ``active`` is what one token touches: every non-expert weight, the routed experts
    actually used (``n_experts_used``) and the shared experts. The input embedding
    table counts as active, as model cards do (e.g. "A3B" for Qwen3-30B-A3B).

    >>> from advisor.core.shape import ModelShape
    >>> s = ModelShape(arch="llama", n_layers=1, hidden_size=8, n_heads=2, n_kv_heads=1,
    ...                head_dim=4, ffn_size=16, vocab_size=10, context_max=32, tied_embeddings=True)
    >>> count_params(s)  # embeddings 80 + attention 192 + FFN 384 + norms 3 * 8
    (680, 680)
    """
    d = shape.hidden_size
    embeddings = shape.vocab_size * d
    output = 0 if shape.tied_embeddings else shape.vocab_size * d
    total = embeddings + output + d  # final norm
    ple = int(shape.extra("per_layer_input", 0) or 0)
    if ple:  # Gemma 3n/4 per-layer token embeddings, their projection and each layer's gate and projection
        total += shape.vocab_size * ple * shape.n_layers + d * ple * shape.n_layers + 2 * d * ple * shape.n_layers
    active = total
    for layer in range(shape.n_layers):
        if shape.arch in _PARALLEL_HYBRID_ARCHS:
            mixer = _recurrent_params(shape) + _attention_params(shape, layer)
        else:
            mixer = _recurrent_params(shape) if shape.is_recurrent_layer(layer) else _attention_params(shape, layer)
        norms = 2 * d
        total += mixer + norms
        active += mixer + norms
        if _is_moe_layer(shape, layer):
            one_expert = 3 * d * shape.expert_ffn_size
            router = d * shape.n_experts
            shared = shape.shared_experts * 3 * d * shape.shared_expert_ffn_size
            total += shape.n_experts * one_expert + router + shared
            active += shape.n_experts_used * one_expert + router + shared
        else:
            dense = (2 if shape.arch in _UNGATED_FFN_ARCHS else 3) * d * shape.ffn_at(layer)
            total += dense
            active += dense
    return total, active
