"""Per-path-bundle state of the symbolic executor, and its merging.

A `State` is the program state on the set of paths that reach one program
point, described by a guard (a z3 Bool over the inputs).  Branches fork a
state; joins merge states into one with `ite` terms, so the number of paths
never matters, only the size of the code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Iterable, TypeAlias

import z3

from equiv.ir.ctypes_model import CType

_CTX = z3.main_ctx()
TRUE = z3.BoolVal(True)
FALSE = z3.BoolVal(False)

# The builders below fold only the two constant objects TRUE and FALSE (by
# identity: every constant guard equiv makes is one of them) and call z3's C
# API directly; they run for every cell of the call alignment, where the
# Python API's argument checking would dominate.


def _ast_array(xs: list[z3.ExprRef]) -> Any:
    return (z3.Ast * len(xs))(*[x.as_ast() for x in xs])


def mk_and(*xs: z3.BoolRef) -> z3.BoolRef:
    """Conjunction, folding the constants true and false."""
    kept = []
    for x in xs:
        if x is FALSE:
            return FALSE
        if x is not TRUE:
            kept.append(x)
    if not kept:
        return TRUE
    if len(kept) == 1:
        return kept[0]
    return z3.BoolRef(z3.Z3_mk_and(_CTX.ref(), len(kept), _ast_array(kept)), _CTX)


def mk_or(*xs: z3.BoolRef) -> z3.BoolRef:
    """Disjunction, folding the constants true and false."""
    kept = []
    for x in xs:
        if x is TRUE:
            return TRUE
        if x is not FALSE:
            kept.append(x)
    if not kept:
        return FALSE
    if len(kept) == 1:
        return kept[0]
    return z3.BoolRef(z3.Z3_mk_or(_CTX.ref(), len(kept), _ast_array(kept)), _CTX)


def mk_not(x: z3.BoolRef) -> z3.BoolRef:
    if x is TRUE:
        return FALSE
    if x is FALSE:
        return TRUE
    return z3.BoolRef(z3.Z3_mk_not(_CTX.ref(), x.as_ast()), _CTX)


@functools.cache
def bv_sort(width: int) -> z3.BitVecSortRef:
    return z3.BitVecSort(width, _CTX)


def bv_num(value: int, width: int) -> z3.BitVecNumRef:
    """`z3.BitVecVal(value, width)` on a sort made once per width (see bv_val)."""
    sort = bv_sort(width).ast
    if width <= 64:  # two's complement modulo 2**width, as z3 reads a numeral
        ast = z3.Z3_mk_unsigned_int64(_CTX.ref(), value & ((1 << width) - 1), sort)
    else:
        ast = z3.Z3_mk_numeral(_CTX.ref(), str(value), sort)
    return z3.BitVecNumRef(ast, _CTX)


@functools.lru_cache(maxsize=1 << 16)
def bv_val(value: int, width: int) -> z3.BitVecNumRef:
    """`z3.BitVecVal(value, width)`, one Python object per constant.

    Symbolic execution makes the same few constants over and over (every `1UL`,
    every shift count, every memory version 0), and making a z3 term from
    Python costs more than the rest of a simple statement.  A term is
    immutable, so sharing it changes nothing but the time.
    """
    return bv_num(value, width)


def bv_var(name: str, width: int) -> z3.BitVecRef:
    """`z3.BitVec(name, width)` on the sort made once per width."""
    return z3.BitVec(name, bv_sort(width))


def bv_width(term: z3.BitVecRef) -> int:
    """`term.size()` without the sort object z3's Python API makes for it."""
    ref = term.ctx_ref()
    return int(z3.Z3_get_bv_sort_size(ref, z3.Z3_get_sort(ref, term.as_ast())))


def numeral(term: z3.BitVecRef) -> int | None:
    """The unsigned value of a bit-vector constant, or None when `term` is not one."""
    ref, ast = _CTX.ref(), term.as_ast()
    if not z3.Z3_is_numeral_ast(ref, ast):
        return None
    return int(z3.Z3_get_numeral_string(ref, ast))


