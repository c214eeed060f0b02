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
import itertools
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
# Second lease: architectures new to the catalog (issue 13 asks for GPU checks within 1 %)
NEW_ARCH_RUNS: tuple[LogRun, ...] = (
    LogRun("qwen35-27b-q4km-full-32k", "qwen3.5-27b", "Q4_K_M", 32768),
    LogRun("qwen35-27b-q4km-ngl32-16k", "qwen3.5-27b", "Q4_K_M", 16384, ngl=32),
    LogRun("qwen35-35b-a3b-q4km-full-32k", "qwen3.5-35b-a3b", "Q4_K_M", 32768),
    LogRun("qwen35-35b-a3b-q4km-ncmoe20-16k", "qwen3.5-35b-a3b", "Q4_K_M", 16384, n_cpu_moe=20),
    LogRun("gemma4-31b-q4km-full-32k", "gemma-4-31b-it", "Q4_K_M", 32768),
    LogRun("gemma4-26b-a4b-q4km-full-32k", "gemma-4-26b-a4b-it", "Q4_K_M", 32768),
    LogRun("gemma4-e4b-q4km-full-32k", "gemma-4-e4b-it", "Q4_K_M", 32768),
)

# llama-server with a draft model (-md) at synthetic acceptance: --spec-synth-len L makes the server accept
# a mean of L tokens per verify step (L includes the target's own token; 1 = nothing accepted), so the
# speed-up at any acceptance rate is measured on zero-weight stand-ins whose real acceptance means nothing.
DRAFT_PAIRS: tuple[tuple[str, str, str, str], ...] = (
    ("llama-3.1-8b-instruct", "Q4_K_M", "llama-3.2-1b-instruct", "Q4_K_M"),
    ("llama-3.1-70b-instruct", "Q4_K_M", "llama-3.2-1b-instruct", "Q4_K_M"),
)
DRAFT_MAX = 8
SYNTH_LENGTHS = (1.5, 3.0, 5.0, 9.0)
N_PREDICT = 256
# llama-server -np N with N clients at once, one completion each (the team-serving plan of issue 16)
SERVE_MODEL = ("llama-3.1-8b-instruct", "Q4_K_M")
SERVE_USERS = (1, 4, 8)


# Third lease: the Vulkan backend on the same H200 (NVIDIA's Vulkan driver), llama.cpp built here with
# GGML_VULKAN=ON (bench/gpu_vulkan.sh), llama-completion -lv 4; logged buffers against the engine.
VULKAN_RUNS: tuple[LogRun, ...] = (
    LogRun("vk-llama31-8b-q4km-full-8k", "llama-3.1-8b-instruct", "Q4_K_M", 8192),
    LogRun("vk-llama31-8b-q4km-ngl16-8k", "llama-3.1-8b-instruct", "Q4_K_M", 8192, ngl=16),
    LogRun("vk-llama31-8b-q4km-ngl0-4k", "llama-3.1-8b-instruct", "Q4_K_M", 4096, ngl=0),
    LogRun("vk-llama31-8b-q4km-full-32k-q8kv", "llama-3.1-8b-instruct", "Q4_K_M", 32768, kv="q8_0"),
    LogRun("vk-qwen3-30b-a3b-q4km-full-16k", "qwen3-30b-a3b", "Q4_K_M", 16384),
    LogRun("vk-gemma3-4b-q4km-full-32k", "gemma-3-4b-it", "Q4_K_M", 32768),
    LogRun("vk-granite4-h-tiny-q4km-full-32k", "granite-4.0-h-tiny", "Q4_K_M", 32768),
    # checks of the Vulkan -ngl 0 rule (memory.op_offload_compute_bytes) fitted to the Llama run above;
    # predictions committed before measuring: data/vulkan_ngl0_predictions_h200.jsonl
    LogRun("vk-gemma3-4b-q4km-ngl0-4k", "gemma-3-4b-it", "Q4_K_M", 4096, ngl=0),
    LogRun("vk-qwen3-30b-a3b-q4km-ngl0-4k", "qwen3-30b-a3b", "Q4_K_M", 4096, ngl=0),
)


