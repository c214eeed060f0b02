"""The model detail page: the chosen quant's plan (headline, per-device table, launch commands), the
quant ladder and the charts, all from plans of this model on the spec's machine."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django import forms as django_forms
from django.http import QueryDict

from advisor import services
from advisor.catalog.mmproj import projector_for
from advisor.catalog.models_catalog import CatalogModel
from advisor.catalog.quants import get_quant, quant_options
from advisor.core import recommend
from advisor.core.hardware_spec import Machine
from advisor.core.plan import Plan, placement_label
from advisor.core.units import GIB
from advisor.fit.args import FitArgError
from advisor.fit.beyond import Beyond, BeyondParams, beyond
from advisor.pages.cards import Card, Unplannable, card
from advisor.pages.catalog import model_options
from advisor.pages.spec import FormError, MachineSummary, Spec, form_errors, machine_for, machine_forms, machine_summary
from advisor.pages.units import fixed, memory

GB = GIB  # the site's memory unit (advisor/pages/units.py)
CHART_CTX = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576)


@dataclass(frozen=True)
class LadderRow:
    quant: str
    bpw: float
    plan: Plan | None  # None where the engine cannot plan this quant (a format the runtime lacks)
    kld: float
    kld_measured: bool
    delta_ppl: float | None
    score: float
    best: bool
    needs_imatrix: bool

    @property
    def verdict(self) -> str:
        return self.plan.placement if self.plan else "no"

    @property
    def label(self) -> str:
        return placement_label(self.plan) if self.plan else "Cannot be planned"

    # The ladder's numbers as its table writes them (formatted here: ~30 rows of eight numbers each), "—" where
    # there is no plan or no figure.
    @property
    def bpw_text(self) -> str:
        return fixed(self.bpw, 2)

    @property
    def kld_text(self) -> str:
        return fixed(self.kld, 4)

    @property
    def delta_ppl_text(self) -> str:
        return fixed(self.delta_ppl, 3) or "—"

    @property
    def score_text(self) -> str:
        return fixed(self.score, 1)

    @property
    def decode_text(self) -> str:
        return (fixed(self.plan.speed.decode_tps, 1) if self.plan else "") or "—"

    @property
    def sizes(self) -> tuple[str, str, str]:
        """The GGUF file, the weights in memory and the total, each in the site's unit."""
        p = self.plan
        if p is None:
            return ("—", "—", "—")
        return memory(p.file_bytes) or "—", memory(p.memory.weights_bytes) or "—", memory(p.total_bytes) or "—"


def _delta_ppl(name: str) -> float | None:
    values = [m.delta_ppl for m in get_quant(name).measurements]
    return min(values) if values else None


def recommendation_for(
    spec: Spec, machine: Machine, opt: recommend.ModelOption
) -> recommend.ModelRecommendation | None:
    """The recommender's choice for this one model: the same choice its card on the results shows."""
    req = recommend.Request(
        budget=recommend.Budget.from_machine(machine), ctx=spec.ctx, runtime=spec.runtime,
        kv_type=spec.kv_type or None, parallel=spec.users, include_base_models=True, max_alternatives=5,
    )  # fmt: skip
    rec = recommend.recommend(req, [opt], quant_options(spec.runtime))
    return rec.ranked[0] if rec.ranked else None


def quant_ladder(spec: Spec, opt: recommend.ModelOption, best: str | None) -> list[LadderRow]:
    """Every quant the runtime loads, each with its plan on this machine."""
    rows = []
    plan_for = services.planner()  # one read of what plans may learn from, for the whole ladder
    for q in quant_options(spec.runtime):
        if q.moe_only and not opt.is_moe:
            continue
        try:
            plan: Plan | None = plan_for(spec.fit_params(opt.id, q.name))
        except FitArgError:
            plan = None
        loss, kld = recommend.quant_cost(opt, q)
        # this model's own file bits per weight (gpt-oss-20b at MXFP4_MOE: 4.63, not the Llama-3.1-8B table's 8.5)
        bpw = plan.bits_per_weight if plan and plan.bits_per_weight else q.bits_per_weight
        rows.append(LadderRow(q.name, bpw, plan, kld, q.measured, _delta_ppl(q.name),
                              opt.quality * (1 - loss), q.name == best, q.needs_imatrix))  # fmt: skip
    rows.sort(key=lambda r: r.plan.memory.weights_bytes if r.plan else 0)
    return rows


