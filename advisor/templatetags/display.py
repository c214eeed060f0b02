"""``{% load display %}``: memory sizes (``advisor.pages.units``) and counts written one way on every page."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape  # Django's escaping (it calls this), without its per-call check for lazy strings
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django import template
from django.http import HttpRequest
from django.utils.safestring import SafeString, mark_safe

from advisor.pages.units import memory

if TYPE_CHECKING:
    from advisor.pages.cards import Alternative

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


@register.simple_tag
def alternative_rows(alternatives: Iterable[Alternative], model_url: str, query: str) -> SafeString:
    """A card's other quants as table rows, each a link to the model page at that quant: a results page has 25
    cards of up to 5, and as a template loop they cost a quarter of its template time."""
    link = f"{escape(model_url)}?{escape(query)}&amp;quant="
    return mark_safe("".join(
        f'<tr><td><a href="{link}{a.quant_query}">{escape(a.quant)}</a></td><td>{a.score_text}</td>'
        f"<td>{a.kld_text}</td></tr>"
        for a in alternatives
    ))  # fmt: skip
