"""Bytes that do not depend on where a model is placed: its weights per quant, its KV cache and compute
buffer per request.

``weight_profile`` splits a (model, quant)'s weight bytes the way placement needs them, from the
quantizer's per-tensor rules (cached; ``advisor.catalog.weight_profiles`` primes the cache from disk).
``context_costs`` asks the memory engine for the KV cache and compute buffer once per model and request.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TypedDict, Unpack

from advisor.core import memory
from advisor.core.ggml_types import tensor_bytes
from advisor.core.quantize import HFFormat
from advisor.core.recommend.options import SWA_FULL_RUNTIMES, ModelOption, QuantOption, Request
from advisor.core.shape import ModelShape
from advisor.core.speed import kv_bytes_per_token

# llama.cpp's default micro-batch (common/common.h: n_ubatch = 512); the compute buffer is sized for it.
N_UBATCH = 512


# ---------------------------------------------------------------- weight bytes per (model, quant)


@dataclass(frozen=True)
class WeightProfile:
    """Weight bytes of one model in one quant, split the way placement needs them.

    ``embd``: token embedding (llama.cpp keeps it on the CPU). ``output``: output head and final norm
    (the first layer -ngl offloads to the GPU; a tied head is a copy of the embedding). ``layers``: the
    repeating blocks, of which ``experts`` are routed experts (read at n_used/n_experts per token).
    """

    total: int
    embd: int
    output: int
    layers: int
    experts: int
    exact: int = 1  # 1: from the per-tensor rules; 0: from parameter counts (no tensor inventory)

    def as_list(self) -> list[int]:
        return [self.total, self.embd, self.output, self.layers, self.experts, self.exact]


def shape_key(shape: ModelShape) -> str:
    """Short fingerprint of a shape: cached profiles are valid only for the shape they were built from."""
    return hashlib.sha1(repr(shape).encode()).hexdigest()[:16]


_PROFILES: dict[tuple[str, str], WeightProfile] = {}
_MODEL_KEYS: dict[str, tuple[ModelShape, str]] = {}


def model_shape_key(model: ModelOption) -> str:
    """``shape_key`` of a candidate, remembered per model id (hashing a shape costs microseconds)."""
    got = _MODEL_KEYS.get(model.id)
    if got is None or got[0] is not model.shape:
        got = (model.shape, shape_key(model.shape))
        _MODEL_KEYS[model.id] = got
    return got[1]


def prime_profiles(profiles: dict[tuple[str, str], WeightProfile]) -> None:
    """Load precomputed profiles (``advisor.catalog.weight_profiles``), keyed by (shape_key, quant name)."""
    _PROFILES.update(profiles)


# Q6_K: the type llama-quantize gives output.weight in every k-/i-quant preset above 2 bits
# (llama_tensor_get_type_impl); used by the parameter-count fallback.
_OUTPUT_BITS = 6.5625


def approximate_profile(shape: ModelShape, quant: QuantOption) -> WeightProfile:
    """Profile from parameter counts (``advisor.core.params``) for architectures without a tensor
    inventory: repeating layers at the quant's Llama-3.1-8B bits/weight, the head at Q6_K (or the
    quant's own rate above it), the embedding at the quant's rate; 16-bit outside the blocks for HF."""
    from advisor.core.params import count_params

    total_el, _ = count_params(shape)
    embd_el = shape.vocab_size * shape.hidden_size
    out_el = embd_el
    layer_el = total_el - embd_el - (0 if shape.tied_embeddings else out_el)
    moe_layers = shape.n_layers - shape.first_dense_layers if shape.is_moe else 0
    expert_el = moe_layers * shape.n_experts * 3 * shape.hidden_size * shape.expert_ffn_size
    bpw = quant.bits_per_weight
    if quant.format == "hf":
        embd, output = embd_el * 2, out_el * 2
    else:
        embd = int(embd_el * bpw / 8)
        output = int(out_el * max(bpw, _OUTPUT_BITS) / 8) if bpw < 16 else int(out_el * bpw / 8)
    layers = int(layer_el * bpw / 8)
    experts = int(expert_el * bpw / 8)
    total = layers + embd + (0 if shape.tied_embeddings else output)
    return WeightProfile(total=total, embd=embd, output=output, layers=layers, experts=experts, exact=0)


def compute_profile(shape: ModelShape, quant: QuantOption) -> WeightProfile:
    """Run the quantizer's per-tensor type rules (``advisor.core.quantize``) and sum bytes by role."""
    from advisor.core import quantize
    from advisor.core.tensors import tensor_inventory

    try:
        inventory = tensor_inventory(shape)
    except NotImplementedError:
        return approximate_profile(shape, quant)
    if quant.format == "gguf":
        assert quant.preset is not None
        types = quantize.tensor_types(shape, quant.preset, has_imatrix=quant.needs_imatrix)

        def nbytes(name: str, dims: tuple[int, ...]) -> int:
            return tensor_bytes(types[name], dims)

    else:
        assert quant.hf_quant is not None
        fmt = quantize.HFFormat(quantize.HFQuant(quant.hf_quant), double_quant=quant.double_quant)
        total_hf = quantize.hf_weights_bytes(shape, fmt)
        # 16-bit outside the decoder blocks; blocks get the rest, spread by element count.
        outside = sum(t.n_elements * 2 for t in inventory if t.layer is None)
        inside_el = sum(t.n_elements for t in inventory if t.layer is not None) or 1
        per_el = (total_hf - outside) / inside_el

        def nbytes(name: str, dims: tuple[int, ...]) -> int:
            n = math.prod(dims)
            return n * 2 if name.split(".")[0] != "blk" else round(n * per_el)

    embd = output = layers = experts = 0
    tied = not any(t.name == "output.weight" for t in inventory)
    for t in inventory:
        b = nbytes(t.name, t.dims)
        if t.name in ("token_embd.weight", "per_layer_token_embd.weight"):
            embd += b
            if tied and t.name == "token_embd.weight":
                output += b  # the GPU gets its own copy of a tied head
        elif t.layer is None:
            output += b
        else:
            layers += b
            if "_exps" in t.name:
                experts += b
    total = embd + layers + output - (embd if tied else 0)
    return WeightProfile(total=total, embd=embd, output=output, layers=layers, experts=experts)


