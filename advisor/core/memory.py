"""Memory estimate: what llama.cpp (or transformers) allocates for a model on given hardware.

Sources (llama.cpp vendored in llama-cpp-python 0.3.36):

* context sizes: ``src/llama-context.cpp`` (n_ctx padded to 256, n_ctx_seq = n_ctx / n_seq padded to
  256 unless kv_unified; n_ubatch = min(n_batch, n_ubatch); n_outputs_max = n_batch; the worst-case
  graph is reserved for n_tokens = min(n_ctx, n_ubatch) with n_outputs = min(n_tokens, n_outputs_max)).
* KV cache: ``src/llama-kv-cache.cpp`` (one K and one V tensor per layer with KV, n_embd_k_gqa x kv_size
  x n_stream; MLA keeps K only), ``src/llama-kv-cache-iswa.cpp`` (SWA layers get
  pad256(min(kv_size, n_swa * (unified ? n_seq : 1) + n_ubatch)) cells, or kv_size with swa_full),
  ``src/llama-memory-recurrent.cpp`` (F32 r/s states of n_embd_r / n_embd_s per sequence),
  ``src/llama-hparams.cpp`` (n_embd_r, n_embd_s).
* placement: ``src/llama-model.cpp`` load_tensors: the input layer (token_embd) stays on the CPU;
  i_gpu_start = n_layer + 1 - n_gpu_layers, so the output layer is the first to be offloaded; layers
  are split over GPUs by cumulative free memory or tensor_split. A tied output is a duplicate of
  token_embd loaded into the output layer's buffer.
* compute buffers: the CPU backend's are fitted to CPU runs of this llama.cpp (``bench/data/cpu_buffers``):
  the logits of n_outputs x n_vocab F32 dominate; without flash attention the KQ scores and mask take
  4 * n_tokens * n_kv * (n_head + 1) bytes. GPU backends (``gpu_compute_parts``) are fitted to the
  buffers llama.cpp logged on an H100 (``bench/data/memory_h100.jsonl``, ``bench/memory_accuracy.py``),
  including the CUDA-only growth of the flash-attention node for quantized caches
  (ggml/src/ggml-cuda/fattn.cu ggml_cuda_flash_attn_ext_get_alloc_size).
* overhead: what NVML shows in use beyond llama.cpp's buffers. CUDA is measured (see
  ``BACKEND_OVERHEAD_BYTES``); ROCm, Metal and Vulkan are estimates with a stated margin
  (``OVERHEAD_PROVENANCE``), marked so in ``overhead_source`` and ``overhead_label``.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Concatenate, ParamSpec, TypeVar

from advisor.core.ggml_types import TRAITS, GGMLType, row_bytes, tensor_bytes, type_by_name
from advisor.core.memo import IdentityMemo
from advisor.core.quantize import HFFormat, HFQuant, hf_weights_bytes, needs_imatrix, tensor_types
from advisor.core.runtimes import RuntimePreset, runtime
from advisor.core.shape import ModelShape
from advisor.core.tensors import tensor_inventory
from advisor.core.units import MIB

# Driver/runtime memory outside every ggml buffer: CUDA context, lazily loaded kernels, the CUDA memory
# pool (ggml-cuda.cu ggml_cuda_pool_vmm) and cuBLAS. CUDA was measured on an H100 80GB (driver 580.159.04,
# llama-cpp-python 0.3.36; bench/data/memory_h100.jsonl, tabulated by bench/memory_accuracy.py): NVML
# device memory in use after a 512-token eval, minus the memory in use before the process started, minus
# llama.cpp's CUDA buffers each rounded up to CUDA_ALLOC_GRANULARITY, is 604.8..614.8 MiB for the 8 dense
# models with flash attention (every matmul runs through MMQ), whatever the context or KV type; 610 MiB is
# the median. The other backends are placeholders (a driver context,
# workspace and pool outside every buffer, "several hundred MiB").
BACKEND_OVERHEAD_BYTES: dict[str, int] = {
    "cuda": 610 * MIB,  # measured, see above (±5 MiB over the 8 dense models)
    "rocm": 512 * MIB,  # placeholder, not measured
    "metal": 0,  # placeholder, not measured
    "vulkan": 512 * MIB,  # placeholder, not measured
    "cpu": 0,
}
# cuBLAS is initialised (handle, workspace, its kernels) on the first matmul that does not go through
# MMQ/MMVQ: the KQ and KQV products without flash attention, and float weight matrices such as the MoE
# router. Measured: +94..+108 MiB over the same model with flash attention (6 dense models, FA off at
# 8k/32k), MoE models with flash attention at 704.8 MiB (+95 over the dense median).
CUBLAS_OVERHEAD_BYTES: dict[str, int] = {"cuda": 100 * MIB}
# cudaMalloc hands out whole 2 MiB pages: every llama.cpp buffer on a CUDA device (model, each KV cache,
# compute) takes its size rounded up to this (with it the overhead above is the same to 0.01 MiB for
# every load of a model in the bench data).
CUDA_ALLOC_GRANULARITY = 2 * MIB
# A GPU that runs nothing (no layer, op offload off): llama.cpp still enumerates the device and makes
# its CUDA context, but never allocates the pool or loads kernels. NVML, H200 (driver 580.159.04): 527
# MiB for all 8 such loads of bench/data/op_offload_h200.jsonl (-ngl 0 --no-op-offload, 4 models,
# 4k/16k); the 610 MiB of BACKEND_OVERHEAD_BYTES add the pool and kernels of a first eval.
IDLE_BACKEND_OVERHEAD_BYTES: dict[str, int] = {"cuda": 527 * MIB}
# Metal with mmap (the default) wraps the mapped file in a Metal buffer instead of copying the weights
# (llama-model.cpp load_tensors: ggml_backend_dev_buffer_from_host_ptr over get_mapping_range, the span
# from the first to the last tensor of the buffer). The output layer's tensors sit at both ends of a GGUF
# (convert_hf_to_gguf writes a single-file checkpoint's tensors in name order: output.weight from
# lm_head first, then token_embd, the blocks, output_norm last), so the device holding the output layer
# logs "MTL0_Mapped model buffer size" = all tensor data, token_embd included, tied or not (a tied model's
# output layer is token_embd itself), while the CPU_Mapped buffer logs token_embd again: the same pages
# of unified memory, counted once by the OS but in full against Metal's recommendedMaxWorkingSetSize.
# Logs (tests/fixtures/loadlogs): Qwen2.5-0.5B Q4_K_M on an M4 (462.96 MiB mapped = file size,
# metal_m4_qwen25_05b_q4_k_m_c512.log); tied Granite-8B-Code Q4_0 on an M1 Pro (4376.56 MiB = the
# 4.27 GiB file, CPU 157.50 = token_embd; metal_m1pro_granite8b_code_q4_0_c32768_np4.log). A file whose
# token_embd comes first (LLaMA-1 converted from .pth) maps the file less token_embd: +70 MiB here
# (metal_m2_llama1_7b_q4_k_m_c512.log); tensor order is not in the request, so the larger span is kept.
METAL_MAPPED_WHOLE_FILE = True
# ggml-cuda.cu ggml_backend_cuda_device_offload_op: an op runs on the GPU instead of next to its host
# weights when its batch (ne[1] of a MUL_MAT, ne[2] of a MUL_MAT_ID) is at least this
# (GGML_OP_OFFLOAD_MIN_BATCH, default 32).
OP_OFFLOAD_MIN_BATCH = 32


@dataclass(frozen=True)
class OverheadProvenance:
    """Where a backend's overhead figure comes from: ``label`` is "measured" (our own measurement),
    "cited" (a public measurement, ``source`` says where) or "estimated" (``margin_bytes`` says how far
    it may be off either way)."""

    label: str
    source: str
    margin_bytes: int = 0

    @property
    def text(self) -> str:
        """'measured', or 'estimated ±256 MiB'."""
        if self.label == "estimated" and self.margin_bytes:
            return f"estimated ±{self.margin_bytes // MIB} MiB"
        return self.label


# One entry per backend of BACKEND_OVERHEAD_BYTES. ROCm, Vulkan and Metal have no figure of ours or a
# public one that separates the driver's memory from llama.cpp's buffers; their estimates carry margins.
OVERHEAD_PROVENANCE: dict[str, OverheadProvenance] = {
    "cuda": OverheadProvenance(
        "measured", "NVML on an H100 80GB, driver 580.159.04, llama-cpp-python 0.3.36 (bench/data/memory_h100.jsonl)",
        5 * MIB,
    ),
    "rocm": OverheadProvenance(
        "estimated", "HIP context, rocBLAS/hipBLASLt workspace and the ggml-cuda pool, taken as CUDA's less the "
        "cuBLAS share; not measured", 256 * MIB,
    ),
    "vulkan": OverheadProvenance(
        "estimated", "Vulkan instance, pipelines and ggml-vulkan's preallocated staging buffers; not measured",
        256 * MIB,
    ),
    "metal": OverheadProvenance(
        "estimated", "Metal keeps no pool outside its buffers; the command queue and pipeline library are "
        "small, not measured", 256 * MIB,
    ),
    "cpu": OverheadProvenance("measured", "no GPU: no driver context"),
}  # fmt: skip
OVERHEAD_MEASURED: dict[str, bool] = {k: p.label != "estimated" for k, p in OVERHEAD_PROVENANCE.items()}


def overhead_provenance(kind: str) -> OverheadProvenance:
    """The provenance of ``kind``'s overhead (estimated, with a 512 MiB margin, for a backend not listed)."""
    return OVERHEAD_PROVENANCE.get(kind, OverheadProvenance("estimated", f"{kind}: no figure", 512 * MIB))


# Backends built from ggml-cuda (CUDA, and ROCm through HIP) share its buffer-type allocation sizes.
_CUDA_LIKE = frozenset({"cuda", "rocm"})
# ggml-cuda.cu: buffer alignment 128; quantized tensors get one row of padding up to MATRIX_ROW_PADDING
# elements when ne0 is not a multiple of it (ggml_backend_cuda_buffer_type_get_alloc_size).
CUDA_BUFFER_ALIGNMENT = 128
MATRIX_ROW_PADDING = 512

# llama.cpp's own --fit leaves this much free per device (common/common.h fit_params_target).
LLAMA_FIT_MARGIN_BYTES = 1024 * MIB

# KV cache types llama.cpp accepts for -ctk/-ctv (common/arg.cpp kv_cache_types).
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def _pad(x: int, n: int) -> int:
    return (x + n - 1) // n * n


_P = ParamSpec("_P")
_T = TypeVar("_T")
_TYPES_MEMO_SIZE = 4096


