"""Read-side helpers for the views and the API: turn validated input into engine calls and
engine results into what the templates show. No writes here (those live in services/imports).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from advisor.bench_records import heldout_pairs
from advisor.catalog.hardware import (
    GIB,
    load_tiers,
    machine_from_names,
    search_gpus,
)
from advisor.catalog.models_catalog import CatalogModel, load_models, parse_record
from advisor.core.hardware_spec import GPUSpec, Machine

GB = 1e9
BENCH_DATA = Path(settings.BASE_DIR) / "bench" / "data"


# ---------------------------------------------------------------- the machine spec


@dataclass(frozen=True)
class Spec:
    """The machine form's cleaned values (the URL's query string, parsed and bounded)."""

    gpu: str = ""
    gpu_count: int = 1
    vram: float | None = None  # GB per GPU, overriding the catalog
    bandwidth: float | None = None  # GB/s, overriding the catalog
    ram: float = 32.0  # GB
    cpu: str = ""
    ctx: int = 8192
    kv_type: str = ""  # "": the runtime's default (q8_0 where flash attention allows it)
    runtime: str = "llama-server"
    use_case: str = ""
    users: int = 1

    @classmethod
    def from_cleaned(cls, data: dict[str, Any]) -> Spec:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names and v is not None})

    def query(self, **extra: Any) -> str:
        """The query string that reproduces this spec (for links and bookmarks)."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        values.update(extra)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def gib(n_gb: float) -> int:
    """Form "GB" are the GiB that vendors and OSes mean by GB for memory sizes (16 GB = 16 GiB)."""
    return round(n_gb * GIB)


def _override_gpu(spec: GPUSpec, vram_gb: float | None, bandwidth: float | None, ram_bytes: int) -> GPUSpec:
    if bandwidth is not None:
        spec = replace(spec, bandwidth_gbps=bandwidth)
    if vram_gb is not None:
        if spec.unified_memory:
            # For a unified chip the override is the GPU's share of RAM (e.g. after raising iogpu.wired_limit).
            spec = replace(spec, vram_bytes=ram_bytes, gpu_memory_fraction=min(1.0, gib(vram_gb) / ram_bytes))
        else:
            spec = replace(spec, vram_bytes=gib(vram_gb), gpu_memory_fraction=None)
    return spec


def machine_for(spec: Spec) -> Machine:
    """The engine's ``Machine`` for a validated spec (names were checked by the form)."""
    ram_bytes = gib(spec.ram)
    gpus = [(spec.gpu, spec.gpu_count)] if spec.gpu else []
    machine = machine_from_names(gpus, ram_bytes, spec.cpu or None, label=describe(spec))
    if spec.vram is None and spec.bandwidth is None:
        return machine
    specs = tuple((_override_gpu(g, spec.vram, spec.bandwidth, ram_bytes), n) for g, n in machine.gpus)
    return replace(machine, gpus=specs)


def describe(spec: Spec) -> str:
    gpu = f"{spec.gpu_count} x {spec.gpu}" if spec.gpu and spec.gpu_count > 1 else spec.gpu or "CPU only"
    return f"{gpu}, {spec.ram:g} GB RAM"


def machine_summary(machine: Machine) -> dict[str, Any]:
    gpus = [
        {"name": g.name, "count": n, "vram_bytes": g.usable_bytes, "bandwidth_gbps": g.bandwidth_gbps,
         "unified": g.unified_memory}
        for g, n in machine.gpus
    ]  # fmt: skip
    return {
        "gpus": gpus,
        "vram_bytes": machine.total_vram_bytes,
        "ram_bytes": machine.ram_bytes,
        "unified": machine.unified_memory,
        "cpu": machine.cpu.name if machine.cpu else None,
        "cpu_bandwidth_gbps": machine.cpu_bandwidth_gbps,
    }


def spec_from_host() -> dict[str, str]:
    """Form values describing the server host (psutil, NVML, Apple sysctl), for "Detect this machine"."""
    from advisor.hardware import detect_host

    report = detect_host()
    values: dict[str, str] = {"ram": f"{report.ram_bytes / GIB:.0f}"}
    if report.machine.cpu and report.machine.cpu.bandwidth_gbps:
        values["cpu"] = report.machine.cpu.name
    if report.machine.gpus:
        gpu, count = report.machine.gpus[0]
        values.update(gpu=gpu.name, gpu_count=str(count))
        if not gpu.unified_memory:
            values["vram"] = f"{gpu.vram_bytes / GIB:.1f}"
    return values


def gpu_choices(query: str, limit: int = 15) -> list[GPUSpec]:
    query = query.strip()[:200]
    return search_gpus(query, limit) if query else []


# ---------------------------------------------------------------- the catalog (files + Hub imports)


def all_models() -> tuple[CatalogModel, ...]:
    """File catalog plus models imported from the Hub (stored as CatalogEntry records)."""
    from advisor.models import CatalogEntry

    models = list(load_models())
    known = {m.id for m in models}
    for entry in CatalogEntry.objects.filter(origin=CatalogEntry.Origin.HUB):
        if entry.model_id in known:
            continue
        try:
            models.append(parse_record(entry.record, f"hub import {entry.model_id}"))
        except ValueError:
            continue  # a record an older importer wrote; the admin shows it
    return tuple(models)


def find_model(model_id: str) -> CatalogModel | None:
    return next((m for m in all_models() if m.id == model_id), None)


def filter_choices() -> dict[str, list[str]]:
    models = load_models()
    return {
        "families": sorted({m.family for m in models}),
        "licenses": sorted({m.license for m in models}),
    }


# ---------------------------------------------------------------- memory bar geometry

