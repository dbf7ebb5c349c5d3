"""Lowering: pycparser's AST of a function body to typed IR.

This is the whitelist of supported C.  Each construct is either lowered to
an IR node whose meaning is fixed (C's typing rules are applied here, once:
promotions, the usual arithmetic conversions, the types of literals,
enumerators and bit-fields) or refused with a located `unsupported
construct` error that names it.  Dispatch follows pycparser's visitor
convention (`expr_<NodeName>`, `stmt_<NodeName>`).
"""

from __future__ import annotations

import functools

import hashlib
from collections.abc import Callable
from typing import Any

from equiv.errors import InputError
from equiv.ir import ctypes_model as ct
from equiv.ir import nodes as ir
from equiv.ir import opaque
from equiv.ir.consteval import value_of
from equiv.ir.unit import GlobalVar, Unit, located_error, location, unsupported_at

COMPARE_OPS = frozenset({"<", "<=", ">", ">=", "==", "!="})
ARITH_OPS = frozenset({"+", "-", "*", "/", "%", "&", "|", "^"})
SHIFT_OPS = frozenset({"<<", ">>"})
SCALAR_KINDS = frozenset({"int", "ptr", "opaque", "fnptr"})  # held in one variable
MAX_CELLS = 512  # cells of one local array or struct

# Special functions: lowered to `Intrinsic` (or rewritten), never inlined or
# called.  Name -> (argument count, result type).  The executor defines each.
INTRINSICS: dict[str, tuple[int, ct.CType]] = {
    "__equiv_thread_info": (0, ct.pointer_to(ct.struct_type("thread_info"))),
    "__equiv_current": (0, ct.pointer_to(ct.struct_type("task_struct"))),
    "__builtin_unreachable": (0, ct.VOID),
    "__builtin_popcount": (1, ct.INT),
    "__builtin_popcountl": (1, ct.INT),
    "__builtin_popcountll": (1, ct.INT),
    "__builtin_parity": (1, ct.INT),
    "__builtin_parityl": (1, ct.INT),
    "__builtin_parityll": (1, ct.INT),
    "__builtin_ffs": (1, ct.INT),
    "__builtin_ffsl": (1, ct.INT),
    "__builtin_ffsll": (1, ct.INT),
}
# The argument type of each one-argument builtin.
_BUILTIN_ARG = {"": ct.UINT, "l": ct.ULONG, "ll": ct.ULLONG}


@functools.cache
def _handler(cls: type, prefix: str, kind: str) -> Callable[..., Any] | None:
    """The method of `cls` that lowers a pycparser node of class `kind` (found once)."""
    return getattr(cls, prefix + kind, None)


def lower_function(unit: Unit, funcdef: Any) -> ir.Function:
    """The IR of one function definition."""
    name = funcdef.decl.name
    sig = unit.signatures[name]
    if sig.ret.kind not in ("int", "ptr", "void", "struct"):
        raise unsupported_at(funcdef, f"function '{name}' returning {sig.ret.name or sig.ret.kind}")
    lw = Lowerer(unit, sig.ret)
    lw.survey(funcdef.body)
    params = []
    for pname, ptype in sig.params:
        if ptype.kind not in SCALAR_KINDS and ptype.kind != "struct":
            raise unsupported_at(funcdef, f"parameter '{pname}' of type {ptype.name or ptype.kind}")
        if pname in lw.addressed:
            raise unsupported_at(funcdef, f"taking the address of parameter '{pname}'")
        var = lw.declare(pname, ptype)
        if ptype.kind == "struct":  # a copy of the caller's struct, kept as cells
            lw.cell_vars.add(var)
        params.append(ir.Param(var, pname, ptype))
    body = lw.stmt(funcdef.body)
    block = body if isinstance(body, ir.Block) else ir.Block(body.loc, (body,))
    return ir.Function(name, sig.ret, tuple(params), sig.variadic, block, location(funcdef),
                       frozenset(lw.all_targets))


def constant(unit: Unit, node: Any) -> int:
    """The value of an integer constant expression at file scope."""
    value = value_of(Lowerer(unit, ct.VOID).expr(node))
    if value is None:
        raise located_error(node, "expected an integer constant expression")
    return value


def constant_initializer(unit: Unit, g: GlobalVar) -> int:
    """The value of a scalar global's initializer."""
    if g.ctype.kind not in ("int", "ptr") or type(g.init_node).__name__ == "InitList":
        raise unsupported_at(g.init_node, f"initializer of global '{g.name}' of type "
                                          f"{g.ctype.name or g.ctype.kind}")
    lw = Lowerer(unit, ct.VOID)
    value = value_of(lw.convert(lw.expr(g.init_node), g.ctype, g.init_node))
    if value is None:
        raise located_error(g.init_node, f"initializer of '{g.name}' is not a constant")
    return value


