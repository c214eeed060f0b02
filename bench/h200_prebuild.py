"""Build the H200 lease's quantized stand-ins here, before the lease, and pack them as sparse files.

On the H100 leases bench/gpu_bench.py quantized every stand-in on the GPU machine (about 12 of the 30
device minutes for a set like this one). A zero-weight stand-in quantizes to zero blocks, so the
quantized file is a GGUF header followed by zeros; written sparse it takes a few MB of disk, and GNU
tar carries it as a sparse member. Files are named as gpu_bench.build_file names them, so gpu_bench
finds them and skips quantizing.

Two ways to make a file (both from the F16 stand-in of ``advisor.core.standin.write_standin``):

* ``--how quantize``: llama.cpp's own ``llama_model_quantize`` (``quantize_standin``; the llama.cpp
  vendored in llama-cpp-python 0.3.36, the source the GPU machine builds llama-bench from; a flat
  importance matrix where the preset needs one), then ``fallocate --dig-holes``. About 3.5 minutes per
  8B file on this 2-vCPU machine: hours for the whole set.
* ``--how dryrun`` (default): ``llama_model_quantize`` with ``dry_run`` set, which runs llama.cpp's type
  choice (``llama_tensor_get_type``, the same call as a real quantization) and logs each tensor's
  target type without reading or writing data; then ``write_standin(shape, tensor_types=...)`` with
  exactly those types (same tensor order and alignment as llama-quantize's output) and the preset's
  ``general.file_type`` patched into the header. Zero data either way. ``--check`` quantizes the named
  model ids for real as well and compares the two tensor lists (name, type, bytes, elements).

    .venv/bin/python bench/h200_prebuild.py --work /tmp/h200-standins --pack .gpu/standins-h200.tar.xz \
        --tensors bench/data/tensors_h200.jsonl --check llama-3.2-1b-instruct

Writes the tensor list of every file (gguf-py's reader; it cannot read MXFP4) to ``--tensors``, and
each file's size, the way it was made and the bytes on disk to ``<pack>.manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent))

from bench.gpu_bench import H200_BATCHED, H200_FIT, H200_NCMOE, PLANS_H200, shape_for

HOW = {
    "quantize": "advisor.core.standin.write_standin (F16) + quantize_standin (llama_model_quantize, "
    "llama-cpp-python 0.3.36 built with -DGGML_NATIVE=OFF) + fallocate --dig-holes",
    "dryrun": "advisor.core.standin.write_standin with the per-tensor types of llama_model_quantize(dry_run=True) "
    "(llama-cpp-python 0.3.36) on the F16 stand-in, general.file_type set to the preset",
}
HEADER_SKIP = 64 * 1024 * 1024  # never punch the first 64 MiB while quantizing: the header goes there last
BEHIND = 1024**3  # and stay 1 GiB behind the write position


def files_needed(which: str = "h200") -> list[tuple[str, str]]:
    if which == "logs":  # bench/gpu_logs.py's load logs
        from bench.gpu_logs import files_needed as log_files

        return log_files()
    out: list[tuple[str, str]] = []
    for plan in PLANS_H200:
        out += [(plan.model_id, p) for p in plan.presets]
    out += [(m, p) for m, p, _ in H200_NCMOE] + list(H200_FIT) + list(H200_BATCHED)
    seen: set[tuple[str, str]] = set()
    return [x for x in out if not (x in seen or seen.add(x))]


def dig(path: Path, start: int = 0, length: int | None = None) -> None:
    cmd = ["fallocate", "--dig-holes", "-o", str(start)]
    if length is not None:
        cmd += ["-l", str(length)]
    subprocess.run([*cmd, str(path)], check=True)


def disk_bytes(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def quantize_sparse(f16: Path, out: Path, preset: str, imatrix: bool, threads: int) -> float:
    """llama_model_quantize into ``out``, punching the zero ranges well behind the writer as it goes
    (a 61 GiB gpt-oss-120b file would not fit the disk dense)."""
    from advisor.core.standin import quantize_standin

    stop = threading.Event()

    def digger() -> None:
        while not stop.wait(5.0):
            try:
                size = out.stat().st_size
            except FileNotFoundError:
                continue
            if size > HEADER_SKIP + BEHIND:
                dig(out, HEADER_SKIP, size - BEHIND - HEADER_SKIP)

    th = threading.Thread(target=digger, daemon=True)
    th.start()
    t = time.time()
    try:
        quantize_standin(f16, out, preset, imatrix=imatrix, nthread=threads)
    finally:
        stop.set()
        th.join()
    wall = time.time() - t
    os.sync()
    dig(out)
    return wall


# "[  12/ 291] blk.0.attn_k.weight  - [ 4096,  1024,  1,  1], type =    f16, size =  8.00 MiB ->  2.25 MiB (q4_K)"
# (dry run, src/llama-quant.cpp); tensors kept as they are end "size = X MiB" with no target.
_DRY_LINE = re.compile(r"^\[\s*\d+/\s*\d+\]\s+(\S+)\s+- \[[^\]]*\], type =\s*(\w+), size =.*?(?:\((\w+)\))?\s*$")
_DRY_CHILD = """
import sys
from advisor.core.standin import quantize_standin
quantize_standin(sys.argv[1], "/dev/null", sys.argv[2], imatrix=sys.argv[3] == "1", dry_run=True)
"""


def dry_run_types(f16: Path, preset: str, imatrix: bool) -> dict[str, str]:
    """llama.cpp's target type of every tensor (ggml type names), from a dry-run quantization."""
    r = subprocess.run(
        [sys.executable, "-c", _DRY_CHILD, str(f16), preset, "1" if imatrix else "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    types: dict[str, str] = {}
    for ln in (r.stderr + r.stdout).splitlines():
        m = _DRY_LINE.match(ln.strip())
        if m:
            types[m[1]] = m[3] or m[2]
    if r.returncode != 0 or not types:
        raise RuntimeError(f"dry run failed ({r.returncode}): {r.stderr[-2000:]}")
    return types


def patch_file_type(path: Path, ftype: int) -> None:
    """Set general.file_type (a u32 written by write_standin) in place: same size, same offsets."""
    key = b"general.file_type"
    with open(path, "r+b") as f:
        head = f.read(1 << 20)
        i = head.index(key) + len(key)
        assert int.from_bytes(head[i : i + 4], "little") == 4, "general.file_type is not a u32"
        f.seek(i + 4)
        f.write(int(ftype).to_bytes(4, "little"))


def build_dryrun(shape: object, f16: Path, out: Path, preset: str, imatrix: bool) -> float:
    from advisor.core.ggml_types import GGMLType
    from advisor.core.quantize import ftype_by_name
    from advisor.core.standin import write_standin

    t = time.time()
    types = dry_run_types(f16, preset, imatrix)
    write_standin(shape, str(out), tensor_types={n: GGMLType[ty.upper()] for n, ty in types.items()})  # type: ignore[arg-type]
    patch_file_type(out, int(ftype_by_name(preset)))
    return time.time() - t


def tensor_list(path: Path) -> list[list[object]]:
    from gguf import GGUFReader

    return [[t.name, t.tensor_type.name, int(t.n_bytes), int(t.n_elements)] for t in GGUFReader(str(path)).tensors]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--pack", required=True, help="sparse tar.xz to write (carried to the GPU machine)")
    ap.add_argument("--tensors", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated model ids")
    ap.add_argument("--how", choices=("dryrun", "quantize"), default="dryrun")
    ap.add_argument("--list", choices=("h200", "logs"), default="h200", help="which lease's files")
    ap.add_argument("--check", default="", help="model ids to quantize for real too and compare (dryrun)")
    args = ap.parse_args()

    from advisor.core.quantize import needs_imatrix
    from advisor.core.standin import write_standin

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    only = {x for x in args.only.split(",") if x}
    manifest_path = Path(args.pack + ".manifest.json")
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for model_id, preset in files_needed(args.list):
        if only and model_id not in only:
            continue
        shape = shape_for(model_id)
        out = work / f"{model_id}-{preset}-L{shape.n_layers}.gguf"  # gpu_bench.build_file's name
        if out.name in manifest and out.exists():
            continue
        f16 = work / f"{model_id}-L{shape.n_layers}-F16.gguf"
        if not f16.exists():
            write_standin(shape, str(f16))
        imatrix = needs_imatrix(shape, preset)
        if args.how == "quantize":
            wall = quantize_sparse(f16, out, preset, imatrix, args.threads)
        else:
            wall = build_dryrun(shape, f16, out, preset, imatrix)
        rec = {
            "model_id": model_id,
            "preset": preset,
            "file": out.name,
            "file_bytes": out.stat().st_size,
            "disk_bytes": disk_bytes(out),
            "quantize_s": round(wall, 1),
            "imatrix": imatrix,
            "how": HOW[args.how],
        }
        if model_id in {x for x in args.check.split(",") if x} and args.how == "dryrun":
            real = work / f"check-{out.name}"
            quantize_sparse(f16, real, preset, imatrix, args.threads)
            try:
                same: object = tensor_list(real) == tensor_list(out)
            except Exception as exc:
                same = repr(exc)[:300]
            rec["check_vs_llama_model_quantize"] = same
            print(f"check {out.name}: tensor list same as llama_model_quantize's: {same}", flush=True)
            real.unlink()
        try:
            tensors = tensor_list(out)
            with open(args.tensors, "a") as f:
                f.write(
                    json.dumps({"model_id": model_id, "preset": preset, "file": out.name, "tensors": tensors}) + "\n"
                )
        except Exception as exc:  # gguf-py 0.17 cannot read MXFP4
            rec["tensor_summary_error"] = repr(exc)[:300]
        manifest[out.name] = rec
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
        print(
            f"{out.name}: {rec['file_bytes'] / 1024**3:.2f} GiB, {rec['disk_bytes'] / 1024**2:.1f} MiB on disk, "
            f"quantized in {wall:.0f}s",
            flush=True,
        )
        # the F16 stand-in is sparse (no disk), but drop it once the model's presets are done
        if not any(
            m == model_id for m, _ in files_needed(args.list)[files_needed(args.list).index((model_id, preset)) + 1 :]
        ):
            f16.unlink()
    names = sorted(manifest)
    subprocess.run(
        ["tar", "--sparse", "-cJf", args.pack, "-C", str(work), *[n for n in names if (work / n).exists()]],
        check=True,
        env={**os.environ, "XZ_OPT": "-6 -T2"},
    )
    print(f"packed {len(names)} files into {args.pack}: {os.path.getsize(args.pack) / 1024**2:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
