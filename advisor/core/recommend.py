"""Which models, at which quantization, to run on a machine: ranked by the quality that fits.

For every candidate model and every quant its runtime can load, the recommender works out where the model
would live (all on the GPU, split between GPU and system RAM, or all on the CPU), how much memory that
takes at the requested context, how fast it would decode, and how much quality the quant costs. Per model
it keeps the best quant that fits plus a few alternatives, then ranks the models.

The practical rules come from the seed articles in ``shared/seeds/`` and each is a named function here:

* ``quant_quality_loss``: measured KLD (llama.cpp's Llama 3 8B scoreboard) turned into a share of the
  model's score; 4-bit costs about 1% (seed 000).
* ``below_4bit_penalty``: below 4 bits quality drops fast (seeds 002, 003, 004).
* ``min_bits_for_model``: models under ~7B stay at 6-8 bits (seed 001).
* ``prefer_larger_at_4bit``: a larger model at >= 4 bits beats a smaller one at 16 bits (seed 001).
* ``default_kv_type``: a q8_0 KV cache wherever the runtime offers it (seed 003).
* ``with_safety_margin``: 20% on top of the weights must fit too (seed 001's memory math).

A quant that costs half of the score or more (``MAX_QUALITY_LOSS``) is never offered.

The screen is fast: weight bytes per (model, quant) are computed once (``weight_profile``, cached; stored
in ``advisor/catalog/data/weight_profiles.json``), the KV cache and compute buffer come from the memory
engine's formulas once per model and request, and only placement runs per quant. Its bytes are estimates
(``"basis": "estimate"``) that agree with ``advisor.core.memory.estimate`` for full-GPU picks and within a
few percent for partial offload; ``confirm(pick, request)`` returns the engine's own figures for a pick.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from advisor.core import memory
from advisor.core.ggml_types import tensor_bytes
from advisor.core.hardware_spec import Machine
from advisor.core.shape import ModelShape
from advisor.core.speed import APPLE_DECODE_EFFICIENCY, DEFAULT_DECODE_EFFICIENCY, kv_bytes_per_token

GIB = 1024**3
MIB = 1024**2

Placement = Literal["gpu", "partial", "cpu"]
DeviceKind = Literal["cuda", "metal", "other_gpu", "cpu"]

# ---------------------------------------------------------------- constants (each with its source)

# llama.cpp's own fit leaves this much free on every GPU (common/common.h: fit_params_target defaults to
# 1024 MiB per device; common/fit.cpp); the memory engine's constant.
GPU_MARGIN_BYTES = memory.LLAMA_FIT_MARGIN_BYTES
# System RAM the OS and desktop keep: Windows 11's minimum memory requirement, 4 GB
# (https://www.microsoft.com/en-us/windows/windows-11-specifications).
RAM_RESERVE_BYTES = 4 * GIB
# llama.cpp's default micro-batch (common/common.h: n_ubatch = 512); the compute buffer is sized for it.
N_UBATCH = 512
# vLLM pre-allocates this share of GPU memory for weights, activations and KV cache (engine argument
# gpu_memory_utilization, default 0.9: https://docs.vllm.ai/en/latest/configuration/engine_args/).
VLLM_GPU_MEMORY_UTILIZATION = 0.9
# Silent reading speed of adults, 238 words per minute (Brysbaert 2019, J. Memory and Language 109,
# https://doi.org/10.1016/j.jml.2019.104047), at about 0.75 English words per token
# (https://help.openai.com/en/articles/4936856-what-are-tokens-and-how-to-count-them): 5.3 tokens/s.
READING_SPEED_TPS = 238 / 60 / 0.75
# Quality loss per unit of KLD: chosen so that Q4_K_M without an importance matrix (KLD 0.031273 on
# Llama 3 8B, tools/perplexity/README.md) costs 1% of the score, the "1% different" of seed 000 for
# 16 -> 4 bits. q8_0 (KLD 0.001355) then costs 0.04%, in line with seed 002's "within 1%" for INT8.
KLD_TO_LOSS = 0.01 / 0.031273
# Extra loss per squared bit below 4 (see below_4bit_penalty): at Q2_K's 2.625 nominal bits it adds 19%,
# at IQ1_S's 1.5625 bits 59%, at Q3_K's 3.44 bits 3%.
BELOW_4BIT_SLOPE = 0.10
# Differences in quality loss smaller than q8_0's own measured cost are noise; the smaller file wins then.
QUALITY_TIE = KLD_TO_LOSS * 0.001355
# Seed 001: "For models under 7B, I usually try to stay at 6-bit or 8-bit."
SMALL_MODEL_PARAMS = 7_000_000_000
SMALL_MODEL_MIN_BITS = 6.0
# A quant that costs half of a model's score or more is not a recommendation: with the loss model above
# that cuts IQ2_XXS (Llama 3 8B perplexity x2.3) and the IQ1 quants (x4 and x9.7, tools/perplexity/README.md)
# and keeps IQ2_XS (x1.7) as the last resort.
MAX_QUALITY_LOSS = 0.5
# Seed 001's memory math: "(Add 20% overhead for safety)" on parameters x bits / 8.
SAFETY_FACTOR = 1.2
FOUR_BITS = 4.0


# ---------------------------------------------------------------- inputs


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
    quality: float  # MMLU-Pro on the Open LLM Leaderboard's normalized scale (see calibrate_scores)
    quality_estimated: bool  # True when predicted from size and date, not measured
    quality_metric: str = ""
    is_base: bool = False
    native_quants: tuple[str, ...] = ()  # quant names trained for (QAT): no quality cost
    title: str = ""

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


# Runtimes that run GGUF files on llama.cpp, and whether each turns flash attention on by itself.
LLAMA_CPP_RUNTIMES = ("llama-server", "llama-cpp-python", "ollama", "lm-studio")
# llama-server/llama-cli default to swa_full = false; llama-cpp-python's Llama() allocates full-size
# SWA caches (shared/REFERENCE.md section 3).
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


# ---------------------------------------------------------------- the practical rules


def default_kv_type(runtime: str, flash_attn: bool = True) -> str:
    """q8_0 KV cache where the runtime supports it, else f16.

    Seed 003 ("Streaming, throughput, and the KV cache"): "KV cache quantization (Q8/Q4 KV) and why it
    should be your default". llama.cpp and the programs built on it (llama-server, llama-cpp-python,
    Ollama, LM Studio) offer a q8_0 cache, but a quantized V cache needs flash attention
    (src/llama-context.cpp: "quantized V cache was requested, but this requires Flash Attention").
    transformers keeps K/V in the compute dtype and vLLM's fp8 cache is opt-in, so they get f16.
    q8_0 halves the cache (34 bytes per 32 values instead of 64) at a KLD cost below the weights' q8_0.
    """
    if runtime in LLAMA_CPP_RUNTIMES and flash_attn:
        return "q8_0"
    return "f16"


def quant_quality_loss(kld: float) -> float:
    """Share of a model's score lost to a quant with this mean KLD against FP16.

    Linear in KLD, scaled so 4-bit (Q4_K_M, KLD 0.0313) costs 1%: seed 000 says that going from 16 to
    4 bits "might taste 1% different", and seed 002 that INT8 stays "within 1%" (q8_0: 0.04% here).
    """
    return KLD_TO_LOSS * kld


def below_4bit_penalty(nominal_bits: float) -> float:
    """Extra share of the score lost below 4 bits: 0.10 x (4 - bits)^2, so the drop steepens.

    Seed 002: "2-bit and lower ... quality degrades fast"; "Below 4-bit, test carefully". Seed 004:
    Q2_K is "for devices with very limited memory". Seed 003: "Q2 saves more but degrades noticeably".
    The measured KLD already grows fast below 4 bits (Q3_K_M 0.10, Q2_K 0.45, IQ1_S 2.25); this makes
    the recommender avoid those quants unless nothing at 4 bits fits, as the seeds advise.
    """
    if nominal_bits >= FOUR_BITS:
        return 0.0
    return BELOW_4BIT_SLOPE * (FOUR_BITS - nominal_bits) ** 2


def min_bits_for_model(params_total: int) -> float:
    """Fewest nominal bits a model should be run at before the recommender looks elsewhere.

    Seed 001: "Quantizing a 1.5B or 3B model to 4-bit is often a disaster. There aren't enough
    parameters to absorb the rounding errors. For models under 7B, I usually try to stay at 6-bit or
    8-bit." Larger models go down to 4 bits (seeds 002, 004: Q4_K_M is the default).
    """
    return SMALL_MODEL_MIN_BITS if params_total < SMALL_MODEL_PARAMS else FOUR_BITS


def prefer_larger_at_4bit(larger: Pick, smaller: Pick) -> bool:
    """True when ``larger`` must rank above ``smaller`` whatever their scores say.

    Seed 001: "a 70B model at 4-bit is still vastly more intelligent than a 7B model at 16-bit ...
    Run a 30B model at 4-bit ... Option 2 wins almost every single time." Applied to models of one
    lineage (same family, same release month: they differ only in size) that are both dense or both
    MoE, when the larger runs at 4 bits or more and the smaller at more bits than it (the trade the seed
    describes). Scores of such siblings can disagree with size only through benchmark noise or mixed
    reporting scales.
    """
    a, b = larger.model, smaller.model
    return (
        a.lineage == b.lineage
        and a.is_moe == b.is_moe
        and a.params_total > b.params_total
        and larger.quant.nominal_bits >= FOUR_BITS
        and larger.quant.nominal_bits < smaller.quant.nominal_bits
    )


# ---------------------------------------------------------------- quality scores on one scale


# The Open LLM Leaderboard v2 rescales MMLU-Pro so the random baseline (1 in 10) is 0 and a perfect
# score 100 (https://huggingface.co/docs/leaderboards/open_llm_leaderboard/normalization). Developers
# report raw accuracy with chain-of-thought prompts instead, which reads higher; ``calibrate_scores``
# measures that offset on the catalog itself.
LEADERBOARD_METRIC_MARK = "normalized"


@dataclass(frozen=True)
class ScoreModel:
    """Least-squares fit of catalog scores: a + b log2(total B) + c log2(active B) + d years + e dev."""

    coef: tuple[float, float, float, float, float]
    n_points: int
    rmse: float

    @property
    def developer_offset(self) -> float:
        return self.coef[4]

    def predict(self, params_total: int, params_active: int, released: str) -> float:
        a, b, c, d, _ = self.coef
        return a + b * math.log2(params_total / 1e9) + c * math.log2(params_active / 1e9) + d * _years(released)


def _years(released: str) -> float:
    """Years since 2024-01 (the catalog's middle), from YYYY-MM(-DD)."""
    return int(released[:4]) - 2024 + (int(released[5:7]) - 1) / 12


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the normal equations are 5 x 5)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        if abs(m[col][col]) < 1e-12:
            raise ValueError("singular system")
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def calibrate_scores(points: Iterable[tuple[float, bool, int, int, str]]) -> ScoreModel:
    """Fit ``score ~ size, activity, date, reporting`` on (score, developer_reported, total, active, released).

    The ``developer_reported`` coefficient is how much higher developer-reported MMLU-Pro reads than the
    leaderboard's normalized score; subtracting it puts both on one scale. The rest predicts a score for
    models without one (the newer and larger, the better: the scaling the seeds rely on).
    """
    rows: list[list[float]] = []
    ys: list[float] = []
    for score, dev, total, active, released in points:
        rows.append([1.0, math.log2(total / 1e9), math.log2(active / 1e9), _years(released), 1.0 if dev else 0.0])
        ys.append(score)
    k = 5
    ata = [[sum(r[i] * r[j] for r in rows) for j in range(k)] for i in range(k)]
    aty = [sum(r[i] * y for r, y in zip(rows, ys, strict=True)) for i in range(k)]
    coef = _solve(ata, aty)
    resid = [y - sum(c * x for c, x in zip(coef, r, strict=True)) for r, y in zip(rows, ys, strict=True)]
    rmse = math.sqrt(sum(e * e for e in resid) / len(resid)) if resid else 0.0
    return ScoreModel((coef[0], coef[1], coef[2], coef[3], coef[4]), len(ys), rmse)


