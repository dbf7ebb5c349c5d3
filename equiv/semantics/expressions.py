"""Expressions of the IR as z3 terms: C integer semantics, exactly.

The lowering already applied C's typing rules, so each handler here only
builds the term of its node: operands arrive converted to the node's type.
Short-circuit `&&`/`||` and `?:` fork the state (the right operand runs only
on the paths where it is evaluated).  Signed arithmetic wraps, as the kernel
builds with -fno-strict-overflow.  A shift whose count may be outside the
type's width is undefined: those paths are cut and recorded, so a
difference that rests on them is never shown as real.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from equiv.errors import Location
from equiv.ir import ctypes_model as ct
from equiv.ir import nodes as ir
from equiv.ir.lower import string_value
from equiv.ir.unit import error_at
from equiv.semantics.executor import (
    VOID_VALUE,
    ArrayCells,
    Selection,
    bool_value,
    cell_root,
    convert,
    ext64,
    int_value,
    is_local_cell,
    truth,
)
from equiv.semantics.loops import LoopSummarizer
from equiv.semantics.state import (
    FALSE,
    State,
    Value,
    bv_num,
    bv_val,
    bv_var,
    mk_and,
    mk_ite,
    mk_not,
    mk_or,
    resolved,
)
from equiv.semantics.trace import (
    CURRENT,
    FLAG_WORD,
    FLAGS_HAVOC,
    OPAQUE_PREFIX,
    THREAD_INFO,
    Event,
    LoopBound,
)

Handler = Callable[..., "tuple[Value, State]"]


class Executor(LoopSummarizer):
    """The side executor with expression evaluation."""

    def eval(self, e: ir.Expr, state: State, discard: bool = False) -> tuple[Value, State]:
        if isinstance(e, ir.Call) and not e.inline:
            return self.external_call(e, state, want_result=not discard)
        handler = _EXPR[type(e)]
        return handler(self, e, state)

    def eval_cond(self, e: ir.Expr, state: State) -> tuple[z3.BoolRef, State]:
        """The expression as a z3 Bool (C's `!= 0`)."""
        if isinstance(e, ir.Compare):
            a, state = self.eval(e.left, state)
            b, state = self.eval(e.right, state)
            return compare(e.op, a.term, b.term, e.signed), state
        if isinstance(e, ir.Logical):
            return self.logical(e, state)
        if isinstance(e, ir.Not):
            c, state = self.eval_cond(e.operand, state)
            return mk_not(c), state
        v, state = self.eval(e, state)
        return truth(v), state

    # ---- leaves ------------------------------------------------------------------------
    def e_const(self, e: ir.Const, state: State) -> tuple[Value, State]:
        return Value(bv_val(e.value, e.ctype.width), e.ctype), state

    def e_str(self, e: ir.StrLit, state: State) -> tuple[Value, State]:
        return Value(z3.BitVecVal(string_value(e.text), 64), e.ctype), state

    def e_var(self, e: ir.VarRef, state: State) -> tuple[Value, State]:
        key = self.var_key(e.var)
        term = state.vars.get(key)
        if term is None:
            term = state.vars[key] = self.uninit.fresh(e.ctype.width)
        return Value(term, e.ctype, state.ptrs.get(key)), state

    def e_opaque(self, e: ir.OpaqueConst, state: State) -> tuple[Value, State]:
        """An undeclared identifier: one symbol for both sides, an input of the check."""
        sym = self.inputs.setdefault(e.name, z3.BitVec(f"{OPAQUE_PREFIX}{e.name}", 64))
        return Value(sym, e.ctype), state

    def e_config(self, e: ir.ConfigRef, state: State) -> tuple[Value, State]:
        return bool_value(self.configs.setdefault(e.name, z3.Bool(e.name))), state

    # ---- operators -----------------------------------------------------------------------
    def e_convert(self, e: ir.Convert, state: State) -> tuple[Value, State]:
        v, state = self.eval(e.operand, state)
        if e.ctype.kind == "void":
            return VOID_VALUE, state
        return convert(v, e.ctype), state

    def e_unary(self, e: ir.Unary, state: State) -> tuple[Value, State]:
        v, state = self.eval(e.operand, state)
        return Value(-v.term if e.op == "-" else ~v.term, e.ctype), state

    def e_not(self, e: ir.Not, state: State) -> tuple[Value, State]:
        c, state = self.eval_cond(e, state)
        return bool_value(c), state

    def e_binary(self, e: ir.Binary, state: State) -> tuple[Value, State]:
        a, state = self.eval(e.left, state)
        b, state = self.eval(e.right, state)
        x, y = a.term, b.term
        op, signed = e.op, e.ctype.signed
        if op in ("/", "%"):
            self.division_defined(e, x, y, signed, state)
        if op == "/":
            term = x / y if signed else z3.UDiv(x, y)
        elif op == "%":
            term = z3.SRem(x, y) if signed else z3.URem(x, y)
        else:
            term = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y,
                    "&": lambda: x & y, "|": lambda: x | y, "^": lambda: x ^ y}[op]()
        return Value(_fold(term, x, y), e.ctype), state

    def e_shift(self, e: ir.Shift, state: State) -> tuple[Value, State]:
        a, state = self.eval(e.left, state)
        n, state = self.eval(e.count, state)
        return self.shift(e, a, n, state), state

    def shift(self, e: ir.Expr, a: Value, n: Value, state: State) -> Value:
        """`a << n` or `a >> n` in a's type; paths with a count outside the width are cut."""
        op = e.op if isinstance(e, (ir.Shift, ir.CompoundAssign)) else "<<"
        width = a.ctype.width
        count = ext64(n)
        undefined = z3.UGE(count, z3.BitVecVal(width, 64))  # negative counts are huge unsigned
        undefined = z3.simplify(undefined)
        if not z3.is_false(undefined):
            bad = mk_and(state.guard, undefined)
            if z3.is_true(undefined):
                raise error_at(e.loc, f"shift by a count outside 0..{width - 1} is undefined "
                                      f"for {a.ctype.name}")
            self.exceeded.append(LoopBound(bad, e.loc, f"shift count may be outside "
                                                      f"0..{width - 1} (undefined behaviour)"))
        y = z3.Extract(width - 1, 0, count) if width < 64 else count
        x = a.term
        if op == "<<":
            return Value(_fold(x << y, x, y), a.ctype)
        return Value(_fold(x >> y if a.ctype.signed else z3.LShR(x, y), x, y), a.ctype)

    def division_defined(self, e: ir.Expr, x: z3.BitVecRef, y: z3.BitVecRef, signed: bool,
                         state: State) -> None:
        """`x / y` and `x % y` are undefined for y == 0 and, signed, for MIN / -1 (C
        leaves both undefined, -fwrapv or not, and x86 traps on both): those paths are
        cut and recorded, so a difference that rests on them is never shown as real."""
        undefined = y == 0
        if signed:
            width = x.size()
            undefined = z3.Or(undefined, z3.And(x == z3.BitVecVal(1 << (width - 1), width),
                                                y == z3.BitVecVal(-1, width)))
        undefined = z3.simplify(undefined)
        if z3.is_false(undefined):
            return
        if z3.is_true(undefined):
            raise error_at(e.loc, "division by zero (or of the minimum by -1) is undefined")
        self.exceeded.append(LoopBound(mk_and(state.guard, undefined), e.loc,
                                       "the divisor may be zero, or the division the minimum "
                                       "by -1 (undefined behaviour)"))

    def e_compare(self, e: ir.Compare, state: State) -> tuple[Value, State]:
        c, state = self.eval_cond(e, state)
        return bool_value(c), state

    def e_logical(self, e: ir.Logical, state: State) -> tuple[Value, State]:
        c, state = self.logical(e, state)
        return bool_value(c), state

    def logical(self, e: ir.Logical, state: State) -> tuple[z3.BoolRef, State]:
        """Short-circuit `&&`/`||`: the right side runs only where it is reached."""
        left, state = self.eval_cond(e.left, state)
        runs_right = left if e.op == "&&" else mk_not(left)
        skip = state.copy(mk_and(state.guard, mk_not(runs_right)))
        right_state = state.copy(mk_and(state.guard, runs_right))
        right = FALSE
        mark = len(self.departures)
        if not right_state.dead:
            self.branches.append(e.loc)
            try:
                right, right_state = self.eval_cond(e.right, right_state)
            finally:
                self.branches.pop()
        merged = self.close(self.join([skip, right_state], state), state, mark, frozenset())
        if e.op == "&&":
            return mk_and(left, right), merged
        return mk_or(left, right), merged

    def e_cond(self, e: ir.Cond, state: State) -> tuple[Value, State]:
        if e.then is None:  # GNU `c ?: b`: the condition's value, evaluated once
            v, state = self.eval(e.cond, state)
            c = truth(v)
            no = state.copy(mk_and(state.guard, mk_not(c)))
            mark = len(self.departures)
            other: Value | None = None
            if not no.dead:
                other, no = self.eval(e.other, no)
            yes = state.copy(mk_and(state.guard, c))
            merged = self.close(self.join([yes, no], state), state, mark, frozenset())
            kept = convert(v, e.ctype)
            term = kept.term if other is None else mk_ite(c, kept.term, other.term)
            return Value(term, e.ctype), merged
        c, state = self.eval_cond(e.cond, state)
        yes = state.copy(mk_and(state.guard, c))
        no = state.copy(mk_and(state.guard, mk_not(c)))
        a: Value | None = None
        b: Value | None = None
        mark = len(self.departures)
        self.branches.append(e.loc)
        try:
            if not yes.dead and e.then is not None:
                a, yes = self.eval(e.then, yes)
            if not no.dead:
                b, no = self.eval(e.other, no)
        finally:
            self.branches.pop()
        merged = self.close(self.join([yes, no], state), state, mark, frozenset())
        if e.ctype.kind == "void":
            return VOID_VALUE, merged
        if a is None and b is None:
            return Value(z3.BitVecVal(0, e.ctype.width), e.ctype), merged
        ta = a.term if a is not None else None
        tb = b.term if b is not None else None
        term = ta if tb is None else tb if ta is None else mk_ite(c, ta, tb)
        assert term is not None
        path = a.path if a is not None and b is not None and a.path == b.path else None
        return Value(term, e.ctype, path), merged

    def e_stmt_expr(self, e: ir.StmtExpr, state: State) -> tuple[Value, State]:
        state = self.exec_stmt(e.body, state)
        if e.result is None:
            return VOID_VALUE, state
        return self.eval(e.result, state)

    def e_comma(self, e: ir.Comma, state: State) -> tuple[Value, State]:
        value = VOID_VALUE
        for k, item in enumerate(e.items):
            value, state = self.eval(item, state, discard=k < len(e.items) - 1)
        return value, state

    # ---- assignment and places ------------------------------------------------------------
    def e_assign(self, e: ir.Assign, state: State) -> tuple[Value, State]:
        loc, state = self.locate(e.place, state)
        rhs, state = self.eval(e.value, state)
        self.store(e.place, loc, rhs, state)
        return self.load(e.place, loc, state), state

    def e_compound(self, e: ir.CompoundAssign, state: State) -> tuple[Value, State]:
        loc, state = self.locate(e.place, state)
        old = convert(self.load(e.place, loc, state), e.optype)
        rhs, state = self.eval(e.rhs, state)
        if e.op in ("<<", ">>"):
            new = self.shift(e, old, rhs, state)
        else:
            x, y = old.term, rhs.term
            signed = e.optype.signed
            if e.op in ("/", "%"):
                self.division_defined(e, x, y, signed, state)
            term = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y,
                    "&": lambda: x & y, "|": lambda: x | y, "^": lambda: x ^ y,
                    "/": lambda: x / y if signed else z3.UDiv(x, y),
                    "%": lambda: z3.SRem(x, y) if signed else z3.URem(x, y)}[e.op]()
            new = Value(_fold(term, x, y), e.optype)
        self.store(e.place, loc, convert(new, e.place.ctype), state)
        return self.load(e.place, loc, state), state

    def e_incdec(self, e: ir.IncDec, state: State) -> tuple[Value, State]:
        loc, state = self.locate(e.place, state)
        old = self.load(e.place, loc, state)
        x = convert(old, e.optype).term
        new = Value(_fold(x + z3.BitVecVal(e.delta, x.size()), x), e.optype)
        self.store(e.place, loc, convert(new, e.place.ctype), state)
        return (old if e.post else self.load(e.place, loc, state)), state

    def e_load(self, e: ir.Load, state: State) -> tuple[Value, State]:
        loc, state = self.locate(e.place, state)
        if e.ctype.kind in ("struct", "array"):
            raise error_at(e.loc, f"unsupported construct: {e.ctype.kind} value")
        return self.load(e.place, loc, state), state

    def locate(self, p: ir.Place, state: State) -> tuple[str, State]:
        """Where place `p` is: "var", "flags", "word2", or a memory cell's path."""
        if isinstance(p, ir.VarPlace):
            return (self.cell_base(p.var) if p.cell else "var"), state
        if isinstance(p, ir.GlobalPlace):
            return p.name, state
        if isinstance(p, ir.DerefPlace):
            ptr, state = self.eval(p.pointer, state)
            root = self.named(ptr, p)
            if is_local_cell(root):
                return root, state
            return self.element(pointed_array(root), 0), state
        if isinstance(p, ir.IndexPlace):
            array, state = self.indexed(p, state)
            if isinstance(p.index, ir.Const):
                return self.element(array, p.index.value), state
            return self.select(p, array, state)
        assert isinstance(p, ir.MemberPlace)
        if p.pointer is not None:
            ptr, state = self.eval(p.pointer, state)
            root = self.named(ptr, p)
            if is_local_cell(root):
                return (root if p.field.in_union else f"{root}.{p.field.name}"), state
            if root.endswith("[]"):  # p->f of a global array used as a value: a[0].f
                first = self.element(pointed_array(root), 0)
                return (first if p.field.in_union else f"{first}.{p.field.name}"), state
            if root == THREAD_INFO and p.field.name == "flags":
                return "flags", state
            if root == THREAD_INFO and p.field.name == "syscall_work" \
                    and self.options.param_word != FLAG_WORD:
                return "word2", state
            return (f"*{root}" if p.field.in_union else f"{root}->{p.field.name}"), state
        assert p.container is not None
        base, state = self.locate(p.container, state)
        if p.field.in_union:
            return base, state
        if base.startswith("*") and isinstance(p.container, ir.DerefPlace):
            return f"{base[1:]}->{p.field.name}", state  # (*p).f is p->f
        return f"{base}.{p.field.name}", state

    def indexed(self, p: ir.IndexPlace, state: State) -> tuple[ArrayCells, State]:
        """The array `p` indexes: a member, global or local array, or the array a
        pointer points into (a global array used as a value is that array)."""
        if isinstance(p.array, ir.DerefPlace):
            ptr, state = self.eval(p.array.pointer, state)
            root = self.named(ptr, p)
            if is_local_cell(root):
                raise error_at(p.loc, "unsupported construct: indexing a pointer to a local")
            return pointed_array(root), state
        base, state = self.locate(p.array, state)
        return ArrayCells(base), state

    def select(self, p: ir.IndexPlace, array: ArrayCells,
               state: State) -> tuple[str, State]:
        """`array[i]` for a symbolic `i`: a path with a `[?N]` that loads and stores expand.

        An index outside 0..length-1 is undefined behaviour: those paths are cut and
        recorded, so a difference that rests on them is never shown as real.  Into an
        array of unknown length there is no bound to check: an index that is one of
        a few constants on every path selects among those cells, as a constant index
        does; any other is read from the array's whole contents (`read_whole`), under
        the premise that the element exists.
        """
        if "[?" in array.base:
            raise error_at(p.loc, "unsupported construct: more than one array index that is "
                                  "not a constant in one place")
        value, state = self.eval(p.index, state)
        index = ext64(value)
        where = f"{array.base}[?{len(self.selections)}]"
        if p.length is None:
            found = constant_choices(index)
            if found is None:  # e.g. the low half of a wider cell: `int` through `&local`
                found = constant_choices(z3.simplify(index))
            if found is None:
                self.array_keys[array.key] = array.base
                self.arrays_read[array.base] = None
                self.selections.append(Selection(index, None, array))
                return where, state
            self.selections.append(Selection(index, tuple(sorted(found)), array))
            return where, state
        outside = z3.simplify(z3.UGE(index, z3.BitVecVal(p.length, 64)))
        if not z3.is_false(outside):
            if z3.is_true(outside):
                raise error_at(p.loc, f"array index is always outside 0..{p.length - 1}")
            self.exceeded.append(LoopBound(mk_and(state.guard, outside), p.loc,
                                           f"array index may be outside 0..{p.length - 1} "
                                           f"(undefined behaviour)"))
        self.selections.append(Selection(index, tuple(range(p.length)), array))
        return where, state

    def selected(self, where: str) -> tuple[Selection, str]:
        """The selection of the `[?N]` in `where`, and what follows it (`.member`)."""
        start = where.index("[?")
        end = where.index("]", start)
        return self.selections[int(where[start + 2:end])], where[end + 1:]

    def expand(self, where: str) -> list[tuple[int, str]]:
        """The paths a `[?N]` path stands for, one per value the index can take."""
        sel, rest = self.selected(where)
        assert sel.choices is not None
        return [(k, self.element(sel.array, k) + rest) for k in sel.choices]

    def selection(self, where: str) -> z3.BitVecRef:
        return self.selected(where)[0].index

    def load_whole(self, p: ir.Place, where: str, state: State) -> Value:
        """An element of an array of unknown length at an index that may be any."""
        sel, rest = self.selected(where)
        if rest:
            raise error_at(p.loc, "unsupported construct: member of an element at an index "
                                  "that is not a constant, in an array of unknown length")
        if p.ctype.kind not in ("int", "ptr", "opaque", "fnptr"):
            raise error_at(p.loc, f"unsupported construct: {p.ctype.kind} value")
        raw = self.read_whole(state, sel)
        width = p.ctype.width
        # A pointer read this way names no object equiv can follow.
        return Value(raw if width == 64 else z3.Extract(width - 1, 0, raw), p.ctype)

    def named(self, ptr: Value, p: ir.Place) -> str:
        if ptr.path is None:
            raise error_at(p.loc, "unsupported construct: dereference of a pointer equiv "
                                  "cannot name (only parameters, current and members)")
        return ptr.path

    def load(self, p: ir.Place, where: str, state: State) -> Value:
        if "[?" in where:
            if self.selected(where)[0].choices is None:
                return self.load_whole(p, where, state)
            index = self.selection(where)
            cells = self.expand(where)
            values = [(k, self.load(p, path, state)) for k, path in cells]
            term = values[-1][1].term
            for k, v in reversed(values[:-1]):
                term = mk_ite(index == k, v.term, term)
            paths = {v.path for _, v in values}
            return Value(term, values[0][1].ctype, paths.pop() if len(paths) == 1 else None)
        if where == "var":
            assert isinstance(p, ir.VarPlace)
            return self.e_var(ir.VarRef(p.ctype, p.loc, p.var, p.name), state)[0]
        if where == "flags":
            if self.options.racy_flags:
                self.racy_read(state)
            self.flags_observed(state)
            return convert(Value(state.flags, ct.ULONG), p.ctype)
        if where == "word2":
            return convert(Value(z3.BitVec(self.options.param_word, 64), ct.ULONG), p.ctype)
        g = self.unit.globals.get(where) if isinstance(p, ir.GlobalPlace) else None
        if g is not None and g.const and g.defined:
            return int_value(self.unit.global_init(where), g.ctype) if g.ctype.kind == "int" \
                else Value(z3.BitVecVal(self.unit.global_init(where), 64), g.ctype)
        bits = p.field.bits if isinstance(p, ir.MemberPlace) else None
        if bits is not None:
            raw = Value(self.read_bits(state, where, bits), _bits_type(bits, p.ctype.signed))
            return convert(raw, ct.INT if bits < 32 or p.ctype.signed else ct.UINT) \
                if not p.ctype.is_bool else convert(raw, ct.BOOL)
        if p.ctype.kind not in ("int", "ptr", "opaque", "fnptr"):
            raise error_at(p.loc, f"unsupported construct: {p.ctype.kind} value")
        term = self.read_bits(state, where, p.ctype.width)
        # A pointer read from memory names the object at that path; one kept in a
        # local's cell names nothing equiv can follow.
        named = p.ctype.kind == "ptr" and not is_local_cell(where)
        return Value(term, p.ctype, where if named else None)

    def store(self, p: ir.Place, where: str, v: Value, state: State) -> None:
        if "[?" in where and self.selected(where)[0].choices is None:
            raise error_at(p.loc, "unsupported construct: a write at an array index that is "
                                  "not a constant, into an array of unknown length")
        if state.dead:
            return
        if "[?" in where:
            index = self.selection(where)
            for k, path in self.expand(where):
                old = self.load(p, path, state)
                self.store(p, path, Value(mk_ite(index == k, v.term, old.term), v.ctype), state)
            return
        if where == "var":
            assert isinstance(p, ir.VarPlace)
            self.bind(p.var, v, state)
        elif where == "flags":
            state.flags = convert(v, ct.ULONG).term
            self.flags_written = True
        elif where == "word2":
            raise error_at(p.loc, "writing the mapped flag word is not supported")
        else:
            bits = p.field.bits if isinstance(p, ir.MemberPlace) else None
            term = v.term if bits is None else z3.Extract(bits - 1, 0, v.term)
            self.write_bits(state, where, term)
            if not is_local_cell(where):
                self.note_view(where, (term.size(), p.ctype.signed))

    def flags_observed(self, state: State) -> None:
        """The flag word is read: the calls that may have left it are linked across sides."""
        for index in sorted(resolved(state.flag_events)):
            event = self.events[index]
            word = z3.BitVec(f"{self.prefix}:flags@{index + 1}", 64)
            event.havoc.setdefault(FLAGS_HAVOC, word)
            if not self.in_iteration:
                self.inputs[f"flags after {event.name}() #{index + 1}"] = word
        if not self.in_iteration:
            # Every call in the set is now linked for good: linking it again adds
            # nothing, so the set restarts empty (it would otherwise grow with
            # every join and make a long function quadratic).
            state.flag_events = frozenset()

    def racy_read(self, state: State) -> None:
        """The n-th read may see bits others flipped since read n-1 (same on both sides)."""
        delta: z3.BitVecRef | None = None
        for n in sorted(state.read_counts, reverse=True):
            flip = z3.BitVecVal(0, 64)
            if n:
                flip = z3.BitVec(f"flags~changed#{n}", 64)
                self.inputs[f"flag bits flipped before read {n + 1}"] = flip
            delta = flip if delta is None else mk_ite(state.reads == n, flip, delta)
        assert delta is not None
        if not (z3.is_bv_value(delta) and delta.as_long() == 0):
            state.flags = state.flags ^ delta
        state.read_counts = frozenset(n + 1 for n in state.read_counts)
        state.reads = _fold(state.reads + 1, state.reads)

    # ---- calls ------------------------------------------------------------------------------
    def e_call(self, e: ir.Call, state: State) -> tuple[Value, State]:
        args: list[Value] = []
        for a in e.args:
            v, state = self.eval(a, state)
            args.append(v)
        mark = len(self.departures)
        ret, after = self.inline(self.unit.function(e.name), args, state, e.loc)
        return ret, self.close(after, state, mark, frozenset())

    def external_call(self, e: ir.Call, state: State, want_result: bool) -> tuple[Value, State]:
        """A call the side does not define: an observable event."""
        values: list[Value] = []
        for a in e.args:
            if isinstance(a, ir.StructArg):
                for member in a.members:
                    v, state = self.eval(member, state)
                    values.append(v)
                continue
            v, state = self.eval(a, state)
            values.append(v)
        return self.emit(e, e.name, values, state, want_result)

    def emit(self, e: ir.Expr, name: str, values: list[Value], state: State,
             want_result: bool) -> tuple[Value, State]:
        """An external call `name(values)` happens on the paths of `state`."""
        index = len(self.events)
        result = None
        if e.ctype.kind in ("int", "ptr") and want_result:
            result = bv_var(f"{self.prefix}:{name}#{index}", 64)
        if state.dead:
            return Value(z3.BitVecVal(0, max(e.ctype.width, 8)), e.ctype), state
        values, escaped = self.escaping(values, state)
        snapshot = state.copy()
        self.events.append(Event(index, state.guard, name, tuple(ext64(v) for v in values),
                                 tuple(v.ctype for v in values), self.user_location(e),
                                 result, flags_at=state.flags,
                                 memory_at=lambda path: self._read_raw(snapshot, path),
                                 branch=self.gating_branch()))
        if escaped:
            self.local_escapes[name] = None  # a premise of the verdict (README)
        for key, path in escaped:
            # The callee may write the local: it holds what the call left, a value
            # keyed like the call's result (the same on both sides for matched calls).
            sym = z3.BitVec(f"{self.prefix}:{name}#{index}:{key}", 64)
            self.events[-1].havoc[key] = sym
            state.vars[path] = sym
        state.mem = {}
        state.memver = bv_num(index + 1, 32)
        state.versions = frozenset([index + 1])
        if not self.options.stable_flags:
            # The callee may change the flag word (schedule() clears NEED_RESCHED,
            # other CPUs set bits): later reads see the word it leaves behind.
            state.flags = bv_var(f"{self.prefix}:flags@{index + 1}", 64)
            state.flag_events = frozenset([index])
            self.events[-1].flags_after = state.flags
        if e.ctype.kind == "void":
            return VOID_VALUE, state
        if result is None:
            return Value(self.uninit.fresh(e.ctype.width), e.ctype), state
        return convert(Value(result, ct.ULONG), e.ctype), state

    def escaping(self, values: list[Value],
                 state: State) -> tuple[list[Value], list[tuple[str, str]]]:
        """The arguments as the callee sees them, and the local cells it may write.

        A pointer to a local is passed as one token (the same for every local) followed
        by the local's initialized cells, each after its position in the local: the
        callee reads what the side wrote there.  Every cell of the local is returned
        as (havoc key, path): `<arg N>` plus the cell's path inside the local.
        """
        out: list[Value] = []
        escaped: list[tuple[str, str]] = []
        for position, v in enumerate(values):
            if v.path is None or not is_local_cell(v.path):
                out.append(v)
                continue
            root = cell_root(v.path)
            out.append(self.local_token())
            for k, suffix in enumerate(self.cell_layouts.get(root, ())):
                term = state.vars.get(root + suffix)
                if term is not None:
                    out += [int_value(k, ct.ULONG), Value(term, ct.ULONG)]
                escaped.append((f"<arg {position + 1}{suffix}>", root + suffix))
        return out, escaped

    def e_address(self, e: ir.AddressOf, state: State) -> tuple[Value, State]:
        """`&local`: a pointer equiv names by the local's cell path."""
        where, state = self.locate(e.place, state)
        if "[?" in where:
            raise error_at(e.loc, "unsupported construct: address of an array element whose "
                                  "index is not a constant")
        return Value(self.local_token().term, e.ctype, where), state

    def local_token(self) -> Value:
        """The value a callee is given for a pointer to a local: one token for every
        local, shown as `&local` (where each local is, is not observable here)."""
        # Distinct from the value of the string literal "&local".
        token = self.roots.setdefault("&local", z3.BitVecVal(string_value("&local") ^ 2, 64))
        return Value(token, ct.pointer_to(ct.VOID))

    def e_object(self, e: ir.ObjectAddress, state: State) -> tuple[Value, State]:
        """A global array as a pointer: one value for both sides, non-NULL and distinct
        from the other named objects; it names the array.  An undeclared one names
        the array too (a premise), but its value is the identifier's, unconstrained."""
        key = f"{e.name}[]"
        if not e.declared:
            self.objects[e.name] = None  # a premise of the verdict (README)
            return Value(z3.BitVec(f"{OPAQUE_PREFIX}{e.name}", 64), e.ctype, key), state
        sym = self.roots.setdefault(key, z3.BitVec(f"&{key}", 64))
        return Value(sym, e.ctype, key), state

    def e_indirect(self, e: ir.IndirectCall, state: State) -> tuple[Value, State]:
        """A call through a pointer: the event `(*fn)` with the pointer's value first."""
        pointer, state = self.eval(e.pointer, state)
        values = [Value(pointer.term, ct.ULONG)]
        for a in e.args:
            if isinstance(a, ir.StructArg):
                for member in a.members:
                    v, state = self.eval(member, state)
                    values.append(v)
                continue
            v, state = self.eval(a, state)
            values.append(v)
        return self.emit(e, "(*fn)", values, state, want_result=True)

    def e_asm(self, e: ir.AsmStmt, state: State) -> tuple[Value, State]:
        """`asm`: the event `asm "template"(inputs)`; each output then holds what the
        asm left, a fresh value keyed like a call's result."""
        values: list[Value] = []
        for a in e.inputs:
            v, state = self.eval(a, state)
            values.append(v)
        where: list[str] = []
        for place in e.outputs:
            loc, state = self.locate(place, state)
            where.append(loc)
        count = len(self.events)
        _, state = self.emit(e, f'asm "{e.template}"', values, state, want_result=False)
        if len(self.events) == count:  # no path reaches it
            return VOID_VALUE, state
        event = self.events[-1]
        for k, (place, loc) in enumerate(zip(e.outputs, where)):
            sym = z3.BitVec(f"{self.prefix}:asm#{event.index}:out{k + 1}", 64)
            event.havoc[f"<asm output {k + 1}>"] = sym
            self.store(place, loc, convert(Value(sym, ct.ULONG), place.ctype), state)
        return VOID_VALUE, state

    def user_location(self, e: ir.Expr):  # type: ignore[no-untyped-def]
        """Where a call happens in the user's files (a model's call: at its call site)."""
        paths = self.unit.side.paths
        if e.loc is not None and e.loc.file in paths:
            return e.loc
        for site in reversed(self.call_sites):
            if site is not None and site.file in paths:
                return site
        return e.loc

    def gating_branch(self) -> Location | None:
        """The innermost enclosing condition in the user's files."""
        paths = self.unit.side.paths
        for loc in reversed(self.branches):
            if loc is not None and loc.file in paths:
                return loc
        return None

    def e_struct_arg(self, e: ir.StructArg, state: State) -> tuple[Value, State]:
        raise error_at(e.loc, "unsupported construct: struct value")

    def e_intrinsic(self, e: ir.Intrinsic, state: State) -> tuple[Value, State]:
        args: list[Value] = []
        for a in e.args:
            v, state = self.eval(a, state)
            args.append(v)
        return _INTRINSICS[e.name](self, e, args, state)

    def i_thread_info(self, e: ir.Intrinsic, args: list[Value],
                      state: State) -> tuple[Value, State]:
        return self.root_pointer(THREAD_INFO, e.ctype), state

    def i_current(self, e: ir.Intrinsic, args: list[Value],
                  state: State) -> tuple[Value, State]:
        return self.root_pointer(CURRENT, e.ctype), state

    def i_unreachable(self, e: ir.Intrinsic, args: list[Value],
                      state: State) -> tuple[Value, State]:
        # Reaching it is undefined behaviour: the paths that do are dropped.
        if not state.dead:
            self.cut(state)
        return VOID_VALUE, state.copy(FALSE)

    def i_popcount(self, e: ir.Intrinsic, args: list[Value],
                   state: State) -> tuple[Value, State]:
        x = args[0].term
        bits = [z3.ZeroExt(31, z3.Extract(i, i, x)) for i in range(x.size())]
        total = bits[0]
        for b in bits[1:]:
            total = total + b
        return Value(_fold(total, x), ct.INT), state

    def i_parity(self, e: ir.Intrinsic, args: list[Value],
                 state: State) -> tuple[Value, State]:
        count, state = self.i_popcount(e, args, state)
        return Value(_fold(count.term & 1, count.term), ct.INT), state

    def i_ffs(self, e: ir.Intrinsic, args: list[Value], state: State) -> tuple[Value, State]:
        x = args[0].term
        result: z3.BitVecRef = z3.BitVecVal(0, 32)
        for i in reversed(range(x.size())):
            result = mk_ite(z3.Extract(i, i, x) == 1, z3.BitVecVal(i + 1, 32), result)
        return Value(_fold(result, x), ct.INT), state


