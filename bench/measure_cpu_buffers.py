"""Load a GGUF with llama.cpp (llama-cpp-python 0.3.36, CPU) and record the buffer sizes it logs.

Usage: python bench/measure_cpu_buffers.py OUT.json MODEL.gguf '{"n_ctx": 4096, "flash_attn": false, ...}'

Settings (all optional): n_ctx, n_batch, n_ubatch, n_seq_max, flash_attn (true/false/"auto"), type_k,
type_v (ggml type names), swa_full, kv_unified, n_outputs_max, no_alloc (llama_model_params.no_alloc:
only simulate allocations, for stand-ins too large for this machine). Unset ones keep
llama_context_default_params(). The model is loaded with n_gpu_layers=0, mmap on.
The JSON holds the settings, the exact command, the relevant log lines verbatim and parsed sizes.
The load runs in a child process so that llama.cpp's C-level stderr can be captured.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import ctypes, json, sys
import llama_cpp as L
s = json.loads(sys.argv[2])
L.llama_backend_init()
mp = L.llama_model_default_params()
mp.n_gpu_layers = 0
mp.no_alloc = bool(s.get("no_alloc", False))
mp.load_mode = 0 if mp.no_alloc else mp.load_mode  # LLAMA_LOAD_MODE_NONE: no_alloc maps nothing
model = L.llama_model_load_from_file(sys.argv[1].encode(), mp)
assert model, "model load failed"
cp = L.llama_context_default_params()
for k in ("n_ctx", "n_batch", "n_ubatch", "n_seq_max", "n_outputs_max"):
    if k in s:
        setattr(cp, k, int(s[k]))
for k in ("swa_full", "kv_unified"):
    if k in s:
        setattr(cp, k, bool(s[k]))
fa = s.get("flash_attn", "auto")
cp.flash_attn_type = {True: 1, False: 0, "auto": -1}[fa]
types = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30}
if "type_k" in s:
    cp.type_k = types[s["type_k"]]
if "type_v" in s:
    cp.type_v = types[s["type_v"]]
cp.n_threads = 1
cp.n_threads_batch = 1
ctx = L.llama_init_from_model(model, cp)
assert ctx, "context init failed"
L.llama_free(ctx)
L.llama_model_free(model)
"""

_KEEP = re.compile(
    r"(buffer size|KV buffer|llama_kv_cache: size|llama_kv_cache_iswa|llama_memory_recurrent|"
    r"llama_context: n_|llama_context: flash_attn|llama_context: kv_unified|graph_reserve: reserving|"
    r"sched_reserve: graph|compute buffer size|print_info: file (type|size)|auto_fa|Flash Attention|"
    r"n_ctx is not|n_ctx_seq|worst-case|llama_memory_recurrent: size)"
)
_MIB = re.compile(r"([A-Za-z0-9_]+)\s+(model|KV|RS|output|compute) buffer size\s*(?:=|is|of)\s*([0-9.]+) MiB")


def measure(model: Path, settings: dict[str, object]) -> dict[str, object]:
    cmd = [sys.executable, "-c", _CHILD, str(model), json.dumps(settings)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if _KEEP.search(ln)]
    parsed: dict[str, float] = {}
    for ln in lines:
        for buft, kind, mib in _MIB.findall(ln):
            key = f"{kind}:{buft}"
            if "compute buffer size is" in ln or "compute buffer size of" in ln:
                key = f"compute4:{buft}"  # destructor line, 4 decimals
            parsed[key] = parsed.get(key, 0.0) + float(mib) if kind in ("KV", "RS") else float(mib)
    # no_alloc runs print 0 for the buffers; the size lines still carry the simulated sizes
    for ln in lines:
        m = re.search(r"(llama_kv_cache|llama_memory_recurrent): size =\s*([0-9.]+) MiB", ln)
        if m:
            key = "kv_size_line" if m.group(1) == "llama_kv_cache" else "rs_size_line"
            parsed[key] = parsed.get(key, 0.0) + float(m.group(2))
        m = re.search(r"file size\s*=\s*([0-9.]+) (MiB|GiB)", ln)
        if m:
            parsed["file_size_mib"] = float(m.group(1)) * (1024.0 if m.group(2) == "GiB" else 1.0)
    return {
        "model": model.name,
        "settings": settings,
        "command": f"python bench/measure_cpu_buffers.py OUT.json {model.name} '{json.dumps(settings)}'",
        "llama_cpp_python": "0.3.36",
        "returncode": proc.returncode,
        "log": lines,
        "mib": parsed,
    }


def main() -> None:
    out, model, settings = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    rec = measure(model, settings)
    out.write_text(json.dumps(rec, indent=1) + "\n")
    print(json.dumps(rec["mib"]))


if __name__ == "__main__":
    main()
