"""The quantization catalog: formats, their size, their measured quality cost, and who can load them.

Read from ``data/quants.json`` (its ``about`` says where every number comes from). No Django imports.

>>> q = get_quant("q4_k_m")
>>> (q.name, q.bits_per_weight, q.kld())
('Q4_K_M', 4.8944, 0.028152)
>>> get_runtime("ollama").default_kv_type
'q8_0'
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from advisor.core.recommend import QuantOption

DATA_FILE = Path(__file__).resolve().parent / "data" / "quants.json"

QuantFormat = Literal["gguf", "hf"]

# llama.cpp's Llama 3 8B scoreboard names the importance matrix a quant was made with; "None" is without one.
NO_IMATRIX = "None"


class UnknownQuant(KeyError):
    """No catalog quant by that name; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else ""


class UnknownRuntime(KeyError):
    """No runtime by that id; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class QualityMeasurement:
    """One row of a published quality table: the quant against the unquantized model."""

    model: str
    imatrix: str  # "None", or the importance matrix used ("WT 10m": 10M Wikitext tokens)
    kld: float  # mean Kullback-Leibler divergence of the token distributions
    delta_ppl: float  # perplexity increase on Wikitext-2
    source: str
    size_gib: float | None = None

    @property
    def with_imatrix(self) -> bool:
        return self.imatrix != NO_IMATRIX


@dataclass(frozen=True)
class Quant:
    """One quantization format as the advisor offers it."""

    name: str
    format: QuantFormat
    family: str  # "k-quant", "i-quant", "legacy", "mxfp4", "float", "bitsandbytes", "gptq", "awq"
    bits_per_weight: float  # whole model, Llama-3.1-8B (GGUF) or the quantized Linear layers (HF)
    bits_source: str
    needs_imatrix: bool
    runtimes: tuple[str, ...]
    measurements: tuple[QualityMeasurement, ...]
    quality_proxy: str | None  # name of the measured quant whose cost stands in for this one
    preset: str | None = None  # llama-quantize preset (GGUF)
    hf_quant: str | None = None  # advisor.core.quantize.HFQuant value (HF)
    double_quant: bool = False
    moe_only: bool = False
    native_archs: tuple[str, ...] = ()  # architectures published in this precision (no loss for them)
    notes: str = ""

    @property
    def is_gguf(self) -> bool:
        return self.format == "gguf"

    def measurement(self, imatrix: bool = True) -> QualityMeasurement | None:
        """The scoreboard row: with an importance matrix when asked and measured, else without."""
        if not self.measurements:
            return None
        wanted = [m for m in self.measurements if m.with_imatrix == imatrix]
        return (wanted or list(self.measurements))[0]

    def kld(self, imatrix: bool = True) -> float | None:
        """Measured mean KLD against FP16, or the proxy's (``quality_cost`` resolves proxies)."""
        m = self.measurement(imatrix)
        return m.kld if m else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            "family": self.family,
            "bits_per_weight": self.bits_per_weight,
            "needs_imatrix": self.needs_imatrix,
            "runtimes": list(self.runtimes),
            "quality_proxy": self.quality_proxy,
        }


@dataclass(frozen=True)
class Runtime:
    """A program that runs models, and the KV cache types it offers."""

    id: str
    title: str
    formats: tuple[QuantFormat, ...]
    kv_types: tuple[str, ...]
    quantized_kv: bool  # offers a ggml-quantized (q8_0) K/V cache
    flash_attn_default: str
    kv_source: str
    notes: str = ""

    @property
    def is_llama_cpp(self) -> bool:
        """Runs GGUF files on llama.cpp (llama-server, llama-cpp-python, Ollama, LM Studio)."""
        return "gguf" in self.formats

    @property
    def default_kv_type(self) -> str:
        """q8_0 where the runtime offers it (with flash attention on), else f16. See
        ``advisor.core.recommend.default_kv_type`` for the rule and its source."""
        return "q8_0" if self.quantized_kv and "q8_0" in self.kv_types else "f16"


def _measurement(raw: dict[str, Any]) -> QualityMeasurement:
    return QualityMeasurement(
        model=raw["model"],
        imatrix=raw["imatrix"],
        kld=float(raw["kld"]),
        delta_ppl=float(raw["delta_ppl"]),
        source=raw["source"],
        size_gib=raw.get("size_gib"),
    )


def _quant(raw: dict[str, Any]) -> Quant:
    return Quant(
        name=raw["name"],
        format=raw["format"],
        family=raw["family"],
        bits_per_weight=float(raw["bits_per_weight"]),
        bits_source=raw["bits_source"],
        needs_imatrix=bool(raw["needs_imatrix"]),
        runtimes=tuple(raw["runtimes"]),
        measurements=tuple(_measurement(m) for m in raw.get("measurements", [])),
        quality_proxy=raw.get("quality_proxy"),
        preset=raw.get("preset"),
        hf_quant=raw.get("hf_quant"),
        double_quant=bool(raw.get("double_quant", False)),
        moe_only=bool(raw.get("moe_only", False)),
        native_archs=tuple(raw.get("native_archs", ())),
        notes=raw.get("notes", ""),
    )


