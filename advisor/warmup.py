"""What the first requests would otherwise pay on first sight of each catalog model, done when a server
process starts (issue 18): the machine-independent tables every plan and ranking reads, per model.

``warm_catalog()`` runs once per gunicorn worker from ``advisor.wsgi`` (a few seconds for the whole catalog);
per (model, preset) tables stay lazy: there are ~10,000 of them, each ~1 ms.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

from advisor.catalog.models_catalog import load_models
from advisor.core import gguf_size, memory, quantize
from advisor.core.ggml_types import GGMLType
from advisor.core.tensors import tensor_inventory

log = logging.getLogger(__name__)


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
