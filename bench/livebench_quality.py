"""Write ``advisor/catalog/data/quality.json``: LiveBench scores of the catalog's instruct models.

The recommender's one quality signal is LiveBench (https://livebench.ai), release 2026-01-08: one
question set, scored automatically against ground truth, with a Coding and a Reasoning category beside
the global average. The leaderboard's data are the CSV and category files of its site's repository
(https://github.com/LiveBench/livebench.github.io, ``public/table_2026_01_08.csv`` and
``public/categories_2026_01_08.json``). The site's global average is the mean of the category means,
each the mean of its tasks' scores (``src/Table/Averaging.js``); this script computes the same.

Only instruct or chat models are rated, each with the row LiveBench ran for it (Qwen3's hybrid models
in their default thinking mode; never a base model's row). Every other catalog model gets an estimate
from family, size and date (``advisor.core.recommend.quality.model_options``).

Run (the two files from that repository; they are not committed here)::

    python bench/livebench_quality.py table_2026_01_08.csv categories_2026_01_08.json \
        > advisor/catalog/data/quality.json
"""

from __future__ import annotations

import csv
import json
import sys

RELEASE = "2026-01-08"
COMMIT = "4bf96c8d9dc9b06c17d82dc76a54429975c2b2c2"  # the site repository's commit read (2026-07-01)
TABLE_URL = f"https://github.com/LiveBench/livebench.github.io/blob/{COMMIT}/public/table_2026_01_08.csv"

# LiveBench row -> (catalog ids it rates, Hugging Face repo): the repo lets records added later match.
ROWS: dict[str, tuple[tuple[str, ...], str]] = {
    "deepseek-v3.2": (("deepseek-v3.2",), "deepseek-ai/DeepSeek-V3.2"),
    "devstral-2512": (("devstral-2-123b-instruct-2512",), "mistralai/Devstral-2-123B-Instruct-2512"),
    "gemma-4-31b-it": (("gemma-4-31b-it",), "google/gemma-4-31B-it"),
    "glm-4.6": (("glm-4.6",), "zai-org/GLM-4.6"),
    "glm-4.7": (("glm-4.7",), "zai-org/GLM-4.7"),
    "glm-5": (("glm-5",), "zai-org/GLM-5"),
    "glm-5.1": (("glm-5.1",), "zai-org/GLM-5.1"),
    "gpt-oss-120b": (("gpt-oss-120b",), "openai/gpt-oss-120b"),
    "kimi-k2-instruct": (("kimi-k2-instruct",), "moonshotai/Kimi-K2-Instruct"),
    "kimi-k2-thinking": (("kimi-k2-thinking",), "moonshotai/Kimi-K2-Thinking"),
    "kimi-k2.5-thinking": (("kimi-k2.5",), "moonshotai/Kimi-K2.5"),
    "minimax-m2.5": (("minimax-m2.5",), "MiniMaxAI/MiniMax-M2.5"),
    "minimax-m2.7": (("minimax-m2.7",), "MiniMaxAI/MiniMax-M2.7"),
    "nemotron-3-super-120b-a12b": (
        ("nemotron-3-super-120b-a12b",),
        "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16",
    ),
    "qwen3-235b-a22b-instruct-2507": (("qwen3-235b-a22b-instruct-2507",), "Qwen/Qwen3-235B-A22B-Instruct-2507"),
    "qwen3-235b-a22b-thinking-2507": (("qwen3-235b-a22b-thinking-2507",), "Qwen/Qwen3-235B-A22B-Thinking-2507"),
    # Qwen3's hybrid models think unless told not to: LiveBench ran them so.
    "qwen3-30b-a3b-thinking": (("qwen3-30b-a3b",), "Qwen/Qwen3-30B-A3B"),
    "qwen3-32b-thinking": (("qwen3-32b",), "Qwen/Qwen3-32B"),
    "qwen3-next-80b-a3b-instruct": (("qwen3-next-80b-a3b-instruct",), "Qwen/Qwen3-Next-80B-A3B-Instruct"),
    "qwen3-next-80b-a3b-thinking": (("qwen3-next-80b-a3b-thinking",), "Qwen/Qwen3-Next-80B-A3B-Thinking"),
    "qwen3.6-27b": (("qwen3.6-27b",), "Qwen/Qwen3.6-27B"),
}
# The app's use cases and the LiveBench categories that measure them; the rest read the global average.
USE_CASE_CATEGORIES = {"coding": ("Coding",), "reasoning": ("Reasoning", "Mathematics")}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def scores(row: dict[str, str], categories: dict[str, list[str]]) -> dict[str, float]:
    """Global average and per-use-case averages of one LiveBench row, as the site computes them."""
    means: dict[str, float] = {}
    for cat, tasks in categories.items():
        m = _mean([float(row[t]) for t in tasks if row.get(t) not in (None, "", "-")])
        if m is not None:
            means[cat] = m
    out = {"overall": round(sum(means.values()) / len(means), 2)}
    for use, cats in USE_CASE_CATEGORIES.items():
        got = [means[c] for c in cats if c in means]
        if got:
            out[use] = round(sum(got) / len(got), 2)
    return out


def main(table: str, categories_file: str) -> dict[str, object]:
    with open(categories_file) as f:
        categories = json.load(f)
    with open(table, newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    models = []
    for name, (ids, repo) in ROWS.items():
        models.append({"livebench_model": name, "ids": list(ids), "hf_repo": repo, **scores(rows[name], categories)})
    return {
        "benchmark": f"LiveBench {RELEASE}",
        "date": RELEASE,
        "url": "https://livebench.ai/",
        "data_url": TABLE_URL,
        "method": "overall: mean of the category means (the site's global average, src/Table/Averaging.js); "
        + "; ".join(f"{u}: mean of {', '.join(c)}" for u, c in USE_CASE_CATEGORIES.items()),
        "models": models,
    }


if __name__ == "__main__":
    json.dump(main(sys.argv[1], sys.argv[2]), sys.stdout, indent=1)
    sys.stdout.write("\n")
