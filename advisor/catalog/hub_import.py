"""Import a model from the Hugging Face Hub: its shape from ``config.json`` or GGUF headers.

``import_from_hub(repo_id)`` uses huggingface_hub's own API (``HfApi.model_info`` with file
metadata, ``hf_hub_download`` for ``config.json``) and, for GGUF repositories, reads each
``.gguf`` file's header with HTTP Range requests (``advisor.catalog.remote_gguf``) to get every
quantization's exact tensor types and file size without downloading the weights.

It returns a plain dataclass and writes nothing: the caller stores it (in one transaction).
``ImportedModel.to_catalog_record()`` gives the catalog's JSON record, which
``advisor.catalog.models_catalog.parse_record`` accepts. Every failure is an ``ImportFailed``
whose message names the repository and what is wrong, and whose ``kind`` tells the cases apart.
No Django here.

The endpoint is huggingface_hub's ``constants.ENDPOINT`` (``HF_ENDPOINT``), read at call time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from advisor.catalog.models_catalog import EXTRA_KEYS, arch_record_fields
from advisor.catalog.remote_gguf import HubUnavailable, hub_file_url, read_remote_split_header
from advisor.core.gguf_header import GGUFHeader, InvalidGGUF, shape_from_gguf
from advisor.core.hf_config import (
    InvalidConfig,
    UnsupportedModel,
    architectures_of,
    model_type_of,
    parse_hf_config_text,
    shape_from_hf_config,
)
from advisor.core.params import count_params
from advisor.core.shape import HF_MODEL_TYPE_TO_ARCH, ModelShape

_SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
# llama.cpp arch -> the Hugging Face model_type a catalog record uses (first one wins in the table).
_ARCH_TO_MODEL_TYPE: dict[str, str] = {}
for _mt, _arch in HF_MODEL_TYPE_TO_ARCH.items():
    _ARCH_TO_MODEL_TYPE.setdefault(_arch, _mt)

# Recurrent-layer names the catalog records use in ``layer_types`` (models_catalog.RECURRENT_LAYER_TYPES).
_LAYER_TYPE_NAMES: dict[str, tuple[str, str]] = {
    "qwen3next": ("linear_attention", "full_attention"),
    "qwen35": ("linear_attention", "full_attention"),
    "qwen35moe": ("linear_attention", "full_attention"),
    "granitehybrid": ("mamba", "attention"),
    "lfm2": ("conv", "full_attention"),
    "lfm2moe": ("conv", "full_attention"),
}
# Nemotron-H layers are Mamba-2, attention or FFN only (models_catalog.FFN_LAYER_TYPES).
_NEMOTRON_ARCHS = frozenset({"nemotron_h", "nemotron_h_moe"})


def _layer_types(s: ModelShape) -> list[str] | None:
    """The catalog's ``layer_types`` for a hybrid shape, None for a model of one kind of layer."""
    if s.arch in _NEMOTRON_ARCHS and s.n_ff_per_layer:
        ffn = "moe" if s.n_experts else "mlp"
        return [
            "mamba" if s.is_recurrent_layer(i) else "attention" if s.kv_heads_at(i) else ffn for i in range(s.n_layers)
        ]
    names = _LAYER_TYPE_NAMES.get(s.arch)
    if not names:
        return None
    if s.arch in ("lfm2", "lfm2moe") and s.n_kv_heads_per_layer:
        return [names[1] if k else names[0] for k in s.n_kv_heads_per_layer]
    if s.recurrent_layers:
        return [names[0] if r else names[1] for r in s.recurrent_layers]
    return None


class ImportFailed(Exception):
    """An import that cannot go on; ``kind`` is one of ``KINDS``, the message says why."""

    KINDS = frozenset(
        {
            "not_found",
            "revision_not_found",
            "no_file",
            "gated",
            "no_config",
            "bad_config",
            "unsupported",
            "invalid_gguf",
            "network",
            "http",
        }
    )

    def __init__(self, kind: str, message: str) -> None:
        assert kind in self.KINDS, kind
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class GGUFFileInfo:
    """One quantization in a GGUF repository (all shards of a split model together)."""

    filename: str  # the first shard's name
    shards: tuple[str, ...]
    size: int  # bytes of all shards, as the Hub lists them
    quant: str  # general.file_type as llama.cpp names it ("Q4_K_M"), '' when absent
    n_tensors: int
    n_params: int  # elements of all tensors
    tensor_bytes: int
    type_counts: Mapping[str, int]  # ggml type -> tensors
    type_bytes: Mapping[str, int]  # ggml type -> bytes


