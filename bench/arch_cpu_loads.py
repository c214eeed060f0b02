"""Check every architecture's tensor inventory against llama.cpp itself, on the CPU.

For one catalog model of each architecture (the smallest), plus the configs in ``EXTRA_CONFIGS`` for
architectures no catalog model has yet, this writes a zero-weight F16 stand-in trimmed to a few layers
(``advisor.core.standin.trim_shape``: every kind of layer the model has is kept) and loads it with the
llama.cpp in llama-cpp-python 0.3.36 (n_gpu_layers=0, mmap on, n_ctx 512, one sequence).

llama.cpp refuses a file whose tensors differ from what its loader creates (a missing tensor, a wrong
shape, or "wrong number of tensors"), so a load that succeeds means the inventory's names, shapes and
count are exactly llama.cpp's. On top of that it records:

* ``llama_model_size`` / ``llama_model_n_params`` (bytes and elements of the loaded tensors) against the
  inventory's, which must be equal;
* the CPU model buffer llama.cpp logs against the predicted buffer (tensor bytes padded to the GGUF's
  32-byte alignment), which must agree within 2 %;
* the KV / recurrent-state buffers it logs against ``advisor.core.memory.kv_cache_bytes`` (reported);
* with ``--quantize``, the per-tensor types of ``llama_model_quantize`` to Q4_K_M against
  ``advisor.core.quantize.tensor_types`` (a MoE stand-in above 14 GiB of F16 is quantized with 16
  experts instead of all: llama.cpp's type rules only single out 8-expert models).

Usage: python bench/arch_cpu_loads.py [--quantize] [--out bench/data/arch_cpu_loads.jsonl] [ARCH ...]
(with ARCH names, only those are run and their records replace the ones in --out).
       python bench/arch_cpu_loads.py [--quantize] --models ID [ID ...]
(checks those catalog models, variants of an architecture whose smallest model the main run covers, e.g.
Gemma 4 26B-A4B's experts and 31B's k_eq_v layers, into bench/data/arch_cpu_loads_models.{jsonl,txt}).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advisor.catalog.models_catalog import get_model, load_models
from advisor.core.ggml_types import GGMLType, tensor_bytes
from advisor.core.hf_config import shape_from_hf_config
from advisor.core.memory import ContextSettings, kv_cache_bytes
from advisor.core.quantize import tensor_types
from advisor.core.shape import ModelShape
from advisor.core.standin import (
    GGUF_ALIGNMENT,
    quantize_standin,
    standin_tensor_types,
    trim_shape,
    write_standin,
)
from advisor.core.tensors import tensor_inventory

MIB = 1024 * 1024
N_CTX = 512
BUFFER_TOLERANCE = 0.02
QUANTIZE_LIMIT_BYTES = 14 * 1024 * MIB  # F16 stand-ins above this are quantized with QUANTIZE_EXPERTS
QUANTIZE_EXPERTS = 16

# Architectures without a catalog model yet: config.json values, trimmed to the keys the importer reads
# (advisor.core.hf_config), with where they were read. The check is of the loader's rules, so a
# published test configuration serves where the released model's config was not at hand; each says so.
EXTRA_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "nemotron_h": (
        "Nemotron-H-8B widths as overridden in Megatron-Bridge's Nemotron-H quantization test (toy depth: "
        "4 layers M*M-)",
        {
            "model_type": "nemotron_h",
            "attention_head_dim": 48,
            "hidden_size": 768,
            "hybrid_override_pattern": "M*M-",
            "intermediate_size": 3072,
            "mamba_head_dim": 64,
            "mamba_num_heads": 24,
            "max_position_embeddings": 8192,
            "n_groups": 8,
            "conv_kernel": 4,
            "num_attention_heads": 16,
            "num_hidden_layers": 4,
            "num_key_value_heads": 8,
            "ssm_state_size": 128,
            "vocab_size": 131072,
        },
    ),
    "nemotron_h_moe": (
        "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B config.json (as copied verbatim into public test code)",
        {
            "model_type": "nemotron_h",
            "hidden_size": 2688,
            "num_hidden_layers": 52,
            "hybrid_override_pattern": "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME",
            "num_attention_heads": 32,
            "num_key_value_heads": 2,
            "head_dim": 128,
            "intermediate_size": 1856,
            "mamba_head_dim": 64,
            "mamba_num_heads": 64,
            "n_groups": 8,
            "ssm_state_size": 128,
            "conv_kernel": 4,
            "n_routed_experts": 128,
            "n_shared_experts": 1,
            "num_experts_per_tok": 6,
            "moe_intermediate_size": 1856,
            "moe_shared_expert_intermediate_size": 3712,
            "max_position_embeddings": 262144,
            "tie_word_embeddings": False,
            "vocab_size": 131072,
        },
    ),
    "falcon-h1": (
        "tiiuae/Falcon-H1-0.5B config.json (as copied into Megatron-Bridge's Falcon-H1 unit test)",
        {
            "model_type": "falcon_h1",
            "hidden_size": 1024,
            "num_hidden_layers": 36,
            "num_attention_heads": 8,
            "num_key_value_heads": 2,
            "head_dim": 64,
            "intermediate_size": 2048,
            "mamba_conv_bias": True,
            "mamba_d_conv": 4,
            "mamba_d_ssm": 1536,  # mamba_n_heads * mamba_d_head
            "mamba_d_state": 128,
            "mamba_n_groups": 1,
            "mamba_n_heads": 24,
            "mamba_rms_norm": False,
            "max_position_embeddings": 16384,
            "tie_word_embeddings": False,
            "vocab_size": 32784,
        },
    ),
    "qwen35": (
        "Qwen/Qwen3.6-27B text_config (qwen3_5) as transcribed in public test code; vocab_size 248320",
        {
            "model_type": "qwen3_5",
            "num_hidden_layers": 64,
            "hidden_size": 5120,
            "intermediate_size": 17408,
            "num_attention_heads": 24,
            "num_key_value_heads": 4,
            "head_dim": 256,
            "linear_key_head_dim": 128,
            "linear_value_head_dim": 128,
            "linear_num_key_heads": 16,
            "linear_num_value_heads": 48,
            "linear_conv_kernel_dim": 4,
            "full_attention_interval": 4,
            "max_position_embeddings": 262144,
            "tie_word_embeddings": False,
            "vocab_size": 248320,
        },
    ),
    "qwen35moe": (
        "Qwen/Qwen3.5-35B-A3B text_config (qwen3_5_moe) as transcribed in public test code; vocab_size 248320",
        {
            "model_type": "qwen3_5_moe",
            "num_hidden_layers": 40,
            "hidden_size": 2048,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "head_dim": 256,
            "linear_key_head_dim": 128,
            "linear_value_head_dim": 128,
            "linear_num_key_heads": 16,
            "linear_num_value_heads": 32,
            "linear_conv_kernel_dim": 4,
            "full_attention_interval": 4,
            "num_experts": 256,
            "num_experts_per_tok": 8,
            "moe_intermediate_size": 512,
            "shared_expert_intermediate_size": 512,
            "max_position_embeddings": 262144,
            "tie_word_embeddings": False,
            "vocab_size": 248320,
        },
    ),
    "lfm2": (
        "LiquidAI/LFM2-1.2B config.json (v1 form with full_attn_idxs, as read from the Hub into public test code)",
        {
            "model_type": "lfm2",
            "block_auto_adjust_ff_dim": True,
            "block_ff_dim": 12288,
            "block_ffn_dim_multiplier": 1.0,
            "block_multiple_of": 256,
            "conv_L_cache": 3,
            "full_attn_idxs": [2, 5, 8, 10, 12, 14],
            "hidden_size": 2048,
            "max_position_embeddings": 128000,
            "num_attention_heads": 32,
            "num_hidden_layers": 16,
            "num_key_value_heads": 8,
            "vocab_size": 65536,
        },
    ),
    "lfm2moe": (
        "LiquidAI/LFM2-8B-A1B widths (intermediate_size 7168, 32 experts of 1792, 4 used, 2 dense layers) on "
        "a public test configuration's layer kinds [conv, full_attention] repeated",
        {
            "model_type": "lfm2_moe",
            "hidden_size": 2048,
            "num_hidden_layers": 4,
            "layer_types": ["conv", "full_attention", "conv", "full_attention"],
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "intermediate_size": 7168,
            "num_experts": 32,
            "num_experts_per_tok": 4,
            "moe_intermediate_size": 1792,
            "num_dense_layers": 2,
            "conv_L_cache": 3,
            "max_position_embeddings": 128000,
            "vocab_size": 65536,
        },
    ),
    "gemma3n": (
        "google/gemma-3n-E4B-it text_config (gemma3n_text): 35 layers, 2048 wide, intermediate_size 16384 on "
        "every layer, 8 heads / 2 KV heads of 256, vocab 262400, sliding window 512 on 4 layers of 5",
        {
            "model_type": "gemma3n",
            "text_config": {
                "model_type": "gemma3n_text",
                "hidden_size": 2048,
                "num_hidden_layers": 35,
                "intermediate_size": [16384] * 35,
                "num_attention_heads": 8,
                "num_key_value_heads": 2,
                "head_dim": 256,
                "vocab_size": 262400,
                "sliding_window": 512,
                "layer_types": (["sliding_attention"] * 4 + ["full_attention"]) * 7,
                "max_position_embeddings": 32768,
            },
        },
    ),
    "qwen2moe": (
        "Qwen/Qwen1.5-MoE-A2.7B config.json",
        {
            "model_type": "qwen2_moe",
            "hidden_size": 2048,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "num_key_value_heads": 16,
            "intermediate_size": 5632,
            "moe_intermediate_size": 1408,
            "shared_expert_intermediate_size": 5632,
            "num_experts": 60,
            "num_experts_per_tok": 4,
            "max_position_embeddings": 8192,
            "tie_word_embeddings": False,
            "vocab_size": 151936,
        },
    ),
    "ernie4_5": (
        "baidu/ERNIE-4.5-0.3B-PT config.json values (not re-read from the Hub in this session)",
        {
            "model_type": "ernie4_5",
            "hidden_size": 1024,
            "num_hidden_layers": 18,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "head_dim": 128,
            "intermediate_size": 3072,
            "max_position_embeddings": 131072,
            "tie_word_embeddings": True,
            "vocab_size": 103424,
        },
    ),
    "ernie4_5-moe": (
        "baidu/ERNIE-4.5-21B-A3B-PT config.json values (not re-read from the Hub in this session)",
        {
            "model_type": "ernie4_5_moe",
            "hidden_size": 2560,
            "num_hidden_layers": 28,
            "num_attention_heads": 20,
            "num_key_value_heads": 4,
            "head_dim": 128,
            "intermediate_size": 12288,
            "moe_intermediate_size": 1536,
            "moe_num_experts": 64,
            "moe_k": 6,
            "moe_num_shared_experts": 2,
            "moe_layer_start_index": 1,
            "moe_layer_interval": 1,
            "max_position_embeddings": 131072,
            "tie_word_embeddings": True,
            "vocab_size": 103424,
        },
    ),
    "dots1": (
        "rednote-hilab/dots.llm1.inst config.json values (not re-read from the Hub in this session)",
        {
            "model_type": "dots1",
            "hidden_size": 4096,
            "num_hidden_layers": 62,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "head_dim": 128,
            "intermediate_size": 10944,
            "moe_intermediate_size": 1408,
            "n_routed_experts": 128,
            "num_experts_per_tok": 6,
            "n_shared_experts": 2,
            "first_k_dense_replace": 1,
            "max_position_embeddings": 32768,
            "tie_word_embeddings": False,
            "vocab_size": 152064,
        },
    ),
    "olmoe": (
        "allenai/OLMoE-1B-7B-0924 config.json",
        {
            "model_type": "olmoe",
            "hidden_size": 2048,
            "num_hidden_layers": 16,
            "num_attention_heads": 16,
            "num_key_value_heads": 16,
            "intermediate_size": 1024,
            "num_experts": 64,
            "num_experts_per_tok": 8,
            "max_position_embeddings": 4096,
            "tie_word_embeddings": False,
            "vocab_size": 50304,
        },
    ),
    "granitemoe": (
        "ibm-granite/granite-3.1-3b-a800m-instruct config.json",
        {
            "model_type": "granitemoe",
            "hidden_size": 1536,
            "num_hidden_layers": 32,
            "num_attention_heads": 24,
            "num_key_value_heads": 8,
            "intermediate_size": 512,
            "num_local_experts": 40,
            "num_experts_per_tok": 8,
            "max_position_embeddings": 131072,
            "tie_word_embeddings": True,
            "vocab_size": 49155,
        },
    ),
    "apertus": (
        "swiss-ai/Apertus-8B-Instruct-2509 config.json",
        {
            "model_type": "apertus",
            "hidden_size": 4096,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "intermediate_size": 21504,
            "max_position_embeddings": 65536,
            "tie_word_embeddings": False,
            "vocab_size": 131072,
        },
    ),
}
# Architectures with no Hugging Face config reader: the shape itself. mamba2.cpp has no attention.
# Mistral Small 3.1's catalog record is read as "llama", the architecture of its published GGUFs; the
# llama.cpp vendored here converts Mistral3ForConditionalGeneration to "mistral3", the same tensors.
EXTRA_SHAPES: dict[str, tuple[str, ModelShape]] = {
    "mistral3": (
        "catalog:mistral-small-3.1-24b-instruct-2503 as general.architecture mistral3",
        replace(get_model("mistral-small-3.1-24b-instruct-2503").to_shape(), arch="mistral3"),
    ),
    "mamba2": (
        "mistralai/Mamba-Codestral-7B-v0.1 params (d_model 4096, 64 layers, expand 2, head_dim 64, 8 groups, "
        "state 128, conv 4, vocab 32768)",
        ModelShape(
            arch="mamba2",
            n_layers=64,
            hidden_size=4096,
            n_heads=0,
            n_kv_heads=0,
            head_dim=0,
            ffn_size=0,
            vocab_size=32768,
            context_max=262144,
            recurrent_layers=(True,) * 64,
            ssm_d_state=128,
            ssm_d_conv=4,
            ssm_d_inner=8192,
            ssm_n_group=8,
            ssm_dt_rank=128,
        ),
    ),
}

_CHILD = r"""
import json, sys
import llama_cpp as L
L.llama_backend_init()
mp = L.llama_model_default_params()
mp.n_gpu_layers = 0
model = L.llama_model_load_from_file(sys.argv[1].encode(), mp)
if not model:
    sys.exit(3)
