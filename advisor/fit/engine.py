"""`fit`: one model on one machine -> a ``Plan`` (memory per device, placement, max context, speed).

Every reader of a plan goes through ``make_plan``: the pages, ``GET /api/fit``, ``/api/recommendations``
and ``manage.py fit``. It resolves names (catalog ids, GPU and CPU names, quant names, config and GGUF
files) into core dataclasses, calls ``advisor.core.memory.estimate`` and ``advisor.core.speed``, and
turns every lookup failure into a ``FitArgError`` that names the field.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from advisor.catalog import hardware as hw
from advisor.catalog.machines import find_cpu
from advisor.catalog.mmproj import projector_for
from advisor.core import memory, speed
from advisor.core.approx_weights import ApproximateWeights, approximate_weights_bytes, proxy_shape
from advisor.core.gguf_header import GGUFHeader, InvalidGGUF, read_gguf_header, shape_from_gguf
from advisor.core.gguf_size import gguf_file_bytes, standin_header_bytes
from advisor.core.hardware_spec import GPUSpec, Machine
from advisor.core.hf_config import InvalidConfig, UnsupportedModel, shape_from_hf_config_path
from advisor.core.memo import IdentityMemo
from advisor.core.memory import LLAMA_FIT_MARGIN_BYTES
from advisor.core.mmproj import SUPPORTED_PROJECTORS, ProjectorPlan, projector_memory
from advisor.core.plan import Calibration, MeasuredProbe, Plan, SpeedEstimate, placement_label
from advisor.core.quantize import PRESETS, HFFormat, HFQuant
from advisor.core.recommend import RAM_RESERVE_BYTES, default_kv_type
from advisor.core.shape import ModelShape
from advisor.core.tensors import UnsupportedArchitecture, tensor_inventory
from advisor.core.units import GIB
from advisor.fit.args import FitArgError, FitParams

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
# llama-quantize's presets, less the ternary TQ1_0/TQ2_0 that only BitNet-style models use.
GGUF_PRESETS = tuple(p for p in PRESETS if not p.startswith("TQ"))
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

    record = get_model(model_id)
    return _CATALOG_SHAPES.get((record,), None, record.to_shape)


# A catalog record's shape, made once per record (by identity: a reloaded catalog gets new ones). Shapes are
# frozen, and every plan of the model then hands the caches keyed by its shape the same object.
_CATALOG_SHAPES: IdentityMemo[ModelShape] = IdentityMemo(4096)


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


# measured / predicted decode within which a device's probes calibrate its speed.
CALIBRATION_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class SpeedCalibration:
    """A device's fitted efficiencies and what to say about them (``services.speed_calibration``)."""

    efficiency: dict[speed.DeviceKind, speed.Efficiency]
    note: Calibration


def calibrate_from_probes(
    samples: list[tuple[speed.SpeedInputs, speed.MeasuredSpeed]], device: str
) -> SpeedCalibration | None:
    """Fit efficiencies to probe results (each sample: the inputs a prediction would use, and what ran)."""
    usable = [(i, m) for i, m in samples if m.decode_tps]
    if not usable:
        return None
    try:
        ratios = tuple(
            m.decode_tps / p.decode_tps  # type: ignore[operator]
            for i, m in usable
            if (p := speed.predict_speed(i, curve_depths=()))
        )
        efficiency = speed.calibrate(usable)
    except (ValueError, ZeroDivisionError):
        return None
    # More probes, and probes that agree with each other, mean more trust.
    agree = bool(ratios) and max(ratios) / min(ratios) < 1.25
    confidence = "high" if len(usable) >= 3 and agree else "medium" if len(usable) >= 2 else "low"
    note = Calibration(device, len(usable), confidence, ratios)
    middle = statistics.median(ratios) if ratios else 1.0
    low, high = CALIBRATION_RANGE
    if not low <= middle <= high:
        # A probe 2x off the model is more likely a misrun (another process on the GPU, a throttled laptop,
        # the wrong device) than a device unlike its kind: flag it, keep the model's figures.
        flag = f"probes measured {middle:.2f}x the prediction, outside {low:g}-{high:g}x: not applied"
        return SpeedCalibration(efficiency, replace(note, applied=False, flag=flag))
    return SpeedCalibration(efficiency, note)


