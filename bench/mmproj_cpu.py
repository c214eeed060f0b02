"""Vision projectors measured by llama.cpp itself, on the CPU.

For every vision tower in ``advisor/catalog/data/mmproj.json`` (one per distinct shape), this writes a
zero-weight mmproj stand-in GGUF (sparse: the tensor data is never written) with the tensor names,
shapes and types of ``advisor.core.mmproj.projector_tensors`` and the ``clip.*`` keys clip.cpp reads,
then loads it with ``mtmd_init_from_file`` from the libmtmd of llama-cpp-python 0.3.36 (CPU, warm-up
on), once with flash attention off and once on, in a child process whose stderr is read for clip.cpp's
lines::

    load_tensors: model size:         816.37 MiB
    warmup: warmup with image size = 896 x 896
    reserve_compute_meta:        CPU compute buffer size =  1132.61 MiB

clip.cpp refuses a file that lacks a tensor its loader requires, and building the warm-up graph checks
every shape, so a load that succeeds means the inventory is what llama.cpp expects. Each record sets
the logged numbers beside ``advisor.core.mmproj``'s prediction.

Usage: python bench/mmproj_cpu.py [--out bench/data/mmproj_cpu.jsonl] [MODEL_ID ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.catalog.mmproj import load_towers
from advisor.core import mmproj
from advisor.core.ggml_types import GGMLType, tensor_bytes
from advisor.core.gguf_size import pad

MIB = 1024 * 1024
_SIGLIP_MEAN = [0.5, 0.5, 0.5]


def _metadata(t: mmproj.VisionTower) -> list[tuple[str, Any]]:
    """The ``clip.*`` keys clip.cpp's ``load_hparams`` reads for ``t``'s projector (KEY_* in clip-impl.h)."""
    kv: list[tuple[str, Any]] = [
        ("clip.projector_type", t.projector),
        ("clip.has_vision_encoder", True),
        ("clip.use_gelu", t.projector != "pixtral"),
        ("clip.vision.projection_dim", t.proj_dim),
        ("clip.vision.image_size", t.image_size),
        ("clip.vision.patch_size", t.patch_size),
        ("clip.vision.embedding_length", t.n_embd),
        ("clip.vision.feed_forward_length", t.n_ff),
        ("clip.vision.block_count", t.n_layer),
        ("clip.vision.attention.head_count", t.n_head),
        ("clip.vision.attention.layer_norm_epsilon", 1e-6),
        ("clip.vision.image_mean", _SIGLIP_MEAN),
        ("clip.vision.image_std", _SIGLIP_MEAN),
    ]
    if t.projector in ("qwen3vl_merger", "pixtral"):
        kv.append(("clip.vision.spatial_merge_size", t.n_merge))
    if t.projector == "pixtral":
        kv.append(("clip.use_silu", True))  # SwiGLU; convert's add_vision_use_silu
    if t.projector == "kimik25":
        kv.append(("clip.vision.projector.scale_factor", t.n_merge))
        kv.append(("clip.vision.image_min_pixels", 8 * t.patch_size * t.patch_size))  # convert's min_patches 8
        kv.append(("clip.vision.image_max_pixels", t.max_patches * t.patch_size * t.patch_size))
    if t.projector == "gemma4v":
        kv.append(("clip.vision.projector.scale_factor", t.n_merge))  # pooling_kernel_size
    if t.projector == "llama4":
        kv.append(("clip.vision.projector.scale_factor", t.n_merge))  # 1 / pixel_shuffle_ratio
    return kv


def write_mmproj(t: mmproj.VisionTower, path: Path, float_type: GGMLType = GGMLType.F16) -> int:
    """Write the sparse stand-in; return its size in bytes."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter

    w = GGUFWriter(path, "clip")
    w.add_file_type(1 if float_type == GGMLType.F16 else 7)
    for key, val in _metadata(t):
        if isinstance(val, bool):
            w.add_bool(key, val)
        elif isinstance(val, int):
            w.add_uint32(key, val)
        elif isinstance(val, float):
            w.add_float32(key, val)
        elif isinstance(val, str):
            w.add_string(key, val)
        else:
            w.add_key_value(key, list(val), GGUFValueType.ARRAY, sub_type=GGUFValueType.FLOAT32)
    data = 0
    for pt in mmproj.projector_tensors(t):
        ty = mmproj.tensor_type(pt, float_type)
        n = tensor_bytes(ty, pt.dims)
        w.add_tensor_info(
            pt.name, tuple(reversed(pt.dims)), np.dtype(np.float32), n, raw_dtype=GGMLQuantizationType(int(ty))
        )
        data += pad(n)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    assert w.fout is not None
    end = w.fout[0].tell()
    w.close()
    with open(path, "r+b") as f:
        f.truncate(pad(end) + data)
    return pad(end) + data


