"""Check my setup: what a pasted llama.cpp log, llama-bench result or ``ollama ps`` says about a run, the
engine's buffers beside the logged ones, and the rules that explain a difference in words.

``loadlog.parse_paste`` reads the paste; this module turns it into the run's settings (from the log,
and from a command line when the paste holds one: ``-c``, ``-ngl``, ``-fa``, ``-ctk``...), its measured
speeds, and ``explain``'s findings. The speed prediction needs a machine and a catalog, so it is made
by the page builder (``advisor/pages/check.py``) and handed to ``explain`` as plain numbers.
"""

from __future__ import annotations

import shlex
import statistics
from dataclasses import dataclass, replace
from pathlib import PurePosixPath, PureWindowsPath

from advisor.core.loadlog import MAX_LINE_CHARS, MAX_LINES, LoadLog, Paste, ftype_preset
from advisor.core.loadlog_fit import BufferDiff, LogModelError, compare, request_from_log
from advisor.core.memory import FitRequest, estimate
from advisor.core.tensors import UnsupportedArchitecture
from advisor.core.units import MIB

# The tools whose command line says how a run was set up.
_TOOLS = ("llama-server", "llama-cli", "llama-completion", "llama-bench", "llama-batched-bench", "main ")
# Flag spellings of common/arg.cpp -> one name.
_FLAGS = {
    "-m": "model", "--model": "model", "-hf": "hf", "--hf-repo": "hf",
    "-c": "ctx", "--ctx-size": "ctx",
    "-ngl": "ngl", "--n-gpu-layers": "ngl", "--gpu-layers": "ngl",
    "-fa": "fa", "--flash-attn": "fa",
    "-ctk": "ctk", "--cache-type-k": "ctk", "-ctv": "ctv", "--cache-type-v": "ctv",
    "-np": "np", "--parallel": "np", "-ub": "ubatch", "--ubatch-size": "ubatch",
    "-ncmoe": "ncmoe", "--n-cpu-moe": "ncmoe",
}  # fmt: skip
_SWITCHES = {"--no-op-offload": "no_op_offload", "--cpu-moe": "cpu_moe", "-cmoe": "cpu_moe", "--kv-unified": "kvu"}
# A tuning hint is worth a line when the buffer it would shrink is at least this big.
HINT_MIN_BYTES = 64 * MIB
# Below this many prompt tokens prefill is far from its batched rate (the plan's is for pp512).
SHORT_PROMPT_TOKENS = 256
# Measured / predicted outside this band gets a sentence (the speed engine's bands are about +-25%).
SPEED_OK = (0.75, 1.33)
MEMORY_OK_REL = 0.05


@dataclass(frozen=True)
class RunSettings:
    """The run as the paste describes it. None: the paste does not say."""

    source: str  # Paste.kind: "llama.cpp", "llama-bench", "ollama-ps"
    model: str = ""  # general.name, else the file's stem, else llama-bench's model column
    model_file: str = ""  # the GGUF's file name (never its directory: paths can hold user names)
    quant: str | None = None
    n_ctx: int | None = None
    n_parallel: int | None = None
    n_gpu_layers: int | None = None  # llama.cpp counting (the output layer counts as one)
    n_layers_total: int | None = None  # n_layer + 1, when the log says
    flash_attn: bool | None = None
    type_k: str | None = None
    type_v: str | None = None
    n_ubatch: int | None = None
    n_cpu_moe: int | None = None
    op_offload: bool = True
    kv_unified: bool | None = None
    gpus: tuple[str, ...] = ()  # device names as the log or llama-bench gives them
    backend: str = ""
    has_buffers: bool = False
    verbosity: int | None = None
    command: str = ""

    @property
    def all_layers_on_gpu(self) -> bool | None:
        if self.n_gpu_layers is None:
            return None
        if self.n_gpu_layers < 0:
            return True
        if self.n_layers_total is None:
            return None
        return self.n_gpu_layers >= self.n_layers_total


@dataclass(frozen=True)
class Measured:
    """Measured rates: ``decode`` (eval, tg) and ``prefill`` (prompt eval, pp), best of the runs, with
    every run kept. ``concurrent`` is how many llama-server slots the log set up."""

    runs: tuple[tuple[str, int, float, int], ...] = ()  # (test, tokens, tok/s, depth)
    concurrent: int = 1

    def best(self, test: str) -> float | None:
        rates = [tps for t, _, tps, _ in self.runs if t == test]
        return max(rates) if rates else None

    def tokens(self, test: str) -> int | None:
        counts = [n for t, n, _, _ in self.runs if t == test]
        return int(statistics.median(counts)) if counts else None

    def depth(self, test: str) -> int:
        depths = [d for t, _, _, d in self.runs if t == test]
        return max(depths) if depths else 0


