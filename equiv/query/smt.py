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


class Session:
    """An incremental solver over a fixed background formula."""

    def __init__(self, background: list[z3.BoolRef], timeout_s: float):
        self.solver = z3.Solver()
        self.solver.set("timeout", max(1, int(timeout_s * 1000)))
        self.solver.add(*background)

    def check(self, *extra: z3.BoolRef, want_model: bool = True) -> Answer:
        """Is background ∧ extra satisfiable?  (The model is fetched only if wanted.)"""
        self.solver.push()
        try:
            self.solver.add(*extra)
            _RUNNING.append(self.solver)
            try:
                result = self.solver.check()
            finally:
                _RUNNING.remove(self.solver)
            if result == z3.sat:
                return Answer(Outcome.SAT, self.solver.model() if want_model else None)
            if result == z3.unsat:
                return Answer(Outcome.UNSAT)
            return Answer(Outcome.UNKNOWN, reason=self.solver.reason_unknown())
        finally:
            self.solver.pop()

    def add(self, *constraints: z3.BoolRef) -> None:
        self.solver.add(*constraints)
