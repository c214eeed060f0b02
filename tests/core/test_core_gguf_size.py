"""The GGUF file size (``advisor.core.gguf_size``) against the files llama.cpp itself wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.core.gguf_size import data_bytes, gguf_file_bytes, standin_header_bytes
from advisor.core.quantize import tensor_types
from advisor.core.standin import standin_tensor_types, write_standin
from tests.core_shapes import GEMMA3_270M, QWEN3_06B, SMOLLM2_135M

BENCH = Path(__file__).resolve().parents[2] / "bench" / "data"
RECORDS = [json.loads(line) for line in (BENCH / "quantize_file_sizes.jsonl").read_text().splitlines() if line]


def _shape(rec: dict[str, object]):  # type: ignore[no-untyped-def]
    import tests.core_shapes as shapes
    from advisor.catalog.models_catalog import get_model
    from advisor.core.standin import trim_shape

    name = str(rec["model"])
    shape = getattr(shapes, name) if name.isupper() else get_model(name).to_shape()
    return shape if shape.n_layers == rec["n_layers"] else trim_shape(shape, int(rec["n_layers"]))  # type: ignore[call-overload]


def test_the_bench_covers_every_preset_and_the_moe_formats() -> None:
    from advisor.fit.engine import GGUF_PRESETS

    assert {r["preset"] for r in RECORDS if r["model"] == "SMOLLM2_135M"} == set(GGUF_PRESETS)
    assert {"gpt-oss-20b", "qwen3-30b-a3b", "deepseek-v2-lite-chat", "GEMMA3_270M"} <= {r["model"] for r in RECORDS}


@pytest.mark.parametrize("rec", RECORDS, ids=[f"{r['model']}-{r['preset']}" for r in RECORDS])
def test_file_bytes_equal_what_llama_model_quantize_wrote(rec: dict[str, object]) -> None:
    shape = _shape(rec)
    types = tensor_types(shape, str(rec["preset"]), has_imatrix=bool(rec["imatrix"]))
    assert gguf_file_bytes(shape, types) == rec["file_bytes"]
    assert standin_header_bytes(shape) == rec["data_offset"]


@pytest.mark.parametrize("shape", [SMOLLM2_135M, GEMMA3_270M, QWEN3_06B], ids=lambda s: s.arch)
def test_unquantized_size_equals_the_stand_in_file(shape, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The converter-like F16 file (no general.quantization_version) that write_standin writes, sparse."""
    path = write_standin(shape, tmp_path / "f16.gguf")
    assert gguf_file_bytes(shape, standin_tensor_types(shape), quantized=False) == path.stat().st_size


def test_h100_llama_quantize_files_within_the_older_stand_in_header() -> None:
    """The H100 bench files were quantized by the llama-quantize binary from stand-ins of an earlier
    write_standin (a few keys fewer): the data section is exact, the header within 64 bytes."""
    from advisor.catalog.models_catalog import get_model
    from advisor.core.quantize import needs_imatrix

    seen = 0
    for line in (BENCH / "memory_h100.jsonl").read_text().splitlines():
        rec = json.loads(line)
        shape = get_model(rec["model_id"]).to_shape()
        if shape.n_layers != rec["shape_layers"]:
            continue
        types = tensor_types(shape, rec["preset"], has_imatrix=needs_imatrix(shape, rec["preset"]))
        assert 0 <= gguf_file_bytes(shape, types) - rec["file_bytes"] <= 64
        assert rec["file_bytes"] - data_bytes(shape, types) > 0
        seen += 1
    assert seen >= 50


def test_plan_file_size_bits_and_tied_embedding_not_counted_twice() -> None:
    from advisor.catalog.models_catalog import get_model
    from advisor.fit.args import parse_fit_params
    from advisor.fit.engine import make_plan

    def plan(model: str, quant: str):  # type: ignore[no-untyped-def]
        return make_plan(parse_fit_params({"model": [model], "quant": [quant], "gpu": ["RTX 4090"], "ram": ["64"]}))

    # gpt-oss-20b MXFP4_MOE: the H200 bench file (bench/data/speed_h200.jsonl, write_standin with
    # llama_model_quantize's types, no general.quantization_version) is 12,101,502,880 bytes; llama-quantize
    # adds that key (44 bytes), which here takes the padded header two 32-byte units further.
    oss = plan("gpt-oss-20b", "MXFP4_MOE")
    shape = get_model("gpt-oss-20b").to_shape()
    assert gguf_file_bytes(shape, tensor_types(shape, "MXFP4_MOE"), quantized=False) == 12_101_502_880
    assert oss.file_bytes == 12_101_502_880 + 64
    assert oss.bits_per_weight == pytest.approx(4.63, abs=0.01)  # not the Llama-3.1-8B table's 8.50
    out = oss.to_dict()
    assert out["file_bytes"] == oss.file_bytes and out["bits_per_weight"] == pytest.approx(4.63, abs=0.01)
    # Gemma 3 4B ties its embeddings: the host keeps token_embd, the GPU a copy as the output.
    gemma = plan("gemma-3-4b-it", "Q4_K_M")
    assert gemma.file_bytes == 2_489_687_744  # bench/data/memory_h100.jsonl, llama-quantize's output
    assert gemma.memory.weights_bytes - gemma.file_bytes > 500 * 2**20


def test_the_stand_in_header_is_worked_out_once_however_it_is_asked_for() -> None:
    """advisor.warmup asks standin_header_bytes(shape), plans ask (shape, True): one cached value for both."""
    from advisor.core import gguf_size

    gguf_size.standin_header_bytes(GEMMA3_270M)
    misses = gguf_size._standin_header_bytes.cache_info().misses
    assert gguf_size.standin_header_bytes(GEMMA3_270M, True) == gguf_size.standin_header_bytes(GEMMA3_270M)
    assert gguf_size.standin_header_bytes(GEMMA3_270M, quantized=True) > 0
    assert gguf_size._standin_header_bytes.cache_info().misses == misses
