"""The watchdog (equiv/driver/budget.py): limits become BudgetExceeded, nothing else does."""

from __future__ import annotations

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
