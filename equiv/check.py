"""`equiv check`: from two sides' files to a `CheckResult`.

Loads and parses both sides (once per preprocessor configuration), picks the
functions to check, executes each side symbolically, asks the equivalence
query, and explains the answer: a difference with its minimal
counterexample, or a proof with the premises (models, assumptions) it needed.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from equiv.errors import InputError, Location
from equiv.frontend import Extra, SideInput, load_side, preprocessor_configs, read_source
from equiv.model_library import Model, arch_headers, select_models
from equiv.program import Program, build_program
from equiv.results import (CheckResult, FunctionResult, NeededPremise, Premise, Verdict)
from equiv.symex import ASSUME_PREFIX, FLAG_PARAMS

MAX_PREPROCESSOR_CONFIGS = 6
MAPPED_WORD = "mapped_word"


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
    flag_map: str | None = None
    jobs: int = 1  # worker processes for independent functions
    # An unchanged function (equiv.unchanged) is equivalent without the
    # difference query; off only to exercise the full query on such pairs.
    skip_unchanged: bool = True


@dataclass(frozen=True)
class Variant:
    """One side under one valuation of the configs its #if lines test."""

    valuation: tuple[tuple[str, bool], ...]
    program: Program


class Sides:
    """Loads and caches both sides, per set of enabled models."""

    def __init__(self, before: list[str], after: list[str], options: CheckOptions):
        self.paths = {"before": before, "after": after}
        self.options = options
        self.arch = arch_headers(options.arch)
        self._cache: dict[tuple[str, tuple[str, ...]], list[Variant]] = {}

    def variants(self, label: str, models: tuple[Model, ...]) -> list[Variant]:
        key = (label, tuple(m.name for m in models))
        if key not in self._cache:
            self._cache[key] = self._load(self.paths[label], models)
        return self._cache[key]

    def _load(self, paths: list[str], models: tuple[Model, ...]) -> list[Variant]:
        pinned = dict(self.options.pins)
        free = [c for c in preprocessor_configs(tuple(paths)) if c not in pinned]
        if len(free) > MAX_PREPROCESSOR_CONFIGS:
            raise InputError(None, f"{len(free)} config switches in #if lines ({', '.join(free)}); "
                                   f"pin some with -D CONFIG_X=y|n")
        extras = tuple(Extra(m.display, m.text) for m in models) + _assumption_extras(
            self.options.assumptions)
        out = []
        for values in itertools.product([False, True], repeat=len(free)):
            valuation = tuple(zip(free, values))
            defines = tuple((name, "1" if on else None)
                            for name, on in list(pinned.items()) + list(valuation))
            side = SideInput(tuple(paths), self.options.include_dirs, self.arch, extras, defines)
            out.append(Variant(valuation, build_program(load_side(side))))
        return out


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


def roots(program: Program) -> list[str]:
    """User-defined functions that no other user-defined function calls."""
    called: set[str] = set()
    for name in program.user_functions:
        called |= called_names(program.functions[name]) - {name}
    found = [n for n in program.user_functions if n not in called]
    # Every function called by another: a cycle.  Check them all (the
    # executor then reports the recursion where it happens).
    return found or list(program.user_functions)


def select_functions(before: Program, after: Program,
                     requested: tuple[str, ...]) -> list[str]:
    if requested:
        for name in requested:
            if name not in before.user_functions and name not in after.user_functions:
                raise InputError(None, f"function '{name}' is defined on neither side")
        return list(dict.fromkeys(requested))
    return list(dict.fromkeys(roots(before) + roots(after)))


# ---- premises ---------------------------------------------------------------------

def premises_of(models: list[Model], options: CheckOptions) -> list[Premise]:
    out = [Premise(f"model {m.name}", "model", m.invariant, m.name) for m in models]
    out += [Premise(f"assume '{expr}'", "assume", expr, f"{ASSUME_PREFIX}cli_{k}")
            for k, expr in enumerate(options.assumptions, start=1)]
    return out


def _assumption_owner(program: Program, fn: str, models: tuple[Model, ...]) -> str:
    """The premise key an assumption function belongs to."""
    coord = program.functions[fn].coord
    for m in models:
        if coord is not None and coord.file == m.display:
            return m.name
    return fn


# ---- the check ----------------------------------------------------------------------

