"""Serve a team: the batched-decode step model against llama-batched-bench on the H200, and its inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.core import serving
from advisor.core.units import MIB

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "batched_h200.jsonl"


def measured() -> list[tuple[int, float, float]]:
    """(sequences, step seconds, prefill tok/s) of each llama-batched-bench row."""
    rows = [json.loads(line)["bench"] for line in DATA.read_text().splitlines()]
    return [(b["pl"], b["t_tg"] / b["tg"], b["speed_pp"]) for b in rows]


def test_the_constants_are_the_least_squares_fit_of_the_committed_rows() -> None:
    rows = measured()
    t1 = rows[0][1]
    pp = next(p for b, _, p in rows if b == 4)
    small = [(b - 1, (s - t1) * pp) for b, s, _ in rows if 1 < b <= serving.MMVQ_MAX_BATCH]
    k_vec = sum(x * y for x, y in small) / sum(x * x for x, _ in small)
    base = [(s - t1) * pp - b for b, s, _ in rows if b > serving.MMVQ_MAX_BATCH]
    assert k_vec == pytest.approx(serving.K_VEC, abs=0.01)
    assert sum(base) / len(base) == pytest.approx(serving.MMQ_BASE, abs=0.1)


def test_the_step_model_reproduces_every_batch_size_within_2_percent() -> None:
    rows = measured()
    t1 = rows[0][1]
    pp = next(p for b, _, p in rows if b == 4)
    for b, step, _ in rows:
        predicted = serving.step_seconds(t1, t1, pp, b, "cuda")
        assert predicted == pytest.approx(step, rel=0.02), b
    # 8 sequences through the matrix-vector kernel are slower per step than 16 through MMQ, as measured.
    assert serving.step_seconds(t1, t1, pp, 8, "cuda") > serving.step_seconds(t1, t1, pp, 16, "cuda")


def test_each_further_user_reads_its_own_kv_cache() -> None:
    # 4 users 8k deep: one user alone takes 10 ms at that depth and 8 ms empty; the other three add 2 ms each.
    step = serving.step_seconds(0.010, 0.008, 1e12, 4, "cpu")
    assert step == pytest.approx(0.016, rel=1e-6)
    # llama-server samples each of the 4 tokens of a step on the CPU: 0.440 ms more per user.
    speed = serving.team_speed(lambda d: 100.0 if d else 125.0, 1e12, 4, 4096, "cpu")
    assert speed is not None and speed.per_user_tps == pytest.approx(1 / (0.016 + 4 * 0.000440), rel=1e-6)  # 56.3
    assert speed.aggregate_tps == pytest.approx(4 * speed.per_user_tps, rel=1e-6)
    assert speed.single_tps == pytest.approx(1 / (0.010 + 0.000440), rel=1e-6)  # 95.8 alone on the server


def test_bad_inputs_and_unknown_speeds() -> None:
    with pytest.raises(ValueError):
        serving.step_seconds(0.01, 0.01, 1000, 0, "cuda")
    assert serving.team_speed(lambda d: None, 1000, 2, 0, "cuda") is None


def test_flags_and_the_prompt_cache_note() -> None:
    flags = serving.server_flags(32768, 4, False, 33, 0, "q8_0", True)
    assert flags == "-c 32768 -np 4 -ngl 33 -fa on -ctk q8_0 -ctv q8_0 --cache-ram 8192"
    assert "--kv-unified" in serving.server_flags(32768, 4, True, 33, 0, "f16", True)
    assert serving.cache_ram_note(0, 64 * 1024 * MIB) is None
    note = serving.cache_ram_note(10 * 1024 * MIB, 14 * 1024 * MIB)
    assert note is not None and "--cache-ram 2048" in note and "4096 MiB are left" in note