@dataclass(frozen=True)
class ResolvedMachine:
    """The one machine every engine reads: the catalog's ``Machine`` and the engines' device views."""

    machine: Machine
    mem_devices: tuple[memory.Device, ...]
    speed_devices: tuple[speed.Device, ...]
    cpu: speed.Device
    ram_bytes: int | None
    names: tuple[str, ...]

    @property
    def speed_device_name(self) -> str:
        """The device whose probes may calibrate this machine: the first GPU, else the named CPU."""
        if self.speed_devices:
            return self.names[0]
        return self.machine.cpu.name if self.machine.cpu else "CPU"


def machine_from_params(params: FitParams) -> Machine:
    """GPUs by name (repeat for several), with --vram/--bandwidth overriding the database, and the CPU."""
    return _machine(params.gpus, params.vram_gib, params.bandwidth_gbps, params.ram_gib, params.cpu)


# A page plans some 25 models on one machine: its names are looked up once (the GPU and CPU tables are static
# data; an unknown name raises, and is not remembered).
_MACHINES_MEMO = 1024
_Name = str | None


@functools.lru_cache(maxsize=_MACHINES_MEMO)
def _machine(
    gpus: tuple[str, ...], vram_gib: float | None, bandwidth_gbps: float | None, ram_gib: float | None, cpu_name: _Name
) -> Machine:
    ram = int(ram_gib * GIB) if ram_gib else 0
    specs: list[GPUSpec] = []
    for name in gpus:
        gpu = _gpu(name, vram_gib)
        if bandwidth_gbps:
            gpu = replace(gpu, bandwidth_gbps=bandwidth_gbps)
        if gpu.unified_memory:
            # "MacBook Air M3 16GB": the name sets the machine's RAM, as the web form's does (MachineForm.clean)
            ram = hw.unified_memory_in_name(name) or ram
            total = ram or gpu.vram_bytes
            # For a unified chip --vram is the GPU's share of RAM (e.g. after raising iogpu.wired_limit).
            share = min(1.0, vram_gib * GIB / total) if vram_gib else None
            gpu = gpu.with_memory(total, share or gpu.gpu_memory_fraction or hw.apple_gpu_memory_fraction(total))
        elif vram_gib:
            gpu = replace(gpu, vram_bytes=int(vram_gib * GIB), gpu_memory_fraction=None)
        specs.append(gpu)
    counted: list[tuple[GPUSpec, int]] = []
    for gpu in specs:
        if counted and counted[-1][0] == gpu:
            counted[-1] = (gpu, counted[-1][1] + 1)
        else:
            counted.append((gpu, 1))
    try:
        cpu = find_cpu(cpu_name) if cpu_name else None
    except hw.UnknownHardware as exc:
        raise FitArgError("cpu", str(exc)) from None
    unified = any(g.unified_memory for g in specs)
    return Machine(gpus=tuple(counted), ram_bytes=ram, cpu=cpu, unified_memory=unified)


# The host when no CPU is named: dual-channel DDR5-5600 (89.6 GB/s) and an 8-core AVX2 CPU at the speed
# model's nominal clock (speed.CPU_CLOCK_GHZ, 3 GHz): a conservative desktop, slower than most named ones.
DEFAULT_CPU_CORES = 8


def resolve_machine(params: FitParams) -> ResolvedMachine:
    return _resolved_machine(params.gpus, params.vram_gib, params.bandwidth_gbps, params.ram_gib, params.cpu)


@functools.lru_cache(maxsize=_MACHINES_MEMO)
def _resolved_machine(
    gpus: tuple[str, ...], vram_gib: float | None, bandwidth_gbps: float | None, ram_gib: float | None, cpu_name: _Name
) -> ResolvedMachine:
    """``resolve_machine``, once per machine (as ``_machine``)."""
    return engine_devices(_machine(gpus, vram_gib, bandwidth_gbps, ram_gib, cpu_name), vram_gib, bandwidth_gbps)


