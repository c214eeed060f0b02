"""Beyond one user's plan, through `manage.py fit`: a team, a drafter, each runtime's defaults, an APU."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.core.runtimes import ollama_default_ctx
from advisor.fit.args import FitArgError, FitParams
from advisor.fit.beyond import BeyondParams, beyond, parse_beyond
from advisor.fit.engine import make_plan

ROOT = Path(__file__).resolve().parents[2]
GIB = 1024**3


def fit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "fit", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env={**os.environ, "DEBUG": "1"})  # fmt: skip


def test_a_team_of_four_gets_four_slots_of_the_whole_context() -> None:
    out = fit("--model", "llama-3.1-8b-instruct", "--quant", "Q4_K_M", "--ctx", "8192", "--gpu", "RTX 4090",
              "--ram", "64", "--kv-type", "f16", "--users", "4", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    team = json.loads(out.stdout)["team"]
    # -c 32768 -np 4: 32 layers x 8 KV heads x 128 x (K+V) x 2 bytes x 32768 cells = 4 GiB, 8192 per slot.
    assert (team["n_ctx"], team["slots"], team["ctx_per_slot"], team["kv_unified"]) == (32768, 4, 8192, False)
    assert team["kv_cache_bytes"] == 4 * GIB
    assert team["flags"].startswith("-c 32768 -np 4 -ngl 33 -fa on")
    speed = team["speed"]
    assert speed["aggregate_tps"] > speed["single_tps"] > speed["per_user_tps"] > 0
    assert team["fits"] is True and team["cache_ram_bytes"] == 8192 * 1024**2


def test_a_unified_pool_lets_one_slot_take_it_all() -> None:
    plan = make_plan(FitParams(model="llama-3.1-8b-instruct", quant="Q4_K_M", ctx=8192, gpus=("RTX 4090",)))
    more = beyond(FitParams(model="llama-3.1-8b-instruct", quant="Q4_K_M", ctx=8192, gpus=("RTX 4090",)), plan,
                  BeyondParams(users=4, kv_unified=True, draft="none"), make_plan)  # fmt: skip
    assert more.team is not None and more.team.kv_unified and more.team.ctx_per_slot == 32768
    assert "--kv-unified" in more.team.flags and more.draft is None and more.draft_note == "no drafter asked for"


def test_the_draft_line_is_separate_and_cites_its_acceptance() -> None:
    out = fit("--model", "llama-3.1-70b-instruct", "--quant", "Q4_K_M", "--gpu", "H100", "--ram", "128", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    d = report["draft"]
    assert d["drafter"] == "llama-3.2-1b-instruct" and d["kind"] == "draft"
    assert d["acceptance"]["source"] == "https://github.com/ggml-org/llama.cpp/issues/5877"
    assert d["plain_decode_tps"] == report["speed"]["decode_tps"]  # the plain speed is untouched
    assert d["speculative_decode_tps"] > d["plain_decode_tps"]
    assert d["flags"] == f"-md llama-3.2-1b-instruct-Q8_0.gguf -ngld 99 --spec-draft-n-max {d['draft_max']}"
    assert 1 <= d["draft_max"] <= 5 and d["gpu_bytes"] > GIB


def test_mtp_head_of_deepseek_v3() -> None:
    plan = make_plan(FitParams(model="deepseek-v3", quant="Q2_K", gpus=("H200", "H200"), ram_gib=512))
    more = beyond(FitParams(model="deepseek-v3", quant="Q2_K", gpus=("H200", "H200"), ram_gib=512), plan,
                  BeyondParams(), make_plan)  # fmt: skip
    d = more.draft
    assert d is not None and d.kind == "mtp" and d.flags == "--spec-type draft-mtp --spec-draft-n-max 1"
    assert d.acceptance.rate == 0.85
    # one extra layer of 61 (plus embeddings): between 1/70 and 1/60 of the weights
    assert plan.memory.weights_bytes / 70 < d.weights_bytes < plan.memory.weights_bytes / 60


def test_qwen3_6_uses_its_own_mtp_head_with_the_acceptance_measured_on_it() -> None:
    params = FitParams(model="qwen3.6-27b", quant="Q4_K_M", gpus=("RTX 4090",), ram_gib=64)
    d = beyond(params, make_plan(params), BeyondParams(), make_plan).draft
    assert d is not None and d.kind == "mtp" and not d.acceptance.proxy
    assert d.acceptance.source == "https://github.com/ggml-org/llama.cpp/issues/27106"
    assert d.flags.startswith("--spec-type draft-mtp --spec-draft-n-max ") and d.k <= 2


def test_runtime_defaults_say_what_each_runtime_does() -> None:
    out = fit("--model", "qwen2.5-coder-32b-instruct", "--quant", "Q4_K_M", "--gpu", "RTX 4090", "--ram", "64")
    assert out.returncode == 0, out.stderr
    assert "llama-server with no flags: --fit lowers -c to" in out.stdout
    # the card's usable 23.x GiB is below Ollama's 24 GiB step
    ollama = r"Ollama will pick num_ctx 4096 on 23\.\d GB of VRAM unless you set num_ctx; at 4096 it fits"
    assert re.search(ollama, out.stdout)
    assert "LM Studio loads with a 4096-token context" in out.stdout
    assert ollama_default_ctx(int(23.9 * GIB), 131072) == 4096 and ollama_default_ctx(24 * GIB, 131072) == 32768
    assert ollama_default_ctx(48 * GIB, 131072) == 131072 and ollama_default_ctx(48 * GIB, 8192) == 8192


def test_apu_budgets_per_backend() -> None:
    out = fit("--model", "qwen3-32b", "--quant", "Q4_K_M", "--gpu", "Radeon 8060S", "--ram", "128",
              "--carveout", "16", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)["apu"]
    # 112 GiB left to the OS, GTT half of it: Vulkan 16 + 56, ROCm's hipMalloc only the 16 GiB carve-out.
    assert (a["gtt_bytes"], a["vulkan_bytes"], a["rocm_bytes"]) == (56 * GIB, 72 * GIB, 16 * GIB)
    fits = {b["backend"]: b["fits"] for b in a["backends"]}
    assert fits["vulkan"] is True and "ttm.pages_limit=" in a["advice"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--draft", "qwen3-0.6b"), "--draft: qwen3-0.6b does not share llama-3.1-8b-instruct's tokenizer"),
        (("--draft", "nope"), "--draft: unknown draft model 'nope'"),
        (("--users", "0"), "--users: must be between 1 and 256"),
        (("--carveout", "64"), "--carveout: the carve-out must be smaller than the installed RAM"),
        (("--kv-unified", "maybe"), "--kv-unified: must be one of on, off"),
    ],
)
def test_bad_extra_flags_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    out = fit("--model", "llama-3.1-8b-instruct", "--gpu", "RTX 4090", "--ram", "32", *args)
    assert out.returncode == 2 and out.stderr.startswith(f"error: {message}"), out.stderr
    assert "Traceback" not in out.stderr


def test_parse_beyond_bounds() -> None:
    assert parse_beyond({"users": ["8"], "gtt": ["96"]}) == BeyondParams(users=8, gtt_gib=96.0)
    with pytest.raises(FitArgError):
        parse_beyond({"carveout": ["-1"]})
