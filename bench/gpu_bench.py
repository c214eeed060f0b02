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
PLAN_SETS: dict[int, list[Plan]] = {1: PLANS, 2: PLANS_2, 3: PLANS_3, 4: PLANS_4}


def plans_from_argv() -> list[Plan]:
    """The plan set named by ``--set N`` on the command line (default 2), for the prediction scripts."""
    return PLAN_SETS[int(sys.argv[sys.argv.index("--set") + 1]) if "--set" in sys.argv else 2]


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
        "llama_cpp": "llama-cpp-python 0.3.36 vendored llama.cpp",
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
                out / "tensors_h100.jsonl",
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
                append(out / "memory_h100.jsonl", rec)
                log(
                    f"mem {plan.model_id} {preset} {kw} -> "
                    f"{'ERR ' + d['error'][:200] if 'error' in d else memory_summary(d)}"
                )
        # speed: llama-bench, then the probe on the same file
        t = time.time()
        rows = llama_bench(bin_dir, path, plan.depths if pi == 0 else (), args.reps)
        for row in rows:
            append(
                out / "speed_h100.jsonl",
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
                    out / "speed_h100.jsonl",
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
            out / "speed_h100.jsonl",
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
                    out / "tensors_h100.jsonl",
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
            append(out / "speed_h100.jsonl", rec)
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
        append(out / "synthetic_h100.jsonl", rec)
        p = rec.get("probe", {})
        log(
            f"synthetic {model_id} {preset}: {rec['wall_s']:.1f}s "
            + (rec.get("error", "")[:200] or f"tg={p.get('decode_tps', 0):.1f} pp={p.get('prefill_tps', 0):.0f}")
        )
        shutil.rmtree(cache, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--skip", default="")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--set", type=int, default=1, help="1: PLANS, 2: PLANS_2, 3: PLANS_3, 0: none")
    ap.add_argument("--synthetic", action="store_true", help="first time the SYNTHETIC stand-in probes")
    ap.add_argument("--synthetic-only", default="", help="comma-separated model ids of SYNTHETIC to time")
    args = ap.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    env = gpu_env()
    log(f"env {env}")
    only = {x for x in args.only.split(",") if x}
    skip = {x for x in args.skip.split(",") if x}
    if args.synthetic:
        synthetic_timings(args, env)
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
