"""``{% load probe_engine_status %}{% probe_engine_status %}``: how far the probe engine is from ready."""

from __future__ import annotations

from typing import Any

from django import template

from advisor.probe_engine_views import TEMPLATE, engine_context

register = template.Library()


@register.inclusion_tag(TEMPLATE)
def probe_engine_status() -> dict[str, Any]:
    return engine_context()
