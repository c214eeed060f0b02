"""`fit`: one model on one machine -> memory per device, fit verdict, max context and speed.

Shared by ``manage.py fit --json`` and ``GET /api/fit`` so that both print the same JSON. It
resolves names (catalog ids, GPU names, quant names, config and GGUF files) into core
dataclasses, calls ``advisor.core.memory.estimate`` and ``advisor.core.speed.predict_speed``,
and turns every lookup failure into a ``FitArgError`` that names the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from advisor.catalog import hardware as hw
from advisor.core import memory, speed
from advisor.core.gguf_header import GGUFHeader, InvalidGGUF, read_gguf_header, shape_from_gguf
from advisor.core.hardware_spec import GPUSpec
from advisor.core.hf_config import InvalidConfig, UnsupportedModel, shape_from_hf_config_path
from advisor.core.quantize import HFFormat, HFQuant
from advisor.core.shape import ModelShape
from advisor.fit_args import FitArgError, FitParams

GIB = 1024**3
CPU_PEAK_TFLOPS = 8 * 32 * 4e9 / 1e12

# HF weight formats by the quant catalog's names (advisor/catalog/data/quants.json).
HF_FORMATS: dict[str, HFFormat] = {
    "bnb-nf4": HFFormat(HFQuant.BNB_NF4),
    "bnb-nf4-dq": HFFormat(HFQuant.BNB_NF4, double_quant=True),
    "bnb-fp4": HFFormat(HFQuant.BNB_FP4),
    "bnb-int8": HFFormat(HFQuant.BNB_INT8),
    "gptq-4bit-g128": HFFormat(HFQuant.GPTQ, bits=4, group_size=128),
    "awq-4bit-g128": HFFormat(HFQuant.AWQ, bits=4, group_size=128),
    "hf-fp16": HFFormat(HFQuant.FP16),
    "hf-bf16": HFFormat(HFQuant.BF16),
}
GGUF_PRESETS = (
    "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_1",
    "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS",
    "IQ3_XS", "IQ3_S", "IQ3_M", "IQ4_NL", "IQ4_XS", "MXFP4_MOE", "F16", "BF16", "F32",
)  # fmt: skip
ALL_QUANTS = GGUF_PRESETS + tuple(HF_FORMATS)


@dataclass(frozen=True)
class ResolvedModel:
    label: str
    shape: ModelShape
    tensor_types: tuple[tuple[str, str], ...]  # exact, from a GGUF header; empty for presets
    header: GGUFHeader | None = None


ModelLookup = Callable[[str], ModelShape]


def catalog_shape(model_id: str) -> ModelShape:
    from advisor.catalog.models_catalog import get_model

    return get_model(model_id).to_shape()


def resolve_model(params: FitParams, lookup: ModelLookup = catalog_shape) -> ResolvedModel:
    if params.model:
        try:
            return ResolvedModel(params.model, lookup(params.model), ())
        except KeyError as exc:
            raise FitArgError("model", str(exc.args[0]) if exc.args else f"unknown model {params.model!r}") from None
    if params.hf_config:
        try:
            return ResolvedModel(Path(params.hf_config).name, shape_from_hf_config_path(params.hf_config), ())
        except (InvalidConfig, UnsupportedModel, OSError) as exc:
            raise FitArgError("hf_config", str(exc)) from None
    assert params.gguf is not None
    header = _read_header(params.gguf)
    try:
        shape = shape_from_gguf(header)
    except (InvalidGGUF, UnsupportedModel, ValueError) as exc:
        raise FitArgError("gguf", str(exc)) from None
    types = tuple((t.name, t.type_name) for t in header.tensors)
    return ResolvedModel(Path(params.gguf).name, shape, types, header)


def _read_header(source: str) -> GGUFHeader:
    try:
        if source.startswith(("http://", "https://")):
            from advisor.catalog.remote_gguf import HubUnavailable, read_remote_gguf_header

            try:
                return read_remote_gguf_header(source)
            except HubUnavailable as exc:
                raise FitArgError("gguf", f"could not reach {source}: {exc}") from None
        return read_gguf_header(source)
    except InvalidGGUF as exc:
        raise FitArgError("gguf", str(exc)) from None
    except OSError as exc:
        raise FitArgError("gguf", f"cannot read {source}: {exc.strerror or exc}") from None


def _gpu(name: str, vram_gib: float | None) -> GPUSpec:
    try:
        return hw.find_gpu(name, memory_bytes=int(vram_gib * GIB) if vram_gib else None)
    except hw.UnknownHardware as exc:
        raise FitArgError("gpu", str(exc)) from None


def _backend(gpu: GPUSpec) -> str:
    if gpu.kind == "apple":
        return "metal"
    vendor = gpu.vendor.lower()
    return "cuda" if "nvidia" in vendor else "rocm" if "amd" in vendor else "vulkan"


@dataclass(frozen=True)
class Calibration:
    """Efficiency factors fitted to one host's probe measurements (``speed.calibrate``)."""

    efficiency: dict[Any, speed.Efficiency]
    samples: int
    ratios: tuple[float, ...]  # measured / predicted decode, before calibration
    device: str

    @property
    def confidence(self) -> str:
        """How far to trust it: more probes, and probes that agree with each other, mean more."""
        if self.samples >= 3 and self.ratios and max(self.ratios) / min(self.ratios) < 1.25:
            return "high"
        return "medium" if self.samples >= 2 else "low"

    def describe(self) -> dict[str, Any]:
        return {"device": self.device, "samples": self.samples, "confidence": self.confidence,
                "decode_ratio": [round(r, 3) for r in self.ratios]}  # fmt: skip


