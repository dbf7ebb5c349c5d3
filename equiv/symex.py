"""Symbolic execution of one side's root function into z3 terms.

The executor walks pycparser's AST of the root (inlining every function the
side defines) with guarded, merged states: each branch forks the state,
each join merges it, so cost grows with the size of the code, not with the
number of paths.  What it produces, `SideTrace`, is everything observable:
the guarded external calls in program order, the return value, the final
flag word and the memory the side wrote.  Everything outside the supported
C subset is a located `InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import z3

from equiv import ctypes_model as ct
from equiv.errors import InputError, Location
from equiv.program import Program, located_error, location, unsupported_at
from equiv.state import (FALSE, TRUE, MemoryReader, State, UninitSource, Value, merge,
                         mk_and, mk_ite, mk_not, mk_or)

FLAG_WORD = "flags"  # the z3 name of the shared thread-flag word
THREAD_INFO = "current_thread_info()"
CURRENT = "current"
FLAG_PARAMS = ("flags", "ti_work", "work")
MAX_INLINE_DEPTH = 64
ASSUME_PREFIX = "__equiv_assume_"
MAX_STEPS = 500_000  # statements executed (after unrolling and inlining) per side


class AnalysisLimit(Exception):
    """The code unrolls or inlines to more than equiv will execute: UNKNOWN."""


@dataclass(frozen=True)
class Options:
    """How to execute a side."""

    unwind: int = 8
    flag_params: tuple[str, ...] = FLAG_PARAMS
    racy_flags: bool = False  # every read of the flag word may see others' changes
    symbol_prefix: str = ""  # names this execution's private symbols (default: the label)
    param_word: str = FLAG_WORD  # the z3 word the root's flag parameter receives


@dataclass
class Event:
    """One potential call to an external function, in program order.

    The call happens iff `guard`; `args` are 64-bit terms (each argument
    converted to its parameter type, then sign- or zero-extended);
    `result` is the call's symbolic result; `havoc` holds the symbols for
    memory cells re-read after the call (the call may have written them).
    """

    index: int
    guard: z3.BoolRef
    name: str
    args: tuple[z3.BitVecRef, ...]
    arg_types: tuple[ct.CType, ...]
    location: Location | None
    result: z3.BitVecRef | None
    havoc: dict[str, z3.BitVecRef] = field(default_factory=dict)
    # What else the callee can see: the flag word and any memory cell, as
    # they are when the call happens.
    flags_at: z3.BitVecRef | None = None
    memory_at: Callable[[str], z3.BitVecRef] | None = None
    context: tuple[z3.BitVecRef, ...] = ()  # filled by the query: what the sides write
    context_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoopBound:
    """A loop that may run more than the unwind bound when `guard` holds."""

    guard: z3.BoolRef
    location: Location | None


@dataclass
class SideTrace:
    """All observable behaviour of one side's root function."""

    label: str
    function: str
    events: list[Event]
    ret: z3.BitVecRef | None
    ret_type: ct.CType
    final_flags: z3.BitVecRef
    flags_written: bool
    written: list[str]
    memory_reader: Callable[[str], z3.BitVecRef]
    exceeded: list[LoopBound]
    assumptions: list[tuple[str, z3.BoolRef]]  # (assumption function, condition)
    configs: dict[str, z3.BoolRef]
    pointer_roots: dict[str, z3.BitVecRef]
    inputs: dict[str, z3.BitVecRef]
    location: Location | None

    def final_memory(self, path: str) -> z3.BitVecRef:
        """The 64-bit content of memory cell `path` when the function returns."""
        return self.memory_reader(path)


def ext64(v: Value) -> z3.BitVecRef:
    """The value as a 64-bit term, extended by its type's signedness."""
    w = v.term.size()
    if w == 64:
        return v.term
    if z3.is_bv_value(v.term):
        n = v.term.as_signed_long() if v.ctype.signed else v.term.as_long()
        return z3.BitVecVal(n, 64)
    if v.ctype.signed:
        return z3.SignExt(64 - w, v.term)
    return z3.ZeroExt(64 - w, v.term)


