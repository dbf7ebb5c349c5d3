"""A seeded generator of random before/after fragment pairs for equiv.

Each pair is a syscall-exit-style root, ``void exit_work(struct pt_regs *regs,
unsigned long flags)`` or ``long exit_work(...)``, drawn from the C subset
equiv supports (README "Semantics"): mask macros, nested if/else, ``&&``/``||``
with external calls on the right, ``switch`` with fallthrough, forward
``goto out``, bounded ``for`` loops, locals of several widths, static inline
helpers, flag writes, ``?:``, compound assignment and ``++``.

The program is generated once as a small tree (the classes below render to
C); the after side is a copy rewritten by refactorings that preserve
behaviour (:data:`REWRITES`) and, for about half the pairs, one subtle change
(:data:`MUTATIONS`).  The pair carries the verdict it was *meant* to have;
the gcc oracle decides the truth.

Every flag read is masked by a ``_TIF_*`` macro built from the pair's own bit
numbers, so behaviour depends on those bits only: :attr:`Pair.bits` (at most
eight) is exactly what the oracle has to enumerate.

Run ``python tests/generate.py --seed 1 --count 3`` to print some pairs.
"""

from __future__ import annotations

import argparse
import copy
import random
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Callable, Iterator

ROOT = "exit_work"
MAX_BITS = 8
# Bit numbers a pair draws its TIF_* values from: low bits, the u16 and int
# boundaries, the sign bit of an int, and bits above 32 that u32 truncates.
BIT_POOL = (0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 15, 16, 17, 20, 21, 24, 30, 31, 32, 33, 35, 40, 47, 62, 63)
LOOP_BOUND_MAX = 4

# --------------------------------------------------------------------------
# The tree: expressions
# --------------------------------------------------------------------------


class Node:
    """Base of every tree node; ``render`` gives C text."""

    def render(self) -> str:
        raise NotImplementedError


@dataclass
class Const(Node):
    value: int

    def render(self) -> str:
        return str(self.value)


@dataclass
class Var(Node):
    name: str

    def render(self) -> str:
        return self.name


@dataclass
class Mask(Node):
    """``src & MASK`` (``op`` becomes ``|`` only by mutation)."""

    src: str
    mask: str
    op: str = "&"

    def render(self) -> str:
        return f"({self.src} {self.op} {self.mask})"


@dataclass
class Shift(Node):
    """``(src >> TIF_X) & 1``: the one-bit test in shift form."""

    src: str
    tif: str

    def render(self) -> str:
        return f"(({self.src} >> {self.tif}) & 1)"


@dataclass
class FlagFn(Node):
    """``test_thread_flag(TIF_X)`` or ``test_and_clear_thread_flag(TIF_X)``."""

    fn: str
    tif: str

    def render(self) -> str:
        return f"{self.fn}({self.tif})"


@dataclass
class CallE(Node):
    name: str
    args: list[Node]

    def render(self) -> str:
        return f"{self.name}({', '.join(a.render() for a in self.args)})"


@dataclass
class HCall(Node):
    """A call of an expression helper ``static inline T h(unsigned long flags)``."""

    helper: str

    def render(self) -> str:
        return f"{self.helper}(regs, flags)"


@dataclass
class Not(Node):
    e: Node

    def render(self) -> str:
        return f"!{self.e.render()}" if isinstance(self.e, (Var, CallE, FlagFn, HCall)) else f"!({self.e.render()})"


@dataclass
class Log(Node):
    op: str  # && or ||
    a: Node
    b: Node

    def render(self) -> str:
        return f"({self.a.render()} {self.op} {self.b.render()})"


@dataclass
class Bin(Node):
    op: str
    a: Node
    b: Node

    def render(self) -> str:
        return f"({self.a.render()} {self.op} {self.b.render()})"


@dataclass
class Cond(Node):
    c: Node
    a: Node
    b: Node

    def render(self) -> str:
        return f"({self.c.render()} ? {self.a.render()} : {self.b.render()})"


@dataclass
class Cast(Node):
    type: str
    e: Node

    def render(self) -> str:
        return f"(({self.type}){self.e.render()})"


# --------------------------------------------------------------------------
# The tree: statements
# --------------------------------------------------------------------------


def _block(body: list[Node], ind: str) -> str:
    return "".join(s.render_at(ind + "\t") for s in body)  # type: ignore[attr-defined]


class Stmt(Node):
    def render_at(self, ind: str) -> str:
        raise NotImplementedError

    def render(self) -> str:
        return self.render_at("")


@dataclass
class ExprStmt(Stmt):
    e: Node

    def render_at(self, ind: str) -> str:
        return f"{ind}{self.e.render()};\n"


@dataclass
class Assign(Stmt):
    var: str
    op: str  # "=", "+=", "|=", "^=", "++"
    e: Node | None

    def render_at(self, ind: str) -> str:
        if self.op == "++":
            return f"{ind}{self.var}++;\n"
        assert self.e is not None
        return f"{ind}{self.var} {self.op} {self.e.render()};\n"


@dataclass
class FlagWrite(Stmt):
    fn: str  # set_thread_flag / clear_thread_flag
    tif: str

    def render_at(self, ind: str) -> str:
        return f"{ind}{self.fn}({self.tif});\n"


