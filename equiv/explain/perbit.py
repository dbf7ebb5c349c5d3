"""Explanations of a difference: which inputs it depends on, and the condition.

Flag bits are named from the layout of the word they belong to: `TIF_*` /
`_TIF_*` for the thread-flag word, `SYSCALL_WORK_*` for a `syscall_work`
word, the fragment's own macros before an --arch layout's.

For each tested flag bit (and config switch) the relevance is computed, not
guessed from an example: the bit *matters* when two inputs that differ only in
it are one differing and one not; it *does not matter* when the solver proves
that no such pair exists; otherwise it is *not decided* (solver gave up, or a
loop bound cut the inputs off).  The difference condition ranges over the bits
and switches that matter (or are undecided), is computed by splitting the
input space until each part is decided, and is minimised with don't-cares
(inputs no valid run reaches).  It is returned as data (`Condition`); the
report writes the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import z3

from equiv.explain.counterexample import entry_elements, flag_bits
from equiv.ir.unit import Unit as Program
from equiv.query.equivalence import Query
from equiv.query.smt import Answer, Outcome, Session, satisfies
from equiv.report.results import (
    BitRow,
    Condition,
    ConditionStatus,
    Counterexample,
    Cube,
    Literal,
    MaskRow,
    Relevance,
    UNREACHED,
)
from equiv.semantics.state import mk_and, mk_not

MAX_CONDITION_VARS = 20  # bits and switches the exact condition may range over
MAX_SPLIT_NODES = 600  # parts of the input space examined for the exact condition
MAX_SHOWN_CUBES = 8  # a longer condition is reported as too large, with a prefix
MAX_ENUMERATED_CUBES = 64  # when too large: cubes counted before giving a lower bound
TIF_LAYOUT = "TIF"
WORK_LAYOUT = "SYSCALL_WORK"


def macro_values(program: Program) -> dict[str, int]:
    """The integer value of every mask/bit macro the side defines (a copy: computed once
    per unit, which a check asks for four times)."""
    values = program.memo.get("macro_values")
    if values is None:
        values = {}
        for name, expr in program.macro_exprs.items():
            try:
                values[name] = program.const_int(expr) & ((1 << 64) - 1)
            except Exception:  # not an integer constant: not a mask, nothing to show
                continue
        program.memo["macro_values"] = values
    return dict(values)


def bit_names(values: dict[str, int], layout: str = TIF_LAYOUT) -> dict[int, str]:
    """Bit number -> name in one layout, from its one-bit masks and its bit numbers.

    TIF: `_TIF_X` masks and `TIF_X` numbers (named `_TIF_X`).  SYSCALL_WORK:
    `SYSCALL_WORK_X` masks and `SYSCALL_WORK_BIT_X` numbers (named `SYSCALL_WORK_X`).
    """
    if layout == WORK_LAYOUT:
        mask, number, rename = "SYSCALL_WORK_", "SYSCALL_WORK_BIT_", (
            lambda n: "SYSCALL_WORK_" + n[len("SYSCALL_WORK_BIT_"):])
    else:
        mask, number, rename = "_TIF_", "TIF_", (lambda n: "_" + n)
    names: dict[int, str] = {}
    for name, value in sorted(values.items()):
        if (name.startswith(mask) and not name.startswith(number) and value
                and value & (value - 1) == 0):
            names.setdefault(value.bit_length() - 1, name)
    for name, value in sorted(values.items()):
        if name.startswith(number) and 0 <= value < 64:
            names.setdefault(value, rename(name))
    return names


def layout_names(own: list[dict[str, int]], every: list[dict[str, int]],
                 layout: str) -> dict[int, str]:
    """Names in `layout`: the fragments' own macros first, then any layout's (--arch)."""
    names: dict[int, str] = {}
    for values in own + every:
        for bit, name in bit_names(values, layout).items():
            names.setdefault(bit, name)
    return names


def tested_bits(query: Query, word: str | None = None) -> list[int]:
    """Bits of the flag word (or of `word`) whose value the sides' terms look at."""
    flags = query.flags if word is None else z3.BitVec(word, 64)
    found: set[int] = set()
    seen: set[int] = set()
    terms: list[Any] = []
    sides = [query.before] if query.after is query.before else [query.before, query.after]
    for side in sides:  # one trace for both sides when they are the same program
        terms += [e.guard for e in side.events] + [a for e in side.events for a in e.args]
        terms += [lb.guard for lb in side.exceeded]
        if side.ret is not None:
            terms.append(side.ret)
        if side.flags_written:
            terms.append(side.final_flags)
    terms += list(query.background)  # flag-map facts reach bits through the other word
    unique = {t.get_id(): t for t in terms}  # calls share guards and arguments
    # The simplified terms, as C API handles: `kept` holds them alive for the walk.
    kept, roots = _simplified(list(unique.values()))
    ctx = flags.ctx
    flags_id = flags.get_id()
    # The walk uses the C API: wrapping every subterm in Python was most of its time.
    stack = list(roots)
    while stack:
        ast = stack.pop()
        ident = z3.Z3_get_ast_id(ctx.ref(), ast)
        if ident in seen:
            continue
        seen.add(ident)
        if z3.Z3_get_ast_kind(ctx.ref(), ast) != z3.Z3_APP_AST:
            continue
        app = z3.Z3_to_app(ctx.ref(), ast)
        args = [z3.Z3_get_app_arg(ctx.ref(), app, i)
                for i in range(z3.Z3_get_app_num_args(ctx.ref(), app))]
        if any(z3.Z3_get_ast_id(ctx.ref(), a) == flags_id for a in args):
            term = z3.z3._to_expr_ref(ast, ctx)
            _bits_of(term, term.children(), flags, found)
        stack.extend(args)
    del kept
    return sorted(found)


