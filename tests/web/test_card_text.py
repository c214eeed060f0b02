"""The results page writes its cards' numbers, memory bars and other quants in Python (``pages.cards``,
``display.alternative_rows``) where it once used template loops and filters: the HTML must stay what those filters
write for the same values. The references below are the loops and filters as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.http import QueryDict
from django.template import engines
from django.template.loader import get_template
from django.urls import reverse

from advisor.core.plan import Calibration, MeasuredProbe, SpeedEstimate
from advisor.pages.cards import SpeedText
from advisor.pages.results import results_page

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]

# parts/membar.html and parts/speed.html as they were (796514f), with the filters
REFERENCES = Path(__file__).parents[1] / "fixtures" / "card_filters"
REFERENCE_BAR = (REFERENCES / "membar.html").read_text()
REFERENCE_SPEED = (REFERENCES / "speed.html").read_text()
REFERENCE_ROWS = (
    '{% for a in alternatives %}<tr><td><a href="{{ model_url }}?{{ spec_query }}&amp;quant={{ a.quant|urlencode }}">'
    "{{ a.quant }}</a></td><td>{{ a.score|floatformat:1 }}</td><td>{{ a.kld|floatformat:3 }}</td></tr>{% endfor %}"
)
REFERENCE_NUMBERS = (
    "{{ r.pick.quality.score|floatformat:1 }} "
    "{{ r.plan.bits_per_weight|default:r.pick.quant.bits_per_weight|floatformat:2 }} "
    "{{ r.pick.quality.kld|floatformat:3 }}"
)
NUMBERS = "{{ r.score_text }} {{ r.bits_text }} {{ r.kld_text }}"

# A GPU with RAM and a named CPU (speed ranges, partial and expert offload), a Mac, a CPU-only machine, two GPUs.
MACHINES = (
    "gpu=RTX+4060&ram=32&cpu=AMD+Ryzen+5+7600X&ctx=8192",
    "gpu=MacBook+Air+M3+16GB&ram=16&ctx=32768",
    "ram=64&cpu=Intel+Core+i7-12700K&ctx=4096",
    "gpu=RTX+3090&gpu_count=2&ram=128&ctx=65536&kv_type=q8_0&limit=60",
)


@pytest.mark.parametrize("query", MACHINES)
def test_cards_write_what_the_filters_wrote(query: str) -> None:
    page = results_page(QueryDict(query))
    assert not page.errors and page.spec is not None
    cards = page.results
    assert len(cards) >= 20
    django = engines["django"]
    bar, speed = get_template("parts/membar.html"), get_template("parts/speed.html")
    ref_bar, ref_speed = django.from_string(REFERENCE_BAR), django.from_string(REFERENCE_SPEED)
    ref_rows = django.from_string(REFERENCE_ROWS)
    rows = django.from_string("{% load display %}{% alternative_rows alternatives model_url spec_query %}")
    ref_numbers, numbers = django.from_string(REFERENCE_NUMBERS), django.from_string(NUMBERS)
    spec_query = page.spec.query()
    ranges = alternatives = 0
    for card in cards:
        assert bar.render({"bar": card.bar}) == ref_bar.render({"bar": card.bar})
        assert speed.render({"speed": card.speed_text}) == ref_speed.render({"speed": card.plan.speed})
        assert numbers.render({"r": card}) == ref_numbers.render({"r": card})
        context = {"alternatives": card.alternatives, "model_url": reverse("model_detail", args=[card.model.id]),
                   "spec_query": spec_query}  # fmt: skip
        assert rows.render(context) == ref_rows.render(context)
        ranges += card.plan.speed.decode_low is not None
        alternatives += len(card.alternatives)
    assert ranges and alternatives  # the comparison saw ranges and rows, not only empty parts


REFERENCE_LADDER = (
    '{% for r in ladder %}{{ r.bpw|floatformat:2 }}|{{ r.plan.file_bytes|mem|default:"—" }}|'
    '{{ r.plan.memory.weights_bytes|mem|default:"—" }}|{{ r.plan.total_bytes|mem|default:"—" }}|'
    '{{ r.plan.speed.decode_tps|floatformat:1|default:"—" }}|{{ r.kld|floatformat:4 }}|'
    '{{ r.delta_ppl|floatformat:3|default:"—" }}|{{ r.score|floatformat:1 }}\n{% endfor %}'
)
LADDER = (
    "{% for r in ladder %}{% with sizes=r.sizes %}{{ r.bpw_text }}|{{ sizes.0 }}|{{ sizes.1 }}|{{ sizes.2 }}|"
    "{{ r.decode_text }}|{{ r.kld_text }}|{{ r.delta_ppl_text }}|{{ r.score_text }}\n{% endwith %}{% endfor %}"
)


@pytest.mark.parametrize(
    ("model_id", "query"),
    [
        ("qwen3-8b", "gpu=RTX+4060&ram=32&cpu=AMD+Ryzen+5+7600X&ctx=8192"),
        ("gpt-oss-20b", "gpu=MacBook+Air+M3+16GB&ram=16"),
        ("qwen3-8b", "gpu=RTX+4090&ram=64&runtime=transformers"),  # bitsandbytes, GPTQ and AWQ rows: no GGUF file
    ],
)
def test_model_ladder_writes_what_the_filters_wrote(model_id: str, query: str) -> None:
    from advisor.pages.catalog import find_model
    from advisor.pages.model import model_page

    model = find_model(model_id)
    assert model is not None
    page = model_page(model, QueryDict(query))
    assert not page.errors and len(page.ladder) >= 4
    django = engines["django"]
    context = {"ladder": page.ladder}
    mine = django.from_string(LADDER).render(context)
    assert mine == django.from_string("{% load display %}" + REFERENCE_LADDER).render(context)
    assert "—" in mine or all(r.plan is not None and r.plan.file_bytes for r in page.ladder)


@pytest.mark.parametrize(
    "speed",
    [
        SpeedEstimate(),  # nothing predicted: "decode —"
        SpeedEstimate(decode_tps=12.25, prefill_tps=None, backend="cpu", basis="predicted"),
        SpeedEstimate(
            decode_tps=45.05,
            prefill_tps=1234.5,
            decode_low=38.5,
            decode_high=52.49,
            prefill_low=1000.5,
            prefill_high=1500.5,
            backend="metal",
            basis="calibrated",
            calibration=Calibration(
                "Apple M2 <Pro>", 3, "low", (0.2, 0.25, 0.3), applied=False, flag='ratio "0.25" & off'
            ),
            measured=MeasuredProbe(7, "lab & <host>", 0.05, None, 4096),
        ),
    ],
)
def test_speed_text_writes_what_the_filters_wrote(speed: SpeedEstimate) -> None:
    """Probe badges, a flagged calibration and escaping included: the speed part of a card, detail and tier page."""
    mine = get_template("parts/speed.html").render({"speed": SpeedText.of(speed)})
    assert mine == engines["django"].from_string(REFERENCE_SPEED).render({"speed": speed})
