"""The executor's state helpers (equiv/semantics/state.py) that keep long functions linear."""

from __future__ import annotations

import z3

from equiv.semantics.state import FALSE, TRUE, LazyUnion, lazy_union, mk_ite, resolved


def test_lazy_union_resolves_to_the_union() -> None:
    sets = [frozenset(range(k, k + 5)) for k in range(0, 100, 3)]
    acc = sets[0]
    for s in sets[1:]:
        acc = lazy_union(s, acc)
    assert isinstance(acc, LazyUnion)
    assert resolved(acc) == frozenset().union(*sets)
    assert acc.parts is None  # resolved: the parts are let go
    assert resolved(acc) == frozenset().union(*sets)  # and asking again gives the same


def test_lazy_union_of_shared_parts() -> None:
    a = lazy_union(frozenset(range(10)), frozenset(range(20, 30)))
    b = lazy_union(a, frozenset([99]))
    c = lazy_union(b, a)  # a reached twice
    assert lazy_union(c, c) is c
    assert resolved(c) == frozenset(range(10)) | frozenset(range(20, 30)) | {99}
    assert resolved(a) == frozenset(range(10)) | frozenset(range(20, 30))


def test_small_unions_stay_plain_sets() -> None:
    assert lazy_union(frozenset([1]), frozenset([2])) == frozenset([1, 2])


def test_mk_ite_folds_and_builds() -> None:
    x, y = z3.BitVec("x", 8), z3.BitVec("y", 8)
    c = z3.Bool("c")
    assert mk_ite(TRUE, x, y) is x
    assert mk_ite(FALSE, x, y) is y
    assert mk_ite(c, x, x) is x
    t = mk_ite(c, x, y)
    assert isinstance(t, z3.BitVecRef) and t.size() == 8
    s = z3.Solver()
    s.add(c, t != x)
    assert s.check() == z3.unsat
    s = z3.Solver()
    s.add(z3.Not(c), t != y)
    assert s.check() == z3.unsat
    b = mk_ite(c, z3.Bool("p"), z3.Bool("q"))  # other sorts go through z3.If
    assert isinstance(b, z3.BoolRef)
