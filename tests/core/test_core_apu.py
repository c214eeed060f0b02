"""AMD APUs: the GPU memory each backend sees from the BIOS carve-out and the GTT limit."""

from __future__ import annotations

import pytest

from advisor.core import apu
from advisor.core.units import GIB


def test_default_gtt_is_half_the_ram_the_os_sees() -> None:
    b = apu.apu_budget(128 * GIB, 64 * GIB)
    assert (b.os_bytes, b.gtt_bytes, b.gtt_default) == (64 * GIB, 32 * GIB, True)
    assert (b.vulkan_bytes, b.rocm_bytes, b.rocm_unified_bytes) == (96 * GIB, 64 * GIB, 96 * GIB)


def test_a_small_carve_out_and_a_raised_gtt() -> None:
    # Strix Point, 96 GB RAM, 6 GB carve-out, amdgpu.gttsize=40960 (llama.cpp issue 19818).
    b = apu.apu_budget(96 * GIB, 6 * GIB, 40 * GIB)
    assert (b.rocm_bytes, b.vulkan_bytes, b.gtt_default) == (6 * GIB, 46 * GIB, False)
    # GTT cannot map more than the RAM the OS has.
    assert apu.apu_budget(32 * GIB, 16 * GIB, 64 * GIB).gtt_bytes == 16 * GIB


def test_advice_gives_the_kernel_parameters() -> None:
    advice = apu.raise_gtt_advice(128 * GIB, GIB // 2)
    # 128 - 0.5 - 8 GiB = 119.5 GiB = 31,326,208 pages of 4 KiB = 122,368 MiB.
    assert "ttm.pages_limit=31326208" in advice and "amdgpu.gttsize=122368" in advice


def test_a_carve_out_as_large_as_the_ram_is_refused() -> None:
    with pytest.raises(ValueError):
        apu.apu_budget(32 * GIB, 32 * GIB)
