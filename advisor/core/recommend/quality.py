"""What a quant costs a model, and every model's score on one scale.

The loss rules are named functions, each with its source: ``quant_quality_loss`` (measured KLD as a share
of the score), ``below_4bit_penalty`` (below 4 bits quality drops fast) and ``min_bits_for_model`` (small
models stay at 6-8 bits). ``model_options`` turns catalog records into candidates whose scores share the
Open LLM Leaderboard's MMLU-Pro scale, measured or predicted (``calibrate_scores``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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


# The Open LLM Leaderboard v2 rescales MMLU-Pro so the random baseline (1 in 10) is 0 and a perfect
# score 100 (https://huggingface.co/docs/leaderboards/open_llm_leaderboard/normalization). Developers
# report raw accuracy with chain-of-thought prompts instead, which reads higher; ``calibrate_scores``
# measures that offset on the catalog itself.
LEADERBOARD_METRIC_MARK = "normalized"


@dataclass(frozen=True)
class ScoreModel:
    """Least-squares fit of catalog scores: a + b log2(total B) + c log2(active B) + d years + e dev."""

    coef: tuple[float, float, float, float, float]
    n_points: int
    rmse: float

    @property
    def developer_offset(self) -> float:
        return self.coef[4]

    def predict(self, params_total: int, params_active: int, released: str) -> float:
        a, b, c, d, _ = self.coef
        return a + b * math.log2(params_total / 1e9) + c * math.log2(params_active / 1e9) + d * _years(released)


def _years(released: str) -> float:
    """Years since 2024-01 (the catalog's middle), from YYYY-MM(-DD)."""
    return int(released[:4]) - 2024 + (int(released[5:7]) - 1) / 12


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the normal equations are 5 x 5)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        if abs(m[col][col]) < 1e-12:
            raise ValueError("singular system")
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def calibrate_scores(points: Iterable[tuple[float, bool, int, int, str]]) -> ScoreModel:
    """Fit ``score ~ size, activity, date, reporting`` on (score, developer_reported, total, active, released).

    The ``developer_reported`` coefficient is how much higher developer-reported MMLU-Pro reads than the
    leaderboard's normalized score; subtracting it puts both on one scale. The rest predicts a score for
    models without one (the newer and larger, the better: the scaling the size rule relies on).
    """
    rows: list[list[float]] = []
    ys: list[float] = []
    for score, dev, total, active, released in points:
        rows.append([1.0, math.log2(total / 1e9), math.log2(active / 1e9), _years(released), 1.0 if dev else 0.0])
        ys.append(score)
    k = 5
    ata = [[sum(r[i] * r[j] for r in rows) for j in range(k)] for i in range(k)]
    aty = [sum(r[i] * y for r, y in zip(rows, ys, strict=True)) for i in range(k)]
    coef = _solve(ata, aty)
    resid = [y - sum(c * x for c, x in zip(coef, r, strict=True)) for r, y in zip(rows, ys, strict=True)]
    rmse = math.sqrt(sum(e * e for e in resid) / len(resid)) if resid else 0.0
    return ScoreModel((coef[0], coef[1], coef[2], coef[3], coef[4]), len(ys), rmse)


class CatalogScore(Protocol):
    """A catalog model's benchmark score (``advisor.catalog.models_catalog.Quality``)."""

    @property
    def score(self) -> float: ...
    @property
    def metric(self) -> str: ...


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
    @property
    def quality(self) -> CatalogScore | None: ...

    def to_shape(self) -> ModelShape: ...


def _instruct_like(rec: CatalogRecord) -> bool:
    name = (rec.id + " " + rec.hf_repo).lower()
    return any(tag in name for tag in ("instruct", "-it", "chat"))


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


def _nearest_scored_sibling(
    rec: CatalogRecord, scored: Sequence[CatalogRecord], base: frozenset[str]
) -> CatalogRecord | None:
    """The scored model of the same family, chat-tuned before base, closest in size, then in date."""
    same = [o for o in scored if o.family == rec.family and o.id != rec.id]
    if not same:
        return None
    size = math.log2(rec.params_total)
    return min(
        same,
        key=lambda o: (
            o.id in base,
            abs(math.log2(o.params_total) - size),
            abs(_years(o.released) - _years(rec.released)),
        ),
    )


def model_options(records: Sequence[CatalogRecord]) -> tuple[ModelOption, ...]:
    """Catalog records as candidates, every score on the leaderboard's scale (measured or predicted)."""
    with_scores = [(r, s) for r in records if (s := r.quality) is not None]
    scored = [r for r, _ in with_scores]
    fit = calibrate_scores(
        (
            float(s.score),
            LEADERBOARD_METRIC_MARK not in s.metric,
            r.params_total,
            r.params_active,
            r.released,
        )
        for r, s in with_scores
    )
    out: list[ModelOption] = []
    base = frozenset(r.id for r in records if is_base_model(r, records))
    measured: dict[str, float] = {}
    metrics: dict[str, str] = {}
    for r, s in with_scores:
        q = float(s.score)
        if LEADERBOARD_METRIC_MARK not in s.metric:
            q -= fit.developer_offset
        measured[r.id] = q
        metrics[r.id] = s.metric
    for r in records:
        if r.id in measured:
            q, metric, estimated = measured[r.id], metrics[r.id], False
        else:
            anchor = _nearest_scored_sibling(r, scored, base)
            if anchor is not None:
                # Same family: shift the sibling's score by the fit's size and date slopes, so a family
                # whose benchmark sits off the catalog-wide trend (coder models on MMLU-Pro) stays in line.
                q = (
                    measured[anchor.id]
                    + fit.predict(r.params_total, r.params_active, r.released)
                    - fit.predict(anchor.params_total, anchor.params_active, anchor.released)
                )
                metric = f"predicted from {anchor.id} by size and date"
            else:
                q = fit.predict(r.params_total, r.params_active, r.released)
                metric = f"predicted from size and date (fit rmse {fit.rmse:.1f})"
            estimated = True
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
                quality=max(q, 0.0),
                quality_estimated=estimated,
                quality_metric=metric,
                is_base=r.id in base,
                native_quants=native,
                title=r.hf_repo.split("/")[-1],
            )
        )
    return tuple(out)
