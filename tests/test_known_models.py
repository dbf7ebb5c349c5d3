"""Models tried before the solver: a shortcut that never changes an answer.

The explanation asks many questions whose answer is often a model it has
seen already (the counterexample, a witness, a bit cleared from the last
model).  `Session.check(..., candidates=...)` evaluates those first; only a
model under which every term is true is taken, so a SAT answer is always
z3's model of the question and an UNSAT answer always the solver's proof.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import z3

from equiv.driver.check import CheckOptions, run_check
from equiv.explain import counterexample, perbit
from equiv.query import smt
from equiv.query.smt import Outcome, Session, satisfies
from equiv.report.results import Verdict

FIXTURES = Path(__file__).parent / "fixtures"


def _model(assignment: dict[z3.BitVecRef, int]) -> z3.ModelRef:
    """A model giving each symbol its value (through a solver: z3 has no empty model)."""
    solver = z3.Solver()
    solver.add(*[sym == value for sym, value in assignment.items()])
    assert solver.check() == z3.sat
    return solver.model()


def test_a_satisfying_candidate_is_the_answer_and_no_solver_is_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = z3.BitVecs("x y", 8)
    session = Session([z3.ULT(x, 100)], timeout_s=5)
    good, bad = _model({x: 7, y: 3}), _model({x: 200, y: 3})

    def no_solver(*args: object, **kwargs: object) -> None:
        raise AssertionError("the solver was asked")

    monkeypatch.setattr(Session, "_incremental", no_solver)
    answer = session.check(x + y == 10, candidates=[bad, good])
    assert answer.outcome is Outcome.SAT and answer.model is good
    # The background counts too: `bad` satisfies the question but not x < 100.
    with pytest.raises(AssertionError, match="the solver was asked"):
        session.check(x == 200, candidates=[bad])


def test_candidates_never_change_an_answer() -> None:
    """200 random questions over two bytes, each asked with random candidates and without:
    the same outcome, and a SAT answer's model satisfies the question."""
    rng = random.Random(11)
    x, y = z3.BitVecs("x y", 8)
    outcomes = set()
    taken = 0
    base = _model({x: 0, y: 0})
    for _ in range(200):
        background = [z3.ULT(x, rng.randrange(1, 256))]
        mask = rng.randrange(256)
        question = [(x ^ y) & mask == rng.randrange(256) & mask, z3.UGT(y, rng.randrange(256))]
        candidates = []
        for _ in range(rng.randrange(40)):
            candidate = base.translate(base.ctx)
            candidate.update_value(x, z3.BitVecVal(rng.randrange(256), 8))
            candidate.update_value(y, z3.BitVecVal(rng.randrange(256), 8))
            candidates.append(candidate)
        alone = Session(background, timeout_s=5).check(*question)
        tried = Session(background, timeout_s=5).check(*question, candidates=candidates)
        assert tried.outcome is alone.outcome
        outcomes.add(alone.outcome)
        if tried.outcome is Outcome.SAT:
            assert tried.model is not None and satisfies(tried.model, background + question)
            taken += any(tried.model is c for c in candidates)
    assert outcomes == {Outcome.SAT, Outcome.UNSAT} and taken  # both routes were exercised


def test_satisfies_completes_symbols_the_model_leaves_out() -> None:
    x, z = z3.BitVec("x", 8), z3.BitVec("z", 8)
    model = _model({x: 5})
    assert satisfies(model, [x == 5, z == model.eval(z, model_completion=True)])
    assert not satisfies(model, [x == 5, z != model.eval(z, model_completion=True)])
    assert satisfies(model, [])


CASES = [
    ("seeds/v16-11-18-rseq-exit-work", ()),
    ("loops/notify-resume-vs-generic-differs", ("--unwind", "2")),
    ("loops/reordered-work-differs", ("--unwind", "2")),
    ("config/ifdef-debug-rseq-differs", ()),
    ("integers/short-circuit-or-differs", ()),
    ("callee-context/flag-write-order-differs", ()),
    ("arch/arm64-layout-seccomp-dropped-differs", ("--arch", "arm64")),
]


def _explained(case: str, args: tuple[str, ...]) -> object:
    options = CheckOptions(jobs=1, unwind=int(args[1]) if args[:1] == ("--unwind",) else 8,
                           arch=args[1] if args[:1] == ("--arch",) else None)
    (fn,) = run_check([str(FIXTURES / f"{case}.before.c")],
                      [str(FIXTURES / f"{case}.after.c")], options).functions
    return fn


def _members(condition: object) -> tuple[tuple[str, ...], list[tuple[bool, bool]]]:
    """The condition's inputs, and for every value of them: (in a sure cube, in a maybe
    cube)."""
    names = tuple(sorted({lit.name for cubes in (condition.sure, condition.maybe)
                          for cube in cubes for lit in cube}))
    table = []
    for values in itertools.product((False, True), repeat=len(names)):
        point = dict(zip(names, values))
        table.append(tuple(any(all(point[lit.name] == lit.value for lit in cube)
                               for cube in cubes)
                           for cubes in (condition.sure, condition.maybe)))
    return names, table


@pytest.mark.parametrize("case,args", CASES, ids=[c for c, _ in CASES])
def test_the_explanation_is_the_same_without_the_known_models(
        case: str, args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """The minimal flag word, every bit's relevance and the difference condition (as a
    set of inputs) do not depend on whether known models are tried first."""
    fast = _explained(case, args)
    assert fast.verdict is Verdict.NOT_EQUIVALENT and fast.condition is not None, fast

    original_check = Session.check

    def no_candidates(self: Session, *extra: z3.BoolRef, candidates: object = (),
                      **kwargs: object) -> smt.Answer:
        return original_check(self, *extra, **kwargs)

    monkeypatch.setattr(Session, "check", no_candidates)
    monkeypatch.setattr(perbit.Known, "answer", lambda self, differs, term: None)
    monkeypatch.setattr(perbit, "satisfies", lambda model, terms: False)
    monkeypatch.setattr(counterexample, "_cleared", lambda *args: None)
    slow = _explained(case, args)
    assert slow.counterexample.flags == fast.counterexample.flags
    assert {r.name: r.relevance for r in slow.bits} == {r.name: r.relevance for r in fast.bits}
    assert slow.condition.status == fast.condition.status
    assert _members(slow.condition) == _members(fast.condition)


def test_the_consistency_of_a_struct_pair_is_shown_by_the_plain_input(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The links between the sides' call results hold under the plain input (objects at
    their own addresses, everything else 0): the consistency question needs no solver."""
    from equiv.bench import struct_fields_pair
    from equiv.query import equivalence

    pair = struct_fields_pair(6)
    before, after = tmp_path / "b.c", tmp_path / "a.c"
    before.write_text(pair.before)
    after.write_text(pair.after)
    asked: list[tuple[object, ...]] = []
    original = Session._incremental

    def incremental(self: Session, extra: tuple[object, ...], *args: object) -> smt.Answer:
        asked.append(extra)
        return original(self, extra, *args)

    monkeypatch.setattr(Session, "_incremental", incremental)
    (fn,) = run_check([str(before)], [str(after)], CheckOptions(jobs=1, explain=False)).functions
    assert fn.verdict is Verdict.NOT_EQUIVALENT
    assert asked and all(extra for extra in asked), "the consistency question went to z3"
    # Without the plain input, the same question is the solver's.
    asked.clear()
    monkeypatch.setattr(equivalence, "plain_model", lambda query: z3.Model())
    run_check([str(before)], [str(after)], CheckOptions(jobs=1, explain=False))
    assert () in asked