def calibrate_from_probes(
    samples: list[tuple[speed.SpeedInputs, speed.MeasuredSpeed]], device: str
) -> Calibration | None:
    """Fit efficiencies to probe results (each sample: the inputs a prediction would use, and what ran)."""
    usable = [(i, m) for i, m in samples if m.decode_tps]
    if not usable:
        return None
    try:
        ratios = tuple(m.decode_tps / speed.predict_speed(i, curve_depths=()).decode_tps for i, m in usable)  # type: ignore[operator]
        return Calibration(speed.calibrate(usable), len(usable), ratios, device)
    except (ValueError, ZeroDivisionError):
        return None


@dataclass(frozen=True)
class ResolvedMachine:
    mem_devices: tuple[memory.Device, ...]
    speed_devices: tuple[speed.Device, ...]
    cpu: speed.Device
    ram_bytes: int | None
    names: tuple[str, ...]


def resolve_machine(params: FitParams) -> ResolvedMachine:
    """GPUs by name (repeat for several), with --vram/--bandwidth overriding the database."""
    gpus = [_gpu(name, params.vram_gib) for name in params.gpus]
    ram = int(params.ram_gib * GIB) if params.ram_gib else None
    mem: list[memory.Device] = []
    fast: list[speed.Device] = []
    for gpu in gpus:
        vram = int(params.vram_gib * GIB) if params.vram_gib else gpu.vram_bytes
        bandwidth = params.bandwidth_gbps or gpu.bandwidth_gbps or 0.0
        kind = _backend(gpu)
        if gpu.unified_memory:
            fraction = gpu.gpu_memory_fraction or hw.apple_gpu_memory_fraction(ram or vram)
            mem.append(memory.Device(gpu.name, kind, ram or vram, unified_fraction=fraction))
        else:
            mem.append(memory.Device(gpu.name, kind, vram))
        fast.append(replace(speed.device_for_gpu(gpu), bandwidth_gbps=bandwidth))
    if not gpus and params.vram_gib:
        mem.append(memory.Device(f"GPU ({params.vram_gib:g} GiB)", "cuda", int(params.vram_gib * GIB)))
        if params.bandwidth_gbps:
            fast.append(speed.Device("cuda", params.bandwidth_gbps, None, "GPU"))
    # The host when none is described: dual-channel DDR5-5600 (89.6 GB/s) and an 8-core AVX2 CPU at
    # 4 GHz, 8 cores x 32 FP32 FLOP/cycle (two 8-wide FMA units) x 4e9 = 1.02 TFLOP/s peak.
    cpu = speed.Device("cpu", hw.ram_bandwidth_gbps("DDR5", 2, 5600), CPU_PEAK_TFLOPS, "CPU")
    return ResolvedMachine(tuple(mem), tuple(fast), cpu, ram, tuple(d.name for d in mem))


def header_chunks(header: GGUFHeader, n_layers: int) -> tuple[speed.WeightChunk, ...]:
    """The speed engine's weight chunks for the exact tensors of a GGUF file."""
    rows = [(t.name, t.type_name, t.n_bytes, t.n_elements) for t in header.tensors]
    return speed.chunks_from_tensors(rows, n_layers)


def _weight_chunks(resolved: ResolvedModel, quant: str | None) -> tuple[speed.WeightChunk, ...] | None:
    shape = resolved.shape
    if resolved.header is not None:
        return header_chunks(resolved.header, shape.n_layers)
    if quant is None or quant in HF_FORMATS:
        return None
    return speed.weights_for(shape, quant)


