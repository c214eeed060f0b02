"""Memory and speed measurements of zero-weight stand-ins on a GPU machine.

Run on the lent GPU machine after building llama.cpp with CUDA (bench/gpu_run.sh does both).
For each model: write the F16 stand-in (advisor.core.standin), quantize it with llama-quantize to
each preset, then

* memory: probe runs (advisor.probe, n_prompt 512) over contexts, KV cache types, flash attention
  on/off and one partial offload; each record holds llama.cpp's logged buffers and NVML's device
  memory in use after the 512-token eval -> memory_h100.jsonl;
* speed: llama-bench pp512/tg128 (and -d depths) plus the probe on the same file -> speed_h100.jsonl;
* layer extrapolation: the probe on 2 partial-layer stand-ins, extrapolated to the full model.

Usage: python bench/gpu_bench.py --bin /tmp/lcp/build/bin --work /tmp/standins --out /tmp/bench-out
       [--only id1,id2] [--skip id1,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent.parent))

from advisor.core.quantize import needs_imatrix
from advisor.core.standin import quantize_standin
from advisor.probe import ProbeError, ProbeProgress, ProbeSpec, extrapolate, run_probe, truncate_shape

MIB = 1024 * 1024
LLAMA_CPP = "llama-cpp-python 0.3.36 vendored llama.cpp"


@dataclasses.dataclass
class Plan:
    model_id: str
    presets: tuple[str, ...]  # first one gets the memory grid
    contexts: tuple[int, ...] = (4096, 32768)
    kv_types: tuple[str, ...] = ("f16", "q8_0", "q4_0")
    fa_off_ctx: int | None = 32768
    partial_ngl: int | None = None
    depths: tuple[int, ...] = ()
    extrapolate_layers: tuple[int, int] | None = None
    # Extra llama-bench runs on the first preset: (label, extra env, extra args).
    extra_bench: tuple[tuple[str, dict[str, str], tuple[str, ...]], ...] = ()
    probe: bool = True  # the probe on the same file after llama-bench


CPU_ONLY = ("cpu-only", {"CUDA_VISIBLE_DEVICES": ""}, ("-ngl", "0", "-p", "128", "-n", "32", "-t", "16"))

PLANS: list[Plan] = [
    Plan("smollm2-135m-instruct", ("Q8_0",), contexts=(4096,), kv_types=("f16",), fa_off_ctx=None),
    Plan(
        "llama-3.2-1b-instruct",
        ("Q4_K_M", "Q8_0"),
        contexts=(4096, 131072),
        kv_types=("f16", "q4_0"),
        extra_bench=(CPU_ONLY,),
    ),
    Plan(
        "llama-3.1-8b-instruct",
        ("Q4_K_M", "Q8_0", "Q2_K", "IQ4_XS", "Q6_K"),
        contexts=(4096, 32768, 131072),
        partial_ngl=16,
        depths=(4096, 32768),
        extrapolate_layers=(8, 16),
        extra_bench=(("partial-ngl16", {}, ("-ngl", "16")), CPU_ONLY),
    ),
    Plan("qwen2.5-7b-instruct", ("Q4_K_M",), contexts=(4096, 32768)),
    Plan("qwen3-8b", ("Q5_K_M", "IQ3_XXS"), contexts=(4096, 32768)),
    Plan("qwen3-30b-a3b", ("Q4_K_M",), contexts=(4096, 32768), depths=(8192,)),
    Plan("gemma-3-12b-it", ("Q4_K_M",), contexts=(4096, 32768, 131072), depths=(32768,)),
    Plan("gemma-2-9b-it", ("Q4_K_M",), contexts=(8192,), kv_types=("f16", "q8_0"), fa_off_ctx=8192),
    Plan("phi-3.5-mini-instruct", ("Q4_K_M",), contexts=(4096, 32768)),
    Plan("deepseek-v2-lite-chat", ("Q4_K_M",), contexts=(4096, 32768), kv_types=("f16", "q8_0")),
    Plan("gpt-oss-20b", ("MXFP4_MOE",), contexts=(4096, 32768, 131072), kv_types=("f16",)),
    Plan(
        "llama-3.1-70b-instruct",
        ("Q4_K_M",),
        contexts=(4096, 32768),
        kv_types=("f16", "q8_0"),
        fa_off_ctx=None,
        depths=(4096,),
        extrapolate_layers=(8, 16),
    ),
]

# Second lease: held-out models and presets, predicted before they were measured.
PLANS_2: list[Plan] = [
    Plan("phi-3.5-mini-instruct", ("Q4_K_M",), contexts=(4096, 32768), kv_types=("f16", "q8_0")),
    Plan("mistral-nemo-instruct-2407", ("Q4_K_M",), contexts=(4096, 32768), kv_types=("f16", "q8_0"), depths=(16384,)),
    Plan("qwen2.5-14b-instruct", ("Q4_K_M", "Q3_K_M"), contexts=(4096, 32768), kv_types=("f16",)),
    Plan("gemma-3-4b-it", ("Q4_K_M",), contexts=(4096, 32768), kv_types=("f16",), depths=(8192,)),
    Plan("qwen3-4b", ("Q8_0",), contexts=(4096,), kv_types=("f16",), fa_off_ctx=None),
    Plan("llama-3.1-8b-instruct", ("Q5_K_M", "Q4_0"), contexts=(4096,), kv_types=("f16",), fa_off_ctx=None),
]


# Third lease (2026-11-23, second session): held-out models, predicted before they were measured
# (bench/heldout_predict.py --set 3, memory_heldout_predict.py --set 3). Covers K-quants, Q8_0, IQ
# (IQ3_XXS with a flat imatrix, IQ4_NL), MoE (Mixtral, DeepSeek-V2-Lite MLA), SWA (Gemma-3-27B),
# a 47 GB model (Qwen2.5-72B), depths to 32k, one partial offload and one CPU-only run.
PLANS_3: list[Plan] = [
    Plan(
        "qwen3-14b",
        ("Q4_K_M", "Q6_K"),
        contexts=(32768,),
        kv_types=("q8_0",),
        fa_off_ctx=None,
        depths=(32768,),
        extra_bench=(("partial-ngl20", {}, ("-ngl", "20")),),
    ),
    Plan("gemma-3-27b-it", ("Q4_K_M",), contexts=(32768,), kv_types=("f16",), fa_off_ctx=None, depths=(16384,)),
    Plan("mixtral-8x7b-instruct-v0.1", ("Q4_K_M",), contexts=(32768,), kv_types=("f16",), fa_off_ctx=None),
    Plan("qwen3-8b", ("IQ3_XXS",), contexts=(4096,), kv_types=("f16",), fa_off_ctx=None),
    Plan(
        "llama-3.2-3b-instruct",
        ("Q6_K", "IQ4_NL"),
        contexts=(8192,),
        kv_types=("f16",),
        fa_off_ctx=None,
        extra_bench=(CPU_ONLY,),
    ),
    Plan(
        "deepseek-v2-lite-chat",
        ("Q4_K_M",),
        contexts=(4096, 32768),
        kv_types=("f16", "q8_0"),
        fa_off_ctx=32768,
        depths=(8192,),
    ),
    Plan("qwen3-32b", ("Q8_0",), contexts=(32768,), kv_types=("f16",), fa_off_ctx=None),
    Plan("qwen2.5-72b-instruct", ("Q4_K_M",), contexts=(32768,), kv_types=("q8_0",), fa_off_ctx=None, depths=(8192,)),
    Plan("mistral-small-3.2-24b-instruct-2506", ("Q5_K_M",), contexts=(32768,), kv_types=("q8_0",), fa_off_ctx=None),
]
# Fourth lease: after the constants were refitted on sets 1-3 (IQ3 grids and DeepSeek MLA measured once
# each in set 3), fresh files of those two kinds and a GQA-5 model at depth, predicted before measuring.
PLANS_4: list[Plan] = [
    Plan("llama-3.1-8b-instruct", ("IQ3_XXS",), contexts=(4096,), kv_types=("f16",), fa_off_ctx=None),
    Plan(
        "deepseek-coder-v2-lite-instruct",
        ("Q8_0",),
        contexts=(16384,),
        kv_types=("f16",),
        fa_off_ctx=None,
        depths=(16384,),
    ),
    Plan("qwen2.5-32b-instruct", ("Q4_K_M",), contexts=(32768,), kv_types=("q8_0",), fa_off_ctx=None, depths=(16384,)),
]
# H200 lease: the H100 speed set's model/preset pairs (dense, GQA, SWA, MoE, MLA, several quant types, 1B
# to 70B) at depth 0 and the depth the H100 measured them at, on an NVIDIA H200 (141 GB HBM3e, 4.8 TB/s).
# Predicted before measuring (bench/heldout_predict.py --set h200 --gpu "NVIDIA H200"). The stand-ins
# are quantized beforehand by bench/h200_prebuild.py (same llama.cpp, same llama_model_quantize) and
# carried as sparse files, so the lease spends no time quantizing. No memory grid: the probe runs on
# the files marked probe=True. The MoE offload sweep, llama-fit-params and llama-batched-bench follow
# (H200_NCMOE, H200_FIT, H200_BATCHED).
PLANS_H200: list[Plan] = [
    Plan("llama-3.2-1b-instruct", ("Q4_K_M",)),
    Plan("llama-3.1-8b-instruct", ("Q4_K_M", "Q8_0", "Q6_K", "Q4_0", "IQ4_XS", "Q2_K", "IQ3_XXS"), depths=(32768,)),
    Plan("qwen3-8b", ("Q5_K_M",)),
    Plan("phi-3.5-mini-instruct", ("Q4_K_M",)),
    Plan("gemma-3-4b-it", ("Q4_K_M",), depths=(8192,)),
    Plan("gemma-2-9b-it", ("Q4_K_M",)),
    Plan("gemma-3-12b-it", ("Q4_K_M",), depths=(32768,)),
    Plan("mistral-nemo-instruct-2407", ("Q4_K_M",), depths=(16384,)),
    Plan("qwen2.5-14b-instruct", ("Q4_K_M",)),
    Plan("qwen3-14b", ("Q4_K_M",), depths=(32768,)),
    Plan("qwen3-30b-a3b", ("Q4_K_M",), depths=(8192,)),
    Plan("gpt-oss-20b", ("MXFP4_MOE",), depths=(8192,)),
    Plan("deepseek-v2-lite-chat", ("Q4_K_M",), depths=(8192,)),
    Plan("llama-3.1-70b-instruct", ("Q4_K_M",), depths=(4096,)),
]
for _p in PLANS_H200:  # speed only: no memory grid; the probe on the first preset of the plans marked
    _p.contexts, _p.kv_types, _p.fa_off_ctx = (), (), None
_H200_PROBED = {
    "llama-3.2-1b-instruct",
    "llama-3.1-8b-instruct",
    "gemma-3-12b-it",
    "qwen3-30b-a3b",
    "deepseek-v2-lite-chat",
    "llama-3.1-70b-instruct",
}
for _p in PLANS_H200:
    _p.probe = _p.model_id in _H200_PROBED
PLAN_SETS: dict[int | str, list[Plan]] = {1: PLANS, 2: PLANS_2, 3: PLANS_3, 4: PLANS_4, "h200": PLANS_H200}

# MoE expert offload on the H200: llama-bench -ncmoe N (experts of the first N layers in host memory).
H200_NCMOE: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("qwen3-30b-a3b", "Q4_K_M", (0, 12, 24, 36, 48)),
    ("gpt-oss-120b", "MXFP4_MOE", (0, 9, 18, 27, 36)),
    ("glm-4.5-air", "Q4_K_M", (0, 12, 24, 35, 44, 46)),  # its own lease: --stages moe,fit --only glm-4.5-air
)
# llama-fit-params at 8k context for a GPU of these many GiB (simulated with --fit-target, see fit_params).
H200_FIT: tuple[tuple[str, str], ...] = (
    ("gpt-oss-120b", "MXFP4_MOE"),
    ("qwen3-30b-a3b", "Q4_K_M"),
    ("glm-4.5-air", "Q4_K_M"),
)
H200_FIT_GIB: tuple[int, ...] = (24, 12)
# llama-batched-bench: parallel sequences of a short prompt.
H200_BATCHED: tuple[tuple[str, str], ...] = (("llama-3.1-8b-instruct", "Q4_K_M"),)
H200_BATCHED_NPL = (1, 2, 4, 8, 16, 32)


def set_key(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def plans_from_argv() -> list[Plan]:
    """The plan set named by ``--set N`` on the command line (default 2), for the prediction scripts."""
    return PLAN_SETS[set_key(sys.argv[sys.argv.index("--set") + 1]) if "--set" in sys.argv else 2]


# Synthetic probes timed end to end (write the stand-in, quantize, load, measure), each with an empty
# stand-in cache, exactly as `manage.py probe --model ID --quant PRESET` and the Celery task run them.
SYNTHETIC: tuple[tuple[str, str], ...] = (
    ("llama-3.1-8b-instruct", "Q4_K_M"),
    ("qwen3-4b", "Q8_0"),
    ("gemma-3-12b-it", "Q4_K_M"),
    ("qwen3-30b-a3b", "Q4_K_M"),
    ("llama-3.1-70b-instruct", "Q4_K_M"),
    ("deepseek-v2-lite-chat", "Q4_K_M"),
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def shape_for(model_id: str) -> Any:
    from advisor.catalog.models_catalog import get_model

    return get_model(model_id).to_shape()


def build_file(shape: Any, model_id: str, preset: str, work: Path, bin_dir: Path, threads: int) -> Path:
    from advisor.core.standin import write_standin

    out = work / f"{model_id}-{preset}-L{shape.n_layers}.gguf"
    if out.exists():
        return out
    f16 = work / f"{model_id}-L{shape.n_layers}-F16.gguf"
    if not f16.exists():
        t = time.time()
        write_standin(shape, str(f16))
        log(f"wrote {f16.name} ({os.path.getsize(f16) / 1024**3:.1f} GiB apparent) in {time.time() - t:.1f}s")
    if preset == "F16":
        return f16
    t = time.time()
    if needs_imatrix(shape, preset):
        # llama-quantize needs an imatrix file here; the probe's quantizer passes a flat one.
        quantize_standin(f16, out, preset, imatrix=True, nthread=threads)
        log(
            f"quantized {out.name} with a flat imatrix ({os.path.getsize(out) / 1024**3:.2f} GiB) "
            f"in {time.time() - t:.1f}s"
        )
        return out
    cmd = [str(bin_dir / "llama-quantize"), str(f16), str(out), preset, str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"llama-quantize failed: {r.stderr[-2000:]}")
    log(f"quantized {out.name} ({os.path.getsize(out) / 1024**3:.2f} GiB) in {time.time() - t:.1f}s")
    return out


def tensor_summary(path: Path) -> list[list[Any]]:
    """[name, ggml type name, bytes, elements] of every tensor in a GGUF (gguf-py reader)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    return [[t.name, t.tensor_type.name, int(t.n_bytes), int(t.n_elements)] for t in reader.tensors]


