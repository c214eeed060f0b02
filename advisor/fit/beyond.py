"""Beyond one user's plan: serving a team, speculative decoding, each runtime's defaults, AMD APU budgets.

``beyond(params, extra, planner)`` takes the plan's own inputs and builds each section from further plans
of the same machine (made through ``planner``, normally ``services.plan_for``), so every figure is a
plan's figure. ``manage.py fit``, ``GET /api/fit`` and the model page show the same ``Beyond``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from advisor.core import apu, draft, serving
from advisor.core.plan import Plan
from advisor.core.runtimes import (
    LLAMA_SERVER_SOURCE,
    LMSTUDIO_GUARDRAIL_SOURCE,
    OLLAMA_CTX_SOURCE,
    ollama_default_ctx,
    runtime,
)
from advisor.core.units import GIB
from advisor.fit.args import MAX_COUNT, FitArgError, FitParams, _choice, _float, _int, _text

Planner = Callable[[FitParams], Plan]


@dataclass(frozen=True)
class BeyondParams:
    """``users``: a team plan for that many users, each with the plan's context (1: none).
    ``draft``: "auto" (the catalog's drafter or MTP head), "none", or a catalog id.
    ``carveout_gib``/``gtt_gib``: an AMD APU's BIOS carve-out and GTT limit (None: not an APU question)."""

    users: int = 1
    kv_unified: bool = False
    draft: str = "auto"
    carveout_gib: float | None = None
    gtt_gib: float | None = None


def parse_beyond(values: Mapping[str, Sequence[str]]) -> BeyondParams:
    """The extra flags (``users``, ``kv_unified``, ``draft``, ``carveout``, ``gtt``) as name -> strings."""

    def one(name: str) -> str | None:
        items = [v for v in values.get(name, ()) if v not in (None, "")]
        return items[-1] if items else None

    out = BeyondParams()
    if (users := one("users")) is not None:
        out = replace(out, users=_int("users", users, 1, MAX_COUNT * 16))
    if (unified := one("kv_unified")) is not None:
        out = replace(out, kv_unified=_choice("kv_unified", unified, ("on", "off")) == "on")
    if (name := one("draft")) is not None:
        out = replace(out, draft=_text("draft", name))
    if (carve := one("carveout")) is not None:
        out = replace(out, carveout_gib=_float("carveout", carve, 0, 512))
    if (gtt := one("gtt")) is not None:
        out = replace(out, gtt_gib=_float("gtt", gtt, 0, 4096))
    return out


@dataclass(frozen=True)
class RuntimeLine:
    runtime: str
    text: str
    fits: bool | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "text": self.text, "fits": self.fits, "source": self.source}


@dataclass(frozen=True)
class ApuBackend:
    backend: str
    budget_bytes: int
    fits: bool
    placement: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "budget_bytes": self.budget_bytes, "fits": self.fits,
                "placement": self.placement, "note": self.note}  # fmt: skip


@dataclass(frozen=True)
class ApuSection:
    budget: apu.ApuBudget
    backends: tuple[ApuBackend, ...]
    advice: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.budget.to_dict(), "backends": [b.to_dict() for b in self.backends], "advice": self.advice}


@dataclass(frozen=True)
class Beyond:
    team: serving.TeamPlan | None = None
    draft: draft.DraftPlan | None = None
    draft_note: str = ""  # why there is no drafter
    defaults: tuple[RuntimeLine, ...] = ()
    apu: ApuSection | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "team": None if self.team is None else self.team.to_dict(),
            "draft": None if self.draft is None else self.draft.to_dict(), "draft_note": self.draft_note,
            "runtime_defaults": [d.to_dict() for d in self.defaults],
            "apu": None if self.apu is None else self.apu.to_dict(),
        }  # fmt: skip


def _capacity(plan: Plan) -> int:
    return sum(d.capacity_bytes or 0 for d in plan.memory.devices if d.name != "host")


