"""The size of the GGUF file llama-quantize writes: header, tensor infos and aligned tensor data.

Layout (ggml/src/gguf.cpp ``gguf_write_to_buf``, and ``llama_model_quantize_impl`` in src/llama-quant.cpp,
which writes the header then each tensor's data padded with zeros to ``GGML_PAD(size, alignment)``):

* 24 bytes: magic, version (u32), tensor count and KV count (u64 each);
* each KV: the key as a string (u64 length + bytes), the value type (u32), the value; an array is its
  element type (u32), its count (u64) and the elements (strings again as u64 length + bytes);
* each tensor info: name string, n_dims (u32), n_dims x u64 dims, type (u32), offset (u64);
* padding to ``general.alignment`` (32 by default, GGUF_DEFAULT_ALIGNMENT in ggml/include/gguf.h),
  then every tensor's bytes padded to the alignment.

llama-quantize copies every key of its input and adds ``general.quantization_version``; the input is
taken to be the stand-in of ``advisor.core.standin`` (the model's own keys, a SentencePiece-style
vocabulary of ``vocab_size`` tokens). A published file carries its real tokenizer instead (merges, a
chat template): it differs from this by that metadata, a few MB (7 MB for Llama 3's 128k vocabulary).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from advisor.core.ggml_types import GGMLType, tensor_bytes
from advisor.core.memo import IdentityMemo
from advisor.core.shape import ModelShape
from advisor.core.tensors import tensor_inventory

GGUF_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT, ggml/include/gguf.h
_FIXED_HEADER = 4 + 4 + 8 + 8  # magic, version, n_tensors, n_kv
_SCALAR_BYTES = {"u32": 4, "f32": 4, "i32": 4, "bool": 1}
# general.quantization_version, which llama_model_quantize_impl sets on the file it writes.
QUANTIZATION_VERSION_KEY = "general.quantization_version"


def pad(n: int, alignment: int = GGUF_ALIGNMENT) -> int:
    return (n + alignment - 1) // alignment * alignment


def _string_bytes(s: str) -> int:
    return 8 + len(s.encode())


# Tuples of strings sized before, by identity: stand-in vocabularies are shared tuples (standin._vocab),
# sized once per vocabulary instead of once per model.
_STR_ARRAYS: IdentityMemo[int] = IdentityMemo(64)


def _str_array_bytes(value: Sequence[str]) -> int:
    def make() -> int:
        # UTF-8 lengths add up over a concatenation: one encode instead of one per string (a 150k-token
        # vocabulary took ~50 ms per model).
        return 8 * len(value) + len("".join(value).encode())

    # only a tuple is remembered: a list may change under the same id
    return _STR_ARRAYS.get((value,), None, make) if isinstance(value, tuple) else make()


def kv_bytes(key: str, kind: str, value: Any) -> int:
    """Bytes of one key/value pair; ``kind`` as in ``standin.standin_metadata`` (u32, str, arr_i32, ...).

    >>> kv_bytes("general.quantization_version", "u32", 2)
    44
    >>> kv_bytes("tokenizer.ggml.tokens", "arr_str", ["<s>", "a"])
    65
    """
    head = _string_bytes(key) + 4
    if kind == "str":
        return head + _string_bytes(value)
    if kind in _SCALAR_BYTES:
        return head + _SCALAR_BYTES[kind]
    element = kind.removeprefix("arr_")
    items = 4 + 8  # element type, count
    if element == "str":
        return head + items + _str_array_bytes(value)
    return head + items + _SCALAR_BYTES[element] * len(value)


def tensor_info_bytes(name: str, n_dims: int) -> int:
    return _string_bytes(name) + 4 + 8 * n_dims + 4 + 8


def header_bytes(kvs: Iterable[tuple[str, str, Any]], tensors: Iterable[tuple[str, int]]) -> int:
    """Unpadded header: fixed part, every KV (``(key, kind, value)``) and every tensor info (``(name, n_dims)``)."""
    return _FIXED_HEADER + sum(kv_bytes(*kv) for kv in kvs) + sum(tensor_info_bytes(n, d) for n, d in tensors)


def standin_header_bytes(shape: ModelShape, quantized: bool = True) -> int:
    """The padded header of ``shape``'s stand-in GGUF; ``quantized``: as llama-quantize rewrites it
    (one key more, general.quantization_version)."""
    # One cache key however it is called: lru_cache keys f(shape) and f(shape, True) apart, so the
    # warm-up's f(shape) missed every plan's f(shape, True) (~14 ms each on first sight of a model).
    return _standin_header_bytes(shape, quantized)


@functools.lru_cache(maxsize=1024)  # one per catalog model, kept (advisor.warmup)
def _standin_header_bytes(shape: ModelShape, quantized: bool) -> int:
    from advisor.core.standin import standin_metadata

    kvs = [("general.architecture", "str", shape.arch), *standin_metadata(shape, 1)]
    if quantized:
        kvs.append((QUANTIZATION_VERSION_KEY, "u32", 2))
    return pad(header_bytes(kvs, ((t.name, len(t.dims)) for t in tensor_inventory(shape))))


def data_bytes(shape: ModelShape, types: dict[str, GGMLType]) -> int:
    """The data section: each tensor's bytes padded to the alignment."""
    return sum(pad(tensor_bytes(types[t.name], t.dims)) for t in tensor_inventory(shape))


def gguf_file_bytes(shape: ModelShape, types: dict[str, GGMLType], *, quantized: bool = True) -> int:
    """Bytes of the GGUF file of ``shape`` with per-tensor ``types`` (``quantize.tensor_types``), as
    llama-quantize writes it (``quantized``) or as the converter writes an F16/BF16 export."""
    return standin_header_bytes(shape, quantized) + data_bytes(shape, types)