def probe(path: Path, **kw: Any) -> dict[str, Any]:
    spec = ProbeSpec(source="gguf", gguf_path=path.name, models_dir=str(path.parent), **kw)
    t = time.time()
    try:
        r = run_probe(spec)
    except ProbeError as exc:
        return {"error": str(exc)[:2000], "error_kind": exc.kind, "spec": dataclasses.asdict(spec)}
    d = r.to_dict()
    d["spec"] = dataclasses.asdict(spec)
    d["wall_s"] = time.time() - t
    return d


def append(path: Path, rec: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def gpu_env() -> dict[str, Any]:
    info: dict[str, Any] = {}
    try:
        q = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        info["nvidia_smi"] = q.stdout.strip()
    except Exception as exc:  # no nvidia-smi
        info["nvidia_smi_error"] = str(exc)
    for key, cmd in (
        ("pcie", ["nvidia-smi", "--query-gpu=pcie.link.gen.max,pcie.link.width.max", "--format=csv,noheader"]),
        ("nvcc", ["nvcc", "--version"]),
        ("cpu_model", ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo"]),
    ):
        try:
            info[key] = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[-1]
        except Exception as exc:
            info[f"{key}_error"] = repr(exc)
    info["hostname"] = os.uname().nodename
    try:
        import torch

        a = torch.empty(512 * 1024 * 1024, dtype=torch.float32)
        a.fill_(1.0)
        b = torch.empty_like(a)
        b.copy_(a)
        t = time.perf_counter()
        for _ in range(5):
            b.copy_(a)
        # bytes read + bytes written, torch's CPU threads (intra-op pool)
        info["cpu_copy_gbps"] = 5 * 2 * a.numel() * 4 / (time.perf_counter() - t) / 1e9
        info["torch_threads"] = torch.get_num_threads()
        del a, b
    except Exception as exc:
        info["cpu_copy_error"] = repr(exc)
    info["cpu_count"] = os.cpu_count()
    return info


def memory_summary(d: dict[str, Any]) -> dict[str, Any]:
    """Per-device buffer sums and the overhead outside them."""
    if "error" in d:
        return {}
    sums: dict[str, int] = {}
    for b in d["buffers"]:
        key = f"{b['device']}:{b['kind']}"
        sums[key] = sums.get(key, 0) + b["bytes"]
    gpu_buffers = sum(
        b["bytes"] for b in d["buffers"] if b["device"].startswith("CUDA") and not b["device"].endswith("_Host")
    )
    out: dict[str, Any] = {"buffer_sums": sums, "gpu_buffers_bytes": gpu_buffers}
    if d.get("gpu_after_prefill_bytes") is not None:
        out["overhead_after_prefill_bytes"] = d["gpu_after_prefill_bytes"] - gpu_buffers
        out["overhead_peak_bytes"] = d["gpu_peak_bytes"] - gpu_buffers
    return out


def llama_bench(
    bin_dir: Path,
    path: Path,
    depths: tuple[int, ...],
    reps: int,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    d = ",".join(str(x) for x in (0, *depths))
    cmd = [
        str(bin_dir / "llama-bench"),
        "-m",
        str(path),
        "-p",
        "512",
        "-n",
        "128",
        "-d",
        d,
        "-r",
        str(reps),
        "-ngl",
        "99",
        "-o",
        "jsonl",
    ]
    # Later flags win in llama-bench's parser only for scalars; drop the defaults that `extra` repeats.
    for flag in ("-ngl", "-p", "-n"):
        if flag in extra:
            i = cmd.index(flag)
            del cmd[i : i + 2]
    cmd += list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        row["command"] = " ".join(f"{k}={v}" for k, v in (env or {}).items()) + " " + " ".join(cmd)
    if r.returncode != 0:
        rows.append({"error": r.stderr[-2000:], "command": " ".join(cmd)})
    return rows


def run_plan(plan: Plan, args: argparse.Namespace, env: dict[str, Any]) -> None:
    out = Path(args.out)
    work = Path(args.work)
    bin_dir = Path(args.bin)
    shape = shape_for(plan.model_id)
    base = {
        "model_id": plan.model_id,
        "gpu_env": env,
        "llama_cpp": LLAMA_CPP,
        "shape_layers": shape.n_layers,
        "bench_set": args.set,
    }
    for pi, preset in enumerate(plan.presets):
        try:
            path = build_file(shape, plan.model_id, preset, work, bin_dir, args.threads)
        except Exception as exc:
            append(out / "errors.jsonl", {**base, "preset": preset, "error": str(exc)[:3000]})
            log(f"build failed {plan.model_id} {preset}: {exc}")
            continue
        size = os.path.getsize(path)
        try:
            append(
                out / f"tensors_{args.tag}.jsonl",
                {"model_id": plan.model_id, "preset": preset, "file": path.name, "tensors": tensor_summary(path)},
            )
        except Exception as exc:
            log(f"tensor summary failed: {exc!r}")
        if pi == 0:
            # memory grid
            runs: list[dict[str, Any]] = []
            for ctx in plan.contexts:
                if ctx > shape.context_max:
                    continue
                for kv in plan.kv_types:
                    runs.append({"n_ctx": ctx, "type_k": kv, "type_v": kv, "flash_attn": "on"})
            if plan.fa_off_ctx and plan.fa_off_ctx <= shape.context_max:
                runs.append({"n_ctx": plan.fa_off_ctx, "type_k": "f16", "type_v": "f16", "flash_attn": "off"})
                runs.append({"n_ctx": plan.fa_off_ctx, "type_k": "f16", "type_v": "f16", "flash_attn": "auto"})
            if plan.partial_ngl:
                runs.append(
                    {
                        "n_ctx": 8192,
                        "type_k": "f16",
                        "type_v": "f16",
                        "flash_attn": "on",
                        "n_gpu_layers": plan.partial_ngl,
                    }
                )
            for kw in runs:
                d = probe(path, n_prompt=512, n_gen=16, n_threads=args.threads, **kw)
                rec = {
                    **base,
                    "phase": "memory",
                    "preset": preset,
                    "file": path.name,
                    "file_bytes": size,
                    "settings": kw,
                    "probe": d,
                    **memory_summary(d),
                    "command": f"python -c run_probe(ProbeSpec(source='gguf', gguf_path='{path.name}', "
                    f"n_prompt=512, n_gen=16, **{kw}))",
                }
                append(out / f"memory_{args.tag}.jsonl", rec)
                log(
                    f"mem {plan.model_id} {preset} {kw} -> "
                    f"{'ERR ' + d['error'][:200] if 'error' in d else memory_summary(d)}"
                )
        # speed: llama-bench, then the probe on the same file
        t = time.time()
        rows = llama_bench(bin_dir, path, plan.depths if pi == 0 else (), args.reps)
        for row in rows:
            append(
                out / f"speed_{args.tag}.jsonl",
                {
                    **base,
                    "phase": "speed",
                    "tool": "llama-bench",
                    "preset": preset,
                    "file": path.name,
                    "file_bytes": size,
                    "bench": row,
                },
            )
        log(
            f"llama-bench {plan.model_id} {preset} {time.time() - t:.0f}s: "
            + ", ".join(
                f"{r.get('n_prompt')}/{r.get('n_gen')}@{r.get('n_depth')}={r.get('avg_ts', 0):.1f}"
                for r in rows
                if "avg_ts" in r
            )
        )
        for label, xenv, xargs in plan.extra_bench if pi == 0 else ():
            t = time.time()
            for row in llama_bench(bin_dir, path, (), 2, xenv, xargs):
                append(
                    out / f"speed_{args.tag}.jsonl",
                    {
                        **base,
                        "phase": "speed",
                        "tool": "llama-bench",
                        "variant": label,
                        "preset": preset,
                        "file": path.name,
                        "file_bytes": size,
                        "bench": row,
                    },
                )
                log(
                    f"llama-bench {label} {plan.model_id}: {row.get('n_prompt')}/{row.get('n_gen')} "
                    f"{row.get('avg_ts', row.get('error', ''))}"
                )
        d = probe(
            path,
            n_prompt=512,
            n_gen=128,
            n_threads=args.threads,
            reps=args.reps,
            n_ctx=max(4096, 640 + max(plan.depths or (0,))) if pi == 0 else 4096,
            depth=max(plan.depths) if (pi == 0 and plan.depths) else 0,
        )
        append(
            out / f"speed_{args.tag}.jsonl",
            {
                **base,
                "phase": "speed",
                "tool": "probe",
                "preset": preset,
                "file": path.name,
                "file_bytes": size,
                "probe": d,
            },
        )
        log(
            f"probe {plan.model_id} {preset}: "
            + (
                d.get("error", "")[:300]
                or f"pp={d['prefill_tps']:.1f} tg={d['decode_tps']:.1f} depth={d['decode_at_depth_tps']}"
            )
        )
        if plan.extrapolate_layers and pi == 0 and "error" not in d:
            parts = []
            for k in plan.extrapolate_layers:
                p2 = build_file(truncate_shape(shape, k), plan.model_id, preset, work, bin_dir, args.threads)
                append(
                    out / f"tensors_{args.tag}.jsonl",
                    {"model_id": plan.model_id, "preset": preset, "file": p2.name, "tensors": tensor_summary(p2)},
                )
                parts.append(
                    run_probe(
                        ProbeSpec(
                            source="gguf",
                            gguf_path=p2.name,
                            models_dir=str(work),
                            n_prompt=512,
                            n_gen=128,
                            n_threads=args.threads,
                            reps=args.reps,
                        )
                    )
                )
                p2.unlink()
                for f16 in work.glob(f"{plan.model_id}-L{k}-F16.gguf"):
                    f16.unlink()
            ext = extrapolate(parts[0], parts[1], shape.n_layers)
            rec = {
                **base,
                "phase": "extrapolation",
                "preset": preset,
                "layers": plan.extrapolate_layers,
                "full": {
                    "prefill_tps": d["prefill_tps"],
                    "decode_tps": d["decode_tps"],
                    "buffers": d["buffers"],
                    "gpu_after_prefill_bytes": d["gpu_after_prefill_bytes"],
                },
                "parts": [p.to_dict() for p in parts],
                "extrapolated": ext.to_dict(),
            }
            append(out / f"speed_{args.tag}.jsonl", rec)
            log(
                f"extrapolation {plan.model_id}: full tg {d['decode_tps']:.1f} ext {ext.decode_tps:.1f}; "
                f"full pp {d['prefill_tps']:.0f} ext {ext.prefill_tps:.0f}"
            )
        if path.name.endswith(".gguf") and "F16" not in path.name:
            path.unlink()
    for f16 in work.glob(f"{plan.model_id}-L*-F16.gguf"):
        f16.unlink()


def synthetic_timings(args: argparse.Namespace, env: dict[str, Any]) -> None:
    """Time run_probe(source="standin") from an empty cache: the "<60 s on the H100" check."""
    out = Path(args.out)
    only = {x for x in args.synthetic_only.split(",") if x}
    for model_id, preset in SYNTHETIC:
        if only and model_id not in only:
            continue
        cache = Path(args.work) / "synthetic-cache"
        shutil.rmtree(cache, ignore_errors=True)
        marks: list[tuple[str, float, str]] = []
        t0 = time.monotonic()

        def progress(p: ProbeProgress, t0: float = t0, marks: list[tuple[str, float, str]] = marks) -> bool:
            if not marks or marks[-1][0] != p.stage or (p.message and marks[-1][2] != p.message):
                marks.append((p.stage, round(time.monotonic() - t0, 2), p.message))
            return True

        spec = ProbeSpec(source="standin", model_id=model_id, preset=preset, cache_dir=str(cache), time_limit_s=600)
        rec: dict[str, Any] = {"phase": "synthetic", "model_id": model_id, "preset": preset, "gpu_env": env,
                               "spec": dataclasses.asdict(spec)}  # fmt: skip
        try:
            r = run_probe(spec, progress)
            rec["probe"] = r.to_dict()
        except ProbeError as exc:
            rec["error"], rec["error_kind"] = str(exc)[:2000], exc.kind
        rec["wall_s"] = round(time.monotonic() - t0, 2)
        rec["stage_marks"] = marks
        rec["files"] = sorted(p.name for p in cache.glob("*.gguf"))
        rec["command"] = (
            f"python -c \"run_probe(ProbeSpec(source='standin', model_id='{model_id}', preset='{preset}', "
            f'cache_dir=EMPTY_DIR))"'
        )
        append(out / f"synthetic_{args.tag}.jsonl", rec)
        p = rec.get("probe", {})
        log(
            f"synthetic {model_id} {preset}: {rec['wall_s']:.1f}s "
            + (rec.get("error", "")[:200] or f"tg={p.get('decode_tps', 0):.1f} pp={p.get('prefill_tps', 0):.0f}")
        )
        shutil.rmtree(cache, ignore_errors=True)


# ---------------------------------------------------------------- H200 lease (--set h200)


class NvmlPeak:
    """Device memory in use, sampled every 50 ms in a thread while a command runs (NVML, GPU 0)."""

    def __init__(self) -> None:
        import threading

        self.peak = self.baseline = self.total = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        try:
            import pynvml

            pynvml.nvmlInit()
            self._h = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._info = pynvml.nvmlDeviceGetMemoryInfo
            m = self._info(self._h)
            self.baseline, self.total, self.peak = int(m.used), int(m.total), int(m.used)
        except Exception:
            self._h = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak or 0, int(self._info(self._h).used))
            time.sleep(0.05)

    def __enter__(self) -> NvmlPeak:
        if self._h is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._h is not None:
            self._thread.join()

    def record(self) -> dict[str, Any]:
        return {
            "nvml_baseline_bytes": self.baseline,
            "nvml_peak_bytes": self.peak,
            "nvml_peak_minus_baseline_bytes": (self.peak - self.baseline) if self.peak is not None else None,
            "nvml_total_bytes": self.total,
        }


def logged_buffers(stderr: str) -> dict[str, Any]:
    """llama.cpp's "<device> <kind> buffer size = X MiB" lines (the probe's regex), per device and kind:
    model buffers summed over the load, KV/compute/output the largest one logged (llama-bench makes a
    context per test)."""
    from advisor.probe.child import BUFFER_LINE, OFFLOADED_LINE

    model: dict[str, float] = {}
    other: dict[str, float] = {}
    lines = []
    for ln in stderr.splitlines():
        m = BUFFER_LINE.match(ln.strip())
        if m:
            lines.append(ln.strip())
            key = f"{m['device']}:{m['kind']}"
            if m["kind"] == "model":
                model[key] = model.get(key, 0.0) + float(m["mib"])
            else:
                other[key] = max(other.get(key, 0.0), float(m["mib"]))
        elif OFFLOADED_LINE.search(ln) or "memory_breakdown" in ln or "llama_params_fit" in ln:
            lines.append(ln.strip())
    # one model load per llama-bench process when its model parameters are single values
    return {"buffers_mib": {**model, **other}, "buffer_log": lines[:400]}


def run_logged(cmd: list[str], timeout: int = 900) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], float]:
    t = time.time()
    with NvmlPeak() as nv:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r, nv.record(), time.time() - t


