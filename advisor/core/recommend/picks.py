"""What the recommender answers: per model the pick (a quant, where it sits, its bytes, speed and
quality) with its alternatives, the ranked list, and the sentence that explains a pick.

Every result has ``to_dict()``: the JSON the API, the CLI and the templates read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from advisor.core.recommend.options import DEFAULT_MIN_TPS, ModelOption, Placement, QuantOption, Request
from advisor.core.recommend.placement import READING_SPEED_TPS
from advisor.core.recommend.quality import FOUR_BITS, min_bits_for_model

# ---------------------------------------------------------------- one candidate


@dataclass(frozen=True)
class Memory:
    """Bytes of one candidate and where they sit; keys as in ``memory.FitResult.to_dict()["memory"]``."""

    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int  # the backend's own context (memory.BACKEND_OVERHEAD_BYTES) over the GPUs used
    gpu_bytes: int  # on the GPU(s), overhead included
    cpu_bytes: int  # in system RAM (token embedding, CPU layers, their KV, host buffers)
    basis: str = "estimate"  # "estimate" (the screen) or "memory.estimate" (the engine, see confirm)

    @property
    def total_bytes(self) -> int:
        return self.gpu_bytes + self.cpu_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_bytes": self.compute_bytes,
            "overhead_bytes": self.overhead_bytes,
            "gpu_bytes": self.gpu_bytes,
            "cpu_bytes": self.cpu_bytes,
            "total_bytes": self.total_bytes,
            "basis": self.basis,
        }


# Placement names of ``memory.FitResult.fit``.
FIT_NAMES: dict[str, str] = {"gpu": "full_gpu", "partial": "partial", "cpu": "cpu"}


@dataclass(frozen=True)
class Fit:
    placement: Placement
    n_gpu_layers: int  # llama.cpp counting: n_layers + 1 puts the output layer on the GPU too
    n_layers: int
    gpu_budget_bytes: int
    ram_budget_bytes: int
    n_cpu_moe: int = 0  # layers whose routed experts stay in RAM (llama.cpp --n-cpu-moe)

    @property
    def name(self) -> str:
        return FIT_NAMES[self.placement]

    def to_dict(self) -> dict[str, Any]:
        """``name`` is ``fit --json``'s verdict string; the rest says how the model is placed."""
        return {
            "name": self.name,
            "fits": True,
            "placement": self.placement,
            "n_gpu_layers": self.n_gpu_layers,
            "n_layers": self.n_layers,
            "gpu_budget_bytes": self.gpu_budget_bytes,
            "ram_budget_bytes": self.ram_budget_bytes,
            "n_cpu_moe": self.n_cpu_moe,
        }


@dataclass(frozen=True)
class Speed:
    decode_tps: float | None  # at half the context
    usable: bool  # at least the request's minimum speed (or unknown bandwidth)
    basis: str = "estimate"
    min_tps: float = DEFAULT_MIN_TPS

    def to_dict(self) -> dict[str, Any]:
        return {
            "decode_tps": None if self.decode_tps is None else round(self.decode_tps, 1),
            "prefill_tps": None,
            "depth": "half the context",
            "usable": self.usable,
            "min_tps": self.min_tps,
            "reading_speed_tps": round(READING_SPEED_TPS, 1),
            "basis": self.basis,
        }


@dataclass(frozen=True)
class Quality:
    score: float  # the model's score after the quant's loss
    base_score: float
    base_estimated: bool
    loss: float  # share of base_score lost to the quant (both rules together)
    kld: float
    kld_measured: bool
    metric: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 2),
            "base_score": round(self.base_score, 2),
            "base_estimated": self.base_estimated,
            "quant_loss": round(self.loss, 4),
            "kld": self.kld,
            "kld_measured": self.kld_measured,
            "metric": self.metric,
        }


