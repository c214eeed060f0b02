"""JSON API: the same forms and page builders as the pages, errors as {"error": {"field", "message"}}.

Probes need a logged-in session (with its CSRF token) or ``Authorization: Bearer <token>``,
checked against ``ApiToken.token_hash`` (sha256 of the token).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from advisor import ratelimit, services
from advisor.forms import ProbeForm
from advisor.pages import check as check_pages
from advisor.pages import probes as probe_pages
from advisor.pages import results as result_pages
from advisor.pages.fit_query import FitInputError, fit_answer, gpu_json, query_cache_key
from advisor.pages.spec import gpu_choices
from advisor.probe import spec as probe_spec

MAX_BODY = 10_000  # bytes of a POST /api/probes body


def error(field: str | None, message: str, status: int = 400, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": {"field": field, "message": message, **extra}}, status=status)


def too_many(field: str | None, message: str, wait_s: int) -> JsonResponse:
    response = error(field, message, 429)
    response["Retry-After"] = str(wait_s)
    return response


def form_error(form: forms.Form) -> JsonResponse:
    """The first error of a form, as the API's error shape (with near matches where the form has them)."""
    for field, errors in form.errors.get_json_data().items():
        return error(None if field == "__all__" else field, errors[0]["message"])
    return error(None, "invalid request")


def issue_token(user: User, label: str) -> str:
    """Create an API token for ``user``; returns the secret, which is stored only as its sha256."""
    import secrets

    from advisor.models import ApiToken

    secret = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, token_hash=hashlib.sha256(secret.encode()).hexdigest(), label=label[:100])
    return secret


def bearer_user(request: HttpRequest) -> AbstractBaseUser | None:
    """The user whose API token is in the Authorization header, else None."""
    from advisor.models import ApiToken

    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or len(header) > 300:
        return None
    digest = hashlib.sha256(header.removeprefix("Bearer ").strip().encode()).hexdigest()
    token = ApiToken.objects.select_related("user").filter(token_hash=digest, user__is_active=True).first()
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())  # shown on the tokens page
    return token.user


def _unused(request: HttpRequest) -> HttpResponse:
    """CsrfViewMiddleware wants a view and a get_response; only its check is used here."""
    return HttpResponse(status=204)


def api_user(request: HttpRequest) -> tuple[AbstractBaseUser | None, JsonResponse | None]:
    """(user, None) for a bearer token or a session with a valid CSRF token; else (None, a 401/403)."""
    if "Authorization" in request.headers:
        user = bearer_user(request)
        return (user, None) if user else (None, error(None, "invalid or unknown API token", 401))
    if not request.user.is_authenticated:
        return None, error(None, "log in or send 'Authorization: Bearer <token>'", 401)
    refused = CsrfViewMiddleware(_unused).process_view(request, _unused, (), {})
    if refused is not None:
        return None, error(None, "CSRF token missing or wrong (send X-CSRFToken with a session)", 403)
    return request.user, None


@require_GET
def fit(request: HttpRequest) -> JsonResponse:
    if request.GET.get("gguf") and (
        wait := ratelimit.hit("fit-gguf", ratelimit.client_key(request), settings.IMPORT_RATE_PER_MINUTE)
    ):
        return too_many("gguf", f"too many remote GGUF reads: try again in {wait} s", wait)
    try:
        return JsonResponse(fit_answer(request.GET))
    except FitInputError as exc:
        return error(exc.field, exc.message, suggestions=exc.suggestions)


RECOMMENDATIONS_CACHE_S = 60


@require_GET
def recommendations(request: HttpRequest) -> HttpResponse:
    # The answer depends only on the query, the catalog and the probes and checks that calibrate it
    # (services.inputs_version, read once here for the key and the plans): serve repeats from the shared cache.
    version = services.inputs_version()
    key = "api:rec:" + query_cache_key(request.GET, version)
    if (body := cache.get(key)) is not None:
        return HttpResponse(body, content_type="application/json")
    page = result_pages.results_page(request.GET, require_spec=False, version=version)
    if page.errors:
        first = page.errors[0]
        return error(first.field, first.message, suggestions=list(first.suggestions))
    assert page.spec is not None and page.machine is not None  # bound and valid
    payload = {"machine": page.machine.to_dict(), "spec": asdict(page.spec),
               "results": [c.to_json() for c in page.results]}  # fmt: skip
    body = json.dumps(payload, cls=DjangoJSONEncoder)
    cache.set(key, body, RECOMMENDATIONS_CACHE_S)
    return HttpResponse(body, content_type="application/json")


