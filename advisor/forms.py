"""Forms: validate what people type, with bounds and helpful messages; no arithmetic.

The machine form is a GET form, so the URL carries the whole spec and results can be
shared and bookmarked. Every field is bounded (the API shares these forms), and names the
catalog does not know come back with near matches from the catalog itself.
"""

from __future__ import annotations

import difflib
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.http import QueryDict

from advisor.catalog.hardware import GIB, UnknownHardware, find_gpu, unified_memory_in_name
from advisor.catalog.machines import find_cpu
from advisor.catalog.models_catalog import load_models
from advisor.catalog.quants import load_runtimes
from advisor.fit.args import DEFAULT_MIN_TPS, MAX_COUNT, MAX_CTX, MAX_STR, MIN_TPS_RANGE
from advisor.probe.spec import PROBE_MAX_CTX, PROBE_MAX_GPU_LAYERS, PROBE_MIN_CTX

MAX_TEXT = MAX_STR  # any free-text parameter


class QueryCheckbox(forms.CheckboxInput):
    """A checkbox that a URL or the API may also set: "0", "off", "no" and "false" mean unticked.
    (Django's own reads any other non-empty string, "0" included, as ticked.)"""

    OFF = frozenset({"0", "off", "no", "false"})

    def value_from_datadict(self, data: Any, files: Any, name: str) -> bool:
        value = data.get(name)
        if isinstance(value, str) and value.strip().lower() in self.OFF:
            return False
        return super().value_from_datadict(data, files, name)


USE_CASES = [
    ("", "Any use"),
    ("chat", "Chat"),
    ("coding", "Coding"),
    ("long-documents", "Long documents"),
    ("reasoning", "Reasoning"),
]
SIZES = [
    ("", "Any size"),
    ("4", "up to 4B"),
    ("9", "up to 9B"),
    ("16", "up to 16B"),
    ("35", "up to 35B"),
    ("80", "up to 80B"),
    ("200", "up to 200B"),
]
SORTS = [
    ("quality", "Best quality"),
    ("speed", "Fastest decode"),
    ("size", "Smallest memory"),
    ("context", "Longest context"),
]


def runtime_choices() -> list[tuple[str, str]]:
    return [(r.id, r.title) for r in load_runtimes()]


def kv_type_choices() -> list[tuple[str, str]]:
    names: dict[str, None] = {}
    for r in load_runtimes():
        names.update(dict.fromkeys(r.kv_types))
    return [("", "Runtime default"), *((name, name) for name in names)]


def _gb_field(label: str, lo: float, hi: float, help_text: str = "") -> forms.FloatField:
    return forms.FloatField(
        label=label, required=False, min_value=lo, max_value=hi, help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )  # fmt: skip


def _unknown(exc: UnknownHardware, code: str) -> forms.ValidationError:
    """The catalog's message, with its near matches kept for the API's ``suggestions``."""
    error = forms.ValidationError(str(exc), code=code)
    error.suggestions = list(exc.suggestions)  # type: ignore[attr-defined]
    return error


