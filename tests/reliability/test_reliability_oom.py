"""Out of memory inside llama.cpp fails the probe cleanly, as "oom", and the caller carries on."""

from __future__ import annotations

import pytest

from advisor import probe


def test_host_memory_exhaustion_is_a_clean_oom_error() -> None:
    # SmolLM2 at 128k context wants a 2880 MiB KV cache; the probe process may use 2 GiB of address space.
    spec = probe.ProbeSpec(source="smollm2", n_ctx=131072, n_threads=2, time_limit_s=120,
                           memory_limit_bytes=2 * 1024**3)  # fmt: skip
    with pytest.raises(probe.ProbeError) as err:
        probe.run_probe(spec, None)
    assert err.value.kind == "oom"
    assert "insufficient memory" in str(err.value)
    # The same process goes on to a probe that fits.
    ok = probe.run_probe(probe.ProbeSpec(source="smollm2", n_ctx=1024, n_threads=2, n_gen=16), None)
    assert ok.decode_tps > 0
