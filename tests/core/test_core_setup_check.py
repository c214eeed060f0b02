"""Check my setup, the pure part: settings, speeds and findings read from real llama.cpp output
(tests/fixtures/loadlogs, speedlogs, benchout), and hostile pastes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from advisor.core.loadlog import MAX_LINE_CHARS, parse_paste
from advisor.core.setup_check import (
    command_flags,
    explain,
    measured_speeds,
    memory_check,
    quant_from_name,
    settings_from_paste,
)
from advisor.core.units import MIB

FIXTURES = Path(__file__).parents[1] / "fixtures"
SPEED = FIXTURES / "speedlogs"
LOADS = FIXTURES / "loadlogs"


def _read(path: Path) -> tuple[str, object]:
    text = path.read_text()
    return text, parse_paste(text)


def test_default_verbosity_server_log_gives_speeds_slots_and_model() -> None:
    text, paste = _read(SPEED / "cuda_h200_server_llama_31_8b_instruct_np4.log")
    s = settings_from_paste(paste, text)  # type: ignore[arg-type]
    m = measured_speeds(paste)  # type: ignore[arg-type]
    assert s.model_file == "llama-3.1-8b-instruct-Q4_K_M-L32.gguf" and s.quant == "Q4_K_M"
    assert (s.n_ctx, s.n_parallel, s.kv_unified, s.verbosity) == (16384, 4, False, 3)
    assert s.has_buffers is False and s.n_gpu_layers == 99 and s.flash_attn is True  # from the command line
    assert m.best("decode") == 236.71 and m.concurrent == 4 and m.tokens("prefill") == 61
    assert sorted(tps for t, _, tps, _ in m.runs if t == "decode")[:4] == [140.45, 140.5, 140.56, 140.61]
    keys = [f.key for f in explain(s, memory_check(paste.load), m)]  # type: ignore[attr-defined]
    assert keys[0] == "no-buffers" and "slots" in keys and "short-prompt" in keys


def test_no_buffer_lines_says_lv_4() -> None:
    text, paste = _read(SPEED / "cuda_h200_server_llama_31_8b_instruct_plain.log")
    s = settings_from_paste(paste, text)  # type: ignore[arg-type]
    (first, *_) = explain(s, memory_check(paste.load), measured_speeds(paste))  # type: ignore[arg-type, attr-defined]
    assert "no buffer lines" in first.text and "-lv 4" in first.text and "verbosity 3" in first.text


def test_completion_log_reads_its_command_line() -> None:
    text, paste = _read(SPEED / "cuda_h200_llama31_8b_q4km_full_8k_faoff.log")
    s = settings_from_paste(paste, text)  # type: ignore[arg-type]
    assert (s.n_ctx, s.flash_attn, s.type_k, s.n_ubatch, s.n_gpu_layers) == (8192, False, "f16", 512, 99)
    assert measured_speeds(paste).best("decode") == 197.14  # type: ignore[arg-type]
    keys = [f.key for f in explain(s, memory_check(None), measured_speeds(paste))]  # type: ignore[arg-type]
    assert "fa-off-speed" not in keys  # no GPU named in the paste: the page adds the user's
    from dataclasses import replace

    keys = [f.key for f in explain(replace(s, gpus=("H200",)), memory_check(None), measured_speeds(paste))]  # type: ignore[arg-type]
    assert "fa-off-speed" in keys


def test_v100_buffers_and_the_fa_and_kv_hints() -> None:
    text, paste = _read(LOADS / "cuda_v100_open_llama_7b_q4_k_m_c2048.log")
    s = settings_from_paste(paste, text)  # type: ignore[arg-type]
    mem = memory_check(paste.load)  # type: ignore[attr-defined]
    assert s.gpus == ("Tesla V100-PCIE-16GB",) and s.n_gpu_layers == 33 and s.n_ctx == 2048
    model = mem.row("CUDA0", "model")
    kv = mem.row("CUDA0", "kv")
    assert model is not None and kv is not None
    assert kv.logged == 1024 * MIB and abs(model.rel) < 0.01  # 3820.94 MiB logged
    by_key = {f.key: f.text for f in explain(s, mem, measured_speeds(paste))}  # type: ignore[arg-type]
    assert "flash attention is off" in by_key["fa-off"] and "on CUDA0" in by_key["fa-off"]
    assert "1,024 MiB" in by_key["kv-f16"] and "about 544 MiB" in by_key["kv-f16"]  # q8_0: 34/64 of f16


def test_ngl0_with_a_gpu_names_the_op_offload_buffer() -> None:
    text, paste = _read(LOADS / "rocm_7900gre_qwen3_14b_q8_0_ngl0_c4096.log")
    s = settings_from_paste(paste, text)  # type: ignore[arg-type]
    by_key = {f.key: f.text for f in explain(s, memory_check(paste.load), measured_speeds(paste))}  # type: ignore[arg-type, attr-defined]
    assert "-ngl 0 with a GPU" in by_key["ngl0-op-offload"] and "1,095 MiB on ROCm0" in by_key["ngl0-op-offload"]


def test_llama_bench_json_settings() -> None:
    text, paste = _read(FIXTURES / "benchout" / "llama_bench_h200_llama31_8b_q4_k_m.json")
    s = settings_from_paste(paste, text)  # type: ignore[arg-type]
    m = measured_speeds(paste)  # type: ignore[arg-type]
    assert (s.source, s.quant, s.gpus, s.n_gpu_layers) == ("llama-bench", "Q4_K_M", ("NVIDIA H200",), -1)
    assert round(m.best("decode") or 0, 2) == 276.85 and round(m.best("prefill") or 0, 1) == 9354.4


def test_command_flags_and_quant_names() -> None:
    assert command_flags("llama-cli -m 'a b.gguf' --ctx-size=4096 -ngl 0 -fa off -ctk q8_0 -np 2") == {
        "model": "a b.gguf", "ctx": "4096", "ngl": "0", "fa": "off", "ctk": "q8_0", "np": "2",
    }  # fmt: skip
    assert command_flags("llama-server -m x.gguf -c 'unbalanced") == {"model": "x.gguf", "ctx": "'unbalanced"}
    assert quant_from_name("Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf") == "IQ4_XS"
    assert quant_from_name("model.gguf") is None


@pytest.mark.parametrize(
    "text",
    [
        "\n".join(["load_tensors: CUDA0 model buffer size = 1.00 MiB"] * 70_000),  # deeply repetitive
        "x" * 1_000_000,  # one line of 1M characters
        "[" * 1_000_000,  # nested JSON past the recursion limit
        "llama-server -m " + "-c " * 300_000,  # a command line of flags without end
    ],
)
def test_hostile_pastes_are_bounded(text: str) -> None:
    start = time.monotonic()
    paste = parse_paste(text)
    s = settings_from_paste(paste, text)
    explain(s, memory_check(paste.load), measured_speeds(paste))
    assert time.monotonic() - start < 10  # the parser's own budget is 2 s; this host is shared
    if len(text.splitlines()) > 60_000:
        assert any("first 60000" in n for n in paste.notes)
    assert len(s.command) <= MAX_LINE_CHARS