@dataclass
class If(Stmt):
    c: Node
    then: list[Stmt]
    els: list[Stmt] | None = None

    def render_at(self, ind: str) -> str:
        out = f"{ind}if ({_strip(self.c.render())}) {{\n{_block(self.then, ind)}{ind}}}"
        if self.els is not None:
            out += f" else {{\n{_block(self.els, ind)}{ind}}}"
        return out + "\n"


@dataclass
class Arm(Node):
    c: Node
    body: list[Stmt]


@dataclass
class Chain(Stmt):
    """``if (...) else if (...) ... else``: arms with pairwise disjoint, pure
    conditions, so their order does not matter."""

    arms: list[Arm]
    els: list[Stmt]

    def render_at(self, ind: str) -> str:
        parts = [f"if ({_strip(a.c.render())}) {{\n{_block(a.body, ind)}{ind}}}" for a in self.arms]
        out = ind + " else ".join(parts)
        if self.els:
            out += f" else {{\n{_block(self.els, ind)}{ind}}}"
        return out + "\n"


@dataclass
class Case(Node):
    labels: list[str]  # "default" or a constant expression
    body: list[Stmt]
    brk: bool  # ends with break; otherwise falls through


@dataclass
class Switch(Stmt):
    e: Node
    cases: list[Case]

    def render_at(self, ind: str) -> str:
        out = f"{ind}switch ({_strip(self.e.render())}) {{\n"
        for case in self.cases:
            for label in case.labels:
                out += f"{ind}default:\n" if label == "default" else f"{ind}case {label}:\n"
            out += _block(case.body, ind)
            out += f"{ind}\tbreak;\n" if case.brk else f"{ind}\tfallthrough;\n"
        return out + f"{ind}}}\n"


@dataclass
class For(Stmt):
    var: str
    bound: int
    op: str  # "<" ("<=" only by mutation)
    body: list[Stmt]

    def render_at(self, ind: str) -> str:
        v = self.var
        return f"{ind}for ({v} = 0; {v} {self.op} {self.bound}; {v}++) {{\n{_block(self.body, ind)}{ind}}}\n"


@dataclass
class Jump(Stmt):
    kind: str  # "goto out", "break", "continue"

    def render_at(self, ind: str) -> str:
        return f"{ind}{self.kind};\n"


@dataclass
class Return(Stmt):
    e: Node | None

    def render_at(self, ind: str) -> str:
        return f"{ind}return {_strip(self.e.render())};\n" if self.e else f"{ind}return;\n"


@dataclass
class Block(Stmt):
    body: list[Stmt]

    def render_at(self, ind: str) -> str:
        return f"{ind}{{\n{_block(self.body, ind)}{ind}}}\n"


@dataclass
class HelperStmt(Stmt):
    helper: str

    def render_at(self, ind: str) -> str:
        return f"{ind}{self.helper}(regs, flags);\n"