out = {"size": L.llama_model_size(model), "n_params": L.llama_model_n_params(model)}
cp = L.llama_context_default_params()
cp.n_ctx = int(sys.argv[2])
cp.n_batch = cp.n_ubatch = 512
cp.n_seq_max = 1
cp.n_threads = cp.n_threads_batch = 1
ctx = L.llama_init_from_model(model, cp)
out["context"] = bool(ctx)
if ctx:
    L.llama_free(ctx)
L.llama_model_free(model)
print("RESULT " + json.dumps(out), flush=True)
"""

_BUFFER = re.compile(r"(CPU(?:_Mapped)?|CPU_REPACK) model buffer size\s*=\s*([0-9.]+) MiB")
_KV = re.compile(r"(?:llama_kv_cache|llama_memory_recurrent): size =\s*([0-9.]+) MiB")
_ERR = re.compile(r"(error|failed|missing tensor|wrong|exception)", re.I)


def _pad(n: int) -> int:
    return (n + GGUF_ALIGNMENT - 1) // GGUF_ALIGNMENT * GGUF_ALIGNMENT


def subjects(only: set[str]) -> list[tuple[str, str, ModelShape]]:
    """(arch, source, shape): the smallest catalog model of each architecture, then EXTRA_CONFIGS."""
    best: dict[str, tuple[int, str, ModelShape]] = {}
    for m in load_models():
        s = m.to_shape()
        if s.arch not in best or m.params_total < best[s.arch][0]:
            best[s.arch] = (m.params_total, f"catalog:{m.id}", s)
    out = [(arch, src, s) for arch, (_, src, s) in sorted(best.items())]
    for src, config in EXTRA_CONFIGS.values():
        s = shape_from_hf_config(config, src)
        if s.arch not in best:
            out.append((s.arch, src, s))
    for arch, (src, shape) in sorted(EXTRA_SHAPES.items()):
        if arch not in best:
            out.append((arch, src, shape))
    return [row for row in out if not only or row[0] in only]


def _layer_params(s: ModelShape) -> int:
    per_layer = [0] * s.n_layers
    for t in tensor_inventory(s):
        if t.layer is not None:
            per_layer[t.layer] += t.n_elements
    return max(per_layer, default=0)


def _load(path: Path) -> tuple[int, dict[str, Any], list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(N_CTX)], capture_output=True, text=True, check=False
    )
    text = proc.stdout + proc.stderr
    result: dict[str, Any] = {}
    for line in text.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    keep = [ln for ln in text.splitlines() if _BUFFER.search(ln) or _KV.search(ln) or _ERR.search(ln)]
    return proc.returncode, result, keep[-20:]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """llama_model_quantize prints a line per tensor from C: send fds 1 and 2 to /dev/null meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _quantized_types(path: Path) -> dict[str, str]:
    from gguf import GGUFReader

    return {t.name: t.tensor_type.name for t in GGUFReader(path).tensors}


