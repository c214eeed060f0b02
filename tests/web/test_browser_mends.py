"""Issue 15, "the web app, mended where a person stumbled": each mend walked through in Debian's Chromium
under the CSP, with a screenshot under tests/artifacts/ (mend-*.png)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from advisor.catalog.machines import search_cpus
from tests.conftest import ARTIFACTS
from tests.web.test_browser_journeys import console_errors

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESULTS_WAIT_MS = 60_000  # the first request loads the catalog and weight profiles
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
PASSWORD = "mend-password-1"


@pytest.fixture
def page(page: Any) -> Any:
    """The shared page, patient with the first results (the catalog loads; two cores are shared)."""
    page.set_default_timeout(RESULTS_WAIT_MS)
    return page


def new_page(browser: Any, viewport: dict[str, int], **options: Any) -> Any:
    context = browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(RESULTS_WAIT_MS)
    return context.new_page()


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
    page = new_page(browser, PHONE)
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
        page.context.close()


def _watch_results(page: Any) -> None:
    """Record every text the results section shows, however briefly."""
    page.evaluate("""() => { window.shown = [];
        const record = () => { const r = document.querySelector('#results'); if (r) window.shown.push(r.innerText); };
        new MutationObserver(record).observe(document.querySelector('.layout'), {childList: true, subtree: true}); }""")


def test_cpu_suggestions_and_typing_at_a_normal_pace(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/?gpu=RTX+4090&ram=64")
    page.wait_for_selector("#results li.rec", timeout=RESULTS_WAIT_MS)
    _watch_results(page)
    page.fill("#id_ram", "32")
    page.press("#id_ram", "Tab")  # the RAM's update goes out 300 ms later, while the CPU is being typed
    assert page.evaluate("document.activeElement.id") == "id_cpu"
    page.keyboard.type("Ryzen 9 79", delay=120)
    # The datalist lists what the catalog's search finds for the typed words (its doctest pins the list).
    catalog = [c.name for c in search_cpus("Ryzen 9 79")]
    assert "AMD Ryzen 9 7950X" in catalog and "AMD Ryzen 9 7950X3D" in catalog
    page.wait_for_function(f"() => document.querySelectorAll('#cpu-options option').length === {len(catalog)}")
    options = page.locator("#cpu-options option").evaluate_all("os => os.map(o => o.value)")
    assert options == catalog
    page.keyboard.type("50X", delay=120)
    page.wait_for_timeout(800)  # a pause: still nothing sent for the half-typed name
    page.keyboard.press("Tab")
    typed = "() => new URLSearchParams(location.search).get('cpu') === 'Ryzen 9 7950X'"
    page.wait_for_function(typed, timeout=RESULTS_WAIT_MS)
    page.wait_for_selector("#results li.rec", timeout=RESULTS_WAIT_MS)
    assert page.locator("#results h2").inner_text() == "Best models for RTX 4090, 32 GB RAM"
    shown = page.evaluate("window.shown")
    assert shown and not [text for text in shown if "Unknown CPU" in text]
    shot(page, "cpu-typed", full_page=False)
    assert errors == []


def test_gpu_suggestions_are_links_and_the_gpu_list(live_server: Any, page: Any) -> None:
    page.goto(live_server.url + "/?gpu=RTX+9090&ram=48&ctx=16384")
    box = page.locator("#results .error-box")
    assert "Unknown GPU 'RTX 9090'" in box.inner_text()
    shot(page, "gpu-suggestions", full_page=False)
    box.locator("a.suggestion", has_text="GeForce RTX 5090").first.click()
    page.wait_for_selector("#results li.rec", timeout=RESULTS_WAIT_MS)
    assert page.input_value("#id_gpu") == "GeForce RTX 5090"
    assert page.input_value("#id_ram") == "48" and page.input_value("#id_ctx") == "16384"  # the rest is kept
    errors = console_errors(page)
    page.click("text=Browse the GPU list")
    popular = page.locator("#gpu-results li")
    assert popular.count() >= 10 and popular.first.inner_text() == "GeForce RTX 4090 — 24.0\xa0GB, 1,010 GB/s"
    page.fill("#gpu-q", "4090")
    page.click("text=Search")
    names = [t.split(" — ")[0] for t in page.locator("#gpu-results li").all_inner_texts()]
    assert names == ["GeForce RTX 4090", "GeForce RTX 4090 D", "GeForce RTX 4090 Mobile", "GeForce RTX 4090 Max-Q"]
    assert "0 bytes" not in page.locator("#gpu-results").inner_text()
    shot(page, "gpu-list")
    assert errors == []


def test_one_memory_unit_and_thousands_separators(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/?gpu=GeForce+RTX+4070&ram=32&ctx=8192")
    page.wait_for_selector("#results li.rec")
    summary = page.locator("#results .summary").inner_text()
    assert summary.startswith("12.0\xa0GB GPU memory, 32.0\xa0GB RAM · 8,192 tokens of context")
    card = page.locator("#results li.rec").first
    # The bar's VRAM line and the sentence under it give the same 12.0 GB.
    assert "VRAM 12.0\xa0GB" in card.locator(".membar figcaption").inner_text()
    assert re.search(r"about \d+\.\d\xa0GB of 12\.0\xa0GB with a 8,192-token", card.locator(".why").inner_text())
    # "Max context" is the longest context that fits (the plan's), with separators.
    longest = int(card.get_attribute("data-max-context"))
    assert card.locator(".max-context").inner_text().startswith(f"{longest:,} tokens fit")
    assert "1024³ bytes" in page.locator("#units").inner_text()
    shot(page, "units", full_page=False)
    schema = json.loads(page.request.get(live_server.url + "/api/schema").text())
    params = {path: {p["name"]: p["description"] for p in schema["paths"][path]["get"]["parameters"]}
              for path in ("/api/fit", "/api/recommendations")}  # fmt: skip
    for path in params:
        assert "in GiB" in params[path]["vram"] and "in GiB" in params[path]["ram"], path
    assert "GiB (2^30 bytes)" in schema["info"]["description"]
    assert errors == []


def test_fastest_decode_sorts_by_the_numbers_shown(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/?gpu=RTX+4090&ram=64")
    page.wait_for_selector("#results li.rec")
    page.select_option("#id_sort", "speed")  # a change: htmx swaps the results
    page.wait_for_function("() => new URLSearchParams(location.search).get('sort') === 'speed'")
    page.wait_for_selector("#results li.rec")
    cards = page.locator("#results li.rec")
    shown = []
    for i in range(cards.count()):
        text = cards.nth(i).locator(".tps").first.inner_text()
        match = re.fullmatch(r"([\d,.]+) tok/s decode", text.strip())
        assert match, text
        shown.append(float(match.group(1).replace(",", "")))
        assert float(cards.nth(i).get_attribute("data-decode")) == pytest.approx(shown[-1], abs=0.0501)
    assert len(shown) >= 10 and shown == sorted(shown, reverse=True), shown
    shot(page, "sort-speed", full_page=False)
    assert errors == []


@pytest.mark.parametrize("debug", [True, False])
def test_404_pages_in_the_apps_style(live_server: Any, page: Any, settings: Any, debug: bool) -> None:
    settings.DEBUG = debug
    response = page.goto(live_server.url + "/models/not-a-model")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert "The catalog has no model “not-a-model”." in page.locator("#not-found").inner_text()
    assert "Django tried these URL patterns" not in page.content() and "URLconf" not in page.content()
    assert page.locator("header.site .brand").is_visible()  # the app's own header and style
    shot(page, f"404-debug-{'on' if debug else 'off'}", full_page=False)
    for path in ("/tiers/no-such-tier", "/probes/999999"):
        assert page.goto(live_server.url + path).status == 404
        assert page.locator("h1").inner_text() == "Not found"
    if not debug:  # any other address: Django's handler renders templates/404.html
        assert page.goto(live_server.url + "/no/such/page").status == 404
        assert "There is no page at /no/such/page." in page.locator("#not-found").inner_text()


def test_500_page_in_the_apps_style(live_server: Any, page: Any) -> None:
    from django.template.loader import render_to_string

    html = render_to_string("500.html")  # Django's server_error renders it with no context
    page.route("**/boom", lambda route: route.fulfill(status=500, body=html, content_type="text/html"))
    errors = console_errors(page)
    page.goto(live_server.url + "/boom")
    assert page.locator("h1").inner_text() == "Something went wrong on the server"
    assert page.locator("header.site .brand").evaluate("e => getComputedStyle(e).fontWeight") == "700"  # app.css
    shot(page, "500", full_page=False)
    assert errors == [
        f"500 {live_server.url}/boom",
        "Failed to load resource: the server responded with a status of 500 (Internal Server Error)",
    ]


def test_import_without_the_hub_says_what_to_do(
    live_server: Any, page: Any, django_user_model: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from types import SimpleNamespace

    from tests.fakehub import use_fake_hub

    use_fake_hub(SimpleNamespace(url="http://hub.invalid"), monkeypatch, tmp_path)  # no DNS answer: errno -2
    django_user_model.objects.create_user("cy", "cy@example.com", PASSWORD)
    log_in(page, live_server.url, "cy", "/import")
    page.fill("#id_source", "Qwen/Qwen3-8B")
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-form .errorlist")
    message = page.locator("#import-form .errorlist").inner_text()
    assert message.startswith("The Hugging Face Hub is not reachable from this server")
    assert "HTTPS_PROXY" in message and "Errno" not in message and "Name or service" not in message
    shot(page, "import-offline", full_page=False)


# A WebGPU adapter as Chromium reports one (GPUAdapterInfo), counted so the test can tell when it was asked for.
FAKE_GPU = """(() => {
  window.adapterRequests = 0;
  const adapter = {info: {vendor: 'nvidia', architecture: 'ada', device: '', description: 'NVIDIA GeForce RTX 4090'}};
  Object.defineProperty(Navigator.prototype, 'gpu', {get: () => ({
    requestAdapter: async () => { window.adapterRequests += 1; return adapter; }})});
  Object.defineProperty(Navigator.prototype, 'deviceMemory', {get: () => 8});
})();"""


def test_detect_this_browsers_gpu(live_server: Any, page: Any) -> None:
    page.add_init_script(FAKE_GPU)
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    assert page.evaluate("window.adapterRequests") == 0  # nothing asked on load ("No available adapters.")
    button = page.locator("#detect-browser")
    assert button.is_visible() and button.inner_text() == "Detect my GPU (this browser)"
    assert page.locator("#detect").inner_text() == "Use the server's hardware"
    button.click()
    page.wait_for_selector("#browser-hint:has-text('filled in as GeForce RTX 4090')")
    assert page.evaluate("window.adapterRequests") == 1
    assert page.input_value("#id_gpu") == "GeForce RTX 4090" and page.input_value("#id_ram") == "8"
    page.wait_for_selector("#results li.rec")  # the filled form updates the results
    assert page.locator("#results h2").inner_text() == "Best models for GeForce RTX 4090, 8 GB RAM"
    assert "at least 8 GB of RAM" in page.locator("#browser-hint").inner_text()
    shot(page, "detect-browser", full_page=False)
    assert errors == []


def test_no_adapter_request_on_load_without_a_gpu(live_server: Any, page: Any) -> None:
    errors = console_errors(page)
    page.goto(live_server.url + "/")
    page.wait_for_load_state("networkidle")
    assert errors == []  # Chromium logs "No available adapters." when a page asks and there is none
    page.click("#detect-browser")
    page.wait_for_selector("#browser-hint:has-text('This browser says')")
    assert page.input_value("#id_gpu") == ""  # nothing known is nothing filled


def test_on_a_phone_the_results_come_into_view_after_show(live_server: Any, browser: Any) -> None:
    page = new_page(browser, PHONE, has_touch=True, is_mobile=True)
    errors = console_errors(page)
    try:
        page.goto(live_server.url + "/")
        page.fill("#id_gpu", "RTX 4090")
        page.fill("#id_ram", "64")
        page.click("#machine button[type=submit]")
        page.wait_for_selector("#results li.rec")
        page.wait_for_function("() => Math.abs(document.getElementById('results').getBoundingClientRect().top) < 5")
        assert page.evaluate("scrollY") > 500  # the form above it scrolled away
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        shot(page, "phone-results", full_page=False)
        assert errors == []
    finally:
        page.context.close()
    page = new_page(browser, PHONE, java_script_enabled=False)  # the plain form lands on its results too
    try:
        page.goto(live_server.url + "/")
        page.fill("#id_gpu", "RTX 4090")
        page.click("#machine button[type=submit]")
        page.wait_for_selector("#results li.rec")
        assert page.url.endswith("#results")
        assert abs(page.evaluate("document.getElementById('results').getBoundingClientRect().top")) < 5
    finally:
        page.context.close()


def test_without_javascript_charts_are_tables_and_copy_buttons_hidden(live_server: Any, browser: Any) -> None:
    page = new_page(browser, LAPTOP, java_script_enabled=False)
    try:
        page.goto(live_server.url + "/models/qwen3-8b?gpu=RTX+4060&ram=32&ctx=8192")
        tables = page.locator("figure.chart table.chart-table")
        assert tables.count() == 3 and all(tables.nth(i).is_visible() for i in range(3))
        assert page.locator("figure.chart canvas:visible").count() == 0  # no empty chart boxes
        memory = tables.first
        assert memory.locator("caption").inner_text() == "GB by context (tokens)"
        row = memory.locator("tr", has=page.locator("td", has_text=re.compile(r"^8,192$")))
        assert re.fullmatch(r"8,192\t\d+\.\d\d", row.first.inner_text())  # the plan's total at 8,192 tokens
        assert page.locator("button.copy").count() >= 3
        assert page.locator("button.copy:visible").count() == 0
        assert page.locator("#cmd-llama-server").is_visible()  # the command itself is there to select
        shot(page, "no-js-model")
    finally:
        page.context.close()
    page = new_page(browser, LAPTOP)  # with JavaScript: charts drawn, their tables hidden, Copy shown
    try:
        page.goto(live_server.url + "/models/qwen3-8b?gpu=RTX+4060&ram=32&ctx=8192")
        page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn=yes]').length === 3")
        assert page.locator("table.chart-table:visible").count() == 0
        assert page.locator("button.copy:visible").count() >= 3
    finally:
        page.context.close()


def _crawl_paths() -> list[tuple[str, int]]:
    """Every page, with the status it answers: home with results, model, tiers, tier, probes, a probe,
    accuracy, import, tokens, login, the GPU list and a 404."""
    from advisor.catalog.machines import load_tiers
    from advisor.models import ProbeRun

    run = ProbeRun.objects.create(
        host_id="a-rather-long-worker-host-name.example.internal", dedupe_key="crawl", status="succeeded",
        source="smollm2", ctx=1024, percent=100, stage="done",
        result={"decode_tps": 41.3, "prefill_tps": 690.4, "backend": "CPU", "flash_attn": "auto", "n_threads": 2,
                "model_label": "SmolLM2-135M Q4_1", "model_size_bytes": 90_000_000, "n_layers": 30,
                "peak_rss_bytes": 400_000_000, "buffers": [{"kind": "KV", "device": "CPU", "bytes": 23592960}]},
    )  # fmt: skip
    return [
        ("/?gpu=RTX+4090&ram=64&cpu=Ryzen+9+7950X", 200), ("/models/qwen3-8b?gpu=RTX+4060&ram=32", 200),
        ("/tiers", 200), (f"/tiers/{load_tiers()[3].id}", 200), ("/probes", 200), (f"/probes/{run.pk}", 200),
        ("/accuracy", 200), ("/import", 200), ("/account/tokens", 200), ("/gpus", 200), ("/login", 200),
        ("/models/not-a-model", 404),
    ]  # fmt: skip


def test_every_page_fits_a_phone_and_a_laptop_without_console_errors(
    live_server: Any, browser: Any, django_user_model: Any
) -> None:
    django_user_model.objects.create_user("dee", "dee@example.com", PASSWORD)
    paths = _crawl_paths()
    for name, viewport in (("phone", PHONE), ("laptop", LAPTOP)):
        page = new_page(browser, viewport)
        errors = console_errors(page)
        try:
            log_in(page, live_server.url, "dee")
            for path, status in paths:
                errors.clear()
                response = page.goto(live_server.url + path)
                assert response.status == status, path
                page.wait_for_load_state("networkidle")
                wide = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
                assert wide[0] <= wide[1], (name, path, wide)
                refused = "Failed to load resource: the server responded with a status of 404 (Not Found)"
                expected = [] if status == 200 else [f"{status} {live_server.url}{path}", refused]
                assert errors == expected, (name, path, errors)
                slug = path.strip("/").split("?")[0].replace("/", "-") or "home"
                shot(page, f"crawl-{name}-{slug}", full_page=False)
        finally:
            page.context.close()


def test_probe_page_one_bar_queue_position_and_cancelling(live_server: Any, page: Any, django_user_model: Any) -> None:
    from advisor.models import ProbeRun

    host = "ci-mends-host"
    running = ProbeRun.objects.create(host_id=host, dedupe_key="m1", status="running", stage="prefill", percent=42)
    ProbeRun.objects.create(host_id=host, dedupe_key="m2")
    waiting = ProbeRun.objects.create(host_id=host, dedupe_key="m3")
    ProbeRun.objects.create(host_id="another-host", dedupe_key="m4")  # another host's queue is not ahead
    django_user_model.objects.create_user("eve", "eve@example.com", PASSWORD)
    errors = console_errors(page)
    page.goto(f"{live_server.url}/probes/{waiting.pk}")
    assert page.locator("#probe-queue").inner_text() == f"Waiting for the worker on {host}: 2 probes ahead of this one."
    assert page.locator("#probe-stage").inner_text() == "waiting for the worker"
    shot(page, "probe-queued", full_page=False)
    log_in(page, live_server.url, "eve", f"/probes/{running.pk}")
    # One bar over the whole run, the stage under way named beside it.
    assert page.locator("#probe-stage").inner_text() == "prefill: reading the prompt"
    assert page.locator("#probe-bar").get_attribute("value") == "42"
    assert page.locator("#probe-percent").inner_text() == "42%"
    page.click("#probe-cancel button")
    page.wait_for_url(f"{live_server.url}/probes/{running.pk}")
    assert page.locator("#probe-status").inner_text() == "cancelling"  # at once, before the worker stops it
    assert page.locator("#probe-cancel").count() == 0
    assert ProbeRun.objects.get(pk=running.pk).cancel_requested
    api = page.request.get(f"{live_server.url}/api/probes/{waiting.pk}").json()
    assert api["queue_ahead"] == 2 and api["status"] == "queued"
    shot(page, "probe-cancelling", full_page=False)
    assert errors == []


def test_cancel_a_running_probe_ends_it_within_5_s(
    live_server: Any, page: Any, probe_worker: Any, settings: Any, django_user_model: Any
) -> None:
    import time

    from advisor.models import ProbeRun
    from tests.conftest import PROBE_HOST

    settings.HOST_ID = PROBE_HOST
    django_user_model.objects.create_user("fay", "fay@example.com", PASSWORD)
    log_in(page, live_server.url, "fay", "/probes")
    errors = console_errors(page)
    page.select_option("#id_source", "smollm2")
    page.fill("#id_ctx", "16384")  # a large KV cache: the run lasts long enough to be cancelled midway
    page.click("#probe-form button[type=submit]")
    page.wait_for_selector("#probe-status:text('running')", timeout=120_000)
    page.wait_for_function("() => Number(document.getElementById('probe-bar').value) > 0")
    pressed = time.monotonic()
    page.click("#probe-cancel button")
    page.wait_for_selector("#probe-status:text('cancelling')", timeout=3_000)  # the answer to the POST says so
    page.wait_for_selector("#probe-status:text('cancelled')", timeout=10_000)
    run = ProbeRun.objects.get()
    assert run.status == "cancelled" and run.finished_at is not None
    assert time.monotonic() - pressed < 5, f"the run took {time.monotonic() - pressed:.1f} s to end"
    shot(page, "probe-cancelled", full_page=False)
    assert probe_worker.proc.poll() is None  # the worker lives on
    assert errors == []
