"""Which parameter of a checked function is a flag word, and which layout names its bits.

A pre-pass over one function, before symbolic execution.  A parameter is a
flag word

- by use: the function body ANDs it (`&`, `&=`) with a thread-flag mask
  (`_TIF_*`, or a macro whose body uses `_TIF_*`) or a `SYSCALL_WORK_*` mask;
  that use also decides the layout; or
- by name: it is one of the flag-parameter names (`flags`, `ti_work`, `work`,
  and `--flags-param`).  With no use to go by, `work` is generic entry code's
  `syscall_work` word (`SYSCALL_WORK_*` names) and every other name is the
  thread-flag word (`TIF_*` names).

Macros are expanded before pycparser sees the code, so the uses are read from
the function's source lines (the AST gives their file and line range).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from equiv.errors import InputError

TIF = "TIF"
SYSCALL_WORK = "SYSCALL_WORK"
_WORK_NAMES = ("work",)  # by name, the generic `syscall_work` word
_MAX_DEPTH = 8  # macro bodies followed when deciding what a mask is made of


@dataclass(frozen=True)
class FlagWord:
    """A parameter taken as a flag word."""

    param: str
    layout: str  # TIF or SYSCALL_WORK
    why: str  # "by name", or "ANDed with _TIF_X at file:line"


def _params(funcdef: Any) -> list[tuple[str, bool]]:
    """(name, is a pointer) of each named parameter."""
    args = getattr(funcdef.decl.type, "args", None)
    out = []
    for p in getattr(args, "params", None) or []:
        name = getattr(p, "name", None)
        if name and hasattr(p, "type"):
            out.append((name, type(p.type).__name__ == "PtrDecl"))
    return out


def _line_range(funcdef: Any) -> tuple[str, int, int] | None:
    """The file and the first and last line of the function, from the AST's coordinates."""
    coord = funcdef.coord
    if coord is None or not coord.file:
        return None
    last = coord.line
    body = funcdef.body
    if body.coord is not None and body.coord.file == coord.file:
        last = max(last, body.coord.line)
    # A statement starts below the ones before it in the same file, so the last line is
    # in the last statement that has a node in this file: the walk stops there (a walk
    # of the whole body took 0.3 s on a 20,000-statement function).
    for item in reversed(body.block_items or []):
        found = None
        stack = [item]
        while stack:
            node = stack.pop()
            c = getattr(node, "coord", None)
            if c is not None and c.file == coord.file:
                found = c.line if found is None else max(found, c.line)
            stack.extend(child for _, child in node.children())
        if found is not None:
            return coord.file, coord.line, max(last, found) + 1
    return coord.file, coord.line, last + 1


def _layout_of(token: str, macros: dict[str, str], depth: int = 0,
               memo: dict[tuple[str, int], str | None] | None = None) -> str | None:
    """The layout a mask token belongs to, following macro bodies (at most _MAX_DEPTH
    deep); `memo` keeps the answers of one pass over many tokens."""
    if token.startswith(("_TIF_", "TIF_")):
        return TIF
    if token.startswith("SYSCALL_WORK_"):
        return SYSCALL_WORK
    body = macros.get(token)
    if body is None or depth >= _MAX_DEPTH:
        return None
    if memo is not None and (token, depth) in memo:
        return memo[token, depth]
    found = None
    for inner in re.findall(r"\b[A-Za-z_]\w*\b", body):
        found = _layout_of(inner, macros, depth + 1, memo)
        if found is not None:
            break
    if memo is not None:
        memo[token, depth] = found
    return found


def _operand_tokens(text: str) -> list[str]:
    """Identifiers of a `&` operand: up to the end of its parenthesised group or expression."""
    depth = 0
    end = len(text)
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                end = i
                break
            depth -= 1
        elif depth == 0 and (ch in ";,?:" or text.startswith(("&&", "||", "==", "!="), i)):
            end = i
            break
    return re.findall(r"\b[A-Za-z_]\w*\b", text[:end])


def _uses(lines: list[str], param: str, macros: dict[str, str]) -> tuple[str, str, int] | None:
    """(layout, mask token, line offset) of the first `param & MASK` or `MASK & param`."""
    after = re.compile(rf"\b{re.escape(param)}\s*&(?!&)=?\s*")
    before = re.compile(rf"(\b[A-Za-z_]\w*)\s*\)*\s*&(?!&)\s*\(*\s*{re.escape(param)}\b")
    # A line can only give a layout if it names a mask: a token _layout_of knows by its
    # prefix, or a macro that leads to one (the test is a superset: it looks for
    # substrings; most lines of a long function have neither).
    memo: dict[tuple[str, int], str | None] = {}
    named = sorted(name for name in macros if _layout_of(name, macros, 0, memo) is not None)
    mask = re.compile("|".join(["TIF_", "SYSCALL_WORK_", *map(re.escape, named)]))
    for k, line in enumerate(lines):
        if not mask.search(line):
            continue
        for m in after.finditer(line):
            for token in _operand_tokens(line[m.end():]):
                layout = _layout_of(token, macros)
                if layout is not None:
                    return layout, token, k
        for m in before.finditer(line):
            layout = _layout_of(m.group(1), macros)
            if layout is not None:
                return layout, m.group(1), k
    return None


def _source_lines(path: str) -> list[str]:
    from equiv.frontend.source import read_source

    try:
        return read_source(path).splitlines()
    except InputError:
        return []


def flag_words(funcdef: Any, macros: dict[str, str],
               by_name: tuple[str, ...]) -> tuple[FlagWord, ...]:
    """The parameters of `funcdef` taken as flag words, each with its layout and why.

    `macros` maps macro names to their bodies (to see through a fragment's own
    masks); `by_name` are the flag-parameter names.
    """
    span = _line_range(funcdef)
    lines: list[str] = []
    if span is not None:
        path, first, last = span
        lines = _source_lines(path)[first - 1:last]
    out = []
    for name, pointer in _params(funcdef):
        if pointer:
            continue
        use = _uses(lines, name, macros)
        if use is not None:
            layout, token, k = use
            where = f"{span[0]}:{span[1] + k}" if span is not None else "?"
            out.append(FlagWord(name, layout, f"ANDed with {token} at {where}"))
        elif name in by_name:
            out.append(FlagWord(name, SYSCALL_WORK if name in _WORK_NAMES else TIF, "by name"))
    return tuple(out)
