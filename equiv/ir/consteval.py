"""The one constant evaluator: C integer semantics on lowered IR, in Python ints.

Used for enumerator values, case labels, array lengths, initializers of
globals and constant folding.  `value_of` gives the value of a side-effect
free constant expression, or None when the expression is not constant.
Undefined behaviour in a constant expression (a shift count outside the
type's width, division by zero) is a located error, as in GCC's own
diagnostics.
"""

from __future__ import annotations

from equiv.errors import InputError
from equiv.ir import ctypes_model as ct
from equiv.ir import nodes as ir


def value_of(e: ir.Expr) -> int | None:
    """The value of `e` (reduced to its type), or None if it is not a constant."""
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.Convert):
        v = value_of(e.operand)
        if v is None or e.ctype.kind not in ("int", "ptr"):
            return None
        return ct.wrap(v, e.ctype if e.ctype.kind == "int" else ct.ULONG)
    if isinstance(e, ir.Unary):
        v = value_of(e.operand)
        if v is None:
            return None
        return ct.wrap(-v if e.op == "-" else ~v, e.ctype)
    if isinstance(e, ir.Not):
        v = value_of(e.operand)
        return None if v is None else int(v == 0)
    if isinstance(e, ir.Binary):
        return _binary(e)
    if isinstance(e, ir.Shift):
        return _shift(e)
    if isinstance(e, ir.Compare):
        a, b = value_of(e.left), value_of(e.right)
        if a is None or b is None:
            return None
        return int(_COMPARE[e.op](a, b))
    if isinstance(e, ir.Logical):
        return _logical(e)
    if isinstance(e, ir.Cond):
        c = value_of(e.cond)
        if c is None:
            return None
        if e.then is None:  # GNU `c ?: b`
            return ct.wrap(c, e.ctype) if c else value_of(e.other)
        return value_of(e.then if c else e.other)
    return None


def _binary(e: ir.Binary) -> int | None:
    a, b = value_of(e.left), value_of(e.right)
    if a is None or b is None:
        return None
    if e.op in ("/", "%"):
        if b == 0:
            raise InputError(e.loc, "division by zero in a constant expression")
        if e.ctype.signed and b == -1 and a == -(1 << (e.ctype.width - 1)):
            raise InputError(e.loc, "division of the minimum by -1 in a constant expression "
                                    "overflows")
        q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # C truncates toward zero
        return ct.wrap(q if e.op == "/" else a - q * b, e.ctype)
    result = {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[e.op]
    return ct.wrap(result, e.ctype)


def _shift(e: ir.Shift) -> int | None:
    a, n = value_of(e.left), value_of(e.count)
    if n is not None and not 0 <= n < e.ctype.width:
        raise InputError(e.loc, f"shift by {n} is undefined for {e.ctype.name} "
                                f"({e.ctype.width} bits)")
    if a is None or n is None:
        return None
    if e.op == "<<":
        return ct.wrap(a << n, e.ctype)
    return ct.wrap(a >> n, e.ctype)  # Python's >> is arithmetic on the signed value


def _logical(e: ir.Logical) -> int | None:
    a = value_of(e.left)
    if a is None:
        return None
    if e.op == "&&" and not a:
        return 0
    if e.op == "||" and a:
        return 1
    b = value_of(e.right)
    return None if b is None else int(b != 0)


_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