def h200_file(model_id: str, preset: str, args: argparse.Namespace) -> Path:
    shape = shape_for(model_id)
    return build_file(shape, model_id, preset, Path(args.work), Path(args.bin), args.threads)


def h200_base(model_id: str, preset: str, path: Path, args: argparse.Namespace, env: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "preset": preset,
        "file": path.name,
        "file_bytes": os.path.getsize(path),
        "gpu_env": env,
        "llama_cpp": LLAMA_CPP,
        "shape_layers": shape_for(model_id).n_layers,
        "bench_set": args.set,
    }


def h200_speed(args: argparse.Namespace, env: dict[str, Any]) -> None:
    out = Path(args.out) / f"speed_{args.tag}.jsonl"
    for plan in PLANS_H200:
        for pi, preset in enumerate(plan.presets):
            try:
                path = h200_file(plan.model_id, preset, args)
            except Exception as exc:
                append(
                    Path(args.out) / "errors.jsonl",
                    {"model_id": plan.model_id, "preset": preset, "error": str(exc)[:3000]},
                )
                log(f"build failed {plan.model_id} {preset}: {exc}")
                continue
            t = time.time()
            rows = llama_bench(Path(args.bin), path, plan.depths if pi == 0 else (), args.reps)
            base = h200_base(plan.model_id, preset, path, args, env)
            for row in rows:
                append(out, {**base, "phase": "speed", "tool": "llama-bench", "bench": row})
            log(
                f"llama-bench {plan.model_id} {preset} {time.time() - t:.0f}s: "
                + ", ".join(
                    f"{r.get('n_prompt')}/{r.get('n_gen')}@{r.get('n_depth')}={r.get('avg_ts', 0):.1f}"
                    for r in rows
                    if "avg_ts" in r
                )
                + "".join(f" ERR {r['error'][-300:]}" for r in rows if "error" in r)
            )


