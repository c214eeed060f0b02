"""The vision projector (--mmproj) switch: in GET /api/fit, on the model page and in the CLI."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]
MIB = 1024**2
# bench/data/mmproj_cpu.jsonl: clip.cpp's model size 814.60 MiB and compute buffer 121.25 MiB (flash
# attention on) for Gemma 3 12B's tower
GEMMA3_12B_MMPROJ = 814.60 + 121.25
QUERY = {"model": "gemma-3-12b-it", "quant": "Q4_K_M", "gpu": "RTX 4090", "ram": "64", "ctx": "8192"}


def test_api_fit_image_adds_the_projector_to_the_first_gpu(client: Client) -> None:
    plain = client.get("/api/fit", QUERY).json()
    with_image = client.get("/api/fit", {**QUERY, "image": "1"}).json()
    assert plain["mmproj"] is None
    p = with_image["mmproj"]
    assert p["projector"] == "gemma3" and p["device"] == "GeForce RTX 4090" and p["flash_attn"] is True
    assert p["total_bytes"] / MIB == pytest.approx(GEMMA3_12B_MMPROJ, abs=0.01)
    assert p["mmproj_file"] == "mmproj-model-f16.gguf"
    gpu_plain, gpu_image = plain["memory"]["devices"][0], with_image["memory"]["devices"][0]
    assert gpu_image["projector_bytes"] == p["total_bytes"]
    assert gpu_image["total_bytes"] - gpu_plain["total_bytes"] == p["total_bytes"]
    names = {q["name"] for q in client.get("/api/schema").json()["paths"]["/api/fit"]["get"]["parameters"]}
    assert {"image", "mmproj_offload"} <= names


def test_api_fit_mmproj_offload_off_puts_it_in_ram_and_flash_attn_off_costs_a_gib(client: Client) -> None:
    host = client.get("/api/fit", {**QUERY, "image": "1", "mmproj_offload": "off"}).json()
    assert host["mmproj"]["device"] == "host"
    assert host["memory"]["devices"][-1]["projector_bytes"] == host["mmproj"]["total_bytes"]
    assert host["memory"]["devices"][0]["projector_bytes"] == 0
    no_fa = client.get("/api/fit", {**QUERY, "image": "1", "flash_attn": "off", "kv_type": "f16"}).json()
    assert no_fa["mmproj"]["compute_bytes"] / MIB == pytest.approx(1132.00, abs=0.01)


def test_api_fit_image_on_a_text_model_changes_nothing_and_bad_value_is_400(client: Client) -> None:
    q = {**QUERY, "model": "qwen3-8b"}
    assert client.get("/api/fit", {**q, "image": "1"}).json() == client.get("/api/fit", q).json()
    r = client.get("/api/fit", {**QUERY, "image": "maybe"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "image"


def test_model_page_shows_the_projector_line_and_the_total_grows(client: Client) -> None:
    page = {k: v for k, v in QUERY.items() if k != "model"}
    plain = text(client.get("/models/gemma-3-12b-it", page))
    shown = text(client.get("/models/gemma-3-12b-it", {**page, "image": "on"})).replace("\u00a0", " ")
    plain = plain.replace("\u00a0", " ")
    assert 'id="mmproj-line"' not in plain
    assert (
        "Vision projector (<code>--mmproj</code>, gemma3) on GeForce RTX 4090: weights 814.6 MB + compute 121.2 MB"
        " (flash attention on) = <strong>935.9 MB</strong>"
    ) in shown
    # -hf unsloth/gemma-3-12b-it-GGUF fetches that repo's mmproj itself; without image input the command
    # turns it off so that memory matches the plan
    cmd = re.compile(r'<pre id="cmd-llama-server"[^>]*>([^<]*)</pre>')
    shown_cmd, plain_cmd = cmd.search(shown), cmd.search(plain)
    assert shown_cmd and plain_cmd
    assert shown_cmd.group(1).startswith("llama-server -hf unsloth/gemma-3-12b-it-GGUF:Q4_K_M")
    assert "mmproj" not in shown_cmd.group(1) and plain_cmd.group(1).endswith(" --no-mmproj")
    assert "downloads the repository's vision projector" in shown

    def gpu_total(html: str) -> float:
        row = re.search(r"GeForce RTX 4090</th>(?:<td class=\"num\">[^<]*</td>){5}<td class=\"num\">([\d.]+) GB", html)
        assert row, html
        return float(row.group(1))

    assert gpu_total(shown) - gpu_total(plain) == pytest.approx(0.9, abs=0.11)  # 935.9 MB, shown to 0.1 GB
    assert 'name="image"' in text(client.get("/", {}))  # the form's checkbox


def test_cli_fit_image_prints_the_projector_line() -> None:
    out = io.StringIO()
    call_command("fit", "--model", "gemma-3-12b-it", "--gpu", "RTX 4090", "--ram", "64", "--image", stdout=out)
    line = "vision projector (--mmproj, gemma3) on GeForce RTX 4090: weights 0.80 GiB + compute 0.12 GiB"
    assert line in out.getvalue()


@pytest.mark.parametrize("off", ["0", "off", "false"])
def test_api_recommendations_image_switch_changes_the_cards(client: Client, off: str) -> None:
    """image=1 adds the projector to every multimodal card; "0"/"off"/"false" leave it out (a plain Django
    checkbox reads any non-empty string as ticked)."""
    query = {"gpu": "RTX 3060", "ram": "32", "family": "gemma3", "limit": "3"}
    plain = client.get("/api/recommendations", {**query, "image": off}).json()["results"]
    with_image = client.get("/api/recommendations", {**query, "image": "1"}).json()["results"]
    assert plain and with_image
    assert all(card["mmproj"] is None for card in plain)
    card = with_image[0]
    assert card["mmproj"]["projector"] == "gemma3"
    same = next(c for c in plain if (c["model"], c["quant"]) == (card["model"], card["quant"]))
    added = card["memory"]["gpu_bytes"] - same["memory"]["gpu_bytes"]
    assert added == card["mmproj"]["total_bytes"]


def test_launch_command_without_a_gguf_repo_names_the_exported_mmproj(client: Client) -> None:
    page = {k: v for k, v in QUERY.items() if k != "model"}
    off = text(client.get("/models/qwen3-vl-8b-instruct", {**page, "image": "on"}))
    cmd = re.search(r'<pre id="cmd-llama-server"[^>]*>([^<]*)</pre>', off)
    assert cmd, off
    assert cmd.group(1).startswith("llama-server -m qwen3-vl-8b-instruct-Q4_K_M.gguf")
    assert cmd.group(1).endswith(" --mmproj mmproj-qwen3-vl-8b-instruct-f16.gguf")
    assert "--outfile mmproj-qwen3-vl-8b-instruct-f16.gguf" in off
    text_only = text(client.get("/models/qwen3-8b", page))
    assert "mmproj" not in text_only
