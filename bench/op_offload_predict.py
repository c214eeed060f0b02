"""Predict the zero/few-layer loads of the op-offload H200 run (bench/op_offload_bench.py) before it is measured.

    python bench/op_offload_predict.py > bench/data/op_offload_predictions_h200.jsonl

One line per planned load: the four Q4_K_M stand-ins of ``MODELS`` x n_gpu_layers 0/1/2 x n_ctx
4096/16384 x op offload on/off, with the probe's context settings (n_batch 2048, n_ubatch 512, one
sequence, f16 cache, flash attention auto, swa_full off) and the per-tensor types of the committed
stand-ins (bench/data/tensors_h200.jsonl). The engine of the commit that writes this file has no
op-offload field: on and off predict the same.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from advisor.catalog.models_catalog import get_model
from advisor.core import memory
from bench.memory_accuracy import tensor_types_by_file

H200_BYTES = 143771 * 1024 * 1024  # nvidia-smi memory.total, bench/README.md "H200 lease"
MODELS = ("llama-3.2-1b-instruct", "gemma-3-4b-it", "llama-3.1-8b-instruct", "qwen3-30b-a3b")
PRESET = "Q4_K_M"
NGLS = (0, 1, 2)
CONTEXTS = (4096, 16384)


def file_name(model_id: str) -> str:
    return f"{model_id}-{PRESET}-L{get_model(model_id).to_shape().n_layers}.gguf"  # gpu_bench.build_file's name


def request(model_id: str, ngl: int, n_ctx: int, op_offload: bool) -> memory.FitRequest:
    types = tensor_types_by_file(Path(__file__).resolve().parent / "data" / "tensors_h200.jsonl")
    kw = dict(
        shape=get_model(model_id).to_shape(),
        preset=PRESET,
        tensor_types=types.get(file_name(model_id), ()),
        runtime="llama-cpp-python",
        n_ctx=n_ctx,
        n_batch=2048,
        n_ubatch=512,
        n_parallel=1,
        kv_unified=False,
        flash_attn=True,
        swa_full=False,
        devices=(memory.Device("CUDA0", "cuda", H200_BYTES),),
        n_gpu_layers=ngl,
    )
    if "op_offload" in {f.name for f in dataclasses.fields(memory.FitRequest)}:
        kw["op_offload"] = op_offload
    return memory.FitRequest(**kw)  # type: ignore[arg-type]


def main() -> None:
    for model_id in MODELS:
        for op_offload in (True, False):
            for ngl in NGLS:
                for n_ctx in CONTEXTS:
                    r = memory.estimate(request(model_id, ngl, n_ctx, op_offload))
                    g, h = r.devices[0], r.devices[-1]
                    print(json.dumps({
                        "model_id": model_id, "preset": PRESET, "file": file_name(model_id), "n_gpu_layers": ngl,
                        "n_ctx": n_ctx, "op_offload": op_offload, "gpu_total_bytes": g.total_bytes,
                        "weights_bytes": g.weights_bytes, "kv_bytes": g.kv_cache_bytes,
                        "compute_bytes": g.compute_bytes, "overhead_bytes": g.overhead_bytes,
                        "host_weights_bytes": h.weights_bytes, "host_kv_bytes": h.kv_cache_bytes,
                        "host_compute_bytes": h.compute_bytes,
                    }))  # fmt: skip


if __name__ == "__main__":
    main()
