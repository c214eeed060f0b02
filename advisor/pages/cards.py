"""A recommended model as a card: the recommender's choice of quant, rendered from its ``Plan``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from html import escape  # Django's escaping (it calls this), without its per-call check for lazy strings
from typing import Any
from urllib.parse import quote

from django.utils.safestring import SafeString, mark_safe

from advisor import services
from advisor.catalog.models_catalog import CatalogModel
from advisor.core import recommend
from advisor.core.plan import Calibration, MeasuredProbe, Plan, SpeedEstimate, placement_label
from advisor.fit.args import FitArgError, FitParams
from advisor.pages.spec import Spec
from advisor.pages.units import fixed, memory

BAR_WIDTH = 1000  # SVG user units; the SVG scales to its box, so widths need no inline style


# A results page shows 25 cards and each writes a few dozen numbers: the cards' texts are formatted here, once, so
# the template reads a string where a filter call would cost ten times as much (the page's HTML is the same).


@dataclass(frozen=True)
class BarSegment:
    label: str
    bytes: int
    x: float
    width: float
    css: str

    @property
    def size(self) -> str:
        return memory(self.bytes)


@dataclass(frozen=True)
class BarLine:
    label: str
    bytes: int
    x: float

    @property
    def size(self) -> str:
        return memory(self.bytes)


@dataclass(frozen=True)
class MemoryBar:
    """Geometry of a stacked bar (weights / KV / compute / overhead) against VRAM and RAM lines."""

    segments: tuple[BarSegment, ...]
    lines: tuple[BarLine, ...]
    total: int
    gpu_bytes: int
    cpu_bytes: int
    width: int = BAR_WIDTH

    # The bar's repeated parts, built as strings: as template loops they were a third of a results page's template
    # time. Labels are escaped as the template would; numbers and class names need no escaping.
    @property
    def rects(self) -> SafeString:
        """A rectangle per segment wide enough to draw."""
        return mark_safe("".join(
            f'<rect class="{s.css}" x="{s.x}" y="6" width="{s.width}" height="24"><title>{escape(s.label)}: {s.size}'
            "</title></rect>"
            for s in self.segments if s.width
        ))  # fmt: skip

    @property
    def caps(self) -> SafeString:
        """A vertical line per capacity (VRAM, VRAM + RAM)."""
        return mark_safe("".join(
            f'<line class="cap cap-{i}" x1="{x.x}" x2="{x.x}" y1="0" y2="36"><title>{escape(x.label)}: {x.size}</title>'
            "</line>"
            for i, x in enumerate(self.lines, 1)
        ))  # fmt: skip

    @property
    def keys(self) -> SafeString:
        """The caption's key of each segment."""
        return mark_safe("".join(
            f'<span class="key"><i class="{s.css}"></i>{escape(s.label)} {s.size}</span>' for s in self.segments
        ))  # fmt: skip

    @property
    def cap_keys(self) -> SafeString:
        """The capacities, as the caption's last key lists them."""
        return mark_safe(" · ".join(f"{escape(x.label)} {x.size}" for x in self.lines))

    @property
    def total_size(self) -> str:
        return memory(self.total)

    @property
    def gpu_size(self) -> str:
        return memory(self.gpu_bytes)

    @property
    def cpu_size(self) -> str:
        return memory(self.cpu_bytes)

    @property
    def aria_label(self) -> str:
        return f"Memory needed: {self.total_size}" + "".join(f"; {x.label} {x.size}" for x in self.lines)


def _overhead_title(plan: Plan) -> str:
    """'Overhead', with its provenance where it is not measured ('Overhead (estimated ±256 MiB)')."""
    label = plan.memory.overhead_label
    return "Overhead" if label == "measured" else f"Overhead ({label})"