def draft_rows() -> list[dict[str, Any]]:
    """bench/draft_predict.py's rows (predictions committed before the second lease)."""
    path = Path(__file__).resolve().parent / "data" / "draft_predictions_h200.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def files_needed() -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    pairs = [(r.model_id, r.preset) for r in (*LOG_RUNS, *NEW_ARCH_RUNS)]
    for t, tp, d, dp in DRAFT_PAIRS:
        pairs += [(t, tp), (d, dp)]
    for row in draft_rows():
        pairs += [(row["target"], row["target_quant"]), (row["draft"], row["draft_quant"])]
    for pair in pairs:
        if pair not in seen:
            seen.append(pair)
    return seen


def request(run: LogRun, backend: str = "cuda") -> Any:
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
        devices=(memory.Device("CUDA0" if backend == "cuda" else "Vulkan0", backend, H200_BYTES),),
        n_gpu_layers=-1 if run.ngl >= 99 else run.ngl,
        n_cpu_moe=run.n_cpu_moe,
        op_offload=run.op_offload,
    )


def predict(runs: tuple[LogRun, ...] = LOG_RUNS, backend: str = "cuda") -> None:
    from advisor.core import memory

    for run in runs:
        r = memory.estimate(request(run, backend))
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


def batch_step_ratio(n_tokens: int) -> float:
    """Time of one llama_decode over n_tokens of a sequence, over one token's, on the H200 for
    Llama-3.1-8B Q4_K_M: llama-batched-bench's step times (bench/data/batched_h200.jsonl, committed
    before this lease), linear between its batch sizes."""
    steps: dict[int, float] = {}
    for line in Path("bench/data/batched_h200.jsonl").read_text().splitlines():
        b = json.loads(line).get("bench", {})
        if b.get("pl") and b.get("t_tg"):
            steps[int(b["pl"])] = b["t_tg"] / b["tg"]
    xs = sorted(steps)
    if n_tokens <= xs[0]:
        return 1.0
    for lo, hi in itertools.pairwise(xs):
        if lo <= n_tokens <= hi:
            t = steps[lo] + (steps[hi] - steps[lo]) * (n_tokens - lo) / (hi - lo)
            return t / steps[xs[0]]
    return steps[xs[-1]] / steps[xs[0]]


def predicted_decode(model_id: str, preset: str) -> float:
    from advisor.fit.args import FitParams
    from advisor.fit.engine import make_plan

    plan = make_plan(FitParams(model=model_id, quant=preset, ctx=4096, gpus=("H200",)))
    assert plan.speed.decode_tps is not None
    return plan.speed.decode_tps


def predict_draft() -> None:
    """Speed with a draft model: a verify step drafts DRAFT_MAX tokens one by one with the draft model,
    then decodes DRAFT_MAX + 1 tokens with the target in one batch, and keeps L of them on average."""
    for target, tp, draft, dp in DRAFT_PAIRS:
        t_target = 1 / predicted_decode(target, tp)
        t_draft = 1 / predicted_decode(draft, dp)
        step = DRAFT_MAX * t_draft + t_target * batch_step_ratio(DRAFT_MAX + 1)
        base = {"target": f"{target}:{tp}", "draft": f"{draft}:{dp}", "draft_max": DRAFT_MAX}
        print(json.dumps({**base, "synth_len": None, "predicted_tps": round(1 / t_target, 1)}))
        for length in SYNTH_LENGTHS:
            print(json.dumps({**base, "synth_len": length, "predicted_tps": round(length / step, 1)}))


