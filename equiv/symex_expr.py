"""Expressions for the symbolic executor: C integer semantics, exactly.

Integer promotions, the usual arithmetic conversions, truncation on
assignment, signed and unsigned comparison, shifts, short-circuit `&&`/`||`
(the right operand runs only on the paths where it is evaluated), `?:`,
comma, compound assignment, `++`/`--`, casts and calls.  Operands are
evaluated left to right.  Signed arithmetic wraps, as the kernel builds
with -fno-strict-overflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from equiv import ctypes_model as ct
from equiv.program import located_error, location, unsupported_at
from equiv.state import FALSE, State, Value, const_bool, mk_and, mk_ite, mk_not, mk_or
from equiv.symex import (CURRENT, FLAG_WORD, THREAD_INFO, Event, SideExecutor, bool_value, convert,
                         ext64, int_value, truth)

_COMPARE = {"<", "<=", ">", ">=", "==", "!="}
_ARITH = {"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"}
_INTRINSIC_ROOTS = {"__equiv_thread_info": THREAD_INFO, "__equiv_current": CURRENT}


@dataclass(frozen=True)
class LValue:
    """Where an assignment goes: a local ("var"), memory ("mem") or the flag word."""

    kind: str
    ctype: ct.CType
    ident: int = 0
    path: str = ""


class Executor(SideExecutor):
    """The side executor with expression evaluation."""

    # ---- dispatch ------------------------------------------------------------
    def eval(self, node: Any, state: State) -> tuple[Value, State]:
        kind = type(node).__name__
        handler = getattr(self, f"expr_{kind}", None)
        if handler is None:
            raise unsupported_at(node, _EXPR_NAMES.get(kind, f"expression '{kind}'"))
        result: tuple[Value, State] = handler(node, state)
        return result

    def eval_cond(self, node: Any, state: State) -> tuple[z3.BoolRef, State]:
        """The expression as a z3 Bool (C's `!= 0`)."""
        kind = type(node).__name__
        if kind == "BinaryOp" and node.op in _COMPARE:
            a, state = self.eval(node.left, state)
            b, state = self.eval(node.right, state)
            return self.compare(node, node.op, a, b), state
        if kind == "BinaryOp" and node.op in ("&&", "||"):
            return self.logical(node, state)
        if kind == "UnaryOp" and node.op == "!":
            c, state = self.eval_cond(node.expr, state)
            return mk_not(c), state
        v, state = self.eval(node, state)
        return truth(v, node), state

    # ---- leaves --------------------------------------------------------------
    def expr_Constant(self, node: Any, state: State) -> tuple[Value, State]:
        if ct.is_integer_literal_kind(node.type):
            value, t = ct.literal_type(node.value)
            return int_value(value, t), state
        if node.type == "char":
            return int_value(self.program.const_int(node), ct.INT), state
        if node.type in ("float", "double"):
            raise unsupported_at(node, "floating point")
        raise unsupported_at(node, f"{node.type} literal")

    def expr_ID(self, node: Any, state: State) -> tuple[Value, State]:
        name = node.name
        info = self.frame.lookup(name)
        if info is not None:
            term = state.vars.get(info.ident)
            if term is None:
                term = state.vars[info.ident] = self.uninit.fresh(info.ctype.width)
            return Value(term, info.ctype, self.pointer_paths.get(info.ident)), state
        if name in self.program.enums:
            return int_value(self.program.enums[name]), state
        if name in self.program.globals:
            t = self.program.globals[name]
            if t.kind not in ("int", "ptr"):
                raise unsupported_at(node, f"global '{name}' of type {t.name or t.kind}")
            return self.read_memory(state, name, t), state
        if name in self.program.functions or name in self.program.signatures:
            raise unsupported_at(node, f"function '{name}' used as a value (function pointer)")
        if name.startswith("CONFIG_"):
            return bool_value(self.config(name)), state
        raise located_error(node, f"'{name}' undeclared")

    def config(self, name: str) -> z3.BoolRef:
        """The symbolic switch for `CONFIG_X`, shared by both sides."""
        return self.configs.setdefault(name, z3.Bool(name))

    # ---- operators -------------------------------------------------------------
    def expr_BinaryOp(self, node: Any, state: State) -> tuple[Value, State]:
        op = node.op
        if op in ("&&", "||") or op in _COMPARE:
            c, state = self.eval_cond(node, state)
            return bool_value(c), state
        if op not in _ARITH:
            raise unsupported_at(node, f"operator '{op}'")
        a, state = self.eval(node.left, state)
        b, state = self.eval(node.right, state)
        return self.arith(node, op, a, b), state

    def logical(self, node: Any, state: State) -> tuple[z3.BoolRef, State]:
        """Short-circuit `&&`/`||`: the right side runs only where it is reached."""
        left, state = self.eval_cond(node.left, state)
        runs_right = left if node.op == "&&" else mk_not(left)
        skip = state.copy(mk_and(state.guard, mk_not(runs_right)))
        right_state = state.copy(mk_and(state.guard, runs_right))
        right = FALSE
        mark = self.marks()
        if not right_state.dead:
            right, right_state = self.eval_cond(node.right, right_state)
        merged = self.join([skip, right_state], state)
        self.keep_guard(merged, state, mark, cuts_only=True)
        if node.op == "&&":
            return mk_and(left, right), merged
        return mk_or(left, right), merged

    def compare(self, node: Any, op: str, a: Value, b: Value) -> z3.BoolRef:
        if a.ctype.kind == "ptr" or b.ctype.kind == "ptr":
            if op not in ("==", "!="):
                raise unsupported_at(node, "ordered comparison of pointers")
            x, y = _as_u64(a, node), _as_u64(b, node)
            return x == y if op == "==" else x != y
        t = ct.usual_arithmetic(self._int(a, node), self._int(b, node))
        x, y = convert(a, t, node).term, convert(b, t, node).term
        if z3.is_bv_value(x) and z3.is_bv_value(y):
            return const_bool(_fold_compare(op, x, y, t.signed))
        if op == "==":
            return x == y
        if op == "!=":
            return x != y
        if t.signed:
            return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
        return {"<": z3.ULT(x, y), "<=": z3.ULE(x, y), ">": z3.UGT(x, y),
                ">=": z3.UGE(x, y)}[op]

    def _int(self, v: Value, node: Any) -> ct.CType:
        if v.ctype.kind != "int":
            raise unsupported_at(node, f"arithmetic on {v.ctype.name or v.ctype.kind}")
        return v.ctype

    def arith(self, node: Any, op: str, a: Value, b: Value) -> Value:
        if a.ctype.kind == "ptr" or b.ctype.kind == "ptr":
            raise unsupported_at(node, "pointer arithmetic")
        if op in ("<<", ">>"):
            return self.shift(node, op, a, b)
        t = ct.usual_arithmetic(self._int(a, node), self._int(b, node))
        x, y = convert(a, t, node).term, convert(b, t, node).term
        if op in ("/", "%"):
            return Value(self.divide(node, op, x, y, t), t)
        term = {"+": lambda: x + y, "-": lambda: x - y, "*": lambda: x * y,
                "&": lambda: x & y, "|": lambda: x | y, "^": lambda: x ^ y}[op]()
        return Value(_fold(term, x, y), t)

    def shift(self, node: Any, op: str, a: Value, b: Value) -> Value:
        t = ct.promote(self._int(a, node))
        x = convert(a, t, node).term
        count = z3.simplify(ext64(convert(b, ct.promote(self._int(b, node)), node)))
        if z3.is_bv_value(count):
            n = count.as_signed_long()
            if not 0 <= n < t.width:
                raise located_error(node, f"shift by {n} is undefined for {t.name} "
                                          f"({t.width} bits)")
        y = z3.Extract(t.width - 1, 0, count) if t.width < 64 else count
        if op == "<<":
            return Value(_fold(x << y, x, y), t)
        return Value(_fold(x >> y if t.signed else z3.LShR(x, y), x, y), t)

    def divide(self, node: Any, op: str, x: z3.BitVecRef, y: z3.BitVecRef,
               t: ct.CType) -> z3.BitVecRef:
        divisor = z3.simplify(y)
        if not z3.is_bv_value(divisor) or divisor.as_long() == 0:
            raise unsupported_at(node, "division by a non-constant or zero divisor")
        if t.signed:
            return x / y if op == "/" else z3.SRem(x, y)
        return z3.UDiv(x, y) if op == "/" else z3.URem(x, y)

    def expr_UnaryOp(self, node: Any, state: State) -> tuple[Value, State]:
        op = node.op
        if op == "!":
            c, state = self.eval_cond(node.expr, state)
            return bool_value(mk_not(c)), state
        if op == "sizeof":
            return self.sizeof(node.expr, state), state
        if op in ("++", "--", "p++", "p--"):
            return self.increment(node, state)
        if op == "*":
            return self.deref(node, state)
        if op == "&":
            raise unsupported_at(node, "taking an address (&)")
        v, state = self.eval(node.expr, state)
        t = ct.promote(self._int(v, node))
        x = convert(v, t, node).term
        if op == "-":
            return Value(-x, t), state
        if op == "+":
            return Value(x, t), state
        if op == "~":
            return Value(~x, t), state
        raise unsupported_at(node, f"operator '{op}'")

    def sizeof(self, expr: Any, state: State) -> Value:
        kind = type(expr).__name__
        if kind == "Typename":
            t = self.program.resolve(expr.type)
        elif kind == "ID" and self.frame.lookup(expr.name) is not None:
            info = self.frame.lookup(expr.name)
            assert info is not None
            t = info.ctype
        else:
            raise unsupported_at(expr, "sizeof of this operand")
        if t.kind not in ("int", "ptr"):
            raise unsupported_at(expr, f"sizeof({t.name or t.kind})")
        return int_value(t.width // 8, ct.ULONG)

    def increment(self, node: Any, state: State) -> tuple[Value, State]:
        lv, state = self.lvalue(node.expr, state)
        old = self.load(lv, state)
        delta = int_value(1)
        new = self.arith(node, "+" if "+" in node.op else "-", old, delta)
        self.store(lv, convert(new, lv.ctype, node), state)
        if node.op.startswith("p"):
            return old, state
        return self.load(lv, state), state

    def expr_TernaryOp(self, node: Any, state: State) -> tuple[Value, State]:
        c, state = self.eval_cond(node.cond, state)
        yes = state.copy(mk_and(state.guard, c))
        no = state.copy(mk_and(state.guard, mk_not(c)))
        a = b = None
        mark = self.marks()
        if not yes.dead:
            a, yes = self.eval(node.iftrue, yes)
        if not no.dead:
            b, no = self.eval(node.iffalse, no)
        merged = self.join([yes, no], state)
        self.keep_guard(merged, state, mark, cuts_only=True)
        if a is None and b is None:
            return int_value(0), merged
        t = self._conditional_type(node, a, b)
        if t.kind == "void":
            return Value(z3.BitVecVal(0, 8), t), merged
        ta = convert(a, t, node).term if a is not None else None
        tb = convert(b, t, node).term if b is not None else None
        term = ta if tb is None else tb if ta is None else mk_ite(c, ta, tb)
        assert term is not None
        path = a.path if a is not None and b is not None and a.path == b.path else None
        return Value(term, t, path), merged

    def _conditional_type(self, node: Any, a: Value | None, b: Value | None) -> ct.CType:
        types = [v.ctype for v in (a, b) if v is not None]
        if any(t.kind == "void" for t in types):
            return ct.VOID
        if any(t.kind == "ptr" for t in types):
            return next(t for t in types if t.kind == "ptr")
        if len(types) == 1:
            return ct.promote(types[0])
        return ct.usual_arithmetic(types[0], types[1])

    def expr_ExprList(self, node: Any, state: State) -> tuple[Value, State]:
        value = int_value(0)
        for expr in node.exprs:
            value, state = self.eval(expr, state)
        return value, state

    def expr_Cast(self, node: Any, state: State) -> tuple[Value, State]:
        t = self.program.resolve(node.to_type)
        v, state = self.eval(node.expr, state)
        if t.kind == "void":
            return Value(z3.BitVecVal(0, 8), ct.VOID), state
        if t.kind == "fnptr":
            raise unsupported_at(node, "cast to a function pointer")
        out = convert(v, t, node)
        if t.kind == "ptr" and v.path is not None and v.ctype.kind == "ptr":
            out = Value(out.term, t, v.path)
        return out, state

    # ---- assignment and places --------------------------------------------------
    def expr_Assignment(self, node: Any, state: State) -> tuple[Value, State]:
        lv, state = self.lvalue(node.lvalue, state)
        rhs, state = self.eval(node.rvalue, state)
        if node.op != "=":
            old = self.load(lv, state)
            rhs = self.arith(node, node.op[:-1], old, rhs)
        if lv.ctype.kind == "ptr" and lv.kind == "mem":
            raise unsupported_at(node, "storing a pointer in memory")
        value = convert(rhs, lv.ctype, node)
        if lv.kind == "var" and value.ctype.kind == "ptr":
            self.note_pointer(lv.ident, rhs.path)
        self.store(lv, value, state)
        return self.load(lv, state), state

    def lvalue(self, node: Any, state: State) -> tuple[LValue, State]:
        kind = type(node).__name__
        if kind == "ID":
            info = self.frame.lookup(node.name)
            if info is not None:
                return LValue("var", info.ctype, ident=info.ident), state
            if node.name in self.program.globals:
                return LValue("mem", self.program.globals[node.name], path=node.name), state
            raise located_error(node, f"'{node.name}' undeclared or not assignable")
        if kind in ("StructRef", "ArrayRef"):
            return self.place(node, state)
        if kind == "UnaryOp" and node.op == "*":
            base, state = self.eval(node.expr, state)
            return self._deref_place(node, base), state
        raise unsupported_at(node, f"assignment to {_EXPR_NAMES.get(kind, kind)}")

    def place(self, node: Any, state: State) -> tuple[LValue, State]:
        """The memory cell named by `p->f`, `s.f` or `a[k]`."""
        if type(node).__name__ == "ArrayRef":
            base, state = self.place(node.name, state) if type(node.name).__name__ in (
                "StructRef", "ArrayRef") else (None, state)
            if base is None or base.ctype.kind != "array":
                raise unsupported_at(node, "indexing anything but an array member")
            index, state = self.eval(node.subscript, state)
            k = z3.simplify(index.term)
            if not z3.is_bv_value(k):
                raise unsupported_at(node, "array index that is not a constant")
            elem = base.ctype.elem or ct.LONG
            return LValue("mem", elem, path=f"{base.path}[{k.as_long()}]"), state
        field = node.field.name
        if node.type == "->":
            pointer, state = self.eval(node.name, state)
            if pointer.ctype.kind not in ("ptr", "int") or pointer.path is None:
                raise unsupported_at(node, "'->' on a pointer equiv cannot name "
                                           "(only parameters, current and members)")
            container, path = pointer.ctype.target, pointer.path
        else:
            inner, state = self.lvalue(node.name, state)
            if inner.kind != "mem":
                raise unsupported_at(node, "struct-typed local variable")
            container, path = inner.ctype.target, inner.path
        if field == "flags" and (path == THREAD_INFO or container == "thread_info"):
            return LValue("flags", ct.ULONG), state
        if field == "syscall_work" and self.options.param_word != FLAG_WORD and (
                path == THREAD_INFO or container == "thread_info"):
            return LValue("word2", ct.ULONG), state
        sep = "->" if node.type == "->" else "."
        t = self.program.field_type(container, field)
        return LValue("mem", t, path=f"{path}{sep}{field}"), state

    def _deref_place(self, node: Any, base: Value) -> LValue:
        if base.ctype.kind != "ptr" or base.path is None:
            raise unsupported_at(node, "dereference of a pointer equiv cannot name")
        elem = base.ctype.elem or ct.LONG
        if elem.kind == "struct":
            return LValue("mem", elem, path=f"{base.path}->")
        return LValue("mem", elem, path=f"*{base.path}")

    def deref(self, node: Any, state: State) -> tuple[Value, State]:
        base, state = self.eval(node.expr, state)
        lv = self._deref_place(node, base)
        if lv.ctype.kind == "struct":
            raise unsupported_at(node, "struct value")
        return self.load(lv, state), state

    def load(self, lv: LValue, state: State) -> Value:
        if lv.kind == "var":
            term = state.vars.get(lv.ident)
            if term is None:
                term = state.vars[lv.ident] = self.uninit.fresh(lv.ctype.width)
            return Value(term, lv.ctype, self.pointer_paths.get(lv.ident))
        if lv.kind == "flags":
            if self.options.racy_flags:
                self.racy_read(state)
            return Value(state.flags, ct.ULONG)
        if lv.kind == "word2":
            return Value(z3.BitVec(self.options.param_word, 64), ct.ULONG)
        if lv.ctype.kind not in ("int", "ptr"):
            raise located_error(None, f"cannot read {lv.path} of type {lv.ctype.name}")
        return self.read_memory(state, lv.path, lv.ctype)

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

    def store(self, lv: LValue, v: Value, state: State) -> None:
        if state.dead:
            return
        if lv.kind == "var":
            state.vars[lv.ident] = v.term
        elif lv.kind == "flags":
            state.flags = convert(v, ct.ULONG).term
            self.flags_written = True
        elif lv.kind == "word2":
            raise located_error(None, "writing the mapped flag word is not supported")
        else:
            self.write_memory(state, lv.path, v)

    def expr_StructRef(self, node: Any, state: State) -> tuple[Value, State]:
        lv, state = self.place(node, state)
        if lv.ctype.kind in ("struct", "array"):
            return Value(z3.BitVecVal(0, 64), lv.ctype, lv.path), state
        return self.load(lv, state), state

    def expr_ArrayRef(self, node: Any, state: State) -> tuple[Value, State]:
        lv, state = self.place(node, state)
        return self.load(lv, state), state

    # ---- calls -------------------------------------------------------------------
    def expr_FuncCall(self, node: Any, state: State) -> tuple[Value, State]:
        if type(node.name).__name__ != "ID" or self.frame.lookup(node.name.name) is not None:
            raise unsupported_at(node, "call through a function pointer")
        name = node.name.name
        arg_nodes = list(node.args.exprs) if node.args is not None else []
        intrinsic = getattr(self, f"intrinsic{name}", None)
        if intrinsic is not None:
            result: tuple[Value, State] = intrinsic(node, arg_nodes, state)
            return result
        args: list[Value] = []
        for arg in arg_nodes:
            v, state = self.eval(arg, state)
            args.append(v)
        if name in self.program.functions:
            mark = self.marks()
            ret, after = self.inline(name, args, state, node)
            after = after if after is not None else state.copy(FALSE)
            self.keep_guard(after, state, mark, cuts_only=True)
            return (ret if ret is not None else int_value(0)), after
        return self.external_call(node, name, args, state)

    def external_call(self, node: Any, name: str, args: list[Value],
                      state: State) -> tuple[Value, State]:
        """A call the fragment does not define: an observable event."""
        sig = self.program.signatures.get(name)
        converted = []
        for i, v in enumerate(args):
            if sig is not None and i < len(sig.params):
                v = convert(v, sig.params[i][1], node)
            elif v.ctype.kind == "int":
                v = convert(v, ct.promote(v.ctype), node)
            converted.append(v)
        ret_type = sig.ret if sig is not None else ct.LONG
        index = len(self.events)
        result = None
        if ret_type.kind in ("int", "ptr"):
            result = z3.BitVec(f"{self.prefix}:{name}#{index}", 64)
        if state.dead:
            return Value(z3.BitVecVal(0, 64), ret_type), state
        snapshot = state.copy()
        self.events.append(Event(index, state.guard, name, tuple(ext64(v) for v in converted),
                                 tuple(v.ctype for v in converted), self.user_location(node),
                                 result, flags_at=state.flags,
                                 memory_at=lambda path: self._read_raw(snapshot, path)))
        state.mem = {}
        state.memver = z3.BitVecVal(index + 1, 32)
        state.versions = frozenset([index + 1])
        if result is None:
            return Value(z3.BitVecVal(0, 8), ct.VOID), state
        return convert(Value(result, ct.ULONG), ret_type), state

    def intrinsic__equiv_thread_info(self, node: Any, args: list[Any],
                                     state: State) -> tuple[Value, State]:
        return self.root_pointer(THREAD_INFO, ct.pointer_to(ct.struct_type("thread_info"))), state

    def intrinsic__equiv_current(self, node: Any, args: list[Any],
                                 state: State) -> tuple[Value, State]:
        return self.root_pointer(CURRENT, ct.pointer_to(ct.struct_type("task_struct"))), state

    def intrinsic__equiv_is_enabled(self, node: Any, args: list[Any],
                                    state: State) -> tuple[Value, State]:
        option = args[0]
        if type(option).__name__ == "ID" and option.name.startswith("CONFIG_") \
                and self.frame.lookup(option.name) is None:
            return bool_value(self.config(option.name)), state
        c, state = self.eval_cond(option, state)
        return bool_value(c), state

    def intrinsic__equiv_emit(self, node: Any, args: list[Any],
                              state: State) -> tuple[Value, State]:
        """`__equiv_emit("name", args...)`: a model's observable call named `name`."""
        if not args or type(args[0]).__name__ != "Constant" or args[0].type != "string":
            raise located_error(node, "__equiv_emit needs a string literal name first")
        values: list[Value] = []
        for arg in args[1:]:
            v, state = self.eval(arg, state)
            values.append(v)
        _, state = self.external_call(node, args[0].value.strip('"'), values, state)
        return Value(z3.BitVecVal(0, 8), ct.VOID), state

    def intrinsic__builtin_expect(self, node: Any, args: list[Any],
                                  state: State) -> tuple[Value, State]:
        if len(args) != 2:
            raise located_error(node, "__builtin_expect takes 2 arguments")
        v, state = self.eval(args[0], state)
        _, state = self.eval(args[1], state)
        return v, state

    def intrinsic__builtin_unreachable(self, node: Any, args: list[Any],
                                       state: State) -> tuple[Value, State]:
        # Reaching it is undefined behaviour: the paths that do are dropped.
        self.cuts += 1
        return Value(z3.BitVecVal(0, 8), ct.VOID), state.copy(FALSE)


def _fold(term: z3.BitVecRef, *operands: z3.BitVecRef) -> z3.BitVecRef:
    """Constant operands give a constant (so constant loop bounds end unrolling)."""
    if all(z3.is_bv_value(o) for o in operands):
        folded: z3.BitVecRef = z3.simplify(term)
        return folded
    return term


def _fold_compare(op: str, x: z3.BitVecNumRef, y: z3.BitVecNumRef, signed: bool) -> bool:
    a, b = (x.as_signed_long(), y.as_signed_long()) if signed else (x.as_long(), y.as_long())
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


def _as_u64(v: Value, node: Any) -> z3.BitVecRef:
    if v.ctype.kind not in ("int", "ptr"):
        raise located_error(node, "scalar value required")
    return ext64(v)


_EXPR_NAMES = {
    "Compound": "statement expression ({ ... })",
    "CompoundLiteral": "compound literal",
    "InitList": "initializer list",
    "Typename": "type name",
    "FuncDecl": "function declaration",
}

__all__ = ["Executor", "location"]