def _simplified(terms: list[Any]) -> tuple[Any, list[Any]]:
    """`z3.simplify` of each term, in one pass that simplifies a shared subterm once:
    (an object that keeps the results alive, the results as C API handles).

    Each term t becomes the formula P(i, t), P a fresh predicate per sort (the
    rewriter leaves it alone) and i the term's position, so that no two
    formulas are ever the same; the goal of all of them goes through the
    `simplify` tactic (the same rewriter as `z3.simplify`, with one cache for
    the whole goal), and each result is read back as P's second argument.
    Simplifying the terms one by one redid the shared subterms of a long trace
    for each of them (3.5 s of 11 on a real exit-path pair); the goal is built
    and read through the C API, since a Python object per term took 1.5 s of
    the 1.6 s on 20,000 terms.
    """
    if not terms:
        return None, []
    ctx = terms[0].ctx
    ref = ctx.ref()
    index = z3.BitVecSort(32, ctx)
    predicates: dict[int, z3.FuncDeclRef] = {}  # by sort id; they keep their decls alive
    goal = z3.Goal(ctx=ctx)
    pair = (z3.Ast * 2)()
    for i, term in enumerate(terms):
        ast = term.as_ast()
        sort = z3.Z3_get_sort_id(ref, z3.Z3_get_sort(ref, ast))
        predicate = predicates.get(sort)
        if predicate is None:
            predicate = predicates[sort] = z3.Function(f"equiv!term{len(predicates)}", index,
                                                       term.sort(), z3.BoolSort(ctx))
        pair[0] = z3.Z3_mk_unsigned_int64(ref, i, index.ast)
        pair[1] = ast
        # The application goes into the goal at once, which takes a reference to it.
        z3.Z3_goal_assert(ref, goal.goal, z3.Z3_mk_app(ref, predicate.ast, 2, pair))
    simplified = z3.Tactic("simplify", ctx=ctx)(goal)[0]
    size = z3.Z3_goal_size(ref, simplified.goal)
    if size != len(terms):  # never seen: the predicates are opaque to the rewriter
        plain = [z3.simplify(t) for t in terms]
        return plain, [t.as_ast() for t in plain]
    out: list[Any] = [None] * size
    for k in range(size):
        wrapped = z3.Z3_to_app(ref, z3.Z3_goal_formula(ref, simplified.goal, k))
        position = int(z3.Z3_get_numeral_string(ref, z3.Z3_get_app_arg(ref, wrapped, 0)))
        out[position] = z3.Z3_get_app_arg(ref, wrapped, 1)
    return (simplified, predicates), out


