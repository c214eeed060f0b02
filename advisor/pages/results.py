"""The home page's results and ``/api/recommendations``: the catalog ranked for one machine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django import forms as django_forms
from django.http import QueryDict

from advisor import services
from advisor.catalog.machines import load_tiers
from advisor.catalog.quants import quant_options
from advisor.core import recommend
from advisor.core.hardware_spec import Machine
from advisor.forms import FilterForm
from advisor.pages.cards import Card, Unplannable, card
from advisor.pages.catalog import catalog_now, filter_choices
from advisor.pages.spec import (
    FormError,
    MachineSummary,
    Spec,
    form_errors,
    machine_for,
    machine_forms,
    machine_summary,
    with_params,
)
from advisor.pages.tiers import tier_spec

POPULAR_GPUS = (
    "GeForce RTX 4090", "GeForce RTX 5090", "GeForce RTX 3090", "GeForce RTX 4060", "GeForce RTX 4070",
    "GeForce RTX 5070 Ti", "Apple M4 (10-core GPU)", "Apple M4 Pro (20-core GPU)", "Apple M4 Max (40-core GPU)",
    "Apple M3 Ultra (80-core GPU)", "H100 SXM5 80 GB", "Radeon RX 7900 XTX",
)  # fmt: skip
DEFAULT_LIMIT = FilterForm.DEFAULT_LIMIT  # results per page when the form gives no limit


def run_recommendation(
    spec: Spec, machine: Machine, options: Sequence[recommend.ModelOption] | None = None
) -> recommend.Recommendation:
    req = recommend.Request(
        budget=recommend.Budget.from_machine(machine), ctx=spec.ctx, runtime=spec.runtime,
        kv_type=spec.kv_type or None, use_case=spec.use_case or None, parallel=spec.users, max_alternatives=5,
        min_tps=spec.min_tps,
    )  # fmt: skip
    return recommend.recommend(req, catalog_now()[0] if options is None else options, quant_options(spec.runtime))


@dataclass(frozen=True)
class Filters:
    family: str = ""
    license: str = ""
    size: str = ""
    sort: str = "quality"
    limit: int = DEFAULT_LIMIT


def _keep(filters: Filters, model_family: str, license_: str, params_total: int) -> bool:
    if filters.family and model_family != filters.family:
        return False
    if filters.license and license_ != filters.license:
        return False
    return not filters.size or params_total <= float(filters.size) * 1e9


SORT_KEYS: dict[str, Callable[[Card], float]] = {
    "speed": lambda c: -(c.plan.speed.decode_tps or 0.0),
    "size": lambda c: float(c.plan.total_bytes),
    "context": lambda c: -float(c.plan.max_context),
}


@dataclass(frozen=True)
class Ranked:
    """The cards shown, and what the recommender said of the rest."""

    cards: tuple[Card, ...]
    more: int  # models that fit but are not shown
    considered: int
    not_fitting: tuple[str, ...]
    unplannable: tuple[str, ...]  # models the plan engine cannot plan (their architecture)
    kv_type: str
    flash_attn: bool


def ranked_cards(
    spec: Spec, machine: Machine, filters: Filters, version: services.InputsVersion | None = None
) -> Ranked:
    """The recommender's ranking, each shown model planned once.

    Cards keep the recommender's usable-quality order, with any whose plan decodes below the spec's
    minimum speed moved after the rest (stable), or are sorted by the plan's numbers for the other sorts,
    which plan every match. ``version``: ``services.inputs_version()`` when the caller has read it.
    """
    options, catalog = catalog_now()
    rec = run_recommendation(spec, machine, options)
    matches = [
        r for r in rec.ranked
        if (m := catalog.get(r.model.id)) and _keep(filters, m.family, m.license, m.params_total)
    ]  # fmt: skip
    # The quality order plans only what it shows; the other sorts plan every match to sort by its figures.
    enough = None if filters.sort in SORT_KEYS else filters.limit
    cards: list[Card] = []
    failed: list[str] = []
    plan_for = services.planner(version)
    for r in matches:
        if enough is not None and len(cards) >= enough:
            break
        try:
            cards.append(card(spec, r, catalog[r.model.id], machine.total_vram_bytes, machine.ram_bytes, plan_for))
        except Unplannable:
            failed.append(r.model.id)
    order = SORT_KEYS.get(filters.sort)
    cards.sort(key=order if order is not None else (lambda c: c.tier))
    settings = rec.request
    shown = tuple(cards[: filters.limit])
    more = max(0, len(matches) - len(failed) - len(shown))
    return Ranked(shown, more, rec.considered, rec.not_fitting, tuple(failed), settings.resolved_kv_type,
                  settings.resolved_flash_attn)  # fmt: skip


@dataclass
class ResultsPage:
    form: django_forms.Form
    filters: django_forms.Form
    bound: bool
    errors: list[FormError] = field(default_factory=list)
    spec: Spec | None = None
    machine: MachineSummary | None = None
    ranked: Ranked | None = None
    filters_active: bool = False
    all_query: str = ""
    choices: dict[str, list[str]] = field(default_factory=filter_choices)
    popular_gpus: Sequence[str] = POPULAR_GPUS
    tier_links: list[dict[str, str]] = field(default_factory=list)

    @property
    def results(self) -> tuple[Card, ...]:
        return self.ranked.cards if self.ranked else ()

    def context(self) -> dict[str, object]:
        """The template's names."""
        r, spec = self.ranked, self.spec
        return {
            "form": self.form, "filters": self.filters, "bound": self.bound, "errors": self.errors,
            "results": self.results, "more": r.more if r else 0, "all_query": self.all_query,
            "choices": self.choices, "popular_gpus": self.popular_gpus, "tier_links": self.tier_links,
            "filters_active": self.filters_active, "spec": spec, "machine": self.machine, "ranked": r,
            "spec_label": spec.label if spec else "", "spec_query": spec.query() if spec else "",
        }  # fmt: skip


def results_page(
    params: QueryDict, require_spec: bool = True, version: services.InputsVersion | None = None
) -> ResultsPage:
    """Everything the home page and its #results partial show, from the GET parameters.

    ``require_spec=False`` (the API) computes with the defaults when no machine field is given, and
    leaves out the page's links to the tier pages. ``version``: as for ``ranked_cards``.
    """
    form, filter_form, bound = machine_forms(params)
    if not require_spec and not bound:
        form, bound = type(form)(params), True
    links = [{"title": t.title, "query": tier_spec(t).query()} for t in load_tiers()] if require_spec else []
    page = ResultsPage(form, filter_form, bound, tier_links=links)
    if not bound:
        return page
    if not (form.is_valid() and filter_form.is_valid()):
        page.errors = form_errors(form, filter_form)
        return page
    spec = Spec.from_cleaned(form.cleaned_data)
    f = filter_form.cleaned_data
    filters = Filters(f.get("family") or "", f.get("license") or "", f.get("size") or "", f.get("sort") or "quality",
                      f.get("limit") or DEFAULT_LIMIT)  # fmt: skip
    machine = machine_for(spec)
    page.spec, page.machine = spec, machine_summary(machine)
    page.filters_active = bool(filters.family or filters.size or filters.license)
    page.ranked = ranked_cards(spec, machine, filters, version)
    page.all_query = with_params(params, limit=500)
    return page