def string_value(text: str) -> int:
    """The opaque value equiv gives a string literal: equal texts, equal values."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") | (1 << 63)


class Lowerer:
    """Lowers one function body (or one constant expression)."""

    def __init__(self, unit: Unit, ret: ct.CType):
        self.unit = unit
        self.ret = ret
        self.scopes: list[dict[str, tuple[int, ct.CType]]] = [{}]
        self.local_sigs: dict[str, ir.Signature] = {}
        self.next_id = 0
        self.jumps: list[tuple[int, bool]] = []  # (target, is a loop) innermost last
        self.labels: dict[str, tuple[int, int]] = {}  # name -> (id, textual position)
        self.goto_pos: dict[int, int] = {}
        self.all_targets: set[int] = set()
        self.addressed: set[str] = set()  # locals whose address is taken (kept as cells)
        self.cell_vars: set[int] = set()  # the ids of locals kept as cells
        self.truth_nodes: frozenset[int] = frozenset()  # ids of truth-value expressions

    # ---- names ------------------------------------------------------------------
    def fresh(self) -> int:
        self.next_id += 1
        return self.next_id

    def declare(self, name: str, t: ct.CType) -> int:
        var = self.fresh()
        self.scopes[-1][name] = (var, t)
        return var

    def lookup(self, name: str) -> tuple[int, ct.CType] | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def signature(self, name: str) -> ir.Signature | None:
        return self.local_sigs.get(name) or self.unit.signatures.get(name)

    def survey(self, body: Any) -> None:
        """One walk over the body, in textual order, before it is lowered:

        - every label gets an id, and every label and goto its textual position;
        - `truth_nodes`: the expressions whose value is used only as a truth value
          (conditions of `if`, loops and `?:`, operands of `!`, `&&` and `||`);
        - `addressed`: the names whose address `&` takes (`&x`, `&x.a`, `&x[1]`).
        """
        truth: set[int] = set()
        position = 0
        stack = [body]
        while stack:
            n = stack.pop()
            position += 1
            kind = type(n).__name__
            if kind == "Label":
                if n.name in self.labels:
                    raise located_error(n, f"label '{n.name}' defined twice")
                self.labels[n.name] = (self.fresh(), position)
                self.all_targets.add(self.labels[n.name][0])
            elif kind == "Goto":
                self.goto_pos[id(n)] = position
            elif kind in ("If", "While", "DoWhile", "For", "TernaryOp"):
                truth.add(id(n.cond))
            elif kind == "UnaryOp" and n.op == "!":
                truth.add(id(n.expr))
            elif kind == "UnaryOp" and n.op == "&":
                root = n.expr
                while type(root).__name__ in ("StructRef", "ArrayRef") and \
                        (type(root).__name__ == "ArrayRef" or root.type == "."):
                    root = root.name
                if type(root).__name__ == "ID":
                    self.addressed.add(root.name)
            elif kind == "BinaryOp" and n.op in ("&&", "||"):
                truth.update((id(n.left), id(n.right)))
            children = n.children()
            stack.extend(child for _, child in reversed(children))
        self.truth_nodes = frozenset(truth)

    # ---- types -------------------------------------------------------------------
    def resolve(self, node: Any) -> ct.CType:
        """The CType of a type node; `typeof(expr)` is the type of `expr` here."""
        self.unit.typeof_of.append(self.type_of)
        try:
            return self.unit.resolve(node)
        finally:
            self.unit.typeof_of.pop()

    def type_of(self, node: Any) -> ct.CType:
        """The type of expression `node` (GNU typeof: it is not evaluated)."""
        if type(node).__name__ == "ID":
            found = self.lookup(node.name)
            if found is not None:
                return found[1]  # an array stays an array
            if node.name in self.unit.globals:
                return self.unit.globals[node.name].ctype
        return self.expr(node).ctype

    def convert(self, e: ir.Expr, to: ct.CType, node: Any) -> ir.Expr:
        """`e` converted to `to` (folded when constant)."""
        if to.kind == "void":
            return ir.Convert(ct.VOID, e.loc, e)
        if e.ctype is to and to.kind in ("int", "ptr") and not isinstance(e, ir.OpaqueConst):
            return e  # the common case, in short
        if e.ctype.kind == "void":
            raise located_error(node, "void value used where a value is required")
        if isinstance(e, ir.OpaqueConst) and to.kind == "ptr":
            # An undeclared identifier passed as a pointer (`sys_call_table` from a
            # header not in reach): the address of one object of that name.
            return ir.ObjectAddress(to, e.loc, e.name, False)
        if "opaque" in (to.kind, e.ctype.kind) or "fnptr" in (to.kind, e.ctype.kind):
            if e.ctype == to or (to.kind == "fnptr" and e.ctype.kind == "fnptr"):
                return e if e.ctype == to else ir.Convert(to, e.loc, e)
            unknown = e.ctype if e.ctype.kind in ("opaque", "fnptr") else to
            raise unsupported_at(node, f"conversion between {e.ctype.name or e.ctype.kind} and "
                                       f"{to.name or to.kind} (only a value of type "
                                       f"{unknown.name} itself can be stored or passed)")
        if to.kind not in ("int", "ptr") or e.ctype.kind not in ("int", "ptr"):
            raise unsupported_at(node, f"conversion to or from "
                                       f"{(to if to.kind not in ('int', 'ptr') else e.ctype).name}")
        if e.ctype == to:
            return e
        out = ir.Convert(to, e.loc, e)
        return self.fold(out)

    def fold(self, e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Const) or e.ctype.kind not in ("int", "ptr"):
            return e
        v = value_of(e)
        return e if v is None else ir.Const(e.ctype, e.loc, v)

    def integer(self, e: ir.Expr, node: Any) -> ct.CType:
        if e.ctype.kind == "ptr":
            raise unsupported_at(node, "pointer arithmetic")
        if e.ctype.kind == "opaque":
            raise unsupported_at(node, f"arithmetic on a value of undeclared type {e.ctype.name}")
        if e.ctype.kind != "int":
            raise unsupported_at(node, f"arithmetic on {e.ctype.name or e.ctype.kind}")
        return e.ctype

    def promoted(self, e: ir.Expr, node: Any) -> ir.Expr:
        return self.convert(e, ct.promote(self.integer(e, node)), node)

    # ---- statements ----------------------------------------------------------------
    def stmt(self, node: Any) -> ir.Stmt:
        kind = type(node).__name__
        handler = _handler(type(self), "stmt_", kind)
        if handler is not None:
            return handler(self, node)
        if kind in _EXPRESSION_KINDS:
            return ir.ExprStmt(location(node), self.expr(node, discard=True))
        raise unsupported_at(node, _STMT_NAMES.get(kind, f"statement '{kind}'"))

    def block(self, items: list[Any], node: Any) -> ir.Block:
        self.scopes.append({})
        try:
            return ir.Block(location(node), tuple(self.stmt(i) for i in items))
        finally:
            self.scopes.pop()

    def stmt_Compound(self, node: Any) -> ir.Stmt:
        return self.block(list(node.block_items or []), node)

    def stmt_EmptyStatement(self, node: Any) -> ir.Stmt:
        return ir.Nop(location(node))

    stmt_Pragma = stmt_EmptyStatement

    def stmt_DeclList(self, node: Any) -> ir.Stmt:
        return ir.Block(location(node), tuple(self.stmt_Decl(d) for d in node.decls))

    def stmt_Decl(self, node: Any) -> ir.Stmt:
        tkind = type(node.type).__name__
        if tkind == "FuncDecl":
            self.local_sigs[node.name] = self.unit.signature_of(node.type)
            return ir.Nop(location(node))
        if node.name is None:
            self.resolve(node.type)
            return ir.Nop(location(node))
        if "static" in (node.storage or []):
            raise unsupported_at(node, "static local variable")
        t = self.auto_type(node) or self.resolve(node.type)
        if t.kind in ("array", "struct") or (node.name in self.addressed and
                                             t.kind in SCALAR_KINDS):
            return self.declare_cells(node, t)
        if t.kind not in SCALAR_KINDS:
            raise unsupported_at(node, f"local variable of type {t.name or t.kind}")
        init = None
        if node.init is not None:
            if type(node.init).__name__ == "InitList":
                raise unsupported_at(node.init, "initializer list")
            init = self.convert(self.expr(node.init), t, node)
        var = self.declare(node.name, t)  # in scope only after its initializer
        return ir.Declare(location(node), var, node.name, t, init)

    def auto_type(self, node: Any) -> ct.CType | None:
        """The type of `__auto_type x = init;` (init's type, arrays decayed), else None."""
        decl = node.type
        if type(decl).__name__ != "TypeDecl" or type(decl.type).__name__ != "Typename" \
                or decl.type.name != "__equiv_auto_type":
            return None
        if node.init is None or type(node.init).__name__ == "InitList":
            raise unsupported_at(node, "__auto_type without a single initializer value")
        return self.type_of(node.init)

    def declare_cells(self, node: Any, t: ct.CType) -> ir.Stmt:
        """A local array, struct, or scalar whose address is taken: one cell per scalar."""
        if t.kind == "array" and t.length is None and type(node.init).__name__ == "InitList" \
                and not any(type(x).__name__ == "NamedInitializer" for x in node.init.exprs):
            t = ct.array_of(t.elem or ct.LONG, len(node.init.exprs))
        if t.kind == "struct" and self.unit.layout(t.target) is None:
            return self.declare_open_struct(node, t)
        cells = self.cells_of(t, node, "")
        if len(cells) > MAX_CELLS:
            raise unsupported_at(node, f"local '{node.name}' of more than {MAX_CELLS} scalars")
        init: tuple[ir.Expr | None, ...] | None = None
        if node.init is not None:
            values: dict[str, ir.Expr] = {}
            self.initialize(t, node.init, "", values)
            init = tuple(values.get(path) for path, _, _ in cells)
        var = self.declare(node.name, t)  # in scope only after its initializer
        self.cell_vars.add(var)
        return ir.DeclareCells(location(node), var, node.name, t, tuple(cells), init)

    def declare_open_struct(self, node: Any, t: ct.CType) -> ir.Stmt:
        """A local of a struct nothing defines: its members are long cells, made as they
        are named.  With an initializer (designators only), the members it does not
        name are zero, as C says; without one, indeterminate."""
        if t.target is not None:
            self.unit.reached_skipped(t.target, location(node), tag=True)
        cells: list[tuple[str, ct.CType, int | None]] = []
        values: list[ir.Expr | None] = []
        if node.init is not None:
            if type(node.init).__name__ != "InitList":
                raise unsupported_at(node, f"initializer of {t.name} that is not a list in "
                                           f"braces")
            for item in node.init.exprs:
                if type(item).__name__ != "NamedInitializer" or len(item.name) != 1 \
                        or type(item.name[0]).__name__ != "ID":
                    raise unsupported_at(node, f"initializer of {t.name}, whose members are "
                                               f"not defined, other than by `.member =`")
                cells.append((f".{item.name[0].name}", ct.LONG, None))
                values.append(self.convert(self.operand(item.expr), ct.LONG, item))
        var = self.declare(node.name, t)
        self.cell_vars.add(var)
        return ir.DeclareCells(location(node), var, node.name, t, tuple(cells),
                               tuple(values) if node.init is not None else None,
                               zeroed=node.init is not None)

    def cells_of(self, t: ct.CType, node: Any, prefix: str) -> list[tuple[str, ct.CType, int | None]]:
        """The scalar cells of a local of type `t`, by path inside it."""
        if t.kind in SCALAR_KINDS:
            return [(prefix, t, None)]
        if t.kind == "array":
            if t.length is None or t.elem is None:
                raise unsupported_at(node, f"local array of unknown length ({t.name})")
            if t.length * max(1, len(self.cells_of(t.elem, node, ""))) > MAX_CELLS:
                raise unsupported_at(node, f"local array of more than {MAX_CELLS} scalars")
            return [c for k in range(t.length) for c in self.cells_of(t.elem, node,
                                                                       f"{prefix}[{k}]")]
        if t.kind == "struct":
            layout = self.unit.layout(t.target)
            if layout is None:
                raise unsupported_at(node, f"local of type {t.name}, whose members are not "
                                           f"defined")
            if layout.union:
                widest = max(layout.fields, key=lambda f: f.ctype.width)
                return [(prefix, widest.ctype, None)]
            out: list[tuple[str, ct.CType, int | None]] = []
            for f in layout.fields:
                if f.bits is not None:
                    out.append((f"{prefix}.{f.name}", f.ctype, f.bits))
                else:
                    out += self.cells_of(f.ctype, node, f"{prefix}.{f.name}")
            return out
        raise unsupported_at(node, f"local of type {t.name or t.kind}")

    def initialize(self, t: ct.CType, init: Any, prefix: str, out: dict[str, ir.Expr]) -> None:
        """The initializer `init` of an object of type `t` at `prefix`, cell by cell."""
        kind = type(init).__name__
        if t.kind in SCALAR_KINDS:
            if kind == "InitList":
                if len(init.exprs) != 1 or type(init.exprs[0]).__name__ in (
                        "InitList", "NamedInitializer"):
                    raise unsupported_at(init, "initializer list for a scalar with other "
                                               "than one value")
                init = init.exprs[0]
            out[prefix] = self.convert(self.operand(init), t, init)
            return
        if kind != "InitList":
            raise unsupported_at(init, f"initializer of {t.name} that is not a list in braces")
        position = 0
        for item in init.exprs:
            if type(item).__name__ == "NamedInitializer":
                if len(item.name) != 1:
                    raise unsupported_at(item, "nested designator")
                position = self.designated(t, item.name[0], item)
                item = item.expr
            sub_type, sub_prefix = self.element(t, position, prefix, item)
            if sub_type.kind in ("array", "struct") and type(item).__name__ != "InitList":
                raise unsupported_at(item, "initializer without braces for a nested "
                                           "array or struct")
            self.initialize(sub_type, item, sub_prefix, out)
            position += 1

    def designated(self, t: ct.CType, designator: Any, node: Any) -> int:
        """The position a designator (`.name` or `[k]`) selects in `t`."""
        if type(designator).__name__ == "ID":
            layout = self.unit.layout(t.target) if t.kind == "struct" else None
            names = [f.name for f in layout.fields] if layout is not None else []
            if designator.name not in names:
                raise located_error(node, f"{t.name} has no member named '{designator.name}'")
            return names.index(designator.name)
        k = value_of(self.operand(designator))
        if t.kind != "array" or k is None:
            raise unsupported_at(node, "array designator that is not a constant")
        return k

    def element(self, t: ct.CType, position: int, prefix: str,
                node: Any) -> tuple[ct.CType, str]:
        """The type and path of the `position`-th element or member of `t`."""
        if t.kind == "array":
            if t.length is not None and not 0 <= position < t.length:
                raise located_error(node, f"excess elements in the initializer of {t.name}")
            return t.elem or ct.LONG, f"{prefix}[{position}]"
        layout = self.unit.layout(t.target)
        assert layout is not None
        if position >= len(layout.fields):
            raise located_error(node, f"excess elements in the initializer of {t.name}")
        f = layout.fields[position]
        if layout.union:
            return f.ctype, prefix
        return f.ctype, f"{prefix}.{f.name}"

    def stmt_If(self, node: Any) -> ir.Stmt:
        cond = self.scalar(self.expr(node.cond), node.cond)
        then = self.stmt(node.iftrue)
        other = self.stmt(node.iffalse) if node.iffalse is not None else None
        return ir.If(location(node), cond, then, other)

    def scalar(self, e: ir.Expr, node: Any) -> ir.Expr:
        if e.ctype.kind not in ("int", "ptr"):
            raise located_error(node, "scalar value required in a condition")
        return e

    def loop(self, node: Any, cond: Any, body: Any, step: Any, test_first: bool) -> ir.Stmt:
        ident = self.fresh()
        self.all_targets.add(ident)
        c = self.scalar(self.expr(cond), cond) if cond is not None else None
        self.jumps.append((ident, True))
        try:
            b = self.stmt(body)
        finally:
            self.jumps.pop()
        s = self.expr(step, discard=True) if step is not None else None
        return ir.Loop(location(node), ident, c, b, s, test_first)

    def stmt_While(self, node: Any) -> ir.Stmt:
        return self.loop(node, node.cond, node.stmt, None, True)

    def stmt_DoWhile(self, node: Any) -> ir.Stmt:
        return self.loop(node, node.cond, node.stmt, None, False)

    def stmt_For(self, node: Any) -> ir.Stmt:
        self.scopes.append({})
        try:
            init = self.stmt(node.init) if node.init is not None else ir.Nop(location(node))
            loop = self.loop(node, node.cond, node.stmt, node.next, True)
        finally:
            self.scopes.pop()
        return ir.Block(location(node), (init, loop))

    def stmt_Switch(self, node: Any) -> ir.Stmt:
        value = self.expr(node.cond)
        if value.ctype.kind != "int":
            raise located_error(node.cond, "switch on a non-integer value")
        value = self.promoted(value, node.cond)
        ident = self.fresh()
        self.all_targets.add(ident)
        items = list(node.stmt.block_items or []) if type(node.stmt).__name__ == "Compound" \
            else [node.stmt]
        self.jumps.append((ident, False))
        self.scopes.append({})
        seen: set[int | None] = set()
        try:
            body = tuple(s for item in items for s in self.switch_item(item, ident, value, seen))
        finally:
            self.scopes.pop()
            self.jumps.pop()
        return ir.Switch(location(node), ident, value, body)

    def switch_item(self, item: Any, ident: int, value: ir.Expr,
                    seen: set[int | None]) -> list[ir.Stmt]:
        kind = type(item).__name__
        if kind not in ("Case", "Default"):
            return [self.stmt(item)]
        label_value: int | None = None
        opaque: ir.Expr | None = None
        if kind == "Case":
            label = self.convert(self.expr(item.expr), value.ctype, item.expr)
            label_value = value_of(label)
            if label_value is None and not _opaque_constant(label):
                raise located_error(item.expr, "case label is not an integer constant" + (
                    " (an undeclared identifier in a case label is modelled alone or under "
                    "&, |, ^ and ~ only)" if _mentions_opaque(label) else ""))
            opaque = None if label_value is not None else label
        if opaque is None:
            if label_value in seen:
                raise located_error(item, "duplicate case value" if kind == "Case"
                                    else "more than one default label")
            seen.add(label_value)
        out: list[ir.Stmt] = [ir.CaseLabel(location(item), ident, label_value, opaque)]
        for stmt in item.stmts or []:
            out.extend(self.switch_item(stmt, ident, value, seen))
        return out

    def stmt_Case(self, node: Any) -> ir.Stmt:
        raise unsupported_at(node, "case label not directly inside its switch body")

    stmt_Default = stmt_Case

    def stmt_Break(self, node: Any) -> ir.Stmt:
        if not self.jumps:
            raise located_error(node, "break outside a loop or switch")
        return ir.Break(location(node), self.jumps[-1][0])

    def stmt_Continue(self, node: Any) -> ir.Stmt:
        for target, is_loop in reversed(self.jumps):
            if is_loop:
                return ir.Continue(location(node), target)
        raise located_error(node, "continue outside a loop")

    def stmt_Return(self, node: Any) -> ir.Stmt:
        loc = location(node)
        if node.expr is None:
            return ir.Return(loc, None)
        if self.ret.kind == "struct":
            return self.return_struct(node)
        value = self.expr(node.expr)
        if self.ret.kind == "void":
            return ir.Block(loc, (ir.ExprStmt(loc, value), ir.Return(loc, None)))
        return ir.Return(loc, self.convert(value, self.ret, node))

    def return_struct(self, node: Any) -> ir.Stmt:
        """`return local;` of a struct local: its cells are what the function returns."""
        found = self.lookup(node.expr.name) if type(node.expr).__name__ == "ID" else None
        if found is None or found[0] not in self.cell_vars or found[1] != self.ret:
            raise unsupported_at(node, f"returning a {self.ret.name} other than a local of "
                                       f"that type")
        place = ir.VarPlace(found[1], location(node.expr), found[0], node.expr.name, True)
        return ir.Return(location(node), ir.AddressOf(ct.pointer_to(self.ret), place.loc, place))

    def stmt_Goto(self, node: Any) -> ir.Stmt:
        if node.name not in self.labels:
            raise located_error(node, f"label '{node.name}' is not defined")
        ident, position = self.labels[node.name]
        if position < self.goto_pos[id(node)]:
            raise unsupported_at(node, f"backward goto to '{node.name}' (a loop made of goto)")
        return ir.Goto(location(node), ident, node.name)

    def stmt_Label(self, node: Any) -> ir.Stmt:
        return ir.Label(location(node), self.labels[node.name][0], node.name,
                        self.stmt(node.stmt))

    # ---- expressions ----------------------------------------------------------------
    def expr(self, node: Any, discard: bool = False) -> ir.Expr:
        """The IR of an expression; `discard`: its value is not used."""
        kind = type(node).__name__
        if kind == "FuncCall":
            return self.call(node, discard)
        handler = _handler(type(self), "expr_", kind)
        if handler is None:
            raise unsupported_at(node, _EXPR_NAMES.get(kind, f"expression '{kind}'"))
        return handler(self, node)

    def expr_Constant(self, node: Any) -> ir.Expr:
        loc = location(node)
        if node.value[:1] in ("'", "L", "u", "U") and "'" in node.value:
            return ir.Const(ct.INT, loc, char_constant(node))
        if ct.is_integer_literal_kind(node.type):
            value, t = ct.literal_type(node.value)
            return ir.Const(t, loc, ct.wrap(value, t))
        if node.type == "char":
            return ir.Const(ct.INT, loc, char_constant(node))
        if node.type == "string":
            return ir.StrLit(ct.pointer_to(ct.UCHAR), loc, _string_text(node.value))
        if node.type in ("float", "double"):
            raise unsupported_at(node, "floating point")
        raise unsupported_at(node, f"{node.type} literal")

    def expr_ID(self, node: Any) -> ir.Expr:
        name, loc = node.name, location(node)
        found = self.lookup(name)
        if found is not None and found[0] in self.cell_vars:
            place = ir.VarPlace(found[1], loc, found[0], name, True)
            if found[1].kind == "array":  # an array used as a value is &array[0]
                elem = found[1].elem or ct.LONG
                first = ir.IndexPlace(elem, loc, place, ir.Const(ct.LONG, loc, 0),
                                      found[1].length)
                return ir.AddressOf(ct.pointer_to(elem), loc, first)
            return self.load(place)
        if found is not None:
            return ir.VarRef(found[1], loc, found[0], name)
        if name not in self.unit.funcdefs:
            self.unit.reached_skipped(name, loc)
        if name in self.unit.enums:
            e = self.unit.enums[name]
            return ir.Const(e.ctype, loc, ct.wrap(e.value, e.ctype))
        if name in self.unit.globals:
            g = self.unit.globals[name]
            if g.ctype.kind == "array":  # a global array used as a value is &array[0]
                self.shared_array(node)
                return ir.ObjectAddress(ct.pointer_to(g.ctype.elem or ct.LONG), loc, name, True)
            return self.load(self.global_place(node))
        if name in self.unit.funcdefs or self.signature(name) is not None:
            raise unsupported_at(node, f"function '{name}' used as a value (function pointer)")
        if name.startswith("CONFIG_"):
            return ir.ConfigRef(ct.INT, loc, name)
        if opaque.names_flag_bits(name):
            raise located_error(node, f"'{name}' undeclared")
        self.unit.opaque_names.setdefault(name, loc)  # a premise: see equiv.ir.opaque
        return ir.OpaqueConst(opaque.OPAQUE_TYPE, loc, name)

    def global_place(self, node: Any) -> ir.Place:
        g = self.unit.globals[node.name]
        if g.ctype.kind == "fnptr":
            raise unsupported_at(node, f"global '{g.name}' of function pointer type")
        return ir.GlobalPlace(g.ctype, location(node), g.name)

    def load(self, place: ir.Place) -> ir.Expr:
        t = place.ctype
        if isinstance(place, ir.MemberPlace) and place.field.bits is not None:
            t = bitfield_type(place.field)
        return ir.Load(t, place.loc, place)

    def rvalue(self, e: ir.Expr, node: Any) -> ir.Expr:
        """`e` as an operand: struct and array values are outside the subset."""
        if e.ctype.kind in ("struct", "array"):
            raise unsupported_at(node, f"{e.ctype.kind} value ({e.ctype.name})")
        return e

    def operand(self, node: Any) -> ir.Expr:
        return self.rvalue(self.expr(node), node)

    def expr_BinaryOp(self, node: Any) -> ir.Expr:
        op, loc = node.op, location(node)
        if op in ("&&", "||"):
            left = self.scalar(self.operand(node.left), node.left)
            right = self.scalar(self.operand(node.right), node.right)
            return self.fold(ir.Logical(ct.INT, loc, op, left, right))
        a, b = self.operand(node.left), self.operand(node.right)
        if op in COMPARE_OPS:
            return self.compare(node, op, a, b)
        if op in SHIFT_OPS:
            opaque.check_unary(node, op, a)  # a count keeps its value whatever its type
            left, count = self.promoted(a, node.left), self.promoted(b, node.right)
            return self.fold(ir.Shift(left.ctype, loc, op, left, count))
        if op not in ARITH_OPS:
            raise unsupported_at(node, f"operator '{op}'")
        return self.arith(node, op, a, b)

    def arith(self, node: Any, op: str, a: ir.Expr, b: ir.Expr) -> ir.Expr:
        opaque.check_binary(node, op, a, b, id(node) in self.truth_nodes)
        t = ct.usual_arithmetic(self.integer(a, node), self.integer(b, node))
        left, right = self.convert(a, t, node), self.convert(b, t, node)
        if op in ("/", "%") and value_of(right) == 0:
            raise located_error(node, "division by zero is undefined")
        return self.fold(ir.Binary(t, location(node), op, left, right))

    def compare(self, node: Any, op: str, a: ir.Expr, b: ir.Expr) -> ir.Expr:
        if a.ctype.kind == "ptr" or b.ctype.kind == "ptr":
            if op not in ("==", "!="):
                raise unsupported_at(node, "ordered comparison of pointers")
            left, right = self.convert(a, ct.ULONG, node), self.convert(b, ct.ULONG, node)
            return ir.Compare(ct.INT, location(node), op, left, right, False)
        opaque.check_binary(node, op, a, b)
        t = ct.usual_arithmetic(self.integer(a, node), self.integer(b, node))
        left, right = self.convert(a, t, node), self.convert(b, t, node)
        return self.fold(ir.Compare(ct.INT, location(node), op, left, right, t.signed))

    def expr_UnaryOp(self, node: Any) -> ir.Expr:
        op, loc = node.op, location(node)
        if op == "!":
            return self.fold(ir.Not(ct.INT, loc, self.scalar(self.operand(node.expr), node)))
        if op == "sizeof":
            return ir.Const(ct.ULONG, loc, self.sizeof(node.expr))
        if op in ("++", "--", "p++", "p--"):
            place = self.place(node.expr)
            optype = ct.usual_arithmetic(self.integer(self.load(place), node), ct.INT)
            return ir.IncDec(self.load(place).ctype, loc, place, 1 if "+" in op else -1,
                             op.startswith("p"), optype)
        if op == "*":
            return self.load(self.place(node))
        if op == "&":
            return self.address_of(node)
        if op not in ("-", "+", "~"):
            raise unsupported_at(node, f"operator '{op}'")
        x = self.operand(node.expr)
        opaque.check_unary(node, op, x)
        x = self.promoted(x, node)
        if op == "+":
            return x
        return self.fold(ir.Unary(x.ctype, loc, op, x))

    def address_of(self, node: Any) -> ir.Expr:
        """`&x` of a local kept as cells (or of a member or element of one)."""
        target = node.expr
        kind = type(target).__name__
        if kind == "ID" and self.lookup(target.name) is None and (
                target.name in self.unit.funcdefs or self.signature(target.name) is not None):
            raise unsupported_at(node, f"address of function '{target.name}' (function pointer)")
        if kind not in ("ID", "StructRef", "ArrayRef"):
            raise unsupported_at(node, "taking an address (&) of anything but a local")
        place = self.place(target)
        root = place
        while isinstance(root, (ir.MemberPlace, ir.IndexPlace)):
            inner = root.container if isinstance(root, ir.MemberPlace) else root.array
            if inner is None:
                break
            root = inner
        if not (isinstance(root, ir.VarPlace) and root.cell):
            raise unsupported_at(node, "taking an address (&) of anything but a local")
        if isinstance(place, ir.MemberPlace) and place.field.bits is not None:
            raise located_error(node, "cannot take the address of a bit-field")
        return ir.AddressOf(ct.pointer_to(place.ctype), location(node), place)

    def sizeof(self, operand: Any) -> int:
        if type(operand).__name__ == "Typename":
            t = self.resolve(operand.type)
        elif type(operand).__name__ == "ID" and self.lookup(operand.name) is not None:
            t = self.lookup(operand.name)[1]  # type: ignore[index]
        elif type(operand).__name__ == "ID" and operand.name in self.unit.globals:
            t = self.unit.globals[operand.name].ctype  # an array is not decayed here
        else:
            value = self.expr(operand)
            opaque.check_unary(operand, "sizeof", value)  # a type no header declares, maybe
            t = value.ctype
        size = self.size_of(t)
        if size is None:
            raise unsupported_at(operand, f"sizeof({t.name or t.kind})")
        return size

    def size_of(self, t: ct.CType) -> int | None:
        if t.kind in ("int", "ptr", "fnptr"):
            return t.width // 8
        if t.kind == "array" and t.length is not None and t.elem is not None:
            elem = self.size_of(t.elem)
            return None if elem is None else elem * t.length
        return None

    def expr_TernaryOp(self, node: Any) -> ir.Expr:
        cond = self.scalar(self.operand(node.cond), node.cond)
        if node.iftrue is None:  # GNU `c ?: b`: c is evaluated once and is the value
            b = self.operand(node.iffalse)
            opaque.check_branches(node, cond, b)
            t = conditional_type(cond.ctype, b.ctype)
            if t.kind == "void":
                raise located_error(node, "void operand of '?:'")
            return self.fold(ir.Cond(t, location(node), cond, None, self.convert(b, t, node)))
        a, b = self.operand(node.iftrue), self.operand(node.iffalse)
        opaque.check_branches(node, a, b)
        t = conditional_type(a.ctype, b.ctype)
        if t.kind != "void":
            a, b = self.convert(a, t, node), self.convert(b, t, node)
        return self.fold(ir.Cond(t, location(node), cond, a, b))

    def expr_Compound(self, node: Any) -> ir.Expr:
        """A statement expression: its value is that of its last expression statement."""
        items = list(node.block_items or [])
        self.scopes.append({})
        try:
            last = items[-1] if items else None
            result = None
            if last is not None and type(last).__name__ in _EXPRESSION_KINDS:
                items = items[:-1]
            else:
                last = None
            body = ir.Block(location(node), tuple(self.stmt(i) for i in items))
            if last is not None:
                result = self.expr(last)
                if result.ctype.kind in ("struct", "array"):
                    raise unsupported_at(last, f"statement expression of type {result.ctype.name}")
        finally:
            self.scopes.pop()
        t = result.ctype if result is not None else ct.VOID
        return ir.StmtExpr(t, location(node), body, result)

    def expr_ExprList(self, node: Any) -> ir.Expr:
        items = tuple(self.expr(e) for e in node.exprs)
        return ir.Comma(items[-1].ctype, location(node), items)

    def expr_Cast(self, node: Any) -> ir.Expr:
        t = self.resolve(node.to_type)
        if t.kind == "fnptr":
            raise unsupported_at(node, "cast to a function pointer")
        e = self.expr(node.expr)
        if t.kind == "void":
            return ir.Convert(ct.VOID, location(node), e)
        return self.convert(self.rvalue(e, node.expr), t, node)

    def expr_Assignment(self, node: Any) -> ir.Expr:
        place = self.place(node.lvalue)
        rhs = self.operand(node.rvalue)
        loc = location(node)
        if place.ctype.kind == "ptr" and not isinstance(place, ir.VarPlace):
            raise unsupported_at(node, "storing a pointer in memory")
        read_type = self.load(place).ctype
        if node.op == "=":
            return ir.Assign(read_type, loc, place, self.convert(rhs, place.ctype, node))
        op = node.op[:-1]
        current = self.load(place)
        if op in SHIFT_OPS:
            optype = ct.promote(self.integer(current, node))
            return ir.CompoundAssign(read_type, loc, place, op,
                                     self.promoted(rhs, node.rvalue), optype)
        if op not in ARITH_OPS:
            raise unsupported_at(node, f"operator '{node.op}'")
        opaque.check_compound(node, op, current, rhs)
        optype = ct.usual_arithmetic(self.integer(current, node), self.integer(rhs, node))
        rhs = self.convert(rhs, optype, node)
        if op in ("/", "%") and value_of(rhs) == 0:
            raise located_error(node, "division by zero is undefined")
        return ir.CompoundAssign(read_type, loc, place, op, rhs, optype)

    def expr_StructRef(self, node: Any) -> ir.Expr:
        return self.load(self.place(node))

    def expr_ArrayRef(self, node: Any) -> ir.Expr:
        return self.load(self.place(node))

    # ---- places ------------------------------------------------------------------------
    def place(self, node: Any) -> ir.Place:
        kind = type(node).__name__
        loc = location(node)
        if kind == "ID":
            found = self.lookup(node.name)
            if found is not None:
                return ir.VarPlace(found[1], loc, found[0], node.name,
                                   found[0] in self.cell_vars)
            self.unit.reached_skipped(node.name, loc)
            if node.name in self.unit.globals:
                g = self.unit.globals[node.name]
                if g.const:
                    raise located_error(node, f"assignment to const global '{g.name}'")
                return self.global_place(node)
            raise located_error(node, f"'{node.name}' undeclared or not assignable")
        if kind == "StructRef":
            return self.member(node)
        if kind == "ArrayRef":
            return self.index(node)
        if kind == "UnaryOp" and node.op == "*":
            pointer = self.operand(node.expr)
            if pointer.ctype.kind != "ptr":
                raise located_error(node, "dereference of a value that is not a pointer")
            elem = pointer.ctype.elem or ct.LONG
            if elem.kind == "void":
                raise located_error(node, "dereference of a void pointer")
            return ir.DerefPlace(elem, loc, pointer)
        raise unsupported_at(node, f"assignment to {_EXPR_NAMES.get(kind, kind)}")

    def member(self, node: Any) -> ir.Place:
        name, loc = node.field.name, location(node)
        pointer: ir.Expr | None = None
        container: ir.Place | None = None
        if node.type == "->":
            pointer = self.operand(node.name)
            if pointer.ctype.kind != "ptr" or pointer.ctype.elem is None \
                    or pointer.ctype.elem.kind != "struct":
                raise unsupported_at(node, "'->' on a value that is not a pointer to a struct")
            tag = pointer.ctype.elem.target
        else:
            container = self.place(node.name)
            if self.guessed_member(container):
                # A member of a struct nothing defines, used as a struct itself.
                assert isinstance(container, ir.MemberPlace)
                inner = ct.struct_type(f"{container.struct_tag}.{container.field.name}")
                container = ir.MemberPlace(inner, container.loc, container.pointer,
                                           container.container,
                                           ir.Field(container.field.name, inner),
                                           container.struct_tag)
            if container.ctype.kind != "struct":
                raise located_error(node, f"'.{name}' on a value that is not a struct")
            if isinstance(container, ir.VarPlace) and not container.cell:
                raise unsupported_at(node, "struct-typed parameter")
            tag = container.ctype.target
        layout = self.unit.layout(tag)
        if layout is None and tag is not None:
            self.unit.reached_skipped(tag, loc, tag=True)
        if layout is None:
            t = ct.ULONG if tag == "thread_info" and name in ("flags", "syscall_work") \
                else ct.LONG
            f = ir.Field(name, t)
        else:
            found = layout.member(name)
            if found is None:
                what = "union" if layout.union else "struct"
                raise located_error(node, f"'{what} {tag}' has no member named '{name}'")
            f = found
        return ir.MemberPlace(f.ctype, loc, pointer, container, f, tag)

    def guessed_member(self, place: ir.Place) -> bool:
        """A member of a struct the side does not define (its type is a guess: long)."""
        return isinstance(place, ir.MemberPlace) and place.struct_tag is not None \
            and self.unit.layout(place.struct_tag) is None and place.field.bits is None

    def indexed(self, node: Any) -> ir.Place:
        """The array that `node[...]` indexes: an array place (a member, a global, a
        local), or, for a pointer, the array it points into (a `DerefPlace` of array
        type, of unknown length)."""
        kind = type(node).__name__
        base: ir.Place | None = None
        if kind == "ID" and self.lookup(node.name) is None and node.name in self.unit.globals:
            self.unit.reached_skipped(node.name, location(node))
            self.shared_array(node)
            base = self.global_place(node)  # read, so a const global array is fine
        elif kind in ("StructRef", "ArrayRef") or (kind == "ID" and
                                                    self.lookup(node.name) is not None):
            base = self.place(node)
        if base is not None and self.guessed_member(base) and base.ctype.kind != "array":
            # `regs->regs[0]` on a struct nothing defines: an array of long.
            assert isinstance(base, ir.MemberPlace)
            array = ct.array_of(ct.LONG)
            base = ir.MemberPlace(array, base.loc, base.pointer, base.container,
                                  ir.Field(base.field.name, array), base.struct_tag)
        if base is not None and base.ctype.kind == "array" and \
                not (isinstance(base, ir.VarPlace) and not base.cell):
            return base
        pointer = self.operand(node)
        if pointer.ctype.kind != "ptr":
            raise unsupported_at(node, "indexing anything but an array member, a local "
                                       "array, a global array or a pointer")
        elem = pointer.ctype.elem or ct.LONG
        if elem.kind == "void":
            raise located_error(node, "indexing a void pointer")
        if elem.kind not in SCALAR_KINDS:
            raise unsupported_at(node, f"indexing a pointer to {elem.name or elem.kind} "
                                       f"(only pointers to integers and pointers)")
        return ir.DerefPlace(ct.array_of(elem), location(node), pointer)

    def shared_array(self, node: Any) -> None:
        """A global array is memory shared by both sides only when the side does not
        define it (`extern`): the contents of one it defines start as its
        initializer (or zero), which equiv does not model."""
        g = self.unit.globals[node.name]
        if g.defined and g.ctype.kind == "array":
            raise unsupported_at(node, f"element of the global array '{g.name}' that the "
                                       f"side defines (its initial contents are not modelled)")

    def index(self, node: Any) -> ir.Place:
        base = self.indexed(node.name)
        index = self.operand(node.subscript)
        self.integer(index, node.subscript)
        k = value_of(index)
        length = base.ctype.length
        elem = base.ctype.elem or ct.LONG
        if k is None:
            # Into an array of unknown length, the executor takes an index whose value
            # is one of a few constants on every path (`compat ? 12 : 7`), else refuses.
            if length is not None and \
                    length * max(1, len(self.cells_of(elem, node, ""))) > MAX_CELLS:
                raise unsupported_at(node, f"array index that is not a constant, into an array "
                                           f"of more than {MAX_CELLS} scalars")
            return ir.IndexPlace(elem, location(node), base, self.promoted(index, node.subscript),
                                 length)
        if k < 0 and isinstance(base, ir.DerefPlace):
            raise unsupported_at(node, f"negative index {k} through a pointer")
        if k < 0 or (length is not None and k >= length):
            raise located_error(node, f"array index {k} is outside the array "
                                      f"({base.ctype.name})")
        return ir.IndexPlace(elem, location(node), base, ir.Const(ct.LONG, index.loc, k), length)

    # ---- calls ---------------------------------------------------------------------------
    def call(self, node: Any, discard: bool) -> ir.Expr:
        if type(node.name).__name__ != "ID" or self.lookup(node.name.name) is not None:
            return self.indirect_call(node)
        name = node.name.name
        args = list(node.args.exprs) if node.args is not None else []
        if name not in self.unit.funcdefs:
            self.unit.reached_skipped(name, location(node))
        special = getattr(self, f"special{name}", None)
        if special is not None:
            result: ir.Expr = special(node, args)
            return result
        if name in INTRINSICS:
            return self.intrinsic(node, name, args)
        if name.startswith("__builtin_"):
            raise unsupported_at(node, f"builtin '{name}'")
        if name in self.unit.funcdefs:
            return self.inline_call(node, name, args)
        return self.external_call(node, name, args, discard)

    def indirect_call(self, node: Any) -> ir.Expr:
        """`fn(args)` or `(*fn)(args)` where `fn` is a value: an event keyed by that value."""
        callee = node.name
        if type(callee).__name__ == "UnaryOp" and callee.op == "*":
            callee = callee.expr
        pointer = self.operand(callee)
        if pointer.ctype.kind not in ("fnptr", "opaque"):
            raise unsupported_at(node, f"call through a value of type "
                                       f"{pointer.ctype.name or pointer.ctype.kind}")
        args: list[ir.Expr] = []
        for a in (list(node.args.exprs) if node.args is not None else []):
            e = self.expr(a)
            if e.ctype.kind == "struct":
                args.append(self.struct_arg(e, a))
            elif e.ctype.kind == "int":
                args.append(self.promoted(e, a))
            else:
                args.append(self.rvalue(e, a))
        return ir.IndirectCall(ct.LONG, location(node), pointer, tuple(args))

    def inline_call(self, node: Any, name: str, arg_nodes: list[Any]) -> ir.Expr:
        sig = self.unit.signatures[name]
        if sig.ret.kind not in ("int", "ptr", "void"):
            raise unsupported_at(self.unit.funcdefs[name],
                                 f"function '{name}' returning {sig.ret.name or sig.ret.kind}")
        if len(arg_nodes) != len(sig.params) and not (sig.variadic and
                                                      len(arg_nodes) >= len(sig.params)):
            raise located_error(node, f"'{name}' takes {len(sig.params)} arguments, "
                                      f"{len(arg_nodes)} given")
        args = []
        for i, a in enumerate(arg_nodes):
            if i < len(sig.params) and sig.params[i][1].kind == "struct":
                raise unsupported_at(a, f"passing a struct by value to '{name}', which the "
                                        f"side defines")
            e = self.operand(a)
            args.append(self.convert(e, sig.params[i][1], a) if i < len(sig.params)
                        else self.promoted(e, a))
        return ir.Call(sig.ret, location(node), name, tuple(args), True)

    def external_call(self, node: Any, name: str, arg_nodes: list[Any],
                      discard: bool) -> ir.Expr:
        sig = self.signature(name)
        args: list[ir.Expr] = []
        for i, a in enumerate(arg_nodes):
            e = self.expr(a)
            if e.ctype.kind == "struct":
                args.append(self.struct_arg(e, a))
            elif sig is not None and i < len(sig.params):
                args.append(self.convert(self.rvalue(e, a), sig.params[i][1], a))
            elif e.ctype.kind == "int":
                args.append(self.promoted(e, a))
            else:
                args.append(self.rvalue(e, a))
        ret = sig.ret if sig is not None else ct.LONG
        if ret.kind not in ("int", "ptr", "void"):
            raise unsupported_at(node, f"call of '{name}' returning {ret.name or ret.kind}")
        return ir.Call(ret, location(node), name, tuple(args), False)

    def struct_arg(self, e: ir.Expr, node: Any) -> ir.Expr:
        """A struct passed by value: the values of its scalar members, in order."""
        if not isinstance(e, ir.Load):
            raise unsupported_at(node, "struct value")
        return ir.StructArg(e.ctype, e.loc, tuple(self.members_of(e.place, node)))

    def members_of(self, place: ir.Place, node: Any) -> list[ir.Expr]:
        layout = self.unit.layout(place.ctype.target)
        if layout is None:
            raise unsupported_at(node, f"passing {place.ctype.name} by value (its members "
                                       f"are not defined)")
        if layout.union:
            widest = max(layout.fields, key=lambda f: f.ctype.width)
            return [self.load(ir.MemberPlace(widest.ctype, place.loc, None, place, widest,
                                             layout.tag))]
        out: list[ir.Expr] = []
        for f in layout.fields:
            member = ir.MemberPlace(f.ctype, place.loc, None, place, f, layout.tag)
            if f.ctype.kind == "struct":
                out.extend(self.members_of(member, node))
            elif f.ctype.kind == "array":
                if f.ctype.length is None or f.ctype.elem is None \
                        or f.ctype.elem.kind not in ("int", "ptr"):
                    raise unsupported_at(node, f"passing a struct with array member "
                                               f"'{f.name}' by value")
                out.extend(self.load(ir.IndexPlace(f.ctype.elem, place.loc, member,
                                                   ir.Const(ct.LONG, place.loc, k),
                                                   f.ctype.length))
                           for k in range(f.ctype.length))
            else:
                out.append(self.load(member))
        return out

    def intrinsic(self, node: Any, name: str, arg_nodes: list[Any]) -> ir.Expr:
        arity, ret = INTRINSICS[name]
        if len(arg_nodes) != arity:
            raise located_error(node, f"{name} takes {arity} argument"
                                      f"{'s' if arity != 1 else ''}")
        args = []
        for a in arg_nodes:
            e = self.operand(a)
            suffix = name[len(name.rstrip("l")):]
            args.append(self.convert(e, _BUILTIN_ARG[suffix], a))
        return ir.Intrinsic(ret, location(node), name, tuple(args))

    def special__equiv_is_enabled(self, node: Any, args: list[Any]) -> ir.Expr:
        option = args[0] if args else None
        if option is None:
            raise located_error(node, "IS_ENABLED needs an argument")
        if type(option).__name__ == "ID" and option.name.startswith("CONFIG_") \
                and self.lookup(option.name) is None:
            return ir.ConfigRef(ct.INT, location(node), option.name)
        return self.fold(ir.Not(ct.INT, location(node),
                                ir.Not(ct.INT, location(node), self.operand(option))))

    def special__equiv_emit(self, node: Any, args: list[Any]) -> ir.Expr:
        """`__equiv_emit("name", args...)`: a model's observable call named `name`."""
        if not args or type(args[0]).__name__ != "Constant" or args[0].type != "string":
            raise located_error(node, "__equiv_emit needs a string literal name first")
        call = self.external_call(node, _string_text(args[0].value), args[1:], True)
        assert isinstance(call, ir.Call)
        return ir.Call(ct.VOID, call.loc, call.name, call.args, False)

    def special__equiv_asm(self, node: Any, args: list[Any]) -> ir.Expr:
        """GNU `asm` (see equiv.frontend.source): an opaque event, its outputs havocked."""
        template = _string_text(args[0].value)
        outputs, labels = int(args[1].value), int(args[2].value)
        if labels:
            raise unsupported_at(node, "asm goto")
        inputs: list[ir.Expr] = []
        places: list[ir.Place] = []
        for k in range(3, len(args), 2):
            constraint, operand = _string_text(args[k].value), args[k + 1]
            if (k - 3) // 2 < outputs:
                place = self.place(operand)
                if place.ctype.kind not in SCALAR_KINDS:
                    raise unsupported_at(operand, f"asm output of type {place.ctype.name}")
                places.append(place)
                if "+" in constraint:  # read and written
                    inputs.append(self.load(place))
            else:
                e = self.operand(operand)
                inputs.append(self.promoted(e, operand) if e.ctype.kind == "int" else e)
        return ir.AsmStmt(ct.VOID, location(node), template, tuple(inputs), tuple(places))

    def special__builtin_expect(self, node: Any, args: list[Any]) -> ir.Expr:
        if len(args) != 2:
            raise located_error(node, "__builtin_expect takes 2 arguments")
        value = self.convert(self.operand(args[0]), ct.LONG, args[0])
        if value_of(self.operand(args[1])) is None:
            raise unsupported_at(args[1], "non-constant second argument of __builtin_expect")
        return value


def bitfield_type(f: ir.Field) -> ct.CType:
    """The type a bit-field's value has in expressions (GCC: int when int holds it)."""
    assert f.bits is not None
    if f.ctype.is_bool:
        return ct.BOOL
    if f.bits < 32 or f.ctype.signed:
        return ct.INT
    return ct.UINT


def conditional_type(a: ct.CType, b: ct.CType) -> ct.CType:
    """The type of `c ? a : b`."""
    if a.kind == "void" or b.kind == "void":
        return ct.VOID
    if a.kind in ("fnptr", "opaque"):
        return a  # the arms must then have that type (convert refuses anything else)
    if b.kind in ("fnptr", "opaque"):
        return b
    if a.kind == "ptr":
        return a
    if b.kind == "ptr":
        return b
    return ct.usual_arithmetic(a, b)


def char_constant(node: Any) -> int:
    """The value of a character constant, multi-character ones as GCC computes them."""
    if node.value[0] != "'":
        raise unsupported_at(node, "wide character constant")
    chars = _unescape(node.value[1:-1])
    if len(chars) == 1:
        return chars[0]  # -funsigned-char: plain char is unsigned
    value = 0
    for c in chars:
        value = (value << 8) | c
    return ct.wrap(value, ct.INT)


def _string_text(literal: str) -> str:
    body = literal[literal.index('"') + 1:-1]
    return bytes(_unescape(body)).decode("latin-1")


_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, "'": 39,
            '"': 34, "?": 63, "e": 27}


