"""Default settings of the runtimes that run a model, as they reach llama.cpp (or transformers).

Values for llama.cpp's own tools and llama-cpp-python are read from the copies vendored in
llama-cpp-python 0.3.36 (file paths given per field). Ollama and LM Studio bundle their own llama.cpp
builds and are not in that tree: their values come from their documentation and are marked
``verified=False``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimePreset:
    """How a runtime configures a context.

    ``n_ctx=None`` means "the user's value, or the model's training context when the user gives none"
    (llama.cpp ``common_params.n_ctx = 0``). ``flash_attn`` is "auto", "on" or "off". ``swa_full=True``
    allocates full-size caches for sliding-window layers. ``n_parallel``/``kv_unified`` are
    llama_context_params n_seq_max / kv_unified. ``fmt`` is "gguf" or "hf".
    """

    name: str
    n_ctx: int | None
    n_batch: int
    n_ubatch: int
    flash_attn: str
    swa_full: bool
    n_parallel: int
    kv_unified: bool
    fmt: str = "gguf"
    verified: bool = True
    source: str = ""
    # llama.cpp's --fit (common/fit.cpp), on by default in its tools: when the user pins neither n_ctx
    # nor n_gpu_layers it first lowers n_ctx (not below fit_min_ctx) so that fit_margin_bytes stay
    # free on every GPU. common/common.h: fit_params = true, fit_params_min_ctx = 4096,
    # fit_params_target = 1024 MiB per device.
    fits_context: bool = False
    fit_margin_bytes: int = 0
    fit_min_ctx: int = 0
    # llama-server's prompt cache in host RAM grows with use up to this cap (common/common.h
    # cache_ram_mib = 8192); it is not allocated up front, so estimates report it as a note only.
    host_prompt_cache_bytes: int = 0
    ctx_checkpoints: int = 0  # common/common.h n_ctx_checkpoints: SWA/recurrent state copies per slot


RUNTIMES: dict[str, RuntimePreset] = {
    # common/common.h: n_ctx 0 (= training context), n_batch 2048, n_ubatch 512, flash_attn_type AUTO,
    # swa_full false, kv_unified false; tools/server/server.cpp: n_parallel auto -> 4 slots with
    # kv_unified = true (common/arg.cpp sets n_parallel = -1 for the server).
    "llama-server": RuntimePreset(
        "llama-server", None, 2048, 512, "auto", False, 4, True,
        source="vendor/llama.cpp common/common.h, common/arg.cpp:1403, tools/server/server.cpp:156-160",
        fits_context=True, fit_margin_bytes=1024 * 1024 * 1024, fit_min_ctx=4096,
        host_prompt_cache_bytes=8192 * 1024 * 1024, ctx_checkpoints=32,
    ),
    # llama-cli shares common_params; n_parallel stays 1.
    "llama-cli": RuntimePreset(
        "llama-cli", None, 2048, 512, "auto", False, 1, False, source="vendor/llama.cpp common/common.h",
        fits_context=True, fit_margin_bytes=1024 * 1024 * 1024, fit_min_ctx=4096,
    ),
    # llama_cpp/llama.py Llama.__init__: n_ctx=512, n_batch=512, n_ubatch=512, flash_attn=False
    # (-> LLAMA_FLASH_ATTN_TYPE_DISABLED); swa_full=None keeps llama_context_default_params().swa_full
    # = true (src/llama-context.cpp llama_context_default_params); n_seq_max default 1.
    "llama-cpp-python": RuntimePreset(
        "llama-cpp-python", 512, 512, 512, "off", True, 1, False,
        source="llama_cpp/llama.py (0.3.36) Llama.__init__; src/llama-context.cpp:3754",
    ),
    # Ollama docs/faq.md ("How can I specify the context window size?"): default context 4096;
    # flash attention opt-in via OLLAMA_FLASH_ATTENTION; num_batch 512. Not checked against source here.
    "ollama": RuntimePreset(
        "ollama", 4096, 512, 512, "off", False, 1, False, verified=False,
        source="https://github.com/ollama/ollama/blob/main/docs/faq.md",
    ),
    # LM Studio: llama.cpp engine, default context 4096 in its model load settings, flash attention
    # off unless enabled. Not checked against source here.
    "lm-studio": RuntimePreset(
        "lm-studio", 4096, 512, 512, "off", False, 1, False, verified=False,
        source="https://lmstudio.ai/docs (model load settings)",
    ),
    # transformers: HF weights, DynamicCache grows with the sequence; no compute-buffer reservation.
    "transformers": RuntimePreset(
        "transformers", None, 1, 1, "off", False, 1, True, fmt="hf",
        source="transformers DynamicCache / SlidingWindowCache",
    ),
}  # fmt: skip


def runtime(name: str) -> RuntimePreset:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise KeyError(f"unknown runtime {name!r}; have {sorted(RUNTIMES)}") from None


# ---------------------------------------------------------------- what each runtime does with no flags

# Ollama's num_ctx when neither the Modelfile, the request nor OLLAMA_CONTEXT_LENGTH sets one, by the
# GPUs' total VRAM: < 24 GiB -> 4k, 24-48 GiB -> 32k, >= 48 GiB -> 256k (docs/context-length.mdx); older
# releases used 4096 (docs/faq.md) or 2048. Ollama then lowers a num_ctx above the model's training
# context to it (llm/server.go, "requested context size too large for model").
OLLAMA_CTX_BY_VRAM: tuple[tuple[int, int], ...] = ((24, 4096), (48, 32768))  # (below GiB, num_ctx)
OLLAMA_CTX_LARGE = 262144
OLLAMA_CTX_SOURCE = (
    "https://github.com/ollama/ollama/blob/948f69330acf96a2310f1b53fdfc211731a386d8/docs/context-length.mdx"
)
# Ollama estimates the model's memory itself and runs the layers that do not fit on the CPU; `ollama ps`
# shows the split under PROCESSOR (same page).
# LM Studio's model loading guardrails (Settings; on by default) refuse a load its own estimate says would
# overload the system: "Model loading was stopped due to insufficient system resources ... you can adjust
# the model loading guardrails in settings".
LMSTUDIO_GUARDRAIL_SOURCE = "https://github.com/lmstudio-ai/lmstudio-bug-tracker/issues/1038"
# llama-server: -c 0 = the model's training context, -np auto = 4 slots with a unified KV cache, --fit on
# (lowers the context down to 4096, then moves experts and layers to the CPU, to keep 1 GiB free per GPU).
# common/common.h (n_ctx 0, fit_params true, fit_params_min_ctx 4096), tools/server/server.cpp:156-160.
LLAMA_SERVER_SOURCE = "https://github.com/ggml-org/llama.cpp/blob/master/tools/server/server.cpp"


def ollama_default_ctx(vram_bytes: int, ctx_train: int) -> int:
    """The num_ctx Ollama picks on GPUs with ``vram_bytes`` in total, for a model trained to ``ctx_train``.

    >>> [ollama_default_ctx(gib * 2**30, 131072) for gib in (16, 32, 80)]
    [4096, 32768, 131072]
    """
    gib = vram_bytes / 2**30
    ctx = next((c for below, c in OLLAMA_CTX_BY_VRAM if gib < below), OLLAMA_CTX_LARGE)
    return min(ctx, ctx_train) if ctx_train > 0 else ctx