@require_GET
def gpus(request: HttpRequest) -> JsonResponse:
    query = request.GET.get("q", "")
    if len(query) > 200:
        return error("q", "must be at most 200 characters")
    found = gpu_choices(query)
    return JsonResponse({"results": [gpu_json(g) for g in found]})


@csrf_exempt  # checked in api_user: bearer tokens need none, sessions must send it
@require_http_methods(["GET", "POST"])
def probes(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        host = request.GET.get("host", "")[:200] or None
        return JsonResponse({"results": [probe_pages.probe_view(r) for r in probe_pages.probe_history(host)]})
    user, refused = api_user(request)
    if user is None:
        return refused or error(None, "log in or send 'Authorization: Bearer <token>'", 401)
    data, bad = _body(request)
    if bad is not None:
        return bad
    form = ProbeForm(data)
    if not form.is_valid():
        return form_error(form)
    if wait := ratelimit.hit("probe", f"user:{user.pk}", settings.PROBE_RATE_PER_MINUTE):
        return too_many(None, f"too many probes: try again in {wait} s", wait)
    return _start(form.cleaned_data, user)


def _start(data: dict[str, Any], user: AbstractBaseUser) -> JsonResponse:
    try:
        run, created = services.start_probe(probe_pages.probe_request(data), user=user)
    except services.ProbeRequestError as exc:
        return error("model_id" if data["source"] == "standin" else "source", str(exc))
    except services.WorkerUnavailable as exc:
        return error(None, str(exc), 503)
    response = JsonResponse(probe_pages.probe_view(run), status=201 if created else 200)
    response["Location"] = reverse("api_probe_detail", args=[run.pk])
    return response


def _body(request: HttpRequest) -> tuple[Any, JsonResponse | None]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY + 1
    if length > MAX_BODY:
        return None, error(None, f"request body over {MAX_BODY} bytes", 413)
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return None, error(None, "the body is not valid JSON")
        if not isinstance(data, dict):
            return None, error(None, "the body must be a JSON object")
        return {k: v for k, v in data.items() if isinstance(v, str | int)}, None
    return request.POST if request.POST else QueryDict(), None


@csrf_exempt  # reading a paste changes nothing; storing it (consent) checks the user in api_user
@require_http_methods(["POST"])
def checks(request: HttpRequest) -> JsonResponse:
    """Check my setup: {"text", "consent", "gpu", "model", "cpu"} as JSON, or multipart with a ``file``."""
    if (refused := check_pages.body_too_big(request.META.get("CONTENT_LENGTH"))) is not None:
        return error(refused.field, refused.message, refused.status)
    if wait := ratelimit.hit("check", ratelimit.client_key(request), settings.CHECK_RATE_PER_MINUTE):
        return too_many(None, f"too many checks: try again in {wait} s", wait)
    data, bad = _check_body(request)
    if bad is not None:
        return bad
    sub = check_pages.submit(data, request.FILES)
    if sub.error is not None or sub.result is None:
        refused = sub.error or check_pages.CheckInputError(None, "nothing to check")
        return error(refused.field, refused.message, refused.status)
    result = sub.result
    if sub.consent:
        user, denied = api_user(request)
        if user is None:
            return denied or error(None, "storing a check needs a login or an API token", 401)
        result = check_pages.with_stored(result, services.store_check(result, user))
    return JsonResponse(result.to_dict(), status=201 if result.stored else 200)


def _check_body(request: HttpRequest) -> tuple[Any, JsonResponse | None]:
    """The check's fields: a JSON object of strings and booleans, or the multipart/urlencoded form."""
    try:
        if request.content_type != "application/json":
            return request.POST, None
        data = json.loads(request.body or b"{}")
    except RequestDataTooBig:
        refused = check_pages.too_big_body()
        return None, error(refused.field, refused.message, refused.status)
    except (ValueError, RecursionError):
        return None, error(None, "the body is not valid JSON")
    if not isinstance(data, dict):
        return None, error(None, "the body must be a JSON object")
    for key, value in data.items():
        if key in ("text", "gpu", "model", "cpu") and not isinstance(value, str):
            return None, error(key, f"{key} must be a string")
        if key == "consent" and not isinstance(value, bool):
            return None, error(key, "consent must be true or false")
    return {k: v for k, v in data.items() if k in ("text", "gpu", "model", "cpu", "consent")}, None


@require_GET
def probe_detail(request: HttpRequest, run_id: int) -> JsonResponse:
    from advisor.models import ProbeRun

    services.reap_stale_runs()
    run = ProbeRun.objects.filter(pk=run_id).first()
    if run is None:
        return error("id", f"no probe {run_id}", 404)
    return JsonResponse(probe_pages.probe_view(run))


@require_GET
def schema(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_schema(request.build_absolute_uri("/").rstrip("/")))


# ---------------------------------------------------------------- OpenAPI 3 (hand-written)


def _param(name: str, schema: dict[str, Any], description: str, *, required: bool = False,
           where: str = "query", repeat: bool = False) -> dict[str, Any]:  # fmt: skip
    if repeat:
        schema = {"type": "array", "items": schema, "maxItems": 16}
    out = {"name": name, "in": where, "required": required, "description": description, "schema": schema}
    if repeat:
        out.update(style="form", explode=True)
    return out


def _str(max_length: int = 200, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, **extra}


def _int(lo: int, hi: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi}


def _num(lo: float, hi: float) -> dict[str, Any]:
    return {"type": "number", "minimum": lo, "maximum": hi}


def _machine_params() -> list[dict[str, Any]]:
    from advisor.forms import USE_CASES, kv_type_choices, runtime_choices

    return [
        _param("gpu", _str(), "GPU name as the hardware catalog knows it (RTX 4090, M4 Max 128GB); empty: CPU only"),
        _param("gpu_count", _int(1, 16), "number of such GPUs"),
        _param("vram", _num(0.25, 4096), "VRAM per GPU in GiB, overriding the catalog"),
        _param("bandwidth", _num(1, 50_000), "GPU memory bandwidth in GB/s, overriding the catalog"),
        _param("ram", _num(0.5, 65_536), "system RAM in GiB"),
        _param("cpu", _str(), "CPU name (its RAM bandwidth serves offloaded layers)"),
        _param("ctx", _int(256, 10_000_000), "context length in tokens"),
        _param("kv_type", _str(16, enum=[k for k, _ in kv_type_choices()]), "KV-cache type"),
        _param("runtime", _str(32, enum=[k for k, _ in runtime_choices()]), "runtime"),
        _param("use_case", _str(32, enum=[k for k, _ in USE_CASES if k]), "use case"),
        _param("users", _int(1, 16), "parallel users (sequences sharing the KV cache)"),
        _param(
            "min_tps", _num(0.5, 1000), "decode tok/s a plan needs to be usable (default 10): slower plans rank last"
        ),
        _param("draft", _str(), "model page only (ranking ignores it): drafter, auto/none/a catalog id"),
        _param("carveout", _num(0, 512), "model page only (ranking ignores it): an AMD APU's BIOS carve-out, GiB"),
        _param("gtt", _num(0, 4096), "model page only (ranking ignores it): an AMD APU's GTT limit, GiB"),
        _param("image", _str(8, enum=["1", "0", "on", "off"]), "count the vision projector of multimodal models"),
        _param("family", _str(), "only this model family"),
        _param("size", _str(8, enum=["4", "9", "16", "35", "80", "200"]), "at most this many billion parameters"),
        _param("license", _str(), "only this license"),
        _param("sort", _str(16, enum=["quality", "speed", "size", "context"]), "order of the results"),
        _param("limit", _int(1, 500), "how many models to return (default 25)"),
    ]


def _fit_params() -> list[dict[str, Any]]:
    from advisor.fit import args as fit_args

    return [
        _param("model", _str(), "catalog model id (give model or gguf)"),
        _param("gguf", _str(format="uri"), "https://huggingface.co/... URL of a GGUF file (header read by Range)"),
        _param("quant", _str(32), "quantization (Q4_K_M, Q8_0, bnb-nf4, ...); default: the best that fits"),
        _param("ctx", _int(1, fit_args.MAX_CTX), "context length in tokens"),
        _param("ubatch", _int(1, 65536), "micro-batch size (llama.cpp -ub)"),
        _param("kv_type", _str(16, enum=list(fit_args.KV_TYPES)), "KV-cache type (-ctk/-ctv)"),
        _param("flash_attn", _str(8, enum=list(fit_args.ON_OFF_AUTO)), "flash attention (-fa)"),
        _param("swa_full", _str(8, enum=["on", "off"]), "full-size sliding-window caches (--swa-full)"),
        _param("gpu_layers", _str(8), "layers on the GPU (-ngl): 0-1000 or 'all'"),
        _param("n_cpu_moe", _str(8), "MoE layers whose experts stay in RAM (--n-cpu-moe): a number or 'auto'"),
        _param("parallel", _int(1, 256), "parallel sequences (-np)"),
        _param("runtime", _str(32, enum=list(fit_args.RUNTIMES)), "runtime whose defaults apply"),
        _param("gpu", _str(), "a GPU; repeat for several (gpu=RTX 3090&gpu=RTX 3090)", repeat=True),
        _param("vram", _num(0.25, 4096), "VRAM per GPU in GiB, overriding the catalog"),
        _param("bandwidth", _num(1, 100_000), "GPU bandwidth in GB/s, overriding the catalog"),
        _param("ram", _num(0.25, 65536), "system RAM in GiB"),
        _param("cpu", _str(), "CPU name (its RAM bandwidth serves layers held in system RAM)"),
        _param("image", _str(8, enum=["1", "0", "on", "off"]), "count the vision projector (answer's mmproj)"),
        _param("mmproj_offload", _str(8, enum=["on", "off"]), "off: --no-mmproj-offload, the projector in RAM"),
        _param("users", _int(1, 256), "serve a team: a llama-server plan (answer's team) for N users with ctx each"),
        _param("kv_unified", _str(8, enum=["on", "off"]), "team plan: one KV pool all slots share (--kv-unified)"),
        _param("draft", _str(), "speculative decoding (answer's draft): auto (default), none or a catalog model id"),
        _param("carveout", _num(0, 512), "AMD APU: BIOS carve-out (UMA frame buffer) in GiB (answer's apu)"),
        _param("gtt", _num(0, 4096), "AMD APU: GTT limit in GiB; default the kernel's, half the RAM the OS sees"),
    ]


def _probe_body() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["source", "ctx"],
        "properties": {
            "source": {"type": "string", "enum": ["smollm2", "standin"]},
            "model_id": _str(description="catalog model id (standin only)"),
            "quant": _str(32, description="llama-quantize preset (standin only)"),
            "ctx": _int(probe_spec.PROBE_MIN_CTX, probe_spec.PROBE_MAX_CTX),
            "gpu_layers": _int(-1, probe_spec.PROBE_MAX_GPU_LAYERS),
        },
    }