BAR_WIDTH = 1000  # SVG user units; the SVG scales to its box, so widths need no inline style
SEGMENTS = (
    ("weights_bytes", "Weights", "seg-w"),
    ("kv_cache_bytes", "KV cache", "seg-kv"),
    ("compute_bytes", "Compute buffers", "seg-cb"),
    ("overhead_bytes", "Overhead", "seg-oh"),
)


def memory_bar(memory: dict[str, Any], vram_bytes: int, ram_bytes: int) -> dict[str, Any]:
    """Geometry of a stacked bar (weights / KV / compute / overhead) against VRAM and RAM lines."""
    total = sum(int(memory.get(key) or 0) for key, _, _ in SEGMENTS)
    scale_max = max(total, vram_bytes, 1) * 1.08
    ram_line = vram_bytes + ram_bytes if vram_bytes else ram_bytes
    if ram_line <= scale_max * 1.5:
        scale_max = max(scale_max, ram_line * 1.04)
    x = 0.0
    segments = []
    for key, label, css in SEGMENTS:
        size = int(memory.get(key) or 0)
        width = size / scale_max * BAR_WIDTH
        segments.append({"label": label, "bytes": size, "x": round(x, 1), "width": round(width, 1), "css": css})
        x += width

    def line(value: int, label: str) -> dict[str, Any] | None:
        if not value or value > scale_max:
            return None
        return {"x": round(value / scale_max * BAR_WIDTH, 1), "label": label, "bytes": value}

    lines = [ln for ln in (line(vram_bytes, "VRAM"), line(ram_line, "VRAM + RAM" if vram_bytes else "RAM")) if ln]
    return {"segments": segments, "total": total, "lines": lines, "width": BAR_WIDTH}


# ---------------------------------------------------------------- probes


def probe_history(host: str | None = None, limit: int = 50) -> list[Any]:
    from advisor.models import ProbeRun

    runs = ProbeRun.objects.select_related("requested_by")
    if host:
        runs = runs.filter(host_id=host)
    return list(runs[:limit])


def probe_hosts() -> list[str]:
    from advisor.models import ProbeRun

    return list(ProbeRun.objects.order_by().values_list("host_id", flat=True).distinct())


def workers() -> list[Any]:
    from advisor.models import WorkerHeartbeat

    return list(WorkerHeartbeat.objects.order_by("host_id"))


def measurements_by_model() -> dict[str, list[dict[str, Any]]]:
    """Succeeded probes of catalog models, newest first: model id -> [{quant, ctx, decode, prefill, host}]."""
    from advisor.models import ProbeRun

    found: dict[str, list[dict[str, Any]]] = {}
    runs = ProbeRun.objects.filter(status=ProbeRun.Status.SUCCEEDED).exclude(model_id="")
    for run in runs[:500]:
        result = run.result or {}
        found.setdefault(run.model_id, []).append({
            "run_id": run.pk, "quant": run.quant, "ctx": run.ctx, "host": run.host_id,
            "decode_tps": result.get("decode_tps"), "prefill_tps": result.get("prefill_tps"),
            "backend": result.get("backend"), "gpu_name": result.get("gpu_name"),
        })  # fmt: skip
    return found


