"""Serve a team: one llama-server for N concurrent users, its slots, KV cache and batched decode speed.

llama-server (tools/server/server.cpp, server-context.cpp in llama.cpp as vendored by llama-cpp-python
0.3.36) gives each of ``-np N`` slots ``n_ctx / N`` cells of its own KV stream unless ``--kv-unified``
(then one pool of ``n_ctx`` cells that any slot may fill; ``-np`` left at auto means 4 slots and a unified
cache, server.cpp:156-160). Its prompt cache (``--cache-ram``, common/common.h ``cache_ram_mib = 8192``)
lives in host RAM and grows with use up to that cap.

Batched decode: at each step llama.cpp reads every weight once for all B sequences, each sequence reads
its own KV cache, and the matrix work grows with B. On CUDA the matrix-vector kernel (MMVQ) serves batches
of up to ``MMVQ_MAX_BATCH`` columns and its cost grows quickly with B; past it the tiled MMQ kernel runs,
with a fixed start-up cost and a small cost per column. Both are written in units of the time one prompt
token takes at the prefill rate (``1 / prefill_tps``), fitted to llama-batched-bench on an H200
(bench/data/batched_h200.jsonl; ``python bench/batched_predict.py`` refits and compares them)::

    step(B) = t1(d) + (B - 1) * (t1(d) - t1(0))                # every further sequence reads its own KV
              + (B - 1) * K_VEC / prefill_tps                   # B <= MMVQ_MAX_BATCH
              + (MMQ_BASE + B) / prefill_tps                    # B >  MMVQ_MAX_BATCH

llama-server adds ``SERVER_TOKEN_S`` per generated token to that step (``team_speed``): llama-batched-bench
and llama-bench never sample, the server samples every slot's token from the whole vocabulary on the CPU
and checks it for stop strings before the next step starts (tools/server/server-context.cpp).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from advisor.core.units import MIB

# ggml/src/ggml-cuda/mmvq.cuh MMVQ_MAX_BATCH_SIZE: up to 8 columns take the matrix-vector kernel.
MMVQ_MAX_BATCH = 8
# Fitted to bench/data/batched_h200.jsonl (Llama-3.1-8B Q4_K_M stand-in, llama-batched-bench -npp 128
# -ntg 128 -npl 1..32): the least-squares values bench/batched_predict.py prints, in prefill-token units.
K_VEC = 6.22  # each further sequence of a small batch costs ~6 prompt tokens' worth of prefill time
MMQ_BASE = 23.3  # the tiled kernel's start-up cost past 8 sequences
# llama-server's own cost per generated token (sampling, token bookkeeping), on top of llama.cpp's decode step:
# fitted by bench/draft_compare.py to the per-request predicted_per_second of bench/data/serve_h200.jsonl
# (llama-server -np 1/4/8 on the H200, Llama-3.1-8B Q4_K_M, 1/4/8 clients at once: 239.5 / 140.5 / 83.5 tok/s
# per user against the batched model's 276.1 / 178.7 / 121.5). The same gap between llama-server and
# llama-bench for one user: 0.38 ms on Llama-3.1-8B (250.6 vs 277.1 tok/s), 0.31 ms on 70B (44.0 vs 44.6).
SERVER_TOKEN_S = 0.000_440
# llama-server's prompt-cache cap in host RAM (common/common.h cache_ram_mib = 8192; --cache-ram N MiB).
CACHE_RAM_BYTES = 8192 * MIB
# llama-server's slots when -np is left at auto (tools/server/server.cpp:156-160: 4 slots, unified KV).
AUTO_SLOTS = 4


def step_seconds(t1_depth: float, t1_empty: float, prefill_tps: float, batch: int, backend: str) -> float:
    """Seconds for one decode step of ``batch`` sequences, each ``d`` tokens deep.

    ``t1_depth``/``t1_empty``: one sequence's decode step at that depth and on an empty context.
    CPU backends have no matrix-vector special case: each further sequence costs its prompt token's worth.
    """
    if batch < 1 or prefill_tps <= 0:
        raise ValueError("batch must be >= 1 and prefill_tps > 0")
    kv = (batch - 1) * max(t1_depth - t1_empty, 0.0)
    if backend == "cpu":
        return t1_depth + kv + (batch - 1) / prefill_tps
    if batch <= MMVQ_MAX_BATCH:
        return t1_depth + kv + (batch - 1) * K_VEC / prefill_tps
    return t1_depth + kv + (MMQ_BASE + batch) / prefill_tps


@dataclass(frozen=True)
class TeamSpeed:
    users: int
    depth: int  # tokens already in each user's context
    per_user_tps: float
    aggregate_tps: float
    single_tps: float  # one user alone at the same depth

    def to_dict(self) -> dict[str, Any]:
        return {"users": self.users, "depth": self.depth, "per_user_tps": round(self.per_user_tps, 1),
                "aggregate_tps": round(self.aggregate_tps, 1), "single_tps": round(self.single_tps, 1)}  # fmt: skip


def server_step_seconds(t1_depth: float, t1_empty: float, prefill_tps: float, users: int, backend: str) -> float:
    """One llama-server step with ``users`` slots decoding: the batched step plus the server's work per token."""
    return step_seconds(t1_depth, t1_empty, prefill_tps, users, backend) + users * SERVER_TOKEN_S


