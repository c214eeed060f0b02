"""Hardware names as people and tools write them resolve to the catalog; unknown ones say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.catalog.hardware import UnknownHardware, find_gpu
from advisor.catalog.machines import find_cpu

SAMPLE = Path(__file__).resolve().parents[2] / "bench" / "data" / "community_speeds" / "speeds.jsonl"


def test_calibration_sample_names_resolve() -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    unresolved = []
    for row in rows:
        try:
            find_gpu(row["hardware"]) if row["gpu_count"] else find_cpu(row["hardware"])
        except UnknownHardware:
            unresolved.append(row["hardware"])
    assert len(rows) == 476
    # A VM's generic "Intel Core Processor (Haswell, no TSX)" names no part: it stays unknown.
    assert unresolved == ["Intel Core Processor (Haswell, no TSX) (haswell)"]
    assert 1 - len(unresolved) / len(rows) >= 0.97


@pytest.mark.parametrize(
    ("name", "expected", "vram_gib"),
    [
        ("Apple M4 Max 12P+4E+40GPU", "Apple M4 Max (40-core GPU)", 128),
        ("Apple M3 4P+4E+10GPU", "Apple M3 (10-core GPU)", 24),
        ("Apple M1 Pro 6P+2E+14GPU", "Apple M1 Pro (14-core GPU)", 32),
        ("3090 24GB", "GeForce RTX 3090", 24),
        ("4090 24GB", "GeForce RTX 4090", 24),
        ("3070 8GB", "GeForce RTX 3070", 8),  # not the 3070 Ti 8 GB GA102
        ("RTX 4000 Ada 20GB", "RTX 4000 Ada Generation", 20),
        ("RTX 5000 Ada 32GB", "RTX 5000 Ada Generation", 32),
        ("A40 48GB", "A40 PCIe", 48),
        ("RTX A6000 48GB", "RTX A6000", 48),
        ("Tesla P100-SXM2-16GB", "Tesla P100 SXM2", 16),
        ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090", 24),
        ("NVIDIA H100 80GB HBM3", "H100 SXM5 80 GB", 80),
        ("Intel Alder Lake-P GT2 [Iris Xe Graphics]", "Iris Xe Graphics 96EU Mobile", None),
        ("Intel Alder Lake-P GT2 [Iris Xe Graphics] (integrated)", "Iris Xe Graphics 96EU Mobile", None),
        ("GeForce RTX 3060 12GB", "GeForce RTX 3060 12 GB", 12),
        ("GeForce RTX 3060 8GB", "GeForce RTX 3060 8 GB", 8),
    ],
)
def test_gpu_name_forms(name: str, expected: str, vram_gib: int | None) -> None:
    gpu = find_gpu(name)
    assert gpu.name == expected
    if vram_gib is not None:
        assert round(gpu.vram_bytes / 2**30) == vram_gib


def test_iris_xe_has_platform_bandwidth() -> None:
    # LPDDR4X-4266 on a 128-bit bus: 8 x 2 bytes x 4266 MT/s.
    assert find_gpu("Intel Alder Lake-P GT2 [Iris Xe Graphics]").bandwidth_gbps == pytest.approx(68.256)


@pytest.mark.parametrize(
    ("name", "expected", "isa", "bandwidth"),
    [
        ("11th Gen Intel Core i7-1185G7 @ 3.00GHz (tigerlake)", "Intel Core i7-1185G7", "avx512", 68.256),
        ("AMD Ryzen 7 3700X 8-Core Processor (znver2)", "AMD Ryzen 7 3700X", "avx2", 51.2),
        ("AMD EPYC 9454P 48-Core Processor (znver4)", "AMD EPYC 9454P", "avx512", 460.8),
        ("AMD Ryzen 7 7840U w/ Radeon 780M Graphics (znver4)", "AMD Ryzen 7 7840U", "avx512", 120.0),
        ("13th Gen Intel(R) Core(TM) i9-13900K", "Intel Core i9-13900K", "avx2", 89.6),
        ("Intel Xeon CPU E5-2680 v4 @ 2.40GHz (broadwell)", "Intel Xeon E5-2680 v4", "avx2", 76.8),
        ("Raspberry Pi 5 Model B Rev 1.1", "Raspberry Pi 5", "neon", 17.068),
        ("Apple M2 Ultra 16P+8E", "Apple M2 Ultra", "neon", 800.0),
        ("AMD FX(tm)-8320 Eight-Core Processor (bdver2)", "AMD FX-8320", "avx", 29.856),
    ],
)
def test_cpu_name_forms(name: str, expected: str, isa: str, bandwidth: float) -> None:
    cpu = find_cpu(name)
    assert (cpu.name, cpu.isa) == (expected, isa)
    assert cpu.bandwidth_gbps == pytest.approx(bandwidth)


def test_no_silent_guess() -> None:
    # Every number of a CPU name must match: an Intel Core M is not an Apple M1.
    with pytest.raises(UnknownHardware) as err:
        find_cpu("Intel Core M-5Y10 CPU @ 0.80GHz")
    assert "Unknown CPU" in str(err.value)
    with pytest.raises(UnknownHardware) as near:
        find_cpu("Xeon Gold 6342")  # not in the table: Xeons that share its words are suggested
    assert "Did you mean: Intel Xeon" in str(near.value)
    with pytest.raises(UnknownHardware) as gpu_err:
        find_gpu("RTX 4095")
    assert "Did you mean" in str(gpu_err.value)
