"""Predicted vs measured GPU memory on the H100 (bench/data/memory_h100.jsonl).

    python bench/memory_accuracy.py --out bench/data/memory_accuracy.txt
    python bench/memory_accuracy.py --heldout   # committed predictions (memory_heldout_predict.py) only

Each record is one probe run (advisor.probe) of a zero-weight stand-in after a 512-token eval:
llama.cpp's logged buffers (model / KV / compute per device) and NVML's device memory in use, minus
what was in use before the process started. The speed phase's probe runs (bench/data/speed_h100.jsonl,
``tool == "probe"``: other presets and contexts, flash attention auto) are compared the same way.

For every load the script rebuilds the request the probe made (catalog shape with the measured layer
count, the stand-in file's exact tensor types from bench/data/tensors_h100.jsonl or else the preset's
simulated mix, n_ctx, cache types, flash attention, n_batch 2048 / n_ubatch 512, one sequence,
swa_full off, n_gpu_layers) and predicts it with ``advisor.core.memory.estimate``.

Targets: median |error| of the total GPU memory <= 1 %, and no load off by more than max(3 %, 128 MiB).
The overhead column is (device used) - (sum of CUDA buffers): the CUDA context, kernels, the memory
pool, cuBLAS and the 2 MiB allocation granularity.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from advisor.catalog.models_catalog import get_model  # noqa: E402
from advisor.core import memory  # noqa: E402
from advisor.core.shape import ModelShape  # noqa: E402
from advisor.probe import truncate_shape  # noqa: E402

DATA = ROOT / "bench" / "data"
MEMORY = DATA / "memory_h100.jsonl"
SPEED = DATA / "speed_h100.jsonl"
TENSORS = DATA / "tensors_h100.jsonl"
HELDOUT = DATA / "memory_heldout_predictions.jsonl"
# Later leases (bench/gpu_bench.py PLANS_3, PLANS_4), each predicted before it ran.
HELDOUT_LATER = (DATA / "memory_heldout_predictions_set3.jsonl", DATA / "memory_heldout_predictions_set4.jsonl")
MIB = 1024 * 1024
H100_BYTES = 81559 * MIB  # nvidia-smi memory.total in the records' gpu_env

TARGET_MEDIAN = 0.01
TARGET_WORST_REL = 0.03
TARGET_WORST_ABS = 128 * MIB


def within_worst_target(error_bytes: int, measured_bytes: int) -> bool:
    """The per-load target: off by no more than max(3 %, 128 MiB)."""
    return abs(error_bytes) <= max(TARGET_WORST_REL * measured_bytes, TARGET_WORST_ABS)


@dataclass(frozen=True)
class Load:
    """One measured load: what was asked and what llama.cpp / NVML reported."""

    source: str  # "memory" or "speed"
    model_id: str
    preset: str
    file: str
    n_layers: int
    n_ctx: int
    type_k: str
    type_v: str
    flash_attn: str  # "on" / "off" / "auto"
    n_gpu_layers: int
    n_batch: int
    n_ubatch: int
    used_bytes: int  # NVML after the 512-token eval, minus the baseline
    buffers: dict[str, int]  # "device:kind" -> bytes, as logged (MiB with 2 decimals)
    buffer_list: tuple[tuple[str, int], ...]  # ("device:kind", bytes) per logged buffer (iSWA: two KV)
    model_size_bytes: int  # llama_model_size: every tensor's ggml_nbytes
    bench_set: int = 1  # which lease (bench/gpu_bench.py PLAN_SETS)

    def gpu(self, kind: str) -> int:
        return sum(v for k, v in self.buffers.items() if k.startswith("CUDA") and "_Host" not in k
                   and k.endswith(":" + kind))  # fmt: skip

    @property
    def host_compute(self) -> int:
        return sum(v for k, v in self.buffers.items() if k.startswith("CUDA_Host:"))

    @property
    def overhead(self) -> int:
        return self.used_bytes - self.gpu("model") - self.gpu("KV") - self.gpu("compute")

    @property
    def label(self) -> str:
        ngl = "" if self.n_gpu_layers < 0 else f" ngl{self.n_gpu_layers}"
        return f"{self.model_id} {self.preset} {self.n_ctx} {self.type_k} fa-{self.flash_attn}{ngl}"


def _sums(buffers: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in buffers:
        key = f"{b['device']}:{b['kind']}"
        out[key] = out.get(key, 0) + int(b["bytes"])
    return out


def _load(source: str, rec: dict[str, Any], p: dict[str, Any], settings: dict[str, Any]) -> Load:
    spec = p.get("spec", {})
    return Load(
        source=source,
        model_id=rec["model_id"],
        preset=rec["preset"],
        file=rec["file"],
        n_layers=int(rec.get("shape_layers") or p["n_layers"]),
        n_ctx=int(settings["n_ctx"]),
        type_k=settings.get("type_k", "f16"),
        type_v=settings.get("type_v", "f16"),
        flash_attn=settings.get("flash_attn", "auto"),
        n_gpu_layers=int(settings.get("n_gpu_layers", p.get("n_gpu_layers", -1))),
        n_batch=int(spec.get("n_batch", 2048)),
        n_ubatch=int(spec.get("n_ubatch", 512)),
        used_bytes=int(p["gpu_after_prefill_bytes"]),
        buffers=_sums(p["buffers"]),
        buffer_list=tuple((f"{b['device']}:{b['kind']}", int(b["bytes"])) for b in p["buffers"]),
        model_size_bytes=int(p["model_size_bytes"]),
        bench_set=int(rec.get("bench_set", 1)),
    )


def load_records(memory_path: Path = MEMORY, speed_path: Path | None = SPEED) -> list[Load]:
    """Every successful load: the memory grid, then the speed phase's probe runs."""
    out: list[Load] = []
    if memory_path.exists():
        for line in memory_path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            p = rec["probe"]
            if "error" not in p and p.get("gpu_after_prefill_bytes") is not None:
                out.append(_load("memory", rec, p, rec["settings"]))
    if speed_path is not None and speed_path.exists():
        for line in speed_path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            p = rec.get("probe")
            if rec.get("tool") != "probe" or not p or "error" in p or p.get("gpu_after_prefill_bytes") is None:
                continue
            settings = {k: p[k] for k in ("n_ctx", "type_k", "type_v", "flash_attn", "n_gpu_layers")}
            out.append(_load("speed", rec, p, settings))
    return out