def h200_probe(args: argparse.Namespace, env: dict[str, Any]) -> None:
    out = Path(args.out) / f"speed_{args.tag}.jsonl"
    for plan in PLANS_H200:
        if not plan.probe:
            continue
        preset = plan.presets[0]
        path = h200_file(plan.model_id, preset, args)
        depth = max(plan.depths) if plan.depths else 0
        d = probe(
            path,
            n_prompt=512,
            n_gen=128,
            n_threads=args.threads,
            reps=args.reps,
            n_ctx=max(4096, 640 + depth),
            depth=depth,
        )
        append(
            out, {**h200_base(plan.model_id, preset, path, args, env), "phase": "speed", "tool": "probe", "probe": d}
        )
        log(
            f"probe {plan.model_id} {preset}: "
            + (
                d.get("error", "")[:300]
                or f"pp={d['prefill_tps']:.1f} tg={d['decode_tps']:.1f} depth={d['decode_at_depth_tps']}"
            )
        )


def h200_moe(args: argparse.Namespace, env: dict[str, Any]) -> None:
    """llama-bench -ncmoe N, one process per N so each logs its own buffers; NVML peak beside them."""
    out = Path(args.out) / f"moe_offload_{args.tag}.jsonl"
    for model_id, preset, ns in H200_NCMOE:
        if args.only and model_id not in args.only.split(","):
            continue
        path = h200_file(model_id, preset, args)
        for n in ns:
            cmd = [
                str(Path(args.bin) / "llama-bench"),
                "-m",
                str(path),
                "-p",
                "512",
                "-n",
                "128",
                "-r",
                str(args.reps),
                "-ngl",
                "99",
                "-ncmoe",
                str(n),
                "-t",
                str(args.threads),
                "-o",
                "jsonl",
                "-v",
            ]
            r, nv, wall = run_logged(cmd)
            rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
            rec = {
                **h200_base(model_id, preset, path, args, env),
                "phase": "moe_offload",
                "n_cpu_moe": n,
                "command": " ".join(cmd),
                "rc": r.returncode,
                "wall_s": round(wall, 1),
                "bench": rows,
                **nv,
                **logged_buffers(r.stderr),
            }
            if r.returncode != 0:
                rec["error"] = r.stderr[-3000:]
            append(out, rec)
            log(
                f"ncmoe {model_id} N={n} rc={r.returncode} {wall:.0f}s: "
                + ", ".join(f"{x.get('n_prompt')}/{x.get('n_gen')}={x.get('avg_ts', 0):.1f}" for x in rows)
                + f" buffers {rec['buffers_mib']} nvml+{(nv['nvml_peak_minus_baseline_bytes'] or 0) / MIB:.0f} MiB"
            )


