"""``{% load display %}``: memory sizes (``advisor.pages.units``) and counts written one way on every page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.http import HttpRequest

from advisor.pages.units import memory

register = template.Library()


@register.filter
def mem(n: Any) -> str:
    return memory(n)


@register.filter
def thousands(n: Any) -> str:
    """``1010000`` → ``1,010,000``; empty for None, so ``|default:"—"`` still applies."""
    if n is None or n == "":
        return ""
    return f"{int(n):,}"


@register.simple_tag(takes_context=True)
def with_param(context: dict[str, Any], name: str, value: str) -> str:
    """This page's query string with ``name`` set to ``value`` (a suggestion that fills the form)."""
    request: HttpRequest = context["request"]
    params = {k: v for k, v in request.GET.items() if k != name}
    params[name] = value
    return urlencode(params)
