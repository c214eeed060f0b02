"""An imported model whose architecture has no tensor inventory, on every surface: the import page and
``import_hf``, /api/fit, /api/recommendations, the model page, the cards, and the probe form (which refuses
its stand-in before queueing). Each says so in one line naming the architecture, with approximate figures."""

from __future__ import annotations

import html
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]

LABEL = "approximate: from parameter counts"
MODEL = "coder-unknown-arch"


@pytest.fixture
def imported(admin_client: Client, fake_hub: Any) -> Client:
    response = admin_client.post("/import", {"source": "someone/Coder-Unknown-Arch"}, follow=True)
    assert response.status_code == 200
    page = html.unescape(text(response))
    assert "Architecture 'starcoder2' has no tensor inventory" in page and LABEL in page
    return admin_client


def test_import_hf_names_the_architecture(fake_hub: Any) -> None:
    out = io.StringIO()
    call_command("import_hf", "someone/Coder-Unknown-Arch", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"imported {MODEL}"
    assert lines[1] == f"Architecture 'starcoder2' has no tensor inventory, so its plans are {LABEL}."


def test_api_fit_gives_a_labelled_approximate_plan(imported: Client) -> None:
    response = imported.get("/api/fit", {"model": MODEL, "quant": "Q4_K_M", "gpu": "RTX 4090", "ram": "64"})
    assert response.status_code == 200
    body = response.json()
    assert body["exact"] is False and body["approximate"]["arch"] == "starcoder2"
    assert body["approximate"]["label"] == LABEL and "'starcoder2'" in body["approximate"]["message"]
    assert body["fit"] == "full_gpu" and body["file_bytes"] > 4.6 * 2**30


def test_recommendations_card_and_model_page_say_approximate(imported: Client) -> None:
    spec = {"gpu": "RTX 4090", "ram": "64", "ctx": "8192", "limit": "500"}
    results = imported.get("/api/recommendations", spec).json()["results"]
    mine = [r for r in results if r["model_info"]["id"] == MODEL]
    assert len(mine) == 1 and mine[0]["exact"] is False and mine[0]["approximate"]["arch"] == "starcoder2"
    notice = f"No tensor inventory for architecture 'starcoder2', so these figures are {LABEL}"
    assert notice in html.unescape(text(imported.get("/", spec)))
    page = imported.get(f"/models/{MODEL}", {"gpu": "RTX 4090", "ram": "64"})
    assert page.status_code == 200
    assert notice in html.unescape(text(page))


def test_probe_form_refuses_the_stand_in_before_queueing(imported: Client) -> None:
    from advisor.models import ProbeRun

    response = imported.post("/probes", {"source": "standin", "model_id": MODEL, "quant": "Q4_K_M", "ctx": "1024"})
    assert response.status_code == 400
    assert f"no stand-in of {MODEL} can be built: architecture &#x27;starcoder2&#x27; has no tensor inventory" in (
        response.content.decode()
    )
    assert not ProbeRun.objects.exists()
