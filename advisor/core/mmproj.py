"""Vision projectors (``--mmproj``): the projector's weights and the compute buffer of its image graph.

llama.cpp loads a multimodal model's vision tower from a separate GGUF (``tools/mtmd/clip.cpp``): its
weights go into one buffer on the device that runs it (the first GPU, or the CPU with
``--no-mmproj-offload``) and, at start-up, ``warmup`` reserves one compute buffer for the graph of a
square warm-up image (``get_dummy_batch``), then logs both ("model size", "compute buffer size").

Sources (llama.cpp as vendored in llama-cpp-python 0.3.36):

* tensor names: ``tools/mtmd/clip-impl.h`` (``TN_*``), which of them each projector loads:
  ``clip_model_loader::load_tensors`` in ``clip.cpp``; metadata keys: ``KEY_*`` in ``clip-impl.h``;
* tensor types of a published ``mmproj-*-f16.gguf``: ``convert_hf_to_gguf.py`` (``conversion/base.py``:
  1-D tensors, ``*_norm.weight``, position embeddings and non-``.weight`` tensors stay F32;
  ``MmprojModel.tensor_force_quant`` keeps ``patch_embd`` F16 in an F16 file and F32 otherwise; a row
  not divisible by the Q8_0 block falls back to F16; ``Gemma3VisionModel`` keeps ``.embeddings.`` F32
  and ``input_projection`` F16);
* warm-up image size: ``load_hparams`` (``set_warmup_n_tokens``: n tokens per side x patch x merge;
  gemma3 uses ``image_size``).

The compute buffer is ggml-alloc's peak over the graph, which is a sum of a few live tensors. With
flash attention off the peak sits in an attention block: the F32 scores ``KQ`` and their softmax,
``n_head * n_pos^2`` floats each. With it on, the peak is the feed-forward block or the
projector. The coefficients below were read off the graphs and checked against llama.cpp's own
numbers on the CPU (``bench/mmproj_cpu.py``, data in ``bench/data/mmproj_cpu.jsonl``).
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.core.ggml_types import GGMLType, tensor_bytes
from advisor.core.gguf_size import pad

# What a tensor becomes in an exported mmproj: the file's float type, always F32, always F16, or the
# patch embedding's rule (F16 in an F16 file, F32 otherwise).
_FLOAT, _F32, _F16, _PATCH = "float", "f32", "f16", "patch"


@dataclass(frozen=True)
class VisionTower:
    """One model's vision tower as llama.cpp reads it from the mmproj GGUF (``clip.vision.*`` keys)."""

    projector: str  # clip.projector_type
    n_embd: int  # clip.vision.embedding_length (vision_config.hidden_size)
    n_ff: int  # clip.vision.feed_forward_length
    n_layer: int  # clip.vision.block_count
    n_head: int  # clip.vision.attention.head_count
    patch_size: int
    image_size: int  # clip.vision.image_size (position-embedding grid x patch)
    proj_dim: int  # clip.vision.projection_dim = the text model's hidden size
    n_merge: int = 1  # tokens merged per side (spatial_merge_size / pooling kernel)
    deepstack_layers: tuple[int, ...] = ()  # qwen3vl


@dataclass(frozen=True)
class ProjTensor:
    name: str
    dims: tuple[int, ...]  # ggml order, ne0 first
    kind: str  # _FLOAT, _F32, _F16, _PATCH


def _vit_layers(t: VisionTower, fused_qkv: bool) -> list[ProjTensor]:
    d, ff = t.n_embd, t.n_ff
    out: list[ProjTensor] = []
    for i in range(t.n_layer):
        p = f"v.blk.{i}."
        if fused_qkv:
            out += [
                ProjTensor(p + "attn_qkv.weight", (d, 3 * d), _FLOAT),
                ProjTensor(p + "attn_qkv.bias", (3 * d,), _F32),
            ]
        else:
            for n in ("attn_q", "attn_k", "attn_v"):
                out += [ProjTensor(p + n + ".weight", (d, d), _FLOAT), ProjTensor(p + n + ".bias", (d,), _F32)]
        out += [ProjTensor(p + "attn_out.weight", (d, d), _FLOAT), ProjTensor(p + "attn_out.bias", (d,), _F32)]
        for n in ("ln1", "ln2"):
            out += [ProjTensor(p + n + ".weight", (d,), _F32), ProjTensor(p + n + ".bias", (d,), _F32)]
        out += [
            ProjTensor(p + "ffn_up.weight", (d, ff), _FLOAT),
            ProjTensor(p + "ffn_up.bias", (ff,), _F32),
            ProjTensor(p + "ffn_down.weight", (ff, d), _FLOAT),
            ProjTensor(p + "ffn_down.bias", (d,), _F32),
        ]
    return out