def tensor_types_by_file(path: Path = TENSORS) -> dict[str, tuple[tuple[str, str], ...]]:
    """Stand-in file name -> (tensor name, ggml type name) of every tensor, as gguf-py read them."""
    out: dict[str, tuple[tuple[str, str], ...]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                out[d["file"]] = tuple((t[0], t[1]) for t in d["tensors"])
    return out


def truncated_shape(model_id: str, n_layers: int) -> ModelShape:
    """The catalog shape with its first ``n_layers`` layers (the stand-in bench writes the same)."""
    shape = get_model(model_id).to_shape()
    return shape if n_layers == shape.n_layers else truncate_shape(shape, n_layers)


def request_for(load: Load, types: dict[str, tuple[tuple[str, str], ...]] | None = None) -> memory.FitRequest:
    """The FitRequest that reproduces the probe's llama_model_params / llama_context_params."""
    types = tensor_types_by_file() if types is None else types
    return memory.FitRequest(
        shape=truncated_shape(load.model_id, load.n_layers),
        preset=load.preset,
        tensor_types=types.get(load.file, ()),
        runtime="llama-cpp-python",
        n_ctx=load.n_ctx,
        n_batch=load.n_batch,
        n_ubatch=load.n_ubatch,
        n_parallel=1,
        kv_unified=False,
        flash_attn=load.flash_attn != "off",  # "auto" resolves to on for CUDA (the logs agree)
        swa_full=False,  # advisor/probe/child.py sets swa_full = False
        type_k=load.type_k,
        type_v=load.type_v,
        devices=(memory.Device("CUDA0", "cuda", H100_BYTES),),
        n_gpu_layers=load.n_gpu_layers,
    )


@dataclass(frozen=True)
class Row:
    load: Load
    result: memory.FitResult

    @property
    def gpu(self) -> memory.DeviceMemory:
        return self.result.devices[0]

    @property
    def host(self) -> memory.DeviceMemory:
        return self.result.devices[-1]

    @property
    def error_bytes(self) -> int:
        return self.gpu.total_bytes - self.load.used_bytes

    @property
    def error(self) -> float:
        return self.error_bytes / self.load.used_bytes


def rows(loads: list[Load] | None = None) -> list[Row]:
    loads = load_records() if loads is None else loads
    types = tensor_types_by_file()
    return [Row(ld, memory.estimate(request_for(ld, types))) for ld in loads]


def _mib(x: float) -> str:
    return f"{x / MIB:9.2f}"


def report(rs: list[Row]) -> str:
    lines = []
    head = (f"{'load':<52} {'src':<6} {'weights':>9} {'Δ':>6} {'KV':>9} {'Δ':>6} {'compute':>9} {'Δ':>6} "
            f"{'host cmp':>8} {'Δ':>5} {'overhead':>9} {'pred':>8} {'used':>9} {'pred':>9} {'err MiB':>8} "
            f"{'err':>7}")  # fmt: skip
    lines.append("Measured (llama.cpp logs, NVML) vs predicted (advisor.core.memory.estimate), MiB; "
                 "Δ = predicted - measured")  # fmt: skip
    lines.append(head)
    for r in rs:
        ld, g, h = r.load, r.gpu, r.host
        host_meas = ld.host_compute
        lines.append(
            f"{ld.label[:52]:<52} {ld.source:<6} {_mib(ld.gpu('model'))}"
            f" {(g.weights_bytes - ld.gpu('model')) / MIB:6.2f}"
            f" {_mib(ld.gpu('KV'))} {(g.kv_cache_bytes - ld.gpu('KV')) / MIB:6.2f}"
            f" {_mib(ld.gpu('compute'))} {(g.compute_bytes - ld.gpu('compute')) / MIB:6.2f}"
            f" {host_meas / MIB:8.2f} {(h.compute_bytes - host_meas) / MIB:5.2f}"
            f" {_mib(ld.overhead)} {g.overhead_bytes / MIB:8.2f}"
            f" {_mib(ld.used_bytes)} {_mib(g.total_bytes)} {r.error_bytes / MIB:8.2f} {100 * r.error:6.2f}%"
        )
    lines.append("")
    lines.extend(summary(rs))
    return "\n".join(lines)


def summary(rs: list[Row]) -> list[str]:
    if not rs:
        return ["no loads"]
    errs = [abs(r.error) for r in rs]
    worst = max(rs, key=lambda r: abs(r.error_bytes) / max(TARGET_WORST_REL * r.load.used_bytes, TARGET_WORST_ABS))
    worst_rel = max(rs, key=lambda r: abs(r.error))
    med = statistics.median(errs)
    n_fail = sum(1 for r in rs if not within_worst_target(r.error_bytes, r.load.used_bytes))
    out = [
        f"loads: {len(rs)} ({sum(r.load.source == 'memory' for r in rs)} memory grid, "
        f"{sum(r.load.source == 'speed' for r in rs)} speed-phase probes), models: "
        f"{len({r.load.model_id for r in rs})}",
        f"total GPU memory: median |error| {100 * med:.3f}% (target <= {100 * TARGET_MEDIAN:.0f}%: "
        f"{'met' if med <= TARGET_MEDIAN else 'MISSED'})",
        f"worst |error|: {100 * abs(worst_rel.error):.3f}% = {worst_rel.error_bytes / MIB:+.2f} MiB "
        f"({worst_rel.load.label}); largest in MiB: "
        f"{max(abs(r.error_bytes) for r in rs) / MIB:.2f}; loads beyond max(3%, 128 MiB): {n_fail} "
        f"(target 0: {'met' if n_fail == 0 else 'MISSED'}; closest: {worst.load.label})",
    ]
    for name, pred, meas in (
        ("weights (CUDA0 model buffer)", lambda r: r.gpu.weights_bytes, lambda r: r.load.gpu("model")),
        ("KV (CUDA0 KV buffers)", lambda r: r.gpu.kv_cache_bytes, lambda r: r.load.gpu("KV")),
        ("compute (CUDA0 compute buffer)", lambda r: r.gpu.compute_bytes, lambda r: r.load.gpu("compute")),
        ("host compute + output (CUDA_Host)", lambda r: r.host.compute_bytes, lambda r: r.load.host_compute),
        ("overhead (used - CUDA buffers)", lambda r: r.gpu.overhead_bytes, lambda r: r.load.overhead),
    ):
        d = [(pred(r) - meas(r)) / MIB for r in rs]
        out.append(f"{name}: median |Δ| {statistics.median(abs(x) for x in d):.2f} MiB, "
                   f"max |Δ| {max(abs(x) for x in d):.2f} MiB")  # fmt: skip
    size_err = [abs(_model_size(r) - r.load.model_size_bytes) / r.load.model_size_bytes for r in rs]
    out.append(f"weights vs llama_model_size (all tensors): max |error| {100 * max(size_err):.4f}%")
    # the overhead derivation: used - buffers rounded to 2 MiB, per model with flash attention on
    out.append("")
    out.append("CUDA overhead outside llama.cpp's buffers (NVML used - each CUDA buffer rounded up to 2 MiB), MiB:")
    by: dict[str, list[float]] = {}
    for r in rs:
        if r.load.source != "memory":
            continue
        slack = sum(memory._pad(v, memory.CUDA_ALLOC_GRANULARITY) - v for v in _buffer_list(r.load))
        cublas = r.load.flash_attn == "off" or get_model(r.load.model_id).to_shape().n_experts > 1
        key = f"{r.load.model_id} {'cuBLAS' if cublas else 'MMQ only'}"
        if r.load.flash_attn == "off":
            key += " (FA off)"
        by.setdefault(key, []).append((r.load.overhead - slack) / MIB)
    for k, v in sorted(by.items(), key=lambda kv: min(kv[1])):
        out.append(f"  {k:<52} {min(v):8.2f} .. {max(v):8.2f} (n={len(v)})")
    return out


def _buffer_list(load: Load) -> list[int]:
    """The CUDA0 buffers one by one (KV: one per cache)."""
    return [v for k, v in load.buffer_list if k.startswith("CUDA0:")]


def _model_size(r: Row) -> int:
    req = request_for(r.load)
    ws = memory.weight_split(req.shape, memory.resolve_types(req))
    return ws.file_bytes


def _key(
    source: str, model_id: str, preset: str, n_ctx: int, type_k: str, type_v: str, fa: str, ngl: int
) -> tuple[Any, ...]:
    return (source, model_id, preset, -(-n_ctx // 256) * 256, type_k, type_v, fa, ngl)


def heldout_report(loads: list[Load], path: Path = HELDOUT) -> str:
    """Predictions committed before a lease ran, against what it measured."""
    if not path.exists():
        return f"no held-out predictions in {path}"
    preds = {}
    for line in path.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            preds[_key(d["phase"], d["model_id"], d["preset"], d["n_ctx"], d["type_k"], d["type_v"],
                       d["flash_attn"], d["n_gpu_layers"])] = d  # fmt: skip
    lines = [f"Held-out: predictions committed in {path.name} before measuring (MiB)",
             f"{'load':<60} {'predicted':>10} {'measured':>10} {'err MiB':>8} {'err':>7}"]  # fmt: skip
    errs: list[tuple[float, int, int]] = []
    for ld in loads:
        d = preds.get(_key(ld.source, ld.model_id, ld.preset, ld.n_ctx, ld.type_k, ld.type_v, ld.flash_attn,
                           ld.n_gpu_layers))  # fmt: skip
        if d is None:
            continue
        e = d["gpu_total_bytes"] - ld.used_bytes
        errs.append((e / ld.used_bytes, e, ld.used_bytes))
        lines.append(f"{ld.source + ' ' + ld.label:<60} {d['gpu_total_bytes'] / MIB:10.1f} "
                     f"{ld.used_bytes / MIB:10.1f} {e / MIB:8.1f} {100 * e / ld.used_bytes:6.2f}%")  # fmt: skip
    if not errs:
        lines.append(f"none of the {len(preds)} predicted loads is measured yet")
        return "\n".join(lines)
    med = statistics.median(abs(x[0]) for x in errs)
    n_fail = sum(1 for _, e, u in errs if not within_worst_target(e, u))
    lines.append(f"held-out loads: {len(errs)} of {len(preds)} predicted; median |error| {100 * med:.3f}%, "
                 f"worst {100 * max(abs(x[0]) for x in errs):.3f}%, beyond max(3%, 128 MiB): {n_fail}")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the report here")
    ap.add_argument("--heldout", action="store_true", help="only compare the committed held-out predictions")
    args = ap.parse_args()
    loads = load_records()
    if args.heldout:
        print("\n\n".join(heldout_report(loads, path) for path in (HELDOUT, *HELDOUT_LATER)))
        return 0
    rs = rows(loads)
    if not rs:
        print(f"no data in {MEMORY}")
        return 1
    cmd = "python bench/memory_accuracy.py" + (f" --out {args.out}" if args.out else "")
    later = "\n\n".join(heldout_report(loads, path) for path in (HELDOUT, *HELDOUT_LATER))
    text = f"$ {cmd}\n\n{report(rs)}\n\n{later}\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
