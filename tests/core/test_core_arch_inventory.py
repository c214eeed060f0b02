"""Tensor inventories for every architecture, checked against llama.cpp.

* Every catalog model gets an inventory and a Q4_K_M type mix, and its tensors add up to the catalog's
  parameter count (the tolerance of tests/test_catalog_models.py).
* Real GGUF headers (tests/gguf_samples.py) list exactly the inventory's tensors.
* ``bench/data/arch_cpu_loads.jsonl`` (bench/arch_cpu_loads.py): llama.cpp loaded a trimmed stand-in of
  every architecture, so names, shapes and count are llama.cpp's; its tensor bytes and elements equal
  the inventory's, its CPU model buffer is within 2 %, and llama_model_quantize gave the Q4_K_M types the
  engine predicts. The records must still match what the code computes today.
* An architecture without an inventory is one specific exception with a one-line message, and an
  approximate size from the parameter count is available for it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from advisor.catalog.models_catalog import CatalogModel, load_models
from advisor.core.approx_weights import approximate_weights_bytes
from advisor.core.ggml_types import GGMLType, tensor_bytes
from advisor.core.gguf_header import read_gguf_header, shape_from_gguf
from advisor.core.quantize import tensor_types, weights_bytes
from advisor.core.shape import ModelShape
from advisor.core.standin import standin_tensor_types
from advisor.core.tensor_spec import Builder, arch_tensor_templates
from advisor.core.tensors import HOW_BUILT, SUPPORTED_ARCHS, UnsupportedArchitecture, tensor_inventory
from tests.catalog.test_catalog_models import PARAM_TOLERANCE
from tests.gguf_samples import gemma3_gguf, smollm2_gguf

ROOT = Path(__file__).resolve().parents[2]
LOADS = ROOT / "bench" / "data" / "arch_cpu_loads.jsonl"
MODELS = load_models()

# Records whose params_total counts weights llama.cpp's text model does not load (the record's notes say
# so; the same exceptions as tests/test_catalog_models.py).
NOT_IN_TEXT_MODEL = {"gemma-3-4b-it": "vision encoder", "gemma-3-4b-it-qat": "vision encoder"}


@functools.cache
def bench_module() -> ModuleType:
    """bench/arch_cpu_loads.py (not a package): its subjects and stand-in rule."""
    spec = importlib.util.spec_from_file_location("arch_cpu_loads", ROOT / "bench" / "arch_cpu_loads.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _loads() -> dict[str, dict[str, object]]:
    return {r["arch"]: r for r in map(json.loads, LOADS.read_text().splitlines()) if r}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.id)
def test_every_catalog_model_plans_at_q4_k_m(model: CatalogModel) -> None:
    s = model.to_shape()
    inv = tensor_inventory(s)
    names = [t.name for t in inv]
    assert len(set(names)) == len(names), "a tensor listed twice"
    types = tensor_types(s, "Q4_K_M")
    assert set(types) == set(names)
    n = sum(t.n_elements for t in inv)
    # Q4_K_M is 4.5 bits on most matrices plus Q6_K on some; small models with large vocabularies the most:
    # Gemma 3 270M (63 % of its weights the Q8_0 token_embd) is 7.36 bits, as llama.cpp reports for its Q4_K_M
    # file (tests/fixtures/loadlogs/cpu_gemma3_270m_q4_k_m_c4096_auto.log)
    assert 4.7 < 8 * weights_bytes(s, types) / n < 7.5
    error = abs(n - model.params_total) / model.params_total
    if model.id in NOT_IN_TEXT_MODEL:
        assert NOT_IN_TEXT_MODEL[model.id] in model.notes and error > PARAM_TOLERANCE
    else:
        assert error <= PARAM_TOLERANCE, f"{model.id}: {n:,} elements vs params_total {model.params_total:,}"


def test_llama_4_maverick_alternates_dense_and_moe_layers() -> None:
    # interleave_moe_layer_step=2: 24 MoE layers of 128 experts, 24 dense; ~400B parameters in all
    s = next(m for m in MODELS if m.id == "llama-4-maverick-17b-128e-instruct").to_shape()
    inv = tensor_inventory(s)
    moe = {t.layer for t in inv if t.name.endswith("ffn_gate_exps.weight")}
    assert moe == set(range(1, 48, 2))
    assert sum(t.n_elements for t in inv) == 400_711_848_960


def test_glm_qk_norms_follow_use_qk_norm() -> None:
    def norms(model_id: str) -> int:
        s = next(m for m in MODELS if m.id == model_id).to_shape()
        return sum(1 for t in tensor_inventory(s) if t.name.endswith("attn_q_norm.weight"))

    assert norms("glm-4.5") == 92 and norms("glm-4.5-air") == 0


@pytest.mark.parametrize("path", [smollm2_gguf, gemma3_gguf], ids=["smollm2-135m", "gemma-3-270m"])
def test_real_gguf_headers_list_exactly_the_inventory(path: object) -> None:
    assert callable(path)
    header = read_gguf_header(path())
    s = shape_from_gguf(header)
    ours = {t.name: t.dims for t in tensor_inventory(s)}
    theirs = {t.name: tuple(t.dims) for t in header.tensors}
    assert ours == theirs
    assert sum(t.n_elements for t in header.tensors) == sum(t.n_elements for t in tensor_inventory(s))


def test_every_architecture_is_known_to_gguf_and_built_somehow() -> None:
    assert set(HOW_BUILT) == set(SUPPORTED_ARCHS)
    for arch in SUPPORTED_ARCHS:
        # laguna is newer than the installed gguf 0.19.0: its names are checked by llama.cpp loading it instead
        assert arch_tensor_templates(arch) or (arch == "laguna" and _loads()[arch]["loaded"]), arch
    assert {"glm4moe", "command-r", "olmo2", "exaone4", "llama"} <= {
        a for a, how in HOW_BUILT.items() if how == "recipe"
    }
    assert {"granitehybrid", "nemotron_h", "falcon-h1", "qwen35", "deepseek2"} <= {
        a for a, how in HOW_BUILT.items() if how == "own code"
    }


def test_a_name_gguf_does_not_list_for_the_arch_is_refused() -> None:
    b = Builder("llama")
    b.blk(0, "attn_q.weight", 8, 8)
    with pytest.raises(AssertionError, match="ssm_in"):
        b.blk(0, "ssm_in.weight", 8, 8)


def test_unknown_architecture_is_one_specific_exception() -> None:
    s = ModelShape(arch="rwkv7", n_layers=2, hidden_size=64, n_heads=1, n_kv_heads=1, head_dim=64,
                   ffn_size=256, vocab_size=300, context_max=1024)  # fmt: skip
    with pytest.raises(UnsupportedArchitecture) as info:
        tensor_inventory(s)
    exc = info.value
    assert isinstance(exc, NotImplementedError) and isinstance(exc, ValueError)
    assert exc.arch == "rwkv7" and "'rwkv7'" in str(exc) and "\n" not in str(exc)


def test_make_plan_gives_an_unknown_architecture_a_labelled_approximate_plan() -> None:
    from advisor.core.approx_weights import APPROXIMATE_LABEL
    from advisor.fit.args import FitParams
    from advisor.fit.engine import make_plan

    s = ModelShape(arch="rwkv7", n_layers=2, hidden_size=64, n_heads=1, n_kv_heads=1, head_dim=64,
                   ffn_size=256, vocab_size=300, context_max=1024)  # fmt: skip
    plan = make_plan(FitParams(model="some-rwkv", quant="Q4_K_M", ctx=1024, ram_gib=16), lambda _id: s)
    assert plan.approximate is not None and plan.approximate.arch == "rwkv7"
    assert "'rwkv7'" in plan.notice and APPROXIMATE_LABEL in plan.notice and "\n" not in plan.notice
    out = plan.to_dict()
    assert out["exact"] is False and out["approximate"]["label"] == APPROXIMATE_LABEL
    assert plan.n_params == plan.approximate.params


# count_params treats every layer as MoE (Maverick) or as attention plus FFN (Nemotron-H's one-kind layers);
# Gemma 4 E2B/E4B's and Gemma 3n E2B/E4B's per-layer embedding tables (a third of the file) are quantized like
# token_embd, not like the llama-shaped layers the estimate assumes.
APPROXIMATE_OUTLIERS = (
    "llama-4-maverick-17b-128e-instruct",
    "nemotron-3-nano-30b-a3b",
    "nemotron-3-super-120b-a12b",
    "nemotron-nano-9b-v2",
    "gemma-4-e2b-it",
    "gemma-4-e4b-it",
    "gemma-3n-e2b-it",
    "gemma-3n-e4b-it",
)


@pytest.mark.parametrize(
    "model",
    [m for m in MODELS if m.id not in APPROXIMATE_OUTLIERS],
    ids=lambda m: m.id,
)
def test_approximate_size_is_labelled_and_close(model: CatalogModel) -> None:
    # the estimate is for architectures without an inventory; on the catalog it is within 4 % of the
    # exact size (Phi-3's fused FFN is the farthest); APPROXIMATE_OUTLIERS says why the others are out.
    s = model.to_shape()
    exact = weights_bytes(s, tensor_types(s, "Q4_K_M"))
    est = approximate_weights_bytes(s, "Q4_K_M")
    assert est.approximate and "approximate" in est.basis
    assert abs(est.bytes / exact - 1) < 0.04


def test_cpu_loads_cover_every_architecture() -> None:
    assert set(_loads()) == set(SUPPORTED_ARCHS)


@pytest.mark.parametrize("arch", sorted(SUPPORTED_ARCHS))
def test_llama_cpp_loaded_the_inventory(arch: str) -> None:
    rec = _loads()[arch]
    assert rec["loaded"], rec.get("log")
    assert rec["llama_model_size"] == rec["predicted_bytes"]
    assert rec["llama_model_n_params"] == rec["predicted_params"]
    assert rec["buffer_ok"] and abs(float(rec["buffer_error"])) <= 0.02  # type: ignore[arg-type]
    # KV cache and recurrent state as llama.cpp logged them (2 decimals of MiB) against memory.kv_cache_bytes
    assert rec["kv_rs_logged_mib"] == pytest.approx(rec["kv_rs_predicted_mib"], abs=0.01)
    q = rec.get("q4_k_m")
    if isinstance(q, dict):
        assert q["type_mismatches"] == 0, q


@pytest.mark.parametrize("arch", sorted(SUPPORTED_ARCHS))
def test_cpu_load_records_match_the_code(arch: str) -> None:
    bench = bench_module()
    rec = _loads()[arch]
    (source, full) = next((src, s) for a, src, s in bench.subjects({arch}))
    assert rec["source"] == source
    s = bench.stand_in_shape(full)
    types = standin_tensor_types(s, GGMLType.F16)
    inv = tensor_inventory(s)
    assert rec["tensors"] == len(inv)
    assert rec["predicted_bytes"] == sum(tensor_bytes(types[t.name], t.dims) for t in inv)
