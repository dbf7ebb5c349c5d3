"""The only place equiv asks a solver anything.

A solver answer is never a bool: `Outcome` keeps "could not decide" apart
from both real answers, with the solver's reason.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import z3

from equiv.collector import paused


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
# The second solver of a race starts from at most this many of the last model's values.
HINTS = 2000
# No race once the process holds this much (MiB): the formula is big, and a second
# solver would hold a second copy of it.
RACE_MAX_MIB = 768


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
        self._timeout_ms = self.quick_ms  # what the session's solver is set to
        self.solver.set("timeout", self.quick_ms)
        self.solver.add(*self.background)
        self.hint: z3.ModelRef | None = None  # the last model found (see _race)
        self._copy: z3.Context | None = None  # the second solver's context (_race)
        # Terms translated into it, by AST id: (the term, its copy).
        self._copies: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}
        self._hinted: tuple[z3.ModelRef, list[tuple[z3.ExprRef, z3.ExprRef]]] | None = None
        # check_core's `extra`, by AST id, while it stays asserted in a scope of its own
        # (see check_core); the asserted terms keep their ids from being reused.
        self._standing: tuple[int, ...] | None = None

    def _settle(self) -> None:
        """Closes check_core's standing scope: the solver holds the background only."""
        if self._standing is not None:
            self.solver.pop()
            self._standing = None

    def check(self, *extra: z3.BoolRef, want_model: bool = True,
              limit_s: float | None = None,
              candidates: Sequence[z3.ModelRef] = ()) -> Answer:
        """Is background ∧ extra satisfiable?  (The model is fetched only if wanted.)

        `limit_s` caps this question's time below the session's timeout.
        `candidates`: models to try first, in order; the first under which
        background ∧ extra evaluates to true is the answer (SAT, that model),
        and the solver is not asked.  A candidate that fails proves nothing.
        """
        for model in candidates:
            if satisfies(model, (*self.background, *extra)):
                return Answer(Outcome.SAT, model)
        timeout_ms = self.timeout_ms if limit_s is None else max(
            1, min(self.timeout_ms, int(limit_s * 1000)))
        quick_ms = min(self.quick_ms, timeout_ms)
        answer = self._incremental(extra, want_model, quick_ms)
        if answer.outcome is Outcome.UNKNOWN and quick_ms < timeout_ms:
            answer = self._escalated(extra, want_model, timeout_ms - quick_ms)
        if answer.model is not None:
            self.hint = answer.model
        return answer

    def _set_timeout(self, timeout_ms: int) -> None:
        """The session's solver's timeout (z3's parameter object is built only on a change)."""
        if timeout_ms != self._timeout_ms:
            self.solver.set("timeout", timeout_ms)
            self._timeout_ms = timeout_ms

    def _escalated(self, extra: tuple[z3.BoolRef, ...], want_model: bool,
                   timeout_ms: int) -> Answer:
        """A question the quick attempt did not settle, with the rest of its time."""
        from equiv.driver.budget import resident_mib  # budget imports this module

        if resident_mib() > RACE_MAX_MIB:
            # A formula this big: the session's solver, which holds the background
            # already, gets the rest of the time; a fresh solver (let alone two)
            # would build its own copy of the formula.
            return self._incremental(extra, want_model, timeout_ms)
        return self._race(extra, want_model, timeout_ms)

    def _incremental(self, extra: tuple[z3.BoolRef, ...], want_model: bool,
                     timeout_ms: int) -> Answer:
        """The question asked of the session's own solver."""
        self._settle()
        self._set_timeout(timeout_ms)
        self.solver.push()
        try:
            assert_terms(self.solver, extra)
            return _ask(self.solver, want_model)
        finally:
            self.solver.pop()

    def check_core(self, extra: Sequence[z3.BoolRef], assumed: Sequence[z3.BoolRef]
                   ) -> tuple[Answer, set[int]]:
        """Is background ∧ extra ∧ assumed satisfiable (no model fetched)?  When it is
        not: the positions in `assumed` of a subset that is unsatisfiable with the rest
        (z3's unsat core; all of them when the question went past the quick solver).

        The explanation asks many such questions in a row with the same `extra` (the
        sides agree) and different literals: `extra` stays asserted in a scope of its
        own until a question with another `extra`, or another kind of question, comes.
        Asserting a long function's difference formula again for each question was
        most of big-small-20000's difference condition.
        """
        quick_ms = min(self.quick_ms, self.timeout_ms)
        self._set_timeout(quick_ms)
        ids = tuple(z3.Z3_get_ast_id(self.solver.ctx.ref(), t.as_ast()) for t in extra)
        if ids != self._standing:
            self._settle()
            self.solver.push()
            self._standing = ids
            try:
                assert_terms(self.solver, extra)
            except BaseException:  # never leave part of `extra` standing
                self._settle()
                raise
        _RUNNING.append(self.solver)
        try:
            result = check_assuming(self.solver, assumed)
        finally:
            _RUNNING.remove(self.solver)
        if result == z3.unsat:
            return Answer(Outcome.UNSAT), unsat_core_positions(self.solver, assumed)
        if result == z3.sat:
            return Answer(Outcome.SAT), set()
        answer = (self._escalated((*extra, *assumed), False, self.timeout_ms - quick_ms)
                  if quick_ms < self.timeout_ms else Answer(Outcome.UNKNOWN, reason="timeout"))
        return answer, set(range(len(assumed))) if answer.outcome is Outcome.UNSAT else set()

    def _race(self, extra: tuple[z3.BoolRef, ...], want_model: bool, timeout_ms: int) -> Answer:
        """A question the incremental solver did not settle, asked of two fresh solvers
        at once in two threads; the first answer is taken and the other solver stopped.

        z3's time on these questions is heavy-tailed, and which solver is fast
        differs from question to question: on one question of the struct-10 bench
        pair the default solver (which simplifies and bit-blasts the whole formula
        first) took 1.9 to 44 s by random seed where z3's SMT core, started from
        the last model's values (`set_initial_value`), took 0.4 to 1.2 s; on the
        struct-field repro's unsatisfiable questions the default solver was three
        times faster.  So one of each runs: the default solver here, the SMT core
        in a z3 context of its own (a context is not shared between threads), on
        copies of the terms (_translated), started from the last model's values
        once one is known (_hints).  Either answer is z3's own.
        """
        main = z3.Solver()
        main.set("timeout", timeout_ms)
        main.add(*self.background)
        main.add(*extra)
        if self._copy is None:
            self._copy = z3.Context()
        context = self._copy
        other = z3.SimpleSolver(ctx=context)
        other.set("timeout", timeout_ms)
        other.add(*self._translated(self.background + list(extra)))
        for var, value in self._hints():
            other.set_initial_value(var, value)
        answers: dict[str, Answer] = {}
        rivals = {"main": ("other", other), "other": ("main", main)}
        stop = threading.Event()  # set when this call ends, however it ends

        def run(name: str, solver: z3.Solver) -> None:
            try:
                answer = _ask(solver, want_model)
            except z3.Z3Exception as exc:
                answer = Answer(Outcome.UNKNOWN, reason=str(exc))
            answers[name] = answer
            rival, rival_solver = rivals[name]
            while answer.outcome is not Outcome.UNKNOWN and rival not in answers \
                    and not stop.is_set():
                # Stop the rival; an interrupt sent before its check began is lost.
                z3.Z3_solver_interrupt(rival_solver.ctx.ref(), rival_solver.solver)
                stop.wait(0.005)

        thread = threading.Thread(target=run, args=("other", other), daemon=True)
        # Two threads use z3 now, each in its own context; Python's cycle collector,
        # which runs in whichever thread allocates, could free one context's terms
        # from the thread using the other, while z3 is inside that context.
        with paused():
            thread.start()
            try:
                run("main", main)
            finally:  # also when the budget's interruption lands here
                stop.set()
                while thread.is_alive():
                    z3.Z3_solver_interrupt(context.ref(), other.solver)
                    thread.join(0.01)
        won = next((answers[n] for n in ("main", "other")
                    if n in answers and answers[n].outcome is not Outcome.UNKNOWN), None)
        if won is None:
            return answers["main"]
        if won.model is not None and won is answers.get("other"):
            return Answer(won.outcome, won.model.translate(z3.main_ctx()))
        return won

    def _translated(self, terms: Sequence[z3.ExprRef]) -> list[z3.ExprRef]:
        """`terms` in the second solver's context.

        The ones not yet copied are translated in one call, so that the
        subterms they share are translated once (a call per term walked the
        shared part again: 20,000 terms took 170 s).  A copy is kept with its
        original, which keeps the original alive and so its AST id unique.
        """
        assert self._copy is not None
        todo = [t for t in terms if t.get_id() not in self._copies]
        if todo:
            vector = z3.AstVector()
            for term in todo:
                vector.push(term)
            for term, copy in zip(todo, vector.translate(self._copy)):
                self._copies[term.get_id()] = (term, copy)
        return [self._copies[t.get_id()][1] for t in terms]

    def _hints(self) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        """The last model's values, in the second solver's context: the inputs first
        (names without `@` or `#`: the flag word, memory, parameters), at most HINTS."""
        if self.hint is None:
            return []
        if self._hinted is not None and self._hinted[0] is self.hint:
            return self._hinted[1]
        assert self._copy is not None
        decls = [d for d in self.hint.decls() if d.arity() == 0]
        decls.sort(key=lambda d: ("@" in d.name() or "#" in d.name(), d.name()))
        pairs = []
        for decl in decls[:HINTS]:
            value = self.hint[decl]
            if z3.is_bv_value(value) or z3.is_true(value) or z3.is_false(value):
                pairs.append((decl().translate(self._copy), value.translate(self._copy)))
        self._hinted = (self.hint, pairs)
        return pairs

    def add(self, *constraints: z3.BoolRef) -> None:
        self._settle()
        self.background.extend(constraints)
        self.solver.add(*constraints)


