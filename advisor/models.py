"""Database models. Thin: the arithmetic lives in advisor/core, the writes in services."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ProbeRun(models.Model):
    """One live llama.cpp speed probe on one host."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    host_id = models.CharField(max_length=200, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=32, default="queued")
    percent = models.PositiveSmallIntegerField(default=0)
    # What to run: the smollm2 default, a catalog model's stand-in, or a GGUF in MODELS_DIR.
    source = models.CharField(max_length=16, default="smollm2")
    model_id = models.CharField(max_length=200, blank=True)
    gguf_path = models.CharField(max_length=500, blank=True)
    quant = models.CharField(max_length=32, blank=True)
    ctx = models.PositiveIntegerField(default=4096)
    gpu_layers = models.IntegerField(default=-1)
    # Identical queued/running requests collapse onto one run.
    dedupe_key = models.CharField(max_length=64, db_index=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    cancel_requested = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="probe_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one queued/running probe per identical request: concurrent duplicates collapse.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_probe_per_request",
            ),
        ]

    def __str__(self) -> str:
        return f"probe #{self.pk} {self.source}:{self.model_id or self.gguf_path} {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class CatalogEntry(models.Model):
    """A model record in the catalog: loaded from the data files, or imported from the Hub.

    ``record`` holds the catalog fields (see ``manage.py catalog --json``), with sources.
    """

    class Origin(models.TextChoices):
        FILE = "file"
        HUB = "hub"

    model_id = models.SlugField(max_length=200, unique=True)
    hf_repo = models.CharField(max_length=200)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.FILE)
    record = models.JSONField()
    gguf_files = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["model_id"]
        verbose_name_plural = "catalog entries"

    def __str__(self) -> str:
        return self.model_id


class ApiToken(models.Model):
    """A bearer token that lets scripts start probes and imports."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)  # set by the API's bearer check

    def __str__(self) -> str:
        return f"token {self.label or self.pk} of {self.user}"


class WorkerHeartbeat(models.Model):
    """A Celery worker that serves a host's probe queue says it is alive every few seconds."""

    host_id = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200)
    queue = models.CharField(max_length=250)
    last_seen = models.DateTimeField()
    info = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"worker {self.hostname} ({self.queue})"


class SetupCheck(models.Model):
    """The measurements of a pasted run (check my setup), stored only with the user's consent.

    The paste itself is not kept (paths and prompts can be private): only what the check read from it.
    A check with ``calibrates`` set corrects speed predictions for ``device`` as a probe on it does.
    """

    device = models.CharField(max_length=200, blank=True, db_index=True)  # hardware catalog name
    model_id = models.CharField(max_length=200, blank=True)  # catalog id, when the paste names one
    quant = models.CharField(max_length=32, blank=True)
    kind = models.CharField(max_length=16)  # llama.cpp, llama-bench, ollama-ps
    n_ctx = models.PositiveIntegerField(null=True, blank=True)
    n_gpu_layers = models.IntegerField(null=True, blank=True)
    type_k = models.CharField(max_length=16, blank=True)
    decode_tps = models.FloatField(null=True, blank=True)
    prefill_tps = models.FloatField(null=True, blank=True)
    n_prompt = models.PositiveIntegerField(null=True, blank=True)
    calibrates = models.BooleanField(default=False)
    summary = models.JSONField(default=dict)  # settings, speed rows, buffer rows as the check showed them
    stored_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="setup_checks"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"check #{self.pk} {self.model_id or self.kind} on {self.device or 'unknown device'}"