class CatalogRecord(Protocol):
    """The fields of ``advisor.catalog.models_catalog.CatalogModel`` the recommender reads."""

    @property
    def id(self) -> str: ...
    @property
    def hf_repo(self) -> str: ...
    @property
    def family(self) -> str: ...
    @property
    def released(self) -> str: ...
    @property
    def params_total(self) -> int: ...
    @property
    def params_active(self) -> int: ...
    @property
    def use_cases(self) -> tuple[str, ...]: ...
    @property
    def notes(self) -> str: ...
    @property
    def quality(self) -> Any: ...

    def to_shape(self) -> ModelShape: ...


def _instruct_like(rec: CatalogRecord) -> bool:
    name = (rec.id + " " + rec.hf_repo).lower()
    return any(tag in name for tag in ("instruct", "-it", "chat"))


def is_base_model(rec: CatalogRecord, catalog: Sequence[CatalogRecord]) -> bool:
    """A pre-trained model without chat tuning: named so, noted so, or the plain sibling of an instruct one."""
    if rec.id.endswith("-base") or rec.hf_repo.lower().endswith("-base"):
        return True
    if rec.notes.lower().startswith(("base model", "base (pre-trained)")):
        return True
    if _instruct_like(rec):
        return False
    return any(
        o.id != rec.id
        and o.family == rec.family
        and o.released[:7] == rec.released[:7]
        and o.params_total == rec.params_total
        and _instruct_like(o)
        for o in catalog
    )


