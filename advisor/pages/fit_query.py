"""``GET /api/fit``: query parameters -> the same ``Plan`` that ``manage.py fit`` prints."""

from __future__ import annotations

import difflib
import hashlib

from django.http import QueryDict

from advisor import services
from advisor.catalog.hardware import search_gpus
from advisor.core.hardware_spec import GPUSpec
from advisor.core.plan import Plan
from advisor.fit.args import FitArgError, parse_fit_params
from advisor.fit.engine import ALL_QUANTS
from advisor.pages.catalog import all_models, catalog_version


class FitInputError(ValueError):
    def __init__(self, field: str | None, message: str, suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.suggestions = suggestions or []


def _suggestions(field: str, params: QueryDict) -> list[str]:
    value = str(params.get(field, ""))[:200]
    if field == "model":
        return difflib.get_close_matches(value, [m.id for m in all_models()], n=5, cutoff=0.5)
    if field == "gpu":
        return [g.name for g in search_gpus(value, 5)] if value else []
    return []


def plan_from_query(params: QueryDict) -> Plan:
    """The plan for ``fit``'s flags given as query parameters.

    The API reads no file on the server: ``hf_config`` is refused and ``gguf`` must be a
    huggingface.co URL (its header is read with HTTP Range requests).
    """
    try:
        p = parse_fit_params({k: params.getlist(k) for k in params}, quants=ALL_QUANTS)
        if p.hf_config:
            raise FitArgError("hf_config", "the API reads no server files: give model (a catalog id) or gguf (a URL)")
        if p.gguf and not p.gguf.startswith("https://huggingface.co/"):
            raise FitArgError("gguf", "the API accepts only https://huggingface.co/... GGUF URLs")
        return services.plan_for(p)
    except FitArgError as exc:
        raise FitInputError(exc.field, exc.message, _suggestions(exc.field, params)) from exc


def fit_answer(params: QueryDict) -> dict[str, object]:
    """``GET /api/fit``'s JSON: the plan, plus its team, drafter, runtime defaults and APU sections."""
    from advisor.fit.beyond import beyond, parse_beyond

    plan = plan_from_query(params)
    try:
        values = {k: params.getlist(k) for k in params}
        fit_params = parse_fit_params(values, quants=ALL_QUANTS)
        more = beyond(fit_params, plan, parse_beyond(values), services.plan_for)
    except FitArgError as exc:
        raise FitInputError(exc.field, exc.message, _suggestions(exc.field, params)) from exc
    return {**plan.to_dict(), **more.to_dict()}


def gpu_json(g: GPUSpec) -> dict[str, object]:
    return {
        "name": g.name, "vendor": g.vendor, "vram_bytes": g.vram_bytes, "usable_bytes": g.usable_bytes,
        "bandwidth_gbps": g.bandwidth_gbps, "unified_memory": g.unified_memory, "kind": g.kind,
    }  # fmt: skip


def query_cache_key(params: QueryDict, version: object = None) -> str:
    """A cache key for a GET query: its sorted items plus ``version``, by default the catalog's version
    (imports change it); a caller that has read ``services.inputs_version()`` passes that instead."""
    items = sorted((k, v) for k in params for v in params.getlist(k))
    return hashlib.sha256(repr((items, catalog_version() if version is None else version)).encode()).hexdigest()
