"""Import service: add a model from a Hugging Face repo id or GGUF URL to the catalog.

The network read happens first, outside any transaction; the write is one
``transaction.atomic`` block, so a failed import leaves nothing half-written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction


class ImportRefused(ValueError):
    """The import cannot be done; the message says why, in words a user can act on."""


# A resolver or connection error ("[Errno -2] Name or service not known") says nothing a person can act on.
HUB_UNREACHABLE = (
    "The Hugging Face Hub is not reachable from this server, so the model cannot be read now. "
    "Check the server's internet access (DNS, a proxy: HTTPS_PROXY, or HF_ENDPOINT for a mirror) and try again; "
    "models already in the catalog work without it."
)


@dataclass(frozen=True)
class Imported:
    model_id: str
    created: bool
    already_in_catalog: bool = False
    approximate: str = ""  # one line when the architecture has no tensor inventory (plans are approximate)


def approximate_note(model: Any) -> str:
    """One line naming the architecture when a catalog model can only be planned approximately."""
    from advisor.core.approx_weights import APPROXIMATE_LABEL
    from advisor.core.tensors import UnsupportedArchitecture, tensor_inventory

    try:
        tensor_inventory(model.to_shape())
    except UnsupportedArchitecture as exc:
        return f"Architecture {exc.arch!r} has no tensor inventory, so its plans are {APPROXIMATE_LABEL}."
    return ""


HF_URL = re.compile(r"^https://huggingface\.co/(?P<repo>[\w.-]+/[\w.-]+)(?:/(?:resolve|blob)/[^/]+/(?P<file>\S+))?/?$")


def repo_from_source(source: str) -> tuple[str, str | None]:
    """(repo id, GGUF file name or None) from a repo id or a huggingface.co URL.

    >>> repo_from_source("https://huggingface.co/Qwen/Qwen3-8B-GGUF/resolve/main/Qwen3-8B-Q4_K_M.gguf")
    ('Qwen/Qwen3-8B-GGUF', 'Qwen3-8B-Q4_K_M.gguf')
    """
    source = source.strip()
    match = HF_URL.match(source)
    if match:
        return match["repo"], match["file"]
    if source.startswith(("http://", "https://")):
        raise ImportRefused("Only huggingface.co URLs can be imported (a repo page or a .gguf file on it).")
    return source, None


def _fetch(repo_id: str) -> Any:
    """The ``ImportedModel`` for ``repo_id`` (network access happens here)."""
    from advisor.catalog.hub_import import ImportFailed, import_from_hub

    try:
        return import_from_hub(repo_id)
    except ImportFailed as exc:
        if exc.kind == "network":
            raise ImportRefused(HUB_UNREACHABLE) from exc
        raise ImportRefused(str(exc)) from exc


def _gguf_files(model: Any) -> list[dict[str, Any]]:
    return [
        {"filename": f.filename, "shards": list(f.shards), "size": f.size, "quant": f.quant,
         "n_params": f.n_params, "tensor_bytes": f.tensor_bytes, "type_bytes": dict(f.type_bytes)}
        for f in getattr(model, "gguf_files", ())
    ]  # fmt: skip


def import_model(source: str, user: Any = None) -> Imported:
    """Fetch ``source`` and store it as ``CatalogEntry(origin="hub")``. Raises ``ImportRefused``."""
    from advisor.catalog.models_catalog import get_model, parse_record
    from advisor.models import CatalogEntry

    repo_id, filename = repo_from_source(source)
    model = _fetch(repo_id)
    gguf_files = _gguf_files(model)
    if filename and filename not in {name for f in gguf_files for name in f["shards"]}:
        raise ImportRefused(f"{repo_id} has no GGUF file {filename!r}.")
    record = model.to_catalog_record()
    model_id = record["id"]
    try:
        get_model(model_id)
    except KeyError:
        pass
    else:
        return Imported(model_id=model_id, created=False, already_in_catalog=True)
    try:
        parsed = parse_record(record, f"import of {source}")  # the same validation the data files get
    except ValueError as exc:
        raise ImportRefused(f"The model's description is incomplete: {exc}") from exc
    with transaction.atomic():
        _, created = CatalogEntry.objects.update_or_create(
            model_id=model_id,
            defaults={
                "hf_repo": record["hf_repo"], "origin": CatalogEntry.Origin.HUB, "record": record,
                "gguf_files": gguf_files,
                "imported_by": user if getattr(user, "is_authenticated", False) else None,
            },
        )  # fmt: skip
    return Imported(model_id=model_id, created=created, approximate=approximate_note(parsed))


def recent_imports(limit: int = 50) -> list[Any]:
    from advisor.models import CatalogEntry

    return list(
        CatalogEntry.objects.filter(origin=CatalogEntry.Origin.HUB)
        .select_related("imported_by")
        .order_by("-created_at")[:limit]
    )