# The three below call z3's C API directly: z3's Python `Solver.check(*assumptions)` and
# `Solver.add` check each term's sort through Python objects, and the explanation asks
# thousands of questions with dozens of literals each (a quarter of a fixture check's
# time went to those checks).  The terms are Booleans equiv built; z3 itself refuses
# any other (a Z3Exception, as before).

def assert_terms(solver: z3.Solver, terms: Sequence[z3.BoolRef]) -> None:
    ref = solver.ctx.ref()
    for term in terms:
        z3.Z3_solver_assert(ref, solver.solver, term.as_ast())


def check_assuming(solver: z3.Solver, assumed: Sequence[z3.BoolRef]) -> z3.CheckSatResult:
    """`solver.check(*assumed)`."""
    array = (z3.Ast * len(assumed))(*[a.as_ast() for a in assumed])
    return z3.CheckSatResult(
        z3.Z3_solver_check_assumptions(solver.ctx.ref(), solver.solver, len(assumed), array))


def unsat_core_positions(solver: z3.Solver, assumed: Sequence[z3.BoolRef]) -> set[int]:
    """The positions in `assumed` of the last check's unsat core."""
    ref = solver.ctx.ref()
    where = {z3.Z3_get_ast_id(ref, a.as_ast()): i for i, a in enumerate(assumed)}
    core = z3.Z3_solver_get_unsat_core(ref, solver.solver)
    z3.Z3_ast_vector_inc_ref(ref, core)
    try:
        return {where[z3.Z3_get_ast_id(ref, z3.Z3_ast_vector_get(ref, core, k))]
                for k in range(z3.Z3_ast_vector_size(ref, core))}
    finally:
        z3.Z3_ast_vector_dec_ref(ref, core)


def satisfies(model: z3.ModelRef, terms: Sequence[z3.BoolRef]) -> bool:
    """Do `terms` all evaluate to true under `model`, its unassigned symbols completed
    as z3 completes them (the completion is then part of the model)?

    A true answer is a proof that the terms are satisfiable, with `model` the
    witness; evaluation asks no solver and needs no time limit.
    """
    if not terms:
        return True
    whole = terms[0] if len(terms) == 1 else z3.And(*terms)  # one walk over shared terms
    return z3.is_true(model.eval(whole, model_completion=True))


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
