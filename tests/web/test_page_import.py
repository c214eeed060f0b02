"""Web tests of the import page (and its partials): real requests, real HTML."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]


def test_import_page_needs_login_to_post(client: Client) -> None:
    assert client.get("/import").status_code == 200
    response = client.post("/import", {"source": "Qwen/Qwen3-8B"})
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("not a repo", "Enter a Hugging Face repo id"),
        ("https://example.com/model.gguf", "Enter a Hugging Face repo id"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_import_bad_input_is_400(admin_client: Client, source: str, message: str) -> None:
    response = admin_client.post("/import", {"source": source})
    assert response.status_code == 400
    assert message in text(response)


def test_import_from_the_hub_adds_a_model(admin_client: Client, fake_hub: Any) -> None:
    from advisor.models import CatalogEntry

    response = admin_client.post("/import", {"source": "someone/Qwen3-8B-Variant"})
    assert response.status_code == 302 and response["Location"] == "/models/qwen3-8b-variant"
    entry = CatalogEntry.objects.get(model_id="qwen3-8b-variant")
    assert entry.origin == "hub" and entry.imported_by is not None
    assert entry.record["n_layers"] == 36 and entry.record["n_kv_heads"] == 8
    page = admin_client.get("/models/qwen3-8b-variant", {"gpu": "RTX 4090"})
    assert page.status_code == 200 and "-ngl 37" in text(page)
    missing = admin_client.post("/import", {"source": "someone/does-not-exist"})
    assert missing.status_code == 400 and "someone/does-not-exist" in text(missing)
    assert CatalogEntry.objects.filter(origin="hub").count() == 1


def test_import_by_gguf_url_checks_the_file(admin_client: Client, fake_hub: Any) -> None:
    from advisor.imports import repo_from_source
    from advisor.models import CatalogEntry

    url = "https://huggingface.co/someone/Qwen3-8B-Variant/resolve/main/qwen3-8b-Q4_K_M.gguf"
    assert repo_from_source(url) == ("someone/Qwen3-8B-Variant", "qwen3-8b-Q4_K_M.gguf")
    response = admin_client.post("/import", {"source": url})
    assert response.status_code == 400
    assert "someone/Qwen3-8B-Variant has no GGUF file &#x27;qwen3-8b-Q4_K_M.gguf&#x27;" in text(response)
    assert not CatalogEntry.objects.exists()  # nothing half-written
    page = admin_client.post("/import", {"source": "https://huggingface.co/someone/Qwen3-8B-Variant"})
    assert page.status_code == 302 and CatalogEntry.objects.filter(model_id="qwen3-8b-variant").exists()
