"""A fixed list of realistic, varied machine specs for the latency benchmarks and the fast-path test.

Each spec is the query string of the machine form (``/``, ``/api/recommendations``, ``/models/<id>``):
a GPU from a mix of desktop, laptop, Apple and data-centre parts with a plausible count and RAM, a CPU
(or none), a context, a KV-cache type, a runtime, a use case and a number of users. The pools below are
weighted by repetition; a fixed seed draws them, and a drawn spec that repeats an earlier one is drawn
again, so every request of a benchmark is a different machine (nothing is served from a cache).

Usage: .venv/bin/python bench/machine_specs.py [--n 2000] [--seed 18]   # writes bench/data/machine_specs.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "machine_specs.json"
SEED = 18

# (GPU name as the catalog knows it, the counts people run it at, RAM options in GB)
DESKTOP = ("GeForce RTX 3060", "GeForce RTX 3060 Ti", "GeForce RTX 3070", "GeForce RTX 3080", "GeForce RTX 3090",
           "GeForce RTX 3090", "GeForce RTX 4060", "GeForce RTX 4060", "GeForce RTX 4060 Ti 16 GB",
           "GeForce RTX 4070", "GeForce RTX 4070", "GeForce RTX 4070 Ti SUPER", "GeForce RTX 4080",
           "GeForce RTX 4090", "GeForce RTX 4090", "GeForce RTX 5070 Ti", "GeForce RTX 5080", "GeForce RTX 5090",
           "GeForce RTX 2080 Ti", "GeForce GTX 1080 Ti", "Radeon RX 7600", "Radeon RX 7800 XT",
           "Radeon RX 7900 XTX", "Radeon RX 6800 XT", "Arc A770")  # fmt: skip
# Apple chips with the unified memory sizes Apple sells them with.
APPLE = (("Apple M1 (8-core GPU)", (8, 16)), ("Apple M2 Pro (19-core GPU)", (16, 32)),
         ("Apple M3 (10-core GPU)", (8, 16, 24)), ("Apple M3 Max (40-core GPU)", (48, 64, 128)),
         ("Apple M4 (10-core GPU)", (16, 24, 32)), ("Apple M4 Pro (20-core GPU)", (24, 48, 64)),
         ("Apple M4 Max (40-core GPU)", (48, 64, 128)), ("Apple M3 Ultra (80-core GPU)", (96, 256, 512)))  # fmt: skip
DATACENTER = ("H100 SXM5 80 GB", "A100 SXM4 80 GB", "L40S", "RTX A6000", "Tesla T4", "Tesla P40")
CPUS = ("Ryzen 7 7700X", "Ryzen 9 7950X", "Core i7-13700K", "Core i5-12400", "Ryzen 5 5600X", "Core i9-14900K",
        "Ryzen 9 9950X", "Core Ultra 7 155H", "Ryzen 7 5800X3D", "Ryzen AI 9 HX 370")  # fmt: skip
CONTEXTS = (2048, 4096, 4096, 8192, 8192, 8192, 16384, 16384, 32768, 32768, 65536, 131072)
KV_TYPES = ("", "", "", "", "f16", "q8_0", "q4_0")
RUNTIMES = ("llama-server",) * 6 + ("ollama", "lm-studio", "llama-cpp-python")
USE_CASES = ("", "", "", "chat", "coding", "long-documents", "reasoning")
USERS = (1, 1, 1, 1, 1, 2, 4)


def draw(rng: random.Random) -> dict[str, str]:
    kind = rng.choices(("desktop", "apple", "datacenter", "cpu"), weights=(6, 2, 1, 1))[0]
    spec: dict[str, str] = {}
    if kind == "desktop":
        spec["gpu"] = rng.choice(DESKTOP)
        spec["gpu_count"] = str(rng.choice((1, 1, 1, 1, 2)))
        spec["ram"] = str(rng.choice((16, 32, 32, 64, 64, 96, 128)))
    elif kind == "apple":
        chip, sizes = rng.choice(APPLE)
        spec["gpu"] = chip
        spec["ram"] = str(rng.choice(sizes))
    elif kind == "datacenter":
        spec["gpu"] = rng.choice(DATACENTER)
        spec["gpu_count"] = str(rng.choice((1, 2, 4, 8)))
        spec["ram"] = str(rng.choice((128, 256, 512)))
    else:
        spec["ram"] = str(rng.choice((16, 32, 64, 128)))
    if kind != "apple" and rng.random() < 0.7:
        spec["cpu"] = rng.choice(CPUS)
    spec["ctx"] = str(rng.choice(CONTEXTS))
    runtime = rng.choice(RUNTIMES)
    if runtime != "llama-server":
        spec["runtime"] = runtime
    for key, pool in (("kv_type", KV_TYPES), ("use_case", USE_CASES)):
        value = rng.choice(pool)
        if value:
            spec[key] = value
    users = rng.choice(USERS)
    if users > 1:
        spec["users"] = str(users)
    return spec


def specs(n: int, seed: int = SEED) -> list[dict[str, str]]:
    """``n`` distinct specs, always the same ones for the same seed."""
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    while len(out) < n:
        spec = draw(rng)
        key = tuple(sorted(spec.items()))
        if key not in seen:
            seen.add(key)
            out.append(spec)
    return out


def load(n: int | None = None) -> list[dict[str, str]]:
    """The committed list (``bench/data/machine_specs.json``), or its first ``n``."""
    rows: list[dict[str, str]] = json.loads(OUT.read_text())["specs"]
    return rows[:n] if n is not None else rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    rows = specs(args.n, args.seed)
    command = f"python bench/machine_specs.py --n {args.n} --seed {args.seed}"
    lines = ",\n".join(json.dumps(r) for r in rows)  # one spec a line: readable diffs
    OUT.write_text(f'{{"command": {json.dumps(command)}, "seed": {args.seed}, "specs": [\n{lines}\n]}}\n')
    print(f"wrote {len(rows)} distinct specs to {OUT}")


if __name__ == "__main__":
    main()