def _strip(text: str) -> str:
    """Drop one pair of outer parentheses when they enclose the whole text."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(text) - 1:
            return text
    return text[1:-1]


# --------------------------------------------------------------------------
# The program around the tree
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class External:
    """An external function: ``ret`` type, parameter types (None: undeclared)."""

    name: str
    ret: str
    params: tuple[str, ...] | None


EXTERNALS = (
    External("audit_syscall_exit", "void", ("struct pt_regs *",)),
    External("rseq_syscall", "void", ("struct pt_regs *",)),
    External("trace_sys_exit", "void", ("struct pt_regs *", "long")),
    External("report_syscall_exit", "void", ("struct pt_regs *", "int")),
    External("note_work", "void", ("unsigned long", "u32")),
    External("arch_exit_note", "void", ("u16",)),
    External("arch_exit_hook", "long", None),  # undeclared: returns long, one argument
)
VALUE_EXTERNALS = (
    External("syscall_trace_hook", "long", ("struct pt_regs *", "unsigned int")),
    External("arch_exit_check", "int", ("struct pt_regs *",)),
    External("want_resched", "bool", ("u16",)),
    External("exit_mode", "long", ()),
    External("narrow_hook", "u8", ("long",)),
)
EXT_BY_NAME = {e.name: e for e in EXTERNALS + VALUE_EXTERNALS}
LOCAL_TYPES = ("int", "u32", "u16", "bool", "long", "unsigned long", "u8")


@dataclass
class Local:
    name: str
    type: str
    role: str  # "copy": a flag-word copy, read only masked; "val": any value
    init: str  # C initialiser


@dataclass
class Helper(Node):
    name: str
    ret: str  # "void" (statement helper) or a value type
    body: list[Stmt] = field(default_factory=list)
    expr: Node | None = None

    def render(self) -> str:
        if self.ret == "void":
            return f"static inline void {self.name}(struct pt_regs *regs, unsigned long flags)\n{{\n{_block(self.body, '')}}}\n"
        assert self.expr is not None
        return f"static inline {self.ret} {self.name}(struct pt_regs *regs, unsigned long flags)\n{{\n\treturn {_strip(self.expr.render())};\n}}\n"


@dataclass
class Program:
    tifs: dict[str, int]  # TIF_X -> bit number
    masks: dict[str, list[str]]  # _TIF_X -> TIF names it ORs together
    locals: list[Local]
    helpers: dict[str, Helper]
    body: list[Stmt]
    tail: list[Stmt]  # after the out: label
    returns_long: bool
    bit_style: str  # "shift" (1UL << TIF_X) or "BIT" (BIT(TIF_X))

    def bits(self) -> set[int]:
        """Every flag bit the program can observe: its TIF_* numbers, and bit
        31 when an int copy of the flag word sign-extends it into bits 32-63."""
        extra = {31} if any(loc.role == "copy" and loc.type == "int" for loc in self.locals) else set()
        return set(self.tifs.values()) | extra

    def render(self) -> str:
        out = ["#include <linux/thread_info.h>\n\n"]
        out += [f"#define {name}\t{bit}\n" for name, bit in self.tifs.items()]
        out.append("\n")
        for name, parts in self.masks.items():
            if len(parts) == 1:
                one = f"(1UL << {parts[0]})" if self.bit_style == "shift" else f"BIT({parts[0]})"
                out.append(f"#define {name}\t{one}\n")
            else:
                out.append(f"#define {name}\t({' | '.join('_' + p for p in parts)})\n")
        out.append("\n")
        used = self.used_names()
        for ext in EXTERNALS + VALUE_EXTERNALS:
            if ext.name in used and ext.params is not None:
                out.append(f"{ext.ret} {ext.name}({', '.join(ext.params) or 'void'});\n")
        out.append("\n")
        for helper in self.helpers.values():
            if helper.name in used:
                out.append(helper.render() + "\n")
        out.append(self.render_root())
        return "".join(out)

    def render_root(self) -> str:
        ret = "long" if self.returns_long else "void"
        out = f"{ret} {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
        for local in self.locals:
            out += f"\t{local.type} {local.name} = {local.init};\n" if local.init else f"\t{local.type} {local.name};\n"
        out += "\n" + _block(self.body, "")
        tail = list(self.tail)
        if self.returns_long and not (tail and isinstance(tail[-1], Return)):
            tail.append(Return(Var("ret")))
        if any(isinstance(n, Jump) and n.kind == "goto out" for n, *_ in walk(self.body)):
            out += "out:\n" + _block(tail or [Return(None)], "")
        else:
            out += _block(tail, "")
        return out + "}\n"

    def used_names(self) -> set[str]:
        names: set[str] = set()
        pending = [self.body, self.tail]
        seen_helpers: set[str] = set()
        while pending:
            for node, *_ in walk(pending.pop()):
                if isinstance(node, CallE):
                    names.add(node.name)
                elif isinstance(node, (HCall, HelperStmt)) and node.helper not in seen_helpers:
                    seen_helpers.add(node.helper)
                    names.add(node.helper)
                    h = self.helpers[node.helper]
                    pending.append(h.body if h.ret == "void" else [ExprStmt(h.expr)])  # type: ignore[arg-type]
        return names


# --------------------------------------------------------------------------
# Walking and editing the tree
# --------------------------------------------------------------------------

# Fields whose expression is read only for its truth value.
BOOL_FIELDS = {(If, "c"), (Arm, "c"), (Not, "e"), (Log, "a"), (Log, "b"), (Cond, "c")}


def walk(root: object, bool_ctx: bool = False) -> Iterator[tuple[Node, object, object, bool]]:
    """Every node under ``root`` as (node, holder, key, in boolean context):
    ``holder[key]`` (a list) or ``getattr(holder, key)`` is the node."""
    stack: list[tuple[object, object, object, bool]] = []
    if isinstance(root, list):
        stack += [(item, root, i, bool_ctx) for i, item in reversed(list(enumerate(root)))]
    else:
        stack.append((root, None, None, bool_ctx))
    while stack:
        node, holder, key, ctx = stack.pop()
        if not isinstance(node, Node):
            continue
        yield node, holder, key, ctx
        if not is_dataclass(node):
            continue
        for f in reversed(fields(node)):
            value = getattr(node, f.name)
            if isinstance(value, list):
                stack += [(item, value, i, False) for i, item in reversed(list(enumerate(value)))]
            elif isinstance(value, Node):
                stack.append((value, node, f.name, (type(node), f.name) in BOOL_FIELDS))


def replace(holder: object, key: object, new: object) -> None:
    if isinstance(holder, list):
        holder[key] = new  # type: ignore[index]
    else:
        setattr(holder, key, new)  # type: ignore[arg-type]


def has_call(node: Node) -> bool:
    return any(isinstance(n, (CallE, HCall, FlagFn)) for n, *_ in walk(node))


def stmt_lists(prog: Program) -> Iterator[list[Stmt]]:
    """Every statement list of the root and of the void helpers."""
    roots: list[object] = [prog.body, prog.tail] + [h.body for h in prog.helpers.values() if h.ret == "void"]
    for root in roots:
        yield root  # type: ignore[misc]
        for node, *_ in walk(root):
            for f in fields(node) if is_dataclass(node) else ():
                value = getattr(node, f.name)
                if isinstance(value, list) and all(isinstance(v, Stmt) for v in value):
                    yield value


def all_nodes(prog: Program) -> Iterator[tuple[Node, object, object, bool]]:
    yield from walk(prog.body)
    yield from walk(prog.tail)
    for h in prog.helpers.values():
        if h.ret == "void":
            yield from walk(h.body)
        else:
            yield from walk(h, False)


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------


class Gen:
    """Draws one random program; ``rng`` decides everything."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.features: set[str] = set()
        count = rng.randint(3, 6)
        bits = sorted(rng.sample(BIT_POOL, count))
        letters = "ABCDEFGH"
        self.tifs = {f"TIF_{letters[i]}": b for i, b in enumerate(bits)}
        self.single = {f"_TIF_{letters[i]}": [f"TIF_{letters[i]}"] for i in range(count)}
        self.multi: dict[str, list[str]] = {}
        for k in range(rng.randint(1, 2)):
            parts = sorted(rng.sample(list(self.tifs), rng.randint(2, min(3, count))))
            self.multi[f"_TIF_WORK{k}"] = parts
        self.returns_long = rng.random() < 0.4
        self.locals: list[Local] = []
        for i, type_ in enumerate(rng.sample(LOCAL_TYPES, rng.randint(2, 4))):
            role = "copy" if type_ in ("unsigned long", "long", "u32", "int") and rng.random() < 0.4 else "val"
            init = rng.choice(["flags", "read_thread_flags()"]) if role == "copy" else rng.choice(["0", "1", "2"])
            self.locals.append(Local(f"{'w' if role == 'copy' else 'v'}{i}", type_, role, init))
        if any(loc.role == "copy" for loc in self.locals):
            self.features.add("copy-local")
        self.helpers: dict[str, Helper] = {}
        self.loop_vars = 0
        self.has_goto = False
        self.in_helper = False

    # ---- expressions ----------------------------------------------------

    def all_masks(self) -> list[str]:
        return list(self.single) + list(self.multi)

    def flag_src(self) -> str:
        copies = [loc.name for loc in self.locals if loc.role == "copy"]
        return self.rng.choice(copies) if copies and self.rng.random() < 0.35 else "flags"

    def value_locals(self) -> list[Local]:
        return [loc for loc in self.locals if loc.role == "val"]

    def call_expr(self, ext: External, loop_var: str | None) -> CallE:
        args: list[Node] = []
        for ptype in ext.params if ext.params is not None else ("long",):
            args.append(Var("regs") if ptype.endswith("*") else self.int_arg(loop_var))
        self.features.add("undeclared-call" if ext.params is None else "call")
        return CallE(ext.name, args)

    def int_arg(self, loop_var: str | None) -> Node:
        r = self.rng.random()
        vals = self.value_locals()
        if loop_var and r < 0.25:
            return Var(loop_var)
        if r < 0.5:
            return Const(self.rng.choice([0, 1, 2, 3, 7, -1, 255, 65536]))
        if r < 0.7 and vals:
            return Var(self.rng.choice(vals).name)
        self.features.add("flag-arg")
        return Mask(self.flag_src(), self.rng.choice(self.all_masks()))

    def cond(self, depth: int, loop_var: str | None = None) -> Node:
        rng = self.rng
        r = rng.random()
        if depth > 0 and r < 0.3:
            op = rng.choice(["&&", "||"])
            self.features.add("logic")
            right = self.value_call(loop_var) if rng.random() < 0.6 else self.cond(depth - 1, loop_var)
            return Log(op, self.cond(depth - 1, loop_var), right)
        if depth > 0 and r < 0.38:
            return Not(self.cond(depth - 1, loop_var))
        if r < 0.65:
            return Mask(self.flag_src(), rng.choice(self.all_masks()))
        if r < 0.72:
            self.features.add("test-flag")
            return FlagFn("test_thread_flag", rng.choice(list(self.tifs)))
        if r < 0.75:
            self.features.add("test-and-clear")
            return FlagFn("test_and_clear_thread_flag", rng.choice(list(self.tifs)))
        if r < 0.82:
            return self.value_call(loop_var)
        if r < 0.88 and not self.in_helper:
            return self.expr_helper()
        vals = self.value_locals()
        if vals:
            v = rng.choice(vals)
            self.features.add("local-compare")
            return Bin(rng.choice(["<", "!=", ">", "=="]), Var(v.name), Const(rng.randint(0, 3)))
        return Mask("flags", rng.choice(self.all_masks()))

    def value_call(self, loop_var: str | None) -> CallE:
        return self.call_expr(self.rng.choice(VALUE_EXTERNALS), loop_var)

    def value(self, loop_var: str | None) -> Node:
        r = self.rng.random()
        if r < 0.25:
            return Const(self.rng.randint(-1, 5))
        if r < 0.5:
            self.features.add("flag-value")
            return Mask(self.flag_src(), self.rng.choice(self.all_masks()))
        if r < 0.7:
            return self.value_call(loop_var)
        if r < 0.85:
            self.features.add("ternary")
            return Cond(self.cond(1, loop_var), Const(self.rng.randint(0, 3)), self.rng.choice([Const(-1), self.value_call(loop_var)]))
        vals = self.value_locals()
        if vals:
            return Bin(self.rng.choice(["+", "|"]), Var(self.rng.choice(vals).name), Const(self.rng.randint(1, 3)))
        return Const(0)

    def expr_helper(self) -> HCall:
        existing = [h for h in self.helpers.values() if h.ret != "void"]
        if existing and self.rng.random() < 0.5:
            return HCall(self.rng.choice(existing).name)
        name = f"exit_test{len(self.helpers)}"
        helper = self.helpers[name] = Helper(name, self.rng.choice(["bool", "int", "u16", "unsigned long"]))
        # The helper's own body must not see the root's locals.
        saved, self.locals, self.in_helper = self.locals, [], True
        helper.expr = self.cond(1)
        self.locals, self.in_helper = saved, False
        self.features.add("expr-helper")
        return HCall(name)

    # ---- statements -----------------------------------------------------

    def stmts(self, depth: int, n: int, loop_var: str | None = None, in_switch: bool = False, helper: bool = False) -> list[Stmt]:
        return [self.stmt(depth, loop_var, in_switch, helper) for _ in range(n)]

    def stmt(self, depth: int, loop_var: str | None, in_switch: bool, helper: bool) -> Stmt:
        rng = self.rng
        r = rng.random()
        if depth <= 0:
            r = rng.random() * 0.35
        if r < 0.2:
            return ExprStmt(self.call_expr(rng.choice(EXTERNALS), loop_var))
        if r < 0.27 and not helper:
            return self.assign(loop_var)
        if r < 0.32:
            self.features.add("flag-write")
            return FlagWrite(rng.choice(["set_thread_flag", "clear_thread_flag"]), rng.choice(list(self.tifs)))
        if r < 0.35 and loop_var and not in_switch and not helper:
            self.features.add("break-continue")
            return If(self.cond(1, loop_var), [Jump(rng.choice(["break", "continue"]))])
        if r < 0.55:
            self.features.add("if")
            els = self.stmts(depth - 1, rng.randint(1, 2), loop_var, in_switch, helper) if rng.random() < 0.5 else None
            if els is not None:
                self.features.add("else")
            return If(self.cond(2, loop_var), self.stmts(depth - 1, rng.randint(1, 2), loop_var, in_switch, helper), els)
        if r < 0.62:
            return self.chain(depth, loop_var, in_switch, helper)
        if r < 0.7:
            return self.switch(depth, loop_var, helper)
        if r < 0.76 and loop_var is None and not helper:
            self.features.add("loop")
            var = f"i{self.loop_vars}"
            self.loop_vars += 1
            self.locals.append(Local(var, "int", "loop", ""))
            return For(var, rng.randint(1, LOOP_BOUND_MAX), "<", self.stmts(depth - 1, rng.randint(1, 3), var))
        if r < 0.81 and not helper:
            self.features.add("goto")
            self.has_goto = True
            pre = [self.assign(loop_var)] if self.returns_long and self.value_locals() and rng.random() < 0.5 else []
            return If(self.cond(1, loop_var), pre + [Jump("goto out")])
        if r < 0.86 and not helper and loop_var is None:
            return self.void_helper()
        if r < 0.9 and self.returns_long and not helper:
            self.features.add("return")
            return If(self.cond(1, loop_var), [Return(self.value(loop_var))])
        return ExprStmt(self.call_expr(rng.choice(EXTERNALS), loop_var))

    def assign(self, loop_var: str | None) -> Stmt:
        rng = self.rng
        targets = self.value_locals() + ([Local("ret", "long", "val", "0")] if self.returns_long else [])
        if not targets:
            return ExprStmt(self.call_expr(rng.choice(EXTERNALS), loop_var))
        var = rng.choice(targets).name
        op = rng.choice(["=", "=", "+=", "|=", "^=", "++"])
        self.features.add("assign" if op == "=" else "compound")
        return Assign(var, op, None if op == "++" else self.value(loop_var))

    def chain(self, depth: int, loop_var: str | None, in_switch: bool, helper: bool) -> Stmt:
        """Disjoint arms: ``(src & M) == v`` for distinct v."""
        self.features.add("chain")
        mask = self.rng.choice(list(self.multi))
        parts = self.multi[mask]
        values = ["0"] + [f"_{p}" for p in parts]
        self.rng.shuffle(values)
        src = "flags"
        arms = [
            Arm(Bin("==", Mask(src, mask), Var(v)), self.stmts(depth - 1, self.rng.randint(1, 2), loop_var, in_switch, helper))
            for v in values[: self.rng.randint(2, len(values))]
        ]
        els = self.stmts(depth - 1, 1, loop_var, in_switch, helper) if self.rng.random() < 0.5 else []
        return Chain(arms, els)

    def switch(self, depth: int, loop_var: str | None, helper: bool) -> Stmt:
        self.features.add("switch")
        rng = self.rng
        if rng.random() < 0.5:
            mask = rng.choice(list(self.multi))
            expr: Node = Mask("flags", mask)
            labels = ["0"] + [f"_{p}" for p in self.multi[mask]]
        else:
            expr = CallE("exit_mode", [])
            labels = ["0", "1", "2"]
        rng.shuffle(labels)
        labels = labels[: rng.randint(1, len(labels))]
        if rng.random() < 0.6:
            labels.append("default")
        cases = []
        for label in labels:
            if cases and rng.random() < 0.2:
                cases[-1].labels.append(label)
                continue
            brk = rng.random() < 0.6
            if not brk:
                self.features.add("fallthrough")
            cases.append(Case([label], self.stmts(depth - 1, rng.randint(1, 2), loop_var, True, helper), brk))
        return Switch(expr, cases)

    def void_helper(self) -> Stmt:
        existing = [h for h in self.helpers.values() if h.ret == "void"]
        if existing and self.rng.random() < 0.4:
            return HelperStmt(self.rng.choice(existing).name)
        name = f"exit_step{len(self.helpers)}"
        helper = self.helpers[name] = Helper(name, "void")
        saved, self.locals, self.in_helper = self.locals, [], True
        helper.body = self.stmts(1, self.rng.randint(1, 3), helper=True)
        self.locals, self.in_helper = saved, False
        self.features.add("void-helper")
        return HelperStmt(name)

    def program(self) -> Program:
        body = self.stmts(self.rng.choice([1, 2, 2, 3]), self.rng.randint(2, 5))
        tail: list[Stmt] = []
        if self.rng.random() < 0.5:
            tail.append(ExprStmt(self.call_expr(self.rng.choice(EXTERNALS), None)))
        if self.returns_long:
            self.locals.append(Local("ret", "long", "val", "0"))
            if self.rng.random() < 0.5:
                tail.append(Return(Cond(self.cond(1), Var("ret"), self.value(None))))
        masks = {**self.single, **self.multi}
        return Program(dict(self.tifs), masks, self.locals, self.helpers, body, tail,
                       self.returns_long, self.rng.choice(["shift", "BIT"]))


