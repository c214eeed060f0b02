from __future__ import annotations

from django.apps import AppConfig


class AdvisorConfig(AppConfig):
    name = "advisor"
    verbose_name = "LLM Fit Advisor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from advisor import checks  # noqa: F401  (registers startup checks)
