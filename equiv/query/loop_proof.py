"""Unbounded proof of loop pairs on the product program.

Both sides are executed with their loops summarised (`equiv.semantics.loops`):
each loop is one opaque *loop event* in the trace, plus one symbolic
iteration from a head state.  The k-th loop reached on the before side is
paired with the k-th on the after side.  Three methods prove a pair:

- LOCKSTEP: a coupling (equalities between the two loops' variables, found by
  Houdini: start from every pair of the same width, drop those one iteration
  does not preserve, repeat) such that, under the coupling at the heads, with
  the flag word and memory equal there, both loops continue or both leave on
  the same inputs; one iteration of each makes the same calls with the same
  arguments (calls that match return the same values and leave the same flag
  word and memory, as everywhere in equiv); the iteration leaves the coupling,
  the flag word and the written memory equal at the next head and at the exit;
  no path is cut inside it, and none leaves the loop by `return` or `goto`;
- K_INDUCTION: the same with k iterations of history, the first k - 1 checked
  from where the function reaches the loops (the base case);
- CHC: an invariant of the product found by Spacer from where the function
  reaches the loops; what the loops leave is then the invariant's exit, added
  to the query where the two loop events are matched (`Event.joint`).

When a pair is proved, the two loops are the same deterministic step of the
coupled variables, flag word and memory, so the loop events are matched like
calls: same inputs, same outputs.  The rest of the function is then checked
with the loops replaced by those events.  A difference found in that check is
not shown as real (it may rest on the summary); the caller says UNKNOWN.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import z3

from equiv.query.equivalence import _alignment, _pointer_facts, with_call_context
from equiv.query.smt import Outcome, Session
from equiv.semantics.loops import Iteration
from equiv.semantics.state import FALSE, mk_and, mk_not
from equiv.semantics.trace import FLAGS_HAVOC, Event, SideTrace

MAX_HOUDINI_ROUNDS = 32
# The rules (README "Loops"): one iteration against one; k iterations of history; an
# invariant of the product found by z3's fixed-point engine.
LOCKSTEP = "lockstep induction"
K_INDUCTION = "k-induction"
CHC = "a coupling invariant from Spacer"
K_INDUCTION_DEPTHS = (2, 3)
MAX_SHOWN_INVARIANT = 200  # characters; a longer invariant is named by its variables


@dataclass(frozen=True)
class LoopProof:
    """The outcome of the induction: coupled traces, or why there are none."""

    before: SideTrace | None
    after: SideTrace | None
    reason: str  # what was proved, or why not
    couplings: tuple[tuple[str, ...], ...] = ()  # per loop: "before_var = after_var"
    results: Mapping[int, Any] = field(default_factory=dict)  # loops with one entry each

    def unequal_pairs(self, model: z3.ModelRef) -> dict[int, set[tuple[int, int]]]:
        """Per loop: the coupled pairs whose values differ where the loops start in
        `model` (a coupling that holds only by chance from heads where the loops never
        go round: the loop events cannot match), for `prove_loops(exclude=...)`."""
        out: dict[int, set[tuple[int, int]]] = {}
        for number, (entry_b, entry_a, _, coupling) in self.results.items():
            for i, j in coupling.head:
                b = model.eval(entry_b.values[i], model_completion=True)
                a = model.eval(entry_a.values[j], model_completion=True)
                if not b.eq(a):
                    out.setdefault(number, set()).add((i, j))
        return out

    def exit_points(self, model: z3.ModelRef) -> dict[int, z3.BoolRef]:
        """Per loop with an invariant: its exit in `model` (the loop events' results), as
        a formula over the loops' exit values that `prove_loops(avoid=...)` can exclude."""
        out = {}
        for number, (entry_b, entry_a, product, coupling) in self.results.items():
            if coupling.leaves is None:
                continue
            equal = []
            for entry, it in ((entry_b, product.b), (entry_a, product.a)):
                for k, x in enumerate(it.exit):
                    equal.append(x == model.eval(entry.event.havoc[f"<var {k}>"],
                                                 model_completion=True))
            equal.append(product.b.flags_exit == model.eval(
                entry_b.event.havoc[FLAGS_HAVOC], model_completion=True))
            out[number] = mk_and(*equal)
        return out


@dataclass(frozen=True)
class Coupling:
    """How one loop pair is related: `head` pairs hold at every head, `exit` pairs on leaving.

    A pair (i, j) names the before loop's variable i and the after loop's
    variable j; index `len(names)` stands for the flag word.
    """

    head: tuple[tuple[int, int], ...]
    exit: tuple[tuple[int, int], ...]
    shown: tuple[str, ...] = ()  # what else the proof rests on (an invariant), as text
    leaves: z3.BoolRef | None = None  # with an invariant: the values the loops leave


def prove_loops(before: SideTrace, after: SideTrace, facts: list[z3.BoolRef],
                timeout: float, method: str = LOCKSTEP,
                avoid: Mapping[int, list[z3.BoolRef]] | None = None,
                exclude: Mapping[int, set[tuple[int, int]]] | None = None) -> LoopProof:
    """Prove each pair of loops by `method` (LOCKSTEP, K_INDUCTION or CHC); couple
    their loop events.  With CHC, `avoid` gives, per loop number, exits the invariant
    must also exclude (formulas over the loop events' results, from
    `LoopProof.exit_points`).  `exclude` gives, per loop number, variable pairs not to
    couple (from `LoopProof.unequal_pairs`)."""
    b_its, a_its = before.iterations, after.iterations
    if not b_its and not a_its:
        return LoopProof(None, None, "no loop was reached")
    if len(b_its) != len(a_its):
        return LoopProof(None, None, f"the sides reach different numbers of loops "
                                     f"({len(b_its)} before, {len(a_its)} after)")
    pairings: dict[int, Coupling] = {}
    shown = []
    results: dict[int, tuple[_Entry, _Entry, _Product, Coupling]] = {}
    roots = {**before.pointer_roots, **after.pointer_roots}
    base = list(facts) + _pointer_facts(list(roots.values()))
    for b_it, a_it in zip(b_its, a_its):
        product, why = _product(b_it, a_it, base,
                                frozenset((exclude or {}).get(b_it.number, ())))
        entry = _Entry.of(before, b_it), _Entry.of(after, a_it)
        if product is not None and method == LOCKSTEP:
            coupling, why = _couple(product, timeout)
        elif product is not None:
            if entry[0] is None or entry[1] is None:
                coupling, why = None, "the loop's entry is not one event on each side"
            elif method == K_INDUCTION:
                coupling, why = _couple_k(product, entry, timeout)
            else:
                coupling, why = _couple_chc(product, entry, timeout,
                                            list((avoid or {}).get(b_it.number, ())))
        else:
            coupling = None
        if coupling is None:
            return LoopProof(None, None, f"the loop at {b_it.location}: {why}")
        pairings[b_it.number] = coupling
        if entry[0] is not None and entry[1] is not None:
            results[b_it.number] = (entry[0], entry[1], product, coupling)
        shown.append(tuple(f"{_name(b_it, i)} = {_name(a_it, j)}" for i, j in coupling.head)
                     + coupling.shown)
    return LoopProof(_coupled(before, pairings, 0), _coupled(after, pairings, 1),
                     f"loops proved by {method}", tuple(shown), results)


def _name(it: Iteration, k: int) -> str:
    return it.names[k] if k < len(it.names) else "the flag word"


def _terms(it: Iteration) -> tuple[list[z3.BitVecRef], list[z3.BitVecRef], list[z3.BitVecRef]]:
    """The loop's variables at the head, the next head and the exit; the flag word last."""
    return ([*it.head, it.flags_head], [*it.next, it.flags_next], [*it.exit, it.flags_exit])


@dataclass(frozen=True)
class _Product:
    """One iteration of each loop, run side by side from heads with the same flag word
    and memory: what every rule starts from."""

    b: Iteration
    a: Iteration
    written: list[str]  # memory cells the loops write (both sides write each)
    calls_equal: z3.BoolRef  # the iterations make the same calls
    facts: list[z3.BoolRef]  # the assumptions in force and the calls' environment
    excluded: frozenset[tuple[int, int]] = frozenset()  # pairs never to couple

    def candidates(self) -> list[tuple[int, int]]:
        """Every pair of same-width variables, and each variable against the other
        side's flag word (a loop that re-reads the word at its head keeps it there)."""
        b_head, a_head = _terms(self.b)[0], _terms(self.a)[0]
        flags = (len(self.b.head), len(self.a.head))
        return [(i, j) for i in range(len(b_head)) for j in range(len(a_head))
                if b_head[i].size() == a_head[j].size() and (i, j) != flags
                and (i, j) not in self.excluded]

    def coupled(self, pairs: list[tuple[int, int]], at: str = "head") -> z3.BoolRef:
        """The pairs equal at the heads (`at="head"`) or at the next heads (`"next"`)."""
        k = 0 if at == "head" else 1
        b, a = _terms(self.b)[k], _terms(self.a)[k]
        return mk_and(*[b[i] == a[j] for i, j in pairs])

    def step_ok(self) -> z3.BoolRef:
        """One iteration behaves the same: the loops continue or leave together, make
        the same calls, cut no path, and agree on the flag word and written memory at
        the next head (when they go round) and at the exit (when they leave)."""
        b, a = self.b, self.a
        return mk_and(
            b.continues == a.continues, b.exits == a.exits, self.calls_equal,
            mk_not(b.cut), mk_not(a.cut),
            z3.Implies(b.continues, mk_and(b.flags_next == a.flags_next,
                                            *[b.memory_next[p] == a.memory_next[p]
                                              for p in self.written])),
            z3.Implies(b.exits, mk_and(b.flags_exit == a.flags_exit,
                                        *[b.memory_exit[p] == a.memory_exit[p]
                                          for p in self.written])))

    def exit_pairs(self, context: list[z3.BoolRef], timeout: float,
                   at: Callable[[z3.ExprRef], z3.ExprRef] = lambda term: term
                   ) -> tuple[tuple[int, int], ...]:
        """The variable pairs equal whenever both loops leave, under `context`; `at` puts
        the iteration's terms in one copy of it (k-induction's `_Unrolled.at`)."""
        b_exit, a_exit = _terms(self.b)[2], _terms(self.a)[2]
        flags = (len(self.b.head), len(self.a.head))
        session = Session([at(f) for f in self.facts] + context
                          + [at(self.calls_equal), at(self.b.exits), at(self.a.exits)], timeout)
        return tuple((i, j) for i in range(len(b_exit)) for j in range(len(a_exit))
                     if b_exit[i].size() == a_exit[j].size() and (i, j) != flags
                     and session.check(at(b_exit[i] != a_exit[j]), want_model=False).outcome
                     is Outcome.UNSAT)


def _product(b: Iteration, a: Iteration, base: list[z3.BoolRef],
             excluded: frozenset[tuple[int, int]] = frozenset()) -> tuple[_Product | None, str]:
    """The product of the two iterations, or None and why no rule can apply."""
    if b.escapes or a.escapes:
        return None, ("a path leaves the loop by return or goto, or the loop reassigns a "
                      "pointer variable")
    written = sorted(set(b.memory_next) | set(a.memory_next))
    one_sided = [p for p in written if (p in b.memory_next) != (p in a.memory_next)]
    if one_sided:
        return None, f"only one side writes {', '.join(one_sided)}"
    calls_equal, env = _alignment(with_call_context(list(b.events), written, True, link=False),
                                  with_call_context(list(a.events), written, True, link=False))
    return _Product(b, a, written, calls_equal, base + env, excluded), ""


def _houdini(pairs: list[tuple[int, int]],
             kept_under: Callable[[list[tuple[int, int]]], list[tuple[int, int]] | None]
             ) -> list[tuple[int, int]] | None:
    """The largest subset of `pairs` that `kept_under` keeps whole (None: gave up)."""
    for _ in range(MAX_HOUDINI_ROUNDS):
        kept = kept_under(pairs)
        if kept is None:
            return None
        if kept == pairs:
            return pairs
        pairs = kept
    return None


def _couple(product: _Product, timeout: float) -> tuple[Coupling | None, str]:
    """Lockstep: the coupling that makes one iteration pair inductive, or None and why."""
    b = product.b
    pairs = _houdini(product.candidates(), _lockstep_kept(product, timeout))
    if pairs is None:
        return None, "no coupling was found within the rounds allowed"
    inv_head = product.coupled(pairs)
    obligation = mk_and(product.step_ok(),
                        z3.Implies(b.continues, product.coupled(pairs, "next")))
    session = Session(product.facts + [inv_head], timeout)
    answer = session.check(mk_not(obligation), want_model=False)
    if answer.outcome is Outcome.UNKNOWN:
        return None, f"the solver gave up ({answer.reason or 'timeout'})"
    if answer.outcome is not Outcome.UNSAT:
        return None, "one iteration from coupled heads can behave differently"
    return Coupling(tuple(pairs), product.exit_pairs([inv_head], timeout)), ""


@dataclass(frozen=True)
class _Entry:
    """What one side's loop starts from: its variables and flag word (the loop event's
    arguments) and the memory it writes, as terms of the function before the loop."""

    event: Event
    values: tuple[z3.BitVecRef, ...]  # the variables, then the flag word

    @staticmethod
    def of(trace: SideTrace, it: Iteration) -> _Entry | None:
        found = [e for e in trace.events if _loop_number(e) == it.number]
        if len(found) != 1 or found[0].memory_at is None:
            return None
        e = found[0]
        values = [x if h.size() == 64 else z3.Extract(h.size() - 1, 0, x)
                  for x, h in zip(e.args[:-1], it.head)]
        return _Entry(e, (*values, e.args[-1]))

    def memory(self, path: str) -> z3.BitVecRef:
        return self.event.memory_at(path)


def _head_memory(it: Iteration, path: str) -> z3.BitVecRef:
    """Cell `path` at the loop head (one symbol on both sides: memory is equal there)."""
    return z3.BitVec(f"loop{it.number}:head:mem:{path}", 64)


def _constants(terms: list[z3.ExprRef]) -> dict[int, z3.ExprRef]:
    """The uninterpreted constants in `terms`, by id (a DAG walk)."""
    seen: set[int] = set()
    out: dict[int, z3.ExprRef] = {}
    stack = list(terms)
    while stack:
        t = stack.pop()
        ident = t.get_id()
        if ident in seen:
            continue
        seen.add(ident)
        if z3.is_const(t) and t.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            out[ident] = t
        else:
            stack.extend(t.children())
    return out


def _internal(it: Iteration, name: str) -> bool:
    """Whether a symbol belongs to one iteration (fresh on each: a head value, a call's
    result, memory a call left)."""
    return name.startswith(f"loop{it.number}:") or f":loop{it.number}" in name


def _couple_chc(product: _Product, entry: tuple[_Entry, _Entry], timeout: float,
                avoid: list[z3.BoolRef]) -> tuple[Coupling | None, str]:
    """A coupling invariant of the product program, found by Spacer.

    The state is both loops' variables, the flag word and the memory they write at a
    head, plus the values of the function before the loop that the iteration reads
    (fixed while it runs).  The loops start in the states the function reaches them
    in, with the coupled variables (the loop events' arguments) equal; a step is
    one iteration of each that behaves the same; the query is an iteration that
    does not.  Spacer either finds an invariant that excludes the query (the loops
    behave the same for every number of iterations) or fails.  The query also asks
    for an iteration that leaves both loops in one of the `avoid` exits: exits the
    rest of the function showed a difference with, which the invariant must then
    prove unreachable (refinement, driven by `equiv.driver.check`).
    """
    b, a = product.b, product.a
    pairs = _houdini(product.candidates(), _lockstep_kept(product, timeout))
    if pairs is None:
        return None, "no coupling was found within the rounds allowed"
    b_head, a_head = _terms(b)[0], _terms(a)[0]
    head_memory = [_head_memory(b, p) for p in product.written]
    entry_b, entry_a = entry
    start = [*entry_b.values[:-1], *entry_a.values[:-1], entry_b.values[-1],
             *[entry_b.memory(p) for p in product.written]]
    starts_coupled = [*[entry_b.values[i] == entry_a.values[j] for i, j in pairs],
                      entry_b.values[-1] == entry_a.values[-1],
                      *[entry_b.memory(p) == entry_a.memory(p) for p in product.written]]
    step_ok = product.step_ok()
    nxt = [*b.next, *a.next, b.flags_next, *[b.memory_next[p] for p in product.written]]
    iteration = [*nxt, step_ok, b.continues, a.continues, *product.facts]
    outer = _constants([*start, *starts_coupled, *product.facts])
    frozen = [c for k, c in _constants(iteration).items()
              if k in outer and not (_internal(b, str(c)) or _internal(a, str(c)))]
    head = [*b_head[:-1], *a_head[:-1], b.flags_head, *head_memory, *frozen]
    sorts = [t.sort() for t in head]
    inv = z3.Function(f"coupling{b.number}", *sorts, z3.BoolSort())
    fp = z3.Fixedpoint()
    fp.set(engine="spacer", timeout=max(1, int(timeout * 1000)))
    fp.register_relation(inv)
    rules = [(inv(*start, *frozen), mk_and(*starts_coupled, *product.facts)),
             (inv(*nxt, *frozen), mk_and(inv(*head), step_ok, b.continues, a.continues,
                                         *product.facts))]
    leaves = mk_and(step_ok, b.exits, a.exits, z3.Or(*avoid)) if avoid else FALSE
    query = mk_and(inv(*head), z3.Or(mk_not(step_ok), leaves), *product.facts)
    variables = _constants([h for rule in rules for h in rule] + [query])
    fp.declare_var(*variables.values())
    try:
        for conclusion, premise in rules:
            fp.rule(conclusion, premise)
        answer = fp.query(query)
    except z3.Z3Exception as err:
        text = err.value.decode() if isinstance(err.value, bytes) else str(err)
        if text == "canceled":
            text = f"its --timeout {timeout:g} s ran out"
        return None, f"Spacer gave up ({text})"
    if answer == z3.sat:
        return None, ("the coupled loops can behave differently (Spacer found a path)"
                      if not avoid else "the loops can leave with values the rest of the "
                      "function tells apart (Spacer found a path)")
    if answer != z3.unsat:
        return None, f"Spacer gave up ({fp.reason_unknown() or 'unknown'})"
    invariant = z3.substitute_vars(fp.get_cover_delta(-1, inv), *head)
    names = [*[f"{n} (before)" for n in b.names], *[f"{n} (after)" for n in a.names],
             "flags", *product.written]
    readable = z3.substitute(invariant, *[(t, z3.Const(n, t.sort()))
                                          for t, n in zip(head, names)])
    text = str(z3.simplify(readable))
    if len(text) > MAX_SHOWN_INVARIANT:
        text = f"of {len(str(readable).splitlines())} lines over {', '.join(names)}"
    return Coupling(tuple(pairs), product.exit_pairs([invariant], timeout), (f"invariant {text}",),
                    _leaving(product, invariant, entry)), ""


def _leaving(product: _Product, invariant: z3.BoolRef,
             entry: tuple[_Entry, _Entry]) -> z3.BoolRef:
    """What the loops leave: the values of some iteration that leaves both loops from a
    head where the invariant holds (a copy of the iteration with its own symbols; the
    loop events' results are its exit values).  It holds when the two loop events are
    matched (same history, same inputs); the query adds it there (`Event.joint`)
    and nowhere else: when a loop never leaves, the formula is false, and a
    difference before the loop must still show."""
    b, a = product.b, product.a
    copy = _Unrolled(product, entry, 1)
    entry_b, entry_a = entry
    results = [entry_b.event.havoc[f"<var {k}>"] == copy.at(0, x)
               for k, x in enumerate(b.exit)]
    results += [entry_a.event.havoc[f"<var {k}>"] == copy.at(0, x)
                for k, x in enumerate(a.exit)]
    results.append(entry_b.event.havoc[FLAGS_HAVOC] == copy.at(0, b.flags_exit))
    leaving = mk_and(copy.at(0, invariant), copy.ok(0), copy.at(0, b.exits),
                     copy.at(0, a.exits), *copy.facts(0), *results)
    return leaving


class _Unrolled:
    """Iterations 0, 1, ... of the product, each a renamed copy of `product` (its own
    call results, head values and memory), the head of each linked to the state the
    one before it leaves when both loops go round."""

    def __init__(self, product: _Product, entry: tuple[_Entry, _Entry], count: int):
        self.product, self.count = product, count
        b, a = product.b, product.a
        terms: list[z3.ExprRef] = [*_terms(b)[0], *_terms(a)[0], *_terms(b)[1],
                                   *_terms(a)[1], *_terms(b)[2], *_terms(a)[2],
                                   b.continues, a.continues, b.exits, a.exits,
                                   product.step_ok(), *product.facts,
                                   *[_head_memory(b, p) for p in product.written]]
        internal = [c for c in _constants(terms).values()
                    if _internal(b, str(c)) or _internal(a, str(c))]
        self.renames = [[(c, z3.Const(f"{c}~{t}", c.sort())) for c in internal]
                        for t in range(count)]
        self.entry = entry

    def at(self, t: int, term: z3.ExprRef) -> z3.ExprRef:
        """`term` in iteration `t`."""
        return z3.substitute(term, *self.renames[t]) if self.renames[t] else term

    def ok(self, t: int) -> z3.BoolRef:
        return self.at(t, self.product.step_ok())

    def goes_round(self, t: int) -> z3.BoolRef:
        """Iteration t goes round on both sides, into iteration t + 1's head."""
        prod = self.product
        b, a = prod.b, prod.a
        links = [self.at(t + 1, h) == self.at(t, n)
                 for side in (b, a) for h, n in zip(side.head, side.next)]
        links.append(self.at(t + 1, b.flags_head) == self.at(t, b.flags_next))
        links += [self.at(t + 1, _head_memory(b, p)) == self.at(t, b.memory_next[p])
                  for p in prod.written]
        return mk_and(self.at(t, b.continues), self.at(t, a.continues), *links)

    def facts(self, upto: int) -> list[z3.BoolRef]:
        return [self.at(t, f) for t in range(upto + 1) for f in self.product.facts]

    def start(self, pairs: list[tuple[int, int]]) -> z3.BoolRef:
        """Iteration 0 starts where the function reaches the loops, with `pairs` equal."""
        prod = self.product
        b, a = prod.b, prod.a
        entry_b, entry_a = self.entry
        heads = [*[self.at(0, h) == v for h, v in zip(_terms(b)[0], entry_b.values)],
                 *[self.at(0, h) == v for h, v in zip(_terms(a)[0], entry_a.values)],
                 *[self.at(0, _head_memory(b, p)) == entry_b.memory(p) for p in prod.written],
                 *[entry_b.memory(p) == entry_a.memory(p) for p in prod.written],
                 entry_b.values[-1] == entry_a.values[-1]]
        return mk_and(*heads, *[entry_b.values[i] == entry_a.values[j] for i, j in pairs])

    def history(self, upto: int, pairs: list[tuple[int, int]] | None) -> list[z3.BoolRef]:
        """Iterations before `upto` behaved the same and went round; with `pairs`, the
        pairs held at each of their heads (the induction step), else the run starts
        at the loops' entry (the base case)."""
        out = self.facts(upto)
        if pairs is not None:
            out += [self.at(t, self.product.coupled(pairs)) for t in range(upto + 1)]
        for t in range(upto):
            out += [self.ok(t), self.goes_round(t)]
        return out


def _couple_k(product: _Product, entry: tuple[_Entry, _Entry],
              timeout: float) -> tuple[Coupling | None, str]:
    """k-induction (k = 2, then 3): a coupling that holds at k heads in a row, and k
    iterations that behave the same, make the next iteration behave the same and the
    coupling hold after it; the first k iterations from the loops' entry are checked
    as they run (the base case)."""
    whys = []
    for k in K_INDUCTION_DEPTHS:
        coupling, why = _couple_depth(product, entry, timeout, k)
        if coupling is not None:
            return replace(coupling, shown=(f"k = {k}",)), ""
        whys.append(f"k = {k}: {why}")
    return None, "; ".join(whys)


def _couple_depth(product: _Product, entry: tuple[_Entry, _Entry], timeout: float,
                  k: int) -> tuple[Coupling | None, str]:
    b = product.b
    run = _Unrolled(product, entry, k + 1)
    last = k - 1

    def kept_under(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        session = Session(run.history(last, pairs) + [run.ok(last)], timeout)
        goes = run.at(last, mk_and(b.continues, product.a.continues))
        return [(i, j) for i, j in pairs if session.check(
            mk_and(goes, mk_not(run.at(last, product.coupled([(i, j)], "next")))),
            want_model=False).outcome is Outcome.UNSAT]

    # Candidates: the pairs lockstep keeps, and the pairs equal where the loops start
    # (the loop events' arguments must be equal for the proof to be used: a pair that
    # holds only by chance at k heads in a row would make them differ).
    entry_b, entry_a = entry
    lockstep = _houdini(product.candidates(), _lockstep_kept(product, timeout)) or []
    at_entry = Session(list(product.facts), timeout)
    candidates = [(i, j) for i, j in product.candidates() if (i, j) in lockstep
                  or at_entry.check(entry_b.values[i] != entry_a.values[j],
                                    want_model=False).outcome is Outcome.UNSAT]
    pairs = _houdini(candidates, kept_under)
    if pairs is None:
        return None, "no coupling was found within the rounds allowed"

    def holds(context: list[z3.BoolRef], t: int) -> str:
        goal = mk_and(run.ok(t), z3.Implies(run.at(t, b.continues),
                                            run.at(t, product.coupled(pairs, "next"))))
        answer = Session(context, timeout).check(mk_not(goal), want_model=False)
        if answer.outcome is Outcome.UNKNOWN:
            return f"the solver gave up ({answer.reason or 'timeout'})"
        return "" if answer.outcome is Outcome.UNSAT else "no"

    why = holds(run.history(last, pairs), last)
    if why:
        return None, (why if why != "no" else
                      f"{k} iterations from coupled heads can be followed by one that "
                      f"behaves differently")
    for t in range(last):
        why = holds([run.start(pairs)] + run.history(t, None), t)
        if why:
            return None, (why if why != "no" else
                          f"iteration {t + 1} from the loops' entry can behave differently")
    # What the loops leave equal: on leaving from the step, and from each base iteration.
    contexts = [run.history(last, pairs)] + [[run.start(pairs)] + run.history(t, None)
                                             for t in range(last)]
    exits = None
    for t, context in zip([last] + list(range(last)), contexts):
        found = set(product.exit_pairs(context, timeout, functools.partial(run.at, t)))
        exits = found if exits is None else exits & found
    return Coupling(tuple(pairs), tuple(sorted(exits or ()))), ""


def _lockstep_kept(product: _Product, timeout: float
                   ) -> Callable[[list[tuple[int, int]]], list[tuple[int, int]]]:
    """Houdini's step: the pairs one iteration keeps equal when all `pairs` hold."""
    b, a = product.b, product.a
    b_next, a_next = _terms(b)[1], _terms(a)[1]

    def kept_under(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        session = Session(product.facts + [product.coupled(pairs), product.calls_equal],
                          timeout)
        return [(i, j) for i, j in pairs if session.check(
            mk_and(b.continues, a.continues, b_next[i] != a_next[j]),
            want_model=False).outcome is Outcome.UNSAT]
    return kept_under


def _coupled(trace: SideTrace, pairings: dict[int, Coupling], side: int) -> SideTrace:
    """The trace with each loop event reading its coupled variables and leaving its
    exit-coupled ones (the flag word, index len(variables), is the event's last argument)."""
    events: list[Event] = []
    for e in trace.events:
        number = _loop_number(e)
        if number is None:
            events.append(e)
            continue
        coupling = pairings.get(number, Coupling((), ()))
        flag = len(e.args) - 1
        chosen = [pair[side] for pair in coupling.head]
        args = tuple(e.args[k] for k in chosen) + (e.args[-1],)
        types = tuple(e.arg_types[k] for k in chosen) + (e.arg_types[-1],)
        coupled = {f"<coupled {n}>": (e.havoc[FLAGS_HAVOC] if pair[side] == flag
                                      else e.havoc[f"<var {pair[side]}>"])
                   for n, pair in enumerate(coupling.exit)}
        events.append(replace(e, args=args, arg_types=types,
                              havoc=_CoupledHavoc(e.havoc, coupled), joint=coupling.leaves))
    return replace(trace, events=events)


class _CoupledHavoc(Mapping[str, Any]):
    """A loop event's `havoc` as the proof sees it: the loop's own variables replaced
    by the exit-coupled ones.  A live view of the event's `havoc`: memory cells the
    executor reads after the loop are added there while the query is built, and
    must be linked across the sides like any matched event's."""

    def __init__(self, base: Mapping[str, Any], coupled: dict[str, Any]):
        self.base, self.coupled = base, coupled

    def __getitem__(self, key: str) -> Any:
        if key in self.coupled:
            return self.coupled[key]
        if key.startswith("<var "):
            raise KeyError(key)
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.coupled
        yield from (k for k in self.base if not k.startswith("<var ") and k not in self.coupled)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _loop_number(e: Event) -> int | None:
    if e.name.startswith("<loop ") and e.name.endswith(">"):
        return int(e.name[len("<loop "):-1])
    return None


__all__ = ["FALSE", "FLAGS_HAVOC", "LoopProof", "prove_loops"]