# Gemma 3n's layers from the 20th on reuse earlier KV caches (n_layer_kv_from_start = 20 in gemma3n.cpp):
# its stand-in keeps every layer so that the logged KV cache shows it.
UNTRIMMED = frozenset({"gemma3n"})


def stand_in_shape(full: ModelShape) -> ModelShape:
    """The layer-trimmed shape the stand-in of ``full`` has: 4 layers, or 2 when a layer holds more than
    a billion parameters (the large MoE layers), always every kind of layer."""
    if full.arch in UNTRIMMED:
        return full
    return trim_shape(full, 2 if _layer_params(full) > 1_000_000_000 else 4)


def _fewer_experts(s: ModelShape) -> ModelShape:
    """``s`` with 16 routed experts: llama-quant.cpp's type rules look at the expert count only to tell
    Mixtral-style 8-expert models apart, so 16 gives the same types as any count above 8."""
    return replace(s, n_experts=QUANTIZE_EXPERTS, n_experts_used=min(s.n_experts_used, QUANTIZE_EXPERTS))


def _check_q4_k_m(s: ModelShape, path: Path, workdir: Path) -> dict[str, Any] | str:
    """llama_model_quantize's Q4_K_M types against tensor_types, on the stand-in (or, above
    QUANTIZE_LIMIT_BYTES, on a copy with 16 experts; a dense one that large is skipped)."""
    note: dict[str, Any] = {}
    if path.stat().st_size > QUANTIZE_LIMIT_BYTES:  # the sparse file's size is its data's
        if s.n_experts <= QUANTIZE_EXPERTS:
            return "skipped: dense stand-in above 14 GiB"
        s = _fewer_experts(s)
        path = write_standin(s, workdir / "fewer-experts.gguf")
        note["experts_kept"] = QUANTIZE_EXPERTS
    q_path = workdir / "quantized-Q4_K_M.gguf"
    with _quiet():
        quantize_standin(path, q_path, "Q4_K_M")
    got = _quantized_types(q_path)
    want = {k: v.name for k, v in tensor_types(s, "Q4_K_M").items()}
    wrong = sorted(k for k in want if got.get(k) != want[k])
    out: dict[str, Any] = {"tensors": len(want), "type_mismatches": len(wrong), "examples": wrong[:5], **note}
    if wrong:
        out["got"] = {k: got.get(k) for k in wrong[:5]}
        out["want"] = {k: want[k] for k in wrong[:5]}
    q_path.unlink()
    if note:
        path.unlink()
    return out