def engine_devices(
    machine: Machine, vram_gib: float | None = None, bandwidth_gbps: float | None = None
) -> ResolvedMachine:
    """The memory and speed engines' view of ``machine`` (GPUs in order, the CPU, free RAM)."""
    ram = machine.ram_bytes or None
    mem: list[memory.Device] = []
    fast: list[speed.Device] = []
    for gpu in machine.gpu_list:
        kind = _backend(gpu)
        if gpu.unified_memory:
            mem.append(memory.Device(gpu.name, kind, gpu.vram_bytes, unified_fraction=gpu.gpu_memory_fraction))
        else:
            mem.append(memory.Device(gpu.name, kind, gpu.vram_bytes))
        fast.append(speed.device_for_gpu(gpu))
    if not machine.gpus and vram_gib:  # a GPU given only by its size (and bandwidth)
        mem.append(memory.Device(f"GPU ({vram_gib:g} GiB)", "cuda", int(vram_gib * GIB)))
        if bandwidth_gbps:
            fast.append(speed.Device("cuda", bandwidth_gbps, None, "GPU"))
    cores = machine.cpu.math_cores if machine.cpu else DEFAULT_CPU_CORES
    bandwidth = machine.cpu_bandwidth_gbps or hw.ram_bandwidth_gbps("DDR5", 2, 5600)
    c = machine.cpu
    clock = speed.cpu_clock_ghz(c.base_ghz, c.boost_ghz) if c else None
    cpu = speed.cpu_device(c.name if c else "CPU", bandwidth, cores, c.isa if c else "avx2", clock)
    return ResolvedMachine(machine, tuple(mem), tuple(fast), cpu, ram, tuple(d.name for d in mem))


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
    # The recommender's default when none is asked for, so a card and ``fit`` agree on the cache.
    kv = params.kv_type or default_kv_type(params.runtime, params.flash_attn != "off")
    fa = None if params.flash_attn in (None, "auto") else params.flash_attn == "on"
    if kv not in ("f16", "bf16", "f32") and fa is False:
        raise FitArgError("kv_type", f"a quantized V cache ({kv}) needs flash attention: use --flash-attn on or auto")
    auto_layers = params.gpu_layers is None and bool(machine.mem_devices)
    host_ram = None if machine.ram_bytes is None else max(machine.ram_bytes - RAM_RESERVE_BYTES, 0)
    request = memory.FitRequest(
        shape=resolved.shape,
        preset=None if resolved.tensor_types or quant in HF_FORMATS else quant,
        tensor_types=resolved.tensor_types,
        hf_format=HF_FORMATS.get(quant),
        runtime=params.runtime,
        n_ctx=params.ctx or None,  # 0: the runtime's own default (llama-server: the training context)
        n_ubatch=params.ubatch,
        n_parallel=params.parallel,
        kv_unified=params.kv_unified,
        type_k=kv,
        type_v=kv,
        flash_attn=fa,
        swa_full=params.swa_full,
        devices=machine.mem_devices,
        host_ram_bytes=host_ram,
        n_gpu_layers=-1 if params.gpu_layers is None and not machine.mem_devices else params.gpu_layers,
        # Experts in RAM only where the plan also chooses -ngl (or all layers are asked for): as llama.cpp fits.
        n_cpu_moe=params.n_cpu_moe if params.n_cpu_moe is not None or params.gpu_layers is None else 0,
        cpu_only=not machine.mem_devices,
        # Choosing -ngl itself, the plan leaves llama.cpp's --fit margin free on every GPU.
        margin_bytes=LLAMA_FIT_MARGIN_BYTES if auto_layers else 0,
    )
    return with_projector(params, request)


def with_projector(params: FitParams, request: memory.FitRequest) -> memory.FitRequest:
    """With ``params.image``, the catalog model's vision projector (weights + warm-up compute buffer at
    the flash-attention setting the text model resolves to) on the device llama-server gives it."""
    proj = projector_for(params.model) if params.image and params.model else None
    if proj is None or proj.tower.projector not in SUPPORTED_PROJECTORS:
        return request
    fa = memory.resolve_context(request).flash_attn
    pm = projector_memory(proj.tower, flash_attn=fa)
    return replace(request, projector_bytes=pm.total, projector_on_host=not params.mmproj_offload)


CURVE_DEPTHS = (0, 1024, 4096, 8192, 16384, 32768, 65536, 131072)


