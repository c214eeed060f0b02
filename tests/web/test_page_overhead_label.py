"""Every page that shows a non-CUDA overhead says where the figure comes from (issue 19)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from advisor.core.memory import OVERHEAD_PROVENANCE
from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]


def test_model_page_labels_an_estimated_overhead(client: Client) -> None:
    # Radeon RX 7900 XTX runs llama.cpp's ROCm backend, whose overhead is an estimate
    html = text(client.get("/models/qwen3-8b", {"gpu": "RX 7900 XTX", "ram": "32", "ctx": "8192"}))
    row = re.search(r"<tr><th scope=\"row\">[^<]*7900[^<]*</th>.*?</tr>", html)
    assert row is not None
    assert f'<span class="badge overhead-label">{OVERHEAD_PROVENANCE["rocm"].text}</span>' in row.group(0)
    assert "estimated ±256 MiB" in row.group(0)


def test_model_page_leaves_a_measured_cuda_overhead_unlabelled(client: Client) -> None:
    html = text(client.get("/models/qwen3-8b", {"gpu": "RTX 4090", "ram": "32", "ctx": "8192"}))
    assert "overhead-label" not in html


def test_api_fit_and_cards_carry_the_label(client: Client) -> None:
    body = client.get("/api/fit", {"model": "qwen3-8b", "gpu": "RX 7900 XTX", "ram": "32"}).json()
    gpu = body["memory"]["devices"][0]
    assert gpu["overhead_label"] == "estimated ±256 MiB"
    assert body["memory"]["overhead_label"] == "estimated ±256 MiB"
    assert "estimated" in body["memory"]["overhead_source"]
    cuda = client.get("/api/fit", {"model": "qwen3-8b", "gpu": "RTX 4090", "ram": "32"}).json()
    assert cuda["memory"]["devices"][0]["overhead_label"] == "measured"
    home = text(client.get("/", {"gpu": "RX 7900 XTX", "ram": "32"}))
    assert "Overhead (estimated ±256 MiB)" in home