def _check_body_schema() -> dict[str, Any]:
    from advisor.pages.check import MAX_PASTE_BYTES

    text = "llama.cpp console output (buffer lines need -lv 4), llama-bench -o md/json, or ollama ps"
    return {
        "type": "object",
        "properties": {
            "text": _str(MAX_PASTE_BYTES, description=text),
            "consent": {"type": "boolean", "default": False,
                        "description": "store the measurements to calibrate the device (needs a token or session)"},
            "gpu": _str(description="the GPU, when the paste names none"),
            "model": _str(description="catalog model id, when the file name does not say"),
            "cpu": _str(description="the CPU, for layers held in system RAM"),
        },
    }  # fmt: skip


def _check_multipart() -> dict[str, Any]:
    body = _check_body_schema()
    file = {"type": "string", "format": "binary", "description": "the log file (instead of text)"}
    return {**body, "properties": {**body["properties"], "file": file}}


ERROR = {
    "description": "bad input",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


UNITS = (
    "Units: memory parameters (vram, ram) are in GiB (2^30 bytes), the GB that memory is sold in (a 16 GB card "
    "holds 16 GiB), as on the web pages; every *_bytes field of an answer is in bytes; bandwidth is in GB/s "
    "(10^9 bytes per second); context lengths in tokens."
)


def openapi_schema(server: str) -> dict[str, Any]:
    probe_id = _param("id", {"type": "integer", "minimum": 1}, "probe run id", required=True, where="path")
    return {
        "openapi": "3.0.3",
        "info": {"title": "LLM Fit Advisor API", "version": "1", "description": UNITS},
        "servers": [{"url": server}],
        "paths": {
            "/api/fit": {"get": {
                "summary": "Memory, fit and speed of one model on one machine (as manage.py fit --json), with "
                           "team (users), draft (speculative decoding), runtime_defaults and apu (carveout) sections",
                "parameters": _fit_params(), "responses": {"200": _json("the fit"), "400": ERROR},
            }},
            "/api/recommendations": {"get": {
                "summary": "Ranked models and quants that fit a machine",
                "parameters": _machine_params(),
                "responses": {"200": _json("{results: [...]}, best first"), "400": ERROR},
            }},
            "/api/gpus": {"get": {
                "summary": "Search the hardware catalog (GPUs, Apple chips)",
                "parameters": [_param("q", _str(), "name or part of it", required=True)],
                "responses": {"200": _json("{results: [...]}"), "400": ERROR},
            }},
            "/api/probes": {
                "get": {
                    "summary": "Recent probe runs",
                    "parameters": [_param("host", _str(), "only this host")],
                    "responses": {"200": _json("{results: [...]}")},
                },
                "post": {
                    "summary": "Start a live llama.cpp probe (deduplicated: an identical active run is returned)",
                    "security": [{"bearer": []}, {"session": []}],
                    "requestBody": {"content": {"application/json": {"schema": _probe_body()},
                                                "application/x-www-form-urlencoded": {"schema": _probe_body()}}},
                    "responses": {
                        "201": _json("the new run"), "200": _json("the identical active run"), "400": ERROR,
                        "401": ERROR, "403": ERROR, "429": ERROR, "503": _json("no worker can take it; nothing queued"),
                    },
                },
            },
            "/api/checks": {"post": {
                "summary": "Check my setup: a pasted llama.cpp log, llama-bench result or ollama ps beside the "
                           "prediction, buffer by buffer (memory.rows) and tok/s by tok/s (speed.rows), with findings "
                           "that explain the differences; at most 4 MiB of text",
                "requestBody": {"content": {"application/json": {"schema": _check_body_schema()},
                                            "multipart/form-data": {"schema": _check_multipart()}}},
                "responses": {
                    "200": _json("the check"), "201": _json("the check, stored (consent)"), "400": ERROR,
                    "401": ERROR, "403": ERROR, "413": ERROR, "429": ERROR,
                },
            }},
            "/api/probes/{id}": {"get": {
                "summary": "One probe run: status, stage, percent of the whole run, queue_ahead, result",
                "parameters": [probe_id], "responses": {"200": _json("the run"), "404": ERROR},
            }},
            "/api/schema": {"get": {
                "summary": "This document", "parameters": [], "responses": {"200": _json("OpenAPI 3")},
            }},
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an ApiToken (sha256 stored)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "field": {"type": "string", "nullable": True}, "message": {"type": "string"},
                "suggestions": {"type": "array", "items": {"type": "string"}},
            }}}}},
        },
    }  # fmt: skip