def extend(term: z3.BitVecRef, by: int, signed: bool) -> z3.BitVecRef:
    """`term` widened by `by` bits, sign- or zero-extended."""
    make = z3.Z3_mk_sign_ext if signed else z3.Z3_mk_zero_ext
    return z3.BitVecRef(make(_CTX.ref(), by, term.as_ast()), _CTX)


def mk_eq(a: z3.ExprRef, b: z3.ExprRef) -> z3.BoolRef:
    """`a == b` for two terms of one sort (z3 refuses two sorts)."""
    return z3.BoolRef(z3.Z3_mk_eq(_CTX.ref(), a.as_ast(), b.as_ast()), _CTX)


def mk_ite(c: z3.BoolRef, a: z3.ExprRef, b: z3.ExprRef) -> z3.ExprRef:
    """If-then-else of two terms of one sort, folding a constant condition and equal arms.

    Two bit-vectors go straight to the C API: z3 itself refuses arms of two
    widths (a Z3Exception, never a term)."""
    if c is TRUE or a is b or a.eq(b):
        return a
    if c is FALSE:
        return b
    if isinstance(a, z3.BitVecRef) and isinstance(b, z3.BitVecRef):
        return z3.BitVecRef(z3.Z3_mk_ite(_CTX.ref(), c.as_ast(), a.as_ast(), b.as_ast()), _CTX)
    return z3.If(c, a, b)


def const_bool(value: bool) -> z3.BoolRef:
    return TRUE if value else FALSE


def is_dead(guard: z3.BoolRef) -> bool:
    return guard is FALSE


@dataclass(frozen=True)
class Value:
    """A C rvalue: a bit-vector term of the type's width, and its type.

    `path` names the memory the value was loaded from (or the pointer root it
    is), so that `p->field` can name the member it reaches.
    """

    term: z3.BitVecRef
    ctype: CType
    path: str | None = None


IndexSet: TypeAlias = "frozenset[int] | LazyUnion"


class LazyUnion:
    """The union of two sets of indexes, computed only when a read needs it.

    A join of two states unites their sets of memory versions and of calls
    that may have left the flag word.  Uniting them eagerly copies sets that
    grow with every call in a long function, and every call's snapshot of
    the state keeps its copy: quadratic time and memory.  Most of these
    unions are never read.
    """

    __slots__ = ("parts", "value")

    def __init__(self, a: IndexSet, b: IndexSet):
        self.parts: tuple[IndexSet, IndexSet] | None = (a, b)
        self.value: frozenset[int] | None = None


def lazy_union(a: IndexSet, b: IndexSet) -> IndexSet:
    """The union of two index sets (lazily, unless both are small sets)."""
    if a is b:
        return a
    if isinstance(a, frozenset) and isinstance(b, frozenset) and len(a) + len(b) <= 8:
        return a | b
    return LazyUnion(a, b)


def resolved(versions: IndexSet) -> frozenset[int]:
    """The indexes as a set: resolves a `LazyUnion` (iteratively; it then
    keeps the set and lets go of its parts)."""
    if isinstance(versions, frozenset):
        return versions
    if versions.value is not None:
        return versions.value
    out: set[int] = set()
    seen: set[int] = set()
    stack: list[IndexSet] = [versions]
    while stack:
        v = stack.pop()
        if isinstance(v, frozenset):
            out |= v
        elif v.value is not None:
            out |= v.value
        elif id(v) not in seen:
            seen.add(id(v))
            assert v.parts is not None
            stack.extend(v.parts)
    versions.value, versions.parts = frozenset(out), None
    return versions.value


