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
import re
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


def generate_pair(seed: int, index: int, exclude: frozenset[str] = frozenset(),
                  families: frozenset[str] = frozenset()) -> Pair:
    """Pair ``index`` of the stream ``seed`` (deterministic).  Programs using a
    feature in ``exclude`` are redrawn.  With ``families`` (see
    :data:`FAMILIES`), about two pairs in three come from one of them."""
    drawn = family_pair(seed, index, families - exclude)
    if drawn is not None:
        return drawn
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


# --------------------------------------------------------------------------
# Families: the constructs the tree above leaves out, drawn on purpose
# --------------------------------------------------------------------------
#
# Each family draws one small pair around a construct where a checker is
# most likely wrong (issue 9): jumps out of a `switch`, unions, bit-fields,
# initialized globals, casts and wide values in enums, parameters bound by
# position, struct members through `...`, symbolic shift counts,
# __builtin_popcountl and multi-character constants.  The after side is an
# independent spelling of the same C semantics (written from the C standard
# and GCC's documented implementation choices) or, for about half the
# pairs, a spelling with one slip.  The oracle decides the truth.
#
# Undefined behaviour: every family guards its shift counts (``& 63`` or a
# test), so its pairs are UB-free.  The separate family ``shift-ub`` does
# not: its sides differ only for counts >= 64, where C is undefined; the
# oracle traps there (UNDEFINED) and the expectation is that equiv reports
# undefined behaviour instead of printing a difference.


@dataclass(frozen=True)
class Drawn:
    """One family pair before it becomes a :class:`Pair`."""

    before: str
    after: str
    bits: tuple[int, ...]
    intended: str
    edits: tuple[str, ...]
    function: str = ROOT


DECLS = (
    "void report(struct pt_regs *regs);\n"
    "void trace_long(long value);\n"
    "void bar(int level, ...);\n\n"
)


def _bits_of(mask: int) -> list[int]:
    return [b for b in range(64) if mask >> b & 1]


def _mask(rng: random.Random, count: int, pool: tuple[int, ...] = BIT_POOL) -> int:
    return sum(1 << b for b in rng.sample(pool, count))


def _slip(rng: random.Random) -> bool:
    """Whether this pair's after side carries a slip (about half)."""
    return rng.random() < 0.5


def _verdict(slip: bool) -> str:
    return "not-equivalent" if slip else "equivalent"


def fam_switch_jump(rng: random.Random) -> Drawn:
    """``break``/``continue`` inside a ``switch`` inside a loop, against the
    same control flow spelled with ``if``/``else``."""
    bits = sorted(rng.sample((0, 1, 2, 3, 8, 9), 2))
    mask = sum(1 << b for b in bits)
    values = [0, 1 << bits[0], 1 << bits[1], mask]
    rng.shuffle(values)
    labels = values[: rng.randint(1, 3)]
    jumps = [rng.choice(["break", "continue", "return"]) for _ in labels]
    default_jump = rng.choice(["break", "continue", None])
    bound = rng.randint(1, 3)
    slip = _slip(rng)
    wrong = rng.randrange(len(labels) + 1) if slip else -1

    def jump_if(j: str | None, k: int) -> str:
        """The if-form statement for jump ``j`` of arm ``k``: a ``break`` of
        the switch is no jump at all in the if form."""
        if k == wrong:  # the slip: continue <-> fall to the loop's tail
            j = {"continue": None, "break": "continue", "return": "continue", None: "continue"}[j]
        return {"continue": "continue;", "return": "return;", "break": "", None: ""}[j]

    cases = "".join(
        f"\t\tcase {hex(v)}:\n\t\t\ttrace_long({k});\n\t\t\t{j};\n" for k, (v, j) in enumerate(zip(labels, jumps))
    )
    default = "\t\tdefault:\n\t\t\ttrace_long(9);\n" + (f"\t\t\t{default_jump};\n" if default_jump else "")
    before = (DECLS + f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n\tint i;\n\n"
              f"\tfor (i = 0; i < {bound}; i++) {{\n\t\tswitch (flags & {hex(mask)}) {{\n{cases}{default}\t\t}}\n"
              f"\t\ttrace_long(100 + i);\n\t}}\n}}\n")
    arms = "".join(
        f"\t\t{'if' if k == 0 else 'else if'} (m == {hex(v)}) {{\n\t\t\ttrace_long({k});\n\t\t\t{jump_if(j, k)}\n\t\t}}\n"
        for k, (v, j) in enumerate(zip(labels, jumps))
    )
    arms += f"\t\telse {{\n\t\t\ttrace_long(9);\n\t\t\t{jump_if(default_jump if default_jump != 'break' else None, len(labels))}\n\t\t}}\n"
    after = (DECLS + f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n\tint i;\n\n"
             f"\tfor (i = 0; i < {bound}; i++) {{\n\t\tunsigned long m = flags & {hex(mask)};\n\n{arms}"
             f"\t\ttrace_long(100 + i);\n\t}}\n}}\n")
    return Drawn(before, after, tuple(bits), _verdict(slip), ("if-form",) + (("jump-slip",) if slip else ()))


