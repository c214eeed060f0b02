"""Weight bytes against GGUF file sizes that model cards and llama.cpp publish.

The target: the engine's weight bytes (every tensor's ggml_nbytes, the simulated llama-quantize type
mix of the preset) within 2 % of the published file size. A file also holds its header (tokenizer,
metadata): about 7 MB for a 128k-token Llama 3 vocabulary, i.e. up to 1 % of a 1B model's file, so
small models sit below their published size. Model-card sizes are decimal GB with two decimals.
"""

from __future__ import annotations

import pytest

from advisor.catalog.models_catalog import get_model
from advisor.core.quantize import tensor_types, weights_bytes

GB = 10**9
GIB = 2**30

# bartowski's quants are all made with an importance matrix ("All quants made using imatrix option").
BARTOWSKI_LLAMA_32_1B = (
    "https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF (README 'Download a file' table, "
    "llama.cpp b3821; read through the mirror https://shuiyin.accos.tk/bartowski/Llama-3.2-1B-Instruct-GGUF)"
)
BARTOWSKI_GEMMA_2_9B = (
    "https://huggingface.co/bartowski/gemma-2-9b-it-GGUF/blob/4a1fd289a13f8871c384e9b6955b09d4a9fce25c/README.md "
    "(llama.cpp b3278)"
)
SMELTCORE_NEMO = (
    "https://smeltcore.com/recipes/mistral-nemo-12b-on-rtx-3090-local-private-assistant-via-llama-cpp-ollama-24gb/ "
    "('GGUF Q8_0 (13.02GB) ... Q6_K (10.06GB) / Q4_K_M (7.48GB)')"
)

# (catalog model id, preset, published size in bytes, source)
MODEL_CARDS: list[tuple[str, str, float, str]] = [
    ("llama-3.2-1b-instruct", "F16", 2.48 * GB, BARTOWSKI_LLAMA_32_1B),
    ("llama-3.2-1b-instruct", "Q8_0", 1.32 * GB, BARTOWSKI_LLAMA_32_1B),
    ("llama-3.2-1b-instruct", "Q6_K", 1.02 * GB, BARTOWSKI_LLAMA_32_1B),
    ("llama-3.2-1b-instruct", "Q5_K_M", 0.91 * GB, BARTOWSKI_LLAMA_32_1B),
    ("llama-3.2-1b-instruct", "Q5_K_S", 0.89 * GB, BARTOWSKI_LLAMA_32_1B),
    ("llama-3.2-1b-instruct", "Q4_K_M", 0.81 * GB, BARTOWSKI_LLAMA_32_1B),
    ("llama-3.2-1b-instruct", "Q4_K_S", 0.78 * GB, BARTOWSKI_LLAMA_32_1B),
    ("gemma-2-9b-it", "Q8_0", 9.82 * GB, BARTOWSKI_GEMMA_2_9B),
    ("mistral-nemo-instruct-2407", "Q8_0", 13.02 * GB, SMELTCORE_NEMO),
    ("mistral-nemo-instruct-2407", "Q6_K", 10.06 * GB, SMELTCORE_NEMO),
    ("mistral-nemo-instruct-2407", "Q4_K_M", 7.48 * GB, SMELTCORE_NEMO),
]

# llama.cpp's own table, tools/quantize/README.md ("size (GiB)" rows for meta-llama/Llama-3.1-8B) in the
# copy vendored in llama-cpp-python 0.3.36: llama-bench's model size, i.e. the tensor data without the
# header, so the engine must agree to the table's rounding (0.005 GiB).
LLAMA_CPP_README_8B: list[tuple[str, float]] = [
    ("F16", 14.96),
    ("Q8_0", 7.95),
    ("Q6_K", 6.14),
    ("Q5_K_M", 5.33),
    ("Q5_K_S", 5.21),
    ("Q4_K_M", 4.58),
    ("Q4_K_S", 4.36),
    ("Q3_K_L", 4.02),
    ("Q3_K_M", 3.74),
    ("Q3_K_S", 3.41),
    ("Q2_K", 2.95),
]


def _weights(model_id: str, preset: str, imatrix: bool) -> int:
    shape = get_model(model_id).to_shape()
    return weights_bytes(shape, tensor_types(shape, preset, has_imatrix=imatrix))


def test_enough_cited_sizes() -> None:
    assert len(MODEL_CARDS) >= 5
    assert len({m for m, *_ in MODEL_CARDS}) >= 3
    assert all(src.startswith("https://") for *_, src in MODEL_CARDS)


@pytest.mark.parametrize(("model_id", "preset", "published", "source"), MODEL_CARDS,
                         ids=[f"{m}-{p}" for m, p, _, _ in MODEL_CARDS])  # fmt: skip
def test_weights_within_two_percent_of_model_card_sizes(model_id: str, preset: str, published: float,
                                                         source: str) -> None:  # fmt: skip
    got = _weights(model_id, preset, imatrix=True)
    assert abs(got - published) / published <= 0.02, f"{got / GB:.3f} GB vs {published / GB:.2f} GB ({source})"
    # the header makes the file larger than its tensor data, never smaller (to the card's rounding)
    assert got <= published + 0.005 * GB + 0.001 * published


@pytest.mark.parametrize(("preset", "gib"), LLAMA_CPP_README_8B, ids=[p for p, _ in LLAMA_CPP_README_8B])
def test_weights_match_llama_cpp_readme_sizes(preset: str, gib: float) -> None:
    got = _weights("llama-3.1-8b", preset, imatrix=False) / GIB
    assert got == pytest.approx(gib, abs=0.005 + 1e-9)