def _bits_of(t: Any, args: list[Any], flags: z3.BitVecRef, found: set[int]) -> None:
    """The bits of `flags` that `t` reads directly.

    `Extract` reads its range and `&` with a constant reads the constant's
    bits; any other operation on the whole word (a comparison such as
    `(long)flags < 0`, arithmetic, `==`) may read every bit.  Relevance is
    computed for each bit found, so a bit found needlessly costs a query and
    shows as "does not matter", while a bit missed would be invisible.
    """
    if not args or not any(a.eq(flags) for a in args):
        return
    kind = t.decl().kind()
    if kind == z3.Z3_OP_EXTRACT:
        hi, lo = t.params()
        found.update(range(lo, hi + 1))
    elif kind == z3.Z3_OP_BAND and len(args) == 2 and any(z3.is_bv_value(a) for a in args):
        for a in args:
            if z3.is_bv_value(a):
                found.update(i for i in range(64) if a.as_long() >> i & 1)
    else:
        found.update(range(64))


def mask_rows(before: dict[str, int], after: dict[str, int],
              tif: dict[int, str], work: dict[int, str] | None = None) -> tuple[MaskRow, ...]:
    """Every multi-bit mask either side defines, decoded in its own layout and compared.

    `SYSCALL_WORK_*` masks are decoded with `work` names, all others with `tif`.
    """
    rows = []
    for name in sorted(before.keys() | after.keys()):
        if name.startswith(("TIF_", "SYSCALL_WORK_BIT_")):
            continue
        names = work if work is not None and name.startswith("SYSCALL_WORK_") else tif
        b, a = before.get(name), after.get(name)
        if not any(v is not None and v & (v - 1) for v in (b, a)):
            continue  # one-bit masks name bits; they are not masks to compare

        def decode(v: int | None, names: dict[int, str] = names) -> tuple[str, ...] | None:
            if v is None:
                return None
            return tuple(names.get(i, f"bit {i}") for i in range(64) if v >> i & 1)

        added = tuple(names.get(i, f"bit {i}") for i in range(64)
                      if b is not None and a is not None and a >> i & 1 and not b >> i & 1)
        dropped = tuple(names.get(i, f"bit {i}") for i in range(64)
                        if b is not None and a is not None and b >> i & 1 and not a >> i & 1)
        rows.append(MaskRow(name, decode(b), decode(a), added, dropped))
    return tuple(rows)




# ---- inputs and their relevance -------------------------------------------------------

@dataclass(frozen=True)
class Variable:
    """One input of the difference condition: a flag bit (of a word) or a config switch."""

    name: str  # `_TIF_X`, `bit 40`, `CONFIG_X`
    kind: str  # "bit" or "config"
    literal: Any  # the z3 Bool that is true when the bit is set / the switch is y
    flip: tuple[tuple[Any, Any], ...]  # substitution that flips it (and what is tied to it)
    bit: int | None = None
    word: str = "flags"
    negation: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: the condition's cubes negate the same literals thousands of times.
        object.__setattr__(self, "negation", mk_not(self.literal))


def word_ties(query: Query, word: str) -> dict[int, list[int]]:
    """Flag bit -> bits of `word` the background says are equal to it (--flag-map)."""
    ties: dict[int, list[int]] = {}
    for fact in query.background:
        if not z3.is_eq(fact):
            continue
        sides = fact.children()
        picked: dict[str, int] = {}
        for t in sides:
            if z3.is_app_of(t, z3.Z3_OP_EXTRACT) and z3.is_const(t.arg(0)):
                hi, lo = t.params()
                if hi == lo:
                    picked[str(t.arg(0))] = lo
        if "flags" in picked and word in picked and len(sides) == 2:
            ties.setdefault(picked["flags"], []).append(picked[word])
    return ties


