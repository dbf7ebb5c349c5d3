"""The executor's state helpers (equiv/semantics/state.py) that keep long functions linear."""

from __future__ import annotations

import random

import pytest
import z3

from equiv.semantics.state import (
    FALSE,
    TRUE,
    LazyUnion,
    bv_num,
    bv_val,
    extend,
    lazy_union,
    mk_eq,
    mk_ite,
    numeral,
    resolved,
)


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


def test_mk_ite_of_two_widths_is_refused_by_z3() -> None:
    with pytest.raises(z3.Z3Exception):
        mk_ite(z3.Bool("c"), z3.BitVec("x", 8), z3.BitVec("y", 16))


@pytest.mark.parametrize("width", [1, 8, 31, 32, 64, 65, 128])
def test_numerals_are_z3s(width: int) -> None:
    """bv_num's fast route reads a value as z3.BitVecVal does (modulo 2**width), and
    numeral() gives the unsigned value back; a term that is not a constant has none."""
    rng = random.Random(width)
    values = [0, 1, -1, 2**width, 2**width - 1, -2**(width - 1), 2**70 + 5, -2**70 - 3]
    values += [rng.randrange(-2**80, 2**80) for _ in range(40)]
    for v in values:
        ours, theirs = bv_num(v, width), z3.BitVecVal(v, width)
        assert ours.eq(theirs) and ours.size() == width, (v, width)
        assert numeral(ours) == theirs.as_long()
    assert numeral(z3.BitVec("x", width) + 1) is None


def test_extend_and_eq_are_z3s() -> None:
    x = z3.BitVec("x", 8)
    assert extend(x, 56, True).eq(z3.SignExt(56, x))
    assert extend(x, 24, False).eq(z3.ZeroExt(24, x))
    assert mk_eq(x, bv_val(3, 8)).eq(x == 3)
