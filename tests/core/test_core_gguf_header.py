"""GGUF header reading: real files from pip packages, split models, corrupt and hostile headers."""

from __future__ import annotations

import contextlib
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.core.gguf_header import (
    InvalidGGUF,
    NeedMoreBytes,
    parse_gguf_prefix,
    read_gguf_header,
    shape_from_gguf,
    split_paths,
)
from tests.gguf_samples import gemma3_gguf, smollm2_gguf

# --- real files -------------------------------------------------------------------------------


def test_smollm2_header() -> None:
    path = smollm2_gguf()
    h = read_gguf_header(path)
    assert (h.version, len(h.tensors), h.alignment) == (3, 272, 32)
    assert h.architecture == "llama" and h.file_type_name == "Q4_1"
    # The header plus the padded data section is the whole file.
    assert h.file_size == path.stat().st_size == 98362432
    assert h.header_bytes + h.data_bytes == h.file_size
    assert h.type_counts() == {"Q8_0": 1, "F32": 61, "Q4_1": 210}
    emb = h.tensor("token_embd.weight")
    assert emb is not None
    # Q8_0: 34 bytes per block of 32 (ggml-common.h) -> 576 / 32 * 34 * 49152.
    assert (emb.dims, emb.type_name, emb.n_bytes) == ((576, 49152), "Q8_0", 576 // 32 * 34 * 49152)
    # Huge arrays are kept by length only.
    assert "tokenizer.ggml.tokens" not in h.metadata
    assert h.array_lengths["tokenizer.ggml.tokens"] == 49152
    assert h.array_lengths["tokenizer.ggml.merges"] == 48900


def test_smollm2_shape() -> None:
    s = shape_from_gguf(read_gguf_header(smollm2_gguf()))
    assert (s.arch, s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim) == (
        "llama",
        30,
        576,
        9,
        3,
        64,
    )
    assert (s.ffn_size, s.vocab_size, s.context_max, s.tied_embeddings) == (1536, 49152, 8192, True)
    assert s.swa_layers == () and not s.is_moe


def test_smollm2_agrees_with_gguf_reader() -> None:
    """The bounded reader sees exactly what the gguf package's GGUFReader sees."""
    path = smollm2_gguf()
    ours = read_gguf_header(path)
    ref = GGUFReader(path)
    assert len(ref.tensors) == len(ours.tensors)
    for t, r in zip(ours.tensors, ref.tensors, strict=True):
        expected = (r.name, tuple(int(d) for d in r.shape), int(r.tensor_type), int(r.n_bytes))
        assert (t.name, t.dims, t.ggml_type, t.n_bytes) == expected
        assert ours.header_bytes + t.offset == int(r.data_offset)
    for key, field in ref.fields.items():
        if key.startswith("GGUF."):
            continue
        if field.types[0] == GGUFValueType.ARRAY:
            assert ours.array_lengths[key] == len(field.data)
        else:
            assert ours.metadata[key] == pytest.approx(field.contents())


def test_gemma3_header_and_shape() -> None:
    path = gemma3_gguf()
    h = read_gguf_header(path)
    assert (len(h.tensors), h.file_type_name, h.file_size) == (236, "Q4_K_M", 253113024)
    assert h.header_bytes + h.data_bytes == h.file_size
    assert h.type_counts() == {"F32": 109, "Q8_0": 10, "Q5_0": 81, "Q4_K": 27, "Q6_K": 9}
    s = shape_from_gguf(h)
    assert (s.arch, s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.head_dim) == (
        "gemma3",
        18,
        640,
        4,
        1,
        256,
    )
    assert (s.vocab_size, s.context_max, s.sliding_window) == (262144, 32768, 512)
    # src/models/gemma3.cpp: load_swa_pattern(ml, 6) -> every 6th layer is full attention.
    assert [i for i, swa in enumerate(s.swa_layers) if not swa] == [5, 11, 17]


def test_prefix_parse_asks_for_more_then_succeeds() -> None:
    path = gemma3_gguf()
    size = path.stat().st_size
    data = path.read_bytes()[: 8 * 1024 * 1024]
    with pytest.raises(NeedMoreBytes) as info:
        parse_gguf_prefix(data[:4096], size)
    assert info.value.needed > 4096
    n = 4096
    while True:
        try:
            h = parse_gguf_prefix(data[:n], size)
            break
        except NeedMoreBytes as more:
            n = max(n * 2, more.needed)
    assert n <= 8 * 1024 * 1024
    assert h == read_gguf_header(path)


def test_truncated_real_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(smollm2_gguf().read_bytes()[:500_000])
    with pytest.raises(InvalidGGUF, match=r"^cut\.gguf: truncated GGUF"):
        read_gguf_header(cut)
    # Cut inside the tensor data: the header parses but the tensors do not fit.
    cut.write_bytes(smollm2_gguf().read_bytes()[:5_000_000])
    with pytest.raises(InvalidGGUF, match="the tensors need 98362432 bytes but the file has 5000000"):
        read_gguf_header(cut)


# --- synthetic files (written with the gguf package) ------------------------------------------


def write_small(
    path: Path,
    *,
    arch: str = "llama",
    split: tuple[int, int, int] | None = None,
    tensors: tuple[str, ...] = ("token_embd.weight", "blk.0.attn_q.weight"),
) -> Path:
    w = GGUFWriter(path, arch)
    if split is None or split[0] == 0:
        w.add_block_count(2)
        w.add_context_length(128)
        w.add_embedding_length(64)
        w.add_feed_forward_length(128)
        w.add_head_count(4)
        w.add_head_count_kv(2)
        w.add_token_list([f"t{i}" for i in range(100)])
    if split is not None:
        w.add_uint16("split.no", split[0])
        w.add_uint16("split.count", split[1])
        w.add_int32("split.tensors.count", split[2])
    for name in tensors:
        if name == "token_embd.weight":
            w.add_tensor(name, np.zeros((100, 64), dtype=np.float32))
        elif name.endswith("ffn_up.weight"):
            w.add_tensor(name, np.zeros((64, 64 // 32 * 18), dtype=np.uint8), raw_dtype=GGMLQuantizationType.Q4_0)
        else:
            w.add_tensor(name, np.zeros((64, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_small_file_sizes(tmp_path: Path) -> None:
    p = write_small(tmp_path / "m.gguf", tensors=("token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight"))
    h = read_gguf_header(p)
    assert [t.n_bytes for t in h.tensors] == [100 * 64 * 4, 64 * 64 * 2, 64 * 64 // 32 * 18]
    assert h.header_bytes + h.data_bytes == p.stat().st_size
    assert h.metadata["tokenizer.ggml.tokens"] == tuple(f"t{i}" for i in range(100))
    s = shape_from_gguf(h)
    assert (s.n_layers, s.head_dim, s.vocab_size, s.tied_embeddings) == (2, 16, 100, True)


def test_split_model_is_merged(tmp_path: Path) -> None:
    first = write_small(tmp_path / "m-00001-of-00002.gguf", split=(0, 2, 3), tensors=("token_embd.weight",))
    second = write_small(
        tmp_path / "m-00002-of-00002.gguf",
        split=(1, 2, 3),
        tensors=("blk.0.attn_q.weight", "blk.1.attn_q.weight"),
    )
    assert split_paths(second) == [first, second]
    h = read_gguf_header(second)  # any shard finds the others
    assert [t.name for t in h.tensors] == ["token_embd.weight", "blk.0.attn_q.weight", "blk.1.attn_q.weight"]
    assert [t.shard for t in h.tensors] == [0, 1, 1]
    assert h.file_size == first.stat().st_size + second.stat().st_size
    assert h.shard_sizes == (first.stat().st_size, second.stat().st_size)
    assert h.metadata["llama.block_count"] == 2
    assert h.tensor_bytes == 100 * 64 * 4 + 2 * 64 * 64 * 2


def test_split_model_missing_shard(tmp_path: Path) -> None:
    first = write_small(tmp_path / "m-00001-of-00003.gguf", split=(0, 3, 1), tensors=("token_embd.weight",))
    with pytest.raises(InvalidGGUF, match=r"missing shard\(s\) m-00002-of-00003\.gguf, m-00003-of-00003\.gguf"):
        read_gguf_header(first)


def test_split_tensor_count_mismatch(tmp_path: Path) -> None:
    write_small(tmp_path / "m-00001-of-00002.gguf", split=(0, 2, 5), tensors=("token_embd.weight",))
    second = write_small(tmp_path / "m-00002-of-00002.gguf", split=(1, 2, 5), tensors=("blk.0.attn_q.weight",))
    with pytest.raises(InvalidGGUF, match=r"split\.tensors\.count is 5 but the shards hold 2 tensors"):
        read_gguf_header(second)


# --- hand-made corrupt headers ----------------------------------------------------------------


def _s(text: str | bytes) -> bytes:
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def header(n_tensors: int = 0, kvs: bytes = b"", n_kv: int = 0, version: int = 3, tensors: bytes = b"") -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + kvs + tensors


def kv_u32(key: str, value: int) -> bytes:
    return _s(key) + struct.pack("<II", GGUFValueType.UINT32, value)


def tensor_info(name: str, dims: tuple[int, ...], type_id: int, offset: int) -> bytes:
    return (
        _s(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<Q", d) for d in dims)
        + struct.pack("<IQ", type_id, offset)
    )


def parse(data: bytes) -> object:
    return parse_gguf_prefix(data, len(data))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GGML" + bytes(20), r"not a GGUF file: starts with b'GGML'"),
        (b"GG", r"truncated GGUF: magic needs bytes 0\.\.4"),
        (header(version=1), "GGUF version 1 is not supported"),
        (b"GGUF" + struct.pack(">I", 3) + bytes(16), "big-endian GGUF files are not supported"),
        (header(version=7), "unknown GGUF version 7"),
        (header(n_tensors=2**40), r"tensor count claims 1099511627776 entries, more than the limit"),
        (
            header(n_tensors=1000),
            r"tensor count claims 1000 entries \(at least 24000 bytes\) but only 8 bytes remain",
        ),
        (header(n_kv=2**62), "metadata count claims"),
        (
            header(n_kv=1, kvs=struct.pack("<Q", 2**50) + bytes(8)),
            r"key of metadata entry 0 claims a string of 1125899906842624",
        ),
        (
            header(n_kv=1, kvs=_s("a") + struct.pack("<I", 99) + bytes(8)),
            "metadata 'a' has unknown value type 99",
        ),
        (
            header(n_kv=1, kvs=_s("a") + struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.UINT64, 2**40)),
            r"array 'a' claims 1099511627776 entries, more than the limit",
        ),
        (
            header(n_kv=1, kvs=_s("a") + struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.STRING, 1000)),
            r"array 'a' claims 1000 entries \(at least 8000 bytes\) but only 0 bytes remain",
        ),
        (
            header(n_kv=1, kvs=_s("a") + struct.pack("<IQ", GGUFValueType.STRING, 10**6) + b"xy"),
            "value of 'a' claims a string of 1000000 bytes but only 2 bytes remain",
        ),
        (header(n_kv=2, kvs=kv_u32("a", 1) + kv_u32("a", 2)), "duplicate metadata key 'a'"),
        (
            header(n_kv=1, kvs=kv_u32("general.alignment", 24)),
            "general.alignment must be a power of two, got 24",
        ),
        (header(n_tensors=1, tensors=tensor_info("w", (1, 1, 1, 1, 1), 0, 0)), "tensor 'w' has 5 dimensions"),
        (header(n_tensors=1, tensors=tensor_info("w", (32,), 77, 0)), "tensor 'w' has unknown ggml type 77"),
        (
            header(n_tensors=1, tensors=tensor_info("w", (30,), 2, 0)),
            "tensor 'w' of type Q4_0 has rows of 30 elements, not a multiple of the block size 32",
        ),
        (header(n_tensors=1, tensors=tensor_info("w", (32,), 0, 64)), "tensor 'w' has offset 64, expected 0"),
        (header(n_tensors=1, tensors=tensor_info("w", (2**62, 2**62), 0, 0)), "has too many elements"),
        (
            header(n_tensors=1, tensors=tensor_info("x" * 64, (32,), 0, 0)),
            "name of tensor 0 claims a string of 64",
        ),
        (
            header(n_tensors=1, tensors=tensor_info("w", (1 << 20,), 0, 0)),
            "the tensors need .* bytes but the file has",
        ),
    ],
)
def test_corrupt_headers(data: bytes, message: str) -> None:
    with pytest.raises(InvalidGGUF, match=message):
        parse(data)


def test_hostile_counts_cost_no_memory() -> None:
    """Headers claiming 2^40 entries fail before anything proportional is allocated."""
    hostile = [
        header(n_tensors=2**40),
        header(n_kv=1, kvs=_s("a") + struct.pack("<IIQ", GGUFValueType.ARRAY, GGUFValueType.UINT8, 2**40)),
        header(n_kv=1, kvs=_s("a") + struct.pack("<IQ", GGUFValueType.STRING, 2**62)),
    ]
    tracemalloc.start()
    try:
        for data in hostile:
            with pytest.raises(InvalidGGUF):
                parse_gguf_prefix(data, 10**15)  # even a file "claiming" to be a petabyte
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_unknown_size_prefix_needs_more() -> None:
    data = header(n_kv=1, kvs=_s("general.architecture"))
    with pytest.raises(NeedMoreBytes):
        parse_gguf_prefix(data, None)


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "e.gguf"
    empty.write_bytes(b"")
    with pytest.raises(InvalidGGUF, match=r"^e\.gguf: empty file$"):
        read_gguf_header(empty)
    with pytest.raises(InvalidGGUF, match=r"missing shard"):
        read_gguf_header(tmp_path / "nope.gguf")


def test_shape_needs_architecture_and_keys(tmp_path: Path) -> None:
    h = read_gguf_header(write_small(tmp_path / "m.gguf"))
    with pytest.raises(InvalidGGUF, match=r"no 'general\.architecture'"):
        shape_from_gguf(type(h)(**{**h.__dict__, "metadata": {}}))
    meta = dict(h.metadata)
    del meta["llama.embedding_length"]
    with pytest.raises(InvalidGGUF, match=r"GGUF metadata has no 'llama\.embedding_length'"):
        shape_from_gguf(type(h)(**{**h.__dict__, "metadata": meta}))
    meta = dict(h.metadata) | {"llama.block_count": 100000}
    with pytest.raises(InvalidGGUF, match=r"more than llama\.cpp's limit of 512"):
        shape_from_gguf(type(h)(**{**h.__dict__, "metadata": meta}))


# --- fuzzing ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = write_small(
        tmp_path_factory.mktemp("fuzz") / "m.gguf",
        tensors=("token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight"),
    )
    return path.read_bytes()


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutations_raise_only_invalid_gguf(small_bytes: bytes, data: st.DataObject) -> None:
    """Flipped bytes, overwritten counts and truncations: a header parses or raises InvalidGGUF."""
    buf = bytearray(small_bytes)
    header_end = 1700  # the metadata and tensor infos of the small file sit in its first ~1.7 KB
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, header_end - 1))
        kind = data.draw(st.sampled_from(["byte", "u64", "u32"]))
        if kind == "byte":
            buf[pos] = data.draw(st.integers(0, 255))
        elif kind == "u32":
            buf[pos : pos + 4] = struct.pack("<I", data.draw(st.integers(0, 2**32 - 1)))
        else:
            buf[pos : pos + 8] = struct.pack("<Q", data.draw(st.integers(0, 2**64 - 1)))
    cut = data.draw(st.one_of(st.just(len(buf)), st.integers(0, len(buf))))
    blob = bytes(buf[:cut])
    try:
        h = parse_gguf_prefix(blob, len(blob))
    except InvalidGGUF:
        return
    assert h.header_bytes <= len(blob)
    with contextlib.suppress(InvalidGGUF):
        shape_from_gguf(h)


@settings(max_examples=300, deadline=2000)
@given(st.binary(min_size=0, max_size=4096))
def test_fuzz_random_bytes_after_magic(tail: bytes) -> None:
    blob = b"GGUF" + struct.pack("<I", 3) + tail
    with contextlib.suppress(InvalidGGUF):
        parse_gguf_prefix(blob, len(blob))


# --- GGUF metadata written the way llama.cpp's converter writes it --------------------------------

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hf_configs"


def convert_like_llama_cpp(config_name: str, arch: str, path: Path) -> Path:
    """A header-only GGUF with the keys ``conversion/*.py`` writes for this config (no weights).

    Keys follow ``TextModel.set_gguf_parameters`` (conversion/base.py) plus the per-model
    additions in conversion/qwen.py (Qwen2MoeModel, Qwen3MoeModel), gemma.py (Gemma2Model), gpt_oss.py and
    deepseek.py (DeepseekV2Model: MLA stored as MQA with latent-sized keys).
    """
    import json

    hp = json.loads((FIXTURES / config_name).read_text())
    w = GGUFWriter(path, arch)
    w.add_block_count(hp["num_hidden_layers"])
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_head_count_kv(hp.get("num_key_value_heads", hp["num_attention_heads"]))
    w.add_vocab_size(hp["vocab_size"])
    if hp.get("head_dim") is not None:
        w.add_key_length(hp["head_dim"])
        w.add_value_length(hp["head_dim"])
    if (n := hp.get("num_local_experts") or hp.get("num_experts") or hp.get("n_routed_experts")) is not None:
        w.add_expert_count(n)
        w.add_expert_used_count(hp["num_experts_per_tok"])
    if arch in ("qwen2moe", "qwen3moe"):  # Qwen3MoeModel extends Qwen2MoeModel
        w.add_expert_feed_forward_length(hp["moe_intermediate_size"])
        if (shared := hp.get("shared_expert_intermediate_size")) is not None:
            w.add_expert_shared_feed_forward_length(shared)
    if arch == "gemma2":
        w.add_sliding_window(hp["sliding_window"])
    if arch == "gpt-oss":
        w.add_sliding_window(hp["sliding_window"])
        w.add_expert_feed_forward_length(hp["intermediate_size"])
    if arch == "deepseek2":
        kv_lora, rope = hp["kv_lora_rank"], hp["qk_rope_head_dim"]
        w.add_head_count_kv(1)  # "deepseek2 using MLA converts into MQA"; GGUFWriter keeps the last value
        w.add_leading_dense_block_count(hp["first_k_dense_replace"])
        if hp.get("q_lora_rank") is not None:
            w.add_q_lora_rank(hp["q_lora_rank"])
        w.add_kv_lora_rank(kv_lora)
        w.add_key_length(kv_lora + rope)
        w.add_value_length(kv_lora)
        w.add_key_length_mla(hp["qk_nope_head_dim"] + rope)
        w.add_value_length_mla(hp["v_head_dim"])
        w.add_expert_feed_forward_length(hp["moe_intermediate_size"])
        w.add_expert_shared_count(hp["n_shared_experts"])
        w.add_rope_dimension_count(rope)
    w.add_tensor("token_embd.weight", np.zeros((2, 32), dtype=np.float32))
    if not hp.get("tie_word_embeddings", arch == "gemma2"):
        w.add_tensor("output.weight", np.zeros((2, 32), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize(
    ("config_name", "arch"),
    [
        ("mlc-deepseek_v2_lite.json", "deepseek2"),
        ("gpt-oss-20b.json", "gpt-oss"),
        ("mlc-gemma2_9b.json", "gemma2"),
        ("mlc-qwen2moe.json", "qwen2moe"),
        ("qwen3-30b-a3b.json", "qwen3moe"),
        ("llama-3.1-8b.json", "llama"),
    ],
)
def test_gguf_and_config_give_the_same_shape(tmp_path: Path, config_name: str, arch: str) -> None:
    from dataclasses import replace

    from advisor.core.hf_config import shape_from_hf_config_path

    h = read_gguf_header(convert_like_llama_cpp(config_name, arch, tmp_path / "m.gguf"))
    from_gguf = replace(shape_from_gguf(h), extras=())
    from_config = replace(shape_from_hf_config_path(FIXTURES / config_name), extras=())
    assert from_gguf == from_config


def test_mla_header_keys_map_back_to_config_geometry(tmp_path: Path) -> None:
    h = read_gguf_header(convert_like_llama_cpp("mlc-deepseek_v2_lite.json", "deepseek2", tmp_path / "m.gguf"))
    assert (h.metadata["deepseek2.attention.head_count_kv"], h.metadata["deepseek2.attention.key_length"]) == (1, 576)
    s = shape_from_gguf(h)
    assert (s.n_kv_heads, s.head_dim, s.v_dim, s.kv_lora_rank, s.qk_rope_head_dim) == (16, 192, 128, 512, 64)


def _hybrid_configs() -> dict[str, dict[str, Any]]:
    """The Qwen3-Next and Granite-hybrid configs of test_core_hf_config (a real config plus hybrid keys)."""
    import json

    qwen = json.loads((FIXTURES / "qwen3-30b-a3b.json").read_text()) | {
        "model_type": "qwen3_next", "full_attention_interval": 4, "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_num_key_heads": 16,
        "linear_num_value_heads": 32, "shared_expert_intermediate_size": 512,
    }  # fmt: skip
    types = ["mamba"] * 8
    types[5] = "attention"
    granite = json.loads((FIXTURES / "llama-3.2-3b.json").read_text()) | {
        "model_type": "granitemoehybrid", "num_hidden_layers": 8, "layer_types": types, "mamba_d_conv": 4,
        "mamba_d_state": 128, "mamba_n_groups": 1, "mamba_n_heads": 48, "mamba_expand": 2,
    }  # fmt: skip
    return {"qwen3next": qwen, "granitehybrid": granite}


@pytest.mark.parametrize("arch", ["qwen3next", "granitehybrid"])
def test_hybrid_gguf_and_config_give_the_same_shape(tmp_path: Path, arch: str) -> None:
    """Keys as conversion/qwen.py (Qwen3NextModel) and conversion/granite.py (GraniteHybridModel) write them."""
    from dataclasses import replace

    from advisor.core.hf_config import shape_from_hf_config

    hp = _hybrid_configs()[arch]
    n = int(hp["num_hidden_layers"])
    w = GGUFWriter(tmp_path / "m.gguf", arch)
    w.add_block_count(n)
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_vocab_size(hp["vocab_size"])
    w.add_key_length(hp["head_dim"])
    w.add_value_length(hp["head_dim"])
    w.add_ssm_conv_kernel(4)
    w.add_ssm_state_size(128)
    if arch == "qwen3next":
        w.add_head_count_kv(hp["num_key_value_heads"])
        w.add_expert_count(hp["num_experts"])
        w.add_expert_used_count(hp["num_experts_per_tok"])
        w.add_expert_feed_forward_length(hp["moe_intermediate_size"])
        w.add_expert_shared_feed_forward_length(512)
        w.add_ssm_group_count(16)
        w.add_ssm_time_step_rank(32)
        w.add_ssm_inner_size(128 * 32)
        w.add_full_attention_interval(4)
    else:
        kv = [hp["num_key_value_heads"] if t == "attention" else 0 for t in hp["layer_types"]]
        w.add_head_count_kv(kv)
        w.add_ssm_group_count(1)
        w.add_ssm_time_step_rank(48)
        w.add_ssm_inner_size(2 * int(hp["hidden_size"]))
    w.add_tensor("token_embd.weight", np.zeros((2, 32), dtype=np.float32))
    if not hp["tie_word_embeddings"]:
        w.add_tensor("output.weight", np.zeros((2, 32), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    from_gguf = replace(shape_from_gguf(read_gguf_header(tmp_path / "m.gguf")), extras=())
    assert from_gguf == replace(shape_from_hf_config(hp), extras=())
    assert any(from_gguf.recurrent_layers) and not all(from_gguf.recurrent_layers)
