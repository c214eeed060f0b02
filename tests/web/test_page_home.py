"""Web tests of the home page (and its partials): real requests, real HTML."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.web.pages import HTMX, result_ids, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]


def test_home_without_spec_shows_the_form_and_typical_machines(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = text(response)
    assert 'hx-get="/"' in html and 'hx-trigger="change delay:300ms, submit"' in html and 'hx-push-url="true"' in html
    assert 'method="get" action="/#results"' in html  # the form works without JavaScript (and shows its results)
    assert "MacBook Air, 16 GB" in html
    assert result_ids(html) == []


def test_results_for_an_rtx_4090_rank_models_that_fit(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 4090", "ram": "64"})
    assert response.status_code == 200
    html = text(response)
    assert "Best models for RTX 4090, 64 GB RAM" in html
    ids = result_ids(html)
    assert len(ids) == 25  # the default page size
    assert "Fits on GPU (-ngl" in html
    # 24 GiB card: the VRAM line of the memory bar says so.
    assert "VRAM 24.0\xa0GB" in html
    # Every card links to its model page with the spec, so the page can be shared.
    assert f'href="/models/{ids[0]}?gpu=RTX+4090&amp;gpu_count=1&amp;ram=64.0' in html


def test_a_mac_named_with_its_memory_shows_that_memory_as_ram(client: Client) -> None:
    response = client.get("/", {"gpu": "MacBook Air M3 16GB", "ram": "32"})
    assert response.status_code == 200
    html = text(response)
    # The plans use the chip's 16 GB (unified memory is the machine's RAM), and the form shows it, not 32.
    assert re.search(r'<input[^>]*name="ram"[^>]*value="16"', html)
    assert "16 GB RAM" in html and "32 GB RAM" not in html


def test_htmx_request_gets_only_the_results_partial(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 4090", "ram": "64"}, headers=HTMX)
    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html and "<form" not in html


def test_unknown_gpu_is_a_400_with_suggestions(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 9090"}, headers=HTMX)
    assert response.status_code == 400
    html = text(response)
    assert "Please check the form" in html
    assert "Unknown GPU &#x27;RTX 9090&#x27;. Did you mean: GeForce RTX 5090" in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ctx": "20000000"}, "less than or equal to 10000000"),
        ({"gpu_count": "17"}, "less than or equal to 16"),
        ({"gpu": "x" * 201}, "at most 200 characters"),
        ({"ram": "lots"}, "Enter a number"),
        ({"runtime": "ollama", "kv_type": "q5_0"}, "ollama offers the KV-cache types f16, q8_0, q4_0, not q5_0"),
        ({"runtime": "koboldcpp"}, "Select a valid choice"),
        ({"cpu": "Pentium 9000"}, "Unknown CPU"),
        ({"ram": "32", "sort": "random"}, "Select a valid choice"),
    ],
)
def test_bad_machine_input_is_a_400_with_a_message(client: Client, params: dict[str, str], message: str) -> None:
    response = client.get("/", params)
    assert response.status_code == 400
    assert message in text(response)


def test_filters_keep_only_the_family_and_sort_by_speed(client: Client) -> None:
    response = client.get("/", {"gpu": "RTX 4090", "ram": "64", "family": "qwen3", "sort": "speed", "limit": "100"})
    html = text(response)
    ids = result_ids(html)
    assert ids and all(i.startswith("qwen3-") for i in ids)
    speeds = [float(s) for s in re.findall(r"<strong>([0-9.]+)</strong> tok/s decode", html)]
    assert speeds == sorted(speeds, reverse=True)


def test_size_and_license_filters(client: Client) -> None:
    html = text(client.get("/", {"gpu": "RTX 4090", "ram": "64", "size": "4", "license": "apache-2.0", "limit": "200"}))
    params = [float(p) for p in re.findall(r'<p class="meta">([0-9.]+)B params', html)]
    assert params and max(params) <= 4.0
    licenses = re.findall(r'<p class="meta">[0-9.]+B params[^·]*· [^·]+ · ([a-z0-9.-]+)\s', html)
    assert licenses and set(licenses) == {"apache-2.0"}


def test_cpu_only_machine_gets_cpu_verdicts(client: Client) -> None:
    html = text(client.get("/", {"ram": "16"}))
    assert "Best models for CPU only, 16 GB RAM" in html
    assert "CPU only" in html and "Fits on GPU" not in html


def test_detect_redirects_to_a_spec_of_this_host(client: Client) -> None:
    import psutil

    response = client.get("/detect", {"gpu": "RTX 4090", "ram": "512", "ctx": "32768", "runtime": "ollama"})
    assert response.status_code == 302
    assert response["Location"].startswith("/?")
    # The host's hardware replaces the typed one; the workload stays.
    assert f"ram={psutil.virtual_memory().total / 2**30:.0f}" in response["Location"]
    assert "ctx=32768" in response["Location"] and "runtime=ollama" in response["Location"]
    assert "gpu=RTX+4090" not in response["Location"] and "ram=512" not in response["Location"]


def test_gpu_search_partial_lists_apple_chips(client: Client) -> None:
    response = client.get("/gpus", {"gpu": "m4 max"}, headers=HTMX)
    assert response.status_code == 200
    assert '<option value="Apple M4 Max (40-core GPU)">' in text(response)
    page = client.get("/gpus", {"gpu": "m4 max"})
    assert 'href="/?gpu=Apple%20M4%20Max%20%2840-core%20GPU%29"' in text(page)


def test_healthz(client: Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_favicon_ico_points_at_the_svg_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