def _nearest_scored_sibling(
    rec: CatalogRecord, scored: Sequence[CatalogRecord], base: frozenset[str]
) -> CatalogRecord | None:
    """The scored model of the same family, chat-tuned before base, closest in size, then in date."""
    same = [o for o in scored if o.family == rec.family and o.id != rec.id]
    if not same:
        return None
    size = math.log2(rec.params_total)
    return min(
        same,
        key=lambda o: (
            o.id in base,
            abs(math.log2(o.params_total) - size),
            abs(_years(o.released) - _years(rec.released)),
        ),
    )


def model_options(records: Sequence[CatalogRecord]) -> tuple[ModelOption, ...]:
    """Catalog records as candidates, every score on the leaderboard's scale (measured or predicted)."""
    scored = [r for r in records if r.quality is not None]
    fit = calibrate_scores(
        (
            float(r.quality.score),
            LEADERBOARD_METRIC_MARK not in r.quality.metric,
            r.params_total,
            r.params_active,
            r.released,
        )
        for r in scored
    )
    out: list[ModelOption] = []
    base = frozenset(r.id for r in records if is_base_model(r, records))
    measured: dict[str, float] = {}
    for r in scored:
        q = float(r.quality.score)
        if LEADERBOARD_METRIC_MARK not in r.quality.metric:
            q -= fit.developer_offset
        measured[r.id] = q
    for r in records:
        if r.id in measured:
            q, metric, estimated = measured[r.id], r.quality.metric, False
        else:
            anchor = _nearest_scored_sibling(r, scored, base)
            if anchor is not None:
                # Same family: shift the sibling's score by the fit's size and date slopes, so a family
                # whose benchmark sits off the catalog-wide trend (coder models on MMLU-Pro) stays in line.
                q = (
                    measured[anchor.id]
                    + fit.predict(r.params_total, r.params_active, r.released)
                    - fit.predict(anchor.params_total, anchor.params_active, anchor.released)
                )
                metric = f"predicted from {anchor.id} by size and date"
            else:
                q = fit.predict(r.params_total, r.params_active, r.released)
                metric = f"predicted from size and date (fit rmse {fit.rmse:.1f})"
            estimated = True
        native: tuple[str, ...] = ()
        if "qat" in r.hf_repo.lower() and "q4_0" in r.hf_repo.lower():
            native = ("Q4_0",)  # Gemma 3 QAT checkpoints are trained for Q4_0
        out.append(
            ModelOption(
                id=r.id,
                family=r.family,
                released=r.released,
                shape=r.to_shape(),
                params_total=r.params_total,
                params_active=r.params_active,
                use_cases=tuple(r.use_cases),
                quality=max(q, 0.0),
                quality_estimated=estimated,
                quality_metric=metric,
                is_base=r.id in base,
                native_quants=native,
                title=r.hf_repo.split("/")[-1],
            )
        )
    return tuple(out)


# ---------------------------------------------------------------- weight bytes per (model, quant)


@dataclass(frozen=True)
class WeightProfile:
    """Weight bytes of one model in one quant, split the way placement needs them.

    ``embd``: token embedding (llama.cpp keeps it on the CPU). ``output``: output head and final norm
    (on the GPU only when every layer is; a tied head is a copy of the embedding). ``layers``: the
    repeating blocks, of which ``experts`` are routed experts (read at n_used/n_experts per token).
    """

    total: int
    embd: int
    output: int
    layers: int
    experts: int
    exact: int = 1  # 1: from the per-tensor rules; 0: from parameter counts (no tensor inventory)

    def as_list(self) -> list[int]:
        return [self.total, self.embd, self.output, self.layers, self.experts, self.exact]


def shape_key(shape: ModelShape) -> str:
    """Short fingerprint of a shape: cached profiles are valid only for the shape they were built from."""
    return hashlib.sha1(repr(shape).encode()).hexdigest()[:16]


_PROFILES: dict[tuple[str, str], WeightProfile] = {}
_MODEL_KEYS: dict[str, tuple[ModelShape, str]] = {}


def model_shape_key(model: ModelOption) -> str:
    """``shape_key`` of a candidate, remembered per model id (hashing a shape costs microseconds)."""
    got = _MODEL_KEYS.get(model.id)
    if got is None or got[0] is not model.shape:
        got = (model.shape, shape_key(model.shape))
        _MODEL_KEYS[model.id] = got
    return got[1]


def prime_profiles(profiles: dict[tuple[str, str], WeightProfile]) -> None:
    """Load precomputed profiles (``advisor.catalog.weight_profiles``), keyed by (shape_key, quant name)."""
    _PROFILES.update(profiles)


# Q6_K: the type llama-quantize gives output.weight in every k-/i-quant preset above 2 bits
# (llama_tensor_get_type_impl); used by the parameter-count fallback.
_OUTPUT_BITS = 6.5625


def approximate_profile(shape: ModelShape, quant: QuantOption) -> WeightProfile:
    """Profile from parameter counts (``advisor.core.params``) for architectures without a tensor
    inventory: repeating layers at the quant's Llama-3.1-8B bits/weight, the head at Q6_K (or the
    quant's own rate above it), the embedding at the quant's rate; 16-bit outside the blocks for HF."""
    from advisor.core.params import count_params

    total_el, _ = count_params(shape)
    embd_el = shape.vocab_size * shape.hidden_size
    out_el = embd_el
    layer_el = total_el - embd_el - (0 if shape.tied_embeddings else out_el)
    moe_layers = shape.n_layers - shape.first_dense_layers if shape.is_moe else 0
    expert_el = moe_layers * shape.n_experts * 3 * shape.hidden_size * shape.expert_ffn_size
    bpw = quant.bits_per_weight
    if quant.format == "hf":
        embd, output = embd_el * 2, out_el * 2
    else:
        embd = int(embd_el * bpw / 8)
        output = int(out_el * max(bpw, _OUTPUT_BITS) / 8) if bpw < 16 else int(out_el * bpw / 8)
    layers = int(layer_el * bpw / 8)
    experts = int(expert_el * bpw / 8)
    total = layers + embd + (0 if shape.tied_embeddings else output)
    return WeightProfile(total=total, embd=embd, output=output, layers=layers, experts=experts, exact=0)