def predict(
    request: memory.FitRequest,
    result: memory.FitResult,
    resolved: ResolvedModel,
    machine: ResolvedMachine,
    quant: str | None,
    calibration: SpeedCalibration | None = None,
) -> SpeedEstimate:
    chunks = _weight_chunks(resolved, quant)
    if chunks is None or (machine.mem_devices and not machine.speed_devices) or result.fit == "no_fit":
        return SpeedEstimate()  # transformers formats, a GPU whose bandwidth we do not know, or no fit
    if any(d.bandwidth_gbps <= 0 for d in machine.speed_devices):
        return SpeedEstimate()
    n_cpu_moe = result.n_cpu_moe if machine.speed_devices else 0
    in_ram: tuple[speed.WeightChunk, ...] = ()
    everything = chunks
    if n_cpu_moe:  # --n-cpu-moe's experts
        chunks, in_ram, everything = speed.split_experts(chunks, n_cpu_moe)
    inputs = speed.SpeedInputs(
        shape=resolved.shape,
        weights=chunks,
        devices=machine.speed_devices,
        cpu=machine.cpu,
        n_gpu_layers=result.n_gpu_layers if machine.speed_devices else 0,
        kv_type=request.type_k,
        n_ubatch=result.context.n_ubatch,
    )
    depths = [d for d in CURVE_DEPTHS if d <= result.context.n_ctx]
    try:
        if calibration is not None and calibration.note.applied:
            inputs = speed.with_calibration(inputs, calibration.efficiency)
            prediction = speed.predict_speed(inputs, curve_depths=depths, basis="calibrated")
        else:
            prediction = speed.predict_speed(inputs, curve_depths=depths)
    except (ValueError, ZeroDivisionError):  # the database lacks this GPU's FLOP/s or bandwidth
        return SpeedEstimate()
    if in_ram:  # op offload: the GPU also runs the RAM-held experts' prompt matmuls (with_experts_in_ram)
        with_all = replace(inputs, weights=everything)
        prediction = replace(prediction, prefill_tps=1.0 / speed.prefill_time_s(with_all))
    prediction = with_experts_in_ram(prediction, in_ram, resolved.shape, machine.cpu, result.context.n_ubatch)
    # The band of the device that holds the output layer (the first GPU, or the CPU).
    kind: speed.DeviceKind = machine.speed_devices[0].kind if machine.speed_devices else "cpu"
    d_lo, d_hi = speed.speed_band(kind, "decode")
    p_lo, p_hi = speed.speed_band(kind, "prefill")
    return SpeedEstimate(
        decode_tps=round(prediction.decode_tps, 2),
        prefill_tps=round(prediction.prefill_tps, 1),
        decode_low=round(prediction.decode_tps * d_lo, 1),
        decode_high=round(prediction.decode_tps * d_hi, 1),
        prefill_low=round(prediction.prefill_tps * p_lo, 0),
        prefill_high=round(prediction.prefill_tps * p_hi, 0),
        backend=speed.backend_of(kind),
        curve=tuple((d, round(t, 2)) for d, t in prediction.curve),
        basis=prediction.basis,
        calibration=None if calibration is None else calibration.note,
    )


# Prompt micro-batches of at least memory.OP_OFFLOAD_MIN_BATCH tokens run the RAM-held experts' matmuls on
# the GPU (ggml-backend.cpp op offload; ggml-cuda offload_op), which copies, per micro-batch and per expert
# tensor, only the experts the batch routes to (ggml_backend_sched_compute_splits, "copying only the experts
# that are used") from llama.cpp's mmapped, pageable host buffer. The rate of those copies, fitted to the
# H200 host's -ncmoe pp512 rows (bench/moe_offload_check.py: 7.05 GB/s on Qwen3-30B-A3B's, 5.72 on
# gpt-oss-120b's, this on both; GLM-4.5-Air's are held out; 16-vCPU Xeon VM, PCIe 5.0 x16, so the staging of
# pageable memory bounds it, not the link). Refitted when the prefill model moves (Qwen3's Q/K-norm cost: 6.22).
EXPERT_COPY_BYTES_PER_S = 6.31e9


def experts_used_share(shape: ModelShape, n_tokens: int) -> float:
    """The expected share of a layer's experts that ``n_tokens`` tokens route to, routing spread evenly."""
    if shape.n_experts <= 1:
        return 1.0
    return 1.0 - (1.0 - shape.n_experts_used / shape.n_experts) ** max(n_tokens, 1)


