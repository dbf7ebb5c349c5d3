"""equiv.query.smt's direct routes to z3's C API answer as z3's Python API does."""

from __future__ import annotations

import random

import pytest
import z3

from equiv.query.smt import assert_terms, check_assuming, unsat_core_positions


def _random_question(rng: random.Random) -> tuple[list[z3.BoolRef], list[z3.BoolRef]]:
    """Constraints over a byte, and literals that pin some of its bits."""
    x = z3.BitVec("x", 8)
    facts = [z3.ULT(x, rng.randrange(1, 256)), (x & rng.randrange(256)) != rng.randrange(256)]
    bits = rng.sample(range(8), rng.randrange(1, 8))
    literals = [z3.Extract(b, b, x) == rng.randrange(2) for b in bits]
    return facts, literals


def test_check_and_core_agree_with_z3s_python_api() -> None:
    rng = random.Random(7)
    answers = set()
    for _ in range(200):
        facts, literals = _random_question(rng)
        ours, theirs = z3.Solver(), z3.Solver()
        assert_terms(ours, facts)
        theirs.add(*facts)
        result = check_assuming(ours, literals)
        assert result == theirs.check(*literals)
        answers.add(str(result))
        if result == z3.unsat:
            core = unsat_core_positions(ours, literals)
            assert core and core <= set(range(len(literals)))
            # The core is unsatisfiable with the facts on its own.
            assert theirs.check(*[literals[i] for i in core]) == z3.unsat
    assert answers == {"sat", "unsat"}  # both kinds were exercised


def test_a_term_that_is_not_boolean_is_refused() -> None:
    solver = z3.Solver()
    with pytest.raises(z3.Z3Exception):
        assert_terms(solver, [z3.BitVec("x", 8)])  # type: ignore[list-item]
    with pytest.raises(z3.Z3Exception):
        check_assuming(solver, [z3.BitVec("y", 8)])  # type: ignore[list-item]


def test_a_standing_scope_never_leaks_into_other_questions() -> None:
    """check_core keeps its `extra` asserted between questions that share it; any other
    question (check, check_core with another extra, add) sees the background only."""
    from equiv.query.smt import Outcome, Session

    x = z3.BitVec("x", 8)
    session = Session([z3.ULT(x, 10)], timeout_s=5)
    low = [x == 3]
    assert session.check_core([z3.ULT(x, 5)], low)[0].outcome is Outcome.SAT
    answer, core = session.check_core([z3.ULT(x, 5)], [x == 7])  # same extra, kept
    assert answer.outcome is Outcome.UNSAT and core == {0}
    assert session.check(x == 7).outcome is Outcome.SAT  # the scope is gone
    assert session.check_core([z3.UGT(x, 5)], [x == 7])[0].outcome is Outcome.SAT
    assert session.check_core([z3.UGT(x, 5)], low)[0].outcome is Outcome.UNSAT
    session.add(x != 8)
    assert session.check(x == 9).outcome is Outcome.SAT
    assert session.check(x == 8).outcome is Outcome.UNSAT
    with pytest.raises(z3.Z3Exception):  # a refused term leaves nothing standing
        session.check_core([z3.UGT(x, 5), z3.BitVec("y", 8)], low)  # type: ignore[list-item]
    assert session.check(x == 3).outcome is Outcome.SAT
