"""`equiv patch`: check each patch of a series and decide the gate.

For each patch, in series order: apply it to the scratch tree, find what it
touches (equiv.patch_scope), check each root's before and after fragments
with equiv's checker, and judge the result against the patch's claim and the
baseline of accepted differences.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from equiv.check import CheckOptions, run_check
from equiv.errors import InputError
from equiv.patch_scope import (C_SUFFIXES, Fragment, TreeIndex, fragment, roots, touched,
                               tree_files)
from equiv.patch_series import Patch, Scratch
from equiv.results import FunctionResult, Verdict

BASELINE_NAME = ".equiv-baseline"
_CWD_LOCK = threading.Lock()


class Outcome(enum.Enum):
    """How one patch ended, worst last within each exit status."""

    PROVED = "proved"  # every root behaves the same before and after
    CHANGE = "change"  # behaviour changes and the patch does not claim otherwise
    ACCEPTED = "accepted"  # every difference is recorded in the baseline
    SKIPPED = "skipped"  # nothing to check (no C, or no function or macro touched)
    UNKNOWN = "unknown"  # some root could not be decided
    REFUTED = "refuted"  # claims no functional change, and behaviour changes
    NEW_DIFFERENCE = "new-difference"  # --strict: a change the baseline does not record
    TROUBLE = "trouble"  # does not apply, or the code cannot be checked


EXIT_OF = {Outcome.PROVED: 0, Outcome.CHANGE: 0, Outcome.ACCEPTED: 0, Outcome.SKIPPED: 0,
           Outcome.UNKNOWN: 3, Outcome.REFUTED: 1, Outcome.NEW_DIFFERENCE: 1,
           Outcome.TROUBLE: 2}


@dataclass(frozen=True)
class RootCheck:
    """One checked function of a patch."""

    function: str
    path: str  # the tree file defining it
    result: FunctionResult
    before: Fragment | None
    after: Fragment | None
    baselined: bool = False
    confirmation: str | None = None  # --confirm: "reproduced", or why not


@dataclass(frozen=True)
class PatchReport:
    """What `equiv patch` concluded about one patch."""

    patch: Patch
    outcome: Outcome
    reason: str  # one line
    checks: tuple[RootCheck, ...] = ()
    gate_fails: bool = False


@dataclass(frozen=True)
class GateOptions:
    """The command line, as far as judging goes."""

    check: CheckOptions = field(default_factory=CheckOptions)
    strict: bool = False
    witness_dir: str | None = None
    confirm: bool = False


# ---- the baseline -------------------------------------------------------------------

@dataclass(frozen=True)
class Accepted:
    """A difference someone accepted: the patch subject (or '*'), function, condition."""

    subject: str
    function: str
    difference: str


def difference_key(result: FunctionResult) -> str:
    """The difference as recorded: the condition, or the counterexample when none."""
    if result.condition is not None:
        return result.condition.key()
    cex = result.counterexample
    return f"flags={cex.flags:#x}" if cex is not None else "(undetermined)"


def load_baseline(path: Path) -> list[Accepted]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Accepted(e.get("subject", "*"), e["function"], e["difference"])
                for e in data["accepted"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(None, f"{path}: not an equiv baseline ({exc})") from None


def write_baseline(path: Path, reports: list[PatchReport], old: list[Accepted]) -> int:
    """Record every difference of `reports` (keeping older entries); how many in all."""
    entries = {(a.subject, a.function, a.difference): a for a in old}
    for r in reports:
        for c in r.checks:
            if c.result.verdict is Verdict.NOT_EQUIVALENT:
                a = Accepted(r.patch.subject, c.function, difference_key(c.result))
                entries[(a.subject, a.function, a.difference)] = a
    rows = [{"subject": a.subject, "function": a.function, "difference": a.difference}
            for a in sorted(entries.values(), key=lambda a: (a.subject, a.function,
                                                             a.difference))]
    text = json.dumps({"equiv-baseline": 1, "accepted": rows}, indent=2, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")
    return len(rows)


def is_accepted(baseline: list[Accepted], subject: str, result: FunctionResult) -> bool:
    """Recorded for this subject (or any, '*') and function, with the same condition."""
    key = difference_key(result)
    return any(a.function == result.function and a.subject in ("*", subject)
               and a.difference == key for a in baseline)


# ---- running ------------------------------------------------------------------------

@contextlib.contextmanager
def _inside(directory: Path) -> Iterator[None]:
    """Run with `directory` as cwd so fragment paths read a/..., b/... in every location."""
    with _CWD_LOCK:
        old = os.getcwd()
        os.chdir(directory)
        try:
            yield
        finally:
            os.chdir(old)


def check_series(patches: list[Patch], scratch: Scratch, options: GateOptions,
                 baseline: list[Accepted]) -> list[PatchReport]:
    """Apply and check every patch in order; a patch that fails to apply is skipped over."""
    reports = []
    for patch in patches:
        reports.append(check_patch(patch, scratch, options, baseline))
    return reports


def check_patch(patch: Patch, scratch: Scratch, options: GateOptions,
                baseline: list[Accepted]) -> PatchReport:
    paths = sorted({p for pair in patch.files for p in pair if p != "/dev/null"})
    old = {p: scratch.read(p) for p in paths}
    failure = scratch.apply(patch)
    if failure is not None:
        return PatchReport(patch, Outcome.TROUBLE, f"does not apply: {failure}", gate_fails=True)
    c_paths = [p for p in paths if p.endswith(C_SUFFIXES)]
    if not c_paths:
        return PatchReport(patch, Outcome.SKIPPED, "touches no C files (.c or .h)")
    new = {p: scratch.read(p) for p in c_paths}
    before = TreeIndex.build(tree_files(scratch, {p: old[p] for p in c_paths}))
    after = TreeIndex.build(tree_files(scratch, dict(new)))
    pairs = {p: (old[p] or "", new[p] or "") for p in c_paths}
    t = touched(pairs, before, after)
    todo = sorted(roots(t, before, after))
    if not todo:
        return PatchReport(patch, Outcome.SKIPPED,
                           "changes no C function, macro or enum (declarations, "
                           "#include lines or comments only)")
    checks = []
    try:
        for name, path in todo:
            checks.append(_check_root(name, path, t.arch, before, after, options))
    except InputError as err:
        return PatchReport(patch, Outcome.TROUBLE, f"cannot check: {err.render()}",
                           tuple(checks), gate_fails=True)
    checks = [replace(c, baselined=c.result.verdict is Verdict.NOT_EQUIVALENT
                      and is_accepted(baseline, patch.subject, c.result)) for c in checks]
    if options.witness_dir is not None or options.confirm:
        checks = _witnesses(patch, checks, options)
    return judge(patch, tuple(checks), options.strict)


def _check_root(name: str, path: str, arch: str | None, before: TreeIndex,
                after: TreeIndex, options: GateOptions) -> RootCheck:
    b = fragment((name, path), before, arch, "a")
    a = fragment((name, path), after, arch, "b")
    if b is None or a is None:
        verdict = Verdict.ONLY_AFTER if b is None else Verdict.ONLY_BEFORE
        return RootCheck(name, path, FunctionResult(name, verdict), b, a)
    with tempfile.TemporaryDirectory(prefix="equiv-patch-") as tmp:
        for frag in (b, a):
            for rel, text in frag.files:
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        with _inside(Path(tmp)):
            result = run_check([p for p, _ in b.files], [p for p, _ in a.files],
                               replace(options.check, functions=(name,)))
    return RootCheck(name, path, result.functions[0], b, a)


def _witnesses(patch: Patch, checks: list[RootCheck], options: GateOptions) -> list[RootCheck]:
    from equiv import witness
    from equiv.model_library import arch_headers, select_models

    opts = options.check
    models = tuple(select_models(opts.models, opts.all_models, opts.model_dirs))
    layout = arch_headers(opts.arch)
    out = []
    for c in checks:
        if c.result.verdict is not Verdict.NOT_EQUIVALENT or c.before is None or c.after is None:
            out.append(c)
            continue
        program = witness.build(c.function, c.before, c.after, c.result, models, layout)
        if options.witness_dir is not None:
            witness.write(Path(options.witness_dir), patch.index, c.function, program)
        if options.confirm:
            c = replace(c, confirmation=witness.confirm(program, c.result))
            if (c.confirmation or "").startswith("equiv bug"):
                # Never shown as a difference: compiled code does not reproduce it.
                c = replace(c, baselined=False, result=FunctionResult(
                    c.function, Verdict.UNKNOWN, reason=c.confirmation))
        out.append(c)
    return out


def judge(patch: Patch, checks: tuple[RootCheck, ...], strict: bool) -> PatchReport:
    """The patch's outcome from its checks, its claim and the baseline."""
    claims = patch.claims_no_change
    bugs = [c for c in checks if (c.confirmation or "").startswith("equiv bug")]
    if bugs:
        return PatchReport(patch, Outcome.TROUBLE, f"{bugs[0].function}: {bugs[0].confirmation}"
                           f" (please report)", checks, gate_fails=True)
    differ = [c for c in checks if c.result.verdict is Verdict.NOT_EQUIVALENT]
    fresh = [c for c in differ if not c.baselined]
    undecided = [c for c in checks if c.result.verdict is Verdict.UNKNOWN]
    names = ", ".join(c.function for c in fresh)
    if fresh and claims:
        return PatchReport(patch, Outcome.REFUTED, f"claims no functional change, but {names} "
                                                   f"behaves differently", checks, True)
    if fresh and strict:
        return PatchReport(patch, Outcome.NEW_DIFFERENCE, f"{names} behaves differently and "
                                                          f"the baseline does not record it",
                           checks, True)
    if undecided and (claims or strict):
        return PatchReport(patch, Outcome.UNKNOWN, f"could not decide "
                           f"{', '.join(c.function for c in undecided)}", checks, True)
    if fresh:
        return PatchReport(patch, Outcome.CHANGE, f"changes behaviour of {names} (declared "
                                                  f"change; no claim of none)", checks)
    if differ:
        return PatchReport(patch, Outcome.ACCEPTED, "every difference is in the baseline", checks)
    if undecided:
        return PatchReport(patch, Outcome.UNKNOWN, "could not decide "
                           f"{', '.join(c.function for c in undecided)} (no claim; passes)",
                           checks)
    checked = [c.function for c in checks if c.result.verdict is Verdict.EQUIVALENT]
    return PatchReport(patch, Outcome.PROVED, f"no behaviour change in {', '.join(checked)}"
                       if checked else "no function defined on both sides", checks)


def exit_status(reports: list[PatchReport]) -> int:
    """2 trouble > 1 gate failure > 3 unknown > 0."""
    codes = {EXIT_OF[r.outcome] if r.gate_fails else 0 for r in reports}
    for code in (2, 1, 3):
        if code in codes:
            return code
    return 0
