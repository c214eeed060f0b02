"""ggml tensor types: block size and bytes per block.

Source: llama.cpp as vendored in llama-cpp-python 0.3.36 -- ``ggml/include/ggml.h`` (enum ggml_type ids),
``ggml/src/ggml.c`` (``type_traits``: blck_size, type_size) and ``ggml/src/ggml-common.h`` (the
``static_assert(sizeof(block_*) == ...)`` lines give each block's byte size).

A row of ``ne0`` elements takes ``ne0 / block_size * bytes_per_block`` bytes (``ggml_row_size``);
``ne0`` must be a multiple of the block size.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

QK_K = 256  # ggml-common.h: super-block size of the k-quants and i-quants


class GGMLType(enum.IntEnum):
    """``enum ggml_type`` ids (ggml/include/ggml.h); the ids are what a GGUF tensor info stores."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q8_1 = 9
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    Q8_K = 15
    IQ2_XXS = 16
    IQ2_XS = 17
    IQ3_XXS = 18
    IQ1_S = 19
    IQ4_NL = 20
    IQ3_S = 21
    IQ2_S = 22
    IQ4_XS = 23
    I8 = 24
    I16 = 25
    I32 = 26
    I64 = 27
    F64 = 28
    IQ1_M = 29
    BF16 = 30
    TQ1_0 = 34
    TQ2_0 = 35
    MXFP4 = 39
    NVFP4 = 40
    Q1_0 = 41
    Q2_0 = 42


@dataclass(frozen=True)
class TypeTraits:
    """Block layout of one ggml type."""

    name: str  # ggml's type_name ("q4_K")
    block_size: int  # elements per block (blck_size)
    type_size: int  # bytes per block (type_size)
    is_quantized: bool

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.type_size / self.block_size


# Byte sizes are the sizeof(block_*) static_asserts in ggml-common.h, evaluated with QK_K = 256,
# sizeof(ggml_half) = 2, K_SCALE_SIZE = 12, IQ3S_N_SCALE = QK_K/64.
TRAITS: dict[GGMLType, TypeTraits] = {
    GGMLType.F32: TypeTraits("f32", 1, 4, False),
    GGMLType.F16: TypeTraits("f16", 1, 2, False),
    GGMLType.BF16: TypeTraits("bf16", 1, 2, False),
    GGMLType.F64: TypeTraits("f64", 1, 8, False),
    GGMLType.I8: TypeTraits("i8", 1, 1, False),
    GGMLType.I16: TypeTraits("i16", 1, 2, False),
    GGMLType.I32: TypeTraits("i32", 1, 4, False),
    GGMLType.I64: TypeTraits("i64", 1, 8, False),
    GGMLType.Q1_0: TypeTraits("q1_0", 128, 2 + 128 // 8, True),
    GGMLType.Q2_0: TypeTraits("q2_0", 64, 2 + 64 // 4, True),
    GGMLType.Q4_0: TypeTraits("q4_0", 32, 2 + 32 // 2, True),
    GGMLType.Q4_1: TypeTraits("q4_1", 32, 2 * 2 + 32 // 2, True),
    GGMLType.Q5_0: TypeTraits("q5_0", 32, 2 + 4 + 32 // 2, True),
    GGMLType.Q5_1: TypeTraits("q5_1", 32, 2 * 2 + 4 + 32 // 2, True),
    GGMLType.Q8_0: TypeTraits("q8_0", 32, 2 + 32, True),
    GGMLType.Q8_1: TypeTraits("q8_1", 32, 2 * 2 + 32, True),
    GGMLType.MXFP4: TypeTraits("mxfp4", 32, 1 + 32 // 2, True),
    GGMLType.NVFP4: TypeTraits("nvfp4", 64, 64 // 16 + 64 // 2, True),
    GGMLType.Q2_K: TypeTraits("q2_K", QK_K, 2 * 2 + QK_K // 16 + QK_K // 4, True),
    GGMLType.Q3_K: TypeTraits("q3_K", QK_K, 2 + QK_K // 4 + QK_K // 8 + 12, True),
    GGMLType.Q4_K: TypeTraits("q4_K", QK_K, 2 * 2 + 12 + QK_K // 2, True),
    GGMLType.Q5_K: TypeTraits("q5_K", QK_K, 2 * 2 + 12 + QK_K // 2 + QK_K // 8, True),
    GGMLType.Q6_K: TypeTraits("q6_K", QK_K, 2 + QK_K // 16 + 3 * QK_K // 4, True),
    GGMLType.Q8_K: TypeTraits("q8_K", QK_K, 4 + QK_K + QK_K // 16 * 2, True),
    GGMLType.IQ2_XXS: TypeTraits("iq2_xxs", QK_K, 2 + QK_K // 8 * 2, True),
    GGMLType.IQ2_XS: TypeTraits("iq2_xs", QK_K, 2 + QK_K // 8 * 2 + QK_K // 32, True),
    GGMLType.IQ2_S: TypeTraits("iq2_s", QK_K, 2 + QK_K // 4 + QK_K // 16, True),
    GGMLType.IQ3_XXS: TypeTraits("iq3_xxs", QK_K, 2 + 3 * (QK_K // 8), True),
    GGMLType.IQ3_S: TypeTraits("iq3_s", QK_K, 2 + 13 * (QK_K // 32) + QK_K // 64, True),
    GGMLType.IQ1_S: TypeTraits("iq1_s", QK_K, 2 + QK_K // 8 + QK_K // 16, True),
    GGMLType.IQ1_M: TypeTraits("iq1_m", QK_K, QK_K // 8 + QK_K // 16 + QK_K // 32, True),
    GGMLType.IQ4_NL: TypeTraits("iq4_nl", 32, 2 + 32 // 2, True),
    GGMLType.IQ4_XS: TypeTraits("iq4_xs", QK_K, 2 + 2 + QK_K // 64 + QK_K // 2, True),
    GGMLType.TQ1_0: TypeTraits("tq1_0", QK_K, 2 + QK_K // 64 + (QK_K - 4 * QK_K // 64) // 5, True),
    GGMLType.TQ2_0: TypeTraits("tq2_0", QK_K, 2 + QK_K // 4, True),
}


def traits(t: GGMLType) -> TypeTraits:
    return TRAITS[t]


def block_size(t: GGMLType) -> int:
    return TRAITS[t].block_size


def row_bytes(t: GGMLType, ne0: int) -> int:
    """Bytes of one row of ``ne0`` elements (ggml_row_size). Raises if ne0 is not a block multiple."""
    tr = TRAITS[t]
    if ne0 % tr.block_size != 0:
        raise ValueError(f"row length {ne0} is not a multiple of {tr.name} block size {tr.block_size}")
    return ne0 // tr.block_size * tr.type_size


def tensor_bytes(t: GGMLType, dims: tuple[int, ...]) -> int:
    """Bytes of a whole tensor with ggml dims ``(ne0, ne1, ...)`` (ggml_nbytes for a contiguous tensor)."""
    n_rows = 1
    for d in dims[1:]:
        n_rows *= d
    return row_bytes(t, dims[0]) * n_rows


def type_by_name(name: str) -> GGMLType:
    """Look a type up by enum name ("Q4_K") or ggml type_name ("q4_K"), case-insensitive."""
    key = name.strip().upper()
    if key in GGMLType.__members__:
        return GGMLType[key]
    for t, tr in TRAITS.items():
        if tr.name.upper() == key:
            return t
    raise KeyError(f"unknown ggml type {name!r}")