def run_check(before_paths: list[str], after_paths: list[str],
              options: CheckOptions) -> CheckResult:
    models = select_models(options.models, options.all_models, options.model_dirs)
    sides = Sides(before_paths, after_paths, options)
    enabled = tuple(models)
    before = sides.variants("before", enabled)[0].program
    after = sides.variants("after", enabled)[0].program
    notes = _arch_conflicts(sides, before, after)
    premises = premises_of(models, options)
    names = select_functions(before, after, options.functions)
    both = [n for n in names if n in before.user_functions and n in after.user_functions]
    checked = _check_all(sides, both, options, models, premises)
    results = []
    for name in names:
        if name in checked:
            results.append(checked[name])
        else:
            in_before = name in before.user_functions
            verdict = Verdict.ONLY_BEFORE if in_before else Verdict.ONLY_AFTER
            side = before_paths[0] if in_before else after_paths[0]
            results.append(FunctionResult(name, verdict, reason=f"defined only in {side}"))
    if not results:
        raise InputError(None, "no function to check: neither side defines a function")
    return CheckResult(tuple(before_paths), tuple(after_paths), tuple(results),
                       notes=tuple(notes))


def _check_all(sides: Sides, names: list[str], options: CheckOptions, models: list[Model],
               premises: list[Premise]) -> dict[str, FunctionResult]:
    """Check each function, in worker processes when asked and worth it.

    Workers are forked before any z3 term exists in this process, and results
    come back in `names` order, so the output does not depend on `jobs`.
    """
    import multiprocessing

    # A daemonic process (a pool worker of the caller's) may not have children.
    if options.jobs <= 1 or len(names) <= 1 or multiprocessing.current_process().daemon:
        return {n: FunctionCheck(sides, n, options, models).run(premises) for n in names}

    global _WORK
    _WORK = (sides, options, models, premises)
    context = multiprocessing.get_context("fork")
    with context.Pool(min(options.jobs, len(names))) as pool:
        outcomes = pool.map(_check_one, names)
    _WORK = None
    results = {}
    for name, outcome in zip(names, outcomes):
        if isinstance(outcome, InputError):
            raise outcome
        results[name] = outcome
    return results


_WORK: Any = None


def _check_one(name: str) -> FunctionResult | InputError:
    sides, options, models, premises = _WORK
    try:
        return FunctionCheck(sides, name, options, models).run(premises)
    except InputError as err:
        return err


def _arch_conflicts(sides: Sides, before: Program, after: Program) -> list[str]:
    """Where a fragment's own layout differs from the --arch layout (the fragment wins)."""
    if not sides.arch:
        return []
    from equiv import explain

    layout = build_program(load_side(SideInput((sides.arch[0],))))
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


def _user_macros(program: Program, values: dict[str, int]) -> dict[str, int]:
    """The macro values a side's own files define (not an --arch layout)."""
    from equiv.frontend import models_dir

    layout = str(models_dir())
    return {n: v for n, v in values.items() if n in program.side.macros
            and not program.side.macros[n].location.file.startswith(layout)}