def h200_fit(args: argparse.Namespace, env: dict[str, Any]) -> None:
    """llama-fit-params at -c 8192 for a smaller GPU. It fits to the device's free memory minus a margin
    (--fit-target MiB, default 1024), so a card with X GiB free is simulated by a margin of
    free_now - X*1024 + 1024: llama.cpp then plans for X GiB less its usual 1024 MiB. The printed
    arguments are then run with llama-bench on the real GPU, NVML peak recorded, to check they fit."""
    out = Path(args.out) / f"fit_params_{args.tag}.jsonl"
    import shlex

    for model_id, preset in H200_FIT:
        if args.only and model_id not in args.only.split(","):
            continue
        path = h200_file(model_id, preset, args)
        for gib in H200_FIT_GIB:
            nv0 = NvmlPeak()
            if nv0.total is not None and nv0.baseline is not None:
                free_mib = (nv0.total - nv0.baseline) // MIB
            else:  # no NVML bindings: nvidia-smi
                q = ["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits", "-i", "0"]
                free_mib = int(subprocess.run(q, capture_output=True, text=True).stdout.split()[0])
            margin = free_mib - gib * 1024 + 1024
            cmd = [str(Path(args.bin) / "llama-fit-params"), "-m", str(path), "-c", "8192", "-fitt", str(margin), "-v"]
            r, _nv, wall = run_logged(cmd, timeout=300)
            printed = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
            rec = {
                **h200_base(model_id, preset, path, args, env),
                "phase": "fit_params",
                "simulated_gpu_gib": gib,
                "free_mib_real": free_mib,
                "fit_target_mib": margin,
                "command": " ".join(cmd),
                "rc": r.returncode,
                "wall_s": round(wall, 1),
                "printed_args": printed,
                "fit_log": [x for x in r.stderr.splitlines() if "fit" in x.lower() or "projected" in x][:200],
            }
            cmdp = [*cmd[:-1], "-fitp", "on"]
            rp = subprocess.run(cmdp, capture_output=True, text=True, timeout=300)
            rec["fit_print_command"] = " ".join(cmdp)
            rec["fit_print_stdout"] = rp.stdout[-4000:]
            if r.returncode != 0:
                rec["error"] = r.stderr[-3000:]
            log(f"fit {model_id} {gib} GiB rc={r.returncode}: {printed[:300]}")
            # run what it printed (llama-bench: ';' between overrides, ',' between test groups)
            if r.returncode == 0 and printed:
                toks = shlex.split(printed)
                bargs: list[str] = []
                i = 0
                while i < len(toks):
                    if toks[i] == "-c":
                        i += 2
                        continue
                    if toks[i] == "-ot":
                        bargs += ["-ot", toks[i + 1].replace(",", ";")]
                        i += 2
                        continue
                    bargs.append(toks[i])
                    i += 1
                bcmd = [
                    str(Path(args.bin) / "llama-bench"),
                    "-m",
                    str(path),
                    "-p",
                    "512",
                    "-n",
                    "128",
                    "-r",
                    "2",
                    "-t",
                    str(args.threads),
                    "-o",
                    "jsonl",
                    "-v",
                    *bargs,
                ]
                br, bnv, bwall = run_logged(bcmd)
                rec["bench_command"] = " ".join(bcmd)
                rec["bench"] = [json.loads(x) for x in br.stdout.splitlines() if x.startswith("{")]
                rec["bench_rc"] = br.returncode
                rec["bench_wall_s"] = round(bwall, 1)
                rec.update({f"bench_{k}": v for k, v in bnv.items()})
                rec.update({f"bench_{k}": v for k, v in logged_buffers(br.stderr).items()})
                log(
                    f"  fitted args on the H200: rc={br.returncode} "
                    + ", ".join(f"{x.get('n_prompt')}/{x.get('n_gen')}={x.get('avg_ts', 0):.1f}" for x in rec["bench"])
                    + f" nvml+{(bnv['nvml_peak_minus_baseline_bytes'] or 0) / MIB:.0f} MiB"
                )
            append(out, rec)