def _per_types(
    fn: Callable[Concatenate[ModelShape, dict[str, GGMLType], _P], _T],
) -> Callable[Concatenate[ModelShape, dict[str, GGMLType], _P], _T]:
    """Remember ``fn(shape, types, ...)`` by the identity of ``types``: ``resolve_types`` hands out one
    shared dict per shape and preset, and a plan places the same weights dozens of times (hashing the
    dict's few hundred items each time cost more than the placement). The memo keeps each dict alive,
    so an id is never reused for another dict while its entry exists."""
    memo: dict[tuple[Any, ...], tuple[dict[str, GGMLType], _T]] = {}

    @functools.wraps(fn)
    def cached(s: ModelShape, types: dict[str, GGMLType], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        key = (s, id(types), args, tuple(kwargs.items()))
        got = memo.get(key)
        if got is not None and got[0] is types:
            return got[1]
        if len(memo) >= _TYPES_MEMO_SIZE:  # the oldest goes: starting over made every model's first sight again
            del memo[next(iter(memo))]
        value = fn(s, types, *args, **kwargs)
        memo[key] = (types, value)
        return value

    return cached


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """One accelerator (or the host when ``kind == "cpu"``).

    ``free_bytes`` is what the runtime may use. For Apple unified memory give the machine's RAM as
    ``free_bytes`` and the share the GPU may wire as ``unified_fraction`` (macOS lets Metal use about
    2/3..3/4 of RAM by default; pass the value you trust)."""

    name: str
    kind: str  # "cuda" | "rocm" | "metal" | "vulkan" | "cpu"
    free_bytes: int
    unified_fraction: float | None = None
    mapped: bool = True  # Metal with mmap (llama.cpp's default): weights are a view of the file, not a copy

    @property
    def usable_bytes(self) -> int:
        if self.unified_fraction is not None:
            return int(self.free_bytes * self.unified_fraction)
        return self.free_bytes


@dataclass(frozen=True)
class FitRequest:
    """What to estimate.

    Weights: ``preset`` (llama.cpp file type such as "Q4_K_M"), or explicit ``tensor_types`` (name ->
    ggml type name, e.g. read from a GGUF header), or ``hf_format`` for the transformers runtime.
    Context: ``n_ctx`` (None: the runtime's default, else the model's training context), ``n_batch``,
    ``n_ubatch``, ``n_parallel`` (sequences), ``kv_unified``, ``type_k``/``type_v`` ("f16", "q8_0", ...),
    ``flash_attn`` (True/False/None = runtime default, "auto" resolves to on), ``swa_full``.
    Placement: ``devices`` (GPUs; empty or ``cpu_only`` = CPU only), ``host_ram_bytes`` (free RAM),
    ``n_gpu_layers`` (None = the most that fit, like llama.cpp's --fit; -1 = all), ``tensor_split``
    (fractions per GPU; default: by free memory). ``margin_bytes`` is kept free on every GPU.
    """

    shape: ModelShape
    preset: str | None = "Q4_K_M"
    imatrix: bool = False  # the preset was made with an importance matrix (changes a few type rules)
    tensor_types: tuple[tuple[str, str], ...] = ()
    hf_format: HFFormat | None = None
    runtime: str = "llama-server"
    n_ctx: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    n_parallel: int | None = None
    kv_unified: bool | None = None
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: bool | None = None
    swa_full: bool | None = None
    devices: tuple[Device, ...] = ()
    host_ram_bytes: int | None = None
    n_gpu_layers: int | None = None
    # --n-cpu-moe N: the expert tensors of layers 0..N-1 stay in host memory though their layer is on a GPU
    # (common/arg.cpp, LLM_FFN_EXPS_REGEX in common/common.h); None: the fewest that let every layer fit.
    n_cpu_moe: int | None = 0
    tensor_split: tuple[float, ...] = ()
    cpu_only: bool = False
    margin_bytes: int = 0
    overhead_bytes: int | None = None  # overrides BACKEND_OVERHEAD_BYTES per GPU
    offload_kqv: bool = True  # False = --no-kv-offload: every layer's KV stays in host RAM
    # False = --no-op-offload (llama-bench -nopo 1): host-resident weights are never run on a GPU
    op_offload: bool = True
    # --mmproj: the vision projector's weights + compute buffer (core/mmproj.py), on the first GPU like
    # llama-server, which adds them to that device's fit target; on the host with no GPU or
    # ``projector_on_host`` (--no-mmproj-offload)
    projector_bytes: int = 0
    projector_on_host: bool = False


# --------------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes on one device. ``name == "host"`` is system RAM (CPU layers, CPU KV, host buffers)."""

    name: str
    kind: str
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    capacity_bytes: int | None = None
    n_layers: int = 0
    projector_bytes: int = 0  # --mmproj weights + compute buffer held here

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.overhead_bytes + self.projector_bytes
        )

    @property
    def fits(self) -> bool:
        return self.capacity_bytes is None or self.total_bytes <= self.capacity_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "compute_bytes": self.compute_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
            "overhead_label": overhead_provenance(self.kind).text if self.name != "host" else "",
            "capacity_bytes": self.capacity_bytes,
            "n_layers": self.n_layers,
            "projector_bytes": self.projector_bytes,
            "fits": self.fits,
        }


@dataclass(frozen=True)
class ContextSettings:
    """The context as llama.cpp resolves it (after padding and runtime defaults)."""

    n_ctx: int
    n_ctx_seq: int
    n_seq: int
    kv_unified: bool
    n_batch: int
    n_ubatch: int
    n_outputs: int
    flash_attn: bool
    swa_full: bool
    type_k: str
    type_v: str


