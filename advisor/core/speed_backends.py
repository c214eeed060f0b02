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
        "bandwidth_eff": 0.8564,
        "layer_mult": 1.0,
        "token_mult": 1.0,
        "fixed_exponent": 0.0,
    },
    "metal": {
        "compute_scale": 1.1078,
        "bandwidth_eff": 0.9401,
        "layer_mult": 2.5602,
        "token_mult": 0.6908,
        "fixed_exponent": 0.0,
    },
    "cpu": {
        "compute_scale": 0.3335,
        "bandwidth_eff": 0.613,
        "layer_mult": 0.7342,
        "token_mult": 0.0,
        "fixed_exponent": 0.0,
    },
    "rocm": {
        "compute_scale": 0.2408,
        "bandwidth_eff": 0.7034,
        "layer_mult": 6.0361,
        "token_mult": 16.6212,
        "fixed_exponent": 0.0,
    },
    "vulkan": {
        "compute_scale": 0.2408,
        "bandwidth_eff": 0.7034,
        "layer_mult": 6.0361,
        "token_mult": 16.6212,
        "fixed_exponent": 0.0,
    },
}
# A CPU's sustained clock: this share of the way from base to boost clock (speed.cpu_clock_ghz).
CPU_BOOST_SHARE: float = 0.6421
PREFILL_SCALE: dict[str, float] = {
    "cuda": 1.0,
    "metal": 1.0,
    "cpu": 1.9091,
    "rocm": 1.0,
    "vulkan": 1.0,
}
ARCH_COMPUTE: dict[str, dict[str, float]] = {
    "cuda": {
        "Ada Lovelace": 1.0,
        "Ampere": 0.7641,
        "Blackwell 2.0": 1.0,
        "Pascal": 0.3252,
        "Turing": 0.9999,
        "Volta": 0.7323,
    },
    "metal": {"Apple M1": 0.9484, "Apple M2": 0.8526, "Apple M3": 1.0, "Apple M4": 1.2207, "Apple M5": 1.013},
    "cpu": {"avx": 1.0, "avx2": 0.8058, "avx512": 1.3215, "neon": 1.9373, "sse": 0.4847},
    "rocm": {"RDNA 1.0": 1.316, "RDNA 2.0": 1.2432, "RDNA 3.0": 0.6671, "RDNA 3.5": 0.9162},
    "vulkan": {"RDNA 1.0": 1.316, "RDNA 2.0": 1.2432, "RDNA 3.0": 0.6671, "RDNA 3.5": 0.9162},
}
MATRIX_EFF: dict[str, float] = {
    "cuda": 0.6157,
    "metal": 0.6737,
    "cpu": 1.0,
    "rocm": 0.5962,
    "vulkan": 0.5962,
}
BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "cuda": {"decode": (0.827, 1.077), "prefill": (0.847, 1.227)},
    "metal": {"decode": (0.988, 1.152), "prefill": (0.863, 1.179)},
    "cpu": {"decode": (0.811, 1.321), "prefill": (0.475, 1.486)},
    "rocm": {"decode": (0.878, 1.049), "prefill": (0.892, 1.17)},
    "vulkan": {"decode": (0.878, 1.049), "prefill": (0.892, 1.17)},
}
# Median |error| per backend: rows, hardware, in-sample and held out (leave one hardware out).
CV: dict[str, dict[str, Any]] = {
    "cuda": {
        "rows": 192,
        "hardware": 35,
        "decode_in": 0.074,
        "decode_held": 0.111,
        "prefill_pp512": {"rows": 37, "hardware": 6, "in": 0.15, "held": 0.152},
        "prefill_LS": {"rows": 105, "hardware": 27, "in": 0.192, "held": 0.204},
    },
    "metal": {
        "rows": 87,
        "hardware": 11,
        "decode_in": 0.045,
        "decode_held": 0.11,
        "prefill_pp512": {"rows": 2, "hardware": 2, "in": 0.253, "held": 0.446},
        "prefill_LS": {"rows": 59, "hardware": 8, "in": 0.102, "held": 0.132},
    },
    "cpu": {
        "rows": 144,
        "hardware": 63,
        "decode_in": 0.117,
        "decode_held": 0.202,
        "prefill_pp512": {"rows": 17, "hardware": 1, "in": 0.249, "held": None},
        "prefill_LS": {"rows": 127, "hardware": 62, "in": 0.376, "held": 0.385},
    },
    "rocm": {
        "rows": 49,
        "hardware": 8,
        "decode_in": 0.064,
        "decode_held": 0.079,
        "prefill_LS": {"rows": 47, "hardware": 7, "in": 0.091, "held": 0.112},
    },
}
