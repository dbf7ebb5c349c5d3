"""`equiv patch`: check each patch of a series and decide the gate.

For each patch, in series order: apply it to the scratch tree, find what it
touches (equiv.patch.scope), check each root's before and after fragments
with equiv's checker, and judge the result against the patch's claim and the
baseline of accepted differences.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

from equiv.driver.budget import BudgetExceeded
from equiv.driver.check import CheckOptions, run_check
from equiv.errors import InputError, Location, with_hint
from equiv.frontend import lexical
from equiv.frontend.models import layouts_with
from equiv.patch.baseline import Accepted, accepted_entry, is_accepted, save_baseline
from equiv.patch.scope import (
    C_SUFFIXES,
    Fragment,
    ObjectChange,
    Root,
    TreeIndex,
    fragment,
    roots,
    touched,
    tree_files,
)
from equiv.patch.series import Patch, Scratch
from equiv.report.results import FunctionResult, Verdict

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
    callers: tuple[str, ...] = ()  # its callers in the scanned scope (checked as well)
    line: int = 1  # where it is defined (after the patch, else before)
    escapes: str | None = "its callers are not checked"  # None: only checked callers see it

    @property
    def differs(self) -> bool:
        """Behaviour changes: a counterexample, or the function is on one side only."""
        return self.result.verdict in (Verdict.NOT_EQUIVALENT, Verdict.ONLY_BEFORE,
                                       Verdict.ONLY_AFTER)

    @property
    def contained(self) -> bool:
        """It differs, but only through callers that are checked themselves."""
        return self.differs and self.escapes is None


@dataclass(frozen=True)
class PatchReport:
    """What `equiv patch` concluded about one patch."""

    patch: Patch
    outcome: Outcome
    reason: str  # one line
    checks: tuple[RootCheck, ...] = ()
    gate_fails: bool = False
    location: Location | None = None  # for trouble: where (tree path), when known


@dataclass(frozen=True)
class GateOptions:
    """The command line, as far as judging goes."""

    check: CheckOptions = field(default_factory=CheckOptions)
    strict: bool = False
    witness_dir: str | None = None
    confirm: bool = False


# ---- the baseline -------------------------------------------------------------------

def refused(report: PatchReport) -> bool:
    """A refuted claim of no functional change is never recorded as accepted."""
    return report.outcome is Outcome.REFUTED


def write_baseline(path: Path, reports: list[PatchReport], old: list[Accepted]) -> int:
    """Record every difference of `reports` (keeping older entries, skipping refuted
    claims); how many entries in all."""
    found = [accepted_entry(r.patch, c.function, c.result) for r in reports
             if not refused(r) for c in r.checks if c.differs and not c.contained]
    return save_baseline(path, old + found)


def rejudge(reports: list[PatchReport], baseline: list[Accepted],
            strict: bool) -> list[PatchReport]:
    """The reports again, with `baseline` deciding what is accepted (after an update)."""
    out = []
    for r in reports:
        if r.outcome is Outcome.TROUBLE or not r.checks:
            out.append(r)
            continue
        checks = tuple(replace(c, baselined=c.differs and c.escapes is not None
                               and is_accepted(baseline, r.patch, c.function, c.result))
                       for c in r.checks)
        out.append(judge(r.patch, checks, strict))
    return out


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
        try:
            reports.append(check_patch(patch, scratch, options, baseline))
        except InputError as err:  # e.g. the patch made a file equiv may not read
            reports.append(PatchReport(patch, Outcome.TROUBLE, f"cannot check: {err.render()}",
                                       gate_fails=True))
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
    todo = roots(t, before, after)
    unseen = [_initializer_check(o, todo) for o in t.initializers]
    if not todo and not unseen:
        return PatchReport(patch, Outcome.SKIPPED,
                           "changes no C function, macro, type, variable or enum "
                           "(declarations, #include lines or comments only)")
    checks = [c for c in unseen if c is not None]
    errors: list[tuple[str, InputError]] = []
    for root in todo:
        try:
            checks.append(_check_root(root, t.arch, before, after, options))
        except InputError as err:
            errors.append((root.name, requote(err, before, after)))
    checks = [replace(c, baselined=c.differs and c.escapes is not None
                      and is_accepted(baseline, patch, c.function, c.result))
              for c in checks]
    if errors and not _refutes(patch, checks):
        # What was not checked could hide anything; only a refutation, a real
        # counterexample in a function that was checked, outranks it.
        err = errors[0][1]
        return PatchReport(patch, Outcome.TROUBLE, f"cannot check: {err.render()}",
                           tuple(checks), gate_fails=True, location=err.location)
    if options.witness_dir is not None or options.confirm:
        checks = _witnesses(patch, checks, options)
    report = judge(patch, tuple(checks), options.strict)
    if errors:
        names = ", ".join(name for name, _ in errors)
        report = replace(report, reason=f"{report.reason}; not checked: {names} "
                                        f"({errors[0][1].render().splitlines()[0]})")
    return report


def _refutes(patch: Patch, checks: list[RootCheck]) -> bool:
    """A claim of no change that a checked function's counterexample refutes."""
    return patch.claims_no_change and any(
        c.differs and not c.contained and c.result.verdict is Verdict.NOT_EQUIVALENT
        for c in checks)