# --------------------------------------------------------------------------
# Refactorings that preserve behaviour
# --------------------------------------------------------------------------

Edit = Callable[[Program, random.Random], bool]


def _pick(rng: random.Random, items: list) -> object | None:
    return rng.choice(items) if items else None


def rw_invert_if(prog: Program, rng: random.Random) -> bool:
    """``if (c) A else B`` -> ``if (!c) B else A``."""
    sites = [n for n, *_ in all_nodes(prog) if isinstance(n, If)]
    node = _pick(rng, sites)
    if not isinstance(node, If):
        return False
    node.c, node.then, node.els = Not(node.c), node.els or [], node.then
    return True


def rw_reorder_chain(prog: Program, rng: random.Random) -> bool:
    """Arms of a chain with disjoint pure conditions in another order."""
    node = _pick(rng, [n for n, *_ in all_nodes(prog) if isinstance(n, Chain) and len(n.arms) > 1])
    if not isinstance(node, Chain):
        return False
    before = list(node.arms)
    while node.arms == before:
        rng.shuffle(node.arms)
    return True


def rw_inline_helper(prog: Program, rng: random.Random) -> bool:
    """A helper call replaced by the helper's body (an expression helper's
    value keeps its return-type conversion as a cast)."""
    sites = [(n, h, k) for n, h, k, _ in all_nodes(prog) if isinstance(n, (HelperStmt, HCall))]
    site = _pick(rng, sites)
    if site is None:
        return False
    node, holder, key = site  # type: ignore[misc]
    helper = prog.helpers[node.helper]
    if isinstance(node, HelperStmt):
        replace(holder, key, Block(copy.deepcopy(helper.body)))
    else:
        assert helper.expr is not None
        replace(holder, key, Cast(helper.ret, copy.deepcopy(helper.expr)))
    return True


