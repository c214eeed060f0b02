"""The memory engine against real llama.cpp load logs, per backend.

Usage: python bench/log_accuracy.py [FIXTURE_DIR]   (default tests/fixtures/loadlogs)

For every ``*.log`` (raw llama.cpp output under a '#' provenance header) it parses the load
(advisor.core.loadlog), rebuilds the request the load implies (advisor.core.loadlog_fit: the shape from the
GGUF metadata the loader printed, or from the catalog model a '# catalog: <id>' header line names),
predicts it with advisor.core.memory.estimate and compares llama.cpp's buffers with the prediction:
per device (each GPU, and the host) and per buffer kind (model, KV + recurrent state, compute + output).
Driver overhead is in no log and is left out on both sides.

Writes bench/data/log_accuracy.jsonl (one row per log) and bench/data/log_accuracy.txt (the table and,
per backend, the median and worst error of the total over the GPUs; CPU-only logs: of the host total).
Target (issue 19): a backend with at least 5 logs has median |error| <= 1 % and no log off by more than
max(5 %, 256 MiB).
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advisor.catalog.models_catalog import get_model  # noqa: E402
from advisor.core.loadlog import parse_paste  # noqa: E402
from advisor.core.loadlog_fit import BufferDiff, LogModelError, compare, request_from_log  # noqa: E402
from advisor.core.memory import estimate  # noqa: E402
from advisor.core.setup_check import command_flags, command_line  # noqa: E402
from advisor.core.units import MIB  # noqa: E402

MIN_LOGS = 5
MEDIAN_TARGET = 0.01
WORST_REL, WORST_ABS = 0.05, 256 * MIB


def _header(header: tuple[str, ...], key: str) -> str | None:
    """A '# key: value' provenance line (catalog: the catalog model; quant: the file's preset)."""
    for line in header:
        body = line.lstrip("#").strip()
        if body.startswith(key + ":"):
            return body.removeprefix(key + ":").strip()
    return None


def evaluate(path: Path) -> dict[str, object]:
    paste = parse_paste(path.read_text(errors="replace"))
    ld = paste.load
    row: dict[str, object] = {"log": path.name, "source": next((h for h in paste.header if "source" in h), "")}
    if ld is None:
        return {**row, "error": "; ".join(paste.notes)}
    cid = _header(paste.header, "catalog")
    try:
        shape = get_model(cid).to_shape() if cid else None
        req = request_from_log(ld, shape=shape, preset=_header(paste.header, "quant"))
    except LogModelError as exc:
        return {**row, "error": str(exc)}
    # flags that leave no trace in the log itself: the command line of the fixture header
    flags = command_flags(command_line(paste, ""))
    if flags.get("ncmoe"):
        req = replace(req, n_cpu_moe=int(flags["ncmoe"]))
    if flags.get("no_op_offload"):
        req = replace(req, op_offload=False)
    res = estimate(req)
    diffs = compare(ld, res)
    gpu = [d for d in diffs if d.device != "host" and d.kind == "total"]
    host = next(d for d in diffs if d.device == "host" and d.kind == "total")
    logged = sum(d.logged for d in gpu) if gpu else host.logged
    predicted = sum(d.predicted for d in gpu) if gpu else host.predicted
    return {
        **row,
        "backend": ld.backend,
        "model": ld.model_name,
        "file_type": ld.file_type,
        "n_ctx": ld.n_ctx,
        "flash_attn": ld.flash_attn,
        "type_k": ld.type_k,
        "n_gpu_layers": ld.n_gpu_layers,
        "n_layers_total": ld.n_layers_total,
        "measure": "gpu_total" if gpu else "host_total",
        "logged_mib": round(logged / MIB, 2),
        "predicted_mib": round(predicted / MIB, 2),
        "error_mib": round((predicted - logged) / MIB, 2),
        "error_rel": round((predicted - logged) / logged, 5) if logged else 0.0,
        "buffers": [_buffer_row(d) for d in diffs],
    }


def _buffer_row(d: BufferDiff) -> dict[str, object]:
    return {"device": d.device, "kind": d.kind, "logged_mib": round(d.logged / MIB, 2),
            "predicted_mib": round(d.predicted / MIB, 2)}  # fmt: skip


def _within(r: dict[str, object]) -> bool:
    err = abs(float(r["error_mib"])) * MIB  # type: ignore[arg-type]
    return err <= max(WORST_REL * float(r["logged_mib"]) * MIB, WORST_ABS)  # type: ignore[arg-type]


def report(rows: list[dict[str, object]]) -> str:
    out = [
        "Memory engine against llama.cpp load logs (python bench/log_accuracy.py)",
        "error = predicted - logged, over llama.cpp's buffers (model + KV/RS + compute/output); overhead excluded",
        "",
        f"{'log':58s} {'backend':7s} {'ngl':>7s} {'logged MiB':>11s} {'pred MiB':>10s} {'error':>8s}",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"{r['log']:58s} not evaluated: {r['error']}")
            continue
        ngl = f"{r['n_gpu_layers']}/{r['n_layers_total']}" if r["n_gpu_layers"] is not None else "-"
        out.append(
            f"{r['log']:58s} {r['backend']:7s} {ngl:>7s} {r['logged_mib']:11.2f} {r['predicted_mib']:10.2f} "
            f"{100 * float(r['error_rel']):+7.2f}%"  # type: ignore[arg-type]
        )
    out += ["", "per backend (GPU total; CPU-only logs: host total)"]
    done = [r for r in rows if "error" not in r]
    for backend in sorted({str(r["backend"]) for r in done}):
        rs = [r for r in done if r["backend"] == backend]
        errs = [abs(float(r["error_rel"])) for r in rs]  # type: ignore[arg-type]
        worst = max(rs, key=lambda r: abs(float(r["error_rel"])))  # type: ignore[arg-type]
        ok = len(rs) >= MIN_LOGS and statistics.median(errs) <= MEDIAN_TARGET and all(_within(r) for r in rs)
        verdict = "meets the target" if ok else ("too few logs" if len(rs) < MIN_LOGS else "misses the target")
        out.append(
            f"  {backend:7s} {len(rs):2d} logs  median |error| {100 * statistics.median(errs):.2f}%  "
            f"worst {100 * float(worst['error_rel']):+.2f}% ({worst['error_mib']:+.1f} MiB, {worst['log']})  "  # type: ignore[arg-type]
            f"-> {verdict}"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "loadlogs"
    rows = [evaluate(p) for p in sorted(folder.glob("*.log"))]
    data = ROOT / "bench" / "data"
    (data / "log_accuracy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = report(rows)
    (data / "log_accuracy.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
