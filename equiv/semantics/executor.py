"""Symbolic execution of one side's root function, on lowered IR, into z3 terms.

The executor inlines every function the side defines, with guarded, merged
states: each branch forks the state, each join merges it, so cost grows with
the size of the code, not with the number of paths.  Every control transfer
(`return`, `goto`, `break`, `continue`, a path cut by the loop bound or by
`__builtin_unreachable`) is logged as a departure naming its target; a join
reads that log to know whether any path left the construct it closes.
Expressions are in `equiv.semantics.expressions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from equiv.errors import Location
from equiv.ir import ctypes_model as ct
from equiv.ir import nodes as ir
from equiv.ir.unit import Unit, error_at, unsupported_at
from equiv.semantics.state import (
    FALSE,
    TRUE,
    MemoryReader,
    State,
    UninitSource,
    Value,
    bv_val,
    bv_width,
    extend,
    merge,
    mk_and,
    mk_eq,
    mk_ite,
    mk_not,
    numeral,
    resolved,
)
from equiv.semantics.trace import (
    ASSUME_PREFIX,
    C_RULE_PREFIX,
    FLAG_WORD,
    AnalysisLimit,
    Event,
    LoopBound,
    LoopHead,
    Options,
    SideTrace,
)

MAX_INLINE_DEPTH = 64
MAX_STEPS = 500_000  # statements executed (after unrolling and inlining) per side
RETURN = -1  # the departure target of `return`
LOCAL_CELL = "@"  # the first character of the path of a cell of a local (kept in State.vars)
STRUCT_PARAM = "struct-param:"  # the path of a struct argument of the checked function
RETURNED = "<return>"  # the memory a returned struct's members are compared in


def is_local_cell(path: str) -> bool:
    """Whether memory path `path` is a cell of a local (an array, struct, or &-taken scalar)."""
    return path.startswith(LOCAL_CELL)


def cell_root(path: str) -> str:
    """The local a cell path belongs to (`@3:7[2].a` -> `@3:7`)."""
    cut = [i for i in (path.find("["), path.find(".")) if i >= 0]
    return path[:min(cut)] if cut else path
CUT = None  # the departure target of a path that ends (loop bound, unreachable)
ARRAY_SORT = z3.BitVecSort(64)  # index and element sort of a whole array's contents


@dataclass(frozen=True)
class ArrayCells:
    """An array as memory: its elements are cells, and `key` its whole contents.

    A member, global or local array `base` has the cells `base[k]`.  The array a
    pointer `base` points into (`pointer`) has `*base` as element 0, as a
    dereference does, and `*(base+k)` for the others.  `key` holds the contents
    as a z3 Array, read where an index is neither a constant nor one of a few.
    """

    base: str
    pointer: bool = False

    def element(self, k: int) -> str:
        if self.pointer:
            return f"*{self.base}" if k == 0 else f"*({self.base}+{k})"
        return f"{self.base}[{k}]"

    @property
    def key(self) -> str:
        return f"*({self.base})[]" if self.pointer else f"{self.base}[]"


@dataclass(frozen=True)
class Selection:
    """An index that is not a constant: `index` and the elements it may select
    (`choices`), or None when it may be any (an array of unknown length)."""

    index: z3.BitVecRef
    choices: tuple[int, ...] | None
    array: ArrayCells


def ext64(v: Value) -> z3.BitVecRef:
    """The value as a 64-bit term, extended by its type's signedness."""
    w = bv_width(v.term)
    if w == 64:
        return v.term
    n = numeral(v.term)
    if n is not None:
        return bv_val(_signed(n, w) if v.ctype.signed else n, 64)
    return extend(v.term, 64 - w, v.ctype.signed)


def _signed(n: int, width: int) -> int:
    """The unsigned `width`-bit value `n` read as two's complement."""
    return n - (1 << width) if n >> (width - 1) else n


def convert(v: Value, to: ct.CType) -> Value:
    """C's conversion of `v` to type `to` (the lowering checked that it is allowed)."""
    if to.kind == "void":
        return Value(bv_val(0, 8), ct.VOID)
    if to.is_bool:
        return Value(mk_ite(truth(v), bv_val(1, 8), bv_val(0, 8)), to)
    w = bv_width(v.term)
    n = numeral(v.term)
    if n is not None:
        return Value(bv_val(_signed(n, w) if v.ctype.signed else n, to.width), to)
    term = ext64(v) if to.width > w else v.term
    if to.width < bv_width(term):
        term = z3.Extract(to.width - 1, 0, term)
    path = v.path if to.kind == "ptr" and v.ctype.kind == "ptr" else None
    return Value(term, to, path)