@dataclass(frozen=True)
class Pick:
    """One model at one quant on this machine."""

    model: ModelOption
    quant: QuantOption
    fit: Fit
    memory: Memory
    speed: Speed
    quality: Quality
    tier: int  # lower is better; see ``rank.preference_tier``
    # The sentence, written when first read: most picks are never shown. ``dataclasses.replace`` shares it,
    # so a changed copy says what the recommender's pick said.
    why: Explanation | None = field(default=None, repr=False, compare=False)

    @property
    def explanation(self) -> str:
        return "" if self.why is None else self.why.text()

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "model": {
                "id": m.id,
                "title": m.title,
                "family": m.family,
                "params_total": m.params_total,
                "params_active": m.params_active,
                "use_cases": list(m.use_cases),
            },
            "quant": {
                "name": self.quant.name,
                "format": self.quant.format,
                "nominal_bits": self.quant.nominal_bits,
                "bits_per_weight": self.quant.bits_per_weight,
                "needs_imatrix": self.quant.needs_imatrix,
            },
            "fit": self.fit.to_dict(),
            "n_gpu_layers": self.fit.n_gpu_layers,
            "memory": self.memory.to_dict(),
            "speed": self.speed.to_dict(),
            "quality": self.quality.to_dict(),
            "thinking": None if (t := thinking_cost(self.model, self.speed.decode_tps)) is None else t.to_dict(),
            "explanation": self.explanation,
        }


# An alternative as a card shows it: its quant's name, KL divergence and score (``Quality``'s kld and score).
AlternativeScore = tuple[str, float, float]


def rank_key(p: Pick) -> tuple[int, float, float]:
    """Models against each other: every usable pick (at least the request's minimum decode speed) above
    every one that is not, then the higher quality after the quant's loss, then the faster. Where a model
    sits (all on the GPU, layers or experts in RAM) counts only through its speed."""
    return (0 if p.speed.usable else 1, -p.quality.score, -(p.speed.decode_tps or 0.0))


class ModelRecommendation:
    """The best quant of one model on this machine, and the next best ones.

    ``pick`` and ``alternatives`` may be given as functions that make them: the recommender ranks every model
    that fits but a page shows a few, so the others' picks and alternatives are never built. It then gives what
    ranking reads without them: ``model``, ``quant`` and ``rank`` (``rank_key`` of the pick).
    """

    __slots__ = ("_alternatives", "_pick", "_scores", "model", "quant", "rank")

    def __init__(
        self,
        pick: Pick | Callable[[], Pick],
        alternatives: tuple[Pick, ...] | Callable[[], tuple[Pick, ...]] = (),
        *,
        ranked_as: tuple[ModelOption, QuantOption, tuple[int, float, float]] | None = None,
        alternative_scores: Callable[[], tuple[AlternativeScore, ...]] | None = None,
    ) -> None:
        self._pick = pick
        self._alternatives = alternatives
        self._scores = alternative_scores
        if ranked_as is None:
            p = self.pick
            ranked_as = (p.model, p.quant, rank_key(p))
        self.model, self.quant, self.rank = ranked_as

    @property
    def pick(self) -> Pick:
        p = self._pick
        if callable(p):
            p = self._pick = p()
        return p

    @property
    def usable(self) -> bool:
        return self.rank[0] == 0

    @property
    def alternatives(self) -> tuple[Pick, ...]:
        alts = self._alternatives
        if callable(alts):
            alts = self._alternatives = alts()
        return alts

    def alternative_scores(self) -> tuple[AlternativeScore, ...]:
        """(quant, KL divergence, score) of each alternative, as its pick would give them, without making the
        picks when the recommender gave them (a card shows these three alone)."""
        if self._scores is not None and callable(self._alternatives):
            return self._scores()
        return tuple((a.quant.name, a.quality.kld, a.quality.score) for a in self.alternatives)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelRecommendation):
            return NotImplemented
        return self.pick == other.pick and self.alternatives == other.alternatives

    def __hash__(self) -> int:
        return hash((self.pick, self.alternatives))

    def __repr__(self) -> str:
        return f"ModelRecommendation(pick={self.pick!r}, alternatives={self.alternatives!r})"

    def to_dict(self) -> dict[str, Any]:
        d = self.pick.to_dict()
        d["alternatives"] = [a.to_dict() for a in self.alternatives]
        return d


@dataclass(frozen=True)
class Recommendation:
    request: Request
    ranked: tuple[ModelRecommendation, ...]
    considered: int  # models looked at (after use-case and base-model filters)
    # ids of models no quant of which fits while keeping at least half the model's score
    not_fitting: tuple[str, ...] = field(default=())

    @property
    def best(self) -> ModelRecommendation | None:
        return self.ranked[0] if self.ranked else None

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "settings": {
                "ctx": r.ctx,
                "parallel": r.parallel,
                "runtime": r.runtime,
                "kv_type": r.resolved_kv_type,
                "flash_attn": r.resolved_flash_attn,
                "use_case": r.use_case,
            },
            "machine": r.budget.to_dict(),
            "considered": self.considered,
            "not_fitting": list(self.not_fitting),
            "results": [m.to_dict() for m in self.ranked],
        }