def rw_split_mask(prog: Program, rng: random.Random) -> bool:
    """``src & (A|B)`` in a test -> ``(src & A) || (src & B)``."""
    sites = [(n, h, k) for n, h, k, ctx in all_nodes(prog) if ctx and isinstance(n, Mask) and n.mask in prog.masks
             and len(prog.masks[n.mask]) > 1]
    site = _pick(rng, sites)
    if site is None:
        return False
    node, holder, key = site  # type: ignore[misc]
    parts = [Mask(node.src, "_" + p) for p in prog.masks[node.mask]]
    for p in parts:
        prog.masks.setdefault(p.mask, [p.mask[1:]])
    expr: Node = parts[0]
    for p in parts[1:]:
        expr = Log("||", expr, p)
    replace(holder, key, expr)
    return True


def rw_shift_form(prog: Program, rng: random.Random) -> bool:
    """``src & _TIF_X`` in a test -> ``(src >> TIF_X) & 1``."""
    wide = {"flags"} | {loc.name for loc in prog.locals if loc.type in ("long", "unsigned long")}
    sites = [(n, h, k) for n, h, k, ctx in all_nodes(prog)
             if ctx and isinstance(n, Mask) and n.src in wide and len(prog.masks.get(n.mask, [])) == 1]
    site = _pick(rng, sites)
    if site is None:
        return False
    node, holder, key = site  # type: ignore[misc]
    replace(holder, key, Shift(node.src, prog.masks[node.mask][0]))
    return True


