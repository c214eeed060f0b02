"""Check every architecture's tensor inventory against llama.cpp itself, on the CPU.

For one catalog model of each architecture (the smallest), plus the configs in ``EXTRA_CONFIGS`` for
architectures no catalog model has yet, this writes a zero-weight F16 stand-in trimmed to a few layers
(``advisor.core.standin.trim_shape``: every kind of layer the model has is kept) and loads it with the
llama.cpp in llama-cpp-python 0.3.36 (n_gpu_layers=0, mmap on, n_ctx 512, one sequence).

llama.cpp refuses a file whose tensors differ from what its loader creates (a missing tensor, a wrong
shape, or "wrong number of tensors"), so a load that succeeds means the inventory's names, shapes and
count are exactly llama.cpp's. On top of that it records:

* ``llama_model_size`` / ``llama_model_n_params`` (bytes and elements of the loaded tensors) against the
  inventory's, which must be equal;
* the CPU model buffer llama.cpp logs against the predicted buffer (tensor bytes padded to the GGUF's
  32-byte alignment), which must agree within 2 %;
* the KV / recurrent-state buffers it logs against ``advisor.core.memory.kv_cache_bytes`` (reported);
* with ``--quantize``, the per-tensor types of ``llama_model_quantize`` to Q4_K_M against
  ``advisor.core.quantize.tensor_types`` (stand-ins under 6 GiB of F16 only).

Usage: python bench/arch_cpu_loads.py [--quantize] [--out bench/data/arch_cpu_loads.jsonl] [ARCH ...]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.catalog.models_catalog import load_models
from advisor.core.ggml_types import GGMLType, tensor_bytes
from advisor.core.hf_config import shape_from_hf_config
from advisor.core.memory import ContextSettings, kv_cache_bytes
from advisor.core.quantize import tensor_types
from advisor.core.shape import ModelShape
from advisor.core.standin import (
    GGUF_ALIGNMENT,
    quantize_standin,
    standin_tensor_types,
    trim_shape,
    write_standin,
)
from advisor.core.tensors import tensor_inventory

MIB = 1024 * 1024
N_CTX = 512
BUFFER_TOLERANCE = 0.02
QUANTIZE_LIMIT_BYTES = 6 * 1024 * MIB

# Architectures without a catalog model yet: published config.json values, trimmed to the keys the
# importer reads (advisor.core.hf_config), with where they were read.
EXTRA_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {}

_CHILD = r"""
import json, sys
import llama_cpp as L
L.llama_backend_init()
mp = L.llama_model_default_params()
mp.n_gpu_layers = 0
model = L.llama_model_load_from_file(sys.argv[1].encode(), mp)
if not model:
    sys.exit(3)
out = {"size": L.llama_model_size(model), "n_params": L.llama_model_n_params(model)}
cp = L.llama_context_default_params()
cp.n_ctx = int(sys.argv[2])
cp.n_batch = cp.n_ubatch = 512
cp.n_seq_max = 1
cp.n_threads = cp.n_threads_batch = 1
ctx = L.llama_init_from_model(model, cp)
out["context"] = bool(ctx)
if ctx:
    L.llama_free(ctx)
