"""Who may do what: estimates are public; probes and imports need a user or token and are rate-limited."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from advisor.models import CatalogEntry, ProbeRun
from tests.web.test_api import live_worker, token  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    cache.clear()


def test_estimates_are_public_and_carry_security_headers() -> None:
    response = Client().get("/api/fit?model=llama-3.1-8b-instruct&quant=Q4_K_M&gpu=RTX+4090")
    assert response.status_code == 200
    page = Client().get("/")
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"


def test_probe_starts_are_rate_limited_per_token(token: str, live_worker: list[int], settings: Any) -> None:  # noqa: F811
    settings.PROBE_RATE_PER_MINUTE = 2
    auth = {"Authorization": f"Bearer {token}"}
    codes = []
    for ctx in (1024, 2048, 3072):
        response = Client().post("/api/probes", {"source": "smollm2", "ctx": ctx}, content_type="application/json",
                                 headers=auth)  # fmt: skip
        codes.append(response.status_code)
    assert codes == [201, 201, 429]
    assert "Retry-After" in response
    assert "too many" in response.json()["error"]["message"].lower()
    assert ProbeRun.objects.count() == 2


def test_import_needs_a_logged_in_user() -> None:
    response = Client().post("/import", {"source": "Qwen/Qwen3-8B"})
    assert response.status_code in (302, 401, 403)
    assert not CatalogEntry.objects.exists()