class MachineForm(forms.Form):
    """A machine and how it will be used; drives recommendations, model pages and the API."""

    gpu = forms.CharField(
        label="GPU", required=False, max_length=MAX_TEXT,
        help_text="Search by name: “RTX 4090”, “M4 Max 128GB”, “H100”. Leave empty for CPU only.",
        widget=forms.TextInput(attrs={"list": "gpu-options", "autocomplete": "off", "spellcheck": "false"}),
    )  # fmt: skip
    gpu_count = forms.IntegerField(label="GPU count", required=False, min_value=1, max_value=MAX_COUNT)
    vram = _gb_field("VRAM per GPU (GB)", 0.25, 4096, "Overrides the catalog's memory size.")
    bandwidth = _gb_field("GPU bandwidth (GB/s)", 1, 50_000, "Overrides the catalog's memory bandwidth.")
    ram = _gb_field("System RAM (GB)", 0.5, 65_536)
    cpu = forms.CharField(
        label="CPU", required=False, max_length=MAX_TEXT,
        help_text="Optional: its memory bandwidth serves layers offloaded to RAM.",
    )  # fmt: skip
    ctx = forms.IntegerField(label="Context length (tokens)", required=False, min_value=256, max_value=MAX_CTX)
    kv_type = forms.ChoiceField(label="KV-cache type", required=False, choices=kv_type_choices)
    runtime = forms.ChoiceField(label="Runtime", required=False, choices=runtime_choices)
    use_case = forms.ChoiceField(label="Use case", required=False, choices=USE_CASES)
    users = forms.IntegerField(
        label="Parallel users", required=False, min_value=1, max_value=MAX_COUNT,
        help_text="More than 1: a llama-server plan for a team, each user with the context above.",
    )  # fmt: skip
    min_tps = forms.FloatField(
        label="Minimum speed (tok/s)", required=False, min_value=MIN_TPS_RANGE[0], max_value=MIN_TPS_RANGE[1],
        help_text="Plans that decode slower than this rank below every faster one.",
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )  # fmt: skip
    draft = forms.CharField(
        label="Draft model", required=False, max_length=MAX_TEXT,
        help_text="Speculative decoding: empty picks one (or the model's MTP head), “none”, or a catalog id.",
    )  # fmt: skip
    carveout = _gb_field("APU carve-out (GB)", 0, 512, "AMD APUs: the BIOS UMA frame buffer (dedicated VRAM).")
    gtt = _gb_field("APU GTT limit (GB)", 0, 4096, "AMD APUs: empty = the kernel's default, half the RAM left.")
    image = forms.BooleanField(
        label="Include image input", required=False, widget=QueryCheckbox,
        help_text="Multimodal models: count the vision projector (--mmproj) and its compute buffer.",
    )  # fmt: skip

    ram_from_gpu = ""  # the RAM a unified-memory chip's name sets (clean), as the RAM field shows it

    DEFAULTS: dict[str, Any] = {
        "gpu_count": 1, "ram": 32.0, "ctx": 8192, "kv_type": "", "runtime": "llama-server",
        "use_case": "", "users": 1, "min_tps": DEFAULT_MIN_TPS,
    }  # fmt: skip

    def clean_gpu(self) -> str:
        name = self.cleaned_data["gpu"].strip()
        if name:
            try:
                find_gpu(name)
            except UnknownHardware as exc:
                raise _unknown(exc, "unknown_gpu") from exc
        return name

    def clean_draft(self) -> str:
        name = self.cleaned_data["draft"].strip()
        ids = {m.id for m in load_models()}
        if name and name.lower() not in ("auto", "none") and name not in ids:
            near = difflib.get_close_matches(name, sorted(ids), n=5, cutoff=0.5)
            error = forms.ValidationError(
                f"Unknown draft model {name!r}: a catalog id, auto or none."
                + (f" Did you mean: {', '.join(near)}?" if near else ""), code="unknown_draft",
            )  # fmt: skip
            error.suggestions = near  # type: ignore[attr-defined]
            raise error
        return name

    def clean_cpu(self) -> str:
        name = self.cleaned_data["cpu"].strip()
        if name:
            try:
                find_cpu(name)
            except UnknownHardware as exc:
                raise _unknown(exc, "unknown_cpu") from exc
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, default in self.DEFAULTS.items():
            if name in data and data[name] in (None, ""):
                data[name] = default
        # "M3 16GB", "MacBook Air M3 16GB": a unified-memory chip's size is the machine's RAM.
        named = unified_memory_in_name(data.get("gpu") or "")
        if named:
            data["ram"] = named / GIB
            # and the form says so: shown again with a page, and through the results' data-ram-from-gpu (app.js)
            self.ram_from_gpu = f"{named / GIB:g}"
            if isinstance(self.data, QueryDict):
                shown = self.data.copy()
                shown["ram"] = self.ram_from_gpu
                self.data = shown
        carveout, ram = data.get("carveout"), data.get("ram")
        if carveout and ram and carveout >= ram:
            self.add_error(
                "carveout", f"The carve-out is taken from RAM: it must be less than the {ram:g} GB installed."
            )
        runtime = data.get("runtime")
        kv_type = data.get("kv_type")
        if runtime and kv_type:
            allowed = next((r.kv_types for r in load_runtimes() if r.id == runtime), ())
            if kv_type not in allowed:
                self.add_error("kv_type", f"{runtime} offers the KV-cache types {', '.join(allowed)}, not {kv_type}.")
        return data


