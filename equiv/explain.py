"""Explanations of a difference: flag names, per-bit rows, masks, conditions.

Flag bits are named from the `TIF_*` / `_TIF_*` macros the fragments define.
The difference condition is the exact set of inputs on which the sides
differ, over the flag bits either side tests and the config switches,
written as a disjunction of cubes ("none of A, B is set or C is set").
"""

from __future__ import annotations

from typing import Any

import z3

from equiv.counterexample import flag_bits, minimal_model
from equiv.equivalence import Query
from equiv.ir.unit import Unit as Program
from equiv.results import BitRow, MaskRow
from equiv.smt import Outcome, Session

MAX_CONDITION_CUBES = 32
MAX_CONDITION_VARS = 24


def macro_values(program: Program) -> dict[str, int]:
    """The integer value of every mask/bit macro the side defines."""
    values = {}
    for name, expr in program.macro_exprs.items():
        try:
            values[name] = program.const_int(expr) & ((1 << 64) - 1)
        except Exception:  # not an integer constant: not a mask, nothing to show
            continue
    return values


def bit_names(values: dict[str, int]) -> dict[int, str]:
    """Bit number -> `_TIF_X` from `TIF_X` numbers and one-bit `_TIF_X` masks."""
    names: dict[int, str] = {}
    for name, value in sorted(values.items()):
        if name.startswith("_TIF_") and value and value & (value - 1) == 0:
            names.setdefault(value.bit_length() - 1, name)
    for name, value in sorted(values.items()):
        if name.startswith("TIF_") and 0 <= value < 64:
            names.setdefault(value, "_" + name)
    return names


def tested_bits(query: Query) -> list[int]:
    """Flag bits whose value the sides' terms look at (for display only)."""
    flags = query.flags
    found: set[int] = set()
    seen: set[int] = set()
    terms: list[Any] = []
    for side in (query.before, query.after):
        terms += [e.guard for e in side.events] + [a for e in side.events for a in e.args]
        terms += [lb.guard for lb in side.exceeded]
        if side.ret is not None:
            terms.append(side.ret)
        if side.flags_written:
            terms.append(side.final_flags)
    terms += list(query.background)  # flag-map facts reach bits through the other word
    stack = [z3.simplify(t) for t in terms]
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        _bits_of(t, flags, found)
        stack.extend(t.children())
    return sorted(found)


def _bits_of(t: Any, flags: z3.BitVecRef, found: set[int]) -> None:
    kind = t.decl().kind() if z3.is_app(t) else None
    args = t.children()
    if kind == z3.Z3_OP_EXTRACT and args and args[0].eq(flags):
        hi, lo = t.params()
        found.update(range(lo, hi + 1))
    elif kind == z3.Z3_OP_BAND and any(a.eq(flags) for a in args):
        for a in args:
            if z3.is_bv_value(a):
                found.update(i for i in range(64) if a.as_long() >> i & 1)


def bit_rows(query: Query, session: Session, bits: list[int], names: dict[int, str],
             witness: int) -> tuple[BitRow, ...]:
    """For each bit: does behaviour differ for some flag word with it set?

    The words `bit` alone and `witness | bit` (`witness` is known to differ)
    are tried first, each a cheap query with the word fixed, before a search.
    """
    rows = []
    flags_bits = flag_bits(query.flags)
    for bit in bits:
        found = None
        for candidate in dict.fromkeys((1 << bit, witness | 1 << bit)):
            fixed = session.check(query.within_bound, query.differs, query.flags == candidate,
                                  want_model=False)
            if fixed.outcome is Outcome.SAT:
                found = candidate
                break
        if found is not None:
            rows.append(BitRow(bit, names.get(bit, f"bit {bit}"), True, found))
            continue
        answer = minimal_model(session, query, flags_bits[bit])
        differs: bool | None = None
        example = None
        if answer.outcome is Outcome.SAT:
            differs = True
            assert answer.model is not None
            example = answer.model.eval(query.flags, model_completion=True).as_long()
        elif answer.outcome is Outcome.UNSAT:
            differs = False
        rows.append(BitRow(bit, names.get(bit, f"bit {bit}"), differs, example))
    return tuple(rows)


def mask_rows(before: dict[str, int], after: dict[str, int],
              names: dict[int, str]) -> tuple[MaskRow, ...]:
    """Every multi-bit mask either side defines, decoded and compared."""
    rows = []
    for name in sorted(before.keys() | after.keys()):
        if name.startswith("TIF_"):
            continue
        b, a = before.get(name), after.get(name)
        if not any(v is not None and v & (v - 1) for v in (b, a)):
            continue  # one-bit masks name bits; they are not masks to compare

        def decode(v: int | None) -> tuple[str, ...] | None:
            if v is None:
                return None
            return tuple(names.get(i, f"bit {i}") for i in range(64) if v >> i & 1)

        added = tuple(names.get(i, f"bit {i}") for i in range(64)
                      if b is not None and a is not None and a >> i & 1 and not b >> i & 1)
        dropped = tuple(names.get(i, f"bit {i}") for i in range(64)
                        if b is not None and a is not None and b >> i & 1 and not a >> i & 1)
        rows.append(MaskRow(name, decode(b), decode(a), added, dropped))
    return tuple(rows)


