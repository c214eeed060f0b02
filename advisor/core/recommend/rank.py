"""The recommender: per model the best quant that fits and a few alternatives, then models ranked by the
quality that is usable (decodes at the request's minimum speed), siblings ordered by size
(``prefer_larger_at_4bit``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from advisor.core.memo import IdentityMemo
from advisor.core.recommend.options import ModelOption, Placement, QuantOption, Request
from advisor.core.recommend.picks import (
    AlternativeScore,
    Explanation,
    Fit,
    Memory,
    ModelRecommendation,
    Pick,
    Quality,
    Recommendation,
    Speed,
)
from advisor.core.recommend.placement import (
    GPU_MARGIN_BYTES,
    PLACEMENT_CODES,
    RAM_RESERVE_BYTES,
    Room,
    Rows,
    _Placed,
    decode_rows,
    gpu_reserve_bytes,
    place_rows,
)
from advisor.core.recommend.profiles import (
    _CONTEXT_COSTS,
    KVPlan,
    WeightProfile,
    context_costs,
    model_shape_key,
    weight_profile,
)
from advisor.core.recommend.quality import FOUR_BITS, MAX_QUALITY_LOSS, QUALITY_TIE, min_bits_for_model, quant_cost
from advisor.core.speed import expert_read_fraction


class ModelAndQuant(Protocol):
    """A pick, or a ``ModelRecommendation`` whose pick is not made yet: the model and its quant."""

    @property
    def model(self) -> ModelOption: ...
    @property
    def quant(self) -> QuantOption: ...


def prefer_larger_at_4bit(larger: ModelAndQuant, smaller: ModelAndQuant) -> bool:
    """True when ``larger`` must rank above ``smaller`` whatever their scores say.

    "a 70B model at 4-bit is still vastly more intelligent than a 7B model at 16-bit ... Run a 30B
    model at 4-bit ... Option 2 wins almost every single time."
    (https://loke.dev/blog/llm-quantization-precision-mechanics). Applied to models of one lineage (same
    family, same release month: they differ only in size) that are both dense or both MoE, when the
    larger runs at 4 bits or more and the smaller at more bits than it (the trade the article
    describes). Scores of such siblings can disagree with size only through benchmark noise or mixed
    reporting scales. Takes picks or the recommendations that will make them.
    """
    a, b = larger.model, smaller.model
    return (
        a.lineage == b.lineage
        and a.is_moe == b.is_moe
        and a.params_total > b.params_total
        and larger.quant.nominal_bits >= FOUR_BITS
        and larger.quant.nominal_bits < smaller.quant.nominal_bits
    )


def preference_tier(placement: Placement, bits_ok: bool, usable: bool) -> int:
    """Which quant of one model to show: all on the GPU at enough bits, then offloaded (layers or
    experts in RAM) at a usable speed, then the GPU below the bit floor, then offloaded below it, then the
    CPU, then anything slower than the request's minimum. Models are ranked against each other by
    ``rank_key`` (usable quality), not by this tier."""
    code = np.array([PLACEMENT_CODES.index(placement)], dtype=np.int8)
    return int(preference_tiers(code, np.array([bits_ok]), np.array([usable]))[0])


def preference_tiers(kind: np.ndarray, bits_ok: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """``preference_tier`` of every row: ``kind`` as ``placement.Placed.kind`` (placed rows only)."""
    offloaded = np.where(kind == PLACEMENT_CODES.index("partial"), np.where(bits_ok, 1, 3), np.where(bits_ok, 4, 5))
    placed = np.where(kind == PLACEMENT_CODES.index("gpu"), np.where(bits_ok, 0, 2), offloaded)
    return np.where(usable, placed, 6)


# A candidate before it becomes a Pick: (tier, loss, weight bytes, quant index, placement, tok/s, usable).
_Cand = tuple[int, float, int, int, _Placed, float | None, bool]


_Row = tuple[float, int, QuantOption, WeightProfile]
# Per (model id, quant list) the quants it can use, cheapest quality loss first, with their profiles, and
# the smallest of them that keeps enough quality (the same for every machine: found once, not per request).
_TABLES: dict[tuple[str, str, int], tuple[list[_Row], _Row | None]] = {}


def _model_table(model: ModelOption, quants: Sequence[QuantOption], quants_id: int) -> tuple[list[_Row], _Row | None]:
    key = model_shape_key(model)
    k = (model.id, key, quants_id)
    got = _TABLES.get(k)
    if got is None:
        table: list[_Row] = []
        for qi, q in enumerate(quants):
            if q.moe_only and not model.is_moe:
                continue
            prof = weight_profile(model, q, key)
            table.append((quant_cost(model, q)[0], qi, q, prof))
        table.sort(key=lambda t: (t[0], t[3].total))
        smallest = min((t for t in table if t[0] < MAX_QUALITY_LOSS), key=lambda t: t[3].total, default=None)
        got = _TABLES[k] = (table, smallest)
    return got


@dataclass(frozen=True)
class _Block:
    """Every model's table (``_model_table``) as columns, the models in their list's order: what the screen reads for
    each request without a Python step per (model, quant)."""

    starts: tuple[int, ...]  # model i's rows are starts[i]:starts[i + 1], cheapest loss first
    smallest: tuple[int, ...]  # the row of model i's smallest quant that keeps enough quality, or -1
    loss: list[float]
    qi: list[int]
    totals: list[int]
    loss_array: np.ndarray  # the losses again, and per row its quant's nominal bits and its model's floor (float64)
    bits: np.ndarray
    floors_per_row: np.ndarray  # min_bits_for_model
    model_of_row: np.ndarray
    profiles: tuple[np.ndarray, ...]  # total, embd, output, layers, experts (int64)
    n_layers: np.ndarray  # per row (int64), as first_dense and expert_frac
    first_dense: np.ndarray
    expert_frac: np.ndarray


# Per models list (by identity) and quant list; cleared with the tables (``clear_caches``). Lists of at most
# _BLOCK_MEMO_MIN models (a model page asks for one, in a new list each time) are not kept.
_BLOCKS: IdentityMemo[_Block] = IdentityMemo(16)
_BLOCK_MEMO_MIN = 8


def _block(models: Sequence[ModelOption], quants: Sequence[QuantOption], quants_id: int) -> _Block:
    def make() -> _Block:
        starts, smallest = [0], []
        rows: list[_Row] = []
        per_row: list[tuple[int, int, int, float, float]] = []
        for i, model in enumerate(models):
            table, small = _model_table(model, quants, quants_id)
            smallest.append(-1 if small is None else starts[-1] + table.index(small))
            rows += table
            s = model.shape
            frac = expert_read_fraction(s)
            floor = min_bits_for_model(model.params_total)
            per_row += [(i, s.n_layers, s.first_dense_layers, frac, floor)] * len(table)
            starts.append(len(rows))
        profiles = tuple(
            np.array([getattr(r[3], f) for r in rows], dtype=np.int64)
            for f in ("total", "embd", "output", "layers", "experts")
        )
        losses = [r[0] for r in rows]

        def column(j: int, dtype: type) -> np.ndarray:
            return np.array([p[j] for p in per_row], dtype=dtype)

        return _Block(
            tuple(starts), tuple(smallest), losses, [r[1] for r in rows], [r[3].total for r in rows],
            np.array(losses, dtype=np.float64), np.array([r[2].nominal_bits for r in rows], dtype=np.float64),
            column(4, np.float64), column(0, np.int64), profiles, column(1, np.int64), column(2, np.int64),
            column(3, np.float64),
        )  # fmt: skip

    if len(models) <= _BLOCK_MEMO_MIN:  # a model page's one-model list, new per request: not worth an entry
        return make()
    return _BLOCKS.get((models,), (quants_id, len(models)), make)


def _better(a: _Cand, b: _Cand) -> bool:
    """Per-model choice: better tier; then less quality loss, unless within noise, where the smaller file
    wins (so Q8_0 beats F16: q8_0's measured cost is the noise floor)."""
    if a[0] != b[0]:
        return a[0] < b[0]
    if abs(a[1] - b[1]) > QUALITY_TIE:
        return a[1] < b[1]
    return a[2] < b[2]


def _pick(req: Request, model: ModelOption, quant: QuantOption, kv: KVPlan, compute: int, c: _Cand) -> Pick:
    tier, loss, weights, _, placed, tps, usable = c
    placement, ngl, gpu_used, ram_used, n_cpu_moe = placed
    b = req.budget
    overhead = 0
    if placement != "cpu":
        overhead = gpu_reserve_bytes(b) - GPU_MARGIN_BYTES * max(b.n_gpus, 1)
    _, kld = quant_cost(model, quant)
    base = model.score_for(req.use_case)
    fit = Fit(placement, ngl, model.shape.n_layers, b.gpu_bytes, max(b.ram_bytes - RAM_RESERVE_BYTES, 0), n_cpu_moe)
    mem = Memory(
        weights_bytes=weights,
        kv_cache_bytes=kv.total,
        compute_bytes=compute,
        overhead_bytes=overhead,
        gpu_bytes=gpu_used,
        cpu_bytes=ram_used,
    )
    return Pick(
        model=model,
        quant=quant,
        fit=fit,
        memory=mem,
        speed=Speed(tps, usable, min_tps=req.min_tps),
        quality=Quality(
            score=base * (1 - loss),
            base_score=base,
            base_estimated=model.quality_estimated,
            loss=loss,
            kld=kld,
            kld_measured=quant.measured,
            metric=model.quality_metric,
        ),
        tier=tier,
        why=Explanation(model, quant, fit, mem, loss, tps, req),
    )


def _alternatives(
    req: Request, model: ModelOption, quants: Sequence[QuantOption], kv: KVPlan, compute: int, cands: list[_Cand]
) -> Callable[[], tuple[Pick, ...]]:
    """The alternatives' picks, made when first read (a page reads those of the models it shows)."""
    return lambda: tuple(_pick(req, model, quants[c[3]], kv, compute, c) for c in cands)


def _scores(
    req: Request, model: ModelOption, quants: Sequence[QuantOption], cands: list[_Cand]
) -> tuple[AlternativeScore, ...]:
    """``ModelRecommendation.alternative_scores`` of ``cands``: the quant, kld and score ``_pick`` gives them."""
    base = model.score_for(req.use_case)
    return tuple((quants[c[3]].name, quant_cost(model, quants[c[3]])[1], base * (1 - c[1])) for c in cands)


def apply_size_rule(ranked: list[ModelRecommendation]) -> list[ModelRecommendation]:
    """Reorder siblings so ``prefer_larger_at_4bit`` holds, leaving every other model in its slot.

    Among usable picks (and among the rest), the slots a lineage occupies are refilled with its picks, larger models
    first wherever the rule applies (pairwise, by insertion: the list is short).
    """
    out = list(ranked)
    groups: dict[tuple[tuple[str, str], bool, bool], list[int]] = {}
    for i, r in enumerate(out):
        groups.setdefault((r.model.lineage, r.model.is_moe, r.usable), []).append(i)
    for slots in groups.values():
        if len(slots) < 2:
            continue
        members = [out[i] for i in slots]
        ordered: list[ModelRecommendation] = []
        for r in members:
            pos = len(ordered)
            for j, o in enumerate(ordered):
                if prefer_larger_at_4bit(r, o):
                    pos = j
                    break
            ordered.insert(pos, r)
        for i, r in zip(slots, ordered, strict=True):
            out[i] = r
    return out


def recommend(
    req: Request,
    models: Sequence[ModelOption],
    quants: Sequence[QuantOption],
    *,
    limit: int | None = None,
) -> Recommendation:
    """Rank ``models`` on ``req.budget``: per model the best quant that fits (``preference_tier``), then
    models by usable quality (``rank_key``), siblings ordered by size."""
    usable_quants = tuple(q for q in quants if req.runtime in q.runtimes)
    quants_id = hash(tuple((q.name, q.kld, q.nominal_bits) for q in usable_quants))
    room = Room.of(req)
    want = 1 + req.max_alternatives
    block = _block(models, usable_quants, quants_id)
    chosen: list[ModelRecommendation] = []
    not_fitting: list[str] = []
    kept: list[int] = []  # the models this request screens, with their KV plan and compute buffer
    costs: list[tuple[KVPlan, int]] = []
    for i, model in enumerate(models):
        if req.use_case and req.use_case not in model.use_cases:
            continue
        if model.is_base and not req.include_base_models:
            continue
        if req.ctx > model.shape.context_max:
            continue
        kept.append(i)
        costs.append(context_costs(model, req))
    considered = len(kept)
    # Every quant of every kept model placed and timed at once (placement.place_rows, decode_rows).
    mask = np.zeros(len(models), dtype=bool)
    mask[kept] = True
    rows = np.flatnonzero(mask[block.model_of_row])
    at = np.zeros(len(models), dtype=np.int64)
    at[kept] = np.arange(considered)
    of_row = at[block.model_of_row[rows]]
    kv_total = np.array([kv.total for kv, _ in costs], dtype=np.int64)
    kv_per_layer = np.array([kv.per_layer for kv, _ in costs], dtype=np.float64)
    kv_read = np.array([kv.read_per_token for kv, _ in costs], dtype=np.float64)
    compute = np.array([c for _, c in costs], dtype=np.int64)
    total, embd, output, layers, experts = (p[rows] for p in block.profiles)
    columns = Rows(
        total, embd, output, layers, experts, kv_total[of_row], kv_per_layer[of_row], kv_read[of_row], compute[of_row],
        block.n_layers[rows], block.first_dense[rows], block.expert_frac[rows],
    )  # fmt: skip
    placed = place_rows(room, columns)
    tps_all, known_all = decode_rows(req.budget, columns, placed.ngl, placed.n_cpu_moe)
    kind, ngl, gpu, ram, n_cpu_moe = (placed.kind.tolist(), placed.ngl.tolist(), placed.gpu.tolist(),
                                      placed.ram.tolist(), placed.n_cpu_moe.tolist())  # fmt: skip
    tps_l, known = tps_all.tolist(), known_all.tolist()
    usable_all = ~known_all | (tps_all >= req.min_tps)
    tiers = preference_tiers(placed.kind, block.bits[rows] >= block.floors_per_row[rows], usable_all).tolist()
    valid = ((block.loss_array[rows] < MAX_QUALITY_LOSS) & (placed.kind != 0)).tolist()
    usable_l = usable_all.tolist()
    x0 = 0  # this model's first row among ``rows``
    for i, (kv, comp) in zip(kept, costs, strict=True):
        model = models[i]
        start, end = block.starts[i], block.starts[i + 1]
        local = x0 - start  # block row -> row among ``rows``
        x0 += end - start
        # The smallest file that keeps enough quality: if even it does not fit, nothing larger will.
        small = block.smallest[i]
        if small < 0 or not kind[small + local]:
            not_fitting.append(model.id)
            continue
        cands: list[_Cand] = []
        best_top = -1.0  # loss of the first candidate found in tier 0
        n_top = 0
        for g in range(start, end):
            loss = block.loss[g]
            # Quants come cheapest-loss first: once enough tier-0 candidates are in hand, the rest can
            # neither beat them nor be among the alternatives.
            if n_top >= want and loss > best_top + QUALITY_TIE:
                break
            x = g + local
            if not valid[x]:
                continue
            where = PLACEMENT_CODES[kind[x]]
            assert where is not None
            tier = tiers[x]
            tps = tps_l[x] if known[x] else None
            cands.append((tier, loss, block.totals[g], block.qi[g], (where, ngl[x], gpu[x], ram[x], n_cpu_moe[x]), tps,
                          usable_l[x]))  # fmt: skip
            if tier == 0:
                if n_top == 0:
                    best_top = loss
                n_top += 1
        if not cands:
            not_fitting.append(model.id)
            continue
        best = cands[0]
        for c in cands[1:]:
            if _better(c, best):
                best = c
        rest = sorted((c for c in cands if c is not best), key=lambda c: (c[0], c[1], c[2]))
        quant = usable_quants[best[3]]
        # The pick is made when first read (a page reads the picks of the models it shows); ranking reads
        # ``rank_key``'s fields, the same floats the pick will hold.
        tps, usable = best[5], best[6]
        rank = (0 if usable else 1, -(model.score_for(req.use_case) * (1 - best[1])), -(tps or 0.0))
        alts = rest[: req.max_alternatives]
        chosen.append(
            ModelRecommendation(
                functools.partial(_pick, req, model, quant, kv, comp, best),
                _alternatives(req, model, usable_quants, kv, comp, alts),
                ranked_as=(model, quant, rank),
                alternative_scores=functools.partial(_scores, req, model, usable_quants, alts),
            )
        )
    chosen.sort(key=lambda r: r.rank)
    ranked = apply_size_rule(chosen)
    if limit is not None:
        ranked = ranked[:limit]
    return Recommendation(req, tuple(ranked), considered, tuple(not_fitting))


def clear_caches() -> None:
    """Forget per-request and per-model caches (not the weight profiles): for tests that change rules."""
    _TABLES.clear()
    _BLOCKS.clear()
    _CONTEXT_COSTS.clear()
