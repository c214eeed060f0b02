"""Function-based views: forms in, page builders and services through, templates out. No arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from advisor import api, imports, ratelimit, services
from advisor.forms import CheckForm, ImportForm, ProbeForm
from advisor.pages import accuracy as accuracy_pages
from advisor.pages import check as check_pages
from advisor.pages import model as model_pages
from advisor.pages import probes as probe_pages
from advisor.pages import results as result_pages
from advisor.pages import spec as spec_pages
from advisor.pages import tiers as tier_pages
from advisor.pages.catalog import find_model


class HtmxHttpRequest(HttpRequest):
    """What django_htmx's middleware makes of a request (for type checking)."""

    htmx: HtmxDetails


HTMX_STOP_POLLING = 286  # htmx stops an hx-trigger="every 1s" poll on this status
LOGIN_ATTEMPTS_PER_MINUTE = 10  # per client: slows password guessing, not a person who mistypes


def login_required_for_post(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anyone may look; only a logged-in user may change something (start a probe, import a model)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def not_found(request: HttpRequest, message: str) -> HttpResponse:
    """The app's 404 page, rendered here rather than raised: with DEBUG on, a raised Http404 shows
    Django's technical page (the URL list) instead."""
    return render(request, "404.html", {"message": message}, status=404)


def _partial(request: HtmxHttpRequest, template: str, name: str) -> str:
    return f"{template}#{name}" if request.htmx else template


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    page = result_pages.results_page(request.GET)
    status = 400 if page.errors else 200
    return render(request, _partial(request, "home.html", "results"), page.context(), status=status)


@require_GET
def detect(request: HttpRequest) -> HttpResponse:
    """The form filled with this server's hardware; the workload fields of the current spec are kept."""
    hardware = ("gpu", "gpu_count", "vram", "bandwidth", "ram", "cpu")
    kept = {k: v[:200] for k, v in request.GET.items() if k not in hardware}
    return redirect(f"{reverse('home')}?{urlencode({**kept, **spec_pages.spec_from_host()})}")


@require_GET
def gpu_search(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("gpu", request.GET.get("q", ""))[:200]
    context = {"query": query, "gpus": spec_pages.gpu_choices(query) if request.htmx else spec_pages.gpu_list(query)}
    return render(request, _partial(request, "gpus.html", "options"), context)


@require_GET
def cpu_search(request: HtmxHttpRequest) -> HttpResponse:
    """The CPU field's suggestions (a <datalist>'s options)."""
    cpus = spec_pages.cpu_choices(request.GET.get("cpu", "")[:200])
    return render(request, "gpus.html#cpu_options", {"cpus": cpus})


@require_GET
def model_detail(request: HttpRequest, model_id: str) -> HttpResponse:
    model = find_model(model_id[:200])
    if model is None:
        return not_found(request, f"The catalog has no model “{model_id[:200]}”.")
    page = model_pages.model_page(model, request.GET)
    return render(request, "model_detail.html", page.context(), status=400 if page.errors else 200)


@require_GET
def tier_list(request: HttpRequest) -> HttpResponse:
    return render(request, "tiers.html", {"tiers": tier_pages.tiers()})


@require_GET
def tier_detail(request: HttpRequest, tier_id: str) -> HttpResponse:
    page = tier_pages.tier_page(tier_id)
    if page is None:
        return not_found(request, f"There is no typical machine “{tier_id}”.")
    return render(request, "tier_detail.html", page.context())


@require_http_methods(["GET", "POST"])
@login_required_for_post
def probe_list(request: HttpRequest) -> HttpResponse:
    form = ProbeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if wait := ratelimit.hit("probe", ratelimit.client_key(request), settings.PROBE_RATE_PER_MINUTE):
            form.add_error(None, f"Too many probes: try again in {wait} s.")
            return render(request, "probes.html", probe_pages.probes_page(None, form), status=429)
        try:
            run, _ = services.start_probe(probe_pages.probe_request(form.cleaned_data), user=request.user)
        except services.ProbeRequestError as exc:
            form.add_error(None, str(exc))
        except services.WorkerUnavailable as exc:
            context = probe_pages.probes_page(request.GET.get("host"), form, unavailable=str(exc))
            return render(request, "probes.html", context, status=503)
        else:
            return redirect("probe_detail", run_id=run.pk)
    status = 400 if form.errors else 200
    return render(request, "probes.html", probe_pages.probes_page(request.GET.get("host"), form), status=status)


@require_GET
def probe_detail(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    from advisor.models import ProbeRun

    services.reap_stale_runs()
    run = ProbeRun.objects.filter(pk=run_id).first()
    if run is None:
        return not_found(request, f"There is no probe #{run_id}.")
    context = probe_pages.probe_page(run)
    finished = request.htmx and not run.is_active
    response = render(request, _partial(request, "probe_detail.html", "progress"), context)
    response.status_code = HTMX_STOP_POLLING if finished else 200
    return response


@require_POST
@login_required_for_post
def probe_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    services.cancel_probe(run_id)
    return redirect("probe_detail", run_id=run_id)


@require_GET
def accuracy(request: HttpRequest) -> HttpResponse:
    return render(request, "accuracy.html", accuracy_pages.accuracy_page())


@require_http_methods(["GET", "POST"])
@login_required_for_post
def import_model(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if wait := ratelimit.hit("import", ratelimit.client_key(request), settings.IMPORT_RATE_PER_MINUTE):
            form.add_error(None, f"Too many imports: try again in {wait} s.")
            return render(request, "import.html", {"form": form, "imported": imports.recent_imports()}, status=429)
        try:
            done = imports.import_model(form.cleaned_data["source"], request.user)
        except imports.ImportRefused as exc:
            form.add_error("source", str(exc))
        else:
            messages.success(request, _import_message(done))
            return redirect("model_detail", model_id=done.model_id)
    context = {"form": form, "imported": imports.recent_imports()}
    return render(request, "import.html", context, status=400 if form.errors else 200)


def _import_message(done: imports.Imported) -> str:
    if done.already_in_catalog:
        return f"{done.model_id} is already in the catalog."
    verb = f"Imported {done.model_id}." if done.created else f"Updated {done.model_id} from the Hub."
    return f"{verb} {done.approximate}".strip()


def _safe_next(request: HttpRequest) -> str:
    """The ``next`` page to return to after logging in, if it is on this site."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, require_https=request.is_secure())
    return wanted[:500] if safe else ""


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    form = AuthenticationForm(request, data=request.POST or None)
    next_url = _safe_next(request)
    if request.method == "POST":
        if wait := ratelimit.hit("login", ratelimit.client_key(request), LOGIN_ATTEMPTS_PER_MINUTE):
            form.add_error(None, f"Too many attempts: try again in {wait} s.")
        elif form.is_valid():
            auth.login(request, form.get_user())
            messages.success(request, f"Logged in as {form.get_user().get_username()}.")
            return redirect(next_url or "home")
    status = 400 if request.method == "POST" else 200
    return render(request, "login.html", {"form": form, "next": next_url}, status=status)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    messages.success(request, "You are logged out.")
    return redirect("home")


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's API tokens; POST makes a new one and shows its secret once."""
    from advisor.models import ApiToken

    assert isinstance(request.user, User)  # login_required
    secret = ""
    if request.method == "POST":
        secret = api.issue_token(request.user, request.POST.get("label", "").strip() or "unnamed")
    tokens = ApiToken.objects.filter(user_id=request.user.pk).order_by("-created_at")
    return render(request, "tokens.html", {"tokens": tokens, "secret": secret}, status=201 if secret else 200)


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """Delete one of the user's tokens: scripts that send it get 401 from then on."""
    from advisor.models import ApiToken

    token = get_object_or_404(ApiToken, pk=token_id, user_id=request.user.pk)
    token.delete()
    messages.success(request, f"Revoked the token “{token.label}”.")
    return redirect("api_tokens")


@require_http_methods(["GET", "POST"])
def check_setup(request: HtmxHttpRequest) -> HttpResponse:
    """Check my setup: a pasted log beside the prediction; with consent (and a login) its measurements stored."""
    template = _partial(request, "check.html", "result")
    if request.method == "GET":
        return render(request, "check.html", check_pages.check_context(CheckForm()))
    sub = _check_submission(request)
    result, note = sub.result, ""
    if result is not None and sub.consent:
        if request.user.is_authenticated:
            result = check_pages.with_stored(result, services.store_check(result, request.user))
        else:
            note = "Not stored: log in to store measurements."
    context = check_pages.check_context(sub.form, result, error=sub.error, stored_note=note)
    return render(request, template, context, status=sub.error.status if sub.error else 200)


def _check_submission(request: HttpRequest) -> check_pages.Submission:
    """The submitted check, or why it is refused: too big (413, before the body is read), too many (429)."""
    if refused := check_pages.body_too_big(request.META.get("CONTENT_LENGTH")):
        return check_pages.Submission(CheckForm(), error=refused)
    if wait := ratelimit.hit("check", ratelimit.client_key(request), settings.CHECK_RATE_PER_MINUTE):
        return check_pages.Submission(
            CheckForm(), error=check_pages.CheckInputError(None, f"Too many checks: try again in {wait} s.", 429)
        )
    try:
        return check_pages.submit(request.POST, request.FILES)
    except RequestDataTooBig:  # no Content-Length, and more than Django reads
        return check_pages.Submission(CheckForm(), error=check_pages.too_big_body())


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
