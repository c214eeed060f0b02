"""Check my setup through POST /api/checks and the /check/ page: every committed llama.cpp output parses,
the real numbers come back beside the engine's, hostile pastes are refused with a message (never a 500), and
only a consented, authenticated check is stored and calibrates its device."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from advisor.core.units import MIB
from tests.web.pages import HTMX, text

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_cache")]

FIXTURES = Path(__file__).parents[1] / "fixtures"
ALL = sorted(
    p
    for d in ("loadlogs", "speedlogs", "benchout", "lmstudio")
    for p in (FIXTURES / d).iterdir()
    if p.suffix in (".log", ".json", ".md") and p.name != "README.md"
)
H200_SERVER = FIXTURES / "speedlogs" / "cuda_h200_server_llama_31_8b_instruct_plain.log"
V100 = FIXTURES / "loadlogs" / "cuda_v100_open_llama_7b_q4_k_m_c2048.log"
BENCH_JSON = FIXTURES / "benchout" / "llama_bench_h200_llama31_8b_q4_k_m.json"


def post(client: Client, **body: Any) -> Any:
    return client.post("/api/checks", json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_fixture_parses_through_the_api(path: Path) -> None:
    response = post(Client(), text=path.read_text(), gpu="" if "cuda_v100" in path.name else "H200")
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["kind"] in ("llama.cpp", "llama-bench", "lm-studio")
    assert body["memory"]["rows"] or body["speed"]["rows"] or body["settings"]["n_ctx"]


def test_h200_server_log_eval_beside_the_prediction() -> None:
    body = post(Client(), text=H200_SERVER.read_text(), gpu="H200").json()
    decode = next(r for r in body["speed"]["rows"] if r["test"] == "decode")
    assert decode["measured_tps"] == 250.38 and decode["tokens"] == 256
    assert body["device"] == "H200 SXM 141 GB" and body["model_id"] == "llama-3.1-8b-instruct"
    assert 200 < decode["predicted_tps"] < 320  # the H200 plan at 4096 context, decoding 189 tokens deep
    assert [r["tps"] for r in body["speed"]["runs"] if r["test"] == "decode"] == [249.09, 250.38]
    keys = [f["key"] for f in body["findings"]]
    assert keys[0] == "no-buffers" and "-lv 4" in body["findings"][0]["text"]
    assert body["memory"]["rows"] == [] and body["plan"]["placement"] == "gpu"


def test_v100_log_buffers_come_back_beside_the_engine() -> None:
    body = post(Client(), text=V100.read_text()).json()
    rows = {(r["device"], r["kind"]): r for r in body["memory"]["rows"]}
    assert body["device"] == "Tesla V100 PCIe 16 GB"
    assert rows[("CUDA0", "model")]["logged_bytes"] == round(3820.94 * MIB)
    assert rows[("CUDA0", "kv")]["logged_bytes"] == 1024 * MIB == rows[("CUDA0", "kv")]["predicted_bytes"]
    assert abs(rows[("CUDA0", "total")]["rel"]) < 0.01
    assert {"fa-off", "kv-f16"} <= {f["key"] for f in body["findings"]}


def test_llama_bench_json_against_the_plan() -> None:
    body = post(Client(), text=BENCH_JSON.read_text()).json()
    rows = {r["test"]: r for r in body["speed"]["rows"]}
    assert round(rows["tg128"]["measured_tps"], 2) == 276.85 and round(rows["pp512"]["measured_tps"], 1) == 9354.4
    assert 0.75 < rows["tg128"]["ratio"] < 1.33 and body["calibrates"] is True


def test_multipart_upload_of_a_log_file() -> None:
    upload = SimpleUploadedFile("load.log", V100.read_bytes(), content_type="text/plain")
    response = Client().post("/api/checks", {"file": upload})
    assert response.status_code == 200 and response.json()["settings"]["n_ctx"] == 2048


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"text": "x" * (10 * 1024 * 1024)}, 413, "the check reads at most 4 MB"),
        ({"text": "a" * 1_000_000}, 400, "lines longer than 4096 characters were cut"),
        ({"text": "hello | world\n" * 200_000}, 400, "read the first 60000 of 200000 lines"),
        ({"text": "[" * 1_000_000}, 400, "found no llama.cpp log"),
        ({"text": ""}, 400, "paste a llama.cpp log"),
        ({"text": 12}, 400, "text must be a string"),
        ({"text": "ok", "consent": "yes"}, 400, "consent must be true or false"),
    ],
    ids=["10MB", "1M-char-line", "repetitive-prose", "nested-json", "empty", "not-a-string", "bad-consent"],
)
def test_hostile_pastes_get_a_json_error(body: dict[str, Any], status: int, message: str) -> None:
    response = post(Client(), **body)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_binary_and_oversize_files_are_refused() -> None:
    binary = SimpleUploadedFile("model.gguf", b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 64)
    response = Client().post("/api/checks", {"file": binary})
    assert response.status_code == 400 and "binary" in response.json()["error"]["message"]
    big = SimpleUploadedFile("big.log", b"load_tensors: CUDA0 model buffer size = 1.00 MiB\n" * 120_000)
    response = Client().post("/api/checks", {"file": big})
    assert response.status_code == 413 and response.json()["error"]["field"] == "text"


def test_deeply_repetitive_log_is_read_to_its_line_cap() -> None:
    line = "load_tensors: CUDA0 model buffer size = 1.00 MiB\n"  # 70,000 of them: 3.3 MiB
    body = post(Client(), text=line * 70_000, gpu="H200").json()
    assert "read the first 60000 of 70000 lines" in body["notes"]
    body = post(Client(), text="llama_model_loader: - kv 0: general.name str = y\n" * 70_000).json()
    assert body["settings"]["model"] == "y" and "read the first 60000 of 70000 lines" in body["notes"]


def test_consent_without_login_stores_nothing() -> None:
    from advisor.models import SetupCheck

    response = post(Client(), text=BENCH_JSON.read_text(), consent=True)
    assert response.status_code == 401 and SetupCheck.objects.count() == 0
    assert post(Client(), text=BENCH_JSON.read_text(), consent=False).status_code == 200
    assert SetupCheck.objects.count() == 0


def test_consented_check_is_stored_and_calibrates_the_h200(admin_user: Any) -> None:
    from advisor import services
    from advisor.api import issue_token
    from advisor.fit.args import FitParams
    from advisor.models import SetupCheck

    params = FitParams(model="llama-3.1-8b-instruct", quant="Q4_K_M", ctx=4096, gpus=("H200",))
    assert services.plan_for(params).speed.calibration is None
    token = issue_token(admin_user, "check")
    response = Client().post(
        "/api/checks", json.dumps({"text": BENCH_JSON.read_text(), "consent": True}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}",
    )  # fmt: skip
    assert response.status_code == 201 and response.json()["stored"]["calibrates"] is True
    row = SetupCheck.objects.get()
    assert (row.device, row.model_id, row.quant) == ("H200 SXM 141 GB", "llama-3.1-8b-instruct", "Q4_K_M")
    assert round(row.decode_tps or 0, 2) == 276.85 and row.stored_by == admin_user
    assert "text" not in row.summary  # the measurements, not the paste
    calibration = services.plan_for(params).speed.calibration
    assert calibration is not None and calibration.samples == 1 and calibration.device == "H200 SXM 141 GB"


def test_check_page_form_and_htmx_partial(client: Client) -> None:
    page = text(client.get("/check/"))
    assert 'href="/check/"' in page and 'id="check-form"' in page and 'name="consent"' not in page  # anonymous
    response = client.post("/check/", {"text": H200_SERVER.read_text(), "gpu": "H200"}, headers=HTMX)
    html = text(response)
    assert response.status_code == 200 and not html.lstrip().startswith("<!doctype")
    assert 'data-test="decode" data-measured="250.38"' in html and "no buffer lines" in html
    full = text(client.post("/check/", {"text": V100.read_text(), "consent": "on"}))
    assert 'data-device="CUDA0" data-kind="kv" data-logged-mib="1024"' in full and "Not stored: log in" in full


def test_check_page_refuses_a_10mb_paste_with_413(client: Client) -> None:
    response = client.post("/check/", {"text": "x" * (10 * 1024 * 1024)}, headers=HTMX)
    assert response.status_code == 413 and "the check reads at most 4 MB" in text(response)


def test_logged_in_consent_on_the_page_stores_the_check(admin_client: Client) -> None:
    from advisor.models import SetupCheck

    assert 'name="consent"' in text(admin_client.get("/check/"))
    html = text(admin_client.post("/check/", {"text": BENCH_JSON.read_text(), "consent": "on"}))
    assert 'id="check-stored" data-calibrates="yes"' in html and SetupCheck.objects.count() == 1


def test_cli_check_setup_file_stdin_and_json(capsys: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import io

    from django.core.management import call_command

    call_command("check_setup", str(H200_SERVER), "--gpu", "H200")
    out = capsys.readouterr().out
    assert "decode: measured 250.38 tok/s, predicted" in out and "-lv 4" in out
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(V100.read_bytes())))
    call_command("check_setup", "-", "--json")
    body = json.loads(capsys.readouterr().out)
    assert body["memory"]["rows"][1]["logged_bytes"] == 1024 * MIB and body["device"] == "Tesla V100 PCIe 16 GB"
    binary = tmp_path / "x.gguf"
    binary.write_bytes(b"GGUF\x00\x01" * 100)
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_setup", str(binary))
    assert exit_info.value.code == 2 and "binary" in capsys.readouterr().err


def test_lm_studio_estimate_beside_the_plan() -> None:
    estimate = (FIXTURES / "lmstudio" / "lmstudio_load_estimate_c8192.log").read_text()
    body = post(Client(), text=estimate, gpu="RTX 3090", model="qwen3-8b").json()
    assert body["kind"] == "lm-studio" and body["settings"]["n_ctx"] == 8192 and body["settings"]["n_gpu_layers"] == -1
    assert body["lmstudio"]["total"] == "8.48 GB" and body["lmstudio"]["cpu_expert_layers"] == 0
    (finding,) = [f["text"] for f in body["findings"] if f["key"] == "lm-studio"]
    assert "LM Studio estimated model 7.38 GB, context 1.10 GB, total 8.48 GB at 8192 tokens" in finding
    assert "the plan for qwen3-8b Q4_K_M predicts weights" in finding and body["notes"] == []
    excerpt = (FIXTURES / "lmstudio" / "lmstudio_vulkan_gemma4_26b_c82944_excerpt.log").read_text()
    body = post(Client(), text=excerpt).json()
    s = body["settings"]
    assert (s["n_ctx"], s["n_parallel"], s["kv_unified"]) == (82944, 4, True)  # through LM Studio's prefixes


def test_ollama_ps_rows_come_back() -> None:
    # a made-up row in the columns of `ollama ps` (the layout tests/core/test_core_loadlog.py reads)
    ps = """NAME           ID              SIZE     PROCESSOR          CONTEXT    UNTIL
llama3:70b     786f3184aec0    42 GB    48%/52% CPU/GPU    8192       Forever
"""
    body = post(Client(), text=ps).json()
    assert body["kind"] == "ollama-ps" and body["settings"]["n_ctx"] == 8192
    assert body["ollama"] == [{"name": "llama3:70b", "size_bytes": 42 * 1000**3, "gpu_percent": 52, "context": 8192}]


def test_ngl0_with_a_named_gpu_explains_op_offload() -> None:
    speed = FIXTURES / "speedlogs"
    body = post(Client(), text=(speed / "cuda_h200_llama31_8b_q4km_ngl0_4k.log").read_text(), gpu="H200").json()
    keys = {f["key"] for f in body["findings"]}
    assert {"ngl0-op-offload", "offload"} <= keys and body["calibrates"] is False  # not every layer on the GPU
    text = (speed / "cuda_h200_llama31_8b_q4km_ngl0_4k_noopoff.log").read_text()
    body = post(Client(), text=text, gpu="H200").json()
    assert body["settings"]["op_offload"] is False and "ngl0-op-offload" not in {f["key"] for f in body["findings"]}
