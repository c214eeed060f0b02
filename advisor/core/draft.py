"""Speculative decoding: a draft model (``-md``) or the model's own MTP head (``--spec-type draft-mtp``).

Each round the drafter proposes ``k`` tokens one at a time, then the target checks all of them in one
step over ``k + 1`` tokens. With a per-token acceptance ``a`` (each drafted token is kept only if every
one before it was), a round yields ``(1 - a^(k+1)) / (1 - a)`` tokens on average (Leviathan et al. 2023,
https://arxiv.org/abs/2211.17192, eq. 1) and costs ``k`` draft steps plus one target step over ``k + 1``
tokens (``advisor.core.serving.step_seconds``: the verify batch has the shapes of ``k + 1`` sequences).
In llama-server a round costs more than those steps (``round_seconds``): the draft model evaluates the
``k + 1`` verified tokens again after the target (common_speculative_process, "always re-evaluate for
simplicity", tools/server/server-context.cpp TAG_SPEC_AVOID_DRAFT_REEVAL), every draft token is sampled on the
CPU (top-k 10 over the whole vocabulary, common/speculative.cpp draft-simple), the server samples each kept
token like any other (``serving.SERVER_TOKEN_S``), and each round has its own bookkeeping. The fixed parts
(``DRAFT_STEP_S``, ``SPEC_ROUND_S``) are fitted to llama-server on an H200 by bench/draft_compare.py; they
dominate a fast target (Llama-3.1-8B on an H200 is no faster with a 1B draft at the cited acceptance) and matter
little for a slow one (70B).

Flags are llama.cpp's as vendored in llama-cpp-python 0.3.36 (common/arg.cpp): ``-md``, ``-ngld``,
``--spec-draft-n-max`` (default 3, common/common.h; older builds called it ``--draft-max``), ``-ctkd``/
``-ctvd`` (the draft's KV types, default f16), ``--spec-type draft-mtp``. The draft context copies the
target's n_ctx and slots (common/speculative.cpp common_base_params_to_speculative); llama.cpp refuses a
draft whose vocabulary differs from the target's by more than 128 tokens or in any token's text
(common_speculative_are_compatible, SPEC_VOCAB_MAX_SIZE_DIFFERENCE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from advisor.core import serving

SPEC_VOCAB_MAX_SIZE_DIFFERENCE = 128
DEFAULT_DRAFT_MAX = 3  # common/common.h common_params_speculative_draft.n_max
MIN_SIZE_RATIO = 5  # a draft at most 1/5 of the target's active parameters is worth running
# llama-server's fixed costs of speculative decoding beyond the model steps, seconds. Least squares (relative
# round time) by bench/draft_compare.py over every measured round of bench/data/draft_rows_h200.jsonl and
# bench/data/draft_h200.jsonl (H200, llama.cpp of llama-cpp-python 0.3.36, Llama-3.1-8B/70B + Llama-3.2-1B,
# Qwen2.5-Coder-32B + 0.5B, k = 1/3/5/8); per-pair leave-one-out errors are in bench/data/draft_compare.txt.
DRAFT_STEP_S = 0.000_468  # per drafted token: the draft's sampling and its logits' trip to the CPU
SPEC_ROUND_S = 0.000_725  # per round: drafting set-up, rejected-tail removal from both KV caches, checks
# A predicted speed-up below this is within the run-to-run spread of llama-server on the H200 (the same
# plain 8B run: 250.6 and 239.5 tok/s): the plan says a draft will not help.
MIN_SPEEDUP = 1.05


def expected_tokens(a: float, k: int) -> float:
    """Tokens a round yields: the accepted prefix of ``k`` drafts plus the target's own next token.

    >>> round(expected_tokens(0.8, 5), 3), expected_tokens(1.0, 5)
    (3.689, 6.0)
    """
    if not 0 <= a <= 1 or k < 0:
        raise ValueError("acceptance must be in [0, 1] and k >= 0")
    return float(k + 1) if a >= 1 else (1 - a ** (k + 1)) / (1 - a)


def acceptance_from_reported(accepted_share: float, k: int) -> float:
    """The per-token acceptance ``a`` whose expected accepted share of ``k`` drafts is ``accepted_share``
    (llama-speculative's ``accept = n_accept / n_drafted`` with fixed-length drafts): solves
    ``sum(a^i, i = 1..k) = accepted_share * k`` by bisection.

    >>> round(acceptance_from_reported(0.72055, 5), 3)
    0.893
    """
    target = accepted_share * k
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if expected_tokens(mid, k) - 1 < target:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2, 4)


@dataclass(frozen=True)
class Acceptance:
    """A cited acceptance: per-token ``rate``, the pair it was measured on, what the source reported."""

    rate: float
    pair: str
    reported: str
    source: str
    proxy: bool = False  # measured on another pair than the one planned
    k_measured: int = 1  # the draft length it was measured at: the plan drafts no longer than that

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "pair": self.pair, "reported": self.reported, "source": self.source,
                "proxy": self.proxy, "draft_max_measured": self.k_measured}  # fmt: skip


# Measured acceptance, by tokenizer group (draft models) or by architecture (MTP heads).
DRAFT_ACCEPTANCE: dict[str, Acceptance] = {
    # llama-speculative, Llama-3.1-8B-Instruct Q8_0 + Llama-3.2-1B-Instruct Q8_0, RTX 3060, --draft 5:
    # n_drafted 730, n_accept 526 (72.1 %).
    "llama3": Acceptance(
        acceptance_from_reported(526 / 730, 5), "Llama-3.1-8B + Llama-3.2-1B",
        "72.1 % of 5-token drafts accepted (526 / 730)", "https://github.com/ggml-org/llama.cpp/issues/5877",
        k_measured=5,
    ),
    # llama.cpp's author, OpenLLaMA-7B f16 + llama-160m, --draft 5, greedy: n_drafted 260, n_accept 208.
    "generic": Acceptance(
        acceptance_from_reported(208 / 260, 5), "OpenLLaMA-7B + llama-160m",
        "80.0 % of 5-token drafts accepted (208 / 260)", "https://github.com/ggml-org/llama.cpp/issues/3649",
        proxy=True, k_measured=5,
    ),
}  # fmt: skip
MTP_ACCEPTANCE: dict[str, Acceptance] = {
    # DeepSeek-V3 technical report, section 5.4.3: the second token's acceptance is 85-90 %.
    "deepseek2": Acceptance(0.85, "DeepSeek-V3 MTP", "85-90 % acceptance of the second token",
                            "https://arxiv.org/abs/2412.19437"),
    # llama-server --spec-type draft-mtp --spec-draft-n-max 2 on Qwen3.6/3.8-27B: draft acceptance ~0.7,
    # so a + a^2 = 1.4 per round.
    "llama.cpp-mtp": Acceptance(acceptance_from_reported(0.7, 2), "Qwen3.6/3.8-27B MTP in llama-server",
                                "~0.7 of 2-token MTP drafts accepted",
                                "https://github.com/ggml-org/llama.cpp/issues/27106", proxy=True,
                                k_measured=2),
}  # fmt: skip

# Families whose published GGUFs share one tokenizer (the same vocabulary text, so llama.cpp accepts the
# pair). DeepSeek's Llama/Qwen distills are left out: they rewrite the special tokens' text.
TOKENIZER_GROUPS: dict[str, str] = {
    "llama3": "llama3", "llama3.1": "llama3", "llama3.2": "llama3", "llama3.3": "llama3",
    "qwen2.5": "qwen2.5", "qwen2.5-coder": "qwen2.5", "qwen2.5-math": "qwen2.5",
    "qwen3": "qwen3", "gemma2": "gemma2", "gemma3": "gemma3", "smollm2": "smollm2", "falcon3": "falcon3",
    "olmo2": "olmo2", "granite4": "granite4", "glm4": "glm4", "command-r": "command-r",
}  # fmt: skip

# Models with multi-token-prediction layers that llama.cpp loads with --spec-type draft-mtp
# (src/models/<arch>.cpp load_arch_tensors: TENSOR_SKIP unless load_mtp), by catalog family:
# (llama.cpp architecture, nextn layers from config.json, the config that says so).
MTP_FAMILIES: dict[str, tuple[str, int, str]] = {
    "deepseek-v3": ("deepseek2", 1, "https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json"),
    "deepseek-r1": ("deepseek2", 1, "https://huggingface.co/deepseek-ai/DeepSeek-R1/blob/main/config.json"),
    "glm4.5": ("glm4moe", 1, "https://huggingface.co/zai-org/GLM-4.5/blob/main/config.json"),
    "qwen3-next": ("qwen3next", 1, "https://huggingface.co/Qwen/Qwen3-Next-80B-A3B-Instruct/blob/main/config.json"),
    # Qwen3.5/3.6 configs: mtp_num_hidden_layers 1 (src/models/qwen35.cpp, qwen35moe.cpp load it)
    "qwen3.5": ("qwen35", 1, "https://huggingface.co/Qwen/Qwen3.5-27B/blob/main/config.json"),
    "qwen3.6": ("qwen35", 1, "https://huggingface.co/Qwen/Qwen3.6-27B/blob/main/config.json"),
}


@dataclass(frozen=True)
class Candidate:
    """A catalog model as the draft picker sees it."""

    id: str
    family: str
    vocab_size: int
    params_total: int
    params_active: int
    base: bool = False


def compatible(target: Candidate, draft: Candidate) -> bool:
    group = TOKENIZER_GROUPS.get(target.family)
    return (
        group is not None
        and TOKENIZER_GROUPS.get(draft.family) == group
        and abs(target.vocab_size - draft.vocab_size) <= SPEC_VOCAB_MAX_SIZE_DIFFERENCE
    )


def pick_draft(target: Candidate, catalog: Sequence[Candidate]) -> Candidate | None:
    """The draft for ``target``: a model sharing its tokenizer and at most 1/``MIN_SIZE_RATIO`` of its active
    parameters: instruct over base, then the smallest (the cited acceptances do not fall with the draft's
    size, so the cheapest draft wins), then the same family.

    >>> big = Candidate("q-32b", "qwen2.5-coder", 152064, 32_700_000_000, 32_700_000_000)
    >>> small = Candidate("q-0.5b", "qwen2.5-coder", 151936, 494_000_000, 494_000_000)
    >>> pick_draft(big, [big, small]).id
    'q-0.5b'
    """
    fits = [c for c in catalog if c.id != target.id and compatible(target, c)
            and c.params_total * MIN_SIZE_RATIO <= target.params_active]  # fmt: skip
    if not fits:
        return None
    return min(fits, key=lambda c: (c.base != target.base, c.params_total, c.family != target.family))


def acceptance_for(target_family: str) -> Acceptance:
    group = TOKENIZER_GROUPS.get(target_family, "")
    cited = DRAFT_ACCEPTANCE.get(group)
    if cited is not None:
        return cited
    return DRAFT_ACCEPTANCE["generic"]


def mtp_acceptance(family: str, arch: str) -> Acceptance:
    """The cited MTP acceptance for a family (Qwen3.6 is the measured one) or its architecture."""
    if family == "qwen3.6":  # issue 27106 measured Qwen3.6/3.8-27B itself
        return replace(MTP_ACCEPTANCE["llama.cpp-mtp"], proxy=False)
    return MTP_ACCEPTANCE.get(arch) or MTP_ACCEPTANCE["llama.cpp-mtp"]


@dataclass(frozen=True)
class SpecSpeed:
    k: int
    tokens_per_round: float
    tps: float


def round_seconds(verify_s: float, draft_step_s: float, reeval_s: float, k: int, tokens: float) -> float:
    """One llama-server round: ``k`` draft steps, the target's verify step, the drafter's re-evaluation of the
    ``k + 1`` tokens (``reeval_s``), the fixed costs, and the server's work for each of the ``tokens`` kept."""
    return (verify_s + k * (draft_step_s + DRAFT_STEP_S) + reeval_s + SPEC_ROUND_S
            + tokens * serving.SERVER_TOKEN_S)  # fmt: skip


def speculative_tps(verify_s: float, draft_step_s: float, a: float, k: int, reeval_s: float = 0.0) -> SpecSpeed:
    """llama-server decode tok/s with drafts of ``k`` at per-token acceptance ``a``: expected tokens per round
    over the round's time."""
    tokens = expected_tokens(a, k)
    return SpecSpeed(k, tokens, tokens / round_seconds(verify_s, draft_step_s, reeval_s, k, tokens))


def server_plain_tps(plain_tps: float) -> float:
    """llama-server's speed without a drafter: the decode step plus the server's work per token."""
    return 1 / (1 / plain_tps + serving.SERVER_TOKEN_S)


@dataclass(frozen=True)
class DraftPlan:
    """Speculative decoding for one plan: what runs the drafts, its memory, the expected speed, the flags."""

    kind: str  # "draft" | "mtp"
    drafter: str  # the draft model's catalog id, or "MTP head (N layer)"
    quant: str | None
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    gpu_bytes: int  # what the drafter adds on the GPUs (no second CUDA context: same process)
    fits: bool  # target and drafter together on the GPUs
    acceptance: Acceptance
    k: int
    plain_tps: float | None
    spec_tps: float | None
    default_k_tps: float | None  # with llama.cpp's default --spec-draft-n-max 3
    flags: str
    notes: tuple[str, ...] = ()

    @property
    def server_plain_tps(self) -> float | None:
        """What llama-server decodes without the drafter: the speed-up is measured against this."""
        return None if not self.plain_tps else server_plain_tps(self.plain_tps)

    @property
    def speedup(self) -> float | None:
        plain = self.server_plain_tps
        return None if not plain or not self.spec_tps else self.spec_tps / plain

    @property
    def helps(self) -> bool | None:
        """Whether the predicted speed-up is at least ``MIN_SPEEDUP`` (None: speed unknown)."""
        return None if self.speedup is None else self.speedup >= MIN_SPEEDUP

    @property
    def verdict(self) -> str:
        """What to say when the drafter does not pay for itself on this machine ("" otherwise)."""
        if self.helps is not False or self.speedup is None or self.server_plain_tps is None:
            return ""
        return (f"A draft model will not help here: ~{self.spec_tps} tok/s against ~{self.server_plain_tps:.1f} "
                f"without it in llama-server ({self.speedup:.2f}x, below {MIN_SPEEDUP:.2f}x); on a target this "
                "fast each round's fixed costs eat the gain.")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "drafter": self.drafter, "quant": self.quant, "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes, "compute_bytes": self.compute_bytes, "gpu_bytes": self.gpu_bytes,
            "fits": self.fits, "acceptance": self.acceptance.to_dict(), "draft_max": self.k,
            "plain_decode_tps": self.plain_tps, "speculative_decode_tps": self.spec_tps,
            "server_plain_decode_tps": None if self.server_plain_tps is None else round(self.server_plain_tps, 1),
            "default_draft_max_tps": self.default_k_tps,
            "speedup": None if self.speedup is None else round(self.speedup, 2), "helps": self.helps,
            "verdict": self.verdict, "flags": self.flags,
            "notes": list(self.notes),
        }  # fmt: skip
