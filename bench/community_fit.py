"""Speed constants per backend, fitted on the community speed sample, with leave-one-hardware-out CV.

    python bench/community_fit.py            # CV table per backend (in-sample and held out), H100/H200
    python bench/community_fit.py --rows     # every row: measured, predicted, error
    python bench/community_fit.py --json     # the fitted constants and bands (advisor/core/speed_backends.py)

Data: ``bench/data/community_speeds/speeds.jsonl`` (476 public measurements, copied unchanged from the
project's shared sample; its README.md gives the sources, commits and field meanings). Only that sample is
used to fit; the H100 and H200 llama-bench rows (``bench/data/speed_h100.jsonl``, ``speed_h200.jsonl``)
are the check of the datacenter side, whose per-type constants come from ``bench/speed_accuracy.py --fit``.

The model (``advisor/core/speed.py``) per decoded token on a device:

    max( sum_t bytes_t / (eff_t x compute_rate),  bytes / (bandwidth_eff x bandwidth) )
      + attention bytes / (kv_eff x bandwidth)
      + (n_layers x layer_cost + token_cost + arch/MoE costs) x (ref_fp32 / fp32) ** fixed_exponent

On a CPU the first line is the ``CPU_NORM``-norm of three sides, the kernel side, the memory side and the bytes
over ``CPU_CORE_GBPS`` per core (``weights_time``), since the same cores compute and wait on memory.

``compute_rate`` is what the H100 reached per weight type (H100_DECODE_EFFICIENCY x 3350 GB/s) scaled by
the device's FP32 shader rate against the H100's 66.91 TFLOP/s (the kernel side: dequantization and dot
products), times ``compute_scale`` per backend. A fast-memory GPU (H100, H200, A100) is bound by the first
term, so the H200 decodes as the H100 does; a GeForce card or a Mac by the second. Prefill: 2 x active
weights FLOPs at the H100's per-type share of the device's matrix rate (tensor cores, WMMA, Apple FP16,
CPU SIMD), times ``prefill_scale`` per backend, plus attention FLOPs and per-layer costs.

Runtimes other than current llama.cpp (llama-bench) get a time factor fitted alongside: llamafile
(LocalScore, mean over its 9 tests), llama-server/Ollama (wall clock, includes a short prefill), and
llama-bench of May 2024 (XiongjieDai; llama.cpp's CUDA kernels changed since). The app predicts llama.cpp,
factor 1. ROCm and Vulkan rows in the sample are all llamafile: their llamafile factor is the one fitted
on the backends that have both runtimes, so their llama.cpp prediction rests on that assumption.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))

from advisor.catalog.hardware import UnknownHardware, find_gpu  # noqa: E402
from advisor.catalog.machines import find_cpu  # noqa: E402
from advisor.core import speed  # noqa: E402
from advisor.core.hf_config import shape_from_hf_config_path  # noqa: E402
from advisor.core.shape import ModelShape  # noqa: E402

SAMPLE = ROOT / "bench" / "data" / "community_speeds"
BACKENDS = ("cuda", "metal", "rocm", "cpu")


def runtime_class(runtime: str) -> str:
    """llama.cpp (current llama-bench), llamafile, server (llama-server, Ollama, unspecified), llama.cpp-2024."""
    if runtime.startswith("llamafile"):
        return "llamafile"
    if "May 2024" in runtime:
        return "llama.cpp-2024"
    if "llama-bench" in runtime:
        return "llama.cpp"
    return "server"


@cache
def shape_of(config: str) -> ModelShape:
    return shape_from_hf_config_path(SAMPLE / "configs" / config)


@cache
def weights_of(config: str, quant: str) -> tuple[speed.WeightChunk, ...]:
    return speed.weights_for(shape_of(config), quant)


@dataclasses.dataclass
class Row:
    id: str
    hardware: str
    backend: str
    runtime: str
    inputs: speed.SpeedInputs
    tg: float | None
    pp: float | None  # pp512 (llama-bench) only
    label: str
    bf16_kv: bool = False  # LocalScore on a GPU behind an AVX512_BF16 host: a BF16 KV cache (host_bf16_kv)
    windows: bool = False  # run on Windows (the row's ``os``)
    clocks: tuple[float, float] = (0.0, 0.0)  # a CPU row's base and boost clocks (GHz; 0: not listed)
    cores: int = 0  # a CPU row's cores that llama.cpp threads on (device_of; 0 for a GPU row)


@cache
def cloud_gib_per_vcpu() -> dict[str, float]:
    """CPUs sold only as cloud instances, whose memory per vCPU is fixed (cpus.json ``cloud_gib_per_vcpu``)."""
    rows = json.loads((ROOT / "advisor" / "catalog" / "data" / "cpus.json").read_text())["cpus"]
    return {r["name"]: r["cloud_gib_per_vcpu"] for r in rows if r.get("cloud_gib_per_vcpu")}


def device_of(row: dict[str, Any]) -> tuple[str, speed.Device | None, speed.Device, int]:
    """(backend, GPU device or None, CPU device, the CPU's threads for a CPU row) of a row. A CPU runs at the
    nominal clock here; its own clocks enter the fit through ``Row.clocks`` (``decode_time`` scales the kernel
    side)."""
    if row["gpu_count"]:
        gpu = find_gpu(row["hardware"])
        dev = speed.device_for_gpu(gpu)
        cpu = speed.cpu_device("host", 50.0, 8, "avx2")
        return dev.kind, dev, cpu, 0
    c = find_cpu(row["hardware"])
    cores, bandwidth = c.math_cores, c.bandwidth_gbps or 50.0
    per_vcpu = cloud_gib_per_vcpu().get(c.name)
    if per_vcpu and row.get("ram_gb"):
        # A cloud instance is a slice of the socket: its memory (the row's ram_gb) gives its vCPUs, two to a core,
        # and its share of the socket's memory channels follows its share of the cores.
        vcpus = max(1, round(row["ram_gb"] / per_vcpu))
        slice_cores = max(1, min(c.cores, vcpus * c.cores // c.threads))
        cores, bandwidth = slice_cores, bandwidth * slice_cores / c.cores
    return "cpu", None, speed.cpu_device(c.name, bandwidth, cores, c.isa), cores


def without_roof(cpu: speed.Device) -> speed.Device:
    """``cpu`` without its cores, so that advisor.core.speed leaves its per-core roof out of the features: the fit
    adds it itself (``Features.core_bytes``, ``weights_time``). A GPU row's host CPU goes without it."""
    return dataclasses.replace(cpu, cores=0)


def cpu_clocks(name: str) -> tuple[float, float]:
    c = find_cpu(name)
    return (c.base_ghz or 0.0, c.boost_ghz or c.base_ghz or 0.0)


# LocalScore picks the KV cache type from the host CPU, not the GPU: ``type_k/type_v = X86_HAVE(AVX512_BF16) ?
# GGML_TYPE_BF16 : GGML_TYPE_F16`` (Mozilla-Ocho/llamafile, localscore/cmd.cpp, cmd_params_defaults). llamafile's
# CUDA/ROCm build has no batched or single-token kernel for a BF16 K/V matrix: ggml_cuda_mul_mat sends it to the
# generic ggml_cuda_op_mul_mat, which loops over every query head, copying that head's K (or V) slice, converting it
# and calling cuBLAS (llama.cpp/ggml-cuda.cu, ggml_cuda_mul_mat and ggml_cuda_op_mul_mat). So those runs pay a cost
# per layer per query head per token and several passes over the cache. The CPUs with AVX512_BF16: AMD Zen 4 and
# Zen 5 (every AMD part with AVX-512), Intel Cooper Lake and Sapphire Rapids onwards
# (https://en.wikipedia.org/wiki/AVX-512#CPUs_with_AVX-512). llamafile names the host's LLVM -march in brackets;
# Zen 5 hosts it did not know go untagged.
BF16_MARCHES = ("znver4", "znver5", "cooperlake", "sapphirerapids", "emeraldrapids", "graniterapids")


def host_bf16_kv(cpu_name: str | None) -> bool:
    """Whether LocalScore ran with a BF16 KV cache on a host named ``cpu_name``."""
    if not cpu_name:
        return False
    tag = cpu_name.rsplit("(", 1)[-1].rstrip(")").strip().lower() if cpu_name.endswith(")") else ""
    if tag:
        return tag in BF16_MARCHES
    try:
        c = find_cpu(cpu_name)
    except UnknownHardware:
        return False
    return c.isa == "avx512" and c.name.upper().startswith("AMD")


# What a GPU keeps besides the repeating layers when llama-server/Ollama fit layers themselves: the CUDA
# context, compute buffers and a few thousand tokens of KV cache (llama.cpp's --fit leaves 1 GiB free).
RESERVED_BYTES = 1.5 * 2**30


def layers_that_fit(shape: ModelShape, weights: tuple[speed.WeightChunk, ...], vram: float) -> int:
    """-ngl for a row whose runtime chose it (no gpu_layers given): as many layers as fit, -1 if all do."""
    per_layer = sum(c.n_bytes for c in weights if 0 <= c.layer < shape.n_layers) / shape.n_layers
    head = sum(c.n_bytes for c in weights if c.layer == shape.n_layers)
    free = vram - RESERVED_BYTES - head
    if free >= per_layer * shape.n_layers:
        return -1
    return max(1, int(free // per_layer) + 1)  # the output layer is offloaded first


def load_rows() -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    skipped: list[str] = []
    for line in (SAMPLE / "speeds.jsonl").read_text().splitlines():
        r = json.loads(line)
        try:
            backend, gpu, cpu, cores = device_of(r)
            cpu = without_roof(cpu)
        except UnknownHardware:
            skipped.append(f"{r['id']}: unknown hardware {r['hardware']!r}")
            continue
        if gpu is not None and not gpu.bandwidth_gbps:
            skipped.append(f"{r['id']}: no bandwidth for {r['hardware']!r}")
            continue
        shape = shape_of(r["config"])
        weights = weights_of(r["config"], r["quant"])
        n_gen = r.get("n_gen") or 128
        depth = r.get("depth") or 0
        # Decode is timed from ``depth`` over n_gen tokens: the mean depth is depth + n_gen/2, except for
        # LocalScore, whose row already gives the mean depth of its tests.
        tg_depth = depth if r["runtime"].startswith("llamafile") else depth + n_gen // 2
        devices = (gpu,) * max(1, r["gpu_count"]) if gpu is not None else ()
        ngl = -1 if devices else 0
        if devices and r.get("full_offload") is not True and r.get("vram_gb"):
            ngl = layers_that_fit(shape, weights, r["vram_gb"] * 2**30 * len(devices))
            if r.get("cpu"):
                try:
                    c = find_cpu(r["cpu"])
                    cpu = without_roof(speed.cpu_device(c.name, c.bandwidth_gbps or 50.0, c.math_cores, c.isa))
                except UnknownHardware:
                    pass
        inp = speed.SpeedInputs(
            shape,
            weights,
            devices,
            cpu=cpu,
            n_gpu_layers=ngl,
            kv_type=r.get("kv_type") or "f16",
            depth=tg_depth,
            n_prompt=r.get("n_prompt") or 512,
        )
        # pp512 from llama-bench; LocalScore's prompt_tps (mean over prompts of 16-4096 tokens) is its own
        # measure, used with its own factor (``pp:llamafile``) and never reported as pp512.
        pp = r["pp_tps"] if r.get("pp_tps") and (r.get("pp_scored") or r["runtime"].startswith("llamafile")) else None
        rows.append(
            Row(
                r["id"],
                r["hardware"],
                backend,
                runtime_class(r["runtime"]),
                inp,
                r.get("tg_tps"),
                pp,
                f"{r['hardware'][:28]:<28} x{r['gpu_count']} {r['model'][:26]:<26} {r['quant']:<9}",
                bool(devices) and r["runtime"].startswith("llamafile") and host_bf16_kv(r.get("cpu")),
                (r.get("os") or "").lower().startswith("windows"),
                cpu_clocks(r["hardware"]) if not devices else (0.0, 0.0),
                cores,
            )
        )
    return rows, skipped


# ---------------------------------------------------------------- features

HUGE = 1e30


def _unit(**kw: Any) -> speed.Efficiency:
    base: dict[str, Any] = {
        "decode": {},
        "decode_default": HUGE,
        "kv": HUGE,
        "prefill": {},
        "prefill_default": HUGE,
        "compute_ref": speed.H100_REF,
    }
    base.update(kw)
    return speed.Efficiency(**base)


@dataclasses.dataclass
class Features:
    """A row's times at unit constants (seconds per token), from advisor.core.speed itself."""

    kernel: float  # weights at the H100's per-type kernel rates, scaled by FP32
    memory: float  # weight bytes / bandwidth
    kv: float  # attention bytes / bandwidth
    layer: float  # the H100's per-layer, arch and MoE costs
    token: float  # the H100's per-token cost
    fp32: float
    arch: str = ""  # the device's microarchitecture (GPUSpec.architecture; "" for a CPU)
    pp_kernel: float = 0.0  # prefill matmuls and attention at the H100's per-type shares, scaled by SM-GHz
    pp_matrix: float = 0.0  # their FLOPs at the device's matrix rate
    pp_layer: float = 0.0
    pp_bytes: float = 0.0
    bf16_heads: float = 0.0  # query heads x attention layers on the GPU, where the KV cache is BF16 (Row.bf16_kv)
    n_layers: float = 0.0
    windows: bool = False
    clocks: tuple[float, float] = (0.0, 0.0)  # a CPU's base and boost clocks (Row.clocks)
    core_bytes: float = 0.0  # a CPU row's weight bytes / (its cores x 1 GB/s): the per-core bandwidth roof


def _decode(inp: speed.SpeedInputs, eff: speed.Efficiency, part: str) -> float:
    kinds: set[speed.DeviceKind] = {d.kind for d in inp.devices} | {"cpu"}
    i = dataclasses.replace(inp, efficiency=tuple((k, eff) for k in kinds))
    return speed.decode_time_s(i, inp.depth)[part]


def _prefill(inp: speed.SpeedInputs, eff: speed.Efficiency) -> float:
    kinds: set[speed.DeviceKind] = {d.kind for d in inp.devices} | {"cpu"}
    return speed.prefill_time_s(dataclasses.replace(inp, efficiency=tuple((k, eff) for k in kinds)))


def features(row: Row) -> Features:
    inp = row.inputs
    cuda = speed.cuda_efficiency()
    dev = inp.devices[0] if inp.devices else inp.cpu
    assert dev is not None
    kernel = _decode(inp, _unit(decode=dict(speed.H100_DECODE_EFFICIENCY)), "weights")
    memory = _decode(inp, _unit(bandwidth_eff=1.0), "weights")
    kv = _decode(inp, _unit(kv=1.0), "kv")
    layer = _decode(
        inp,
        _unit(
            layer_cost_s=cuda.layer_cost_s,
            arch_layer_cost_s=cuda.arch_layer_cost_s,
            moe_expert_cost_s=cuda.moe_expert_cost_s,
        ),
        "fixed",
    )
    token = _decode(inp, _unit(token_cost_s=cuda.token_cost_s), "fixed")
    f = Features(kernel, memory, kv, layer, token, dev.unit_ghz or speed.H100_UNIT_GHZ, dev.architecture or "")
    shape = inp.shape
    f.n_layers, f.windows, f.clocks = float(shape.n_layers), row.windows, row.clocks
    if row.cores and inp.cpu is not None and CORE_CAP[0]:
        f.core_bytes = memory * inp.cpu.bandwidth_gbps / row.cores
    if row.bf16_kv:
        f.bf16_heads = float(shape.n_heads * sum(1 for i in range(shape.n_layers) if not shape.is_recurrent_layer(i)))
    if row.pp:
        p = dataclasses.replace(inp, depth=inp.depth, n_prompt=512)
        ref = None if row.backend == "cpu" else speed.H100_TENSOR_TFLOPS
        pp_bytes = _prefill(p, _unit(prefill_ref_tflops=ref))
        shares = dict(cuda.prefill)
        if row.runtime == "llama.cpp-2024":
            # Until June 2024 llama.cpp's CUDA backend dequantized quantized weights to FP16 and ran cuBLAS for
            # prompt batches; MMQ became the default later (ggml-org/llama.cpp#8075). So those rows prefill every
            # type at the FP16 share.
            shares = {t: cuda.prefill_eff("f16") for t in {c.ggml_type for c in inp.weights} | set(shares)}
        f.pp_kernel = (
            _prefill(p, _unit(prefill=shares, prefill_attn=dict(cuda.prefill_attn), prefill_ref_tflops=ref)) - pp_bytes
        )
        f.pp_matrix = _prefill(p, _unit(matrix_eff=1.0)) - pp_bytes if ref else 0.0
        f.pp_layer = (
            _prefill(
                p,
                _unit(
                    prefill_layer_cost_s=cuda.prefill_layer_cost_s,
                    prefill_arch_layer_cost_s=cuda.prefill_arch_layer_cost_s,
                ),
            )
            - pp_bytes
        )
        f.pp_bytes = pp_bytes
    return f


# ---------------------------------------------------------------- the model on features

# Parameters per backend, as logs: compute scale, bandwidth efficiency, layer and token cost multipliers,
# fixed-cost exponent, runtime factors, prefill scale.
DECODE_PARAMS = ("compute_scale", "bandwidth_eff", "layer_mult", "token_mult", "fixed_exponent")
RUNTIMES = ("llamafile", "server", "llama.cpp-2024")
# CUDA keeps the H100's kernel rates and fixed costs (bench/speed_accuracy.py --fit): the sample fits only
# what the H100 cannot tell (bandwidth efficiency, how fixed costs grow on slower GPUs, runtimes).
FIXED_CUDA = {"compute_scale": 1.0, "layer_mult": 1.0, "token_mult": 1.0}
# Weight of the prior log(arch factor)^2: 4 Cauchy units per e-fold.
ARCH_PRIOR = 4.0
START = {
    "compute_scale": 1.0,
    "bandwidth_eff": 0.8,
    "layer_mult": 1.0,
    "token_mult": 1.0,
    "fixed_exponent": 0.5,
    "llamafile": 1.1,
    "server": 1.1,
    "llama.cpp-2024": 1.1,
    # llamafile's own per-token host cost (LocalScore: a 1B model decodes at ~100 tok/s on an H100, H200
    # or RTX 5090 behind a server CPU, 275 behind a desktop one).
    "llamafile_token_s": 0.001,
    "llamafile_layer_s": 5e-05,
    # A BF16 KV cache's per-head cost: ~8 launches (copies, conversions, GEMM) per query head per layer for
    # KQ and KQV at a few microseconds each.
    "bf16_head_s": 1.5e-05,
    "windows_launch": 1.5,
    "boost_share": 0.5,
    # GB/s a CPU core streams (weights_time).
    "core_gbps": 10.0,
    "cpu_norm": 1.0,  # the norm less 1 (fit_decode): a 2-norm to start
}


def clock_factor(f: Features, p: dict[str, float]) -> float:
    """A CPU's features are taken at the nominal clock: its own sustained clock (``speed.cpu_clock_ghz`` with the
    fitted boost share) over that nominal one."""
    base, boost = f.clocks
    if not base:
        return 1.0
    return (base + min(1.0, p.get("boost_share", 0.0)) * (boost - base)) / speed.CPU_CLOCK_GHZ


def weights_time(kernel: Any, memory: Any, core_bytes: Any, p: dict[str, float]) -> Any:
    """The weights' time from the kernel side ``kernel`` and the memory side, the share ``bandwidth_eff`` of the
    datasheet bandwidth (``memory`` at 1). A GPU's is the larger of the two. A CPU (``core_bytes`` > 0) has a third
    side, at most ``core_gbps`` per core: a core streams from DRAM only as fast as its outstanding cache-line misses
    allow (Little's law: ~10-16 line fill buffers x 64 B over ~80-100 ns of DRAM latency is ~7-12 GB/s per core), so
    2-4 cores cannot draw a dual-channel DDR4/DDR5 or LPDDR5X system's bandwidth. On a CPU the three sides combine as
    their ``cpu_norm``-norm (fitted with ``core_gbps``; speed.cpu_weights_time in the app) rather than a maximum: the
    same cores run the dot products and wait for memory, so near the crossover both slow a token, and only far from
    it does one alone."""
    mem = memory / p["bandwidth_eff"]
    if "core_gbps" not in p:
        return np.maximum(kernel, mem)
    n = p["cpu_norm"]
    cpu = (kernel**n + mem**n + (core_bytes / p["core_gbps"]) ** n) ** (1 / n)
    return np.where(core_bytes > 0, cpu, np.maximum(kernel, mem))


def decode_time(f: Features, p: dict[str, float], runtime: str) -> float:
    clock = clock_factor(f, p)
    kernel = f.kernel / (clock * p["compute_scale"] * p.get("arch:" + f.arch, 1.0))
    t = float(weights_time(kernel, f.memory, f.core_bytes, p))
    t += f.kv / speed.H100_KV_EFFICIENCY
    scale = (speed.H100_UNIT_GHZ / (f.fp32 * clock)) ** p["fixed_exponent"]
    t += (f.layer * p["layer_mult"] + f.token * p["token_mult"]) * scale
    t *= p.get(runtime, 1.0) if runtime != "llama.cpp" else 1.0
    if runtime == "llamafile":
        # llamafile launches every kernel one by one (its CUDA build leaves out GGML_CUDA_USE_GRAPHS), a cost per
        # layer and per token; with a BF16 KV cache on a GPU, per query head per layer too. Launches cost more
        # under Windows' display driver model.
        # The per-token cost is host work (sampling over the vocabulary, the graph's thread hand-offs): on a CPU
        # row at its sustained clock (a GPU row's host clock is not known: 1).
        launches = p.get("llamafile_token_s", 0.0) / clock + f.n_layers * p.get("llamafile_layer_s", 0.0)
        launches += f.bf16_heads * p.get("bf16_head_s", 0.0)
        t += launches * (p.get("windows_launch", 1.0) if f.windows else 1.0)
    return t


class FeatureArrays:
    """``decode_time`` over many rows at once: the features as arrays, for the fit's loss."""

    def __init__(self, data: list[tuple[Row, Features]]) -> None:
        fs = [f for _, f in data]
        self.runtimes = [r.runtime for r, _ in data]
        self.archs = ["arch:" + f.arch for f in fs]

        def column(name: str) -> np.ndarray:
            return np.array([getattr(f, name) for f in fs], dtype=float)

        self.kernel, self.memory, self.kv = column("kernel"), column("memory"), column("kv")
        self.layer, self.token, self.fp32 = column("layer"), column("token"), column("fp32")
        self.n_layers, self.bf16_heads = column("n_layers"), column("bf16_heads")
        self.core_bytes = column("core_bytes")
        self.base = np.array([f.clocks[0] for f in fs], dtype=float)
        self.boost = np.array([f.clocks[1] for f in fs], dtype=float)
        self.windows = np.array([f.windows for f in fs], dtype=bool)
        self.llamafile = np.array([rt == "llamafile" for rt in self.runtimes], dtype=bool)
        # Row -> index of its architecture and runtime, to pick their factors with one gather.
        self.arch_names = sorted(set(self.archs))
        self.arch_index = np.array([self.arch_names.index(a) for a in self.archs], dtype=int)
        self.runtime_names = sorted(set(self.runtimes))
        self.runtime_index = np.array([self.runtime_names.index(rt) for rt in self.runtimes], dtype=int)

    def decode_times(self, p: dict[str, float]) -> np.ndarray:
        """Seconds per token of every row, as ``decode_time`` gives them one by one."""
        share = min(1.0, p.get("boost_share", 0.0))
        clock = np.where(self.base > 0, (self.base + share * (self.boost - self.base)) / speed.CPU_CLOCK_GHZ, 1.0)
        arch = np.array([p.get(a, 1.0) for a in self.arch_names])[self.arch_index]
        t = weights_time(self.kernel / (clock * p["compute_scale"] * arch), self.memory, self.core_bytes, p)
        t = t + self.kv / speed.H100_KV_EFFICIENCY
        scale = (speed.H100_UNIT_GHZ / (self.fp32 * clock)) ** p["fixed_exponent"]
        t = t + (self.layer * p["layer_mult"] + self.token * p["token_mult"]) * scale
        factors = [p.get(rt, 1.0) if rt != "llama.cpp" else 1.0 for rt in self.runtime_names]
        t = t * np.array(factors)[self.runtime_index]
        launches = p.get("llamafile_token_s", 0.0) / clock + self.n_layers * p.get("llamafile_layer_s", 0.0)
        launches = launches + self.bf16_heads * p.get("bf16_head_s", 0.0)
        launches = launches * np.where(self.windows, p.get("windows_launch", 1.0), 1.0)
        return t + np.where(self.llamafile, launches, 0.0)


def nelder_mead(fun: Any, x0: np.ndarray, iters: int = 600, step: float = 0.3) -> np.ndarray:
    """Minimise ``fun`` from ``x0`` (Nelder and Mead 1965; standard reflection/expansion/contraction)."""
    n = len(x0)
    simplex = [x0] + [x0 + step * np.eye(n)[i] for i in range(n)]
    values = [fun(x) for x in simplex]
    for _ in range(iters * n):
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if values[-1] - values[0] < 1e-10:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        worst = simplex[-1]
        refl = centroid + (centroid - worst)
        fr = fun(refl)
        if fr < values[0]:
            exp = centroid + 2 * (centroid - worst)
            fe = fun(exp)
            simplex[-1], values[-1] = (exp, fe) if fe < fr else (refl, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = refl, fr
        else:
            contr = centroid + 0.5 * (worst - centroid)
            fc = fun(contr)
            if fc < values[-1]:
                simplex[-1], values[-1] = contr, fc
            else:
                best = simplex[0]
                simplex = [best] + [best + 0.5 * (x - best) for x in simplex[1:]]
                values = [values[0]] + [fun(x) for x in simplex[1:]]
    return simplex[int(np.argmin(values))]


def fit_decode(
    data: list[tuple[Row, Features]], backend: str, shared: dict[str, float] | None = None
) -> dict[str, float]:
    """Constants of ``backend`` minimising the squared log error of decode over ``data``."""
    runtimes = sorted({r.runtime for r, _ in data} - {"llama.cpp"})
    fixed = dict(FIXED_CUDA) if backend == "cuda" else {}
    # llama-server and Ollama run llama.cpp's kernels: on CUDA, where llama-bench rows anchor them, their
    # factor fits to 1.00, so it is 1 everywhere (else a backend's few llama-bench rows, one BF16 file on
    # Metal, would set its llama.cpp speed alone).
    fixed["server"] = 1.0
    if shared:
        fixed.update({k: v for k, v in shared.items() if not k.startswith("_")})
    if all(r.runtime == "llamafile" for r, _ in data) and "llamafile" not in fixed:
        # Nothing but llamafile (a CPU fold without its one llama-bench machine): llamafile's time factor cannot be
        # told apart from the kernels', so it comes from the GPU backends that have both runtimes (``_llamafile`` in
        # ``shared``: CUDA's and Metal's geometric mean), else llamafile stands for llama.cpp. llama.cpp's own
        # per-layer and per-token costs are then unmeasured: they are the H100's (multipliers 1; the CPU fit with its
        # llama-bench machine gives 0.65-0.95), and llamafile's per-token host cost and its Windows factor are fitted
        # on the llamafile rows against them. Fitting the multipliers on llamafile rows instead made them carry
        # llamafile's host cost into llama.cpp's prediction (held-out 7840HS: 31% median error, now 13%).
        fixed.update({"llamafile": 1.0, "llamafile_layer_s": 0.0, "layer_mult": 1.0, "token_mult": 1.0})
        if shared:
            fixed.update({k[1:]: v for k, v in shared.items() if k == "_llamafile"})
    names = [k for k in DECODE_PARAMS if k not in fixed] + [k for k in runtimes if k not in fixed]
    if "llamafile" in runtimes:
        # Per-layer launches: the CUDA build (and ROCm, through hipcc) runs without CUDA graphs; Metal and the CPU
        # keep the per-token cost alone.
        launch = ("llamafile_token_s", "llamafile_layer_s") if backend == "cuda" else ("llamafile_token_s",)
        names += [k for k in launch if k not in fixed]
        if any(f.windows for r, f in data if r.runtime == "llamafile") and "windows_launch" not in fixed:
            names.append("windows_launch")
    if any(f.bf16_heads for _, f in data) and "bf16_head_s" not in fixed:
        names.append("bf16_head_s")
    # A kernel-rate factor per microarchitecture (the H100's Hopper is the reference), pulled towards 1 by
    # ARCH_PRIOR so that one machine of an architecture cannot set it alone. A CPU's SIMD width already sets its
    # kernel rate (speed.CPU_DECODE_FLOP_PER_CYCLE), and with the kernel side binding through ``cpu_norm`` a
    # factor per instruction set fitted to the sample's few AVX, SSE and NEON machines (``--cpu-isa-factors``: held out
    # 16.1 -> 17.5%, bench/data/speed_accuracy_community_variants.txt).
    archs = sorted({f.arch for _, f in data if f.arch} - {"Hopper"}) if backend != "cpu" or CPU_ISA[0] else []
    names += ["arch:" + a for a in archs]
    if any(f.clocks[0] for _, f in data) and "boost_share" not in fixed:
        names.append("boost_share")
    if any(f.core_bytes for _, f in data) and "core_gbps" not in fixed:
        names += ["core_gbps", "cpu_norm"]
    if backend in ("rocm", "vulkan") and "llamafile" in fixed:
        names = [n for n in names if n != "llamafile"]
    meas = np.array([r.tg for r, _ in data])
    arrays = FeatureArrays(data)

    def params(x: np.ndarray) -> dict[str, float]:
        p = dict(fixed)
        for k, v in zip(names, x, strict=True):
            # Fixed costs do not shrink on a slower device: the exponent is kept in [0, 1.5].
            if k == "fixed_exponent":
                p[k] = float(min(max(v, 0.0), 1.5))
            elif k == "boost_share":  # a share of the way from base to boost clock
                p[k] = float(min(math.exp(v), 1.0))
            elif k == "cpu_norm":  # a norm from 1 (the sides add up) towards the maximum
                p[k] = float(1.0 + math.exp(min(v, 4.6)))
            elif k == "compute_scale":  # a kernel side 100x the H100's per SM-GHz is no longer physics
                p[k] = float(math.exp(min(max(v, -4.6), 4.6)))
            else:
                p[k] = float(math.exp(min(v, 50.0)))  # a side that drifts off (no roof) stays finite
        p["bandwidth_eff"] = min(p["bandwidth_eff"], 1.0)
        return p

    def loss(x: np.ndarray) -> float:
        p = params(x)
        err = np.log(1 / (arrays.decode_times(p) * meas))
        prior = sum(ARCH_PRIOR * v**2 for k, v in zip(names, x, strict=True) if k.startswith("arch:"))
        # Cauchy loss: the sample holds runs 2-10x off their hardware's other runs of the same model
        # (LocalScore on a GPU it ran on the CPU, a busy host); they must not pull the constants.
        return float(np.sum(np.log1p((err / 0.15) ** 2))) + prior

    x0 = np.array([START.get(k, 0.0) if k == "fixed_exponent" else math.log(START.get(k, 1.0)) for k in names])
    # Nelder-Mead stalls in a simplex that has collapsed along some of the ~20 directions (the CPU fit's held-out
    # error moved 19% <-> 27% with the order of its parameters alone): restart it from its best point until a
    # restart no longer lowers the loss.
    x = nelder_mead(loss, x0)
    for _ in range(RESTARTS):
        y = nelder_mead(loss, x)
        if loss(y) > loss(x) - 1e-6:
            break
        x = y
    return params(x)


# Whether the fit has the CPU's per-core bandwidth roof (speed.Device.cores; ``--no-core-cap`` leaves it out, and
# ``--write`` then gives the app CPU_CORE_GBPS = 0, the model without it).
CORE_CAP = [True]
# Whether the CPU fit has a kernel-rate factor per instruction set (``--cpu-isa-factors``; not the app's model).
CPU_ISA = [False]
# Nelder-Mead restarts at most (fit_decode).
RESTARTS = 4


def _median_abs(errs: list[float]) -> float:
    return statistics.median(abs(e) for e in errs) if errs else math.nan


def cv_decode(
    data: list[tuple[Row, Features]], backend: str, shared: dict[str, float] | None = None
) -> tuple[dict[str, float], list[float], list[float], list[tuple[Row, float, float]]]:
    """(constants fitted on all, in-sample log errors, leave-one-hardware-out log errors, held-out rows)."""
    p = fit_decode(data, backend, shared)
    ins = [math.log(1 / decode_time(f, p, r.runtime) / r.tg) for r, f in data if r.tg]
    held: list[float] = []
    rows: list[tuple[Row, float, float]] = []
    for hw in sorted({r.hardware for r, _ in data}):
        rest = [(r, f) for r, f in data if r.hardware != hw]
        mine = [(r, f) for r, f in data if r.hardware == hw]
        if len({r.hardware for r, _ in rest}) < 2:
            continue
        q = fit_decode(rest, backend, shared)
        for r, f in mine:
            pred = 1 / decode_time(f, q, r.runtime)
            held.append(math.log(pred / r.tg))  # type: ignore[operator]
            rows.append((r, pred, r.tg))  # type: ignore[arg-type]
    return p, ins, held, rows


def decode_sees(data: list[tuple[Row, Features]], p: dict[str, float], share: float, ins: list[float]) -> bool:
    """Whether decode's in-sample errors ``ins`` (at ``p``) move with the CPU clock share ``share``: its kernel side
    binds on some row. The share is then decode's; else the prompt rows fit it (fit_prefill)."""
    moved = {**p, "boost_share": share}
    errs = [math.log(1 / decode_time(f, moved, r.runtime) / r.tg) for r, f in data]  # type: ignore[operator]
    return max(abs(a - b) for a, b in zip(ins, errs, strict=True)) > 1e-9


def prefill_time(f: Features, p: dict[str, float], q: dict[str, float], runtime: str) -> float:
    """Seconds per prompt token: ``p`` the backend's decode constants (fixed-cost exponent), ``q`` its
    prefill scale and runtime factors (and a CPU's clock share, fit_prefill)."""
    clock = clock_factor(f, q if "boost_share" in q else p)
    scale = (speed.H100_UNIT_GHZ / (f.fp32 * clock)) ** p["fixed_exponent"]
    t = max(f.pp_kernel / (clock * q["prefill_scale"]), f.pp_matrix / q["matrix_eff"] if f.pp_matrix else 0.0)
    t += f.pp_layer * scale + f.pp_bytes
    return t * (q.get("pp:" + runtime, 1.0) if runtime != "llama.cpp" else 1.0)


def fit_prefill(
    data: list[tuple[Row, Features]], backend: str, p: dict[str, float], shared: dict[str, float]
) -> dict[str, float]:
    """Prefill scale of ``backend`` (CUDA: 1, the H100's shares of the matrix rate) and runtime factors."""
    # CUDA: the kernel side is the H100's; the sample fits the matrix roof. Metal: the matrix roof (Apple's
    # FP16 rate) binds, the kernel side keeps the H100's scale. CPU: no matrix roof, its SIMD rate's share.
    fixed = {"matrix_eff": 1.0} if backend == "cpu" else {"prefill_scale": 1.0}
    fixed.update(shared)
    runtimes = sorted({"pp:" + r.runtime for r, _ in data} - {"pp:llama.cpp"})
    names = [k for k in ["prefill_scale", "matrix_eff", *runtimes] if k not in fixed]
    # A CPU's sustained clock (a share of the way from base to boost) sets its SIMD rate. Where decode's kernel side,
    # the other place it enters, binds on no CPU row (the per-core roof as a maximum did that), the decode fit leaves
    # the share wherever Nelder-Mead drifts (its bound, 1.0; prompt held out 38.5 -> 40.4%), so the prompt rows fit
    # it; where decode_sees it (the sides' norm), ``shared`` holds decode's.
    if any(f.clocks[0] for _, f in data) and "boost_share" not in fixed:
        names.append("boost_share")
    meas = np.array([r.pp for r, _ in data])

    def params(x: np.ndarray) -> dict[str, float]:
        q = dict(fixed)
        q.update({k: float(math.exp(v)) for k, v in zip(names, x, strict=True)})
        # int8 MMQ runs at most at twice the dense FP16 rate: the matrix roof is at most 2x that rate.
        q["matrix_eff"] = min(q["matrix_eff"], 2.0)
        if "boost_share" in q:
            q["boost_share"] = min(q["boost_share"], 1.0)
        return q

    def loss(x: np.ndarray) -> float:
        q = params(x)
        pred = np.array([1 / prefill_time(f, p, q, r.runtime) for r, f in data])
        return float(np.sum(np.log1p((np.log(pred / meas) / 0.15) ** 2)))

    if not names:
        return dict(fixed)
    return params(nelder_mead(loss, np.array([math.log(START["boost_share"]) if k == "boost_share" else 0.0
                                              for k in names])))  # fmt: skip


def band(log_errors: list[float]) -> tuple[float, float]:
    """measured / predicted at the 20th and 80th percentiles of held-out errors: 60% of runs fall inside."""
    if len(log_errors) < 5:
        return (0.5, 1.5)
    lo, hi = np.percentile([-e for e in log_errors], [20, 80])
    return (round(float(math.exp(lo)), 3), round(float(math.exp(hi)), 3))


def cv_prefill(
    data: list[tuple[Row, Features]], backend: str, p: dict[str, float], shared: dict[str, float]
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, list[float]]]:
    """(constants, in-sample and held-out log errors by kind: "pp512" (llama-bench) and "LS" (LocalScore's
    prompt_tps, its own measure))."""
    q = fit_prefill(data, backend, p, shared)

    def errors(rows: list[tuple[Row, Features]], qq: dict[str, float], out: dict[str, list[float]]) -> None:
        for r, f in rows:
            kind = "LS" if r.runtime == "llamafile" else "pp512"
            out.setdefault(kind, []).append(math.log(1 / prefill_time(f, p, qq, r.runtime) / r.pp))  # type: ignore[operator]

    ins: dict[str, list[float]] = {}
    errors(data, q, ins)
    held: dict[str, list[float]] = {}
    for hw in sorted({r.hardware for r, _ in data}):
        rest = [(r, f) for r, f in data if r.hardware != hw]
        # Without pp512 rows left, llama.cpp's prefill scale is unanchored (CPU: one machine has them).
        anchored = any(r.runtime != "llamafile" for r, _ in rest) or all(r.runtime == "llamafile" for r, _ in data)
        if rest and anchored:
            errors([(r, f) for r, f in data if r.hardware == hw], fit_prefill(rest, backend, p, shared), held)
    return q, ins, held


def pct(log_errors: list[float]) -> str:
    return f"{100 * _median_abs([math.expm1(e) for e in log_errors]):5.1f}%" if log_errors else "    -"


def datacenter_check() -> dict[str, list[float]]:
    """Decode and prefill errors of advisor.core.speed (its committed constants) on the H100 and H200
    llama-bench rows, for the catalog's cards as find_gpu resolves them."""
    from advisor.catalog.models_catalog import get_model

    out: dict[str, list[float]] = {}
    for gpu_name, file in (("NVIDIA H100 80GB HBM3", "speed_h100.jsonl"), ("NVIDIA H200", "speed_h200.jsonl")):
        dev = speed.device_for_gpu(find_gpu(gpu_name))
        tensors_file = ROOT / "bench" / "data" / file.replace("speed_", "tensors_")
        tensors = {}
        if tensors_file.exists():
            for line in tensors_file.read_text().splitlines():
                t = json.loads(line)
                tensors[(t["model_id"], t["file"])] = t["tensors"]
        for line in (ROOT / "bench" / "data" / file).read_text().splitlines():
            rec = json.loads(line)
            b = rec.get("bench") or {}
            if rec.get("tool") != "llama-bench" or rec.get("variant") or "avg_ts" not in b:
                continue
            shape = get_model(rec["model_id"]).to_shape()
            key = (rec["model_id"], rec["file"])
            w = (
                speed.chunks_from_tensors(tensors[key], shape.n_layers)
                if key in tensors
                else speed.weights_for(shape, rec["preset"])
            )
            decode = int(b.get("n_gen") or 0) > 0
            inp = speed.SpeedInputs(
                shape, w, (dev,), kv_type=b.get("type_k", "f16"), depth=int(b["n_depth"]),
                n_prompt=int(b.get("n_prompt") or 512), n_ubatch=int(b.get("n_ubatch") or 512),
            )  # fmt: skip
            pred = speed.predict_speed(inp, curve_depths=())
            value = pred.decode_tps if decode else pred.prefill_tps
            out.setdefault(f"{gpu_name} {'decode' if decode else 'prefill'}", []).append(value / b["avg_ts"] - 1)
    return out


MODULE_HEAD = '''"""Speed constants per backend, fitted on the community sample (``bench/community_fit.py --write``).

Generated: do not edit by hand. The sample (``bench/data/community_speeds/speeds.jsonl``, 476 public
measurements of llama.cpp-family runtimes on 111 hardware models) comes from d893a/localscore-insights
(``assets/localscore_results.tsv``), AlexsJones/llmfit (``llmfit-core/data/community/*``,
``llmfit-core/data/benchmark_cache.json``) and XiongjieDai/GPU-Benchmarks-on-LLM-Inference (``README.md``);
each row names its repository, file, commit and row. ``advisor.core.speed.default_efficiency`` reads these.

DECODE[backend]: compute_scale (the H100's per-type kernel rates x this, per SM-GHz), bandwidth_eff
(share of datasheet bandwidth streaming weights reach), layer_mult and token_mult (the H100's fixed costs
x these), fixed_exponent (fixed costs grow as (H100 SM-GHz / device's) ** this). ARCH_COMPUTE[backend]:
the kernel rate per unit-GHz of each microarchitecture (a CPU: SIMD extension) against the backend's,
shrunk towards 1 by a prior. PREFILL_SCALE[backend]: the H100's per-type shares of its matrix rate,
scaled by SM-GHz, x this (a CPU: of its SIMD rate); MATRIX_EFF[backend]: the share of the device's own
matrix rate that bounds prefill. BANDS[backend][kind]: measured / predicted at the 20th and 80th
percentiles of the leave-one-hardware-out errors (``CV`` gives the medians).
"""

from __future__ import annotations

from typing import Any

'''


def write_module(decode: dict[str, dict[str, float]], prefill: dict[str, float], matrix: dict[str, float],
                 bands: dict[str, dict[str, tuple[float, float]]], cv: dict[str, dict[str, Any]]) -> None:  # fmt: skip
    keys = ("compute_scale", "bandwidth_eff", "layer_mult", "token_mult", "fixed_exponent")
    lines = [MODULE_HEAD, "DECODE: dict[str, dict[str, float]] = {"]
    for b, p in decode.items():
        lines.append(f"    {b!r}: {{" + ", ".join(f"{k!r}: {round(p[k], 4)}" for k in keys) + "},")
    share = round(decode["cpu"].get("boost_share", 0.5), 4)
    lines += ["}", "# A CPU's sustained clock: this share of the way from base to boost clock (speed.cpu_clock_ghz).",
              f"CPU_BOOST_SHARE: float = {share}"]  # fmt: skip
    core = round(decode["cpu"].get("core_gbps", 0.0), 3)
    lines += ["# GB/s one CPU core streams weights at in decode (community_fit.weights_time); 0: no such roof.",
              f"CPU_CORE_GBPS: float = {core}"]  # fmt: skip
    norm = round(decode["cpu"].get("cpu_norm", 0.0), 4)
    lines += ["# The norm a CPU's kernel, memory and per-core sides combine by (community_fit.weights_time); with no",
              "# per-core side (CPU_CORE_GBPS 0) it is 0 and unused.",
              f"CPU_NORM: float = {norm}"]  # fmt: skip
    lines += ["PREFILL_SCALE: dict[str, float] = {"]
    lines += [f"    {b!r}: {round(v, 4)}," for b, v in prefill.items()]
    lines += ["}", "ARCH_COMPUTE: dict[str, dict[str, float]] = {"]
    for b, p in decode.items():
        arch = {k[5:]: round(v, 4) for k, v in p.items() if k.startswith("arch:")}
        lines.append(f"    {b!r}: {arch!r},")
    lines += ["}", "MATRIX_EFF: dict[str, float] = {"]
    lines += [f"    {b!r}: {round(v, 4)}," for b, v in matrix.items()]
    lines += ["}", "BANDS: dict[str, dict[str, tuple[float, float]]] = {"]
    for b, d in bands.items():
        lines.append(f"    {b!r}: {{" + ", ".join(f"{k!r}: {v!r}" for k, v in d.items()) + "},")
    lines += ["}", "# Median |error| per backend: rows, hardware, in-sample and held out (leave one hardware out).",
              "CV: dict[str, dict[str, Any]] = {"]  # fmt: skip
    for b, d in cv.items():
        lines.append(f"    {b!r}: {{" + ", ".join(f"{k!r}: {v!r}" for k, v in d.items()) + "},")
    lines.append("}")
    path = ROOT / "advisor" / "core" / "speed_backends.py"
    path.write_text("\n".join(lines) + "\n")
    ruff = Path(sys.executable).parent / "ruff"
    subprocess.run([str(ruff), "check", "--fix-only", "-q", str(path)], check=False)
    subprocess.run([str(ruff), "format", "-q", str(path)], check=False)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", action="store_true", help="every held-out decode row")
    ap.add_argument("--write", action="store_true", help="write advisor/core/speed_backends.py")
    ap.add_argument("--no-core-cap", action="store_true", help="leave the CPU's per-core bandwidth roof out")
    ap.add_argument("--cpu-isa-factors", action="store_true", help="fit a CPU kernel factor per instruction set")
    args = ap.parse_args()
    CORE_CAP[0] = not args.no_core_cap
    CPU_ISA[0] = args.cpu_isa_factors
    rows, skipped = load_rows()
    data = [(r, features(r)) for r in rows]
    for s in skipped:
        print("skipped", s)
    decode: dict[str, dict[str, float]] = {}
    prefill: dict[str, float] = {}
    bands: dict[str, dict[str, tuple[float, float]]] = {}
    cv: dict[str, dict[str, Any]] = {}
    prefill_rt: dict[str, float] = {}
    matrix: dict[str, float] = {}
    print(f"\n{'backend':<6} {'kind':<8} {'rows':>5} {'hw':>4} {'in-sample':>9} {'held-out':>9}  band (20-80%)")
    for backend in ("cuda", "metal", "cpu", "rocm"):
        mine = [(r, f) for r, f in data if r.backend == backend and r.tg]
        share: dict[str, float] = {}
        if backend != "cuda":
            share["llama.cpp-2024"] = decode["cuda"]["llama.cpp-2024"]
        if backend == "cpu":  # for a fold left with llamafile rows alone (fit_decode)
            share["_llamafile"] = math.sqrt(decode["cuda"]["llamafile"] * decode["metal"]["llamafile"])
        if backend in ("rocm", "vulkan"):
            # Only llamafile rows: its factors are the geometric means of CUDA's and Metal's.
            for k in ("llamafile", "llamafile_token_s"):
                share[k] = math.sqrt(decode["cuda"][k] * decode["metal"][k])
            # llamafile's ROCm build is its CUDA source through hipcc: the same BF16 fallback.
            for k in ("bf16_head_s", "windows_launch"):
                share[k] = decode["cuda"][k]
        p, ins, held, held_rows = cv_decode(mine, backend, share)
        decode[backend] = p
        # The app predicts llama.cpp: its band comes from the llama.cpp-family rows (llama-bench,
        # llama-server, Ollama) where there are enough on 3 or more machines, else from all.
        native = [math.log(pred / meas) for r, pred, meas in held_rows if r.runtime != "llamafile"]
        native_hw = {r.hardware for r, _, _ in held_rows if r.runtime != "llamafile"}
        bands[backend] = {"decode": band(native if len(native) >= 10 and len(native_hw) >= 3 else held)}
        cv[backend] = {"rows": len(mine), "hardware": len({r.hardware for r, _ in mine}),
                       "decode_in": round(_median_abs([math.expm1(e) for e in ins]), 3),
                       "decode_held": round(_median_abs([math.expm1(e) for e in held]), 3)}  # fmt: skip
        print(f"{backend:<6} {'decode':<8} {len(mine):5d} {cv[backend]['hardware']:4d} {pct(ins):>9} {pct(held):>9}"
              f"  {bands[backend]['decode']}")  # fmt: skip
        for rt in sorted({r.runtime for r, _, _ in held_rows}):
            e = [math.log(pred / meas) for r, pred, meas in held_rows if r.runtime == rt]
            print(f"{'':<6} {'  ' + rt:<18} n={len(e):3d} held-out {pct(e)}")
        if args.rows:
            for r, pred, meas in held_rows:
                print(f"      {r.label} {r.runtime:<14} {meas:8.1f} {pred:8.1f} {100 * (pred / meas - 1):+6.1f}%")
        pp = [(r, f) for r, f in data if r.backend == backend and r.pp]
        pshare: dict[str, float] = (
            {} if backend == "cuda" else {"pp:llama.cpp-2024": prefill_rt.get("pp:llama.cpp-2024", 1.0)}
        )
        if backend == "rocm":  # llamafile's prompt factor: CUDA's, where pp512 rows anchor it
            pshare["pp:llamafile"] = prefill_rt["pp:llamafile"]
        if pp:
            q, pins, pheld = cv_prefill(pp, backend, p, pshare)
            if "boost_share" in q and decode_sees(mine, p, q["boost_share"], ins):
                # Decode's kernel side binds somewhere (the sides' norm): decode's share stands, and the prompt
                # rows are fitted at it.
                q, pins, pheld = cv_prefill(pp, backend, p, {**pshare, "boost_share": p["boost_share"]})
            if backend == "cuda":
                prefill_rt = {k: v for k, v in q.items() if k.startswith("pp:")}
            prefill[backend] = q["prefill_scale"]
            matrix[backend] = q["matrix_eff"]
            if "boost_share" in q:
                p["boost_share"] = q["boost_share"]  # the app has one: the prompt rows' unless decode sees it
            # The band: pp512's held-out errors where there are 5, else LocalScore's prompt rows'.
            basis = pheld.get("pp512", []) if len(pheld.get("pp512", [])) >= 5 else pheld.get("LS", [])
            bands[backend]["prefill"] = band(basis)
            for kind in ("pp512", "LS"):
                if kind not in pins:
                    continue
                hw = len({r.hardware for r, _ in pp if (r.runtime == "llamafile") == (kind == "LS")})
                held_k = pheld.get(kind, [])
                cv[backend][f"prefill_{kind}"] = {"rows": len(pins[kind]), "hardware": hw,
                                                  "in": round(_median_abs([math.expm1(e) for e in pins[kind]]), 3),
                                                  "held": round(_median_abs([math.expm1(e) for e in held_k]), 3)
                                                  if held_k else None}  # fmt: skip
                print(f"{backend:<6} {kind:<8} {len(pins[kind]):5d} {hw:4d} {pct(pins[kind]):>9} {pct(held_k):>9}"
                      f"  scale {q['prefill_scale']:.3f} matrix {q['matrix_eff']:.3f}")  # fmt: skip
            print(f"{'':<6} prefill band {bands[backend]['prefill']}")
        else:
            prefill[backend] = 1.0
            matrix[backend] = matrix["cuda"]
            print(f"{backend:<6} {'pp512':<8}     0    0  (no pp512 in the sample: CUDA's scale, band from CUDA)")
        print("   ", {k: round(v, 4) for k, v in p.items() if isinstance(v, float)})
    for backend in ("rocm",):
        bands[backend].setdefault("prefill", bands["cuda"]["prefill"])
    # Vulkan (Intel, other GPUs) has no rows: ROCm's constants, the other non-CUDA discrete backend.
    decode["vulkan"], prefill["vulkan"], bands["vulkan"] = decode["rocm"], prefill["rocm"], bands["rocm"]
    matrix["vulkan"] = matrix["rocm"]
    if args.write:
        write_module(decode, prefill, matrix, bands, cv)
        print("wrote advisor/core/speed_backends.py")
    print("\nadvisor.core.speed on the H100 and H200 llama-bench rows (predicted / measured - 1):")
    for k, errs in datacenter_check().items():
        ab = [abs(e) for e in errs]
        print(f"  {k:<30} n={len(ab):3d} median |err| {100 * statistics.median(ab):5.1f}%  max {100 * max(ab):5.1f}%"
              f"  over 12%: {sum(a > 0.12 for a in ab)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
