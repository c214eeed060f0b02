"""Random and hostile input to the API and forms: always a 2xx/4xx answer with a JSON message, never a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

FIT_FIELDS = ["model", "quant", "ctx", "ubatch", "kv_type", "flash_attn", "swa_full", "gpu_layers", "parallel",
              "runtime", "gpu", "vram", "bandwidth", "ram", "gguf", "hf_config"]  # fmt: skip
REC_FIELDS = ["gpu", "gpu_count", "vram", "ram", "ctx", "kv_type", "runtime", "use_case", "family", "size",
              "license", "sort", "limit", "bandwidth", "cpu", "parallel"]  # fmt: skip
NASTY = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["-1", "0", "1e309", "nan", "inf", "99999999999999999999", "RTX 4090", "Q4_K_M", "all",
                     "../../etc/passwd", "http://127.0.0.1:9/x.gguf", "\x00", "' OR 1=1 --", "<script>"]),
)  # fmt: skip


def params(fields: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.lists(st.tuples(st.sampled_from(fields), NASTY), max_size=8)


def assert_clean(response: Any) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        body = response.json()
        assert body["error"]["message"]


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(params(FIT_FIELDS))
def test_api_fit_never_500s(query: list[tuple[str, str]]) -> None:
    assert_clean(Client().get("/api/fit?" + urlencode(query)))


@FUZZ
@given(params(REC_FIELDS))
def test_api_recommendations_never_500s(query: list[tuple[str, str]]) -> None:
    assert_clean(Client().get("/api/recommendations?" + urlencode(query)))


@FUZZ
@given(st.dictionaries(st.sampled_from(["source", "model_id", "quant", "ctx", "gpu_layers", "gguf_path"]),
                       st.one_of(NASTY, st.integers(), st.none(), st.lists(st.integers(), max_size=3))))  # fmt: skip
def test_api_probe_post_never_500s(body: dict[str, Any]) -> None:
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(username="fuzzer")
    client = Client()
    client.force_login(user)
    assert_clean(client.post("/api/probes", body, content_type="application/json"))


@FUZZ
@given(params(REC_FIELDS))
def test_home_form_never_500s(query: list[tuple[str, str]]) -> None:
    response = Client().get("/?" + urlencode(query))
    assert response.status_code < 500