def truth(v: Value) -> z3.BoolRef:
    t = v.term
    n = numeral(t)
    if n is not None:
        return TRUE if n != 0 else FALSE
    return mk_not(mk_eq(t, bv_val(0, bv_width(t))))


def int_value(n: int, t: ct.CType = ct.INT) -> Value:
    return Value(bv_val(n, t.width), t)


def bool_value(b: z3.BoolRef) -> Value:
    return Value(mk_ite(b, bv_val(1, 32), bv_val(0, 32)), ct.INT)


VOID_VALUE = Value(z3.BitVecVal(0, 8), ct.VOID)


@dataclass
class Frame:
    """One inlined activation of a function: where its jumps and returns went."""

    activation: int
    function: ir.Function
    returns: list[tuple[State, Value | None]] = field(default_factory=list)
    sinks: dict[tuple[str, int], list[State]] = field(default_factory=dict)

    def sink(self, kind: str, target: int) -> list[State]:
        return self.sinks.setdefault((kind, target), [])


@dataclass(frozen=True)
class Departure:
    """Paths that left normal control flow: to `target` of `activation`, or cut."""

    activation: int
    target: int | None
    guard: z3.BoolRef


class StatementExecutor(MemoryReader):
    """Statements, frames and memory; expressions come from a subclass."""

    def __init__(self, unit: Unit, label: str, options: Options):
        self.unit = unit
        self.label = label
        self.options = options
        self.events: list[Event] = []
        self.exceeded: list[LoopBound] = []
        self.heads: list[LoopHead] = []  # the unrolled loops' heads, for counterexamples
        self.assumptions: list[tuple[str, z3.BoolRef]] = []
        self.local_escapes: dict[str, None] = {}  # external callees given `&local`
        self.flags_written = False
        self.mem_written: dict[str, None] = {}
        # How each written memory cell is written: (bits, signed) of the member's type,
        # None where one side writes it through two different types.
        self.cell_views: dict[str, tuple[int, bool] | None] = {}
        self.configs: dict[str, z3.BoolRef] = {}
        self.roots: dict[str, z3.BitVecRef] = {}
        self.inputs: dict[str, z3.BitVecRef] = {}
        self.departures: list[Departure] = []
        self.steps = 0
        self.prefix = options.symbol_prefix or label
        self.uninit = UninitSource(self.prefix)
        self.frames: list[Frame] = []
        self.call_sites: list[Location | None] = []
        self._activations = 0
        self._labels_in: dict[int, frozenset[int]] = {}
        self._has_label: dict[int, bool] = {}
        # Loop summaries (Options.summarize_loops): see equiv.semantics.loops.
        self.branches: list[Location | None] = []  # enclosing conditions, innermost last
        self.loops_seen = 0
        self.iterations: list[Any] = []  # equiv.semantics.loops.Iteration
        self.iteration_wrote_flags = False
        self.in_iteration = False
        self.head_versions: dict[int, int] = {}
        # (cell, array or not, AST id of a memory version) -> (that version, the content
        # there); one per list of events (a loop's summarised iteration has its own).
        self._version_reads: dict[tuple[str, bool, int], tuple[z3.BitVecRef, Any]] = {}
        self.cell_layouts: dict[str, tuple[str, ...]] = {}  # local -> its cell paths
        self.struct_params: dict[str, str] = {}  # the root's struct parameters' cells -> name
        self.zeroed_cells: set[str] = set()  # locals whose cells nobody named are zero
        # The index of each `[?N]` in a path, and the values it selects among.
        self.selections: list[Selection] = []
        # Every element cell named so far -> (its array's `ArrayCells.key`, position).
        self.element_of: dict[str, tuple[str, int]] = {}
        self.array_keys: dict[str, str] = {}  # arrays read whole (a z3 Array) -> name
        self.arrays_read: dict[str, None] = {}  # their names, for the premise (README)
        self.objects: dict[str, None] = {}  # undeclared identifiers used as pointers
        # Elements read from an array's contents on entry: (array, its key, guard, index,
        # value), shown in a counterexample as `array[index]=value`.
        self.entry_reads: list[tuple[str, str, z3.BoolRef, z3.BitVecRef, z3.BitVecRef]] = []

    # ---- entry ---------------------------------------------------------------------
    def run(self, function: str) -> SideTrace:
        fn = self.unit.function(function)
        flags = z3.BitVec(FLAG_WORD, 64)
        state = State(TRUE, flags)
        self._assumptions(state)
        args = [self._root_argument(i, p) for i, p in enumerate(fn.params)]
        ret, final = self.inline(fn, args, state, fn.loc)
        if final.dead:
            final = state.copy(FALSE)
        ret_term = ext64(ret) if fn.ret.kind not in ("void", "struct") else None
        end = final
        return SideTrace(self.label, function, self.events, ret_term, fn.ret, final.flags,
                         self.flags_written, list(self.mem_written),
                         lambda path: self._read_raw(end, path), self.exceeded, self.assumptions,
                         self.configs, self.roots, self.inputs, fn.loc,
                         tuple(self.iterations), self.heads, tuple(self.local_escapes),
                         cell_views=dict(self.cell_views), arrays_read=tuple(self.arrays_read),
                         objects=tuple(self.objects), entry_reads=tuple(self.entry_reads),
                         arrays=tuple(sorted(self.array_keys)), elements=self.element_of)

    def _assumptions(self, state: State) -> None:
        """Evaluate every `__equiv_assume_*` function on the initial state."""
        for name in self.unit.funcdefs:
            if not name.startswith(ASSUME_PREFIX):
                continue
            fn = self.unit.function(name)
            args = [Value(state.flags, ct.ULONG)] * len(fn.params)
            value, _ = self.inline(fn, [convert(a, p.ctype) for a, p in zip(args, fn.params)],
                                   state.copy(), fn.loc)
            if self.events:
                raise error_at(fn.loc, f"assumption '{name}' calls an external function")
            if value.ctype.kind != "int":
                raise error_at(fn.loc, f"assumption '{name}' must return an integer")
            self.assumptions.append((name, truth(value)))

    def _root_argument(self, position: int, p: ir.Param) -> Value:
        names = self.options.root_names
        name = names[position] if position < len(names) else p.name
        if p.ctype.kind == "struct":  # its members are inputs, named by the parameter
            return Value(z3.BitVecVal(0, 64), p.ctype, f"{STRUCT_PARAM}{name}")
        if p.ctype.kind == "ptr":
            return self.root_pointer(name, p.ctype)
        # By position too: the flag word is the argument where the before side
        # takes it, whatever this side calls that parameter.
        if name in self.options.flag_params:
            return convert(Value(z3.BitVec(self.options.param_word, 64), ct.ULONG), p.ctype)
        sym = z3.BitVec(f"param:{name}" if self.options.params_by_name
                        else f"param#{position + 1}", 64)
        self.inputs[name] = sym
        return convert(Value(sym, ct.LONG), p.ctype)

    def root_pointer(self, name: str, t: ct.CType) -> Value:
        """A pointer that names an object shared by both sides (param, current)."""
        sym = self.roots.setdefault(name, z3.BitVec(f"&{name}", 64))
        return Value(sym, t, name)

    # ---- functions -------------------------------------------------------------------
    def inline(self, fn: ir.Function, args: list[Value], state: State,
               site: Location | None) -> tuple[Value, State]:
        """Execute `fn` on `args` (already converted) in `state`; (return value, state after)."""
        if any(f.function.name == fn.name for f in self.frames):
            chain = " -> ".join([f.function.name for f in self.frames] + [fn.name])
            raise error_at(site, f"recursion is not supported ({chain})")
        if len(self.frames) >= MAX_INLINE_DEPTH:
            raise error_at(site, f"calls nested deeper than {MAX_INLINE_DEPTH}")
        self._activations += 1
        frame = Frame(self._activations, fn)
        self.frames.append(frame)
        self.call_sites.append(site)
        try:
            state = state.copy()
            for p, arg in zip(fn.params, args):
                if p.ctype.kind == "struct":
                    assert arg.path is not None and arg.path.startswith(STRUCT_PARAM)
                    self.struct_params[self.cell_base(p.var)] = arg.path[len(STRUCT_PARAM):]
                    continue
                self.bind(p.var, arg, state)
            end = self.exec_stmt(fn.body, state)
            return self._collect_returns(frame, end)
        finally:
            self.frames.pop()
            self.call_sites.pop()

    def _collect_returns(self, frame: Frame, end: State) -> tuple[Value, State]:
        ret = frame.function.ret
        returns = list(frame.returns)
        if not end.dead:
            value = None if ret.kind in ("void", "struct") else \
                Value(self.uninit.fresh(ret.width), ret)
            returns.append((end, value))  # fell off the end: no value
        merged = self.join([s for s, _ in returns], end)
        if ret.kind in ("void", "struct"):
            return VOID_VALUE, merged
        term: z3.BitVecRef | None = None
        for s, v in reversed(returns):
            assert v is not None
            term = v.term if term is None else mk_ite(s.guard, v.term, term)
        if term is None:
            term = z3.BitVecVal(0, ret.width)
        paths = {v.path for _, v in returns if v is not None}
        path = paths.pop() if len(paths) == 1 and ret.kind == "ptr" else None
        return Value(term, ret, path), merged

    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def var_key(self, var: int) -> tuple[int, int]:
        return (self.frame.activation, var)

    def bind(self, var: int, value: Value | None, state: State) -> None:
        key = self.var_key(var)
        if value is None:
            state.vars.pop(key, None)
            state.ptrs.pop(key, None)
            return
        state.vars[key] = value.term
        state.ptrs[key] = value.path

    # ---- departures and joins -----------------------------------------------------------
    def depart(self, target: int | None, state: State) -> None:
        """Record that the paths of `state` leave normal flow (to `target`, or cut)."""
        activation = self.frame.activation if self.frames else 0
        self.departures.append(Departure(activation, target, state.guard))

    def cut(self, state: State, bound: LoopBound | None = None) -> None:
        if bound is not None:
            self.exceeded.append(bound)
        self.depart(CUT, state)

    def left(self, mark: int, inner: frozenset[int]) -> bool:
        """Whether a path left the construct entered at `mark` (which owns `inner`)."""
        here = self.frame.activation if self.frames else 0
        for d in self.departures[mark:]:
            if d.target is CUT:
                return True
            if d.activation == here and d.target not in inner:
                return True
        return False

    def close(self, merged: State, before: State, mark: int, inner: frozenset[int]) -> State:
        """A join after a fork: when no path left in between, it has the fork's guard.

        The merged guard is then the same set of paths written smaller, which
        keeps guards from growing with nesting depth.
        """
        if not merged.dead and not before.dead and not self.left(mark, inner):
            merged.guard = before.guard
        return merged

    def join(self, states: list[State], fallback: State) -> State:
        merged = merge(states, self, self.uninit)
        return merged if merged is not None else fallback.copy(FALSE)

    def has_label(self, s: ir.Stmt) -> bool:
        """Whether `s` holds a goto target (so a dead path must still walk it)."""
        key = id(s)
        if key not in self._has_label:
            self._has_label[key] = bool(_targets(s, labels_only=True))
        return self._has_label[key]

    def labels_in(self, s: ir.Stmt) -> frozenset[int]:
        """The targets (labels, loops, switches) defined inside statement `s`."""
        key = id(s)
        if key not in self._labels_in:
            self._labels_in[key] = frozenset(_targets(s))
        return self._labels_in[key]

    # ---- memory --------------------------------------------------------------------------
    def element(self, array: ArrayCells, k: int) -> str:
        """The cell of element `k` of `array`, remembered as belonging to it."""
        path = array.element(k)
        self.element_of[path] = (array.key, k)
        return path

    def initial(self, state: State, path: str) -> z3.BitVecRef:
        """The 64-bit content of memory cell `path` as first read in `state` (a z3
        Array for an array's whole contents, `ArrayCells.key`).

        An element of an array these paths already read whole is that Array's
        element, so the two views of one cell agree."""
        owner = self.element_of.get(path)
        if owner is not None and owner[0] in state.mem:
            index = z3.BitVecVal(owner[1], 64)
            term: z3.BitVecRef = z3.Select(state.mem[owner[0]], index)
            self.entry_read(owner[0], state, index, term)
            return term
        return self._at_version(path, path in self.array_keys, state.memver)

    def _at_version(self, path: str, whole: bool, memver: z3.BitVecRef) -> z3.BitVecRef:
        """The content of cell `path` at memory version `memver`.

        A version is a numeral (0: the function's entry, > 0: after that event,
        < 0: a loop head) or, after a join, an `ite` of the joined paths'
        versions.  The content follows the same `ite`s down to the numerals,
        each read once per (cell, version term) and shared (`_version_reads`):
        a cell read after K conditional calls is then one new `ite` over the
        content before the last of them, not a chain of K comparisons built
        again at every read (which made a 40-field struct pair's formula
        cubic in size).
        """
        todo = [memver]
        while todo:
            m = todo[-1]
            key = (path, whole, m.get_id())
            if key in self._version_reads:
                todo.pop()
                continue
            value = numeral(m)
            if value is not None:
                term = self._version_symbol(path, whole, value - (1 << 32) if value >> 31
                                            else value)
            else:
                assert z3.is_app_of(m, z3.Z3_OP_ITE), m  # merge() builds versions so
                cond, then, other = m.children()
                parts = [self._version_reads.get((path, whole, t.get_id())) for t in (then, other)]
                if parts[0] is None or parts[1] is None:
                    todo += [t for t, part in zip((then, other), parts) if part is None]
                    continue
                term = mk_ite(cond, parts[0][1], parts[1][1])
            todo.pop()
            # The version term is kept with its content, so that its id is never reused.
            self._version_reads[key] = (m, term)
        return self._version_reads[(path, whole, memver.get_id())][1]

    def _version_symbol(self, path: str, whole: bool, version: int) -> z3.BitVecRef:
        """The content of `path` at a numeral memory version (see `initial`)."""
        if version == 0:
            return z3.Array(f"mem:{path}", ARRAY_SORT, ARRAY_SORT) if whole \
                else self._entry_value(path)
        if version < 0:  # a loop head: memory equal on both sides there
            name = f"loop{self.head_versions[version]}:head:mem:{path}"
            return z3.Array(name, ARRAY_SORT, ARRAY_SORT) if whole else z3.BitVec(name, 64)
        event = self.events[version - 1]
        if path not in event.havoc:
            name = f"{self.prefix}:mem:{path}@{version}"
            event.havoc[path] = z3.Array(name, ARRAY_SORT, ARRAY_SORT) if whole \
                else z3.BitVec(name, 64)
        return event.havoc[path]

    def _entry_value(self, path: str) -> z3.BitVecRef:
        """A cell's content when the function starts (shared by both sides)."""
        sym = z3.BitVec(f"mem:{path}", 64)
        self.inputs[path] = sym
        g = self.unit.globals.get(path)
        if g is None or not g.defined:
            return sym
        # A global the side defines holds its initializer until something writes
        # it; whether something has is an input shared by both sides.
        init = ext64(int_value(self.unit.global_init(path), g.ctype)) \
            if g.ctype.kind == "int" else z3.BitVecVal(self.unit.global_init(path), 64)
        if self.unit.never_written(path):
            return init
        pristine = z3.Bool(f"pristine:{path}")
        self.configs.setdefault(f"pristine:{path}", pristine)
        return mk_ite(pristine, init, sym)

    def read_whole(self, state: State, sel: Selection) -> z3.BitVecRef:
        """The 64-bit element `sel` selects in an array of unknown length: the cell of
        that element where these paths already hold one (read or written), else the
        element of the array's whole contents (read once per memory version)."""
        key = sel.array.key
        if key not in state.mem:
            state.mem[key] = self.initial(state, key)
        term: z3.BitVecRef = z3.Select(state.mem[key], sel.index)
        for path in sorted(state.mem):
            owner = self.element_of.get(path)
            if owner is not None and owner[0] == key:
                term = mk_ite(sel.index == owner[1], state.mem[path], term)
        self.entry_read(key, state, sel.index, term)
        return term

    def entry_read(self, key: str, state: State, index: z3.BitVecRef,
                   value: z3.BitVecRef) -> None:
        """Element `index` of array `key` is read from its whole contents: an input of
        the check when these paths read memory as it was on entry."""
        if resolved(state.versions) == frozenset([0]) and not self.in_iteration:
            self.entry_reads.append((self.array_keys[key], key, state.guard, index, value))

    def _read_raw(self, state: State, path: str) -> z3.BitVecRef:
        if is_local_cell(path):
            term = state.vars.get(path)
            if term is None:  # never written: an input, or a value of this side's own
                term = self.cell_initial(path)
                term = state.vars[path] = term if term is not None else self.uninit.fresh(64)
            return term
        if path not in state.mem:
            state.mem[path] = self.initial(state, path)
        return state.mem[path]

    def read_bits(self, state: State, path: str, width: int) -> z3.BitVecRef:
        """The low `width` bits of cell `path` (members share a cell's low bits: unions)."""
        raw = self._read_raw(state, path)
        return raw if width == 64 else z3.Extract(width - 1, 0, raw)

    def note_view(self, path: str, view: tuple[int, bool]) -> None:
        """Cell `path` is written as a value of `view` (bits, signed)."""
        if self.cell_views.setdefault(path, view) != view:
            self.cell_views[path] = None

    def write_bits(self, state: State, path: str, term: z3.BitVecRef) -> None:
        """Store `term` in the low bits of cell `path`, keeping the bits above it."""
        width = term.size()
        if width < 64:
            old = self._read_raw(state, path)
            term = z3.Concat(z3.Extract(63, width, old), term)
        if is_local_cell(path):
            state.vars[path] = term
            return
        state.mem[path] = term
        self.mem_written[path] = None

    # ---- statements ---------------------------------------------------------------------------
    def exec_stmt(self, s: ir.Stmt, state: State) -> State:
        if state.dead and not self.has_label(s):
            return state
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise AnalysisLimit(f"more than {MAX_STEPS} statements to execute after unrolling "
                                f"loops and inlining calls")
        handler: Callable[[StatementExecutor, ir.Stmt, State], State] = _STMT[type(s)]
        return handler(self, s, state)

    def exec_block(self, s: ir.Block, state: State) -> State:
        for item in s.items:
            state = self.exec_stmt(item, state)
        return state

    def exec_nop(self, s: ir.Nop, state: State) -> State:
        return state

    def exec_expr_stmt(self, s: ir.ExprStmt, state: State) -> State:
        _, state = self.eval(s.expr, state, discard=True)
        return state

    def exec_declare(self, s: ir.Declare, state: State) -> State:
        if s.init is None:
            self.bind(s.var, Value(self.uninit.fresh(s.ctype.width), s.ctype), state)
            return state
        v, state = self.eval(s.init, state)
        self.bind(s.var, v, state)
        return state

    def exec_declare_cells(self, s: ir.DeclareCells, state: State) -> State:
        """A local kept as cells: each cell zero or its initializer, or unset."""
        base = self.cell_base(s.var)
        self.cell_layouts[base] = tuple(path for path, _, _ in s.cells)
        if s.zeroed:
            self.zeroed_cells.add(base)
        else:
            self.zeroed_cells.discard(base)
        for key in [k for k in state.vars if isinstance(k, str) and cell_root(k) == base]:
            del state.vars[key]  # a new instance of the local (a loop body declares it again)
        values: list[z3.BitVecRef | None] = []
        for k, (path, t, bits) in enumerate(s.cells):
            if s.init is None:
                values.append(None)
                continue
            e = s.init[k]
            if e is None:
                values.append(z3.BitVecVal(0, 64))
                continue
            v, state = self.eval(e, state)
            term = v.term if bits is None else z3.Extract(bits - 1, 0, v.term)
            values.append(z3.ZeroExt(64 - term.size(), term) if term.size() < 64 else term)
        for (path, _, _), term in zip(s.cells, values):
            if term is None:
                state.vars.pop(base + path, None)
            else:
                state.vars[base + path] = term
        return state

    def return_struct(self, e: ir.Expr, state: State) -> State:
        """The checked function returns a struct local: its cells become the memory
        `<return>.member`, compared at the end like any memory the sides write.  Whether
        its unnamed members are zero is `<return>#zeroed`."""
        if len(self.frames) != 1:
            raise error_at(e.loc, "unsupported construct: a struct returned to a caller")
        where, state = self.eval(e, state)
        assert where.path is not None
        root = cell_root(where.path)
        for key in sorted(k for k in state.vars if isinstance(k, str) and cell_root(k) == root):
            self.write_bits(state, f"{RETURNED}{key[len(root):]}", state.vars[key])
        zeroed = 1 if root in self.zeroed_cells else 0
        self.write_bits(state, f"{RETURNED}#zeroed", z3.BitVecVal(zeroed, 64))
        return state

    def cell_initial(self, path: str) -> z3.BitVecRef | None:
        """A member of the checked function's struct parameter: an input shared by both
        sides, named by the parameter (by position) and the member (`state.exit_rcu`)."""
        root = cell_root(path)
        if root in self.zeroed_cells:
            return z3.BitVecVal(0, 64)
        name = self.struct_params.get(root)
        if name is None:
            return None
        shown = name + path[len(root):]
        sym = z3.BitVec(f"mem:{shown}", 64)
        self.inputs[shown] = sym
        return sym

    def cell_base(self, var: int) -> str:
        """The path prefix of the cells of local `var` in the current activation."""
        return f"{LOCAL_CELL}{self.frame.activation}:{var}"

    def exec_if(self, s: ir.If, state: State) -> State:
        if state.dead:
            cond = FALSE
        else:
            cond, state = self.eval_cond(s.cond, state)
        mark = len(self.departures)
        self.branches.append(s.cond.loc or s.loc)
        try:
            then_state = self.exec_stmt(s.then, state.copy(mk_and(state.guard, cond)))
            else_state = state.copy(mk_and(state.guard, mk_not(cond)))
            if s.other is not None:
                else_state = self.exec_stmt(s.other, else_state)
        finally:
            self.branches.pop()
        merged = self.join([then_state, else_state], state)
        return self.close(merged, state, mark, self.labels_in(s))

    def exec_return(self, s: ir.Return, state: State) -> State:
        ret = self.frame.function.ret
        value = None
        if ret.kind == "struct" and s.value is not None:
            state = self.return_struct(s.value, state)
            if not state.dead:
                self.frame.returns.append((state, None))
                self.depart(RETURN, state)
            return state.copy(FALSE)
        if s.value is not None:
            value, state = self.eval(s.value, state)
        elif ret.kind != "void":
            value = Value(self.uninit.fresh(ret.width), ret)
        if not state.dead:
            self.frame.returns.append((state, value))
            self.depart(RETURN, state)
        return state.copy(FALSE)

    def exec_goto(self, s: ir.Goto, state: State) -> State:
        return self._jump("label", s.target, state)

    def exec_break(self, s: ir.Break, state: State) -> State:
        return self._jump("break", s.target, state)

    def exec_continue(self, s: ir.Continue, state: State) -> State:
        return self._jump("continue", s.target, state)

    def _jump(self, kind: str, target: int, state: State) -> State:
        if not state.dead:
            self.frame.sink(kind, target).append(state)
            self.depart(target, state)
        return state.copy(FALSE)

    def exec_label(self, s: ir.Label, state: State) -> State:
        arriving = self.frame.sinks.pop(("label", s.ident), [])
        state = self.join([state] + arriving, state)
        return self.exec_stmt(s.stmt, state)

    def exec_loop(self, s: ir.Loop, state: State) -> State:
        """Unroll a loop up to the unwind bound; record where it could run longer."""
        if self.options.summarize_loops and not self.in_iteration and not state.dead:
            return self.summarize_loop(s, state)
        exits: list[State] = []
        entry, mark = state, len(self.departures)
        bound = self.options.unwind
        continues = self.frame.sink("continue", s.ident)
        self.branches.append(s.cond.loc if s.cond is not None else s.loc)
        try:
            exits, state = self._unroll(s, state, bound, exits, continues)
        finally:
            self.branches.pop()
        breaks = self.frame.sinks.pop(("break", s.ident), [])
        self.frame.sinks.pop(("continue", s.ident), None)
        merged = self.join(exits + breaks, state)
        return self.close(merged, entry, mark, self.labels_in(s))

    def _unroll(self, s: ir.Loop, state: State, bound: int, exits: list[State],
                continues: list[State]) -> tuple[list[State], State]:
        for iteration in range(bound + 1):
            if not state.dead and not self.in_iteration:
                self.heads.append(LoopHead(s.loc, iteration + 1, state.guard, state.flags))
            if (s.test_first or iteration > 0) and s.cond is not None and not state.dead:
                c, state = self.eval_cond(s.cond, state)
                exits.append(state.copy(mk_and(state.guard, mk_not(c))))
                state = state.copy(mk_and(state.guard, c))
            if state.dead and not self.has_label(s.body):
                break
            if iteration == bound:
                if not state.dead:
                    self.cut(state, LoopBound(state.guard, s.loc))
                break
            state = self.exec_stmt(s.body, state)
            state = self.join([state] + continues, state)
            continues.clear()
            if s.step is not None and not state.dead:
                _, state = self.eval(s.step, state, discard=True)
        return exits, state

    def exec_switch(self, s: ir.Switch, state: State) -> State:
        if state.dead and not self.has_label(s):
            return state
        value, state = self.eval(s.value, state)
        mark = len(self.departures)
        entries: dict[int, State] = {}
        no_match = state.guard
        default: int | None = None
        labels = self.switch_labels(s, value, state)
        for k, item in enumerate(s.body):
            if not isinstance(item, ir.CaseLabel):
                continue
            if k not in labels:
                default = k
                continue
            hit = value.term == labels[k]
            entries[k] = state.copy(mk_and(no_match, hit))
            no_match = mk_and(no_match, mk_not(hit))
        leftovers = [state.copy(no_match)]
        if default is not None:
            entries[default] = leftovers.pop()
        current = state.copy(FALSE)
        self.branches.append(s.value.loc or s.loc)
        try:
            for k, item in enumerate(s.body):
                if isinstance(item, ir.CaseLabel):
                    current = self.join([current, entries[k]], current)
                else:
                    current = self.exec_stmt(item, current)
        finally:
            self.branches.pop()
        breaks = self.frame.sinks.pop(("break", s.ident), [])
        merged = self.join([current] + breaks + leftovers, state)
        return self.close(merged, state, mark, self.labels_in(s))

    def switch_labels(self, s: ir.Switch, value: Value, state: State) -> dict[int, z3.ExprRef]:
        """The value of each case label, by position in the body.  A label built from
        undeclared identifiers is a term over them; C requires the labels of a switch
        to be distinct, which is recorded as a fact of the check (README)."""
        out: dict[int, z3.ExprRef] = {}
        for k, item in enumerate(s.body):
            if not isinstance(item, ir.CaseLabel):
                continue
            if item.value is not None:
                out[k] = z3.BitVecVal(item.value, value.term.size())
            elif item.opaque is not None:
                out[k] = self.eval(item.opaque, state)[0].term
        if len(out) > 1 and any(item.opaque is not None for item in s.body
                                if isinstance(item, ir.CaseLabel)):
            where = str(s.loc) if s.loc is not None else "?"
            self.assumptions.append((f"{C_RULE_PREFIX}case labels of the switch at {where} "
                                     f"are distinct", z3.Distinct(*out.values())))
        return out

    def exec_case_label(self, s: ir.CaseLabel, state: State) -> State:
        raise error_at(s.loc, "case label outside its switch")  # the lowering prevents it

    def summarize_loop(self, s: ir.Loop, state: State) -> State:
        raise NotImplementedError  # equiv.semantics.loops

    # ---- expressions (see equiv.semantics.expressions) ------------------------------------------
    def eval(self, e: ir.Expr, state: State, discard: bool = False) -> tuple[Value, State]:
        raise NotImplementedError

    def eval_cond(self, e: ir.Expr, state: State) -> tuple[z3.BoolRef, State]:
        raise NotImplementedError

    def flags_observed(self, state: State) -> None:
        raise NotImplementedError