def memory_bar(plan: Plan, vram_bytes: int, ram_bytes: int) -> MemoryBar:
    mem = plan.memory
    parts = (
        ("Weights in memory", mem.weights_bytes, "seg-w"), ("KV cache", mem.kv_cache_bytes, "seg-kv"),
        ("Compute buffers", mem.compute_bytes, "seg-cb"), (_overhead_title(plan), mem.overhead_bytes, "seg-oh"),
    )  # fmt: skip
    total = sum(size for _, size, _ in parts)
    scale_max = max(total, vram_bytes, 1) * 1.08
    ram_line = vram_bytes + ram_bytes if vram_bytes else ram_bytes
    if ram_line <= scale_max * 1.5:
        scale_max = max(scale_max, ram_line * 1.04)
    x = 0.0
    segments = []
    for label, size, css in parts:
        width = size / scale_max * BAR_WIDTH
        segments.append(BarSegment(label, size, round(x, 1), round(width, 1), css))
        x += width
    lines = tuple(
        BarLine(label, value, round(value / scale_max * BAR_WIDTH, 1))
        for value, label in ((vram_bytes, "VRAM"), (ram_line, "VRAM + RAM" if vram_bytes else "RAM"))
        if value and value <= scale_max
    )
    return MemoryBar(tuple(segments), lines, total, mem.gpu_bytes, mem.cpu_bytes)