def weight_profile(model: ModelOption, quant: QuantOption, key: str | None = None) -> WeightProfile:
    """Cached ``compute_profile`` keyed by the shape's fingerprint and the quant name."""
    k = (key or shape_key(model.shape), quant.name)
    prof = _PROFILES.get(k)
    if prof is None:
        prof = compute_profile(model.shape, quant)
        _PROFILES[k] = prof
    return prof


# ---------------------------------------------------------------- KV cache and compute buffer


def _pad256(n: int) -> int:
    return (n + 255) // 256 * 256


@dataclass(frozen=True)
class KVPlan:
    """KV cache of one model for one request: total bytes, per-layer average, bytes read per token."""

    total: int
    per_layer: float
    read_per_token: float  # at half the context, SWA layers capped at their window


@dataclass(frozen=True)
class KVLayers:
    """Per-cell KV bytes of a model summed over its full-attention and its SWA layers, and the fixed
    state of its recurrent layers per sequence: everything ``kv_plan`` needs, independent of ctx."""

    full: float
    swa: float
    window: int
    state: int
    n_layers: int


_KV_LAYERS: dict[tuple[str, str], KVLayers] = {}


def kv_layers(shape: ModelShape, kv_type: str, key: str | None = None) -> KVLayers:
    k = (key or shape_key(shape), kv_type)
    got = _KV_LAYERS.get(k)
    if got is not None:
        return got
    full = swa = 0.0
    state = 0
    if shape.recurrent_layers:
        n_embd_r = max(shape.ssm_d_conv - 1, 0) * (shape.ssm_d_inner + 2 * shape.ssm_n_group * shape.ssm_d_state)
        n_embd_s = shape.ssm_d_state * shape.ssm_d_inner
        state = (n_embd_r + n_embd_s) * 4 * sum(shape.recurrent_layers)
    for i in range(shape.n_layers):
        if shape.is_recurrent_layer(i):
            continue
        per_cell = kv_bytes_per_token(shape, i, kv_type)
        if shape.is_swa_layer(i) and shape.sliding_window:
            swa += per_cell
        else:
            full += per_cell
    got = KVLayers(full, swa, shape.sliding_window or 0, state, shape.n_layers)
    _KV_LAYERS[k] = got
    return got


