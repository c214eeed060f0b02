"""Load the model catalog's data files into the database (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from advisor import services
from advisor.catalog.models_catalog import CatalogError


class Command(BaseCommand):
    help = "Load advisor/catalog/data/models/*.json into the database; Hub imports are kept."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created, updated = services.load_file_catalog()
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Catalog loaded: {created} new, {updated} updated models")