def check(arch: str, source: str, full: ModelShape, workdir: Path, quantize: bool) -> dict[str, Any]:
    s = stand_in_shape(full)
    inv = tensor_inventory(s)
    types = standin_tensor_types(s, GGMLType.F16)
    sizes = {t.name: tensor_bytes(types[t.name], t.dims) for t in inv}
    path = workdir / f"{arch}.gguf"
    write_standin(s, path)
    t0 = time.monotonic()
    rc, result, log = _load(path)
    buffers = [float(m.group(2)) for ln in log for m in [_BUFFER.search(ln)] if m]
    kv_logged = sum(float(m.group(1)) for ln in log for m in [_KV.search(ln)] if m)
    ctx = ContextSettings(
        n_ctx=N_CTX, n_ctx_seq=N_CTX, n_seq=1, kv_unified=True, n_batch=512, n_ubatch=512, n_outputs=1,
        flash_attn=True, swa_full=False, type_k="f16", type_v="f16",
    )  # fmt: skip
    predicted_buffer = sum(_pad(b) for b in sizes.values())
    rec: dict[str, Any] = {
        "arch": arch,
        "source": source,
        "layers": f"{s.n_layers} of {full.n_layers}",
        "loaded": rc == 0 and bool(result),
        "tensors": len(inv),
        "predicted_bytes": sum(sizes.values()),
        "llama_model_size": result.get("size"),
        "predicted_params": sum(t.n_elements for t in inv),
        "llama_model_n_params": result.get("n_params"),
        "cpu_model_buffer_mib": round(sum(buffers), 2) if buffers else None,
        "predicted_buffer_mib": round(predicted_buffer / MIB, 2),
        "kv_rs_logged_mib": round(kv_logged, 2),
        "kv_rs_predicted_mib": round(kv_cache_bytes(s, ctx) / MIB, 2),
        "load_seconds": round(time.monotonic() - t0, 1),
    }
    rec["bytes_equal"] = rec["llama_model_size"] == rec["predicted_bytes"]
    rec["params_equal"] = rec["llama_model_n_params"] == rec["predicted_params"]
    if buffers:
        rec["buffer_error"] = round(sum(buffers) * MIB / predicted_buffer - 1, 5)
        rec["buffer_ok"] = abs(rec["buffer_error"]) <= BUFFER_TOLERANCE
    if not rec["loaded"]:
        rec["log"] = log
    if quantize and rec["loaded"]:
        rec["q4_k_m"] = _check_q4_k_m(s, path, workdir)
    path.unlink()
    return rec