def convert(v: Value, to: ct.CType, node: Any = None) -> Value:
    """C's conversion of `v` to type `to` (assignment, cast, argument)."""
    if to.kind == "void":
        return Value(z3.BitVecVal(0, 8), ct.VOID)
    if v.ctype.kind == "void":
        raise located_error(node, "void value used where a value is required")
    if to.kind not in ("int", "ptr") or v.ctype.kind not in ("int", "ptr"):
        raise unsupported_at(node, f"conversion to or from {to.name or to.kind}")
    if to.is_bool:
        return Value(mk_ite(v.term != 0, z3.BitVecVal(1, 8), z3.BitVecVal(0, 8)), to)
    term = ext64(v) if to.width > v.term.size() else v.term
    if to.width < term.size():
        term = z3.Extract(to.width - 1, 0, term)
    path = v.path if to.kind == "ptr" and v.ctype.kind == "ptr" else None
    return Value(term, to, path)


def int_value(n: int, t: ct.CType = ct.INT) -> Value:
    return Value(z3.BitVecVal(n, t.width), t)


def bool_value(b: z3.BoolRef) -> Value:
    return Value(mk_ite(b, z3.BitVecVal(1, 32), z3.BitVecVal(0, 32)), ct.INT)


def truth(v: Value, node: Any = None) -> z3.BoolRef:
    if v.ctype.kind not in ("int", "ptr"):
        raise located_error(node, "scalar value required in a condition")
    t = v.term
    if z3.is_bv_value(t):
        return TRUE if t.as_long() != 0 else FALSE
    return z3.BoolRef(z3.Z3_mk_not(t.ctx.ref(), (t == 0).as_ast()), t.ctx)


@dataclass
class VarInfo:
    ident: int
    ctype: ct.CType


@dataclass
class JumpTarget:
    breaks: list[State]
    continues: list[State] | None  # None: a switch (continue passes through)


class Frame:
    """One inlined function activation: scopes, labels, jumps, returns."""

    def __init__(self, name: str, ret: ct.CType, body: Any):
        self.name = name
        self.ret = ret
        self.scopes: list[dict[str, VarInfo]] = [{}]
        self.returns: list[tuple[State, Value | None]] = []
        self.pending: dict[str, list[State]] = {}
        self.jumps: list[JumpTarget] = []
        self.order: dict[int, int] = {}
        self.labels: dict[str, int] = {}
        _number_labels(body, self)

    def lookup(self, name: str) -> VarInfo | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None


def _number_labels(node: Any, frame: Frame) -> None:
    """Give every label and goto its textual position (for backward gotos)."""
    counter = [0]

    def walk(n: Any) -> None:
        counter[0] += 1
        kind = type(n).__name__
        if kind == "Label":
            frame.labels[n.name] = counter[0]
        elif kind == "Goto":
            frame.order[id(n)] = counter[0]
        for _, child in n.children():
            walk(child)

    walk(node)


_STMT_KINDS_WITH_TARGETS = ("Label", "Case", "Default")