def difference_condition(query: Query, session: Session, bits: list[int],
                         names: dict[int, str]) -> str | None:
    """The inputs on which the sides differ, as a condition over flags and configs."""
    configs = {**query.before.configs, **query.after.configs}
    flag_lits = flag_bits(query.flags)
    variables: list[tuple[str, z3.BoolRef]] = [(names.get(b, f"bit {b}"), flag_lits[b])
                                                for b in bits]
    variables += [(name, configs[name]) for name in sorted(configs)]
    if len(variables) > MAX_CONDITION_VARS:
        return None
    sure: list[list[tuple[str, bool]]] = []
    maybe: list[list[tuple[str, bool]]] = []
    blocked: list[z3.BoolRef] = []
    for _ in range(MAX_CONDITION_CUBES):
        answer = session.check(query.within_bound, query.differs, *blocked)
        if answer.outcome is Outcome.UNSAT:
            return _render_condition(sure, maybe,
                                     {name: i for i, (name, _) in enumerate(variables)})
        if answer.outcome is not Outcome.SAT:
            return None
        assert answer.model is not None
        cube = [(i, z3.is_true(answer.model.eval(lit, model_completion=True)))
                for i, (_, lit) in enumerate(variables)]
        cube, always = _generalise(query, session, variables, cube)
        (sure if always else maybe).append([(variables[i][0], v) for i, v in cube])
        blocked.append(z3.Not(_cube_formula(variables, cube)))
    return None


def _cube_formula(variables: list[tuple[str, z3.BoolRef]],
                  cube: list[tuple[int, bool]]) -> z3.BoolRef:
    lits = [variables[i][1] if v else z3.Not(variables[i][1]) for i, v in cube]
    return z3.And(*lits) if lits else z3.BoolVal(True)


def _generalise(query: Query, session: Session, variables: list[tuple[str, z3.BoolRef]],
                cube: list[tuple[int, bool]]) -> tuple[list[tuple[int, bool]], bool]:
    """Drop literals while every input in the cube still differs."""
    def always_differs(c: list[tuple[int, bool]]) -> bool:
        same = session.check(query.within_bound, z3.Not(query.differs),
                             _cube_formula(variables, c), want_model=False)
        return same.outcome is Outcome.UNSAT

    if not always_differs(cube):
        return cube, False
    kept = list(cube)
    for lit in list(cube):
        trial = [x for x in kept if x != lit]
        if always_differs(trial):
            kept = trial
    return kept, True


def _render_cube(cube: list[tuple[str, bool]]) -> str:
    if not cube:
        return "always"
    configs = [f"{n}={'y' if v else 'n'}" for n, v in cube if n.startswith("CONFIG_")]
    on = [n for n, v in cube if v and not n.startswith("CONFIG_")]
    off = [n for n, v in cube if not v and not n.startswith("CONFIG_")]
    parts = []
    if on:
        parts.append(f"{on[0]} is set" if len(on) == 1 else f"all of {', '.join(on)} are set")
    if off:
        parts.append(f"{off[0]} is clear" if len(off) == 1
                     else f"none of {', '.join(off)} is set")
    parts += configs
    return " and ".join(parts)


Cube = list[tuple[str, bool]]


def merge_cubes(cubes: list[Cube], order: dict[str, int]) -> list[Cube]:
    """Join cubes that differ only in one literal's polarity (A∧x ∨ A∧¬x = A)."""
    work = [sorted(c, key=lambda lit: (order.get(lit[0], 0), lit)) for c in cubes]
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(work):
            for j in range(i + 1, len(work)):
                b = work[j]
                if len(a) != len(b):
                    continue
                diff = [k for k, (x, y) in enumerate(zip(a, b)) if x != y]
                if len(diff) == 1 and a[diff[0]][0] == b[diff[0]][0]:
                    work[i] = a[:diff[0]] + a[diff[0] + 1:]
                    del work[j]
                    changed = True
                    break
            if changed:
                break
    return work


def _render_condition(sure: list[Cube], maybe: list[Cube], order: dict[str, int]) -> str:
    sure, maybe = merge_cubes(sure, order), merge_cubes(maybe, order)

    def join(cubes: list[Cube]) -> str:
        if len(cubes) == 1:
            return _render_cube(cubes[0])
        return " or ".join(f"({_render_cube(c)})" for c in cubes)

    if not sure:
        if maybe == [[]]:
            return "for some values of other inputs, whatever the flag word"
        return "only for some values of other inputs, when " + join(maybe)
    text = join(sure)
    if maybe:
        text += "; also, for some values of other inputs, when " + join(maybe)
    return text
