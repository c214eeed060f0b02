"""Speculative decoding and serving a team on the H200: every measured row beside its prediction, and the fits
of llama-server's fixed costs.

    python bench/draft_compare.py > bench/data/draft_compare.txt

Measured (llama.cpp vendored in llama-cpp-python 0.3.36, zero-weight stand-ins, llama-server, one completion
of 256 tokens with ignore_eos and temperature 0; each row holds its exact command; bench/gpu_logs.py):

- ``data/draft_rows_h200.jsonl``: every row of bench/draft_predict.py (k = 1/3/5 at acceptance 1.0 and at the
  cited rate, through ``--spec-synth-rates``) and the plain target. Predictions committed in 76f25ad
  (11:08 UTC); measured 11:21 (``data/job_h200_logs2.log``), committed in f586cd3: out of sample.
- ``data/draft_h200.jsonl``: k = 8 at ``--spec-synth-len`` 1.5/3/5/9. Predictions committed in 9e4f19d
  (10:53 UTC; kept as ``data/draft_synthlen_predictions_h200.jsonl``); measured 11:03-11:06
  (``data/job_h200_logs.log``): out of sample.
- ``data/serve_h200.jsonl``: ``-np 1/4/8`` with as many clients at once. Per-user speed is the server's own
  ``timings.predicted_per_second`` of each request (not wall clock, which holds HTTP and the prompt). The
  batched model (advisor/core/serving.py, fitted to llama-batched-bench at 05:59) was committed in f681ee6 at
  11:08, two minutes after these runs (11:06): not provably out of sample, though nothing in it was fitted to them.

Fitted here (least squares on the relative error; the constants live in advisor/core/serving.py and
advisor/core/draft.py, and tests/core/test_core_draft_fit.py checks that they are this script's values):

- ``serving.SERVER_TOKEN_S``, llama-server's work per generated token, from the three serve rows. Held out:
  the same constant measured without them, as llama-server minus llama-bench for one user.
- ``draft.DRAFT_STEP_S`` and ``draft.SPEC_ROUND_S`` from the measured round times (``predicted_ms`` over the
  rounds, a round being ``predicted_n - draft_n_accepted - 1``), so that the random acceptance of a 256-token
  run does not leak into the costs. Held out: each pair (target) predicted from the constants fitted to the
  other two, and the 70B and 32B rows from the 8B rows alone.

Every prediction comes from the plan (advisor.fit.engine.make_plan for the H200 at 4096 tokens, f16 KV,
flash attention on), so the plan's own error on the plain speed is in it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
os.environ.setdefault("DEBUG", "1")

DATA = ROOT / "bench" / "data"
CTX = 4096
DRAFT_HEADER = """\
Speculative decoding, llama-server tok/s (err = predicted / measured - 1).
'committed': the prediction committed before the run, out of sample by git's order: set 'rows' predicted in
76f25ad (11:08 UTC), run 11:21 (job_h200_logs2.log); set 'synthlen' predicted in 9e4f19d (10:53), run 11:03-11:06
(job_h200_logs.log). That model had no fixed costs and no re-evaluation.
'in-sample': this model with the constants fitted to all rows. 'LOPO': constants fitted without this target's
rows (held out). '8B-only': constants fitted to the Llama-3.1-8B rows only (held out for 70B and 32B).
'tok/rnd': tokens per round measured / expected at the nominal acceptance. 'cost LOPO': LOPO at the measured
tokens per round (the cost model alone, without the acceptance's sampling noise)."""
SERVE_HEADER = """\
Serve a team: llama-server -np N, N clients at once, per-user tok/s (the server's predicted_per_second).
'batched': the batched model (no server work), fitted to llama-batched-bench only, but committed in f681ee6 at
11:08, two minutes after these runs (11:06): not provably out of sample. 'in-sample': plus SERVER_TOKEN_S per user;
'LOO': the constant fitted to the other two rows; 'gap': the constant from the single-user gap."""


@dataclass(frozen=True)
class Run:
    """One llama-server completion with a drafter (``k`` > 0) or without (``k`` == 0)."""

    source: str  # "rows" | "synthlen"
    target: str
    target_quant: str
    draft: str
    draft_quant: str
    k: int
    acceptance: float | None  # the per-token rate asked for; None for a plain run
    measured_tps: float
    rounds: int
    round_s: float  # measured seconds per round (per token for a plain run)
    tokens_per_round: float  # measured
    committed_tps: float  # the prediction committed before the run

    @property
    def expected_tokens(self) -> float:
        from advisor.core.draft import expected_tokens

        return 1.0 if self.acceptance is None else expected_tokens(self.acceptance, self.k)

    @property
    def pair(self) -> str:
        return self.target

    @property
    def label(self) -> str:
        return "plain" if not self.k else f"k{self.k} a{self.acceptance:.3f}"


def _timings(rec: dict) -> tuple[float, int, float, float]:
    t = rec["responses"][0]["timings"]
    n, acc = t["predicted_n"], t.get("draft_n_accepted", 0)
    rounds = n - acc - 1 if t.get("draft_n") else n
    return t["predicted_per_second"], rounds, t["predicted_ms"] / 1000 / rounds, (n - 1) / rounds


def acceptance_for_length(length: float, k: int) -> float:
    """The per-token rate whose expected round yields ``length`` tokens (llama-server --spec-synth-len)."""
    from advisor.core.draft import expected_tokens

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_tokens(mid, k) < length else (lo, mid)
    return (lo + hi) / 2


def draft_runs() -> list[Run]:
    out = []
    for line in (DATA / "draft_rows_h200.jsonl").read_text().splitlines():
        rec = json.loads(line)
        row = rec["row"]
        tps, rounds, round_s, tpr = _timings(rec)
        plain = rec["label"] == "plain"
        out.append(Run("rows", row["target"], row["target_quant"], row["draft"], row["draft_quant"],
                       0 if plain else row["draft_max"], None if plain else row["acceptance"], tps, rounds, round_s,
                       tpr, row["predicted_plain_tps"] if plain else row["predicted_spec_tps"]))  # fmt: skip
    committed = {}
    for line in (DATA / "draft_synthlen_predictions_h200.jsonl").read_text().splitlines():
        p = json.loads(line)
        committed[p["target"], p["synth_len"]] = p["predicted_tps"]
    for line in (DATA / "draft_h200.jsonl").read_text().splitlines():
        rec = json.loads(line)
        (target, tq), (drafter, dq) = rec["target"].split(":"), rec["draft"].split(":")
        tps, rounds, round_s, tpr = _timings(rec)
        length = None if rec["label"] == "plain" else float(rec["label"].removeprefix("synth"))
        k = 0 if length is None else 8  # bench/gpu_logs.py DRAFT_MAX
        a = None if length is None else round(acceptance_for_length(length, k), 4)
        out.append(Run("synthlen", target, tq, drafter, dq, k, a, tps, rounds, round_s, tpr,
                       committed[rec["target"], length]))  # fmt: skip
    return out


@cache
def plan(model: str, quant: str):  # type: ignore[no-untyped-def]
    import django

    django.setup()
    from advisor.fit.args import FitParams
    from advisor.fit.engine import make_plan

    return make_plan(FitParams(model=model, quant=quant, ctx=CTX, kv_type="f16", flash_attn="on", gpus=("H200",)))


def model_seconds(r: Run, tokens: float) -> float:
    """The round's time without the two fitted constants: the plan's verify step, ``k`` draft steps, the
    drafter's re-evaluation and the server's work per kept token."""
    from advisor.core import serving
    from advisor.fit.beyond import verify_seconds

    target, drafter = plan(r.target, r.target_quant), plan(r.draft, r.draft_quant)
    td = 1 / drafter.speed.decode_tps
    return verify_seconds(target, r.k) + r.k * td + verify_seconds(drafter, r.k) + tokens * serving.SERVER_TOKEN_S


def fit_fixed(runs: Iterable[Run]) -> tuple[float, float]:
    """(DRAFT_STEP_S, SPEC_ROUND_S): least squares of ``k * x + y = measured - model`` relative to measured."""
    xx = xy = yy = bx = by = 0.0
    for r in runs:
        if not r.k:
            continue
        w = 1 / r.round_s
        u, v, b = r.k * w, w, (r.round_s - model_seconds(r, r.tokens_per_round)) * w
        xx, xy, yy, bx, by = xx + u * u, xy + u * v, yy + v * v, bx + u * b, by + v * b
    det = xx * yy - xy * xy
    return (bx * yy - by * xy) / det, (by * xx - bx * xy) / det


def predict_tps(r: Run, fixed: tuple[float, float], at_measured: bool = False) -> float:
    """llama-server tok/s of ``r`` with the fixed costs ``fixed`` (at the nominal acceptance unless asked)."""
    from advisor.core import draft

    t1 = 1 / plan(r.target, r.target_quant).speed.decode_tps
    if not r.k:
        return draft.server_plain_tps(1 / t1)
    tokens = r.tokens_per_round if at_measured else r.expected_tokens
    step, per_round = fixed
    return tokens / (model_seconds(r, tokens) + r.k * step + per_round)


def err(pred: float, meas: float) -> float:
    return 100 * (pred / meas - 1)


def med(values: Sequence[float]) -> float:
    return statistics.median(abs(v) for v in values) if values else float("nan")


@dataclass(frozen=True)
class DraftReport:
    fits: dict[str, tuple[float, float]]  # "all", "8b", and "without <pair>" for each pair
    lines: list[str]
    errors: dict[str, list[float]]  # column -> errors of the speculative rows


def draft_report(runs: list[Run]) -> DraftReport:
    from advisor.core import draft

    pairs = sorted({r.pair for r in runs})
    fits = {"all": fit_fixed(runs), "8b": fit_fixed(r for r in runs if r.pair == "llama-3.1-8b-instruct")}
    for p in pairs:
        fits["without " + p] = fit_fixed(r for r in runs if r.pair != p)
    lines = [
        "Fitted fixed costs (ms): per draft step, per round",
        f"  all rows (in sample; advisor/core/draft.py holds {1000 * draft.DRAFT_STEP_S:.3f}, "
        f"{1000 * draft.SPEC_ROUND_S:.3f}): {1000 * fits['all'][0]:.3f}, {1000 * fits['all'][1]:.3f}",
    ]
    lines += [f"  {name:38} {1000 * s:.3f}, {1000 * c:.3f}" for name, (s, c) in fits.items() if name != "all"]
    cols = ("committed", "in-sample", "LOPO", "8B-only")
    errors: dict[str, list[float]] = {c: [] for c in cols}
    by_pair: dict[tuple[str, str], list[float]] = {}
    lines += ["", *DRAFT_HEADER.splitlines(), "",
              f"{'set':8} {'target':27} {'draft':26} {'run':11} {'meas':>6} {'tok/rnd':>11} "
              f"{'committed':>14} {'in-sample':>14} {'LOPO':>14} {'8B-only':>14} {'cost LOPO':>9}"]  # fmt: skip
    for r in runs:
        lopo = fits["without " + r.pair]
        preds = {"committed": r.committed_tps, "in-sample": predict_tps(r, fits["all"]), "LOPO": predict_tps(r, lopo),
                 "8B-only": predict_tps(r, fits["8b"])}  # fmt: skip
        cells = " ".join(f"{tps:7.1f} {err(tps, r.measured_tps):+5.1f}%" for tps in preds.values())
        cost = f"{err(predict_tps(r, lopo, at_measured=True), r.measured_tps):+8.1f}%" if r.k else ""
        tpr = f"{r.tokens_per_round:.2f}/{r.expected_tokens:.2f}" if r.k else ""
        lines.append(f"{r.source:8} {r.target + ':' + r.target_quant:27} {r.draft + ':' + r.draft_quant:26} "
                     f"{r.label:11} {r.measured_tps:6.1f} {tpr:>11} {cells} {cost}".rstrip())  # fmt: skip
        if r.k:
            for c, tps in preds.items():
                errors[c].append(err(tps, r.measured_tps))
                by_pair.setdefault((c, r.pair), []).append(err(tps, r.measured_tps))
    n = sum(1 for r in runs if r.k)
    lines += ["", f"Median |error| over the {n} speculative rows:"]
    lines += [f"  {c:10} {med(errors[c]):5.1f}%  (worst {max(errors[c], key=abs):+.1f}%)" for c in cols]
    lines.append("  per target:")
    lines += [f"    {p:27} " + ", ".join(f"{c} {med(by_pair[c, p]):.1f}%" for c in cols) for p in pairs]
    lines.append("Plain llama-server runs against the plan's decode plus SERVER_TOKEN_S (in-sample column):")
    lines += [f"    {r.source:8} {r.target:27} {r.measured_tps:6.1f} vs {predict_tps(r, fits['all']):6.1f} "
              f"({err(predict_tps(r, fits['all']), r.measured_tps):+.1f}%)" for r in runs if not r.k]  # fmt: skip
    return DraftReport(fits, lines, errors)


@dataclass(frozen=True)
class Serve:
    users: int
    per_user_tps: float  # mean of the requests' predicted_per_second
    depth: int  # prompt tokens + half of the generated ones


def serve_runs() -> list[Serve]:
    out = []
    for line in (DATA / "serve_h200.jsonl").read_text().splitlines():
        rec = json.loads(line)
        ts = [r["timings"] for r in rec["responses"]]
        depth = round(statistics.mean(t["prompt_n"] + t["predicted_n"] / 2 for t in ts))
        out.append(Serve(rec["n_users"], statistics.mean(t["predicted_per_second"] for t in ts), depth))
    return out


SERVE_MODEL = ("llama-3.1-8b-instruct", "Q4_K_M")


def batched_step(s: Serve) -> float:
    """The plan's batched step for ``s.users`` slots (serving.step_seconds, no server work)."""
    import django

    django.setup()
    from advisor.core import serving
    from advisor.fit.args import FitParams
    from advisor.fit.engine import make_plan

    p = make_plan(FitParams(model=SERVE_MODEL[0], quant=SERVE_MODEL[1], ctx=CTX * s.users, parallel=s.users,
                            kv_type="f16", flash_attn="on", gpus=("H200",), runtime="llama-server"))  # fmt: skip
    alone, empty = p.speed.decode_at(s.depth), p.speed.decode_at(0)
    assert alone and empty and p.speed.prefill_tps
    return serving.step_seconds(1 / alone, 1 / empty, p.speed.prefill_tps, s.users, "cuda")


def fit_server_token(rows: Iterable[Serve], step: Callable[[Serve], float] = batched_step) -> float:
    """SERVER_TOKEN_S: least squares of ``users * c = measured step - batched step``, relative to measured."""
    num = den = 0.0
    for s in rows:
        m = 1 / s.per_user_tps
        num += (s.users / m) * (m - step(s)) / m
        den += (s.users / m) ** 2
    return num / den


def single_user_gap() -> float:
    """The same constant without the serve rows: llama-server's plain runs minus llama-bench tg128 for one
    user (Llama-3.1-8B and 70B Q4_K_M on the same H200), seconds per token, averaged over the models."""
    bench = {}
    for line in (DATA / "speed_h200.jsonl").read_text().splitlines():
        rec = json.loads(line)
        b = rec.get("bench") or {}
        if rec.get("tool") == "llama-bench" and b.get("n_gen") and not b.get("n_depth"):
            bench[rec["model_id"], rec["preset"]] = b["avg_ts"]
    gaps: dict[str, list[float]] = {}
    for r in draft_runs():
        if not r.k and (r.target, r.target_quant) in bench:
            gaps.setdefault(r.target, []).append(1 / r.measured_tps - 1 / bench[r.target, r.target_quant])
    return statistics.mean(statistics.mean(g) for g in gaps.values())


def serve_report(rows: list[Serve]) -> tuple[float, list[str], dict[str, list[float]]]:
    from advisor.core import serving

    c_all = fit_server_token(rows)
    c_gap = single_user_gap()
    lines = ["", *SERVE_HEADER.splitlines(),
             f"SERVER_TOKEN_S fitted to the 3 rows: {1000 * c_all:.3f} ms (advisor/core/serving.py holds "
             f"{1000 * serving.SERVER_TOKEN_S:.3f}); held out, llama-server minus llama-bench for one user: "
             f"{1000 * c_gap:.3f} ms", f"{'users':>5} {'depth':>5} {'meas':>6} "
             + " ".join(f"{c:>14}" for c in ("batched", "in-sample", "LOO", "gap"))]  # fmt: skip
    errors: dict[str, list[float]] = {"batched": [], "in-sample": [], "LOO": [], "gap": []}
    for s in rows:
        base = batched_step(s)
        loo = fit_server_token([o for o in rows if o is not s])
        preds = {"batched": 1 / base, "in-sample": 1 / (base + s.users * serving.SERVER_TOKEN_S),
                 "LOO": 1 / (base + s.users * loo), "gap": 1 / (base + s.users * c_gap)}  # fmt: skip
        for c, p in preds.items():
            errors[c].append(err(p, s.per_user_tps))
        cells = " ".join(f"{p:7.1f} {err(p, s.per_user_tps):+5.1f}%" for p in preds.values())
        lines.append(f"{s.users:>5} {s.depth:>5} {s.per_user_tps:6.1f} {cells}")
    lines.append("Median |error|: " + ", ".join(f"{c} {med(e):.1f}%" for c, e in errors.items()))
    return c_all, lines, errors


def main() -> None:
    runs = draft_runs()
    report = draft_report(runs)
    print("# python bench/draft_compare.py  (H200, llama-server of llama-cpp-python 0.3.36; see the docstring)")
    print("\n".join(report.lines))
    _, lines, _ = serve_report(serve_runs())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
