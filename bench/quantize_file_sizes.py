"""File sizes llama_model_quantize writes, against ``advisor.core.gguf_size.gguf_file_bytes``.

For each (shape, preset): write the zero-weight F16 stand-in (``advisor.core.standin.write_standin``),
quantize it with llama.cpp's own ``llama_model_quantize`` (llama-cpp-python 0.3.36; a flat importance
matrix for presets that need one), and record the output's size, its data offset (the padded header)
and the prediction. CPU only; catalog models are layer-trimmed (``standin.trim_shape``) to keep the
files small, which changes nothing in how the header and the padding are laid out.

    .venv/bin/python bench/quantize_file_sizes.py --out bench/data/quantize_file_sizes.jsonl [--resume]

The test ``tests/core/test_core_gguf_size.py`` asserts every record's prediction equals its file size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (label, catalog model id or a tests/core_shapes name, layers to keep (0: all), presets ("*": all))
PLAN: list[tuple[str, str, int, str]] = [
    ("SMOLLM2_135M", "shape", 0, "*"),
    ("GEMMA3_270M", "shape", 0, "Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,IQ4_XS,Q3_K_M,Q2_K,IQ2_XXS,F16"),
    ("llama-3.1-8b-instruct", "catalog", 2, "Q4_K_M,Q8_0,IQ4_XS"),
    ("qwen3-30b-a3b", "catalog", 2, "Q4_K_M,Q6_K"),
    ("gpt-oss-20b", "catalog", 2, "MXFP4_MOE,Q8_0"),
    ("deepseek-v2-lite-chat", "catalog", 2, "Q4_K_M"),
    ("gemma-3-4b-it", "catalog", 2, "Q4_K_M"),
]


def shape_of(label: str, kind: str, layers: int):  # type: ignore[no-untyped-def]
    from advisor.core.standin import trim_shape

    if kind == "shape":
        import tests.core_shapes as shapes

        shape = getattr(shapes, label)
    else:
        from advisor.catalog.models_catalog import get_model

        shape = get_model(label).to_shape()
    return trim_shape(shape, layers) if layers else shape


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="keep the records in --out and add the missing ones")
    args = ap.parse_args()

    from gguf import GGUFReader

    from advisor.core.gguf_size import gguf_file_bytes
    from advisor.core.quantize import needs_imatrix, tensor_types
    from advisor.core.standin import quantize_standin, write_standin
    from advisor.fit.engine import GGUF_PRESETS

    out = Path(args.out)
    done = set()
    if args.resume and out.exists():
        done = {(r["model"], r["preset"]) for r in map(json.loads, out.read_text().splitlines())}
    else:
        out.write_text("")
    with tempfile.TemporaryDirectory() as tmp:
        for label, kind, layers, presets in PLAN:
            wanted = [p for p in (GGUF_PRESETS if presets == "*" else presets.split(",")) if (label, p) not in done]
            if not wanted:
                continue
            shape = shape_of(label, kind, layers)
            f16 = write_standin(shape, Path(tmp) / "f16.gguf")
            for preset in wanted:
                imatrix = needs_imatrix(shape, preset)
                dst = Path(tmp) / f"{preset}.gguf"
                t = time.time()
                quantize_standin(f16, dst, preset, imatrix=imatrix, nthread=args.threads)
                size = dst.stat().st_size
                predicted = gguf_file_bytes(shape, tensor_types(shape, preset, has_imatrix=imatrix))
                rec = {
                    "model": label,
                    "n_layers": shape.n_layers,
                    "preset": preset,
                    "imatrix": imatrix,
                    "file_bytes": size,
                    "data_offset": int(GGUFReader(str(dst)).data_offset),
                    "predicted_file_bytes": predicted,
                    "quantize_s": round(time.time() - t, 1),
                    "command": f"quantize_standin(write_standin(shape), out, {preset!r}, imatrix={imatrix})",
                    "llama_cpp": "llama-cpp-python 0.3.36 vendored llama.cpp, llama_model_quantize",
                }
                with out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(f"{label} L{shape.n_layers} {preset}: {size} bytes, predicted {predicted - size:+d}", flush=True)
                dst.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
