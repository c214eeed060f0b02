"""``python manage.py catalog [--json]``: list the model catalog."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from advisor.catalog.models_catalog import load_models


def _billions(n: int) -> str:
    return f"{n / 1e9:.2f}B"


class Command(BaseCommand):
    help = "Print every model in the catalog (--json: the records, with the catalog's field names)."
    # It only reads the data files: no need to import URLconfs and apps for system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a JSON list of catalog records")
        parser.add_argument("--notes", action="store_true", help="with --json, add each record's notes")

    def handle(self, *args: Any, **options: Any) -> None:
        models = load_models()
        if options["json"]:
            records = [m.to_record(with_notes=options["notes"]) for m in models]
            self.stdout.write(json.dumps(records, indent=2))
            return
        header = f"{'id':<44} {'family':<14} {'arch':<14} {'params':>9} {'active':>9} {'layers':>6} {'ctx':>8}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for m in models:
            self.stdout.write(
                f"{m.id:<44} {m.family:<14} {m.to_shape().arch:<14} {_billions(m.params_total):>9} "
                f"{_billions(m.params_active):>9} {m.n_layers:>6} {m.context_max:>8}"
            )
        self.stdout.write(f"{len(models)} models")
