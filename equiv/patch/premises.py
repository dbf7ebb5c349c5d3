"""What a refuted claim would need: the shipped models under which it is proved.

For a root whose check found a difference, the opaque functions the
difference involves may have a model in equiv's catalogue (`audit` for
`audit_syscall_exit()`, ...).  Each such model is a premise about the
kernel.  The root is checked again with them; if it is then proved, the
premises the proof needs (an irreducible set, as `equiv check` computes it)
are what the patch's claim rests on, and a reviewer can ask the author to
state them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from equiv.errors import InputError
from equiv.frontend.models import Model, catalogue
from equiv.patch.gate import GateOptions, RootCheck
from equiv.report.results import FunctionResult, NeededPremise, Verdict


@dataclass(frozen=True)
class PremiseProbe:
    """The check of one root again, with the catalogue's models of what it calls."""

    models: tuple[str, ...]  # the models added
    result: FunctionResult  # the check with them

    @property
    def proved(self) -> bool:
        return self.result.verdict is Verdict.EQUIVALENT

    @property
    def needed(self) -> tuple[NeededPremise, ...]:
        return self.result.needed


def _defines(model: Model, function: str) -> bool:
    return re.search(rf"^[^\n;]*\b{re.escape(function)}\s*\([^;]*$", model.text, re.MULTILINE) is not None


def candidate_models(result: FunctionResult, enabled: tuple[str, ...],
                     model_dirs: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Catalogue models, not yet enabled, that define an opaque function of `result`."""
    out = []
    for name, model in catalogue(model_dirs).items():
        if name in enabled:
            continue
        if any(_defines(model, f) for f in result.opaque):
            out.append(name)
    return tuple(out)


def probe(check: RootCheck, options: GateOptions) -> PremiseProbe | None:
    """Check `check`'s root again with the models of its opaque functions; None if none apply."""
    if check.result.verdict is not Verdict.NOT_EQUIVALENT:
        return None
    if check.before is None or check.after is None:
        return None
    opts = options.check
    extra = candidate_models(check.result, opts.models, opts.model_dirs)
    if not extra or opts.all_models:
        return None
    # The models, and the premise that calls leave the flag word alone: the proof
    # names the ones it needs.
    wider = replace(options, check=replace(opts, models=opts.models + extra, stable_flags=True))
    try:
        redo = _recheck(check, wider)
    except InputError:  # e.g. a model needs a TIF_* name this fragment does not define
        return None
    return PremiseProbe(extra, redo)


def _recheck(check: RootCheck, options: GateOptions) -> FunctionResult:
    """The root's check on its own fragments, under `options`."""
    import tempfile
    from pathlib import Path

    from equiv.driver.check import run_check
    from equiv.patch.gate import _inside

    assert check.before is not None and check.after is not None
    with tempfile.TemporaryDirectory(prefix="equiv-premise-") as tmp:
        for frag in (check.before, check.after):
            for rel, text in frag.files:
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        with _inside(Path(tmp)):
            result = run_check([p for p, _ in check.before.files],
                               [p for p, _ in check.after.files],
                               replace(options.check, functions=(check.function,),
                                       whole_files=False))
    return result.functions[0]
