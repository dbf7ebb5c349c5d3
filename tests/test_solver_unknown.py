"""A solver that gives up makes the verdict UNKNOWN (exit 3), never EQUIVALENT.

No formula is reliably too hard for z3 at every timeout on every machine, so
this test makes the solver give up and checks what equiv does with it.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from equiv.driver import cli
from equiv.query import smt

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "fixtures" / "seeds" / "v15-08-11-exit-mask-spelled-out"


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def giving_up(monkeypatch: pytest.MonkeyPatch) -> None:
    def check(self: smt.Session, *extra: object, want_model: bool = True,
              limit_s: float | None = None, candidates: object = ()) -> smt.Answer:
        # Not even a model tried first answers (such a model could only show a SAT
        # question satisfiable, never make a verdict EQUIVALENT).
        return smt.Answer(smt.Outcome.UNKNOWN, reason="timeout")

    monkeypatch.setattr(smt.Session, "check", check)


def test_equivalent_pair_is_unknown_when_the_solver_gives_up(giving_up: None) -> None:
    pair = [f"{SEED}.before.c", f"{SEED}.after.c"]
    code, text = _run(["check", "-j", "1", *pair])
    assert code == 3, text
    assert "UNKNOWN" in text and "solver gave up (timeout)" in text
    assert ": EQUIVALENT" not in text


def test_the_same_pair_is_equivalent_with_a_working_solver() -> None:
    pair = [f"{SEED}.before.c", f"{SEED}.after.c"]
    code, text = _run(["check", "-j", "1", *pair])
    assert code == 0, text
    assert ": EQUIVALENT" in text


# ---- the race of two fresh solvers (smt.Session._race) ---------------------------------

def _raced_session(monkeypatch: pytest.MonkeyPatch, background: list) -> smt.Session:
    """A session whose every question goes straight to the race (as a question the
    incremental solver did not settle in its QUICK_S does)."""
    session = smt.Session(background, 10.0)

    def raced(*extra: object, want_model: bool = True,
              limit_s: float | None = None) -> smt.Answer:
        answer = session._race(tuple(extra), want_model, 10_000)
        if answer.model is not None:
            session.hint = answer.model
        return answer

    monkeypatch.setattr(session, "check", raced)
    return session


def test_the_race_answers_as_one_solver_would(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import z3

    x, y = z3.BitVecs("race_x race_y", 64)
    session = _raced_session(monkeypatch, [x * y == 0x1234567, x > 1, y > 1])
    threads = threading.active_count()
    first = session.check()
    assert first.outcome is smt.Outcome.SAT and first.model is not None
    # The model is in the caller's context whichever solver won, and it is a model.
    assert z3.is_true(first.model.eval(z3.And(x * y == 0x1234567, x > 1, y > 1)))
    # With a model known, the second solver starts from it; answers stay exact.
    again = session.check(x != first.model.eval(x))
    assert again.outcome is smt.Outcome.SAT and again.model is not None
    assert again.model.eval(x).as_long() != first.model.eval(x).as_long()
    assert session.check(x == 0).outcome is smt.Outcome.UNSAT
    assert threading.active_count() == threads  # the loser is stopped and joined


def test_a_counterexample_not_minimised_in_time_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no time left for the explanation, the minimisation's questions are not
    asked: the verdict's own model is the counterexample, printed as not proved minimal."""
    from equiv.driver import check
    from equiv.driver.budget import Budget
    from equiv.driver.check import CheckOptions, run_check
    from equiv.report import render
    from equiv.report.results import Verdict

    monkeypatch.setattr(check, "_EXPLAIN_MARGIN", 1000.0)  # nothing left after the verdict
    case = ROOT / "tests" / "fixtures" / "arch" / "arm64-layout-seccomp-dropped-differs"
    options = CheckOptions(arch="arm64", jobs=1, budget=Budget(max_time=300.0, max_memory=0))
    result = run_check([f"{case}.before.c"], [f"{case}.after.c"], options)
    (fn,) = result.functions
    assert fn.verdict is Verdict.NOT_EQUIVALENT and fn.counterexample is not None
    assert "ran out" in fn.counterexample.not_minimal
    assert "not proved minimal: time for the explanation ran out" in render.render_text(result)
    assert '"minimal": false' in render.render_json(result)
    monkeypatch.undo()
    full = run_check([f"{case}.before.c"], [f"{case}.after.c"],
                     CheckOptions(arch="arm64", jobs=1))
    assert full.functions[0].counterexample is not None
    assert full.functions[0].counterexample.not_minimal == ""
    assert "not proved minimal" not in render.render_text(full)


