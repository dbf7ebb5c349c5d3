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

from dataclasses import dataclass, replace

import z3

from equiv.query.equivalence import _alignment, _pointer_facts, with_call_context
from equiv.query.smt import Outcome, Session
from equiv.semantics.loops import Iteration
from equiv.semantics.state import FALSE, mk_and, mk_not, mk_or
from equiv.semantics.trace import FLAGS_HAVOC, Event, SideTrace

MAX_HOUDINI_ROUNDS = 32


@dataclass(frozen=True)
class LoopProof:
    """The outcome of the induction: coupled traces, or why there are none."""

    before: SideTrace | None
    after: SideTrace | None
    reason: str  # what was proved, or why not
    couplings: tuple[tuple[str, ...], ...] = ()  # per loop: "before_var = after_var"


def prove_loops(before: SideTrace, after: SideTrace, facts: list[z3.BoolRef],
                timeout: float) -> LoopProof:
    """Prove each pair of loops by lockstep induction; couple their loop events."""
    b_its, a_its = before.iterations, after.iterations
    if not b_its and not a_its:
        return LoopProof(None, None, "no loop was reached")
    if len(b_its) != len(a_its):
        return LoopProof(None, None, f"the sides reach different numbers of loops "
                                     f"({len(b_its)} before, {len(a_its)} after)")
    pairings: dict[int, list[tuple[int, int]]] = {}
    shown = []
    roots = {**before.pointer_roots, **after.pointer_roots}
    base = list(facts) + _pointer_facts(list(roots.values()))
    for b_it, a_it in zip(b_its, a_its):
        pairs, why = _couple(b_it, a_it, base, timeout)
        if pairs is None:
            return LoopProof(None, None, f"lockstep induction failed for the loop at "
                                         f"{b_it.location}: {why}")
        pairings[b_it.number] = pairs
        shown.append(tuple(f"{b_it.names[i]} = {a_it.names[j]}" for i, j in pairs))
    return LoopProof(_coupled(before, pairings, 0), _coupled(after, pairings, 1),
                     "loops proved by lockstep induction", tuple(shown))


def _couple(b: Iteration, a: Iteration, base: list[z3.BoolRef],
            timeout: float) -> tuple[list[tuple[int, int]] | None, str]:
    """The coupling that makes the iteration pair inductive, or None and why."""
    if b.escapes or a.escapes:
        return None, ("a path leaves the loop by return or goto, or the loop reassigns a "
                      "pointer variable")
    written = sorted(set(b.memory_next) | set(a.memory_next))
    calls_equal, env = _alignment(with_call_context(list(b.events), written, True, link=False),
                                  with_call_context(list(a.events), written, True, link=False))
    pairs = [(i, j) for i in range(len(b.head)) for j in range(len(a.head))
             if b.head[i].size() == a.head[j].size()]
    session_facts = base + env
    for _ in range(MAX_HOUDINI_ROUNDS):
        inv = mk_and(*[b.head[i] == a.head[j] for i, j in pairs])
        session = Session(session_facts + [inv, calls_equal], timeout)
        kept = []
        for i, j in pairs:
            go_on = mk_and(b.continues, a.continues, b.next[i] != a.next[j])
            leave = mk_and(b.exits, a.exits, b.exit[i] != a.exit[j])
            answer = session.check(mk_or(go_on, leave), want_model=False)
            if answer.outcome is Outcome.UNSAT:
                kept.append((i, j))
        if kept == pairs:
            break
        pairs = kept
    else:
        return None, "no coupling was found within the rounds allowed"
    inv_head = mk_and(*[b.head[i] == a.head[j] for i, j in pairs])
    obligation = mk_and(
        b.continues == a.continues, b.exits == a.exits, calls_equal,
        mk_not(b.cut), mk_not(a.cut),
        z3.Implies(b.continues, mk_and(b.flags_next == a.flags_next,
                                        *[b.next[i] == a.next[j] for i, j in pairs],
                                        *[b.memory_next[p] == a.memory_next[p]
                                          for p in written if p in b.memory_next
                                          and p in a.memory_next])),
        z3.Implies(b.exits, mk_and(b.flags_exit == a.flags_exit,
                                    *[b.exit[i] == a.exit[j] for i, j in pairs],
                                    *[b.memory_exit[p] == a.memory_exit[p]
                                      for p in written if p in b.memory_exit
                                      and p in a.memory_exit])))
    one_sided = [p for p in written if (p in b.memory_next) != (p in a.memory_next)]
    if one_sided:
        return None, f"only one side writes {', '.join(one_sided)}"
    answer = Session(session_facts + [inv_head], timeout).check(mk_not(obligation),
                                                                 want_model=False)
    if answer.outcome is Outcome.UNSAT:
        return pairs, ""
    if answer.outcome is Outcome.UNKNOWN:
        return None, f"the solver gave up ({answer.reason or 'timeout'})"
    return None, "one iteration from equal heads can behave differently"


def _coupled(trace: SideTrace, pairings: dict[int, list[tuple[int, int]]],
             side: int) -> SideTrace:
    """The trace with each loop event's inputs and outputs in coupling order."""
    events: list[Event] = []
    for e in trace.events:
        number = _loop_number(e)
        if number is None:
            events.append(e)
            continue
        pairs = pairings.get(number, [])
        chosen = [pair[side] for pair in pairs]
        args = tuple(e.args[k] for k in chosen) + (e.args[-1],)
        types = tuple(e.arg_types[k] for k in chosen) + (e.arg_types[-1],)
        havoc = {k: v for k, v in e.havoc.items() if not k.startswith("<var ")}
        for n, k in enumerate(chosen):
            havoc[f"<coupled {n}>"] = e.havoc[f"<var {k}>"]
        events.append(replace(e, args=args, arg_types=types, havoc=havoc))
    return replace(trace, events=events)


def _loop_number(e: Event) -> int | None:
    if e.name.startswith("<loop ") and e.name.endswith(">"):
        return int(e.name[len("<loop "):-1])
    return None


__all__ = ["FALSE", "FLAGS_HAVOC", "LoopProof", "prove_loops"]