def variables(query: Query, bits: list[int], names: dict[int, str],
              word: str | None = None, word_bits: tuple[int, ...] | list[int] = (),
              word_names: dict[int, str] | None = None) -> list[Variable]:
    """The condition's inputs: tested flag bits, untied bits of the mapped word, configs."""
    flags = query.flags
    out = []
    ties = word_ties(query, word) if word else {}
    w = z3.BitVec(word, 64) if word else None
    literals = flag_bits(flags)
    for b in bits:
        flip: list[tuple[Any, Any]] = [(flags, flags ^ z3.BitVecVal(1 << b, 64))]
        if w is not None and b in ties:
            mask = sum(1 << j for j in ties[b])
            flip.append((w, w ^ z3.BitVecVal(mask, 64)))
        out.append(Variable(names.get(b, f"bit {b}"), "bit", literals[b], tuple(flip),
                            b, "flags"))
    if w is not None and word is not None:
        tied = {j for js in ties.values() for j in js}
        for j in word_bits:
            if j in tied:
                continue
            label = (word_names or {}).get(j, f"{word} bit {j}")
            out.append(Variable(label, "bit", z3.Extract(j, j, w) == 1,
                                ((w, w ^ z3.BitVecVal(1 << j, 64)),), j, word))
    configs = {**query.before.configs, **query.after.configs}
    for name in sorted(configs):
        c = configs[name]
        out.append(Variable(name, "config", c, ((c, z3.Not(c)),)))
    return out


def _cut_reason(query: Query, session: Session) -> str | None:
    """Why a 'same' answer is not a proof: some input runs a loop past the bound."""
    if not query.exceeded:
        return None
    cut = session.check(z3.Not(query.within_bound), want_model=False)
    if cut.outcome is Outcome.UNSAT:
        return None
    where = next((f" at {loc}" for _, loc in query.exceeded if loc is not None), "")
    if all(r != "loop" for r in query.cut_reasons):
        return f"undefined behaviour may be reached{where}"
    return f"the loop{where} may run past the unwind bound (--unwind)"


def relevance(query: Query, session: Session, var: Variable, cut: str | None,
              at: tuple[Any, ...] = (), quick_only: bool = False) -> Any:
    """(MATTERS with a model of the differing input | DOES_NOT_MATTER | UNDECIDED, model, why).

    With `at` (models of the difference, the counterexample's first), first
    tried there: flipping the variable with every other input as a model has
    it is evaluated, not asked of a solver; `quick_only` stops after that
    (None when the flipped input differs too at each).  Then checked for every
    input.  A bit whose flipping never changes the answer only among inputs
    that stay within the loop bound is UNDECIDED, never 'does not matter'.
    """
    base = [query.within_bound, query.differs, _flipped_copy(query, var.flip)]
    for model in at:
        if satisfies(model, [*base, *query.background]):
            return Relevance.MATTERS, model, ""
    if quick_only:
        return None
    answer = session.check(*base)
    if answer.outcome is Outcome.SAT:
        return Relevance.MATTERS, answer.model, ""
    if answer.outcome is Outcome.UNKNOWN:
        return Relevance.UNDECIDED, None, f"solver gave up ({answer.reason or 'timeout'})"
    if cut is not None:
        return Relevance.UNDECIDED, None, cut
    return Relevance.DOES_NOT_MATTER, None, ""


def _flipped_copy(query: Query, flip: Any) -> Any:
    """The copy of the query with `flip` substituted that stays within the bound and
    does not differ: within_bound' ∧ ¬differs' ∧ background'.

    One substitution of the conjunction: the trace's terms are shared, and
    substituted one by one each redid the shared part (the larger part of
    the explanation's time on a real exit-to-user loop).
    """
    return z3.substitute(z3.And(query.within_bound, z3.Not(query.differs), *query.background),
                         *flip)


