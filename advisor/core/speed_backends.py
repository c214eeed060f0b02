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
        "bandwidth_eff": 0.8609,
        "layer_mult": 1.0,
        "token_mult": 1.0,
        "fixed_exponent": 0.0452,
    },
    "metal": {
        "compute_scale": 1.1118,
        "bandwidth_eff": 0.9402,
        "layer_mult": 2.5109,
        "token_mult": 1.1475,
        "fixed_exponent": 0.0,
    },
    "cpu": {
        "compute_scale": 0.349,
        "bandwidth_eff": 0.6397,
        "layer_mult": 0.642,
        "token_mult": 3.4887,
        "fixed_exponent": 0.0,
    },
    "rocm": {
        "compute_scale": 0.2211,
        "bandwidth_eff": 0.7563,
        "layer_mult": 5.5346,
        "token_mult": 6.3047,
        "fixed_exponent": 0.0,
    },
    "vulkan": {
        "compute_scale": 0.2211,
        "bandwidth_eff": 0.7563,
        "layer_mult": 5.5346,
        "token_mult": 6.3047,
        "fixed_exponent": 0.0,
    },
}
PREFILL_SCALE: dict[str, float] = {
    "cuda": 1.0,
    "metal": 1.0,
    "cpu": 2.9689,
    "rocm": 1.0,
    "vulkan": 1.0,
}
ARCH_COMPUTE: dict[str, dict[str, float]] = {
    "cuda": {
        "Ada Lovelace": 1.0723,
        "Ampere": 0.7771,
        "Blackwell 2.0": 1.0517,
        "Pascal": 0.3755,
        "Turing": 1.0777,
        "Volta": 1.0669,
    },
    "metal": {"Apple M1": 0.9479, "Apple M2": 0.8511, "Apple M3": 1.0005, "Apple M4": 1.2187, "Apple M5": 1.0118},
    "cpu": {"avx": 0.9966, "avx2": 0.9881, "avx512": 0.9442, "neon": 2.0184, "sse": 0.5576},
    "rocm": {"RDNA 1.0": 1.4836, "RDNA 2.0": 1.4368, "RDNA 3.0": 0.714, "RDNA 3.5": 0.657},
    "vulkan": {"RDNA 1.0": 1.4836, "RDNA 2.0": 1.4368, "RDNA 3.0": 0.714, "RDNA 3.5": 0.657},
}
MATRIX_EFF: dict[str, float] = {
    "cuda": 0.6144,
    "metal": 0.5963,
    "cpu": 1.0,
    "rocm": 0.5926,
    "vulkan": 0.5926,
}
BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "cuda": {"decode": (0.817, 1.08), "prefill": (0.743, 1.255)},
    "metal": {"decode": (0.987, 1.143), "prefill": (0.864, 1.18)},
    "cpu": {"decode": (0.8, 1.371), "prefill": (0.446, 1.43)},
    "rocm": {"decode": (0.895, 1.128), "prefill": (0.892, 1.17)},
    "vulkan": {"decode": (0.895, 1.128), "prefill": (0.892, 1.17)},
}
# Median |error| per backend: rows, hardware, in-sample and held out (leave one hardware out).
CV: dict[str, dict[str, Any]] = {
    "cuda": {
        "rows": 192,
        "hardware": 35,
        "decode_in": 0.141,
        "decode_held": 0.196,
        "prefill_pp512": {"rows": 37, "hardware": 6, "in": 0.173, "held": 0.226},
        "prefill_LS": {"rows": 105, "hardware": 27, "in": 0.192, "held": 0.203},
    },
    "metal": {
        "rows": 87,
        "hardware": 11,
        "decode_in": 0.045,
        "decode_held": 0.108,
        "prefill_pp512": {"rows": 2, "hardware": 2, "in": 0.184, "held": 0.341},
        "prefill_LS": {"rows": 59, "hardware": 8, "in": 0.1, "held": 0.133},
    },
    "cpu": {
        "rows": 144,
        "hardware": 63,
        "decode_in": 0.141,
        "decode_held": 0.236,
        "prefill_pp512": {"rows": 17, "hardware": 1, "in": 0.256, "held": None},
        "prefill_LS": {"rows": 127, "hardware": 62, "in": 0.38, "held": 0.413},
    },
    "rocm": {
        "rows": 49,
        "hardware": 8,
        "decode_in": 0.058,
        "decode_held": 0.093,
        "prefill_LS": {"rows": 47, "hardware": 7, "in": 0.091, "held": 0.112},
    },
}