UNION_MEMBERS = (("w", "unsigned long", 64), ("lo", "unsigned int", 32), ("h", "unsigned short", 16),
                 ("b", "unsigned char", 8))


def fam_union(rng: random.Random) -> Drawn:
    """A union written whole, then through a narrower member, then read
    through a third: one cell read at each member's width (x86-64 is
    little-endian, so every member starts at the low byte)."""
    mask = _mask(rng, 3, (0, 3, 7, 8, 12, 15, 16, 20, 31, 33, 40))
    _, _, nw = narrow = rng.choice(UNION_MEMBERS[1:])
    read = rng.choice(UNION_MEMBERS)
    const = rng.choice([0, 1, 0x80, 0xff, 0x1234, 0x80000001])
    slip = _slip(rng)
    nmask = (1 << nw) - 1
    rmask = (1 << read[2]) - 1
    kept = ~nmask & ((1 << 64) - 1) if not slip else (1 << 64) - 1  # the slip: the narrow store is lost
    value = f"((((flags & {hex(mask)}UL) & {hex(kept)}UL) | {hex(const & nmask) if not slip else '0'}UL) & {hex(rmask)}UL)"
    members = "".join(f"\t{t} {n};\n" for n, t, _ in UNION_MEMBERS)
    types = f"union exit_word {{\n{members}}};\n\nstruct exit_ctx {{\n\tunion exit_word u;\n}};\n\n"
    if rng.random() < 0.5:  # a local union
        sig, decl, u = f"void {ROOT}(struct exit_ctx *ec, unsigned long flags)", "\tunion exit_word u;\n\n", "u"
    else:  # a union member of an object the caller passes
        sig, decl, u = f"void {ROOT}(struct exit_ctx *ec, unsigned long flags)", "", "ec->u"
    before = (DECLS + types + f"{sig}\n{{\n{decl}"
              f"\t{u}.w = flags & {hex(mask)}UL;\n\t{u}.{narrow[0]} = {hex(const)};\n\ttrace_long((long){u}.{read[0]});\n}}\n")
    # the after side leaves the object as the before side does, then logs the value computed
    store = "" if u == "u" else f"\t{u}.w = flags & {hex(mask)}UL;\n\t{u}.{narrow[0]} = {hex(const)};\n"
    after = (DECLS + types + f"{sig}\n{{\n{store}"
             f"\ttrace_long((long)({read[1]}){value});\n}}\n")
    return Drawn(before, after, tuple(_bits_of(mask)), _verdict(slip), ("arithmetic",) + (("lost-store",) if slip else ()))


def _reduce(value: str, width: int, signed: bool) -> str:
    """C text of ``value`` (an int expression) reduced to a bit-field of
    ``width`` bits: modulo 2^width, then sign-extended from bit width-1 when
    signed (GCC: "Integers implementation" and "Structures ... Bit-Fields")."""
    low = f"((unsigned int)({value}) & {hex((1 << width) - 1)}u)"
    if not signed:
        return f"(int){low}"
    sign = 1 << (width - 1)
    return f"((int)({low} ^ {hex(sign)}u) - {sign})"


