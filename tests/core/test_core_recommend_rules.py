"""The ranking rules of issue 14, on the ten bench machines (bench/recommend_top10.py): usable quality
first, a newer and larger model of a line above its predecessor, a speed for every pick, MoE models
placed with their experts in RAM, and no launch command for a model that does not fit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from advisor.catalog.machines import get_tier, tier_machine
from advisor.catalog.quants import quant_options
from advisor.catalog.recommender import catalog_options, recommend_for
from advisor.core import recommend as rec
from advisor.core.recommend import Budget, Request, confirm, recommend
from tests.web.pages import text

GIB = 1024**3
# (machine tier, use case) pairs the rules must hold on; the tiers are the bench's machines.
TIERS = ("laptop-8gb", "gpu-12gb", "gpu-16gb", "gpu-24gb", "gpu-2x24gb", "mac-16gb", "mac-64gb", "mac-192gb",
         "dc-80gb")  # fmt: skip
USE_CASES = (None, "chat", "coding", "reasoning")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    rec.clear_caches()
    yield
    rec.clear_caches()


@pytest.mark.parametrize("use_case", USE_CASES)
@pytest.mark.parametrize("tier", TIERS)
def test_nothing_unusable_ranks_above_something_usable_and_every_pick_has_a_speed(
    tier: str, use_case: str | None
) -> None:
    r = recommend_for(tier_machine(get_tier(tier)), ctx=8192, use_case=use_case)
    usable = [m.pick.speed.usable for m in r.ranked]
    assert usable == sorted(usable, reverse=True)  # every True before every False
    assert all(m.pick.speed.decode_tps is not None for m in r.ranked)
    assert all(m.pick.speed.usable == (m.pick.speed.decode_tps >= 10) for m in r.ranked)  # type: ignore[operator]
    scores = [m.pick.quality.score for m in r.ranked if m.pick.speed.usable]
    # usable picks by quality, except where the size rule swapped siblings (prefer_larger_at_4bit): a larger
    # model takes the slot of a smaller one of its lineage, which drops into the larger one's old slot
    for i, (a, b) in enumerate(zip(r.ranked, r.ranked[1:], strict=False)):
        if a.pick.speed.usable and b.pick.speed.usable and a.pick.quality.score < b.pick.quality.score:
            lifted = any(rec.prefer_larger_at_4bit(a.pick, s.pick) for s in r.ranked[i + 1 :])
            dropped = any(rec.prefer_larger_at_4bit(s.pick, b.pick) for s in r.ranked[: i + 1])
            assert lifted or dropped, (a.pick.model.id, b.pick.model.id)
    assert scores


def test_the_minimum_speed_is_the_users() -> None:
    machine = tier_machine(get_tier("gpu-12gb"))
    slow_ok = recommend_for(machine, ctx=8192, min_tps=2)
    fast_only = recommend_for(machine, ctx=8192, min_tps=30)
    assert all(m.pick.speed.decode_tps >= 30 for m in fast_only.ranked if m.pick.speed.usable)  # type: ignore[operator]
    assert sum(m.pick.speed.usable for m in slow_ok.ranked) > sum(m.pick.speed.usable for m in fast_only.ranked)


# A newer, larger (or equal) model of the same line, and its predecessor.
SUCCESSORS = [
    ("qwen3-32b", "qwq-32b-preview"),
    ("qwen3-32b", "qwen2.5-32b-instruct"),
    ("qwen3-14b", "qwen2.5-14b-instruct"),
    ("qwen3-8b", "qwen2.5-7b-instruct"),
    ("gemma-3-27b-it", "gemma-2-27b-it"),
    ("gemma-3-12b-it", "gemma-2-9b-it"),
    ("llama-3.3-70b-instruct", "llama-3.1-70b-instruct"),
    ("phi-4", "phi-3.5-mini-instruct"),
    ("mistral-small-3.2-24b-instruct-2506", "mistral-small-24b-instruct-2501"),
]


@pytest.mark.parametrize(("newer", "older"), SUCCESSORS)
def test_a_successor_ranks_above_its_predecessor_where_both_are_usable(newer: str, older: str) -> None:
    opts = {m.id: m for m in catalog_options()}
    assert opts[newer].score_for(None) >= opts[older].score_for(None)
    r = recommend_for(tier_machine(get_tier("dc-80gb")), ctx=8192)
    ids = [m.pick.model.id for m in r.ranked if m.pick.speed.usable]
    assert ids.index(newer) < ids.index(older)


def test_successor_floor_only_lifts_estimates() -> None:
    opts = {m.id: m for m in catalog_options()}
    # both rated: LiveBench's own order stands (Qwen3-Next Instruct below the older, larger 235B Instruct)
    assert not opts["qwen3-235b-a22b-instruct-2507"].quality_estimated
    assert opts["qwen3-235b-a22b-instruct-2507"].quality > opts["qwen3-next-80b-a3b-instruct"].quality


def test_a_use_case_score_ages_at_least_as_fast_as_the_overall_one() -> None:
    # LiveBench's coding column rates only models of 2025-04..2026: fitted alone, its date slope is 0, and an
    # unrated 2023-24 model of 70B (CodeLlama) was estimated level with 2026 models that fit the same card.
    opts = {m.id: m for m in catalog_options()}
    coding = {i: dict(o.use_scores)["coding"] for i, o in opts.items()}
    assert opts["codellama-70b-instruct"].quality_estimated
    assert coding["codellama-70b-instruct"] < coding["qwen3.5-35b-a3b"]
    assert coding["codellama-13b-instruct"] < coding["qwen2.5-coder-14b-instruct"]
    points = [(60.0, 8 * 10**9, 8 * 10**9, "2025-06"), (60.0, 8 * 10**9, 8 * 10**9, "2026-01")]
    assert rec.calibrate_scores(points).coef[1] == 0.0
    assert rec.calibrate_scores(points, min_date_slope=0.2).coef[1] == 0.2


def test_gpt_oss_120b_on_a_4090_with_64_gb_keeps_its_experts_in_ram() -> None:
    """The screen places gpt-oss-120b as llama.cpp's fit would: every layer on the GPU, the experts of the
    first layers in RAM; the memory engine agrees on the bytes given the same --n-cpu-moe."""
    budget = Budget.from_raw(24 * GIB, 64 * GIB, gpu_bandwidth_gbps=1008, cpu_bandwidth_gbps=89.6)
    req = Request(budget, ctx=8192)
    opt = next(m for m in catalog_options() if m.id == "gpt-oss-120b")
    pick = recommend(req, [opt], quant_options("llama-server")).ranked[0].pick
    assert pick.fit.placement == "partial" and pick.fit.n_gpu_layers == 37  # 36 layers + output
    assert 15 <= pick.fit.n_cpu_moe <= 36
    assert pick.speed.usable and pick.speed.decode_tps is not None and pick.speed.decode_tps > 10
    _, result = confirm(pick, req)
    assert result.n_cpu_moe == pick.fit.n_cpu_moe and all(d.fits for d in result.devices)
    assert pick.memory.gpu_bytes == pytest.approx(result.gpu_bytes, rel=0.05)
    assert "--n-cpu-moe" in pick.explanation


@pytest.mark.django_db
def test_no_command_for_a_model_that_fits_nowhere(client: Client) -> None:
    html = text(client.get("/models/deepseek-v3", {"gpu": "RTX 3090", "gpu_count": "2", "ram": "64"}))
    assert 'id="nothing-fits"' in html
    assert "llama-server -hf" not in html and "ollama run" not in html and "ollama create" not in html