@dataclass(frozen=True)
class MemoryCheck:
    """The engine's buffers beside the log's (``rows``), or why they cannot be set side by side."""

    rows: tuple[BufferDiff, ...] = ()
    error: str = ""
    fa_on_compute: tuple[tuple[str, int], ...] = ()  # device -> compute bytes with -fa on
    kv_q8: tuple[tuple[str, int], ...] = ()  # device -> KV bytes with -ctk q8_0 -ctv q8_0

    def row(self, device: str, kind: str) -> BufferDiff | None:
        return next((r for r in self.rows if r.device == device and r.kind == kind), None)


@dataclass(frozen=True)
class Finding:
    """One sentence that explains a difference or says what to change. ``key`` names the rule."""

    key: str
    text: str


# --------------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------------


def command_line(paste: Paste, text: str) -> str:
    """The tool's command line in the paste: a ``# command:`` header (the bench fixtures), a ``+ ``
    shell trace, or a line that runs llama-server/cli/completion/bench with ``-m`` or ``-hf``."""
    for line in paste.header:
        if line.startswith("# command:"):
            return line.removeprefix("# command:").strip()[:MAX_LINE_CHARS]
    for i, line in enumerate(text.splitlines()):
        if i > 2000:
            break
        s = line[:MAX_LINE_CHARS].strip().lstrip("$+> ").strip()
        if any(t in s for t in _TOOLS) and (" -m " in s or " --model " in s or " -hf " in s):
            return s
    return ""


def command_flags(command: str) -> dict[str, str]:
    """``-c 8192 -ngl 99 -fa on`` -> {'ctx': '8192', 'ngl': '99', 'fa': 'on'}; switches map to '1'.

    >>> command_flags("llama-server -m /m/x.gguf -c 4096 --n-gpu-layers 20 -fa -ctk q8_0 --no-op-offload")
    {'model': '/m/x.gguf', 'ctx': '4096', 'ngl': '20', 'fa': 'on', 'ctk': 'q8_0', 'no_op_offload': '1'}
    """
    try:
        words = shlex.split(command[:MAX_LINE_CHARS])
    except ValueError:  # an unbalanced quote
        words = command[:MAX_LINE_CHARS].split()
    out: dict[str, str] = {}
    i = 0
    while i < len(words):
        w = words[i]
        flag, eq, inline = w.partition("=")
        if w in _SWITCHES:
            out[_SWITCHES[w]] = "1"
        elif flag in _FLAGS:
            name = _FLAGS[flag]
            nxt = inline if eq else (words[i + 1] if i + 1 < len(words) else "")
            if name == "fa" and (eq == "" and (not nxt or nxt.startswith("-"))):
                out[name] = "on"  # the 2024 bare -fa switch
            else:
                out[name] = nxt
                i += 0 if eq else 1
        i += 1
    return out


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    v = value.strip()
    sign = -1 if v.startswith("-") else 1
    v = v.lstrip("-")
    return sign * int(v) if v.isdigit() and len(v) < 10 else None


def _file_name(path: str) -> str:
    name = PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name
    return name[:200]


def _fa(value: str | None) -> bool | None:
    v = (value or "").lower()
    return True if v in ("on", "1", "true", "enabled") else False if v in ("off", "0", "false", "disabled") else None


def quant_from_name(name: str) -> str | None:
    """The llama-quantize preset in a GGUF file name: ``Llama-3.1-8B-Instruct-Q4_K_M.gguf`` -> Q4_K_M.

    >>> quant_from_name("llama-3.1-8b-instruct-Q4_K_M-L32.gguf"), quant_from_name("gpt-oss-20b-MXFP4.gguf")
    ('Q4_K_M', 'MXFP4_MOE')
    """
    from advisor.core.quantize import PRESETS

    words = name.upper().removesuffix(".GGUF").replace(".", "-").split("-")
    for w in words:
        if w in PRESETS:
            return w
        if w == "MXFP4":
            return "MXFP4_MOE"
    return None


