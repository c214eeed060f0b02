"""The machine form's values as one typed spec, and the machine and plan inputs made from it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from django import forms as django_forms
from django.http import QueryDict

from advisor.catalog.hardware import GIB, find_gpu, search_gpus
from advisor.catalog.machines import search_cpus
from advisor.core.hardware_spec import CPUSpec, GPUSpec, Machine
from advisor.fit.args import DEFAULT_MIN_TPS, FitParams
from advisor.fit.engine import machine_from_params


@dataclass(frozen=True)
class Spec:
    """The machine form's cleaned values (the URL's query string, parsed and bounded)."""

    gpu: str = ""
    gpu_count: int = 1
    vram: float | None = None  # GB per GPU (unified: the GPU's share), overriding the catalog
    bandwidth: float | None = None  # GB/s, overriding the catalog
    ram: float = 32.0  # GB
    cpu: str = ""
    ctx: int = 8192
    kv_type: str = ""  # "": the recommender's default (q8_0 where flash attention allows it)
    runtime: str = "llama-server"
    use_case: str = ""
    users: int = 1
    min_tps: float = DEFAULT_MIN_TPS  # decode tok/s a plan needs to be usable
    draft: str = ""  # "": the catalog's drafter or MTP head; "none"; or a catalog id
    carveout: float | None = None  # AMD APU: BIOS carve-out in GB
    gtt: float | None = None  # AMD APU: GTT limit in GB (None: the kernel's default)
    image: bool = False  # count the vision projector (--mmproj) of multimodal models

    @classmethod
    def from_cleaned(cls, data: dict[str, Any]) -> Spec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names and v is not None})

    def query(self, **extra: str | int) -> str:
        """The query string that reproduces this spec (for links and bookmarks)."""
        values: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(extra)
        return urlencode({k: v for k, v in values.items() if v not in (None, "") and v is not False})

    def fit_params(self, model: str | None = None, quant: str | None = None, ctx: int | None = None) -> FitParams:
        """The plan's inputs for ``model`` at ``quant`` on this machine: what ``manage.py fit`` takes.
        Each of ``users`` gets the whole context, as ``-c ctx*users -np users`` gives (and the recommender counts)."""
        return FitParams(
            model=model or "", quant=quant, ctx=(ctx or self.ctx) * self.users, kv_type=self.kv_type or None,
            parallel=self.users, runtime=self.runtime, gpus=(self.gpu,) * self.gpu_count if self.gpu else (),
            vram_gib=self.vram, bandwidth_gbps=self.bandwidth, ram_gib=self.ram, cpu=self.cpu or None,
            image=self.image,
        )  # fmt: skip

    @property
    def label(self) -> str:
        gpu = f"{self.gpu_count} x {self.gpu}" if self.gpu and self.gpu_count > 1 else self.gpu or "CPU only"
        return f"{gpu}, {self.ram:g} GB RAM"


def machine_for(spec: Spec) -> Machine:
    """The machine every engine reads for a validated spec (names were checked by the form)."""
    return machine_from_params(spec.fit_params())


@dataclass(frozen=True)
class MachineSummary:
    """What the pages and the API say about the machine a spec describes."""

    gpus: tuple[dict[str, object], ...]
    vram_bytes: int
    ram_bytes: int
    unified: bool
    cpu: str | None
    cpu_bandwidth_gbps: float | None

    def to_dict(self) -> dict[str, object]:
        return {"gpus": list(self.gpus), "vram_bytes": self.vram_bytes, "ram_bytes": self.ram_bytes,
                "unified": self.unified, "cpu": self.cpu, "cpu_bandwidth_gbps": self.cpu_bandwidth_gbps}  # fmt: skip


def machine_summary(machine: Machine) -> MachineSummary:
    gpus: tuple[dict[str, object], ...] = tuple(
        {"name": g.name, "count": n, "vram_bytes": g.usable_bytes, "bandwidth_gbps": g.bandwidth_gbps,
         "unified": g.unified_memory}
        for g, n in machine.gpus
    )  # fmt: skip
    return MachineSummary(gpus, machine.total_vram_bytes, machine.ram_bytes, machine.unified_memory,
                          machine.cpu.name if machine.cpu else None, machine.cpu_bandwidth_gbps)  # fmt: skip


def spec_from_host() -> dict[str, str]:
    """Form values describing the server host (psutil, NVML, Apple sysctl), for "Use the server's hardware"."""
    from advisor.hardware import detect_host

    report = detect_host()
    values: dict[str, str] = {"ram": f"{report.ram_bytes / GIB:.0f}"}
    if report.machine.cpu and report.machine.cpu.bandwidth_gbps:
        values["cpu"] = report.machine.cpu.name
    if report.machine.gpus:
        gpu, count = report.machine.gpus[0]
        values.update(gpu=gpu.name, gpu_count=str(count))
        if not gpu.unified_memory:
            values["vram"] = f"{gpu.vram_bytes / GIB:.1f}"
    return values


def cpu_choices(query: str, limit: int = 80) -> list[CPUSpec]:
    """The CPU field's suggestions: every catalog CPU when nothing is typed yet."""
    return search_cpus(query.strip()[:200], limit)


def gpu_choices(query: str, limit: int = 15) -> list[GPUSpec]:
    query = query.strip()[:200]
    return search_gpus(query, limit) if query else []


def gpu_list(query: str) -> list[GPUSpec]:
    """The GPU page: what matches the query, or the popular GPUs before anything is typed."""
    if query.strip():
        return gpu_choices(query, 50)
    from advisor.pages.results import POPULAR_GPUS

    return [find_gpu(name) for name in POPULAR_GPUS]


@dataclass(frozen=True)
class FormError:
    field: str
    label: str
    message: str
    suggestions: tuple[str, ...] = ()


def form_errors(*bound_forms: django_forms.Form) -> list[FormError]:
    errors = []
    for form in bound_forms:
        for name, found in form.errors.as_data().items():
            label = form.fields[name].label if name in form.fields else "Form"
            for error in found:
                errors.append(FormError(name, str(label), " ".join(error.messages),
                                        tuple(getattr(error, "suggestions", ()))))  # fmt: skip
    return errors


def with_params(params: QueryDict, **values: object) -> str:
    query = params.copy()
    for key, value in values.items():
        query[key] = str(value)
    return str(query.urlencode())


def machine_forms(params: QueryDict) -> tuple[django_forms.Form, django_forms.Form, bool]:
    """(machine form, filter form, whether any machine field was given)."""
    from advisor.forms import FilterForm, MachineForm

    bound = any(params.get(name) not in (None, "") for name in MachineForm.base_fields)
    if bound:
        # Fields left out of the URL take their defaults, so the form shows what was computed.
        data = params.copy()
        for name, value in MachineForm.DEFAULTS.items():
            if data.get(name) in (None, "") and name != "kv_type":
                data[name] = value
        form = MachineForm(data)
    else:
        form = MachineForm(initial=MachineForm.DEFAULTS)
    return form, FilterForm(params), bound