def with_experts_in_ram(
    prediction: speed.SpeedPrediction,
    in_ram: tuple[speed.WeightChunk, ...],
    shape: ModelShape,
    cpu: speed.Device,
    n_ubatch: int,
    *,
    copy_bytes_per_s: float = EXPERT_COPY_BYTES_PER_S,
    used_share: float | None = None,
) -> speed.SpeedPrediction:
    """The GPU part's speed plus what experts held in RAM (--n-cpu-moe) cost. Decode: the CPU reads each
    token's routed experts as it reads any layer it holds (``speed``'s CPU rates, at its RAM bandwidth, cores
    and SIMD width). Prefill (``prediction`` has the GPU computing every expert): each micro-batch copies
    the experts it routes to (``used_share`` of them; by default ``experts_used_share``) at
    ``copy_bytes_per_s``; below op offload's batch the CPU computes them instead."""
    if not in_ram:
        return prediction
    held = sum(c.n_bytes for c in in_ram)
    on_cpu = speed.SpeedInputs(shape=shape, weights=in_ram, devices=(), cpu=cpu, n_gpu_layers=0)
    read_s = speed.decode_time_s(on_cpu, 0)["weights"]  # the routed n_used / n_experts of them
    n_tok = max(1, min(n_ubatch, speed.SpeedInputs.n_prompt))
    share = experts_used_share(shape, n_tok) if used_share is None else used_share
    if n_tok >= memory.OP_OFFLOAD_MIN_BATCH:
        batch_s = held * share / copy_bytes_per_s
    else:
        batch_s = read_s * share / speed.expert_read_fraction(shape)

    def slower(tps: float, extra_s: float) -> float:
        return 1.0 / (1.0 / tps + extra_s)

    return replace(
        prediction,
        decode_tps=slower(prediction.decode_tps, read_s),
        prefill_tps=slower(prediction.prefill_tps, batch_s / n_tok),
        curve=tuple((d, slower(t, read_s)) for d, t in prediction.curve),
    )


def make_plan(
    params: FitParams,
    lookup: ModelLookup = catalog_shape,
    calibration: SpeedCalibration | None = None,
    measured: MeasuredProbe | None = None,
) -> Plan:
    """The plan for ``params``: memory per device, placement, max context and speed.

    ``calibration`` (from this device's probes) corrects the speed engine's efficiencies; ``measured``
    is a probe of this very model and quant on this device, shown beside the prediction.
    """
    resolved = resolve_model(params, lookup)
    machine = resolve_machine(params)
    request = build_request(params, resolved, machine)
    approx: ApproximateWeights | None = None
    try:
        try:
            result = memory.estimate(request)
        except UnsupportedArchitecture:
            # No inventory: plan a llama-shaped model of the same widths, and say so on every figure.
            approx, resolved, request = approximate_model(params, resolved, request)
            result = memory.estimate(request)
    except (KeyError, ValueError, NotImplementedError) as exc:
        raise FitArgError("quant" if "type" in str(exc).lower() else "model", str(exc)) from None
    quant = None if resolved.tensor_types else (request.preset or params.quant)
    if approx is not None and approx.preset.startswith("file "):
        quant = None  # a GGUF file's own mix, planned approximately
    file_bytes, n_params = download_size(request, resolved)
    if approx is not None and resolved.header is None:
        n_params = approx.params
        if file_bytes is not None:
            file_bytes = standin_header_bytes(resolved.shape) + approx.bytes
    estimate = predict(request, result, resolved, machine, quant, calibration)
    if measured is not None:
        estimate = replace(estimate, measured=measured)
    return Plan(
        model=resolved.label,
        quant=quant or "from GGUF",
        gpus=machine.names,
        ram_bytes=machine.ram_bytes,
        cpu=machine.machine.cpu.name if machine.machine.cpu else None,
        memory=result,
        speed=estimate,
        n_layers=resolved.shape.n_layers,
        file_bytes=file_bytes,
        n_params=n_params,
        approximate=approx,
        mmproj=projector_plan(params, request, machine.names),
    )


def projector_plan(params: FitParams, request: memory.FitRequest, gpus: tuple[str, ...]) -> ProjectorPlan | None:
    """The projector's line of the memory split (the bytes ``with_projector`` put on its device)."""
    proj = projector_for(params.model) if request.projector_bytes and params.model else None
    if proj is None:
        return None
    fa = memory.resolve_context(request).flash_attn
    pm = projector_memory(proj.tower, flash_attn=fa)
    on_gpu = bool(request.devices) and not request.cpu_only and not request.projector_on_host
    device = gpus[0] if on_gpu and gpus else "host"
    return ProjectorPlan(proj.tower.projector, pm.weights, pm.compute, device, fa, proj.mmproj_file, proj.mmproj_repo)


