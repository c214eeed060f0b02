"""One tensor of a model, and the builder the per-architecture inventories use.

Every name a builder adds is checked against the names llama.cpp knows for that architecture: the
``gguf`` package's ``MODEL_TENSORS[arch]`` lists of ``TENSOR_NAMES`` templates (gguf-py, the
converter's side of llama.cpp). The templates agree with ``LLM_TENSOR_NAMES`` in ``src/llama-arch.cpp``
of the llama.cpp vendored in llama-cpp-python 0.3.36 for every text-model tensor (checked when this
module was written: the installed gguf 0.19.0 and the vendored llama-arch.cpp differ only in vision/audio
tensors and in 28 architectures newer than that gguf release, none of which has an inventory here).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

_BLK_RE = re.compile(r"blk\.(\d+)\.")
_SUFFIXES = (".weight", ".bias", ".scale")  # ".scale": per-tensor scales (gemma4 ffn_gate_inp, ffn_down_exps)


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: GGUF name and ggml dims (ne0 first)."""

    name: str
    dims: tuple[int, ...]

    @property
    def n_elements(self) -> int:
        return math.prod(self.dims)

    @property
    def layer(self) -> int | None:
        """Block index for ``blk.N.*`` tensors, else None."""
        m = _BLK_RE.match(self.name)
        return int(m.group(1)) if m else None


def name_template(name: str) -> str:
    """The gguf template a tensor name comes from: ``blk.3.attn_q.weight`` -> ``blk.{bid}.attn_q``.

    >>> name_template("blk.12.ssm_a"), name_template("output_norm.weight")
    ('blk.{bid}.ssm_a', 'output_norm')
    """
    base = _BLK_RE.sub("blk.{bid}.", name, count=1)
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


@functools.lru_cache(maxsize=256)
def arch_tensor_templates(arch: str) -> frozenset[str] | None:
    """Name templates gguf lists for llama.cpp architecture ``arch`` (``general.architecture``), or None
    when the installed gguf does not know the architecture."""
    import gguf

    by_name = {name: a for a, name in gguf.MODEL_ARCH_NAMES.items()}
    model_arch = by_name.get(arch)
    if model_arch is None:
        return None
    return frozenset(gguf.TENSOR_NAMES[t] for t in gguf.MODEL_TENSORS.get(model_arch, ()))


class Builder:
    """Collects the tensors of one model; rejects a name gguf does not list for the architecture."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.out: list[TensorSpec] = []
        self._allowed = arch_tensor_templates(arch)

    def add(self, name: str, *dims: int) -> None:
        if self._allowed is not None and name_template(name) not in self._allowed:
            raise AssertionError(f"{name!r} is not a tensor gguf lists for arch {self.arch!r}")
        self.out.append(TensorSpec(name, tuple(int(d) for d in dims)))

    def blk(self, i: int, name: str, *dims: int) -> None:
        self.add(f"blk.{i}.{name}", *dims)