def compute_profile(shape: ModelShape, quant: QuantOption) -> WeightProfile:
    """Run the quantizer's per-tensor type rules (``advisor.core.quantize``) and sum bytes by role."""
    from advisor.core import quantize
    from advisor.core.tensors import tensor_inventory

    try:
        inventory = tensor_inventory(shape)
    except NotImplementedError:
        return approximate_profile(shape, quant)
    if quant.format == "gguf":
        assert quant.preset is not None
        types = quantize.tensor_types(shape, quant.preset, has_imatrix=quant.needs_imatrix)

        def nbytes(name: str, dims: tuple[int, ...]) -> int:
            return tensor_bytes(types[name], dims)

    else:
        assert quant.hf_quant is not None
        fmt = quantize.HFFormat(quantize.HFQuant(quant.hf_quant), double_quant=quant.double_quant)
        total_hf = quantize.hf_weights_bytes(shape, fmt)
        # 16-bit outside the decoder blocks; blocks get the rest, spread by element count.
        outside = sum(t.n_elements * 2 for t in inventory if t.layer is None)
        inside_el = sum(t.n_elements for t in inventory if t.layer is not None) or 1
        per_el = (total_hf - outside) / inside_el

        def nbytes(name: str, dims: tuple[int, ...]) -> int:
            n = math.prod(dims)
            return n * 2 if name.split(".")[0] != "blk" else round(n * per_el)

    embd = output = layers = experts = 0
    tied = not any(t.name == "output.weight" for t in inventory)
    for t in inventory:
        b = nbytes(t.name, t.dims)
        if t.name in ("token_embd.weight", "per_layer_token_embd.weight"):
            embd += b
            if tied and t.name == "token_embd.weight":
                output += b  # the GPU gets its own copy of a tied head
        elif t.layer is None:
            output += b
        else:
            layers += b
            if "_exps" in t.name:
                experts += b
    total = embd + layers + output - (embd if tied else 0)
    return WeightProfile(total=total, embd=embd, output=output, layers=layers, experts=experts)


def weight_profile(model: ModelOption, quant: QuantOption, key: str | None = None) -> WeightProfile:
    """Cached ``compute_profile`` keyed by the shape's fingerprint and the quant name."""
    k = (key or shape_key(model.shape), quant.name)
    prof = _PROFILES.get(k)
    if prof is None:
        prof = compute_profile(model.shape, quant)
        _PROFILES[k] = prof
    return prof


# ---------------------------------------------------------------- KV cache and compute buffer


def _pad256(n: int) -> int:
    return (n + 255) // 256 * 256


@dataclass(frozen=True)
class KVPlan:
    """KV cache of one model for one request: total bytes, per-layer average, bytes read per token."""

    total: int
    per_layer: float
    read_per_token: float  # at half the context, SWA layers capped at their window


@dataclass(frozen=True)
class KVLayers:
    """Per-cell KV bytes of a model summed over its full-attention and its SWA layers, and the fixed
    state of its recurrent layers per sequence: everything ``kv_plan`` needs, independent of ctx."""

    full: float
    swa: float
    window: int
    state: int
    n_layers: int


_KV_LAYERS: dict[tuple[str, str], KVLayers] = {}


def kv_layers(shape: ModelShape, kv_type: str, key: str | None = None) -> KVLayers:
    k = (key or shape_key(shape), kv_type)
    got = _KV_LAYERS.get(k)
    if got is not None:
        return got
    full = swa = 0.0
    state = 0
    if shape.recurrent_layers:
        n_embd_r = max(shape.ssm_d_conv - 1, 0) * (shape.ssm_d_inner + 2 * shape.ssm_n_group * shape.ssm_d_state)
        n_embd_s = shape.ssm_d_state * shape.ssm_d_inner
        state = (n_embd_r + n_embd_s) * 4 * sum(shape.recurrent_layers)
    for i in range(shape.n_layers):
        if shape.is_recurrent_layer(i):
            continue
        per_cell = kv_bytes_per_token(shape, i, kv_type)
        if shape.is_swa_layer(i) and shape.sliding_window:
            swa += per_cell
        else:
            full += per_cell
    got = KVLayers(full, swa, shape.sliding_window or 0, state, shape.n_layers)
    _KV_LAYERS[k] = got
    return got


def kv_plan(shape: ModelShape, ctx: int, parallel: int, kv_type: str, swa_full: bool, key: str | None = None) -> KVPlan:
    """Cells per layer as llama.cpp allocates them (src/llama-kv-cache.cpp, llama-kv-cache-iswa.cpp).

    ``n_ctx`` = ctx x parallel, padded to 256; SWA layers keep pad256(min(n_ctx, window x n_seq + ubatch))
    cells unless ``swa_full``; recurrent layers keep an F32 state of (n_embd_r + n_embd_s) x 4 bytes per
    sequence (src/llama-hparams.cpp, Mamba-style conv + SSM state).
    """
    lay = kv_layers(shape, kv_type, key)
    n_ctx = _pad256(ctx * parallel)
    depth = ctx // 2
    swa_cells = n_ctx if swa_full else _pad256(min(n_ctx, lay.window * parallel + N_UBATCH))
    total = lay.full * n_ctx + lay.swa * swa_cells + lay.state * parallel
    read = lay.full * depth + lay.swa * min(depth, lay.window) + lay.state
    return KVPlan(total=int(total), per_layer=total / lay.n_layers, read_per_token=read)


_CONTEXT_COSTS: dict[tuple[str, int, int, str, bool, str, str], tuple[KVPlan, int]] = {}


def context_costs(model: ModelOption, req: Request) -> tuple[KVPlan, int]:
    """KV cache and compute buffer of ``model`` for this request's context, from the memory engine
    (``memory.kv_cache_layer_bytes``, ``memory.compute_buffer_bytes``) for the runtimes it models;
    vLLM gets ``kv_plan`` at f16. Cached: requests repeat the same few settings."""
    kv_type = req.resolved_kv_type
    flash = req.resolved_flash_attn
    key = (model_shape_key(model), req.ctx, req.parallel, kv_type, flash, req.runtime, req.budget.gpu_kind)
    got = _CONTEXT_COSTS.get(key)
    if got is not None:
        return got
    shape = model.shape
    swa_full = req.runtime in SWA_FULL_RUNTIMES
    if req.is_llama_cpp and req.runtime in memory_runtimes():
        settings = memory.resolve_context(context_request(model.shape, req))
        layers = memory.kv_cache_layer_bytes(shape, settings)
        total = sum(layers)
        read = kv_plan(shape, req.ctx, req.parallel, kv_type, swa_full, model_shape_key(model)).read_per_token
        plan = KVPlan(total=total, per_layer=total / shape.n_layers, read_per_token=read)
        # The GPU's own graph when there is a GPU (ggml-cuda's F16 copies of quantized caches, etc.).
        kind = req.budget.gpu_kind if req.budget.gpu_bytes > 0 else "cpu"
        compute = memory.compute_buffer_bytes(shape, settings, kind) + memory.output_buffer_bytes(shape, settings)
    else:
        # transformers (the memory engine's HF path) and vLLM: 16-bit K/V, no reserved compute buffer
        # ("activations are not reserved up front").
        plan = kv_plan(shape, req.ctx, req.parallel, "f16", False, model_shape_key(model))
        compute = 0
    got = (plan, compute)
    if len(_CONTEXT_COSTS) > 50_000:
        _CONTEXT_COSTS.clear()
    _CONTEXT_COSTS[key] = got
    return got