@lru_cache(maxsize=1)
def _data() -> tuple[tuple[Quant, ...], tuple[Runtime, ...]]:
    doc = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    quants = tuple(_quant(q) for q in doc["quants"])
    runtimes = tuple(
        Runtime(
            id=r["id"],
            title=r["title"],
            formats=tuple(r["formats"]),
            kv_types=tuple(r["kv_types"]),
            quantized_kv=bool(r["quantized_kv"]),
            flash_attn_default=r["flash_attn_default"],
            kv_source=r["kv_source"],
            notes=r.get("notes", ""),
        )
        for r in doc["runtimes"]
    )
    names = [q.name for q in quants]
    if len(set(names)) != len(names):
        raise ValueError(f"{DATA_FILE.name}: duplicate quant names")
    known_runtimes = {r.id for r in runtimes}
    for q in quants:
        if set(q.runtimes) - known_runtimes:
            raise ValueError(f"{DATA_FILE.name}: {q.name} names unknown runtimes {set(q.runtimes) - known_runtimes}")
        if q.quality_proxy is not None and q.quality_proxy not in names:
            raise ValueError(f"{DATA_FILE.name}: {q.name} has unknown quality_proxy {q.quality_proxy}")
    return quants, runtimes


def load_quants() -> tuple[Quant, ...]:
    """Every catalog quant, smallest GGUF preset first, then the Hugging Face formats (cached)."""
    return _data()[0]


def _key(name: str) -> str:
    return name.strip().upper().replace("-", "_").replace(" ", "_")


@lru_cache(maxsize=1)
def _by_key() -> dict[str, Quant]:
    index = {_key(q.name): q for q in load_quants()}
    index.setdefault("MXFP4", index["MXFP4_MOE"])  # llama.cpp's type name for the same preset
    return index


def get_quant(name: str) -> Quant:
    """The quant called ``name`` (case, '-' and '_' do not matter); ``UnknownQuant`` lists near matches."""
    index = _by_key()
    try:
        return index[_key(name)]
    except KeyError:
        names = [q.name for q in load_quants()]
        close = difflib.get_close_matches(name.strip(), names, n=5, cutoff=0.5)
        close += [n for n in difflib.get_close_matches(_key(name), list(index), n=5, cutoff=0.5) if n not in close]
        hint = f"; did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        raise UnknownQuant(f"no quant {name!r}{hint}") from None


def quality_cost_kld(quant: Quant, imatrix: bool = True) -> float:
    """KLD that stands for the quality cost of ``quant``: its own measurement, else its proxy's.

    Formats at the original precision (F32; BF16 for a BF16 release) resolve through their proxy or
    their own near-zero measurement.
    """
    seen: set[str] = set()
    q = quant
    while True:
        kld = q.kld(imatrix)
        if kld is not None:
            return kld
        if q.quality_proxy is None or q.name in seen:
            raise ValueError(f"quant {quant.name} has no measurement and no proxy")
        seen.add(q.name)
        q = get_quant(q.quality_proxy)


def load_runtimes() -> tuple[Runtime, ...]:
    return _data()[1]


def get_runtime(runtime_id: str) -> Runtime:
    """The runtime with this id ("llama-server", "ollama", "transformers", ...)."""
    key = runtime_id.strip().lower().replace("_", "-").replace(" ", "-")
    aliases = {
        "llama.cpp": "llama-server",
        "llamacpp": "llama-server",
        "llama-cli": "llama-server",
        "lmstudio": "lm-studio",
        "hf": "transformers",
    }
    key = aliases.get(key, key)
    for r in load_runtimes():
        if r.id == key:
            return r
    known = ", ".join(r.id for r in load_runtimes())
    raise UnknownRuntime(f"no runtime {runtime_id!r}; known: {known}")


def quants_for_runtime(runtime_id: str) -> tuple[Quant, ...]:
    """The quants ``runtime_id`` can load, in catalog order."""
    rt = get_runtime(runtime_id)
    return tuple(q for q in load_quants() if rt.id in q.runtimes)


def nominal_bits(quant: Quant) -> float:
    """Bits per weight of the preset's main tensor type (llama_ftype_get_default_type), or the HF rate."""
    if not quant.is_gguf:
        return quant.bits_per_weight
    from advisor.core.ggml_types import TRAITS
    from advisor.core.quantize import DEFAULT_TYPE, ftype_by_name

    return TRAITS[DEFAULT_TYPE[ftype_by_name(quant.preset or quant.name)]].bits_per_weight


def quant_options(runtime: str | None = None, imatrix: bool = True) -> tuple[QuantOption, ...]:
    """The catalog's quants as ``advisor.core.recommend.QuantOption`` (proxies resolved).

    ``imatrix``: cost GGUF quants with the scoreboard row made with an importance matrix where one
    exists (how community GGUFs are published), else the plain one.
    """
    from advisor.core.recommend import QuantOption

    quants = quants_for_runtime(runtime) if runtime else load_quants()
    return tuple(
        QuantOption(
            name=q.name,
            format=q.format,
            nominal_bits=nominal_bits(q),
            bits_per_weight=q.bits_per_weight,
            kld=quality_cost_kld(q, imatrix),
            runtimes=q.runtimes,
            preset=q.preset,
            hf_quant=q.hf_quant,
            double_quant=q.double_quant,
            needs_imatrix=q.needs_imatrix,
            moe_only=q.moe_only,
            native_archs=q.native_archs,
            measured=bool(q.measurements),
        )
        for q in quants
    )
