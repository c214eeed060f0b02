"""Host detection: runs on this machine (usually without a GPU) and never crashes."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import psutil
import pytest

from advisor.hardware import _nvml_bandwidth, cpu_name_from_cpuinfo, detect_host, host_id


def test_detect_host_reports_real_ram_and_cores() -> None:
    report = detect_host()
    assert report.ram_bytes == psutil.virtual_memory().total
    assert report.machine.ram_bytes == report.ram_bytes
    assert report.logical_cores == psutil.cpu_count(logical=True)
    assert report.machine.cpu is not None
    assert report.machine.cpu.threads >= 1
    assert report.hostname == socket.gethostname()
    assert report.host_id == host_id()
    if report.gpus:  # a GPU machine: every NVML device is in the Machine
        assert report.machine.gpu_count == len(report.gpus)
        assert report.driver_version
        assert all(g.total_bytes > 0 for g in report.gpus)
    else:
        assert report.machine.gpus == ()
        assert report.machine.total_vram_bytes == 0
        assert any("no GPU" in note for note in report.notes)
    assert report.as_dict()["ram_bytes"] == report.ram_bytes


def test_host_id_is_stable_and_readable() -> None:
    assert host_id("GPU-Box.local") == host_id("gpu-box.local")
    assert host_id("GPU-Box.local").startswith("gpu-box-local-")
    assert host_id("a") != host_id("b")
    assert len(host_id("x" * 200)) <= 49


def test_cpu_name_from_cpuinfo() -> None:
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD Ryzen 9 7950X 16-Core Processor\n"
    assert cpu_name_from_cpuinfo(text) == "AMD Ryzen 9 7950X 16-Core Processor"
    assert cpu_name_from_cpuinfo("processor : 0\nModel : Raspberry Pi 5 Model B Rev 1.0\n") == (
        "Raspberry Pi 5 Model B Rev 1.0"
    )
    assert cpu_name_from_cpuinfo("nothing here") is None


@pytest.mark.parametrize(
    ("bus_bits", "clock_mhz", "expected"),
    [(5120, 2619, 3352.3), (384, 10501, 1008.1), (0, 1000, None)],  # H100 SXM, RTX 4090, no data
)
def test_nvml_bandwidth_formula(bus_bits: int, clock_mhz: int, expected: float | None) -> None:
    # A stand-in for the pynvml module: only the two calls the formula reads.
    fake = SimpleNamespace(
        NVML_CLOCK_MEM=2,
        nvmlDeviceGetMemoryBusWidth=lambda handle: bus_bits,
        nvmlDeviceGetMaxClockInfo=lambda handle, clock: clock_mhz,
    )
    assert _nvml_bandwidth(fake, None) == expected
