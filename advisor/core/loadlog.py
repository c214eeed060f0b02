"""Read what llama.cpp (and the tools built on it) print: load logs, llama-bench results, ``ollama ps``.

A user pastes one of these to check a setup; the bench compares the engine with public logs. The
formats come from llama.cpp's source (the copy vendored in llama-cpp-python 0.3.36 and older layouts
still seen in public logs):

* ``src/llama-model-loader.cpp``: ``llama_model_loader: - kv N: key type = value`` (the GGUF metadata,
  arrays as ``arr[str,32000]``), ``- type q4_K: 193 tensors``, ``loaded meta data with K key-value pairs
  and T tensors``;
* ``src/llama-model.cpp``: ``print_info: file type = Q4_K - Medium`` (``llm_load_print_meta: model ftype``
  in 2024), ``file size``, ``n_layer`` ...; ``load_tensors: offloaded 33/33 layers to GPU`` and
  ``load_tensors: <buffer> model buffer size = X MiB`` (``llm_load_tensors: <buffer> buffer size`` before);
* ``src/llama-context.cpp``: ``llama_context: n_ctx = ...`` (``llama_new_context_with_model`` /
  ``llama_init_from_model`` before), ``<buffer> output buffer size``, ``<buffer> compute buffer size``
  (printed by ``sched_reserve``/``graph_reserve`` in 2026), the FA auto resolution;
* ``src/llama-kv-cache.cpp`` / ``llama-memory-recurrent.cpp``: ``<buffer> KV buffer size``, ``RS buffer
  size``, ``size = X MiB (C cells, L layers, s/S seqs), K (f16): ..., V (f16): ...``;
* ``common/fit.cpp``: the ``llama_memory_breakdown_print`` table (total = free + (self = model + context
  + compute) + unaccounted, MiB);
* device lines: ``ggml_cuda_init`` (``Device 0: NAME, compute capability ..``; HIP builds say ROCm),
  ``ggml_vulkan: 0 = NAME (driver) | uma: 0 | ...``, ``ggml_metal_*: GPU name: ...`` and
  ``recommendedMaxWorkingSetSize = X MB``, ``using device CUDA0 (NAME) - N MiB free``;
* speeds: ``llama_perf_context_print`` (``llama_print_timings`` before) eval lines, ``llama-bench -o md``
  tables and ``-o json``; ``ollama ps`` rows.

Hostile input is bounded: at most ``MAX_CHARS`` characters and ``MAX_LINES`` lines are read, each line is
cut at ``MAX_LINE_CHARS``, parsing stops at a time budget, and lines are read with ``str`` methods (no
backtracking patterns). Anything cut is said in ``notes``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from advisor.core.units import GIB, MIB

MAX_CHARS = 4 * 1024 * 1024
MAX_LINES = 60_000
MAX_LINE_CHARS = 4096
TIME_BUDGET_S = 2.0

# Where a llama.cpp line starts: timestamps ("0.00.030.197 I "), ollama's "time=... msg=" and LM Studio
# prefixes come before one of these function names.
_FUNCS = (
    "llama_model_loader:",
    "print_info:",
    "llm_load_print_meta:",
    "load_tensors:",
    "llm_load_tensors:",
    "llama_context:",
    "llama_new_context_with_model:",
    "llama_init_from_model:",
    "llama_kv_cache",
    "llama_memory_recurrent:",
    "sched_reserve:",
    "graph_reserve:",
    "init:",
    "llama_memory_breakdown_print:",
    "ggml_cuda_init:",
    "ggml_vulkan:",
    "ggml_metal_",
    "llama_model_load_from_file",
    "llama_prepare_model_devices",
    "llama_perf_context_print:",
    "llama_print_timings:",
    "load_backend:",
    "llama_params_fit",
    "common_fit",
    # default-verbosity console lines of current llama-completion / llama-server (no buffer lines there)
    "common_perf_print:",
    "print_timing:",
    "load_model:",
    "generate:",
    "common_params_print_info:",
)

# buffer-name prefixes -> backend (ggml-cuda names its devices ROCm<N> in HIP builds and MUSA<N> on MUSA)
_BACKENDS = (
    ("CUDA", "cuda"),
    ("ROCm", "rocm"),
    ("HIP", "rocm"),
    ("Vulkan", "vulkan"),
    ("Metal", "metal"),
    ("MTL", "metal"),
    ("SYCL", "sycl"),
    ("MUSA", "musa"),
    ("CANN", "cann"),
    ("OpenCL", "opencl"),
    ("RPC", "rpc"),
    ("CPU", "cpu"),
)

# llama_ftype_name (src/llama-model-loader.cpp) -> the preset names llama-quantize takes
_FTYPE_NAMES = {
    "all f32": "F32",
    "f16": "F16",
    "bf16": "BF16",
    "q4_0": "Q4_0",
    "q4_1": "Q4_1",
    "q5_0": "Q5_0",
    "q5_1": "Q5_1",
    "q8_0": "Q8_0",
    "mxfp4 moe": "MXFP4_MOE",
    "q2_k - medium": "Q2_K",
    "q2_k - small": "Q2_K_S",
    "q3_k - small": "Q3_K_S",
    "q3_k - medium": "Q3_K_M",
    "q3_k - large": "Q3_K_L",
    "q4_k - small": "Q4_K_S",
    "q4_k - medium": "Q4_K_M",
    "q5_k - small": "Q5_K_S",
    "q5_k - medium": "Q5_K_M",
    "q6_k": "Q6_K",
    "iq2_xxs - 2.0625 bpw": "IQ2_XXS",
    "iq2_xs - 2.3125 bpw": "IQ2_XS",
    "iq2_s - 2.5 bpw": "IQ2_S",
    "iq2_m - 2.7 bpw": "IQ2_M",
    "iq3_xs - 3.3 bpw": "IQ3_XS",
    "iq3_xxs - 3.0625 bpw": "IQ3_XXS",
    "iq1_s - 1.5625 bpw": "IQ1_S",
    "iq1_m - 1.75 bpw": "IQ1_M",
    "iq4_nl - 4.5 bpw": "IQ4_NL",
    "iq4_xs - 4.25 bpw": "IQ4_XS",
    "iq3_s - 3.4375 bpw": "IQ3_S",
    "iq3_s mix - 3.66 bpw": "IQ3_M",
    "tq1_0 - 1.69 bpw ternary": "TQ1_0",
    "tq2_0 - 2.06 bpw ternary": "TQ2_0",
}


class LogParseError(ValueError):
    """The text holds nothing this module can read."""


def backend_of(buffer_name: str) -> str:
    """Backend of a ggml buffer or device name: ``CUDA0`` -> cuda, ``ROCm_Host`` -> rocm, ``Metal_Mapped``
    -> metal, ``CPU_Mapped`` -> cpu; '' when unknown.

    >>> [backend_of(n) for n in ("CUDA0", "ROCm_Host", "Vulkan_Host", "MTL0_Mapped", "CPU_REPACK", "X")]
    ['cuda', 'rocm', 'vulkan', 'metal', 'cpu', '']
    """
    for prefix, kind in _BACKENDS:
        if buffer_name.startswith(prefix):
            return kind
    return ""


def is_host_buffer(buffer_name: str) -> bool:
    """A buffer in system RAM: CPU buffers and the pinned ``<GPU>_Host`` ones (``Metal_Mapped`` is the
    GPU's own view of the mapped file, counted as the GPU's; on Apple both are the same RAM)."""
    return backend_of(buffer_name) == "cpu" or buffer_name.endswith("_Host")


@dataclass(frozen=True)
class Buffer:
    """One ``... buffer size = X MiB`` line: ``kind`` is model, kv, rs, compute, output, or repack (the CPU
    backend's ``CPU_REPACK`` copy of weights that the mapped file also holds)."""

    name: str
    kind: str
    mib: float

    @property
    def bytes(self) -> int:
        return round(self.mib * MIB)

    @property
    def backend(self) -> str:
        return backend_of(self.name)

    @property
    def host(self) -> bool:
        return is_host_buffer(self.name)

    @property
    def device(self) -> str:
        """The device the buffer sits on: the GPU's buffer name without ``_Mapped`` (``Metal``, ``CUDA0``),
        or ``host``."""
        if self.host:
            return "host"
        return self.name.removesuffix("_Mapped")


@dataclass(frozen=True)
class DeviceLine:
    """A device llama.cpp listed: its name as the log gives it, total/free MiB where printed."""

    backend: str
    index: int
    description: str
    total_mib: float | None = None
    free_mib: float | None = None
    unified: bool | None = None


@dataclass(frozen=True)
class BreakdownRow:
    """One row of ``llama_memory_breakdown_print`` (MiB): a device, the Host, or a host buffer type."""

    name: str
    total: int | None
    free: int | None
    self_mib: int
    model: int
    context: int
    compute: int
    unaccounted: int | None


@dataclass(frozen=True)
class Speed:
    """A measured rate: ``test`` is pp/tg (llama-bench ``pp512``, ``tg128``) or prompt/eval (perf lines)."""

    test: str
    tokens: int
    tps: float
    depth: int = 0


@dataclass(frozen=True)
class LoadLog:
    """One model load as llama.cpp logged it. Missing values are None (older llama.cpp printed less)."""

    model_name: str = ""
    arch: str = ""
    file_type: str = ""  # the preset name (Q4_K_M) when recognised, else as printed
    file_size_mib: float | None = None
    n_params: float | None = None
    gguf: tuple[tuple[str, str | int | float | bool | tuple[int | float, ...]], ...] = ()
    array_lengths: tuple[tuple[str, int], ...] = ()
    n_tensors: int | None = None
    type_counts: tuple[tuple[str, int], ...] = ()
    meta: tuple[tuple[str, str], ...] = ()  # print_info key = value (n_layer, n_embd, n_head ...)
    n_ctx: int | None = None
    n_ctx_seq: int | None = None
    n_seq: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: bool | None = None
    kv_unified: bool | None = None
    type_k: str | None = None
    type_v: str | None = None
    kv_cells: tuple[int, ...] = ()  # one per KV cache (non-SWA first, then SWA)
    swa_cells: int | None = None
    n_gpu_layers: int | None = None  # llama.cpp counting: the output layer counts as one
    n_layers_total: int | None = None  # n_layer + 1
    buffers: tuple[Buffer, ...] = ()
    devices: tuple[DeviceLine, ...] = ()
    breakdown: tuple[BreakdownRow, ...] = ()
    speeds: tuple[Speed, ...] = ()
    working_set_mib: float | None = None  # Metal recommendedMaxWorkingSetSize
    no_op_offload: bool | None = None
    command: str = ""
    model_path: str = ""  # llama-server's 'load_model: loading model ...'
    verbosity: int | None = None  # 'common_params_print_info: verbosity = 3': buffer lines need 4

    @property
    def backend(self) -> str:
        """The GPU backend the load used ('cpu' when every buffer is a CPU one)."""
        for b in self.buffers:
            if not b.host and b.backend:
                return b.backend
        for d in self.devices:
            if d.backend:
                return d.backend
        return "cpu"

    def meta_int(self, key: str) -> int | None:
        for k, v in self.meta:
            if k == key:
                return _to_int(v.split(",")[0].strip("[] "))
        return None

    def buffer_mib(self, device: str | None = None, kind: str | None = None) -> float:
        """Sum of the buffers on ``device`` (``host``, ``CUDA0``, ``Metal``...) of ``kind``."""
        return sum(
            b.mib for b in self.buffers if (device is None or b.device == device) and (kind is None or b.kind == kind)
        )

    def gpu_devices(self) -> tuple[str, ...]:
        """GPU devices with a buffer, in first-seen order."""
        out: list[str] = []
        for b in self.buffers:
            if b.device != "host" and b.device not in out:
                out.append(b.device)
        return tuple(out)

    @property
    def gpu_mib(self) -> float:
        return sum(b.mib for b in self.buffers if b.device != "host")


@dataclass(frozen=True)
class BenchRow:
    """A llama-bench result row (``-o md`` or ``-o json``)."""

    model: str
    size_gib: float | None
    params_b: float | None
    backend: str
    n_gpu_layers: int | None
    test: str
    tps: float
    stddev: float | None = None
    flash_attn: bool | None = None
    type_k: str | None = None
    type_v: str | None = None
    n_ubatch: int | None = None
    depth: int = 0
    gpu_info: str = ""  # -o json only
    model_filename: str = ""  # -o json only


@dataclass(frozen=True)
class OllamaRow:
    """One ``ollama ps`` row: SIZE in bytes as Ollama writes it (decimal units), its CPU/GPU split."""

    name: str
    size_bytes: int
    gpu_percent: int
    context: int | None = None


@dataclass(frozen=True)
class Paste:
    """Everything read from one paste."""

    kind: str  # "llama.cpp", "llama-bench", "ollama-ps" or "empty"
    loads: tuple[LoadLog, ...] = ()
    bench: tuple[BenchRow, ...] = ()
    ollama: tuple[OllamaRow, ...] = ()
    header: tuple[str, ...] = ()  # leading '#' lines (fixture provenance)
    notes: tuple[str, ...] = field(default=())

    @property
    def load(self) -> LoadLog | None:
        """The last load with buffers (a paste often holds a failed attempt first), else the last one."""
        with_buffers = [ld for ld in self.loads if ld.buffers]
        if with_buffers:
            return with_buffers[-1]
        return self.loads[-1] if self.loads else None


# --------------------------------------------------------------------------------------------------
# small readers (no regular expressions)
# --------------------------------------------------------------------------------------------------


def _to_int(s: str) -> int | None:
    s = s.strip()
    if s.startswith("-"):
        return -v if (v := _to_int(s[1:])) is not None else None
    return int(s) if s.isdigit() and len(s) < 19 else None


def _to_float(s: str) -> float | None:
    s = s.strip().rstrip(",")
    if not s or len(s) > 32:
        return None
    try:
        v = float(s)
    except ValueError:
        return None
    return v if v == v and abs(v) < 1e18 else None  # no NaN or inf


def _strip_ansi(line: str) -> str:
    if "\x1b" not in line:
        return line
    out = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "\x1b" and i + 1 < n and line[i + 1] == "[":
            j = i + 2
            while j < n and not line[j].isalpha():
                j += 1
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _from_func(line: str) -> str:
    """The line from its llama.cpp function name on (drops timestamps and log-level prefixes)."""
    best = -1
    for f in _FUNCS:
        i = line.find(f)
        if i >= 0 and (best < 0 or i < best):
            best = i
    return line[best:] if best >= 0 else line.strip()


def _kv_value(rest: str) -> tuple[str, str]:
    """'key = value' -> (key, value)."""
    k, _, v = rest.partition("=")
    return k.strip(), v.strip()


def _size_mib(text: str) -> float | None:
    """'  123.45 MiB' / '3.80 GiB' / '11453.25 MB' -> MiB."""
    parts = text.split()
    if not parts:
        return None
    v = _to_float(parts[0])
    if v is None:
        return None
    unit = parts[1].lower() if len(parts) > 1 else "mib"
    if unit.startswith("gib") or unit.startswith("gb"):
        return v * 1024
    if unit.startswith("kib") or unit.startswith("kb"):
        return v / 1024
    return v


def ftype_preset(printed: str) -> str:
    """``Q4_K - Medium`` -> ``Q4_K_M``; an unknown name comes back as printed.

    >>> ftype_preset("Q4_K - Medium"), ftype_preset("F16"), ftype_preset("MXFP4 MoE")
    ('Q4_K_M', 'F16', 'MXFP4_MOE')
    """
    s = printed.strip()
    if s.endswith("(guessed)"):
        s = s.removesuffix("(guessed)").strip()
    return _FTYPE_NAMES.get(s.lower(), s)


# --------------------------------------------------------------------------------------------------
# llama.cpp load logs
# --------------------------------------------------------------------------------------------------


class _Load:
    """Mutable accumulator for one load; frozen into a LoadLog."""

    def __init__(self) -> None:
        self.v: dict[str, object] = {}
        self.gguf: dict[str, str | int | float | bool | tuple[int | float, ...]] = {}
        self.arrays: dict[str, int] = {}
        self.types: dict[str, int] = {}
        self.meta: dict[str, str] = {}
        self.buffers: list[Buffer] = []
        self.devices: list[DeviceLine] = []
        self.breakdown: list[BreakdownRow] = []
        self.speeds: list[Speed] = []
        self.cells: list[int] = []

    @property
    def started(self) -> bool:
        return bool(self.gguf or self.meta or self.buffers or self.v)

    def freeze(self) -> LoadLog:
        v = self.v
        ft = str(v.get("file_type", ""))
        return LoadLog(
            model_name=str(self.gguf.get("general.name", self.meta.get("general.name", ""))),
            arch=str(self.gguf.get("general.architecture", self.meta.get("arch", ""))),
            file_type=ftype_preset(ft) if ft else "",
            file_size_mib=v.get("file_size_mib"),  # type: ignore[arg-type]
            n_params=v.get("n_params"),  # type: ignore[arg-type]
            gguf=tuple(self.gguf.items()),
            array_lengths=tuple(self.arrays.items()),
            n_tensors=v.get("n_tensors"),  # type: ignore[arg-type]
            type_counts=tuple(self.types.items()),
            meta=tuple(self.meta.items()),
            n_ctx=v.get("n_ctx"),  # type: ignore[arg-type]
            n_ctx_seq=v.get("n_ctx_seq"),  # type: ignore[arg-type]
            n_seq=v.get("n_seq"),  # type: ignore[arg-type]
            n_batch=v.get("n_batch"),  # type: ignore[arg-type]
            n_ubatch=v.get("n_ubatch"),  # type: ignore[arg-type]
            flash_attn=v.get("flash_attn"),  # type: ignore[arg-type]
            kv_unified=v.get("kv_unified"),  # type: ignore[arg-type]
            type_k=v.get("type_k"),  # type: ignore[arg-type]
            type_v=v.get("type_v"),  # type: ignore[arg-type]
            kv_cells=tuple(self.cells),
            swa_cells=v.get("swa_cells"),  # type: ignore[arg-type]
            n_gpu_layers=v.get("n_gpu_layers"),  # type: ignore[arg-type]
            n_layers_total=v.get("n_layers_total"),  # type: ignore[arg-type]
            buffers=tuple(self.buffers),
            devices=tuple(self.devices),
            breakdown=tuple(self.breakdown),
            speeds=tuple(self.speeds),
            working_set_mib=v.get("working_set_mib"),  # type: ignore[arg-type]
            no_op_offload=v.get("no_op_offload"),  # type: ignore[arg-type]
            command=str(v.get("command", "")),
            model_path=str(v.get("model_path", "")),
            verbosity=v.get("verbosity"),  # type: ignore[arg-type]
        )


def _gguf_kv(ld: _Load, rest: str) -> None:
    """'- kv  13:  tokenizer.ggml.tokens arr[str,32000]   = [...' and '- kv 4: llama.block_count u32 = 32'."""
    _, _, body = rest.partition(":")
    left, _, value = body.partition("=")
    parts = left.split()
    if len(parts) < 2:
        return
    key, typ = parts[0], parts[1]
    value = value.strip()
    if typ.startswith("arr["):
        inner = typ[4:].rstrip("]")
        elt, _, count = inner.partition(",")
        n = _to_int(count)
        if n is not None:
            ld.arrays[key] = n
        # short numeric arrays (per-layer head counts, SWA patterns) are printed whole
        if value.startswith("[") and value.endswith("]") and "..." not in value and elt in ("i32", "u32", "bool"):
            items = [x.strip() for x in value[1:-1].split(",") if x.strip()]
            nums = [1 if x == "true" else 0 if x == "false" else _to_int(x) for x in items]
            if all(x is not None for x in nums):
                ld.gguf[key] = tuple(int(x) for x in nums if x is not None)
        return
    if typ == "str":
        ld.gguf[key] = value
    elif typ == "bool":
        ld.gguf[key] = value == "true"
    elif typ in ("f32", "f64"):
        f = _to_float(value)
        if f is not None:
            ld.gguf[key] = f
    else:
        i = _to_int(value)
        if i is not None:
            ld.gguf[key] = i


def _buffer(ld: _Load, func: str, rest: str) -> None:
    """'<NAME> <kind> buffer size = X MiB' (kind: model/KV/RS/compute/output; none in 2024's load_tensors)."""
    head, _, tail = rest.partition(" buffer size")
    words = head.split()
    if not words:
        return
    tail = tail.lstrip()
    if not tail.startswith("="):
        return  # "compute buffer size is/of X MiB": the destructor's check of a buffer already listed
    tail = tail[1:]
    mib = _size_mib(tail)
    if mib is None:
        return
    name = words[0]
    word = words[1].lower() if len(words) > 1 else ""
    if word in ("model", "kv", "rs", "compute", "output"):
        kind = word
    elif not word and func in ("load_tensors", "llm_load_tensors"):
        kind = "model"
    elif word == "input":
        kind = "compute"  # 2024: the graph inputs had their own host buffer
    else:
        return  # LoRA, DSV4 state and other buffers the engine does not model
    if not backend_of(name):
        return
    if name.endswith("_REPACK"):
        kind = "repack"  # ggml-cpu/repack.cpp: a re-laid-out copy of tensors the mapped file also holds
    ld.buffers.append(Buffer(name, kind, mib))


def _breakdown(ld: _Load, rest: str) -> None:
    """'| - CUDA0 (RTX 4090) | 24080 = 1234 + (20000 = 15000 + 4000 + 1000) + 2846 |'."""
    cells = [c.strip() for c in rest.split("|")]
    cells = [c for c in cells if c]
    if len(cells) < 2 or not cells[0].startswith("- "):
        return
    name = cells[0][2:].strip()
    words = cells[1]
    for sep in "=+()":
        words = words.replace(sep, " ")
    nums = [_to_int(t) for t in words.split()]
    vals = [n for n in nums if n is not None]
    if len(vals) == 7:
        total, free, self_mib, model, context, compute, unacc = vals
        ld.breakdown.append(BreakdownRow(name, total, free, self_mib, model, context, compute, unacc))
    elif len(vals) == 4:
        self_mib, model, context, compute = vals
        ld.breakdown.append(BreakdownRow(name, None, None, self_mib, model, context, compute, None))


def _device_cuda(ld: _Load, line: str) -> None:
    """'  Device 0: NVIDIA GeForce RTX 3090, compute capability 8.6, VMM: yes[, VRAM: 24135 MiB]' (HIP: the
    same with the gfx arch)."""
    s = line.strip()
    head, _, rest = s.partition(":")
    idx = _to_int(head.removeprefix("Device"))
    if idx is None:
        return
    parts = [p.strip() for p in rest.split(",")]
    total = None
    for p in parts:
        if p.startswith("VRAM:"):
            total = _size_mib(p.removeprefix("VRAM:"))
    backend = str(ld.v.get("gpu_backend", "cuda"))
    ld.devices.append(DeviceLine(backend, idx, parts[0] if parts else "", total))


def _device_vulkan(ld: _Load, rest: str) -> None:
    """'0 = AMD Radeon RX 7900 XTX (RADV NAVI31) (radv) | uma: 0 | fp16: 1 | ...'."""
    head, _, tail = rest.partition("|")
    idx_s, eq, name = head.partition("=")
    idx = _to_int(idx_s)
    if idx is None or not eq:
        return
    uma = None
    for cell in tail.split("|"):
        k, _, v = cell.partition(":")
        if k.strip() == "uma":
            uma = v.strip() == "1"
    ld.devices.append(DeviceLine("vulkan", idx, name.strip(), unified=uma))


def _using_device(ld: _Load, rest: str) -> None:
    """'using device CUDA0 (NVIDIA GeForce RTX 4090) (0000:01:00.0) - 23008 MiB free'."""
    _, _, body = rest.partition("using device")
    name = body.split()[0] if body.split() else ""
    desc = body[body.find("(") + 1 : body.find(")")] if "(" in body and ")" in body else ""
    _, dash, free = body.rpartition(" - ")
    backend = backend_of(name)
    digits = "".join(c for c in name if c.isdigit())
    ld.devices.append(
        DeviceLine(backend, int(digits) if digits else 0, desc, free_mib=_size_mib(free) if dash else None)
    )


def _context_value(ld: _Load, key: str, value: str) -> None:
    ints = {
        "n_ctx": "n_ctx",
        "n_ctx_seq": "n_ctx_seq",
        "n_ctx_per_seq": "n_ctx_seq",
        "n_batch": "n_batch",
        "n_ubatch": "n_ubatch",
        "n_seq_max": "n_seq",
    }
    if key in ints:
        i = _to_int(value)
        if i is not None:
            ld.v[ints[key]] = i
    elif key == "flash_attn":
        v = value.lower()
        if v in ("1", "enabled", "on", "true"):
            ld.v["flash_attn"] = True
        elif v in ("0", "disabled", "off", "false"):
            ld.v["flash_attn"] = False
        # "auto" is resolved by a later line
    elif key == "kv_unified":
        ld.v["kv_unified"] = value.lower() == "true"


def _kv_size_line(ld: _Load, rest: str) -> None:
    """'size = 6.00 MiB ( 2048 cells, 3 layers, 1/1 seqs), K (f16): 3.00 MiB, V (f16): 3.00 MiB' and the
    2024 'KV self size = 256.00 MiB, K (f16): 128.00 MiB, V (f16): 128.00 MiB'."""
    if "cells" in rest and "(" in rest:
        inner = rest[rest.find("(") + 1 :]
        cells = _to_int(inner.split()[0]) if inner.split() else None
        if cells is not None:
            ld.cells.append(cells)
    for tag, key in ((" K (", "type_k"), (" V (", "type_v")):
        i = rest.find(tag)
        if i >= 0:
            j = rest.find(")", i)
            if j > i:
                ld.v[key] = rest[i + len(tag) : j].strip().lower()


def _old_kv_init(ld: _Load, rest: str) -> None:
    """2024: 'kv_size = 4224, offload = 1, type_k = 'f16', type_v = 'f16', n_layer = 56'."""
    for part in rest.split(","):
        k, _, v = part.partition("=")
        k, v = k.strip(), v.strip().strip("'")
        if k == "type_k" or k == "type_v":
            ld.v[k] = v.lower()
        elif k == "kv_size" and _to_int(v) is not None:
            ld.cells.append(int(v))


def _perf(ld: _Load, rest: str) -> None:
    """'prompt eval time = 26.58 ms / 8 tokens (3.32 ms per token, 300.97 tokens per second)'."""
    body = rest.split(":", 1)[1] if ":" in rest else rest
    test = "prompt" if "prompt eval time" in body else "eval" if "eval time" in body else ""
    if not test or "tokens per second" not in body:
        return
    after = body.split("/", 1)[1] if "/" in body else ""
    n = _to_int(after.split()[0]) if after.split() else None
    tps_s = body.rsplit("tokens per second", 1)[0].rsplit(",", 1)[-1]
    tps = _to_float(tps_s)
    if n is not None and tps is not None:
        ld.speeds.append(Speed(test, n, tps))


def _print_info(ld: _Load, key: str, value: str) -> None:
    ld.meta.setdefault(key, value)
    if key in ("file type", "model ftype"):
        ld.v["file_type"] = value
    elif key in ("file size", "model size"):
        ld.v["file_size_mib"] = _size_mib(value)
    elif key == "model params":
        parts = value.split()
        num = _to_float(parts[0]) if parts else None
        scale = {"T": 1e12, "B": 1e9, "M": 1e6, "K": 1e3}.get(parts[1] if len(parts) > 1 else "", 1.0)
        if num is not None:
            ld.v["n_params"] = num * scale


def _offloaded(ld: _Load, rest: str) -> None:
    """'offloaded 33/33 layers to GPU'."""
    body = rest.split("offloaded", 1)[1].split()
    if body and "/" in body[0]:
        a, _, b = body[0].partition("/")
        if _to_int(a) is not None and _to_int(b) is not None:
            ld.v["n_gpu_layers"] = int(a)
            ld.v["n_layers_total"] = int(b)


def _line(ld: _Load, raw: str) -> bool:
    """Read one line into ``ld``. Returns False when the line starts a new load."""
    line = _from_func(_strip_ansi(raw))
    func, colon, rest = line.partition(":")
    func = func.strip()
    rest = rest.strip()
    if raw.lstrip().startswith("+ ") and ("llama-" in raw or "/bin/" in raw) and "-m" in raw:
        if ld.buffers:
            return False
        ld.v["command"] = raw.strip()[2:][:1000]
        if "--no-op-offload" in raw or "-nopo 1" in raw:
            ld.v["no_op_offload"] = True
        return True
    if raw.lstrip().startswith("Device ") and ("compute capability" in raw or ", gfx" in raw):
        _device_cuda(ld, raw)
        return True
    if not colon:
        return True
    if func == "llama_model_loader":
        if rest.startswith("loaded meta data"):
            if ld.buffers:
                return False
            words = rest.split()
            if "tensors" in words:
                n = _to_int(words[words.index("tensors") - 1])
                ld.v["n_tensors"] = n
        elif rest.startswith("- kv"):
            _gguf_kv(ld, rest)
        elif rest.startswith("- type"):
            t, _, cnt = rest[len("- type") :].partition(":")
            n = _to_int(cnt.split()[0]) if cnt.split() else None
            if n is not None:
                ld.types[t.strip()] = n
        return True
    if func in ("print_info", "llm_load_print_meta"):
        k, v = _kv_value(rest)
        _print_info(ld, k, v)
        return True
    if " buffer size" in rest:
        _buffer(ld, func, rest)
        return True
    if func in ("load_tensors", "llm_load_tensors") and "offloaded" in rest:
        _offloaded(ld, rest)
    elif func in ("llama_context", "llama_new_context_with_model", "llama_init_from_model"):
        if rest.startswith("KV self size"):
            _kv_size_line(ld, rest)
        elif "Flash Attention" in rest or ("flash_attn" in rest and "=" not in rest):
            if "enabled" in rest or "set to 1" in rest:
                ld.v["flash_attn"] = True
            elif "disabled" in rest or "set to 0" in rest or "not supported" in rest:
                ld.v["flash_attn"] = False
        else:
            k, v = _kv_value(rest)
            _context_value(ld, k, v)
    elif func.startswith("llama_kv_cache") or func == "init":
        if rest.startswith("size =") or rest.startswith("size="):
            _kv_size_line(ld, rest)
        elif rest.startswith("kv_size"):
            _old_kv_init(ld, rest)
        elif "SWA KV cache, size =" in rest and "non-SWA" not in rest:
            ld.v["swa_cells"] = _to_int(rest.rsplit("=", 1)[1].split()[0])
    elif func in ("sched_reserve", "graph_reserve"):
        if "Flash Attention" in rest:
            ld.v["flash_attn"] = "enabled" in rest and "not supported" not in rest
    elif func == "llama_memory_breakdown_print":
        _breakdown(ld, rest)
    elif func == "ggml_cuda_init":
        if "ROCm devices" in rest or "HIP devices" in rest:
            ld.v["gpu_backend"] = "rocm"
        elif "CUDA devices" in rest:
            ld.v["gpu_backend"] = "cuda"
    elif func == "ggml_vulkan":
        _device_vulkan(ld, rest)
    elif func.startswith("ggml_metal"):
        k, v = _kv_value(rest)
        if k == "recommendedMaxWorkingSetSize":
            ld.v["working_set_mib"] = _size_mib(v)
        elif k == "GPU name" and v and not any(d.backend == "metal" for d in ld.devices):
            ld.devices.append(DeviceLine("metal", 0, v, unified=True))
    # 2025: llama_model_load_from_file_impl; 2026: llama_prepare_model_devices
    elif func.startswith(("llama_model_load_from_file", "llama_prepare_model_devices")) and "using device" in rest:
        _using_device(ld, rest)
    elif func in ("llama_perf_context_print", "llama_print_timings", "common_perf_print"):
        _perf(ld, line)
    elif func == "print_timing":  # llama-server: 'id  0 | task 0 | prompt eval time = ...'
        _perf(ld, rest.rsplit("|", 1)[-1])
    elif func in ("load_model", "generate", "common_params_print_info"):
        _console(ld, func, rest)
    return True


def _console(ld: _Load, func: str, rest: str) -> None:
    """llama-server's 'loading model '/m.gguf'' and 'initializing, n_slots = 4, n_ctx_slot = 4096,
    kv_unified = 'false'', llama-completion's 'n_ctx = 8192, n_batch = 2048, n_predict = 32', and
    'verbosity = 3'."""
    if rest.startswith("loading model"):
        ld.v["model_path"] = rest.removeprefix("loading model").strip().strip("'\"")[:500]
        return
    values = dict(_kv_value(part) for part in rest.removeprefix("initializing,").split(","))
    slots, ctx_slot = _to_int(values.get("n_slots", "")), _to_int(values.get("n_ctx_slot", ""))
    if slots is not None:
        ld.v["n_seq"] = slots
    if ctx_slot is not None:
        ld.v["n_ctx_seq"] = ctx_slot
        if slots is not None and "n_ctx" not in ld.v:
            unified = values.get("kv_unified", "").strip("'") == "true"
            ld.v["n_ctx"] = ctx_slot if unified else ctx_slot * slots
    if "kv_unified" in values:
        ld.v["kv_unified"] = values["kv_unified"].strip("'") == "true"
    for key in ("n_ctx", "n_batch"):
        if (n := _to_int(values.get(key, ""))) is not None:
            ld.v[key] = n
    if func == "common_params_print_info" and (n := _to_int(values.get("verbosity", "").split(" ")[0])) is not None:
        ld.v["verbosity"] = n


def _llama_log(lines: list[str], deadline: float, notes: list[str]) -> tuple[LoadLog, ...]:
    loads: list[LoadLog] = []
    ld = _Load()
    for i, raw in enumerate(lines):
        if i % 512 == 0 and time.monotonic() > deadline:
            notes.append(f"stopped reading after {i} lines (time limit)")
            break
        if not _line(ld, raw):
            loads.append(ld.freeze())
            ld = _Load()
            _line(ld, raw)
    if ld.started:
        loads.append(ld.freeze())
    return tuple(loads)


# --------------------------------------------------------------------------------------------------
# llama-bench and ollama ps
# --------------------------------------------------------------------------------------------------


def _test_depth(test: str) -> tuple[str, int]:
    """'pp512 @ d4096' -> ('pp512', 4096)."""
    t, _, d = test.partition("@")
    depth = _to_int(d.strip().removeprefix("d")) if d else 0
    return t.strip(), depth or 0


def _bench_md(lines: list[str]) -> tuple[BenchRow, ...]:
    header: list[str] = []
    rows: list[BenchRow] = []
    for raw in lines:
        s = raw.strip()
        if not s.startswith("|"):
            continue
        cells = [c.strip() for c in s.strip("|").split("|")]
        if "model" in cells and "test" in cells:
            header = [c.lower() for c in cells]
            continue
        if not header or len(cells) != len(header) or set(cells[0]) <= {"-", ":"}:
            continue
        row = dict(zip(header, cells, strict=True))
        tps = _to_float(row.get("t/s", "").split("±")[0])
        if tps is None:
            continue
        sd = row.get("t/s", "").split("±")
        test, depth = _test_depth(row.get("test", ""))
        fa = row.get("fa")
        size = _size_mib(row.get("size", ""))
        rows.append(
            BenchRow(
                model=row.get("model", ""),
                size_gib=size / 1024 if size else None,
                params_b=_to_float(row.get("params", "").split()[0]) if row.get("params", "").split() else None,
                backend=row.get("backend", ""),
                n_gpu_layers=_to_int(row.get("ngl", "")),
                test=test,
                tps=tps,
                stddev=_to_float(sd[1]) if len(sd) > 1 else None,
                flash_attn=None if fa is None else fa == "1",
                type_k=row.get("type_k"),
                type_v=row.get("type_v"),
                n_ubatch=_to_int(row.get("n_ubatch", "")),
                depth=depth,
            )
        )
    return tuple(rows)


def _bench_json(text: str) -> tuple[BenchRow, ...]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return ()
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return ()
    rows = []
    for r in data[:10_000]:
        if not isinstance(r, dict) or "avg_ts" not in r:
            continue
        n_prompt, n_gen = int(r.get("n_prompt") or 0), int(r.get("n_gen") or 0)
        test = (
            f"pp{n_prompt}"
            if n_prompt and not n_gen
            else f"tg{n_gen}"
            if n_gen and not n_prompt
            else (f"pp{n_prompt}+tg{n_gen}")
        )
        fa = r.get("flash_attn")
        try:
            rows.append(
                BenchRow(
                    model=str(r.get("model_type", ""))[:200],
                    size_gib=float(r["model_size"]) / GIB if r.get("model_size") else None,
                    params_b=float(r["model_n_params"]) / 1e9 if r.get("model_n_params") else None,
                    backend=str(r.get("backends", ""))[:100],
                    n_gpu_layers=int(r["n_gpu_layers"]) if r.get("n_gpu_layers") is not None else None,
                    test=test,
                    tps=float(r["avg_ts"]),
                    stddev=float(r["stddev_ts"]) if r.get("stddev_ts") is not None else None,
                    flash_attn=None if fa is None else bool(fa),
                    type_k=str(r["type_k"]) if r.get("type_k") else None,
                    type_v=str(r["type_v"]) if r.get("type_v") else None,
                    n_ubatch=int(r["n_ubatch"]) if r.get("n_ubatch") else None,
                    depth=int(r.get("n_depth") or 0),
                    gpu_info=str(r.get("gpu_info", ""))[:200],
                    model_filename=str(r.get("model_filename", ""))[:500],
                )
            )
        except (TypeError, ValueError):
            continue
    return tuple(rows)


_OLLAMA_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}