def team_plan(params: FitParams, users: int, unified: bool, plan_for: Planner) -> serving.TeamPlan:
    """llama-server for ``users`` users, each with ``params.ctx`` tokens: -c ctx*users -np users."""
    plan = plan_for(replace(params, ctx=params.ctx * users, parallel=users, kv_unified=unified,
                            runtime="llama-server"))  # fmt: skip
    c = plan.memory.context
    per_slot = c.n_ctx if c.kv_unified else c.n_ctx_seq
    depth = min(params.ctx, per_slot) // 2  # halfway through each user's context
    speed = serving.team_speed(plan.speed.decode_at, plan.speed.prefill_tps, users, depth, plan.speed.backend or "cpu")
    devices = tuple((d.name, d.total_bytes, d.capacity_bytes) for d in plan.memory.devices)
    host = plan.memory.cpu_bytes
    notes = [n for n in (serving.cache_ram_note(host, plan.ram_bytes),) if n]
    if not plan.fits:
        notes.append(f"{users} users with {params.ctx} tokens each do not fit: fewer users, a shorter context or "
                     "a quantized KV cache (-ctk q8_0 -ctv q8_0)")  # fmt: skip
    flags = serving.server_flags(c.n_ctx, users, c.kv_unified, plan.n_gpu_layers, plan.n_cpu_moe, plan.kv_type,
                                 plan.flash_attn)  # fmt: skip
    return serving.TeamPlan(users, users, c.kv_unified, c.n_ctx, per_slot, plan.memory.kv_cache_bytes,
                            plan.memory.gpu_bytes, host, devices, plan.fits, serving.CACHE_RAM_BYTES,
                            plan.ram_bytes, speed, flags, tuple(notes))  # fmt: skip


def _candidates() -> list[draft.Candidate]:
    from advisor.catalog.models_catalog import load_models

    models = load_models()
    return [draft.Candidate(m.id, m.family, m.vocab_size, m.params_total, m.params_active,
                            m.id.endswith("-base") or not any(t in m.id for t in ("instruct", "-it", "chat")))
            for m in models]  # fmt: skip


def verify_seconds(plan: Plan, k: int) -> float:
    """The plan's step over ``k + 1`` tokens of one sequence (the shapes of ``k + 1`` sequences' decode): the
    target's verify step, or a draft model's re-evaluation of the verified tokens."""
    t1 = 1 / (plan.speed.decode_tps or 1)
    return serving.step_seconds(t1, t1, plan.speed.prefill_tps or 1, k + 1, plan.speed.backend or "cpu")


def _best_k(plan: Plan, draft_step_s: float, reeval: Callable[[int], float],
            acc: draft.Acceptance) -> tuple[draft.SpecSpeed, draft.SpecSpeed]:  # fmt: skip
    """The best draft length up to the one the acceptance was measured at, and llama.cpp's default (3)."""
    speeds = {k: draft.speculative_tps(verify_seconds(plan, k), draft_step_s, acc.rate, k, reeval(k))
              for k in range(1, max(acc.k_measured, draft.DEFAULT_DRAFT_MAX) + 1)}  # fmt: skip
    best = max((s for k, s in speeds.items() if k <= acc.k_measured), key=lambda s: s.tps)
    return best, speeds[draft.DEFAULT_DRAFT_MAX]


