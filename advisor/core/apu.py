"""AMD APUs with unified memory (Ryzen AI Max / Strix Halo, Ryzen AI 300 / Strix Point, 8700G ...): the
memory each llama.cpp backend may use, from the BIOS carve-out and the kernel's GTT limit.

* The BIOS carve-out ("UMA frame buffer", "iGPU memory size") is taken from RAM at boot: the OS never
  sees it, and it is what ROCm's ``hipMalloc`` allocates from. llama.cpp's ROCm backend sees only the
  carve-out (6368 MiB on a Ryzen AI 9 HX 370 with a 6 GB carve-out and a 40 GiB GTT, where Vulkan saw
  53281 MiB): https://github.com/ggml-org/llama.cpp/issues/19818. ``GGML_CUDA_ENABLE_UNIFIED_MEMORY=1``
  makes it allocate with ``hipMallocManaged`` from system RAM instead:
  https://github.com/lemonade-sdk/llamacpp-rocm/issues/57.
* GTT is the part of the remaining RAM the kernel lets the GPU map; on Linux RADV's Vulkan driver exposes
  carve-out + GTT to llama.cpp (same two sources). TTM's default limit is half of the RAM the OS sees
  (drivers/gpu/drm/ttm/ttm_device.c ttm_global_init: totalram / 2; amdgpu.gttsize -1 = TTM's value,
  https://docs.kernel.org/gpu/amdgpu/module-parameters.html). Raise it with the kernel parameters
  ``ttm.pages_limit=<4 KiB pages>`` and ``amdgpu.gttsize=<MiB>`` (AMD's Strix Halo guide:
  https://rocm.docs.amd.com/en/latest/how-to/system-optimization/strixhalo.html).
* On Windows the Vulkan driver reports only the carve-out, split into 32 GiB heaps above 64 GiB:
  https://github.com/ggml-org/llama.cpp/issues/16832.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from advisor.core.units import GIB

PAGE_BYTES = 4096
# What the OS keeps for itself when GTT is raised by hand (the guide's examples leave 4-8 GiB).
OS_KEEP_BYTES = 8 * GIB


@dataclass(frozen=True)
class ApuBudget:
    """Bytes of GPU memory each backend may use on one APU."""

    ram_bytes: int  # installed RAM
    carveout_bytes: int
    gtt_bytes: int
    gtt_default: bool  # the kernel's default limit (no gtt value was given)
    vulkan_bytes: int
    rocm_bytes: int
    rocm_unified_bytes: int  # with GGML_CUDA_ENABLE_UNIFIED_MEMORY=1
    os_bytes: int  # what the OS sees (RAM less the carve-out)

    def to_dict(self) -> dict[str, Any]:
        return {"ram_bytes": self.ram_bytes, "carveout_bytes": self.carveout_bytes, "gtt_bytes": self.gtt_bytes,
                "gtt_default": self.gtt_default, "vulkan_bytes": self.vulkan_bytes, "rocm_bytes": self.rocm_bytes,
                "rocm_unified_bytes": self.rocm_unified_bytes, "os_bytes": self.os_bytes}  # fmt: skip


def apu_budget(ram_bytes: int, carveout_bytes: int, gtt_bytes: int | None = None) -> ApuBudget:
    """The budget each backend sees on Linux.

    >>> b = apu_budget(128 * GIB, 64 * GIB)
    >>> b.gtt_bytes // GIB, b.vulkan_bytes // GIB, b.rocm_bytes // GIB
    (32, 96, 64)
    """
    if ram_bytes <= 0 or not 0 <= carveout_bytes < ram_bytes:
        raise ValueError("the carve-out must be smaller than the installed RAM")
    os_bytes = ram_bytes - carveout_bytes
    default = gtt_bytes is None
    gtt = os_bytes // 2 if gtt_bytes is None else min(gtt_bytes, os_bytes)
    return ApuBudget(ram_bytes, carveout_bytes, gtt, default, carveout_bytes + gtt, carveout_bytes,
                     carveout_bytes + gtt, os_bytes)  # fmt: skip


def raise_gtt_advice(ram_bytes: int, carveout_bytes: int) -> str:
    """Kernel parameters that let the GPU map all RAM but ``OS_KEEP_BYTES`` (and a small carve-out)."""
    gtt = max(ram_bytes - carveout_bytes - OS_KEEP_BYTES, 0)
    return (f"set a small carve-out (512 MB) in the BIOS and boot with ttm.pages_limit={gtt // PAGE_BYTES} "
            f"amdgpu.gttsize={gtt // (1024 * 1024)} (GTT {gtt / GIB:.0f} GiB, "
            f"{OS_KEEP_BYTES // GIB} GiB left to the OS)")  # fmt: skip
