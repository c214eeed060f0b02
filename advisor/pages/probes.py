"""The probes pages: history, one run's progress, and its predicted-vs-measured comparison."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from advisor import probe, services
from advisor.catalog.models_catalog import load_models
from advisor.core.plan import Plan
from advisor.fit.args import FitArgError, FitParams
from advisor.forms import ProbeForm
from advisor.models import ProbeRun, WorkerHeartbeat

# What source="smollm2" loads (advisor/probe.py): this catalog model at Q4_1.
SMOLLM2_PROBE = (services.SMOLLM2_CATALOG_ID, "Q4_1")


def probe_history(host: str | None = None, limit: int = 50) -> list[ProbeRun]:
    runs = ProbeRun.objects.select_related("requested_by")
    if host:
        runs = runs.filter(host_id=host)
    return list(runs[:limit])


# What each stage is doing, in words (the probe page names the current one beside its single bar).
STAGE_LABELS = {
    "queued": "waiting for the worker", "preparing": "preparing the model file", "loading": "loading the model",
    "warmup": "warming up", "prefill": "prefill: reading the prompt", "decode": "decode: generating tokens",
    "done": "done",
}  # fmt: skip


def queue_ahead(run: ProbeRun) -> int | None:
    """How many probes go before a waiting run on its host's queue (the running one included); None unless
    it waits. The worker takes one probe at a time, in the order they were queued."""
    if run.status != ProbeRun.Status.QUEUED:
        return None
    return ProbeRun.objects.filter(host_id=run.host_id, status__in=ProbeRun.ACTIVE, pk__lt=run.pk).count()


def probe_view(run: ProbeRun) -> dict[str, Any]:
    """A probe run as the API returns it (``percent`` is of the whole run, ``stage`` the one under way)."""
    return {
        "id": run.pk, "host": run.host_id, "status": run.status, "stage": run.stage, "percent": run.percent,
        "cancel_requested": run.cancel_requested, "queue_ahead": queue_ahead(run),
        "source": run.source, "model_id": run.model_id, "quant": run.quant, "ctx": run.ctx,
        "gpu_layers": run.gpu_layers, "result": run.result, "error": run.error,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }  # fmt: skip


def probe_request(data: dict[str, Any]) -> services.ProbeRequest:
    source = data["source"]
    return services.ProbeRequest(
        source=source,
        model_id=data.get("model_id", "") if source == "standin" else "",
        quant=(data.get("quant") or "Q4_K_M").upper() if source == "standin" else "",
        ctx=data["ctx"],
        gpu_layers=data.get("gpu_layers", -1),
    )


def probes_page(host: str | None, form: ProbeForm, unavailable: str = "") -> dict[str, Any]:
    this_host = services.host_id()
    host = (host or "")[:200] or None
    hosts = list(ProbeRun.objects.order_by().values_list("host_id", flat=True).distinct())
    return {
        "form": form, "runs": probe_history(host), "hosts": hosts, "host": host, "this_host": this_host,
        "workers": list(WorkerHeartbeat.objects.order_by("host_id")), "worker_live": services.live_worker(this_host),
        "unavailable": unavailable, "model_ids": [m.id for m in load_models()], "quants": probe.QUANT_PRESETS,
    }  # fmt: skip


def relative_error(predicted: float | None, measured: float | None) -> float | None:
    if not predicted or not measured or math.isnan(predicted) or math.isnan(measured):
        return None
    return (predicted - measured) / measured


def plan_for_run(run: ProbeRun) -> Plan | None:
    """The plan for a finished probe's model, quant and context on its device; None where it cannot say
    (a GGUF path, an architecture without a tensor inventory)."""
    if run.source == "smollm2":
        model_id, quant = SMOLLM2_PROBE
    elif run.source == "standin":
        model_id, quant = run.model_id, run.quant
    else:
        return None
    result = run.result or {}
    on_gpu = bool(result.get("gpu_name")) and result.get("backend") != "CPU"
    fa = {"enabled": "on", "disabled": "off"}.get(str(result.get("flash_attn")))
    params = FitParams(
        model=model_id, quant=quant, ctx=run.ctx, runtime="llama-cpp-python", flash_attn=fa,
        swa_full=False,  # advisor/probe/child.py keeps llama-server's swa_full=false
        kv_type=str(result.get("type_k") or "f16"),
        gpus=(str(result["gpu_name"]),) if on_gpu else (),
        gpu_layers=run.gpu_layers if on_gpu and run.gpu_layers >= 0 else None,
    )  # fmt: skip
    try:
        return services.plan_for(params)
    except FitArgError:
        return None


@dataclass(frozen=True)
class ComparisonRow:
    label: str
    unit: str
    measured: float | None
    predicted: float | None

    @property
    def error(self) -> float | None:
        return relative_error(self.predicted, self.measured)

    @property
    def error_pct(self) -> float | None:
        err = self.error
        return None if err is None else err * 100


def _measured_bytes(result: dict[str, Any], kind: str) -> int | None:
    return sum(b["bytes"] for b in result.get("buffers", ()) if b.get("kind") == kind) or None


def probe_comparison(run: ProbeRun) -> list[ComparisonRow]:
    """Predicted vs measured rows for a finished run (the plan for its model on its device)."""
    result = run.result or {}
    plan = plan_for_run(run)
    on_cpu = result.get("backend") == "CPU"  # the plan assumes a typical CPU, not this host's
    predicted: dict[str, float | None] = {}
    if plan is not None:
        predicted = {
            "decode_tps": None if on_cpu else plan.speed.decode_tps,
            "prefill_tps": None if on_cpu else plan.speed.prefill_tps,
            "model_bytes": plan.memory.weights_bytes, "kv_bytes": plan.memory.kv_cache_bytes,
            "compute_bytes": plan.memory.compute_bytes,
        }  # fmt: skip
    rows = []
    for key, label, unit, kind in (
        ("decode_tps", "Decode", "tok/s", ""), ("prefill_tps", "Prefill", "tok/s", ""),
        ("model_bytes", "Model buffers", "bytes", "model"), ("kv_bytes", "KV cache", "bytes", "KV"),
        ("compute_bytes", "Compute buffers", "bytes", "compute"),
    ):  # fmt: skip
        measured = result.get(key)
        if measured is None and kind:
            measured = _measured_bytes(result, kind)
        if measured is None and predicted.get(key) is None:
            continue
        rows.append(ComparisonRow(label, unit, measured, predicted.get(key)))
    return rows


def probe_page(run: ProbeRun) -> dict[str, Any]:
    return {
        "run": run, "comparison": probe_comparison(run) if run.result else [], "ahead": queue_ahead(run),
        "stage_label": STAGE_LABELS.get(run.stage, run.stage), "cancelling": run.is_active and run.cancel_requested,
    }  # fmt: skip


@dataclass(frozen=True)
class ProbeAccuracyRow:
    run: ProbeRun
    backend: str | None
    decode: ComparisonRow
    kv: ComparisonRow


def probe_accuracy_rows() -> list[ProbeAccuracyRow]:
    """Succeeded probes of catalog stand-ins: measured decode and KV next to the plan's prediction."""
    rows = []
    for run in ProbeRun.objects.filter(status=ProbeRun.Status.SUCCEEDED)[:50]:
        result = run.result or {}
        found = {r.label: r for r in probe_comparison(run)}
        empty = ComparisonRow("", "", None, None)
        rows.append(ProbeAccuracyRow(run, result.get("backend"), found.get("Decode", empty),
                                     found.get("KV cache", empty)))  # fmt: skip
    return rows
