"""`manage.py import_hf REPO_ID`: add a model to the catalog from the Hugging Face Hub.

Reads config.json and the file list through huggingface_hub (HF_ENDPOINT is honoured), and for
GGUF repos each quant file's header through HTTP Range requests. A failure stores nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from advisor.imports import ImportRefused, import_model


class Command(BaseCommand):
    help = "Import a model from a Hugging Face repo id (or a huggingface.co GGUF URL) into the catalog."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("repo_id", help="e.g. Qwen/Qwen3-8B or bartowski/Qwen_Qwen3-8B-GGUF")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            imported = import_model(options["repo_id"])
        except ImportRefused as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(2)
        if imported.already_in_catalog:
            self.stdout.write(f"{imported.model_id} is already in the catalog")
        else:
            verb = "imported" if imported.created else "updated"
            self.stdout.write(f"{verb} {imported.model_id}")
            if imported.approximate:
                self.stdout.write(imported.approximate)