def rw_de_morgan(prog: Program, rng: random.Random) -> bool:
    """``a && b`` in a test -> ``!(!a || !b)`` (and the dual)."""
    sites = [(n, h, k) for n, h, k, ctx in all_nodes(prog) if ctx and isinstance(n, Log)]
    site = _pick(rng, sites)
    if site is None:
        return False
    node, holder, key = site  # type: ignore[misc]
    dual = "||" if node.op == "&&" else "&&"
    replace(holder, key, Not(Log(dual, Not(node.a), Not(node.b))))
    return True


def rw_compound(prog: Program, rng: random.Random) -> bool:
    """``x op= e`` -> ``x = x op e``; ``x++`` -> ``x += 1``."""
    node = _pick(rng, [n for n, *_ in all_nodes(prog) if isinstance(n, Assign) and n.op != "="])
    if not isinstance(node, Assign):
        return False
    if node.op == "++":
        node.op, node.e = "+=", Const(1)
    else:
        assert node.e is not None
        node.e, node.op = Bin(node.op[0], Var(node.var), node.e), "="
    return True


def rw_ternary_to_if(prog: Program, rng: random.Random) -> bool:
    """``x = c ? a : b;`` -> ``if (c) x = a; else x = b;``."""
    sites = [(n, h, k) for n, h, k, _ in all_nodes(prog) if isinstance(n, Assign) and n.op == "=" and isinstance(n.e, Cond)]
    site = _pick(rng, sites)
    if site is None:
        return False
    node, holder, key = site  # type: ignore[misc]
    c = node.e
    replace(holder, key, If(c.c, [Assign(node.var, "=", c.a)], [Assign(node.var, "=", c.b)]))
    return True