def compare(op: str, x: z3.BitVecRef, y: z3.BitVecRef, signed: bool) -> z3.BoolRef:
    if z3.is_bv_value(x) and z3.is_bv_value(y):
        a, b = (x.as_signed_long(), y.as_signed_long()) if signed else (x.as_long(), y.as_long())
        holds = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b,
                 "!=": a != b}[op]
        return z3.BoolVal(True) if holds else FALSE
    if op == "==":
        return x == y
    if op == "!=":
        return x != y
    if signed:
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
    return {"<": z3.ULT(x, y), "<=": z3.ULE(x, y), ">": z3.UGT(x, y), ">=": z3.UGE(x, y)}[op]


MAX_CHOICES = 64  # values an index into an array of unknown length may take


def constant_choices(term: z3.BitVecRef) -> set[int] | None:
    """The values `term` can take when it is built of constants by `?:` and extensions
    (unsigned, as an index is compared), or None."""
    if z3.is_bv_value(term):
        return {term.as_long()}
    if z3.is_app_of(term, z3.Z3_OP_ITE):
        a, b = constant_choices(term.arg(1)), constant_choices(term.arg(2))
        if a is None or b is None or len(a | b) > MAX_CHOICES:
            return None
        return a | b
    kind = term.decl().kind() if z3.is_app(term) else None
    if kind == z3.Z3_OP_CONCAT:
        values = {0}
        for part in term.children():
            choices = constant_choices(part)
            if choices is None or len(values) * len(choices) > MAX_CHOICES:
                return None
            values = {(v << part.size()) | c for v in values for c in choices}
        return values
    if kind in (z3.Z3_OP_SIGN_EXT, z3.Z3_OP_ZERO_EXT, z3.Z3_OP_EXTRACT) and term.num_args() == 1:
        inner = term.arg(0)
        values = constant_choices(inner)
        if values is None:
            return None
        return {z3.simplify(z3.substitute(term, (inner, z3.BitVecVal(v, inner.size()))))
                .as_long() for v in values}
    return None


