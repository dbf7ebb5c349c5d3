"""IR nodes: typed expressions, places and statements, all frozen.

Every expression carries its C type (`ctype`) and source location (`loc`).
Conversions are explicit (`Convert`): after lowering, the operands of an
arithmetic node already have the node's type, so the executor applies no
C typing rule of its own.  Control transfers name their target: `Break`
and `Continue` carry the id of the loop or switch they leave, `Goto` the id
of its label, so the executor never has to guess where a path went.
"""

from __future__ import annotations

from dataclasses import dataclass

from equiv.errors import Location
from equiv.ir import ctypes_model as ct

# ---- expressions ------------------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    ctype: ct.CType
    loc: Location | None


@dataclass(frozen=True)
class Const(Expr):
    """An integer constant; `value` is already reduced to the type's range (two's complement)."""

    value: int


@dataclass(frozen=True)
class StrLit(Expr):
    """A string literal: an opaque constant, equal on both sides when the text is equal."""

    text: str


@dataclass(frozen=True)
class VarRef(Expr):
    """The value of a local variable or parameter of the current function."""

    var: int
    name: str


@dataclass(frozen=True)
class Load(Expr):
    """The value stored at a place (memory, a global, the flag word)."""

    place: Place


@dataclass(frozen=True)
class Convert(Expr):
    """C's conversion of `operand` to `ctype` (assignment, cast, argument, promotion)."""

    operand: Expr


@dataclass(frozen=True)
class Unary(Expr):
    """`-x`, `~x` on an operand already promoted to `ctype`."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class Not(Expr):
    """`!x` (type int)."""

    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    """`+ - * / % & | ^` with both operands converted to `ctype` (wraps modulo 2^width)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Shift(Expr):
    """`<<`/`>>`: `left` is promoted to `ctype`, `count` to its own promoted type."""

    op: str
    left: Expr
    count: Expr


@dataclass(frozen=True)
class Compare(Expr):
    """`< <= > >= == !=` on operands converted to a common type (signed or not); int result."""

    op: str
    left: Expr
    right: Expr
    signed: bool


@dataclass(frozen=True)
class Logical(Expr):
    """Short-circuit `&&`/`||` (int result): `right` runs only where it is reached."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Cond(Expr):
    """`c ? a : b` with both arms converted to `ctype` (or void).

    `a` is None for GNU `c ?: b`, whose value is the condition itself,
    evaluated once (`cond` then has type `ctype`).
    """

    cond: Expr
    then: Expr | None
    other: Expr


@dataclass(frozen=True)
class StmtExpr(Expr):
    """GNU `({ stmts; expr; })`: the statements, then the value of `result` (None: void)."""

    body: Stmt
    result: Expr | None


@dataclass(frozen=True)
class Comma(Expr):
    """`a, b, c`: every operand in order; the value of the last."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Assign(Expr):
    """`place = value` (value already converted); the result is the place's new value."""

    place: Place
    value: Expr


@dataclass(frozen=True)
class CompoundAssign(Expr):
    """`place op= rhs`: load, convert both to `optype`, operate, convert back, store."""

    place: Place
    op: str
    rhs: Expr
    optype: ct.CType


@dataclass(frozen=True)
class IncDec(Expr):
    """`++x`, `x--` ...: `delta` is +1 or -1, computed in `optype`; `post` gives the old value."""

    place: Place
    delta: int
    post: bool
    optype: ct.CType


@dataclass(frozen=True)
class Call(Expr):
    """A call of a function the side defines (`inline`) or does not (`external`).

    Arguments are converted to the parameter types where a prototype says
    them, else promoted.  A struct argument to an external call is passed as
    its members, in declaration order (`StructArg`).
    """

    name: str
    args: tuple[Expr, ...]
    inline: bool


@dataclass(frozen=True)
class AddressOf(Expr):
    """`&local`, `&local.member`, or a local array used as a value (`&array[0]`).

    Only a call may receive it.  An external callee sees the local's
    initialized cells and may write every cell of it; an inlined callee
    reads and writes the cells through the pointer.
    """

    place: Place


@dataclass(frozen=True)
class ObjectAddress(Expr):
    """The address of an object named `name` that the side does not own: a global
    array used as a value (`sys_call_table` passed as `&sys_call_table[0]`), or an
    identifier nothing declares converted to a pointer (`declared` False).

    One value for both sides, non-NULL and distinct from the other objects equiv
    names; memory through it is the array `name` itself (`name[k]`).
    """

    name: str
    declared: bool


@dataclass(frozen=True)
class IndirectCall(Expr):
    """A call through a function pointer or a value of an undeclared typedef type.

    An observable event keyed by the pointer's value: `pointer` is its first
    argument, then `args` (promoted).  It returns `long`, like an undeclared function.
    """

    pointer: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class AsmStmt(Expr):
    """GNU `asm`: an opaque event (its template and inputs) that leaves each output
    a fresh value, shared by both sides when the call histories agree."""

    template: str
    inputs: tuple[Expr, ...]
    outputs: tuple[Place, ...]


@dataclass(frozen=True)
class StructArg(Expr):
    """A struct passed by value to an external function: its scalar members' values."""

    members: tuple[Expr, ...]