def memory_runtimes() -> frozenset[str]:
    from advisor.core.runtimes import RUNTIMES

    return frozenset(RUNTIMES)


def context_request(shape: ModelShape, req: Request, **kw: Any) -> memory.FitRequest:
    """The memory engine's request for ``shape`` under ``req``'s context settings: ``ctx`` tokens for
    each of ``parallel`` sequences in one unified cache, the request's KV type and flash attention."""
    kv_type = req.resolved_kv_type
    return memory.FitRequest(
        shape=shape,
        runtime=req.runtime,
        n_ctx=req.ctx * req.parallel,
        n_parallel=req.parallel,
        kv_unified=True,
        type_k=kv_type,
        type_v=kv_type,
        flash_attn=req.resolved_flash_attn,
        **kw,
    )


# ---------------------------------------------------------------- fit and speed of one candidate


@dataclass(frozen=True)
class Memory:
    """Bytes of one candidate and where they sit; keys as in ``memory.FitResult.to_dict()["memory"]``."""

    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int  # the backend's own context (memory.BACKEND_OVERHEAD_BYTES) over the GPUs used
    gpu_bytes: int  # on the GPU(s), overhead included
    cpu_bytes: int  # in system RAM (token embedding, CPU layers, their KV, host buffers)
    basis: str = "estimate"  # "estimate" (the screen) or "memory.estimate" (the engine, see confirm)

    @property
    def total_bytes(self) -> int:
        return self.gpu_bytes + self.cpu_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_bytes": self.compute_bytes,
            "overhead_bytes": self.overhead_bytes,
            "gpu_bytes": self.gpu_bytes,
            "cpu_bytes": self.cpu_bytes,
            "total_bytes": self.total_bytes,
            "basis": self.basis,
        }


# Placement names of ``memory.FitResult.fit``.
FIT_NAMES: dict[str, str] = {"gpu": "full_gpu", "partial": "partial", "cpu": "cpu"}


@dataclass(frozen=True)
class Fit:
    placement: Placement
    n_gpu_layers: int  # llama.cpp counting: n_layers + 1 puts the output layer on the GPU too
    n_layers: int
    gpu_budget_bytes: int
    ram_budget_bytes: int

    @property
    def name(self) -> str:
        return FIT_NAMES[self.placement]

    def to_dict(self) -> dict[str, Any]:
        """``name`` is ``fit --json``'s verdict string; the rest says how the model is placed."""
        return {
            "name": self.name,
            "fits": True,
            "placement": self.placement,
            "n_gpu_layers": self.n_gpu_layers,
            "n_layers": self.n_layers,
            "gpu_budget_bytes": self.gpu_budget_bytes,
            "ram_budget_bytes": self.ram_budget_bytes,
        }


@dataclass(frozen=True)
class Speed:
    decode_tps: float | None  # at half the context
    usable: bool  # at least reading speed (or unknown bandwidth)
    basis: str = "estimate"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decode_tps": None if self.decode_tps is None else round(self.decode_tps, 1),
            "prefill_tps": None,
            "depth": "half the context",
            "usable": self.usable,
            "reading_speed_tps": round(READING_SPEED_TPS, 1),
            "basis": self.basis,
        }


@dataclass(frozen=True)
class Quality:
    score: float  # the model's score after the quant's loss
    base_score: float
    base_estimated: bool
    loss: float  # share of base_score lost to the quant (both rules together)
    kld: float
    kld_measured: bool
    metric: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 2),
            "base_score": round(self.base_score, 2),
            "base_estimated": self.base_estimated,
            "quant_loss": round(self.loss, 4),
            "kld": self.kld,
            "kld_measured": self.kld_measured,
            "metric": self.metric,
        }


