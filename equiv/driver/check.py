"""`equiv check`: from two sides' files to a `CheckResult`.

Loads and parses both sides (once per preprocessor configuration), picks the
functions to check, executes each side symbolically, asks the equivalence
query, and explains the answer: a difference with its minimal
counterexample, or a proof with the premises (models, assumptions) it needed.
"""

from __future__ import annotations

import gc
import itertools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from equiv import collector
from equiv.driver.budget import Budget, BudgetExceeded, Guard
from equiv.driver.configs import relevant_configs
from equiv.errors import InputError, Location
from equiv.frontend.confine import DEFAULT_MAX_FILE_SIZE
from equiv.frontend.headers import tree_include_dirs, tree_layout
from equiv.frontend.models import Model, arch_headers, arch_version, layouts_with, select_models
from equiv.frontend.source import (
    Extra,
    SideInput,
    load_side,
    models_dir,
    preprocessor_configs,
    read_source,
)
from equiv.ir.unit import Unit, build_unit
from equiv.report.results import (
    CheckResult,
    FunctionResult,
    NeededPremise,
    Premise,
    Verdict,
)
from equiv.semantics.flagword import SYSCALL_WORK, TIF, FlagWord, flag_words
from equiv.semantics.trace import ASSUME_PREFIX, C_RULE_PREFIX, FLAG_PARAMS, OPAQUE_PREFIX

MAX_PREPROCESSOR_CONFIGS = 6
STABLE_FLAGS = "stable-flags"  # the premise key of --stable-flags
MAPPED_WORD = "mapped_word"
# The unbounded loop rules, in the order they are tried: (name, method of
# equiv.query.loop_proof, (iterations peeled before the summary on the before side,
# on the after side)[, (loop passes per summarised iteration, before and after)]);
# see README "Loops".
LOOP_RULES = (
    ("lockstep induction", "lockstep induction", (0, 0)),
    ("lockstep induction with the before loop's first iteration peeled",
     "lockstep induction", (1, 0)),
    ("lockstep induction with the after loop's first iteration peeled",
     "lockstep induction", (0, 1)),
    ("lockstep induction with both loops' first iterations peeled",
     "lockstep induction", (1, 1)),
    ("k-induction", "k-induction", (0, 0)),
    ("a coupling invariant from Spacer", "a coupling invariant from Spacer", (0, 0)),
    ("a coupling invariant from Spacer with both loops' first iterations peeled",
     "a coupling invariant from Spacer", (1, 1)),
    ("lockstep induction with two passes of the before loop against one of the after loop",
     "lockstep induction", (0, 0), (2, 1)),
    ("lockstep induction with one pass of the before loop against two of the after loop",
     "lockstep induction", (0, 0), (1, 2)),
)
MAX_PEELED_LOOPS = 64
MAX_LOOP_REFINEMENTS = 8  # Spacer re-asked with the exits a difference needed


@dataclass(frozen=True)
class CheckOptions:
    """What the user asked for on the command line."""

    functions: tuple[str, ...] = ()
    unwind: int = 8
    timeout: float = 30.0
    flag_params: tuple[str, ...] = FLAG_PARAMS
    include_dirs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    all_models: bool = False
    model_dirs: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    arch: str | None = None
    pins: tuple[tuple[str, bool], ...] = ()
    racy_flags: bool = False
    stable_flags: bool = False  # external calls never change the flag word (old semantics)
    whole_files: bool = True  # the sides are whole files (equiv patch checks cut-outs)
    flag_map: str | None = None
    jobs: int = 1  # worker processes for independent functions
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes, for every file read
    budget: Budget = field(default_factory=Budget)  # --max-time, --max-memory
    # An unchanged function (equiv.query.unchanged) is equivalent without the
    # difference query; off only to exercise the full query on such pairs.
    skip_unchanged: bool = True
    no_stubs: bool = False  # a header that nothing provides is an error, not an empty stub
    tree: str | None = None  # --tree: a kernel tree whose include path the sides use
    # --verdict-only: the verdict and its counterexample, without the explanation
    # (per-bit rows, differs iff, inputs that matter, the premises a proof needs).
    explain: bool = True


@dataclass(frozen=True)
class Variant:
    """One side under one valuation of the configs its #if lines test."""

    valuation: tuple[tuple[str, bool], ...]
    program: Unit


class Sides:
    """Loads and caches both sides, per set of enabled models."""

    def __init__(self, before: list[str], after: list[str], options: CheckOptions):
        self.paths = {"before": before, "after": after}
        self.options = options
        self.tree_dirs = tree_include_dirs(options.tree, options.arch) if options.tree else ()
        # With a tree: its own layout, and kconfig.h force-included as the kernel build does.
        self.arch = (tree_layout(options.tree, options.arch) + (
            str(models_dir() / "include" / "linux" / "kconfig.h"),) if options.tree
            else arch_headers(options.arch))
        self._cache: dict[tuple[str, tuple[str, ...]], list[Variant]] = {}

    def variants(self, label: str, models: tuple[Model, ...]) -> list[Variant]:
        key = (label, tuple(m.name for m in models))
        if key not in self._cache:
            self._cache[key] = self._load(self.paths[label], models)
        return self._cache[key]

    def _load(self, paths: list[str], models: tuple[Model, ...]) -> list[Variant]:
        pinned = dict(self.options.pins)
        free = [c for c in preprocessor_configs(tuple(paths), self.options.max_file_size)
                if c not in pinned]
        if free and self.options.functions:
            # Only the switches that can change what the checked functions reach
            # make configurations of their own; the others stay off.
            off = self._variant(paths, models, pinned, tuple((c, False) for c in free))
            texts = {p: read_source(p, self.options.max_file_size) for p in paths}
            keep = relevant_configs(off.program, self.options.functions, free, texts)
            if not keep:
                return [Variant((), off.program)]
            pinned.update({c: False for c in free if c not in keep})
            free = keep
        if len(free) > MAX_PREPROCESSOR_CONFIGS:
            raise InputError(None, f"{len(free)} config switches in #if lines ({', '.join(free)}); "
                                   f"pin some with -D CONFIG_X=y|n")
        return [self._variant(paths, models, pinned, tuple(zip(free, values)))
                for values in itertools.product([False, True], repeat=len(free))]

    def _variant(self, paths: list[str], models: tuple[Model, ...], pinned: dict[str, bool],
                 valuation: tuple[tuple[str, bool], ...]) -> Variant:
        """The side preprocessed with `pinned` and `valuation`, loaded."""
        extras = tuple(Extra(m.display, m.text) for m in models) + _assumption_extras(
            self.options.assumptions)
        defines = tuple((name, "1" if on else None)
                        for name, on in list(pinned.items()) + list(valuation))
        side = SideInput(tuple(paths), self.options.include_dirs, self.arch, extras, defines,
                         self.options.max_file_size, self.options.no_stubs, self.tree_dirs,
                         self.options.tree)
        return Variant(valuation, build_unit(load_side(side), whole=self.options.whole_files))


