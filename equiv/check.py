"""`equiv check`: from two sides' files to a `CheckResult`.

Loads and parses both sides, picks the functions to check, executes each
side symbolically, asks the equivalence query, and explains differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from equiv.errors import InputError
from equiv.program import Program, build_program
from equiv.results import CheckResult, FunctionResult, Verdict
from equiv.symex import FLAG_PARAMS, Options


@dataclass(frozen=True)
class CheckOptions:
    """What the user asked for on the command line."""

    functions: tuple[str, ...] = ()
    unwind: int = 8
    timeout: float = 30.0
    flag_params: tuple[str, ...] = FLAG_PARAMS
    include_dirs: tuple[str, ...] = ()


def load(paths: list[str], options: CheckOptions) -> Program:
    from equiv.frontend import load_side

    return build_program(load_side(paths, list(options.include_dirs)))


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
    return [n for n in program.user_functions if n not in called]


def select_functions(before: Program, after: Program,
                     requested: tuple[str, ...]) -> list[str]:
    if requested:
        for name in requested:
            if name not in before.user_functions and name not in after.user_functions:
                raise InputError(None, f"function '{name}' is defined on neither side")
        return list(dict.fromkeys(requested))
    return list(dict.fromkeys(roots(before) + roots(after)))


def run_check(before_paths: list[str], after_paths: list[str],
              options: CheckOptions) -> CheckResult:
    before = load(before_paths, options)
    after = load(after_paths, options)
    results = []
    for name in select_functions(before, after, options.functions):
        in_before = name in before.user_functions
        in_after = name in after.user_functions
        if in_before and in_after:
            results.append(check_function(before, after, name, options))
        else:
            verdict = Verdict.ONLY_BEFORE if in_before else Verdict.ONLY_AFTER
            side = before_paths[0] if in_before else after_paths[0]
            results.append(FunctionResult(name, verdict, reason=f"defined only in {side}"))
    if not results:
        raise InputError(None, "no function to check: neither side defines a function")
    return CheckResult(tuple(before_paths), tuple(after_paths), tuple(results))


def check_function(before: Program, after: Program, name: str,
                   options: CheckOptions) -> FunctionResult:
    """Prove or refute that `name` behaves the same on both sides."""
    from equiv import explain
    from equiv.counterexample import build_counterexample, minimal_model
    from equiv.equivalence import build_query, decide
    from equiv.smt import Session
    from equiv.symex_expr import Executor

    exec_options = Options(unwind=options.unwind, flag_params=options.flag_params)
    b_trace = Executor(before, "before", exec_options).run(name)
    a_trace = Executor(after, "after", exec_options).run(name)
    query = build_query(b_trace, a_trace)
    session = Session(query.background, options.timeout)
    b_values, a_values = explain.macro_values(before), explain.macro_values(after)
    names = {**explain.bit_names(a_values), **explain.bit_names(b_values)}
    masks = explain.mask_rows(b_values, a_values, names)
    decision = decide(query, session)
    bits = explain.tested_bits(query)
    if decision.outcome == "equivalent":
        from equiv.results import BitRow

        rows = tuple(BitRow(b, names.get(b, f"bit {b}"), False, None) for b in bits)
        return FunctionResult(name, Verdict.EQUIVALENT, bits=rows, masks=masks)
    if decision.outcome == "unknown":
        return FunctionResult(name, Verdict.UNKNOWN, reason=decision.reason, masks=masks)
    answer = minimal_model(session, query)
    cex = build_counterexample(answer, query, names) if answer.model is not None else None
    if cex is None:
        return FunctionResult(name, Verdict.UNKNOWN, masks=masks, reason=(
            "internal error: the solver's counterexample did not replay; please report"))
    return FunctionResult(
        name, Verdict.NOT_EQUIVALENT, counterexample=cex,
        difference=explain.difference_condition(query, session, bits, names),
        bits=explain.bit_rows(query, session, bits, names, cex.flags), masks=masks)
