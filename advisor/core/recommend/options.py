"""What the recommender is asked: the quants and models it may pick from, the machine, the request.

``Request`` resolves the runtime's defaults (flash attention, KV cache type: ``default_kv_type``), so the
rest of the package reads one settled value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from advisor.core.hardware_spec import Machine
from advisor.core.shape import ModelShape

Placement = Literal["gpu", "partial", "cpu"]
DeviceKind = Literal["cuda", "metal", "other_gpu", "cpu"]


@dataclass(frozen=True)
class QuantOption:
    """A quant as the recommender needs it (``advisor.catalog.quants`` builds these)."""

    name: str
    format: Literal["gguf", "hf"]
    nominal_bits: float  # bits of the preset's main tensor type (Q4_K_M -> q4_K, 4.5)
    bits_per_weight: float  # whole file, Llama-3.1-8B (for display)
    kld: float  # measured or proxy KLD against FP16
    runtimes: tuple[str, ...]
    preset: str | None = None  # llama-quantize preset for GGUF
    hf_quant: str | None = None  # advisor.core.quantize.HFQuant value for HF formats
    double_quant: bool = False
    needs_imatrix: bool = False
    moe_only: bool = False
    native_archs: tuple[str, ...] = ()  # architectures published in this precision
    measured: bool = True  # False when ``kld`` comes from a proxy quant


@dataclass(frozen=True)
class ModelOption:
    """A candidate model: its shape, size, use cases and a quality score on one scale."""

    id: str
    family: str
    released: str  # YYYY-MM(-DD)
    shape: ModelShape
    params_total: int
    params_active: int
    use_cases: tuple[str, ...]
    quality: float  # overall score on the one benchmark (advisor/catalog/data/quality.json), or its estimate
    quality_estimated: bool  # True when estimated from family, size and date, not published
    quality_metric: str = ""
    is_base: bool = False
    native_quants: tuple[str, ...] = ()  # quant names trained for (QAT): no quality cost
    title: str = ""
    use_scores: tuple[tuple[str, float], ...] = ()  # (use case, score) where the benchmark scores it apart

    def score_for(self, use_case: str | None) -> float:
        """The score that ranks this model for ``use_case``: its category score where the benchmark has
        one (coding, reasoning), else the overall score."""
        for u, s in self.use_scores:
            if u == use_case:
                return s
        return self.quality

    @property
    def lineage(self) -> tuple[str, str]:
        """Models released together in one family (Qwen2.5 in 2024-09): they differ only in size."""
        return (self.family, self.released[:7])

    @property
    def is_moe(self) -> bool:
        return self.shape.is_moe


@dataclass(frozen=True)
class Budget:
    """What a machine offers: GPU memory (the unified share where memory is shared), RAM, bandwidth."""

    gpu_bytes: int
    ram_bytes: int
    n_gpus: int = 1
    unified: bool = False
    gpu_kind: DeviceKind = "cuda"
    gpu_bandwidth_gbps: float | None = None
    cpu_bandwidth_gbps: float | None = None
    label: str = ""

    @classmethod
    def from_machine(cls, machine: Machine) -> Budget:
        """GPU memory is ``Machine.total_vram_bytes`` (the unified share already applied)."""
        kind: DeviceKind = "cpu"
        if machine.gpus:
            spec = machine.gpus[0][0]
            if spec.kind == "apple":
                kind = "metal"
            elif spec.vendor.upper() == "NVIDIA":
                kind = "cuda"
            else:
                kind = "other_gpu"
        return cls(
            gpu_bytes=machine.total_vram_bytes,
            ram_bytes=machine.ram_bytes,
            n_gpus=machine.gpu_count,
            unified=machine.unified_memory,
            gpu_kind=kind,
            gpu_bandwidth_gbps=machine.min_gpu_bandwidth_gbps,
            cpu_bandwidth_gbps=machine.cpu_bandwidth_gbps,
            label=machine.label,
        )

    @classmethod
    def from_raw(
        cls,
        vram_bytes: int,
        ram_bytes: int,
        *,
        unified: bool = False,
        n_gpus: int = 1,
        gpu_kind: DeviceKind = "cuda",
        gpu_bandwidth_gbps: float | None = None,
        cpu_bandwidth_gbps: float | None = None,
    ) -> Budget:
        """From numbers a user typed. For unified memory ``vram_bytes`` is the GPU's share of RAM."""
        return cls(
            gpu_bytes=vram_bytes,
            ram_bytes=ram_bytes,
            n_gpus=n_gpus if vram_bytes > 0 else 0,
            unified=unified,
            gpu_kind=gpu_kind if vram_bytes > 0 else "cpu",
            gpu_bandwidth_gbps=gpu_bandwidth_gbps,
            cpu_bandwidth_gbps=cpu_bandwidth_gbps,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "gpu_bytes": self.gpu_bytes,
            "ram_bytes": self.ram_bytes,
            "n_gpus": self.n_gpus,
            "unified": self.unified,
            "gpu_kind": self.gpu_kind,
            "gpu_bandwidth_gbps": self.gpu_bandwidth_gbps,
            "cpu_bandwidth_gbps": self.cpu_bandwidth_gbps,
        }


