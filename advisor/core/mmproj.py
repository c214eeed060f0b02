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
  gemma3 and llama4 use ``image_size``).

The compute buffer is ggml-alloc's peak over the graph, which is a sum of a few live tensors. With
flash attention off the peak sits in an attention block: the F32 scores ``KQ`` and their softmax,
``n_head * n_pos^2`` floats each. With it on, the peak is the feed-forward block or the
projector. The coefficients below were read off the graphs and checked against llama.cpp's own
numbers on the CPU (``bench/mmproj_cpu.py``, data in ``bench/data/mmproj_cpu.jsonl``).
"""

from __future__ import annotations

import math
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
    adapter_dim: int = 0  # llama4: the pixel-shuffle MLP's width (projector_input_dim = projector_output_dim)
    pos_table: int = 0  # gemma4v: position_embedding_size (one x and one y table of that many rows)
    standardize: bool = False  # gemma4v: std_bias / std_scale after pooling
    max_patches: int = 0  # kimik25: in_patch_limit (clip.vision.image_max_pixels = it x patch^2)


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


def _merger(fc1: str, fc2: str, merged: int, out: int) -> list[ProjTensor]:
    """A merged-patch MLP with biases: ``merged -> merged -> out`` (Qwen3-VL's merger and deepstack, Kimi's)."""
    return [
        ProjTensor(fc1 + ".weight", (merged, merged), _FLOAT),
        ProjTensor(fc1 + ".bias", (merged,), _F32),
        ProjTensor(fc2 + ".weight", (merged, out), _FLOAT),
        ProjTensor(fc2 + ".bias", (out,), _F32),
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
        out += [ProjTensor(p_ + "norm.weight", (merged,), _F32), ProjTensor(p_ + "norm.bias", (merged,), _F32)]
        out += _merger(p_ + "fc1", p_ + "fc2", merged, t.proj_dim)
    return [
        *out,
        ProjTensor("v.post_ln.weight", (d,), _F32),
        ProjTensor("v.post_ln.bias", (d,), _F32),
        *_merger("mm.0", "mm.2", merged, t.proj_dim),
    ]


def _pixtral(t: VisionTower) -> list[ProjTensor]:
    # Pixtral (Mistral Small 3.1+, Devstral Small 2): 2-D RoPE (no position table), RMS norms and a
    # SwiGLU feed-forward without biases, then Mistral 3's patch merger (RMS norm + one linear over
    # n_merge^2 patches) and the two-layer GELU adapter; the text model's [IMG_BREAK] embedding rides along.
    d, ff, p = t.n_embd, t.n_ff, t.patch_size
    out = [ProjTensor("v.patch_embd.weight", (p, p, 3, d), _PATCH), ProjTensor("v.pre_ln.weight", (d,), _F32)]
    for i in range(t.n_layer):
        b = f"v.blk.{i}."
        out += [ProjTensor(b + n + ".weight", (d, d), _FLOAT) for n in ("attn_q", "attn_k", "attn_v", "attn_out")]
        out += [ProjTensor(b + "ln1.weight", (d,), _F32), ProjTensor(b + "ln2.weight", (d,), _F32)]
        out += [ProjTensor(b + n + ".weight", (d, ff), _FLOAT) for n in ("ffn_gate", "ffn_up")]
        out.append(ProjTensor(b + "ffn_down.weight", (ff, d), _FLOAT))
    return [
        *out,
        ProjTensor("mm.input_norm.weight", (d,), _F32),
        ProjTensor("mm.patch_merger.weight", (d * t.n_merge * t.n_merge, d), _PATCH),
        ProjTensor("mm.1.weight", (d, t.proj_dim), _FLOAT),
        ProjTensor("mm.2.weight", (t.proj_dim, t.proj_dim), _FLOAT),
        ProjTensor("v.token_embd.img_break", (t.proj_dim,), _F32),
    ]


def _llama4(t: VisionTower) -> list[ProjTensor]:
    # Llama 4: the patch convolution as one linear (no bias), a [CLS] token and a learned position per
    # patch plus [CLS], LayerNorm ViT with biases and 2-D RoPE, then pixel shuffle (n_merge^2 patches per
    # token), a two-layer GELU MLP and one projection, all without biases.
    d, p, side = t.n_embd, t.patch_size, t.image_size // t.patch_size
    out = [
        ProjTensor("v.patch_embd.weight", (3 * p * p, d), _PATCH),
        ProjTensor("v.class_embd", (d,), _F32),
        ProjTensor("v.position_embd.weight", (d, side * side + 1), _F32),
        ProjTensor("v.pre_ln.weight", (d,), _F32),
        ProjTensor("v.pre_ln.bias", (d,), _F32),
        *_vit_layers(t, fused_qkv=False),
        ProjTensor("v.post_ln.weight", (d,), _F32),
        ProjTensor("v.post_ln.bias", (d,), _F32),
    ]
    return [
        *out,
        ProjTensor("mm.model.mlp.1.weight", (d * t.n_merge * t.n_merge, t.adapter_dim), _FLOAT),
        ProjTensor("mm.model.mlp.2.weight", (t.adapter_dim, t.adapter_dim), _FLOAT),
        ProjTensor("mm.model.fc.weight", (t.adapter_dim, t.proj_dim), _FLOAT),
    ]


def _gemma4v(t: VisionTower) -> list[ProjTensor]:
    # Gemma 4: x and y position tables, RMS-normed ViT without biases (per-head Q/K norms, post-attention
    # and post-FFN norms, GELU-gated FFN), a 3x3 average pool and one projection. The small towers'
    # clipping bounds (use_clipped_linears: 4 one-float tensors per linear, under 2 KiB in all) are left
    # out: clip.cpp reads them as optional scalars.
    d, ff, p, hd = t.n_embd, t.n_ff, t.patch_size, t.n_embd // t.n_head
    out = [
        ProjTensor("v.patch_embd.weight", (p, p, 3, d), _PATCH),
        ProjTensor("v.position_embd.weight", (d, t.pos_table, 2), _F32),
    ]
    for i in range(t.n_layer):
        b = f"v.blk.{i}."
        out += [ProjTensor(b + n + ".weight", (d, d), _FLOAT) for n in ("attn_q", "attn_k", "attn_v", "attn_out")]
        out += [ProjTensor(b + n + ".weight", (hd,), _F32) for n in ("attn_q_norm", "attn_k_norm")]
        out += [ProjTensor(b + n + ".weight", (d,), _F32) for n in ("ln1", "attn_post_norm", "ln2", "ffn_post_norm")]
        out += [ProjTensor(b + n + ".weight", (d, ff), _FLOAT) for n in ("ffn_gate", "ffn_up")]
        out.append(ProjTensor(b + "ffn_down.weight", (ff, d), _FLOAT))
    if t.standardize:
        out += [ProjTensor("v.std_bias", (d,), _F32), ProjTensor("v.std_scale", (d,), _F32)]
    return [*out, ProjTensor("mm.input_projection.weight", (d, t.proj_dim), _FLOAT)]


def _kimik25(t: VisionTower) -> list[ProjTensor]:
    # Kimi K2.5 (MoonViT): a learned position grid (image_size / patch per side, interpolated to the
    # image), fused QKV, LayerNorm ViT with biases, then a 2x2 merge, LayerNorm and a two-layer GELU MLP.
    d, p, side = t.n_embd, t.patch_size, t.image_size // t.patch_size
    merged = d * t.n_merge * t.n_merge
    return [
        ProjTensor("v.patch_embd.weight", (p, p, 3, d), _PATCH),
        ProjTensor("v.patch_embd.bias", (d,), _F32),
        ProjTensor("v.position_embd.weight", (d, side, side), _F32),
        *_vit_layers(t, fused_qkv=True),
        ProjTensor("v.post_ln.weight", (d,), _F32),
        ProjTensor("v.post_ln.bias", (d,), _F32),
        ProjTensor("mm.input_norm.weight", (d,), _F32),
        ProjTensor("mm.input_norm.bias", (d,), _F32),
        *_merger("mm.1", "mm.2", merged, t.proj_dim),
    ]


_INVENTORIES = {
    "kimik25": _kimik25,
    "gemma3": _gemma3,
    "qwen3vl_merger": _qwen3vl,
    "pixtral": _pixtral,
    "llama4": _llama4,
    "gemma4v": _gemma4v,
}
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
    if t.projector in ("gemma3", "llama4"):
        return t.image_size
    if t.projector == "kimik25":  # sqrt(image_max_pixels)
        return math.isqrt(t.max_patches * t.patch_size * t.patch_size)
    if t.projector not in _WARMUP_TOKENS_PER_SIDE:
        raise ValueError(f"no warm-up image size for projector type {t.projector!r}")
    side = _WARMUP_TOKENS_PER_SIDE[t.projector]
    return side * t.patch_size * t.n_merge


# set_warmup_n_tokens(n*n) in load_hparams: n merged tokens per side of the warm-up image.
_WARMUP_TOKENS_PER_SIDE = {"qwen3vl_merger": 46, "pixtral": 16, "gemma4v": 16}


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

    * Pixtral, Llama 4, Gemma 4 (``gemma4v``) and Kimi K2.5 (``kimik25``, whose warm-up image is its
      largest, 128 x 128 patches: 16 GiB of scores with flash attention off) follow the same pattern
      with their own inputs: 5 (kimik25: 7) rows of ``n_embd`` beside the scores, and a gated (pixtral,
      gemma4v: ``3 n_ff + 3 n_embd``) or plain (llama4, kimik25: ``n_ff + 2 n_embd``) feed-forward
      block; see each branch for what stays live besides.

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
    if t.projector == "pixtral":
        # inputs: the raw image, two position rows and the [IMG_BREAK] rows (one proj_dim row per merged
        # row of the image, allocated up front); the SwiGLU block holds gate, up and their product
        side = warmup_image_size(t) // t.patch_size
        inputs = row * (3 * t.patch_size * t.patch_size + 2) + 4 * t.proj_dim * (side // t.n_merge)
        ffn = row * (3 * t.n_ff + 3 * t.n_embd)
        if flash_attn:
            return inputs + ffn + 2 * n * t.n_embd  # plus one F16 copy of the layer's n_embd rows
        return inputs + max(scores + row * 5 * t.n_embd, ffn)
    if t.projector == "llama4":
        # n + 1 positions ([CLS]); the raw image (3 x patch^2 floats per patch) stays live throughout; the
        # attention block holds 5 rows of n_embd, the GELU feed-forward n_ff + 2
        pos = 4 * (n + 1)
        scores = 0 if flash_attn else 4 * t.n_head * (n + 1) ** 2
        raw = row * 3 * t.patch_size * t.patch_size
        return raw + max(scores + pos * 5 * t.n_embd, pos * (t.n_ff + 2 * t.n_embd))
    if t.projector == "gemma4v":
        # the patch convolution's im2col (3 x patch^2 floats per patch) leaves a hole that later n_embd rows
        # reuse only when they fit in it; plus the two position rows
        d, p2 = t.n_embd, 3 * t.patch_size * t.patch_size
        hole = row * ((p2 if d > p2 else 0) + 2)
        ffn = row * (3 * t.n_ff + 3 * d)
        return hole + (ffn if flash_attn else max(scores + row * 5 * d, ffn))
    if t.projector == "kimik25":
        # the raw image and two position rows, then Qwen-like fused-QKV attention (7 rows of n_embd)
        # beside the scores; with flash attention 6 rows, or the feed-forward block (n_ff + 2 rows)
        d, inputs = t.n_embd, row * (3 * t.patch_size * t.patch_size + 2)
        return inputs + (scores + row * 7 * d if not flash_attn else row * max(6 * d, t.n_ff + 2 * d))
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