def build_request(params: FitParams, resolved: ResolvedModel, machine: ResolvedMachine) -> memory.FitRequest:
    quant = params.quant or ("hf-bf16" if params.runtime == "transformers" else "Q4_K_M")
    if quant in HF_FORMATS and params.runtime != "transformers":
        raise FitArgError("quant", f"{quant} is a transformers format: use --runtime transformers or a GGUF preset")
    kv = params.kv_type or "f16"
    fa = None if params.flash_attn in (None, "auto") else params.flash_attn == "on"
    if kv not in ("f16", "bf16", "f32") and fa is False:
        raise FitArgError("kv_type", f"a quantized V cache ({kv}) needs flash attention: use --flash-attn on or auto")
    return memory.FitRequest(
        shape=resolved.shape,
        preset=None if resolved.tensor_types or quant in HF_FORMATS else quant,
        tensor_types=resolved.tensor_types,
        hf_format=HF_FORMATS.get(quant),
        runtime=params.runtime,
        n_ctx=params.ctx,
        n_ubatch=params.ubatch,
        n_parallel=params.parallel,
        type_k=kv,
        type_v=kv,
        flash_attn=fa,
        swa_full=params.swa_full,
        devices=machine.mem_devices,
        host_ram_bytes=machine.ram_bytes,
        n_gpu_layers=-1 if params.gpu_layers is None and not machine.mem_devices else params.gpu_layers,
        cpu_only=not machine.mem_devices,
    )


def predict(request: memory.FitRequest, result: memory.FitResult, resolved: ResolvedModel,
            machine: ResolvedMachine, quant: str | None,
            calibration: Calibration | None = None) -> speed.SpeedPrediction | None:  # fmt: skip
    chunks = _weight_chunks(resolved, quant)
    if chunks is None or (machine.mem_devices and not machine.speed_devices):
        return None  # transformers formats, or a GPU whose bandwidth we do not know
    if any(d.bandwidth_gbps <= 0 for d in machine.speed_devices):
        return None
    inputs = speed.SpeedInputs(
        shape=resolved.shape,
        weights=chunks,
        devices=machine.speed_devices,
        cpu=machine.cpu,
        n_gpu_layers=result.n_gpu_layers if machine.speed_devices else 0,
        kv_type=request.type_k,
        n_ubatch=result.context.n_ubatch,
    )
    depths = [d for d in (0, 1024, 4096, 8192, 16384, 32768, 65536, 131072) if d <= result.context.n_ctx]
    try:
        if calibration is not None:
            inputs = speed.with_calibration(inputs, calibration.efficiency)
            return speed.predict_speed(inputs, curve_depths=depths, basis="calibrated")
        return speed.predict_speed(inputs, curve_depths=depths)
    except (ValueError, ZeroDivisionError):  # the database lacks this GPU's FLOP/s or bandwidth
        return None


def run_fit(
    params: FitParams,
    lookup: ModelLookup = catalog_shape,
    calibration: Calibration | None = None,
    measured: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `fit --json` object: memory, fit, max_context, speed, plus what was assumed.

    ``calibration`` (from this host's probes) corrects the speed engine's efficiencies; ``measured``
    is a probe of this very model and quant on this hardware, shown beside the prediction.
    """
    resolved = resolve_model(params, lookup)
    machine = resolve_machine(params)
    request = build_request(params, resolved, machine)
    try:
        result = memory.estimate(request)
    except (KeyError, ValueError) as exc:
        raise FitArgError("quant" if "type" in str(exc).lower() else "model", str(exc)) from None
    quant = None if resolved.tensor_types else (request.preset or params.quant)
    prediction = predict(request, result, resolved, machine, quant, calibration)
    out = result.to_dict()
    out["model"] = resolved.label
    out["quant"] = quant or "from GGUF"
    out["machine"] = {"gpus": list(machine.names), "ram_bytes": machine.ram_bytes}
    out["speed"] = (
        {"decode_tps": None, "prefill_tps": None, "curve": [], "basis": None}
        if prediction is None
        else {
            "decode_tps": round(prediction.decode_tps, 2),
            "prefill_tps": round(prediction.prefill_tps, 1),
            "curve": [{"ctx": d, "decode_tps": round(t, 2)} for d, t in prediction.curve],
            "basis": prediction.basis,
        }
    )
    if calibration is not None and prediction is not None:
        out["speed"]["calibration"] = calibration.describe()
    if measured is not None:
        out["speed"]["measured"] = measured
    return out


def fmt_bytes(n: int | None) -> str:
    return "-" if n is None else f"{n / GIB:.2f} GiB"


def describe(report: dict[str, Any]) -> str:
    """A short human summary for the CLI."""
    mem = report["memory"]
    lines = [
        f"{report['model']} @ {report['quant']}: {report['fit']}  (max context {report['max_context']:,})",
        f"  weights {fmt_bytes(mem['weights_bytes'])}, KV cache {fmt_bytes(mem['kv_cache_bytes'])}, "
        f"compute {fmt_bytes(mem['compute_bytes'])}, overhead {fmt_bytes(mem['overhead_bytes'])}",
        f"  GPU total {fmt_bytes(mem['gpu_bytes'])}, CPU total {fmt_bytes(mem['cpu_bytes'])}",
    ]
    for dev in mem["devices"]:
        lines.append(f"    {dev.get('name')}: {fmt_bytes(dev.get('total_bytes'))}")
    sp = report["speed"]
    if sp["decode_tps"] is not None:
        lines.append(f"  speed: decode {sp['decode_tps']:.1f} tok/s, prefill {sp['prefill_tps']:.0f} tok/s")
    return "\n".join(lines)