class State:
    """Variables, flag word and memory on the paths described by `guard`.

    `mem` caches memory cells (BV64) written or read since the last opaque
    call; `memver` is the index+1 of the last opaque call on these paths (0:
    none), as a term together with the set of values it can take.
    """

    __slots__ = ("guard", "vars", "ptrs", "flags", "flag_events", "mem", "memver", "versions",
                 "reads", "read_counts")

    def __init__(self, guard: z3.BoolRef, flags: z3.BitVecRef):
        self.guard = guard
        self.vars: dict[Any, z3.BitVecRef] = {}
        # The object each pointer variable names (None: not one equiv can name).
        self.ptrs: dict[Any, str | None] = {}
        self.flags = flags
        # The external calls whose refreshed flag word the current `flags` may hold.
        self.flag_events: IndexSet = frozenset()
        self.mem: dict[str, z3.BitVecRef] = {}
        self.memver: z3.BitVecRef = bv_val(0, 32)
        self.versions: IndexSet = frozenset([0])
        # How many times these paths have read the flag word (for --racy-flags).
        self.reads: z3.BitVecRef = bv_val(0, 32)
        self.read_counts: frozenset[int] = frozenset([0])

    def copy(self, guard: z3.BoolRef | None = None) -> "State":
        s = State.__new__(State)
        s.guard = self.guard if guard is None else guard
        s.vars = dict(self.vars)
        s.ptrs = dict(self.ptrs)
        s.flags = self.flags
        s.flag_events = self.flag_events
        s.mem = dict(self.mem)
        s.memver = self.memver
        s.versions = self.versions
        s.reads = self.reads
        s.read_counts = self.read_counts
        return s

    @property
    def dead(self) -> bool:
        return self.guard is FALSE


class MemoryReader:
    """How a state with no cached value for a cell reads it (side-specific)."""

    def initial(self, state: State, path: str) -> z3.BitVecRef:  # pragma: no cover
        raise NotImplementedError

    def cell_initial(self, path: str) -> z3.BitVecRef | None:
        """What a local's cell holds before anything writes it, when that is an input
        (a struct parameter of the checked function); None: indeterminate."""
        return None


def merge(states: Iterable[State], reader: MemoryReader, uninit: "UninitSource") -> State | None:
    """One state for the union of the (disjoint) path sets of `states`."""
    live = [s for s in states if not s.dead]
    if not live:
        return None
    result = live[0].copy()
    for other in live[1:]:
        result = _merge_two(result, other, reader, uninit)
    return result


class UninitSource:
    """Fresh values for variables that one incoming path never assigned."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.count = 0

    def fresh(self, width: int) -> z3.BitVecRef:
        self.count += 1
        return bv_var(f"{self.prefix}:uninit#{self.count}", width)


def _merge_two(a: State, b: State, reader: MemoryReader, uninit: UninitSource) -> State:
    g = a.guard
    out = State.__new__(State)
    out.guard = mk_or(a.guard, b.guard)
    out.flags = mk_ite(g, a.flags, b.flags)
    out.flag_events = lazy_union(a.flag_events, b.flag_events)
    out.vars = {}
    for key in a.vars.keys() | b.vars.keys():
        va, vb = a.vars.get(key), b.vars.get(key)
        shared = reader.cell_initial(key) if isinstance(key, str) else None
        if va is None:
            assert vb is not None
            va = shared if shared is not None else uninit.fresh(vb.size())
        if vb is None:
            vb = shared if shared is not None else uninit.fresh(va.size())
        out.vars[key] = mk_ite(g, va, vb)
    out.ptrs = {key: a.ptrs.get(key) if a.ptrs.get(key) == b.ptrs.get(key) else None
                for key in a.ptrs.keys() | b.ptrs.keys()}
    out.mem = {}
    for path in sorted(a.mem.keys() | b.mem.keys()):
        ma = a.mem[path] if path in a.mem else reader.initial(a, path)
        mb = b.mem[path] if path in b.mem else reader.initial(b, path)
        out.mem[path] = mk_ite(g, ma, mb)
    out.memver = mk_ite(g, a.memver, b.memver)
    out.versions = lazy_union(a.versions, b.versions)
    out.reads = mk_ite(g, a.reads, b.reads)
    out.read_counts = a.read_counts | b.read_counts
    return out