@dataclass(frozen=True)
class FitResult:
    """Estimate for one request. ``devices`` holds every GPU then the host. ``fit`` is "full_gpu"
    (every layer and the output on GPUs), "partial", "cpu" or "no_fit". ``max_context`` is the
    largest n_ctx (multiple of 256, up to the model's maximum) that still fits with the chosen
    placement (0 when nothing fits). ``n_gpu_layers`` is what was used (llama.cpp counting: the
    output layer counts as one)."""

    devices: tuple[DeviceMemory, ...]
    fit: str
    max_context: int
    n_gpu_layers: int
    context: ContextSettings
    runtime: str
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    overhead_source: str
    notes: tuple[str, ...] = field(default=())
    n_cpu_moe: int = 0

    @property
    def gpu_bytes(self) -> int:
        return sum(d.total_bytes for d in self.devices if d.name != "host")

    @property
    def overhead_label(self) -> str:
        """The least certain provenance among the GPUs used ('measured' without a GPU), as
        ``OverheadProvenance.text``: 'measured', 'cited' or 'estimated ±256 MiB'."""
        rank = {"measured": 0, "cited": 1, "estimated": 2}
        provs = [overhead_provenance(d.kind) for d in self.devices if d.name != "host"]
        if not provs:
            return "measured"
        return max(provs, key=lambda p: (rank.get(p.label, 2), p.margin_bytes)).text

    @property
    def cpu_bytes(self) -> int:
        return sum(d.total_bytes for d in self.devices if d.name == "host")

    def to_dict(self) -> dict[str, Any]:
        c = self.context
        return {
            "memory": {
                "weights_bytes": self.weights_bytes,
                "kv_cache_bytes": self.kv_cache_bytes,
                "compute_bytes": self.compute_bytes,
                "overhead_bytes": self.overhead_bytes,
                "gpu_bytes": self.gpu_bytes,
                "cpu_bytes": self.cpu_bytes,
                "devices": [d.to_dict() for d in self.devices],
                "overhead_source": self.overhead_source,
                "overhead_label": self.overhead_label,
            },
            "fit": self.fit,
            "max_context": self.max_context,
            "n_gpu_layers": self.n_gpu_layers,
            "n_cpu_moe": self.n_cpu_moe,
            "runtime": self.runtime,
            "context": {
                "n_ctx": c.n_ctx,
                "n_ctx_seq": c.n_ctx_seq,
                "n_seq": c.n_seq,
                "kv_unified": c.kv_unified,
                "n_batch": c.n_batch,
                "n_ubatch": c.n_ubatch,
                "flash_attn": c.flash_attn,
                "swa_full": c.swa_full,
                "type_k": c.type_k,
                "type_v": c.type_v,
            },
            "speed": {"decode_tps": None, "prefill_tps": None},
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------------------
# context resolution
# --------------------------------------------------------------------------------------------------


def resolve_context(req: FitRequest, rt: RuntimePreset | None = None, n_ctx: int | None = None) -> ContextSettings:
    """Apply runtime defaults and llama.cpp's padding (src/llama-context.cpp constructor)."""
    rt = rt or runtime(req.runtime)
    s = req.shape
    want = n_ctx if n_ctx is not None else req.n_ctx
    if want is None:
        want = rt.n_ctx if rt.n_ctx is not None else s.context_max
    n_seq = max(1, req.n_parallel if req.n_parallel is not None else rt.n_parallel)
    unified = req.kv_unified if req.kv_unified is not None else rt.kv_unified
    ctx = _pad(max(1, want), 256)
    if unified:
        ctx_seq = ctx
    else:
        ctx_seq = _pad(ctx // n_seq, 256)
        ctx = ctx_seq * n_seq
    n_batch = min(ctx, req.n_batch or rt.n_batch)  # causal models: n_batch = min(n_ctx, n_batch)
    n_ubatch = min(n_batch, req.n_ubatch or rt.n_ubatch)
    n_tokens = min(ctx, n_ubatch)
    n_outputs = min(n_tokens, n_batch)  # n_outputs_max defaults to n_batch
    # "auto" resolves to on where the backend supports it (llama_context::resolve_fused_ops probe)
    fa = req.flash_attn if req.flash_attn is not None else rt.flash_attn in ("auto", "on")
    swa_full = req.swa_full if req.swa_full is not None else rt.swa_full
    return ContextSettings(
        n_ctx=ctx,
        n_ctx_seq=ctx_seq,
        n_seq=n_seq,
        kv_unified=unified,
        n_batch=n_batch,
        n_ubatch=n_ubatch,
        n_outputs=n_outputs,
        flash_attn=fa,
        swa_full=swa_full,
        type_k=req.type_k,
        type_v=req.type_v,
    )


# --------------------------------------------------------------------------------------------------
# KV cache
# --------------------------------------------------------------------------------------------------


def _n_shortconv(s: ModelShape) -> int:
    v = s.extra("shortconv_l_cache", 3)
    return int(v) if isinstance(v, (int, float)) else 3


# LFM2 short-convolution models: n_embd_r = n_embd * (l_cache - 1), no s state (llama-hparams.cpp).
_SHORTCONV_ARCHS = frozenset({"lfm2", "lfm2moe"})
# src/llama-model.cpp create_memory: falcon-h1 keeps a KV cache *and* a recurrent state in every layer
# (filter_attn and filter_recr both true).
_PARALLEL_HYBRID_ARCHS = frozenset({"falcon-h1"})
# src/models/gemma3n.cpp: n_layer_kv_from_start = 20; the later layers reuse the cache of layer 18 or 19
# (llama_hparams::has_kv and the reuse callback of create_memory in src/llama-model.cpp). Gemma 4 reads it
# from the file (n_layer - shared_kv_layers, ModelShape.kv_layers_from_start).
_KV_LAYERS_FROM_START: dict[str, int] = {"gemma3n": 20}


def recurrent_state_bytes_per_seq(s: ModelShape) -> int:
    """F32 r + s state of one recurrent layer for one sequence (llama_hparams::n_embd_r/n_embd_s)."""
    if s.arch in _SHORTCONV_ARCHS:
        return 4 * s.hidden_size * (_n_shortconv(s) - 1)
    n_r = max(0, s.ssm_d_conv - 1) * (s.ssm_d_inner + 2 * s.ssm_n_group * s.ssm_d_state)
    n_s = s.ssm_d_state * s.ssm_d_inner
    return 4 * (n_r + n_s)


def _is_recurrent(s: ModelShape, il: int) -> bool:
    """The layer keeps a recurrent state instead of a KV cache."""
    if s.arch in _SHORTCONV_ARCHS:
        return s.kv_heads_at(il) == 0
    if s.arch in _PARALLEL_HYBRID_ARCHS:
        return False  # an attention layer; its recurrent state is added in kv_cache_layer_bytes
    return s.is_recurrent_layer(il)


# Architectures whose llama.cpp loader does not use a sliding window even when the model has one:
# src/models/phi3.cpp sets swa_type NONE ("Phi SWA is currently disabled"); src/models/llama.cpp
# never reads attention.sliding_window (Mistral-style models run with full attention).
SWA_IGNORED_ARCHS = frozenset({"phi3", "llama"})


def _swa(s: ModelShape, il: int) -> bool:
    return bool(s.sliding_window) and s.arch not in SWA_IGNORED_ARCHS and s.is_swa_layer(il)


def _swa_cells(s: ModelShape, ctx: ContextSettings) -> int:
    """Cells of a sliding-window layer's cache per stream (llama-kv-cache-iswa.cpp)."""
    if s.sliding_window and not ctx.swa_full:
        per = s.sliding_window * (ctx.n_seq if ctx.kv_unified else 1)
        return _pad(min(ctx.n_ctx_seq, per + ctx.n_ubatch), 256)
    return ctx.n_ctx_seq


def cuda_tensor_alloc_bytes(t: GGMLType, dims: tuple[int, ...]) -> int:
    """Bytes a tensor takes in a ggml-cuda buffer: one row of padding up to MATRIX_ROW_PADDING for
    quantized tensors whose ne0 is not a multiple of it, then the buffer's 128-byte alignment
    (ggml-cuda.cu ggml_backend_cuda_buffer_type_get_alloc_size / get_alignment)."""
    return _cuda_alloc(t, dims, tensor_bytes(t, dims))


def _cuda_alloc(t: GGMLType, dims: tuple[int, ...], n_bytes: int) -> int:
    """``cuda_tensor_alloc_bytes`` of a tensor whose plain size ``n_bytes`` is already known."""
    if TRAITS[t].is_quantized and dims[0] % MATRIX_ROW_PADDING:
        n_bytes += row_bytes(t, MATRIX_ROW_PADDING - dims[0] % MATRIX_ROW_PADDING)
    return _pad(n_bytes, CUDA_BUFFER_ALIGNMENT)


@functools.lru_cache(maxsize=4096)
def kv_cache_layer_bytes(s: ModelShape, ctx: ContextSettings, kind: str = "cpu") -> tuple[int, ...]:
    """Bytes of KV cache (or recurrent state) of each layer. ``kind`` is the backend that holds it:
    ggml-cuda buffers add per-tensor padding (``cuda_tensor_alloc_bytes``)."""
    values = _kv_makeup_bytes(s, ctx, kind in _CUDA_LIKE)
    _, index = _kv_makeups(s, ctx.type_k, ctx.type_v, ctx.flash_attn, kind in _CUDA_LIKE)
    return tuple(map(values.__getitem__, index))


@functools.lru_cache(maxsize=4096)
def _kv_makeup_bytes(s: ModelShape, ctx: ContextSettings, cuda: bool) -> tuple[int, ...]:
    """Bytes of one layer of each of ``_kv_makeups``' distinct make-ups (layers with the same make-up have the
    same bytes: each is worked out once)."""
    n_stream = 1 if ctx.kv_unified else ctx.n_seq
    kv_size = ctx.n_ctx_seq
    swa_size = _swa_cells(s, ctx) if s.sliding_window else kv_size

    def tensor(row: int, pad: int, cells: int) -> int:
        # llama-kv-cache.cpp: one {width, cells, n_stream} tensor per layer for K and for V
        if cuda:  # cuda_tensor_alloc_bytes: the row padding, then the buffer's alignment
            return _pad(row * cells * n_stream + pad, CUDA_BUFFER_ALIGNMENT)
        return row * cells * n_stream

    parts, _ = _kv_makeups(s, ctx.type_k, ctx.type_v, ctx.flash_attn, cuda)
    values = []
    for part in parts:
        if part[0] == _KV_STATE:
            got = part[1] * ctx.n_seq
        elif part[0] == _KV_LATENT:
            got = tensor(part[1], part[2], kv_size)
        elif part[0] == _KV_NONE:
            got = 0
        else:
            _, swa, rk, pk, rv, pv, rs = part
            cells = swa_size if swa else kv_size
            got = tensor(rk, pk, cells) + tensor(rv, pv, cells) + rs * ctx.n_seq
        values.append(got)
    return tuple(values)


_Counts = tuple[tuple[int, ...], ...]  # per make-up, how many of layers 0..i-1 have it (i = 0..n_layers)


@functools.lru_cache(maxsize=1024)
def _kv_makeup_counts(
    s: ModelShape, type_k: str, type_v: str, flash_attn: bool, cuda: bool
) -> tuple[_Counts, dict[str, _Counts]]:
    """Prefix counts of each make-up over the layers, and per KV buffer group (``_kv_buffer_groups``) over that
    group's layers: a run of layers' KV bytes is then the make-ups' bytes times their counts in the run, for
    any context (the same integers as adding the layers' bytes)."""
    parts, index = _kv_makeups(s, type_k, type_v, flash_attn, cuda)
    groups = _kv_buffer_groups(s)

    def counts(group: str | None) -> _Counts:
        """Over every layer (``group`` None) or that group's."""
        pairs = tuple(zip(index, groups, strict=True))
        return tuple(
            (0, *itertools.accumulate(1 if i == p and group in (None, g) else 0 for i, g in pairs))
            for p in range(len(parts))
        )

    return counts(None), {g: counts(g) for g in dict.fromkeys(groups)}


def _kv_run_bytes(values: tuple[int, ...], counts: _Counts, a: int, b: int) -> int:
    """KV bytes of layers a..b-1: each make-up's bytes times how many of them the run holds."""
    return sum(v * (c[b] - c[a]) for v, c in zip(values, counts, strict=True))


@functools.lru_cache(maxsize=1024)
def _kv_makeups(
    s: ModelShape, type_k: str, type_v: str, flash_attn: bool, cuda: bool
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """``_kv_layout``'s distinct make-ups, in first-seen order, and each layer's position among them."""
    layout = _kv_layout(s, type_k, type_v, flash_attn, cuda)
    parts = tuple(dict.fromkeys(layout))
    where = {p: i for i, p in enumerate(parts)}
    return parts, tuple(where[p] for p in layout)


# What a layer's cache is made of (``_kv_layout``): a recurrent state, an MLA latent K, nothing, or K and V.
_KV_STATE, _KV_LATENT, _KV_NONE, _KV_PAIR = range(4)


@functools.lru_cache(maxsize=1024)
def _kv_layout(s: ModelShape, type_k: str, type_v: str, flash_attn: bool, cuda: bool) -> tuple[tuple[int, ...], ...]:
    """Per layer, what ``kv_cache_layer_bytes`` multiplies by the context: (_KV_STATE, bytes per sequence),
    (_KV_LATENT, K row bytes, CUDA row padding), (_KV_NONE,) or (_KV_PAIR, sliding window?, K row bytes,
    K padding, V row bytes, V padding, recurrent bytes per sequence). Independent of the context, so the
    max-context search reads it once per model and cache type."""
    tk, tv = type_by_name(type_k), type_by_name(type_v)
    v_max = max((s.v_dim_at(i) * s.kv_heads_at(i) for i in range(s.n_layers)), default=0)

    def row(t: GGMLType, width: int) -> tuple[int, int]:
        pad = 0
        if cuda and TRAITS[t].is_quantized and width % MATRIX_ROW_PADDING:
            pad = row_bytes(t, MATRIX_ROW_PADDING - width % MATRIX_ROW_PADDING)
        return row_bytes(t, width), pad

    out: list[tuple[int, ...]] = []
    for il in range(s.n_layers):
        if _is_recurrent(s, il):
            out.append((_KV_STATE, recurrent_state_bytes_per_seq(s)))
            continue
        if s.is_mla:
            # MLA: K holds kv_lora_rank + rope dims for one "head", no V tensor.
            out.append((_KV_LATENT, *row(tk, s.kv_lora_rank + s.qk_rope_head_dim)))
            continue
        n_kv = s.kv_heads_at(il)
        if n_kv == 0 or il >= _KV_LAYERS_FROM_START.get(s.arch, s.kv_layers_from_start()):
            out.append((_KV_NONE,))
            continue
        # without flash attention V is stored transposed at the widest layer's width (TAG_V_CACHE_VARIABLE)
        v_width = s.v_dim_at(il) * n_kv if flash_attn else v_max
        rs = recurrent_state_bytes_per_seq(s) if s.arch in _PARALLEL_HYBRID_ARCHS else 0
        out.append((_KV_PAIR, int(_swa(s, il)), *row(tk, s.head_dim_at(il) * n_kv), *row(tv, v_width), rs))
    return tuple(out)


def _kv_buffer_group(s: ModelShape, il: int) -> str:
    """Which of llama.cpp's caches (one buffer per device each) holds a layer's KV or state."""
    if _is_recurrent(s, il):
        return "rs"
    return "swa" if _swa(s, il) else "kv"


@functools.lru_cache(maxsize=1024)
def _kv_buffer_groups(s: ModelShape) -> tuple[str, ...]:
    """``_kv_buffer_group`` of every layer (placement reads it per layer, many times per plan)."""
    return tuple(_kv_buffer_group(s, il) for il in range(s.n_layers))


def kv_cache_bytes(s: ModelShape, ctx: ContextSettings) -> int:
    return sum(kv_cache_layer_bytes(s, ctx))


# --------------------------------------------------------------------------------------------------
# compute buffers
# --------------------------------------------------------------------------------------------------


def _attn_kv_len(s: ModelShape, ctx: ContextSettings) -> int:
    """Cells an attention layer sees in the worst-case graph (the largest cache of any layer)."""
    full = [il for il in range(s.n_layers) if not _is_recurrent(s, il) and not _swa(s, il)]
    if full or not s.sliding_window or ctx.swa_full:
        return ctx.n_ctx_seq if not ctx.kv_unified else ctx.n_ctx
    per = s.sliding_window * (ctx.n_seq if ctx.kv_unified else 1)
    return _pad(min(ctx.n_ctx_seq, per + ctx.n_ubatch), 256)


_FLOAT_CACHE = (GGMLType.F16, GGMLType.F32, GGMLType.BF16)


@functools.lru_cache(maxsize=4096)
def compute_parts(s: ModelShape, ctx: ContextSettings) -> tuple[int, int]:
    """(layers-only peak, whole-graph peak) of the compute buffer (CPU-calibrated, see module doc).

    logits phase: n_outputs * n_vocab * 4 plus two F32 activations (n_tokens * n_embd) and the
    positions (n_tokens * 4). Without flash attention the attention phase holds the KQ scores and
    the mask, 4 * n_tokens * n_kv * (n_head + 1), plus about five activations; llama.cpp also keeps
    a third activation alive in the logits phase when flash attention is off. A device that does not
    hold the output layer only needs the layers-only peak."""
    n_tok = min(ctx.n_ctx, ctx.n_ubatch)
    act = n_tok * s.hidden_size * 4
    logits = ctx.n_outputs * s.vocab_size * 4 + 2 * act + n_tok * 4
    layers = 3 * act
    # MoE FFN phase: gate, up and activation outputs of the selected experts (n_tokens x n_used x
    # n_ff_exp F32 each) plus the n_used expert outputs; fits Mixtral-8x7B's 204.01 MiB (no_alloc run).
    if s.n_experts > 1 and s.n_experts_used:
        n_ff_exp = s.expert_ffn_size or s.ffn_size
        g = n_tok * s.n_experts_used * n_ff_exp * 4
        layers = max(layers, 3 * g + s.n_experts_used * act + int(2.5 * act))
    # MLA (deepseek2.cpp): the absorbed query is n_head x (kv_lora_rank + rope) wide and the attention
    # output n_head x kv_lora_rank; at DeepSeek-V3's 128 heads they outweigh the activations.
    q_mla = kqv_mla = 0
    if s.is_mla:
        q_mla = n_tok * s.n_heads * (s.kv_lora_rank + s.qk_rope_head_dim) * 4
        kqv_mla = n_tok * s.n_heads * s.kv_lora_rank * 4
        logits += max(0, q_mla - act)
        layers = max(layers, q_mla + kqv_mla + 2 * act)
    quant_cache = any(type_by_name(t) not in _FLOAT_CACHE for t in (ctx.type_k, ctx.type_v))
    if ctx.flash_attn:
        # a quantized cache keeps one more activation alive (observed: SmolLM2 q8_0/q8_0, +n_tokens*n_embd*4)
        return layers, max(logits + (act if quant_cache else 0), layers)
    n_kv = _attn_kv_len(s, ctx)
    attn = 4 * n_tok * n_kv * (s.n_heads + 1) + q_mla + kqv_mla + int(5.5 * act)
    layers = max(layers, attn)
    return layers, max(logits + act, layers)


def compute_buffer_bytes(s: ModelShape, ctx: ContextSettings, kind: str = "cpu") -> int:
    """Compute buffer of one device running the whole graph: the CPU backend (CPU-only runs), or a GPU
    of backend ``kind`` holding every layer and the output (``gpu_compute_parts``)."""
    if kind == "cpu":
        return compute_parts(s, ctx)[1]
    return gpu_compute_parts(s, ctx, kind)[1]


@dataclass(frozen=True)
class _AttnCache:
    """One of llama.cpp's attention caches as the worst-case graph sees it."""

    cells: int  # n_kv per stream
    k_width: int  # widest n_embd_k_gqa of its layers
    v_width: int  # widest n_embd_v_gqa (0 for MLA: V is a view of K)


def _attn_caches(s: ModelShape, ctx: ContextSettings) -> list[_AttnCache]:
    """The full-attention cache and, for iSWA models, the sliding-window cache."""
    return [_AttnCache(_swa_cells(s, ctx) if swa else ctx.n_ctx_seq, k, v) for swa, k, v in _attn_groups(s)]


@functools.lru_cache(maxsize=1024)
def _attn_groups(s: ModelShape) -> tuple[tuple[bool, int, int], ...]:
    """(sliding window?, widest K, widest V) of each attention cache: ``_attn_caches`` without the context."""
    groups: dict[bool, list[int]] = {}
    for il in range(s.n_layers):
        if _is_recurrent(s, il) or (not s.is_mla and s.kv_heads_at(il) == 0):
            continue
        groups.setdefault(_swa(s, il), []).append(il)
    out = []
    for swa, layers in sorted(groups.items()):
        if s.is_mla:
            out.append((swa, s.kv_lora_rank + s.qk_rope_head_dim, 0))
        else:
            out.append((swa, max(s.head_dim_at(i) * s.kv_heads_at(i) for i in layers),
                        max(s.v_dim_at(i) * s.kv_heads_at(i) for i in layers)))  # fmt: skip
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def gpu_compute_parts(s: ModelShape, ctx: ContextSettings, kind: str = "cuda") -> tuple[int, int]:
    """(layers-only peak, whole-graph peak) of a GPU's compute buffer, fitted to the CUDA0 compute
    buffers llama.cpp logged on an H100 (bench/data/memory_h100.jsonl: 8 dense and 2 MoE models,
    4k-128k contexts, f16/q8_0/q4_0 caches, flash attention on and off; within 0.1 MiB for the dense
    models). n_tok = min(n_ctx, n_ubatch); e = n_tok x n_embd F32; q = n_tok x n_head x head_dim F32.

    * logits phase: n_outputs x n_vocab F32 plus the normed hidden state (e). MoE models keep up to one
      expert-output tensor (n_used x e) and one more e alive below it (measured 0..41 MiB more than
      the dense rule for Qwen3-30B-A3B, 6..10 MiB for gpt-oss-20b, depending on the context).
    * attention with flash attention: the FA output (q), the masks (n_kv x n_tok F16 per cache), two
      q-sized and one e-sized activation. On ggml-cuda a quantized cache also widens the FA node by an
      F16 copy of the layer's whole K and V views (fattn.cu ggml_cuda_flash_attn_ext_get_alloc_size):
      2 x n_kv x n_embd_k_gqa bytes each, gigabytes at 128k.
    * attention without flash attention: the KQ scores 4 x n_tok x n_kv x n_head, the F32 masks, four
      q-sized activations and two K-sized ones (n_tok x n_embd_k_gqa F32).
    * MoE FFN and MLA terms as in ``compute_parts`` (CPU-calibrated; never the peak in the bench data).
    """
    n_tok = min(ctx.n_ctx, ctx.n_ubatch)
    e = n_tok * s.hidden_size * 4
    q = n_tok * s.n_heads * s.head_dim * 4
    q_v = n_tok * s.n_heads * s.v_dim * 4
    n_stream = 1 if ctx.kv_unified else ctx.n_seq
    caches = _attn_caches(s, ctx)
    mask_elt = 2 if ctx.flash_attn else 4  # llama-graph.cpp: the mask is F16 for flash attention
    masks = sum(c.cells * n_tok * mask_elt for c in caches)
    attn = 0
    if caches:
        if ctx.flash_attn:
            conv = 0
            if kind in _CUDA_LIKE:
                tk, tv = type_by_name(ctx.type_k), type_by_name(ctx.type_v)
                for c in caches:
                    k16 = c.k_width * c.cells * n_stream * 2 if tk != GGMLType.F16 else 0
                    v16 = c.v_width * c.cells * n_stream * 2 if tv != GGMLType.F16 and c.v_width else 0
                    conv = max(conv, _pad(k16, 128) + _pad(v16, 128))
            attn = q_v + conv + masks + 2 * q + e
        else:
            n_kv = max(c.cells for c in caches)
            g = n_tok * max(c.k_width for c in caches) * 4
            attn = 4 * n_tok * n_kv * s.n_heads + masks + 4 * q + 2 * g
    layers = max(3 * e, attn)
    logits = ctx.n_outputs * s.vocab_size * 4 + e
    # Per-layer embeddings (gemma4.cpp / gemma3n.cpp project_per_layer_inputs): the ubatch's per-layer
    # inputs, n_tok x n_layer x n_embd_per_layer F32, arrive as a copied split input and are projected and
    # permuted into two more tensors that size; the logits land above them. H200 Gemma 4 E4B at 32k:
    # +64.02 MiB logged, 3 x 21 MiB here (bench/data/gpu_logs_v_h200.jsonl).
    logits += 3 * _per_layer_inputs_bytes(s, n_tok)
    if s.n_experts > 1 and s.n_experts_used:
        n_ff_exp = s.expert_ffn_size or s.ffn_size
        g_moe = n_tok * s.n_experts_used * n_ff_exp * 4
        layers = max(layers, 3 * g_moe + s.n_experts_used * e + int(2.5 * e))
        logits += s.n_experts_used * e + e
    if s.is_mla:
        q_mla = n_tok * s.n_heads * (s.kv_lora_rank + s.qk_rope_head_dim) * 4
        kqv_mla = n_tok * s.n_heads * s.kv_lora_rank * 4
        layers = max(layers, attn + q_mla + kqv_mla)
    return layers, max(logits, layers)


def _per_layer_inputs_bytes(s: ModelShape, n_tok: int) -> int:
    """The ubatch's per-layer embedding inputs (Gemma 3n, Gemma 4 E2B/E4B): get_rows of
    per_layer_token_embd, n_tok x n_layer x n_embd_per_layer F32; 0 for other models."""
    return n_tok * s.n_layers * int(s.extra("per_layer_input", 0) or 0) * 4


@functools.lru_cache(maxsize=4096)
def gpu_host_compute_bytes(s: ModelShape, ctx: ContextSettings) -> int:
    """The host (CUDA_Host) compute buffer when a GPU runs the graph: the graph inputs llama.cpp fills
    on the CPU. Fitted to the H100 logs (bench/data/memory_h100.jsonl, within 0.02 MiB):

    * two n_tok x n_embd F32 activations (token embeddings looked up on the CPU, where token_embd is);
    * the KQ masks, n_kv x n_tok per cache (F16 with flash attention, else F32);
    * per cache the K and V row indices (I64): n_tok each, but n_tok x n_embd_v_gqa for the transposed V
      cache used without flash attention (llama-kv-cache.cpp build_input_v_idxs);
    * per cache the Hadamard rotation matrices of a quantized cache (build_input_k_rot/v_rot: F32
      nrot x nrot, nrot the largest power of two >= 64 dividing head_dim for K, 64 for V);
    * token ids and positions (n_tok x 4 bytes each);
    * with per-layer embeddings, their lookup (``_per_layer_inputs_bytes``; H200 Gemma 4 E4B: 64.02 MiB
      logged and predicted).
    """
    n_tok = min(ctx.n_ctx, ctx.n_ubatch)
    caches = _attn_caches(s, ctx)
    mask_elt = 2 if ctx.flash_attn else 4
    out = 2 * n_tok * s.hidden_size * 4 + 2 * n_tok * 4 + _per_layer_inputs_bytes(s, n_tok)
    tk, tv = type_by_name(ctx.type_k), type_by_name(ctx.type_v)
    for c in caches:
        out += c.cells * n_tok * mask_elt
        out += n_tok * 8 + (n_tok * 8 if ctx.flash_attn else n_tok * max(c.v_width, 1) * 8)
        if s.is_mla:
            continue  # no rotation inputs for the MLA latent cache (DeepSeek-V2-Lite q8_0 logs, bench set 3)
        if TRAITS[tk].is_quantized and s.head_dim % 64 == 0:
            nrot = 64
            while s.head_dim % (nrot * 2) == 0:
                nrot *= 2
            out += nrot * nrot * 4
        if TRAITS[tv].is_quantized and s.v_dim % 64 == 0:
            out += 64 * 64 * 4
    return out


def op_offload_compute_bytes(
    s: ModelShape,
    ctx: ContextSettings,
    types: dict[str, GGMLType],
    ws: WeightSplit,
    host_layers: list[int],
    kind: str = "cuda",
) -> int:
    """GPU 0's compute buffer when op offload runs host-resident layers and the host-resident output on
    it (-ngl 0 with a GPU present). ggml_backend_sched_split_graph copies each split's inputs, the host
    weights included, into the split's backend, and allocates them at the start of the split
    (ggml-backend.cpp: "add a dependency to the input copy so that it is allocated at the start of the
    split"); gallocr then reserves the largest split:

    * the output split: the copied output matrix (output.weight, or token_embd when tied, as the file
      holds it) and output norm, the normed hidden state (n_tok x n_embd F32) and the logits (n_outputs x
      n_vocab F32). H200 (bench/data/op_offload_h200.jsonl): 459.99 / 669.48 / 544.18 MiB for
      Llama-3.2-1B / Llama-3.1-8B / Qwen3-30B-A3B Q4_K_M at 4k and 16k, within 0.01 MiB; Gemma-3-4B logs
      28.3 MiB more (1070.32), not explained (it also shows at -ngl 1 with op offload, not without);
    * a layer split: at most the whole layer's weights copied plus the GPU's layers-only peak (never the
      larger one in the measurements; it is for MoE models whose expert tensors outweigh the output).

    Vulkan reserves more for the output split: the same split rules (ggml_vk_get_op_batch_size is
    CUDA's get_op_batch_size; 356 splits in both logs), but the last host layer's FFN-down split stays
    under it: its copied ffn_down, its n_tok x n_ff input and n_tok x n_embd output. H200 through
    NVIDIA's Vulkan driver, Llama-3.1-8B Q4_K_M -ngl 0 4k (tests/fixtures/loadlogs/
    vulkan_h200_llama31_8b_q4km_ngl0_4k.log): 751.41 MiB = CUDA's 669.48 + 45.94 (Q6_K ffn_down) + 28 +
    8. One log: the allocation order that leaves them there is not traced (ggml_vk_graph_optimize
    reorders each split's nodes before ggml-alloc places them, ggml-backend.cpp).
    """
    n_tok = min(ctx.n_ctx, ctx.n_ubatch)
    w_out = ws.output_bytes + _output_dup_bytes(s, types)
    out_phase = w_out + ctx.n_outputs * s.vocab_size * 4 + n_tok * s.hidden_size * 4
    if kind == "vulkan" and s.n_layers - 1 in host_layers:
        down = f"blk.{s.n_layers - 1}.ffn_down.weight"
        for t in tensor_inventory(s):
            if t.name == down:  # dims: (n_ff, n_embd)
                out_phase += tensor_bytes(types[down], t.dims) + n_tok * (t.dims[0] + t.dims[1]) * 4
    layer_phase = 0
    if host_layers:
        layer_phase = max(ws.layer_bytes[il] for il in host_layers) + gpu_compute_parts(s, ctx, kind)[0]
    return max(out_phase, layer_phase)


def expert_offload_compute_bytes(
    s: ModelShape, ctx: ContextSettings, types: dict[str, GGMLType], n_cpu_moe: int, kind: str = "cuda"
) -> int:
    """GPU 0's compute-buffer peak when op offload runs host-resident experts (--n-cpu-moe) on it: every
    MUL_MAT_ID whose expert tensor sits in host memory starts its own split (ggml-backend.cpp
    ggml_backend_sched_split_graph, ``need_new_split`` for a weight on an incompatible backend), and the
    split's input copy of the whole tensor is allocated in the GPU's compute buffer next to the live
    expert activations: the largest such tensor plus gate, up and their product (n_tok x n_used x n_ff_exp
    F32 each). H200, gpt-oss-120b MXFP4 at n_ubatch 512 (bench/data/moe_offload_h200.jsonl,
    fit_params_h200.jsonl): 537.89 + 67.50 = 605.39 MiB against 608.29 (-ncmoe 9..36) and 603.16 MiB
    (llama-fit-params' -ot), 405.02 with every expert on the GPU; Qwen3-30B-A3B's 157 MiB tensors stay
    under its logits peak (341.54 -> 342.01 MiB measured)."""
    n_tok = min(ctx.n_ctx, ctx.n_ubatch)
    if not n_cpu_moe or n_tok < OP_OFFLOAD_MIN_BATCH or s.n_experts <= 1 or not s.n_experts_used:
        return 0
    largest = _largest_expert_tensor_below(s, types, kind)[min(n_cpu_moe, s.n_layers)]
    return largest + 3 * n_tok * s.n_experts_used * (s.expert_ffn_size or s.ffn_size) * 4 if largest else 0


@_per_types
def _largest_expert_tensor_below(s: ModelShape, types: dict[str, GGMLType], kind: str) -> tuple[int, ...]:
    """For k = 0..n_layers, the bytes of the largest expert tensor of layers 0..k-1 (0: none): worked out
    once per model and types, since placement asks at every --n-cpu-moe it tries."""
    alloc = cuda_tensor_alloc_bytes if kind in _CUDA_LIKE else tensor_bytes
    per_layer = [0] * s.n_layers
    for name, dims, where, layer, expert in split_rows(s):  # (the expert tensors are marked there)
        if expert and where == _TO_LAYER and layer < s.n_layers:
            per_layer[layer] = max(per_layer[layer], alloc(types[name], dims))
    out = [0]
    for b in per_layer:
        out.append(max(out[-1], b))
    return tuple(out)


def host_layer_compute_bytes(s: ModelShape, ctx: ContextSettings) -> int:
    """What the host's compute buffer adds for layers it runs itself next to a GPU (op offload off): the
    FFN phase, three n_tok x n_ff F32 (gate, up, their product) and two activations; for MoE the expert
    outputs as in ``compute_parts``. H200 -ngl 1/2 --no-op-offload (bench/data/op_offload_h200.jsonl):
    56.0 / 100.0 / 69.0 / 80.0 MiB above the graph inputs for Llama-3.2-1B / Llama-3.1-8B / Gemma-3-4B /
    Qwen3-30B-A3B; this gives 56 / 100 / 70 / 78."""
    n_tok = min(ctx.n_ctx, ctx.n_ubatch)
    act = n_tok * s.hidden_size * 4
    if s.n_experts > 1 and s.n_experts_used:
        g = n_tok * s.n_experts_used * (s.expert_ffn_size or s.ffn_size) * 4
        return 3 * g + s.n_experts_used * act + int(2.5 * act)
    return max(3 * act, 3 * n_tok * s.ffn_size * 4 + 2 * act)


def output_buffer_bytes(s: ModelShape, ctx: ContextSettings) -> int:
    """Host logits buffer: n_vocab floats per output slot (llama_context::output_reserve(n_seq_max))."""
    return s.vocab_size * 4 * ctx.n_seq


# --------------------------------------------------------------------------------------------------
# weights per layer
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightSplit:
    """Weight bytes by where llama.cpp puts them: input (token_embd, always CPU), each repeating
    layer, and the output layer (output.weight or the tied duplicate of token_embd, output_norm)."""

    input_bytes: int
    layer_bytes: tuple[int, ...]
    output_bytes: int
    expert_bytes: tuple[int, ...] = ()  # per layer, the tensors --n-cpu-moe keeps in host memory

    @property
    def file_bytes(self) -> int:
        return self.input_bytes + sum(self.layer_bytes) + self.output_bytes


def weight_split(s: ModelShape, types: dict[str, GGMLType], kind: str = "cpu") -> WeightSplit:
    """Weight bytes per placement unit as they sit in the file (``kind="cpu"``: the mmapped host
    buffer), or as a ggml-cuda buffer holds them (``kind="cuda"``/``"rocm"``: per-tensor padding)."""
    # Cached: the --fit and max-context searches place the same weights many times per estimate.
    return _weight_splits(s, types)[kind in _CUDA_LIKE]


# The MoE expert tensors --cpu-moe and --n-cpu-moe keep on the CPU (common/common.h: LLM_FFN_EXPS_REGEX).
_EXPERT_TENSOR = re.compile(r"\.ffn_(up|down|gate|gate_up)_(ch|)exps")


# LLM_TENSOR_INFOS in src/llama-arch.cpp: tensors of the input layer (always in host memory) and of the
# output layer besides output.weight and the output norm (Gemma 3n's per-layer embeddings and AltUp
# projections). per_layer_model_proj / per_layer_proj_norm are created for layer 0.
_INPUT_LAYER_TENSORS = frozenset({"token_embd.weight", "per_layer_token_embd.weight"})
_OUTPUT_LAYER_TENSORS = frozenset({"output.weight", "altup_proj.weight", "altup_unembd_proj.weight"})


# Where ``_weight_splits`` counts a tensor: the input layer, a repeating layer, the output layer.
_TO_INPUT, _TO_LAYER, _TO_OUTPUT = range(3)


@functools.lru_cache(maxsize=1024)
def split_rows(s: ModelShape) -> tuple[tuple[str, tuple[int, ...], int, int, bool], ...]:
    """Per tensor, whatever its type: (name, dims, where it counts, its layer, a routed-expert tensor?).
    Worked out once per model; ``_weight_splits`` then only sizes each tensor at its type."""
    rows = []
    for t in tensor_inventory(s):
        layer = t.layer
        if t.name in _INPUT_LAYER_TENSORS:
            rows.append((t.name, t.dims, _TO_INPUT, 0, False))
        elif layer is not None:
            rows.append((t.name, t.dims, _TO_LAYER, layer, bool(_EXPERT_TENSOR.search(t.name))))
        elif t.name in _OUTPUT_LAYER_TENSORS or (
            t.name.endswith("_norm.weight") and not t.name.startswith(("blk.", "per_layer_"))
        ):
            rows.append((t.name, t.dims, _TO_OUTPUT, 0, False))
        else:
            rows.append((t.name, t.dims, _TO_LAYER, 0, False))  # rope_freqs / rope_factors: the first layer
    return tuple(rows)


@_per_types
def _weight_splits(s: ModelShape, types: dict[str, GGMLType]) -> tuple[WeightSplit, WeightSplit]:
    """(``weight_split``'s file bytes, its ggml-cuda buffer bytes): one pass over the tensors for both, once per
    model and type mix (a GPU machine's plan reads both)."""
    layers, cuda_layers = [0] * s.n_layers, [0] * s.n_layers
    experts, cuda_experts = [0] * s.n_layers, [0] * s.n_layers
    inp = out = cuda_inp = cuda_out = 0
    for name, dims, where, layer, expert in split_rows(s):
        ty = types[name]
        b = tensor_bytes(ty, dims)
        cb = _cuda_alloc(ty, dims, b)
        if where == _TO_LAYER:
            layers[layer] += b
            cuda_layers[layer] += cb
            if expert:
                experts[layer] += b
                cuda_experts[layer] += cb
        elif where == _TO_INPUT:
            inp += b
            cuda_inp += cb
        else:
            out += b
            cuda_out += cb
    return (
        WeightSplit(inp, tuple(layers), out, tuple(experts)),
        WeightSplit(cuda_inp, tuple(cuda_layers), cuda_out, tuple(cuda_experts)),
    )


@_per_types
def _output_dup_bytes(s: ModelShape, types: dict[str, GGMLType], kind: str = "cpu") -> int:
    """Bytes of the duplicated token_embd used as output when embeddings are tied."""
    if any(t.name == "output.weight" for t in tensor_inventory(s)):
        return 0
    t, dims = types["token_embd.weight"], (s.hidden_size, s.vocab_size)
    return cuda_tensor_alloc_bytes(t, dims) if kind in _CUDA_LIKE else tensor_bytes(t, dims)


# Tensors with two or more dims that never reach a matmul (lookups, convolutions, SSM parameters).
_NOT_MATMUL = frozenset({"token_embd", "per_layer_token_embd", "pos_embd", "ssm_conv1d", "ssm_a", "ssm_d"})


@_per_types
def _float_matmul_layers(s: ModelShape, types: dict[str, GGMLType]) -> frozenset[int]:
    """Layers (n_layers = the output layer) with an F32/F16/BF16 weight matrix: ggml-cuda runs those
    matmuls through cuBLAS at prompt batch sizes (the MoE router ffn_gate_inp is always F32)."""
    floats = (GGMLType.F32, GGMLType.F16, GGMLType.BF16)
    out = {layer for name, layer in matmul_weights(s) if types[name] in floats}
    if s.tied_embeddings and types.get("token_embd.weight") in floats:
        out.add(s.n_layers)
    return frozenset(out)


@functools.lru_cache(maxsize=1024)
def matmul_weights(s: ModelShape) -> tuple[tuple[str, int], ...]:
    """(name, layer) of the tensors with two or more dims that reach a matmul; the output layer is n_layers.
    Worked out once per model; ``_float_matmul_layers`` then only reads each one's type."""
    out = []
    for t in tensor_inventory(s):
        parts = t.name.split(".")
        base = parts[2] if parts[0] == "blk" and len(parts) > 2 else parts[0]
        if len(t.dims) >= 2 and base not in _NOT_MATMUL:
            out.append((t.name, t.layer if t.layer is not None else s.n_layers))
    return tuple(out)


def resolve_types(req: FitRequest) -> dict[str, GGMLType]:
    """Type of every tensor. The dict is shared between calls (a plan asks dozens of times): read it only."""
    if req.tensor_types:
        return _file_types(req.tensor_types)
    return _preset_types(req.shape, req.preset or "F16", req.imatrix)


@functools.lru_cache(maxsize=256)
def _file_types(tensor_types: tuple[tuple[str, str], ...]) -> dict[str, GGMLType]:
    return {k: type_by_name(v) for k, v in tensor_types}


@functools.lru_cache(maxsize=4096)
def _preset_types(shape: ModelShape, preset: str, imatrix: bool) -> dict[str, GGMLType]:
    return tensor_types(shape, preset, has_imatrix=imatrix or needs_imatrix(shape, preset))


def warm_preset(shape: ModelShape, preset: str) -> None:
    """Work out a preset's tensor types, weight bytes per layer and float-matmul layers ahead of the first plan
    that places them (``advisor.warmup``), as ``resolve_types`` hands them to a plan without an imatrix."""
    types = _preset_types(shape, preset, False)
    _weight_splits(shape, types)
    _float_matmul_layers(shape, types)


# --------------------------------------------------------------------------------------------------
# placement and estimate
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _layer_devices(n_layer: int, ngl: int, gpus: tuple[Device, ...], split: tuple[float, ...]) -> tuple[int, ...]:
    """Device index (or -1 for CPU) of layers 0..n_layer (n_layer = output), as llama-model.cpp."""
    if not gpus:
        return (-1,) * (n_layer + 1)
    i_gpu_start = max(n_layer + 1 - ngl, 0)
    act = min(ngl, n_layer + 1)
    if len(gpus) == 1:  # every offloaded layer on the one GPU: what the split below gives, without a search
        start = min(i_gpu_start, n_layer + 1)
        on = max(0, min(act, n_layer + 1 - start))
        return (-1,) * start + (0,) * on + (-1,) * (n_layer + 1 - start - on)
    weights = list(split) if split and any(split) else [float(g.usable_bytes) for g in gpus]
    total = sum(weights) or 1.0
    cum, acc = [], 0.0
    for w in weights:
        acc += w
        cum.append(acc / total)
    out = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or (il - i_gpu_start) >= act:
            out.append(-1)
            continue
        x = (il - i_gpu_start) / act
        idx = next((i for i, c in enumerate(cum) if c > x), len(cum) - 1)  # std::upper_bound
        out.append(idx)
    return tuple(out)


def _overhead(req: FitRequest, dev: Device) -> int:
    if req.overhead_bytes is not None:
        return req.overhead_bytes
    return BACKEND_OVERHEAD_BYTES.get(dev.kind, 0)


def _granularity_slack(kind: str, buffers: list[int]) -> int:
    """Bytes lost to rounding each buffer up to the driver's allocation granularity."""
    if kind != "cuda":
        return 0
    return sum(_pad(b, CUDA_ALLOC_GRANULARITY) - b for b in buffers if b > 0)


@functools.lru_cache(maxsize=4096)
def _device_runs(where: tuple[int, ...], n_layers: int) -> tuple[tuple[int, int, int], ...]:
    """(device, first layer, end) of each run of consecutive repeating layers on one device (``_layer_devices``)."""
    runs: list[tuple[int, int, int]] = []
    start = 0
    for il in range(1, n_layers + 1):
        if il == n_layers or where[il] != where[start]:
            runs.append((where[start], start, il))
            start = il
    return tuple(runs)


# Prefix sums of per-layer tuples, by identity: the tuples come from cached functions (``weight_split``) and
# are placed many times.
_prefixes: IdentityMemo[tuple[int, ...]] = IdentityMemo(8192)


def _prefix(values: tuple[int, ...]) -> tuple[int, ...]:
    """Prefix sums of a per-layer tuple (``_prefixes``)."""
    return _prefixes.get((values,), None, lambda: (0, *itertools.accumulate(values)))


def _span(values: tuple[int, ...], a: int, b: int) -> int:
    """sum(values[a:b])"""
    sums = _prefix(values)
    return sums[b] - sums[a]


# Placements by all they depend on but the devices' names and capacities: the bytes on each device follow
# from the model, its types, the context, which layer sits where and the devices' kinds, never from how
# much memory a device has. So machines that differ only in VRAM or RAM size share them (about half of
# a request's placements on bench/recommendations_latency.py's machines after a few hundred others).
_PLACEMENTS: IdentityMemo[tuple[DeviceMemory, ...]] = IdentityMemo(50_000)


def _place(
    req: FitRequest, ctx: ContextSettings, types: dict[str, GGMLType], ngl: int, n_cpu_moe: int = 0
) -> tuple[DeviceMemory, ...]:
    """Bytes on every GPU and the host with ``ngl`` layers (and the experts of the first ``n_cpu_moe``
    layers in RAM), each device with its name and capacity on this machine."""
    gpus = () if req.cpu_only else req.devices
    where = _layer_devices(req.shape.n_layers, ngl if gpus else 0, gpus, req.tensor_split)
    # The shape by value: every plan gets its own copy of a catalog model's shape (the types dict is shared).
    extra = (req.shape, ctx, n_cpu_moe, where, tuple((g.kind, g.mapped) for g in gpus), req.offload_kqv,
             req.op_offload, req.overhead_bytes, req.projector_bytes, req.projector_on_host)  # fmt: skip
    placed = _PLACEMENTS.get((types,), extra, lambda: _place_bytes(req, ctx, types, where, n_cpu_moe))
    out = [
        DeviceMemory(g.name, d.kind, d.weights_bytes, d.kv_cache_bytes, d.compute_bytes, d.overhead_bytes,
                     max(0, g.usable_bytes - req.margin_bytes), d.n_layers, d.projector_bytes)
        for g, d in zip(gpus, placed, strict=False)
    ]  # fmt: skip
    h = placed[-1]
    out.append(DeviceMemory("host", "cpu", h.weights_bytes, h.kv_cache_bytes, h.compute_bytes, 0, req.host_ram_bytes,
                            h.n_layers, h.projector_bytes))  # fmt: skip
    return tuple(out)


def _place_bytes(
    req: FitRequest, ctx: ContextSettings, types: dict[str, GGMLType], where: tuple[int, ...], n_cpu_moe: int
) -> tuple[DeviceMemory, ...]:
    """``_place``'s bytes for the layer devices ``where`` (``_layer_devices``); names and capacities are
    left to ``_place``."""
    s = req.shape
    gpus = () if req.cpu_only else req.devices
    ws = weight_split(s, types)
    kinds = {g.kind for g in gpus}
    ws_gpu = {k: weight_split(s, types, k) if k in _CUDA_LIKE else ws for k in kinds}
    # KV bytes per make-up (this context) and make-up counts per run of layers: per backend, CUDA-like or not
    kv_cpu = _kv_makeup_bytes(s, ctx, False)
    counts_cpu = _kv_makeup_counts(s, ctx.type_k, ctx.type_v, ctx.flash_attn, False)
    kv_gpu = {k: (_kv_makeup_bytes(s, ctx, True), _kv_makeup_counts(s, ctx.type_k, ctx.type_v, ctx.flash_attn, True))
              if k in _CUDA_LIKE else (kv_cpu, counts_cpu) for k in kinds}  # fmt: skip
    w = [0] * len(gpus)
    kv = [0] * len(gpus)
    kv_groups: list[dict[str, int]] = [{} for _ in gpus]
    nl = [0] * len(gpus)
    float_mm = [False] * len(gpus)
    float_layers = _float_matmul_layers(s, types) if gpus else frozenset()
    host_w = ws.input_bytes
    host_kv = 0
    # Per run of consecutive layers on one device, the sums of its layers' bytes (prefix sums: integers, so
    # the same totals as adding layer by layer, without a Python step per layer and placement).
    runs = _device_runs(where, s.n_layers)
    for d, a, b in runs:
        if d < 0:
            host_w += _span(ws.layer_bytes, a, b)
            host_kv += _kv_run_bytes(kv_cpu, counts_cpu[0], a, b)
            continue
        k = gpus[d].kind
        w[d] += _span(ws_gpu[k].layer_bytes, a, b)
        moe_end = min(b, n_cpu_moe)
        if moe_end > a:  # these layers' experts sit in host memory, the rest of them on their GPU
            w[d] -= _span(ws_gpu[k].expert_bytes, a, moe_end)
            host_w += _span(ws.expert_bytes, a, moe_end)
        # llama-kv-cache.cpp: with offload_kqv the cache follows its layer's device, else the CPU
        if req.offload_kqv:
            values, (all_counts, group_counts) = kv_gpu[k]
            kv[d] += _kv_run_bytes(values, all_counts, a, b)
            for grp, counts in group_counts.items():  # a group's 0 adds no slack
                kv_groups[d][grp] = kv_groups[d].get(grp, 0) + _kv_run_bytes(values, counts, a, b)
        else:
            host_kv += _kv_run_bytes(kv_cpu, counts_cpu[0], a, b)
        nl[d] += b - a
        float_mm[d] |= not float_layers.isdisjoint(range(a, b))
    out_dev = where[s.n_layers]
    if out_dev < 0:
        host_w += ws.output_bytes
    elif METAL_MAPPED_WHOLE_FILE and gpus[out_dev].kind == "metal" and gpus[out_dev].mapped:
        # Metal maps the file instead of copying it (METAL_MAPPED_WHOLE_FILE): the device that holds the
        # output layer maps every byte of tensor data, token_embd and host layers included
        w[out_dev] = ws.file_bytes
        nl[out_dev] += 1
    else:
        k = gpus[out_dev].kind
        w[out_dev] += ws_gpu[k].output_bytes + _output_dup_bytes(s, types, k)
        nl[out_dev] += 1
        float_mm[out_dev] |= s.n_layers in float_layers
    comp = compute_parts(s, ctx)[1]
    # Op offload (ggml-backend.cpp ggml_backend_sched_backend_id_from_cur, cause "1.off"): an op whose
    # weight sits in a host buffer of the CPU backend runs on the first GPU that supports it when
    # ggml_backend_offload_op agrees (ggml-cuda: batch >= OP_OFFLOAD_MIN_BATCH). The worst-case graph
    # sched_reserve sizes (llama-context.cpp graph_reserve: n_ubatch tokens, n_outputs = n_tokens) has
    # such batches, so with layers or the output on the host, GPU 0 runs their matmuls and the rest of
    # the graph follows them there (the host keeps only the graph inputs, the KV writes and lookups).
    host_layers = [il for d, a, b in runs if d < 0 for il in range(a, b)]
    op_off = (
        bool(gpus)
        and req.op_offload
        and min(ctx.n_ctx, ctx.n_ubatch) >= OP_OFFLOAD_MIN_BATCH
        and (out_dev < 0 or bool(host_layers))
    )
    if op_off:
        float_mm[0] |= any(where[il] < 0 for il in float_layers)  # host F32 matrices (MoE router): cuBLAS
    devs: list[DeviceMemory] = []
    for i, g in enumerate(gpus):
        # a GPU reserves the worst case of the graph part it runs: the whole graph where the output
        # layer (logits) lives, the layers-only peak elsewhere
        g_layers, g_whole = gpu_compute_parts(s, ctx, g.kind)
        dev_comp = (g_whole if i == out_dev else g_layers) if nl[i] > 0 else 0
        if op_off and i == 0 and out_dev < 0:
            dev_comp = max(dev_comp, op_offload_compute_bytes(s, ctx, types, ws, host_layers, g.kind))
        if i == 0 and req.op_offload and n_cpu_moe:  # host experts' matmuls run on the first GPU
            dev_comp = max(dev_comp, expert_offload_compute_bytes(s, ctx, types, n_cpu_moe, g.kind))
        ovh = _overhead(req, g)
        if req.overhead_bytes is None and nl[i] == 0 and not (op_off and i == 0):
            ovh = IDLE_BACKEND_OVERHEAD_BYTES.get(g.kind, ovh)  # no layer, no op: the CUDA context alone
        if req.overhead_bytes is None:
            attn_here = nl[i] > (1 if i == out_dev else 0)
            if float_mm[i] or (attn_here and not ctx.flash_attn):
                ovh += CUBLAS_OVERHEAD_BYTES.get(g.kind, 0)
            ovh += _granularity_slack(g.kind, [w[i], *kv_groups[i].values(), dev_comp])
        devs.append(
            DeviceMemory(
                name=g.name,
                kind=g.kind,
                weights_bytes=w[i],
                kv_cache_bytes=kv[i],
                compute_bytes=dev_comp,
                overhead_bytes=ovh,
                n_layers=nl[i],
                projector_bytes=_projector_on_gpu(req) if i == 0 else 0,
            )
        )
    any_gpu = any(n > 0 for n in nl)
    if op_off:
        # the GPU runs the host layers' work: the host (CUDA_Host) buffer holds the graph inputs alone
        # (bench/data/op_offload_h200.jsonl: -ngl 0/1/2, within 0.01 MiB)
        host_comp = gpu_host_compute_bytes(s, ctx)
    elif not any_gpu:
        host_comp = comp
    elif out_dev < 0:
        host_comp = comp  # the output layer (logits) runs on the host (not measured on a GPU machine)
    else:
        # measured with every layer offloaded: the graph inputs; with host layers and op offload off
        # the host also runs their layers (FFN peak, op_offload_h200.jsonl -ngl 1/2 --no-op-offload)
        host_comp = gpu_host_compute_bytes(s, ctx) + (host_layer_compute_bytes(s, ctx) if host_layers else 0)
    host_comp += output_buffer_bytes(s, ctx)
    devs.append(
        DeviceMemory(
            name="host",
            kind="cpu",
            weights_bytes=host_w,
            kv_cache_bytes=host_kv,
            compute_bytes=host_comp,
            overhead_bytes=0,
            n_layers=sum(1 for d in where if d < 0),
            projector_bytes=req.projector_bytes if not gpus or req.projector_on_host else 0,
        )
    )
    return tuple(devs)


def _projector_on_gpu(req: FitRequest) -> int:
    """The --mmproj bytes the first GPU holds."""
    return 0 if req.cpu_only or not req.devices or req.projector_on_host else req.projector_bytes


def _fits(devs: tuple[DeviceMemory, ...]) -> bool:
    return all(d.fits for d in devs)


def _best_ngl(
    req: FitRequest,
    ctx: ContextSettings,
    types: dict[str, GGMLType],
    placed: dict[int, tuple[DeviceMemory, ...]] | None = None,
) -> int:
    """Largest n_gpu_layers whose GPU buffers fit (the host is checked separately).

    Counting down from every layer, it starts at the first count whose weights and KV alone (file
    sizes, the least any backend holds) plus each GPU's least overhead and the output GPU's whole-graph
    compute buffer fit in the GPUs' capacity together: no count above it can fit, so skipping them
    changes nothing but the time. ``placed`` holds placements already made, by -ngl (reused), and
    collects the ones it makes, for its caller to reuse.
    """
    best = 0
    for k in range(_ngl_bound(req, ctx, types), -1, -1):
        devs = placed.get(k) if placed is not None else None
        if devs is None:
            devs = _place(req, ctx, types, k, req.n_cpu_moe or 0)
        if placed is not None:
            placed[k] = devs
        if all(d.fits for d in devs if d.name != "host"):
            best = k
            break
    return best


def _ngl_bound(req: FitRequest, ctx: ContextSettings, types: dict[str, GGMLType]) -> int:
    """The largest -ngl whose GPU bytes could fit by a lower bound (see ``_best_ngl``)."""
    s = req.shape
    gpus = () if req.cpu_only else req.devices
    ws = weight_split(s, types)
    kv_layers = kv_cache_layer_bytes(s, ctx)
    n_cpu_moe = req.n_cpu_moe or 0
    room = -_projector_on_gpu(req)
    # From -ngl 1 on, one GPU holds the output layer: it reserves the whole graph's compute buffer and its
    # busy overhead (not the idle one counted in room); the least of that over the GPUs is a lower bound.
    out_extra: int | None = None
    for g in gpus:
        room += max(0, g.usable_bytes - req.margin_bytes)
        if req.overhead_bytes is not None:
            room -= req.overhead_bytes
            extra = 0
        else:
            busy = BACKEND_OVERHEAD_BYTES.get(g.kind, 0)
            least = min(busy, IDLE_BACKEND_OVERHEAD_BYTES.get(g.kind, busy))
            room -= least
            extra = busy - least
        extra += gpu_compute_parts(s, ctx, g.kind)[1]
        out_extra = extra if out_extra is None else min(out_extra, extra)
    room -= out_extra or 0
    # Metal with mmap maps the whole file on the GPU that holds the output layer (see ``_place``).
    mapped = METAL_MAPPED_WHOLE_FILE and bool(gpus) and all(g.kind == "metal" and g.mapped for g in gpus)
    floor = ws.file_bytes if mapped else 0
    # -ngl k puts the output layer and the last k - 1 repeating layers on the GPUs.
    need_w, need_kv = ws.output_bytes, 0
    if max(need_w, floor) > room:
        return 0
    for k in range(2, s.n_layers + 2):
        il = s.n_layers + 1 - k
        need_w += ws.layer_bytes[il] - (ws.expert_bytes[il] if il < n_cpu_moe else 0)
        need_kv += kv_layers[il] if req.offload_kqv else 0
        if max(need_w, floor) + need_kv > room:
            return k - 1
    return s.n_layers + 1


def _hf_estimate(req: FitRequest, rt: RuntimePreset) -> FitResult:
    """transformers: weights per format, KV of a DynamicCache (16-bit K and V per token and layer,
    sliding layers keep the window), no reserved compute buffer (activations are transient)."""
    s = req.shape
    fmt = req.hf_format or HFFormat(HFQuant.BF16)
    n_ctx = req.n_ctx or s.context_max
    weights = hf_weights_bytes(s, fmt)
    kv = 0
    for il in range(s.n_layers):
        n_kv = s.kv_heads_at(il)
        if _is_recurrent(s, il) or n_kv == 0:
            continue
        toks = min(n_ctx, s.sliding_window) if s.is_swa_layer(il) and s.sliding_window else n_ctx
        if s.is_mla:
            kv += toks * s.n_heads * (s.qk_nope_head_dim + s.qk_rope_head_dim + s.v_head_dim_mla) * 2
        else:
            kv += toks * n_kv * (s.head_dim + s.v_dim) * 2
    kv *= max(1, req.n_parallel or 1)
    ctx = ContextSettings(n_ctx, n_ctx, 1, True, 1, 1, 1, False, False, "f16", "f16")
    gpus = () if req.cpu_only else req.devices
    devs: list[DeviceMemory] = []
    if gpus:
        g = gpus[0]
        devs.append(DeviceMemory(g.name, g.kind, weights, kv, 0, _overhead(req, g),
                                 max(0, g.usable_bytes - req.margin_bytes), s.n_layers))  # fmt: skip
        devs.append(DeviceMemory("host", "cpu", 0, 0, 0, 0, req.host_ram_bytes, 0))
    else:
        devs.append(DeviceMemory("host", "cpu", weights, kv, 0, 0, req.host_ram_bytes, s.n_layers))
    t = tuple(devs)
    fit = ("full_gpu" if gpus else "cpu") if _fits(t) else "no_fit"
    return FitResult(
        devices=t, fit=fit, max_context=n_ctx if fit != "no_fit" else 0, n_gpu_layers=s.n_layers if gpus else 0,
        context=ctx, runtime=rt.name, weights_bytes=weights, kv_cache_bytes=kv, compute_bytes=0,
        overhead_bytes=sum(d.overhead_bytes for d in t),
        overhead_source="llama.cpp's backend overhead, not measured for transformers (BACKEND_OVERHEAD_BYTES)",
        notes=("transformers: activations are not reserved up front; peak use is higher during prefill",),
    )  # fmt: skip


def _overhead_source(kinds: frozenset[str] = frozenset()) -> str:
    gpu = sorted(k for k in kinds if k != "cpu")
    if not gpu:
        return "measured (no GPU: no driver context)"
    unmeasured = [k for k in gpu if not OVERHEAD_MEASURED.get(k, False)]
    if unmeasured:
        return "; ".join(
            f"{k}: {overhead_provenance(k).text}, not measured ({overhead_provenance(k).source})" for k in unmeasured
        )
    return "measured: CUDA on an H100 80GB, llama-cpp-python 0.3.36 (bench/data/memory_h100.jsonl)"


def _summ(devs: tuple[DeviceMemory, ...], attr: str) -> int:
    return int(sum(getattr(d, attr) for d in devs))


def estimate(request: FitRequest) -> FitResult:
    """Estimate memory per device, the fit verdict, the best n_gpu_layers and the largest context."""
    rt = runtime(request.runtime)
    if rt.fmt == "hf" or request.hf_format is not None:
        return _hf_estimate(request, rt)
    s = request.shape
    types = resolve_types(request)
    notes: list[str] = []
    request = _llama_fit_context(request, rt, notes)
    ctx = resolve_context(request, rt)
    if not ctx.flash_attn and type_by_name(ctx.type_v) not in (GGMLType.F16, GGMLType.F32, GGMLType.BF16):
        notes.append("llama.cpp refuses a quantized V cache without flash attention")
    if not rt.verified:
        notes.append(f"{rt.name} defaults are from its docs, not checked against its source")
    if rt.host_prompt_cache_bytes:
        notes.append(
            f"{rt.name} keeps a prompt cache in host RAM that grows with use up to "
            f"{rt.host_prompt_cache_bytes // MIB} MiB (--cache-ram); not counted above"
        )
    gpus = () if request.cpu_only else request.devices
    n_max = s.n_layers + 1
    moe_placed: dict[int, tuple[DeviceMemory, ...]] = {}
    request = replace(request, n_cpu_moe=_n_cpu_moe(request, ctx, types, moe_placed) if gpus else 0)
    # the --n-cpu-moe search placed every layer on the GPUs at the count it chose: -ngl n_max's placement
    placed: dict[int, tuple[DeviceMemory, ...]] = {}
    if (moe_devs := moe_placed.get(request.n_cpu_moe or 0)) is not None:
        placed[n_max] = moe_devs
    if not gpus:
        ngl = 0
    elif request.n_gpu_layers is None:
        ngl = _best_ngl(request, ctx, types, placed)
    elif request.n_gpu_layers < 0:
        ngl = n_max
    else:
        ngl = min(request.n_gpu_layers, n_max)
    n_cpu_moe = request.n_cpu_moe or 0
    devs = placed.get(ngl) or _place(request, ctx, types, ngl, n_cpu_moe)
    if not _fits(devs):
        fit = "no_fit"
    elif not gpus or ngl == 0:
        fit = "cpu"
    elif ngl >= n_max:
        fit = "full_gpu"
    else:
        fit = "partial"
    max_ctx = max_context(request, ngl, (ctx.n_ctx, devs))
    return FitResult(
        devices=devs,
        fit=fit,
        max_context=max_ctx,
        n_gpu_layers=ngl,
        context=ctx,
        runtime=rt.name,
        weights_bytes=_summ(devs, "weights_bytes"),
        kv_cache_bytes=_summ(devs, "kv_cache_bytes"),
        compute_bytes=_summ(devs, "compute_bytes"),
        overhead_bytes=_summ(devs, "overhead_bytes"),
        overhead_source=_overhead_source(frozenset(d.kind for d in gpus)),
        notes=tuple(notes),
        n_cpu_moe=n_cpu_moe if ngl > 0 else 0,
    )


def _n_cpu_moe(
    req: FitRequest,
    ctx: ContextSettings,
    types: dict[str, GGMLType],
    placed: dict[int, tuple[DeviceMemory, ...]] | None = None,
) -> int:
    """Layers whose experts stay in host memory: as asked, or (``None``) the fewest that let every layer
    and the output sit on the GPUs, as llama.cpp's fit moves experts before it moves layers
    (common/fit.cpp); all of them when even that is not enough (then -ngl drops layers too). ``placed``
    collects the placements of every layer it made, by that count (``_place`` reads the count from its
    argument, not from ``req``)."""
    if req.n_cpu_moe is not None:
        return max(0, min(req.n_cpu_moe, req.shape.n_layers))
    if not any(weight_split(req.shape, types).expert_bytes) or req.n_gpu_layers not in (None, -1):
        return 0
    n = req.shape.n_layers
    made: dict[int, tuple[DeviceMemory, ...]] = {} if placed is None else placed

    def gpu_overrun(k: int) -> int:
        """How far the fullest GPU is over capacity with the experts of the first k layers in RAM; fewer
        experts on the GPUs never need more, so the answer is the smallest k where it is <= 0."""
        devs = made.get(k)
        if devs is None:
            devs = made[k] = _place(req, ctx, types, n + 1, k)
        gpus = [d for d in devs if d.name != "host"]
        return max((d.total_bytes - d.capacity_bytes for d in gpus if d.capacity_bytes is not None), default=-1)

    g_none = gpu_overrun(0)
    if g_none <= 0:
        return 0
    # Aim first: from a count that does not fit, each GPU over capacity must shed at least its excess in
    # expert bytes of the next layers, the count that first does is the guess (the compute buffer and
    # the allocation rounding move a little with it, so it is checked, and the count below it too).
    fail, g_fail = 0, g_none
    for _ in range(3):
        k = _n_cpu_moe_aim(req, types, made[fail], fail)
        if k >= n:
            break
        g = gpu_overrun(k)
        if g > 0:
            fail, g_fail = k, g
            continue
        if k - 1 == fail or (g_below := gpu_overrun(k - 1)) > 0:
            return k
        # k - 1 fits too: the answer is in (fail, k - 1]
        return n - _last_fitting(n - k + 1, g_below, n - fail, g_fail, 1, lambda i: gpu_overrun(n - i))
    g_all = gpu_overrun(n)
    if g_all > 0:
        return n
    # Counted from all layers' experts in RAM down, the overrun grows: the last count that fits.
    return n - _last_fitting(0, g_all, n - fail, g_fail, 1, lambda i: gpu_overrun(n - i))


def _n_cpu_moe_aim(req: FitRequest, types: dict[str, GGMLType], devs: tuple[DeviceMemory, ...], k0: int) -> int:
    """The least count above ``k0`` at which every GPU over capacity in ``devs`` (placed with the experts
    of the first ``k0`` layers in RAM) has moved at least its excess of expert bytes to RAM; n if none."""
    s = req.shape
    n = s.n_layers
    gpus = req.devices
    where = _layer_devices(n, n + 1, gpus, req.tensor_split)
    ws = weight_split(s, types)
    aim = k0 + 1
    for d, (g, dm) in enumerate(zip(gpus, devs, strict=False)):
        excess = dm.total_bytes - dm.capacity_bytes if dm.capacity_bytes is not None else 0
        if excess <= 0:
            continue
        experts = weight_split(s, types, g.kind).expert_bytes if g.kind in _CUDA_LIKE else ws.expert_bytes
        k = k0
        while excess > 0 and k < n:
            if where[k] == d:
                excess -= experts[k]
            k += 1
        if excess > 0:
            return n
        aim = max(aim, k)
    return aim


def _llama_fit_context(request: FitRequest, rt: RuntimePreset, notes: list[str]) -> FitRequest:
    """llama.cpp tools' --fit: with n_ctx and n_gpu_layers unset and GPUs present, lower the context
    (down to fit_min_ctx) until everything fits on the GPUs with fit_margin_bytes left free."""
    if not rt.fits_context or request.n_ctx is not None or request.n_gpu_layers is not None:
        return request
    if request.cpu_only or not request.devices:
        return request
    n_full = request.shape.n_layers + 1
    # the margin also applies when --fit then lowers n_gpu_layers (the auto layer choice below)
    probe = replace(request, margin_bytes=max(request.margin_bytes, rt.fit_margin_bytes))
    want = rt.n_ctx if rt.n_ctx is not None else request.shape.context_max
    if _fits_at(probe, n_full, want):
        return replace(probe, n_ctx=want)
    best = max_context(probe, n_full)
    n_ctx = max(best, rt.fit_min_ctx) if best else rt.fit_min_ctx
    notes.append(f"{rt.name} --fit lowers the context to {n_ctx} to keep {rt.fit_margin_bytes // MIB} MiB free")
    return replace(probe, n_ctx=min(n_ctx, want))


def _fits_at(request: FitRequest, ngl: int, n_ctx: int) -> bool:
    return _overrun(request, ngl, n_ctx) <= 0


def _overrun(request: FitRequest, ngl: int, n_ctx: int) -> int:
    """How far the fullest device is over its capacity at ``n_ctx`` (<= 0: everything fits)."""
    ctx = resolve_context(request, runtime(request.runtime), n_ctx=n_ctx)
    return _worst(_place(request, ctx, resolve_types(request), ngl, request.n_cpu_moe or 0))


def _worst(devs: tuple[DeviceMemory, ...]) -> int:
    return max((d.total_bytes - d.capacity_bytes for d in devs if d.capacity_bytes is not None), default=-1)


def max_context(request: FitRequest, ngl: int, known: tuple[int, tuple[DeviceMemory, ...]] | None = None) -> int:
    """Largest n_ctx (multiple of 256, up to context_max) that fits at ``ngl``; 0 if none.

    Every device's bytes only grow with n_ctx (KV cells, the SWA cache and the compute buffer up to their
    caps, 2 MiB pages), so the answer is the last multiple of 256 that fits. Between those caps the
    bytes are linear in n_ctx, so the search aims where the fullest device's overrun, interpolated
    between the two sizes known to fit and not to fit, reaches zero, and checks the size just past the
    aim: about 3 placements where halving the range took 10 to 12. ``known`` is a placement already
    made at the multiple of 256 it names (``estimate``'s own).
    """
    step = 256
    top = request.shape.context_max
    lo, hi = step, _pad(top, step)
    g_hi = _overrun(request, ngl, hi)
    if g_hi <= 0:
        return min(hi, top) if top >= step else hi
    g_lo: int | None = None
    if known is not None and lo <= known[0] < hi and known[0] % step == 0:
        g_known = _worst(known[1])
        if g_known <= 0:
            lo, g_lo = known[0], g_known
        else:
            hi, g_hi = known[0], g_known
    if g_lo is None:
        g_lo = _overrun(request, ngl, lo)
        if g_lo > 0:
            return 0
    return _last_fitting(lo, g_lo, hi, g_hi, step, lambda n: _overrun(request, ngl, n))


def _last_fitting(lo: int, g_lo: int, hi: int, g_hi: int, step: int, overrun: Callable[[int], int]) -> int:
    """The largest x = lo + k x step below hi with overrun(x) <= 0, for an overrun that only grows with x,
    given overrun(lo) = g_lo <= 0 < g_hi = overrun(hi). It aims where the overrun, interpolated between
    the two ends, reaches zero and checks the size a step past the aim (or, when the aim does not fit, a
    step before it): the boundary is most likely there. When both fit (or both do not), their difference
    is the overrun's local slope and the next aim follows it from there (the far end's interpolation
    misses where the bytes bend, e.g. compute buffers at their caps), at most twice in a row; otherwise,
    after an aim that did not close the range, it halves (a guard when the bytes are not linear)."""
    aimed = True
    slope = 0  # overrun per step next to lo (side > 0) or hi (side < 0), from two sizes a step apart
    side = 0
    followed = 0
    while hi - lo > step:
        if aimed and slope > 0:
            mid = lo + -g_lo // slope * step if side > 0 else hi - (g_hi + slope - 1) // slope * step
            followed += 1
        else:
            num, den = (-g_lo, g_hi - g_lo) if aimed else (1, 2)
            mid = lo + (hi - lo) * num // den // step * step
            followed = 0
        slope = 0
        mid = min(max(mid, lo + step), hi - step)
        g = overrun(mid)
        if g <= 0:
            lo, g_lo = mid, g
            if aimed and hi - lo > step:
                g = overrun(mid + step)
                if g <= 0:
                    lo, g_lo, slope, side = mid + step, g, g - g_lo, 1
                else:
                    hi, g_hi = mid + step, g
        else:
            hi, g_hi = mid, g
            if aimed and hi - lo > step:
                g = overrun(mid - step)
                if g <= 0:
                    lo, g_lo = mid - step, g
                else:
                    hi, g_hi, slope, side = mid - step, g, g_hi - g, -1
        aimed = ((slope > 0 and followed < 2) or not aimed) if hi - lo > step else aimed
    return lo