def fam_bitfield(rng: random.Random) -> Drawn:
    """Stores to a signed or unsigned bit-field, in range or not, read back;
    against the reduction written out as arithmetic."""
    width = rng.randint(1, 7)
    signed = rng.random() < 0.5
    mask = _mask(rng, 3, (0, 1, 2, 3, 4, 5, 6, 9, 31))
    source = rng.choice([str(rng.randint(-70, 70)), f"(int)(flags & {hex(mask)})", "(int)flags"])
    use = rng.choice(["call", "negative", "equal"])
    slip = _slip(rng)
    reduced = source if slip else _reduce(source, width, signed)  # the slip: the width is ignored
    ftype = "int" if signed else "unsigned int"
    head = (DECLS + f"struct exit_ctx {{\n\tunsigned int pad : 3;\n\t{ftype} field : {width};\n\tlong tail;\n}};\n\n"
            f"void {ROOT}(struct exit_ctx *ec, unsigned long flags)\n{{\n\tec->field = {source};\n")
    k = rng.randint(-2, 3)
    tests = {"call": ("\ttrace_long(ec->field);\n", f"\ttrace_long({reduced});\n"),
             "negative": ("\tif (ec->field < 0)\n\t\ttrace_long(1);\n", f"\tif ({reduced} < 0)\n\t\ttrace_long(1);\n"),
             "equal": (f"\tif (ec->field == {k})\n\t\ttrace_long(2);\n", f"\tif ({reduced} == {k})\n\t\ttrace_long(2);\n")}
    bits = tuple(sorted(set(_bits_of(mask)) | ({31} if source == "(int)flags" else set()) | {0, 1, 2, 3, 4}))[:8]
    before, after = tests[use]
    return Drawn(head + before + "}\n", head + after + "}\n", bits, _verdict(slip),
                 (f"{'signed' if signed else 'unsigned'}-{width}",) + (("width-ignored",) if slip else ()))


def fam_global_init(rng: random.Random) -> Drawn:
    """Initialized file-scope objects (``static const`` and plain
    ``static``, never written): each side reads its initializer."""
    mask = _mask(rng, 2, (0, 1, 2, 3, 8, 9, 31, 32, 40))
    level = rng.randint(-3, 3)
    kind = rng.choice(["static const unsigned long", "static unsigned long", "const unsigned long"])
    slip = _slip(rng)
    other = mask ^ (1 << rng.choice(_bits_of(mask))) if slip and rng.random() < 0.5 else mask
    other_level = level + 1 if slip and other == mask else level
    before = (DECLS + f"{kind} exit_mask = {hex(mask)}UL;\nstatic const int exit_level = {level};\n\n"
              f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
              f"\tif (flags & exit_mask)\n\t\ttrace_long(exit_level);\n}}\n")
    after = (DECLS + f"{kind} exit_mask = {hex(other)}UL;\nstatic const int exit_level = {other_level};\n\n"
             f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
             f"\tif (flags & {hex(mask)}UL)\n\t\ttrace_long({level});\n}}\n")
    return Drawn(before, after, tuple(_bits_of(mask | other)), _verdict(slip and (other != mask or other_level != level)),
                 ("inlined",) + (("initializer-changed",) if slip else ()))


CASTS = (("unsigned char", 8, False), ("signed char", 8, True), ("unsigned short", 16, False),
         ("short", 16, True), ("unsigned int", 32, False), ("int", 32, True))


def _cast_value(value: int, width: int, signed: bool) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if signed and value >> (width - 1) else value


