"""Raw llama.cpp load logs on the H200, and the memory each load takes, for the log fixtures and checks.

Each run of ``LOG_RUNS`` starts ``llama-completion`` (the vendored llama.cpp's plain CLI) on a zero-weight
stand-in with the flags given, keeps its whole stderr as a log file (the load log a user would paste:
``buffer size`` lines, ``llama_kv_cache``, ``sched_reserve``, the memory breakdown table printed at exit),
and records NVML's device memory in use at the peak, minus what was in use before. ``llama-bench``
results in ``-o json`` and ``-o md`` are kept as files too (the check-my-setup parser reads both).

Predictions come first: ``python bench/gpu_logs.py --predict > bench/data/gpu_logs_predictions.jsonl``
(committed before the lease), then on the GPU machine (see bench/README.md for the carried .gpu/.whl):

    python3 bench/gpu_logs.py --bin /tmp/lcp/build/bin --work /tmp/standins --out /tmp/bench-out

and ``python bench/gpu_logs.py --compare bench/data/gpu_logs_h200.jsonl`` here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))

MIB = 1024 * 1024
H200_BYTES = 150_754_820_096  # NVML total of the lent H200 (bench/data/speed_h200.jsonl gpu_env)


@dataclass(frozen=True)
class LogRun:
    name: str  # the log file's stem
    model_id: str
    preset: str
    n_ctx: int
    ngl: int = 99
    flash_attn: str = "on"
    kv: str = "f16"
    n_cpu_moe: int = 0
    op_offload: bool = True

    def flags(self) -> list[str]:
        out = ["-c", str(self.n_ctx), "-ngl", str(self.ngl), "-fa", self.flash_attn, "-ctk", self.kv, "-ctv", self.kv]
        if self.n_cpu_moe:
            out += ["--n-cpu-moe", str(self.n_cpu_moe)]
        if not self.op_offload:
            out += ["--no-op-offload"]
        return out


LOG_RUNS: tuple[LogRun, ...] = (
    LogRun("llama31-8b-q4km-full-8k", "llama-3.1-8b-instruct", "Q4_K_M", 8192),
    LogRun("llama31-8b-q4km-full-32k-q8kv", "llama-3.1-8b-instruct", "Q4_K_M", 32768, kv="q8_0"),
    LogRun("llama31-8b-q4km-full-8k-faoff", "llama-3.1-8b-instruct", "Q4_K_M", 8192, flash_attn="off"),
    LogRun("llama31-8b-q4km-ngl16-8k", "llama-3.1-8b-instruct", "Q4_K_M", 8192, ngl=16),
    LogRun("llama31-8b-q4km-ngl0-4k", "llama-3.1-8b-instruct", "Q4_K_M", 4096, ngl=0),
    LogRun("llama31-8b-q4km-ngl0-4k-noopoff", "llama-3.1-8b-instruct", "Q4_K_M", 4096, ngl=0, op_offload=False),
    LogRun("qwen3-30b-a3b-q4km-full-16k", "qwen3-30b-a3b", "Q4_K_M", 16384),
    LogRun("qwen3-30b-a3b-q4km-ncmoe30-16k", "qwen3-30b-a3b", "Q4_K_M", 16384, n_cpu_moe=30),
    LogRun("gemma3-4b-q4km-full-32k", "gemma-3-4b-it", "Q4_K_M", 32768),
    LogRun("gpt-oss-20b-mxfp4-full-32k", "gpt-oss-20b", "MXFP4_MOE", 32768),
    LogRun("gpt-oss-20b-mxfp4-ngl0-8k", "gpt-oss-20b", "MXFP4_MOE", 8192, ngl=0),
    LogRun("granite4-h-tiny-q4km-full-32k", "granite-4.0-h-tiny", "Q4_K_M", 32768),
    LogRun("granite4-h-tiny-q4km-ngl20-32k", "granite-4.0-h-tiny", "Q4_K_M", 32768, ngl=20),
    LogRun("qwen3-next-80b-q4km-full-32k", "qwen3-next-80b-a3b-instruct", "Q4_K_M", 32768),
    LogRun("qwen3-next-80b-q4km-ngl24-16k", "qwen3-next-80b-a3b-instruct", "Q4_K_M", 16384, ngl=24),
)
BENCH_FILE = ("llama-3.1-8b-instruct", "Q4_K_M")


def files_needed() -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for r in LOG_RUNS:
        if (r.model_id, r.preset) not in seen:
            seen.append((r.model_id, r.preset))
    return seen


def request(run: LogRun) -> Any:
    from advisor.catalog.models_catalog import get_model
    from advisor.core import memory

    return memory.FitRequest(
        shape=get_model(run.model_id).to_shape(),
        preset=run.preset,
        runtime="llama-cli",
        n_ctx=run.n_ctx,
        n_batch=2048,
        n_ubatch=512,
        n_parallel=1,
        kv_unified=False,
        flash_attn=run.flash_attn != "off",
        swa_full=False,
        type_k=run.kv,
        type_v=run.kv,
        devices=(memory.Device("CUDA0", "cuda", H200_BYTES),),
        n_gpu_layers=-1 if run.ngl >= 99 else run.ngl,
        n_cpu_moe=run.n_cpu_moe,
        op_offload=run.op_offload,
    )


def predict() -> None:
    from advisor.core import memory

    for run in LOG_RUNS:
        r = memory.estimate(request(run))
        g = r.devices[0]
        print(
            json.dumps(
                {
                    "name": run.name,
                    "model_id": run.model_id,
                    "preset": run.preset,
                    "flags": " ".join(run.flags()),
                    "gpu_total_bytes": g.total_bytes,
                    "gpu_weights_bytes": g.weights_bytes,
                    "gpu_kv_bytes": g.kv_cache_bytes,
                    "gpu_compute_bytes": g.compute_bytes,
                    "gpu_overhead_bytes": g.overhead_bytes,
                    "host_total_bytes": r.devices[-1].total_bytes,
                }
            )
        )


def measure(args: argparse.Namespace) -> None:
    from bench.gpu_bench import append, gpu_env, h200_file, log, logged_buffers, run_logged

    env = gpu_env()
    out = Path(args.out)
    logs = out / "loadlogs"
    logs.mkdir(parents=True, exist_ok=True)
    binp = Path(args.bin)
    for run in LOG_RUNS:
        path = h200_file(run.model_id, run.preset, args)
        cmd = [str(binp / "llama-completion"), "-m", str(path), "-p", "Hello, how are you today?", "-n", "32"]
        cmd += ["-no-cnv", "--temp", "0", "-t", str(args.threads), "-b", "2048", "-ub", "512", *run.flags()]
        r, nv, wall = run_logged(cmd, timeout=600)
        header = "# H200 (CUDA 13, sm_90), llama.cpp vendored in llama-cpp-python 0.3.36; zero-weight stand-in\n"
        header += f"# command: {' '.join(cmd)}\n"
        (logs / f"{run.name}.log").write_text(header + r.stderr + r.stdout)
        rec = {
            "name": run.name,
            "model_id": run.model_id,
            "preset": run.preset,
            "file_bytes": os.path.getsize(path),
            "command": " ".join(cmd),
            "rc": r.returncode,
            "wall_s": round(wall, 1),
            "gpu_env": env,
            **nv,
            **logged_buffers(r.stderr),
        }
        append(out / "gpu_logs_h200.jsonl", rec)
        log(
            f"log {run.name} rc={r.returncode} {wall:.0f}s nvml+{(nv['nvml_peak_minus_baseline_bytes'] or 0) / MIB:.0f}"
        )
    path = h200_file(*BENCH_FILE, args)
    for fmt in ("json", "md"):
        cmd = [str(binp / "llama-bench"), "-m", str(path), "-p", "512", "-n", "128", "-r", "3", "-o", fmt]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        (logs / f"llama-bench-llama31-8b-q4km.{fmt}").write_text(r.stdout)
        log(f"llama-bench -o {fmt} rc={r.returncode}")
    log("LOGS DONE")


def compare(path: str) -> None:
    pred = {}
    for line in Path("bench/data/gpu_logs_predictions.jsonl").read_text().splitlines():
        d = json.loads(line)
        pred[d["name"]] = d
    print(f"{'run':38} {'measured MiB':>12} {'predicted':>10} {'error':>8}")
    for line in Path(path).read_text().splitlines():
        m = json.loads(line)
        p = pred.get(m["name"])
        used = m.get("nvml_peak_minus_baseline_bytes")
        if not p or not used:
            continue
        err = p["gpu_total_bytes"] / used - 1
        print(f"{m['name']:38} {used / MIB:12.0f} {p['gpu_total_bytes'] / MIB:10.0f} {err:+8.1%}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--predict", action="store_true")
    ap.add_argument("--compare", default="")
    ap.add_argument("--bin", default="")
    ap.add_argument("--work", default="/tmp/standins")
    ap.add_argument("--out", default="/tmp/bench-out")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--set", default="logs")
    args = ap.parse_args()
    if args.predict:
        predict()
    elif args.compare:
        compare(args.compare)
    else:
        t = time.time()
        measure(args)
        print(f"done in {time.time() - t:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
