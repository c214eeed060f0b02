"""The vision towers of the catalog's multimodal models (``data/mmproj.json``, sources inside)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from advisor.core.mmproj import VisionTower

_PATH = Path(__file__).parent / "data" / "mmproj.json"


@dataclass(frozen=True)
class ModelProjector:
    """A catalog model's projector: its tower and, where known, the published mmproj file."""

    tower: VisionTower
    image_tokens: int  # the most tokens one image becomes
    mmproj_repo: str = ""
    mmproj_file: str = ""


@lru_cache(maxsize=1)
def load_projectors() -> dict[str, ModelProjector]:
    """Model id -> its projector; the projector's output width is the model's own hidden size."""
    from advisor.catalog.models_catalog import get_model

    doc = json.loads(_PATH.read_text())
    out: dict[str, ModelProjector] = {}
    for model_id, entry in doc["models"].items():
        t = doc["towers"][entry["tower"]]
        tower = VisionTower(
            projector=t["projector"],
            n_embd=t["n_embd"],
            n_ff=t["n_ff"],
            n_layer=t["n_layer"],
            n_head=t["n_head"],
            patch_size=t["patch_size"],
            image_size=t["image_size"],
            proj_dim=get_model(model_id).hidden_size,
            n_merge=t["n_merge"],
            deepstack_layers=tuple(t.get("deepstack_layers", ())),
            adapter_dim=t.get("adapter_dim", 0),
            pos_table=t.get("pos_table", 0),
            standardize=t.get("standardize", False),
            max_patches=t.get("max_patches", 0),
        )
        out[model_id] = ModelProjector(
            tower, t["image_tokens"], entry.get("mmproj_repo", ""), entry.get("mmproj_file", "")
        )
    return out


def load_towers() -> dict[str, VisionTower]:
    return {model_id: p.tower for model_id, p in load_projectors().items()}


def projector_for(model_id: str) -> ModelProjector | None:
    """The model's projector, or None for a text-only model."""
    return load_projectors().get(model_id)
