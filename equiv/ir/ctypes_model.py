"""C integer types under LP64, and the conversions C applies to them.

Pure Python (no z3): the symbolic executor asks this module which type an
operation has; it builds the terms itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class CType:
    """A C type equiv can hold in a bit-vector.

    kind: "int" (any integer type, _Bool included), "ptr", "void",
    "struct" (a pointer target, member container or local), "array",
    "fnptr" (a function pointer) or "opaque" (an undeclared typedef name).
    """

    kind: str
    width: int = 0
    signed: bool = False
    rank: int = 0  # conversion rank: _Bool 0, char 1, short 2, int 3, long 4, long long 5
    name: str = ""  # spelled type, for messages
    target: str | None = None  # struct name of a pointer target or a struct
    elem: CType | None = None  # pointee of a pointer, element of an array
    length: int | None = None  # element count of an array, when declared

    @property
    def is_int(self) -> bool:
        return self.kind == "int"

    @property
    def is_bool(self) -> bool:
        return self.kind == "int" and self.rank == 0

    @property
    def is_scalar(self) -> bool:
        return self.kind in ("int", "ptr")


def _int(name: str, width: int, signed: bool, rank: int) -> CType:
    return CType("int", width, signed, rank, name)


BOOL = _int("_Bool", 8, False, 0)
SCHAR = _int("signed char", 8, True, 1)
UCHAR = _int("unsigned char", 8, False, 1)
SHORT = _int("short", 16, True, 2)
USHORT = _int("unsigned short", 16, False, 2)
INT = _int("int", 32, True, 3)
UINT = _int("unsigned int", 32, False, 3)
LONG = _int("long", 64, True, 4)
ULONG = _int("unsigned long", 64, False, 4)
LLONG = _int("long long", 64, True, 5)
ULLONG = _int("unsigned long long", 64, False, 5)
VOID = CType("void", 0, name="void")


def pointer_to(elem: CType) -> CType:
    return CType("ptr", 64, False, 0, f"{elem.name} *", target=elem.target, elem=elem)


def opaque_type(name: str) -> CType:
    """A typedef name nothing declares (`syscall_fn_t` from a missing header).

    Its values can be copied, passed and called through, nothing else: each
    of those is exact whatever the real type is (a 64-bit handle is enough to
    tell values apart, and no bit of one is ever looked at).
    """
    return CType("opaque", 64, False, 0, name)


def struct_type(tag: str) -> CType:
    return CType("struct", 0, name=f"struct {tag}", target=tag)


def array_of(elem: CType, length: int | None = None) -> CType:
    size = "" if length is None else str(length)
    return CType("array", 0, name=f"{elem.name}[{size}]", elem=elem, length=length)


def wrap(value: int, t: CType) -> int:
    """`value` reduced to the range of integer type `t` (two's complement)."""
    if t.is_bool:
        return int(value != 0)
    value &= (1 << t.width) - 1
    if t.signed and value >> (t.width - 1):
        value -= 1 << t.width
    return value


def fits(value: int, t: CType) -> bool:
    """Whether `value` is representable in integer type `t`."""
    if t.signed:
        return -(1 << (t.width - 1)) <= value < (1 << (t.width - 1))
    return 0 <= value < (1 << t.width)


def enum_type(values: list[int]) -> CType:
    """GCC's type for an enum with these values (no -fshort-enums).

    unsigned int when no value is negative and all fit; int when some are
    negative and all fit; else the narrowest wider type that holds them all,
    unsigned when none is negative.
    """
    negative = any(v < 0 for v in values)
    for t in ((INT, LONG, LLONG) if negative else (UINT, ULONG, ULLONG)):
        if all(fits(v, t) for v in values):
            return t
    return LLONG if negative else ULLONG


_BY_WORDS = {
    ("_Bool",): BOOL,
    ("char",): UCHAR,
    ("signed", "char"): SCHAR,
    ("unsigned", "char"): UCHAR,
    ("short",): SHORT,
    ("int",): INT,
    ("signed",): INT,
    ("unsigned",): UINT,
    ("long",): LONG,
    ("long", "long"): LLONG,
}


def from_specifiers(words: list[str]) -> CType | None:
    """The integer type spelled by `words` (e.g. ["unsigned", "long", "int"]).

    Returns None when the words do not name an integer type (void, float).
    """
    if words == ["void"]:
        return VOID
    if any(w in ("float", "double", "_Complex") for w in words):
        return None
    unsigned = "unsigned" in words
    core = [w for w in words if w not in ("signed", "unsigned", "int")] or ["int"]
    if core == ["int"] and "unsigned" in words and "int" not in words:
        core = ["int"]
    if core == ["_Bool"]:
        return BOOL
    key = tuple(core)
    base = _BY_WORDS.get(key)
    if base is None:
        return None
    if core == ["char"]:
        # The kernel builds with -funsigned-char since v6.2; signed/unsigned
        # spelled out wins.
        if "signed" in words:
            return SCHAR
        return UCHAR
    if unsigned:
        return {1: UCHAR, 2: USHORT, 3: UINT, 4: ULONG, 5: ULLONG}[base.rank]
    return base


def promote(t: CType) -> CType:
    """Integer promotion: anything narrower than int becomes int."""
    if t.kind == "ptr":
        return ULONG
    if t.rank < INT.rank:
        return INT
    return t


def usual_arithmetic(a: CType, b: CType) -> CType:
    """The common type of a binary arithmetic operation (C11 6.3.1.8)."""
    a, b = promote(a), promote(b)
    if a == b:
        return a
    if a.signed == b.signed:
        return a if a.rank >= b.rank else b
    uns, sig = (a, b) if not a.signed else (b, a)
    if uns.rank >= sig.rank:
        return uns
    if sig.width > uns.width:
        return sig
    return {3: UINT, 4: ULONG, 5: ULLONG}[sig.rank]


@functools.lru_cache(maxsize=1 << 12)
def literal_type(text: str) -> tuple[int, CType]:
    """Value and type of an integer literal such as `0x800UL` (C11 6.4.4.1); kept for
    each text, since a long function spells the same few literals over and over."""
    body = text.lower()
    suffix = ""
    while body and body[-1] in "ul":
        suffix = body[-1] + suffix
        body = body[:-1]
    if body.startswith("0x"):
        value, decimal = int(body, 16), False
    elif body.startswith("0b"):
        value, decimal = int(body[2:], 2), False
    elif len(body) > 1 and body.startswith("0"):
        value, decimal = int(body, 8), False
    else:
        value, decimal = int(body), True
    unsigned = "u" in suffix
    longs = suffix.count("l")
    if unsigned:
        candidates = [UINT, ULONG, ULLONG]
    elif decimal:
        candidates = [INT, LONG, LLONG]
    else:
        candidates = [INT, UINT, LONG, ULONG, LLONG, ULLONG]
    minimum_rank = {0: 3, 1: 4, 2: 5}[min(longs, 2)]
    for t in candidates:
        if t.rank < minimum_rank:
            continue
        limit = 1 << (t.width - 1 if t.signed else t.width)
        if value < limit:
            return value, t
    return value & ((1 << 64) - 1), ULLONG


@functools.lru_cache(maxsize=256)
def is_integer_literal_kind(kind: str) -> bool:
    """Whether pycparser's Constant.type names an integer literal ("unsigned long int")."""
    words = kind.split()
    return bool(words) and all(w in ("int", "long", "unsigned", "signed", "short") for w in words)
