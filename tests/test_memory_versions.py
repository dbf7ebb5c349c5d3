"""A cell read after conditional calls follows the joins' guards, not version numbers.

After an external call that may have run, memory is at one of several
versions (an `ite` of the joined paths' versions).  The executor reads a cell
by following those `ite`s down to the symbols each version holds, once per
(cell, version) and shared (`Executor._at_version`).  Before, every read built
a chain of comparisons of the version term with each possible number: on the
bench's struct pairs (K narrow fields, a call that may run after each) the
formula grew about as K^2.2 and a 40-field pair needed 24 MB of SMT-LIB and
3 GB (now 5 MB and 1.6 GB).  What the reads mean is checked by the fixtures
and the gcc oracle; this test pins the growth.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import z3

from equiv.bench import struct_fields_pair
from equiv.driver.check import CheckOptions, run_check
from equiv.query import equivalence


def _nodes(terms: list[z3.ExprRef]) -> int:
    seen: set[int] = set()
    stack = list(terms)
    while stack:
        t = stack.pop()
        if t.get_id() in seen:
            continue
        seen.add(t.get_id())
        stack.extend(t.children())
    return len(seen)


class _Built(BaseException):
    """Raised with the formula's size once the query is built: no solver is asked."""


def _formula_size(tmp_path: Path, fields: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Distinct terms of the query's background and difference formula."""
    original = equivalence.build_query

    def record(*args: object, **kwargs: object) -> equivalence.Query:
        query = original(*args, **kwargs)
        raise _Built(_nodes([*query.background, query.differs]))

    monkeypatch.setattr(equivalence, "build_query", record)
    pair = struct_fields_pair(fields)
    before, after = tmp_path / f"b{fields}.c", tmp_path / f"a{fields}.c"
    before.write_text(pair.before)
    after.write_text(pair.after)
    with pytest.raises(_Built) as built:
        run_check([str(before)], [str(after)], CheckOptions(jobs=1, explain=False))
    return built.value.args[0]


def test_struct_formulas_grow_no_faster_than_the_square_of_the_fields(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small, large = (_formula_size(tmp_path, k, monkeypatch) for k in (10, 30))
    # Three times the fields (and calls): 6.7 times the terms now, 11.7 times with a
    # chain of version comparisons at every read.
    assert large < 9 * small, (small, large)