def _initializer_check(change: ObjectChange, todo: list[Root]) -> RootCheck | None:
    """A check standing for a changed initial value that the function checks cannot see."""
    users = [r.name for r in todo]
    if initializers_modelled():
        if users:
            # The checks of its users read the initializer on each side (a non-const
            # global: while nothing has written it, the `pristine:` input).
            return None
        why = "no function in the scanned scope uses it"
    else:
        why = "equiv does not model file-scope initializers yet"
    result = FunctionResult(change.name, Verdict.UNKNOWN,
                            reason=f"the initializer of '{change.name}' ({change.path}) "
                                   f"changed; {why}")
    return RootCheck(change.name, change.path, result, None, None, escapes=why,
                     line=change.line)


@functools.cache
def initializers_modelled() -> bool:
    """Does the checker read a `static const` global as its initializer on each side?

    Asked of the checker itself on a two-line pair, so the gate relies on
    initializers exactly when the executor models them.
    """
    text = ("void foo(void);\nstatic const unsigned long mask = {};\n"
            "void f(unsigned long flags)\n{{\n\tif (flags & mask)\n\t\tfoo();\n}}\n")
    with tempfile.TemporaryDirectory(prefix="equiv-probe-") as tmp:
        paths = []
        for side, value in (("before", "0x1"), ("after", "0x3")):
            path = Path(tmp) / f"{side}.c"
            path.write_text(text.format(value), encoding="utf-8")
            paths.append(str(path))
        try:
            result = run_check([paths[0]], [paths[1]], CheckOptions(functions=("f",)))
        except InputError:
            return False
    return result.functions[0].verdict is Verdict.NOT_EQUIVALENT


def requote(err: InputError, before: TreeIndex, after: TreeIndex) -> InputError:
    """The error at its tree file and line, quoting that line of the tree (not of the
    extracted fragment, whose lines are shifted by `#line` markers)."""
    loc = err.location
    if loc is None:
        return with_hint(err, layouts_with)
    side = {"a/": before, "b/": after}.get(loc.file[:2])
    path = loc.file[2:] if side is not None else loc.file
    text = (side or after).files.get(path)
    if text is None and side is None:
        text = before.files.get(path)
    if text is None:  # not a tree file (a model, a header equiv provides): quoted as read
        return with_hint(err, layouts_with)
    lines = text.split("\n")
    quoted = lines[loc.line - 1] if 0 < loc.line <= len(lines) else None
    return with_hint(InputError(Location(loc.file, loc.line, loc.column), err.message, quoted),
                     layouts_with)