# The decode speed a plan must reach to be usable unless the user asks for another (the form's "minimum
# speed"; bounds in advisor/fit/args.py): about twice silent reading speed (placement.READING_SPEED_TPS,
# 5.3 tok/s), so text outpaces the reader and a reasoning model's hidden thinking stays a wait of seconds.
DEFAULT_MIN_TPS = 10.0

# Runtimes that run GGUF files on llama.cpp, and whether each turns flash attention on by itself.
LLAMA_CPP_RUNTIMES = ("llama-server", "llama-cpp-python", "ollama", "lm-studio")
# Runtimes that give sliding-window layers a full-size KV cache. llama-server/llama-cli default to
# swa_full = false (common/common.h); llama-cpp-python's Llama(swa_full=None) keeps the library default
# of llama_context_default_params(), swa_full = true (src/llama-context.cpp).
SWA_FULL_RUNTIMES = ("llama-cpp-python",)


@dataclass(frozen=True)
class Request:
    """One recommendation request. ``ctx`` is per user; ``parallel`` users each get ``ctx`` tokens."""

    budget: Budget
    ctx: int = 8192
    runtime: str = "llama-server"
    kv_type: str | None = None  # None: default_kv_type(runtime)
    flash_attn: bool | None = None  # None: on where the runtime has it (llama.cpp family)
    use_case: str | None = None
    parallel: int = 1
    include_base_models: bool = False
    max_alternatives: int = 3
    min_tps: float = DEFAULT_MIN_TPS  # decode tok/s (at half the context) a plan needs to be usable

    @property
    def is_llama_cpp(self) -> bool:
        return self.runtime in LLAMA_CPP_RUNTIMES

    @property
    def resolved_flash_attn(self) -> bool:
        if self.flash_attn is not None:
            return self.flash_attn
        return self.is_llama_cpp

    @property
    def resolved_kv_type(self) -> str:
        if not self.is_llama_cpp:
            return "f16"  # transformers and vLLM keep K/V in the compute dtype here
        return self.kv_type or default_kv_type(self.runtime, self.resolved_flash_attn)


def default_kv_type(runtime: str, flash_attn: bool = True) -> str:
    """q8_0 KV cache where the runtime supports it, else f16.

    "KV cache quantization (Q8/Q4 KV) and why it should be your default" ("Streaming, throughput, and
    the KV cache", https://heyitskundan.com/blog/streaming-and-the-kv-cache). llama.cpp and the programs
    built on it (llama-server, llama-cpp-python, Ollama, LM Studio) offer a q8_0 cache, but a quantized
    V cache needs flash attention (src/llama-context.cpp: "quantized V cache was requested, but this
    requires Flash Attention"). transformers keeps K/V in the compute dtype and vLLM's fp8 cache is
    opt-in, so they get f16. q8_0 halves the cache (34 bytes per 32 values instead of 64) at a KLD cost
    below the weights' q8_0.
    """
    if runtime in LLAMA_CPP_RUNTIMES and flash_attn:
        return "q8_0"
    return "f16"
