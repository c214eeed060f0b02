"""Zero/few-layer loads on a GPU machine, op offload on and off (llama.cpp's ``op_offload``, --no-op-offload).

Run on the lent GPU machine after building llama.cpp's ``llama`` target with CUDA (see bench/README.md,
"Op offload"). One child process per load: llama_model_load_from_file with n_gpu_layers 0/1/2 (mmap),
llama_init_from_model (n_ctx, n_batch 2048, n_ubatch 512, f16 cache, flash attention auto, swa_full off,
one sequence, offload_kqv on, op_offload as asked), then one 512-token decode (random tokens) as the
probe's warm-up does. Each record holds every llama.cpp log line about buffers, graph splits, flash
attention and offloaded layers, and NVML's device memory in use (baseline before llama.cpp is loaded,
after the model load, after the context, after the decode, and the peak sampled every 20 ms).

    python3 bench/op_offload_bench.py --work /tmp/oo-st --out $OUT/op_offload_h200.jsonl --deadline 480
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import subprocess
import sys
import threading
import time
from typing import Any

MODELS = ("llama-3.2-1b-instruct", "gemma-3-4b-it", "llama-3.1-8b-instruct", "qwen3-30b-a3b")
KEEP = ("buffer size", "graph splits", "graph nodes", "flash_attn", "offloaded", "offloading", "op_offload",
        "CUDA0", "compute capability", "n_ctx")  # fmt: skip


def plan() -> list[dict[str, Any]]:
    """Loads in the order they are run: the zero-layer ones first, so a short lease keeps them."""
    out: list[dict[str, Any]] = []
    for ngl, opo in ((0, True), (0, False), (2, True), (1, True), (2, False), (1, False)):
        for m in MODELS:
            for n_ctx in (4096, 16384):
                out.append({"model_id": m, "n_gpu_layers": ngl, "n_ctx": n_ctx, "op_offload": opo})
    return out


def child(job: dict[str, Any]) -> dict[str, Any]:
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # no NVIDIA driver (a dry run of this script on a CPU machine)
        pynvml = h = None

    def used() -> int:
        return int(pynvml.nvmlDeviceGetMemoryInfo(h).used) if h is not None else 0

    rec: dict[str, Any] = {"gpu_baseline_bytes": used()}
    peak = [rec["gpu_baseline_bytes"]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], used())

    threading.Thread(target=sample, daemon=True).start()
    lines: list[str] = []
    part: list[str] = []

    def on_log(level: int, text: bytes, user: ctypes.c_void_p) -> None:
        part.append(text.decode("utf-8", errors="replace"))
        if part[-1].endswith("\n"):
            lines.extend("".join(part).splitlines())
            part.clear()

    import llama_cpp as L

    cb = L.llama_log_callback(on_log)
    L.llama_log_set(cb, ctypes.c_void_p(0))
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    mp.n_gpu_layers = int(job["n_gpu_layers"])
    t0 = time.perf_counter()
    model = L.llama_model_load_from_file(job["path"].encode(), mp)
    rec["gpu_after_load_bytes"] = used()
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = int(job["n_ctx"]), 2048, 512
    cp.n_threads = cp.n_threads_batch = os.cpu_count() or 16
    cp.n_seq_max = 1
    cp.type_k = cp.type_v = 1  # f16
    cp.flash_attn_type = -1  # auto
    cp.swa_full = False
    cp.offload_kqv = True
    cp.op_offload = bool(job["op_offload"])
    cp.no_perf = True
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        raise RuntimeError("no context")
    rec["gpu_after_context_bytes"] = used()
    rec["load_s"] = round(time.perf_counter() - t0, 2)
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    rng = random.Random(0)
    n = 512
    batch = L.llama_batch_init(n, 0, 1)
    for i in range(n):
        batch.token[i] = rng.randrange(n_vocab)
        batch.pos[i] = i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = i == n - 1
    batch.n_tokens = n
    t1 = time.perf_counter()
    rc = L.llama_decode(ctx, batch)
    L.llama_synchronize(ctx)
    rec["decode_s"] = round(time.perf_counter() - t1, 2)
    rec["decode_rc"] = int(rc)
    rec["gpu_after_decode_bytes"] = used()
    stop.set()
    rec["gpu_peak_bytes"] = max(peak[0], rec["gpu_after_decode_bytes"])
    if h is not None:
        rec["gpu_total_bytes"] = int(pynvml.nvmlDeviceGetMemoryInfo(h).total)
        name = pynvml.nvmlDeviceGetName(h)
        rec["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        drv = pynvml.nvmlSystemGetDriverVersion()
        rec["driver"] = drv.decode() if isinstance(drv, bytes) else str(drv)
    rec["model_size_bytes"] = int(L.llama_model_size(model))
    rec["log"] = [ln for ln in lines if any(k in ln for k in KEEP)]
    L.llama_batch_free(batch)
    return rec


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/oo-st")
    ap.add_argument("--out", required=True)
    ap.add_argument("--deadline", type=float, default=480.0, help="seconds from start; later loads are skipped")
    ap.add_argument("--child", default="")
    args = ap.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    t_start = time.time()
    files = {f.split("-Q4_K_M-")[0]: f for f in os.listdir(args.work) if f.endswith(".gguf")}
    for job in plan():
        left = args.deadline - (time.time() - t_start)
        if left < 15:
            print(f"deadline: skipped {job}", flush=True)
            continue
        job["file"] = files[job["model_id"]]
        job["path"] = os.path.join(args.work, job["file"])
        cmd = [sys.executable, __file__, "--out", "-", "--child", json.dumps(job)]
        t = time.time()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=min(90.0, left))
            res = [ln[7:] for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
            rec = (
                {**job, **json.loads(res[0])} if res else {**job, "error": (r.stderr or "")[-3000:], "rc": r.returncode}
            )
        except subprocess.TimeoutExpired:
            rec = {**job, "error": "timeout"}
        rec["wall_s"] = round(time.time() - t, 1)
        rec["command"] = " ".join(cmd[:4]) + " --child '" + json.dumps({k: job[k] for k in job if k != "path"}) + "'"
        with open(args.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        bufs = [ln.split(":", 1)[-1].strip() for ln in rec.get("log", []) if "compute buffer" in ln]
        print(job["model_id"], job["n_gpu_layers"], job["n_ctx"], job["op_offload"], rec["wall_s"],
              (rec.get("gpu_after_decode_bytes", 0) - rec.get("gpu_baseline_bytes", 0)) >> 20, bufs,
              rec.get("error", "")[-300:], flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