def _check_root(root: Root, arch: str | None, before: TreeIndex, after: TreeIndex,
                options: GateOptions) -> RootCheck:
    name, path = root.name, root.path
    b = fragment((name, path), before, arch, "a")
    a = fragment((name, path), after, arch, "b")
    callers = tuple(dict.fromkeys(c for c, _ in root.callers))
    own = after.defines(name, path) or before.defines(name, path)
    line = own.start if own is not None else 1
    if b is None or a is None:
        verdict = Verdict.ONLY_AFTER if b is None else Verdict.ONLY_BEFORE
        return RootCheck(name, path, FunctionResult(name, verdict), b, a,
                         callers=callers, escapes=root.escapes, line=line)
    if same_cut_out(b, a, _read_by_models(options)):
        # The same C on both sides: equivalent by identity, whether or not equiv could
        # model every construct in it (a changed #include elsewhere in the file touches
        # every function of the file; see README, "Patches and CI").
        result = FunctionResult(name, Verdict.EQUIVALENT, reason=SAME_CUT_OUT)
        return RootCheck(name, path, result, b, a, callers=callers, escapes=root.escapes,
                         line=line)
    with tempfile.TemporaryDirectory(prefix="equiv-patch-") as tmp:
        for frag in (b, a):
            for rel, text in frag.files:
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        with _inside(Path(tmp)):
            try:
                result = run_check([p for p, _ in b.files], [p for p, _ in a.files],
                                   replace(options.check, functions=(name,), whole_files=False))
            except BudgetExceeded as hit:
                return RootCheck(name, path, FunctionResult(name, Verdict.UNKNOWN,
                                                            reason=hit.reason), b, a,
                                 callers=callers, escapes=root.escapes, line=line)
    return RootCheck(name, path, result.functions[0], b, a, callers=callers,
                     escapes=root.escapes, line=line)


SAME_CUT_OUT = ("the same code on both sides (its cut-outs differ in line numbers at most); "
                "not executed")


def _read_by_models(options: GateOptions) -> frozenset[str]:
    """Every name the models in force, the layout and the prelude mention: a macro of the
    cut-out with such a name may be read by them (the audit model tests TIF_SYSCALL_AUDIT)."""
    opts = options.check
    return _names_in_models(opts.models, opts.all_models, opts.model_dirs, opts.arch)


@functools.lru_cache(maxsize=8)
def _names_in_models(models: tuple[str, ...], all_models: bool, model_dirs: tuple[str, ...],
                     arch: str | None) -> frozenset[str]:
    """`_read_by_models`, read once per gate run (every root asks)."""
    from equiv.frontend.models import arch_headers, select_models
    from equiv.frontend.source import models_dir

    texts = [m.text for m in select_models(models, all_models, model_dirs)]
    texts += [Path(h).read_text(encoding="utf-8") for h in arch_headers(arch)]
    texts.append((models_dir() / "prelude.h").read_text(encoding="utf-8"))
    return frozenset(name for text in texts for name in lexical.IDENT.findall(text))


def same_cut_out(before: Fragment, after: Fragment,
                 read_elsewhere: frozenset[str] = frozenset()) -> bool:
    """Both cut-outs are the same C apart from `#line` markers and macros that nothing
    uses (neither the cut-out nor, by name, `read_elsewhere`: the models, layout and
    prelude in force), and nothing in them reads a line number or a file name
    (`__LINE__`, `__FILE__`)."""
    def program(frag: Fragment) -> list[tuple[str, str]]:
        return [(rel.split("/", 1)[1], "\n".join(line for line in text.split("\n")
                                                 if not line.startswith("#line ")))
                for rel, text in frag.files]
    texts = [text for frag in (before, after) for _, text in frag.files]
    if any("__LINE__" in t or "__FILE__" in t for t in texts):
        return False
    b, a = program(before), program(after)
    if b == a:
        return True
    used_b = _without_unused_macros(b, read_elsewhere)
    used_a = _without_unused_macros(a, read_elsewhere)
    return used_b is not None and used_a is not None and used_b == used_a


_DEFINE = re.compile(r"\s*#\s*define\s+([A-Za-z_]\w*)")


def _without_unused_macros(files: list[tuple[str, str]],
                           read_elsewhere: frozenset[str]) -> list[tuple[str, str]] | None:
    """The files with every `#define` of a macro that nothing else uses left out (a
    macro is used when its name appears in the code, in another directive, or in the
    body of a used macro).  None when a macro pastes tokens (`##`), which can form a
    name no text shows: then nothing is left out."""
    logical = [(rel, lexical.splice(lexical.blank(text)).split("\n")) for rel, text in files]
    if any("##" in line for _, lines in logical for line in lines):
        return None
    bodies: dict[str, list[str]] = {}
    used: set[str] = set(read_elsewhere)
    for _, lines in logical:
        for line in lines:
            m = _DEFINE.match(line)
            if m:
                bodies.setdefault(m.group(1), []).append(line[m.end():])
            else:
                used.update(lexical.IDENT.findall(line))
    todo = list(used & bodies.keys())
    while todo:
        for body in bodies[todo.pop()]:
            for name in lexical.IDENT.findall(body):
                if name in bodies and name not in used:
                    todo.append(name)
                used.add(name)
    return [(rel, "\n".join(line for line in lines if line.strip()
                            and not ((m := _DEFINE.match(line)) and m.group(1) not in used)))
            for rel, lines in logical]