def draft_plan(params: FitParams, plan: Plan, choice: str, plan_for: Planner,
               lookup: Callable[[str], Any] | None = None) -> tuple[draft.DraftPlan | None, str]:  # fmt: skip
    """The drafter for ``plan``: the MTP head where llama.cpp loads one, else a catalog draft model."""
    choice = choice.strip() or "auto"
    if choice.lower() == "none" or not params.model:
        return None, "no drafter asked for" if params.model else "drafts are planned for catalog models"
    from advisor.catalog.models_catalog import get_model

    try:
        target = get_model(params.model)
    except KeyError:
        return None, f"{params.model} is not in the catalog"
    mtp = draft.MTP_FAMILIES.get(target.family)
    if choice.lower() == "auto" and mtp is not None:
        return _mtp_plan(plan, mtp, target), ""
    if choice.lower() == "auto":
        cands = _candidates()
        me = next((c for c in cands if c.id == target.id), None)
        picked = draft.pick_draft(me, cands) if me else None
        if picked is None:
            return None, f"no catalog model shares {target.id}'s tokenizer and is small enough to draft for it"
        name = picked.id
    else:
        name = choice
        try:
            other = get_model(name)
        except KeyError:
            raise FitArgError("draft", f"unknown draft model {name!r}: a catalog id, auto or none") from None
        me_c = draft.Candidate(target.id, target.family, target.vocab_size, target.params_total, target.params_active)
        dc = draft.Candidate(other.id, other.family, other.vocab_size, other.params_total, other.params_active)
        if not draft.compatible(me_c, dc):
            raise FitArgError("draft", f"{name} does not share {target.id}'s tokenizer: llama.cpp refuses the pair")
    dplan = plan_for(replace(params, model=name, quant="Q8_0",
                             kv_type="f16", gpu_layers=None, n_cpu_moe=None))  # fmt: skip
    return _model_draft(plan, dplan, name, target.family), ""


def _model_draft(plan: Plan, dplan: Plan, name: str, family: str) -> draft.DraftPlan:
    m = dplan.memory
    added = max(m.gpu_bytes - m.overhead_bytes, 0)  # the same process: no second CUDA context
    fits = plan.fits and dplan.fits and (plan.memory.gpu_bytes + added <= _capacity(plan) or not _capacity(plan))
    acc = draft.acceptance_for(family)
    plain = plan.speed.decode_tps
    best = default = None
    if plain and dplan.speed.decode_tps and plan.speed.prefill_tps:
        best, default = _best_k(plan, 1 / dplan.speed.decode_tps, lambda k: verify_seconds(dplan, k), acc)
    k = best.k if best else draft.DEFAULT_DRAFT_MAX
    flags = f"-md {name}-{dplan.quant}.gguf -ngld 99 --spec-draft-n-max {k}"
    notes = ["acceptance measured on another pair: " + acc.pair] if acc.proxy else []
    if not fits:
        notes.append("target and draft together do not fit on the GPUs: the draft would push target layers to RAM")
    return draft.DraftPlan("draft", name, dplan.quant, m.weights_bytes, m.kv_cache_bytes, m.compute_bytes, added,
                           fits, acc, k, plain, round(best.tps, 1) if best else None,
                           round(default.tps, 1) if default else None, flags, tuple(notes))  # fmt: skip


def _mtp_plan(plan: Plan, mtp: tuple[str, int, str], target: Any) -> draft.DraftPlan:
    arch, n_nextn, source = mtp
    m = plan.memory
    layers = plan.n_layers
    shape = target.to_shape()
    attn_layers = max(1, layers - sum(shape.recurrent_layers)) if shape.recurrent_layers else layers
    # One more repeating layer of weights per nextn layer, and its KV at the plan's context.
    weights = m.weights_bytes * n_nextn // (layers + 2)
    kv = m.kv_cache_bytes * n_nextn // attn_layers
    acc = draft.mtp_acceptance(target.family, arch)
    plain = plan.speed.decode_tps
    best = default = None
    if plain and plan.speed.prefill_tps:
        # A draft step runs the nextn layer and the output head: about two layers of the target's step; the
        # head's catch-up over the verified tokens (common/speculative.cpp draft-mtp process) about one more.
        step = (1 / plain) * (n_nextn + 1) / (layers + 1)
        best, default = _best_k(plan, step, lambda k: step, acc)
    k = best.k if best else draft.DEFAULT_DRAFT_MAX
    added = weights + kv
    fits = plan.fits and (m.gpu_bytes + added <= _capacity(plan) or not _capacity(plan))
    notes = [f"{target.family} has {n_nextn} MTP layer (num_nextn_predict_layers, {source}); llama.cpp loads it "
             "only with --spec-type draft-mtp"]  # fmt: skip
    if acc.proxy:
        notes.append("acceptance measured on another model: " + acc.pair)
    return draft.DraftPlan("mtp", f"MTP head ({n_nextn} layer)", None, weights, kv, 0, added, fits, acc, k, plain,
                           round(best.tps, 1) if best else None, round(default.tps, 1) if default else None,
                           f"--spec-type draft-mtp --spec-draft-n-max {k}", tuple(notes))  # fmt: skip


