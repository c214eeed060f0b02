"""From a parsed llama.cpp load log to the engine's request, and the engine's answer beside the log's.

``request_from_log`` rebuilds the ``FitRequest`` a load implies: the model shape from the GGUF metadata
the loader dumped (or the ``print_info`` lines when the dump is missing), the file type as the preset,
the context llama.cpp printed, the layers it offloaded and the GPU backend of its buffers.
``compare`` sets ``memory.estimate``'s buffers against the logged ones, device by device and buffer by
buffer. Runtime overhead (driver context, pools) is outside every llama.cpp buffer and is not in a log,
so it is left out on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from advisor.core.gguf_header import GGUFHeader, InvalidGGUF, shape_from_gguf
from advisor.core.loadlog import LoadLog
from advisor.core.memory import Device, FitRequest, FitResult, estimate
from advisor.core.quantize import PRESETS, tensor_types
from advisor.core.shape import ModelShape
from advisor.core.tensors import UnsupportedArchitecture, tensor_inventory
from advisor.core.units import MIB

# print_info key -> GGUF key suffix, for logs whose metadata dump was cut (llama-model.cpp print_info)
_META_KEYS = {
    "n_layer": "block_count",
    "n_embd": "embedding_length",
    "n_head": "attention.head_count",
    "n_head_kv": "attention.head_count_kv",
    "n_embd_head_k": "attention.key_length",
    "n_embd_head_v": "attention.value_length",
    "n_ff": "feed_forward_length",
    "n_ctx_train": "context_length",
    "n_expert": "expert_count",
    "n_expert_used": "expert_used_count",
    "n_swa": "attention.sliding_window",
    "n_ff_exp": "expert_feed_forward_length",
    "n_vocab": "vocab_size",
}
_UNLIMITED = 1 << 50  # a device the placement never finds full: the log says where layers went


class LogModelError(ValueError):
    """The log does not say enough to rebuild the model or its placement."""


def _metadata(ld: LoadLog) -> tuple[dict[str, object], dict[str, int]]:
    meta: dict[str, object] = dict(ld.gguf)
    arrays = dict(ld.array_lengths)
    arch = str(meta.get("general.architecture") or ld.arch)
    if not arch:
        raise LogModelError("the log names no architecture (no 'general.architecture' or 'arch' line)")
    meta["general.architecture"] = arch
    for key, suffix in _META_KEYS.items():
        full = f"{arch}.{suffix}"
        if full in meta:
            continue
        v = ld.meta_int(key)
        if v is not None and (v > 0 or key == "n_head_kv"):
            meta[full] = v
    if "tokenizer.ggml.tokens" not in arrays and f"{arch}.vocab_size" not in meta:
        n_vocab = ld.meta_int("n_vocab")
        if n_vocab:
            arrays["tokenizer.ggml.tokens"] = n_vocab
    return meta, arrays


def shape_from_log(ld: LoadLog) -> ModelShape:
    """The model's shape from the log. Whether the output matrix is tied to the embeddings is not
    printed: the loader's tensor count decides it (``loaded meta data with K key-value pairs and T
    tensors``), else the printed file size, else the logged model buffers (a Metal buffer maps the file
    range around token_embd, so the buffers can count it twice)."""
    meta, arrays = _metadata(ld)
    h = GGUFHeader(3, meta, arrays, (), 32, 0, 0, None)  # type: ignore[arg-type]
    try:
        untied = shape_from_gguf(h)
    except InvalidGGUF as exc:
        raise LogModelError(f"the log's model metadata is incomplete: {exc}") from exc
    tied = replace(untied, tied_embeddings=True)
    try:
        counts = {s: len(tensor_inventory(s)) for s in (untied, tied)}
    except UnsupportedArchitecture as exc:
        raise LogModelError(f"architecture {exc.arch!r} is not modelled") from exc
    if ld.n_tensors is not None:
        for s, n in counts.items():
            if n == ld.n_tensors:
                return s
    logged = (ld.file_size_mib or ld.buffer_mib(kind="model")) * MIB
    if logged and ld.file_type in PRESETS:
        return min((untied, tied), key=lambda s: abs(_file_bytes(s, ld.file_type) - logged))
    return untied


def _file_bytes(s: ModelShape, preset: str) -> int:
    from advisor.core.memory import weight_split

    return weight_split(s, tensor_types(s, preset)).file_bytes


def _preset(ld: LoadLog) -> str:
    if ld.file_type in PRESETS:
        return ld.file_type
    types = {t.lower() for t, n in ld.type_counts if n}
    if types and types <= {"f32", "f16"}:
        return "F16"
    if types and types <= {"f32", "bf16"}:
        return "BF16"
    raise LogModelError(f"file type {ld.file_type or '(not printed)'!r} is not a llama.cpp preset")


def request_from_log(ld: LoadLog, shape: ModelShape | None = None, preset: str | None = None) -> FitRequest:
    """The request this load answers (see the module doc). ``shape`` and ``preset`` stand in for what a
    log excerpt without the loader's metadata dump cannot say (a catalog model, the file's quant)."""
    shape = shape or shape_from_log(ld)
    gpus = ld.gpu_devices()
    backend = ld.backend
    free = {f"{d.backend}{d.index}": d.free_mib for d in ld.devices if d.free_mib}
    devices = tuple(Device(name, backend, _UNLIMITED) for name in gpus)
    split: tuple[float, ...] = ()
    if len(gpus) > 1 and all(free.get(_dev_key(g, backend)) for g in gpus):
        split = tuple(float(free[_dev_key(g, backend)] or 0) for g in gpus)
    n_seq = ld.n_seq or 1
    swa_full = None
    if ld.swa_cells is not None and ld.n_ctx_seq is not None:
        swa_full = ld.swa_cells >= (ld.n_ctx_seq or ld.n_ctx or 0)
    imatrix = any(k.startswith("quantize.imatrix") for k, _ in ld.gguf)
    return FitRequest(
        shape=shape,
        preset=preset or _preset(ld),
        imatrix=imatrix,
        runtime="llama-server",
        n_ctx=ld.n_ctx,
        n_batch=ld.n_batch,
        n_ubatch=ld.n_ubatch,
        n_parallel=n_seq,
        # before kv_unified was printed (2025), one cache held every sequence
        kv_unified=ld.kv_unified if ld.kv_unified is not None else True,
        type_k=ld.type_k or "f16",
        type_v=ld.type_v or "f16",
        flash_attn=bool(ld.flash_attn),
        swa_full=swa_full if swa_full is not None else False,
        devices=devices,
        cpu_only=not devices,
        n_gpu_layers=(ld.n_gpu_layers if ld.n_gpu_layers is not None else -1) if devices else 0,
        tensor_split=split,
        op_offload=not ld.no_op_offload,
    )


def _dev_key(buffer_device: str, backend: str) -> str:
    digits = "".join(c for c in buffer_device if c.isdigit())
    return f"{backend}{digits or 0}"


@dataclass(frozen=True)
class BufferDiff:
    """Logged against predicted bytes for one device (``host`` or a GPU buffer name) and buffer kind
    (``model``, ``kv`` (KV and recurrent state), ``compute`` (with the output buffer on the host), ``total``)."""

    device: str
    kind: str
    logged: int
    predicted: int

    @property
    def error(self) -> int:
        return self.predicted - self.logged

    @property
    def rel(self) -> float:
        return self.error / self.logged if self.logged else 0.0


def compare(ld: LoadLog, result: FitResult) -> tuple[BufferDiff, ...]:
    """Buffer by buffer and device by device. GPUs pair in order (the log's first GPU with the
    engine's first)."""
    out: list[BufferDiff] = []
    gpu_mem = [d for d in result.devices if d.name != "host"]
    host_mem = next(d for d in result.devices if d.name == "host")
    pairs = [*zip(ld.gpu_devices(), gpu_mem, strict=False), ("host", host_mem)]
    for dev, mem in pairs:
        logged = {
            "model": ld.buffer_mib(dev, "model"),
            "kv": ld.buffer_mib(dev, "kv") + ld.buffer_mib(dev, "rs"),
            "compute": ld.buffer_mib(dev, "compute") + ld.buffer_mib(dev, "output"),
        }
        pred = {"model": mem.weights_bytes, "kv": mem.kv_cache_bytes, "compute": mem.compute_bytes}
        for kind in ("model", "kv", "compute"):
            out.append(BufferDiff(dev, kind, round(logged[kind] * MIB), pred[kind]))
        out.append(BufferDiff(dev, "total", round(sum(logged.values()) * MIB), sum(pred.values())))
    return tuple(out)


def predict_log(ld: LoadLog) -> tuple[FitRequest, FitResult, tuple[BufferDiff, ...]]:
    req = request_from_log(ld)
    res = estimate(req)
    return req, res, compare(ld, res)
