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


def test_questions_sharing_their_first_terms_are_answered_as_alone() -> None:
    """Runs of questions that begin with the same terms (kept standing between them),
    mixed at random with others, each answered as a fresh solver answers it alone."""
    from equiv.query.smt import Outcome, Session

    rng = random.Random(11)
    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    pool = [z3.ULT(x, rng.randrange(1, 256)) for _ in range(4)] + \
        [(x ^ y) & rng.randrange(256) == rng.randrange(256) for _ in range(4)] + \
        [z3.Extract(b, b, y) == rng.randrange(2) for b in range(8)]
    session = Session([z3.UGT(x + y, 3)], timeout_s=5)
    prefix: list[z3.BoolRef] = []
    seen = set()
    for _ in range(300):
        if rng.random() < 0.2:
            prefix = rng.sample(pool, rng.randrange(0, 4))
        question = prefix + rng.sample(pool, rng.randrange(0, 3))
        alone = z3.Solver()
        alone.add(z3.UGT(x + y, 3), *question)
        expected = alone.check()
        if rng.random() < 0.5:
            got = session.check(*question).outcome
        else:
            got = session.check_core(question[:-1], question[-1:])[0].outcome if question \
                else session.check().outcome
        assert got is (Outcome.SAT if expected == z3.sat else Outcome.UNSAT), question
        seen.add(got)
    assert seen == {Outcome.SAT, Outcome.UNSAT}
