"""What a quant costs a model, and every model's score on one scale.

The loss rules are named functions, each with its source: ``quant_quality_loss`` (measured KLD as a share
of the score), ``below_4bit_penalty`` (below 4 bits quality drops fast) and ``min_bits_for_model`` (small
models stay at 6-8 bits). ``model_options`` turns catalog records into candidates scored on one benchmark
(``advisor/catalog/data/quality.json``: LiveBench), published or estimated (``calibrate_scores``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from advisor.core.recommend.options import ModelOption, QuantOption
from advisor.core.shape import ModelShape

# Quality loss per unit of KLD: chosen so that Q4_K_M without an importance matrix (KLD 0.031273 on
# Llama 3 8B, llama.cpp's tools/perplexity/README.md) costs 1% of the score: 16 -> 4 bits "might taste 1%
# different" (https://queryncontext.beehiiv.com/p/run-gpt-4-class-ai-on-your-laptop). q8_0 (KLD 0.001355)
# then costs 0.04%, in line with INT8 models scoring "within 1% of the FP16 original" (the infolia.ai
# newsletter on quantization, issue 52).
KLD_TO_LOSS = 0.01 / 0.031273
# Extra loss per squared bit below 4 (see below_4bit_penalty): at Q2_K's 2.625 nominal bits it adds 19%,
# at IQ1_S's 1.5625 bits 59%, at Q3_K's 3.44 bits 3%.
BELOW_4BIT_SLOPE = 0.10
# Differences in quality loss smaller than q8_0's own measured cost are noise; the smaller file wins then.
QUALITY_TIE = KLD_TO_LOSS * 0.001355
# "For models under 7B, I usually try to stay at 6-bit or 8-bit."
# (https://loke.dev/blog/llm-quantization-precision-mechanics)
SMALL_MODEL_PARAMS = 7_000_000_000
SMALL_MODEL_MIN_BITS = 6.0
# A quant that costs half of a model's score or more is not a recommendation: with the loss model above
# that cuts IQ2_XXS (Llama 3 8B perplexity x2.3) and the IQ1 quants (x4 and x9.7, tools/perplexity/README.md)
# and keeps IQ2_XS (x1.7) as the last resort.
MAX_QUALITY_LOSS = 0.5
FOUR_BITS = 4.0


def quant_quality_loss(kld: float) -> float:
    """Share of a model's score lost to a quant with this mean KLD against FP16.

    Linear in KLD, scaled so 4-bit (Q4_K_M, KLD 0.0313) costs 1%: going from 16 to 4 bits "might taste
    1% different" (https://queryncontext.beehiiv.com/p/run-gpt-4-class-ai-on-your-laptop), and INT8
    stays "within 1%" of FP16 (the infolia.ai newsletter, issue 52; q8_0 costs 0.04% here).
    """
    return KLD_TO_LOSS * kld


def below_4bit_penalty(nominal_bits: float) -> float:
    """Extra share of the score lost below 4 bits: 0.10 x (4 - bits)^2, so the drop steepens.

    "2-bit and lower ... Quality degrades fast"; "Below 4-bit, test carefully" (the infolia.ai newsletter,
    issue 52). Q2_K is "designed for devices with very limited memory"
    (https://kuware.com/ai-deep-dive/shrink-ai-models-4x-quantization-made-simple/). "Q2 saves more but
    degrades noticeably" (https://heyitskundan.com/blog/dictionary/quantization). The measured KLD
    already grows fast below 4 bits (Q3_K_M 0.10, Q2_K 0.45, IQ1_S 2.25); this makes the recommender
    avoid those quants unless nothing at 4 bits fits, as that advice says.
    """
    if nominal_bits >= FOUR_BITS:
        return 0.0
    return BELOW_4BIT_SLOPE * (FOUR_BITS - nominal_bits) ** 2


def min_bits_for_model(params_total: int) -> float:
    """Fewest nominal bits a model should be run at before the recommender looks elsewhere.

    "Quantizing a 1.5B or 3B model to 4-bit is often a disaster. There aren't enough parameters to
    absorb the rounding errors. For models under 7B, I usually try to stay at 6-bit or 8-bit."
    (https://loke.dev/blog/llm-quantization-precision-mechanics). Larger models go down to 4 bits, where
    Q4_K_M "hits the sweet spot between small file size and strong performance"
    (https://kuware.com/ai-deep-dive/shrink-ai-models-4x-quantization-made-simple/).
    """
    return SMALL_MODEL_MIN_BITS if params_total < SMALL_MODEL_PARAMS else FOUR_BITS


def quant_cost(model: ModelOption, quant: QuantOption) -> tuple[float, float]:
    """(loss share, kld) of ``model`` at ``quant``; native precisions cost nothing."""
    if quant.name in model.native_quants or model.shape.arch in quant.native_archs:
        return 0.0, 0.0
    loss = quant_quality_loss(quant.kld) + below_4bit_penalty(quant.nominal_bits)
    return min(loss, 1.0), quant.kld


# ---------------------------------------------------------------- quality scores on one scale


@dataclass(frozen=True)
class Rating:
    """One model's published scores on the recommender's one benchmark (``advisor/catalog/data/quality.json``):
    ``overall`` and, where the benchmark has a matching category, a score per use case."""

    overall: float
    by_use: tuple[tuple[str, float], ...] = ()
    source: str = ""  # the benchmark and its date, e.g. "LiveBench 2026-01-08"
    url: str = ""


# ln(score) gained per doubling of a model's effective size sqrt(total x active) (MoE models count between
# their active and total parameters), from same-family pairs of one LiveBench release (2024-08-31, its
# public/table_2024_08_31.csv): Llama 3.1 8B -> 70B 0.18, 70B -> 405B 0.05, Gemma 2 9B -> 27B 0.17,
# Phi-3 mini -> medium 0.10, Qwen2.5 7B -> 72B 0.12; the median. Only the slope is taken from that
# release; the scores all come from the current one. Fixed rather than fitted: the rated models are
# mostly large and recent, and a slope fitted on them alone puts a 0.6B model next to an 8B one.
SIZE_SLOPE = 0.12


def effective_params(params_total: int, params_active: int) -> float:
    return math.sqrt(params_total * params_active)


@dataclass(frozen=True)
class ScoreModel:
    """ln(score) = a + SIZE_SLOPE x log2(effective B) + d x years, with a and d fitted on rated models.

    On logarithms so an estimate stays positive and keeps its order however far it reaches."""

    coef: tuple[float, float]
    n_points: int
    rmse: float  # of ln(score): 0.2 is about 20%

    def predict(self, params_total: int, params_active: int, released: str) -> float:
        return math.exp(self._log(params_total, params_active, released))

    def _log(self, params_total: int, params_active: int, released: str) -> float:
        a, d = self.coef
        return a + SIZE_SLOPE * math.log2(effective_params(params_total, params_active) / 1e9) + d * _years(released)

    def ratio(self, rec: CatalogRecord, anchor: CatalogRecord) -> float:
        """How much better the fit expects ``rec`` than ``anchor`` (size and date alone)."""
        return math.exp(
            self._log(rec.params_total, rec.params_active, rec.released)
            - self._log(anchor.params_total, anchor.params_active, anchor.released)
        )


def _years(released: str) -> float:
    """Years since 2024-01 (the catalog's middle), from YYYY-MM(-DD)."""
    return int(released[:4]) - 2024 + (int(released[5:7]) - 1) / 12


def calibrate_scores(points: Iterable[tuple[float, int, int, str]], min_date_slope: float = 0.0) -> ScoreModel:
    """Fit ``ln(score) - SIZE_SLOPE x log2(size) ~ a + d x years`` on (score, total, active, released);
    a newer model is never predicted worse (d >= ``min_date_slope`` >= 0)."""
    xs: list[float] = []
    ys: list[float] = []
    for score, total, active, released in points:
        if score > 0:
            xs.append(_years(released))
            ys.append(math.log(score) - SIZE_SLOPE * math.log2(effective_params(total, active) / 1e9))
    n = len(xs)
    if n == 0:
        return ScoreModel((math.log(10.0), 0.0), 0, 0.0)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    d = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx > 0 else 0.0
    d = max(d, min_date_slope, 0.0)
    a = my - d * mx
    rmse = math.sqrt(sum((y - a - d * x) ** 2 for x, y in zip(xs, ys, strict=True)) / n)
    return ScoreModel((a, d), n, rmse)


class CatalogRecord(Protocol):
    """The fields of ``advisor.catalog.models_catalog.CatalogModel`` the recommender reads."""

    @property
    def id(self) -> str: ...
    @property
    def hf_repo(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def released(self) -> str: ...
    @property
    def params_total(self) -> int: ...
    @property
    def params_active(self) -> int: ...
    @property
    def use_cases(self) -> tuple[str, ...]: ...
    @property
    def notes(self) -> str: ...

    def to_shape(self) -> ModelShape: ...


def _instruct_like(rec: CatalogRecord) -> bool:
    name = (rec.id + " " + rec.hf_repo).lower()
    # reasoning releases ("-Thinking") are post-trained for chat too: not the base sibling of an instruct model
    return any(tag in name for tag in ("instruct", "-it", "chat", "thinking"))


def is_base_model(rec: CatalogRecord, catalog: Sequence[CatalogRecord]) -> bool:
    """A pre-trained model without chat tuning: named so, noted so, or the plain sibling of an instruct one."""
    if rec.id.endswith("-base") or rec.hf_repo.lower().endswith("-base"):
        return True
    if rec.notes.lower().startswith(("base model", "base (pre-trained)")):
        return True
    if _instruct_like(rec):
        return False
    return any(
        o.id != rec.id
        and o.family == rec.family
        and o.released[:7] == rec.released[:7]
        and o.params_total == rec.params_total
        and _instruct_like(o)
        for o in catalog
    )


def _nearest_rated_sibling(rec: CatalogRecord, rated: Sequence[CatalogRecord]) -> CatalogRecord | None:
    """The rated model of the same family closest in effective size, then in date."""
    same = [o for o in rated if o.family == rec.family and o.id != rec.id]
    if not same:
        return None

    def size(r: CatalogRecord) -> float:
        return math.log2(effective_params(r.params_total, r.params_active))

    return min(same, key=lambda o: (abs(size(o) - size(rec)), abs(_years(o.released) - _years(rec.released))))


# Families that continue one another under another name (one maker's line of models).
_LINES = {"qwq": "qwen", "codegemma": "gemma", "mixtral": "mistral", "ministral": "mistral", "devstral": "mistral",
          "magistral": "mistral", "mathstral": "mistral", "tinyllama": "tinyllama"}  # fmt: skip


def model_line(family: str) -> str:
    """The maker's line a family belongs to: "qwen2.5-coder" and "qwq" are Qwen, "llama3.1" is Llama."""
    head = re.match(r"[a-z]+", family.lower())
    name = head.group(0) if head else family.lower()
    return _LINES.get(name, name)


def successor_floor(scores: dict[str, float], records: Sequence[CatalogRecord], estimated: set[str]) -> None:
    """A newer, larger (or equal) model of the same line scores at least what its predecessor does, where
    the newer one's score is an estimate (a published score is left as the benchmark says). In place."""
    by_line: dict[str, list[CatalogRecord]] = {}
    for r in records:
        by_line.setdefault(model_line(r.family), []).append(r)
    for group in by_line.values():
        group.sort(key=lambda r: (r.released[:7], r.params_total))
        for i, r in enumerate(group):
            if r.id not in estimated:
                continue
            older = [o.id for o in group[:i] if o.released[:7] < r.released[:7] and o.params_total <= r.params_total]
            if older:
                scores[r.id] = max(scores[r.id], max(scores[o] for o in older))


def _estimates(
    records: Sequence[CatalogRecord], published: dict[str, float], label: str, min_date_slope: float = 0.0
) -> tuple[dict[str, float], dict[str, str], ScoreModel]:
    """Every record's score for one column: published, or estimated from the nearest rated sibling (scaled
    by the fit's size and date slopes) or from the fit alone; the successor floor applies to estimates."""
    rated = [r for r in records if r.id in published]
    points = ((published[r.id], r.params_total, r.params_active, r.released) for r in rated)
    fit = calibrate_scores(points, min_date_slope)
    scores = dict(published)
    how: dict[str, str] = {rid: label for rid in published}
    for r in records:
        if r.id in published:
            continue
        anchor = _nearest_rated_sibling(r, rated)
        if anchor is not None:
            scores[r.id] = published[anchor.id] * fit.ratio(r, anchor)
            how[r.id] = f"estimated from {anchor.id} ({label}) by size and date"
        else:
            scores[r.id] = fit.predict(r.params_total, r.params_active, r.released)
            how[r.id] = f"estimated from size and date ({fit.n_points} rated models, {label})"
    successor_floor(scores, records, {r.id for r in records} - published.keys())
    return scores, how, fit


USE_CASE_SCORES = ("coding", "reasoning")  # use cases a benchmark may score apart from the overall


def model_options(
    records: Sequence[CatalogRecord], ratings: Mapping[str, Rating] | None = None
) -> tuple[ModelOption, ...]:
    """Catalog records as candidates, scored on one benchmark: published ``ratings`` (by catalog id) or an
    estimate from family, size and date (``quality_estimated``), overall and per use case."""
    ratings = ratings or {}
    label = next((r.source for r in ratings.values() if r.source), "benchmark")
    overall, how, overall_fit = _estimates(records, {i: r.overall for i, r in ratings.items()}, label)
    per_use: dict[str, dict[str, float]] = {}
    for use in USE_CASE_SCORES:
        published = {i: s for i, r in ratings.items() for u, s in r.by_use if u == use}
        if len(published) >= 4:  # too few rated models to estimate the rest from
            # A use case's rated models may span too few release dates to show ageing (LiveBench coding's
            # 18, released 2025-04..2026, fit a slope of 0, which kept 2023's CodeLlama-70B level with 2026
            # models): a use-case score ages at least as fast as the overall one.
            per_use[use] = _estimates(records, published, label, overall_fit.coef[1])[0]
    base = frozenset(r.id for r in records if is_base_model(r, records))
    out: list[ModelOption] = []
    for r in records:
        native: tuple[str, ...] = ()
        if "qat" in r.hf_repo.lower() and "q4_0" in r.hf_repo.lower():
            native = ("Q4_0",)  # Gemma 3 QAT checkpoints are trained for Q4_0
        out.append(
            ModelOption(
                id=r.id,
                family=r.family,
                released=r.released,
                shape=r.to_shape(),
                params_total=r.params_total,
                params_active=r.params_active,
                use_cases=tuple(r.use_cases),
                quality=overall[r.id],
                quality_estimated=r.id not in ratings,
                quality_metric=how[r.id],
                is_base=r.id in base,
                native_quants=native,
                title=r.hf_repo.split("/")[-1],
                use_scores=tuple((u, s[r.id]) for u, s in per_use.items()),
            )
        )
    return tuple(out)
