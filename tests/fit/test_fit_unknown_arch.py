"""`manage.py fit` and `import_hf` with an architecture that has no tensor inventory: one line naming it and
a labelled approximate estimate, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fit.test_fit_command import fit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hf_configs"


def _config(tmp_path: Path, model_type: str) -> Path:
    # Qwen3-8B's published config.json with its model_type replaced: real widths, an unknown architecture.
    cfg = json.loads((FIXTURES / "qwen3-8b.json").read_text()) | {"model_type": model_type}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def test_fit_of_a_made_up_architecture_is_labelled_approximate(tmp_path: Path) -> None:
    path = str(_config(tmp_path, "acme_lm"))
    out = fit("--hf-config", path, "--quant", "Q4_K_M", "--ctx", "8192", "--gpu", "RTX 4090", "--ram", "64")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    notice = [line for line in out.stdout.splitlines() if "'acme_lm'" in line]
    assert len(notice) == 1 and "approximate: from parameter counts" in notice[0]
    report = json.loads(fit("--hf-config", path, "--quant", "Q4_K_M", "--gpu", "RTX 4090", "--ram", "64",
                            "--ctx", "8192", "--json").stdout)  # fmt: skip
    assert report["exact"] is False
    approx = report["approximate"]
    assert approx["arch"] == "acme_lm" and approx["label"] == "approximate: from parameter counts"
    # Qwen3-8B's widths: 8,190,726,144 parameters (advisor.core.params.count_params), the same as the
    # llama-shaped stand-in the memory engine plans; Q4_K_M's mix on those widths gives 4.90 bits/weight.
    assert approx["params"] == report["n_params"] == 8_190_726_144
    assert approx["bits_per_weight"] == 4.905
    assert report["fit"] == "full_gpu" and report["memory"]["weights_bytes"] > 4.6 * 2**30


def test_fit_of_a_known_model_says_it_is_exact() -> None:
    report = json.loads(fit("--model", "qwen3-8b", "--quant", "Q4_K_M", "--json").stdout)
    assert report["exact"] is True and report["approximate"] is None