def pointed_array(root: str) -> ArrayCells:
    """The array a pointer naming `root` points into: a global array used as a
    value names itself (`NAME[]`), any other pointer the memory at it."""
    if root.endswith("[]"):
        return ArrayCells(root[:-2])
    return ArrayCells(root, pointer=True)


def _bits_type(bits: int, signed: bool) -> ct.CType:
    return ct.CType("int", bits, signed, 3, f"{'int' if signed else 'unsigned int'}:{bits}")


def _fold(term: z3.BitVecRef, *operands: z3.BitVecRef) -> z3.BitVecRef:
    """Constant operands give a constant (so constant loop bounds end unrolling)."""
    if all(z3.is_bv_value(o) for o in operands):
        folded: z3.BitVecRef = z3.simplify(term)
        return folded
    return term


_EXPR: dict[type, Handler] = {
    ir.Const: Executor.e_const, ir.StrLit: Executor.e_str, ir.VarRef: Executor.e_var,
    ir.ConfigRef: Executor.e_config, ir.OpaqueConst: Executor.e_opaque, ir.Convert: Executor.e_convert,
    ir.Unary: Executor.e_unary, ir.Not: Executor.e_not, ir.Binary: Executor.e_binary,
    ir.Shift: Executor.e_shift, ir.Compare: Executor.e_compare,
    ir.Logical: Executor.e_logical, ir.Cond: Executor.e_cond, ir.Comma: Executor.e_comma,
    ir.StmtExpr: Executor.e_stmt_expr,
    ir.Assign: Executor.e_assign, ir.CompoundAssign: Executor.e_compound,
    ir.IncDec: Executor.e_incdec, ir.Load: Executor.e_load, ir.Call: Executor.e_call,
    ir.StructArg: Executor.e_struct_arg, ir.Intrinsic: Executor.e_intrinsic,
    ir.AddressOf: Executor.e_address, ir.IndirectCall: Executor.e_indirect,
    ir.AsmStmt: Executor.e_asm, ir.ObjectAddress: Executor.e_object,
}

# The special functions (see equiv.ir.lower.INTRINSICS for their types).
_INTRINSICS: dict[str, Callable[..., tuple[Value, State]]] = {
    "__equiv_thread_info": Executor.i_thread_info,
    "__equiv_current": Executor.i_current,
    "__builtin_unreachable": Executor.i_unreachable,
    "__builtin_popcount": Executor.i_popcount,
    "__builtin_popcountl": Executor.i_popcount,
    "__builtin_popcountll": Executor.i_popcount,
    "__builtin_parity": Executor.i_parity,
    "__builtin_parityl": Executor.i_parity,
    "__builtin_parityll": Executor.i_parity,
    "__builtin_ffs": Executor.i_ffs,
    "__builtin_ffsl": Executor.i_ffs,
    "__builtin_ffsll": Executor.i_ffs,
}

__all__ = ["Executor"]
