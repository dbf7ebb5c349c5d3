"""Which config switches of `#if` lines can change the functions a check reaches.

A real file (arm64 `ptrace.c`) tests many switches in `#if` lines, nearly all
around code the checked function never reaches; each switch doubles the
preprocessor configurations to load.  A switch is *relevant* when one of the
`#if` groups that test it (from its `#if` to its `#endif`) overlaps the lines
of a reached function, or declares a name that the reached code, or another
relevant group, uses (a function, variable, type, tag or macro).  Any other
switch leaves every reached function's text unchanged, so fixing it changes no
verdict.  The names come from the source text (macros never reach the AST), so
this errs only towards calling a switch relevant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from equiv.ir.unit import Unit

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')
_TOKEN = re.compile(r"[A-Za-z_]\w*|\S")
_IF = re.compile(r"^\s*#\s*(if|ifdef|ifndef)\b(.*)$")
_ELSE = re.compile(r"^\s*#\s*(elif|else)\b(.*)$")
_ENDIF = re.compile(r"^\s*#\s*endif\b")
_DEFINE = re.compile(r"^\s*#\s*(?:define|undef)\s+(\w+)")
_DECLARATOR_END = frozenset({"(", ";", "=", "[", ","})


@dataclass
class Group:
    """One `#if` ... `#endif` span of a file (1-based, inclusive lines)."""

    start: int
    end: int
    configs: set[str]


def relevant_configs(program: Unit, functions: tuple[str, ...], free: list[str],
                     texts: dict[str, str]) -> list[str]:
    """The switches among `free` that can change what `functions` reach (see module doc).

    `program` is the side loaded with every free switch off; `texts` maps each
    user file to its source.
    """
    reached = _reached(program, functions)
    ranges = _ranges(program, reached, set(texts))
    lines = {path: _clean(text).split("\n") for path, text in texts.items()}
    used: set[str] = set(reached)
    for path, spans in ranges.items():
        for start, end in spans:
            used |= _identifiers(lines[path][start - 1:end])
    groups = [(path, g) for path, text in lines.items() for g in _groups(text)]
    relevant: set[int] = set()
    changed = True
    while changed:
        changed = False
        for k, (path, g) in enumerate(groups):
            if k in relevant:
                continue
            body = lines[path][g.start - 1:g.end]
            overlaps = any(s <= g.end and g.start <= e for s, e in ranges.get(path, ()))
            if overlaps or _declared(body, lines[path], g.start) & used:
                relevant.add(k)
                used |= _identifiers(body)
                changed = True
    wanted = {c for k in relevant for c in groups[k][1].configs}
    return [c for c in free if c in wanted]


def _clean(text: str) -> str:
    """`text` without comments and string contents, lines kept in place."""
    text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n") + " ", text)
    return _STRING.sub('""', text)


def _identifiers(lines: list[str]) -> set[str]:
    return {t for line in lines for t in _TOKEN.findall(line) if t[0].isalpha() or t[0] == "_"}


def _groups(lines: list[str]) -> list[Group]:
    """Every `#if` group of a file with the CONFIG_ switches its conditions test."""
    out: list[Group] = []
    stack: list[Group] = []
    for number, line in enumerate(lines, start=1):
        opened, other = _IF.match(line), _ELSE.match(line)
        if opened:
            stack.append(Group(number, number, set(re.findall(r"\bCONFIG_\w+", line))))
        elif other and stack:
            stack[-1].configs |= set(re.findall(r"\bCONFIG_\w+", line))
        elif _ENDIF.match(line) and stack:
            group = stack.pop()
            group.end = number
            out.append(group)
    return out


def _declared(body: list[str], file_lines: list[str], start: int) -> set[str]:
    """Names a group declares at file scope: macros, functions, variables, tags, typedefs."""
    names = {m.group(1) for line in body if (m := _DEFINE.match(line))}
    depth = _brace_depth(file_lines[:start - 1])
    tokens = [t for line in body if not line.lstrip().startswith("#")
              for t in _TOKEN.findall(line)]
    parens = 0
    for i, tok in enumerate(tokens):
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
        elif tok in "([":
            parens += 1
        elif tok in ")]":
            parens -= 1
        elif depth <= 0 and parens <= 0 and (tok[0].isalpha() or tok[0] == "_"):
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            preceding = tokens[i - 1] if i else ""
            if following in _DECLARATOR_END or preceding in ("struct", "union", "enum"):
                names.add(tok)
    return names


def _brace_depth(lines: list[str]) -> int:
    depth = 0
    for line in lines:
        if line.lstrip().startswith("#"):
            continue
        depth += line.count("{") - line.count("}")
    return depth


def _reached(program: Unit, functions: tuple[str, ...]) -> set[str]:
    """The defined functions `functions` reach through calls, and themselves."""
    seen: set[str] = set()
    todo = [f for f in functions if f in program.funcdefs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [n for n in _names(program.funcdefs[name]) if n in program.funcdefs]
    return seen | set(functions)


def _names(node: Any) -> set[str]:
    names: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if type(n).__name__ == "ID":
            names.add(n.name)
        stack.extend(child for _, child in n.children())
    return names


def _ranges(program: Unit, reached: set[str], paths: set[str]) -> dict[str, list[tuple[int, int]]]:
    """The lines of each reached function defined in one of `paths`."""
    out: dict[str, list[tuple[int, int]]] = {}
    for name in reached:
        funcdef = program.funcdefs.get(name)
        coord = getattr(funcdef, "coord", None)
        if funcdef is None or coord is None or coord.file not in paths:
            continue
        lines = [coord.line]
        stack = [funcdef]
        while stack:
            n = stack.pop()
            c = getattr(n, "coord", None)
            if c is not None and c.file == coord.file and c.line:
                lines.append(c.line)
            stack.extend(child for _, child in n.children())
        # The closing brace has no node: the next line is taken too.
        out.setdefault(coord.file, []).append((min(lines), max(lines) + 1))
    return out