def _ollama_ps(lines: list[str]) -> tuple[OllamaRow, ...]:
    """NAME  ID  SIZE  PROCESSOR  [CONTEXT]  UNTIL, columns by the header's positions."""
    out: list[OllamaRow] = []
    cols: list[tuple[str, int]] = []
    for raw in lines:
        if raw.startswith("NAME") and "PROCESSOR" in raw:
            cols = [(w, raw.find(w)) for w in raw.split()]
            continue
        if not cols or not raw.strip():
            continue
        cells: dict[str, str] = {}
        for i, (name, start) in enumerate(cols):
            end = cols[i + 1][1] if i + 1 < len(cols) else len(raw)
            cells[name] = raw[start:end].strip()
        size = cells.get("SIZE", "").split()
        num = _to_float(size[0]) if size else None
        unit = _OLLAMA_UNITS.get(size[1].upper() if len(size) > 1 else "", 0)
        if num is None or not unit:
            continue
        proc = cells.get("PROCESSOR", "")
        if "/" in proc:  # "48%/52% CPU/GPU"
            pct = proc.split()[0].split("/")
            gpu = _to_int(pct[1].rstrip("%")) if len(pct) > 1 else None
        else:
            p = _to_int(proc.split()[0].rstrip("%")) if proc.split() else None
            gpu = p if "GPU" in proc else (100 - p if p is not None else None)
        out.append(OllamaRow(cells.get("NAME", ""), int(num * unit), gpu or 0, _to_int(cells.get("CONTEXT", ""))))
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------