L.llama_model_free(model)
print("RESULT " + json.dumps(out), flush=True)
"""

_BUFFER = re.compile(r"(CPU(?:_Mapped)?|CPU_REPACK) model buffer size\s*=\s*([0-9.]+) MiB")
_KV = re.compile(r"(?:llama_kv_cache|llama_memory_recurrent): size =\s*([0-9.]+) MiB")
_ERR = re.compile(r"(error|failed|missing tensor|wrong|exception)", re.I)


def _pad(n: int) -> int:
    return (n + GGUF_ALIGNMENT - 1) // GGUF_ALIGNMENT * GGUF_ALIGNMENT


def subjects(only: set[str]) -> list[tuple[str, str, ModelShape]]:
    """(arch, source, shape): the smallest catalog model of each architecture, then EXTRA_CONFIGS."""
    best: dict[str, tuple[int, str, ModelShape]] = {}
    for m in load_models():
        s = m.to_shape()
        if s.arch not in best or m.params_total < best[s.arch][0]:
            best[s.arch] = (m.params_total, f"catalog:{m.id}", s)
    out = [(arch, src, s) for arch, (_, src, s) in sorted(best.items())]
    for arch, (src, config) in sorted(EXTRA_CONFIGS.items()):
        if arch not in best:
            out.append((arch, src, shape_from_hf_config(config, src)))
    return [row for row in out if not only or row[0] in only]


def _layer_params(s: ModelShape) -> int:
    per_layer = [0] * s.n_layers
    for t in tensor_inventory(s):
        if t.layer is not None:
            per_layer[t.layer] += t.n_elements
    return max(per_layer, default=0)


def _load(path: Path) -> tuple[int, dict[str, Any], list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(N_CTX)], capture_output=True, text=True, check=False
    )
    text = proc.stdout + proc.stderr
    result: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    keep = [ln for ln in text.splitlines() if _BUFFER.search(ln) or _KV.search(ln) or _ERR.search(ln)]
    return proc.returncode, result, keep[-20:]


def _quantized_types(path: Path) -> dict[str, str]:
    from gguf import GGUFReader

    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


def check(arch: str, source: str, full: ModelShape, workdir: Path, quantize: bool) -> dict[str, Any]:
    max_layers = 2 if _layer_params(full) > 1_000_000_000 else 4
    s = trim_shape(full, max_layers)
    inv = tensor_inventory(s)
    types = standin_tensor_types(s, GGMLType.F16)
    sizes = {t.name: tensor_bytes(types[t.name], t.dims) for t in inv}
    path = workdir / f"{arch}.gguf"
    write_standin(s, path)
    t0 = time.monotonic()
    rc, result, log = _load(path)
    buffers = [float(m.group(2)) for ln in log for m in [_BUFFER.search(ln)] if m]
    kv_logged = sum(float(m.group(1)) for ln in log for m in [_KV.search(ln)] if m)
    ctx = ContextSettings(
        n_ctx=N_CTX, n_ctx_seq=N_CTX, n_seq=1, kv_unified=True, n_batch=512, n_ubatch=512, n_outputs=1,
        flash_attn=True, swa_full=False, type_k="f16", type_v="f16",
    )  # fmt: skip
    predicted_buffer = sum(_pad(b) for b in sizes.values())
    rec: dict[str, Any] = {
        "arch": arch,
        "source": source,
        "layers": f"{s.n_layers} of {full.n_layers}",
        "loaded": rc == 0 and bool(result),
        "tensors": len(inv),
        "predicted_bytes": sum(sizes.values()),
        "llama_model_size": result.get("size"),
        "predicted_params": sum(t.n_elements for t in inv),
        "llama_model_n_params": result.get("n_params"),
        "cpu_model_buffer_mib": round(sum(buffers), 2) if buffers else None,
        "predicted_buffer_mib": round(predicted_buffer / MIB, 2),
        "kv_rs_logged_mib": round(kv_logged, 2),
        "kv_rs_predicted_mib": round(kv_cache_bytes(s, ctx) / MIB, 2),
        "load_seconds": round(time.monotonic() - t0, 1),
    }
    rec["bytes_equal"] = rec["llama_model_size"] == rec["predicted_bytes"]
    rec["params_equal"] = rec["llama_model_n_params"] == rec["predicted_params"]
    if buffers:
        rec["buffer_error"] = round(sum(buffers) * MIB / predicted_buffer - 1, 5)
        rec["buffer_ok"] = abs(rec["buffer_error"]) <= BUFFER_TOLERANCE
    if not rec["loaded"]:
        rec["log"] = log
    if quantize and rec["loaded"]:
        if rec["predicted_bytes"] > QUANTIZE_LIMIT_BYTES:
            rec["q4_k_m"] = "skipped: stand-in above 6 GiB"
        else:
            q_path = quantize_standin(path, workdir / f"{arch}-Q4_K_M.gguf", "Q4_K_M")
            got = _quantized_types(q_path)
            want = {k: v.name for k, v in tensor_types(s, "Q4_K_M").items()}
            wrong = sorted(k for k in want if got.get(k) != want[k])
            rec["q4_k_m"] = {"tensors": len(want), "type_mismatches": len(wrong), "examples": wrong[:5]}
            if wrong:
                rec["q4_k_m"]["got"] = {k: got.get(k) for k in wrong[:5]}
                rec["q4_k_m"]["want"] = {k: want[k] for k in wrong[:5]}
            q_path.unlink()
    path.unlink()
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archs", nargs="*")
    ap.add_argument("--out", type=Path, default=Path("bench/data/arch_cpu_loads.jsonl"))
    ap.add_argument("--quantize", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="arch-cpu-loads-") as tmp:
        for arch, source, shape in subjects(set(args.archs)):
            rec = check(arch, source, shape, Path(tmp), args.quantize)
            rows.append(rec)
            print(json.dumps(rec), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
