"""The accuracy page: predicted against measured, computed from the data committed under bench/data/."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from advisor.bench_records import heldout_pairs
from advisor.catalog.models_catalog import CatalogModel
from advisor.core.shape import ModelShape
from advisor.core.units import MIB
from advisor.fit.args import FitArgError, FitParams
from advisor.fit.engine import make_plan
from advisor.pages.catalog import find_model
from advisor.pages.model import _series
from advisor.pages.probes import probe_accuracy_rows, relative_error

BENCH_DATA = Path(settings.BASE_DIR) / "bench" / "data"


@lru_cache(maxsize=8)
def _read_jsonl(path: Path, mtime: float) -> tuple[dict[str, Any], ...]:
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
    return tuple(rows)


def bench_files() -> dict[str, tuple[dict[str, Any], ...]]:
    if not BENCH_DATA.is_dir():
        return {}
    return {p.name: _read_jsonl(p, p.stat().st_mtime) for p in sorted(BENCH_DATA.glob("*.jsonl"))}


# Bench files name their GGUF after the model; these are the catalog records they were made from.
BENCH_MODEL_IDS = {
    "smollm2_135m": "smollm2-135m-instruct", "qwen25_05b": "qwen2.5-0.5b-instruct", "qwen3_06b": "qwen3-0.6b",
}  # fmt: skip


def _bench_model(filename: str) -> tuple[str, str] | None:
    """(catalog id, preset) of a bench GGUF name: "qwen3_06b.gguf" (F16) or "<catalog id>-q4km.gguf"."""
    stem = filename.removesuffix(".gguf")
    if stem in BENCH_MODEL_IDS:
        return BENCH_MODEL_IDS[stem], "F16"
    for suffix, preset in (("-q4km", "Q4_K_M"), ("-q8", "Q8_0"), ("-f16", "F16")):
        if stem.endswith(suffix) and find_model(stem.removesuffix(suffix)):
            return stem.removesuffix(suffix), preset
    return None


def _cpu_prediction(model: CatalogModel, preset: str, st: dict[str, Any]) -> dict[str, int] | None:
    from advisor.core.memory import FitRequest, estimate

    fa = st.get("flash_attn")
    req = FitRequest(
        shape=model.to_shape(), preset=preset, runtime="llama-cpp-python", n_ctx=st.get("n_ctx"),
        n_batch=st.get("n_batch"), n_ubatch=st.get("n_ubatch"), n_parallel=st.get("n_seq_max"),
        kv_unified=st.get("kv_unified"), type_k=st.get("type_k", "f16"), type_v=st.get("type_v", "f16"),
        flash_attn=None if fa in (None, "auto") else bool(fa), swa_full=st.get("swa_full"), cpu_only=True,
    )  # fmt: skip
    try:
        mem = estimate(req).to_dict()["memory"]
    except (KeyError, ValueError):
        return None
    return {"kv": mem["kv_cache_bytes"], "compute": mem["compute_bytes"], "weights": mem["weights_bytes"]}


def cpu_buffer_rows() -> list[dict[str, Any]]:
    """bench/data/cpu_buffers: llama.cpp's logged CPU buffers next to what the memory engine predicts."""
    rows = []
    for path in sorted((BENCH_DATA / "cpu_buffers").glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found = _bench_model(str(rec.get("model", "")))
        mib = rec.get("mib", {})
        if found is None or rec.get("returncode", 0) != 0:
            continue
        model = find_model(found[0])
        st = rec.get("settings", {})
        pred = _cpu_prediction(model, found[1], st) if model else None
        # The engine's KV figure includes the recurrent state of hybrid models (llama.cpp's "RS" buffer).
        kv = mib.get("KV:CPU") or mib.get("kv_size_line")
        state = mib.get("RS:CPU") or mib.get("rs_size_line") or 0
        measured = {"kv": None if kv is None else kv + state, "compute": mib.get("compute:CPU")}
        row: dict[str, Any] = {"file": path.name, "model": found[0], "preset": found[1], "settings": st}
        for key in ("kv", "compute"):
            value = measured[key]
            row[f"{key}_measured"] = None if value is None else int(value * MIB)
            row[f"{key}_predicted"] = pred[key] if pred else None
            err = relative_error(row[f"{key}_predicted"], row[f"{key}_measured"])
            row[f"{key}_error"], row[f"{key}_error_pct"] = err, None if err is None else err * 100
        rows.append(row)
    return rows


def _error_stats(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    errors = [abs(r[f"{key}_error"]) for r in rows if r.get(f"{key}_error") is not None]
    if not errors:
        return {"n": 0}
    errors.sort()
    return {"n": len(errors), "median_pct": errors[len(errors) // 2] * 100, "max_pct": errors[-1] * 100}


def _scatter(rows: list[dict[str, Any]], key: str, label: str, scale: int = MIB) -> dict[str, Any]:
    unit = " (MiB)" if scale == MIB else ""
    points = [
        (round(r[f"{key}_measured"] / scale, 2), round(r[f"{key}_predicted"] / scale, 2))
        for r in rows if r.get(f"{key}_measured") and r.get(f"{key}_predicted")
    ]  # fmt: skip
    top = max([max(p) for p in points], default=1)
    return {
        "kind": "scatter",
        "x": f"measured {label}{unit}",
        "y": f"predicted {label}{unit}",
        "xlog": False,
        "series": [_series(label, points, "#0b5cad"), _series("exact", [(0, 0), (top, top)], "#57606a", True)],
    }


BENCH_GPU = "NVIDIA H100 80GB HBM3"  # the GPU bench/gpu_bench.py ran on (bench/speed_accuracy.py: h100())


def _bench_fit(
    model_id: str,
    preset: str,
    ctx: int | None = 8192,
    kv_type: str | None = "f16",
    flash_attn: str | None = None,
    gpu_layers: int | None = None,
    gpu: str = BENCH_GPU,
) -> dict[str, Any] | None:
    """The plan for a bench record, uncalibrated: the bench loads files through advisor.probe, i.e.
    llama-cpp-python with swa_full off (advisor/probe/child.py)."""
    params = FitParams(
        model=model_id, quant=preset, ctx=ctx or 8192, kv_type=kv_type, flash_attn=flash_attn,
        gpu_layers=gpu_layers, gpus=(gpu,), runtime="llama-cpp-python", swa_full=False,
    )  # fmt: skip
    try:
        return make_plan(params, _shape_of).to_dict()
    except FitArgError:
        return None


def _shape_of(model_id: str) -> ModelShape:
    model = find_model(model_id)
    if model is None:
        raise KeyError(f"unknown model {model_id!r}")
    return model.to_shape()


def _with_error(row: dict[str, Any], key: str) -> dict[str, Any]:
    err = relative_error(row.get(f"{key}_predicted"), row.get(f"{key}_measured"))
    row[f"{key}_error"], row[f"{key}_error_pct"] = err, None if err is None else err * 100
    return row


def gpu_memory_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """bench/data/memory_h100.jsonl: GPU memory in use after a 512-token eval vs ``fit``'s GPU bytes."""
    rows = []
    for rec in records:
        probe, st = rec.get("probe") or {}, rec.get("settings") or {}
        if rec.get("phase") != "memory" or "error" in probe or probe.get("gpu_after_prefill_bytes") is None:
            continue
        # llama.cpp resolves flash_attn "auto" to on for CUDA (the measurements agree: auto == on).
        fa = "on" if st.get("flash_attn") == "auto" else st.get("flash_attn")
        ngl = st.get("n_gpu_layers")
        report = _bench_fit(
            rec["model_id"], rec["preset"], ctx=st.get("n_ctx"), kv_type=st.get("type_k") or "f16",
            flash_attn=fa if fa in ("on", "off") else None,
            gpu_layers=-1 if ngl in (None, -1) else ngl,  # the bench asked for every layer
        )  # fmt: skip
        row = {"model": rec["model_id"], "preset": rec["preset"], "settings": st,
               "gpu_measured": probe["gpu_after_prefill_bytes"],
               "gpu_predicted": report["memory"]["gpu_bytes"] if report else None}  # fmt: skip
        rows.append(_with_error(row, "gpu"))
    return rows


def gpu_speed_rows(records: Sequence[dict[str, Any]], gpu: str = BENCH_GPU) -> list[dict[str, Any]]:
    """bench/data/speed_h100.jsonl (or speed_h200.jsonl on ``gpu``): llama-bench pp512 and tg128 (at depth)
    vs ``fit``'s speed."""
    rows = []
    for rec in records:
        bench = rec.get("bench") or {}
        if rec.get("tool") != "llama-bench" or rec.get("variant") or "avg_ts" not in bench:
            continue
        depth = int(bench.get("n_depth") or 0)
        decode = int(bench.get("n_gen") or 0) > 0
        if not decode and depth:
            continue  # fit predicts prefill from an empty context only
        report = _bench_fit(rec["model_id"], rec["preset"], ctx=max(4096, depth + 1024), gpu=gpu)
        speed = (report or {}).get("speed") or {}
        if decode:
            predicted = next((c["decode_tps"] for c in speed.get("curve", ()) if c["ctx"] == depth), None)
        else:
            predicted = speed.get("prefill_tps")
        test = f"tg{bench['n_gen']}" if decode else f"pp{bench.get('n_prompt')}"
        row = {"model": rec["model_id"], "preset": rec["preset"], "test": test, "depth": depth,
               "tps_measured": bench["avg_ts"], "tps_predicted": predicted}  # fmt: skip
        rows.append(_with_error(row, "tps"))
    return rows


def heldout_speed_rows(files: dict[str, tuple[dict[str, Any], ...]]) -> list[dict[str, Any]]:
    """Speed predictions committed before a lease ran (bench/data/heldout_predictions_setN.jsonl, by
    bench/heldout_predict.py), against what that lease's llama-bench measured (``bench_set`` N)."""
    rows = []
    for name, preds in sorted(files.items()):
        found = re.fullmatch(r"heldout_predictions_set(\d+)\.jsonl", name)
        if not found:
            continue
        n = int(found.group(1))
        for p in heldout_pairs(preds, files.get("speed_h100.jsonl", ()), n):
            row = {"set": n, "model": p.model_id, "preset": p.preset,
                   "test": f"{'tg' if p.decode else 'pp'}{p.n_tokens}", "where": p.variant or f"depth {p.depth}",
                   "tps_measured": p.measured_tps, "tps_predicted": p.predicted_tps}  # fmt: skip
            rows.append(_with_error(row, "tps"))
    return rows


def synthetic_probe_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """bench/data/synthetic_h100.jsonl: stand-in probes timed end to end from an empty cache."""
    rows = []
    for rec in records:
        probe = rec.get("probe") or {}
        layers = probe.get("layers_measured") or []
        rows.append({"model": rec.get("model_id"), "preset": rec.get("preset"), "wall_s": rec.get("wall_s"),
                     "built": f"{layers[0]} + {layers[1]} layers" if len(layers) == 2 else "whole",
                     "decode_tps": probe.get("decode_tps"), "prefill_tps": probe.get("prefill_tps"),
                     "error": rec.get("error")})  # fmt: skip
    return rows


def _bench_fingerprint() -> str:
    """Changes when a bench file or the code that predicts changes (so a deploy recomputes)."""
    from advisor.core import memory, speed
    from advisor.fit import engine

    files = [*BENCH_DATA.rglob("*.json*")] if BENCH_DATA.is_dir() else []
    files += [Path(__file__), Path(engine.__file__), Path(memory.__file__), Path(speed.__file__)]
    stats = sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return hashlib.sha256(repr(stats).encode()).hexdigest()


def cross_hardware() -> dict[str, Any]:
    """The speed model's per-backend fit on the community sample: leave-one-hardware-out median |error|
    and bands, as ``bench/community_fit.py --write`` computed them from bench/data/community_speeds."""
    from advisor.core import speed_backends

    names = {"cuda": "CUDA (NVIDIA)", "metal": "Metal (Apple)", "rocm": "ROCm (AMD)", "cpu": "CPU"}
    rows = []
    for backend, cv in speed_backends.CV.items():
        bands = speed_backends.BANDS[backend]
        rows.append({"backend": names.get(backend, backend), **cv,
                     "decode_band": bands["decode"], "prefill_band": bands["prefill"]})  # fmt: skip
    return {"rows": rows}


def _decode_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    decode = [r for r in rows if r["test"].startswith("tg")]
    stats = _error_stats(decode, "tps")
    if stats["n"]:
        stats["over_12"] = sum(abs(r["tps_error"]) > 0.12 for r in decode if r["tps_error"] is not None)
    return stats


def accuracy_page() -> dict[str, Any]:
    """Predicted vs measured, from the committed bench data and from live probes.

    The comparison runs ``fit`` once per record (seconds for a full bench); it is cached in the shared
    cache until a bench file changes.
    """
    from django.core.cache import cache

    page: dict[str, Any] = cache.get_or_set(f"accuracy:{_bench_fingerprint()}", _accuracy_rows, timeout=86400) or {}
    return {**page, "probes": probe_accuracy_rows()}


def _accuracy_rows() -> dict[str, Any]:
    cpu = cpu_buffer_rows()
    files = bench_files()
    gpu_mem = gpu_memory_rows(files.get("memory_h100.jsonl", ()))
    gpu_speed = gpu_speed_rows(files.get("speed_h100.jsonl", ()))
    h200_speed = gpu_speed_rows(files.get("speed_h200.jsonl", ()), gpu="NVIDIA H200")
    heldout = heldout_speed_rows(files)
    return {
        "cross": {**cross_hardware(), "h100_decode": _decode_stats(gpu_speed),
                  "h200_decode": _decode_stats(h200_speed)},
        "heldout_rows": heldout,
        "heldout_stats": [  # GPU decode only, per lease: each lease was predicted with the constants of its day
            {"set": n, **_error_stats([r for r in heldout if r["set"] == n and r["test"].startswith("tg")
                                       and r["where"].startswith("depth")], "tps")}
            for n in sorted({r["set"] for r in heldout})
        ],
        "synthetic_rows": synthetic_probe_rows(files.get("synthetic_h100.jsonl", ())),
        "cpu_rows": cpu, "kv_stats": _error_stats(cpu, "kv"), "compute_stats": _error_stats(cpu, "compute"),
        "gpu_mem_rows": gpu_mem, "gpu_mem_stats": _error_stats(gpu_mem, "gpu"),
        "gpu_speed_rows": gpu_speed, "gpu_speed_stats": _error_stats(gpu_speed, "tps"),
        "charts": {
            "kv": _scatter(cpu, "kv", "KV cache"), "compute": _scatter(cpu, "compute", "compute buffer"),
            "gpu_mem": _scatter(gpu_mem, "gpu", "GPU memory"),
            "gpu_speed": _scatter(gpu_speed, "tps", "tok/s", scale=1),
        },
        "files": {name: len(rows) for name, rows in files.items()},
    }  # fmt: skip