def _witnesses(patch: Patch, checks: list[RootCheck], options: GateOptions) -> list[RootCheck]:
    from equiv.explain import witness
    from equiv.frontend.models import arch_headers, select_models

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
    """The patch's outcome from its checks, its claim and the baseline.

    A difference counts only where code equiv did not check could see it
    (`RootCheck.escapes`); a contained one shows through its callers' checks.
    A function on one side only is a change; under a claim of no change it is
    UNKNOWN (its users are out of sight), never PROVED.
    """
    claims = patch.claims_no_change
    bugs = [c for c in checks if (c.confirmation or "").startswith("equiv bug")]
    if bugs:
        return PatchReport(patch, Outcome.TROUBLE, f"{bugs[0].function}: {bugs[0].confirmation}"
                           f" (please report)", checks, gate_fails=True)
    visible = [c for c in checks if c.differs and not c.contained]
    fresh = [c for c in visible if not c.baselined]
    # A baseline accepts changes; it never makes a refuted claim of no change true.
    refuting = [c for c in visible if c.result.verdict is Verdict.NOT_EQUIVALENT]
    one_sided = [c for c in fresh if c.result.verdict is not Verdict.NOT_EQUIVALENT]
    undecided = [c for c in checks if c.result.verdict is Verdict.UNKNOWN]
    if claims:
        undecided += one_sided
    names = ", ".join(c.function for c in fresh)
    if refuting and claims:
        return PatchReport(patch, Outcome.REFUTED, "claims no functional change, but "
                           f"{', '.join(c.function for c in refuting)} behaves differently",
                           checks, True)
    if fresh and strict:
        return PatchReport(patch, Outcome.NEW_DIFFERENCE, f"{names} behaves differently and "
                                                          f"the baseline does not record it",
                           checks, True)
    if undecided and (claims or strict):
        return PatchReport(patch, Outcome.UNKNOWN, _undecided_reason(undecided), checks, True)
    if fresh:
        return PatchReport(patch, Outcome.CHANGE, f"changes behaviour of {names} (declared "
                                                  f"change; no claim of none)", checks)
    if visible:
        return PatchReport(patch, Outcome.ACCEPTED, "every difference is in the baseline", checks)
    if undecided:
        return PatchReport(patch, Outcome.UNKNOWN, f"{_undecided_reason(undecided)} "
                                                   f"(no claim; passes)", checks)
    checked = [c.function for c in checks if c.result.verdict is Verdict.EQUIVALENT]
    reason = (f"no behaviour change in {', '.join(checked)}" if checked
              else "no function defined on both sides")
    contained = [c for c in checks if c.contained]
    if contained:
        reason += "; " + "; ".join(f"{c.function} differs on its own, but every caller in "
                                   f"the scanned scope ({', '.join(c.callers)}) does not"
                                   for c in contained)
    return PatchReport(patch, Outcome.PROVED, reason, checks)


def _undecided_reason(undecided: list[RootCheck]) -> str:
    parts = []
    for c in undecided:
        if c.result.verdict is Verdict.UNKNOWN:
            parts.append(c.function)
        else:
            side = "deleted" if c.result.verdict is Verdict.ONLY_BEFORE else "added"
            parts.append(f"{c.function} ({side}; {c.escapes})")
    return f"could not decide {', '.join(parts)}"


def exit_status(reports: list[PatchReport]) -> int:
    """2 trouble > 1 gate failure > 3 unknown > 0."""
    codes = {EXIT_OF[r.outcome] if r.gate_fails else 0 for r in reports}
    for code in (2, 1, 3):
        if code in codes:
            return code
    return 0
