"""Issue 15, "the web app, mended where a person stumbled": each mend walked through in Debian's Chromium
under the CSP, with a screenshot under tests/artifacts/ (mend-*.png)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.test_web_browser import console_errors

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESULTS_WAIT_MS = 60_000  # the first request loads the catalog and weight profiles
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
PASSWORD = "mend-password-1"


def shot(page: Any, name: str, full_page: bool = True) -> None:
    path = ARTIFACTS / f"mend-{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 5_000


def log_in(page: Any, base: str, username: str, next_path: str = "/") -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base + next_path) + "$"))


def test_log_in_and_out_with_the_apps_own_pages(live_server: Any, page: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_user("ada", "ada@example.com", PASSWORD)
    errors = console_errors(page)
    page.goto(live_server.url + "/import")
    page.click("#login-link")
    assert page.locator("h1").inner_text() == "Log in"
    assert "Django administration" not in page.content()
    page.fill("#id_username", "ada")
    page.fill("#id_password", "wrong-password")
    page.click("#login-form button[type=submit]")
    assert "Please enter a correct username and password" in page.locator(".error-box").inner_text()
    errors.clear()  # the refused login answers 400 on purpose
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(live_server.url + "/import")  # back where the person was
    assert "Signed in as ada" in page.locator("header.site").inner_text()
    assert page.locator("#import-form").is_visible()
    shot(page, "logged-in", full_page=False)
    page.click("header.site button:text('Log out')")
    page.wait_for_url(live_server.url + "/")
    assert "You are logged out." in page.locator(".messages").inner_text()
    assert "Thanks for spending some quality time" not in page.content()
    assert page.locator("#login-link").is_visible()
    shot(page, "logged-out", full_page=False)
    assert errors == []


def _post_probe(base: str, token: str) -> int:
    body = json.dumps({"source": "nonsense", "ctx": 1024}).encode()
    request = urllib.request.Request(base + "/api/probes", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_api_token_last_use_revoke_and_curl_box(live_server: Any, browser: Any, django_user_model: Any) -> None:
    django_user_model.objects.create_user("bob", "bob@example.com", PASSWORD)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors = console_errors(page)
    try:
        log_in(page, live_server.url, "bob", "/account/tokens")
        page.fill("#token-label", "laptop script")
        page.click("text=Make a new token")
        token = page.locator("#new-token").inner_text().strip()
        assert len(token) > 30
        # The curl example wraps inside its box on a phone: nothing sticks out of it or the page.
        curl = page.locator("#token-curl")
        assert curl.evaluate("e => e.scrollWidth <= e.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        assert "never" in page.locator("#tokens tbody tr").first.inner_text()
        shot(page, "token-new")
        errors.clear()  # the POST answers 201
        assert _post_probe(live_server.url, token) == 400  # authenticated, then the body is refused
        page.goto(live_server.url + "/account/tokens")
        row = page.locator("#tokens tbody tr").first
        assert "laptop script" in row.inner_text()
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d \(0.minutes ago\)", row.locator(".last-used").inner_text())
        row.locator("button:text('Revoke')").click()
        page.wait_for_selector("text=Revoked the token “laptop script”.")
        assert "None yet." in page.locator("#tokens").inner_text()
        assert _post_probe(live_server.url, token) == 401
        shot(page, "token-revoked")
        assert errors == []
    finally:
        context.close()
