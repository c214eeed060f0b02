"""Speed constants per backend, fitted on the community sample (``bench/community_fit.py --write``).

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

DECODE: dict[str, dict[str, float]] = {
    "cuda": {
        "compute_scale": 1.0,
        "bandwidth_eff": 0.8774,
        "layer_mult": 1.0,
        "token_mult": 1.0,
        "fixed_exponent": 0.1467,
    },
    "metal": {
        "compute_scale": 1.1063,
        "bandwidth_eff": 0.9411,
        "layer_mult": 2.5375,
        "token_mult": 0.8983,
        "fixed_exponent": 0.0,
    },
    "cpu": {
        "compute_scale": 0.659,
        "bandwidth_eff": 0.7064,
        "layer_mult": 0.7254,
        "token_mult": 0.0,
        "fixed_exponent": 0.0,
    },
    "rocm": {
        "compute_scale": 0.2395,
        "bandwidth_eff": 0.6995,
        "layer_mult": 5.7605,
        "token_mult": 17.7008,
        "fixed_exponent": 0.0,
    },
    "vulkan": {
        "compute_scale": 0.2395,
        "bandwidth_eff": 0.6995,
        "layer_mult": 5.7605,
        "token_mult": 17.7008,
        "fixed_exponent": 0.0,
    },
}
# A CPU's sustained clock: this share of the way from base to boost clock (speed.cpu_clock_ghz).
CPU_BOOST_SHARE: float = 0.0
# GB/s one CPU core streams weights at in decode (community_fit.weights_time); 0: no such roof.
CPU_CORE_GBPS: float = 8.219
# The norm a CPU's kernel, memory and per-core sides combine by (community_fit.weights_time); with no
# per-core side (CPU_CORE_GBPS 0) it is 0 and unused.
CPU_NORM: float = 4.5067
PREFILL_SCALE: dict[str, float] = {
    "cuda": 1.0,
    "metal": 1.0,
    "cpu": 2.2947,
    "rocm": 1.0,
    "vulkan": 1.0,
}
ARCH_COMPUTE: dict[str, dict[str, float]] = {
    "cuda": {
        "Ada Lovelace": 1.0,
        "Ampere": 0.7811,
        "Blackwell 2.0": 1.0,
        "Pascal": 0.3294,
        "Turing": 1.0,
        "Volta": 0.7349,
    },
    "metal": {"Apple M1": 0.9516, "Apple M2": 0.8529, "Apple M3": 1.0, "Apple M4": 1.2213, "Apple M5": 1.0089},
    "cpu": {},
    "rocm": {"RDNA 1.0": 1.3119, "RDNA 2.0": 1.2365, "RDNA 3.0": 0.6577, "RDNA 3.5": 0.9373},
    "vulkan": {"RDNA 1.0": 1.3119, "RDNA 2.0": 1.2365, "RDNA 3.0": 0.6577, "RDNA 3.5": 0.9373},
}
MATRIX_EFF: dict[str, float] = {
    "cuda": 0.6138,
    "metal": 0.6805,
    "cpu": 1.0,
    "rocm": 0.5899,
    "vulkan": 0.5899,
}
BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "cuda": {"decode": (0.825, 1.083), "prefill": (0.864, 1.241)},
    "metal": {"decode": (0.99, 1.164), "prefill": (0.863, 1.179)},
    "cpu": {"decode": (0.782, 1.192), "prefill": (0.458, 1.538)},
    "rocm": {"decode": (0.851, 1.056), "prefill": (0.891, 1.17)},
    "vulkan": {"decode": (0.851, 1.056), "prefill": (0.891, 1.17)},
}
# Median |error| per backend: rows, hardware, in-sample and held out (leave one hardware out).
CV: dict[str, dict[str, Any]] = {
    "cuda": {
        "rows": 192,
        "hardware": 35,
        "decode_in": 0.076,
        "decode_held": 0.11,
        "prefill_pp512": {"rows": 37, "hardware": 6, "in": 0.14, "held": 0.14},
        "prefill_LS": {"rows": 105, "hardware": 27, "in": 0.193, "held": 0.197},
    },
    "metal": {
        "rows": 87,
        "hardware": 11,
        "decode_in": 0.046,
        "decode_held": 0.113,
        "prefill_pp512": {"rows": 2, "hardware": 2, "in": 0.25, "held": 0.443},
        "prefill_LS": {"rows": 59, "hardware": 8, "in": 0.102, "held": 0.132},
    },
    "cpu": {
        "rows": 144,
        "hardware": 63,
        "decode_in": 0.107,
        "decode_held": 0.161,
        "prefill_pp512": {"rows": 17, "hardware": 1, "in": 0.264, "held": None},
        "prefill_LS": {"rows": 127, "hardware": 62, "in": 0.378, "held": 0.395},
    },
    "rocm": {
        "rows": 49,
        "hardware": 8,
        "decode_in": 0.063,
        "decode_held": 0.1,
        "prefill_LS": {"rows": 47, "hardware": 7, "in": 0.092, "held": 0.112},
    },
}