def parse_paste(text: str) -> Paste:
    """Read a paste of any supported kind. Never raises on bad input: what could not be read is in
    ``notes`` and ``kind == "empty"`` when nothing was recognised.

    >>> p = parse_paste("load_tensors:        CUDA0 model buffer size =  3820.94 MiB\\n")
    >>> p.kind, p.load.buffers[0].bytes, p.load.backend
    ('llama.cpp', 4006545981, 'cuda')
    """
    notes: list[str] = []
    if not isinstance(text, str):
        return Paste("empty", notes=("not text",))
    if len(text) > MAX_CHARS:
        notes.append(f"read the first {MAX_CHARS // MIB} MiB of {len(text) / MIB:.1f} MiB")
        text = text[:MAX_CHARS]
    deadline = time.monotonic() + TIME_BUDGET_S
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        notes.append(f"read the first {MAX_LINES} of {len(lines)} lines")
        lines = lines[:MAX_LINES]
    if any(len(ln) > MAX_LINE_CHARS for ln in lines):
        notes.append(f"lines longer than {MAX_LINE_CHARS} characters were cut")
        lines = [ln[:MAX_LINE_CHARS] for ln in lines]
    header = tuple(ln for ln in lines[:50] if ln.startswith("#"))
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        bench = _bench_json(stripped)
        if bench:
            return Paste("llama-bench", bench=bench, header=header, notes=tuple(notes))
    if any(ln.startswith("NAME") and "PROCESSOR" in ln for ln in lines[:200]):
        rows = _ollama_ps(lines)
        if rows:
            return Paste("ollama-ps", ollama=rows, header=header, notes=tuple(notes))
    body = [ln for ln in lines if not ln.startswith("#")]
    loads = _llama_log(body, deadline, notes)
    bench_md = _bench_md(body) if any("| model" in ln for ln in body[:2000]) else ()
    loads = tuple(ld for ld in loads if ld.buffers or ld.gguf or ld.meta or ld.speeds or ld.model_path)
    if bench_md and not any(ld.buffers for ld in loads):
        return Paste("llama-bench", bench=bench_md, header=header, notes=tuple(notes))
    if not loads:
        return Paste("empty", header=header, notes=(*notes, "no llama.cpp load log, llama-bench or ollama ps found"))
    return Paste("llama.cpp", loads=loads, bench=bench_md, header=header, notes=tuple(notes))


def parse_load_log(text: str) -> LoadLog:
    """The load in a llama.cpp log (the last one with buffers). Raises LogParseError when there is none."""
    p = parse_paste(text)
    if p.load is None:
        raise LogParseError("; ".join(p.notes) or "no llama.cpp load log found")
    return p.load