def approximate_model(
    params: FitParams, resolved: ResolvedModel, request: memory.FitRequest
) -> tuple[ApproximateWeights, ResolvedModel, memory.FitRequest]:
    """The labelled approximate estimate for an architecture without a tensor inventory: its parameter
    count at the preset's bits per weight, and the model, request and header swapped for the llama-shaped
    proxy of the same widths (a GGUF keeps its own size: the proxy takes the file's preset)."""
    shape = resolved.shape
    preset = request.preset
    if resolved.header is not None:
        name = resolved.header.file_type_name or ""
        preset = name if name in PRESETS else "Q8_0"
    approx = approximate_weights_bytes(shape, preset or "BF16")
    if request.hf_format is not None:
        approx = replace(approx, preset=params.quant or "hf-bf16")
    elif resolved.header is not None:
        approx = replace(approx, preset=f"file {preset}")
    proxy = proxy_shape(shape)
    proxy_request = replace(request, shape=proxy, preset=preset if request.hf_format is None else None,
                            tensor_types=())  # fmt: skip
    return approx, replace(resolved, shape=proxy, tensor_types=()), proxy_request


def download_size(request: memory.FitRequest, resolved: ResolvedModel) -> tuple[int | None, int]:
    """(GGUF file bytes, parameters): a GGUF's own size, else what llama-quantize writes for the preset;
    no file size for a transformers format."""
    header = resolved.header
    if header is not None:
        n_params = sum(t.n_elements for t in header.tensors)
        return (header.file_size or header.header_bytes + header.data_bytes), n_params
    if request.hf_format is not None:
        return None, _n_params(resolved.shape)
    if request.tensor_types:
        return gguf_file_bytes(resolved.shape, memory.resolve_types(request)), _n_params(resolved.shape)
    return preset_file_bytes(resolved.shape, request.preset or "F16", request.imatrix), _n_params(resolved.shape)


# Per model and preset, the same for every machine: worked out once, not once per plan.
@functools.lru_cache(maxsize=8192)
def preset_file_bytes(shape: ModelShape, preset: str, imatrix: bool) -> int:
    return gguf_file_bytes(shape, memory.resolve_types(memory.FitRequest(shape, preset=preset, imatrix=imatrix)))


@functools.lru_cache(maxsize=2048)
def _n_params(shape: ModelShape) -> int:
    return sum(t.n_elements for t in tensor_inventory(shape))


def fmt_bytes(n: int | None) -> str:
    return "-" if n is None else f"{n / GIB:.2f} GiB"


def describe(plan: Plan) -> str:
    """A short human summary for the CLI."""
    mem = plan.memory
    lines = [
        f"{plan.model} @ {plan.quant}: {placement_label(plan)}  (max context {plan.max_context:,})",
        *([f"  {plan.notice}"] if plan.notice else []),
        f"  weights in memory {fmt_bytes(mem.weights_bytes)}, "
        f"KV cache {fmt_bytes(mem.kv_cache_bytes)} ({plan.kv_type}), "
        f"compute {fmt_bytes(mem.compute_bytes)}, overhead {fmt_bytes(mem.overhead_bytes)}",
        f"  GPU total {fmt_bytes(mem.gpu_bytes)}, CPU total {fmt_bytes(mem.cpu_bytes)}",
    ]
    bpw = plan.bits_per_weight
    if bpw is not None:
        lines.insert(1, f"  download (GGUF file) {fmt_bytes(plan.file_bytes)}, {bpw:.2f} bits/weight")
    for dev in mem.devices:
        lines.append(f"    {dev.name}: {fmt_bytes(dev.total_bytes)}")
    if plan.mmproj is not None:
        p = plan.mmproj
        sizes = f"weights {fmt_bytes(p.weights_bytes)} + compute {fmt_bytes(p.compute_bytes)}"
        lines.append(f"    vision projector (--mmproj, {p.projector}) on {p.device}: {sizes}, included above")
    sp = plan.speed
    if sp.decode_tps is not None:
        line = f"  speed: decode ~{sp.decode_tps:.1f} tok/s"
        if sp.decode_low is not None:
            line += f" ({sp.decode_low:.0f}-{sp.decode_high:.0f})"
        line += f", prefill ~{sp.prefill_tps or 0:.0f} tok/s"
        if sp.prefill_low is not None:
            line += f" ({sp.prefill_low:.0f}-{sp.prefill_high:.0f})"
        lines.append(line)
    return "\n".join(lines)
