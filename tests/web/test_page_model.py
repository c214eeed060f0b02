"""Web tests of the model page (and its partials): real requests, real HTML."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.web.pages import text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]


def test_model_page_has_ladder_and_launch_commands(client: Client) -> None:
    response = client.get("/models/qwen3-8b", {"gpu": "RTX 4060", "ram": "32", "ctx": "8192"})
    assert response.status_code == 200
    html = text(response)
    assert '<table id="ladder">' in html and ">Q4_K_M</a>" in html and ">Q8_0</a>" in html
    # Qwen3-8B has 36 layers: -ngl 37 puts them and the output layer on the GPU.
    assert "llama-server -hf unsloth/Qwen3-8B-GGUF:" in html
    assert "-c 8192 -ngl 37 -fa on -ctk q8_0 -ctv q8_0" in html
    assert "OLLAMA_KV_CACHE_TYPE=q8_0 ollama serve" in html and "PARAMETER num_ctx 8192" in html
    assert 'bnb_4bit_quant_type="nf4"' in html
    assert 'data-chart="memory-data"' in html and 'id="memory-data" type="application/json"' in html


def test_model_page_partial_offload_command(client: Client) -> None:
    html = text(client.get("/models/qwen3-8b", {"gpu": "RTX 4060", "ram": "32", "quant": "F16"}))
    ngl = re.search(r"-c 8192 -ngl (\d+) ", html)
    assert ngl is not None and 0 < int(ngl.group(1)) < 37  # 16 GB of F16 weights on an 8 GB card
    # Ollama takes the same -ngl as a Modelfile parameter: shell lines only, no REPL command.
    assert f"PARAMETER num_gpu {ngl.group(1)}" in html and "/set parameter" not in html


def test_unknown_model_is_404_and_bad_spec_is_400(client: Client) -> None:
    assert client.get("/models/llama-9000").status_code == 404
    response = client.get("/models/qwen3-8b", {"gpu": "RTX 9090"})
    assert response.status_code == 400
    assert "Did you mean" in text(response)


def test_transformers_runtime_shows_the_bitsandbytes_config_of_the_chosen_quant(client: Client) -> None:
    html = text(client.get("/models/qwen3-8b", {"gpu": "RTX 4090", "runtime": "transformers", "quant": "bnb-int8"}))
    assert "BitsAndBytesConfig(load_in_8bit=True)" in html
    assert "llama-server -hf" not in html and "is a Hugging Face format" in html
    html = text(client.get("/models/qwen3-8b", {"gpu": "RTX 4090", "runtime": "transformers", "quant": "bnb-fp4"}))
    assert 'bnb_4bit_quant_type="fp4"' in html and "bnb_4bit_use_double_quant=False" in html