_CHILD = r"""
import sys, llama_cpp, llama_cpp.mtmd_cpp as m
llama_cpp.llama_backend_init()
p = m.mtmd_context_params_default()
p.use_gpu = False
p.n_threads = 2
p.warmup = True
p.flash_attn_type = int(sys.argv[2])
ctx = m.mtmd_init_from_file(sys.argv[1].encode(), None, p)
print("LOADED" if ctx else "FAILED", file=sys.stderr, flush=True)
"""

_RE = {
    "model_mib": re.compile(r"model size:\s+([\d.]+) MiB"),
    "compute_mib": re.compile(r"CPU compute buffer size =\s+([\d.]+) MiB"),
    "warmup_px": re.compile(r"warmup with image size = (\d+) x"),
}


def measure(path: Path, flash_attn: bool) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), "1" if flash_attn else "0"],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    log = proc.stderr
    out: dict[str, Any] = {"loaded": "LOADED" in log}
    for key, rx in _RE.items():
        found = rx.findall(log)
        out[key] = float(found[-1]) if found else None
    if not out["loaded"]:
        out["log_tail"] = log[-2000:]
    return out


# Shapes no catalog model has, to see how the rules carry over (recorded, not asserted):
# (label, catalog model whose tower is changed, changes).
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("gemma3 d768 ff3072 h12", "gemma-3-4b-it", {"n_embd": 768, "n_ff": 3072, "n_head": 12}),
    ("gemma3 ff8192", "gemma-3-4b-it", {"n_ff": 8192}),
    ("qwen3.5 d768 ff3072 h12", "qwen3.5-27b", {"n_embd": 768, "n_ff": 3072, "n_head": 12}),
    ("qwen3.5 ff8192", "qwen3.5-27b", {"n_ff": 8192}),
    ("qwen3.5 h8", "qwen3.5-27b", {"n_head": 8}),
    ("qwen3-vl-8b proj 6144", "qwen3-vl-8b-instruct", {"proj_dim": 6144}),
    ("pixtral h8", "mistral-small-3.1-24b-instruct-2503", {"n_head": 8}),
    ("pixtral ff8192", "mistral-small-3.1-24b-instruct-2503", {"n_ff": 8192}),
    ("pixtral d768 h12", "mistral-small-3.1-24b-instruct-2503", {"n_embd": 768, "n_head": 12}),
    ("llama4 h8", "llama-4-scout-17b-16e-instruct", {"n_head": 8}),
    ("llama4 ff8192", "llama-4-scout-17b-16e-instruct", {"n_ff": 8192}),
    ("llama4 d2048 ff8192", "llama-4-scout-17b-16e-instruct", {"n_embd": 2048, "n_ff": 8192}),
    ("llama4 d1024", "llama-4-scout-17b-16e-instruct", {"n_embd": 1024}),
    ("llama4 448px", "llama-4-scout-17b-16e-instruct", {"image_size": 448}),
    ("gemma4v-1152 h8", "gemma-4-31b-it", {"n_head": 8}),
    ("gemma4v-1152 ff8192", "gemma-4-31b-it", {"n_ff": 8192}),
    ("gemma4v d1024", "gemma-4-31b-it", {"n_embd": 1024}),
    ("gemma4v d1536", "gemma-4-31b-it", {"n_embd": 1536}),
    ("gemma4v-768 ff6144", "gemma-4-e4b-it", {"n_ff": 6144}),
    ("moonvit 4096 patches", "kimi-k2.5", {"max_patches": 4096}),
    ("moonvit 4096 h8", "kimi-k2.5", {"max_patches": 4096, "n_head": 8}),
    ("moonvit 4096 ff8192", "kimi-k2.5", {"max_patches": 4096, "n_ff": 8192}),
    ("moonvit 4096 d1024", "kimi-k2.5", {"max_patches": 4096, "n_embd": 1024}),
]


