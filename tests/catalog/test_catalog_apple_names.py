"""Macs as people name them: the chip, its base GPU configuration for that memory, and the memory as RAM."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from advisor.catalog.hardware import GIB, UnknownHardware, find_gpu, search_gpus, unified_memory_in_name


@pytest.mark.parametrize(
    ("name", "chip", "ram_gib"),
    [
        ("MacBook Air M3 16GB", "Apple M3 (8-core GPU)", 16),  # the base M3 has the 8-core GPU
        ("M3 16GB", "Apple M3 (8-core GPU)", 16),
        ("M4 Max 128GB", "Apple M4 Max (40-core GPU)", 128),  # 128 GB is sold only with the 40-core GPU
        ("M4 Max 36GB", "Apple M4 Max (32-core GPU)", 36),
        ("Mac Studio M3 Ultra 192GB", "Apple M3 Ultra (60-core GPU)", 192),  # between its 96 and 512 GB
        ("M4 Max 40-core 64GB", "Apple M4 Max (40-core GPU)", 64),
        ("Mac mini M4 Pro 48GB", "Apple M4 Pro (16-core GPU)", 48),
    ],
)
def test_a_mac_name_gives_the_chip_and_its_memory(name: str, chip: str, ram_gib: int) -> None:
    spec = find_gpu(name)
    assert spec.name == chip and spec.vram_bytes == ram_gib * GIB and spec.unified_memory
    assert unified_memory_in_name(name) == ram_gib * GIB


def test_a_mac_without_memory_is_its_base_chip_and_never_a_geforce() -> None:
    assert find_gpu("MacBook Air M3").name == "Apple M3 (8-core GPU)"
    assert unified_memory_in_name("MacBook Air M3") is None
    assert search_gpus("MacBook Air M3", 5)[0].name == "Apple M3 (8-core GPU)"
    assert not any("GeForce" in g.name for g in search_gpus("MacBook Air M3", 5))
    assert find_gpu("M2 Max").name == "Apple M2 Max (38-core GPU)"  # the bare chip keeps its alias
    assert unified_memory_in_name("RTX 3090 24GB") is None  # a discrete card's memory is not RAM


def test_memory_apple_does_not_sell_is_an_error() -> None:
    with pytest.raises(UnknownHardware, match="36 GB, 48 GB, 64 GB, 128 GB"):
        find_gpu("M4 Max 256GB")


@pytest.mark.django_db
def test_the_form_takes_the_ram_from_the_name() -> None:
    from advisor.forms import MachineForm

    form = MachineForm(QueryDict("gpu=M3+16GB&ram=32"))
    assert form.is_valid() and form.cleaned_data["ram"] == 16
    form = MachineForm(QueryDict("gpu=RTX+4090&ram=64"))
    assert form.is_valid() and form.cleaned_data["ram"] == 64
