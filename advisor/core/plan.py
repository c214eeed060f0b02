"""The plan: one model at one quant on one machine, computed once and rendered everywhere.

A ``Plan`` joins the memory engine's exact per-device bytes (``memory.FitResult``) with the speed
engine's prediction (``speed.SpeedPrediction``) for the placement that memory chose. Cards, the model
page, the per-device table, tier pages, the JSON API and ``manage.py fit`` all read the same object,
so a figure is the same wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from advisor.core.approx_weights import APPROXIMATE_LABEL, ApproximateWeights
from advisor.core.memory import FitResult
from advisor.core.mmproj import ProjectorPlan
from advisor.core.recommend.placement import READING_SPEED_TPS

Placement = Literal["gpu", "partial", "cpu", "no"]

# memory.FitResult.fit -> the short placement name the pages use
_PLACEMENTS: dict[str, Placement] = {"full_gpu": "gpu", "partial": "partial", "cpu": "cpu", "no_fit": "no"}


@dataclass(frozen=True)
class Calibration:
    """How this host's probes corrected the speed engine (shown beside a calibrated speed)."""

    device: str
    samples: int
    confidence: str  # "low" | "medium" | "high"
    decode_ratio: tuple[float, ...]  # measured / predicted decode, before calibration
    # False when the probes disagree wildly with the model (median ratio outside CALIBRATION_RANGE): the
    # figures stay the model's and ``flag`` says why, rather than trusting a probe that may have misrun.
    applied: bool = True
    flag: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "samples": self.samples, "confidence": self.confidence,
                "decode_ratio": [round(r, 3) for r in self.decode_ratio], "applied": self.applied,
                "flag": self.flag}  # fmt: skip


@dataclass(frozen=True)
class MeasuredProbe:
    """A probe of this very model and quant on this device, shown beside the prediction."""

    probe: int
    host: str
    decode_tps: float | None
    prefill_tps: float | None
    n_ctx: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "host": self.host, "decode_tps": self.decode_tps,
                "prefill_tps": self.prefill_tps, "n_ctx": self.n_ctx}  # fmt: skip


@dataclass(frozen=True)
class SpeedEstimate:
    """Predicted tok/s: decode on an empty context, prefill of a 512-token prompt, decode at depths.

    ``*_low``/``*_high`` bound where 60% of runs fall (the 20th-80th percentiles of measured / predicted
    of the backend's leave-one-hardware-out errors, ``advisor.core.speed_backends.BANDS``).
    """

    decode_tps: float | None = None
    prefill_tps: float | None = None
    decode_low: float | None = None
    decode_high: float | None = None
    prefill_low: float | None = None
    prefill_high: float | None = None
    backend: str | None = None  # whose fitted constants and band: "cuda", "metal", "rocm", "vulkan", "cpu"
    curve: tuple[tuple[int, float], ...] = ()  # (tokens already in the context, decode tok/s)
    basis: str | None = None  # "predicted" | "calibrated"; None when no speed can be predicted
    calibration: Calibration | None = None
    measured: MeasuredProbe | None = None

    def decode_at(self, depth: int) -> float | None:
        """Decode tok/s with ``depth`` tokens in the context (linear between the curve's points)."""
        if not self.curve:
            return self.decode_tps
        below = [p for p in self.curve if p[0] <= depth]
        above = [p for p in self.curve if p[0] >= depth]
        if not below:
            return above[0][1]
        if not above:
            return below[-1][1]
        (d0, t0), (d1, t1) = below[-1], above[0]
        return t0 if d1 == d0 else t0 + (t1 - t0) * (depth - d0) / (d1 - d0)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decode_tps": self.decode_tps,
            "prefill_tps": self.prefill_tps,
            "decode_range": None if self.decode_low is None else [self.decode_low, self.decode_high],
            "prefill_range": None if self.prefill_low is None else [self.prefill_low, self.prefill_high],
            "backend": self.backend,
            "curve": [{"ctx": d, "decode_tps": t} for d, t in self.curve],
            "basis": self.basis,
        }
        if self.calibration is not None:
            out["calibration"] = self.calibration.to_dict()
        if self.measured is not None:
            out["measured"] = self.measured.to_dict()
        return out


