"""Web tests of the tiers page (and its partials): real requests, real HTML."""

from __future__ import annotations

import pytest
from django.test import Client

from advisor.models import ProbeRun
from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]


def test_tier_pages(client: Client) -> None:
    listing = client.get("/tiers")
    assert listing.status_code == 200 and 'href="/tiers/mac-16gb"' in text(listing)
    page = client.get("/tiers/mac-16gb")
    html = text(page)
    assert page.status_code == 200
    assert "What fits on a MacBook Air, 16 GB" in html
    assert '<table id="tier-top">' in html and "Long documents" in html
    assert client.get("/tiers/no-such-tier").status_code == 404


def test_tier_page_shows_probe_measurements(client: Client) -> None:
    ProbeRun.objects.create(
        host_id="bench-host", source="standin", model_id="qwen3-8b", quant="Q4_K_M", ctx=4096,
        dedupe_key="x", status="succeeded", result={"decode_tps": 123.4, "prefill_tps": 4567.0, "backend": "CUDA"},
    )  # fmt: skip
    html = text(client.get("/tiers/gpu-24gb"))
    assert "Measured with live probes" in html
    # Only when the tier's pick is the measured quant does the row appear; the badge is there either way.
    assert "123.4" in html or "No probe has measured these models yet" in html