def settings_from_paste(paste: Paste, text: str = "") -> RunSettings:
    """The run's settings: the log first, then the command line for what the log does not print (a
    default-verbosity log prints almost nothing), llama-bench's row, ``ollama ps``' row."""
    flags = command_flags(cmd) if (cmd := command_line(paste, text)) else {}
    ld = paste.load
    if paste.kind == "llama-bench" and paste.bench:
        return _bench_settings(paste, flags, cmd)
    if paste.kind == "ollama-ps" and paste.ollama:
        row = paste.ollama[0]
        return RunSettings("ollama-ps", model=row.name[:200], n_ctx=row.context)
    if ld is None:
        return RunSettings(paste.kind)
    path = ld.model_path or flags.get("model", "")
    model_file = _file_name(path) if path else ""
    quant = ld.file_type or (quant_from_name(model_file) if model_file else None)
    ngl = ld.n_gpu_layers if ld.n_gpu_layers is not None else _int(flags.get("ngl"))
    ncmoe = -1 if flags.get("cpu_moe") else _int(flags.get("ncmoe"))
    return RunSettings(
        source="llama.cpp",
        model=ld.model_name or model_file.removesuffix(".gguf"),
        model_file=model_file,
        quant=quant or None,
        n_ctx=ld.n_ctx or _int(flags.get("ctx")),
        n_parallel=ld.n_seq or _int(flags.get("np")),
        n_gpu_layers=ngl,
        n_layers_total=ld.n_layers_total,
        flash_attn=ld.flash_attn if ld.flash_attn is not None else _fa(flags.get("fa")),
        type_k=ld.type_k or (flags.get("ctk") or None),
        type_v=ld.type_v or (flags.get("ctv") or None),
        n_ubatch=ld.n_ubatch or _int(flags.get("ubatch")),
        n_cpu_moe=ncmoe,
        op_offload=not (ld.no_op_offload or flags.get("no_op_offload")),
        kv_unified=ld.kv_unified if ld.kv_unified is not None else (True if flags.get("kvu") else None),
        gpus=tuple(dict.fromkeys(d.description for d in ld.devices if d.description)),
        backend=ld.backend,
        has_buffers=bool(ld.buffers),
        verbosity=ld.verbosity,
        command=cmd,
    )


def _bench_settings(paste: Paste, flags: dict[str, str], cmd: str) -> RunSettings:
    from advisor.core.quantize import PRESETS

    row = paste.bench[0]
    # "llama 8B Q4_K - Medium": the architecture, the size label, then llama_ftype_name
    words = row.model.split(" ", 2)
    model_file = _file_name(row.model_filename) if row.model_filename else ""
    quant = ftype_preset(words[2]) if len(words) == 3 else None
    if quant not in PRESETS:
        quant = quant_from_name(model_file)
    return RunSettings(
        source="llama-bench",
        model=model_file.removesuffix(".gguf") or row.model[:200],
        model_file=model_file,
        quant=quant,
        n_gpu_layers=row.n_gpu_layers if row.n_gpu_layers is not None else _int(flags.get("ngl")),
        flash_attn=row.flash_attn,
        type_k=row.type_k,
        type_v=row.type_v,
        n_ubatch=row.n_ubatch,
        gpus=(row.gpu_info,) if row.gpu_info else (),
        backend=row.backend.lower(),
        command=cmd,
    )


def measured_speeds(paste: Paste) -> Measured:
    """Every rate in the paste: perf/print_timing lines of the load, or llama-bench's rows."""
    if paste.kind == "llama-bench":
        runs = []
        for r in paste.bench:
            test = "decode" if r.test.startswith("tg") else "prefill" if r.test.startswith("pp") else ""
            digits = "".join(c for c in r.test[2:] if c.isdigit())
            if test and digits:
                runs.append((test, int(digits[:9]), r.tps, r.depth))
        return Measured(tuple(runs))
    ld = paste.load
    if ld is None:
        return Measured()
    runs = [("decode" if s.test == "eval" else "prefill", s.tokens, s.tps, s.depth) for s in ld.speeds]
    return Measured(tuple(runs), concurrent=ld.n_seq or 1)


@dataclass(frozen=True)
class LMStudioEstimate:
    """LM Studio's own estimate before it starts llama.cpp ('[LM Studio] Model load size estimate with raw
    num offload layers 'max' and context length '8192':' and its Model/Context/Total lines, as printed), and
    its resolved offload (lmstudio-ai/lmstudio-bug-tracker#2190 shows the format)."""

    n_ctx: int | None
    offload: str  # "max" or a layer count, as printed
    model: str = ""
    context: str = ""
    total: str = ""
    cpu_expert_layers: int | None = None


