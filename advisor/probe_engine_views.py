"""The probe engine's status on the Probes page: ``{% probe_engine_status %}`` and the fragment it polls.

While ``scripts/run`` builds llama-cpp-python in the background (advisor/probe_engine.py), the page says
that the engine is being prepared and how far along it is, and refreshes that every few seconds until
the build ends. Without a status file (Docker, a venv made by hand) it shows nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.http import HTMX_STOP_POLLING

from advisor import probe_engine

TEMPLATE = "parts/probe_engine.html"


def engine_context(polled: bool = False) -> dict[str, Any]:
    """``engine``: the status, or None when there is nothing to say (nobody prepares an engine here, or it has
    been ready since before the page loaded); ``polled``: asked by the fragment, which says when it turns ready."""
    engine = probe_engine.read_status(settings.PROBE_ENGINE_STATUS)
    return {"engine": None if engine and engine.ready and not polled else engine, "polled": polled}


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    context = engine_context(polled=True)
    response = render(request, TEMPLATE, context)
    if context["engine"] is None or not context["engine"].preparing:
        response.status_code = HTMX_STOP_POLLING
    return response
