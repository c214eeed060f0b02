"""``/check/``, ``POST /api/checks`` and ``manage.py check_setup``: a pasted log, llama-bench result or
``ollama ps`` set beside the engine's prediction, buffer by buffer and tok/s by tok/s.

The parse and the rules are ``advisor.core.setup_check``'s; this builder finds the catalog model and the
device the paste names, asks the plan engine for the speed at the run's own settings, and shapes one
``CheckResult`` for the page, the API and the CLI. Storing a check (with consent) is
``services.store_check``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from advisor import services
from advisor.catalog import hardware as hw
from advisor.core import setup_check as sc
from advisor.core.loadlog import MAX_CHARS, Paste, parse_paste
from advisor.core.loadlog_fit import BufferDiff
from advisor.core.plan import Plan, SpeedEstimate
from advisor.core.quantize import PRESETS
from advisor.core.units import MIB
from advisor.fit.args import KV_TYPES, MAX_CTX, FitArgError, FitParams
from advisor.forms import CheckForm
from advisor.pages.units import memory as mem_text

MAX_PASTE_BYTES = MAX_CHARS  # what the parser reads; a bigger paste or file is refused with 413
# the paste plus the other fields, multipart framing and JSON escapes (settings.DATA_UPLOAD_MAX_MEMORY_SIZE is above)
MAX_BODY_BYTES = MAX_PASTE_BYTES * 5 // 4
MAX_NAME = 200
CHECK_EXAMPLE = "llama-server -m model.gguf -c 8192 -ngl 99 -lv 4 2>&1 | tee load.log"


class CheckInputError(ValueError):
    """Input the check refuses: ``status`` 413 (too big) or 400, ``field`` the form field."""

    def __init__(self, field: str | None, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def paste_text(text: str | None, upload: bytes | None) -> str:
    """The paste as text: the uploaded file when there is one, else the text field. Refuses what is
    over ``MAX_PASTE_BYTES`` (413), binary (NUL bytes or not UTF-8) and empty input (400)."""
    if upload is not None:
        if len(upload) > MAX_PASTE_BYTES:
            raise _too_big("file", len(upload))
        if b"\x00" in upload:
            raise CheckInputError("file", "the file is binary (it holds NUL bytes): upload the text log")
        decoded = upload.decode("utf-8", errors="replace")
        if decoded.count("\ufffd") > max(16, len(decoded) // 100):
            raise CheckInputError("file", "the file is not UTF-8 text: upload the log as llama.cpp wrote it")
        text = decoded
    text = text or ""
    if len(text) > MAX_PASTE_BYTES:
        raise _too_big("text", len(text.encode("utf-8", errors="replace")))
    if "\x00" in text:
        raise CheckInputError("text", "the paste holds NUL bytes: paste the text log")
    if not text.strip():
        raise CheckInputError("text", "paste a llama.cpp log, a llama-bench result or `ollama ps`, or upload a file")
    return text


def _too_big(where: str, n: int) -> CheckInputError:
    return CheckInputError(
        where,
        f"the {'file' if where == 'file' else 'paste'} is {n / MIB:.1f} MB; the check reads at most "
        f"{MAX_PASTE_BYTES // MIB} MB: keep the part from the model load to the timing lines",
        413,
    )


@dataclass(frozen=True)
class SpeedRow:
    test: str  # "decode" | "prefill", or llama-bench's pp512 / tg128 @ dN
    tokens: int | None
    depth: int
    measured: float
    predicted: float | None
    band: tuple[float, float] | None = None

    @property
    def ratio(self) -> float | None:
        return self.measured / self.predicted if self.predicted else None

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.test, "tokens": self.tokens, "depth": self.depth, "measured_tps": self.measured,
                "predicted_tps": self.predicted, "ratio": None if self.ratio is None else round(self.ratio, 3),
                "predicted_range": list(self.band) if self.band else None}  # fmt: skip


@dataclass(frozen=True)
class CheckResult:
    kind: str
    settings: sc.RunSettings
    memory: sc.MemoryCheck
    measured: sc.Measured
    speed_rows: tuple[SpeedRow, ...]
    findings: tuple[sc.Finding, ...]
    model_id: str | None = None
    device: str | None = None
    plan: Plan | None = None
    notes: tuple[str, ...] = ()
    ollama: tuple[dict[str, Any], ...] = ()
    stored: dict[str, Any] | None = field(default=None)
    lmstudio: sc.LMStudioEstimate | None = None

    @property
    def calibrates(self) -> bool:
        """Whether this run may calibrate its device: a catalog model at a preset, every layer on one named
        GPU (the calibration's prediction puts them there), and a measured decode rate."""
        s = self.settings
        return bool(
            self.device and self.model_id and s.quant in PRESETS and self.measured.best("decode")
            and s.all_layers_on_gpu and not s.n_cpu_moe and len(s.gpus) <= 1
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        p = self.plan
        return {
            "kind": self.kind,
            "notes": list(self.notes),
            "settings": asdict(self.settings),
            "model_id": self.model_id,
            "device": self.device,
            "memory": {"rows": [_buffer_row(r) for r in self.memory.rows], "error": self.memory.error or None},
            "speed": {
                "rows": [r.to_dict() for r in self.speed_rows],
                "runs": [{"test": t, "tokens": n, "tps": v, "depth": d} for t, n, v, d in self.measured.runs],
                "basis": p.speed.basis if p else None,
            },
            "plan": None if p is None else _plan_json(p),
            "ollama": list(self.ollama),
            "lmstudio": asdict(self.lmstudio) if self.lmstudio else None,
            "findings": [{"key": f.key, "text": f.text} for f in self.findings],
            "calibrates": self.calibrates,
            "stored": self.stored,
        }


def _buffer_row(r: BufferDiff) -> dict[str, Any]:
    return {"device": r.device, "kind": r.kind, "logged_bytes": r.logged, "predicted_bytes": r.predicted,
            "error_bytes": r.error, "rel": round(r.rel, 4)}  # fmt: skip


def _plan_json(p: Plan) -> dict[str, Any]:
    return {"placement": p.placement, "n_gpu_layers": p.n_gpu_layers,
            "devices": [d.to_dict() for d in p.memory.devices]}  # fmt: skip


# words that start a quant in a file name: "llama-3.1-8b-instruct-q4-k-m" keeps "llama-3.1-8b-instruct"
_QUANT_WORDS = ("q2", "q3", "q4", "q5", "q6", "q8", "iq1", "iq2", "iq3", "iq4", "mxfp4", "f16", "bf16", "f32")


def _norm(name: str) -> str:
    s = name.strip().lower().replace(" ", "-").replace("_", "-").removesuffix(".gguf").removesuffix("-gguf")
    words = s.split("-")
    for i, w in enumerate(words):
        if w.upper() in PRESETS or w in _QUANT_WORDS:
            words = words[:i]
            break
    return "-".join(words).removeprefix("meta-")


def catalog_match(settings: sc.RunSettings) -> str | None:
    """The catalog model the paste names: its file name or ``general.name``, normalised, equal to a catalog
    id or to the name part of its Hugging Face repo. Near misses are not guessed (qwen3-4b is not 14b)."""
    from advisor.pages.catalog import all_models

    wanted = {n for n in (_norm(settings.model_file), _norm(settings.model)) if n}
    if not wanted:
        return None
    for m in all_models():
        names = {m.id, _norm(m.hf_repo.rsplit("/", 1)[-1]), m.id.removesuffix("-instruct")}
        if wanted & names:
            return m.id
    return None


def _device_name(raw: str) -> str:
    """'AMD Radeon RX 7900 XTX (RADV NAVI31) (radv)' -> 'AMD Radeon RX 7900 XTX'."""
    return raw.split("(")[0].strip()[:MAX_NAME]


def resolve_device(settings: sc.RunSettings, gpu: str) -> tuple[str | None, str]:
    """(the hardware catalog's name for the GPU, or None; a note when it does not resolve)."""
    wanted = gpu.strip() or (settings.gpus[0] if settings.gpus else "")
    if not wanted:
        return None, "" if settings.source == "ollama-ps" else "name the GPU to compare speeds (the paste names none)"
    try:
        return hw.find_gpu(_device_name(wanted)).name, ""
    except hw.UnknownHardware as exc:
        return None, f"{exc}: no speed prediction"


def _plan(settings: sc.RunSettings, model_id: str | None, paste: Paste, device: str, cpu: str | None) -> Plan:
    s = settings
    total = s.n_layers_total
    all_layers = s.n_gpu_layers is None or s.n_gpu_layers < 0 or (total is not None and s.n_gpu_layers >= total)
    params = FitParams(
        model=model_id or "the pasted model",
        quant=s.quant,
        ctx=min(max(s.n_ctx or 4096, 1), MAX_CTX),
        ubatch=s.n_ubatch or 512,
        kv_type=s.type_k if s.type_k in KV_TYPES else None,
        flash_attn=None if s.flash_attn is None else ("on" if s.flash_attn else "off"),
        gpu_layers=None if all_layers else s.n_gpu_layers,
        n_cpu_moe=(s.n_cpu_moe if s.n_cpu_moe != -1 else 1000) if s.n_cpu_moe is not None else 0,
        parallel=min(max(s.n_parallel or 1, 1), 256),
        gpus=(device,),
        cpu=cpu,
    )
    if model_id:
        return services.plan_for(params)
    from advisor.core.loadlog_fit import shape_from_log
    from advisor.fit.engine import make_plan

    if paste.load is None:
        raise FitArgError("model", "name the model: the paste does not say which catalog model ran")
    shape = shape_from_log(paste.load)  # the log's own GGUF metadata
    calibration, _ = services.speed_calibration(params)
    return make_plan(params, lambda _id: shape, calibration=calibration)


def _band(low: float | None, high: float | None) -> tuple[float, float] | None:
    return (low, high) if low is not None and high is not None else None


def _speed_rows(measured: sc.Measured, plan: Plan | None, kind: str) -> tuple[SpeedRow, ...]:
    """Measured beside predicted: llama-bench's rows one by one, a log's best decode and prefill."""
    sp = plan.speed if plan else None
    rows: list[SpeedRow] = []
    for test, n, tps, depth in measured.runs if kind == "llama-bench" else ():
        label = f"{'tg' if test == 'decode' else 'pp'}{n}" + (f" @ d{depth}" if depth else "")
        rows.append(_row(label, test, n, depth, tps, sp))
    for test in ("decode", "prefill") if kind != "llama-bench" else ():
        best, count = measured.best(test), measured.tokens(test)
        if best is not None:
            # eval runs after the prompt: its mean depth is the prompt plus half the generated tokens
            depth = (measured.tokens("prefill") or 0) + (count or 0) // 2 if test == "decode" else 0
            rows.append(_row(test, test, count, depth, best, sp))
    return tuple(rows)


def _row(label: str, test: str, n: int | None, depth: int, tps: float, sp: SpeedEstimate | None) -> SpeedRow:
    if sp is None:
        return SpeedRow(label, n, depth, tps, None)
    if test == "decode":
        pred, band = sp.decode_at(depth), _band(sp.decode_low, sp.decode_high)
    else:
        pred, band = sp.prefill_tps, _band(sp.prefill_low, sp.prefill_high)
    return SpeedRow(label, n, depth, tps, round(pred, 2) if pred else None, band)


def check(text: str, gpu: str = "", model: str = "", cpu: str = "") -> CheckResult:
    """Parse ``text`` (already bounded by ``paste_text``) and set it beside the engine."""
    paste = parse_paste(text)
    lmstudio = sc.lmstudio_estimate(text) if paste.kind == "empty" else None
    if paste.kind == "empty" and lmstudio is None:
        # the parser's own "no llama.cpp load log ... found" would only repeat the message
        notes = [n for n in paste.notes if not n.startswith("no llama.cpp load log")]
        why = f" ({'; '.join(notes)})" if notes else ""
        raise CheckInputError(
            "text", f"found no llama.cpp log, llama-bench result, `ollama ps` table or LM Studio load estimate{why}"
        )
    settings = sc.settings_from_lmstudio(lmstudio) if lmstudio else sc.settings_from_paste(paste, text)
    notes = [n for n in paste.notes if not (lmstudio and n.startswith("no llama.cpp load log"))]
    model_id = model.strip()[:MAX_NAME] or catalog_match(settings)
    device, device_note = resolve_device(settings, gpu)
    if device_note:
        notes.append(device_note)
    plan: Plan | None = None
    if device and settings.source != "ollama-ps":
        try:
            plan = _plan(settings, model_id, paste, device, cpu.strip()[:MAX_NAME] or None)
        except (FitArgError, ValueError, KeyError, NotImplementedError) as exc:
            notes.append(f"no speed prediction: {getattr(exc, 'message', None) or exc}")
    if plan is not None and settings.n_layers_total is None:
        settings = replace(settings, n_layers_total=plan.n_layers + 1)
    memory = sc.memory_check(paste.load)
    measured = sc.measured_speeds(paste)
    rows = _speed_rows(measured, plan, paste.kind)
    decode = next((r.predicted for r in rows if r.test in ("decode",) or r.test.startswith("tg")), None)
    prefill = next((r.predicted for r in rows if r.test == "prefill" or r.test.startswith("pp")), None)
    # the rules see the GPU the user named when the paste names none (-ngl 0 with a GPU, -fa off on a GPU)
    seen = replace(settings, gpus=settings.gpus or ((device,) if device else ()))
    findings = sc.explain(seen, memory, measured, decode, prefill)
    ollama = tuple({"name": r.name, "size_bytes": r.size_bytes, "gpu_percent": r.gpu_percent, "context": r.context}
                   for r in paste.ollama)  # fmt: skip
    if lmstudio is not None:
        findings += (_lmstudio_finding(lmstudio, plan),)
    kind = "lm-studio" if lmstudio else paste.kind
    return CheckResult(kind, settings, memory, measured, rows, findings, model_id, device, plan,
                       tuple(notes), ollama, lmstudio=lmstudio)  # fmt: skip


def _lmstudio_finding(est: sc.LMStudioEstimate, plan: Plan | None) -> sc.Finding:
    said = f"LM Studio estimated model {est.model}, context {est.context}, total {est.total} at {est.n_ctx} tokens"
    if plan is None:
        return sc.Finding("lm-studio", f"{said}. Name the model and the GPU to set the plan beside it.")
    gpu = sum(d.total_bytes for d in plan.memory.devices if d.name != "host")
    weights = sum(d.weights_bytes for d in plan.memory.devices)
    kv = sum(d.kv_cache_bytes for d in plan.memory.devices)
    text = (
        f"{said}; the plan for {plan.model} {plan.quant} predicts weights {mem_text(weights)}, KV cache "
        f"{mem_text(kv)} and {mem_text(gpu)} on the GPU with its compute buffer and the runtime's overhead."
    )
    return sc.Finding("lm-studio", text)


@dataclass(frozen=True)
class Submission:
    """A submitted check: the form, and either its result or the error to answer with."""

    form: CheckForm
    result: CheckResult | None = None
    error: CheckInputError | None = None

    @property
    def consent(self) -> bool:
        return bool(self.form.is_valid() and self.form.cleaned_data.get("consent"))


def body_too_big(content_length: str | None) -> CheckInputError | None:
    """413 for a request body over ``MAX_BODY_BYTES``, decided from its Content-Length before it is read."""
    length = _int_or_none(content_length)
    return _too_big("text", length) if length is not None and length > MAX_BODY_BYTES else None


def too_big_body() -> CheckInputError:
    """A body without a Content-Length that grew past Django's limit while it was read."""
    return CheckInputError("text", f"the request body is over {MAX_BODY_BYTES // MIB} MB", 413)


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


def submit(data: Mapping[str, Any], files: Mapping[str, Any] | None = None) -> Submission:
    """Read and check a submission (the form's POST, or the API's JSON or multipart body)."""
    form = CheckForm(data, files)  # type: ignore[arg-type]  # a QueryDict/MultiValueDict, or the API's dict
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        return Submission(form, error=CheckInputError(None if field == "__all__" else field, str(errors[0])))
    upload = form.cleaned_data.get("file")
    try:
        raw = upload.read(MAX_PASTE_BYTES + 1) if upload is not None else None
        text = paste_text(form.cleaned_data.get("text"), raw)
        c = form.cleaned_data
        return Submission(form, result=check(text, c.get("gpu") or "", c.get("model") or "", c.get("cpu") or ""))
    except CheckInputError as exc:
        return Submission(form, error=exc)


def with_stored(result: CheckResult, row: Any) -> CheckResult:
    return replace(result, stored={"id": row.pk, "device": row.device, "calibrates": row.calibrates})


def check_context(form: CheckForm, result: CheckResult | None = None, **extra: Any) -> dict[str, Any]:
    """The ``/check/`` template's context."""
    return {"form": form, "result": result, "example": CHECK_EXAMPLE, "max_mb": MAX_PASTE_BYTES // MIB, **extra}