def lmstudio_estimate(text: str) -> LMStudioEstimate | None:
    """The last LM Studio load estimate in the paste, or None."""
    found: LMStudioEstimate | None = None
    lines = text.splitlines()[:MAX_LINES]
    for i, raw in enumerate(lines):
        line = raw[:MAX_LINE_CHARS]
        if "[LM Studio] Model load size estimate" in line:
            quoted = line.split("'")  # ... layers 'max' and context length '8192':
            sizes = dict(_kv_colon(ln) for ln in lines[i + 1 : i + 4])
            found = LMStudioEstimate(
                _int(quoted[3]) if len(quoted) > 3 else None, quoted[1][:16] if len(quoted) > 1 else "",
                sizes.get("Model", ""), sizes.get("Context", ""), sizes.get("Total", ""),
            )  # fmt: skip
        elif found is not None and line.strip().startswith("Num CPU Expert Layers:"):
            found = replace(found, cpu_expert_layers=_int(line.split(":", 1)[1]))
    return found


def _kv_colon(line: str) -> tuple[str, str]:
    k, _, v = line[:MAX_LINE_CHARS].partition(":")
    return k.strip(), v.strip()[:32]


def settings_from_lmstudio(est: LMStudioEstimate) -> RunSettings:
    offload = -1 if est.offload == "max" else _int(est.offload)
    return RunSettings("lm-studio", n_ctx=est.n_ctx, n_gpu_layers=offload, n_cpu_moe=est.cpu_expert_layers or None)


# --------------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------------


def memory_check(ld: LoadLog | None) -> MemoryCheck:
    """The engine's buffers for the log's own settings beside the logged ones, and what -fa on and a
    q8_0 KV cache would make of them (``estimate`` again with that one setting changed)."""
    if ld is None or not ld.buffers:
        return MemoryCheck(error="the paste has no buffer lines")
    try:
        req = request_from_log(ld)
        res = estimate(req)
    except (LogModelError, UnsupportedArchitecture, KeyError, ValueError, NotImplementedError) as exc:
        return MemoryCheck(error=str(exc)[:300])
    rows = compare(ld, res)
    fa_on: tuple[tuple[str, int], ...] = ()
    kv_q8: tuple[tuple[str, int], ...] = ()
    if not req.flash_attn:
        fa_on = _per_device(ld, replace(req, flash_attn=True), "compute")
    if req.type_k in ("f16", "bf16", "f32"):
        kv_q8 = _per_device(ld, replace(req, type_k="q8_0", type_v="q8_0", flash_attn=True), "kv")
    return MemoryCheck(rows, fa_on_compute=fa_on, kv_q8=kv_q8)


def _per_device(ld: LoadLog, req: FitRequest, kind: str) -> tuple[tuple[str, int], ...]:
    try:
        rows = compare(ld, estimate(req))
    except (ValueError, KeyError, NotImplementedError):
        return ()
    return tuple((r.device, r.predicted) for r in rows if r.kind == kind)


# --------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------


def _mib(n: int | float) -> str:
    return f"{n / MIB:,.0f} MiB" if abs(n) >= 10 * MIB else f"{n / MIB:,.1f} MiB"


def explain(
    s: RunSettings,
    memory: MemoryCheck,
    measured: Measured,
    predicted_decode: float | None = None,
    predicted_prefill: float | None = None,
) -> tuple[Finding, ...]:
    """The sentences that explain predicted against actual, most useful first."""
    out: list[Finding] = []
    if s.source == "llama.cpp" and not s.has_buffers:
        level = f" (this one ran at verbosity {s.verbosity})" if s.verbosity is not None else ""
        text = (
            "Your log has no buffer lines: current llama.cpp prints the loader and its model/KV/compute buffer "
            f"sizes only at -lv 4 (or -v){level}. Run it again with -lv 4 to compare memory buffer by buffer; "
            "the speeds below are still compared."
        )
        out.append(Finding("no-buffers", text))
    out += _memory_findings(s, memory)
    out += _speed_findings(s, measured, predicted_decode, predicted_prefill)
    return tuple(out)


def _where(device: str) -> str:
    return "in system RAM" if device == "host" else f"on {device}"


