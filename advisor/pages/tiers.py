"""Tier pages: a typical machine's best models overall and per use case."""

from __future__ import annotations

from dataclasses import dataclass, replace

from advisor.catalog.hardware import GIB
from advisor.catalog.machines import get_tier, load_tiers
from advisor.core.hardware_spec import HardwareTier
from advisor.pages.cards import Card
from advisor.pages.spec import MachineSummary, Spec, machine_for, machine_summary


def tier_spec(tier: HardwareTier) -> Spec:
    """The form spec that reproduces a tier (so a tier page and its full results agree)."""
    name, count = tier.gpus[0] if tier.gpus else ("", 1)
    # Unified tiers state the GPU's share of RAM; discrete tiers use the catalog's card size.
    vram = round(tier.vram_bytes / GIB, 3) if tier.unified else None
    return Spec(
        gpu=name, gpu_count=count, vram=vram, ram=round(tier.ram_bytes / GIB, 3), cpu=tier.cpu or "",
        ctx=tier.default_ctx, kv_type=tier.default_kv_type, runtime=tier.default_runtime,
    )  # fmt: skip


def tiers() -> list[HardwareTier]:
    return list(load_tiers())


@dataclass(frozen=True)
class Section:
    title: str
    use_case: str
    cards: tuple[Card, ...]


@dataclass(frozen=True)
class TierPage:
    tier: HardwareTier
    machine: MachineSummary
    spec: Spec
    top: tuple[Card, ...]
    sections: tuple[Section, ...]
    probed: tuple[Card, ...]
    tiers: list[HardwareTier]

    def context(self) -> dict[str, object]:
        """The template's names."""
        return {"tier": self.tier, "machine": self.machine, "spec": self.spec, "spec_query": self.spec.query(),
                "top": self.top, "sections": self.sections, "probed": self.probed, "tiers": self.tiers}  # fmt: skip


USE_CASE_SECTIONS = (("chat", "Chat"), ("coding", "Coding"), ("long-documents", "Long documents"))


def tier_page(tier_id: str) -> TierPage | None:
    """The tier's spec through the same ranking and plans as the home page's results."""
    from advisor.pages.results import Filters, ranked_cards

    try:
        tier = get_tier(tier_id[:100])
    except KeyError:
        return None
    spec = tier_spec(tier)
    machine = machine_for(spec)  # the machine its results link computes, to the byte
    top = ranked_cards(spec, machine, Filters(limit=10)).cards
    sections = tuple(
        Section(title, uc, ranked_cards(replace(spec, use_case=uc), machine, Filters(limit=3)).cards)
        for uc, title in USE_CASE_SECTIONS
    )
    probed = tuple(c for c in top if c.plan.speed.measured is not None)
    return TierPage(tier, machine_summary(machine), spec, top, sections, probed, tiers())
