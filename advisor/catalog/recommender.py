"""The recommender over the whole catalog: the entry point views, the CLI and tasks call.

>>> from advisor.catalog.machines import get_tier, tier_machine
>>> rec = recommend_for(tier_machine(get_tier("gpu-24gb")), ctx=16384, use_case="coding")
>>> rec.best.pick.fit.placement
'gpu'
"""

from __future__ import annotations

from functools import lru_cache

from advisor.catalog.hardware import apple_gpu_memory_fraction
from advisor.catalog.models_catalog import load_models
from advisor.catalog.quality import load_ratings
from advisor.catalog.quants import quant_options
from advisor.catalog.weight_profiles import load as load_profiles
from advisor.core.hardware_spec import Machine
from advisor.core.recommend import (
    DEFAULT_MIN_TPS,
    Budget,
    ModelOption,
    QuantOption,
    Recommendation,
    Request,
    model_options,
    recommend,
)

GB = 1_000_000_000


@lru_cache(maxsize=1)
def catalog_options() -> tuple[ModelOption, ...]:
    """Every catalog model as a candidate, scores on one scale (computed once)."""
    models = load_models()
    return model_options(models, load_ratings(models))


@lru_cache(maxsize=8)
def _quants(runtime: str) -> tuple[QuantOption, ...]:
    return quant_options(runtime)


def warm() -> None:
    """Load everything a request needs (profiles, options), so the first request is as fast as the rest."""
    load_profiles()
    catalog_options()


def budget_from_numbers(
    vram_gb: float,
    ram_gb: float,
    *,
    unified: bool = False,
    apple: bool = False,
    gpu_bandwidth_gbps: float | None = None,
    cpu_bandwidth_gbps: float | None = None,
) -> Budget:
    """A budget from typed numbers (GB = 10^9 bytes). On a Mac (``apple``) with no ``vram_gb`` given,
    the GPU gets macOS's default share of RAM (``apple_gpu_memory_fraction``)."""
    ram = int(ram_gb * GB)
    vram = int(ram * apple_gpu_memory_fraction(ram)) if apple and vram_gb <= 0 else int(vram_gb * GB)
    return Budget.from_raw(
        vram,
        ram,
        unified=unified or apple,
        gpu_kind="metal" if apple else "cuda",
        gpu_bandwidth_gbps=gpu_bandwidth_gbps,
        cpu_bandwidth_gbps=cpu_bandwidth_gbps,
    )


def recommend_for(
    target: Machine | Budget,
    *,
    ctx: int = 8192,
    runtime: str = "llama-server",
    kv_type: str | None = None,
    flash_attn: bool | None = None,
    use_case: str | None = None,
    parallel: int = 1,
    include_base_models: bool = False,
    limit: int | None = None,
    max_alternatives: int = 3,
    min_tps: float = DEFAULT_MIN_TPS,
) -> Recommendation:
    """Rank the catalog for ``target`` (a ``Machine`` or a ``Budget``)."""
    warm()
    budget = target if isinstance(target, Budget) else Budget.from_machine(target)
    req = Request(
        budget=budget,
        ctx=ctx,
        runtime=runtime,
        kv_type=kv_type,
        flash_attn=flash_attn,
        use_case=use_case,
        parallel=parallel,
        include_base_models=include_base_models,
        max_alternatives=max_alternatives,
        min_tps=min_tps,
    )
    return recommend(req, catalog_options(), _quants(runtime), limit=limit)