def fam_enum_cast(rng: random.Random) -> Drawn:
    """Casts inside enumerator values; against the folded constants."""
    ctype, width, signed = rng.choice(CASTS)
    raw = rng.choice([-1, -129, 255, 256, 70000, -70000, 0x1ff, 0x80000000])
    folded = _cast_value(raw, width, signed)
    slip = _slip(rng)
    shown = raw if slip else folded  # the slip: the cast is ignored
    k = rng.choice([-1, 0, 255, folded])
    before = (f"enum {{ EXIT_V = ({ctype}){raw}, EXIT_W = EXIT_V + 1 }};\n\n"
              f"long {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
              f"\treturn (EXIT_V == {k}) * 2 + (long)EXIT_W * !!(flags & 1);\n}}\n")
    after = (f"long {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
             f"\treturn ({shown} == {k}) * 2 + (long)({shown} + 1) * !!(flags & 1);\n}}\n")
    return Drawn(before, after, (0,), _verdict(slip and raw != folded), ("folded",) + (("cast-ignored",) if slip else ()))


def fam_enum_wide(rng: random.Random) -> Drawn:
    """Enumerations GCC gives a type other than int: a constant above
    INT_MAX (unsigned int or a 64-bit type) and an enumerated type with no
    negative values (unsigned int)."""
    slip = _slip(rng)
    if rng.random() < 0.5:
        bit = rng.choice((31, 32, 33, 40, 47, 62, 63))
        wrong = rng.choice((0, 31 if bit != 31 else 30))
        spelled = f"(1UL << {wrong if slip else bit})"
        before = (DECLS + f"enum {{ _TIF_X = 1UL << {bit} }};\n\n"
                  f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
                  f"\tif (flags & _TIF_X)\n\t\treport(regs);\n}}\n")
        after = (DECLS + f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
                 f"\tif (flags & {spelled})\n\t\treport(regs);\n}}\n")
        return Drawn(before, after, tuple(sorted({bit, wrong, 31, 32, 63})), _verdict(slip),
                     ("wide-constant",) + (("wrong-bit",) if slip else ()))
    k = rng.randint(0, 6)
    ltype = "int" if slip else "unsigned int"  # the slip: the enum taken as int
    before = (DECLS + "enum exit_state { ES_A = 1, ES_B = 2, ES_C = 4 };\n\n"
              f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
              f"\tenum exit_state s = (int)flags;\n\n\tif (s > {k})\n\t\treport(regs);\n}}\n")
    after = before.replace("enum exit_state s", f"{ltype} s")
    return Drawn(before, after, (0, 1, 2, 31, 32, 63), _verdict(slip), ("unsigned-enum",) + (("as-int",) if slip else ()))


def fam_params(rng: random.Random) -> Drawn:
    """Integer parameters besides the flag word, renamed or reordered:
    arguments are bound by position."""
    body = rng.choice(["return a - b;", "if (a > b)\n\t\ttrace_long(a);\n\treturn b;",
                       "trace_long(a);\n\ttrace_long(b);\n\treturn a | (long)(flags & 1);"])
    before = f"{DECLS}long {ROOT}(unsigned long flags, long a, long b)\n{{\n\t{body}\n}}\n"
    edit = rng.choice(["rename", "reorder", "swap-names"])
    if edit == "rename":  # x, y take a's and b's places: same meaning
        after = before.replace("long a, long b", "long x, long y")
        after = re.sub(r"\ba\b", "x", re.sub(r"\bb\b", "y", after.split("\n{", 1)[1]))
        after = f"{DECLS}long {ROOT}(unsigned long flags, long x, long y)\n{{" + after
        intended = "equivalent"
    elif edit == "reorder":  # the flag word moves; a caller passing it first no longer matches
        after = before.replace("(unsigned long flags, long a, long b)", "(long a, unsigned long flags, long b)")
        intended = "not-equivalent"
    else:  # the names swap places, the body is unchanged: a and b mean the other argument
        after = before.replace("long a, long b", "long b, long a")
        intended = "not-equivalent"
    return Drawn(before, after, (0, 31, 63), intended, (edit,))