def team_speed(
    decode_at: Callable[[int], float | None], prefill_tps: float | None, users: int, depth: int, backend: str
) -> TeamSpeed | None:
    """Per-user and aggregate llama-server decode tok/s with ``users`` slots decoding together at ``depth``,
    and one user alone on the same server."""
    alone, empty = decode_at(depth), decode_at(0)
    if not alone or not empty or not prefill_tps:
        return None
    step = server_step_seconds(1 / alone, 1 / empty, prefill_tps, users, backend)
    single = server_step_seconds(1 / alone, 1 / empty, prefill_tps, 1, backend)
    return TeamSpeed(users, depth, 1 / step, users / step, 1 / single)


@dataclass(frozen=True)
class TeamPlan:
    """A llama-server plan for ``users`` concurrent users, each with ``ctx_per_user`` tokens."""

    users: int
    slots: int
    kv_unified: bool
    n_ctx: int  # -c: the whole KV pool
    ctx_per_slot: int  # the most one slot may hold (the pool when unified)
    kv_cache_bytes: int
    gpu_bytes: int
    host_bytes: int
    devices: tuple[tuple[str, int, int | None], ...]  # (name, bytes, capacity)
    fits: bool
    cache_ram_bytes: int
    ram_bytes: int | None
    speed: TeamSpeed | None
    flags: str
    notes: tuple[str, ...] = ()

    @property
    def host_with_cache_bytes(self) -> int:
        return self.host_bytes + self.cache_ram_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users, "slots": self.slots, "kv_unified": self.kv_unified, "n_ctx": self.n_ctx,
            "ctx_per_slot": self.ctx_per_slot, "kv_cache_bytes": self.kv_cache_bytes, "gpu_bytes": self.gpu_bytes,
            "host_bytes": self.host_bytes, "cache_ram_bytes": self.cache_ram_bytes,
            "host_with_cache_bytes": self.host_with_cache_bytes, "fits": self.fits,
            "devices": [{"name": n, "total_bytes": b, "capacity_bytes": c} for n, b, c in self.devices],
            "speed": None if self.speed is None else self.speed.to_dict(), "flags": self.flags,
            "notes": list(self.notes),
        }  # fmt: skip


def server_flags(n_ctx: int, slots: int, unified: bool, ngl: int, n_cpu_moe: int, kv_type: str, fa: bool) -> str:
    """The llama-server flags of a team plan (the model path is the caller's)."""
    out = f"-c {n_ctx} -np {slots}" + (" --kv-unified" if unified else "") + f" -ngl {ngl}"
    if n_cpu_moe:
        out += f" --n-cpu-moe {n_cpu_moe}"
    out += f" -fa {'on' if fa else 'off'}"
    if kv_type not in ("f16", "bf16", "f32"):
        out += f" -ctk {kv_type} -ctv {kv_type}"
    return out + f" --cache-ram {CACHE_RAM_BYTES // MIB}"


def cache_ram_note(host_bytes: int, ram_bytes: int | None) -> str | None:
    """What to say when the prompt cache's cap would not fit in the RAM left after the model's host part."""
    if ram_bytes is None:
        return None
    spare = ram_bytes - host_bytes
    if spare >= CACHE_RAM_BYTES:
        return None
    mib = max(spare // MIB // 2, 0)
    return (f"the prompt cache may grow to {CACHE_RAM_BYTES // MIB} MiB of host RAM but only {spare // MIB} MiB "
            f"are left after the model: pass --cache-ram {mib} (or 0 to turn it off)")  # fmt: skip
