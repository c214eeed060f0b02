"""What the first requests would otherwise pay on first sight of each catalog model, done when a server
process starts (issue 18): the machine-independent tables every plan and ranking reads, per model.

``prepare_process()`` runs once per gunicorn worker from ``advisor.wsgi``: ``warm_catalog()`` (a few seconds for
the whole catalog) and the cyclic collector's settings;
per (model, preset) tables stay lazy: there are ~10,000 of them, each ~1 ms.
"""

from __future__ import annotations

import gc
import logging

from django.db import DatabaseError

from advisor.catalog.models_catalog import load_models
from advisor.core import gguf_size, memory, quantize
from advisor.core.ggml_types import GGMLType
from advisor.core.tensors import tensor_inventory

log = logging.getLogger(__name__)

# The cyclic collector's thresholds for a server process (CPython's default is (700, 10, 10)). A request
# allocates a few hundred thousand objects and the process keeps large per-model memos, so with the defaults
# a full collection walked every memo several times a minute: 0.5-0.7 s each, the in-process p99 (and ~25 ms
# of collector time per request on average). Measured on bench/recommendations_latency.py's 100 API machines:
# p99 CPU 500 -> ~200 ms, collector time 2.6 -> 0.5 s, with these and gc.freeze() after the warm-up.
GC_THRESHOLDS = (100_000, 20, 100)


def prepare_process() -> None:
    """What a server process does before its first request: ``warm_catalog()``, then the collector leaves the
    startup objects alone (``gc.freeze``) and runs less often (``GC_THRESHOLDS``)."""
    warm_catalog()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def warm_catalog() -> int:
    """Tensor inventory, llama-quantize's per-tensor rows, the placement rows and the stand-in header of every
    catalog model, and the recommender's candidates. Returns how many models were warmed."""
    from advisor.pages.catalog import model_options

    n = 0
    for m in load_models():
        shape = m.to_shape()
        try:
            tensor_inventory(shape)
            quantize.tensor_rows(shape, GGMLType.F16)
            memory.split_rows(shape)
            gguf_size.standin_header_bytes(shape)
        except (KeyError, ValueError):  # an architecture the engines cannot plan: its requests say so
            continue
        n += 1
    try:
        model_options()
    except DatabaseError:  # not migrated yet: the first request loads them
        log.warning("warm_catalog: no database, recommender candidates not loaded")
    return n
