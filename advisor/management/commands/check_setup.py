"""`manage.py check_setup FILE` (or `-` for stdin): a llama.cpp log, llama-bench result or `ollama ps` beside
the prediction, buffer by buffer and tok/s by tok/s, with the reasons for the differences.

Nothing is stored: storing a check (with consent) is the web form's and the API's. Bad input exits with code
2 and one line that says what is wrong.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from advisor.pages.check import MAX_PASTE_BYTES, CheckInputError, CheckResult, check, paste_text
from advisor.pages.units import memory


class Command(BaseCommand):
    help = "Set a pasted llama.cpp log, llama-bench result or ollama ps beside the advisor's prediction."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the log file, or - to read standard input")
        parser.add_argument("--gpu", default="", help="the GPU, when the paste names none (H200, RTX 4090)")
        parser.add_argument("--model", default="", help="the catalog model, when the file name does not say")
        parser.add_argument("--cpu", default="", help="the CPU, for layers held in system RAM")
        parser.add_argument("--json", action="store_true", help="print one JSON object (as POST /api/checks)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = check(_read(options["file"]), options["gpu"], options["model"], options["cpu"])
        except CheckInputError as exc:
            sys.stderr.write(f"error: {exc.message}\n")
            sys.exit(2)
        self.stdout.write(json.dumps(result.to_dict(), indent=2) if options["json"] else describe(result))


def _read(name: str) -> str:
    try:
        if name == "-":
            raw = sys.stdin.buffer.read(MAX_PASTE_BYTES + 1)
        else:
            with Path(name).open("rb") as f:
                raw = f.read(MAX_PASTE_BYTES + 1)
    except OSError as exc:
        raise CheckInputError("file", f"cannot read {name}: {exc.strerror or exc}") from None
    return paste_text(None, raw)


def describe(r: CheckResult) -> str:
    s = r.settings
    lines = [
        f"{r.kind}: {r.model_id or s.model or 'model not named'} {s.quant or ''} on {r.device or 'no GPU named'}",
        f"  context {s.n_ctx or '?'}, -ngl {s.n_gpu_layers if s.n_gpu_layers is not None else '?'}, "
        f"flash attention {'on' if s.flash_attn else 'off' if s.flash_attn is False else '?'}, KV {s.type_k or '?'}",
    ]
    for row in r.speed_rows:
        pred = f"{row.predicted:.2f}" if row.predicted else "-"
        ratio = f" ({row.ratio:.2f}x)" if row.ratio else ""
        lines.append(f"  {row.test:>8}: measured {row.measured:.2f} tok/s, predicted {pred}{ratio}")
    for b in r.memory.rows:
        lines.append(f"  {b.device:>8} {b.kind:<8} logged {memory(b.logged):>10}  predicted {memory(b.predicted):>10}")
    lines += [f"  - {f.text}" for f in r.findings]
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines) + "\n"