def _series(label: str, points: list[tuple[float, float]], color: str, dashed: bool = False) -> dict[str, Any]:
    return {"label": label, "points": points, "color": color, "dashed": dashed}


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both size (smaller) and quality (higher), by size."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def model_charts(spec: Spec, machine: Machine, model: CatalogModel, plan: Plan, ladder: list[LadderRow]) -> dict:
    """Memory against context (plans at each length), decode at depth (the plan's curve), quality vs size."""
    ctxs = [c for c in CHART_CTX if c <= model.context_max] or [model.context_max]
    mem = []
    plan_for = services.planner()
    for c in ctxs:
        try:
            at = plan_for(spec.fit_params(model.id, plan.quant, ctx=c))
        except FitArgError:
            continue
        mem.append((float(c), round(at.total_bytes / GB, 3)))
    vram = round(machine.total_vram_bytes / GB, 3)
    both = round((machine.total_vram_bytes + machine.ram_bytes) / GB, 3)
    memory_series = [_series(f"{plan.quant}: total memory (GB)", mem, "#0b5cad")]
    if vram:
        memory_series.append(_series("GPU memory", [(ctxs[0], vram), (ctxs[-1], vram)], "#cf222e", True))
    memory_series.append(_series("GPU + system RAM" if vram else "System RAM",
                                 [(ctxs[0], both), (ctxs[-1], both)], "#57606a", True))  # fmt: skip
    points = [(float(max(d, 1)), t) for d, t in plan.speed.curve]
    sized = [(r, round(r.plan.memory.weights_bytes / GB, 3), round(r.score, 2)) for r in ladder if r.plan]
    fits = [(x, y) for r, x, y in sized if r.verdict != "no"]
    too_big = [(x, y) for r, x, y in sized if r.verdict == "no"]
    return {
        "memory": {"kind": "line", "x": "context (tokens)", "y": "GB", "xlog": True, "series": memory_series},
        "speed": {"kind": "line", "x": "tokens already in the context", "y": "decode tok/s", "xlog": True,
                  "series": [_series(f"{plan.quant} decode at depth (predicted)", points, "#1a7f37")]},
        "quality": {"kind": "scatter", "x": "weights (GB)", "y": "quality score after quantization", "xlog": False,
                    "series": [_series("fits", fits, "#1a7f37"), _series("does not fit", too_big, "#cf222e"),
                               _series("Pareto front", pareto(fits + too_big), "#57606a", True)]},
    }  # fmt: skip


def launch_settings(spec: Spec, model: CatalogModel, plan: Plan) -> dict[str, Any]:
    """The numbers the launch commands need (-c, -ngl, -ctk/-ctv, -fa, -np, the GGUF repo), from the plan."""
    quant = plan.quant
    ngl, n_layers = plan.n_gpu_layers, plan.n_layers
    return {
        "ctx": plan.memory.context.n_ctx, "parallel": spec.users, "ngl": ngl, "n_layers": n_layers,
        "n_cpu_moe": plan.n_cpu_moe, "all_on_gpu": ngl > n_layers,
        "gpu_fraction": round(min(ngl, n_layers) / n_layers, 2),
        "kv_type": plan.kv_type, "flash_attn": plan.flash_attn, "quant": quant,
        "gguf_repo": model.gguf_repos[0] if model.gguf_repos else "", "hf_repo": model.hf_repo,
        "quantized_kv": plan.kv_type not in ("f16", "bf16", "f32"),
        "bnb_4bit": quant.lower().startswith("bnb-nf4") or quant.lower() == "bnb-fp4",
        "bnb_type": "fp4" if quant.lower() == "bnb-fp4" else "nf4", "bnb_dq": quant.lower().endswith("-dq"),
        "is_gguf": get_quant(quant).format == "gguf",
        # -hf fetches the repo's mmproj itself (common/download.cpp find_best_mmproj): the command names no
        # file, and says --no-mmproj when the plan leaves image input out
        "multimodal": projector_for(model.id) is not None, "image": plan.mmproj is not None,
        "mmproj_offload": plan.mmproj is None or plan.mmproj.device != "host",
    }  # fmt: skip


