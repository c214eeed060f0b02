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
        "bandwidth_eff": 0.8785,
        "layer_mult": 1.0,
        "token_mult": 1.0,
        "fixed_exponent": 0.1576,
    },
    "metal": {
        "compute_scale": 1.1053,
        "bandwidth_eff": 0.9398,
        "layer_mult": 2.5174,
        "token_mult": 1.0428,
        "fixed_exponent": 0.0,
    },
    "cpu": {
        "compute_scale": 0.4145,
        "bandwidth_eff": 0.6196,
        "layer_mult": 0.557,
        "token_mult": 2.2217,
        "fixed_exponent": 0.0,
    },
    "rocm": {
        "compute_scale": 0.2475,
        "bandwidth_eff": 0.7216,
        "layer_mult": 6.1032,
        "token_mult": 13.5422,
        "fixed_exponent": 0.0,
    },
    "vulkan": {
        "compute_scale": 0.2475,
        "bandwidth_eff": 0.7216,
        "layer_mult": 6.1032,
        "token_mult": 13.5422,
        "fixed_exponent": 0.0,
    },
}
PREFILL_SCALE: dict[str, float] = {
    "cuda": 1.0,
    "metal": 1.0,
    "cpu": 2.9673,
    "rocm": 1.0,
    "vulkan": 1.0,
}
ARCH_COMPUTE: dict[str, dict[str, float]] = {
    "cuda": {
        "Ada Lovelace": 0.8202,
        "Ampere": 0.7929,
        "Blackwell 2.0": 0.9737,
        "Pascal": 0.339,
        "Turing": 1.1362,
        "Volta": 1.1515,
    },
    "metal": {"Apple M1": 0.9522, "Apple M2": 0.8546, "Apple M3": 1.0014, "Apple M4": 1.2244, "Apple M5": 1.017},
    "cpu": {"avx": 1.0022, "avx2": 0.875, "avx512": 1.4934, "neon": 1.6725, "sse": 0.4656},
    "rocm": {"RDNA 1.0": 1.3245, "RDNA 2.0": 1.2459, "RDNA 3.0": 0.6809, "RDNA 3.5": 0.8899},
    "vulkan": {"RDNA 1.0": 1.3245, "RDNA 2.0": 1.2459, "RDNA 3.0": 0.6809, "RDNA 3.5": 0.8899},
}
MATRIX_EFF: dict[str, float] = {
    "cuda": 0.6144,
    "metal": 0.6671,
    "cpu": 1.0,
    "rocm": 0.586,
    "vulkan": 0.586,
}
BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "cuda": {"decode": (0.83, 1.088), "prefill": (0.845, 1.228)},
    "metal": {"decode": (0.986, 1.142), "prefill": (0.863, 1.179)},
    "cpu": {"decode": (0.769, 1.399), "prefill": (0.463, 1.702)},
    "rocm": {"decode": (0.897, 1.132), "prefill": (0.892, 1.17)},
    "vulkan": {"decode": (0.897, 1.132), "prefill": (0.892, 1.17)},
}
# Median |error| per backend: rows, hardware, in-sample and held out (leave one hardware out).
CV: dict[str, dict[str, Any]] = {
    "cuda": {
        "rows": 192,
        "hardware": 35,
        "decode_in": 0.079,
        "decode_held": 0.113,
        "prefill_pp512": {"rows": 37, "hardware": 6, "in": 0.145, "held": 0.157},
        "prefill_LS": {"rows": 105, "hardware": 27, "in": 0.19, "held": 0.197},
    },
    "metal": {
        "rows": 87,
        "hardware": 11,
        "decode_in": 0.045,
        "decode_held": 0.107,
        "prefill_pp512": {"rows": 2, "hardware": 2, "in": 0.247, "held": 0.438},
        "prefill_LS": {"rows": 59, "hardware": 8, "in": 0.102, "held": 0.132},
    },
    "cpu": {
        "rows": 144,
        "hardware": 63,
        "decode_in": 0.129,
        "decode_held": 0.24,
        "prefill_pp512": {"rows": 17, "hardware": 1, "in": 0.256, "held": None},
        "prefill_LS": {"rows": 127, "hardware": 62, "in": 0.418, "held": 0.421},
    },
    "rocm": {
        "rows": 49,
        "hardware": 8,
        "decode_in": 0.059,
        "decode_held": 0.104,
        "prefill_LS": {"rows": 47, "hardware": 7, "in": 0.091, "held": 0.112},
    },
}
