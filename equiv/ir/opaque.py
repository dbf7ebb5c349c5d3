"""Identifiers that no header in reach declares: opaque constants, and where they may go.

Real files use names from headers the check does not have (`X86_EFLAGS_DF`,
`TS_COMPAT`, `CT_STATE_KERNEL`, `__NR_syscalls`).  Such a name becomes one
unconstrained value shared by both sides (`ir.OpaqueConst`), and every verdict
that reads it lists it as a premise.

Its C type is unknown too: a kernel constant is an `int` (an enumerator, a
plain literal), an `unsigned long` (`BIT()`, `_BITUL()`) or rarely something
else.  equiv reads it as a `long` and accepts it only where the choice among
int, long and unsigned long cannot decide a verdict:

- converted to a named type (assignment, initialisation, cast, argument of a
  prototyped call, return value);
- as a truth value (`if (X)`, `!X`, `X && ...`);
- an operand of `==` or `!=` whose other operand has a 64-bit type or
  promotes to `int` (`ct_state() == CT_STATE_KERNEL`);
- an operand of `&`, `|` or `^` whose other operand has an unsigned 64-bit
  type (the result then has that type whatever X's type is);
- the value of `x &= X`, `x |= X` or `x ^= X`, whatever x's type;
- `x & X` with x of any integer type, where the result is only a truth value
  (`if (cached_flags & SYSCALL_EXIT_WORK)` with a `u32 cached_flags`);
- combined with other opaque constants by `&`, `|`, `^` and `~`
  (`~(TS_COMPAT | TS_I386_REGS_POKED)`), or negated (`-ERESTARTNOINTR`), the
  result then being used as above.

Bitwise operations commute with the conversion of an int to a 64-bit type
(sign extension), so for int, long and unsigned long constants these uses
give the verdict that a 64-bit value gives.  They do not for an `unsigned
int` constant (zero extended) combined by `~` or beside an `int` one: the
verdict rests on the constant not being an `unsigned int`, which the premise
states (the kernel's flag constants are `int` literals, enumerators or
`unsigned long` `BIT()`s).  Negation commutes with sign extension except for
an `int` equal to INT_MIN, which the premise excludes too (`-ERESTARTNOINTR`
negates a small positive `int`).

Flag-bit names (`TIF_*`, `_TIF_*`, `SYSCALL_WORK_*`) are never opaque: they name
the bits the check is about, and an undeclared one stays an error that suggests
`--arch` or `--tree`.

A shift *by* X is accepted (the count keeps its value whatever its type; a
count outside the word is undefined behaviour, which the check reports).

Everywhere else (ordered comparisons, arithmetic, a shift *of* X, `&` with an
`int` or a signed `long`, `==` with an `unsigned int`, a value of `?:`) the
type could decide the result, and the use is a located error that names the
identifier.
"""

from __future__ import annotations

import re
from typing import Any

from equiv.ir import ctypes_model as ct
from equiv.ir import nodes as ir
from equiv.ir.unit import unsupported_at

OPAQUE_TYPE = ct.LONG  # the type an undeclared identifier is given
# Names of flag bits and masks: opaque, they would hide the bits the check is about.
_FLAG_LAYOUT = re.compile(r"^_?TIF_\w+$|^SYSCALL_WORK_\w+$")

_BITWISE = frozenset({"&", "|", "^"})
_EQUALITY = frozenset({"==", "!="})


def names_flag_bits(name: str) -> bool:
    """`TIF_*`, `_TIF_*` and `SYSCALL_WORK_*` stay errors when undeclared (--arch, --tree)."""
    return _FLAG_LAYOUT.match(name) is not None


def opaque_name(e: ir.Expr) -> str | None:
    """The (first) identifier, when `e` is an opaque constant as written (not cast), or
    opaque constants combined by `&`, `|` and `^` (`X86_EFLAGS_AC | X86_EFLAGS_DF`)."""
    if isinstance(e, ir.OpaqueConst):
        return e.name
    if isinstance(e, ir.Binary) and e.op in _BITWISE:
        return opaque_name(e.left) and opaque_name(e.right)
    if isinstance(e, ir.Unary) and e.op in ("~", "-"):
        return opaque_name(e.operand)
    return None


def check_binary(node: Any, op: str, a: ir.Expr, b: ir.Expr, truth: bool = False) -> None:
    """Refuse `a op b` when an opaque operand's unknown type could decide its value.

    `truth`: the result is used only as a truth value, where `a & X` is nonzero
    for the same inputs whatever the integer types (sign extension keeps a
    value nonzero)."""
    if op in _BITWISE and opaque_name(a) is not None and opaque_name(b) is not None:
        return  # still opaque: judged where the combination is used
    if truth and op == "&" and a.ctype.kind == "int" and b.ctype.kind == "int":
        return
    for mine, other in ((a, b), (b, a)):
        name = opaque_name(mine)
        if name is None:
            continue
        if opaque_name(other) is None and _type_blind(op, other.ctype):
            continue
        raise unsupported_at(node, _why(name, op, other))


def check_compound(node: Any, op: str, target: ir.Expr, value: ir.Expr) -> None:
    """`x &= X`, `x |= X`, `x ^= X` keep x's type and bits whatever X's type: allowed."""
    if op not in _BITWISE or opaque_name(target) is not None:
        check_binary(node, op, target, value)


def check_unary(node: Any, op: str, operand: ir.Expr) -> None:
    """Refuse `X << n`, `X >> n` and `sizeof` on an opaque constant; `~X` and `-X` stay
    opaque (negation commutes with sign extension, as `~` does)."""
    name = opaque_name(operand)
    if name is not None and op not in ("~", "-"):
        raise unsupported_at(node, f"'{op}' on '{name}', which no header in reach declares: "
                                   f"its result depends on the type of '{name}'; "
                                   f"{_REMEDY}")


def check_branches(node: Any, *branches: ir.Expr) -> None:
    """Refuse an opaque constant as a value of `?:` (the result type would be its type)."""
    for e in branches:
        name = opaque_name(e)
        if name is not None:
            raise unsupported_at(node, f"'{name}', which no header in reach declares, as a "
                                       f"value of '?:': the result's type would be its "
                                       f"unknown type; {_REMEDY}")


def _type_blind(op: str, other: ct.CType) -> bool:
    if other.kind != "int":
        return False
    if op in _EQUALITY:  # an int sign-extends like an int constant does
        return ct.promote(other).width == 64 or ct.promote(other).signed
    return op in _BITWISE and ct.promote(other).width == 64 and not other.signed


def _why(name: str, op: str, other: ir.Expr) -> str:
    partner = opaque_name(other)
    if partner is not None:
        return (f"'{name}' {op} '{partner}': neither is declared by a header in reach, and "
                f"the result depends on their types; {_REMEDY}")
    return (f"'{op}' with '{name}', which no header in reach declares: with an operand of "
            f"type {other.ctype.name or other.ctype.kind}, the result depends on the type "
            f"of '{name}' (int, unsigned int, long or unsigned long); {_REMEDY}")


_REMEDY = "give the header that defines it (-I DIR, --tree) or define it"
