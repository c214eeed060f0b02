"""Speculative decoding: the expected tokens per round, the cited acceptances and the catalog's drafters."""

from __future__ import annotations

import pytest

from advisor.catalog.models_catalog import load_models
from advisor.core import draft, serving


def catalog() -> list[draft.Candidate]:
    from advisor.fit.beyond import _candidates

    return _candidates()


def by_id(cands: list[draft.Candidate], model_id: str) -> draft.Candidate:
    return next(c for c in cands if c.id == model_id)


def test_expected_tokens_per_round() -> None:
    assert draft.expected_tokens(0.0, 5) == 1.0  # nothing accepted: the target's own token only
    assert draft.expected_tokens(1.0, 3) == 4.0
    assert draft.expected_tokens(0.5, 2) == pytest.approx(1.75)  # 1 + 0.5 + 0.25
    with pytest.raises(ValueError):
        draft.expected_tokens(1.5, 2)


def test_cited_acceptances_reproduce_what_their_sources_counted() -> None:
    # issue 5877: n_drafted 730, n_accept 526 with 5-token drafts; issue 3649: 260 and 208.
    for acc, share in ((draft.DRAFT_ACCEPTANCE["llama3"], 526 / 730), (draft.DRAFT_ACCEPTANCE["generic"], 208 / 260)):
        a = acc.rate
        assert sum(a**i for i in range(1, 6)) / 5 == pytest.approx(share, abs=1e-3)
        assert acc.source.startswith("https://github.com/ggml-org/llama.cpp/issues/") and acc.k_measured == 5
    mtp = draft.MTP_ACCEPTANCE["llama.cpp-mtp"].rate
    assert (mtp + mtp**2) / 2 == pytest.approx(0.7, abs=1e-3)
    assert draft.MTP_ACCEPTANCE["deepseek2"].source == "https://arxiv.org/abs/2412.19437"


def test_speculative_speed_arithmetic() -> None:
    # a = 1, k = 3: 4 tokens per round of 3 draft steps of 1 ms, a 20 ms verify step and a 1.2 ms re-evaluation,
    # plus llama-server's fixed costs: 0.468 ms per draft step, 0.725 ms per round, 0.440 ms per kept token.
    assert (draft.DRAFT_STEP_S, draft.SPEC_ROUND_S, serving.SERVER_TOKEN_S) == (0.000468, 0.000725, 0.000440)
    speed = draft.speculative_tps(0.020, 0.001, 1.0, 3, reeval_s=0.0012)
    assert speed.tokens_per_round == 4.0
    assert speed.tps == pytest.approx(4 / (0.020 + 3 * 0.001468 + 0.0012 + 0.000725 + 4 * 0.000440))  # 142.4
    assert draft.server_plain_tps(250.0) == pytest.approx(1 / (0.004 + 0.000440))


@pytest.mark.parametrize(
    ("target", "drafter"),
    [
        ("llama-3.1-70b-instruct", "llama-3.2-1b-instruct"),
        ("llama-3.3-70b-instruct", "llama-3.2-1b-instruct"),
        ("qwen2.5-coder-32b-instruct", "qwen2.5-coder-0.5b-instruct"),
        ("qwen3-32b", "qwen3-0.6b"),
        ("gemma-3-27b-it", "gemma-3-270m-it"),  # the smallest Gemma 3 with the same 262,144-token vocabulary
    ],
)
def test_the_catalog_drafter_shares_the_tokenizer_and_is_small(target: str, drafter: str) -> None:
    cands = catalog()
    picked = draft.pick_draft(by_id(cands, target), cands)
    assert picked is not None and picked.id == drafter
    assert abs(by_id(cands, target).vocab_size - picked.vocab_size) <= draft.SPEC_VOCAB_MAX_SIZE_DIFFERENCE


def test_no_drafter_where_llama_cpp_would_refuse_or_nothing_is_small_enough() -> None:
    cands = catalog()
    # DeepSeek's distills rewrite the special tokens' text; Llama 3.2 1B is not small enough for 3B.
    assert draft.pick_draft(by_id(cands, "deepseek-r1-distill-llama-70b"), cands) is None
    assert draft.pick_draft(by_id(cands, "llama-3.2-3b-instruct"), cands) is None
    assert not draft.compatible(by_id(cands, "qwen3-8b"), by_id(cands, "llama-3.2-1b-instruct"))


def test_mtp_families_are_catalog_families() -> None:
    families = {m.family for m in load_models()}
    assert set(draft.MTP_FAMILIES) <= families
    assert set(draft.TOKENIZER_GROUPS) <= families