def h200_batched(args: argparse.Namespace, env: dict[str, Any]) -> None:
    out = Path(args.out) / f"batched_{args.tag}.jsonl"
    npl = ",".join(str(x) for x in H200_BATCHED_NPL)
    for model_id, preset in H200_BATCHED:
        path = h200_file(model_id, preset, args)
        n_kv = max(H200_BATCHED_NPL) * (128 + 128)
        cmd = [
            str(Path(args.bin) / "llama-batched-bench"),
            "-m",
            str(path),
            "-c",
            str(n_kv),
            "-b",
            "2048",
            "-ub",
            "512",
            "-npp",
            "128",
            "-ntg",
            "128",
            "-npl",
            npl,
            "-ngl",
            "99",
            "-t",
            str(args.threads),
            "--output-format",
            "jsonl",
        ]
        r, nv, _wall = run_logged(cmd)
        rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
        base = h200_base(model_id, preset, path, args, env)
        for row in rows:
            append(out, {**base, "phase": "batched", "command": " ".join(cmd), "bench": row, **nv})
        if r.returncode != 0 or not rows:
            append(
                out,
                {**base, "phase": "batched", "command": " ".join(cmd), "rc": r.returncode, "error": r.stderr[-3000:]},
            )
        log(
            f"batched {model_id} {preset} rc={r.returncode}: "
            + ", ".join(f"pl{x['pl']} tg={x['speed_tg']:.1f} pp={x['speed_pp']:.0f}" for x in rows)
        )


