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
    def check(self: smt.Session, *extra: object, want_model: bool = True) -> smt.Answer:
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
