"""Chromium journeys (Debian's chromium under the CSP) through the team, drafter, runtime-default and APU
sections: typed into the form, read on the model page, the team's command copied. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.web.test_browser_journeys import RESULTS_WAIT_MS, console_errors

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_plan_a_team_on_a_strix_halo_from_the_form(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(live_server.url + "/")
    page.fill("#id_gpu", "Radeon 8060S")
    page.fill("#id_ram", "128")
    page.fill("#id_users", "4")
    page.fill("#id_carveout", "64")
    page.press("#id_carveout", "Tab")
    page.wait_for_selector("#results li.rec", timeout=RESULTS_WAIT_MS)
    page.locator("#results li.rec h3 a").first.click()
    page.wait_for_selector("#team-h", timeout=RESULTS_WAIT_MS)
    assert page.locator("#team-h").inner_text() == "Serve a team of 4"
    assert page.locator("#team-speed").get_attribute("data-users") == "4"
    assert float(page.locator("#team-speed").get_attribute("data-per-user") or 0) > 0
    rows = page.locator("#apu tr[data-backend]")
    assert rows.count() == 3 and "64.0" in page.locator("#apu tr[data-backend=rocm] td.num").inner_text()
    assert page.locator("#defaults li[data-runtime=ollama]").inner_text().startswith("Ollama will pick num_ctx")
    assert page.locator("#draft-line").is_visible()
    button = page.locator("button.copy[data-copy-target=cmd-team]")
    button.click()
    page.wait_for_selector("button.copy[data-copy-target=cmd-team][data-copied=yes]")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert " -np 4 " in copied and copied == page.locator("#cmd-team").inner_text().strip()
    page.screenshot(path=str(ARTIFACTS / "web-team-apu.png"), full_page=True)
    assert errors == []


def test_a_draft_model_line_and_a_bad_carve_out(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/models/qwen2.5-coder-32b-instruct?gpu=RTX+4090&ram=64&ctx=8192")
    line = page.locator("#draft-line")
    assert line.get_attribute("data-drafter") == "qwen2.5-coder-0.5b-instruct"
    assert "The plain speed above stays the prediction without drafts." in line.inner_text()
    assert "-md qwen2.5-coder-0.5b-instruct-Q8_0.gguf" in page.locator("#cmd-draft").inner_text()
    assert line.get_attribute("data-helps") == "yes" and page.locator("#draft-no-help").count() == 0
    page.screenshot(path=str(ARTIFACTS / "web-draft.png"), full_page=True)
    # Llama-3.1-8B on an H200 is too fast for a 1B drafter to pay (measured 236 tok/s with it, 251 without).
    page.goto(live_server.url + "/models/llama-3.1-8b-instruct?gpu=H200&ram=128&quant=Q4_K_M")
    assert page.locator("#draft-line").get_attribute("data-helps") == "no"
    assert page.locator("#draft-no-help").inner_text().startswith("A draft model will not help here")
    assert errors == []
    page.goto(live_server.url + "/models/qwen3-32b?gpu=Radeon+8060S&ram=32&carveout=64")
    assert "The carve-out is taken from RAM" in page.locator(".error-box").inner_text()