@dataclass
class ModelPage:
    model: CatalogModel
    form: django_forms.Form
    bound: bool
    errors: list[FormError] = field(default_factory=list)
    spec: Spec | None = None
    machine: MachineSummary | None = None
    ctx_clamped: int | None = None
    ladder: list[LadderRow] = field(default_factory=list)
    chosen: LadderRow | None = None
    pick: Card | None = None  # the chosen quant's card, when it fits
    report: dict[str, Any] | None = None  # the chosen quant's plan as ``fit --json`` gives it
    charts: dict[str, Any] | None = None
    launch: dict[str, Any] | None = None  # only for a plan that fits: no command for what cannot run
    smallest: LadderRow | None = None  # when no quant fits: the smallest, and what it needs
    beyond: Beyond | None = None  # team, drafter, runtime defaults and APU sections (advisor/fit/beyond.py)

    def context(self) -> dict[str, object]:
        """The template's names."""
        names = ("model", "form", "bound", "errors", "spec", "machine", "ctx_clamped", "ladder", "chosen", "pick",
                 "report", "charts", "launch", "smallest", "beyond")  # fmt: skip
        out: dict[str, object] = {name: getattr(self, name) for name in names}
        out["spec_query"] = self.spec.query() if self.spec else ""
        out["spec_label"] = self.spec.label if self.spec else ""
        return out


def model_page(model: CatalogModel, params: QueryDict) -> ModelPage:
    """The model detail page for the spec in the URL (the form's defaults when there is none)."""
    from advisor.forms import MachineForm

    form, _, bound = machine_forms(params)
    page = ModelPage(model, form, bound)
    if bound and not form.is_valid():
        page.errors = form_errors(form)
        return page
    spec = Spec.from_cleaned(form.cleaned_data) if bound else Spec(**MachineForm.DEFAULTS)
    opt = next((m for m in model_options() if m.id == model.id), None)
    if opt is None:
        page.errors = [FormError("model", "Model", "The engine cannot evaluate this model.")]
        return page
    if spec.ctx > model.context_max:
        # The model cannot attend further than its trained context; show its longest instead.
        page.ctx_clamped = spec.ctx
        spec = replace(spec, ctx=model.context_max)
    machine = machine_for(spec)
    page.spec, page.machine = spec, machine_summary(machine)
    rec = recommendation_for(spec, machine, opt)
    page.ladder = quant_ladder(spec, opt, rec.pick.quant.name if rec else None)
    by_name = {r.quant.upper(): r for r in page.ladder}
    wanted = params.get("quant", "")[:32].upper()
    page.chosen = by_name.get(wanted) or (by_name.get(rec.pick.quant.name.upper()) if rec else None)
    if page.chosen is None:
        page.chosen = next((r for r in page.ladder if r.plan), None)
    plan = page.chosen.plan if page.chosen else None
    if plan is None:
        return page
    if rec is not None and plan.fits:
        chosen_rec = rec if rec.pick.quant.name == plan.quant else _as_pick(rec, plan.quant)
        try:
            page.pick = card(spec, chosen_rec, model, machine.total_vram_bytes, machine.ram_bytes)
        except Unplannable:
            page.pick = None
    page.report = plan.to_dict()
    page.charts = model_charts(spec, machine, model, plan, page.ladder)
    if plan.fits:
        page.launch = launch_settings(spec, model, plan)
    page.beyond = beyond_for(spec, model, plan.quant)
    if not any(r.plan and r.plan.fits for r in page.ladder):
        page.smallest = min((r for r in page.ladder if r.plan), key=lambda r: r.plan.total_bytes if r.plan else 0)
    return page


def beyond_for(spec: Spec, model: CatalogModel, quant: str) -> Beyond | None:
    """The team, drafter, runtime-default and APU sections of one user's plan at ``quant``."""
    one = replace(spec.fit_params(model.id, quant), ctx=spec.ctx, parallel=1)
    extra = BeyondParams(users=spec.users, draft=spec.draft, carveout_gib=spec.carveout, gtt_gib=spec.gtt)
    try:
        return beyond(one, services.plan_for(one), extra, services.plan_for)
    except FitArgError:
        return None


def _as_pick(rec: recommend.ModelRecommendation, quant: str) -> recommend.ModelRecommendation:
    """The recommendation with another of its considered quants in front (the one the URL asks for)."""
    for alt in rec.alternatives:
        if alt.quant.name == quant:
            return recommend.ModelRecommendation(alt, ())
    q = next(q for q in quant_options() if q.name == quant)
    loss, kld = recommend.quant_cost(rec.pick.model, q)
    quality = replace(rec.pick.quality, score=rec.pick.quality.base_score * (1 - loss), loss=loss, kld=kld,
                      kld_measured=q.measured)  # fmt: skip
    return recommend.ModelRecommendation(replace(rec.pick, quant=q, quality=quality), ())