def _assumption_extras(assumptions: tuple[str, ...]) -> tuple[Extra, ...]:
    # The line marker puts the expression itself at "--assume K", line 1.
    return tuple(
        Extra(f"--assume {k}", f"static inline int {ASSUME_PREFIX}cli_{k}(unsigned long flags) "
                               f"{{ return (\n# 1 \"--assume {k}\"\n{expr}\n); }}\n")
        for k, expr in enumerate(assumptions, start=1))


def side_paths(path: str) -> list[str]:
    """A side given as a file, or a directory (its .h files, then its .c files)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(str(f) for f in p.glob("*.h")) + sorted(str(f) for f in p.glob("*.c"))
        if not files:
            raise InputError(None, f"{path}: directory has no .c or .h files")
        return files
    return [path]


# ---- roots ------------------------------------------------------------------------

def called_names(funcdef: Any) -> set[str]:
    """Names of the functions `funcdef` calls directly."""
    names: set[str] = set()
    stack = [funcdef.body]
    while stack:
        node = stack.pop()
        if type(node).__name__ == "FuncCall" and type(node.name).__name__ == "ID":
            names.add(node.name.name)
        stack.extend(child for _, child in node.children())
    return names


def roots(program: Unit) -> list[str]:
    """User-defined functions that no other user-defined function calls.

    A definition in the user's files that could not be read counts too (it is
    checked as its error), unless another function calls it."""
    called: set[str] = set()
    for name in program.user_functions:
        called |= called_names(program.functions[name]) - {name}
    found = [n for n in program.user_functions if n not in called]
    # Every function called by another: a cycle.  Check them all (the
    # executor then reports the recursion where it happens).
    found = found or list(program.user_functions)
    return found + [n for n in program.skipped_functions if n not in called]


def select_functions(before: Unit | list[Unit], after: Unit | list[Unit],
                     requested: tuple[str, ...]) -> list[str]:
    """The functions to check: `requested`, or every root.  A side may be given as
    the units of all its configurations (a function may be defined in some only)."""
    units = [u for side in (before, after) for u in (side if isinstance(side, list) else [side])]
    if requested:
        for name in requested:
            if not any(name in p.user_functions or name in p.skipped_functions
                       for p in units):
                weak = any(name in p.side.weak for p in units)
                raise InputError(None, f"function '{name}' is defined on neither side" + (
                    " (only as a __weak default, which another file may replace, so its "
                    "callers see it as an external function)" if weak else ""))
        return list(dict.fromkeys(requested))
    return list(dict.fromkeys(n for u in units for n in roots(u)))


def _unreadable(name: str, before: Unit, after: Unit) -> InputError | None:
    """The error of a function whose definition could not be read on either side."""
    return before.skipped_functions.get(name) or after.skipped_functions.get(name)


# ---- premises ---------------------------------------------------------------------

def premises_of(models: list[Model], options: CheckOptions) -> list[Premise]:
    out = [Premise(f"model {m.name}", "model", m.invariant, m.name) for m in models]
    out += [Premise(f"assume '{expr}'", "assume", expr, f"{ASSUME_PREFIX}cli_{k}")
            for k, expr in enumerate(options.assumptions, start=1)]
    if options.stable_flags:
        out.append(Premise("--stable-flags", "stable-flags",
                           "external calls never change the flag word", STABLE_FLAGS))
    return out


def _assumption_owner(program: Unit, fn: str, models: tuple[Model, ...]) -> str:
    """The premise key an assumption function belongs to."""
    coord = program.functions[fn].coord
    for m in models:
        if coord is not None and coord.file == m.display:
            return m.name
    return fn


def layout_premise(options: CheckOptions) -> Premise:
    """The flag layout in force: the tree's own, or a baked one and the kernel it follows."""
    if options.tree:
        return Premise(f"layout {options.arch} (from --tree)", "layout",
                       f"the TIF_* bits of {options.tree}'s own thread_info.h", "layout")
    return Premise(f"layout {options.arch} ({arch_version(options.arch)}, baked)", "layout",
                   f"equiv's {options.arch} thread-flag layout, which follows "
                   f"{arch_version(options.arch)}", "layout")


# ---- the check ----------------------------------------------------------------------

