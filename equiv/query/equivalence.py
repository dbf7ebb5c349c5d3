"""The equivalence query: are two sides' behaviours equal for every input?

Behaviour is the ordered sequence of external calls (name and argument
values), the return value, the final flag word when either side writes it,
and the memory either side writes.  Call sequences are compared with an
alignment built from boolean formulas: cell E[i][j] says "the calls that
happen among before's first i potential calls equal those among after's
first j".  The environment is deterministic: two calls with the same
history, name and arguments return the same value and leave memory the same.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field, replace
from typing import Any

import z3

from equiv.errors import Location
from equiv.query.smt import Answer, Outcome, Session
from equiv.semantics.executor import ARRAY_SORT
from equiv.semantics.state import FALSE, TRUE, mk_and, mk_not, mk_or
from equiv.semantics.trace import FLAG_WORD, FLAGS_HAVOC, Event, SideTrace


@dataclass
class Query:
    """The formulas of one comparison, ready for the solver."""

    before: SideTrace
    after: SideTrace
    background: list[z3.BoolRef]
    differs: z3.BoolRef
    within_bound: z3.BoolRef
    exceeded: list[tuple[z3.BoolRef, Location | None]]
    final_mem: dict[str, tuple[z3.BitVecRef, z3.BitVecRef]] = field(default_factory=dict)
    cut_reasons: list[str] = field(default_factory=list)  # what cut each `exceeded` entry
    # Both sides are the same program (equiv.query.unchanged): `differs` is false
    # without asking the solver.
    unchanged: bool = False

    @property
    def flags(self) -> z3.BitVecRef:
        return z3.BitVec(FLAG_WORD, 64)


def _events_equal(b: Event, a: Event) -> z3.BoolRef:
    if b.name != a.name or len(b.args) != len(a.args):
        return FALSE
    parts = []
    for x, y in zip(b.args + b.context, a.args + a.context):
        if x.eq(y):
            continue
        if z3.is_bv_value(x) and z3.is_bv_value(y):
            return FALSE  # two different constants
        parts.append(x == y)
    return mk_and(*parts)


@dataclass(frozen=True)
class ElementLinks:
    """Which memory cells are elements of arrays that some side reads whole.

    A side names an element it reads at a constant index as a cell of its own
    (`regs->regs[3]`), and reads an array at an index that may be any from the
    array's whole contents (`regs->regs[]`, a z3 Array).  Within a side the
    executor keeps the two views in step; across the sides these links do: the
    cell's value on entry, and after two matched calls, is the Array's element.
    """

    keys: frozenset[str]  # the arrays read whole, on either side
    before: dict[str, tuple[str, int]]  # each side's element cells: (array, position)
    after: dict[str, tuple[str, int]]

    def entry_facts(self, side: SideTrace, owners: dict[str, tuple[str, int]]
                    ) -> list[z3.BoolRef]:
        """Each element cell `side` reads on entry is the element of the array."""
        facts = []
        for path, sym in side.inputs.items():
            owner = owners.get(path)
            if owner is not None and owner[0] in self.keys:
                whole = z3.Array(f"mem:{owner[0]}", ARRAY_SORT, ARRAY_SORT)
                facts.append(sym == z3.Select(whole, z3.BitVecVal(owner[1], 64)))
        return facts

    def havoc_links(self, b: Event, a: Event) -> list[z3.BoolRef]:
        """A cell one matched call leaves is the element of the array the other leaves."""
        out = []
        for x, y, owners in ((b, a, self.before), (a, b, self.after)):
            for path in sorted(x.havoc.keys()):
                owner = owners.get(path)
                if owner is not None and owner[0] in self.keys and owner[0] in y.havoc:
                    out.append(x.havoc[path] == z3.Select(y.havoc[owner[0]],
                                                          z3.BitVecVal(owner[1], 64)))
        return out


def _alignment(before: list[Event], after: list[Event], links: ElementLinks | None = None
               ) -> tuple[z3.BoolRef, list[z3.BoolRef]]:
    """E[n][m] (the happening calls are equal) and the environment constraints."""
    n, m = len(before), len(after)
    not_after = [mk_not(a.guard) for a in after]
    prev = [TRUE] * (m + 1)
    for j in range(1, m + 1):
        prev[j] = mk_and(prev[j - 1], not_after[j - 1])
    env: list[z3.BoolRef] = []
    for i in range(1, n + 1):
        b = before[i - 1]
        g = b.guard
        not_g = mk_not(g)
        row = [mk_and(prev[0], not_g)] + [FALSE] * m
        for j in range(1, m + 1):
            a = after[j - 1]
            skip_b = mk_and(not_g, prev[j])
            skip_a = mk_and(g, not_after[j - 1], row[j - 1])
            eq = _events_equal(b, a)
            if eq is FALSE:
                row[j] = mk_or(skip_b, skip_a)
                continue
            matched = mk_and(g, a.guard, prev[j - 1], eq)
            env.extend(_same_environment(matched, b, a, links))
            row[j] = mk_or(skip_b, skip_a, matched)
        prev = row
    return prev[m], env


def _call_keys(before: list[Event], after: list[Event]) -> tuple[list[Any], list[Any]] | None:
    """A key per call such that calls with different keys can never be equal.

    The key is the function name and argument count, plus the values at the
    argument positions that are constants in every call of that function on
    both sides (`f(regs, 3)` never equals `f(regs, 4)`, whatever `regs` is).
    None when some key occurs twice on one side.
    """
    keys = call_keys(before, after)
    if any(len(set(k)) != len(k) for k in keys):
        return None
    return keys


def call_keys(before: list[Event], after: list[Event]) -> tuple[list[Any], list[Any]]:
    """The key of every call (see `_call_keys`); equal calls have equal keys."""
    constant: dict[tuple[str, int], list[bool]] = {}
    for e in before + after:
        flags = constant.setdefault((e.name, len(e.args)), [True] * len(e.args))
        for k, a in enumerate(e.args):
            flags[k] = flags[k] and z3.is_bv_value(a)

    def key(e: Event) -> Any:
        flags = constant[(e.name, len(e.args))]
        return (e.name, len(e.args),
                tuple((k, a.as_long()) for k, a in enumerate(e.args) if flags[k]))

    return [key(e) for e in before], [key(e) for e in after]


def _projection(before: list[Event], after: list[Event], keys: tuple[list[Any], list[Any]],
                links: ElementLinks | None = None) -> tuple[z3.BoolRef, list[z3.BoolRef]]:
    """E[n][m] when every call key occurs at most once per side.

    Then the call sequences are equal iff each call happens on both sides or
    on neither, with equal arguments, and no two calls that both happen
    appear in opposite orders.  This is linear in the number of calls (plus
    inverted pairs), where the alignment is quadratic.
    """
    before = [replace(e, name=k) for e, k in zip(before, keys[0])]
    after = [replace(e, name=k) for e, k in zip(after, keys[1])]
    b_of = {e.name: e for e in before}
    a_of = {e.name: e for e in after}
    a_pos = {e.name: i for i, e in enumerate(after)}
    b_pos = {e.name: i for i, e in enumerate(before)}
    parts: list[z3.BoolRef] = []
    for e in before:
        if e.name not in a_of:
            parts.append(mk_not(e.guard))
    for e in after:
        if e.name not in b_of:
            parts.append(mk_not(e.guard))
    common = [e.name for e in before if e.name in a_of]
    for name in common:
        b, a = b_of[name], a_of[name]
        parts.append(b.guard == a.guard if b.guard is not a.guard else TRUE)
        parts.append(mk_or(mk_not(b.guard), _events_equal(b, a)))
    inverted = _inversions(common, a_pos)
    for x, y in inverted:
        parts.append(mk_not(mk_and(b_of[x].guard, b_of[y].guard)))
    env = []
    for name in common:
        b, a = b_of[name], a_of[name]
        if (b.result is None or a.result is None) and not (b.havoc.keys() & a.havoc.keys()) \
                and not (links is not None and links.havoc_links(b, a)):
            continue
        prefix = _prefix_equal(name, before, after, b_of, a_of, b_pos, a_pos, inverted)
        env.extend(_same_environment(mk_and(b.guard, a.guard, _events_equal(b, a), prefix),
                                     b, a, links))
    return mk_and(*parts), env


def _inversions(common: list[str], a_pos: dict[str, int]) -> list[tuple[str, str]]:
    """Pairs (x, y) with x before y on the before side but after it on the after side."""
    out = []
    for i, x in enumerate(common):
        for y in common[i + 1:]:
            if a_pos[y] < a_pos[x]:
                out.append((x, y))
    return out


def _prefix_equal(name: str, before: list[Event], after: list[Event], b_of: dict[str, Event],
                  a_of: dict[str, Event], b_pos: dict[str, int], a_pos: dict[str, int],
                  inverted: list[tuple[str, str]]) -> z3.BoolRef:
    """The calls that happen before `name` are the same on both sides."""
    bi, ai = b_pos[name], a_pos[name]
    parts = []
    for e in before[:bi]:
        if e.name in a_of and a_pos[e.name] < ai:
            a = a_of[e.name]
            parts.append(e.guard == a.guard if e.guard is not a.guard else TRUE)
            parts.append(mk_or(mk_not(e.guard), _events_equal(e, a)))
        else:
            parts.append(mk_not(e.guard))
    for e in after[:ai]:
        if not (e.name in b_of and b_pos[e.name] < bi):
            parts.append(mk_not(e.guard))
    for x, y in inverted:
        if b_pos[y] < bi and a_pos[x] < ai:
            parts.append(mk_not(mk_and(b_of[x].guard, b_of[y].guard)))
    return mk_and(*parts)


def _same_environment(matched: z3.BoolRef, b: Event, a: Event,
                      links: ElementLinks | None = None) -> list[z3.BoolRef]:
    """Matched calls (same history, name, arguments) return and leave the same."""
    same = []
    if b.result is not None and a.result is not None:
        same.append(b.result == a.result)
    for path in sorted(b.havoc.keys() & a.havoc.keys()):
        same.append(b.havoc[path] == a.havoc[path])
    if b.joint is not None and a.joint is not None and b.joint.eq(a.joint):
        same.append(b.joint)  # two loops proved together: what they leave
    if links is not None:
        same += links.havoc_links(b, a)
    if not same or matched is FALSE:
        return []
    return [z3.Implies(matched, mk_and(*same))]


def with_call_context(events: list[Event], written: list[str], flags: bool,
                      link: bool | None = None,
                      views: dict[str, tuple[int, bool]] | None = None) -> list[Event]:
    """`events` as the query sees them: each with what its callee sees and leaves behind.

    A callee sees the flag word and memory: where the sides write them, they
    are inputs.  Two calls are the same only if, besides name and arguments,
    the flag word (when either side writes it) and every memory cell either
    side writes hold the same values when they happen.  With `link` (default:
    `flags`), the word each call leaves behind is linked across the sides too
    (through `havoc`).  The events of the trace are not changed: these are
    new events.  `views` gives, for cells the sides write through different types,
    the type this side writes them as: the callee sees that value (`_as_written`).
    """
    link = flags if link is None else link
    views = views or {}
    out = []
    for e in events:
        names = (["flags"] if flags else []) + written
        terms = ([e.flags_at] if flags and e.flags_at is not None else []) + [
            _extended(e.memory_at(p), views[p]) if p in views else e.memory_at(p)
            for p in written if e.memory_at is not None]
        havoc = e.havoc
        if link and e.flags_after is not None and FLAGS_HAVOC not in havoc:
            # A view, not a copy: memory the executor reads after this call (a cell's
            # value once the call has run) is added to the event's own `havoc` later,
            # while this query is built, and must be linked across the sides too.
            havoc = ChainMap({FLAGS_HAVOC: e.flags_after}, havoc)
        if len(terms) == len(names):
            out.append(replace(e, havoc=havoc, context=tuple(terms), context_names=tuple(names)))
        else:
            out.append(replace(e, havoc=havoc))
    return out


def build_query(before: SideTrace, after: SideTrace,
                facts: list[z3.BoolRef] | None = None, unchanged: bool = False) -> Query:
    """The background facts and the 'behaviour differs' formula.

    `facts` are the assumptions in force (from --assume, models, pinned
    configs, flag maps); the sides' own assumption terms are not added here.
    `unchanged` says both sides are the same program (the caller has checked
    with `equiv.query.unchanged`): then `differs` is false and no alignment is built.
    """
    if unchanged:
        return _unchanged_query(before, after, facts or [])
    written = list(dict.fromkeys(list(before.written) + list(after.written)))
    # Where a side writes the flag word, the final word and every callee's view of
    # it are compared, and every word a call leaves behind is linked across the
    # sides (same history, same word).
    flags = before.flags_written or after.flags_written
    mixed = _mixed_views(written, before, after)
    before = replace(before, events=with_call_context(before.events, written, flags,
                                                      views={p: v for p, (v, _) in mixed.items()}))
    after = replace(after, events=with_call_context(after.events, written, flags,
                                                    views={p: v for p, (_, v) in mixed.items()}))
    final_mem = {p: _as_written(p, before, after, mixed) for p in written}
    links = element_links(before, after)
    keys = _call_keys(before.events, after.events)
    if keys is not None:
        calls_equal, env = _projection(before.events, after.events, keys, links)
    else:
        calls_equal, env = _alignment(before.events, after.events, links)
    if links is not None:
        env += links.entry_facts(before, links.before) + links.entry_facts(after, links.after)
    same = [calls_equal]
    if before.ret is not None and after.ret is not None:
        same.append(before.ret == after.ret)
    if before.flags_written or after.flags_written:
        same.append(before.final_flags == after.final_flags)
    for b_val, a_val in final_mem.values():
        same.append(b_val == a_val)
    roots = {**before.pointer_roots, **after.pointer_roots}
    background = env + _pointer_facts(list(roots.values())) + list(facts or [])
    exceeded = [(lb.guard, lb.location) for lb in before.exceeded + after.exceeded]
    within = mk_not(mk_or(*[g for g, _ in exceeded]))
    reasons = [lb.what for lb in before.exceeded + after.exceeded]
    return Query(before, after, background, mk_not(mk_and(*same)), within, exceeded, final_mem,
                 reasons)


def element_links(before: SideTrace, after: SideTrace) -> ElementLinks | None:
    """The links between element cells and whole arrays, when a side reads one whole."""
    keys = frozenset(before.arrays) | frozenset(after.arrays)
    if not keys:
        return None
    return ElementLinks(keys, before.elements, after.elements)


def _mixed_views(written: list[str], before: SideTrace, after: SideTrace
                 ) -> dict[str, tuple[tuple[int, bool], tuple[int, bool]]]:
    """The written cells each side writes through a different type: (before, after) views."""
    out = {}
    for path in written:
        vb, va = before.cell_views.get(path), after.cell_views.get(path)
        if vb is not None and va is not None and vb != va:
            out[path] = (vb, va)
    return out


def _as_written(path: str, before: SideTrace, after: SideTrace,
                mixed: dict[str, tuple[tuple[int, bool], tuple[int, bool]]]
                ) -> tuple[z3.BitVecRef, z3.BitVecRef]:
    """Cell `path` at the end of each side, as the value each side's member type gives it.

    A cell is 64 bits; a narrower member (or bit-field) keeps the bits above it. Where
    both sides write the cell through the same type, the whole cells are compared (the
    bits above are the same on both sides). Where the types differ (a bit-field
    widened, a member's type changed), the bits above are no part of either value:
    the values are compared, each extended from its own width."""
    b, a = before.final_memory(path), after.final_memory(path)
    if path not in mixed:
        return b, a
    vb, va = mixed[path]
    return _extended(b, vb), _extended(a, va)


def _extended(cell: z3.BitVecRef, view: tuple[int, bool]) -> z3.BitVecRef:
    bits, signed = view
    if bits >= 64:
        return cell
    low = z3.Extract(bits - 1, 0, cell)
    return z3.SignExt(64 - bits, low) if signed else z3.ZeroExt(64 - bits, low)


def _unchanged_query(before: SideTrace, after: SideTrace, facts: list[z3.BoolRef]) -> Query:
    """The query for two sides that are the same program: they never differ."""
    roots = {**before.pointer_roots, **after.pointer_roots}
    exceeded = [(lb.guard, lb.location) for lb in before.exceeded + after.exceeded]
    within = mk_not(mk_or(*[g for g, _ in exceeded]))
    reasons = [lb.what for lb in before.exceeded + after.exceeded]
    return Query(before, after, _pointer_facts(list(roots.values())) + list(facts), FALSE,
                 within, exceeded, cut_reasons=reasons, unchanged=True)


def _pointer_facts(roots: list[z3.BitVecRef]) -> list[z3.BoolRef]:
    """Named objects (parameters, current, thread_info) exist and do not alias."""
    facts: list[z3.BoolRef] = [r != 0 for r in roots]
    if len(roots) > 1:
        facts.append(z3.Distinct(*roots))
    return facts


@dataclass(frozen=True)
class Decision:
    """The solver's verdict on a query, before any report is made."""

    outcome: str  # "equivalent", "different", "unknown"
    answer: Answer | None = None
    reason: str = ""


def plain_model(query: Query) -> z3.ModelRef:
    """The plainest input: every named object at an address of its own, every other
    input 0 (z3's completion), so that the sides see the same values everywhere.

    It satisfies the background whenever the assumptions in force allow it (the
    links between the sides' call results only ask that equal histories see
    equal values): tried first by the consistency check, whose formula z3 took
    over 30 s to satisfy on a 40-field struct pair (the assumptions are then
    proved consistent by evaluation; a model that fails proves nothing).
    """
    model = z3.Model()
    roots = {**query.before.pointer_roots, **query.after.pointer_roots}
    for k, name in enumerate(sorted(roots)):
        root = roots[name]
        if z3.is_const(root) and root.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            model.update_value(root, z3.BitVecVal((k + 1) << 12, root.size()))
    return model


def decide(query: Query, session: Session, unwind: int = 8, consistency: bool = True) -> Decision:
    """Equivalent, different (with a model) or unknown (with the reason, which names
    the loop bound `unwind` in force when a loop could run past it).

    `consistency=False` skips the check that the assumptions can hold together;
    only for a first look whose EQUIVALENT is never used as it is.
    """
    consistent = session.check(candidates=[plain_model(query)]) if consistency \
        else Answer(Outcome.SAT)
    if consistent.outcome is Outcome.UNSAT:
        return Decision("contradictory", reason="the assumptions in force contradict "
                                                 "each other: no input satisfies them all")
    # Unchanged sides: `differs` is false, so the difference query is unsat.
    diff = Answer(Outcome.UNSAT) if query.unchanged else session.check(query.within_bound,
                                                                        query.differs)
    if diff.outcome is Outcome.SAT:
        return Decision("different", diff)
    if diff.outcome is Outcome.UNKNOWN:
        return Decision("unknown", reason=f"solver gave up ({diff.reason or 'timeout'})")
    for (guard, loc), what in zip(query.exceeded, query.cut_reasons):
        hit = session.check(guard, want_model=False)
        if hit.outcome is not Outcome.UNSAT:
            where = f" at {loc}" if loc else ""
            if what != "loop":
                return Decision("unknown", reason=f"no difference without undefined behaviour, "
                                                   f"but it is reachable{where}: {what}")
            return Decision("unknown", reason=f"loop{where} may run more than --unwind "
                                               f"{unwind} iterations; try --unwind "
                                               f"{min(unwind * 4, 10_000)}, a model or --assume")
    return Decision("equivalent")