def free_symbols(terms: list[Any]) -> list[Any]:
    """The uninterpreted constants (inputs) the terms mention, in a stable order."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    stack = list(terms)
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        if z3.is_const(t) and t.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            found[str(t)] = t
            continue
        stack.extend(t.children())
    return [found[k] for k in sorted(found)]


def fix_to(model: Any, symbols: list[Any]) -> list[Any]:
    """Constraints fixing each symbol to its value in `model`."""
    return [s == model.eval(s, model_completion=True) for s in symbols]


FLIP = "equiv~flip"  # the one-hot mask of the batched relevance query


def _batched(query: Query, session: Session, vars_: list[Variable], cut: str | None
             ) -> dict[str, tuple[Relevance, Any, str]]:
    """Relevance of plain flag bits, one query for all that do not matter.

    The query flips one bit chosen by the solver among the candidates: a model
    names a bit that matters (it is set aside and the query repeated), UNSAT
    proves that none of the rest does.  UNKNOWN falls back to one query per bit.
    """
    flags = query.flags
    mask = z3.BitVec(FLIP, 64)
    out: dict[str, tuple[Relevance, Any, str]] = {}
    left = {v.bit: v for v in vars_ if v.bit is not None}
    while left:
        pick = z3.Or(*[mask == z3.BitVecVal(1 << b, 64) for b in sorted(left)])

        answer = session.check(pick, query.within_bound, query.differs,
                               _flipped_copy(query, ((flags, flags ^ mask),)))
        if answer.outcome is Outcome.SAT:
            assert answer.model is not None
            bit = answer.model.eval(mask, model_completion=True).as_long().bit_length() - 1
            out[left.pop(bit).name] = (Relevance.MATTERS, answer.model, "")
            continue
        for var in left.values():
            if answer.outcome is Outcome.UNKNOWN:
                out[var.name] = relevance(query, session, var, cut)
            elif cut is not None:
                out[var.name] = (Relevance.UNDECIDED, None, cut)
            else:
                out[var.name] = (Relevance.DOES_NOT_MATTER, None, "")
        break
    return out


def bit_rows(query: Query, session: Session, vars_: list[Variable], model: Any,
             known: Known | None = None, seen: tuple[Any, ...] = (),
             partial: dict[str, Any] | None = None
             ) -> tuple[tuple[BitRow, ...], dict[str, Relevance]]:
    """Relevance of every variable; per-bit rows for the bit variables.

    Each variable is first tried at the counterexample, then at the other
    models of the difference in `seen` (evaluated under each model: no
    solver); plain flag bits left over are decided together (`_batched`), the
    rest one by one.  `known` collects the counterexample and each witness that a
    variable matters, with its flipped copy (for the difference condition).
    `partial["rows"]` gets the rows the tries at the models decided, the others
    not decided (UNREACHED), before any question is asked: what a cut leaves.
    """
    found: dict[str, tuple[Relevance, Any, str]] = {}
    for var in vars_:
        quick = relevance(query, session, var, None, (model, *seen), quick_only=True)
        if quick is not None:
            found[var.name] = quick
    if partial is not None:
        partial["rows"] = _rows(vars_, found)
    cut = _cut_reason(query, session)
    plain = [v for v in vars_ if v.name not in found and v.kind == "bit"
             and v.word == "flags" and len(v.flip) == 1]
    found.update(_batched(query, session, plain, cut))
    for var in vars_:
        if var.name not in found:
            found[var.name] = relevance(query, session, var, cut)
    if known is not None:
        known.add(model)
        for var in vars_:
            rel, witness, _ = found[var.name]
            if rel is Relevance.MATTERS:
                known.add(witness)
                known.add(witness, var.flip)
    rows = _rows(vars_, found)
    # For the difference condition, which speaks only of inputs within the bound: a
    # variable left undecided only because the bound cuts inputs off does not matter
    # there (flipping it never changes the answer between two inputs within the bound).
    return tuple(rows), {name: (Relevance.DOES_NOT_MATTER if rel is Relevance.UNDECIDED
                                and cut is not None and why == cut else rel)
                         for name, (rel, _, why) in found.items()}


def _rows(vars_: list[Variable], found: dict[str, tuple[Relevance, Any, str]]
          ) -> tuple[BitRow, ...]:
    """The per-bit rows of the bit variables; one not in `found` is UNREACHED."""
    rows = []
    for var in vars_:
        rel, witness, why = found.get(var.name, (Relevance.UNDECIDED, None, UNREACHED))
        if var.kind != "bit":
            continue
        differs_at = same_at = None
        if witness is not None:
            word = z3.BitVec(var.word, 64)
            differs_at = witness.eval(word, model_completion=True).as_long()
            same_at = differs_at ^ (1 << (var.bit or 0))
        rows.append(BitRow(var.bit or 0, var.name, rel, differs_at, same_at, why, var.word))
    return tuple(rows)


# ---- the counterexample: which of its inputs matter --------------------------------------

def input_groups(query: Query) -> dict[str, list[Any]]:
    """Display name -> the symbols that make up that input (both sides).

    Configs, parameters, memory cells and racy flips by their names; the values
    an opaque function returns as `name()`; the mapped flag word by its name.
    """
    groups: dict[str, list[Any]] = {}
    for side in (query.before, query.after):
        for name, c in side.configs.items():
            groups.setdefault(name, []).append(c)
        for name, sym in side.inputs.items():
            groups.setdefault(name, []).append(sym)
        for e in side.events:
            if e.result is not None:
                groups.setdefault(f"{e.name}()", []).append(e.result)
            for path, sym in e.havoc.items():
                groups.setdefault(f"{path} after {e.name}()", []).append(sym)
    return groups


def inputs_that_matter(query: Query, session: Session, model: Any,
                       extra: dict[str, list[Any]] | None = None) -> tuple[str, ...]:
    """The inputs the difference at `model` depends on: freeing one alone can remove it.

    An undecided answer counts as mattering (showing an input is the safe side).
    """
    groups = {**input_groups(query), **(extra or {})}
    every = free_symbols([query.differs, query.within_bound, *query.background])
    out = []
    for name, syms in sorted(groups.items()):
        ids = {s.get_id() for s in syms}
        if not any(s.get_id() in ids for s in every):
            continue
        others = [s for s in every if s.get_id() not in ids]
        answer = session.check(query.within_bound, z3.Not(query.differs),
                               *fix_to(model, others), want_model=False)
        if answer.outcome is not Outcome.UNSAT:
            out.append(name)
    for name, (whole, k, _) in sorted(entry_elements(model, query).items()):
        # Free element k alone: the array keeps the model's contents elsewhere.
        others = [s for s in every if s.get_id() != whole.get_id()]
        if len(others) == len(every):
            continue
        index = z3.BitVecVal(k, 64)
        only_k = whole == z3.Store(model.eval(whole, model_completion=True), index,
                                   z3.Select(whole, index))
        answer = session.check(query.within_bound, z3.Not(query.differs),
                               *fix_to(model, others), only_k, want_model=False)
        if answer.outcome is not Outcome.UNSAT:
            out.append(name)
    return tuple(out)


def annotate(cex: Counterexample, matters: tuple[str, ...]) -> Counterexample:
    """The counterexample with the inputs that matter marked, call results included."""
    def calls(b: Any) -> Any:
        return replace(b, calls=tuple(replace(c, result_matters=f"{c.function}()" in matters)
                                      for c in b.calls))

    return replace(cex, matters=matters, before=calls(cex.before), after=calls(cex.after))


# ---- the difference condition ------------------------------------------------------------

Point = dict[int, bool]  # variable index -> value (a cube over the variables)


@dataclass
class _Parts:
    """The input space split into decided parts (cubes over the variables)."""

    on: list[Point]  # the sides differ for every input here
    off: list[Point]  # they never differ here
    maybe: list[Point]  # they differ for some values of the other inputs
    unknown: str = ""  # the solver gave up
    nodes: int = 0


def _cube_term(vars_: list[Variable], cube: Point) -> Any:
    """The conjunction of the cube's literals (z3's own `And` was half of the condition's
    time on a 55-input condition: 3,078 cubes)."""
    return mk_and(*[vars_[i].literal if v else vars_[i].negation for i, v in sorted(cube.items())])


class Known:
    """Models known to satisfy background ∧ within_bound, each with whether the sides
    differ under it: the counterexample, the per-bit witnesses and their flipped
    copies, and every model the condition's questions found.

    A part of the input space that one of them lies in needs no solver to show
    that a differing (or agreeing) input is there; an empty part still does.
    """

    LIMIT = 64  # models kept: each question evaluates its part's literals under each

    def __init__(self, query: Query):
        self.query = query
        self.models: list[tuple[Any, bool]] = []

    def add(self, model: Any, flip: Any = ()) -> None:
        """Keep `model` (or, with `flip`, the model of its flipped copy) once it is
        evaluated: a candidate that does not satisfy the background is not kept."""
        if model is None or len(self.models) >= self.LIMIT:
            return
        if flip:
            model = _flipped_model(model, flip)
            if model is None:
                return
        q = self.query
        if not satisfies(model, [q.within_bound, *q.background]):
            return
        self.models.append((model, z3.is_true(model.eval(q.differs, model_completion=True))))

    def answer(self, differs: bool, term: Any) -> Answer | None:
        """SAT with a kept model that lies in `term` and differs as asked, else None."""
        for model, d in self.models:
            if d == differs and z3.is_true(model.eval(term, model_completion=True)):
                return Answer(Outcome.SAT, model)
        return None


def _flipped_model(model: Any, flip: Any) -> Any:
    """A copy of `model` with each flipped input (flags -> flags ^ bit, c -> Not(c)) set to
    the flipped value; None when an input is not a symbol."""
    out = model.translate(model.ctx)
    for symbol, flipped in flip:
        if not (z3.is_const(symbol) and symbol.decl().kind() == z3.Z3_OP_UNINTERPRETED):
            return None
        out.update_value(symbol.decl(), model.eval(flipped, model_completion=True))
    return out


def _split(query: Query, session: Session, vars_: list[Variable],
           known: Known | None = None) -> _Parts | None:
    """Decide every part of the space; None when more than MAX_SPLIT_NODES parts are needed."""
    known = known or Known(query)
    parts = _Parts([], [], [])
    todo: list[Point] = [{}]

    def ask(differs: bool, term: Any) -> Answer:
        found = known.answer(differs, term)
        if found is not None:
            return found
        answer = session.check(query.within_bound,
                               query.differs if differs else z3.Not(query.differs), term)
        if answer.outcome is Outcome.SAT and len(known.models) < Known.LIMIT:
            known.models.append((answer.model, differs))
        return answer

    while todo:
        cube = todo.pop()
        parts.nodes += 1
        if parts.nodes > MAX_SPLIT_NODES:
            return None
        term = _cube_term(vars_, cube)
        d = ask(True, term)
        s = ask(False, term)
        if Outcome.UNKNOWN in (d.outcome, s.outcome):
            parts.unknown = (d if d.outcome is Outcome.UNKNOWN else s).reason or "timeout"
            return parts
        if d.outcome is Outcome.UNSAT:
            if s.outcome is Outcome.SAT:
                parts.off.append(cube)
            continue  # neither: no valid input here, a don't-care
        if s.outcome is Outcome.UNSAT:
            parts.on.append(cube)
            continue
        free = [i for i in range(len(vars_)) if i not in cube]
        if not free:
            parts.maybe.append(cube)
            continue
        pick = _splitting_variable(vars_, free, d, s)
        todo += [{**cube, pick: True}, {**cube, pick: False}]
    return parts


def _splitting_variable(vars_: list[Variable], free: list[int], d: Answer, s: Answer) -> int:
    """A free variable on which a differing and an agreeing input disagree, else the first."""
    assert d.model is not None and s.model is not None
    for i in free:
        lit = vars_[i].literal
        if z3.is_true(d.model.eval(lit, model_completion=True)) != z3.is_true(
                s.model.eval(lit, model_completion=True)):
            return i
    return free[0]


def _meets(a: Point, b: Point) -> bool:
    return all(b.get(i, v) == v for i, v in a.items())


def _within(inner: Point, outer: Point) -> bool:
    return all(inner.get(i) == v for i, v in outer.items())


def minimise(cover: list[Point], avoid: list[Point], order: int) -> list[Point]:
    """A small cover of `cover` by cubes that meet no cube of `avoid` (the rest is free).

    Each cube is grown to a prime implicant (dropping literals while it meets
    nothing to avoid; unreachable inputs are don't-cares), then a greedy set
    cover keeps the fewest that contain every original cube.
    """
    grown: list[Point] = []
    for cube in cover:
        g = dict(cube)
        for i in range(order):
            if i not in g:
                continue
            trial = {k: v for k, v in g.items() if k != i}
            if not any(_meets(trial, a) for a in avoid):
                g = trial
        if g not in grown:
            grown.append(g)
    left = list(range(len(cover)))
    chosen: list[Point] = []
    while left:
        best = max(grown, key=lambda g: (sum(_within(cover[k], g) for k in left), -len(g)))
        chosen.append(best)
        left = [k for k in left if not _within(cover[k], best)]
    return sorted(chosen, key=lambda c: (len(c), sorted((i, not v) for i, v in c.items())))


def _literals(vars_: list[Variable], cube: Point) -> Cube:
    return tuple(Literal(vars_[i].name, vars_[i].kind, v) for i, v in sorted(cube.items()))


def difference_condition(query: Query, session: Session, vars_: list[Variable],
                         relevant: dict[str, Relevance], known: Known | None = None
                         ) -> Condition:
    """The inputs on which the sides differ, over the variables that may matter; when
    some input is cut (a loop past the bound, undefined behaviour), the condition says
    which kind of cut it holds outside of.  `known`: models to try before the solver
    (see Known)."""
    cond = _condition(query, session, vars_, relevant, known)
    if not cond.bounded:
        return cond
    return replace(cond, bounded=any(r == "loop" for r in query.cut_reasons),
                   undefined=any(r != "loop" for r in query.cut_reasons))


def _condition(query: Query, session: Session, vars_: list[Variable],
               relevant: dict[str, Relevance], known: Known | None = None) -> Condition:
    keep = [v for v in vars_ if relevant.get(v.name) is not Relevance.DOES_NOT_MATTER]
    bounded = _cut_reason(query, session) is not None
    parts = _split(query, session, keep, known) if len(keep) <= MAX_CONDITION_VARS else None
    if parts is None:
        return _enumerated(query, session, keep, bounded)
    if parts.unknown:
        return Condition(ConditionStatus.UNDECIDED, inputs=len(keep), bounded=bounded,
                         reason=f"solver gave up ({parts.unknown})")
    sure = minimise(parts.on, parts.off + parts.maybe, len(keep))
    maybe = minimise(parts.maybe, parts.off, len(keep))
    if len(sure) + len(maybe) > MAX_SHOWN_CUBES:
        return Condition(ConditionStatus.TOO_LARGE, tuple(_literals(keep, c) for c in sure),
                         tuple(_literals(keep, c) for c in maybe), size=len(sure) + len(maybe),
                         inputs=len(keep), bounded=bounded)
    return Condition(ConditionStatus.EXACT, tuple(_literals(keep, c) for c in sure),
                     tuple(_literals(keep, c) for c in maybe), inputs=len(keep),
                     bounded=bounded)


def _enumerated(query: Query, session: Session, vars_: list[Variable],
                bounded: bool) -> Condition:
    """Too many inputs to split: count cubes of a cover (each grown while it surely differs)."""
    sure: list[Point] = []
    maybe: list[Point] = []
    blocked: list[Any] = []
    complete = False
    for _ in range(MAX_ENUMERATED_CUBES):
        answer = session.check(query.within_bound, query.differs, *blocked)
        if answer.outcome is not Outcome.SAT:
            complete = answer.outcome is Outcome.UNSAT
            break
        assert answer.model is not None
        cube = {i: z3.is_true(answer.model.eval(v.literal, model_completion=True))
                for i, v in enumerate(vars_)}
        cube, always = _grow(query, session, vars_, cube)
        (sure if always else maybe).append(cube)
        blocked.append(z3.Not(_cube_term(vars_, cube)))
    return Condition(ConditionStatus.TOO_LARGE, tuple(_literals(vars_, c) for c in sure),
                     tuple(_literals(vars_, c) for c in maybe), size=len(sure) + len(maybe),
                     complete=complete, inputs=len(vars_), bounded=bounded)


def _grow(query: Query, session: Session, vars_: list[Variable],
          cube: Point) -> tuple[Point, bool]:
    """Drop literals while every input in the cube still differs; (cube, whether it does).

    The literals are tried in order, each dropped when the rest still always
    differ.  The solver's unsat core of the last such proof saves questions
    without changing the result: a literal outside it is dropped unasked, since
    the core alone (which the cube keeps) still proves it.
    """
    same = (query.within_bound, mk_not(query.differs))

    def always(c: Point) -> set[int] | None:
        """The cube's variables in an unsat core when `c` always differs, else None."""
        order = sorted(c)
        lits = [vars_[i].literal if c[i] else vars_[i].negation for i in order]
        answer, core = session.check_core(same, lits)
        return {order[k] for k in core} if answer.outcome is Outcome.UNSAT else None

    core = always(cube)
    if core is None:
        return cube, False
    for i in sorted(cube):
        trial = {k: v for k, v in cube.items() if k != i}
        if i not in core:
            cube = trial
            continue
        smaller = always(trial)
        if smaller is not None:
            cube, core = trial, smaller
    return cube, True
