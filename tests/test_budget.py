"""The watchdog (equiv/driver/budget.py): limits become BudgetExceeded, nothing else does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from equiv.driver import budget
from equiv.driver.budget import Budget, BudgetExceeded, Guard


def test_a_block_within_budget_leaves_the_thread_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """No asynchronous exception is set or cleared when no limit was reached: clearing
    one that is not pending leaves CPython's eval breaker set (a profiler then spins)."""
    calls: list[object] = []
    monkeypatch.setattr(budget, "_raise_in", lambda thread, exc: calls.append(exc))
    with Guard(Budget(max_time=60.0, max_memory=0), "checking f"):
        total = sum(range(1000))
    assert total == 499500
    assert calls == []


def test_a_block_past_its_time_raises_budget_exceeded() -> None:
    guard = Guard(Budget(max_time=0.01, max_memory=0), "checking f")
    with pytest.raises(BudgetExceeded) as hit, guard:
        while True:
            pass
    assert "time limit reached (--max-time 0.01 s) while checking f" in hit.value.reason


def test_a_memory_limit_already_passed_stops_even_a_block_shorter_than_a_poll() -> None:
    ran = []
    with pytest.raises(BudgetExceeded, match=r"memory limit reached \(--max-memory 1 MiB\) "
                                             r"while loading"):
        with Guard(Budget(60.0, max_memory=1), "loading"):
            ran.append(True)  # would finish long before the watchdog's first look
    assert ran == []
    with Guard(Budget(60.0, max_memory=1 << 20), "loading"):  # far above: no effect
        ran.append(True)
    assert ran == [True]


def test_a_limit_hit_outside_a_solver_check_leaves_later_checks_working() -> None:
    """The watchdog interrupts the running solver only: a context-wide z3 interrupt that
    lands while no check runs stays pending and cancels every later z3 call of the
    process (the batch mode and the test suite run many checks in one process)."""
    import z3

    from equiv.query.smt import Outcome, Session

    with pytest.raises(BudgetExceeded), Guard(Budget(max_time=0.01, max_memory=0), "checking f"):
        while True:  # Python work, no solver running
            pass
    x = z3.BitVec("x", 64)
    answer = Session([x > 1], timeout_s=5).check(x < 5)
    assert answer.outcome is Outcome.SAT



def _endless(*args: object, **kwargs: object) -> None:
    """A step that never ends: only the budget stops it."""
    while True:
        pass


def _difference_explained_forever(monkeypatch: pytest.MonkeyPatch, max_time: float,
                                  **constants: float) -> Any:
    """The result of a pair that differs (at flags=0x800) when its explanation never ends,
    with `constants` of equiv.driver.check set for the run."""
    from equiv.driver import check
    from equiv.driver.check import CheckOptions, run_check
    from equiv.report.results import Verdict

    monkeypatch.setattr(check.FunctionCheck, "_explained", _endless)
    for name, value in constants.items():
        monkeypatch.setattr(check, name, value)
    case = Path(__file__).parent / "fixtures" / "arch" / "arm64-layout-seccomp-dropped-differs"
    options = CheckOptions(arch="arm64", jobs=1, budget=Budget(max_time=max_time, max_memory=0))
    result = run_check([f"{case}.before.c"], [f"{case}.after.c"], options)
    (fn,) = result.functions
    assert fn.verdict is Verdict.NOT_EQUIVALENT, fn
    assert fn.counterexample is not None and fn.counterexample.flags == 0x800
    assert fn.reason is not None
    return fn


def test_a_proved_difference_survives_an_explanation_past_the_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The explanation (per-bit rows, differs iff) gets what is left of --max-time less a
    margin; when it runs out, the verdict and the counterexample stay, and the reason says
    what was cut.  Before, the whole function became UNKNOWN."""
    # A margin of 2 s: with none, the explanation's limit and --max-time fall on the same
    # instant, and the run's own watchdog could fire first (seen once in CI).
    # A floor above what is left, so that what is left is the limit.
    fn = _difference_explained_forever(monkeypatch, 10.0, _EXPLAIN_MARGIN=2.0,
                                       _EXPLAIN_FLOOR=30.0)
    assert fn.condition is None and not fn.bits
    assert "its explanation was cut off: time limit reached (--max-time 10 s" in fn.reason


def test_an_explanation_takes_no_longer_than_the_verdict_did(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Within a large --max-time, the explanation gets as long as finding the difference
    took (at least _EXPLAIN_FLOOR): then the verdict is reported with the explanation cut."""
    fn = _difference_explained_forever(monkeypatch, 300.0, _EXPLAIN_FLOOR=1.0)
    assert "it may take as long as finding the difference did, at least 1 s" in fn.reason