def kv_plan(shape: ModelShape, ctx: int, parallel: int, kv_type: str, swa_full: bool, key: str | None = None) -> KVPlan:
    """Cells per layer as llama.cpp allocates them (src/llama-kv-cache.cpp, llama-kv-cache-iswa.cpp).

    ``n_ctx`` = ctx x parallel, padded to 256; SWA layers keep pad256(min(n_ctx, window x n_seq + ubatch))
    cells unless ``swa_full``; recurrent layers keep an F32 state of (n_embd_r + n_embd_s) x 4 bytes per
    sequence (src/llama-hparams.cpp, Mamba-style conv + SSM state).
    """
    lay = kv_layers(shape, kv_type, key)
    n_ctx = _pad256(ctx * parallel)
    depth = ctx // 2
    swa_cells = n_ctx if swa_full else _pad256(min(n_ctx, lay.window * parallel + N_UBATCH))
    total = lay.full * n_ctx + lay.swa * swa_cells + lay.state * parallel
    read = lay.full * depth + lay.swa * min(depth, lay.window) + lay.state
    return KVPlan(total=int(total), per_layer=total / lay.n_layers, read_per_token=read)


_CONTEXT_COSTS: dict[tuple[str, int, int, str, bool, str, str], tuple[KVPlan, int]] = {}


def context_costs(model: ModelOption, req: Request) -> tuple[KVPlan, int]:
    """KV cache and compute buffer of ``model`` for this request's context, from the memory engine
    (``memory.kv_cache_layer_bytes``, ``memory.compute_buffer_bytes``) for the runtimes it models;
    vLLM gets ``kv_plan`` at f16. Cached: requests repeat the same few settings."""
    kv_type = req.resolved_kv_type
    flash = req.resolved_flash_attn
    key = (model_shape_key(model), req.ctx, req.parallel, kv_type, flash, req.runtime, req.budget.gpu_kind)
    got = _CONTEXT_COSTS.get(key)
    if got is not None:
        return got
    shape = model.shape
    swa_full = req.runtime in SWA_FULL_RUNTIMES
    if req.is_llama_cpp and req.runtime in memory_runtimes():
        settings = memory.resolve_context(context_request(model.shape, req))
        layers = memory.kv_cache_layer_bytes(shape, settings)
        total = sum(layers)
        read = kv_plan(shape, req.ctx, req.parallel, kv_type, swa_full, model_shape_key(model)).read_per_token
        plan = KVPlan(total=total, per_layer=total / shape.n_layers, read_per_token=read)
        # The GPU's own graph when there is a GPU (ggml-cuda's F16 copies of quantized caches, etc.).
        kind = req.budget.gpu_kind if req.budget.gpu_bytes > 0 else "cpu"
        compute = memory.compute_buffer_bytes(shape, settings, kind) + memory.output_buffer_bytes(shape, settings)
    else:
        # transformers (the memory engine's HF path) and vLLM: 16-bit K/V, no reserved compute buffer
        # ("activations are not reserved up front").
        plan = kv_plan(shape, req.ctx, req.parallel, "f16", False, model_shape_key(model))
        compute = 0
    got = (plan, compute)
    if len(_CONTEXT_COSTS) > 50_000:
        _CONTEXT_COSTS.clear()
    _CONTEXT_COSTS[key] = got
    return got


def memory_runtimes() -> frozenset[str]:
    from advisor.core.runtimes import RUNTIMES

    return frozenset(RUNTIMES)


class FitSettings(TypedDict, total=False):
    """``memory.FitRequest`` fields beyond the context: a pick's weights and placement (``engine_request``)."""

    preset: str | None
    hf_format: HFFormat | None
    devices: tuple[memory.Device, ...]
    host_ram_bytes: int | None
    margin_bytes: int
    n_gpu_layers: int | None
    n_cpu_moe: int | None
    cpu_only: bool


def context_request(shape: ModelShape, req: Request, **kw: Unpack[FitSettings]) -> memory.FitRequest:
    """The memory engine's request for ``shape`` under ``req``'s context settings: ``ctx`` tokens for
    each of ``parallel`` sequences in one unified cache, the request's KV type and flash attention."""
    kv_type = req.resolved_kv_type
    return memory.FitRequest(
        shape=shape,
        runtime=req.runtime,
        n_ctx=req.ctx * req.parallel,
        n_parallel=req.parallel,
        kv_unified=True,
        type_k=kv_type,
        type_v=kv_type,
        flash_attn=req.resolved_flash_attn,
        **kw,
    )