def fam_variadic_member(rng: random.Random) -> Drawn:
    """Struct members (integers of several widths and a struct) through a
    variadic call, after the default argument promotions."""
    members = [("a", "long"), ("b", "int"), ("c", "unsigned char"), ("d", "short"), ("e", "struct exit_pair")]
    picked = rng.sample(members, rng.randint(1, 3))
    slip = _slip(rng)
    args = [f"ec->{name}" for name, _ in picked]
    before_args = ", ".join(args)
    locals_ = "".join(f"\t{t} v{i} = ec->{n};\n" for i, (n, t) in enumerate(picked))
    after_args = [f"v{i}" for i in range(len(picked))]
    if slip:
        other = rng.choice([m for m in members if m not in picked])
        after_args[-1] = f"ec->{other[0]}"
    head = (DECLS + "struct exit_pair {\n\tlong lo;\n\tlong hi;\n};\n\nstruct exit_ctx {\n"
            + "".join(f"\t{t} {n};\n" for n, t in members) + "};\n\n"
            f"void {ROOT}(struct exit_ctx *ec, unsigned long flags)\n{{\n")
    before = head + f"\tif (flags & 1)\n\t\tbar(1, {before_args});\n}}\n"
    after = head + locals_ + f"\n\tif (flags & 1)\n\t\tbar(1, {', '.join(after_args)});\n}}\n"
    return Drawn(before, after, (0,), _verdict(slip), ("via-locals",) + (("other-member",) if slip else ()))


def fam_shift(rng: random.Random) -> Drawn:
    """Shifts by a symbolic count that is always below the width (UB-free)."""
    low = rng.choice([(0, 1, 2), (0, 2, 4), (3, 4, 5)])
    count = f"(flags & {hex(sum(1 << b for b in low))})"
    slip = _slip(rng)
    form = rng.choice(["test", "mask", "left"])
    if form == "test":
        before_e, after_e = f"(flags >> {count}) & 1", f"(flags & (1UL << {count})) != 0"
    elif form == "mask":
        before_e, after_e = f"flags & ((1UL << {count}) - 1)", f"flags % (1UL << {count})"
    else:
        before_e, after_e = f"(unsigned int)(1U << {count})", f"(unsigned int)(2U << ({count} - 1 + !{count})) >> !{count}"
    if slip:
        after_e = after_e.replace("1UL", "2UL", 1) if "1UL" in after_e else after_e.replace("2U <<", "1U <<", 1)
    text = "unsigned long {root}(struct pt_regs *regs, unsigned long flags)\n{{\n\treturn {e};\n}}\n"
    bits = tuple(sorted(set(low) | {5, 8, 31, 63}))
    return Drawn(text.format(root=ROOT, e=before_e), text.format(root=ROOT, e=after_e), bits, _verdict(slip),
                 (form,) + (("off-by-one",) if slip else ()))


def fam_shift_ub(rng: random.Random) -> Drawn:
    """A shift count that can reach 64: the sides differ only where the
    before side is undefined.  Expected: equiv reports undefined behaviour
    (or refuses), never a difference."""
    before = (f"unsigned long {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
              "\tunsigned int n = flags & 0x7f;\n\n\treturn 1UL << n;\n}\n")
    after = before.replace("return 1UL << n;", f"return n < 64 ? 1UL << n : {rng.choice(['0', '1UL << (n & 63)'])};")
    return Drawn(before, after, (0, 1, 2, 3, 4, 5, 6), "undefined", ("guarded",))


def fam_popcount(rng: random.Random) -> Drawn:
    """``__builtin_popcountl`` (GCC: the number of 1-bits) against a sum of
    one-bit tests."""
    mask = _mask(rng, rng.randint(2, 4), (0, 1, 2, 9, 31, 32, 40, 63))
    k = rng.randint(0, 3)
    op = rng.choice([">", "==", "<"])
    slip = _slip(rng)
    terms = [f"!!(flags & {hex(1 << b)}UL)" for b in _bits_of(mask)]
    if slip:
        terms = terms[1:]  # the slip: one bit forgotten
    sig = f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
    before = DECLS + sig + f"\tif (__builtin_popcountl(flags & {hex(mask)}UL) {op} {k})\n\t\treport(regs);\n}}\n"
    after = DECLS + sig + f"\tif (({' + '.join(terms) or '0'}) {op} {k})\n\t\treport(regs);\n}}\n"
    return Drawn(before, after, tuple(_bits_of(mask)), _verdict(slip), ("bit-sum",) + (("bit-forgotten",) if slip else ()))