def _gemma3(t: VisionTower) -> list[ProjTensor]:
    # SigLIP: learned positions for the whole grid, then a 4x4 average pool, RMS norm and one projection.
    d, side = t.n_embd, t.image_size // t.patch_size
    return [
        ProjTensor("v.patch_embd.weight", (t.patch_size, t.patch_size, 3, d), _F32),
        ProjTensor("v.patch_embd.bias", (d,), _F32),
        ProjTensor("v.position_embd.weight", (d, side * side), _F32),
        *_vit_layers(t, fused_qkv=False),
        ProjTensor("v.post_ln.weight", (d,), _F32),
        ProjTensor("v.post_ln.bias", (d,), _F32),
        ProjTensor("mm.input_projection.weight", (t.proj_dim, d), _F16),
        ProjTensor("mm.soft_emb_norm.weight", (d,), _F32),
    ]


def _qwen3vl(t: VisionTower) -> list[ProjTensor]:
    # Qwen3-VL / Qwen3.5: a Conv3D patch embedding split in two frames, fused QKV, 2x2 merger MLP and
    # one merger per deepstack layer.
    d, p, side = t.n_embd, t.patch_size, t.image_size // t.patch_size
    merged = d * t.n_merge * t.n_merge
    out = [
        ProjTensor("v.patch_embd.weight", (p, p, 3, d), _PATCH),
        ProjTensor("v.patch_embd.weight.1", (p, p, 3, d), _PATCH),
        ProjTensor("v.patch_embd.bias", (d,), _F32),
        ProjTensor("v.position_embd.weight", (d, side * side), _F32),
        *_vit_layers(t, fused_qkv=True),
    ]
    for i in t.deepstack_layers:
        p_ = f"v.deepstack.{i}."
        out += [
            ProjTensor(p_ + "norm.weight", (merged,), _F32),
            ProjTensor(p_ + "norm.bias", (merged,), _F32),
            ProjTensor(p_ + "fc1.weight", (merged, merged), _FLOAT),
            ProjTensor(p_ + "fc1.bias", (merged,), _F32),
            ProjTensor(p_ + "fc2.weight", (merged, t.proj_dim), _FLOAT),
            ProjTensor(p_ + "fc2.bias", (t.proj_dim,), _F32),
        ]
    return [
        *out,
        ProjTensor("v.post_ln.weight", (d,), _F32),
        ProjTensor("v.post_ln.bias", (d,), _F32),
        ProjTensor("mm.0.weight", (merged, merged), _FLOAT),
        ProjTensor("mm.0.bias", (merged,), _F32),
        ProjTensor("mm.2.weight", (merged, t.proj_dim), _FLOAT),
        ProjTensor("mm.2.bias", (t.proj_dim,), _F32),
    ]


_INVENTORIES = {"gemma3": _gemma3, "qwen3vl_merger": _qwen3vl}
SUPPORTED_PROJECTORS = frozenset(_INVENTORIES)


def projector_tensors(t: VisionTower) -> tuple[ProjTensor, ...]:
    """The tensors ``load_tensors`` reads for ``t``'s projector type, in the order convert writes them."""
    try:
        build = _INVENTORIES[t.projector]
    except KeyError:
        raise ValueError(f"no tensor inventory for projector type {t.projector!r}") from None
    return tuple(build(t))


def tensor_type(pt: ProjTensor, float_type: GGMLType) -> GGMLType:
    """The type convert_hf_to_gguf gives ``pt`` in an mmproj exported as ``float_type`` (F16 or Q8_0)."""
    if pt.kind == _F32:
        return GGMLType.F32
    if pt.kind == _F16:
        return GGMLType.F16
    if pt.kind == _PATCH:
        return GGMLType.F16 if float_type == GGMLType.F16 else GGMLType.F32
    if float_type == GGMLType.Q8_0 and pt.dims[0] % 32:
        return GGMLType.F16  # convert's QuantError fallback
    return float_type


def weight_bytes(t: VisionTower, float_type: GGMLType = GGMLType.F16) -> int:
    """The projector's weight buffer: clip.cpp's "model size" (the sum of ``ggml_nbytes``)."""
    return sum(tensor_bytes(tensor_type(pt, float_type), pt.dims) for pt in projector_tensors(t))