def test_too_many_calls_to_ask_them_quiet_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past QUIET_MAX calls that may change the flag word, the minimisation does not ask
    that none does (z3 could not be stopped on 20,000 of them): the counterexample is
    still proved and replayed, and says why it may not be minimal."""
    from equiv.driver.check import CheckOptions, run_check
    from equiv.explain import counterexample
    from equiv.report import render
    from equiv.report.results import Verdict

    case = ROOT / "tests" / "fixtures" / "arch" / "arm64-layout-seccomp-dropped-differs"
    options = CheckOptions(arch="arm64", jobs=1)
    full = run_check([f"{case}.before.c"], [f"{case}.after.c"], options)
    assert full.functions[0].counterexample is not None
    assert full.functions[0].counterexample.not_minimal == ""
    monkeypatch.setattr(counterexample, "QUIET_MAX", 0)
    result = run_check([f"{case}.before.c"], [f"{case}.after.c"], options)
    (fn,) = result.functions
    assert fn.verdict is Verdict.NOT_EQUIVALENT and fn.counterexample is not None
    assert "calls may change the flag word, too many to ask that none does (at most 0)" \
        in fn.counterexample.not_minimal
    assert "not proved minimal: " in render.render_text(result)


def test_a_race_stops_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """--max-time interrupts both solvers of a race: the check ends with BudgetExceeded
    soon after the limit, and no solver thread is left running."""
    import threading
    import time

    import z3

    from equiv.driver.budget import Budget, BudgetExceeded, Guard

    # Thirteen pigeons in twelve holes, pairwise: unsatisfiable, and hard for z3's SAT search.
    pigeons = [z3.BitVec(f"pigeon{i}", 8) for i in range(13)]
    holes = [z3.ULT(p, 12) for p in pigeons]
    apart = [pigeons[i] != pigeons[j] for i in range(13) for j in range(i)]
    session = _raced_session(monkeypatch, holes + apart)
    threads = threading.active_count()
    start = time.monotonic()
    with pytest.raises(BudgetExceeded, match="max-time 1 s"):
        with Guard(Budget(max_time=1.0, max_memory=0), "racing"):
            session.check()
    assert time.monotonic() - start < 10
    assert threading.active_count() == threads


def test_a_race_interrupted_after_the_other_solver_answered_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget's interruption can land in this thread after the other solver has
    answered and before this one's answer is recorded: the race must still end, with
    the interruption, and leave no thread (it once waited for that answer for ever)."""
    import threading
    import time

    import z3

    class Interrupted(Exception):
        pass

    real_ask = smt._ask

    def ask(solver: z3.Solver, want_model: bool) -> smt.Answer:
        if solver.ctx == z3.main_ctx():  # this thread's solver: the other answers first
            time.sleep(0.3)
            raise Interrupted
        return real_ask(solver, want_model)

    x = z3.BitVec("late_x", 8)
    session = _raced_session(monkeypatch, [x > 3])
    monkeypatch.setattr(smt, "_ask", ask)
    threads = threading.active_count()
    outcome: list[object] = []

    def race() -> None:
        try:
            session.check(x < 9)
        except Interrupted:
            outcome.append("interrupted")

    runner = threading.Thread(target=race, daemon=True)
    runner.start()
    runner.join(10)
    assert not runner.is_alive() and outcome == ["interrupted"]
    assert threading.active_count() == threads