def probe_view(run: Any) -> dict[str, Any]:
    """A probe run as the API returns it."""
    return {
        "id": run.pk,
        "host": run.host_id,
        "status": run.status,
        "stage": run.stage,
        "percent": run.percent,
        "source": run.source,
        "model_id": run.model_id,
        "quant": run.quant,
        "ctx": run.ctx,
        "gpu_layers": run.gpu_layers,
        "result": run.result,
        "predicted": run.predicted,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


# ---------------------------------------------------------------- tiers


def tiers() -> list[Any]:
    return list(load_tiers())


def tier_spec(tier: Any) -> Spec:
    """The form spec that reproduces a tier (so a tier page links to the full results)."""
    name, count = tier.gpus[0] if tier.gpus else ("", 1)
    # Unified tiers state the GPU's share of RAM; discrete tiers use the catalog's card size.
    vram = round(tier.vram_bytes / GIB, 3) if tier.unified else None
    return Spec(
        gpu=name, gpu_count=count, vram=vram, ram=round(tier.ram_bytes / GIB, 3), cpu=tier.cpu or "",
        ctx=tier.default_ctx, kv_type=tier.default_kv_type, runtime=tier.default_runtime,
    )  # fmt: skip


# ---------------------------------------------------------------- bench data (accuracy page)


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


def relative_error(predicted: float | None, measured: float | None) -> float | None:
    if not predicted or not measured or math.isnan(predicted) or math.isnan(measured):
        return None
    return (predicted - measured) / measured


# ---------------------------------------------------------------- pages


def _form_errors(*forms_: Any) -> list[dict[str, str]]:
    errors = []
    for form in forms_:
        for name, found in form.errors.as_data().items():
            label = form.fields[name].label if name in form.fields else "Form"
            for error in found:
                errors.append({"field": name, "label": str(label), "message": " ".join(error.messages),
                               "suggestions": getattr(error, "suggestions", [])})  # fmt: skip
    return errors


def _with(params: Any, **values: Any) -> str:
    query = params.copy()
    for key, value in values.items():
        query[key] = str(value)
    return str(query.urlencode())


def _bound(params: Any, fields: Any) -> bool:
    return any(params.get(name) not in (None, "") for name in fields)


POPULAR_GPUS = (
    "GeForce RTX 4090", "GeForce RTX 5090", "GeForce RTX 3090", "GeForce RTX 4060", "GeForce RTX 4070",
    "GeForce RTX 5070 Ti", "Apple M4 (10-core GPU)", "Apple M4 Pro (20-core GPU)", "Apple M4 Max (40-core GPU)",
    "Apple M3 Ultra (80-core GPU)", "H100 SXM5 80 GB", "Radeon RX 7900 XTX",
)  # fmt: skip


def machine_forms(params: Any) -> tuple[Any, Any, bool]:
    from advisor.forms import FilterForm, MachineForm

    bound = _bound(params, MachineForm.base_fields)
    if bound:
        # Fields left out of the URL take their defaults, so the form shows what was computed.
        data = params.copy()
        for name, value in MachineForm.DEFAULTS.items():
            if data.get(name) in (None, "") and name != "kv_type":
                data[name] = value
        form = MachineForm(data)
    else:
        form = MachineForm(initial=MachineForm.DEFAULTS)
    return form, FilterForm(params), bound


def results_page(params: Any, require_spec: bool = True) -> dict[str, Any]:
    """Everything the home page and its #results partial show, from the GET parameters.

    ``require_spec=False`` (the API) computes with the defaults when no machine field is given.
    """
    form, filters, bound = machine_forms(params)
    if not require_spec and not bound:
        form, bound = type(form)(params), True
    page: dict[str, Any] = {
        "form": form, "filters": filters, "bound": bound, "errors": [], "results": [],
        "choices": filter_choices(), "popular_gpus": POPULAR_GPUS,
        "tier_links": [{"title": t.title, "query": tier_spec(t).query()} for t in tiers()],
    }  # fmt: skip
    if not bound:
        return page
    if not (form.is_valid() and filters.is_valid()):
        page["errors"] = _form_errors(form, filters)
        return page
    spec = Spec.from_cleaned(form.cleaned_data)
    machine = machine_for(spec)
    page.update(
        spec=spec, spec_dict=asdict(spec), spec_label=describe(spec), spec_query=spec.query(),
        machine=machine_summary(machine),
        filters_active=any(filters.cleaned_data.get(k) for k in ("family", "size", "license")),
    )  # fmt: skip
    try:
        cards, page["engine"] = recommendation_cards(spec, machine)
    except EngineMissing as exc:
        page["engine_missing"] = str(exc)
        return page
    results = apply_filters(cards, filters.cleaned_data)
    limit = filters.cleaned_data.get("limit") or filters.DEFAULT_LIMIT
    add_prefill(spec, results[:limit], page["engine"]["settings"]["kv_type"])
    page.update(results=results[:limit], more=max(0, len(results) - limit), all_query=_with(params, limit=500))
    return page


class EngineMissing(RuntimeError):
    """The memory/recommendation engine has not landed in this checkout yet."""


FIT_LABELS = {
    "gpu": "Fits on GPU",
    "partial": "Partial offload",
    "cpu": "CPU only",
    "no": "Does not fit",
}


PREFILL_BUDGET_S = 0.8  # the results update on every form change: stop refining after this long


def add_prefill(spec: Spec, cards: list[dict[str, Any]], kv_type: str) -> None:
    """Prefill tok/s (and the speed engine's decode) from ``fit`` for the cards shown, best first,
    within a time budget; the rest link to their model page for it."""
    started = time.monotonic()
    for card in cards:
        if time.monotonic() - started > PREFILL_BUDGET_S:
            return
        model = find_model(card["model"]["id"])
        report = fit_report(spec, model, card["quant"]["name"], kv_type) if model else None
        speed = (report or {}).get("speed") or {}
        if speed.get("decode_tps") is not None:
            # One speed model on the page: the speed engine's (fitted to H100 measurements) replaces
            # the recommender's quick bandwidth estimate, in the numbers and in the sentence.
            card["speed"]["decode_tps"] = speed["decode_tps"]
            if isinstance(card.get("explanation"), str):
                card["explanation"] = re.sub(
                    r"Expect roughly [0-9.]+ tokens/s",
                    f"Expect roughly {speed['decode_tps']:.0f} tokens/s",
                    card["explanation"],
                )
        if speed.get("prefill_tps") is not None:
            card["speed"]["prefill_tps"] = speed["prefill_tps"]
            if speed.get("basis") == "calibrated":  # the speed engine fitted to measurements
                card["speed"]["basis"] = "calibrated"


def apply_filters(cards: list[dict[str, Any]], f: dict[str, Any]) -> list[dict[str, Any]]:
    out = cards
    if f.get("family"):
        out = [c for c in out if c["model"]["family"] == f["family"]]
    if f.get("license"):
        out = [c for c in out if c["model"]["license"] == f["license"]]
    if f.get("size"):
        limit = float(f["size"]) * 1e9
        out = [c for c in out if c["model"]["params_total"] <= limit]
    keys = {
        "speed": lambda c: -(c["speed"].get("decode_tps") or 0),
        "size": lambda c: c["bar"]["total"],
        "context": lambda c: -(c.get("max_context") or 0),
    }
    sort = f.get("sort") or "quality"
    return sorted(out, key=keys[sort]) if sort in keys else out


# ---------------------------------------------------------------- probe pages


def probe_request(data: dict[str, Any]) -> Any:
    from advisor import services

    source = data["source"]
    return services.ProbeRequest(
        source=source,
        model_id=data.get("model_id", "") if source == "standin" else "",
        quant=(data.get("quant") or "Q4_K_M").upper() if source == "standin" else "",
        ctx=data["ctx"],
        gpu_layers=data.get("gpu_layers", -1),
    )


def probes_page(host: str | None, form: Any, unavailable: str = "") -> dict[str, Any]:
    from advisor import probe, services

    this_host = services.host_id()
    host = (host or "")[:200] or None
    return {
        "form": form, "runs": probe_history(host), "hosts": probe_hosts(), "host": host,
        "this_host": this_host, "workers": workers(), "worker_live": services.live_worker(this_host),
        "unavailable": unavailable, "model_ids": [m.id for m in load_models()], "quants": probe.QUANT_PRESETS,
    }  # fmt: skip


def probe_comparison(run: Any) -> list[dict[str, Any]]:
    """Predicted vs measured rows for a finished run (what the run stored, and what the engine says now)."""
    result = run.result or {}
    predicted = run.predicted or predicted_for_run(run) or {}
    rows = []
    for key, label, unit in (
        ("decode_tps", "Decode", "tok/s"), ("prefill_tps", "Prefill", "tok/s"),
        ("model_bytes", "Model buffers", "bytes"), ("kv_bytes", "KV cache", "bytes"),
        ("compute_bytes", "Compute buffers", "bytes"),
    ):  # fmt: skip
        measured = result.get(key)
        if measured is None and key.endswith("_bytes"):
            kind = {"model_bytes": "model", "kv_bytes": "KV", "compute_bytes": "compute"}[key]
            measured = sum(b["bytes"] for b in result.get("buffers", ()) if b.get("kind") == kind) or None
        pred = predicted.get(key)
        if measured is None and pred is None:
            continue
        rows.append({"label": label, "unit": unit, "measured": measured, "predicted": pred,
                     "error": (err := relative_error(pred, measured)),
                     "error_pct": None if err is None else err * 100})  # fmt: skip
    return rows


SMOLLM2_PROBE = ("smollm2-135m-instruct", "Q4_1")  # what source="smollm2" loads (advisor/probe.py)


def predicted_for_run(run: Any) -> dict[str, Any] | None:
    """What ``fit`` predicts for a finished probe's model, quant and context on its device; None where
    it cannot say (a GGUF path, an architecture without a tensor inventory)."""
    from django.http import QueryDict

    if run.source == "smollm2":
        model_id, quant = SMOLLM2_PROBE
    elif run.source == "standin":
        model_id, quant = run.model_id, run.quant
    else:
        return None
    result = run.result or {}
    query = QueryDict(mutable=True)
    query.update({"model": model_id, "quant": quant, "ctx": str(run.ctx), "runtime": "llama-cpp-python",
                  "swa_full": "off"})  # probe_child.py keeps llama-server's swa_full=false  # fmt: skip
    fa = {"enabled": "on", "disabled": "off"}.get(str(result.get("flash_attn")), "")
    if fa:
        query["flash_attn"] = fa
    if result.get("gpu_name") and result.get("backend") != "CPU":
        query["gpu"] = result["gpu_name"]
        if run.gpu_layers >= 0:
            query["gpu_layers"] = str(run.gpu_layers)
    try:
        report = fit_json(query)
    except FitInputError:
        return None
    mem, speed = report["memory"], report.get("speed") or {}
    if result.get("backend") == "CPU":
        speed = {}  # fit assumes a typical desktop CPU; this host's memory bandwidth is not known
    return {"model_bytes": mem["weights_bytes"], "kv_bytes": mem["kv_cache_bytes"],
            "compute_bytes": mem["compute_bytes"], "decode_tps": speed.get("decode_tps"),
            "prefill_tps": speed.get("prefill_tps"), "speed_basis": speed.get("basis")}  # fmt: skip


def probe_page(run: Any) -> dict[str, Any]:
    return {"run": run, "comparison": probe_comparison(run) if run.result else []}


# ---------------------------------------------------------------- the recommendation engine


def _engine() -> Any:
    try:
        from advisor.core import recommend
    except ImportError as exc:
        raise EngineMissing("The recommendation engine is not installed in this checkout yet.") from exc
    try:
        from advisor.catalog import weight_profiles

        weight_profiles.load()  # precomputed weight bytes; without them the first request is slow
    except (ImportError, OSError, ValueError):
        pass
    return recommend


@lru_cache(maxsize=4)
def _model_options(hub_ids: tuple[str, ...]) -> tuple[Any, ...]:
    """Candidates for the engine: file catalog plus Hub imports (cached per set of imports)."""
    return tuple(_engine().model_options(all_models()))


def model_options() -> tuple[Any, ...]:
    from advisor.models import CatalogEntry

    hub = CatalogEntry.objects.filter(origin=CatalogEntry.Origin.HUB).values_list("model_id", "updated_at")
    return _model_options(tuple(f"{m}@{t.isoformat()}" for m, t in hub.order_by("model_id")))


def run_recommendation(spec: Spec, machine: Machine, limit: int | None = None) -> Any:
    from advisor.catalog.quants import quant_options

    engine = _engine()
    req = engine.Request(
        budget=engine.Budget.from_machine(machine), ctx=spec.ctx, runtime=spec.runtime, kv_type=spec.kv_type or None,
        use_case=spec.use_case or None, parallel=spec.users, max_alternatives=5,
    )  # fmt: skip
    return engine.recommend(req, model_options(), quant_options(spec.runtime), limit=limit)


def recommendation_cards(spec: Spec, machine: Machine) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(cards, engine summary: settings as resolved, models considered, models that do not fit)."""
    rec = run_recommendation(spec, machine)
    catalog = {m.id: m for m in all_models()}
    measured = measurements_by_model()
    cards = [pick_card(r.to_dict(), catalog.get(r.pick.model.id), machine, measured) for r in rec.ranked]
    summary = {"settings": rec.to_dict()["settings"], "considered": rec.considered, "not_fitting": rec.not_fitting}
    return cards, summary


def _params_label(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n < 10e9 else f"{n / 1e9:.0f}B"


def _verdict(fit: dict[str, Any]) -> dict[str, Any]:
    placement = fit.get("placement", "no") if fit.get("fits", True) else "no"
    label = FIT_LABELS.get(placement, placement)
    if placement == "partial":
        label = f"Partial offload: -ngl {fit['n_gpu_layers']} of {fit['n_layers']} layers"
    elif placement == "gpu":
        label = f"Full GPU (-ngl {fit['n_gpu_layers']})"
    return {"verdict": placement, "label": label, **fit}


def _short_verdict(fit: dict[str, Any]) -> dict[str, str]:
    v = _verdict(fit)
    return {"verdict": v["verdict"], "label": v["label"]}


def _speed(
    speed: dict[str, Any], model_id: str, quant: str, measured: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    basis = "calibrated" if speed.get("basis") == "calibrated" else "predicted"
    probe = next((m for m in measured.get(model_id, ()) if m["quant"].upper() == quant.upper()), None)
    note = "From memory bandwidth and bytes read per token, at half the context."
    return {**speed, "basis": basis, "basis_note": note, "measured": probe}


def pick_card(
    d: dict[str, Any], model: CatalogModel | None, machine: Machine, measured: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """One ranked model as the templates show it (the engine's ``to_dict()`` plus display fields)."""
    m = d["model"]
    memory = {**d["memory"], "kv_cache_bytes": d["memory"].get("kv_cache_bytes", d["memory"].get("kv_bytes"))}
    bar = memory_bar(memory, machine.total_vram_bytes, machine.ram_bytes)
    bar.update(gpu_bytes=memory.get("gpu_bytes"), cpu_bytes=memory.get("cpu_bytes", memory.get("ram_bytes")))
    quality = d.get("quality", {})
    return {
        "model": {
            **m, "params_label": _params_label(m["params_total"]), "active_label": _params_label(m["params_active"]),
            "moe": m["params_active"] < m["params_total"], "license": model.license if model else "",
            "context_max": model.context_max if model else None, "hf_repo": model.hf_repo if model else "",
        },
        "quant": {
            **d["quant"], "bpw": d["quant"].get("bits_per_weight"), "kld": quality.get("kld"),
            "cost": f"−{quality['quant_loss'] * 100:.2g}% of the score" if quality.get("quant_loss") else "",
        },
        "fit": _verdict(d["fit"]),
        "memory": memory,
        "bar": bar,
        "speed": _speed(d.get("speed", {}), m["id"], d["quant"]["name"], measured),
        "quality": {**quality, "score": quality.get("score"), "metric": "quality score"},
        "max_context": model.context_max if model else None,
        "explanation": d.get("explanation", ""),
        "alternatives": [
            {"quant": a["quant"]["name"], **_short_verdict(a["fit"]), "total_bytes": a["memory"].get("total_bytes"),
             "decode_tps": a["speed"].get("decode_tps"), "kld": a["quality"].get("kld"),
             "score": a["quality"].get("score")}
            for a in d.get("alternatives", ())
        ],
        "raw": d,
    }  # fmt: skip


def _fit_shaped(d: dict[str, Any], prefill: float | None = None) -> dict[str, Any]:
    """An engine pick with memory and speed keyed as ``fit --json`` keys them (aliases added, none removed)."""
    mem = d["memory"]
    memory = {**mem, "kv_cache_bytes": mem.get("kv_cache_bytes", mem.get("kv_bytes")),
              "cpu_bytes": mem.get("cpu_bytes", mem.get("ram_bytes"))}  # fmt: skip
    speed = {**d["speed"], "prefill_tps": prefill if prefill is not None else d["speed"].get("prefill_tps")}
    return {**d, "memory": memory, "speed": speed}


def card_json(card: dict[str, Any]) -> dict[str, Any]:
    """The API's result: the engine's dict (model, quant, fit, memory, speed, quality, explanation,
    alternatives), with memory and speed also under the names ``/api/fit`` uses."""
    out = _fit_shaped(card["raw"], card["speed"].get("prefill_tps"))
    out["model"] = {**out["model"], "license": card["model"]["license"], "context_max": card["model"]["context_max"]}
    out["alternatives"] = [_fit_shaped(a) for a in card["raw"].get("alternatives", ())]
    return out


def gpu_json(g: GPUSpec) -> dict[str, Any]:
    return {
        "name": g.name, "vendor": g.vendor, "vram_bytes": g.vram_bytes, "usable_bytes": g.usable_bytes,
        "bandwidth_gbps": g.bandwidth_gbps, "unified_memory": g.unified_memory, "kind": g.kind,
    }  # fmt: skip


# ---------------------------------------------------------------- model, tier and accuracy pages (stubs filled below)


class FitInputError(ValueError):
    def __init__(self, field: str | None, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.suggestions = suggestions or []


CHART_CTX = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576)
UNLIMITED = 1 << 60  # a budget nothing exceeds: memory as if everything fit on the GPU


def _single(spec: Spec, machine: Machine, model_opt: Any, quants: tuple[Any, ...], ctx: int | None = None,
            unlimited: bool = False) -> Any:  # fmt: skip
    """The engine's recommendation for one model (every fitting quant kept as an alternative)."""
    engine = _engine()
    budget = engine.Budget.from_machine(machine)
    if unlimited:
        budget = replace(budget, gpu_bytes=UNLIMITED, ram_bytes=UNLIMITED, n_gpus=max(budget.n_gpus, 1),
                         gpu_kind=budget.gpu_kind if budget.gpu_kind != "cpu" else "cuda", unified=False)  # fmt: skip
    req = engine.Request(
        budget=budget, ctx=ctx or spec.ctx, runtime=spec.runtime, kv_type=spec.kv_type or None,
        parallel=spec.users, include_base_models=True, max_alternatives=len(quants),
    )  # fmt: skip
    rec = engine.recommend(req, [model_opt], quants)
    return rec.ranked[0] if rec.ranked else None


def _picks(mr: Any) -> list[Any]:
    return [] if mr is None else [mr.pick, *mr.alternatives]


def quant_ladder(spec: Spec, machine: Machine, model_opt: Any) -> tuple[list[dict[str, Any]], Any]:
    """Every quant the runtime loads: memory (always), fit and speed on this machine (where it fits)."""
    from advisor.catalog.quants import get_quant, quant_options

    quants = tuple(q for q in quant_options(spec.runtime) if not (q.moe_only and not model_opt.is_moe))
    fitting = _single(spec, machine, model_opt, quants)
    best = fitting.pick.quant.name if fitting else None
    on_machine = {p.quant.name: p for p in _picks(fitting)}
    rows = []
    for p in _picks(_single(spec, machine, model_opt, quants, unlimited=True)):
        here = on_machine.get(p.quant.name)
        q = get_quant(p.quant.name)
        rows.append({
            "quant": p.quant.name, "bpw": p.quant.bits_per_weight, "weights_bytes": p.memory.weights_bytes,
            "total_bytes": (here or p).memory.total_bytes, "fit": _verdict(here.fit.to_dict()) if here else
            {"verdict": "no", "label": "Does not fit"}, "decode_tps": here.speed.decode_tps if here else None,
            "kld": p.quality.kld, "kld_measured": p.quality.kld_measured, "loss": p.quality.loss,
            "delta_ppl": _delta_ppl(q), "score": p.quality.score, "best": p.quant.name == best,
            "needs_imatrix": p.quant.needs_imatrix,
        })  # fmt: skip
    rows.sort(key=lambda r: r["weights_bytes"])
    return rows, fitting


def _delta_ppl(q: Any) -> float | None:
    values = [m.delta_ppl for m in q.measurements]
    return min(values) if values else None


def _series(label: str, points: Sequence[tuple[float, float]], color: str, dashed: bool = False) -> dict[str, Any]:
    return {"label": label, "points": points, "color": color, "dashed": dashed}


def model_charts(spec: Spec, machine: Machine, model_opt: Any, quant: Any, ladder: list[dict[str, Any]]) -> dict:
    """Data for the three charts: memory vs context, decode tok/s vs context, quality vs size."""
    ctxs = [c for c in CHART_CTX if c <= model_opt.shape.context_max] or [model_opt.shape.context_max]
    mem, tps = [], []
    for c in ctxs:
        full = _single(spec, machine, model_opt, (quant,), ctx=c, unlimited=True)
        here = _single(spec, machine, model_opt, (quant,), ctx=c)
        if full is not None:
            mem.append((c, round(full.pick.memory.total_bytes / GB, 3)))
        if here is not None and here.pick.speed.decode_tps:
            tps.append((c, round(here.pick.speed.decode_tps, 2)))
    vram = round(machine.total_vram_bytes / GB, 3)
    both = round((machine.total_vram_bytes + machine.ram_bytes) / GB, 3)
    memory_series = [_series(f"{quant.name}: total memory (GB)", mem, "#0b5cad")]
    if vram:
        memory_series.append(_series("GPU memory", [(ctxs[0], vram), (ctxs[-1], vram)], "#cf222e", True))
    memory_series.append(_series("GPU + system RAM" if vram else "System RAM",
                                 [(ctxs[0], both), (ctxs[-1], both)], "#57606a", True))  # fmt: skip
    fits = [(round(r["weights_bytes"] / GB, 3), round(r["score"], 2)) for r in ladder if r["fit"]["verdict"] != "no"]
    too_big = [(round(r["weights_bytes"] / GB, 3), round(r["score"], 2)) for r in ladder if r["fit"]["verdict"] == "no"]
    return {
        "memory": {"kind": "line", "x": "context (tokens)", "y": "GB", "xlog": True, "series": memory_series},
        "speed": {"kind": "line", "x": "context (tokens)", "y": "decode tok/s", "xlog": True,
                  "series": [_series(f"{quant.name} decode (predicted)", tps, "#1a7f37")]},
        "quality": {"kind": "scatter", "x": "weights (GB)", "y": "quality score after quantization", "xlog": False,
                    "series": [_series("fits", fits, "#1a7f37"), _series("does not fit", too_big, "#cf222e"),
                               _series("Pareto front", pareto(fits + too_big), "#57606a", True)]},
    }  # fmt: skip


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both size (smaller) and quality (higher), by size."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def model_page(model: CatalogModel, params: Any) -> dict[str, Any]:
    """The model detail page: ladder, charts and launch commands for the spec in the URL."""
    from advisor.forms import MachineForm

    form, _, bound = machine_forms(params)
    page: dict[str, Any] = {"model": model, "form": form, "errors": [], "bound": bound}
    if bound and not form.is_valid():
        page["errors"] = _form_errors(form)
        return page
    spec = Spec.from_cleaned(form.cleaned_data) if bound else Spec(**MachineForm.DEFAULTS)
    machine = machine_for(spec)
    model_opt = next((m for m in model_options() if m.id == model.id), None)
    if model_opt is None:
        page["errors"] = [{"field": "model", "label": "Model", "message": "The engine cannot evaluate this model."}]
        return page
    if spec.ctx > model.context_max:
        # The model cannot attend further than its trained context; show its longest instead.
        page["ctx_clamped"] = spec.ctx
        spec = replace(spec, ctx=model.context_max)
    ladder, fitting = quant_ladder(spec, machine, model_opt)
    chosen = _chosen_quant(params.get("quant", ""), ladder, fitting)
    page.update(spec=spec, spec_label=describe(spec), spec_query=spec.query(), machine=machine_summary(machine),
                ladder=ladder, chosen=chosen, fitting=fitting is not None)  # fmt: skip
    if chosen is not None:
        from advisor.catalog.quants import quant_options

        quant = next(q for q in quant_options(spec.runtime) if q.name == chosen["quant"])
        pick = _single(spec, machine, model_opt, (quant,))
        page["pick"] = pick_card(pick.to_dict(), model, machine, measurements_by_model()) if pick else None
        page["charts"] = model_charts(spec, machine, model_opt, quant, ladder)
        page["launch"] = launch_settings(spec, model, pick, chosen["quant"])
        page["report"] = fit_report(spec, model, chosen["quant"], page["launch"]["kv_type"])
        curve = ((page["report"] or {}).get("speed") or {}).get("curve") or []
        if len(curve) > 1:
            # fit's speed engine gives decode at each depth of the context: the finer curve.
            points = [(max(c["ctx"], 1), c["decode_tps"]) for c in curve]
            page["charts"]["speed"]["series"] = [_series(f"{chosen['quant']} decode at depth (fit)", points, "#1a7f37")]
            page["charts"]["speed"]["x"] = "tokens already in the context"
    return page


def fit_report(spec: Spec, model: CatalogModel, quant: str, kv_type: str = "") -> dict[str, Any] | None:
    """``manage.py fit`` for this model on the spec's machine: memory per device, max context, prefill.

    Cached in the shared cache: the same (spec, model, quant) always gives the same report.
    """
    from django.core.cache import cache

    key = "fit:" + hashlib.sha256(f"{spec.query()}|{model.id}|{quant}|{kv_type}".encode()).hexdigest()
    report = cache.get(key)
    if report is None:
        report = _fit_report(spec, model, quant, kv_type) or {}
        cache.set(key, report, timeout=3600)
    return report or None


def _fit_report(spec: Spec, model: CatalogModel, quant: str, kv_type: str) -> dict[str, Any] | None:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update({"model": model.id, "quant": quant, "ctx": str(spec.ctx), "runtime": spec.runtime,
                  "parallel": str(spec.users), "ram": str(spec.ram)})  # fmt: skip
    if kv_type or spec.kv_type:
        query["kv_type"] = kv_type or spec.kv_type
    for name, value in (("vram", spec.vram), ("bandwidth", spec.bandwidth)):
        if value is not None:
            query[name] = str(value)
    if spec.gpu:
        query.setlist("gpu", [spec.gpu] * spec.gpu_count)
    try:
        return fit_json(query)
    except FitInputError:
        return None


def _chosen_quant(name: str, ladder: list[dict[str, Any]], fitting: Any) -> dict[str, Any] | None:
    by_name = {r["quant"].upper(): r for r in ladder}
    if name and name[:32].upper() in by_name:
        return by_name[name[:32].upper()]
    if fitting is not None:
        return by_name.get(fitting.pick.quant.name.upper())
    return ladder[-1] if ladder else None


def launch_settings(spec: Spec, model: CatalogModel, mr: Any, quant: str) -> dict[str, Any]:
    """The numbers the launch commands need: -c, -ngl, -ctk/-ctv, -fa, -np, the GGUF repo."""
    from advisor.catalog.quants import get_quant

    settings_ = _engine().Request(budget=None, ctx=spec.ctx, runtime=spec.runtime, kv_type=spec.kv_type or None)
    pick = mr.pick if mr is not None else None
    ngl = pick.fit.n_gpu_layers if pick else 0
    n_layers = pick.fit.n_layers if pick else model.n_layers
    return {
        "ctx": spec.ctx * spec.users, "parallel": spec.users, "ngl": ngl, "n_layers": n_layers,
        "all_on_gpu": ngl > n_layers, "gpu_fraction": round(min(ngl, n_layers) / n_layers, 2) if n_layers else 0,
        "kv_type": settings_.resolved_kv_type, "flash_attn": settings_.resolved_flash_attn,
        "gguf_repo": model.gguf_repos[0] if model.gguf_repos else "", "hf_repo": model.hf_repo, "quant": quant,
        "quantized_kv": settings_.resolved_kv_type not in ("f16", "bf16", "f32"),
        "bnb_4bit": quant.lower().startswith("bnb-nf4") or quant.lower() == "bnb-fp4",
        "bnb_type": "fp4" if quant.lower() == "bnb-fp4" else "nf4", "bnb_dq": quant.lower().endswith("-dq"),
        "is_gguf": get_quant(quant).format == "gguf",
    }  # fmt: skip


def tier_page(tier_id: str) -> dict[str, Any] | None:
    """A tier's guide: the best models overall and per use case, with probe measurements where any."""
    from advisor.catalog.hardware import get_tier, tier_machine

    try:
        tier = get_tier(tier_id[:100])
    except KeyError:
        return None
    machine = tier_machine(tier)
    spec = tier_spec(tier)
    measured = measurements_by_model()
    catalog = {m.id: m for m in all_models()}

    def cards(use_case: str, limit: int) -> list[dict[str, Any]]:
        rec = run_recommendation(replace(spec, use_case=use_case), machine, limit=limit)
        return [pick_card(r.to_dict(), catalog.get(r.pick.model.id), machine, measured) for r in rec.ranked]

    sections = [
        {"title": title, "use_case": uc, "cards": cards(uc, 3)}
        for uc, title in (("chat", "Chat"), ("coding", "Coding"), ("long-documents", "Long documents"))
    ]
    probed = [c for c in cards("", 200) if c["speed"]["measured"]][:20]
    return {
        "tier": tier, "machine": machine_summary(machine), "spec": spec, "spec_query": spec.query(),
        "top": cards("", 10), "sections": sections, "probed": probed, "tiers": tiers(),
    }  # fmt: skip


# Bench files name their GGUF after the model; these are the catalog records they were made from.
BENCH_MODEL_IDS = {
    "smollm2_135m": "smollm2-135m-instruct", "qwen25_05b": "qwen2.5-0.5b-instruct", "qwen3_06b": "qwen3-0.6b",
}  # fmt: skip
MIB = 1024**2


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


def probe_accuracy_rows() -> list[dict[str, Any]]:
    """Succeeded probes of catalog stand-ins: measured decode next to the recommender's prediction."""
    from advisor.models import ProbeRun

    rows = []
    for run in ProbeRun.objects.filter(status=ProbeRun.Status.SUCCEEDED)[:50]:
        result = run.result or {}
        predicted = run.predicted or predicted_for_run(run) or {}
        kv = sum(b["bytes"] for b in result.get("buffers", ()) if b.get("kind") == "KV") or None
        rows.append(
            {
                "run": run,
                "decode_measured": result.get("decode_tps"),
                "decode_predicted": predicted.get("decode_tps"),
                "prefill_measured": result.get("prefill_tps"),
                "kv_measured": kv,
                "kv_predicted": predicted.get("kv_bytes"),
                "backend": result.get("backend"),
            }
        )
        _with_error(_with_error(rows[-1], "kv"), "decode")  # fmt: skip
    return rows


BENCH_GPU = "NVIDIA H100 80GB HBM3"  # the GPU bench/gpu_bench.py ran on (bench/speed_accuracy.py: h100())


def _bench_fit(model_id: str, preset: str, **flags: Any) -> dict[str, Any] | None:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    # The bench loads files through advisor.probe: llama-cpp-python with swa_full off (probe_child.py).
    query.update({"model": model_id, "quant": preset, "gpu": BENCH_GPU, "runtime": "llama-cpp-python",
                  "swa_full": "off"})  # fmt: skip
    query.update({k: str(v) for k, v in flags.items() if v is not None})
    try:
        return fit_json(query)
    except FitInputError:
        return None


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
            rec["model_id"], rec["preset"], ctx=st.get("n_ctx"), kv_type=st.get("type_k"),
            flash_attn=fa if fa in ("on", "off") else None,
            gpu_layers=None if ngl in (None, -1) else ngl,
        )  # fmt: skip
        row = {"model": rec["model_id"], "preset": rec["preset"], "settings": st,
               "gpu_measured": probe["gpu_after_prefill_bytes"],
               "gpu_predicted": report["memory"]["gpu_bytes"] if report else None}  # fmt: skip
        rows.append(_with_error(row, "gpu"))
    return rows


def gpu_speed_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """bench/data/speed_h100.jsonl: llama-bench pp512 and tg128 (at depth) vs ``fit``'s speed."""
    rows = []
    for rec in records:
        bench = rec.get("bench") or {}
        if rec.get("tool") != "llama-bench" or rec.get("variant") or "avg_ts" not in bench:
            continue
        depth = int(bench.get("n_depth") or 0)
        decode = int(bench.get("n_gen") or 0) > 0
        if not decode and depth:
            continue  # fit predicts prefill from an empty context only
        report = _bench_fit(rec["model_id"], rec["preset"], ctx=max(4096, depth + 1024))
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
    from advisor import fitting
    from advisor.core import memory, speed

    files = [*BENCH_DATA.rglob("*.json*")] if BENCH_DATA.is_dir() else []
    files += [Path(__file__), Path(fitting.__file__), Path(memory.__file__), Path(speed.__file__)]
    stats = sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return hashlib.sha256(repr(stats).encode()).hexdigest()


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
    heldout = heldout_speed_rows(files)
    return {
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


def _fit_suggestions(field: str, params: Any) -> list[str]:
    import difflib

    value = str(params.get(field, ""))[:200]
    if field == "model":
        return difflib.get_close_matches(value, [m.id for m in all_models()], n=5, cutoff=0.5)
    if field == "gpu":
        return [g.name for g in search_gpus(value, 5)] if value else []
    return []


def fit_json(params: Any) -> dict[str, Any]:
    """The JSON of ``manage.py fit --json`` for the same flags (``advisor.fitting.run_fit``).

    The API reads no file on the server: ``hf_config`` is refused and ``gguf`` must be a
    huggingface.co URL (its header is read with HTTP Range requests).
    """
    from advisor import services
    from advisor.fit_args import FitArgError, parse_fit_params
    from advisor.fitting import ALL_QUANTS

    lists = {k: params.getlist(k) for k in params} if hasattr(params, "getlist") else params
    try:
        p = parse_fit_params(lists, quants=ALL_QUANTS)
        if p.hf_config:
            raise FitArgError("hf_config", "the API reads no server files: give model (a catalog id) or gguf (a URL)")
        if p.gguf and not p.gguf.startswith("https://huggingface.co/"):
            raise FitArgError("gguf", "the API accepts only https://huggingface.co/... GGUF URLs")
        return services.fit_report(p, lookup=_shape_of)
    except NotImplementedError as exc:  # an architecture without a tensor inventory yet
        raise FitInputError("model", f"no precise estimate for this architecture yet: {exc}") from exc
    except FitArgError as exc:
        raise FitInputError(exc.field, exc.message, _fit_suggestions(exc.field, params)) from exc


def _shape_of(model_id: str) -> Any:
    model = find_model(model_id)
    if model is None:
        raise KeyError(f"unknown model {model_id!r}")
    return model.to_shape()


def query_cache_key(params: Any) -> str:
    """A cache key for a GET query: its sorted items plus the catalog's version (imports change it)."""
    import hashlib

    from django.db.models import Count, Max

    from advisor.models import CatalogEntry

    version = CatalogEntry.objects.aggregate(n=Count("id"), last=Max("updated_at"))
    items = sorted((k, v) for k in params for v in params.getlist(k))
    raw = repr((items, version["n"], str(version["last"])))
    return hashlib.sha256(raw.encode()).hexdigest()
