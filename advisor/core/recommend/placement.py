"""Where a candidate lives on a machine, and how fast it decodes there.

``_place`` decides per (model, quant) whether the weights, KV cache and compute buffer fit all on the
GPU, split between GPU and system RAM (llama.cpp's -ngl, transformers' device_map), or on the CPU; it
runs thousands of times per request, so it works on a ``Room`` worked out once per request.
``decode_tps`` turns bytes read per token into tokens/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from advisor.core import memory
from advisor.core.hardware_spec import RamKind
from advisor.core.recommend.options import Budget, DeviceKind, ModelOption, Placement, Request
from advisor.core.recommend.profiles import KVPlan, WeightProfile
from advisor.core.speed import APPLE_DECODE_EFFICIENCY, DEFAULT_DECODE_EFFICIENCY
from advisor.core.units import GIB

# llama.cpp's own fit leaves this much free on every GPU (common/common.h: fit_params_target defaults to
# 1024 MiB per device; common/fit.cpp); the memory engine's constant.
GPU_MARGIN_BYTES = memory.LLAMA_FIT_MARGIN_BYTES
# System RAM the OS and desktop keep: Windows 11's minimum memory requirement, 4 GB
# (https://www.microsoft.com/en-us/windows/windows-11-specifications).
RAM_RESERVE_BYTES = 4 * GIB
# vLLM pre-allocates this share of GPU memory for weights, activations and KV cache (engine argument
# gpu_memory_utilization, default 0.9: https://docs.vllm.ai/en/latest/configuration/engine_args/).
VLLM_GPU_MEMORY_UTILIZATION = 0.9
# Silent reading speed of adults, 238 words per minute (Brysbaert 2019, J. Memory and Language 109,
# https://doi.org/10.1016/j.jml.2019.104047), at about 0.75 English words per token
# (https://help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them): 5.3 tokens/s.
READING_SPEED_TPS = 238 / 60 / 0.75
# System RAM bandwidth when the machine names no CPU: dual-channel DDR5-5600, 89.6 GB/s, the host the plan
# engine assumes then too (advisor/fit/engine.py engine_devices), so screen and plan agree on what RAM costs.
DEFAULT_HOST_BANDWIDTH_GBPS = RamKind("DDR5", 5600, 64).bandwidth_gbps(2)
# "Model size in GB ≈ (Parameters * Bits) / 8. (Add 20% overhead for safety)."
# (https://loke.dev/blog/llm-quantization-precision-mechanics)
SAFETY_FACTOR = 1.2


def _eff(kind: DeviceKind) -> float:
    return APPLE_DECODE_EFFICIENCY if kind == "metal" else DEFAULT_DECODE_EFFICIENCY


def with_safety_margin(weights_bytes: float) -> float:
    """Weights plus a 20% safety overhead: "Memory Math: Model size in GB ≈ (Parameters * Bits) / 8.
    (Add 20% overhead for safety)." (https://loke.dev/blog/llm-quantization-precision-mechanics)

    A candidate fits only if both this and the itemised estimate (weights + KV + compute buffer, plus
    llama.cpp's 1 GiB margin) fit, so a pick leaves room for what the estimate does not see (the OS's
    own use of unified memory, other programs on the GPU, runtime versions that allocate more).
    ``_place`` applies the same ``SAFETY_FACTOR`` inline (it runs thousands of times per request).
    """
    return SAFETY_FACTOR * weights_bytes


# The memory engine's backend names for a budget's GPU kind.
_ENGINE_KIND = {"cuda": "cuda", "metal": "metal", "other_gpu": "vulkan", "cpu": "cpu"}


def gpu_reserve_bytes(b: Budget) -> int:
    """GPU bytes no model may use: llama.cpp's fit margin plus the backend's own context (CUDA context,
    cuBLAS workspace: ``memory.BACKEND_OVERHEAD_BYTES``), per GPU."""
    if b.gpu_bytes <= 0:
        return 0
    per_gpu = GPU_MARGIN_BYTES + memory.BACKEND_OVERHEAD_BYTES.get(_ENGINE_KIND[b.gpu_kind], 0)
    return per_gpu * max(b.n_gpus, 1)


# (placement, n_gpu_layers, gpu bytes, ram bytes, n_cpu_moe) of a candidate that fits.
_Placed = tuple[Placement, int, int, int, int]


@dataclass(frozen=True)
class Room:
    """The budget as ``place`` needs it, worked out once per request."""

    margin: int  # llama.cpp's free-memory target plus the backend's context overhead, over all GPUs
    overhead: int  # the backend's context overhead alone, over all GPUs (reported with the bytes used)
    gpu_avail: int  # GPU bytes for weights, KV and compute (0: no GPU)
    ram_avail: int  # RAM bytes left after the OS reserve
    unified: bool
    mode: Literal["llama", "transformers", "vllm"]
    vllm_cap: float
    n_gpus: int  # every GPU running part of the graph reserves the compute buffer (memory._place)

    @classmethod
    def of(cls, req: Request) -> Room:
        b = req.budget
        margin = gpu_reserve_bytes(b)
        gpu_avail = max(b.gpu_bytes - margin, 0) if b.gpu_bytes > 0 else 0
        mode: Literal["llama", "transformers", "vllm"] = (
            "vllm" if req.runtime == "vllm" else "llama" if req.is_llama_cpp else "transformers"
        )
        return cls(
            margin=margin,
            overhead=margin - GPU_MARGIN_BYTES * max(b.n_gpus, 1) if b.gpu_bytes > 0 else 0,
            gpu_avail=gpu_avail,
            ram_avail=b.ram_bytes - RAM_RESERVE_BYTES,
            unified=b.unified,
            mode=mode,
            vllm_cap=min(gpu_avail, b.gpu_bytes * VLLM_GPU_MEMORY_UTILIZATION),
            n_gpus=max(b.n_gpus, 1),
        )


def place(
    req: Request, prof: WeightProfile, kv: KVPlan, compute: int, n_layers: int, first_dense: int = 0
) -> _Placed | None:
    """Where a model lives: all on the GPU, split (llama.cpp's -ngl; transformers' device_map), or the CPU.

    llama.cpp keeps token_embd in RAM (src/llama-model.cpp: "there is very little benefit to offloading
    the input layer, so always keep it on the CPU") and offloads the output head first, then the last
    repeating layers; KV follows its layer. A MoE model that does not fit whole keeps every layer on the
    GPU and moves the routed experts of its first layers to RAM first (``--n-cpu-moe N``), as llama.cpp's
    own fit does before it drops layers (common/fit.cpp). vLLM needs everything inside its GPU share.
    Unified memory: GPU and CPU parts come out of the same RAM.
    """
    return _place(Room.of(req), prof, kv, compute, n_layers, first_dense)


def _moe_offload(
    room: Room, prof: WeightProfile, need: int, on_gpu: int, compute: int, n: int, first_dense: int
) -> _Placed | None:
    """Every layer on the GPU but the experts of the fewest first layers (``--n-cpu-moe``) in RAM.

    Expert bytes are spread evenly over the MoE layers (the first ``first_dense`` layers have none, and
    ``--n-cpu-moe N`` counts from layer 0); the GPU keeps attention, shared tensors, KV and compute.
    """
    n_moe = n - first_dense
    if prof.experts <= 0 or n_moe <= 0:
        return None
    per_layer = prof.experts / n_moe
    excess = max(need - room.gpu_avail, on_gpu - room.gpu_avail / SAFETY_FACTOR)
    m = max(1, math.ceil(excess / per_layer))
    if m > n_moe:
        return None
    held = int(m * per_layer)
    gpu = need - held
    cpu_fit = prof.embd + compute + SAFETY_FACTOR * held
    if cpu_fit > room.ram_avail or (room.unified and gpu + cpu_fit > room.ram_avail):
        return None
    return ("partial", n + 1, gpu + room.overhead, prof.embd + compute + held, first_dense + m)


def _place(room: Room, prof: WeightProfile, kv: KVPlan, compute: int, n: int, first_dense: int = 0) -> _Placed | None:
    gpu_avail, ram_avail = room.gpu_avail, room.ram_avail
    if room.mode == "vllm":
        need = prof.total + kv.total + compute
        if gpu_avail > 0 and need <= room.vllm_cap and SAFETY_FACTOR * prof.total <= room.vllm_cap:
            return ("gpu", n + 1, need + room.overhead, 0, 0)
        return None
    if room.mode == "llama":
        on_gpu, host = prof.layers + prof.output, prof.embd
    else:
        on_gpu, host = prof.total, 0
    gpu_compute = compute * room.n_gpus
    need = on_gpu + kv.total + gpu_compute
    if gpu_avail > 0:
        if (
            need <= gpu_avail
            and SAFETY_FACTOR * on_gpu <= gpu_avail
            and host <= ram_avail
            and (not room.unified or need + host <= ram_avail)
        ):
            return ("gpu", n + 1, need + room.overhead, host, 0)
        if room.mode == "llama" and prof.experts:
            moe = _moe_offload(room, prof, need, on_gpu, compute, n, first_dense)
            if moe is not None:
                return moe
        layer_w = prof.layers / n
        per_layer = layer_w + kv.per_layer
        safe_layer = SAFETY_FACTOR * layer_w
        fit_per_layer = per_layer if per_layer > safe_layer else safe_layer
        # llama.cpp offloads the output layer first: -ngl k puts it and the last k - 1 repeating layers on
        # the GPU (src/llama-model.cpp: i_gpu_start = n_layer + 1 - n_gpu_layers; dev_output is layer n_layer).
        head = prof.output + gpu_compute
        head_fit = SAFETY_FACTOR * prof.output + gpu_compute
        k = int((gpu_avail - head_fit) // fit_per_layer) if fit_per_layer > 0 else 0
        if k > n - 1:
            k = n - 1
        if k >= 1:
            g = int(k * per_layer) + head
            rest = prof.embd + compute
            cpu_fit = rest + int((n - k) * fit_per_layer)
            if cpu_fit <= ram_avail and (not room.unified or g + cpu_fit <= ram_avail):
                return ("partial", k + 1, g + room.overhead, rest + int((n - k) * per_layer), 0)
    cpu_all = prof.total + kv.total + compute
    if cpu_all <= ram_avail and SAFETY_FACTOR * prof.total <= ram_avail:
        return ("cpu", 0, 0, cpu_all, 0)
    return None


def decode_tps(
    req: Request, model: ModelOption, prof: WeightProfile, kv: KVPlan, ngl: int, n_cpu_moe: int = 0
) -> float | None:
    """Tokens/s at half the context: bytes read per token on each side over efficiency x bandwidth.

    Decoding is bound by memory bandwidth: each token reads every layer weight except the routed experts
    it does not use, the output head, and the KV cache up to the current depth (the token embedding is a
    row lookup). Experts held in RAM (``n_cpu_moe``) are read by the CPU at its bandwidth
    (``DEFAULT_HOST_BANDWIDTH_GBPS`` when no CPU is named). Efficiencies are ``advisor.core.speed``'s
    defaults (72% of peak, 78% on Apple Silicon). None when the GPU's bandwidth is unknown.
    """
    b = req.budget
    shape = model.shape
    n = shape.n_layers
    expert_frac = shape.n_experts_used / shape.n_experts if shape.n_experts > 1 else 1.0
    active = (prof.layers - prof.experts) + prof.experts * expert_frac + kv.read_per_token
    # -ngl counts the output layer first (see _place): ngl - 1 repeating layers sit on the GPU.
    gpu_share = min(max(ngl - 1, 0), n) / n
    head_on_gpu = ngl >= 1
    n_moe = n - shape.first_dense_layers
    held = prof.experts * min(max(n_cpu_moe - shape.first_dense_layers, 0), n_moe) / n_moe if n_moe > 0 else 0.0
    moved = held * expert_frac * gpu_share  # experts of GPU layers that --n-cpu-moe keeps in RAM
    gpu_read = active * gpu_share + (prof.output if head_on_gpu else 0) - moved
    cpu_read = active * (1 - gpu_share) + (0 if head_on_gpu else prof.output) + moved
    t = 0.0
    if gpu_read > 0:
        if not b.gpu_bandwidth_gbps:
            return None
        t += gpu_read / (_eff(b.gpu_kind) * b.gpu_bandwidth_gbps * 1e9)
    if cpu_read > 0:
        cpu_bw = b.cpu_bandwidth_gbps or DEFAULT_HOST_BANDWIDTH_GBPS
        t += cpu_read / (DEFAULT_DECODE_EFFICIENCY * cpu_bw * 1e9)
    return 1.0 / t if t > 0 else None