@dataclass(frozen=True)
class ImportedModel:
    repo_id: str
    revision: str
    sha: str
    endpoint: str
    shape: ModelShape
    model_type: str
    architecture: str  # HF class ("Qwen3ForCausalLM"), or the GGUF's general.architecture
    shape_source: str  # "config.json" or the GGUF file the shape was read from
    params_total: int
    params_active: int
    license: str
    released: str  # YYYY-MM-DD
    gated: bool
    base_model: str | None
    gguf_files: tuple[GGUFFileInfo, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_catalog_record(self, *, use_cases: Sequence[str] = ("chat",), notes: str = "") -> dict[str, Any]:
        """The catalog's JSON record (field names of ``models_catalog.CatalogModel``)."""
        s = self.shape
        web = self.endpoint.rstrip("/")
        source_file = "config.json" if self.shape_source == "config.json" else self.shape_source
        layer_types = _layer_types(s)
        record: dict[str, Any] = {
            "id": catalog_id(self.repo_id),
            "hf_repo": self.base_model or self.repo_id,
            "family": self.model_type.replace("_", "-"),
            "architecture": self.architecture,
            "model_type": self.model_type,
            "params_total": self.params_total,
            "params_active": self.params_active,
            "n_layers": s.n_layers,
            "hidden_size": s.hidden_size,
            "n_heads": s.n_heads,
            "n_kv_heads": s.n_kv_heads,
            "head_dim": s.head_dim,
            "ffn_size": s.ffn_size,
            "vocab_size": s.vocab_size,
            "context_max": s.context_max,
            "tied_embeddings": s.tied_embeddings,
            "sliding_window": s.sliding_window,
            "swa_pattern": swa_period(s.swa_layers),
            "n_experts": s.n_experts,
            "n_experts_used": s.n_experts_used,
            "expert_ffn_size": s.expert_ffn_size,
            "shared_experts": s.shared_experts,
            "shared_expert_ffn_size": s.shared_expert_ffn_size,
            "first_dense_layers": s.first_dense_layers,
            "kv_lora_rank": s.kv_lora_rank,
            "q_lora_rank": s.q_lora_rank,
            "qk_rope_head_dim": s.qk_rope_head_dim,
            "qk_nope_head_dim": s.qk_nope_head_dim,
            "v_head_dim": s.v_head_dim_mla,
            "layer_types": layer_types,
            "ssm_d_state": s.ssm_d_state,
            "ssm_d_conv": s.ssm_d_conv,
            "ssm_d_inner": s.ssm_d_inner,
            "ssm_n_group": s.ssm_n_group,
            "ssm_n_heads": s.ssm_dt_rank,
            "license": self.license,
            "released": self.released,
            "gguf_repos": [self.repo_id] if self.gguf_files else [],
            "quality": None,
            "use_cases": list(use_cases),
            "sources": [f"{web}/{self.repo_id}/blob/{self.sha}/{source_file}", f"{web}/{self.repo_id}"],
        }
        if notes:
            record["notes"] = notes
        extras = {k: v for k, v in s.extras if k in EXTRA_KEYS and isinstance(v, EXTRA_KEYS[k])}
        if extras:
            record["extras"] = extras  # what the catalog fields cannot say (q/k norms, biases, MoE step)
        record.update(arch_record_fields(s))  # Gemma 4's two head sizes, Laguna's per-layer heads
        return record


def catalog_id(repo_id: str) -> str:
    """``Qwen/Qwen3-8B`` -> ``qwen3-8b`` (the catalog's lowercase slug)."""
    name = repo_id.rsplit("/", 1)[-1].lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", name).strip("-._")
    return slug or "model"


def swa_period(flags: tuple[bool, ...]) -> int | None:
    """The period ``p`` with ``flags[i] == (i % p < p - 1)`` (llama.cpp's pattern), or None."""
    if not flags or not any(flags):
        return None
    for p in range(2, len(flags) + 2):
        if all(f == (i % p < p - 1) for i, f in enumerate(flags)):
            return p
    return None


def _gguf_groups(filenames: list[str]) -> list[list[str]]:
    """GGUF files grouped into models: split shards together, in shard order; projectors left out."""
    groups: dict[str, list[str]] = {}
    for name in sorted(filenames):
        if not name.endswith(".gguf") or "mmproj" in name.rsplit("/", 1)[-1].lower():
            continue
        m = _SPLIT_RE.match(name)
        key = f"{m['prefix']}-of-{m['count']}" if m else name
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def _card_value(card: Any, key: str) -> Any:
    if card is None:
        return None
    if isinstance(card, Mapping):
        return card.get(key)
    getter = getattr(card, "get", None)
    return getter(key) if callable(getter) else getattr(card, key, None)


def _license(info: Any) -> str:
    value = _card_value(getattr(info, "card_data", None), "license")
    if isinstance(value, str) and value:
        return value
    for tag in getattr(info, "tags", None) or []:
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return "unknown"


def _base_model(info: Any) -> str | None:
    value = _card_value(getattr(info, "card_data", None), "base_model")
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return value if isinstance(value, str) and value else None


def _hub_error(exc: Exception, repo_id: str, revision: str, endpoint: str, what: str) -> ImportFailed:
    """Map a huggingface_hub / network error to an ImportFailed with a message a person can act on."""
    if isinstance(exc, GatedRepoError):
        return ImportFailed(
            "gated",
            f"{repo_id} is gated: accept its conditions on the Hub, then import with a "
            f"token that has access ({what} refused)",
        )
    if isinstance(exc, RevisionNotFoundError):
        return ImportFailed("revision_not_found", f"{repo_id} has no revision {revision!r}")
    if isinstance(exc, RepositoryNotFoundError):
        return ImportFailed(
            "not_found",
            f"{repo_id} was not found on {endpoint} (or it is private: import with a token that can read it)",
        )
    if isinstance(exc, EntryNotFoundError):
        return ImportFailed("no_config", f"{repo_id} has no {what}")
    if isinstance(exc, HubUnavailable | httpx2.TransportError | OfflineModeIsEnabled | LocalEntryNotFoundError):
        return ImportFailed(
            "network", f"cannot reach the Hub at {endpoint} to read {repo_id} ({what}): {_first_line(exc)}"
        )
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        return ImportFailed("http", f"the Hub answered {status} for {repo_id} ({what}): {_first_line(exc)}")
    raise exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return next((line for line in text.splitlines() if line.strip()), text)


def import_from_hub(
    repo_id: str,
    revision: str = "main",
    *,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    gguf_files: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> ImportedModel:
    """Read a Hub repository's architecture (and its GGUF quantizations) into an ``ImportedModel``.

    Raises ``ImportFailed`` for: repository not found or private, revision not found, gated,
    no config.json and no GGUF, malformed config, unsupported architecture, unreadable GGUF
    header, network down, other HTTP refusals.

    ``gguf_files`` limits the GGUF headers read to these files (names as in the repository; a
    split model is named by any of its shards); by default every ``.gguf`` file is read.
    """
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise ImportFailed("not_found", f"{repo_id!r} is not a repository id of the form 'owner/name'")
    api = HfApi(endpoint=endpoint, token=token)
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=timeout)
    except Exception as exc:  # mapped below; anything unexpected is re-raised by _hub_error
        raise _hub_error(exc, repo_id, revision, endpoint, "model info") from exc
    sha = info.sha or revision
    sizes = {s.rfilename: s.size or 0 for s in (info.siblings or [])}
    gated = bool(info.gated)

    config: dict[str, Any] = {}
    shape: ModelShape | None = None
    shape_source = ""
    if "config.json" in sizes:
        try:
            path = hf_hub_download(
                repo_id, "config.json", revision=sha, endpoint=endpoint, token=token, cache_dir=cache_dir
            )
        except Exception as exc:
            raise _hub_error(exc, repo_id, revision, endpoint, "config.json") from exc
        where = f"{repo_id}/config.json"
        try:
            config = parse_hf_config_text(Path(path).read_bytes(), where)
            shape = shape_from_hf_config(config, where)
        except InvalidConfig as exc:
            raise ImportFailed("bad_config", str(exc)) from exc
        except UnsupportedModel as exc:
            raise ImportFailed("unsupported", str(exc)) from exc
        model_type = model_type_of(config)
        if model_type not in HF_MODEL_TYPE_TO_ARCH:  # read generically, but llama.cpp cannot convert it
            raise ImportFailed(
                "unsupported",
                f"{where}: model_type {model_type!r} (no llama.cpp architecture is known) is not supported",
            )
        shape_source = "config.json"

    groups = _gguf_groups(list(sizes))
    if gguf_files is not None:
        wanted = set(gguf_files)
        missing = wanted - {n for g in groups for n in g}
        if missing:
            raise ImportFailed("no_file", f"{repo_id} has no GGUF file {', '.join(sorted(missing))}")
        groups = [g for g in groups if wanted & set(g)]
    if shape is None and not groups:
        raise ImportFailed(
            "no_config", f"{repo_id} has no config.json and no .gguf file, so nothing describes its architecture"
        )

    infos: list[GGUFFileInfo] = []
    headers: list[tuple[str, GGUFHeader]] = []
    for names in groups:
        urls = [hub_file_url(repo_id, n, revision=sha, endpoint=endpoint) for n in names]
        try:
            header = read_remote_split_header(urls, token=token)
        except InvalidGGUF as exc:
            raise ImportFailed("invalid_gguf", f"{repo_id}/{names[0]}: {exc}") from exc
        except Exception as exc:
            raise _hub_error(exc, repo_id, revision, endpoint, names[0]) from exc
        headers.append((names[0], header))
        infos.append(
            GGUFFileInfo(
                filename=names[0],
                shards=tuple(names),
                size=sum(sizes.get(n, 0) for n in names) or (header.file_size or 0),
                quant=header.file_type_name,
                n_tensors=len(header.tensors),
                n_params=sum(t.n_elements for t in header.tensors),
                tensor_bytes=header.tensor_bytes,
                type_counts=header.type_counts(),
                type_bytes=header.type_bytes(),
            )
        )

    if shape is not None:
        model_type = model_type_of(config)
        architecture = next(iter(architectures_of(config)), model_type)
    else:
        first_name, first = headers[0]
        try:
            shape = shape_from_gguf(first)
        except InvalidGGUF as exc:
            raise ImportFailed("invalid_gguf", f"{repo_id}/{first_name}: {exc}") from exc
        model_type = _ARCH_TO_MODEL_TYPE.get(shape.arch, "")
        if not model_type:
            raise ImportFailed(
                "unsupported",
                f"{repo_id}/{first_name}: GGUF architecture {shape.arch!r} has no known Hugging Face model_type",
            )
        architecture = shape.arch
        shape_source = first_name

    counted_total, counted_active = count_params(shape)
    safetensors = getattr(info, "safetensors", None)
    listed_total = getattr(safetensors, "total", None) if safetensors is not None else None
    if isinstance(listed_total, int) and listed_total > 0:
        params_total = listed_total
    elif infos:
        params_total = infos[0].n_params
    else:
        params_total = counted_total
    # Active share from the shape (experts used / experts), applied to the measured total.
    params_active = min(params_total, round(params_total * counted_active / counted_total)) if counted_total else 0

    created = info.created_at or info.last_modified
    return ImportedModel(
        repo_id=repo_id,
        revision=revision,
        sha=sha,
        endpoint=endpoint,
        shape=shape,
        model_type=model_type,
        architecture=architecture,
        shape_source=shape_source,
        params_total=params_total,
        params_active=params_active,
        license=_license(info),
        released=created.date().isoformat() if created else "",
        gated=gated,
        base_model=_base_model(info),
        gguf_files=tuple(infos),
        config=config,
    )