MULTICHAR = ("!", " ", "@", "A", "0", "a", "\\x01", "\\x10")


def _char_value(c: str) -> int:
    return int(c[2:], 16) if c.startswith("\\x") else ord(c)


def fam_multichar(rng: random.Random) -> Drawn:
    """Multi-character constants: an int, first character highest (GCC:
    "Characters implementation")."""
    a, b = rng.choice(MULTICHAR), rng.choice(MULTICHAR)
    value = _char_value(a) * 256 + _char_value(b)
    slip = _slip(rng) and a != b
    shown = _char_value(b) * 256 + _char_value(a) if slip else value  # the slip: byte order
    mask = value | shown | 1
    sig = f"void {ROOT}(struct pt_regs *regs, unsigned long flags)\n{{\n"
    before = DECLS + sig + f"\tif ((flags & {hex(mask)}) == '{a}{b}')\n\t\treport(regs);\n}}\n"
    after = DECLS + sig + f"\tif ((flags & {hex(mask)}) == {shown})\n\t\treport(regs);\n}}\n"
    return Drawn(before, after, tuple(_bits_of(mask)), _verdict(slip), ("number",) + (("byte-order",) if slip else ()))


FAMILIES: dict[str, Callable[[random.Random], Drawn]] = {
    "switch-jump": fam_switch_jump,
    "union": fam_union,
    "bitfield": fam_bitfield,
    "global-init": fam_global_init,
    "enum-cast": fam_enum_cast,
    "enum-wide": fam_enum_wide,
    "params": fam_params,
    "variadic-member": fam_variadic_member,
    "shift": fam_shift,
    "shift-ub": fam_shift_ub,
    "popcount": fam_popcount,
    "multichar": fam_multichar,
}
# The families whose pairs are UB-free; `shift-ub` is asked for by name.
DEFINED_FAMILIES = frozenset(FAMILIES) - {"shift-ub"}


def parse_families(text: str) -> frozenset[str]:
    """``all`` (every UB-free family), ``none``, or a comma-separated list."""
    if text in ("", "none"):
        return frozenset()
    if text == "all":
        return DEFINED_FAMILIES
    names = frozenset(n.strip() for n in text.split(","))
    unknown = names - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown generator families {sorted(unknown)}; known: {sorted(FAMILIES)}")
    return names


def family_pair(seed: int, index: int, families: frozenset[str]) -> Pair | None:
    """Pair ``index`` of stream ``seed`` drawn from ``families`` (about two
    pairs in three when any is enabled), or None for a tree pair.  The
    stream of tree pairs is unchanged when ``families`` is empty."""
    if not families:
        return None
    rng = random.Random(f"{seed}:{index}:family")
    if rng.random() < 1 / 3:
        return None
    name = rng.choice(sorted(families))
    drawn = FAMILIES[name](rng)
    assert len(drawn.bits) <= MAX_BITS + 4
    return Pair(f"gen-{seed}-{index}", drawn.before, drawn.after, drawn.function, drawn.bits, drawn.intended,
                (name, *drawn.edits), frozenset({name}))


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
    parser.add_argument("--families", default="none", help="all, none, or a comma-separated list of "
                        + ", ".join(sorted(FAMILIES)))
    args = parser.parse_args()
    families = parse_families(args.families)
    for index in range(args.start, args.start + args.count):
        pair = generate_pair(args.seed, index, families=families)
        print(f"==== {pair.name} intended={pair.intended} edits={pair.edits} bits={pair.bits}")
        print(f"---- before\n{pair.before}---- after\n{pair.after}")


if __name__ == "__main__":
    main()
