"""What a probe is asked and what it answers: presets, stages, the spec, progress and results."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from advisor.core.quantize import PRESETS
from advisor.fit.args import MAX_GPU_LAYERS

# A probe evaluates a 512-token prompt and 128 generated tokens, so its context holds at least that, and
# at most what a 2-core host measures in minutes. -1 GPU layers means all of them (llama.cpp's -ngl).
PROBE_MIN_CTX = 1024
PROBE_MAX_CTX = 131072
PROBE_MAX_GPU_LAYERS = MAX_GPU_LAYERS

Stage = Literal["preparing", "loading", "warmup", "prefill", "decode", "done"]
STAGES: tuple[str, ...] = ("preparing", "loading", "warmup", "prefill", "decode", "done")
# Each stage's share of a whole run, in percent (sums to 100): the one place the probe page's single bar
# and the API's ``percent`` come from. Rough shares of a run's wall time, so the bar only ever moves
# forward: building a stand-in (write, quantize) can take as long as measuring it; loading and decode
# are most of a measurement.
STAGE_WEIGHTS: dict[str, float] = {"preparing": 20, "loading": 15, "warmup": 5, "prefill": 25, "decode": 35}
MEASURE_STAGES = ("loading", "warmup", "prefill", "decode")  # each measured file goes through these


def overall_percent(stage: str, percent: float, part: int = 0, parts: int = 1) -> float:
    """The whole run's percent at ``percent`` of ``stage``, in the ``part``-th of ``parts`` measured files.

    >>> overall_percent("preparing", 50), overall_percent("loading", 0), overall_percent("decode", 100)
    (10.0, 20.0, 100.0)
    >>> overall_percent("prefill", 0), overall_percent("loading", 0, part=1, parts=2)
    (40.0, 60.0)
    """
    share = max(0.0, min(100.0, percent)) / 100
    if stage == "done":
        return 100.0
    if stage not in MEASURE_STAGES:
        return STAGE_WEIGHTS["preparing"] * share
    measuring = sum(STAGE_WEIGHTS[s] for s in MEASURE_STAGES)
    before = sum(STAGE_WEIGHTS[s] for s in MEASURE_STAGES[: MEASURE_STAGES.index(stage)])
    within = (before + STAGE_WEIGHTS[stage] * share) / measuring
    return round(STAGE_WEIGHTS["preparing"] + measuring * (part + within) / max(parts, 1), 1)


SourceKind = Literal["smollm2", "gguf", "hf", "standin"]

# Presets a stand-in can be quantized to: every llama-quantize file type (core.quantize.PRESETS, from
# llama.cpp's QUANT_OPTIONS) but F32, wider than the F16 stand-in it starts from.
QUANT_PRESETS: tuple[str, ...] = tuple(p for p in PRESETS if p != "F32")


class ProbeError(Exception):
    """A probe that could not measure. ``kind`` says why, for the UI and the exit code."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


class ProbeCancelled(ProbeError):
    def __init__(self, message: str = "probe cancelled") -> None:
        super().__init__(message, "cancelled")


@dataclass(frozen=True)
class ProbeSpec:
    """What to measure and how. Defaults match llama-bench (pp512, tg128, ubatch 512, batch 2048)."""

    source: SourceKind = "smollm2"
    gguf_path: str | None = None  # for "gguf": relative to models_dir, or absolute inside it
    models_dir: str | None = None
    hf_repo: str | None = None
    hf_file: str | None = None
    model_id: str | None = None  # for "standin": catalog id
    preset: str = "Q4_K_M"  # for "standin"
    n_ctx: int = 4096
    n_gpu_layers: int = -1  # -1: all layers
    n_threads: int | None = None  # None: physical cores
    n_prompt: int = 512
    n_gen: int = 128
    depth: int = 0  # extra decode run with this many tokens already in the cache
    n_batch: int = 2048
    n_ubatch: int = 512
    flash_attn: Literal["auto", "on", "off"] = "auto"
    type_k: str = "f16"
    type_v: str = "f16"
    swa_full: bool = False
    reps: int = 1
    time_limit_s: float = 900.0
    # Cap on the measuring process's address space (RLIMIT_AS), so a probe that asks for too much host
    # memory fails as "oom" instead of pushing the machine into swap or the kernel's OOM killer.
    memory_limit_bytes: int | None = None
    cache_dir: str | None = None
    # Stand-ins whose quantized file would exceed this are built at two smaller layer counts.
    standin_max_bytes: int = 4 * 1024**3
    standin_layers: tuple[int, int] | None = None  # force the two layer counts


@dataclass(frozen=True)
class ProbeProgress:
    stage: Stage
    percent: float  # of the whole run (overall_percent), not of the stage
    message: str = ""


@dataclass(frozen=True)
class BufferSize:
    """One "<device> <kind> buffer size = X MiB" line that llama.cpp logged."""

    kind: str  # "model", "KV", "compute", "output", "RS"
    device: str  # "CUDA0", "CPU", "CUDA_Host", "CPU_Mapped", "MTL0", ...
    bytes: int


@dataclass(frozen=True)
class ProbeResult:
    model_label: str
    source: str
    model_path: str
    model_size_bytes: int  # llama_model_size: bytes of all tensors
    model_n_params: int
    n_layers: int
    n_ctx: int
    n_gpu_layers: int
    n_threads: int
    flash_attn: str
    type_k: str
    type_v: str
    load_s: float
    prefill_tps: float  # pp<n_prompt>
    decode_tps: float  # tg<n_gen>
    n_prompt: int
    n_gen: int
    depth: int
    decode_at_depth_tps: float | None
    buffers: tuple[BufferSize, ...]
    offloaded_layers: tuple[int, int] | None  # (offloaded, offloadable) as llama.cpp logged
    gpu_peak_bytes: int | None  # device memory in use at the peak, minus what was in use before
    gpu_after_prefill_bytes: int | None  # same, after the n_prompt-token eval
    gpu_baseline_bytes: int | None
    gpu_total_bytes: int | None
    peak_rss_bytes: int
    backend: str  # "CUDA", "Metal", "CPU", ...
    gpu_name: str | None
    driver: str | None
    llama_cpp_python: str
    system_info: str
    stages: tuple[str, ...]
    buffer_log: tuple[str, ...] = ()  # the log lines the buffers were parsed from
    layers_measured: tuple[int, ...] = ()  # stand-in layer counts when extrapolated
    extrapolated: bool = False
    # What the extrapolation could not take from the line through the two stand-ins, and what it took
    # instead (``extrapolate``); empty when every value followed that line.
    extrapolation_notes: tuple[str, ...] = ()
    elapsed_s: float = 0.0

    def buffer_total(self, kind: str, device_prefix: str | None = None) -> int:
        return sum(
            b.bytes
            for b in self.buffers
            if b.kind == kind and (device_prefix is None or b.device.startswith(device_prefix))
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ProgressFn = Callable[[ProbeProgress], "bool | None"]