def _unescape(text: str) -> list[int]:
    out: list[int] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(ord(c) & 0xFF)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "x":
            j = i + 2
            while j < len(text) and text[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(text[i + 2:j], 16) & 0xFF)
            i = j
        elif nxt in "01234567":
            j = i + 1
            while j < len(text) and j < i + 4 and text[j] in "01234567":
                j += 1
            out.append(int(text[i + 1:j], 8) & 0xFF)
            i = j
        else:
            if nxt not in _ESCAPES:
                raise InputError(None, f"unknown escape sequence '\\{nxt}'")
            out.append(_ESCAPES[nxt])
            i += 2
    return out


_EXPRESSION_KINDS = frozenset({
    "Assignment", "BinaryOp", "UnaryOp", "FuncCall", "ID", "Constant", "Cast",
    "TernaryOp", "ExprList", "StructRef", "ArrayRef",
})

_STMT_NAMES = {
    "CompoundLiteral": "compound literal",
    "InitList": "initializer list",
    "StaticAssert": "_Static_assert",
    "Alignas": "_Alignas",
}

_EXPR_NAMES = {
    "CompoundLiteral": "compound literal",
    "InitList": "initializer list",
    "Typename": "type name",
    "FuncDecl": "function declaration",
}


# Operators allowed around an undeclared identifier in a case label: those that are
# defined for every value (arithmetic could overflow, shifts and division could be
# undefined, and a label's undefined behaviour is not a run-time event).
_OPAQUE_LABEL_OPS = frozenset({"&", "|", "^", "~"})


def _opaque_constant(e: ir.Expr) -> bool:
    """`e` is a constant once the undeclared identifiers in it have values: a case label
    such as `PTRACE_PEEKMTETAGS` whose header is out of reach (README, "Undeclared
    identifiers")."""
    if isinstance(e, (ir.Const, ir.OpaqueConst)):
        return True
    if isinstance(e, ir.Convert):
        return e.ctype.kind == "int" and _opaque_constant(e.operand)
    if isinstance(e, ir.Unary):
        return e.op in _OPAQUE_LABEL_OPS and _opaque_constant(e.operand)
    if isinstance(e, ir.Binary):
        return e.op in _OPAQUE_LABEL_OPS and _opaque_constant(e.left) and \
            _opaque_constant(e.right)
    return False


def _mentions_opaque(e: ir.Expr) -> bool:
    if isinstance(e, ir.OpaqueConst):
        return True
    return any(_mentions_opaque(v) for v in vars(e).values() if isinstance(v, ir.Expr))
