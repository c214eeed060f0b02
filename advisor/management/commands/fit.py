"""`manage.py fit`: memory, fit verdict, max context and speed of one model on one machine.

Bad input exits with code 2 and one line that says what is wrong and what is accepted.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from advisor import services
from advisor.fit.args import KV_TYPES, RUNTIMES, FitArgError, parse_fit_params
from advisor.fit.beyond import beyond, describe_beyond, parse_beyond
from advisor.fit.engine import ALL_QUANTS, describe


class Command(BaseCommand):
    help = "Predict what llama.cpp (or transformers) allocates for a model on a machine, and how fast it runs."
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.exit_on_error = False  # bad flags reach handle_parse_error below, not a usage dump

        def error(message: str) -> None:  # argparse's own errors: one line, exit 2
            sys.stderr.write(f"error: {message}\n")
            sys.exit(2)

        parser.error = error  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--model", help="catalog id, e.g. llama-3.1-8b-instruct")
        source.add_argument("--hf-config", dest="hf_config", help="path to a Hugging Face config.json")
        source.add_argument("--gguf", help="path or http(s) URL of a GGUF file (header read only)")
        parser.add_argument("--quant", help=f"GGUF preset or HF format ({', '.join(ALL_QUANTS[:6])}, ...)")
        parser.add_argument("--ctx", help="context length in tokens (default 8192)")
        parser.add_argument("--ubatch", help="physical batch size (default 512)")
        parser.add_argument("--kv-type", dest="kv_type", help=f"KV cache type: {', '.join(KV_TYPES)}")
        parser.add_argument("--flash-attn", dest="flash_attn", help="on, off or auto")
        parser.add_argument("--swa-full", dest="swa_full", help="on or off")
        parser.add_argument("--gpu-layers", dest="gpu_layers", help="all, or a number of layers")
        parser.add_argument("--n-cpu-moe", dest="n_cpu_moe", help="MoE layers whose experts stay in RAM, or auto")
        parser.add_argument("--parallel", help="parallel sequences (default 1)")
        parser.add_argument("--runtime", help=f"one of {', '.join(RUNTIMES)}")
        parser.add_argument("--gpu", action="append", default=[], help="GPU name; repeat for several GPUs")
        parser.add_argument("--vram", help="VRAM per GPU in GiB (overrides the database)")
        parser.add_argument("--bandwidth", help="GPU memory bandwidth in GB/s (overrides the database)")
        parser.add_argument("--ram", help="system RAM in GiB")
        parser.add_argument("--cpu", help="CPU name, e.g. 'Ryzen 9 7950X' (its RAM bandwidth serves offloaded layers)")
        parser.add_argument("--users", help="serve a team: a llama-server plan for N users, each with --ctx tokens")
        parser.add_argument("--kv-unified", dest="kv_unified", help="team plan: on = one KV pool all slots share")
        parser.add_argument("--draft", help="speculative decoding: auto (default), none, or a catalog draft model id")
        parser.add_argument("--carveout", help="AMD APU: BIOS carve-out (UMA frame buffer) in GiB")
        parser.add_argument("--gtt", help="AMD APU: GTT limit in GiB (default: the kernel's, half the RAM)")
        parser.add_argument("--image", action="store_true", help="count the vision projector (--mmproj)")
        parser.add_argument("--no-mmproj-offload", dest="no_mmproj_offload", action="store_true",
                            help="with --image: the projector runs on the CPU")  # fmt: skip
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        names = ("model", "hf_config", "gguf", "quant", "ctx", "ubatch", "kv_type", "flash_attn", "swa_full",
                 "gpu_layers", "n_cpu_moe", "parallel", "runtime", "vram", "bandwidth", "ram", "cpu")  # fmt: skip
        values = {name: [options[name]] for name in names if options.get(name) is not None}
        values["gpu"] = options["gpu"]
        if options.get("image"):
            values["image"] = ["on"]
        if options.get("no_mmproj_offload"):
            values["mmproj_offload"] = ["off"]
        extra = {
            name: [options[name]] for name in ("users", "kv_unified", "draft", "carveout", "gtt") if options.get(name)
        }
        try:
            params = parse_fit_params(values, quants=ALL_QUANTS)
            plan = services.plan_for(params)
            more = beyond(params, plan, parse_beyond(extra), services.plan_for)
        except FitArgError as exc:
            sys.stderr.write(f"error: --{exc.field.replace('_', '-')}: {exc.message}\n")
            sys.exit(2)
        if options["json"]:
            self.stdout.write(json.dumps({**plan.to_dict(), **more.to_dict()}, indent=2))
        else:
            self.stdout.write(describe(plan) + "\n" + describe_beyond(more))
