"""Speed constants per backend, fitted on the community sample (``bench/community_fit.py --write``).

Generated: do not edit by hand. The sample (``bench/data/community_speeds/speeds.jsonl``, 476 public
measurements of llama.cpp-family runtimes on 111 hardware models) comes from d893a/localscore-insights
(``assets/localscore_results.tsv``), AlexsJones/llmfit (``llmfit-core/data/community/*``,
``llmfit-core/data/benchmark_cache.json``) and XiongjieDai/GPU-Benchmarks-on-LLM-Inference (``README.md``);
each row names its repository, file, commit and row. ``advisor.core.speed.default_efficiency`` reads these.

DECODE[backend]: compute_scale (the H100's per-type kernel rates x this, per SM-GHz), bandwidth_eff
(share of datasheet bandwidth streaming weights reach), layer_mult and token_mult (the H100's fixed costs
x these), fixed_exponent (fixed costs grow as (H100 SM-GHz / device's) ** this). PREFILL_SCALE[backend]:
the H100's per-type shares of its matrix rate, scaled by SM-GHz, x this (a CPU: of its SIMD rate);
MATRIX_EFF[backend]: the share of the device's own matrix rate that bounds prefill. BANDS[backend][kind]:
measured / predicted at the 20th and 80th percentiles of the leave-one-hardware-out errors (``CV`` gives the medians).
"""

from __future__ import annotations

from typing import Any

DECODE: dict[str, dict[str, float]] = {
    "cuda": {
        "compute_scale": 1.0,
        "bandwidth_eff": 0.9308,
        "layer_mult": 1.0,
        "token_mult": 1.0,
        "fixed_exponent": 0.3396,
    },
    "metal": {
        "compute_scale": 1.2166,
        "bandwidth_eff": 0.9383,
        "layer_mult": 2.4916,
        "token_mult": 1.5294,
        "fixed_exponent": 0.0,
    },
    "cpu": {
        "compute_scale": 0.9273,
        "bandwidth_eff": 0.631,
        "layer_mult": 0.0678,
        "token_mult": 0.0,
        "fixed_exponent": 1.5,
    },
    "rocm": {
        "compute_scale": 99.4843,
        "bandwidth_eff": 0.805,
        "layer_mult": 5.6661,
        "token_mult": 0.0,
        "fixed_exponent": 0.3197,
    },
    "vulkan": {
        "compute_scale": 99.4843,
        "bandwidth_eff": 0.805,
        "layer_mult": 5.6661,
        "token_mult": 0.0,
        "fixed_exponent": 0.3197,
    },
}
PREFILL_SCALE: dict[str, float] = {
    "cuda": 1.0,
    "metal": 1.0,
    "cpu": 4.2454,
    "rocm": 1.0,
    "vulkan": 1.0,
}
MATRIX_EFF: dict[str, float] = {
    "cuda": 0.6676,
    "metal": 0.605,
    "cpu": 1.0,
    "rocm": 0.6672,
    "vulkan": 0.6672,
}
BANDS: dict[str, dict[str, tuple[float, float]]] = {
    "cuda": {"decode": (0.719, 1.08), "prefill": (0.676, 1.202)},
    "metal": {"decode": (0.976, 1.116), "prefill": (0.864, 1.18)},
    "cpu": {"decode": (0.798, 1.374), "prefill": (0.458, 1.498)},
    "rocm": {"decode": (0.878, 1.122), "prefill": (0.904, 1.152)},
    "vulkan": {"decode": (0.878, 1.122), "prefill": (0.904, 1.152)},
}
# Median |error| per backend: rows, hardware, in-sample and held out (leave one hardware out).
CV: dict[str, dict[str, Any]] = {
    "cuda": {
        "rows": 192,
        "hardware": 35,
        "decode_in": 0.158,
        "decode_held": 0.234,
        "prefill_pp512": {"rows": 37, "hardware": 6, "in": 0.213, "held": 0.292},
        "prefill_LS": {"rows": 105, "hardware": 27, "in": 0.152, "held": 0.171},
    },
    "metal": {
        "rows": 87,
        "hardware": 11,
        "decode_in": 0.052,
        "decode_held": 0.135,
        "prefill_pp512": {"rows": 2, "hardware": 2, "in": 0.192, "held": 0.353},
        "prefill_LS": {"rows": 59, "hardware": 8, "in": 0.101, "held": 0.133},
    },
    "cpu": {
        "rows": 144,
        "hardware": 63,
        "decode_in": 0.176,
        "decode_held": 0.244,
        "prefill_pp512": {"rows": 17, "hardware": 1, "in": 0.117, "held": None},
        "prefill_LS": {"rows": 127, "hardware": 62, "in": 0.391, "held": 0.423},
    },
    "rocm": {
        "rows": 49,
        "hardware": 8,
        "decode_in": 0.049,
        "decode_held": 0.1,
        "prefill_LS": {"rows": 47, "hardware": 7, "in": 0.086, "held": 0.098},
    },
}
