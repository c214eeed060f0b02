"""Read a GGUF header (metadata and tensor list) with bounded memory, and turn it into a ``ModelShape``.

The layout and the checks follow llama.cpp's own reader, ``ggml/src/gguf.cpp`` (vendored in
llama-cpp-python 0.3.36): magic ``GGUF``, a u32 version (2 or 3), u64 tensor and KV counts,
the KV pairs, then per tensor a name (shorter than ``GGML_MAX_NAME`` = 64 bytes), at most
``GGML_MAX_DIMS`` = 4 dimensions, a ggml type and an offset. The data section starts at the
next multiple of ``general.alignment`` (default 32) and each tensor's offset must equal the
padded sum of the tensors before it.

The value type ids and the ggml block sizes come from the ``gguf`` package
(``gguf.GGUFValueType``, ``gguf.GGML_QUANT_SIZES``), which mirrors ``ggml.h``.

Unlike ``gguf.GGUFReader``, which maps every field of the file into numpy arrays, this reader
checks every count and length against the bytes that remain before reading it, keeps arrays of
at most ``MAX_KEPT_ARRAY`` elements (others only by length: a 262k-entry token list is skipped,
not stored) and never executes or unpickles anything. The same parser reads a prefix of a file
(``parse_gguf_prefix``): it then says how many bytes it needs, which is how remote headers are
read with HTTP Range requests.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

from advisor.core.shape import ModelShape

GGUF_MAGIC = b"GGUF"
GGUF_DEFAULT_ALIGNMENT = 32  # ggml/include/gguf.h: GGUF_DEFAULT_ALIGNMENT
GGML_MAX_DIMS = 4  # ggml/include/ggml.h
GGML_MAX_NAME = 64  # ggml/include/ggml.h: tensor names must be shorter
MAX_LAYERS = 512  # src/llama-hparams.h: LLAMA_MAX_LAYERS

# Bounds that keep a hostile header from costing memory or time. Real files stay far below:
# the largest token lists hold ~262k strings, DeepSeek-V3 has ~1.1k tensors per shard.
MAX_KEPT_ARRAY = 4096  # arrays longer than this are recorded by length only
MAX_ARRAY_ELEMENTS = 1 << 24
MAX_STRING_BYTES = 16 * 1024 * 1024  # chat templates are tens of KiB
MAX_KEY_BYTES = 65536
MAX_TENSORS = 1 << 20
MAX_KV = 1 << 20
MAX_NESTED_ARRAYS = 1  # arrays of arrays: one level, as llama.cpp's writer produces

# Smallest possible encodings, used to bound counts against the bytes that remain.
_MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8  # name length, n_dims, type, offset

_SCALAR_FORMATS: dict[int, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
_SCALAR_SIZES = {t: struct.calcsize(f) for t, f in _SCALAR_FORMATS.items()}

_SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")

MetaValue = int | float | bool | str | tuple[Any, ...]


class InvalidGGUF(ValueError):
    """Not a readable GGUF file: bad magic, truncated, inconsistent or absurd counts."""


class NeedMoreBytes(Exception):
    """The buffer ended before the header did; ``needed`` is a lower bound on the bytes required."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"need at least {needed} bytes")
        self.needed = needed


@dataclass(frozen=True)
class GGUFTensor:
    name: str
    dims: tuple[int, ...]  # ggml order: dims[0] is the row length (ne0)
    ggml_type: int
    offset: int  # from the start of the data section
    n_bytes: int
    shard: int = 0  # which file of a split model holds it

    @property
    def type_name(self) -> str:
        return ggml_type_name(self.ggml_type)

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    """A GGUF header: metadata (small values), array lengths, tensors and sizes."""

    version: int
    metadata: Mapping[str, MetaValue]
    array_lengths: Mapping[str, int]  # every array key -> element count, kept or not
    tensors: tuple[GGUFTensor, ...]
    alignment: int
    header_bytes: int  # where the data section starts (first shard)
    data_bytes: int  # padded size of the data section (all shards)
    file_size: int | None  # total bytes of all shards, when known
    shard_sizes: tuple[int, ...] = field(default=())

    @property
    def architecture(self) -> str:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else ""

    @property
    def file_type(self) -> int | None:
        value = self.metadata.get("general.file_type")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def file_type_name(self) -> str:
        """``general.file_type`` as llama.cpp names the preset (``Q4_K_M``), '' when absent."""
        ft = self.file_type
        if ft is None:
            return ""
        try:
            return LlamaFileType(ft).name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            return f"file_type_{ft}"

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    def type_counts(self) -> dict[str, int]:
        """Tensor count per ggml type name."""
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.type_name] = out.get(t.type_name, 0) + 1
        return out

    def type_bytes(self) -> dict[str, int]:
        """Tensor bytes per ggml type name."""
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.type_name] = out.get(t.type_name, 0) + t.n_bytes
        return out

    def tensor(self, name: str) -> GGUFTensor | None:
        for t in self.tensors:
            if t.name == name:
                return t
        return None


