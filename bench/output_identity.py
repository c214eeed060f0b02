"""Fingerprints of what the recommender and ``/api/recommendations`` answer for the committed machine specs, to show
that a change meant to be faster changed no output: run it in two checkouts and compare the files (``cmp``).

* ``--recommender``: per spec of ``bench/data/machine_specs.json`` (all 2,000 by default) a SHA-1 of the whole
  ranking: considered and not-fitting models, every pick and every alternative (fit, memory, speed, quality, tier).
* ``--api``: SHA-1 of the response body for the first 150 specs, then 20 more at ``limit=200`` (plans included).
* ``--html``: SHA-1 of the results page for 40 specs, as a whole page and as the htmx partial, 10 of them at
  ``limit=200``, and of 20 model pages (``recommendations_latency.urls``).

Usage: DEBUG=1 VAR_DIR=/tmp/x .venv/bin/python bench/output_identity.py --recommender [--n N] OUT
       DEBUG=1 VAR_DIR=/tmp/x .venv/bin/python bench/output_identity.py --api OUT
       DEBUG=1 VAR_DIR=/tmp/x .venv/bin/python bench/output_identity.py --html OUT
(``manage.py migrate`` first for a new VAR_DIR; a fresh one also keeps the response cache from answering.)
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recommendations_latency import load_specs, urls  # (sets Django up)


def recommender_lines(n: int) -> list[str]:
    from django.http import QueryDict

    from advisor.forms import MachineForm
    from advisor.pages import results
    from advisor.pages.spec import Spec, machine_for

    out = []
    for s in load_specs()[:n]:
        form = MachineForm(QueryDict(urlencode(s)))
        if not form.is_valid():
            out.append("invalid")
            continue
        spec = Spec.from_cleaned(form.cleaned_data)
        rec = results.run_recommendation(spec, machine_for(spec))
        parts = [repr((rec.considered, rec.not_fitting))]
        for r in rec.ranked:
            p = r.pick
            parts.append(repr((r.rank, p.model.id, p.quant.name, p.fit, p.memory, p.speed, p.quality, p.tier,
                               r.alternative_scores)))  # fmt: skip
            parts += [repr((a.quant.name, a.fit, a.memory, a.speed, a.quality, a.tier)) for a in r.alternatives]
        out.append(hashlib.sha1("\n".join(parts).encode()).hexdigest())
    return out


def api_lines() -> list[str]:
    from django.test import Client

    from advisor.warmup import prepare_process

    prepare_process()
    client = Client()
    specs = load_specs()
    urls = [f"/api/recommendations?{urlencode(s)}" for s in specs[:150]]
    urls += [f"/api/recommendations?{urlencode({**s, 'limit': '200'})}" for s in specs[150:170]]
    out = []
    for url in urls:
        response = client.get(url)
        out.append(f"{response.status_code} {hashlib.sha1(CSRF_TOKEN.sub(b'', response.content)).hexdigest()}")
    return out


# A full page carries a CSRF token masked afresh on every response.
CSRF_TOKEN = re.compile(rb'"X-CSRFToken": "[^"]*"')


def html_lines() -> list[str]:
    from django.test import Client

    from advisor.warmup import prepare_process

    prepare_process()
    client = Client()
    specs = load_specs()[200:240]
    pages = urls("html", specs[:30]) + urls("html", [{**s, "limit": "200"} for s in specs[30:]])
    out = []
    for url in pages:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            body = CSRF_TOKEN.sub(b"", response.content)
            out.append(f"{response.status_code} {hashlib.sha1(body).hexdigest()}")
    for url in urls("model", specs[:20]):
        response = client.get(url)
        out.append(f"{response.status_code} {hashlib.sha1(CSRF_TOKEN.sub(b'', response.content)).hexdigest()}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--recommender", action="store_true")
    mode.add_argument("--api", action="store_true")
    mode.add_argument("--html", action="store_true")
    parser.add_argument("--n", type=int, default=2000, help="specs for --recommender")
    parser.add_argument("out")
    args = parser.parse_args()
    lines = recommender_lines(args.n) if args.recommender else html_lines() if args.html else api_lines()
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