@dataclass(frozen=True)
class Plan:
    """One (model, quant, machine, context, runtime): memory per device, placement and speed."""

    model: str  # catalog id, or the file name of a config.json / GGUF
    quant: str  # preset or HF format name; "from GGUF" for a file's own tensor types
    gpus: tuple[str, ...]  # the machine's GPUs by database name, one entry per GPU
    ram_bytes: int | None
    cpu: str | None
    memory: FitResult
    speed: SpeedEstimate
    n_layers: int
    # The GGUF download: header, metadata and every tensor padded to 32 bytes, as llama-quantize writes it
    # (``core.gguf_size``); the file's own size for a GGUF. None for transformers formats.
    file_bytes: int | None = None
    n_params: int = 0  # weights in the file (every tensor's elements)
    # Set when the architecture has no tensor inventory: every figure then comes from a llama-shaped model of
    # the same widths (``core.approx_weights``) and is labelled approximate wherever it is shown.
    approximate: ApproximateWeights | None = None
    mmproj: ProjectorPlan | None = None  # the vision projector, when image input is counted

    @property
    def notice(self) -> str:
        """One line naming the architecture when the figures are approximate; empty when they are exact."""
        a = self.approximate
        if a is None:
            return ""
        return (
            f"No tensor inventory for architecture {a.arch!r}, so these figures are {APPROXIMATE_LABEL} "
            f"({a.params / 1e9:.2f}B parameters at {a.bits_per_weight:.2f} bits/weight), not exact."
        )

    @property
    def bits_per_weight(self) -> float | None:
        """The file's bits per weight of this model: file bytes x 8 / parameters (gpt-oss-20b MXFP4_MOE: 4.63)."""
        if not self.file_bytes or not self.n_params:
            return None
        return 8 * self.file_bytes / self.n_params

    @property
    def placement(self) -> Placement:
        """Where it lives; every layer on the GPU but some experts in RAM (--n-cpu-moe) is a partial offload."""
        found = _PLACEMENTS.get(self.memory.fit, "no")
        return "partial" if found == "gpu" and self.n_cpu_moe else found

    @property
    def n_cpu_moe(self) -> int:
        return self.memory.n_cpu_moe

    @property
    def fits(self) -> bool:
        return self.placement != "no"

    @property
    def n_gpu_layers(self) -> int:
        return self.memory.n_gpu_layers

    @property
    def max_context(self) -> int:
        return self.memory.max_context

    @property
    def kv_type(self) -> str:
        return self.memory.context.type_k

    @property
    def flash_attn(self) -> bool:
        return self.memory.context.flash_attn

    @property
    def total_bytes(self) -> int:
        return self.memory.gpu_bytes + self.memory.cpu_bytes

    @property
    def decode_tps(self) -> float | None:
        return self.speed.decode_tps

    @property
    def usable(self) -> bool:
        """Decodes at least at reading speed halfway through the context (or the speed is unknown)."""
        return self.usable_at(READING_SPEED_TPS)

    def usable_at(self, min_tps: float) -> bool:
        """Decodes at least ``min_tps`` halfway through the context (or the speed is unknown)."""
        tps = self.speed.decode_at(self.memory.context.n_ctx_seq // 2)
        return tps is None or tps >= min_tps

    def to_dict(self) -> dict[str, Any]:
        """The ``fit --json`` object (also ``GET /api/fit`` and each result of ``/api/recommendations``)."""
        out = self.memory.to_dict()
        out["model"] = self.model
        out["quant"] = self.quant
        out["placement"] = self.placement
        out["n_layers"] = self.n_layers
        out["file_bytes"] = self.file_bytes
        out["n_params"] = self.n_params or None
        bpw = self.bits_per_weight
        out["bits_per_weight"] = None if bpw is None else round(bpw, 3)
        out["exact"] = self.approximate is None
        a = self.approximate
        out["approximate"] = None if a is None else {
            "arch": a.arch, "label": APPROXIMATE_LABEL, "message": self.notice, "params": a.params,
            "bits_per_weight": round(a.bits_per_weight, 3), "weights_bytes": a.bytes, "basis": a.basis,
        }  # fmt: skip
        out["machine"] = {"gpus": list(self.gpus), "ram_bytes": self.ram_bytes, "cpu": self.cpu}
        out["speed"] = self.speed.to_dict()
        out["mmproj"] = None if self.mmproj is None else self.mmproj.to_dict()
        return out


def placement_label(plan: Plan) -> str:
    """The headline verdict a person reads: where the model lives and with which -ngl."""
    if plan.placement == "gpu":
        return f"Fits on GPU (-ngl {plan.n_gpu_layers})"
    if plan.placement == "partial" and plan.n_cpu_moe:
        moe = plan.n_cpu_moe
        return f"Experts of {moe} of {plan.n_layers} layers in RAM: -ngl {plan.n_gpu_layers} --n-cpu-moe {moe}"
    if plan.placement == "partial":
        on_gpu = max(plan.n_gpu_layers - 1, 0)  # llama.cpp offloads the output layer first
        return (
            f"Partial offload: -ngl {plan.n_gpu_layers} ({on_gpu} of {plan.n_layers} layers and the output on the GPU)"
        )
    if plan.placement == "cpu":
        return "CPU only"
    return "Does not fit"