class FunctionCheck:
    """Checks one function under any subset of the premises."""

    def __init__(self, sides: Sides, name: str, options: CheckOptions, models: list[Model]):
        self.sides = sides
        self.name = name
        self.options = options
        self.models = models

    def run(self, premises: list[Premise]) -> FunctionResult:
        result = self.evaluate(premises, explain_all=True)
        result = replace(result, premises=tuple(premises))
        if result.verdict is not Verdict.EQUIVALENT or not premises:
            return result
        return replace(result, needed=tuple(self.needed(premises)))

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
        from equiv import explain
        from equiv.counterexample import build_counterexample, minimal_model
        from equiv.equivalence import build_query, decide
        from equiv.results import BitRow
        from equiv.smt import Session

        models = tuple(m for m in self.models if f"model {m.name}" in
                       {p.label for p in premises})
        keys = {p.key for p in premises}
        from equiv.symex import AnalysisLimit

        import z3

        try:
            b_trace, b_prog = self.trace("before", models, keys)
            a_trace, a_prog = self.trace("after", models, keys)
        except AnalysisLimit as limit:
            return FunctionResult(self.name, Verdict.UNKNOWN, reason=str(limit))
        except z3.Z3Exception as exc:  # a bug of equiv's, never a proof
            return FunctionResult(self.name, Verdict.UNKNOWN,
                                  reason=f"internal error (z3: {exc}); please report")
        facts = self.facts(b_prog, a_prog, b_trace, a_trace, keys, models)
        query = build_query(b_trace, a_trace, facts, unchanged=self.unchanged(models))
        session = Session(query.background, self.options.timeout)
        b_values, a_values = explain.macro_values(b_prog), explain.macro_values(a_prog)
        names = {**explain.bit_names(a_values), **explain.bit_names(b_values)}
        masks = explain.mask_rows(_user_macros(b_prog, b_values), _user_macros(a_prog, a_values),
                                  names) if explain_all else ()
        decision = decide(query, session)
        if decision.outcome == "contradictory":
            raise InputError(None, decision.reason)
        bits = explain.tested_bits(query) if explain_all else []
        if decision.outcome == "equivalent":
            rows = tuple(BitRow(b, names.get(b, f"bit {b}"), False, None) for b in bits)
            return FunctionResult(self.name, Verdict.EQUIVALENT, bits=rows, masks=masks)
        if decision.outcome == "unknown":
            return FunctionResult(self.name, Verdict.UNKNOWN, reason=decision.reason,
                                  masks=masks)
        answer = minimal_model(session, query)
        cex = build_counterexample(answer, query, names) if answer.model is not None else None
        if cex is None:
            return FunctionResult(self.name, Verdict.UNKNOWN, masks=masks, reason=(
                "internal error: the solver's counterexample did not replay; please report"))
        if not explain_all:
            return FunctionResult(self.name, Verdict.NOT_EQUIVALENT, counterexample=cex)
        return FunctionResult(
            self.name, Verdict.NOT_EQUIVALENT, counterexample=cex,
            difference=explain.difference_condition(query, session, bits, names),
            bits=explain.bit_rows(query, session, bits, names, cex.flags), masks=masks)

    def unchanged(self, models: tuple[Model, ...]) -> bool:
        """Both sides are the same program for this function (never with a flag map,
        which reads the after side's flag parameter as another word)."""
        from equiv.unchanged import unchanged

        if not self.options.skip_unchanged or self.options.flag_map:
            return False
        before, after = (self.sides.variants(label, models) for label in ("before", "after"))
        return unchanged([(v.valuation, v.program) for v in before],
                         [(v.valuation, v.program) for v in after], self.name)

    def trace(self, label: str, models: tuple[Model, ...], keys: set[str]) -> tuple[Any, Program]:
        """The side's behaviour, combined over its preprocessor configurations."""
        from equiv.combine import combine
        from equiv.symex import Options
        from equiv.symex_expr import Executor

        variants = self.sides.variants(label, models)
        traces = []
        for k, variant in enumerate(variants):
            if self.name not in variant.program.functions:
                raise InputError(None, f"'{self.name}' is not defined in every configuration "
                                       f"of the {label} side")
            options = Options(unwind=self.options.unwind, flag_params=self.options.flag_params,
                              racy_flags=self.options.racy_flags,
                              symbol_prefix=label if k == 0 else f"{label}~{k}",
                              param_word=MAPPED_WORD if label == "after" and
                              self.options.flag_map else "flags")
            trace = Executor(variant.program, label, options).run(self.name)
            owned = [(fn, term) for fn, term in trace.assumptions
                     if _assumption_owner(variant.program, fn, models) in keys]
            traces.append((variant.valuation, replace(trace, assumptions=owned)))
        return combine(traces), variants[0].program

    def facts(self, b_prog: Program, a_prog: Program, b_trace: Any, a_trace: Any,
              keys: set[str], models: tuple[Model, ...]) -> list[Any]:
        import z3

        facts = [term for _, term in b_trace.assumptions + a_trace.assumptions]
        for name, on in self.options.pins:
            facts.append(z3.Bool(name) == z3.BoolVal(on))
        if self.options.flag_map:
            facts += flag_map_facts(self.options.flag_map, b_prog, a_prog)
        return facts


# ---- flag maps --------------------------------------------------------------------------

def flag_map_facts(path: str, before: Program, after: Program) -> list[Any]:
    """`BEFORE_BIT = AFTER_BIT` lines: bit i of the flag word is bit j of the after word."""
    import z3

    from equiv import explain

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