def _context_max(model: str | None) -> int:
    from advisor.catalog.models_catalog import get_model

    try:
        return get_model(model).context_max if model else 0
    except KeyError:
        return 0


def runtime_defaults(params: FitParams, plan: Plan, plan_for: Planner) -> tuple[RuntimeLine, ...]:
    """One sentence per runtime: what it does with no flags, and whether the model fits that way."""
    lines = []
    bare = replace(params, ctx=0, parallel=serving.AUTO_SLOTS, kv_unified=True, runtime="llama-server",
                   gpu_layers=None, n_cpu_moe=None, kv_type="f16", flash_attn=None)  # fmt: skip
    srv = plan_for(bare)
    fitted = next((n for n in srv.memory.notes if "--fit lowers" in n), "")
    how = (f"--fit lowers -c to {srv.memory.context.n_ctx}" if fitted
           else f"-c {srv.memory.context.n_ctx} (the training context)")  # fmt: skip
    verdict = "fits" if srv.fits else "does not fit"
    lines.append(RuntimeLine("llama-server", f"llama-server with no flags: {how}, {serving.AUTO_SLOTS} slots sharing "
                             f"a unified f16 KV cache; it {verdict} ({srv.placement}, -ngl {srv.n_gpu_layers}). "
                             f"This plan: -c {plan.memory.context.n_ctx}.", srv.fits, LLAMA_SERVER_SOURCE))  # fmt: skip
    vram = _capacity(plan)
    train = _context_max(params.model) or srv.memory.context.n_ctx
    octx = ollama_default_ctx(vram, train)
    oll = plan_for(replace(params, ctx=octx, runtime="ollama", kv_type="f16", flash_attn=None, parallel=1))
    lines.append(RuntimeLine("ollama", f"Ollama will pick num_ctx {octx} on {vram / GIB:.1f} GB of VRAM unless you set "
                             f"num_ctx; at {octx} it {'fits' if oll.fits else 'does not fit'} ({oll.placement}: "
                             "Ollama estimates memory itself and runs what does not fit on the CPU).",
                             oll.fits, OLLAMA_CTX_SOURCE))  # fmt: skip
    lm_rt = runtime("lm-studio")
    lms = plan_for(replace(params, ctx=lm_rt.n_ctx or 4096, runtime="lm-studio", kv_type="f16", flash_attn=None,
                           parallel=1))  # fmt: skip
    lines.append(RuntimeLine("lm-studio", f"LM Studio loads with a {lm_rt.n_ctx}-token context; its loading guardrail "
                             f"{'lets it load' if lms.fits else 'will stop the load as too large for this machine'} "
                             "(Settings > model loading guardrails).", lms.fits,
                             LMSTUDIO_GUARDRAIL_SOURCE))  # fmt: skip
    return tuple(lines)


def apu_section(params: FitParams, extra: BeyondParams, plan_for: Planner) -> ApuSection | None:
    """Budgets per backend for an AMD APU, and whether the plan fits each (None unless a carve-out is given)."""
    if extra.carveout_gib is None:
        return None
    if not params.ram_gib:
        raise FitArgError("ram", "give the installed RAM (GB) with the APU's carve-out")
    ram = int(params.ram_gib * GIB)
    try:
        budget = apu.apu_budget(ram, int(extra.carveout_gib * GIB),
                                None if extra.gtt_gib is None else int(extra.gtt_gib * GIB))  # fmt: skip
    except ValueError as exc:
        raise FitArgError("carveout", str(exc)) from None
    backends = []
    notes = {"vulkan": "Linux RADV: carve-out + GTT", "rocm": "hipMalloc: the carve-out only",
             "rocm-unified": "GGML_CUDA_ENABLE_UNIFIED_MEMORY=1: carve-out + GTT"}  # fmt: skip
    sizes = {"vulkan": budget.vulkan_bytes, "rocm": budget.rocm_bytes, "rocm-unified": budget.rocm_unified_bytes}
    for name, size in sizes.items():
        if size <= 0:
            backends.append(ApuBackend(name, 0, False, "cpu", notes[name]))
            continue
        p = plan_for(replace(params, vram_gib=max(size / GIB, 0.25)))
        backends.append(ApuBackend(name, size, p.fits, p.placement, notes[name]))
    return ApuSection(budget, tuple(backends), apu.raise_gtt_advice(ram, int(min(extra.carveout_gib, 0.5) * GIB)))


