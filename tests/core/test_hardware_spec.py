"""Pure hardware dataclasses: memory-bandwidth arithmetic and machine totals."""

from __future__ import annotations

import json

import pytest

from advisor.core.hardware_spec import GIB, CPUSpec, GPUSpec, Machine, RamKind


def _gpu(name: str, vram_gib: float, bandwidth: float, fraction: float | None = None) -> GPUSpec:
    return GPUSpec(
        name=name,
        vendor="test",
        vram_bytes=int(vram_gib * GIB),
        bandwidth_gbps=bandwidth,
        fp16_tflops=None,
        unified_memory=fraction is not None,
        gpu_memory_fraction=fraction,
        kind="discrete",
        source="test",
    )


@pytest.mark.parametrize(
    ("kind", "channels", "mts", "expected"),
    [
        (RamKind("DDR5", 5600, 64), 2, None, 89.6),  # dual-channel DDR5-5600
        (RamKind("DDR4", 3200, 64), 2, None, 51.2),  # dual-channel DDR4-3200
        (RamKind("DDR5", 4800, 64), 12, None, 460.8),  # 12-channel EPYC Genoa
        (RamKind("LPDDR5X", 8000, 16), 16, None, 256.0),  # 256-bit Strix Halo
        (RamKind("LPDDR5X", 8533, 16), 8, None, 136.528),  # 128-bit Lunar Lake
        (RamKind("DDR5", 5600, 64), 2, 6400, 102.4),  # explicit speed overrides the kind's default
    ],
)
def test_ram_kind_bandwidth(kind: RamKind, channels: int, mts: int | None, expected: float) -> None:
    assert kind.bandwidth_gbps(channels, mts) == pytest.approx(expected)


def test_gpu_usable_bytes_whole_card_or_unified_share() -> None:
    card = _gpu("card", 24, 1008)
    assert card.usable_bytes == 24 * GIB
    mac = _gpu("mac", 16, 120, fraction=2 / 3)
    assert mac.usable_bytes == int(16 * GIB * 2 / 3)
    bigger = mac.with_memory(64 * GIB, 0.75)
    assert bigger.usable_bytes == 48 * GIB
    assert bigger.name == "mac" and bigger.bandwidth_gbps == 120


def test_machine_totals_count_every_gpu() -> None:
    a = _gpu("a", 24, 936)
    b = _gpu("b", 12, 504)
    cpu = CPUSpec("cpu", 16, 32, "DDR5", 2, 5600, 89.6, "test")
    machine = Machine(gpus=((a, 2), (b, 1)), ram_bytes=128 * GIB, cpu=cpu)
    assert machine.gpu_count == 3
    assert machine.total_vram_bytes == 60 * GIB
    assert [g.name for g in machine.gpu_list] == ["a", "a", "b"]
    assert machine.min_gpu_bandwidth_gbps == 504
    assert machine.cpu_bandwidth_gbps == 89.6


def test_cpu_only_machine() -> None:
    machine = Machine(gpus=(), ram_bytes=16 * GIB)
    assert machine.gpu_count == 0
    assert machine.total_vram_bytes == 0
    assert machine.min_gpu_bandwidth_gbps is None
    assert machine.cpu_bandwidth_gbps is None


def test_machine_round_trips_through_json() -> None:
    mac = _gpu("Apple M2 Max (38-core GPU)", 96, 400, fraction=0.75)
    cpu = CPUSpec("Apple M2 Max", 12, 12, "LPDDR5", 32, 6400, 400.0, "test")
    machine = Machine(gpus=((mac, 1),), ram_bytes=96 * GIB, cpu=cpu, unified_memory=True, label="studio")
    data = json.loads(json.dumps(machine.to_dict()))
    assert Machine.from_dict(data) == machine
    bare = Machine(gpus=(), ram_bytes=8 * GIB, free_vram_bytes=())
    assert Machine.from_dict(json.loads(json.dumps(bare.to_dict()))) == bare