def _towers(model_ids: list[str], variants: bool) -> list[tuple[str, mmproj.VisionTower]]:
    towers = load_towers()
    out = [(m, t) for m, t in towers.items() if not model_ids or m in model_ids]
    if variants:
        out += [(label, replace(towers[base], **changes)) for label, base, changes in VARIANTS]
    return out


def run(model_ids: list[str], out_path: Path, variants: bool = True) -> list[dict[str, Any]]:
    seen: dict[mmproj.VisionTower, str] = {}
    records = []
    for model_id, tower in _towers(model_ids, variants):
        if model_ids and model_id not in model_ids:
            continue
        if tower.projector not in mmproj.SUPPORTED_PROJECTORS or tower in seen:
            continue
        seen[tower] = model_id
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "mmproj.gguf"
            size = write_mmproj(tower, path)
            for fa in (False, True):
                got = measure(path, fa)
                rec = {
                    "model": model_id,
                    "projector": tower.projector,
                    "flash_attn": fa,
                    "file_bytes": size,
                    "measured": got,
                    "predicted_model_mib": round(mmproj.weight_bytes(tower) / MIB, 2),
                    "predicted_compute_mib": round(mmproj.compute_buffer_bytes(tower, flash_attn=fa) / MIB, 2),
                    "warmup_px": mmproj.warmup_image_size(tower),
                    "catalog": model_id in load_towers(),
                }
                print(json.dumps(rec), flush=True)
                records.append(rec)
    with open(out_path, "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    return records


def report(records: list[dict[str, Any]]) -> str:
    lines = [
        "Vision projectors: llama.cpp's own numbers (libmtmd of llama-cpp-python 0.3.36, CPU, warm-up on)"
        " vs advisor.core.mmproj",
        "Command: .venv/bin/python bench/mmproj_cpu.py  (writes bench/data/mmproj_cpu.jsonl and .txt; ~2 min, 2 cores)",
        "Zero-weight F16 mmproj stand-ins; 'model size' and 'CPU compute buffer size' are clip.cpp's log lines.",
        "",
        f"{'tower':36} {'FA':3} {'warmup':>6} {'model MiB':>10} {'pred':>10}"
        f" {'compute MiB':>12} {'pred':>10} {'err':>7}",
    ]
    for r in records:
        m = r["measured"]
        err = 100 * (r["predicted_compute_mib"] / m["compute_mib"] - 1)
        name = r["model"] + ("" if r["catalog"] else " *")
        lines.append(
            f"{name:36} {'on' if r['flash_attn'] else 'off':3} {r['warmup_px']:>6} {m['model_mib']:>10.2f}"
            f" {r['predicted_model_mib']:>10.2f} {m['compute_mib']:>12.2f}"
            f" {r['predicted_compute_mib']:>10.2f} {err:>6.2f}%"
        )
    lines += [
        "",
        "* shapes no catalog model has (VARIANTS): recorded to show how the rules carry over, not asserted.",
        "Third-party check (gpustack/gguf-parser-go#44, MI300X): clip compute buffers of Gemma 3 1132 MiB with flash",
        "attention off / 121 MiB on, Qwen3-VL 4728 / 323 MiB: the numbers measured here for gemma-3 and the",
        "Qwen3-VL 2B/4B tower, so the graph's buffer does not depend on the backend.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench/data/mmproj_cpu.jsonl"))
    ap.add_argument("models", nargs="*")
    args = ap.parse_args()
    records = run(args.models, args.out, variants=not args.models)
    args.out.with_suffix(".txt").write_text(report(records))


if __name__ == "__main__":
    main()