@dataclass(frozen=True)
class Pick:
    """One model at one quant on this machine."""

    model: ModelOption
    quant: QuantOption
    fit: Fit
    memory: Memory
    speed: Speed
    quality: Quality
    tier: int  # lower is better; see ``_tier``
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "model": {
                "id": m.id,
                "title": m.title,
                "family": m.family,
                "params_total": m.params_total,
                "params_active": m.params_active,
                "use_cases": list(m.use_cases),
            },
            "quant": {
                "name": self.quant.name,
                "format": self.quant.format,
                "nominal_bits": self.quant.nominal_bits,
                "bits_per_weight": self.quant.bits_per_weight,
                "needs_imatrix": self.quant.needs_imatrix,
            },
            "fit": self.fit.to_dict(),
            "n_gpu_layers": self.fit.n_gpu_layers,
            "memory": self.memory.to_dict(),
            "speed": self.speed.to_dict(),
            "quality": self.quality.to_dict(),
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class ModelRecommendation:
    """The best quant of one model on this machine, and the next best ones."""

    pick: Pick
    alternatives: tuple[Pick, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = self.pick.to_dict()
        d["alternatives"] = [a.to_dict() for a in self.alternatives]
        return d


@dataclass(frozen=True)
class Recommendation:
    request: Request
    ranked: tuple[ModelRecommendation, ...]
    considered: int  # models looked at (after use-case and base-model filters)
    # ids of models no quant of which fits while keeping at least half the model's score
    not_fitting: tuple[str, ...] = field(default=())

    @property
    def best(self) -> ModelRecommendation | None:
        return self.ranked[0] if self.ranked else None

    def to_dict(self) -> dict[str, Any]:
        r = self.request
        return {
            "settings": {
                "ctx": r.ctx,
                "parallel": r.parallel,
                "runtime": r.runtime,
                "kv_type": r.resolved_kv_type,
                "flash_attn": r.resolved_flash_attn,
                "use_case": r.use_case,
            },
            "machine": r.budget.to_dict(),
            "considered": self.considered,
            "not_fitting": list(self.not_fitting),
            "results": [m.to_dict() for m in self.ranked],
        }


def _tier(placement: Placement, bits_ok: bool, usable: bool) -> int:
    """Order of preference: all on the GPU at enough bits, then offloaded at a usable speed, then the
    GPU below the bit floor, then offloaded below it, then the CPU, then anything too slow to read."""
    if not usable:
        return 6
    if placement == "gpu":
        return 0 if bits_ok else 2
    if placement == "partial":
        return 1 if bits_ok else 3
    return 4 if bits_ok else 5


_TIER_PHRASE = {
    "gpu": "fits entirely in GPU memory",
    "partial": "runs with some layers in system RAM",
    "cpu": "runs on the CPU from system RAM",
}


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _explain(p: Pick, req: Request) -> str:
    m, q = p.model, p.quant
    kv = req.resolved_kv_type
    parts = [f"{m.title or m.id} at {q.name} {_TIER_PHRASE[p.fit.placement]}"]
    if p.fit.placement == "partial":
        parts[0] += f" ({p.fit.n_gpu_layers} of {p.fit.n_layers} layers on the GPU)"
    used = p.memory.gpu_bytes if p.fit.placement != "cpu" else p.memory.cpu_bytes
    budget = p.fit.gpu_budget_bytes if p.fit.placement != "cpu" else p.fit.ram_budget_bytes
    parts[0] += f": about {_gb(used)} of {_gb(budget)} with a {req.ctx // 1024}k {kv} KV cache"
    floor = min_bits_for_model(m.params_total)
    if q.name in m.native_quants or m.shape.arch in q.native_archs:
        why = f"{q.name} is the precision this model was trained or released in, so it costs no quality"
    elif q.nominal_bits < FOUR_BITS:
        why = f"{q.name} is below 4 bits, where quality drops fast: nothing at 4 bits or more fits"
    elif floor > FOUR_BITS and q.nominal_bits >= floor:
        why = "a model this small is kept at 6-8 bits, where rounding costs it little"
    elif q.nominal_bits >= 8:
        why = "8 bits is practically lossless"
    elif p.quality.loss < 0.005:
        why = f"{q.name} costs under half a percent of the model's quality"
    else:
        why = f"{q.name} keeps about {100 * (1 - p.quality.loss):.0f}% of the model's quality"
    sentence = parts[0] + "; " + why + "."
    if p.speed.decode_tps is not None:
        sentence += f" Expect roughly {p.speed.decode_tps:.0f} tokens/s."
    return sentence


# ---------------------------------------------------------------- the recommender


def _quality(model: ModelOption, quant: QuantOption) -> tuple[float, float]:
    """(loss share, kld) of ``model`` at ``quant``; native precisions cost nothing."""
    if quant.name in model.native_quants or model.shape.arch in quant.native_archs:
        return 0.0, 0.0
    loss = quant_quality_loss(quant.kld) + below_4bit_penalty(quant.nominal_bits)
    return min(loss, 1.0), quant.kld


def _eff(kind: DeviceKind) -> float:
    return APPLE_DECODE_EFFICIENCY if kind == "metal" else DEFAULT_DECODE_EFFICIENCY


def with_safety_margin(weights_bytes: float) -> float:
    """Weights plus seed 001's safety overhead: "Memory Math: Model size in GB = (Parameters * Bits) / 8.
    (Add 20% overhead for safety)."

    A candidate fits only if both this and the itemised estimate (weights + KV + compute buffer, plus
    llama.cpp's 1 GiB margin) fit, so a pick leaves room for what the estimate does not see (the OS's
    own use of unified memory, other programs on the GPU, runtime versions that allocate more).
    ``_place`` applies the same ``SAFETY_FACTOR`` inline (it runs thousands of times per request).
    """
    return SAFETY_FACTOR * weights_bytes


# The memory engine's backend names for a budget's GPU kind.
_ENGINE_KIND = {"cuda": "cuda", "metal": "metal", "other_gpu": "vulkan", "cpu": "cpu"}


def gpu_reserve_bytes(b: Budget) -> int:
    """GPU bytes no model may use: llama.cpp's fit margin plus the backend's own context (CUDA context,
    cuBLAS workspace: ``memory.BACKEND_OVERHEAD_BYTES``), per GPU."""
    if b.gpu_bytes <= 0:
        return 0
    per_gpu = GPU_MARGIN_BYTES + memory.BACKEND_OVERHEAD_BYTES.get(_ENGINE_KIND[b.gpu_kind], 0)
    return per_gpu * max(b.n_gpus, 1)


# (placement, n_gpu_layers, gpu bytes, ram bytes) of a candidate that fits.
_Placed = tuple[Placement, int, int, int]


@dataclass(frozen=True)
class Room:
    """The budget as ``place`` needs it, worked out once per request."""

    margin: int  # llama.cpp's free-memory target plus the backend's context overhead, over all GPUs
    overhead: int  # the backend's context overhead alone, over all GPUs (reported with the bytes used)
    gpu_avail: int  # GPU bytes for weights, KV and compute (0: no GPU)
    ram_avail: int  # RAM bytes left after the OS reserve
    unified: bool
    mode: Literal["llama", "transformers", "vllm"]
    vllm_cap: float
    n_gpus: int  # every GPU running part of the graph reserves the compute buffer (memory._place)

    @classmethod
    def of(cls, req: Request) -> Room:
        b = req.budget
        margin = gpu_reserve_bytes(b)
        gpu_avail = max(b.gpu_bytes - margin, 0) if b.gpu_bytes > 0 else 0
        mode: Literal["llama", "transformers", "vllm"] = (
            "vllm" if req.runtime == "vllm" else "llama" if req.is_llama_cpp else "transformers"
        )
        return cls(
            margin=margin,
            overhead=margin - GPU_MARGIN_BYTES * max(b.n_gpus, 1) if b.gpu_bytes > 0 else 0,
            gpu_avail=gpu_avail,
            ram_avail=b.ram_bytes - RAM_RESERVE_BYTES,
            unified=b.unified,
            mode=mode,
            vllm_cap=min(gpu_avail, b.gpu_bytes * VLLM_GPU_MEMORY_UTILIZATION),
            n_gpus=max(b.n_gpus, 1),
        )


def place(req: Request, prof: WeightProfile, kv: KVPlan, compute: int, n_layers: int) -> _Placed | None:
    """Where a model lives: all on the GPU, split (llama.cpp's -ngl; transformers' device_map), or the CPU.

    llama.cpp keeps token_embd in RAM and puts the output head on the GPU only with every layer
    (shared/REFERENCE.md section 4); KV follows its layer. vLLM needs everything inside its GPU share.
    Unified memory: GPU and CPU parts come out of the same RAM.
    """
    return _place(Room.of(req), prof, kv, compute, n_layers)


def _place(room: Room, prof: WeightProfile, kv: KVPlan, compute: int, n: int) -> _Placed | None:
    gpu_avail, ram_avail = room.gpu_avail, room.ram_avail
    if room.mode == "vllm":
        need = prof.total + kv.total + compute
        if gpu_avail > 0 and need <= room.vllm_cap and SAFETY_FACTOR * prof.total <= room.vllm_cap:
            return ("gpu", n + 1, need + room.overhead, 0)
        return None
    if room.mode == "llama":
        on_gpu, host = prof.layers + prof.output, prof.embd
    else:
        on_gpu, host = prof.total, 0
    gpu_compute = compute * room.n_gpus
    need = on_gpu + kv.total + gpu_compute
    if gpu_avail > 0:
        if (
            need <= gpu_avail
            and SAFETY_FACTOR * on_gpu <= gpu_avail
            and host <= ram_avail
            and (not room.unified or need + host <= ram_avail)
        ):
            return ("gpu", n + 1, need + room.overhead, host)
        layer_w = prof.layers / n
        per_layer = layer_w + kv.per_layer
        safe_layer = SAFETY_FACTOR * layer_w
        fit_per_layer = per_layer if per_layer > safe_layer else safe_layer
        # llama.cpp offloads the output layer first: -ngl k puts it and the last k - 1 repeating layers on
        # the GPU (src/llama-model.cpp: i_gpu_start = n_layer + 1 - n_gpu_layers; dev_output is layer n_layer).
        head = prof.output + gpu_compute
        head_fit = SAFETY_FACTOR * prof.output + gpu_compute
        k = int((gpu_avail - head_fit) // fit_per_layer) if fit_per_layer > 0 else 0
        if k > n - 1:
            k = n - 1
        if k >= 1:
            g = int(k * per_layer) + head
            rest = prof.embd + compute
            cpu_fit = rest + int((n - k) * fit_per_layer)
            if cpu_fit <= ram_avail and (not room.unified or g + cpu_fit <= ram_avail):
                return ("partial", k + 1, g + room.overhead, rest + int((n - k) * per_layer))
    cpu_all = prof.total + kv.total + compute
    if cpu_all <= ram_avail and SAFETY_FACTOR * prof.total <= ram_avail:
        return ("cpu", 0, 0, cpu_all)
    return None


def decode_tps(req: Request, model: ModelOption, prof: WeightProfile, kv: KVPlan, ngl: int) -> float | None:
    """Tokens/s at half the context: bytes read per token on each side over efficiency x bandwidth.

    Reads every layer weight except the unused routed experts, the output head, and the KV cache
    (shared/REFERENCE.md section 6); efficiencies are ``advisor.core.speed``'s defaults (72% of peak,
    78% on Apple Silicon). None when a bandwidth is unknown.
    """
    b = req.budget
    shape = model.shape
    n = shape.n_layers
    expert_frac = shape.n_experts_used / shape.n_experts if shape.n_experts > 1 else 1.0
    active = (prof.layers - prof.experts) + prof.experts * expert_frac + kv.read_per_token
    # -ngl counts the output layer first (see _place): ngl - 1 repeating layers sit on the GPU.
    gpu_share = min(max(ngl - 1, 0), n) / n
    head_on_gpu = ngl >= 1
    gpu_read = active * gpu_share + (prof.output if head_on_gpu else 0)
    cpu_read = active * (1 - gpu_share) + (0 if head_on_gpu else prof.output)
    t = 0.0
    if gpu_read > 0:
        if not b.gpu_bandwidth_gbps:
            return None
        t += gpu_read / (_eff(b.gpu_kind) * b.gpu_bandwidth_gbps * 1e9)
    if cpu_read > 0:
        if not b.cpu_bandwidth_gbps:
            return None
        t += cpu_read / (DEFAULT_DECODE_EFFICIENCY * b.cpu_bandwidth_gbps * 1e9)
    return 1.0 / t if t > 0 else None


# A candidate before it becomes a Pick: (tier, loss, weight bytes, quant index, placement, tok/s, usable).
_Cand = tuple[int, float, int, int, _Placed, float | None, bool]


def _candidate(
    req: Request,
    room: Room,
    model: ModelOption,
    qi: int,
    quant: QuantOption,
    loss: float,
    prof: WeightProfile,
    kv: KVPlan,
    compute: int,
    floor: float,
) -> _Cand | None:
    if loss >= MAX_QUALITY_LOSS:
        return None
    placed = _place(room, prof, kv, compute, model.shape.n_layers)
    if placed is None:
        return None
    tps = decode_tps(req, model, prof, kv, placed[1])
    usable = tps is None or tps >= READING_SPEED_TPS
    return (_tier(placed[0], quant.nominal_bits >= floor, usable), loss, prof.total, qi, placed, tps, usable)


# Per (model id, quant list) the quants it can use, cheapest quality loss first, with their profiles.
_TABLES: dict[tuple[str, str, int], list[tuple[float, int, QuantOption, WeightProfile]]] = {}


def _model_table(
    model: ModelOption, quants: Sequence[QuantOption], quants_id: int
) -> list[tuple[float, int, QuantOption, WeightProfile]]:
    key = model_shape_key(model)
    k = (model.id, key, quants_id)
    got = _TABLES.get(k)
    if got is None:
        got = []
        for qi, q in enumerate(quants):
            if q.moe_only and not model.is_moe:
                continue
            prof = weight_profile(model, q, key)
            got.append((_quality(model, q)[0], qi, q, prof))
        got.sort(key=lambda t: (t[0], t[3].total))
        _TABLES[k] = got
    return got


def _better(a: _Cand, b: _Cand) -> bool:
    """Per-model choice: better tier; then less quality loss, unless within noise, where the smaller file
    wins (so Q8_0 beats F16: q8_0's measured cost is the noise floor)."""
    if a[0] != b[0]:
        return a[0] < b[0]
    if abs(a[1] - b[1]) > QUALITY_TIE:
        return a[1] < b[1]
    return a[2] < b[2]


def _pick(req: Request, model: ModelOption, quant: QuantOption, kv: KVPlan, compute: int, c: _Cand) -> Pick:
    tier, loss, weights, _, placed, tps, usable = c
    placement, ngl, gpu_used, ram_used = placed
    b = req.budget
    overhead = 0
    if placement != "cpu":
        overhead = gpu_reserve_bytes(b) - GPU_MARGIN_BYTES * max(b.n_gpus, 1)
    _, kld = _quality(model, quant)
    p = Pick(
        model=model,
        quant=quant,
        fit=Fit(placement, ngl, model.shape.n_layers, b.gpu_bytes, max(b.ram_bytes - RAM_RESERVE_BYTES, 0)),
        memory=Memory(
            weights_bytes=weights,
            kv_cache_bytes=kv.total,
            compute_bytes=compute,
            overhead_bytes=overhead,
            gpu_bytes=gpu_used,
            cpu_bytes=ram_used,
        ),
        speed=Speed(tps, usable),
        quality=Quality(
            score=model.quality * (1 - loss),
            base_score=model.quality,
            base_estimated=model.quality_estimated,
            loss=loss,
            kld=kld,
            kld_measured=quant.measured,
            metric=model.quality_metric,
        ),
        tier=tier,
    )
    # The sentence reads the finished pick; set it on the fresh (frozen) object instead of copying it.
    object.__setattr__(p, "explanation", _explain(p, req))
    return p


def _rank_key(p: Pick) -> tuple[int, float, float]:
    return (p.tier, -p.quality.score, -(p.speed.decode_tps or 0.0))


def apply_size_rule(ranked: list[ModelRecommendation]) -> list[ModelRecommendation]:
    """Reorder siblings so ``prefer_larger_at_4bit`` holds, leaving every other model in its slot.

    Within one placement tier, the slots a lineage occupies are refilled with its picks, larger models
    first wherever the rule applies (pairwise, by insertion: the list is short).
    """
    out = list(ranked)
    groups: dict[tuple[tuple[str, str], bool, int], list[int]] = {}
    for i, r in enumerate(out):
        p = r.pick
        groups.setdefault((p.model.lineage, p.model.is_moe, p.tier), []).append(i)
    for slots in groups.values():
        if len(slots) < 2:
            continue
        members = [out[i] for i in slots]
        ordered: list[ModelRecommendation] = []
        for r in members:
            pos = len(ordered)
            for j, o in enumerate(ordered):
                if prefer_larger_at_4bit(r.pick, o.pick):
                    pos = j
                    break
            ordered.insert(pos, r)
        for i, r in zip(slots, ordered, strict=True):
            out[i] = r
    return out


def recommend(
    req: Request,
    models: Sequence[ModelOption],
    quants: Sequence[QuantOption],
    *,
    limit: int | None = None,
) -> Recommendation:
    """Rank ``models`` on ``req.budget``: per model the best quant that fits, then models by the quality
    that fits (GPU-resident at enough bits first; see ``_tier``), siblings ordered by size."""
    usable_quants = tuple(q for q in quants if req.runtime in q.runtimes)
    quants_id = hash(tuple((q.name, q.kld, q.nominal_bits) for q in usable_quants))
    room = Room.of(req)
    want = 1 + req.max_alternatives
    chosen: list[ModelRecommendation] = []
    not_fitting: list[str] = []
    considered = 0
    for model in models:
        if req.use_case and req.use_case not in model.use_cases:
            continue
        if model.is_base and not req.include_base_models:
            continue
        if req.ctx > model.shape.context_max:
            continue
        considered += 1
        kv, compute = context_costs(model, req)
        floor = min_bits_for_model(model.params_total)
        table = _model_table(model, usable_quants, quants_id)
        # The smallest file that keeps enough quality: if even it does not fit, nothing larger will.
        smallest = min((t for t in table if t[0] < MAX_QUALITY_LOSS), key=lambda t: t[3].total, default=None)
        if smallest is None or _place(room, smallest[3], kv, compute, model.shape.n_layers) is None:
            not_fitting.append(model.id)
            continue
        cands: list[_Cand] = []
        best_top = -1.0  # loss of the first candidate found in tier 0
        n_top = 0
        for loss, qi, q, prof in table:
            # Quants come cheapest-loss first: once enough tier-0 candidates are in hand, the rest can
            # neither beat them nor be among the alternatives.
            if n_top >= want and loss > best_top + QUALITY_TIE:
                break
            c = _candidate(req, room, model, qi, q, loss, prof, kv, compute, floor)
            if c is None:
                continue
            cands.append(c)
            if c[0] == 0:
                if n_top == 0:
                    best_top = loss
                n_top += 1
        if not cands:
            not_fitting.append(model.id)
            continue
        best = cands[0]
        for c in cands[1:]:
            if _better(c, best):
                best = c
        rest = sorted((c for c in cands if c is not best), key=lambda c: (c[0], c[1], c[2]))
        alts = tuple(_pick(req, model, usable_quants[c[3]], kv, compute, c) for c in rest[: req.max_alternatives])
        chosen.append(ModelRecommendation(_pick(req, model, usable_quants[best[3]], kv, compute, best), alts))
    chosen.sort(key=lambda r: _rank_key(r.pick))
    ranked = apply_size_rule(chosen)
    if limit is not None:
        ranked = ranked[:limit]
    return Recommendation(req, tuple(ranked), considered, tuple(not_fitting))


def clear_caches() -> None:
    """Forget per-request and per-model caches (not the weight profiles): for tests that change rules."""
    _TABLES.clear()
    _CONTEXT_COSTS.clear()


# ---------------------------------------------------------------- the memory engine's word on a pick


def engine_request(pick: Pick, req: Request) -> memory.FitRequest:
    """``memory.FitRequest`` for a pick: same model, quant, context, KV type, GPUs, RAM and -ngl."""
    b = req.budget
    n = max(b.n_gpus, 1)
    devices: tuple[memory.Device, ...] = ()
    if b.gpu_bytes > 0 and pick.fit.placement != "cpu":
        kind = _ENGINE_KIND[b.gpu_kind]
        devices = tuple(memory.Device(f"gpu{i}", kind, b.gpu_bytes // n) for i in range(n))
    q = pick.quant
    weights: dict[str, Any] = {"preset": q.preset}
    if q.format == "hf":
        from advisor.core.quantize import HFFormat, HFQuant

        assert q.hf_quant is not None
        weights = {"preset": None, "hf_format": HFFormat(HFQuant(q.hf_quant), double_quant=q.double_quant)}
    return context_request(
        pick.model.shape,
        req,
        devices=devices,
        host_ram_bytes=max(b.ram_bytes - RAM_RESERVE_BYTES, 0),
        margin_bytes=GPU_MARGIN_BYTES,
        n_gpu_layers=pick.fit.n_gpu_layers if devices else 0,
        cpu_only=not devices,
        **weights,
    )


def confirm(pick: Pick, req: Request) -> tuple[Pick, memory.FitResult]:
    """Run ``memory.estimate`` on a pick (tens of milliseconds: for the picks a user looks at).

    Returns the pick with the engine's bytes (``memory.basis == "memory.estimate"``) and the engine's
    full result (devices, max_context, notes). ValueError where the engine cannot answer: vLLM, or an
    architecture without a tensor inventory (``advisor.core.tensors``).
    """
    if req.runtime not in memory_runtimes():
        raise ValueError(f"the memory engine does not model {req.runtime}")
    try:
        result = memory.estimate(engine_request(pick, req))
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from exc
    mem = Memory(
        weights_bytes=result.weights_bytes,
        kv_cache_bytes=result.kv_cache_bytes,
        compute_bytes=result.compute_bytes,
        overhead_bytes=result.overhead_bytes,
        gpu_bytes=result.gpu_bytes,
        cpu_bytes=result.cpu_bytes,
        basis="memory.estimate",
    )
    return replace(pick, memory=mem), result


__all__ = [
    "Budget",
    "ModelOption",
    "ModelRecommendation",
    "Pick",
    "QuantOption",
    "Recommendation",
    "Request",
    "WeightProfile",
    "below_4bit_penalty",
    "clear_caches",
    "confirm",
    "default_kv_type",
    "engine_request",
    "min_bits_for_model",
    "model_options",
    "prefer_larger_at_4bit",
    "quant_quality_loss",
    "recommend",
]
