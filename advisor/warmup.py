"""What the first requests would otherwise pay on first sight of each catalog model, done when a server
process starts (issue 18): the machine-independent tables every plan and ranking reads, per model.

``prepare_process()`` runs once per gunicorn worker from ``advisor.wsgi``: ``warm_catalog()`` (a few seconds for
the whole catalog) and the cyclic collector's settings. Of the per (model, preset) tables (~10,000, each
~2.5 ms) only the most picked presets' are worked out (``WARM_PRESETS``); the rest stay lazy.
"""

from __future__ import annotations

import gc
import logging

from django.db import DatabaseError

from advisor.catalog.models_catalog import load_models
from advisor.core import gguf_size, memory, quantize, speed
from advisor.core.ggml_types import GGMLType
from advisor.core.tensors import tensor_inventory
from advisor.fit import engine as fit_engine

log = logging.getLogger(__name__)

# The cyclic collector's thresholds for a server process (CPython's default is (700, 10, 10)). A request
# allocates a few hundred thousand objects and the process keeps large per-model memos, so with the defaults
# a full collection walked every memo several times a minute: 0.5-0.7 s each, the in-process p99 (and ~25 ms
# of collector time per request on average). Measured on bench/recommendations_latency.py's 100 API machines:
# p99 CPU 500 -> ~200 ms, collector time 2.6 -> 0.5 s, with these and gc.freeze() after the warm-up.
GC_THRESHOLDS = (100_000, 20, 100)

# The presets whose per-model tables (weight chunks, tensor types, weight bytes per layer, file bytes) are worked out
# at start: the ones the recommender picks most on bench/recommendations_latency.py's first 280 API machines (534
# first sights of a (model, preset): Q8_0 84, Q6_K 62, Q5_K_M 57, Q4_K_M 52, IQ4_XS 39, ...). warm_catalog() takes
# 11.0 s CPU and 625 MB max RSS with the first four, 13.6 s and 696 MB with all eight on a 2-vCPU machine about half
# as fast as the one that measured 8.1 s (bench/data/warmup_cost.txt); the caches reach that size in service anyway
# (speed.weights_for keeps 2,048 pairs; these are 2,040). The next four took API p50 59 -> 50-53 ms, p99 147 ->
# 103-113 (bench/data/recommendations_latency*.txt).
WARM_PRESETS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q4_K_S", "Q3_K_M", "IQ3_M")


def prepare_process() -> None:
    """What a server process does before its first request: ``warm_catalog()``, then the collector leaves the
    startup objects alone (``gc.freeze``) and runs less often (``GC_THRESHOLDS``)."""
    warm_catalog()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def warm_catalog() -> int:
    """Tensor inventory, llama-quantize's per-tensor rows, the placement, matmul and chunk rows, the stand-in
    header and the ``WARM_PRESETS``' weight chunks (with their per-layer sums), tensor types, weight bytes per
    layer and file bytes of every catalog model (each called as a plan calls it: an lru_cache keys positional
    and keyword arguments apart), and the recommender's candidates. Returns how many models were warmed."""
    from advisor.pages.catalog import model_options

    n = 0
    for m in load_models():
        shape = m.to_shape()
        try:
            tensor_inventory(shape)
            quantize.tensor_rows(shape, GGMLType.F16)
            memory.split_rows(shape)
            memory.matmul_weights(shape)
            speed.inventory_places(shape)
            gguf_size.standin_header_bytes(shape)
            for preset in WARM_PRESETS:
                speed.warm_layer_sums(shape, speed.weights_for(shape, preset))
                memory.warm_preset(shape, preset)
                fit_engine.preset_file_bytes(shape, preset, False)
        except (KeyError, ValueError):  # an architecture the engines cannot plan: its requests say so
            continue
        n += 1
    try:
        model_options()
    except DatabaseError:  # not migrated yet: the first request loads them
        log.warning("warm_catalog: no database, recommender candidates not loaded")
    return n