def data_bytes(t: VisionTower, float_type: GGMLType = GGMLType.F16) -> int:
    """The file's data section: each tensor padded to the GGUF alignment."""
    return sum(pad(tensor_bytes(tensor_type(pt, float_type), pt.dims)) for pt in projector_tensors(t))


def warmup_image_size(t: VisionTower) -> int:
    """The side of the square image ``warmup`` encodes (``get_dummy_batch``)."""
    if t.projector == "gemma3":
        return t.image_size
    side = _WARMUP_TOKENS_PER_SIDE[t.projector]
    return side * t.patch_size * t.n_merge


# set_warmup_n_tokens(n*n) in load_hparams: n merged tokens per side of the warm-up image.
_WARMUP_TOKENS_PER_SIDE = {"qwen3vl_merger": 46}


def warmup_patches(t: VisionTower) -> int:
    side = warmup_image_size(t) // t.patch_size
    return side * side


def compute_buffer_bytes(t: VisionTower, *, flash_attn: bool) -> int:
    """The compute buffer ``warmup`` reserves for the warm-up image, on the device that runs the tower.

    Per patch of the warm-up image (n of them), in F32 (4 bytes):

    * flash attention off: one layer's scores ``KQ`` (``n_head x n x n``, softmaxed in place) on top of
      the layer's live activations: 6 rows of ``n_embd`` for SigLIP (gemma3); 7 for Qwen's fused-QKV
      block, plus the graph inputs (the raw image, 3 x patch^2 floats per patch, and 4 M-RoPE positions);
    * flash attention on: no scores; SigLIP peaks in the feed-forward block (``n_ff`` + 3 rows of
      ``n_embd``), Qwen in the attention block (6 rows of ``n_embd``) or, when ``n_ff`` is wide, in the
      feed-forward block (``n_ff`` + 2 rows), plus the inputs;
    * Qwen3-VL's deepstack layers keep their outputs (one ``n_embd`` row each) until the end of the
      graph, where their mergers run after the main merger: with flash attention on that tail can be
      the peak, about 7/4 of a ``proj_dim`` row per patch (the merger output and the concatenations).

    These rows were read off the graphs; where ggml-alloc's fragmentation makes them inexact the counts
    are the ones that reproduce llama.cpp's own numbers for the catalog's towers (see
    ``bench/data/mmproj_cpu.jsonl``: every catalog tower within 2 %).
    """
    n = warmup_patches(t)
    row = 4 * n  # bytes of one F32 value per patch
    scores = 0 if flash_attn else 4 * t.n_head * n * n
    if t.projector == "gemma3":
        return scores + row * (6 * t.n_embd if not flash_attn else t.n_ff + 3 * t.n_embd)
    if t.projector == "qwen3vl_merger":
        inputs = row * (3 * t.patch_size * t.patch_size + 4)
        kept = row * len(t.deepstack_layers) * t.n_embd
        block = row * (7 * t.n_embd if not flash_attn else max(6 * t.n_embd, t.n_ff + 2 * t.n_embd))
        tail = kept + row * 7 * t.proj_dim // 4 if t.deepstack_layers else 0
        return inputs + max(scores + kept + block, tail)
    raise ValueError(f"no compute-buffer rule for projector type {t.projector!r}")


@dataclass(frozen=True)
class ProjectorMemory:
    """What ``--mmproj`` adds on the device that runs the tower."""

    weights: int
    compute: int

    @property
    def total(self) -> int:
        return self.weights + self.compute


def projector_memory(t: VisionTower, *, flash_attn: bool, float_type: GGMLType = GGMLType.F16) -> ProjectorMemory:
    return ProjectorMemory(weight_bytes(t, float_type), compute_buffer_bytes(t, flash_attn=flash_attn))


@dataclass(frozen=True)
class ProjectorPlan:
    """The projector's line in a plan: what it holds and where (a GPU name or "host")."""

    projector: str
    weights_bytes: int
    compute_bytes: int
    device: str
    flash_attn: bool
    mmproj_file: str = ""  # the published file llama-server is given with --mmproj, where known
    mmproj_repo: str = ""

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.compute_bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "projector": self.projector,
            "weights_bytes": self.weights_bytes,
            "compute_bytes": self.compute_bytes,
            "total_bytes": self.total_bytes,
            "device": self.device,
            "flash_attn": self.flash_attn,
            "mmproj_file": self.mmproj_file or None,
            "mmproj_repo": self.mmproj_repo or None,
        }