def ggml_type_name(type_id: int) -> str:
    try:
        return GGMLQuantizationType(type_id).name
    except ValueError:
        return f"type_{type_id}"


def tensor_nbytes(type_id: int, dims: tuple[int, ...], name: str = "") -> int:
    """Bytes of a tensor: ``ne0 / block * type_size`` per row (ggml ``ggml_row_size``)."""
    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
    except (ValueError, KeyError):
        raise InvalidGGUF(f"tensor {name!r} has unknown ggml type {type_id}") from None
    ne0 = dims[0] if dims else 1
    if ne0 % block:
        raise InvalidGGUF(
            f"tensor {name!r} of type {ggml_type_name(type_id)} has rows of {ne0} elements, "
            f"not a multiple of the block size {block}"
        )
    rows = 1
    for d in dims[1:]:
        rows *= d
    return ne0 // block * type_size * rows


class _Cursor:
    """Reads little-endian values from a buffer that may be a prefix of ``total`` bytes."""

    def __init__(self, buf: bytes | bytearray | memoryview | mmap.mmap, total: int | None) -> None:
        self.buf = buf
        self.len = len(buf)
        self.total = total  # None: unknown, the buffer may be a prefix of something larger
        self.pos = 0

    @property
    def complete(self) -> bool:
        return self.total is not None and self.len >= self.total

    def remaining_in_file(self) -> int | None:
        return None if self.total is None else self.total - self.pos

    def need(self, n: int, what: str) -> None:
        end = self.pos + n
        if end <= self.len:
            return
        if self.complete or (self.total is not None and end > self.total):
            raise InvalidGGUF(
                f"truncated GGUF: {what} needs bytes {self.pos}..{end} but the file ends at "
                f"{self.total if self.total is not None else self.len}"
            )
        raise NeedMoreBytes(end)

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        data = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.pos += n

    def scalar(self, vtype: int, what: str) -> Any:
        fmt = _SCALAR_FORMATS[vtype]
        size = _SCALAR_SIZES[vtype]
        self.need(size, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return int(self.scalar(GGUFValueType.UINT32, what))

    def u64(self, what: str) -> int:
        return int(self.scalar(GGUFValueType.UINT64, what))

    def bounded_count(self, n: int, min_item_bytes: int, limit: int, what: str) -> int:
        """Reject a count that could not fit in the file, or that passes a hard limit."""
        if n > limit:
            raise InvalidGGUF(f"{what} claims {n} entries, more than the limit of {limit}")
        left = self.remaining_in_file()
        if left is not None and n * min_item_bytes > left:
            raise InvalidGGUF(
                f"{what} claims {n} entries (at least {n * min_item_bytes} bytes) "
                f"but only {left} bytes remain in the file"
            )
        return n

    def string(self, what: str, limit: int = MAX_STRING_BYTES) -> str:
        n = self.u64(f"length of {what}")
        if n > limit:
            raise InvalidGGUF(f"{what} claims a string of {n} bytes, more than the limit of {limit}")
        left = self.remaining_in_file()
        if left is not None and n > left:
            raise InvalidGGUF(f"{what} claims a string of {n} bytes but only {left} bytes remain in the file")
        return self.take(n, what).decode("utf-8", errors="replace")

    def skip_string(self, what: str) -> None:
        n = self.u64(f"length of {what}")
        if n > MAX_STRING_BYTES:
            raise InvalidGGUF(f"{what} claims a string of {n} bytes, more than the limit of {MAX_STRING_BYTES}")
        self.skip(n, what)


def _value_type(raw: int, what: str) -> int:
    try:
        return int(GGUFValueType(raw))
    except ValueError:
        raise InvalidGGUF(f"{what} has unknown value type {raw}") from None


def _read_array(cur: _Cursor, key: str, depth: int) -> tuple[tuple[Any, ...] | None, int]:
    """Read an array value: (elements or None when too long to keep, element count)."""
    etype = _value_type(cur.u32(f"element type of {key!r}"), f"array {key!r}")
    n = cur.u64(f"length of array {key!r}")
    if etype == GGUFValueType.ARRAY:
        if depth >= MAX_NESTED_ARRAYS:
            raise InvalidGGUF(f"array {key!r} nests arrays deeper than {MAX_NESTED_ARRAYS} level")
        cur.bounded_count(n, 4 + 8, MAX_ARRAY_ELEMENTS, f"array {key!r}")
        items: list[Any] = []
        for i in range(n):
            sub, _ = _read_array(cur, f"{key}[{i}]", depth + 1)
            if n <= MAX_KEPT_ARRAY:
                items.append(sub)
        return (tuple(items) if n <= MAX_KEPT_ARRAY else None), n
    if etype == GGUFValueType.STRING:
        cur.bounded_count(n, 8, MAX_ARRAY_ELEMENTS, f"array {key!r}")
        if n <= MAX_KEPT_ARRAY:
            return tuple(cur.string(f"{key}[{i}]") for i in range(n)), n
        for i in range(n):
            cur.skip_string(f"{key}[{i}]")
        return None, n
    size = _SCALAR_SIZES[etype]
    cur.bounded_count(n, size, MAX_ARRAY_ELEMENTS, f"array {key!r}")
    if n <= MAX_KEPT_ARRAY:
        return tuple(cur.scalar(etype, f"{key}[{i}]") for i in range(n)), n
    cur.skip(n * size, f"array {key!r}")
    return None, n


def _parse(cur: _Cursor) -> GGUFHeader:
    magic = cur.take(4, "magic")
    if magic != GGUF_MAGIC:
        raise InvalidGGUF(f"not a GGUF file: starts with {magic!r}, expected {GGUF_MAGIC!r}")
    version = cur.u32("version")
    if version == 1:
        raise InvalidGGUF("GGUF version 1 is not supported (llama.cpp reads versions 2 and 3)")
    if version & 0x0000FFFF == 0 and version != 0:
        raise InvalidGGUF("big-endian GGUF files are not supported")
    if version not in (2, 3):
        raise InvalidGGUF(f"unknown GGUF version {version} (llama.cpp reads versions 2 and 3)")
    n_tensors = cur.bounded_count(cur.u64("tensor count"), _MIN_TENSOR_INFO_BYTES, MAX_TENSORS, "tensor count")
    n_kv = cur.bounded_count(cur.u64("metadata count"), _MIN_KV_BYTES, MAX_KV, "metadata count")

    metadata: dict[str, MetaValue] = {}
    lengths: dict[str, int] = {}
    seen: set[str] = set()
    for i in range(n_kv):
        key = cur.string(f"key of metadata entry {i}", limit=MAX_KEY_BYTES)
        if key in seen:
            raise InvalidGGUF(f"duplicate metadata key {key!r}")
        seen.add(key)
        vtype = _value_type(cur.u32(f"type of {key!r}"), f"metadata {key!r}")
        if vtype == GGUFValueType.ARRAY:
            items, n = _read_array(cur, key, 0)
            lengths[key] = n
            if items is not None:
                metadata[key] = items
        elif vtype == GGUFValueType.STRING:
            metadata[key] = cur.string(f"value of {key!r}")
        else:
            metadata[key] = cur.scalar(vtype, f"value of {key!r}")

    alignment = GGUF_DEFAULT_ALIGNMENT
    if "general.alignment" in metadata:
        value = metadata["general.alignment"]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value & (value - 1):
            raise InvalidGGUF(f"general.alignment must be a power of two, got {value!r}")
        alignment = value

    tensors: list[GGUFTensor] = []
    names: set[str] = set()
    expected_offset = 0
    for i in range(n_tensors):
        name = cur.string(f"name of tensor {i}", limit=GGML_MAX_NAME - 1)
        if name in names:
            raise InvalidGGUF(f"duplicate tensor name {name!r}")
        names.add(name)
        n_dims = cur.u32(f"dimension count of {name!r}")
        if n_dims > GGML_MAX_DIMS:
            raise InvalidGGUF(f"tensor {name!r} has {n_dims} dimensions, more than {GGML_MAX_DIMS}")
        dims = tuple(cur.u64(f"dimension {j} of {name!r}") for j in range(n_dims))
        n_elements = 1
        for d in dims:
            if d >= 1 << 63:
                raise InvalidGGUF(f"tensor {name!r} has a negative dimension")
            n_elements *= d
        if n_elements >= 1 << 63:
            raise InvalidGGUF(f"tensor {name!r} with shape {dims} has too many elements")
        type_id = cur.u32(f"type of {name!r}")
        n_bytes = tensor_nbytes(type_id, dims, name)
        offset = cur.u64(f"offset of {name!r}")
        if offset != expected_offset:
            raise InvalidGGUF(f"tensor {name!r} has offset {offset}, expected {expected_offset}")
        expected_offset += -(-n_bytes // alignment) * alignment
        tensors.append(GGUFTensor(name=name, dims=dims, ggml_type=type_id, offset=offset, n_bytes=n_bytes))

    header_bytes = -(-cur.pos // alignment) * alignment if n_tensors else cur.pos
    data_bytes = expected_offset
    if cur.total is not None:
        # The last tensor must end inside the file; its padding may be cut (llama.cpp's writer pads).
        end = header_bytes + (tensors[-1].offset + tensors[-1].n_bytes if tensors else 0)
        if end > cur.total:
            raise InvalidGGUF(f"truncated GGUF: the tensors need {end} bytes but the file has {cur.total}")
    return GGUFHeader(
        version=version,
        metadata=metadata,
        array_lengths=lengths,
        tensors=tuple(tensors),
        alignment=alignment,
        header_bytes=header_bytes,
        data_bytes=data_bytes,
        file_size=cur.total,
        shard_sizes=(cur.total,) if cur.total is not None else (),
    )


def parse_gguf_prefix(buf: bytes | bytearray | memoryview, total_size: int | None) -> GGUFHeader:
    """Parse a header from the first bytes of a file of ``total_size`` bytes.

    Raises ``NeedMoreBytes`` when ``buf`` ends before the header does (and is shorter than the
    file), ``InvalidGGUF`` when the bytes are not a valid GGUF header.
    """
    if total_size is not None and total_size < len(buf):
        raise InvalidGGUF(f"got {len(buf)} bytes of a file said to have {total_size}")
    return _parse(_Cursor(buf, total_size))


def _read_one(path: Path) -> GGUFHeader:
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            if size == 0:
                raise InvalidGGUF(f"{path.name}: empty file")
            # mmap reads pages on demand: memory stays bounded by what the header touches.
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                try:
                    return _parse(_Cursor(mm, size))
                except InvalidGGUF as exc:
                    raise InvalidGGUF(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise InvalidGGUF(f"{path.name}: cannot read: {exc.strerror or exc}") from exc


def split_paths(path: str | Path) -> list[Path]:
    """All shards of a split GGUF (``name-00001-of-00003.gguf``), or ``[path]`` when not split."""
    p = Path(path)
    m = _SPLIT_RE.match(p.name)
    if not m:
        return [p]
    count = int(m["count"])
    if count < 1 or int(m["no"]) < 1 or int(m["no"]) > count:
        raise InvalidGGUF(f"{p.name}: shard number {int(m['no'])} of {count} is impossible")
    return [p.with_name(f"{m['prefix']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]


def merge_split_headers(headers: list[GGUFHeader], names: list[str] | None = None) -> GGUFHeader:
    """Merge the headers of a split model: metadata of the first shard, tensors of all shards.

    llama.cpp's gguf-split writes ``split.no``, ``split.count`` and ``split.tensors.count``
    (``tools/gguf-split/gguf-split.cpp``); they are checked when present.
    """
    if not headers:
        raise InvalidGGUF("no shards to merge")
    labels = names or [f"shard {i + 1}" for i in range(len(headers))]
    first = headers[0]
    count = first.metadata.get("split.count")
    if len(headers) > 1 and count is not None and count != len(headers):
        raise InvalidGGUF(f"{labels[0]} says the model has {count} shards, found {len(headers)}")
    tensors: list[GGUFTensor] = []
    names_seen: set[str] = set()
    for i, h in enumerate(headers):
        no = h.metadata.get("split.no")
        if no is not None and no != i:
            raise InvalidGGUF(f"{labels[i]} has split.no {no}, expected {i}")
        for t in h.tensors:
            if t.name in names_seen:
                raise InvalidGGUF(f"tensor {t.name!r} appears in more than one shard")
            names_seen.add(t.name)
            tensors.append(GGUFTensor(t.name, t.dims, t.ggml_type, t.offset, t.n_bytes, shard=i))
    expected = first.metadata.get("split.tensors.count")
    if expected is not None and expected != len(tensors):
        raise InvalidGGUF(f"split.tensors.count is {expected} but the shards hold {len(tensors)} tensors")
    sizes = tuple(s for h in headers for s in h.shard_sizes)
    known = all(h.file_size is not None for h in headers)
    return GGUFHeader(
        version=first.version,
        metadata=first.metadata,
        array_lengths=first.array_lengths,
        tensors=tuple(tensors),
        alignment=first.alignment,
        header_bytes=first.header_bytes,
        data_bytes=sum(h.data_bytes for h in headers),
        file_size=sum(sizes) if known else None,
        shard_sizes=sizes,
    )


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Read the header of a local GGUF file; a split model's shards are found and merged.

    Raises ``InvalidGGUF`` (one line naming the file and the problem) for anything that is not
    a readable GGUF, including a missing shard.
    """
    paths = split_paths(path)
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise InvalidGGUF(f"{Path(path).name}: missing shard(s) {', '.join(missing)}")
    headers = [_read_one(p) for p in paths]
    if len(headers) == 1:
        return headers[0]
    return merge_split_headers(headers, [p.name for p in paths])


# --- ModelShape from a header -----------------------------------------------------------------

# Sliding-window period per llama.cpp architecture when the file does not carry
# ``{arch}.attention.sliding_window_pattern``: ``load_swa_pattern(ml, N)`` in src/models/gemma2.cpp (2),
# openai-moe.cpp (2), gemma3.cpp (6), cohere2.cpp (4). Architectures without SWA support (llama,
# phi3, ...) ignore ``attention.sliding_window``.
SWA_PERIOD_BY_ARCH: dict[str, int] = {
    "gemma2": 2,
    "gpt-oss": 2,
    "gemma3": 6,
    "cohere2": 4,
    "olmo2": 4,  # olmo2.cpp: load_swa_pattern(ml, 4) when a sliding window > 0 is set
    "exaone4": 4,  # exaone4.cpp: only the 64-layer model (EXAONE4_SWA_LAYERS)
    "llama4": 4,  # llama4.cpp: chunked attention, 3 chunked layers of every 4
    "gemma3n": 5,  # gemma3n.cpp: load_swa_pattern(ml, 5)
}
EXAONE4_SWA_LAYERS = 64
# llama4.cpp: the chunk is 8192 tokens whatever the file says, unless sliding_window is written as 0.
LLAMA4_CHUNK = 8192
# Architectures whose recurrent layers are those with neither KV heads nor an FFN (nemotron-h.cpp).
_NEMOTRON_ARCHS = frozenset({"nemotron_h", "nemotron_h_moe"})
# falcon-h1.cpp: every layer is recurrent and keeps its attention heads.
_PARALLEL_HYBRID_ARCHS = frozenset({"falcon-h1"})
# src/models/gemma2.cpp: ``hparams.n_swa = 4096; // default value of gemma 2``.
GEMMA2_DEFAULT_WINDOW = 4096
# Architectures whose every layer is recurrent (src/llama-arch.cpp ``llm_arch_is_recurrent``).
ALL_RECURRENT_ARCHS = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})


def _uint(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _per_layer(h: GGUFHeader, key: str, n_layers: int) -> tuple[int, ...] | None:
    """A key that is a scalar or a per-layer array (llama.cpp ``get_key_or_arr``), as a per-layer tuple."""
    value = h.metadata.get(key)
    if value is None:
        if key in h.array_lengths:
            raise InvalidGGUF(f"{key} has {h.array_lengths[key]} entries, far more than {n_layers} layers")
        return None
    items = value if isinstance(value, tuple) else (value,) * n_layers
    # Arrays may also cover MTP layers past n_layers (block_count includes them).
    if len(items) < n_layers:
        raise InvalidGGUF(f"{key} has {len(items)} entries for {n_layers} layers")
    out: list[int] = []
    for v in items[:n_layers]:
        iv = _uint(v)
        if iv is None or iv < 0:
            raise InvalidGGUF(f"{key} must hold non-negative integers, got {v!r}")
        out.append(iv)
    return tuple(out)


def _req_int(h: GGUFHeader, key: str, minimum: int = 1) -> int:
    if key not in h.metadata:
        raise InvalidGGUF(f"GGUF metadata has no {key!r}")
    v = _uint(h.metadata[key])
    if v is None or v < minimum:
        raise InvalidGGUF(f"{key} must be an integer >= {minimum}, got {h.metadata[key]!r}")
    return v


def _opt_int(h: GGUFHeader, key: str, default: int) -> int:
    if key not in h.metadata:
        return default
    v = _uint(h.metadata[key])
    if v is None or v < 0:
        raise InvalidGGUF(f"{key} must be a non-negative integer, got {h.metadata[key]!r}")
    return v


_BLK_NUM = re.compile(r"^blk\.\d+\.")


def shape_from_gguf(h: GGUFHeader) -> ModelShape:
    """The ``ModelShape`` llama.cpp loads from this header (``src/llama-model.cpp`` ``load_hparams``).

    MLA headers are mapped to the catalog's convention (see ``advisor/core/hf_config.py``):
    ``head_dim`` = ``key_length_mla``, ``value_head_dim`` = ``value_length_mla`` and
    ``n_kv_heads`` = ``head_count``.
    """
    arch = h.architecture
    if not arch:
        raise InvalidGGUF("GGUF metadata has no 'general.architecture'")
    p = f"{arch}."
    n_all = _req_int(h, p + "block_count")
    if n_all > MAX_LAYERS:
        raise InvalidGGUF(f"{p}block_count {n_all} is more than llama.cpp's limit of {MAX_LAYERS}")
    nextn = _opt_int(h, p + "nextn_predict_layers", 0)
    if nextn >= n_all:
        raise InvalidGGUF(f"{p}nextn_predict_layers ({nextn}) must be below block_count ({n_all})")
    n_layers = n_all - nextn
    hidden = _req_int(h, p + "embedding_length")
    heads = _per_layer(h, p + "attention.head_count", n_layers) or (0,) * n_layers
    n_heads = max(heads)
    kv = _per_layer(h, p + "attention.head_count_kv", n_layers) or heads
    n_kv = max(kv)
    ffn = _per_layer(h, p + "feed_forward_length", n_layers) or (0,) * n_layers
    if n_heads:
        head_dim = _opt_int(h, p + "attention.key_length", hidden // n_heads)
        value_dim = _opt_int(h, p + "attention.value_length", hidden // n_heads)
    else:
        head_dim = value_dim = 0
    vocab = _opt_int(h, p + "vocab_size", 0) or h.array_lengths.get("tokenizer.ggml.tokens", 0)
    if not vocab:
        raise InvalidGGUF(f"GGUF metadata has neither {p + 'vocab_size'!r} nor 'tokenizer.ggml.tokens'")
    context = _req_int(h, p + "context_length")
    # src/models/*.cpp: ``output`` is TENSOR_NOT_REQUIRED; without it token_embd is reused.
    tied = bool(h.tensors) and h.tensor("output.weight") is None

    kw: dict[str, Any] = {}
    n_experts = _opt_int(h, p + "expert_count", 0)
    if n_experts:
        used = _per_layer(h, p + "expert_used_count", n_layers) or (0,)
        exp_ffn = _per_layer(h, p + "expert_feed_forward_length", n_layers)
        # llama/Mixtral GGUFs have no expert length: each expert is feed_forward_length wide.
        expert_ffn = max(exp_ffn) if exp_ffn else max(ffn)
        kw.update(n_experts=n_experts, n_experts_used=max(used), expert_ffn_size=expert_ffn)
        shared_count = _opt_int(h, p + "expert_shared_count", 0)
        shared_ffn = _opt_int(h, p + "expert_shared_feed_forward_length", 0)
        # Width per shared expert, as advisor/core/params.py counts it: a length key describes one
        # shared block (qwen2moe, qwen3next); deepseek2 has a count of experts of expert width.
        if shared_ffn:
            kw.update(shared_experts=1, shared_expert_ffn_size=shared_ffn)
        elif shared_count:
            kw.update(shared_experts=shared_count, shared_expert_ffn_size=expert_ffn)
        kw["first_dense_layers"] = _opt_int(h, p + "leading_dense_block_count", 0)

    kv_lora = _opt_int(h, p + "attention.kv_lora_rank", 0)
    if kv_lora:
        rope = _opt_int(h, p + "rope.dimension_count", 0)
        k_mla = _opt_int(h, p + "attention.key_length_mla", 0)
        v_mla = _opt_int(h, p + "attention.value_length_mla", 0)
        if not k_mla:
            # Older converters wrote the decompressed sizes as key_length/value_length.
            k_mla, v_mla = head_dim, value_dim
        if not rope or k_mla <= rope:
            raise InvalidGGUF(f"MLA header needs {p}rope.dimension_count below key_length_mla")
        kw.update(
            kv_lora_rank=kv_lora,
            q_lora_rank=_opt_int(h, p + "attention.q_lora_rank", 0),
            qk_rope_head_dim=rope,
            qk_nope_head_dim=k_mla - rope,
            v_head_dim_mla=v_mla,
        )
        head_dim, value_dim, n_kv, kv = k_mla, v_mla, n_heads, heads

    # Recurrent layers.
    recurrent: tuple[bool, ...] = ()
    if arch in ALL_RECURRENT_ARCHS or arch in _PARALLEL_HYBRID_ARCHS:
        recurrent = (True,) * n_layers
    elif arch in _NEMOTRON_ARCHS:
        recurrent = tuple(k == 0 and f == 0 for k, f in zip(kv, ffn, strict=True))
    elif p + "attention.recurrent_layers" in h.metadata:
        flags = h.metadata[p + "attention.recurrent_layers"]
        if not isinstance(flags, tuple) or len(flags) < n_layers:
            raise InvalidGGUF(f"{p}attention.recurrent_layers must list every layer")
        recurrent = tuple(bool(f) for f in flags[:n_layers])
    elif p + "full_attention_interval" in h.metadata:
        interval = _req_int(h, p + "full_attention_interval")
        recurrent = tuple((i + 1) % interval != 0 for i in range(n_layers))
    elif p + "ssm.state_size" in h.metadata and any(k == 0 for k in kv):
        # granitehybrid / nemotron_h: layers without KV heads are the recurrent ones.
        recurrent = tuple(k == 0 for k in kv)
    if recurrent and any(recurrent):
        kw.update(
            recurrent_layers=recurrent,
            ssm_d_conv=_opt_int(h, p + "ssm.conv_kernel", 0),
            ssm_d_inner=_opt_int(h, p + "ssm.inner_size", 0),
            ssm_d_state=_opt_int(h, p + "ssm.state_size", 0),
            ssm_n_group=_opt_int(h, p + "ssm.group_count", 0),
            ssm_dt_rank=_opt_int(h, p + "ssm.time_step_rank", 0),
        )
        if arch not in _PARALLEL_HYBRID_ARCHS:
            kv = tuple(0 if r else k for r, k in zip(recurrent, kv, strict=True))
        n_kv = max(kv) if any(kv) else 0

    # Sliding window.
    window: int | None = None
    swa: tuple[bool, ...] = ()
    period = SWA_PERIOD_BY_ARCH.get(arch)
    if arch == "exaone4" and n_layers != EXAONE4_SWA_LAYERS:
        period = None
    if period is not None:
        window = _opt_int(h, p + "attention.sliding_window", GEMMA2_DEFAULT_WINDOW if arch == "gemma2" else 0)
        if arch == "llama4" and (window or p + "attention.sliding_window" not in h.metadata):
            window = LLAMA4_CHUNK
        pattern = h.metadata.get(p + "attention.sliding_window_pattern")
        if window <= 0:
            window = None
        elif isinstance(pattern, tuple):
            if len(pattern) < n_layers:
                raise InvalidGGUF(
                    f"{p}attention.sliding_window_pattern has {len(pattern)} entries for {n_layers} layers"
                )
            swa = tuple(bool(x) for x in pattern[:n_layers])
        else:
            if pattern is not None:
                period = _req_int(h, p + "attention.sliding_window_pattern", 0) or 0
            swa = tuple(period == 0 or i % period < period - 1 for i in range(n_layers))
        if not any(swa):
            window, swa = None, ()

    per_layer_kv = kv if len(set(kv)) > 1 else ()
    if len(set(ffn)) > 1:
        kw["n_ff_per_layer"] = ffn
    shexp = next((t for t in h.tensors if t.name.endswith(".ffn_up_shexp.weight")), None)
    if shexp is not None and not kw.get("shared_expert_ffn_size"):
        # llama4 GGUFs write no shared-expert keys; the tensor says how wide it is
        kw.update(shared_experts=1, shared_expert_ffn_size=shexp.dims[1])
    extras = (("gguf_file_type", h.file_type_name),) if h.file_type_name else ()
    return ModelShape(
        arch=arch,
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        ffn_size=max(ffn),
        vocab_size=vocab,
        context_max=context,
        value_head_dim=value_dim if value_dim != head_dim else None,
        tied_embeddings=tied,
        sliding_window=window,
        swa_layers=swa,
        n_kv_heads_per_layer=per_layer_kv,
        extras=extras + _tensor_extras(h, arch),
        **kw,
    )


def _tensor_extras(h: GGUFHeader, arch: str) -> tuple[tuple[str, int | float | str | bool], ...]:
    """The optional tensors this file carries, as ``ModelShape.extras`` switches (advisor/core/inventories.py),
    and the per-architecture keys the inventories read."""
    names = {_BLK_NUM.sub("blk.N.", t.name) for t in h.tensors}
    if not names:
        return ()
    out: list[tuple[str, int | float | str | bool]] = [
        ("attn_qkv_bias", "blk.N.attn_q.bias" in names or "blk.N.attn_qkv.bias" in names),
        ("attn_out_bias", "blk.N.attn_output.bias" in names),
        ("qk_norm", "blk.N.attn_q_norm.weight" in names),
        ("rope_freqs", "rope_freqs.weight" in names),
        ("rope_factors", "rope_factors_long.weight" in names),
        ("expert_probs_bias", "blk.N.exp_probs_b.bias" in names),
    ]
    if "blk.N.attn_qkv.weight" in names or "blk.N.attn_q.weight" in names:
        out.append(("attn_qkv_fused", "blk.N.attn_q.weight" not in names))
    if "blk.N.ssm_in.weight" in names:
        out += [("ssm_conv_bias", "blk.N.ssm_conv1d.bias" in names), ("ssm_norm", "blk.N.ssm_norm.weight" in names)]
    p = f"{arch}."
    # llama4.cpp places MoE layers by this step; ernie4-5.cpp reads it but places them by the dense lead only
    step = _opt_int(h, p + "interleave_moe_layer_step", 0) if arch == "llama4" else 0
    if step:
        out.append(("moe_layer_step", step))
    l_cache = _opt_int(h, p + "shortconv.l_cache", 0)
    if l_cache:
        out.append(("shortconv_l_cache", l_cache))
    return tuple(out)
