"""The measuring half of the probe: runs llama.cpp in a process of its own.

Started by ``advisor.probe`` as ``python advisor/probe/child.py`` with one JSON job on stdin.
It writes one JSON object per line on stdout: ``{"type": "progress", ...}`` while it works,
then ``{"type": "result", ...}`` or ``{"type": "error", ...}``. A llama.cpp abort, an
out-of-memory kill or a segfault ends only this process; the parent reports it.

The measurement follows llama-bench (``tools/llama-bench/llama-bench.cpp`` in the llama.cpp
vendored by llama-cpp-python 0.3.36): a warm-up prompt of ``n_prompt`` tokens and one
generated token, then pp = ``n_prompt`` random tokens decoded as one batch (split by
``n_batch``), tg = ``n_gen`` single-token decodes each followed by a synchronize, each
test starting from an empty KV cache (``llama_memory_clear``). Depth runs pre-fill the
cache with ``depth`` tokens first, untimed, as ``llama-bench -d`` does.
"""

from __future__ import annotations

import os
import sys

# Run as a script, Python puts this file's folder (advisor/probe/) first on sys.path, where the probe's
# own modules (spec.py, run.py, ...) could shadow installed ones; drop it before any other import.
# The package root comes from PYTHONPATH instead.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import ctypes
import json
import random
import re
import resource
import threading
import time
from typing import Any

# ggml_type ids for KV cache types (ggml/include/ggml.h).
KV_TYPES: dict[str, int] = {
    "f32": 0,
    "f16": 1,
    "q4_0": 2,
    "q4_1": 3,
    "q5_0": 6,
    "q5_1": 7,
    "q8_0": 8,
    "iq4_nl": 20,
    "bf16": 30,
}
# enum llama_flash_attn_type (include/llama.h): AUTO = -1, DISABLED = 0, ENABLED = 1.
FLASH_ATTN: dict[str, int] = {"auto": -1, "off": 0, "on": 1}

# "llama_kv_cache:      CUDA0 KV buffer size =   512.00 MiB" and the model/compute/output/RS
# lines: src/llama-model.cpp, src/llama-kv-cache.cpp, src/llama-context.cpp,
# src/llama-memory-recurrent.cpp.
BUFFER_LINE = re.compile(
    r"^(?P<func>[\w:]+):\s+(?P<device>\S+)\s+(?P<kind>model|KV|compute|output|RS) buffer size =\s+"
    r"(?P<mib>[0-9.]+) MiB"
)
OFFLOADED_LINE = re.compile(r"offloaded (\d+)/(\d+) layers to GPU")
CUDA_DEVICE_LINE = re.compile(r"Device \d+: (?P<name>[^,]+), compute capability")

_log_lines: list[str] = []
_log_partial: list[str] = []
_log_lock = threading.Lock()


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def progress(stage: str, percent: float) -> None:
    emit({"type": "progress", "stage": stage, "percent": round(percent, 1)})


def _on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    s = text.decode("utf-8", errors="replace")
    with _log_lock:
        _log_partial.append(s)
        if "\n" in s:
            joined = "".join(_log_partial)
            _log_partial.clear()
            parts = joined.split("\n")
            _log_lines.extend(p for p in parts[:-1])
            if parts[-1]:
                _log_partial.append(parts[-1])
    # Keep llama.cpp's log on stderr too, so a crash leaves its last words for the parent.
    sys.stderr.write(s)


class GpuSampler:
    """Samples device memory in use through NVML while llama.cpp works (peak and points)."""

    def __init__(self) -> None:
        self.available = False
        self.handles: list[Any] = []
        self.baseline = 0
        self.peak = 0
        self.name: str | None = None
        self.driver: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            n = pynvml.nvmlDeviceGetCount()
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            ids = [int(x) for x in visible.split(",") if x.strip().isdigit()] if visible else list(range(n))
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in ids if i < n]
            if self.handles:
                self.available = True
                name = pynvml.nvmlDeviceGetName(self.handles[0])
                self.name = name.decode() if isinstance(name, bytes) else str(name)
                drv = pynvml.nvmlSystemGetDriverVersion()
                self.driver = drv.decode() if isinstance(drv, bytes) else str(drv)
        except Exception:  # no NVIDIA driver: CPU or Metal machine
            self.available = False

    def used(self) -> int:
        if not self.available:
            return 0
        return sum(int(self._nvml.nvmlDeviceGetMemoryInfo(h).used) for h in self.handles)

    def total(self) -> int:
        if not self.available:
            return 0
        return sum(int(self._nvml.nvmlDeviceGetMemoryInfo(h).total) for h in self.handles)

    def start(self) -> None:
        if not self.available:
            return
        self.baseline = self.used()
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            u = self.used()
            if u > self.peak:
                self.peak = u

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.available:
            self.peak = max(self.peak, self.used())