def summary(rows: list[dict[str, Any]], command: str) -> str:
    """The text table of bench/data/arch_cpu_loads.txt."""
    lines = [
        "Tensor inventories against llama.cpp (llama-cpp-python 0.3.36, CPU, n_gpu_layers=0, mmap, n_ctx 512).",
        f"Command: {command}",
        "Stand-ins: zero-weight F16 GGUFs (advisor.core.standin.write_standin) of the smallest catalog model of",
        "each architecture, or a published config where the catalog has none (see 'source' in the jsonl),",
        "trimmed to 4 layers (2 for MoE layers above 1B parameters) keeping every kind of layer.",
        "A load succeeds only if every tensor's name and shape is what llama.cpp's loader creates.",
        "bytes/params: llama_model_size / llama_model_n_params against the inventory (= means equal).",
        "buffer: llama.cpp's CPU model buffer against the inventory's bytes padded to 32 (tolerance 2 %).",
        "KV/RS: KV cache + recurrent state logged against advisor.core.memory.kv_cache_bytes (MiB).",
        "Q4_K_M: tensors whose llama_model_quantize type differs from advisor.core.quantize.tensor_types.",
        "",
        f"{'arch':<15} {'layers':<9} {'load':<5} {'bytes':<6} {'params':<6} {'buffer MiB':>11} {'error':>8} "
        f"{'KV/RS MiB':>15} {'Q4_K_M':>10}",
    ]
    for r in rows:
        q = r.get("q4_k_m")
        if isinstance(q, dict):
            qs = f"{q['type_mismatches']}/{q['tensors']}" + ("*" if q.get("experts_kept") else "")
        else:
            qs = "-" if q is None else "skipped"
        kv = f"{r['kv_rs_logged_mib']}/{r['kv_rs_predicted_mib']}"
        err = r.get("buffer_error")
        err_s = f"{err:+.4%}" if err is not None else "-"
        lines.append(
            f"{r['arch']:<15} {r['layers']:<9} {'ok' if r['loaded'] else 'FAIL':<5} "
            f"{'=' if r['bytes_equal'] else 'DIFF':<6} {'=' if r['params_equal'] else 'DIFF':<6} "
            f"{r['cpu_model_buffer_mib'] or 0:>11.2f} {err_s:>8} {kv:>15} {qs:>10}"
        )
    lines += ["", "* quantized with 16 of its experts (llama.cpp's type rules single out only 8-expert models)."]
    ok = sum(1 for r in rows if r["loaded"] and r["bytes_equal"] and r.get("buffer_ok"))
    lines.append(f"{ok} of {len(rows)} architectures load with exactly the inventory's tensors and bytes.")
    return "\n".join(lines) + "\n"


