"""A cancelled probe stops within seconds even while llama.cpp says nothing (a long prefill, a quantization),
and its progress is one percent of the whole run, stage after stage."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from advisor.probe import STAGE_WEIGHTS, ProbeCancelled, child_process, overall_percent

# A child that reports once, then works silently for a minute, as llama-quantize or a long prefill does.
SILENT_CHILD = (
    "import json, sys, time; sys.stdin.read(); "
    "print(json.dumps({'type': 'progress', 'stage': 'prefill', 'percent': 50.0}), flush=True); time.sleep(60)"
)


def test_a_silent_child_is_killed_within_seconds_of_a_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen = subprocess.Popen

    def popen(argv: list[str], **kwargs: Any) -> Any:
        return real_popen([sys.executable, "-c", SILENT_CHILD], **kwargs)

    monkeypatch.setattr(child_process.subprocess, "Popen", popen)
    asked: list[tuple[str, float, float]] = []
    cancel_at = time.monotonic() + 1.0  # someone presses Cancel a second in

    def on_progress(stage: str, percent: float) -> bool:
        asked.append((stage, percent, time.monotonic()))
        return time.monotonic() < cancel_at

    started = time.monotonic()
    with pytest.raises(ProbeCancelled):
        child_process._run_child({"job": "probe"}, on_progress, time_limit_s=120)
    took = time.monotonic() - started
    # Asked again about every CANCEL_CHECK_S while the child was silent, with what it last said.
    assert len(asked) >= 2 and {(s, p) for s, p, _ in asked} == {("prefill", 50.0)}
    assert took < 1.0 + child_process.CANCEL_CHECK_S + 1.5, took


def test_one_percent_over_the_whole_run() -> None:
    assert sum(STAGE_WEIGHTS.values()) == 100
    walk = [("preparing", 0), ("preparing", 79), ("loading", 0), ("loading", 100), ("warmup", 100),
            ("prefill", 6), ("prefill", 100), ("decode", 50), ("done", 100)]  # fmt: skip
    overall = [overall_percent(stage, percent) for stage, percent in walk]
    assert overall == sorted(overall) and overall[0] == 0 and overall[-1] == 100
    assert overall[2] == STAGE_WEIGHTS["preparing"] == 20
    assert overall_percent("prefill", 6) == pytest.approx(20 + 15 + 5 + 0.06 * 25)
    # Two measured stand-ins: the second's loading starts where the first's decode ended.
    assert overall_percent("decode", 100, part=0, parts=2) == overall_percent("loading", 0, part=1, parts=2) == 60
