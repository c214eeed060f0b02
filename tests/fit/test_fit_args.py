"""The shared fit-flag parser: bounds, choices and messages that name the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from advisor.fit.args import FitArgError, FitParams, parse_fit_params


def parse(**values: object) -> FitParams:
    return parse_fit_params({k: v if isinstance(v, list) else [str(v)] for k, v in values.items()})


def test_defaults_and_values() -> None:
    p = parse(model="llama-3.1-8b-instruct", quant="Q4_K_M", ctx=32768, kv_type="q8_0", gpu=["RTX 4090", "RTX 3090"])
    assert p.model == "llama-3.1-8b-instruct"
    assert p.ctx == 32768 and p.kv_type == "q8_0" and p.gpus == ("RTX 4090", "RTX 3090")
    assert p.gpu_layers is None and p.runtime == "llama-server"


def test_gpu_layers_all_means_every_layer() -> None:
    assert parse(model="m", gpu_layers="all").gpu_layers is None
    assert parse(model="m", gpu_layers="20").gpu_layers == 20


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({"model": "m", "ctx": "0"}, "ctx", "between 1 and 10000000"),
        ({"model": "m", "ctx": "20000000"}, "ctx", "between 1 and 10000000"),
        ({"model": "m", "ctx": "lots"}, "ctx", "whole number"),
        ({"model": "m", "kv_type": "q3"}, "kv_type", "must be one of f32, f16"),
        ({"model": "m", "runtime": "ollamma"}, "runtime", "did you mean ollama"),
        ({"model": "m", "gpu": ["RTX"] * 17}, "gpu", "at most 16"),
        ({"model": "m" * 201}, "model", "at most 200"),
        ({"model": "m", "vram": "nan"}, "vram", "between"),
        ({}, "model", "exactly one of"),
        ({"model": "m", "gguf": "x.gguf"}, "model", "exactly one of"),
    ],
)
def test_bad_values_name_the_field(values: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(FitArgError) as err:
        parse(**values)
    assert err.value.field == field
    assert fragment in err.value.message


def test_quant_checked_against_known_names() -> None:
    with pytest.raises(FitArgError, match="did you mean Q4_K_M"):
        parse_fit_params({"model": ["m"], "quant": ["Q4_KM"]}, quants=("Q4_K_M", "Q8_0"))
    assert parse_fit_params({"model": ["m"], "quant": ["q8_0"]}, quants=("Q4_K_M", "Q8_0")).quant == "Q8_0"


@given(st.dictionaries(st.sampled_from(["model", "ctx", "kv_type", "gpu", "vram", "ram", "quant", "runtime",
                                         "gpu_layers", "parallel", "ubatch", "flash_attn", "swa_full"]),
                       st.lists(st.text(max_size=300), max_size=20)))  # fmt: skip
def test_random_input_either_parses_or_raises_fit_arg_error(values: dict[str, list[str]]) -> None:
    try:
        parse_fit_params(values)
    except FitArgError as exc:
        assert exc.field and exc.message


def test_a_mac_named_with_its_memory_has_that_ram_whatever_ram_says() -> None:
    # As on the web form: "MacBook Air M3 16GB" is a 16 GB machine, so --ram 32 does not make a 32 GB Mac.
    from advisor.fit.engine import resolve_machine

    named = resolve_machine(parse_fit_params({"model": ["qwen3-8b"], "gpu": ["MacBook Air M3 16GB"], "ram": ["32"]}))
    assert named.machine.ram_bytes == 16 * 1024**3
    assert named.machine.total_vram_bytes < 16 * 1024**3  # the GPU's share of those 16 GB
    plain = resolve_machine(parse_fit_params({"model": ["qwen3-8b"], "gpu": ["Apple M3"], "ram": ["24"]}))
    assert plain.machine.ram_bytes == 24 * 1024**3  # no size in the name: --ram says it