@dataclass(frozen=True)
class Intrinsic(Expr):
    """A call handled by the executor's table of special functions."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class OpaqueConst(Expr):
    """An identifier that nothing in reach declares (`X86_EFLAGS_DF` from a header the
    check does not have): one unconstrained value, the same on both sides, of type
    `long`.  A premise of every verdict that reads it."""

    name: str


@dataclass(frozen=True)
class ConfigRef(Expr):
    """`IS_ENABLED(CONFIG_X)` or a bare `CONFIG_X`: the symbolic switch, as an int 0/1."""

    name: str


# ---- places -------------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """Something that can be read and written; `ctype` is the type of its value."""

    ctype: ct.CType
    loc: Location | None


@dataclass(frozen=True)
class VarPlace(Place):
    """A local variable or parameter.

    `cell`: the local is kept as cells (an array, a struct, or a scalar whose
    address is taken), each named by its path inside the local (`[2]`, `.a`).
    """

    var: int
    name: str
    cell: bool = False


@dataclass(frozen=True)
class GlobalPlace(Place):
    name: str


@dataclass(frozen=True)
class Field:
    """A member of a struct or union, as laid out."""

    name: str
    ctype: ct.CType
    bits: int | None = None  # bit-field width
    in_union: bool = False  # shares its cell with the union's other members


@dataclass(frozen=True)
class MemberPlace(Place):
    """`base->field` (`arrow`) or `base.field`.

    For `->`, `pointer` is the pointer expression; for `.`, `container` is the
    struct place.  `struct_tag` names the container's struct.
    """

    pointer: Expr | None
    container: Place | None
    field: Field
    struct_tag: str | None


@dataclass(frozen=True)
class IndexPlace(Place):
    """`array[index]`; `length` when the declaration gives it.

    `array` is an array place (a member, global or local), or a `DerefPlace` of
    array type for `pointer[index]`: the array the pointer points into, of
    unknown length, whose element 0 is `*pointer`.
    """

    array: Place
    index: Expr
    length: int | None


@dataclass(frozen=True)
class DerefPlace(Place):
    """`*pointer`."""

    pointer: Expr


# ---- statements ---------------------------------------------------------------------

@dataclass(frozen=True)
class Stmt:
    loc: Location | None


@dataclass(frozen=True)
class Block(Stmt):
    items: tuple[Stmt, ...]


@dataclass(frozen=True)
class ExprStmt(Stmt):
    """An expression evaluated for its effects; its value is discarded."""

    expr: Expr


@dataclass(frozen=True)
class Declare(Stmt):
    """A local variable comes into scope, with or without an initial value."""

    var: int
    name: str
    ctype: ct.CType
    init: Expr | None


@dataclass(frozen=True)
class DeclareCells(Stmt):
    """A local kept as cells comes into scope (see `VarPlace.cell`).

    `cells`: (path inside the local, type, bit-field width) in layout order.
    `init`: None when uninitialized; else one value per cell, None for a cell
    the initializer leaves out (it is zero, as C says).
    """

    var: int
    name: str
    ctype: ct.CType
    cells: tuple[tuple[str, ct.CType, int | None], ...]
    init: tuple[Expr | None, ...] | None
    # A struct nothing defines, with an initializer: cells not listed are zero.
    zeroed: bool = False


@dataclass(frozen=True)
class If(Stmt):
    cond: Expr
    then: Stmt
    other: Stmt | None


@dataclass(frozen=True)
class Loop(Stmt):
    """`while`, `for` and `do` loops.  `ident` is the target of its break/continue."""

    ident: int
    cond: Expr | None
    body: Stmt
    step: Expr | None
    test_first: bool


@dataclass(frozen=True)
class CaseLabel(Stmt):
    """A `case`/`default` position inside a switch body.  `value` is the label's value;
    a label built from undeclared identifiers (`case PTRACE_PEEKMTETAGS:`) has `value`
    None and its expression in `opaque`; a default label has neither."""

    switch: int
    value: int | None
    opaque: Expr | None = None


@dataclass(frozen=True)
class Switch(Stmt):
    """`switch`: `value` promoted; `body` holds its `CaseLabel`s at top level."""

    ident: int
    value: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Break(Stmt):
    target: int


@dataclass(frozen=True)
class Continue(Stmt):
    target: int


@dataclass(frozen=True)
class Return(Stmt):
    value: Expr | None  # converted to the function's return type


@dataclass(frozen=True)
class Goto(Stmt):
    target: int
    label: str


@dataclass(frozen=True)
class Label(Stmt):
    ident: int
    name: str
    stmt: Stmt


@dataclass(frozen=True)
class Nop(Stmt):
    pass


# ---- functions --------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    var: int
    name: str
    ctype: ct.CType


@dataclass(frozen=True)
class Function:
    """A lowered function definition."""

    name: str
    ret: ct.CType
    params: tuple[Param, ...]
    variadic: bool
    body: Block
    loc: Location | None
    targets: frozenset[int]  # every loop, switch and label id in the body


@dataclass(frozen=True)
class Signature:
    """A function's return type and parameters (from a prototype or definition)."""

    ret: ct.CType
    params: tuple[tuple[str, ct.CType], ...]
    variadic: bool = False
    prototyped: bool = True