def serve(binp: Path, model: Path, extra: list[str], n_users: int, name: str, logs: Path) -> dict[str, Any]:
    """Start llama-server, send n_users completions at once, return their timings and the load log."""
    import http.client
    import threading

    port = 8090
    cmd = [str(binp / "llama-server"), "-m", str(model), "-ngl", "99", "-fa", "on", "--port", str(port)]
    cmd += ["-c", str(4096 * n_users), "-np", str(n_users), "-t", "8", "--no-warmup", *extra]
    logf = open(logs / f"{name}.log", "w")  # noqa: SIM115 (the server writes it until terminated)
    logf.write("# H200 (CUDA 13, sm_90), llama.cpp vendored in llama-cpp-python 0.3.36; zero-weight stand-in\n")
    logf.write(f"# command: {' '.join(cmd)}\n")
    logf.flush()
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
    rec: dict[str, Any] = {"name": name, "command": " ".join(cmd), "n_users": n_users}
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                rec["error"] = f"server exited rc={proc.returncode}"
                return rec
            time.sleep(1)
        results: list[dict[str, Any]] = []

        def one(i: int) -> None:
            body = {"prompt": f"User {i}: write a long story about the sea.", "n_predict": N_PREDICT,
                    "ignore_eos": True, "temperature": 0, "cache_prompt": False}  # fmt: skip
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            c.request("POST", "/completion", json.dumps(body), {"Content-Type": "application/json"})
            d = json.loads(c.getresponse().read())
            results.append({k: v for k, v in d.items() if k in ("timings", "tokens_predicted")})

        for warm in (True, False):  # the first request warms the CUDA graphs; measure the second round
            t0 = time.time()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(1 if warm else n_users)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if warm:
                results.clear()
        wall = time.time() - t0
        rec["responses"] = results
        rec["wall_s"] = round(wall, 3)
        rec["aggregate_tps"] = round(sum(r.get("tokens_predicted", 0) for r in results) / wall, 1)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        logf.close()
    return rec


def measure_server(args: argparse.Namespace) -> None:
    from bench.gpu_bench import append, gpu_env, h200_file, log

    env = gpu_env()
    out = Path(args.out)
    logs = out / "loadlogs"
    logs.mkdir(parents=True, exist_ok=True)
    binp = Path(args.bin)
    for target, tp, draft, dp in DRAFT_PAIRS:
        tpath, dpath = h200_file(target, tp, args), h200_file(draft, dp, args)
        runs: list[tuple[str, list[str]]] = [("plain", [])]
        spec = ["-md", str(dpath), "-ngld", "99", "--spec-type", "draft-simple", "--spec-draft-n-max", str(DRAFT_MAX)]
        spec += ["--spec-draft-n-min", "0", "--spec-draft-p-min", "0"]
        runs += [(f"synth{length}", [*spec, "--spec-synth-len", str(length)]) for length in SYNTH_LENGTHS]
        for label, extra in runs:
            name = f"server-{target}-{label}"
            rec = serve(binp, tpath, extra, 1, name, logs)
            rec.update({"target": f"{target}:{tp}", "draft": f"{draft}:{dp}", "label": label, "gpu_env": env})
            append(out / "draft_h200.jsonl", rec)
            t = (rec.get("responses") or [{}])[0].get("timings", {})
            log(f"{name}: {t.get('predicted_per_second', 0):.1f} tok/s {rec.get('error', '')}")
    mpath = h200_file(*SERVE_MODEL, args)
    for n in SERVE_USERS:
        rec = serve(binp, mpath, [], n, f"server-{SERVE_MODEL[0]}-np{n}", logs)
        rec.update({"model": ":".join(SERVE_MODEL), "gpu_env": env})
        append(out / "serve_h200.jsonl", rec)
        log(f"serve np={n}: aggregate {rec.get('aggregate_tps')} tok/s {rec.get('error', '')}")


def measure_draft_rows(args: argparse.Namespace) -> None:
    """Each row of bench/draft_predict.py: llama-server with -md at the row's draft length and its
    synthetic per-position acceptance (--spec-synth-rates), one completion of N_PREDICT tokens."""
    from bench.gpu_bench import append, gpu_env, h200_file, log

    env = gpu_env()
    out = Path(args.out)
    logs = out / "loadlogs_draft"
    logs.mkdir(parents=True, exist_ok=True)
    binp = Path(args.bin)
    plain_done: set[str] = set()
    for i, row in enumerate(draft_rows()):
        tpath = h200_file(row["target"], row["target_quant"], args)
        dpath = h200_file(row["draft"], row["draft_quant"], args)
        runs: list[tuple[str, list[str]]] = []
        if row["target"] not in plain_done:
            plain_done.add(row["target"])
            runs.append(("plain", []))
        spec = ["-md", str(dpath), "-ngld", "99", "--spec-type", "draft-simple"]
        spec += ["--spec-draft-n-max", str(row["draft_max"]), "--spec-draft-n-min", "0", "--spec-draft-p-min", "0"]
        runs.append((f"k{row['draft_max']}-a{row['acceptance']}", [*spec, "--spec-synth-rates", row["synth_rates"]]))
        for label, extra in runs:
            name = f"draftrow{i:02d}-{row['target']}-{label}"
            rec = serve(binp, tpath, extra, 1, name, logs)
            rec.update({"row": row, "label": label, "gpu_env": env})
            append(out / "draft_rows_h200.jsonl", rec)
            t = (rec.get("responses") or [{}])[0].get("timings", {})
            log(f"{name}: {t.get('predicted_per_second', 0):.1f} tok/s {rec.get('error', '')}")


