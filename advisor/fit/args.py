"""One parser for the `fit` flags, shared by `manage.py fit` and `GET /api/fit`.

Every value is bounded and every error names the field and what is accepted, so that the
CLI can exit with code 2 and the API can answer 400, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from advisor.core.memory import KV_CACHE_TYPES
from advisor.core.recommend import options as recommend_options
from advisor.core.runtimes import RUNTIMES as RUNTIME_PRESETS

MAX_CTX = 10_000_000  # tokens: the longest context any form, flag or API parameter accepts
MAX_COUNT = 16  # GPUs and parallel users
MAX_GPU_LAYERS = 1000  # -ngl: more than any model has, as llama.cpp accepts
MAX_STR = 200
# The minimum decode speed (tok/s) a plan needs to count as usable: the form's field, the API's min_tps.
MIN_TPS_RANGE = (0.5, 1000.0)
DEFAULT_MIN_TPS = recommend_options.DEFAULT_MIN_TPS
KV_TYPES = KV_CACHE_TYPES
RUNTIMES = tuple(RUNTIME_PRESETS)
ON_OFF_AUTO = ("on", "off", "auto")


class FitArgError(ValueError):
    """A bad fit parameter: ``field`` names it, the message says what is accepted."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FitParams:
    model: str | None = None
    hf_config: str | None = None
    gguf: str | None = None
    quant: str | None = None
    ctx: int = 8192
    ubatch: int = 512
    kv_type: str | None = None  # None: the runtime's default
    flash_attn: str | None = None  # "on" | "off" | "auto"; None: the runtime's default
    swa_full: bool | None = None
    gpu_layers: int | None = None  # None: all layers
    n_cpu_moe: int | None = None  # --n-cpu-moe; None: the fewest that let every layer sit on the GPUs
    parallel: int = 1
    kv_unified: bool | None = None  # --kv-unified; None: the runtime's default
    runtime: str = "llama-server"
    gpus: tuple[str, ...] = ()
    vram_gib: float | None = None
    bandwidth_gbps: float | None = None
    ram_gib: float | None = None
    cpu: str | None = None  # a CPU name (its memory bandwidth serves layers in system RAM)
    image: bool = False  # count the vision projector (--mmproj) of a multimodal model
    mmproj_offload: bool = True  # False: --no-mmproj-offload, the projector runs on the CPU


def _text(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise FitArgError(field, "must not be empty")
    if len(value) > MAX_STR:
        raise FitArgError(field, f"must be at most {MAX_STR} characters")
    return value


def _int(field: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FitArgError(field, f"must be a whole number between {low} and {high}, got {value!r}") from None
    if not low <= number <= high:
        raise FitArgError(field, f"must be between {low} and {high}, got {number}")
    return number


def _float(field: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FitArgError(field, f"must be a number between {low:g} and {high:g}, got {value!r}") from None
    if not low <= number <= high:  # also rejects NaN
        raise FitArgError(field, f"must be between {low:g} and {high:g}, got {value}")
    return number


def _choice(field: str, value: str, choices: Sequence[str]) -> str:
    value = value.strip()
    if value in choices:
        return value
    lowered = {c.lower(): c for c in choices}
    if value.lower() in lowered:
        return lowered[value.lower()]
    near = difflib.get_close_matches(value.lower(), list(lowered), n=1)
    hint = f" (did you mean {lowered[near[0]]}?)" if near else ""
    raise FitArgError(field, f"must be one of {', '.join(choices)}; got {value[:MAX_STR]!r}{hint}")


_SWITCH = ("on", "off", "1", "0", "true", "false")


def parse_fit_params(values: Mapping[str, Sequence[str]], quants: Sequence[str] = ()) -> FitParams:
    """Parse fit flags given as name -> list of strings (a QueryDict or an argparse namespace).

    ``quants`` lists the accepted quant names; empty accepts any (checked later by the engine).
    """

    def one(name: str) -> str | None:
        items = [v for v in values.get(name, ()) if v is not None and v != ""]
        if len(items) > 1:
            raise FitArgError(name, "was given more than once")
        return items[0] if items else None

    sources = {name: one(name) for name in ("model", "hf_config", "gguf")}
    given = [name for name, value in sources.items() if value]
    if len(given) != 1:
        raise FitArgError("model", "give exactly one of model (a catalog id), hf_config (a path) or gguf")
    params: dict[str, object] = {given[0]: _text(given[0], str(sources[given[0]]))}

    if (quant := one("quant")) is not None:
        params["quant"] = _choice("quant", quant, quants) if quants else _text("quant", quant)
    if (ctx := one("ctx")) is not None:
        params["ctx"] = _int("ctx", ctx, 1, MAX_CTX)
    if (ubatch := one("ubatch")) is not None:
        params["ubatch"] = _int("ubatch", ubatch, 1, 65536)
    if (kv := one("kv_type")) is not None:
        params["kv_type"] = _choice("kv_type", kv, KV_TYPES)
    if (fa := one("flash_attn")) is not None:
        params["flash_attn"] = _choice("flash_attn", fa, ON_OFF_AUTO)
    if (swa := one("swa_full")) is not None:
        params["swa_full"] = _choice("swa_full", swa, ("on", "off")) == "on"
    if (layers := one("gpu_layers")) is not None and layers.strip().lower() != "all":
        params["gpu_layers"] = _int("gpu_layers", layers, 0, MAX_GPU_LAYERS)
    if (moe := one("n_cpu_moe")) is not None and moe.strip().lower() != "auto":
        params["n_cpu_moe"] = _int("n_cpu_moe", moe, 0, MAX_GPU_LAYERS)
    if (parallel := one("parallel")) is not None:
        params["parallel"] = _int("parallel", parallel, 1, 256)
    if (runtime := one("runtime")) is not None:
        params["runtime"] = _choice("runtime", runtime, RUNTIMES)
    gpus = tuple(_text("gpu", g) for g in values.get("gpu", ()) if g)
    if len(gpus) > MAX_COUNT:
        raise FitArgError("gpu", f"at most {MAX_COUNT} GPUs")
    params["gpus"] = gpus
    if (vram := one("vram")) is not None:
        params["vram_gib"] = _float("vram", vram, 0.25, 4096)
    if (bandwidth := one("bandwidth")) is not None:
        params["bandwidth_gbps"] = _float("bandwidth", bandwidth, 1, 100_000)
    if (ram := one("ram")) is not None:
        params["ram_gib"] = _float("ram", ram, 0.25, 65536)
    if (cpu := one("cpu")) is not None:
        params["cpu"] = _text("cpu", cpu)
    for flag, field in (("image", "image"), ("mmproj_offload", "mmproj_offload")):
        if (value := one(flag)) is not None:
            params[field] = _choice(flag, value, _SWITCH) in ("on", "1", "true")
    return FitParams(**params)  # type: ignore[arg-type]