def run_check(before_paths: list[str], after_paths: list[str],
              options: CheckOptions) -> CheckResult:
    """Check every selected function; raises InputError for bad input and
    BudgetExceeded when loading the sides runs out of the budget."""
    with _fewer_collections():
        return _run_check(before_paths, after_paths, options)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector, run less often while a check runs.

    A check allocates millions of small objects that live until it ends (AST
    nodes, IR, z3 references), and with the default thresholds each collection
    of the oldest generation walks all of them again: a fifth of the time of a
    20,000-statement function (22.7 s against 18.3 s).  Collections still run,
    only after 100,000 allocations instead of 700; the thresholds are restored.
    """
    old = gc.get_threshold()
    frozen_by_others = gc.get_freeze_count()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if not frozen_by_others:
            gc.unfreeze()  # what _freeze_loaded froze can be collected again


def _freeze_loaded() -> None:
    """What loading the sides made (ASTs of hundreds of thousands of nodes for a long
    function, the prelude's for every check) lives until the check ends: it is moved
    out of the collector's generations, which then never walk it again, until
    `_fewer_collections` puts it back.  The sides load with the collector paused, so
    nothing they made is walked before: the collections that resumed after a cache read
    walked it once, and each collection of the middle generation again (self-20000's
    collections took 0.8 s, 0.5 s with it frozen).  Not when the process froze objects of
    its own: unfreezing ours would unfreeze those too."""
    if not gc.get_freeze_count():
        gc.freeze()


def _run_check(before_paths: list[str], after_paths: list[str],
               options: CheckOptions) -> CheckResult:
    models = select_models(options.models, options.all_models, options.model_dirs)
    sides = Sides(before_paths, after_paths, options)
    enabled = tuple(models)
    with Guard(options.budget, "loading the sides"), collector.paused():
        before = sides.variants("before", enabled)[0].program
        after = sides.variants("after", enabled)[0].program
        notes = _arch_conflicts(sides, before, after) + list(dict.fromkeys(
            n for program in (before, after) for n in program.side.notes))
        _freeze_loaded()  # before the collector resumes
    # A function may be defined in some configurations only (under #ifdef CONFIG_X).
    in_before, in_after = (
        {n for v in sides.variants(label, enabled) for n in v.program.user_functions}
        for label in ("before", "after"))
    premises = premises_of(models, options)
    names = select_functions([v.program for v in sides.variants("before", enabled)],
                             [v.program for v in sides.variants("after", enabled)],
                             options.functions)
    unreadable = {n: e for n in names if (e := _unreadable(n, before, after)) is not None}
    both = [n for n in names if n in in_before and n in in_after and n not in unreadable]
    checked = _errors_as_results({**_check_all(sides, both, options, models, premises),
                                  **unreadable})
    results = []
    for name in names:
        if name in checked:
            results.append(checked[name])
        else:
            only_before = name in in_before
            verdict = Verdict.ONLY_BEFORE if only_before else Verdict.ONLY_AFTER
            side = before_paths[0] if only_before else after_paths[0]
            results.append(FunctionResult(name, verdict, reason=f"defined only in {side}"))
    if not results:
        raise InputError(None, "no function to check: neither side defines a function")
    return CheckResult(tuple(before_paths), tuple(after_paths), tuple(results),
                       notes=tuple(notes), skipped=_skipped_lines(before, after))


def _skipped_lines(before: Unit, after: Unit) -> tuple[str, ...]:
    """The file-scope declarations each side left out, as located lines (for -v)."""
    out: dict[str, None] = {}
    for label, program in (("before", before), ("after", after)):
        for err in program.skipped:
            if err.location is not None and not program.side.is_user_file(err.location.file):
                continue  # a header's: listed only when a checked function reaches it
            where = f"{err.location}: " if err.location is not None else ""
            out[f"{where}note: skipped ({label}; no checked function reaches it): "
                f"{err.message}"] = None
    return tuple(out)


def _errors_as_results(outcomes: dict[str, FunctionResult | InputError]) -> dict[str, FunctionResult]:
    """One function's error is that function's result; if every function failed, the error."""
    from equiv.errors import with_hint

    errors = [o for o in outcomes.values() if isinstance(o, InputError)]
    if errors and len(errors) == len(outcomes):
        raise errors[0]  # nothing was checked: the error, as before
    return {name: o if isinstance(o, FunctionResult) else
            FunctionResult(name, Verdict.ERROR, reason=with_hint(o, layouts_with).render())
            for name, o in outcomes.items()}


def _check_all(sides: Sides, names: list[str], options: CheckOptions, models: list[Model],
               premises: list[Premise]) -> dict[str, FunctionResult | InputError]:
    """Check each function, in worker processes when asked and worth it.

    Workers are forked before any z3 term exists in this process, and results
    come back in `names` order, so the output does not depend on `jobs`.
    """
    import multiprocessing

    # A daemonic process (a pool worker of the caller's) may not have children.
    work = (sides, options, models, premises)
    if options.jobs <= 1 or len(names) <= 1 or multiprocessing.current_process().daemon:
        return {n: _check_with(work, n) for n in names}

    global _WORK
    _WORK = work
    context = multiprocessing.get_context("fork")
    with context.Pool(min(options.jobs, len(names))) as pool:
        outcomes = pool.map(_check_one, names)
    _WORK = None
    return dict(zip(names, outcomes))


_WORK: Any = None


def _check_one(name: str) -> FunctionResult | InputError:
    return _check_with(_WORK, name)


def _check_with(work: Any, name: str) -> FunctionResult | InputError:
    """One function's result, or the located error that stopped its check."""
    sides, options, models, premises = work
    try:
        return FunctionCheck(sides, name, options, models).run(premises)
    except InputError as err:
        return err


def _arch_conflicts(sides: Sides, before: Unit, after: Unit) -> list[str]:
    """Where a fragment's own layout differs from the --arch layout (the fragment wins)."""
    if not sides.arch:
        return []
    from equiv.explain import perbit as explain

    layout = build_unit(load_side(SideInput((sides.arch[0],))))
    arch_values = explain.macro_values(layout)
    notes = []
    for program in (before, after):
        values = explain.macro_values(program)
        for name, macro in sorted(program.side.macros.items()):
            if not macro.location.file.startswith(tuple(program.side.paths)):
                continue
            mine = values.get(name)
            theirs = arch_values.get(name)
            if mine is not None and theirs is not None and mine != theirs:
                show = str if name.startswith("TIF_") else hex
                notes.append(f"{macro.location}: {name} is {show(mine)} here but {show(theirs)} "
                             f"in the {sides.options.arch} layout; the fragment's value is used")
    return notes


def _user_macros(program: Unit, values: dict[str, int]) -> dict[str, int]:
    """The macro values a side's own files define (not an --arch layout)."""
    from equiv.frontend.source import models_dir

    layout = str(models_dir())
    return {n: v for n, v in values.items() if n in program.side.macros
            and not program.side.macros[n].location.file.startswith(layout)}


@dataclass(frozen=True)
class WordView:
    """How a function's flag words are named in its report."""

    names: dict[int, str]  # bits of the flag word
    mapped: dict[int, str]  # bits of the --flag-map word
    tif: dict[int, str]  # thread-flag names (for masks)
    work: dict[int, str]  # SYSCALL_WORK names (for masks)
    own_before: dict[str, int]  # the sides' own macro values
    own_after: dict[str, int]
    label: str  # how the report calls the flag word


def _layout(words: tuple[FlagWord, ...]) -> str | None:
    return words[0].layout if words else None


def _opaque(query: Any, before: Unit, after: Unit) -> tuple[str, ...]:
    """External functions called with no definition or model on either side."""
    names = {e.name for e in query.before.events + query.after.events}
    return tuple(sorted(n for n in names
                        if n not in before.functions and n not in after.functions))


# Seconds of the function's --max-time kept back from a difference's explanation, so that
# a proved difference is reported (with the explanation cut short) before the budget ends.
_EXPLAIN_MARGIN = 5.0
# The explanation of a difference may take as long as finding it did, and at least this
# (seconds): a verdict is not held back for long by its explanation.
_EXPLAIN_FLOOR = 10.0
# Seconds for the first look for a difference when a loop bound cuts the function.
_QUICK_BOUNDED = 2.0
# The loop rules tried before that first look (the first of LOOP_RULES): plain lockstep
# induction, which proves the real exit-to-user loops in well under a second.
_EARLY_RULES = 1


class FunctionCheck:
    """Checks one function under any subset of the premises."""

    def __init__(self, sides: Sides, name: str, options: CheckOptions, models: list[Model]):
        self.sides = sides
        self.name = name
        self.options = options
        self.models = models
        self.words: dict[str, tuple[FlagWord, ...]] = {}  # per side: its flag-word parameters
        self._unchanged: dict[tuple[str, ...], bool] = {}  # per set of enabled models
        # Per side, when the function is defined in some configurations only: those.
        self.defined_in: dict[str, tuple[tuple[tuple[str, bool], ...], ...]] = {}
        self.opaque_names: set[str] = set()  # undeclared identifiers the traces read
        self.local_escapes: dict[str, None] = {}  # external callees given `&local`
        self.arrays_read: dict[str, None] = {}  # arrays read at an index that may be any
        self.objects: dict[str, None] = {}  # undeclared identifiers used as pointers
        self._deadline = float("inf")  # when the function's --max-time runs out

    def run(self, premises: list[Premise]) -> FunctionResult:
        """The function's result under the budget: UNKNOWN naming the limit when it runs out."""
        self._deadline = time.monotonic() + self.options.budget.max_time
        try:
            with Guard(self.options.budget, f"checking {self.name}"):
                return self._run(premises)
        except BudgetExceeded as hit:
            return FunctionResult(self.name, Verdict.UNKNOWN, reason=hit.reason)

    def _run(self, premises: list[Premise]) -> FunctionResult:
        result = self.evaluate(premises, explain_all=self.options.explain)
        facts, warnings = self.input_premises()
        result = replace(result, premises=tuple(premises) + facts, warnings=warnings)
        where = self.where_defined()
        if where is not None and result.reason is None:
            result = replace(result, reason=f"checked only where {where}: '{self.name}' "
                                            f"is not defined in the other configurations")
        if result.verdict is not Verdict.EQUIVALENT or not premises or not self.options.explain:
            return result
        return replace(result, needed=tuple(self.needed(premises)))

    def input_premises(self) -> tuple[tuple[Premise, ...], tuple[str, ...]]:
        """What the verdict rests on besides the premises the user chose: the layout,
        stubbed headers and undeclared identifiers (always in force), and the
        warnings about fallbacks that fired after a stub."""
        out = [layout_premise(self.options)] if self.options.arch else []
        stubs: dict[str, None] = {}
        warnings: dict[str, None] = {}
        for label in ("before", "after"):
            for variant in self.sides.variants(label, tuple(self.models)):
                stubs.update(dict.fromkeys(variant.program.side.stubs))
                warnings.update(dict.fromkeys(variant.program.side.warnings))
        out += [Premise(f"stub <{name}>", "stub", "no directory in reach provides this "
                        "header; it was read as an empty file", f"stub:{name}")
                for name in stubs]
        types: dict[str, None] = {}
        for label in ("before", "after"):
            for variant in self.sides.variants(label, tuple(self.models)):
                types.update(dict.fromkeys(variant.program.side.opaque_types))
        out += [Premise(f"opaque type {name}", "opaque-type", f"no header in reach declares "
                        f"the type '{name}': its values are only copied, passed and called "
                        f"through (each exact whatever the type is); anything else is refused",
                        f"type:{name}") for name in sorted(types)]
        out += [Premise(f"opaque {name}", "opaque", f"no header in reach declares '{name}': "
                        f"an unconstrained constant, the same on both sides, of type int, long or "
                        f"unsigned long (not unsigned int, nor an int INT_MIN that is negated), "
                        f"read as a long; where its type "
                        f"could decide the verdict, equiv refuses",
                        f"{OPAQUE_PREFIX}{name}") for name in sorted(self.opaque_names)]
        names = self.param_names(tuple(self.models))
        if len(names["before"]) != len(names["after"]) and all(names.values()):
            out.append(Premise("parameters by name", "binding", f"the signatures differ in "
                               f"length (before: {', '.join(names['before'])}; after: "
                               f"{', '.join(names['after'])}): parameters are matched by name, "
                               f"and one that only one side has is a free input of that side",
                               "binding"))
        out += [Premise(f"&local to {name}()", "local-address", f"'{name}()' is given a "
                        f"pointer to a local: it does not keep the pointer after it returns, "
                        f"and does not read the cells the side left uninitialized",
                        f"local:{name}") for name in sorted(self.local_escapes)]
        out += [Premise(f"object {name}", "object", f"no header in reach declares '{name}', "
                        f"which is used as a pointer: it is the constant address of one "
                        f"object (an array, not a pointer variable), the same on both sides, "
                        f"that overlaps no parameter and no other object equiv names",
                        f"object:{name}") for name in sorted(self.objects)]
        out += [Premise(f"index into {name}", "array-index", f"'{name}' is an array of unknown "
                        f"length read at an index that is not a constant: every element read "
                        f"that way exists (there is no bound to check)", f"array:{name}")
                for name in sorted(self.arrays_read)]
        return tuple(out), tuple(warnings)

    def needed(self, premises: list[Premise]) -> list[NeededPremise]:
        """An irreducible set of premises the proof needs, with what fails without each."""
        active = list(premises)
        out = []
        for p in premises:
            trial = [q for q in active if q != p]
            without = self.evaluate(trial, explain_all=False)
            if without.verdict is Verdict.EQUIVALENT:
                active = trial
                continue
            cex = without.counterexample
            out.append(NeededPremise(p, without.verdict,
                                     None if cex is None else cex.flags,
                                     () if cex is None else cex.flag_names,
                                     () if cex is None else cex.configs))
        return out

    def evaluate(self, premises: list[Premise], explain_all: bool) -> FunctionResult:
        from equiv.explain import perbit as explain
        from equiv.explain.counterexample import build_counterexample, minimal_model
        from equiv.query.equivalence import build_query
        from equiv.query.smt import Session
        from equiv.report.results import BitRow, Relevance

        models = tuple(m for m in self.models if f"model {m.name}" in
                       {p.label for p in premises})
        keys = {p.key for p in premises}
        import z3

        from equiv.semantics.trace import AnalysisLimit


        same = self.unchanged(models)
        try:
            b_trace, b_prog = self.trace("before", models, keys)
            # The same program on both sides (every configuration): executing the
            # after side would give the same trace, errors and cut loops again.
            a_trace, a_prog = (b_trace, b_prog) if same else self.trace("after", models, keys)
        except AnalysisLimit as limit:
            return FunctionResult(self.name, Verdict.UNKNOWN, reason=str(limit))
        except z3.Z3Exception as exc:  # a bug of equiv's, never a proof
            return FunctionResult(self.name, Verdict.UNKNOWN,
                                  reason=f"internal error (z3: {exc}); please report")
        self.local_escapes.update(dict.fromkeys(n for trace in (b_trace, a_trace)
                                                for n in trace.local_escapes))
        for trace in (b_trace, a_trace):
            self.arrays_read.update(dict.fromkeys(trace.arrays_read))
            self.objects.update(dict.fromkeys(trace.objects))
        self.opaque_names |= {name for trace in (b_trace, a_trace)
                              for name, term in trace.inputs.items()
                              if str(term).startswith(OPAQUE_PREFIX)}
        facts = self.facts(b_prog, a_prog, b_trace, a_trace, keys, models)
        query = build_query(b_trace, a_trace, facts, unchanged=same)
        session = Session(query.background, self.options.timeout)
        view = self.word_view(b_prog, a_prog)
        masks = explain.mask_rows(view.own_before, view.own_after, view.tif,
                                  view.work) if explain_all else ()
        decision = self.decision(query, session, same, models, keys, facts)
        bits = explain.tested_bits(query) if explain_all else []
        opaque = _opaque(query, b_prog, a_prog) if explain_all else ()
        notes = self.word_notes() if explain_all else ()
        if decision.outcome == "equivalent":
            rows = tuple(BitRow(b, view.names.get(b, f"bit {b}"), Relevance.DOES_NOT_MATTER)
                         for b in bits)
            return FunctionResult(self.name, Verdict.EQUIVALENT, bits=rows, masks=masks,
                                  opaque=opaque, word_notes=notes, reason=decision.reason)
        if decision.outcome == "unknown":
            return FunctionResult(self.name, Verdict.UNKNOWN, reason=decision.reason,
                                  masks=masks, opaque=opaque, word_notes=notes)
        # The difference is proved: its minimisation and explanation share one allowance,
        # and running out of it costs them only, never the verdict.
        now = time.monotonic()
        spent = now - (self._deadline - self.options.budget.max_time)
        left = max(self._deadline - now - _EXPLAIN_MARGIN, 0.0)
        allowance = min(left, max(_EXPLAIN_FLOOR, spent))
        minimal = minimal_model(session, query, known=decision.answer, deadline=now + allowance)
        answer = minimal.answer
        mapped = (MAPPED_WORD, view.mapped) if self.options.flag_map else None
        cex = build_counterexample(answer, query, view.names, view.label,
                                   mapped) if answer.model is not None else None
        if cex is None:
            return FunctionResult(self.name, Verdict.UNKNOWN, masks=masks, reason=(
                "internal error: the solver's counterexample did not replay; please report"))
        cex = replace(cex, not_minimal=minimal.unproved)
        if not explain_all:
            return FunctionResult(self.name, Verdict.NOT_EQUIVALENT, counterexample=cex)
        assert answer.model is not None
        explaining = Budget(max(now + allowance - time.monotonic(), 0.0),
                            self.options.budget.max_memory)
        done: dict[str, Any] = {}  # what the explanation finished before a cut
        try:
            with Guard(explaining, f"explaining the difference in {self.name}"):
                return self._explained(query, session, view, bits, answer, minimal.seen, cex,
                                       masks, opaque, notes, done)
        except BudgetExceeded as hit:
            cut = hit.reason if hit.reason.startswith("memory") else (
                f"time limit reached (--max-time {self.options.budget.max_time:g} s, "
                f"{_EXPLAIN_MARGIN:g} s of it kept for the report)"
                if allowance == left else
                f"it may take as long as finding the difference did, at least "
                f"{_EXPLAIN_FLOOR:g} s ({allowance:.0f} s here, the counterexample's "
                f"minimisation included); --verdict-only skips it")
            rows = done.get("rows", ())
            where = (" after the per-bit rows" if done.get("rows_complete") else
                     " during the per-bit rows (those not decided were not reached)"
                     if rows else "")
            return FunctionResult(
                self.name, Verdict.NOT_EQUIVALENT, counterexample=done.get("cex", cex),
                masks=masks, opaque=opaque, word_notes=notes, bits=rows,
                reason=f"the counterexample is complete; its explanation was cut off"
                       f"{where}: {cut}")

    def _explained(self, query: Any, session: Any, view: Any, bits: list[int], answer: Any,
                   seen: tuple[Any, ...], cex: Any, masks: Any, opaque: Any, notes: Any,
                   done: dict[str, Any]) -> FunctionResult:
        """The NOT EQUIVALENT result with its explanation: per-bit rows, the inputs that
        matter and the difference condition.  Each part is put in `done` as it is
        finished, so that a cut by the budget keeps what was finished (each store is one
        step, which the budget's exception cannot split)."""
        from equiv.explain import perbit as explain
        import z3

        word_bits = explain.tested_bits(query, MAPPED_WORD) if self.options.flag_map else []
        variables = explain.variables(query, bits, view.names,
                                      MAPPED_WORD if self.options.flag_map else None,
                                      word_bits, view.mapped)
        known = explain.Known(query)
        rows, relevant = explain.bit_rows(query, session, variables, answer.model, known,
                                          seen, partial=done)
        done["rows"], done["rows_complete"] = rows, True
        extra = {MAPPED_WORD: [z3.BitVec(MAPPED_WORD, 64)]} if self.options.flag_map else None
        matters = explain.inputs_that_matter(query, session, answer.model, extra)
        done["cex"] = explain.annotate(cex, matters)
        return FunctionResult(
            self.name, Verdict.NOT_EQUIVALENT, counterexample=done["cex"],
            condition=explain.difference_condition(query, session, variables, relevant, known),
            bits=rows, masks=masks, opaque=opaque, word_notes=notes)

    def unchanged(self, models: tuple[Model, ...]) -> bool:
        """Both sides are the same program for this function (never with a flag map,
        which reads the after side's flag parameter as another word)."""
        from equiv.query.unchanged import unchanged

        if not self.options.skip_unchanged or self.options.flag_map:
            return False
        key = tuple(m.name for m in models)
        if key not in self._unchanged:
            before, after = (self.sides.variants(label, models) for label in ("before", "after"))
            self._unchanged[key] = unchanged([(v.valuation, v.program) for v in before],
                                             [(v.valuation, v.program) for v in after],
                                             self.name)
        return self._unchanged[key]

    def word_view(self, b_prog: Unit, a_prog: Unit) -> WordView:
        """Bit names for the flag word (and the --flag-map word), in each word's layout."""
        from equiv.explain import perbit as explain

        b_values, a_values = explain.macro_values(b_prog), explain.macro_values(a_prog)
        own = [_user_macros(b_prog, b_values), _user_macros(a_prog, a_values)]
        every = [b_values, a_values]
        b_layout = _layout(self.words.get("before", ()))
        a_layout = _layout(self.words.get("after", ()))
        if self.options.flag_map:
            layout, mapped_layout = b_layout or TIF, a_layout or TIF
        else:
            layout, mapped_layout = b_layout or a_layout or TIF, TIF
        label = "flags"
        if layout == SYSCALL_WORK:
            label = next(w.param for side in ("before", "after")
                         for w in self.words.get(side, ()) if w.layout == SYSCALL_WORK)
        return WordView(explain.layout_names(own, every, layout),
                        explain.layout_names(own[1:], every[1:], mapped_layout),
                        explain.layout_names(own, every, TIF),
                        explain.layout_names(own, every, SYSCALL_WORK), own[0], own[1], label)

    def word_notes(self) -> tuple[str, ...]:
        """Which parameter each side took as the flag word, and why (one line per word)."""
        seen: dict[tuple[str, str, bool], list[str]] = {}
        reasons: dict[tuple[str, str, bool], str] = {}
        for side in ("before", "after"):
            mapped = side == "after" and bool(self.options.flag_map)
            for w in self.words.get(side, ()):
                key = (w.param, w.layout, mapped)
                seen.setdefault(key, []).append(side)
                reasons.setdefault(key, w.why)
        out = []
        for (param, layout, mapped), sides in seen.items():
            what = ("the syscall_work word (SYSCALL_WORK_* names)" if layout == SYSCALL_WORK
                    else "the thread-flag word (_TIF_* names)")
            where = "" if len(sides) == 2 else f"{sides[0]} side: "
            into = f", read as {MAPPED_WORD} (--flag-map)" if mapped else ""
            out.append(f"{where}parameter '{param}' ({reasons[(param, layout, mapped)]}), "
                       f"{what}{into}")
        layouts = {w.layout for side in self.words.values() for w in side}
        if len(layouts) > 1 and not self.options.flag_map:
            out.append("the sides' flag words have different layouts but are one value here; "
                       "--flag-map FILE relates their bits")
        return tuple(out)

    def flag_params(self, models: tuple[Model, ...]) -> tuple[str, ...]:
        """The parameter names bound to the flag word: by name, or recognised by use.

        The union over both sides and every configuration, so that a parameter
        is the flag word on both sides or on neither (never two different values).
        """
        names = list(self.options.flag_params)
        for label in ("before", "after"):
            for variant in self.sides.variants(label, models):
                funcdef = variant.program.functions.get(self.name)
                if funcdef is None:
                    continue
                bodies = {n: m.body for n, m in variant.program.side.macros.items()}
                words = flag_words(funcdef, bodies, self.options.flag_params)
                self.words.setdefault(label, words)
                names += [w.param for w in words]
        return tuple(dict.fromkeys(names))

    def decision(self, query: Any, session: Any, same: bool, models: tuple[Model, ...],
                 keys: set[str], facts: list[Any]) -> Any:
        """The verdict on `query`: bounded, with the loop rules where a bound cuts a loop.

        A bound that cuts a loop rarely proves anything, and the unwound formula can
        take the whole --timeout to give up on: then plain lockstep induction comes
        first, then a short look for a difference, then the other loop rules, and only
        then the full bounded search.  The verdict does not depend on the order (a
        difference within the bound and a proof by a rule never both exist); only the
        time does.
        """
        from equiv.query.equivalence import Decision, decide
        from equiv.query.smt import Session

        loops_cut = bool(query.exceeded) and "loop" in query.cut_reasons
        if not loops_cut or same or self.options.timeout <= _QUICK_BOUNDED:
            bounded = self._bounded(query, session)
            if bounded.outcome != "unknown" or not loops_cut:
                return bounded
            return self._with_rules(bounded, models, keys, facts)
        early, tried = self._rules(models, keys, facts, LOOP_RULES[:_EARLY_RULES])
        if early is not None:
            return early
        quick = decide(query, Session(query.background, _QUICK_BOUNDED), self.options.unwind,
                       consistency=False)  # a difference it finds proves the consistency
        if quick.outcome == "equivalent":  # every loop ended within the bound after all
            return self._bounded(query, session)
        if quick.outcome != "unknown":
            return quick
        rest = LOOP_RULES[_EARLY_RULES:]
        if not quick.reason.startswith("solver gave up"):
            return self._with_rules(quick, models, keys, facts, rest, tried)
        proved = self.induction(models, keys, facts, rest, tried)
        if proved.outcome == "equivalent":
            return proved
        bounded = self._bounded(query, session)
        if bounded.outcome != "unknown":
            return bounded
        return Decision("unknown", reason=f"{bounded.reason}; {proved.reason}")

    def _bounded(self, query: Any, session: Any) -> Any:
        """The bounded check; contradictory assumptions are the user's error."""
        from equiv.query.equivalence import decide

        decision = decide(query, session, self.options.unwind)
        if decision.outcome == "contradictory":
            raise InputError(None, decision.reason)
        return decision

    def _with_rules(self, bounded: Any, models: tuple[Model, ...], keys: set[str],
                    facts: list[Any], rules: Any = LOOP_RULES, tried: Any = ()) -> Any:
        """The loop rules' EQUIVALENT, else `bounded` (UNKNOWN) with what they tried."""
        from equiv.query.equivalence import Decision

        proved = self.induction(models, keys, facts, rules, tried)
        if proved.outcome == "equivalent":
            return proved
        return Decision("unknown", reason=f"{bounded.reason}; {proved.reason}")

    def induction(self, models: tuple[Model, ...], keys: set[str], facts: list[Any],
                  rules: Any = LOOP_RULES, tried: Any = ()) -> Any:
        """Prove the loops for every iteration count, where a bound cuts them.

        The `rules` (a slice of `LOOP_RULES`) are tried in order.  Equivalent only if
        one of them proves every loop pair and the function with its loops summarised
        has no difference; otherwise UNKNOWN, whose reason says what was tried, after
        the failures in `tried` (of rules tried earlier; the caller puts the bounded
        check's reason in front of it).
        """
        from equiv.query.equivalence import Decision

        proved, failures = self._rules(models, keys, facts, rules)
        if proved is not None:
            return proved
        return Decision("unknown", reason=(
            f"tried {'; '.join([*tried, *failures])}; a larger --unwind, a model or "
            f"an --assume may help"))

    def _rules(self, models: tuple[Model, ...], keys: set[str], facts: list[Any],
               rules: Any) -> tuple[Any, list[str]]:
        """The first of `rules` that proves the loops (its EQUIVALENT), else None; and
        why each rule tried failed."""
        from equiv.query.equivalence import Decision, build_query, decide
        from equiv.query.loop_proof import prove_loops
        from equiv.query.smt import Session

        failures: list[str] = []
        for rule, method, (peel_before, peel_after), *passes in rules:
            unroll_before, unroll_after = passes[0] if passes else (1, 1)
            b_trace, _ = self.trace("before", models, keys, summarize=True, peel=peel_before,
                                    unroll=unroll_before)
            a_trace, _ = self.trace("after", models, keys, summarize=True, peel=peel_after,
                                    unroll=unroll_after)
            avoid: dict[int, list[Any]] = {}
            exclude: dict[int, set[tuple[int, int]]] = {}
            started = time.monotonic()
            for _ in range(MAX_LOOP_REFINEMENTS + 1):
                if avoid and time.monotonic() - started > self.options.timeout:
                    failures.append(f"{rule}: the loops were proved, but refining what they "
                                    f"leave ran past --timeout {self.options.timeout:g} s")
                    break
                proof = prove_loops(b_trace, a_trace, facts, self.options.timeout, method,
                                    avoid, exclude)
                if proof.before is None or proof.after is None:
                    failures.append(f"{rule}: {proof.reason}")
                    break
                query = build_query(proof.before, proof.after, facts)
                decision = decide(query, Session(query.background, self.options.timeout),
                                  self.options.unwind)
                if decision.outcome == "contradictory":
                    raise InputError(None, decision.reason)
                if decision.outcome == "equivalent":
                    couplings = "; ".join(", ".join(c) or "none" for c in proof.couplings)
                    refined = (f", refined {len(next(iter(avoid.values())))} times by the "
                               f"exits the rest of the function tells apart" if avoid else "")
                    if exclude:
                        refined += (f"; coupled variables that differ where the loops start "
                                    f"left out ({sum(map(len, exclude.values()))})")
                    return Decision("equivalent", reason=(
                        f"every loop proved for any number of iterations by {rule} "
                        f"(coupled at the loop heads: {couplings}){refined}")), failures
                # A coupling may hold only by chance (its pairs are never equal where the
                # loops start): those pairs are dropped.  An invariant may say too little
                # about what the loops leave: the exits that showed a difference are
                # excluded by Spacer, or found.
                model = (decision.answer.model if decision.outcome == "different"
                         and decision.answer is not None else None)
                unequal = proof.unequal_pairs(model) if model is not None else {}
                points = proof.exit_points(model) if model is not None and not unequal else {}
                for number, pairs in unequal.items():
                    exclude.setdefault(number, set()).update(pairs)
                if not points and not unequal:
                    failures.append(f"{rule}: the loops were proved, but the rest of the "
                                    f"function could not be (a difference may rest on the "
                                    f"loop summaries)")
                    break
                for number, point in points.items():
                    avoid.setdefault(number, []).append(point)
            else:
                failures.append(f"{rule}: the loops were proved, but the rest of the function "
                                f"could not be after {MAX_LOOP_REFINEMENTS} refinements")
        return None, failures

    def trace(self, label: str, models: tuple[Model, ...], keys: set[str],
              summarize: bool = False, peel: int = 0, unroll: int = 1) -> tuple[Any, Unit]:
        """The side's behaviour, combined over its preprocessor configurations."""
        from equiv.semantics.combine import combine
        from equiv.semantics.expressions import Executor
        from equiv.semantics.trace import Options

        variants = self.sides.variants(label, models)
        # Parameters are bound by position; they are named as the before side names them.
        # When the signatures differ in length (a parameter added or removed), positions
        # do not correspond: they are bound by name, a premise the report states.
        names = self.param_names(models)
        by_name = len(names["before"]) != len(names["after"]) and all(names.values())
        root_names = names[label] if by_name else names["before"]
        traces = []
        present = [v for v in variants if self.name in v.program.functions]
        if not present:
            raise InputError(None, f"'{self.name}' is not defined in any configuration "
                                   f"of the {label} side")
        if len(present) < len(variants):
            # Checked only in the configurations that define it (a premise, stated).
            self.defined_in[label] = tuple(v.valuation for v in present)
            variants = present
        for k, variant in enumerate(variants):
            options = Options(unwind=self.options.unwind, flag_params=self.flag_params(models),
                              racy_flags=self.options.racy_flags,
                              stable_flags=STABLE_FLAGS in keys,
                              symbol_prefix=label if k == 0 else f"{label}~{k}",
                              param_word=MAPPED_WORD if label == "after" and
                              self.options.flag_map else "flags", root_names=root_names,
                              params_by_name=by_name,
                              summarize_loops=summarize, peel=(peel,) * MAX_PEELED_LOOPS,
                              unroll=unroll)
            trace = Executor(variant.program, label, options).run(self.name)
            owned = [(fn, term) for fn, term in trace.assumptions
                     if fn.startswith(C_RULE_PREFIX)
                     or _assumption_owner(variant.program, fn, models) in keys]
            traces.append((variant.valuation, replace(trace, assumptions=owned)))
        return combine(traces), variants[0].program

    def param_names(self, models: tuple[Model, ...]) -> dict[str, tuple[str, ...]]:
        """The root's parameter names on each side (empty where it is not defined)."""
        out = {}
        for label in ("before", "after"):
            sig = self.sides.variants(label, models)[0].program.signatures.get(self.name)
            out[label] = tuple(n for n, _ in sig.params) if sig else ()
        return out

    def where_defined(self) -> str | None:
        """The configurations the check was restricted to, as text (None: all)."""
        if not self.defined_in:
            return None
        parts: dict[str, None] = {}
        for valuations in self.defined_in.values():
            parts[" or ".join(", ".join(f"{n}={'y' if on else 'n'}" for n, on in v)
                              for v in valuations)] = None
        return " and ".join(f"({p})" if len(parts) > 1 else p for p in parts)

    def facts(self, b_prog: Unit, a_prog: Unit, b_trace: Any, a_trace: Any,
              keys: set[str], models: tuple[Model, ...]) -> list[Any]:
        import z3

        facts = [term for _, term in b_trace.assumptions + a_trace.assumptions]
        for valuations in self.defined_in.values():
            facts.append(z3.Or(*[z3.And(*[z3.Bool(n) == z3.BoolVal(on) for n, on in v])
                                 for v in valuations]))
        for name, on in self.options.pins:
            facts.append(z3.Bool(name) == z3.BoolVal(on))
        if self.options.flag_map:
            facts += flag_map_facts(self.options.flag_map, b_prog, a_prog)
        facts += stable_bit_facts(models, (b_prog, a_prog), (b_trace, a_trace))
        return facts


def stable_bit_facts(models: tuple[Model, ...], programs: tuple[Unit, Unit],
                     traces: tuple[Any, Any]) -> list[Any]:
    """A model's `Stable:` masks: every external call leaves those bits of the flag word
    as it found them (on each side, with the mask as that side defines it; a side
    that does not define it gets no fact: the model does not apply there)."""
    import z3

    from equiv.explain import perbit as explain

    facts = []
    for program, trace in zip(programs, traces):
        values = explain.macro_values(program)
        mask = 0
        for m in models:
            mask |= sum(values.get(name, 0) for name in m.stable)
        if not mask:
            continue
        keep = z3.BitVecVal(mask, 64)
        facts += [(e.flags_after & keep) == (e.flags_at & keep) for e in trace.events
                  if e.flags_after is not None and e.flags_at is not None]
    return facts


# ---- flag maps --------------------------------------------------------------------------

def flag_map_facts(path: str, before: Unit, after: Unit) -> list[Any]:
    """`BEFORE_BIT = AFTER_BIT` lines: bit i of the flag word is bit j of the after word."""
    import z3

    from equiv.explain import perbit as explain

    text = read_source(path)
    b_values, a_values = explain.macro_values(before), explain.macro_values(after)
    flags, word = z3.BitVec("flags", 64), z3.BitVec(MAPPED_WORD, 64)
    facts = []
    used: dict[tuple[str, int], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"(\w+)\s*=\s*(\w+)", line)
        if not m:
            raise InputError(Location(path, number), "expected 'BEFORE_BIT = AFTER_BIT'")
        i = _bit_number(m.group(1), b_values, path, number)
        j = _bit_number(m.group(2), a_values, path, number)
        for side, bit, token in (("before", i, m.group(1)), ("after", j, m.group(2))):
            if (side, bit) in used:
                raise InputError(Location(path, number), f"{side} bit {token} ({bit}) is "
                                                         f"already mapped on line "
                                                         f"{used[(side, bit)]}")
            used[(side, bit)] = number
        facts.append(z3.Extract(i, i, flags) == z3.Extract(j, j, word))
    return facts


def _bit_number(token: str, values: dict[str, int], path: str, line: int) -> int:
    if token.isdigit():
        value = int(token)
    elif token in values:
        value = values[token]
    else:
        raise InputError(Location(path, line), f"'{token}' is not a bit number this side "
                                               f"defines (use TIF_X or SYSCALL_WORK_BIT_X)")
    if not 0 <= value < 64:
        raise InputError(Location(path, line), f"'{token}' = {value} is not a bit number")
    return value