def _memory_findings(s: RunSettings, m: MemoryCheck) -> list[Finding]:
    out: list[Finding] = []
    for device, fa_bytes in m.fa_on_compute:
        row = m.row(device, "compute")
        if row and row.logged - fa_bytes >= HINT_MIN_BYTES:
            text = (
                f"Your compute buffer {_where(device)} is larger because flash attention is off: "
                f"{_mib(row.logged)} logged, about {_mib(fa_bytes)} with -fa on (without it the attention scores "
                f"of a {s.n_ubatch or 512}-token batch against all {s.n_ctx or '?'} context cells are held at once)."
            )
            out.append(Finding("fa-off", text))
    for device, q8 in m.kv_q8:
        row = m.row(device, "kv")
        if row and row.logged - q8 >= HINT_MIN_BYTES:
            text = (
                f"KV cache {_where(device)} is {s.type_k or 'f16'}: {_mib(row.logged)}. -ctk q8_0 -ctv q8_0 would "
                f"make it about {_mib(q8)}, roughly half (a quantized V cache needs flash attention)."
            )
            out.append(Finding("kv-f16", text))
    if s.n_gpu_layers == 0 and (s.gpus or s.backend not in ("", "cpu")) and s.op_offload:
        gpu_compute = [r for r in m.rows if r.device != "host" and r.kind == "compute" and r.logged]
        size = f" ({_mib(gpu_compute[0].logged)} on {gpu_compute[0].device})" if gpu_compute else ""
        text = (
            f"-ngl 0 with a GPU: llama.cpp still puts a compute buffer on the GPU{size} (op offload: large prompt "
            "batches run their matrix products there, copying the weights over PCIe). --no-op-offload keeps "
            "everything on the CPU."
        )
        out.append(Finding("ngl0-op-offload", text))
    for r in m.rows:
        if r.kind == "total" and r.logged and abs(r.rel) > MEMORY_OK_REL and abs(r.error) >= HINT_MIN_BYTES:
            text = (
                f"{r.device}: the engine predicts {_mib(r.predicted)} against {_mib(r.logged)} logged "
                f"({r.rel:+.0%}); the rows above show which buffer differs."
            )
            out.append(Finding("memory-off", text))
    if m.error and s.has_buffers:
        out.append(Finding("memory-unmodelled", f"The buffers cannot be predicted from this log: {m.error}."))
    return out


# Llama-3.1-8B Q4_K_M on the H200, llama-completion at 8k context (tests/fixtures/speedlogs/
# cuda_h200_llama31_8b_q4km_full_8k*.log): decode with -fa on and with -fa off.
FA_DECODE_MEASURED = (247.19, 197.14)


def _speed_findings(s: RunSettings, m: Measured, decode: float | None, prefill: float | None) -> list[Finding]:
    out: list[Finding] = []
    n_prompt = m.tokens("prefill")
    if n_prompt is not None and n_prompt < SHORT_PROMPT_TOKENS:
        text = (
            f"The prompt was {n_prompt} tokens: prefill runs faster with bigger batches, and the prediction is for "
            "a 512-token prompt (llama-bench pp512), so a short prompt measures well below it. Compare prefill "
            "with llama-bench -p 512."
        )
        out.append(Finding("short-prompt", text))
    if m.concurrent > 1 and m.best("decode"):
        text = (
            f"llama-server ran {m.concurrent} slots: requests that overlap share each decode step, so each one's "
            "tok/s drops while the total rises. The best single run is compared."
        )
        out.append(Finding("slots", text))
    if s.all_layers_on_gpu is False or (s.n_cpu_moe or 0) != 0:  # None: the layer count is not known
        text = (
            "Part of the model is in system RAM (-ngl below the layer count, or --n-cpu-moe): decode reads those "
            "weights at RAM bandwidth, which sets the speed. Name your CPU for its RAM bandwidth; without one the "
            "prediction assumes dual-channel DDR5-5600."
        )
        out.append(Finding("offload", text))
    if s.flash_attn is False and m.best("decode") and (s.gpus or s.backend not in ("", "cpu")):
        on, off = FA_DECODE_MEASURED
        text = (
            f"Flash attention is off: on a GPU it also costs decode speed (Llama-3.1-8B Q4_K_M on an H200 decoded "
            f"{off:g} tok/s with -fa off and {on:g} with -fa on); the prediction assumes the faster kernels."
        )
        out.append(Finding("fa-off-speed", text))
    best = m.best("decode")
    ratio = best / decode if best and decode else 1.0
    if not SPEED_OK[0] <= ratio <= SPEED_OK[1]:
        why = (
            "check that nothing else uses the GPU, its power limit and clocks (nvidia-smi -q -d PERFORMANCE), "
            "and the offload"
            if ratio < 1
            else "the engine is pessimistic for this device; stored with your consent, the measurement calibrates it"
        )
        text = f"Decode measured {best:.1f} tok/s, {ratio:.2f}x the predicted {decode:.1f}: {why}."
        out.append(Finding("decode-slow" if ratio < 1 else "decode-fast", text))
    return out
