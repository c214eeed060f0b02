"""``run_probe``: validate a spec, build or find the model, run the child, assemble the result."""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from pathlib import Path
from typing import Any

from advisor.core.memory import KV_CACHE_TYPES
from advisor.probe.child_process import _run_child
from advisor.probe.results import _result_from, extrapolate
from advisor.probe.sources import (
    _PRESET_BPW,
    _standin_file,
    confined_gguf,
    default_cache_dir,
    default_threads,
    hf_gguf,
    smollm2_path,
    standin_layer_counts,
    truncatable,
    truncate_shape,
)
from advisor.probe.spec import (
    QUANT_PRESETS,
    ProbeCancelled,
    ProbeError,
    ProbeProgress,
    ProbeResult,
    ProbeSpec,
    ProgressFn,
    overall_percent,
)


def _validate(spec: ProbeSpec) -> None:
    if spec.n_ctx < 16:
        raise ProbeError(f"context size {spec.n_ctx} is too small", "bad_input")
    if spec.n_prompt < 1 or spec.n_gen < 1:
        raise ProbeError("n_prompt and n_gen must be at least 1", "bad_input")
    if spec.n_prompt > spec.n_ctx or spec.depth + spec.n_gen > spec.n_ctx:
        raise ProbeError(f"the context ({spec.n_ctx}) must hold the prompt and depth + generated tokens", "bad_input")
    if spec.type_k not in KV_CACHE_TYPES or spec.type_v not in KV_CACHE_TYPES:
        raise ProbeError(f"unknown KV cache type {spec.type_k}/{spec.type_v}", "bad_input")
    if spec.type_v not in ("f16", "bf16", "f32") and spec.flash_attn == "off":
        raise ProbeError("a quantized V cache needs flash attention", "bad_input")
    if spec.n_gpu_layers < -1:
        raise ProbeError("n_gpu_layers must be -1 (all) or a layer count", "bad_input")
    if spec.source == "standin" and spec.preset.upper() not in QUANT_PRESETS:
        raise ProbeError(f"unknown quantization preset {spec.preset!r}", "bad_input")