def params_label(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n < 10e9 else f"{n / 1e9:.0f}B"


@dataclass(frozen=True)
class SpeedText:
    """A plan's speeds as ``parts/speed.html`` writes them: decode to 0.1 tok/s, prefill and ranges to 1."""

    decode: str | None
    decode_low: str | None
    decode_high: str
    prefill: str | None
    prefill_low: str | None
    prefill_high: str
    backend: str  # upper case, as the range's title names it
    basis: str
    calibration: Calibration | None
    measured: MeasuredProbe | None
    measured_decode: str

    @classmethod
    def of(cls, s: SpeedEstimate) -> SpeedText:
        def text(x: float | None, places: int) -> str | None:
            return None if x is None else fixed(x, places)

        return cls(
            text(s.decode_tps, 1), text(s.decode_low, 0), fixed(s.decode_high, 0), text(s.prefill_tps, 0),
            text(s.prefill_low, 0), fixed(s.prefill_high, 0), str(s.backend).upper(), s.basis or "predicted",
            s.calibration, s.measured, "" if s.measured is None else fixed(s.measured.decode_tps, 1),
        )  # fmt: skip


@dataclass(frozen=True)
class Alternative:
    """Another quant the recommender would consider; its plan is on the model page."""

    quant: str
    kld: float
    score: float

    @property
    def score_text(self) -> str:
        return fixed(self.score, 1)

    @property
    def kld_text(self) -> str:
        return fixed(self.kld, 3)

    @property
    def quant_query(self) -> str:
        """The quant as a query value (the ``urlencode`` filter's quoting)."""
        return quote(self.quant, safe="/")


@dataclass(frozen=True)
class Card:
    """One ranked model at its chosen quant on the spec's machine."""

    model: CatalogModel
    pick: recommend.Pick  # the recommender's choice: quant and quality (its screen bytes are not shown)
    plan: Plan  # every figure shown
    explanation: str
    alternatives: tuple[Alternative, ...]
    tier: int  # 0 usable (decodes at the spec's minimum speed), 1 too slow, UNFIT_TIER does not fit
    budget: tuple[int, int] = (0, 0)  # (VRAM, RAM) bytes the memory bar is drawn against

    @functools.cached_property
    def bar(self) -> MemoryBar:
        """Drawn when a page first reads it: the API's answer never does."""
        return memory_bar(self.plan, *self.budget)

    @functools.cached_property
    def speed_text(self) -> SpeedText:
        return SpeedText.of(self.plan.speed)

    @property
    def score_text(self) -> str:
        return fixed(self.pick.quality.score, 1)

    @property
    def kld_text(self) -> str:
        return fixed(self.pick.quality.kld, 3)

    @property
    def bits_text(self) -> str:
        """Bits per weight of the plan's file, or the quant's nominal figure where the plan has none."""
        return fixed(self.plan.bits_per_weight or self.pick.quant.bits_per_weight, 2)

    @property
    def verdict(self) -> str:
        return self.plan.placement

    @property
    def label(self) -> str:
        return placement_label(self.plan)

    @property
    def moe(self) -> bool:
        return self.pick.model.params_active < self.pick.model.params_total

    @property
    def params_label(self) -> str:
        return params_label(self.pick.model.params_total)

    @property
    def active_label(self) -> str:
        return params_label(self.pick.model.params_active)

    @property
    def thinking(self) -> recommend.Thinking | None:
        """A reasoning model's wait before its answer, at the plan's predicted decode speed."""
        return recommend.thinking_cost(self.pick.model, self.plan.speed.decode_tps)

    @property
    def quant_cost(self) -> str:
        loss = self.pick.quality.loss
        return f"−{loss * 100:.2g}% of the score" if loss else ""

    def to_json(self) -> dict[str, Any]:
        """The API's result: the plan (as ``/api/fit`` gives it) with the model, quant and quality."""
        m, q, quality = self.pick.model, self.pick.quant, self.pick.quality
        out = self.plan.to_dict()
        out["model_info"] = {"id": m.id, "title": m.title, "family": m.family, "params_total": m.params_total,
                        "params_active": m.params_active, "use_cases": list(m.use_cases),
                        "license": self.model.license, "context_max": self.model.context_max}  # fmt: skip
        out["quant_info"] = {"name": q.name, "format": q.format, "nominal_bits": q.nominal_bits,
                        "bits_per_weight": self.plan.bits_per_weight or q.bits_per_weight,
                        "needs_imatrix": q.needs_imatrix}  # fmt: skip
        out["quality"] = quality.to_dict()
        out["thinking"] = None if self.thinking is None else self.thinking.to_dict()
        out["explanation"] = self.explanation
        out["alternatives"] = [{"quant": a.quant, "kld": a.kld, "score": round(a.score, 2)} for a in self.alternatives]
        return out


UNFIT_TIER = 7  # after every tier the recommender orders by: the exact plan found it does not fit


class Unplannable(ValueError):
    """The plan engine cannot plan this model (an architecture without a tensor inventory)."""


def card(
    spec: Spec,
    rec: recommend.ModelRecommendation,
    model: CatalogModel,
    vram: int,
    ram: int,
    plan_for: Callable[[FitParams], Plan] | None = None,
) -> Card:
    """``plan_for``: ``services.planner()`` when one page plans many cards (default ``services.plan_for``)."""
    pick = rec.pick
    try:
        plan = (plan_for or services.plan_for)(spec.fit_params(pick.model.id, pick.quant.name))
    except FitArgError as exc:
        raise Unplannable(f"{pick.model.id}: {exc.message}") from exc
    # Cards keep the recommender's usable-quality order; the plan's own speed decides which side of the
    # minimum a card falls (where it sits, GPU or RAM, matters only through that speed).
    tier = UNFIT_TIER if plan.placement == "no" else 0 if plan.usable_at(spec.min_tps) else 1
    alternatives = tuple(Alternative(*a) for a in rec.alternative_scores())
    return Card(model, pick, plan, explanation(pick, plan, spec, vram, ram), alternatives, tier, (vram, ram))


def explanation(pick: recommend.Pick, plan: Plan, spec: Spec, vram: int, ram: int) -> str:
    """Why this quant, in the plan's own numbers."""
    m, q = pick.model, pick.quant
    head = f"{m.title or m.id} at {q.name} {recommend.PLACEMENT_PHRASE[plan.placement]}"
    if plan.n_cpu_moe:
        head = f"{m.title or m.id} at {q.name} keeps every layer on the GPU and the experts of {plan.n_cpu_moe} of "
        head += f"{plan.n_layers} layers in system RAM (--n-cpu-moe {plan.n_cpu_moe})"
    elif plan.placement == "partial":
        head += f" ({max(plan.n_gpu_layers - 1, 0)} of {plan.n_layers} layers on the GPU)"
    on_gpu = plan.placement in ("gpu", "partial")
    used, budget = (plan.memory.gpu_bytes, vram) if on_gpu else (plan.memory.cpu_bytes, ram)
    head += f": about {memory(used)} of {memory(budget)} with a {spec.ctx:,}-token {plan.kv_type} KV cache"
    why = recommend.quant_reason(m, q, pick.quality.loss)
    sentence = f"{head}; {why}."
    if plan.speed.decode_tps is not None:
        sentence += f" Expect roughly {plan.speed.decode_tps:.0f} tokens/s."
    return sentence
