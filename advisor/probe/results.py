"""From the child's report to a ``ProbeResult``, and from two short stand-ins to the full layer count."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from advisor.core.units import MIB
from advisor.probe.spec import BufferSize, ProbeError, ProbeResult, ProbeSpec


def _backend(buffers: tuple[BufferSize, ...], gpu_supported: bool) -> str:
    names = {b.device for b in buffers}
    for prefix, label in (
        ("CUDA", "CUDA"),
        ("ROCm", "ROCm"),
        ("MTL", "Metal"),
        ("Metal", "Metal"),
        ("Vulkan", "Vulkan"),
        ("SYCL", "SYCL"),
    ):
        if any(n.startswith(prefix) and not n.endswith("_Host") for n in names):
            return label
    return "CPU"


def _tps(n: int, times: list[float]) -> float:
    return n / (sum(times) / len(times)) if times and n else 0.0


def _result_from(
    raw: dict[str, Any],
    spec: ProbeSpec,
    label: str,
    source: str,
    path: str,
    threads: int,
    stages: tuple[str, ...],
) -> ProbeResult:
    buffers = tuple(BufferSize(b["kind"], b["device"], round(b["mib"] * MIB)) for b in raw["buffers"])
    nvml = bool(raw.get("nvml"))
    base = raw.get("gpu_baseline_bytes", 0)
    return ProbeResult(
        model_label=label,
        source=source,
        model_path=path,
        model_size_bytes=raw["model_size"],
        model_n_params=raw["model_n_params"],
        n_layers=raw["model_n_layer"],
        n_ctx=raw["n_ctx"],
        n_gpu_layers=spec.n_gpu_layers,
        n_threads=threads,
        flash_attn=spec.flash_attn,
        type_k=spec.type_k,
        type_v=spec.type_v,
        load_s=raw["load_s"],
        prefill_tps=_tps(raw["n_prompt"], raw["pp_s"]),
        decode_tps=_tps(raw["n_gen"], raw["tg_s"]),
        n_prompt=raw["n_prompt"],
        n_gen=raw["n_gen"],
        depth=raw["depth"],
        decode_at_depth_tps=_tps(raw["n_gen"], raw["depth_tg_s"]) if raw["depth_tg_s"] else None,
        buffers=buffers,
        offloaded_layers=tuple(raw["offloaded"]) if raw.get("offloaded") else None,  # type: ignore[arg-type]
        gpu_peak_bytes=raw["gpu_peak_bytes"] - base if nvml else None,
        gpu_after_prefill_bytes=raw["gpu_after_prefill_bytes"] - base if nvml else None,
        gpu_baseline_bytes=base if nvml else None,
        gpu_total_bytes=raw.get("gpu_total_bytes") if nvml else None,
        peak_rss_bytes=raw["peak_rss_bytes"],
        backend=_backend(buffers, raw["gpu_offload_supported"]),
        gpu_name=raw.get("gpu_name"),
        driver=raw.get("driver"),
        llama_cpp_python=raw["llama_cpp_python"],
        system_info=raw["system_info"],
        stages=stages,
        buffer_log=tuple(raw.get("log_buffer_lines", ())),
    )


def _lerp(a: float, b: float, k1: int, k2: int, n: int) -> float:
    return a + (b - a) * (n - k1) / (k2 - k1)


def _scaled(b: float, k2: int, n: int) -> float:
    """The larger stand-in's per-layer share times ``n``: what extrapolation falls back to."""
    return b * n / k2


def extrapolate(r1: ProbeResult, r2: ProbeResult, n_layers: int) -> ProbeResult:
    """Extend two measurements at layer counts k1 < k2 linearly to ``n_layers`` layers.

    Per-token times (1 / tok/s), load time and every byte count are taken to grow by a
    constant per layer; bench/data/speed_h100.jsonl holds the check of this against full models.

    A time that did not grow from k1 to k2 layers says the two runs were disturbed (another
    process took the cores during one of them): the line through them would fall, or reach zero
    or less, at ``n_layers``. Such a time is instead the k2-layer one scaled by ``n_layers / k2``,
    and ``extrapolation_notes`` says so.
    """
    k1, k2 = r1.n_layers, r2.n_layers
    if k2 <= k1:
        raise ProbeError("stand-in layer counts must grow", "failed")
    notes: list[str] = []

    def grown(name: str, a: float, b: float, unit: str) -> float:
        """``a`` at k1 and ``b`` at k2 layers, both > 0, extended to ``n_layers``."""
        value = _lerp(a, b, k1, k2, n_layers)
        if b > a and math.isfinite(value) and value > 0:
            return value
        notes.append(
            f"{name}: {a:.4g} {unit} at {k1} layers and {b:.4g} {unit} at {k2} did not grow with the layer count; "
            f"took the {k2}-layer value times {n_layers}/{k2}"
        )
        return _scaled(b, k2, n_layers)

    def per_token(name: str, a: float | None, b: float | None) -> float:
        if a is None or b is None or a <= 0 or b <= 0:
            return 0.0
        return 1.0 / grown(name, 1.0 / a, 1.0 / b, "s/token")

    def lin(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else round(_lerp(a, b, k1, k2, n_layers))

    by_key = {(b.kind, b.device): b.bytes for b in r1.buffers}
    buffers = tuple(
        BufferSize(
            b.kind,
            b.device,
            max(0, round(_lerp(by_key.get((b.kind, b.device), 0), b.bytes, k1, k2, n_layers))),
        )
        for b in r2.buffers
    )
    d1, d2 = r1.decode_at_depth_tps, r2.decode_at_depth_tps
    load_s = grown("load_s", r1.load_s, r2.load_s, "s") if r1.load_s > 0 and r2.load_s > 0 else r2.load_s
    return dataclasses.replace(
        r2,
        n_layers=n_layers,
        model_size_bytes=lin(r1.model_size_bytes, r2.model_size_bytes) or 0,
        model_n_params=lin(r1.model_n_params, r2.model_n_params) or 0,
        load_s=load_s,
        prefill_tps=per_token("prefill_tps", r1.prefill_tps, r2.prefill_tps),
        decode_tps=per_token("decode_tps", r1.decode_tps, r2.decode_tps),
        decode_at_depth_tps=per_token("decode_at_depth_tps", d1, d2) if d1 and d2 else None,
        buffers=buffers,
        gpu_peak_bytes=lin(r1.gpu_peak_bytes, r2.gpu_peak_bytes),
        gpu_after_prefill_bytes=lin(r1.gpu_after_prefill_bytes, r2.gpu_after_prefill_bytes),
        peak_rss_bytes=lin(r1.peak_rss_bytes, r2.peak_rss_bytes) or 0,
        offloaded_layers=None,
        layers_measured=(k1, k2),
        extrapolated=True,
        extrapolation_notes=tuple(notes),
    )
