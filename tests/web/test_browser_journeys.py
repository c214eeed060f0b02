"""User journeys in Debian's Chromium under the CSP: the form and its htmx results, a bad input, a Mac's RAM, a model
page and its copy button, a tier guide, and a real SmolLM2 probe through Redis and a Celery worker.
Each saves a screenshot under tests/artifacts/."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings

from advisor.models import ProbeRun, WorkerHeartbeat
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESULTS_WAIT_MS = 60_000  # the first request loads the catalog and weight profiles


def console_errors(page: Any) -> list[str]:
    """Script errors, CSP refusals and failed loads (with their URL), as they happen."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


def test_fill_the_form_read_a_recommendation_then_a_bad_input(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    page.fill("#id_gpu", "RTX 4090")
    page.fill("#id_ram", "64")
    page.press("#id_ram", "Tab")  # a change event: htmx updates the results after 300 ms
    page.wait_for_selector("#results li.rec", timeout=RESULTS_WAIT_MS)
    heading = page.locator("#results h2").inner_text()
    assert heading == "Best models for RTX 4090, 64 GB RAM"
    # htmx pushed the whole spec into the address bar: the page can be bookmarked and shared.
    query = parse_qs(urlsplit(page.url).query)
    assert query["gpu"] == ["RTX 4090"] and query["ram"] == ["64"] and query["ctx"] == ["8192"]
    first = page.locator("#results li.rec").first
    # the best usable quality, all on the GPU or with a MoE model's experts in RAM
    assert re.search(r"Fits on GPU \(-ngl \d+\)|in RAM: -ngl \d+ --n-cpu-moe \d+", first.inner_text())
    assert re.search(r"[0-9.]+ tok/s decode", first.inner_text())
    assert first.locator(".membar svg rect.seg-w").count() == 1
    page.screenshot(path=str(ARTIFACTS / "web-results.png"), full_page=False)

    page.fill("#id_gpu", "RTX 9090")
    page.press("#id_gpu", "Tab")
    page.wait_for_selector("#results .error-box", timeout=RESULTS_WAIT_MS)
    message = page.locator("#results .error-box").inner_text()
    assert "Unknown GPU 'RTX 9090'. Did you mean: GeForce RTX 5090" in message
    page.screenshot(path=str(ARTIFACTS / "web-bad-input.png"), full_page=False)
    # The only failures are the 400 answer itself and Chromium's console note about it.
    assert errors and all("400" in e for e in errors), errors


def test_a_mac_named_with_its_memory_sets_the_ram_field(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    assert page.input_value("#id_ram") == "32.0"
    page.fill("#id_gpu", "MacBook Air M3 16GB")
    page.press("#id_gpu", "Tab")  # htmx redraws the results, not the form
    page.wait_for_selector("#results li.rec", timeout=RESULTS_WAIT_MS)
    assert page.locator("#results h2").inner_text() == "Best models for MacBook Air M3 16GB, 16 GB RAM"
    page.wait_for_function("document.getElementById('id_ram').value === '16'")
    assert not errors, errors


def test_open_a_model_and_copy_its_command(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(live_server.url + "/models/qwen3-8b?gpu=RTX+4060&ram=32&ctx=8192")
    page.wait_for_function("document.querySelectorAll('canvas[data-drawn=yes]').length === 3")
    button = page.locator("button.copy[data-copy-target=cmd-llama-server]")
    assert button.is_visible()
    button.click()
    page.wait_for_selector("button.copy[data-copy-target=cmd-llama-server][data-copied=yes]")
    copied = page.evaluate("navigator.clipboard.readText()")
    # Qwen3-8B has 36 layers: -ngl 37 is every layer plus the output layer.
    assert copied.startswith("llama-server -hf unsloth/Qwen3-8B-GGUF:")
    assert "-c 8192 -ngl 37 -fa on -ctk q8_0 -ctv q8_0" in copied
    assert copied == page.locator("#cmd-llama-server").inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "web-model.png"), full_page=True)
    assert errors == []


def test_tier_guide(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/tiers")
    page.click("text=MacBook Air, 16 GB")
    page.wait_for_selector("#tier-top")
    assert page.locator("h1").inner_text() == "What fits on a MacBook Air, 16 GB"
    rows = page.locator("#tier-top tbody tr")
    assert rows.count() == 10
    assert "Fits on GPU" in rows.first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "web-tier.png"), full_page=True)
    assert errors == []


def test_start_a_probe_and_watch_it_finish(
    live_server: Any, page: Any, redis_url: str, make_worker: Any, settings: Any, django_user_model: Any
) -> None:
    from advisor.celery import app

    host = "ci-web-probe-host"
    settings.HOST_ID = host
    app.conf.broker_url = redis_url
    app.conf.result_backend = redis_url
    db = f"sqlite:///{django_settings.DATABASES['default']['NAME']}"
    worker = make_worker(redis_url, redis_url, queues=f"default,probes.{host}", DATABASE_URL=db)
    deadline = time.monotonic() + 60
    while not WorkerHeartbeat.objects.filter(host_id=host).exists():
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.5)
    django_user_model.objects.create_superuser("staff", "staff@example.com", "staff-password-1")

    page.goto(live_server.url + "/login?next=/probes")
    page.fill("#id_username", "staff")
    page.fill("#id_password", "staff-password-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/probes$"))
    errors = console_errors(page)
    page.select_option("#id_source", "smollm2")
    page.fill("#id_ctx", "1024")
    page.click("#probe-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/probes/\d+$"))
    run = ProbeRun.objects.get()
    assert run.requested_by is not None and run.requested_by.username == "staff"
    # The progress section polls every second and stops when the view answers 286.
    page.wait_for_selector("#probe-status.status-succeeded", timeout=240_000)
    decode = float(page.locator("#decode-tps").inner_text())
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert decode == pytest.approx(run.result["decode_tps"], abs=0.05) and decode > 1
    assert page.locator("#probe-bar").get_attribute("value") == "100"
    page.screenshot(path=str(ARTIFACTS / "web-probe.png"), full_page=True)
    assert errors == []


def test_the_form_works_without_javascript(live_server: Any, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        page.fill("#id_gpu", "M4 Max 128GB")
        page.fill("#id_ram", "128")
        page.click("#machine button[type=submit]")
        page.wait_for_selector("#results li.rec", timeout=RESULTS_WAIT_MS)
        assert page.locator("#results h2").inner_text() == "Best models for M4 Max 128GB, 128 GB RAM"
        assert parse_qs(urlsplit(page.url).query)["gpu"] == ["M4 Max 128GB"]
        page.click("#detect")  # a plain link: the server describes its own host
        assert parse_qs(urlsplit(page.url).query)["ram"]
        assert page.locator("#results h2").inner_text().startswith("Best models for")
    finally:
        context.close()
