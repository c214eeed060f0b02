"""Function-based views: forms in, core dataclasses through services, templates out."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from advisor import services


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {"host": services.host_summary(), "broker_kind": services.broker_kind()}
    return render(request, "home.html", context)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