def beyond(params: FitParams, plan: Plan, extra: BeyondParams, plan_for: Planner) -> Beyond:
    team = team_plan(params, extra.users, extra.kv_unified, plan_for) if extra.users > 1 else None
    if plan.fits:
        dplan, note = draft_plan(params, plan, extra.draft, plan_for)
    else:
        dplan, note = None, "the model does not fit, so neither does a drafter"
    defaults = runtime_defaults(params, plan, plan_for) if plan.quant != "from GGUF" else ()
    return Beyond(team, dplan, note, defaults, apu_section(params, extra, plan_for))


def describe_beyond(b: Beyond) -> str:
    """The CLI's text for the sections."""
    out = []
    if b.team is not None:
        t = b.team
        out.append(f"  team of {t.users}: llama-server {t.flags}")
        out.append(f"    KV {t.kv_cache_bytes / GIB:.2f} GiB, {t.ctx_per_slot} tokens per slot"
                   f"{' (shared pool)' if t.kv_unified else ''}, GPU {t.gpu_bytes / GIB:.2f} GiB, host "
                   f"{t.host_bytes / GIB:.2f} GiB + prompt cache up to {t.cache_ram_bytes / GIB:.0f} GiB; "
                   f"{'fits' if t.fits else 'does not fit'}")  # fmt: skip
        if t.speed:
            out.append(f"    at {t.speed.depth} tokens deep: ~{t.speed.per_user_tps:.1f} tok/s per user, "
                       f"~{t.speed.aggregate_tps:.0f}"
                       f" tok/s in all (one user alone: {t.speed.single_tps:.1f})")  # fmt: skip
        out += [f"    note: {n}" for n in t.notes]
    if b.draft is not None:
        d = b.draft
        acc = d.acceptance
        spec = f"~{d.spec_tps:.1f} tok/s" if d.spec_tps else "speed unknown"
        if d.speedup is not None and d.server_plain_tps is not None:
            spec += f", {d.speedup:.2f}x llama-server's ~{d.server_plain_tps:.1f} without it"
        out.append(f"  with {d.drafter}: {spec} (acceptance {acc.rate:.2f}, {acc.source}); flags: {d.flags}")
        out.append(
            f"    drafter memory {d.gpu_bytes / GIB:.2f} GiB on the GPUs; {'fits' if d.fits else 'does not fit'}"
        )
        if d.verdict:
            out.append(f"    {d.verdict}")
        out += [f"    note: {n}" for n in d.notes]
    elif b.draft_note:
        out.append(f"  draft: {b.draft_note}")
    out += [f"  {line.text} [{line.source}]" for line in b.defaults]
    if b.apu is not None:
        a = b.apu
        out.append(f"  APU: carve-out {a.budget.carveout_bytes / GIB:.1f} GiB, GTT {a.budget.gtt_bytes / GIB:.1f} GiB"
                   f"{' (kernel default: half the RAM the OS sees)' if a.budget.gtt_default else ''}")  # fmt: skip
        for be in a.backends:
            out.append(f"    {be.backend}: {be.budget_bytes / GIB:.1f} GiB ({be.note}): "
                       f"{'fits' if be.fits else 'does not fit'} ({be.placement})")  # fmt: skip
        out.append(f"    to raise it: {a.advice}")
    return "\n".join(out)