# ---------------------------------------------------------------- what thinking costs

# Tokens a reasoning model writes before its answer, a typical figure (estimated): Nous Research measured
# open reasoning models at 1.5-4x the tokens of closed ones and DeepSeek-R1 at over 1,000 completion tokens
# per math problem ("Measuring Thinking Efficiency in Reasoning Models: The Missing Benchmark",
# https://nousresearch.com/measuring-thinking-efficiency-in-reasoning-models-the-missing-benchmark).
TYPICAL_THINKING_TOKENS = 1500


@dataclass(frozen=True)
class Thinking:
    """What a reasoning model's hidden thinking costs in time before the answer starts."""

    tokens: int
    seconds: float
    estimated: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "seconds": round(self.seconds, 1), "estimated": self.estimated}

    @property
    def sentence(self) -> str:
        return (
            f"Thinks before answering: about {self.tokens:,} tokens (estimated), "
            f"so about {self.seconds:.0f} s before the answer starts"
        )


def thinking_cost(model: ModelOption, decode_tps: float | None) -> Thinking | None:
    """The wait for a reasoning model's thinking at ``decode_tps``; None for models that answer directly
    (no "reasoning" use case) or without a speed."""
    if "reasoning" not in model.use_cases or not decode_tps:
        return None
    return Thinking(TYPICAL_THINKING_TOKENS, TYPICAL_THINKING_TOKENS / decode_tps)


# ---------------------------------------------------------------- the sentence


# Where a model runs, as a sentence says it (the picks' and the plan cards' explanations).
PLACEMENT_PHRASE = {
    "gpu": "fits entirely in GPU memory",
    "partial": "runs with some layers in system RAM",
    "cpu": "runs on the CPU from system RAM",
    "no": "does not fit",
}


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def quant_reason(m: ModelOption, q: QuantOption, loss: float) -> str:
    """Why this quant of this model, in a clause (the cards' and the picks' explanations)."""
    floor = min_bits_for_model(m.params_total)
    if q.name in m.native_quants or m.shape.arch in q.native_archs:
        return f"{q.name} is the precision this model was trained or released in, so it costs no quality"
    if q.nominal_bits < FOUR_BITS:
        return f"{q.name} is below 4 bits, where quality drops fast: nothing at 4 bits or more fits"
    if floor > FOUR_BITS and q.nominal_bits >= floor:
        return "a model this small is kept at 6-8 bits, where rounding costs it little"
    if q.nominal_bits >= 8:
        return "8 bits is practically lossless"
    if loss < 0.005:
        return f"{q.name} costs under half a percent of the model's quality"
    return f"{q.name} keeps about {100 * (1 - loss):.0f}% of the model's quality"


class Explanation:
    """A pick's sentence from what it reads of the pick (not the pick itself: no reference cycle), written
    on the first ``text()``."""

    __slots__ = ("_args", "_text")

    def __init__(self, m: ModelOption, q: QuantOption, fit: Fit, mem: Memory, loss: float, tps: float | None,
                 req: Request) -> None:  # fmt: skip
        self._args = (m, q, fit, mem, loss, tps, req)
        self._text: str | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = _explain(*self._args)
        return self._text


def _explain(m: ModelOption, q: QuantOption, fit: Fit, mem: Memory, loss: float, tps: float | None,
             req: Request) -> str:  # fmt: skip
    kv = req.resolved_kv_type
    parts = [f"{m.title or m.id} at {q.name} {PLACEMENT_PHRASE[fit.placement]}"]
    if fit.n_cpu_moe:
        parts[0] += f" (the experts of {fit.n_cpu_moe} of {fit.n_layers} layers in RAM: --n-cpu-moe)"
    elif fit.placement == "partial":
        parts[0] += f" ({fit.n_gpu_layers} of {fit.n_layers} layers on the GPU)"
    used = mem.gpu_bytes if fit.placement != "cpu" else mem.cpu_bytes
    budget = fit.gpu_budget_bytes if fit.placement != "cpu" else fit.ram_budget_bytes
    parts[0] += f": about {_gb(used)} of {_gb(budget)} with a {req.ctx // 1024}k {kv} KV cache"
    why = quant_reason(m, q, loss)
    sentence = parts[0] + "; " + why + "."
    if tps is not None:
        sentence += f" Expect roughly {tps:.0f} tokens/s."
    return sentence