REWRITES: dict[str, Edit] = {
    "invert-if": rw_invert_if,
    "reorder-chain": rw_reorder_chain,
    "inline-helper": rw_inline_helper,
    "split-mask": rw_split_mask,
    "shift-form": rw_shift_form,
    "de-morgan": rw_de_morgan,
    "compound": rw_compound,
    "ternary-to-if": rw_ternary_to_if,
}

# --------------------------------------------------------------------------
# Subtle changes
# --------------------------------------------------------------------------


def mu_mask_bit(prog: Program, rng: random.Random) -> bool:
    """A multi-bit mask gains or loses one bit."""
    name = _pick(rng, [m for m, parts in prog.masks.items() if len(parts) > 1])
    if not isinstance(name, str):
        return False
    parts = prog.masks[name]
    missing = [t for t in prog.tifs if t not in parts]
    if missing and (len(parts) == 2 or rng.random() < 0.5):
        parts.append(rng.choice(missing))
    else:
        parts.remove(rng.choice(parts))
    return True


def mu_off_by_one(prog: Program, rng: random.Random) -> bool:
    """One TIF_X bit number moved by one (to an unused bit)."""
    used = set(prog.tifs.values())
    options = [(t, b + d) for t, b in prog.tifs.items() for d in (-1, 1) if 0 <= b + d < 64 and b + d not in used]
    pick = _pick(rng, options)
    if pick is None or len(used) >= MAX_BITS:
        return False
    tif, bit = pick  # type: ignore[misc]
    prog.tifs[tif] = bit
    return True


def mu_swap_calls(prog: Program, rng: random.Random) -> bool:
    """Two adjacent call statements swapped."""
    sites = [(lst, i) for lst in stmt_lists(prog) for i in range(len(lst) - 1)
             if isinstance(lst[i], ExprStmt) and isinstance(lst[i + 1], ExprStmt)
             and lst[i].render() != lst[i + 1].render()]
    site = _pick(rng, sites)
    if site is None:
        return False
    lst, i = site  # type: ignore[misc]
    lst[i], lst[i + 1] = lst[i + 1], lst[i]
    return True


def mu_const_arg(prog: Program, rng: random.Random) -> bool:
    """A constant call argument changed by one."""
    sites = [a for n, *_ in all_nodes(prog) if isinstance(n, CallE) for a in n.args if isinstance(a, Const)]
    node = _pick(rng, sites)
    if not isinstance(node, Const):
        return False
    node.value += 1
    return True


def mu_truncate(prog: Program, rng: random.Random) -> bool:
    """A local narrowed: 64-bit to u32, 32-bit to u16, bool to u8."""
    narrower = {"unsigned long": "u32", "long": "u32", "int": "u16", "u32": "u16", "bool": "u8", "u16": "u8"}
    shifted = {n.src for n, *_ in all_nodes(prog) if isinstance(n, Shift)}
    local = _pick(rng, [loc for loc in prog.locals
                        if loc.type in narrower and loc.role != "loop" and loc.name not in shifted])
    if not isinstance(local, Local):
        return False
    local.type = narrower[local.type]
    return True


def mu_amp_for_andand(prog: Program, rng: random.Random) -> bool:
    """``a && call()`` -> ``a & call()``: the call now always happens."""
    sites = [(n, h, k) for n, h, k, _ in all_nodes(prog) if isinstance(n, Log) and n.op == "&&" and has_call(n.b)]
    site = _pick(rng, sites) or _pick(rng, [(n, h, k) for n, h, k, _ in all_nodes(prog) if isinstance(n, Log)])
    if site is None:
        return False
    node, holder, key = site  # type: ignore[misc]
    replace(holder, key, Bin("&" if node.op == "&&" else "|", node.a, node.b))
    return True