def run_probe(spec: ProbeSpec, progress: ProgressFn | None = None) -> ProbeResult:
    """Measure one model; raises ``ProbeError`` (``ProbeCancelled`` when the callback returns False)."""
    started = time.monotonic()
    seen: list[str] = []

    def report(stage: str, percent: float, message: str = "", part: int = 0, parts: int = 1) -> bool:
        """Pass on ``percent`` of ``stage`` as the whole run's percent; False once cancelled."""
        if not seen or seen[-1] != stage:
            seen.append(stage)
        if progress is None:
            return True
        overall = overall_percent(stage, percent, part, parts)
        return progress(ProbeProgress(stage, overall, message)) is not False  # type: ignore[arg-type]

    def time_left() -> float:
        left = spec.time_limit_s - (time.monotonic() - started)
        if left <= 0:
            raise ProbeError(f"probe exceeded its time limit of {spec.time_limit_s:.0f} s", "timeout")
        return left

    _validate(spec)
    if importlib.util.find_spec("llama_cpp") is None:
        from advisor.probe_engine import not_ready_message  # no Django there either

        raise ProbeError(
            not_ready_message() or "llama-cpp-python is not installed here (scripts/run and scripts/test install it)",
            "unavailable",
        )
    if not report("preparing", 0):
        raise ProbeCancelled()
    threads = spec.n_threads or default_threads()
    cache = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()

    files: list[tuple[Path, int | None]] = []  # (path, layer count when a stand-in)
    full_layers: int | None = None
    if spec.source == "smollm2":
        label, files = "SmolLM2-135M-Instruct Q4_1", [(smollm2_path(), None)]
    elif spec.source == "gguf":
        if not spec.gguf_path:
            raise ProbeError("no GGUF path given", "bad_input")
        p = confined_gguf(spec.gguf_path, spec.models_dir)
        label, files = p.name, [(p, None)]
    elif spec.source == "hf":
        if not spec.hf_repo or not spec.hf_file:
            raise ProbeError("a Hugging Face repo and file name are needed", "bad_input")
        p = hf_gguf(spec.hf_repo, spec.hf_file, str(cache / "hf"))
        label, files = f"{spec.hf_repo}/{spec.hf_file}", [(p, None)]
    elif spec.source == "standin":
        if not spec.model_id:
            raise ProbeError("no catalog model id given", "bad_input")
        try:
            from advisor.catalog.models_catalog import get_model
        except ImportError as exc:
            raise ProbeError("the model catalog is not available", "failed") from exc
        try:
            record = get_model(spec.model_id)
        except (KeyError, LookupError) as exc:
            hint = str(exc.args[0]).split("; ", 1)[1] if exc.args and "; " in str(exc.args[0]) else ""
            raise ProbeError(f"unknown model {spec.model_id!r}" + (f"; {hint}" if hint else ""), "not_found") from exc
        shape = record.to_shape()
        full_layers = shape.n_layers
        preset = spec.preset.upper()
        label = f"{spec.model_id} {preset} (stand-in)"
        est = _total_params(shape) * _PRESET_BPW.get(preset, 16.0) / 8
        if spec.standin_layers:
            counts: list[int] = list(spec.standin_layers)
        elif est <= spec.standin_max_bytes or not truncatable(shape):
            counts = [shape.n_layers]
        else:
            per_layer = est / max(1, shape.n_layers)
            counts = list(standin_layer_counts(shape, int(spec.standin_max_bytes // per_layer)))
        for i, k in enumerate(counts):

            def sub(p: float, msg: str, i: int = i) -> None:
                if not report("preparing", (100.0 * i + p) / len(counts), msg):
                    raise ProbeCancelled()

            path = _standin_file(truncate_shape(shape, k), spec.model_id, preset, cache, sub, time_left)
            files.append((path, k))
    else:
        raise ProbeError(f"unknown model source {spec.source!r}", "bad_input")

    results: list[ProbeResult] = []
    for path, _k in files:
        job = {
            "job": "probe",
            "path": str(path),
            "n_ctx": spec.n_ctx,
            "n_gpu_layers": spec.n_gpu_layers,
            "n_threads": threads,
            "n_prompt": spec.n_prompt,
            "n_gen": spec.n_gen,
            "depth": spec.depth,
            "n_batch": spec.n_batch,
            "n_ubatch": spec.n_ubatch,
            "flash_attn": spec.flash_attn,
            "type_k": spec.type_k,
            "type_v": spec.type_v,
            "swa_full": spec.swa_full,
            # Partial stand-ins run fast and their differences are amplified: measure them 3 times.
            "reps": max(spec.reps, 3) if len(files) > 1 else spec.reps,
            "memory_limit_bytes": spec.memory_limit_bytes,
        }
        n_files = len(files)
        idx = len(results)

        def on_progress(stage: str, percent: float, idx: int = idx, n_files: int = n_files) -> bool:
            if stage == "decode_depth_fill":
                stage = "decode"
            return report(stage, percent, part=idx, parts=n_files)

        raw = _run_child(job, on_progress, time_left())
        results.append(_result_from(raw, spec, label, spec.source, str(path), threads, ()))

    if len(results) == 1:
        final = results[0]
        if full_layers is not None and final.n_layers != full_layers:
            raise ProbeError("a single partial stand-in cannot be extrapolated", "failed")
    else:
        assert full_layers is not None
        final = extrapolate(results[0], results[1], full_layers)
    report("done", 100)
    return dataclasses.replace(final, stages=tuple(seen), elapsed_s=time.monotonic() - started)


def _total_params(shape: Any) -> int:
    """Weights of the whole model, only to decide whether a stand-in is built whole or extrapolated."""
    from advisor.core.params import count_params

    return count_params(shape)[0]
