"""Unbounded proof of loop pairs by lockstep induction on the product program.

Both sides are executed with their loops summarised (`equiv.semantics.loops`):
each loop is one opaque *loop event* in the trace, plus one symbolic
iteration from a head state.  The k-th loop reached on the before side is
paired with the k-th on the after side.  For each pair this module looks for
a coupling: equalities between the two loops' interface variables (Houdini:
start from every pair of variables of the same width, drop those one
iteration does not preserve, repeat).  The rule, under the coupling at the
heads, with the flag word and memory equal there:

- both loops continue, or both leave, on the same inputs;
- one iteration of each makes the same calls with the same arguments (calls
  that match return the same values and leave the same flag word and memory,
  as everywhere in equiv);
- the iteration leaves the coupling, the flag word and the written memory
  equal at the next head and at the exit;
- no path is cut inside the iteration, and none leaves the loop by `return`
  or `goto`.

When it holds, the two loops are the same deterministic step of the coupled
variables, flag word and memory, so the loop events are matched like calls:
same inputs, same outputs.  The rest of the function is then checked with
the loops replaced by those events.  A difference found in that check is not
shown as real (it may rest on the summary); the caller says UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import z3

from equiv.query.equivalence import _alignment, _pointer_facts, with_call_context
from equiv.query.smt import Outcome, Session
from equiv.semantics.loops import Iteration
from equiv.semantics.state import FALSE, mk_and, mk_not
from equiv.semantics.trace import FLAGS_HAVOC, Event, SideTrace

MAX_HOUDINI_ROUNDS = 32


@dataclass(frozen=True)
class LoopProof:
    """The outcome of the induction: coupled traces, or why there are none."""

    before: SideTrace | None
    after: SideTrace | None
    reason: str  # what was proved, or why not
    couplings: tuple[tuple[str, ...], ...] = ()  # per loop: "before_var = after_var"


@dataclass(frozen=True)
class Coupling:
    """How one loop pair is related: `head` pairs hold at every head, `exit` pairs on leaving.

    A pair (i, j) names the before loop's variable i and the after loop's
    variable j; index `len(names)` stands for the flag word.
    """

    head: tuple[tuple[int, int], ...]
    exit: tuple[tuple[int, int], ...]


def prove_loops(before: SideTrace, after: SideTrace, facts: list[z3.BoolRef],
                timeout: float) -> LoopProof:
    """Prove each pair of loops by lockstep induction; couple their loop events."""
    b_its, a_its = before.iterations, after.iterations
    if not b_its and not a_its:
        return LoopProof(None, None, "no loop was reached")
    if len(b_its) != len(a_its):
        return LoopProof(None, None, f"the sides reach different numbers of loops "
                                     f"({len(b_its)} before, {len(a_its)} after)")
    pairings: dict[int, Coupling] = {}
    shown = []
    roots = {**before.pointer_roots, **after.pointer_roots}
    base = list(facts) + _pointer_facts(list(roots.values()))
    for b_it, a_it in zip(b_its, a_its):
        coupling, why = _couple(b_it, a_it, base, timeout)
        if coupling is None:
            return LoopProof(None, None, f"the loop at {b_it.location}: {why}")
        pairings[b_it.number] = coupling
        shown.append(tuple(f"{_name(b_it, i)} = {_name(a_it, j)}" for i, j in coupling.head))
    return LoopProof(_coupled(before, pairings, 0), _coupled(after, pairings, 1),
                     "loops proved by lockstep induction", tuple(shown))


def _name(it: Iteration, k: int) -> str:
    return it.names[k] if k < len(it.names) else "the flag word"


def _terms(it: Iteration) -> tuple[list[z3.BitVecRef], list[z3.BitVecRef], list[z3.BitVecRef]]:
    """The loop's variables at the head, the next head and the exit; the flag word last."""
    return ([*it.head, it.flags_head], [*it.next, it.flags_next], [*it.exit, it.flags_exit])


def _couple(b: Iteration, a: Iteration, base: list[z3.BoolRef],
            timeout: float) -> tuple[Coupling | None, str]:
    """The coupling that makes the iteration pair inductive, or None and why."""
    if b.escapes or a.escapes:
        return None, ("a path leaves the loop by return or goto, or the loop reassigns a "
                      "pointer variable")
    written = sorted(set(b.memory_next) | set(a.memory_next))
    one_sided = [p for p in written if (p in b.memory_next) != (p in a.memory_next)]
    if one_sided:
        return None, f"only one side writes {', '.join(one_sided)}"
    calls_equal, env = _alignment(with_call_context(list(b.events), written, True, link=False),
                                  with_call_context(list(a.events), written, True, link=False))
    (b_head, b_next, b_exit), (a_head, a_next, a_exit) = _terms(b), _terms(a)
    flag_b, flag_a = len(b.head), len(a.head)
    # Candidates: every pair of same-width variables, and each variable against the
    # other side's flag word (a loop that re-reads the word at its head keeps it there).
    pairs = [(i, j) for i in range(len(b_head)) for j in range(len(a_head))
             if b_head[i].size() == a_head[j].size() and (i, j) != (flag_b, flag_a)]
    session_facts = base + env
    for _ in range(MAX_HOUDINI_ROUNDS):
        inv = mk_and(*[b_head[i] == a_head[j] for i, j in pairs])
        session = Session(session_facts + [inv, calls_equal], timeout)
        kept = [(i, j) for i, j in pairs if session.check(
            mk_and(b.continues, a.continues, b_next[i] != a_next[j]),
            want_model=False).outcome is Outcome.UNSAT]
        if kept == pairs:
            break
        pairs = kept
    else:
        return None, "no coupling was found within the rounds allowed"
    inv_head = mk_and(*[b_head[i] == a_head[j] for i, j in pairs])
    same_memory_next = [b.memory_next[p] == a.memory_next[p] for p in written]
    same_memory_exit = [b.memory_exit[p] == a.memory_exit[p] for p in written]
    obligation = mk_and(
        b.continues == a.continues, b.exits == a.exits, calls_equal,
        mk_not(b.cut), mk_not(a.cut),
        z3.Implies(b.continues, mk_and(b.flags_next == a.flags_next,
                                        *[b_next[i] == a_next[j] for i, j in pairs],
                                        *same_memory_next)),
        z3.Implies(b.exits, mk_and(b.flags_exit == a.flags_exit, *same_memory_exit)))
    session = Session(session_facts + [inv_head], timeout)
    answer = session.check(mk_not(obligation), want_model=False)
    if answer.outcome is Outcome.UNKNOWN:
        return None, f"the solver gave up ({answer.reason or 'timeout'})"
    if answer.outcome is not Outcome.UNSAT:
        return None, "one iteration from coupled heads can behave differently"
    # What the loops leave equal: every candidate pair equal whenever both leave.
    exit_session = Session(session_facts + [inv_head, calls_equal, b.exits, a.exits], timeout)
    exits = [(i, j) for i in range(len(b_exit)) for j in range(len(a_exit))
             if b_exit[i].size() == a_exit[j].size() and (i, j) != (flag_b, flag_a)
             and exit_session.check(b_exit[i] != a_exit[j], want_model=False).outcome
             is Outcome.UNSAT]
    return Coupling(tuple(pairs), tuple(exits)), ""


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
                              havoc=_CoupledHavoc(e.havoc, coupled)))
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
