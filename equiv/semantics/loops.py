"""Loops summarised for an unbounded proof (`Options.summarize_loops`).

In this mode a loop is not unrolled.  Where execution reaches it, the
executor records two things:

- a *loop event* in the side's trace: one opaque step, like an external
  call, that reads the loop's interface (the variables of the enclosing
  function it uses, and the flag word) and leaves fresh values for them, for
  memory and for the flag word;
- an `Iteration`: one run of the loop's test and body from a symbolic head
  state, with the calls it makes and the state at the next head and at exit.

`equiv.query.loop_proof` then proves, by induction, that the two sides' loops run
in lockstep; only then are the two loop events treated as the same step.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from equiv.errors import Location
from equiv.ir import ctypes_model as ct
from equiv.ir import nodes as ir
from equiv.semantics.executor import StatementExecutor
from equiv.semantics.state import FALSE, TRUE, State, Value, mk_and, mk_not
from equiv.semantics.trace import FLAGS_HAVOC, Event, LoopBound

HEAD_VERSION_BASE = 1 << 20  # memory versions at a loop head: -(BASE + k)


@dataclass(frozen=True)
class Iteration:
    """One iteration of loop number `number` (in execution order), from a symbolic head.

    `head` are the interface variables' symbols at the head; `next` and `exit`
    their values at the next head (on the paths that go round again) and when
    the loop is left.  `continues` and `exits` are those paths' guards.
    """

    number: int
    location: Location | None
    names: tuple[str, ...]
    head: tuple[z3.BitVecRef, ...]
    next: tuple[z3.BitVecRef, ...]
    exit: tuple[z3.BitVecRef, ...]
    continues: z3.BoolRef
    exits: z3.BoolRef
    events: tuple[Event, ...]
    flags_next: z3.BitVecRef
    flags_exit: z3.BitVecRef
    memory_next: dict[str, z3.BitVecRef]
    memory_exit: dict[str, z3.BitVecRef]
    cut: z3.BoolRef  # paths cut inside the iteration (a nested loop's bound, undefined behaviour)
    escapes: bool  # a path leaves the loop by return or goto: no summary
    flags_head: z3.BitVecRef  # the flag word at the head (one symbol, shared by both sides)
    peeled: int = 0  # iterations run before the summary (Options.peel)


def interface(loop: ir.Loop) -> list[tuple[int, str, ct.CType]]:
    """The variables a loop uses that are declared outside it, in order of first use."""
    used: dict[int, tuple[str, ct.CType]] = {}
    declared: set[int] = set()

    def expr(e: ir.Expr | ir.Place | None) -> None:
        if e is None:
            return
        if isinstance(e, (ir.VarRef, ir.VarPlace)):
            used.setdefault(e.var, (e.name, e.ctype))
            return
        for value in vars(e).values():
            if isinstance(value, (ir.Expr, ir.Place)):
                expr(value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, (ir.Expr, ir.Place)):
                        expr(item)
            elif isinstance(value, ir.Stmt):
                stmt(value)

    def stmt(s: ir.Stmt | None) -> None:
        if s is None:
            return
        if isinstance(s, ir.Declare):
            declared.add(s.var)
        for value in vars(s).values():
            if isinstance(value, ir.Stmt):
                stmt(value)
            elif isinstance(value, (ir.Expr, ir.Place)):
                expr(value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, ir.Stmt):
                        stmt(item)

    expr(loop.cond)
    stmt(loop.body)
    expr(loop.step)
    return [(v, n, t) for v, (n, t) in used.items() if v not in declared]


class LoopSummarizer(StatementExecutor):
    """The executor's loop summaries: summarise loops instead of unrolling them."""

    def summarize_loop(self, s: ir.Loop, state: State) -> State:
        self.loops_seen += 1
        number = self.loops_seen
        peel = self._peel_count(s, number)
        exits: list[State] = []
        if peel:
            state, exits = self._peel(s, state, peel)
        after = self._summary(s, state, number, peel)
        return self.join(exits + [after], after) if exits else after

    def _peel_count(self, s: ir.Loop, number: int) -> int:
        """Iterations of loop `number` to run before its summary (a `do` loop: at least one,
        since the summary's iteration starts with the test)."""
        peel = self.options.peel
        asked = peel[number - 1] if number <= len(peel) else 0
        return max(asked, 0 if s.test_first or s.cond is None else 1)

    def _peel(self, s: ir.Loop, state: State, count: int) -> tuple[State, list[State]]:
        """Run the first `count` iterations as written: (the state that goes on, the exits)."""
        exits: list[State] = []
        continues = self.frame.sink("continue", s.ident)
        self.branches.append(s.cond.loc if s.cond is not None else s.loc)
        try:
            for k in range(count):
                if (s.test_first or k > 0) and s.cond is not None and not state.dead:
                    c, state = self.eval_cond(s.cond, state)
                    exits.append(state.copy(mk_and(state.guard, mk_not(c))))
                    state = state.copy(mk_and(state.guard, c))
                state = self.exec_stmt(s.body, state)
                state = self.join([state] + continues, state)
                continues.clear()
                if s.step is not None and not state.dead:
                    _, state = self.eval(s.step, state, discard=True)
        finally:
            self.branches.pop()
        exits += self.frame.sinks.pop(("break", s.ident), [])
        self.frame.sinks.pop(("continue", s.ident), None)
        return state, exits

    def _summary(self, s: ir.Loop, state: State, number: int, peel: int) -> State:
        """The loop from `state` on: its Iteration, and one loop event in the trace."""
        names = interface(s)
        scalars = [(v, n, t) for v, n, t in names if t.kind == "int"]
        iteration = self._iterate(s, state, number, scalars, peel)
        self.iterations.append(iteration)
        self._note_loop_writes(iteration, self.iteration_wrote_flags)
        # The loop event: one opaque step reading the interface and the flag word.
        self.flags_observed(state)
        index = len(self.events)
        values = [self.eval(ir.VarRef(t, s.loc, v, n), state)[0] for v, n, t in scalars]
        args = tuple(z3.ZeroExt(64 - x.term.size(), x.term) if x.term.size() < 64 else x.term
                     for x in values) + (state.flags,)
        snapshot = state.copy()
        event = Event(index, state.guard, f"<loop {number}>", args,
                      tuple(t for _, _, t in scalars) + (ct.ULONG,), s.loc, None,
                      flags_at=state.flags,
                      memory_at=lambda path: self._read_raw(snapshot, path))
        self.events.append(event)
        after = state.copy()
        for position, (v, n, t) in enumerate(scalars):
            sym = z3.BitVec(f"{self.prefix}:loop{number}:{n}#{position}", t.width)
            event.havoc[f"<var {position}>"] = sym
            after.vars[self.var_key(v)] = sym
        after.mem = {}
        after.memver = z3.BitVecVal(index + 1, 32)
        after.versions = frozenset([index + 1])
        after.flags = z3.BitVec(f"{self.prefix}:flags@{index + 1}", 64)
        after.flag_events = frozenset([index])
        event.havoc[FLAGS_HAVOC] = after.flags
        return after

    def _iterate(self, s: ir.Loop, entry: State, number: int,
                 scalars: list[tuple[int, str, ct.CType]], peel: int = 0) -> Iteration:
        """Run the loop's test and body once from a symbolic head state."""
        saved = (self.events, self.exceeded, self.departures, self.mem_written,
                 self.flags_written, self.prefix, self._version_reads)
        self.prefix = f"{self.prefix}:loop{number}"  # the iteration's own symbols
        self.events, self.exceeded, self.departures = [], [], []
        self._version_reads = {}  # its versions number its own events
        self.mem_written, self.in_iteration = {}, True
        try:
            head = entry.copy(TRUE)
            symbols = []
            for v, n, t in scalars:
                sym = z3.BitVec(f"{self.prefix}:head:{n}", t.width)
                head.vars[self.var_key(v)] = sym
                symbols.append(sym)
            flags_head = z3.BitVec(f"loop{number}:head:flags", 64)
            head.flags = flags_head
            head.flag_events = frozenset()
            version = -(HEAD_VERSION_BASE + number)
            head.mem, head.versions = {}, frozenset([version])
            head.memver = z3.BitVecVal(version, 32)
            self.head_versions[version] = number
            exits: list[State] = []
            state = head
            # One summarised iteration runs the loop's test and body `unroll` times
            # (Options.unroll: a loop against one whose body does two passes).
            for _ in range(max(self.options.unroll, 1)):
                if state.dead:
                    break
                if s.cond is not None:
                    c, state = self.eval_cond(s.cond, state)
                    exits.append(state.copy(mk_and(state.guard, mk_not(c))))
                    state = state.copy(mk_and(state.guard, c))
                state = self.exec_stmt(s.body, state)
                continues = self.frame.sinks.pop(("continue", s.ident), [])
                state = self.join([state] + continues, state)
                if s.step is not None and not state.dead:
                    _, state = self.eval(s.step, state, discard=True)
            exits += self.frame.sinks.pop(("break", s.ident), [])
            out = self.join(exits, head)
            if not self.options.stable_flags:
                # A callee in the iteration sees the flag word the previous call left:
                # link every call's flag word across the sides.
                for event in self.events:
                    event.havoc.setdefault(FLAGS_HAVOC, z3.BitVec(
                        f"{self.prefix}:flags@{event.index + 1}", 64))
            escapes = any(d.target is not None and d.target not in self.labels_in(s)
                          and d.activation == self.frame.activation for d in self.departures)
            # A pointer variable the loop reassigns is not part of the summary's
            # interface: such a loop is not summarised.
            escapes = escapes or self._moves_pointers(s, head, (state, out))
            escapes = escapes or _moves_cells(head, (state, out))
            cut = z3.Or(*[lb.guard for lb in self.exceeded]) if self.exceeded else FALSE
            written = list(self.mem_written)
            self.iteration_wrote_flags = self.flags_written
            keys = [self.var_key(v) for v, _, _ in scalars]
            return Iteration(
                number, s.loc, tuple(n for _, n, _ in scalars), tuple(symbols),
                tuple(_value(state, k, sym) for k, sym in zip(keys, symbols)),
                tuple(_value(out, k, sym) for k, sym in zip(keys, symbols)),
                state.guard, out.guard if not out.dead else FALSE, tuple(self.events),
                state.flags, out.flags,
                {p: self._read_raw(state, p) for p in written},
                {p: self._read_raw(out, p) for p in written}, cut, escapes, flags_head, peel)
        finally:
            (self.events, self.exceeded, self.departures, self.mem_written,
             self.flags_written, self.prefix, self._version_reads) = saved
            self.in_iteration = False

    def _moves_pointers(self, s: ir.Loop, head: State, ends: tuple[State, ...]) -> bool:
        """Whether one iteration can leave a variable the summary does not carry changed:
        a pointer, a function pointer or a value of an undeclared type."""
        for v, _, t in interface(s):
            if t.kind == "int":
                continue
            key = self.var_key(v)
            before = head.vars.get(key)
            for end in ends:
                after = end.vars.get(key)
                if end.dead or (before is None and after is None):
                    continue
                if before is None or after is None or not after.eq(before) \
                        or end.ptrs.get(key) != head.ptrs.get(key):
                    return True
        return False

    def _note_loop_writes(self, iteration: Iteration, wrote_flags: bool) -> None:
        """What the loop may write, the side writes (compared at calls and at the end)."""
        for path in iteration.memory_next:
            self.mem_written[path] = None
        self.flags_written = self.flags_written or wrote_flags


def _moves_cells(head: State, ends: tuple[State, ...]) -> bool:
    """Whether one iteration can change a local kept as cells (the summary does not carry them)."""
    for end in ends:
        if end.dead:
            continue
        for key in set(head.vars) | set(end.vars):
            if not isinstance(key, str):
                continue
            before, after = head.vars.get(key), end.vars.get(key)
            if before is None or after is None or not after.eq(before):
                return True
    return False


def _value(state: State, key: object, default: z3.BitVecRef) -> z3.BitVecRef:
    term = state.vars.get(key)
    return default if term is None else term


__all__ = ["Iteration", "LoopBound", "LoopSummarizer", "Value", "interface"]