def mu_drop_else(prog: Program, rng: random.Random) -> bool:
    """``if (c) A else B`` -> ``if (c) A; B``."""
    sites = [(lst, i) for lst in stmt_lists(prog) for i, s in enumerate(lst) if isinstance(s, If) and s.els]
    site = _pick(rng, sites)
    if site is None:
        return False
    lst, i = site  # type: ignore[misc]
    node = lst[i]
    lst[i + 1 : i + 1] = node.els
    node.els = None
    return True


def mu_and_or(prog: Program, rng: random.Random) -> bool:
    """``&&`` <-> ``||``."""
    node = _pick(rng, [n for n, *_ in all_nodes(prog) if isinstance(n, Log)])
    if not isinstance(node, Log):
        return False
    node.op = "||" if node.op == "&&" else "&&"
    return True


def mu_amp_or(prog: Program, rng: random.Random) -> bool:
    """``src & M`` -> ``src | M``."""
    node = _pick(rng, [n for n, *_ in all_nodes(prog) if isinstance(n, Mask)])
    if not isinstance(node, Mask):
        return False
    node.op = "|"
    return True


def mu_less_equal(prog: Program, rng: random.Random) -> bool:
    """``<`` -> ``<=`` in a loop bound or a comparison."""
    node = _pick(rng, [n for n, *_ in all_nodes(prog) if isinstance(n, (For, Bin)) and n.op == "<"])
    if node is None:
        return False
    node.op = "<="  # type: ignore[union-attr]
    return True


def mu_set_clear(prog: Program, rng: random.Random) -> bool:
    """``set_thread_flag`` <-> ``clear_thread_flag``."""
    node = _pick(rng, [n for n, *_ in all_nodes(prog) if isinstance(n, FlagWrite)])
    if not isinstance(node, FlagWrite):
        return False
    node.fn = "clear_thread_flag" if node.fn == "set_thread_flag" else "set_thread_flag"
    return True


MUTATIONS: dict[str, Edit] = {
    "mask-bit": mu_mask_bit,
    "off-by-one-bit": mu_off_by_one,
    "swap-calls": mu_swap_calls,
    "const-arg": mu_const_arg,
    "truncate-local": mu_truncate,
    "amp-for-andand": mu_amp_for_andand,
    "drop-else": mu_drop_else,
    "and-or": mu_and_or,
    "amp-or": mu_amp_or,
    "less-equal": mu_less_equal,
    "set-clear": mu_set_clear,
}

# --------------------------------------------------------------------------
# Pairs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """One generated pair and what it was meant to be."""

    name: str
    before: str  # C text
    after: str
    function: str
    bits: tuple[int, ...]  # every flag bit either side can observe
    intended: str  # "equivalent" or "not-equivalent"
    edits: tuple[str, ...]  # rewrites and mutation applied to the after side
    features: frozenset[str]  # generator features the before side uses


def generate_pair(seed: int, index: int, exclude: frozenset[str] = frozenset()) -> Pair:
    """Pair ``index`` of the stream ``seed`` (deterministic).  Programs using a
    feature in ``exclude`` are redrawn."""
    for attempt in range(1000):
        rng = random.Random(f"{seed}:{index}:{attempt}")
        gen = Gen(rng)
        prog = gen.program()
        if not gen.features & exclude:
            break
    else:  # pragma: no cover - the generator would have to be broken
        raise RuntimeError(f"could not draw a pair without {sorted(exclude)}")
    after = copy.deepcopy(prog)
    edits: list[str] = []
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(list(REWRITES))
        if name not in exclude and REWRITES[name](after, rng):
            edits.append(name)
    intended = "equivalent"
    if rng.random() < 0.5:
        for name in rng.sample(list(MUTATIONS), len(MUTATIONS)):
            if name not in exclude and MUTATIONS[name](after, rng):
                edits.append(name)
                intended = "not-equivalent"
                break
    bits = tuple(sorted(prog.bits() | after.bits()))
    assert len(bits) <= MAX_BITS
    return Pair(f"gen-{seed}-{index}", prog.render(), after.render(), ROOT, bits, intended, tuple(edits),
                frozenset(gen.features))


def fixture_text(pair: Pair, note: str = "") -> tuple[str, str]:
    """The pair as fixture files (header on the before side)."""
    header = [f"// EXPECT: {pair.intended}", f"// FUNCTION: {pair.function}"]
    comment = [f"/* generated {pair.name}; edits: {', '.join(pair.edits) or 'none'}; bits: {list(pair.bits)}"]
    comment += [f" * {line}" for line in note.splitlines()]
    comment.append(" */")
    return "\n".join(header + [""] + comment) + "\n" + pair.before, pair.after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    for index in range(args.start, args.start + args.count):
        pair = generate_pair(args.seed, index)
        print(f"==== {pair.name} intended={pair.intended} edits={pair.edits} bits={pair.bits}")
        print(f"---- before\n{pair.before}---- after\n{pair.after}")


if __name__ == "__main__":
    main()