class FilterForm(forms.Form):
    """How to narrow and order the recommendations. Unknown values are errors, not silently ignored."""

    family = forms.CharField(label="Family", required=False, max_length=MAX_TEXT)
    size = forms.ChoiceField(label="Size", required=False, choices=SIZES)
    license = forms.CharField(label="License", required=False, max_length=MAX_TEXT)
    sort = forms.ChoiceField(label="Sort by", required=False, choices=SORTS)
    limit = forms.IntegerField(label="How many", required=False, min_value=1, max_value=500)

    def _known(self, name: str, values: set[str]) -> str:
        value = self.cleaned_data[name].strip()
        if value and value not in values:
            near = difflib.get_close_matches(value.lower(), sorted(values), n=5, cutoff=0.5)
            error = forms.ValidationError(
                f"Unknown {name} {value!r}." + (f" Did you mean: {', '.join(near)}?" if near else ""), code="unknown"
            )
            error.suggestions = near  # type: ignore[attr-defined]
            raise error
        return value

    def clean_family(self) -> str:
        return self._known("family", {m.family for m in load_models()})

    def clean_license(self) -> str:
        return self._known("license", {m.license for m in load_models()})

    DEFAULT_LIMIT = 25


class ProbeForm(forms.Form):
    """Start a live llama.cpp probe: the real SmolLM2, or a synthetic stand-in of a catalog model."""

    SOURCES = [("smollm2", "SmolLM2-135M (real weights)"), ("standin", "Stand-in of a catalog model")]

    source = forms.ChoiceField(label="What to run", choices=SOURCES, initial="smollm2")
    model_id = forms.CharField(label="Catalog model", required=False, max_length=MAX_TEXT)
    quant = forms.CharField(label="Quantization", required=False, max_length=32, initial="Q4_K_M")
    ctx = forms.IntegerField(label="Context", min_value=PROBE_MIN_CTX, max_value=PROBE_MAX_CTX, initial=4096)
    gpu_layers = forms.IntegerField(
        label="GPU layers (-1 = all)", min_value=-1, max_value=PROBE_MAX_GPU_LAYERS, initial=-1, required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("gpu_layers") is None:
            data["gpu_layers"] = -1
        if data.get("source") == "standin" and not data.get("model_id"):
            self.add_error("model_id", "Choose the catalog model to stand in for.")
        return data


repo_or_url = RegexValidator(
    r"^(https://huggingface\.co/\S+|[A-Za-z0-9][\w.-]*/[\w.-]+)$",
    "Enter a Hugging Face repo id (“Qwen/Qwen3-8B”) or a GGUF URL on huggingface.co.",
)


class ImportForm(forms.Form):
    source = forms.CharField(
        label="Hugging Face repo id or GGUF URL", max_length=MAX_TEXT, validators=[repo_or_url],
        widget=forms.TextInput(attrs={"placeholder": "Qwen/Qwen3-8B", "spellcheck": "false"}),
    )  # fmt: skip


class CheckForm(forms.Form):
    """Check my setup: a pasted (or uploaded) llama.cpp log, llama-bench result or `ollama ps`. The paste's
    size and encoding are checked by ``pages.check.paste_text`` (413/400 with a message)."""

    text = forms.CharField(
        label="Paste llama.cpp output, llama-bench -o md/json, or ollama ps", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "autocomplete": "off"}),
    )  # fmt: skip
    file = forms.FileField(label="…or upload the log file", required=False)
    gpu = forms.CharField(
        label="GPU", required=False, max_length=MAX_TEXT, help_text="when the paste names none (H200, RTX 4090)"
    )
    model = forms.CharField(
        label="Catalog model", required=False, max_length=MAX_TEXT, help_text="when the file name does not say"
    )
    cpu = forms.CharField(label="CPU", required=False, max_length=MAX_TEXT, help_text="for layers held in RAM")
    consent = forms.BooleanField(
        label="Store these measurements to calibrate this GPU's speed predictions", required=False, initial=False
    )