def _check_models(ids: list[str], quantize: bool) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="arch-cpu-loads-") as tmp:
        for model_id in ids:
            shape = get_model(model_id).to_shape()
            rec = check(shape.arch, f"catalog:{model_id}", shape, Path(tmp), quantize)
            rows.append(rec)
            print(json.dumps(rec), flush=True)
    out = Path("bench/data/arch_cpu_loads_models.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    command = " ".join(["python bench/arch_cpu_loads.py", *sys.argv[1:]])
    out.with_suffix(".txt").write_text(summary(rows, command))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archs", nargs="*")
    ap.add_argument("--out", type=Path, default=Path("bench/data/arch_cpu_loads.jsonl"))
    ap.add_argument("--quantize", action="store_true")
    ap.add_argument(
        "--models",
        nargs="+",
        metavar="ID",
        help="check these catalog models (variants of an architecture the main run covers with its smallest model) "
        "and write bench/data/arch_cpu_loads_models.{jsonl,txt}",
    )
    args = ap.parse_args()
    if args.models:
        _check_models(args.models, args.quantize)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="arch-cpu-loads-") as tmp:
        for arch, source, shape in subjects(set(args.archs)):
            rec = check(arch, source, shape, Path(tmp), args.quantize)
            rows.append(rec)
            print(json.dumps(rec), flush=True)
    if args.archs and args.out.exists():
        # a run for some architectures replaces their records and keeps the others
        done = {r["arch"] for r in rows}
        kept = [json.loads(ln) for ln in args.out.read_text().splitlines() if ln.strip()]
        rows = [r for r in kept if r["arch"] not in done] + rows
    rows.sort(key=lambda r: r["arch"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    command = " ".join(["python bench/arch_cpu_loads.py", *sys.argv[1:]])
    args.out.with_suffix(".txt").write_text(summary(rows, command))


if __name__ == "__main__":
    main()
