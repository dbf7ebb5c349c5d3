"""The only place equiv asks a solver anything.

A solver answer is never a bool: `Outcome` keeps "could not decide" apart
from both real answers, with the solver's reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import z3


class Outcome(enum.Enum):
    SAT = "sat"  # a model exists
    UNSAT = "unsat"  # proved: no model exists
    UNKNOWN = "unknown"  # the solver gave up (timeout, resource limit)


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    model: z3.ModelRef | None = None
    reason: str = ""


# The solvers inside a check() right now: what the budget's watchdog interrupts.
_RUNNING: list[z3.Solver] = []


def interrupt_running() -> None:
    """Interrupt the solver checks in progress, if any.

    Each solver is interrupted on its own: a context-wide interrupt that lands
    while no check runs stays pending in the context and cancels every later
    z3 call of the process (fatal where checks share a process: the batch
    mode, the test suite).  A solver interrupted between checks is unaffected.
    """
    for solver in list(_RUNNING):
        z3.Z3_solver_interrupt(solver.ctx.ref(), solver.solver)


# How long a question may take in the session's incremental solver before
# it is asked again of a fresh solver (see Session).
QUICK_S = 0.25


class Session:
    """A solver over a fixed background formula, asked several questions.

    Each question goes first to one incremental solver that keeps the
    background (cheap for the many small questions of a minimisation), for
    at most QUICK_S seconds.  A question it cannot settle that fast goes to
    a solver of its own holding the background and the question: z3's
    default solver simplifies and bit-blasts the whole formula before its SAT
    search only while it has seen no push, and on the doubled formulas of the
    explanation (a model against a flipped copy of itself) that was 3 to 5
    times faster than the incremental core on struct-heavy pairs.  Both
    answers are the solver's own; only the route differs.
    """

    def __init__(self, background: list[z3.BoolRef], timeout_s: float):
        self.background = list(background)
        self.timeout_ms = max(1, int(timeout_s * 1000))
        self.quick_ms = min(self.timeout_ms, int(QUICK_S * 1000))
        self.solver = z3.Solver()
        self.solver.set("timeout", self.quick_ms)
        self.solver.add(*self.background)

    def check(self, *extra: z3.BoolRef, want_model: bool = True) -> Answer:
        """Is background ∧ extra satisfiable?  (The model is fetched only if wanted.)"""
        self.solver.push()
        try:
            self.solver.add(*extra)
            answer = _ask(self.solver, want_model)
        finally:
            self.solver.pop()
        if answer.outcome is not Outcome.UNKNOWN or self.quick_ms >= self.timeout_ms:
            return answer
        fresh = z3.Solver()
        fresh.set("timeout", self.timeout_ms - self.quick_ms)
        fresh.add(*self.background)
        fresh.add(*extra)
        return _ask(fresh, want_model)

    def add(self, *constraints: z3.BoolRef) -> None:
        self.background.extend(constraints)
        self.solver.add(*constraints)


def _ask(solver: z3.Solver, want_model: bool) -> Answer:
    _RUNNING.append(solver)
    try:
        result = solver.check()
    finally:
        _RUNNING.remove(solver)
    if result == z3.sat:
        return Answer(Outcome.SAT, solver.model() if want_model else None)
    if result == z3.unsat:
        return Answer(Outcome.UNSAT)
    return Answer(Outcome.UNKNOWN, reason=solver.reason_unknown())