def peak_rss_bytes() -> int:
    # ru_maxrss is KiB on Linux (getrusage(2)), bytes on macOS.
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) if sys.platform == "darwin" else int(r) * 1024


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    import llama_cpp as L

    log_cb = L.llama_log_callback(_on_log)
    L.llama_log_set(log_cb, ctypes.c_void_p(0))
    sampler = GpuSampler()
    sampler.start()
    L.llama_backend_init()

    progress("loading", 0)
    mparams = L.llama_model_default_params()
    mparams.n_gpu_layers = int(job["n_gpu_layers"])
    mparams.use_mmap = bool(job.get("use_mmap", True))

    def _load_progress(p: float, user: ctypes.c_void_p) -> bool:
        progress("loading", 100.0 * p)
        return True

    load_cb = L.llama_progress_callback(_load_progress)
    mparams.progress_callback = load_cb
    t0 = time.perf_counter()
    model = L.llama_model_load_from_file(job["path"].encode(), mparams)
    if not model:
        raise RuntimeError(f"llama.cpp could not load the model file {job['path']}")
    cparams = L.llama_context_default_params()
    cparams.n_ctx = int(job["n_ctx"])
    cparams.n_batch = int(job["n_batch"])
    cparams.n_ubatch = int(job["n_ubatch"])
    cparams.n_threads = int(job["n_threads"])
    cparams.n_threads_batch = int(job["n_threads"])
    cparams.type_k = KV_TYPES[job["type_k"]]
    cparams.type_v = KV_TYPES[job["type_v"]]
    cparams.flash_attn_type = FLASH_ATTN[job["flash_attn"]]
    cparams.swa_full = bool(job.get("swa_full", False))  # llama-bench and llama-server use false
    cparams.offload_kqv = True
    cparams.no_perf = True
    ctx = L.llama_init_from_model(model, cparams)
    if not ctx:
        raise RuntimeError("llama.cpp could not create a context (see log)")
    load_s = time.perf_counter() - t0
    gpu_after_load = sampler.used()

    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    add_bos = bool(L.llama_vocab_get_add_bos(vocab))
    bos = L.llama_vocab_bos(vocab)
    mem = L.llama_get_memory(ctx)
    rng = random.Random(1234)
    n_batch = int(job["n_batch"])

    def decode(tokens: list[int]) -> None:
        arr = (L.llama_token * len(tokens))(*tokens)
        batch = L.llama_batch_get_one(arr, len(tokens))
        rc = L.llama_decode(ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def prompt(n: int, stage: str | None = None) -> None:
        done = 0
        while done < n:
            k = min(n - done, n_batch)
            toks = [rng.randrange(n_vocab) for _ in range(k)]
            if done == 0 and add_bos:
                toks[0] = bos
            decode(toks)
            done += k
            if stage:
                progress(stage, 100.0 * done / n)
        L.llama_synchronize(ctx)

    def gen(n: int, stage: str | None = None) -> None:
        tok = bos if add_bos else rng.randrange(n_vocab)
        for i in range(n):
            decode([tok])
            L.llama_synchronize(ctx)
            tok = rng.randrange(n_vocab)
            if stage and (i % 8 == 7 or i == n - 1):
                progress(stage, 100.0 * (i + 1) / n)

    n_prompt = int(job["n_prompt"])
    n_gen = int(job["n_gen"])
    reps = max(1, int(job.get("reps", 1)))
    threads = int(job["n_threads"])
    L.llama_set_n_threads(ctx, threads, threads)

    progress("warmup", 0)
    if n_prompt > 0:
        prompt(n_prompt)
    if n_gen > 0:
        gen(1)
    progress("warmup", 100)

    pp_times: list[float] = []
    gpu_after_prefill = 0
    for _ in range(reps):
        L.llama_memory_clear(mem, False)
        t = time.perf_counter()
        prompt(n_prompt, "prefill")
        pp_times.append(time.perf_counter() - t)
        gpu_after_prefill = max(gpu_after_prefill, sampler.used())
    tg_times: list[float] = []
    for _ in range(reps):
        L.llama_memory_clear(mem, False)
        t = time.perf_counter()
        gen(n_gen, "decode")
        tg_times.append(time.perf_counter() - t)
    depth = int(job.get("depth", 0))
    depth_times: list[float] = []
    if depth > 0:
        for _ in range(reps):
            L.llama_memory_clear(mem, False)
            prompt(depth, "decode_depth_fill")
            t = time.perf_counter()
            gen(n_gen, "decode")
            depth_times.append(time.perf_counter() - t)

    sampler.stop()
    with _log_lock:
        lines = list(_log_lines)
        if _log_partial:
            lines.append("".join(_log_partial))
    buffers = []
    for line in lines:
        m = BUFFER_LINE.match(line.strip())
        if m:
            buffers.append({"func": m["func"], "device": m["device"], "kind": m["kind"], "mib": float(m["mib"])})
    offloaded = None
    gpu_name_log = None
    for line in lines:
        m2 = OFFLOADED_LINE.search(line)
        if m2:
            offloaded = [int(m2.group(1)), int(m2.group(2))]
        m3 = CUDA_DEVICE_LINE.search(line)
        if m3 and gpu_name_log is None:
            gpu_name_log = m3["name"].strip()
    desc = ctypes.create_string_buffer(256)
    L.llama_model_desc(model, desc, ctypes.sizeof(desc))
    result = {
        "type": "result",
        "load_s": load_s,
        "pp_s": pp_times,
        "tg_s": tg_times,
        "depth_tg_s": depth_times,
        "n_prompt": n_prompt,
        "n_gen": n_gen,
        "depth": depth,
        "buffers": buffers,
        "offloaded": offloaded,
        "model_desc": desc.value.decode(errors="replace"),
        "model_size": int(L.llama_model_size(model)),
        "model_n_params": int(L.llama_model_n_params(model)),
        "model_n_layer": int(L.llama_model_n_layer(model)),
        "n_ctx": int(L.llama_n_ctx(ctx)),
        "gpu_offload_supported": bool(L.llama_supports_gpu_offload()),
        "system_info": L.llama_print_system_info().decode(errors="replace").strip(),
        "llama_cpp_python": getattr(L, "__version__", "unknown"),
        "nvml": sampler.available,
        "gpu_name": sampler.name or gpu_name_log,
        "driver": sampler.driver,
        "gpu_total_bytes": sampler.total(),
        "gpu_baseline_bytes": sampler.baseline,
        "gpu_after_load_bytes": gpu_after_load,
        "gpu_after_prefill_bytes": gpu_after_prefill,
        "gpu_peak_bytes": sampler.peak,
        "peak_rss_bytes": peak_rss_bytes(),
        "log_buffer_lines": [ln for ln in lines if "buffer size" in ln or "offloaded" in ln],
    }
    L.llama_free(ctx)
    L.llama_model_free(model)
    return result


def quantize_job(job: dict[str, Any]) -> dict[str, Any]:
    """Quantize a stand-in here, so a llama.cpp abort in the quantizer cannot kill the caller."""
    from advisor.core.standin import quantize_standin

    progress("preparing", 50)
    quantize_standin(
        job["src"], job["dst"], job["preset"], imatrix=bool(job.get("imatrix")), nthread=int(job.get("nthread", 2))
    )
    return {"type": "result", "path": job["dst"]}


def limit_memory(limit: int | None) -> None:
    if limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> int:
    job = json.loads(sys.stdin.read())
    try:
        limit_memory(job.get("memory_limit_bytes"))
        if job.get("job") == "quantize":
            emit(quantize_job(job))
        else:
            emit(run_job(job))
    except Exception as exc:
        with _log_lock:
            tail = list(_log_lines[-30:])
        emit({"type": "error", "message": str(exc), "log_tail": tail})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