class SideExecutor(MemoryReader):
    """Executes one side's root function symbolically."""

    def __init__(self, program: Program, label: str, options: Options):
        self.program = program
        self.label = label
        self.options = options
        self.events: list[Event] = []
        self.exceeded: list[LoopBound] = []
        self.assumptions: list[tuple[str, z3.BoolRef]] = []
        self.flags_written = False
        self.mem_written: dict[str, None] = {}
        self.configs: dict[str, z3.BoolRef] = {}
        self.roots: dict[str, z3.BitVecRef] = {}
        self.inputs: dict[str, z3.BitVecRef] = {}
        self.pointer_paths: dict[int, str | None] = {}
        self.steps = 0
        self.cuts = 0  # paths removed: loop bound reached, unreachable
        self.jumps_out = 0  # states stashed by return and goto
        self.local_jumps = 0  # states stashed by break and continue
        self.prefix = options.symbol_prefix or label
        self.uninit = UninitSource(self.prefix)
        self.call_stack: list[str] = []
        self.call_sites: list[Location | None] = []
        self.frames: list[Frame] = []
        self._next_var = 0
        self._has_target: dict[int, bool] = {}

    # ---- entry -----------------------------------------------------------
    def run(self, function: str) -> SideTrace:
        prog = self.program
        funcdef = prog.functions[function]
        sig = prog.signatures[function]
        flags = z3.BitVec(FLAG_WORD, 64)
        state = State(TRUE, flags)
        self._assumptions(state)
        args = [self._root_argument(name, t, funcdef) for name, t in sig.params]
        ret, final = self.inline(function, args, state, funcdef)
        if final is None or final.dead:
            final = state.copy(FALSE)
        ret_term = ext64(ret) if sig.ret.kind != "void" and ret is not None else None
        end = final
        return SideTrace(self.label, function, self.events, ret_term, sig.ret, final.flags,
                         self.flags_written, list(self.mem_written),
                         lambda path: self._read_raw(end, path), self.exceeded, self.assumptions,
                         self.configs, self.roots, self.inputs,
                         location(funcdef))

    def _assumptions(self, state: State) -> None:
        """Evaluate every `__equiv_assume_*` function on the initial state."""
        for name, funcdef in self.program.functions.items():
            if not name.startswith(ASSUME_PREFIX):
                continue
            params = self.program.signatures[name].params
            args = [Value(state.flags, ct.ULONG)] * len(params)
            value, _ = self.inline(name, args, state.copy(), funcdef)
            if self.events:
                raise located_error(funcdef, f"assumption '{name}' calls an external function")
            if value is None or value.ctype.kind != "int":
                raise located_error(funcdef, f"assumption '{name}' must return an integer")
            self.assumptions.append((name, truth(value, funcdef)))

    def _root_argument(self, name: str, t: ct.CType, node: Any) -> Value:
        if t.kind == "ptr":
            return self.root_pointer(name, t)
        if t.kind != "int":
            raise unsupported_at(node, f"parameter '{name}' of type {t.name}")
        if name in self.options.flag_params:
            return convert(Value(z3.BitVec(self.options.param_word, 64), ct.ULONG), t)
        sym = z3.BitVec(f"param:{name}", 64)
        self.inputs[name] = sym
        return convert(Value(sym, ct.LONG), t)

    def root_pointer(self, name: str, t: ct.CType) -> Value:
        """A pointer that names an object shared by both sides (param, current)."""
        sym = self.roots.setdefault(name, z3.BitVec(f"&{name}", 64))
        return Value(sym, t, name)

    # ---- functions ---------------------------------------------------------
    def inline(self, name: str, args: list[Value], state: State,
               call_node: Any) -> tuple[Value | None, State | None]:
        """Execute function `name` on `args` in `state`; (return value, state after)."""
        if name in self.call_stack:
            chain = " -> ".join(self.call_stack + [name])
            raise located_error(call_node, f"recursion is not supported ({chain})")
        if len(self.call_stack) >= MAX_INLINE_DEPTH:
            raise located_error(call_node, f"calls nested deeper than {MAX_INLINE_DEPTH}")
        funcdef = self.program.functions[name]
        sig = self.program.signatures[name]
        if sig.ret.kind not in ("int", "ptr", "void"):
            raise unsupported_at(funcdef, f"function '{name}' returning {sig.ret.name or sig.ret.kind}")
        if len(args) != len(sig.params) and not sig.variadic:
            raise located_error(call_node, f"'{name}' takes {len(sig.params)} arguments, "
                                           f"{len(args)} given")
        frame = Frame(name, sig.ret, funcdef.body)
        self.call_stack.append(name)
        self.call_sites.append(location(call_node))
        self.frames.append(frame)
        try:
            state = state.copy()
            for (pname, ptype), arg in zip(sig.params, args):
                self.declare(pname, ptype, convert(arg, ptype, call_node), state)
            end = self.exec_stmt(funcdef.body, state)
            return self._collect_returns(frame, end, funcdef)
        finally:
            self.frames.pop()
            self.call_stack.pop()
            self.call_sites.pop()

    def _collect_returns(self, frame: Frame, end: State,
                         funcdef: Any) -> tuple[Value | None, State | None]:
        returns = list(frame.returns)
        if not end.dead:
            value = None
            if frame.ret.kind != "void":  # fell off the end: no value
                value = Value(self.uninit.fresh(frame.ret.width), frame.ret)
            returns.append((end, value))
        merged = merge([s for s, _ in returns], self, self.uninit)
        if frame.ret.kind == "void":
            return Value(z3.BitVecVal(0, 8), ct.VOID), merged
        term: z3.BitVecRef | None = None
        paths = {v.path for _, v in returns if v is not None}
        for s, v in reversed(returns):
            assert v is not None
            term = v.term if term is None else mk_ite(s.guard, v.term, term)
        if term is None:
            term = z3.BitVecVal(0, max(frame.ret.width, 1))
        path = paths.pop() if len(paths) == 1 and frame.ret.kind == "ptr" else None
        return Value(term, frame.ret, path), merged

    @property
    def frame(self) -> Frame:
        return self.frames[-1]

    def declare(self, name: str, t: ct.CType, value: Value | None, state: State) -> VarInfo:
        self._next_var += 1
        info = VarInfo(self._next_var, t)
        self.frame.scopes[-1][name] = info
        if value is not None:
            state.vars[info.ident] = value.term
        if t.kind == "ptr":
            self.pointer_paths[info.ident] = value.path if value is not None else None
        return info

    def note_pointer(self, ident: int, path: str | None) -> None:
        """A pointer variable names one object only while every store agrees."""
        if self.pointer_paths.get(ident) != path:
            self.pointer_paths[ident] = None

    def marks(self) -> tuple[int, int, int]:
        return (self.cuts, self.jumps_out, self.local_jumps)

    def keep_guard(self, merged: State, before: State, mark: tuple[int, int, int],
                   cuts_only: bool = False, local: bool = False) -> None:
        """Give a join the guard of the fork when no path left in between.

        The merged guard is then the same set of paths written smaller, which
        keeps guards from growing with nesting depth.
        """
        now = self.marks()
        same = now[0] == mark[0]
        if not cuts_only:
            same = same and now[1] == mark[1] and (local or now[2] == mark[2])
        if same and not merged.dead:
            merged.guard = before.guard

    # ---- memory ------------------------------------------------------------
    def initial(self, state: State, path: str) -> z3.BitVecRef:
        """The 64-bit content of memory cell `path` as first read in `state`."""
        terms: list[tuple[int, z3.BitVecRef]] = []
        for version in sorted(state.versions):
            if version == 0:
                sym = z3.BitVec(f"mem:{path}", 64)
                self.inputs[path] = sym
            else:
                event = self.events[version - 1]
                if path not in event.havoc:
                    event.havoc[path] = z3.BitVec(f"{self.prefix}:mem:{path}@{version}", 64)
                sym = event.havoc[path]
            terms.append((version, sym))
        term = terms[-1][1]
        for version, sym in reversed(terms[:-1]):
            term = mk_ite(state.memver == version, sym, term)
        return term

    def _read_raw(self, state: State, path: str) -> z3.BitVecRef:
        if path not in state.mem:
            state.mem[path] = self.initial(state, path)
        return state.mem[path]

    def read_memory(self, state: State, path: str, t: ct.CType) -> Value:
        raw = self._read_raw(state, path)
        v = convert(Value(raw, ct.ULONG), t) if t.kind in ("int", "ptr") else Value(raw, ct.ULONG)
        return Value(v.term, t, path)

    def write_memory(self, state: State, path: str, v: Value) -> None:
        state.mem[path] = ext64(v)
        self.mem_written[path] = None

    # ---- statements --------------------------------------------------------
    def has_target(self, node: Any) -> bool:
        """Whether `node` contains a label or case (so dead code must be walked)."""
        key = id(node)
        if key not in self._has_target:
            found = type(node).__name__ in _STMT_KINDS_WITH_TARGETS or any(
                self.has_target(c) for _, c in node.children())
            self._has_target[key] = found
        return self._has_target[key]

    def exec_stmt(self, node: Any, state: State) -> State:
        if state.dead and not self.has_target(node):
            return state
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise AnalysisLimit(f"more than {MAX_STEPS} statements to execute after unrolling "
                                f"loops and inlining calls")
        kind = type(node).__name__
        handler: Callable[[Any, State], State] | None = getattr(self, f"stmt_{kind}", None)
        if handler is not None:
            return handler(node, state)
        if kind in _EXPRESSION_KINDS:
            if state.dead:
                return state
            count = len(self.events)
            _, state = self.eval(node, state)
            self._discard_result(node, count)
            return state
        raise unsupported_at(node, _describe(kind))

    def user_location(self, node: Any) -> Location | None:
        """Where a call happens in the user's files (a model's call: at its call site)."""
        loc = location(node)
        paths = self.program.side.paths
        if loc is not None and loc.file in paths:
            return loc
        for site in reversed(self.call_sites):
            if site is not None and site.file in paths:
                return site
        return loc

    def _discard_result(self, node: Any, count: int) -> None:
        """A call statement's result is never read: it needs no environment link."""
        if type(node).__name__ != "FuncCall" or len(self.events) <= count:
            return
        last = self.events[-1]
        if type(node.name).__name__ == "ID" and last.name == node.name.name \
                and last.location == location(node):
            last.result = None

    def dead_copy(self, state: State) -> State:
        return state.copy(FALSE)

    def join(self, states: list[State], fallback: State) -> State:
        merged = merge(states, self, self.uninit)
        return merged if merged is not None else fallback.copy(FALSE)

    def stmt_Compound(self, node: Any, state: State) -> State:
        self.frame.scopes.append({})
        try:
            for item in node.block_items or []:
                state = self.exec_stmt(item, state)
        finally:
            self.frame.scopes.pop()
        return state

    def stmt_EmptyStatement(self, node: Any, state: State) -> State:
        return state

    def stmt_Pragma(self, node: Any, state: State) -> State:
        return state

    def stmt_DeclList(self, node: Any, state: State) -> State:
        for decl in node.decls:
            state = self.stmt_Decl(decl, state)
        return state

    def stmt_Decl(self, node: Any, state: State) -> State:
        tkind = type(node.type).__name__
        if tkind == "FuncDecl":
            self.program.signatures.setdefault(node.name, self.program.signature_of(node.type))
            return state
        if node.name is None:
            self.program.resolve(node.type)
            return state
        if "static" in (node.storage or []):
            raise unsupported_at(node, "static local variable")
        t = self.program.resolve(node.type)
        if t.kind not in ("int", "ptr"):
            raise unsupported_at(node, f"local variable of type {t.name or t.kind}")
        value = None
        if node.init is not None and not state.dead:
            if type(node.init).__name__ == "InitList":
                raise unsupported_at(node.init, "initializer list")
            v, state = self.eval(node.init, state)
            value = convert(v, t, node)
        info = self.declare(node.name, t, value, state)
        if value is None and info.ident not in state.vars:
            state.vars[info.ident] = self.uninit.fresh(t.width)
        return state

    def stmt_If(self, node: Any, state: State) -> State:
        if state.dead:
            cond = FALSE
        else:
            cond, state = self.eval_cond(node.cond, state)
        mark = self.marks()
        then_state = self.exec_stmt(node.iftrue, state.copy(mk_and(state.guard, cond)))
        else_state = state.copy(mk_and(state.guard, mk_not(cond)))
        if node.iffalse is not None:
            else_state = self.exec_stmt(node.iffalse, else_state)
        merged = self.join([then_state, else_state], state)
        if not state.dead:
            self.keep_guard(merged, state, mark)
        return merged

    def stmt_Return(self, node: Any, state: State) -> State:
        value = None
        if node.expr is not None:
            v, state = self.eval(node.expr, state)
            if self.frame.ret.kind != "void":
                value = convert(v, self.frame.ret, node)
        elif self.frame.ret.kind != "void":
            value = Value(self.uninit.fresh(self.frame.ret.width), self.frame.ret)
        if not state.dead:
            self.frame.returns.append((state, value))
            self.jumps_out += 1
        return self.dead_copy(state)

    def stmt_Goto(self, node: Any, state: State) -> State:
        frame = self.frame
        if node.name not in frame.labels:
            raise located_error(node, f"label '{node.name}' is not defined")
        if frame.labels[node.name] < frame.order[id(node)]:
            raise unsupported_at(node, f"backward goto to '{node.name}' (a loop made of goto)")
        if not state.dead:
            frame.pending.setdefault(node.name, []).append(state)
            self.jumps_out += 1
        return self.dead_copy(state)

    def stmt_Label(self, node: Any, state: State) -> State:
        arriving = self.frame.pending.pop(node.name, [])
        state = self.join([state] + arriving, state)
        return self.exec_stmt(node.stmt, state)

    def stmt_Break(self, node: Any, state: State) -> State:
        if not self.frame.jumps:
            raise located_error(node, "break outside a loop or switch")
        if not state.dead:
            self.frame.jumps[-1].breaks.append(state)
            self.local_jumps += 1
        return self.dead_copy(state)

    def stmt_Continue(self, node: Any, state: State) -> State:
        for target in reversed(self.frame.jumps):
            if target.continues is not None:
                if not state.dead:
                    target.continues.append(state)
                    self.local_jumps += 1
                return self.dead_copy(state)
        raise located_error(node, "continue outside a loop")

    def stmt_While(self, node: Any, state: State) -> State:
        return self.exec_loop(node, node.cond, node.stmt, None, state, test_first=True)

    def stmt_DoWhile(self, node: Any, state: State) -> State:
        return self.exec_loop(node, node.cond, node.stmt, None, state, test_first=False)

    def stmt_For(self, node: Any, state: State) -> State:
        self.frame.scopes.append({})
        try:
            if node.init is not None:
                state = self.exec_stmt(node.init, state)
            return self.exec_loop(node, node.cond, node.stmt, node.next, state, test_first=True)
        finally:
            self.frame.scopes.pop()

    def exec_loop(self, node: Any, cond: Any, body: Any, step: Any, state: State,
                  test_first: bool) -> State:
        """Unroll a loop up to the unwind bound; record where it could run longer."""
        exits: list[State] = []
        entry, mark = state, self.marks()
        target = JumpTarget([], [])
        bound = self.options.unwind
        for iteration in range(bound + 1):
            if test_first or iteration > 0:
                if cond is not None and not state.dead:
                    c, state = self.eval_cond(cond, state)
                    exits.append(state.copy(mk_and(state.guard, mk_not(c))))
                    state = state.copy(mk_and(state.guard, c))
            if state.dead and not self.has_target(body):
                break
            if iteration == bound:
                if not state.dead:
                    self.exceeded.append(LoopBound(state.guard, location(node)))
                    self.cuts += 1
                break
            self.frame.jumps.append(target)
            try:
                state = self.exec_stmt(body, state)
            finally:
                self.frame.jumps.pop()
            state = self.join([state] + (target.continues or []), state)
            target.continues = []
            if step is not None and not state.dead:
                _, state = self.eval(step, state)
        merged = self.join(exits + target.breaks, state)
        if not entry.dead:
            self.keep_guard(merged, entry, mark, local=True)
        return merged

    def stmt_Switch(self, node: Any, state: State) -> State:
        if state.dead and not self.has_target(node.stmt):
            return state
        value, state = self.eval(node.cond, state)
        mark = self.marks()
        if value.ctype.kind != "int":
            raise located_error(node.cond, "switch on a non-integer value")
        value = convert(value, ct.promote(value.ctype))
        items = node.stmt.block_items if type(node.stmt).__name__ == "Compound" else [node.stmt]
        labels: list[Any] = []
        _collect_cases(items or [], labels)
        entries: dict[int, State] = {}
        no_match = state.guard
        default = None
        for case in labels:
            if type(case).__name__ == "Default":
                default = case
                continue
            c = convert(int_value(self.program.const_int(case.expr), ct.LLONG), value.ctype)
            hit = value.term == c.term
            entries[id(case)] = state.copy(mk_and(state.guard, hit))
            no_match = mk_and(no_match, mk_not(hit))
        target = JumpTarget([], None)
        leftovers = [state.copy(no_match)]
        if default is not None:
            entries[id(default)] = leftovers.pop()
        self.frame.jumps.append(target)
        self.frame.scopes.append({})
        try:
            current = self.dead_copy(state)
            for item in items or []:
                current = self._exec_switch_item(item, current, entries)
        finally:
            self.frame.scopes.pop()
            self.frame.jumps.pop()
        merged = self.join([current] + target.breaks + leftovers, state)
        if not state.dead:
            self.keep_guard(merged, state, mark, local=True)
        return merged

    def _exec_switch_item(self, item: Any, state: State, entries: dict[int, State]) -> State:
        if type(item).__name__ in ("Case", "Default"):
            state = self.join([state, entries[id(item)]], state)
            for stmt in item.stmts or []:
                state = self._exec_switch_item(stmt, state, entries)
            return state
        return self.exec_stmt(item, state)

    def stmt_Case(self, node: Any, state: State) -> State:
        raise unsupported_at(node, "case label not directly inside its switch body")

    stmt_Default = stmt_Case

    # ---- expressions (see symex_expr) ----------------------------------------
    def eval(self, node: Any, state: State) -> tuple[Value, State]:
        raise NotImplementedError

    def eval_cond(self, node: Any, state: State) -> tuple[z3.BoolRef, State]:
        raise NotImplementedError


def _collect_cases(items: list[Any], out: list[Any]) -> None:
    for item in items:
        if type(item).__name__ in ("Case", "Default"):
            out.append(item)
            _collect_cases(item.stmts or [], out)


_EXPRESSION_KINDS = frozenset({
    "Assignment", "BinaryOp", "UnaryOp", "FuncCall", "ID", "Constant", "Cast",
    "TernaryOp", "ExprList", "StructRef", "ArrayRef",
})

_DESCRIPTIONS = {
    "CompoundLiteral": "compound literal",
    "InitList": "initializer list",
    "StaticAssert": "_Static_assert",
    "Alignas": "_Alignas",
}


def _describe(kind: str) -> str:
    return _DESCRIPTIONS.get(kind, f"statement '{kind}'")


__all__ = ["SideExecutor", "SideTrace", "Event", "LoopBound", "Options", "InputError",
           "FLAG_WORD", "convert", "ext64", "mk_or"]
