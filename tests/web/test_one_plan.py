"""One plan per (model, quant, machine, context, runtime): the card, the model page's headline, its
per-device table and launch command, the tier page, ``/api/fit``, ``/api/recommendations`` and
``manage.py fit --json`` show the same figures, on every reload."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from django.core.management import call_command
from django.test import Client

from advisor.catalog.machines import get_tier
from advisor.pages.tiers import tier_spec

pytestmark = pytest.mark.django_db

# Five machines: a 12 GB card (partial offload), a 24 GB card, two GPUs, an Apple laptop, CPU only.
MACHINES = {
    "rtx3060": {"gpu": "GeForce RTX 3060", "vram": "12", "ram": "32", "ctx": "8192"},
    "rtx4090": {"gpu": "GeForce RTX 4090", "ram": "64", "ctx": "16384"},
    "2x3090": {"gpu": "GeForce RTX 3090", "gpu_count": "2", "ram": "64", "ctx": "8192"},
    "m3-16gb": {"gpu": "Apple M3 (10-core GPU)", "ram": "16", "ctx": "8192"},
    "cpu-32gb": {"ram": "32", "cpu": "Ryzen 7 7700X", "ctx": "4096"},
}
FIGURES = ("ngl", "decode", "prefill", "gpu-bytes", "max-context")
N_MODELS = 20


def _attrs(tag: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', tag)}


def _cards(body: str, marker: str) -> dict[tuple[str, str], dict[str, str]]:
    found = {}
    for tag in re.findall(rf"<[a-z]+ [^>]*{marker}[^>]*>", body):
        a = _attrs(tag)
        found[(a["model"], a["quant"])] = a
    return found


def _figures(plan: dict[str, Any]) -> dict[str, str]:
    """A plan's figures as the templates write them into data attributes."""
    sp = plan["speed"]
    return {
        "ngl": str(plan["n_gpu_layers"]),
        "decode": "" if sp["decode_tps"] is None else str(sp["decode_tps"]),
        "prefill": "" if sp["prefill_tps"] is None else str(sp["prefill_tps"]),
        "gpu-bytes": str(plan["memory"]["gpu_bytes"]),
        "max-context": str(plan["max_context"]),
    }


def _fit_query(machine: dict[str, str], model: str, quant: str) -> list[tuple[str, str]]:
    """/api/fit's parameters for a machine spec: the GPU repeated per count, as ``--gpu`` is."""
    query = [("model", model), ("quant", quant)]
    for key, value in machine.items():
        if key in ("gpu_count", "use_case"):
            continue
        if key == "gpu":
            query += [("gpu", value)] * int(machine.get("gpu_count", "1"))
        else:
            query.append(("parallel" if key == "users" else key, value))
    return query


def _cli(query: list[tuple[str, str]]) -> dict[str, Any]:
    args: list[str] = []
    for key, value in query:
        args += [f"--{key.replace('_', '-')}", value]
    out = io.StringIO()
    call_command("fit", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("name", list(MACHINES))
def test_every_view_of_a_plan_shows_the_same_figures(client: Client, name: str) -> None:
    machine = MACHINES[name]
    spec = urlencode(machine)
    api = client.get(f"/api/recommendations?{spec}&limit=500").json()["results"]
    # Partial offload first (the case two engines used to disagree on), then the best-ranked rest.
    partial = [r for r in api if r["placement"] == "partial"]
    chosen = (partial[: N_MODELS // 2] + [r for r in api if r["placement"] != "partial"])[:N_MODELS]
    assert len(chosen) == N_MODELS
    if name == "rtx3060":
        assert partial, "a 12 GB card should offload some models partially"
    cards = _cards(client.get(f"/?{spec}&limit=500").content.decode(), "data-model")
    again = client.get(f"/api/recommendations?{spec}&limit=500").json()["results"]
    assert again == api  # every reload: no time budget, no cache-dependent answers
    for result in chosen:
        model, quant = result["model"], result["quant"]
        want = _figures(result)
        assert cards[(model, quant)] == {**cards[(model, quant)], **want}, (model, quant)
        fit_query = _fit_query(machine, model, quant)
        assert _figures(client.get("/api/fit", fit_query).json()) == want, (model, quant)
        assert _figures(_cli(fit_query)) == want, (model, quant)
        page = client.get(f"/models/{model}?{spec}&quant={quant}").content.decode()
        headline = re.search(r'<p id="headline"[^>]*>', page)
        assert headline is not None, (model, quant)
        assert {k: _attrs(headline.group(0))[k] for k in FIGURES} == want, (model, quant)
        per_device = re.search(r'<p id="per-device"[^>]*>', page)
        assert per_device is not None
        assert {k: _attrs(per_device.group(0))[k] for k in FIGURES} == want, (model, quant)
        assert f"-ngl {want['ngl']} " in html.unescape(page)  # the llama-server command uses the plan's -ngl


@pytest.mark.parametrize("tier_id", ["gpu-12gb", "mac-16gb", "gpu-2x24gb"])
def test_tier_pages_show_the_plans_of_their_machine(client: Client, tier_id: str) -> None:
    body = client.get(f"/tiers/{tier_id}").content.decode()
    rows = _cards(body, 'class="tier-card"')
    assert rows
    spec = dict(parse_qsl(tier_spec(get_tier(tier_id)).query()))
    for (model, quant), shown in rows.items():
        fit = client.get("/api/fit", _fit_query(spec, model, quant)).json()
        assert {k: shown[k] for k in FIGURES} == _figures(fit), (tier_id, model, quant)
