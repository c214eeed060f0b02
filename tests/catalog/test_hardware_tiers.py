"""Hardware tiers: the typical machines the UI offers."""

from __future__ import annotations

import json

import pytest

from advisor.catalog.hardware import apple_gpu_memory_fraction, find_gpu
from advisor.catalog.machines import get_tier, load_tiers, tier_machine
from advisor.core.hardware_spec import GIB, Machine


def test_tiers_load_with_unique_ids() -> None:
    tiers = load_tiers()
    ids = [t.id for t in tiers]
    assert len(ids) == len(set(ids)) == 17
    for wanted in [
        "gpu-8gb",
        "gpu-12gb",
        "gpu-16gb",
        "gpu-24gb",
        "gpu-32gb",
        "gpu-2x24gb",
        "mac-16gb",
        "mac-24gb",
        "mac-32gb",
        "mac-64gb",
        "mac-128gb",
        "mac-192gb",
        "mac-512gb",
        "dc-80gb",
        "dc-141gb",
        "laptop-igpu-16gb",
        "laptop-8gb",
    ]:
        assert wanted in ids


@pytest.mark.parametrize("tier", load_tiers(), ids=lambda t: t.id)
def test_tier_references_real_gpus(tier) -> None:  # type: ignore[no-untyped-def]
    assert tier.gpus, tier.id
    total = 0
    for name, count in tier.gpus:
        spec = find_gpu(name)
        assert count >= 1
        total += spec.vram_bytes * count
    if tier.unified:
        if all(find_gpu(n).kind == "apple" for n, _ in tier.gpus):
            expected = tier.ram_bytes * apple_gpu_memory_fraction(tier.ram_bytes)
            assert tier.vram_bytes == pytest.approx(expected, rel=1e-3)
        assert tier.vram_bytes < tier.ram_bytes
    else:
        assert tier.vram_bytes == total
    assert tier.default_ctx % 256 == 0 and 2048 <= tier.default_ctx <= 131072
    assert tier.default_kv_type in {"f16", "q8_0", "q4_0"}
    assert tier.default_runtime == "llama-server"
    assert tier.title and tier.description
    machine = tier_machine(tier)
    assert machine.cpu is not None and machine.cpu.bandwidth_gbps, tier.id
    assert machine.ram_bytes == tier.ram_bytes
    assert Machine.from_dict(json.loads(json.dumps(machine.to_dict()))) == machine


def test_tier_machine() -> None:
    pair = tier_machine(get_tier("gpu-2x24gb"))
    assert pair.gpu_count == 2
    assert pair.total_vram_bytes == 48 * GIB
    mac = tier_machine(get_tier("mac-128gb"))
    assert mac.unified_memory
    assert mac.total_vram_bytes == 96 * GIB
    assert mac.gpu_list[0].bandwidth_gbps == 546
    assert mac.cpu is not None and mac.cpu.name == "Apple M4 Max" and mac.cpu.bandwidth_gbps == 546
    assert pair.cpu is not None and pair.cpu.bandwidth_gbps == pytest.approx(51.2)  # DDR4-3200 x 2
    h200 = tier_machine(get_tier("dc-141gb"))
    assert h200.gpu_list[0].name == "H200 SXM 141 GB"
    with pytest.raises(KeyError):
        get_tier("no-such-tier")