H200_STAGES = {"speed": h200_speed, "moe": h200_moe, "fit": h200_fit, "batched": h200_batched, "probe": h200_probe}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--skip", default="")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument(
        "--set", type=set_key, default=1, help="1: PLANS, 2: PLANS_2, 3: PLANS_3, h200: PLANS_H200, 0: none"
    )
    ap.add_argument("--tag", default="", help="output file suffix (default h100, or h200 for --set h200)")
    ap.add_argument("--stages", default="speed,moe,fit,batched,probe", help="--set h200: which stages, in order")
    ap.add_argument("--synthetic", action="store_true", help="first time the SYNTHETIC stand-in probes")
    ap.add_argument("--synthetic-only", default="", help="comma-separated model ids of SYNTHETIC to time")
    args = ap.parse_args()
    args.tag = args.tag or ("h200" if args.set == "h200" else "h100")
    Path(args.work).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    env = gpu_env()
    log(f"env {env}")
    only = {x for x in args.only.split(",") if x}
    skip = {x for x in args.skip.split(",") if x}
    if args.synthetic:
        synthetic_timings(args, env)
    if args.set == "h200":
        for stage in [x for x in args.stages.split(",") if x]:
            t = time.time()
            try:
                H200_STAGES[stage](args, env)
            except Exception as exc:
                append(Path(args.out) / "errors.jsonl", {"stage": stage, "error": repr(exc)[:3000]})
                log(f"stage {stage} failed: {exc!r}")
            log(f"stage {stage} done in {time.time() - t:.0f}s")
            with open(Path(args.out) / "done.txt", "a") as f:
                f.write(stage + "\n")
        log("ALL DONE")
        return 0
    for plan in PLAN_SETS.get(args.set, []):
        if (only and plan.model_id not in only) or plan.model_id in skip:
            continue
        t = time.time()
        try:
            run_plan(plan, args, env)
        except Exception as exc:
            append(Path(args.out) / "errors.jsonl", {"model_id": plan.model_id, "error": repr(exc)[:3000]})
            log(f"plan {plan.model_id} failed: {exc!r}")
        log(
            f"done {plan.model_id} in {time.time() - t:.0f}s; disk free "
            f"{shutil.disk_usage(args.work).free / 1024**3:.0f} GiB"
        )
        with open(Path(args.out) / "done.txt", "a") as f:
            f.write(plan.model_id + "\n")
    log("ALL DONE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
