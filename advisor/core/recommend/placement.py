"""Where a candidate lives on a machine, and how fast it decodes there.

``_place`` decides per (model, quant) whether the weights, KV cache and compute buffer fit all on the
GPU, split between GPU and system RAM (llama.cpp's -ngl, transformers' device_map), or on the CPU; it
runs thousands of times per request, so it works on a ``Room`` worked out once per request.
``decode_tps`` turns bytes read per token into tokens/s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from advisor.core import memory
from advisor.core.hardware_spec import RamKind
from advisor.core.recommend.options import Budget, DeviceKind, ModelOption, Placement, Request
from advisor.core.recommend.profiles import KVPlan, WeightProfile
from advisor.core.speed import APPLE_DECODE_EFFICIENCY, DEFAULT_DECODE_EFFICIENCY, expert_read_fraction
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


# Placement codes of ``Placed.kind``: 0 is "does not fit".
PLACEMENT_CODES: tuple[Placement | None, ...] = (None, "gpu", "partial", "cpu")
_GPU, _PARTIAL, _CPU = (PLACEMENT_CODES.index(p) for p in ("gpu", "partial", "cpu"))


@dataclass(frozen=True)
class Rows:
    """Candidates as columns, one row per (model, quant): the weight profile's bytes (int64), the model's KV plan and
    compute buffer for this request, its layer counts and the share of routed experts a token reads."""

    total: np.ndarray
    embd: np.ndarray
    output: np.ndarray
    layers: np.ndarray
    experts: np.ndarray
    kv_total: np.ndarray  # int64
    kv_per_layer: np.ndarray  # float64
    kv_read: np.ndarray  # float64
    compute: np.ndarray  # int64
    n_layers: np.ndarray  # int64
    first_dense: np.ndarray  # int64
    expert_frac: np.ndarray  # float64

    @classmethod
    def one(cls, prof: WeightProfile, kv: KVPlan, compute: int, n_layers: int, first_dense: int, frac: float) -> Rows:
        def i64(v: int) -> np.ndarray:
            return np.array([v], dtype=np.int64)

        def f64(v: float) -> np.ndarray:
            return np.array([v], dtype=np.float64)

        return cls(i64(prof.total), i64(prof.embd), i64(prof.output), i64(prof.layers), i64(prof.experts),
                   i64(kv.total), f64(kv.per_layer), f64(kv.read_per_token), i64(compute), i64(n_layers),
                   i64(first_dense), f64(frac))  # fmt: skip


@dataclass(frozen=True)
class Placed:
    """Where each row lives (``PLACEMENT_CODES``), with its n_gpu_layers, GPU bytes, RAM bytes and --n-cpu-moe."""

    kind: np.ndarray
    ngl: np.ndarray
    gpu: np.ndarray
    ram: np.ndarray
    n_cpu_moe: np.ndarray

    def row(self, i: int) -> _Placed | None:
        where = PLACEMENT_CODES[int(self.kind[i])]
        if where is None:
            return None
        return (where, int(self.ngl[i]), int(self.gpu[i]), int(self.ram[i]), int(self.n_cpu_moe[i]))


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


def _place(room: Room, prof: WeightProfile, kv: KVPlan, compute: int, n: int, first_dense: int = 0) -> _Placed | None:
    return place_rows(room, Rows.one(prof, kv, compute, n, first_dense, 1.0)).row(0)


def place_rows(room: Room, r: Rows) -> Placed:
    """``place`` for every row at once (the recommender screens every model at every quant per request).

    The arithmetic is the scalar rule's, step for step in the same order and types (integer bytes, float
    shares), so a row places exactly as it would alone.
    """
    size = len(r.total)
    kind = np.zeros(size, dtype=np.int8)
    ngl = np.zeros(size, dtype=np.int64)
    gpu = np.zeros(size, dtype=np.int64)
    ram = np.zeros(size, dtype=np.int64)
    n_cpu_moe = np.zeros(size, dtype=np.int64)
    out = Placed(kind, ngl, gpu, ram, n_cpu_moe)
    n = r.n_layers
    gpu_avail, ram_avail = room.gpu_avail, room.ram_avail

    def settle(ok: np.ndarray, code: int, *values: np.ndarray | int) -> None:
        kind[ok] = code
        for column, value in zip((ngl, gpu, ram, n_cpu_moe), values, strict=True):
            column[ok] = value[ok] if isinstance(value, np.ndarray) else value

    if room.mode == "vllm":
        need = r.total + r.kv_total + r.compute
        if gpu_avail > 0:
            ok = (need <= room.vllm_cap) & (SAFETY_FACTOR * r.total <= room.vllm_cap)
            settle(ok, _GPU, n + 1, need + room.overhead, 0, 0)
        return out
    if room.mode == "llama":
        on_gpu, host = r.layers + r.output, r.embd
    else:
        on_gpu, host = r.total, np.zeros(size, dtype=np.int64)
    gpu_compute = r.compute * room.n_gpus
    need = on_gpu + r.kv_total + gpu_compute
    open_ = np.ones(size, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if gpu_avail > 0:
            ok = (need <= gpu_avail) & (SAFETY_FACTOR * on_gpu <= gpu_avail) & (host <= ram_avail)
            if room.unified:
                ok &= need + host <= ram_avail
            settle(ok, _GPU, n + 1, need + room.overhead, host, 0)
            open_ &= ~ok
            if room.mode == "llama":
                open_ &= ~_moe_offload(room, r, open_ & (r.experts > 0), need, on_gpu, settle)
            # llama.cpp offloads the output layer first: -ngl k puts it and the last k - 1 repeating layers on
            # the GPU (src/llama-model.cpp: i_gpu_start = n_layer + 1 - n_gpu_layers; dev_output is layer n_layer).
            layer_w = r.layers / n
            per_layer = layer_w + r.kv_per_layer
            safe_layer = SAFETY_FACTOR * layer_w
            fit_per_layer = np.where(per_layer > safe_layer, per_layer, safe_layer)
            head = r.output + gpu_compute
            head_fit = SAFETY_FACTOR * r.output + gpu_compute
            steps = np.floor_divide(gpu_avail - head_fit, np.where(fit_per_layer > 0, fit_per_layer, 1.0))
            k = np.where(fit_per_layer > 0, np.nan_to_num(steps, posinf=0.0, neginf=0.0), 0.0).astype(np.int64)
            k = np.minimum(k, n - 1)
            layer_rows = open_ & (k >= 1)
            g = _trunc(k * per_layer) + head
            rest = r.embd + r.compute
            cpu_fit = rest + _trunc((n - k) * fit_per_layer)
            ok = layer_rows & (cpu_fit <= ram_avail)
            if room.unified:
                ok &= g + cpu_fit <= ram_avail
            settle(ok, _PARTIAL, k + 1, g + room.overhead, rest + _trunc((n - k) * per_layer), 0)
            open_ &= ~ok
    cpu_all = r.total + r.kv_total + r.compute
    ok = open_ & (cpu_all <= ram_avail) & (SAFETY_FACTOR * r.total <= ram_avail)
    settle(ok, _CPU, 0, 0, cpu_all, 0)
    return out


def _trunc(x: np.ndarray) -> np.ndarray:
    """int() of every element (toward zero); rows that are not used may hold anything."""
    return np.trunc(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)).astype(np.int64)


def _moe_offload(
    room: Room, r: Rows, rows: np.ndarray, need: np.ndarray, on_gpu: np.ndarray, settle: Callable[..., None]
) -> np.ndarray:
    """Every layer on the GPU but the experts of the fewest first layers (``--n-cpu-moe``) in RAM, for ``rows``;
    returns the rows it placed.

    Expert bytes are spread evenly over the MoE layers (the first ``first_dense`` layers have none, and
    ``--n-cpu-moe N`` counts from layer 0); the GPU keeps attention, shared tensors, KV and compute.
    """
    n_moe = r.n_layers - r.first_dense
    rows = rows & (n_moe > 0)
    per_layer = r.experts / np.where(n_moe > 0, n_moe, 1)
    excess = np.maximum(need - room.gpu_avail, on_gpu - room.gpu_avail / SAFETY_FACTOR)
    m = np.maximum(1.0, np.ceil(excess / np.where(per_layer > 0, per_layer, 1.0)))
    rows &= m <= n_moe
    m_layers = np.where(rows, m, 0.0).astype(np.int64)
    held = _trunc(m_layers * per_layer)
    gpu = need - held
    cpu_fit = r.embd + r.compute + SAFETY_FACTOR * held
    ok = rows & ~(cpu_fit > room.ram_avail)
    if room.unified:
        ok &= ~(gpu + cpu_fit > room.ram_avail)
    settle(ok, _PARTIAL, r.n_layers + 1, gpu + room.overhead, r.embd + r.compute + held, r.first_dense + m_layers)
    return ok


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
    s = model.shape
    frac = expert_read_fraction(s)
    rows = Rows.one(prof, kv, 0, s.n_layers, s.first_dense_layers, frac)
    tps, known = decode_rows(req.budget, rows, np.array([ngl], dtype=np.int64), np.array([n_cpu_moe], dtype=np.int64))
    return float(tps[0]) if known[0] else None


def decode_rows(b: Budget, r: Rows, ngl: np.ndarray, n_cpu_moe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``decode_tps`` of every row at its placement: (tok/s, known); a row is not known where ``decode_tps`` is
    None. Same arithmetic, in the same order, as one row alone."""
    n = r.n_layers
    with np.errstate(divide="ignore", invalid="ignore"):
        active = (r.layers - r.experts) + r.experts * r.expert_frac + r.kv_read
        # -ngl counts the output layer first (see _place): ngl - 1 repeating layers sit on the GPU.
        gpu_share = np.minimum(np.maximum(ngl - 1, 0), n) / n
        head_on_gpu = ngl >= 1
        n_moe = n - r.first_dense
        in_ram = np.minimum(np.maximum(n_cpu_moe - r.first_dense, 0), n_moe)
        held = np.where(n_moe > 0, r.experts * in_ram / np.where(n_moe > 0, n_moe, 1), 0.0)
        moved = held * r.expert_frac * gpu_share  # experts of GPU layers that --n-cpu-moe keeps in RAM
        gpu_read = active * gpu_share + np.where(head_on_gpu, r.output, 0) - moved
        cpu_read = active * (1 - gpu_share) + np.where(head_on_gpu, 0, r.output) + moved
        known = np.ones(len(ngl), dtype=bool)
        on_gpu = gpu_read > 0
        if b.gpu_bandwidth_gbps:
            t = np.where(on_gpu, gpu_read / (_eff(b.gpu_kind) * b.gpu_bandwidth_gbps * 1e9), 0.0)
        else:
            t = np.zeros(len(ngl))
            known &= ~on_gpu
        cpu_bw = b.cpu_bandwidth_gbps or DEFAULT_HOST_BANDWIDTH_GBPS
        t = t + np.where(cpu_read > 0, cpu_read / (DEFAULT_DECODE_EFFICIENCY * cpu_bw * 1e9), 0.0)
        known &= t > 0
        return np.where(known, 1.0 / np.where(t > 0, t, 1.0), 0.0), known
