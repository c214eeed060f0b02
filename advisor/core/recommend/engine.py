"""The memory engine's word on a pick: ``confirm`` reruns ``advisor.core.memory.estimate`` with the pick's
model, quant, context and placement, for the few picks a user looks at.
"""

from __future__ import annotations

from dataclasses import replace

from advisor.core import memory
from advisor.core.quantize import HFFormat, HFQuant
from advisor.core.recommend.options import Request
from advisor.core.recommend.picks import Memory, Pick
from advisor.core.recommend.placement import _ENGINE_KIND, GPU_MARGIN_BYTES, RAM_RESERVE_BYTES
from advisor.core.recommend.profiles import context_request, memory_runtimes


def engine_request(pick: Pick, req: Request) -> memory.FitRequest:
    """``memory.FitRequest`` for a pick: same model, quant, context, KV type, GPUs, RAM, -ngl and
    --n-cpu-moe."""
    b = req.budget
    n = max(b.n_gpus, 1)
    devices: tuple[memory.Device, ...] = ()
    if b.gpu_bytes > 0 and pick.fit.placement != "cpu":
        kind = _ENGINE_KIND[b.gpu_kind]
        devices = tuple(memory.Device(f"gpu{i}", kind, b.gpu_bytes // n) for i in range(n))
    q = pick.quant
    preset, hf_format = q.preset, None
    if q.format == "hf":
        assert q.hf_quant is not None
        preset, hf_format = None, HFFormat(HFQuant(q.hf_quant), double_quant=q.double_quant)
    return context_request(
        pick.model.shape,
        req,
        devices=devices,
        host_ram_bytes=max(b.ram_bytes - RAM_RESERVE_BYTES, 0),
        margin_bytes=GPU_MARGIN_BYTES,
        n_gpu_layers=pick.fit.n_gpu_layers if devices else 0,
        n_cpu_moe=pick.fit.n_cpu_moe if devices else 0,
        cpu_only=not devices,
        preset=preset,
        hf_format=hf_format,
    )


def confirm(pick: Pick, req: Request) -> tuple[Pick, memory.FitResult]:
    """Run ``memory.estimate`` on a pick (tens of milliseconds: for the picks a user looks at).

    Returns the pick with the engine's bytes (``memory.basis == "memory.estimate"``) and the engine's
    full result (devices, max_context, notes). ValueError where the engine cannot answer: vLLM, or an
    architecture without a tensor inventory (``advisor.core.tensors``).
    """
    if req.runtime not in memory_runtimes():
        raise ValueError(f"the memory engine does not model {req.runtime}")
    try:
        result = memory.estimate(engine_request(pick, req))
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from exc
    mem = Memory(
        weights_bytes=result.weights_bytes,
        kv_cache_bytes=result.kv_cache_bytes,
        compute_bytes=result.compute_bytes,
        overhead_bytes=result.overhead_bytes,
        gpu_bytes=result.gpu_bytes,
        cpu_bytes=result.cpu_bytes,
        basis="memory.estimate",
    )
    return replace(pick, memory=mem), result
