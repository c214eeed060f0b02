"""Chromium journeys (Debian's chromium under the CSP) through check my setup: an H200 llama-server log pasted,
the measured decode read beside the prediction and the -lv 4 advice; a V100 load log uploaded as a file, its
CUDA0 buffers beside the engine's. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.web.test_browser_journeys import RESULTS_WAIT_MS, console_errors

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_paste_an_h200_log_and_read_predicted_against_measured(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    page.click("nav >> text=Check my setup")
    page.wait_for_selector("#check-form")
    log = (FIXTURES / "speedlogs" / "cuda_h200_server_llama_31_8b_instruct_plain.log").read_text()
    page.fill("#id_text", log)
    page.fill("#id_gpu", "H200")
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-speed tr[data-test=decode]", timeout=RESULTS_WAIT_MS)
    assert page.url.endswith("/check/")  # htmx swapped the result in; no page load
    row = page.locator("#check-speed tr[data-test=decode]")
    assert row.get_attribute("data-measured") == "250.38"
    predicted = float(row.get_attribute("data-predicted") or 0)
    assert 200 < predicted < 320 and "250.38" in row.inner_text()
    assert page.locator("#check-device").inner_text().startswith("H200 SXM 141 GB")
    first = page.locator("#check-findings li").first
    assert first.get_attribute("data-key") == "no-buffers" and "-lv 4" in first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "web-check-h200.png"), full_page=True)
    assert errors == []


def test_upload_a_v100_load_log_and_read_its_buffers(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/check/")
    page.set_input_files("#id_file", str(FIXTURES / "loadlogs" / "cuda_v100_open_llama_7b_q4_k_m_c2048.log"))
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-memory", timeout=RESULTS_WAIT_MS)
    kv = page.locator("#check-memory tr[data-device=CUDA0][data-kind=kv]")
    assert kv.get_attribute("data-logged-mib") == "1024" and "1.0\xa0GB" in kv.inner_text()
    keys = page.locator("#check-findings li").evaluate_all("els => els.map(e => e.dataset.key)")
    assert "fa-off" in keys and "kv-f16" in keys
    page.screenshot(path=str(ARTIFACTS / "web-check-v100.png"), full_page=True)
    assert errors == []
