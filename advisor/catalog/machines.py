"""CPUs, typical machines (tiers) and whole machines from names: ``cpus.json``, ``tiers.json`` and the
Apple chips of ``apple_silicon.json``, with GPUs looked up in ``advisor.catalog.hardware``."""

from __future__ import annotations

import difflib
import re
from functools import cache
from typing import Any

from advisor.catalog.hardware import (
    UnknownHardware,
    _load_json,
    find_gpu,
    normalize_name,
    ram_bandwidth_gbps,
)
from advisor.core.hardware_spec import GIB, CPUSpec, GPUSpec, HardwareTier, Machine


def _cpu_from_row(row: dict[str, Any]) -> CPUSpec:
    return CPUSpec(
        name=row["name"],
        cores=row["cores"],
        threads=row["threads"],
        ram_kind=row["ram_kind"],
        channels=row["channels"],
        mts=row["mts"],
        bandwidth_gbps=ram_bandwidth_gbps(row["ram_kind"], row["channels"], row["mts"]),
        source="; ".join(row["sources"]),
        isa=row.get("isa"),
        p_cores=row.get("p_cores"),
        base_ghz=row.get("base_ghz"),
        boost_ghz=row.get("boost_ghz"),
    )


@cache
def _cpu_index() -> dict[str, CPUSpec]:
    cpus = [_cpu_from_row(row) for row in _load_json("cpus.json")["cpus"]]
    # One CPU entry per chip name: the full chip (most GPU cores), as find_gpu("Apple M4 Max") resolves.
    full_chips: dict[str, dict[str, Any]] = {}
    for chip in _load_json("apple_silicon.json")["chips"]:
        best = full_chips.get(chip["chip"])
        if best is None or chip["gpu_cores"] > best["gpu_cores"]:
            full_chips[chip["chip"]] = chip
    for chip in full_chips.values():
        name = f"Apple {chip['chip']}"
        cpus.append(
            CPUSpec(
                name=name,
                cores=chip["cpu_cores"],
                threads=chip["cpu_cores"],
                ram_kind=chip["ram_kind"],
                channels=chip["bus_bits"] // 16,
                mts=chip["mts"],
                bandwidth_gbps=float(chip["bandwidth_gbps"]),
                source="; ".join(chip["sources"]),
                isa="neon",
            )
        )
    return {normalize_name(c.name): c for c in cpus}


def all_cpus() -> list[CPUSpec]:
    return list(_cpu_index().values())


def search_cpus(query: str, limit: int = 20) -> list[CPUSpec]:
    """CPUs for a picker: every word typed begins a word of the name ("ryzen 9 79" finds the 7950X).

    >>> [c.name for c in search_cpus("ryzen 9 79")]
    ['AMD Ryzen 9 7950X3D', 'AMD Ryzen 9 7950X', 'AMD Ryzen 9 7900X', 'AMD Ryzen 9 7945HX']
    """
    words = normalize_name(query).split()
    found = [c for key, c in _cpu_index().items() if all(any(t.startswith(w) for t in key.split()) for w in words)]
    return found[:limit]


# What /proc/cpuinfo and llamafile add around a CPU's name: the clock ("@ 2.60GHz"), the
# microarchitecture llamafile detected ("(znver3)"), "12th Gen", "8-Core Processor", "w/ Radeon 780M",
# a board revision ("Rev 1.1") and LocalScore's Apple core counts ("16P+8E").
_CPU_DECORATION_RE = re.compile(
    r"@.*$|\([^)]*\)|\b\d+(?:st|nd|rd|th)\s+gen\b|\b[\w]+-core\s+processor\b|\s(?:w/|with)\s.*$"
    r"|\brev\s*[\d.]+|\b\d+p\+\d+e\b",
    re.IGNORECASE,
)


# Words a CPU name may carry or lack ("AMD Ryzen 9 7950X 16-Core Processor").
_CPU_NAME_NOISE = frozenset({"processor", "cpu", "th", "gen", "core", "with"})


@cache
def _stripped_cpu_index() -> dict[str, CPUSpec]:
    """``_cpu_index`` keyed without the noise words (built once: every plan that names a CPU looks it up)."""
    return {" ".join(t for t in k.split() if t not in _CPU_NAME_NOISE): c for k, c in _cpu_index().items()}


def find_cpu(name: str) -> CPUSpec:
    """A CPU from ``cpus.json`` (or an Apple chip), matched like ``find_gpu``.

    /proc/cpuinfo names work: "AMD Ryzen 9 7950X 16-Core Processor",
    "13th Gen Intel(R) Core(TM) i9-13900K".
    """
    noise = _CPU_NAME_NOISE
    key = " ".join(t for t in normalize_name(_CPU_DECORATION_RE.sub(" ", name)).split() if t not in noise)
    stripped = _stripped_cpu_index()
    if key in stripped:
        return stripped[key]
    tokens = set(key.split())
    # Every number of the query must be in the match: "Core M-5Y71" is not an "Apple M1".
    numbers = {t for t in tokens if t.isdigit()}
    matches = [c for k, c in stripped.items() if set(k.split()) <= tokens and numbers <= set(k.split())]
    if matches:
        return max(matches, key=lambda c: len(normalize_name(c.name)))
    close = difflib.get_close_matches(key, list(stripped), n=5, cutoff=0.5)
    if not close:  # no near spelling: the CPUs that share most of its words and numbers
        shared = sorted(stripped, key=lambda k: (-len(tokens & set(k.split())), k))
        close = [k for k in shared[:5] if tokens & set(k.split()) - {"intel", "amd"}]
    raise UnknownHardware(name, [stripped[k].name for k in close], kind="CPU")


@cache
def load_tiers() -> tuple[HardwareTier, ...]:
    """The typical machines from ``tiers.json``, smallest first."""
    tiers = []
    for row in _load_json("tiers.json")["tiers"]:
        tiers.append(
            HardwareTier(
                id=row["id"],
                title=row["title"],
                description=row["description"],
                gpus=tuple((g["name"], g["count"]) for g in row["gpus"]),
                vram_bytes=round(row["vram_gb"] * GIB),
                ram_bytes=round(row["ram_gb"] * GIB),
                unified=row["unified"],
                default_ctx=row["default_ctx"],
                default_runtime=row["default_runtime"],
                default_kv_type=row["default_kv_type"],
                cpu=row.get("cpu"),
            )
        )
    return tuple(tiers)


def get_tier(tier_id: str) -> HardwareTier:
    for tier in load_tiers():
        if tier.id == tier_id:
            return tier
    raise KeyError(tier_id)


def tier_machine(tier: HardwareTier) -> Machine:
    """The ``Machine`` a tier describes, with its GPUs looked up in the catalog."""
    gpus: list[tuple[GPUSpec, int]] = []
    for name, count in tier.gpus:
        spec = find_gpu(name)
        if tier.unified:
            # Unified tiers state the GPU's share directly; keep RAM as the pool size.
            fraction = tier.vram_bytes / tier.ram_bytes if tier.ram_bytes else None
            spec = spec.with_memory(tier.ram_bytes, fraction)
        gpus.append((spec, count))
    return Machine(
        gpus=tuple(gpus),
        ram_bytes=tier.ram_bytes,
        cpu=find_cpu(tier.cpu) if tier.cpu else None,
        unified_memory=tier.unified,
        label=tier.title,
    )