def test_an_interruption_landing_in_a_finalizer_is_not_printed() -> None:
    """The guard's exception can land in z3's `__del__`, where Python drops it (the guard
    sends it again) and would print `Exception ignored in ...`: equiv's hook keeps quiet
    about that one, and only that one."""
    import types

    from equiv.driver import budget

    seen = []
    hook = budget._UNRAISABLE_HOOK
    try:
        budget._UNRAISABLE_HOOK = seen.append
        for exc in (budget.BudgetExceeded("interrupted"), ValueError("a real bug")):
            budget._quiet_unraisable(types.SimpleNamespace(exc_value=exc, exc_type=type(exc),
                                                     exc_traceback=None, err_msg=None,
                                                     object=None))
    finally:
        budget._UNRAISABLE_HOOK = hook
    assert [type(u.exc_value) for u in seen] == [ValueError]
    # Installed when the module is loaded (pytest may wrap it while a test runs).
    assert budget._UNRAISABLE_HOOK is not budget._quiet_unraisable


def test_the_watchdog_stops_a_wait_for_a_sandboxed_command() -> None:
    """A command that outlives --max-time is cut when the time runs out, not at its own
    (longer) timeout: the wait for it blocks in C only in short slices."""
    import time

    from equiv.frontend import sandbox

    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="time limit reached"):
        with Guard(Budget(0.5, max_memory=0), "loading"):
            sandbox.run(["sleep", "30"], limits=sandbox.Limits(), timeout=60)
    assert time.monotonic() - started < 10


def test_an_explanation_cut_off_keeps_the_parts_it_finished(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut while `differs iff` is computed, the result keeps the per-bit rows and the
    counterexample's inputs that matter, and the reason says where the cut came."""
    from equiv.driver import check
    from equiv.driver.check import CheckOptions, run_check
    from equiv.explain import perbit
    from equiv.report.results import Verdict

    monkeypatch.setattr(perbit, "difference_condition", _endless)
    monkeypatch.setattr(check, "_EXPLAIN_FLOOR", 3.0)
    case = Path(__file__).parent / "fixtures" / "arch" / "arm64-layout-seccomp-dropped-differs"
    options = CheckOptions(arch="arm64", jobs=1, budget=Budget(max_time=300, max_memory=0))
    (fn,) = run_check([f"{case}.before.c"], [f"{case}.after.c"], options).functions
    assert fn.verdict is Verdict.NOT_EQUIVALENT and fn.condition is None
    assert fn.bits and any(row.name == "_TIF_SECCOMP" for row in fn.bits), fn.bits
    assert "its explanation was cut off after the per-bit rows: it may take" in fn.reason


def test_a_cut_during_the_per_bit_rows_keeps_the_bits_the_counterexample_decided(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut after the per-bit rows' tries at the counterexample, the result keeps the bits
    they showed to matter (with their inputs); every other bit is not decided, as not
    reached, and the report lists those on one line."""
    from equiv.driver import check
    from equiv.driver.check import CheckOptions, run_check
    from equiv.explain import perbit
    from equiv.report.render import bit_lines
    from equiv.report.results import UNREACHED, Relevance, Verdict

    monkeypatch.setattr(perbit, "_batched", _endless)
    monkeypatch.setattr(check, "_EXPLAIN_FLOOR", 3.0)
    seeds = Path(__file__).parent / "fixtures" / "seeds" / "v16-11-18-rseq-exit-work"
    options = CheckOptions(jobs=1, budget=Budget(max_time=300, max_memory=0))
    (fn,) = run_check([f"{seeds}.before.c"], [f"{seeds}.after.c"], options).functions
    assert fn.verdict is Verdict.NOT_EQUIVALENT and fn.condition is None
    matters = {row.name for row in fn.bits if row.relevance is Relevance.MATTERS}
    unreached = {row.name for row in fn.bits if row.why == UNREACHED}
    assert matters and unreached and matters | unreached == {row.name for row in fn.bits}
    assert all(row.relevance is Relevance.UNDECIDED for row in fn.bits if row.why == UNREACHED)
    # The emulation bit does not matter (test_report), so only the cut can leave it open.
    assert "_TIF_SYSCALL_EMU" in unreached, fn.bits
    assert "cut off during the per-bit rows (those not decided were not reached)" in fn.reason
    lines = bit_lines(fn.bits, "flags")
    assert sum(line.startswith("    not reached") for line in lines) == 1, lines
    assert sum(": matters: differs at flags=" in line for line in lines) == len(matters), lines


def test_a_check_leaves_the_collector_as_it_found_it() -> None:
    """The sides are frozen out of the collector's generations while a check runs
    (equiv.driver.check._freeze_loaded); afterwards nothing of equiv's stays frozen, and
    what the process froze itself stays frozen."""
    import gc

    from equiv.driver.check import CheckOptions, run_check

    case = Path(__file__).parent / "fixtures" / "arch" / "arm64-layout-seccomp-dropped-differs"
    pair = ([f"{case}.before.c"], [f"{case}.after.c"])
    options = CheckOptions(arch="arm64", jobs=1, explain=False)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    run_check(*pair, options)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()
    try:
        mine = gc.get_freeze_count()
        run_check(*pair, options)
        assert gc.get_freeze_count() == mine
    finally:
        gc.unfreeze()
