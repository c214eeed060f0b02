"""Vision projectors against llama.cpp's own numbers (bench/mmproj_cpu.py, libmtmd on the CPU)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from advisor.catalog.mmproj import load_projectors, projector_for
from advisor.catalog.models_catalog import load_models
from advisor.core import mmproj
from advisor.core.ggml_types import GGMLType

MIB = 1024 * 1024
_BENCH = Path(__file__).resolve().parents[2] / "bench" / "data" / "mmproj_cpu.jsonl"


def _catalog_records() -> list[dict]:
    return [r for r in map(json.loads, _BENCH.read_text().splitlines()) if r["catalog"]]


# clip.cpp's "model size" and "CPU compute buffer size" lines for the catalog's towers (MiB).
MEASURED = [
    ("gemma-3-4b-it", False, 811.79, 1132.00),
    ("gemma-3-4b-it", True, 811.79, 121.25),
    ("gemma-3-27b-it", True, 817.98, 121.25),
    ("qwen3-vl-2b-instruct", False, 781.42, 4728.07),
    ("qwen3-vl-2b-instruct", True, 781.42, 322.49),
    ("qwen3-vl-8b-instruct", False, 1105.32, 4769.39),
    ("qwen3-vl-8b-instruct", True, 1105.32, 372.08),
    ("qwen3-vl-32b-instruct", True, 1141.33, 417.54),
    ("qwen3.5-27b", False, 884.62, 4657.81),
    ("qwen3.5-27b", True, 884.62, 248.10),
    ("mistral-small-3.1-24b-instruct-2503", False, 837.36, 86.62),
    ("devstral-small-2-24b-instruct-2512", True, 837.36, 64.62),
    ("llama-4-scout-17b-16e-instruct", False, 1665.83, 37.11),
    ("llama-4-maverick-17b-128e-instruct", True, 1665.83, 19.89),
    ("gemma-4-e2b-it", True, 351.57, 101.27),
    ("gemma-4-e4b-it", False, 353.07, 276.77),
    ("gemma-4-26b-a4b-it", True, 1137.77, 150.63),
    ("gemma-4-31b-it", False, 1143.39, 381.39),
    ("kimi-k2.5", False, 908.42, 16924.88),
    ("kimi-k2.6", True, 908.42, 468.88),
]


@pytest.mark.parametrize(("model_id", "fa", "model_mib", "compute_mib"), MEASURED)
def test_mmproj_matches_llama_cpp_measured(model_id: str, fa: bool, model_mib: float, compute_mib: float) -> None:
    tower = load_projectors()[model_id].tower
    assert mmproj.weight_bytes(tower) / MIB == pytest.approx(model_mib, abs=0.006)
    assert mmproj.compute_buffer_bytes(tower, flash_attn=fa) / MIB == pytest.approx(compute_mib, rel=0.02)


def test_mmproj_every_catalog_tower_in_bench_within_two_percent() -> None:
    records = _catalog_records()
    assert len(records) >= 32
    assert {r["projector"] for r in records} == {"gemma3", "qwen3vl_merger", "pixtral", "llama4", "gemma4v", "kimik25"}
    for r in records:
        tower = load_projectors()[r["model"]].tower
        m = r["measured"]
        assert m["loaded"], r["model"]
        assert mmproj.weight_bytes(tower) / MIB == pytest.approx(m["model_mib"], abs=0.006), r["model"]
        got = mmproj.compute_buffer_bytes(tower, flash_attn=r["flash_attn"]) / MIB
        assert got == pytest.approx(m["compute_mib"], rel=0.02), (r["model"], r["flash_attn"])
        assert mmproj.warmup_image_size(tower) == m["warmup_px"]


def test_mmproj_flash_attention_off_costs_the_attention_scores() -> None:
    # Gemma 3: 4096 patches x 16 heads of F32 scores = 1 GiB more than with flash attention.
    tower = load_projectors()["gemma-3-12b-it"].tower
    off = mmproj.compute_buffer_bytes(tower, flash_attn=False)
    on = mmproj.compute_buffer_bytes(tower, flash_attn=True)
    assert off - 6 * 1152 * 4096 * 4 == 16 * 4096 * 4096 * 4
    assert on == (4304 + 3 * 1152) * 4096 * 4


def test_mmproj_q8_0_keeps_rows_that_do_not_divide_and_patch_embedding() -> None:
    tower = load_projectors()["qwen3.5-27b"].tower
    types = {pt.name: mmproj.tensor_type(pt, GGMLType.Q8_0) for pt in mmproj.projector_tensors(tower)}
    assert types["v.blk.0.attn_qkv.weight"] == GGMLType.Q8_0
    assert types["v.blk.0.ffn_down.weight"] == GGMLType.F16  # 4304 is not a multiple of 32
    assert types["v.patch_embd.weight"] == GGMLType.F32
    # ffn_down (a third of each layer) stays F16: the file shrinks to 68 %, not 53 %
    assert 0.67 < mmproj.weight_bytes(tower, GGMLType.Q8_0) / mmproj.weight_bytes(tower) < 0.69


def test_mmproj_deepstack_layers_add_their_mergers() -> None:
    vl = load_projectors()["qwen3-vl-8b-instruct"].tower
    plain = replace(vl, deepstack_layers=())
    extra = mmproj.weight_bytes(vl) - mmproj.weight_bytes(plain)
    merged = 4 * 1152
    per_layer = 2 * (merged * merged + merged * 4096) + 4 * (3 * merged + 4096)
    assert extra == 3 * per_layer


def test_mmproj_catalog_models_are_the_multimodal_ones() -> None:
    ids = {m.id for m in load_models()}
    assert set(load_projectors()) <= ids
    assert projector_for("gemma-3-4b-it") is not None
    assert projector_for("gemma-3-1b-it") is None  # text only
    assert projector_for("qwen3-8b") is None
    for model_id, p in load_projectors().items():
        assert p.tower.proj_dim == next(m.hidden_size for m in load_models() if m.id == model_id)


def test_mmproj_unknown_projector_is_a_clear_error() -> None:
    tower = replace(load_projectors()["gemma-3-4b-it"].tower, projector="gemma3nv")
    with pytest.raises(ValueError, match="gemma3nv"):
        mmproj.projector_tensors(tower)
    with pytest.raises(ValueError, match="gemma3nv"):
        mmproj.compute_buffer_bytes(tower, flash_attn=True)


def test_mmproj_gemma4_im2col_hole_counts_only_when_rows_do_not_fit_it() -> None:
    # 768 px warm-up, 48 x 48 patches; the patch convolution's im2col is 3 x 16 x 16 = 768 floats per
    # patch: the 768-wide tower (E2B/E4B) reuses it, the 1152-wide one (26B/31B) cannot.
    small, big = load_projectors()["gemma-4-e4b-it"].tower, load_projectors()["gemma-4-31b-it"].tower
    row = 4 * 48 * 48
    assert mmproj.warmup_image_size(small) == mmproj.warmup_image_size(big) == 768
    assert mmproj.compute_buffer_bytes(small, flash_attn=True) == row * (3 * 3072 + 3 * 768 + 2)
    assert mmproj.compute_buffer_bytes(big, flash_attn=True) == row * (3 * 4304 + 3 * 1152 + 768 + 2)
    # two position tables of 10240 x n_embd F32: 60 MiB of the small tower's 351.57 MiB
    pos = next(pt for pt in mmproj.projector_tensors(small) if pt.name == "v.position_embd.weight")
    assert pos.dims == (768, 10240, 2) and mmproj.tensor_type(pos, GGMLType.F16) == GGMLType.F32


def test_mmproj_llama4_and_pixtral_projector_shapes() -> None:
    scout = {
        pt.name: pt.dims for pt in mmproj.projector_tensors(load_projectors()["llama-4-scout-17b-16e-instruct"].tower)
    }
    assert scout["v.position_embd.weight"] == (1408, 24 * 24 + 1)  # a position per patch plus [CLS]
    assert scout["mm.model.mlp.1.weight"] == (1408 * 4, 4096) and scout["mm.model.fc.weight"] == (4096, 5120)
    pix = {
        pt.name: pt.dims
        for pt in mmproj.projector_tensors(load_projectors()["mistral-small-3.2-24b-instruct-2506"].tower)
    }
    assert pix["mm.patch_merger.weight"] == (4096, 1024) and pix["v.token_embd.img_break"] == (5120,)
    assert "v.position_embd.weight" not in pix  # 2-D RoPE only


def test_mmproj_kimi_warms_up_its_largest_image() -> None:
    # in_patch_limit 16384 patches of 14 px: a 1792 px square, 128 x 128 patches; with flash attention
    # off llama.cpp reserves 16 heads x 16384^2 F32 scores (16 GiB) on top of 7 rows of n_embd
    kimi = load_projectors()["kimi-k2.5"].tower
    n = 128 * 128
    assert mmproj.warmup_image_size(kimi) == 1792
    off = mmproj.compute_buffer_bytes(kimi, flash_attn=False)
    assert off == 16 * n * n * 4 + 4 * n * (7 * 1152 + 3 * 14 * 14 + 2)
    assert mmproj.compute_buffer_bytes(kimi, flash_attn=True) == 4 * n * (6 * 1152 + 3 * 14 * 14 + 2)