def measure(
    args: argparse.Namespace, runs: tuple[LogRun, ...] = LOG_RUNS, verbose: bool = False, bench: bool = True
) -> None:
    from bench.gpu_bench import append, gpu_env, h200_file, log, logged_buffers, run_logged

    env = gpu_env()
    out = Path(args.out)
    logs = out / ("loadlogs_v" if verbose else "loadlogs")
    logs.mkdir(parents=True, exist_ok=True)
    binp = Path(args.bin)
    for run in runs:
        path = h200_file(run.model_id, run.preset, args)
        cmd = [str(binp / "llama-completion"), "-m", str(path), "-p", "Hello, how are you today?", "-n", "32"]
        cmd += ["-no-cnv", "--temp", "0", "-t", str(args.threads), "-b", "2048", "-ub", "512", *run.flags()]
        if verbose:  # -lv 4: the library's INFO lines (loader, buffers, KV, compute), hidden at the default 3
            cmd += ["-lv", "4"]
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
        append(out / ("gpu_logs_v_h200.jsonl" if verbose else "gpu_logs_h200.jsonl"), rec)
        log(
            f"log {run.name} rc={r.returncode} {wall:.0f}s nvml+{(nv['nvml_peak_minus_baseline_bytes'] or 0) / MIB:.0f}"
        )
    if not bench:
        return
    path = h200_file(*BENCH_FILE, args)
    for fmt in ("json", "md"):
        cmd = [str(binp / "llama-bench"), "-m", str(path), "-p", "512", "-n", "128", "-r", "3", "-o", fmt]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        (logs / f"llama-bench-llama31-8b-q4km.{fmt}").write_text(r.stdout)
        log(f"llama-bench -o {fmt} rc={r.returncode}")
    log("LOGS DONE")


def compare(paths: str) -> None:
    pred = {}
    for name in ("gpu_logs_predictions.jsonl", "gpu_logs_predictions_newarch.jsonl"):
        for line in (Path(__file__).resolve().parent / "data" / name).read_text().splitlines():
            d = json.loads(line)
            pred[d["name"]] = d
    print(f"{'run':38} {'measured MiB':>12} {'predicted':>10} {'error':>8}")
    lines = [x for path in paths.split(",") for x in Path(path).read_text().splitlines()]
    for line in lines:
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
    ap.add_argument("--predict-draft", action="store_true")
    ap.add_argument("--predict-newarch", action="store_true")
    ap.add_argument("--predict-vulkan", action="store_true")
    ap.add_argument("--vulkan-commands", action="store_true")
    ap.add_argument("--stages", default="server,logs")
    ap.add_argument("--compare", default="")
    ap.add_argument("--bin", default="")
    ap.add_argument("--work", default="/tmp/standins")
    ap.add_argument("--out", default="/tmp/bench-out")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--set", default="logs")
    args = ap.parse_args()
    if args.predict:
        predict()
    elif args.predict_vulkan:
        predict(VULKAN_RUNS, "vulkan")
    elif args.vulkan_commands:
        for run in VULKAN_RUNS:
            print(run.name, f"/tmp/standins/{run.model_id}-{run.preset}-L*.gguf", " ".join(run.flags()))
    elif args.predict_newarch:
        predict(NEW_ARCH_RUNS)
    elif args.predict_draft:
        predict_draft()
    elif args.compare:
        compare(args.compare)
    else:
        t = time.time()
        stages = {
            "server": measure_server,
            "logs": measure,
            "vlogs": lambda a: measure(a, LOG_RUNS, verbose=True, bench=False),
            "newarch": lambda a: measure(a, NEW_ARCH_RUNS, verbose=True, bench=False),
            "draftrows": measure_draft_rows,
        }
        for name in args.stages.split(","):
            stage = stages[name]
            try:
                stage(args)
            except Exception as exc:
                print(f"stage {name} failed: {exc!r}", flush=True)
        print(f"done in {time.time() - t:.0f}s\nALL DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