def _targets(s: ir.Stmt, labels_only: bool = False) -> list[int]:
    """The ids of labels, loops and switches inside `s` (itself included)."""
    out: list[int] = []
    stack: list[ir.Stmt] = [s]
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Label):
            out.append(node.ident)
            stack.append(node.stmt)
        elif isinstance(node, ir.Loop):
            out += [] if labels_only else [node.ident]
            stack.append(node.body)
        elif isinstance(node, ir.Switch):
            out += [] if labels_only else [node.ident]
            stack.extend(node.body)
        elif isinstance(node, ir.Block):
            stack.extend(node.items)
        elif isinstance(node, ir.If):
            stack.append(node.then)
            if node.other is not None:
                stack.append(node.other)
    return out


_STMT: dict[type, Callable[..., State]] = {
    ir.Block: StatementExecutor.exec_block,
    ir.Nop: StatementExecutor.exec_nop,
    ir.ExprStmt: StatementExecutor.exec_expr_stmt,
    ir.Declare: StatementExecutor.exec_declare,
    ir.DeclareCells: StatementExecutor.exec_declare_cells,
    ir.If: StatementExecutor.exec_if,
    ir.Return: StatementExecutor.exec_return,
    ir.Goto: StatementExecutor.exec_goto,
    ir.Break: StatementExecutor.exec_break,
    ir.Continue: StatementExecutor.exec_continue,
    ir.Label: StatementExecutor.exec_label,
    ir.Loop: StatementExecutor.exec_loop,
    ir.Switch: StatementExecutor.exec_switch,
    ir.CaseLabel: StatementExecutor.exec_case_label,
}

__all__ = [
    "StatementExecutor",
    "bool_value",
    "convert",
    "ext64",
    "int_value",
    "is_local_cell",
    "cell_root",
    "truth",
    "unsupported_at",
]
