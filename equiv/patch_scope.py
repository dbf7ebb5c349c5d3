"""What a patch touches, and the before/after fragments that check it.

A light scanner (comments and strings blanked, top-level braces matched,
`#define` lines joined) finds the function, macro and enum definitions of
every .c/.h file in the tree.  From the lines a patch changes it finds the
touched definitions, then the roots to check: the touched functions, the
functions that use a touched macro, and, for a touched inline helper, its
callers.  For each root it extracts, per side, only what the root needs
(the functions it reaches, the macros and enums they name) from the tree's
files, with `#line` directives so every location is the tree's file and line.

This module does not parse C for meaning; equiv's front end does that later.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from equiv.patch_series import Scratch

C_SUFFIXES = (".c", ".h")
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_DEFINE = re.compile(r"#\s*define\s+(\w+)(\(?)(.*)", re.S)
_IFNDEF = re.compile(r"^\s*#\s*ifndef\s+(\w+)", re.M)
_C_KEYWORDS = frozenset(
    "if else while for do switch case default return goto break continue sizeof "
    "struct union enum typedef static inline extern const volatile void int long "
    "short char unsigned signed bool".split())


@dataclass(frozen=True)
class Definition:
    """A top-level function, object/function-like macro or enum in a tree file."""

    name: str
    kind: str  # "function", "macro" or "enum"
    path: str  # relative to the tree root
    start: int  # first line, 1-based
    end: int  # last line
    text: str  # as written
    code: str  # comments and strings blanked (for name lookup)
    inline: bool = False
    static: bool = False
    members: tuple[str, ...] = ()  # enumerator names, for an enum

    def names_used(self) -> set[str]:
        body = self.code if self.kind != "macro" else self.code.split(self.name, 1)[-1]
        return set(_IDENT.findall(body)) - _C_KEYWORDS - {self.name}

    def calls(self) -> set[str]:
        return set(_CALL.findall(self.code)) - _C_KEYWORDS - {self.name}


_LEXEMES = re.compile(r"/\*.*?(?:\*/|\Z)|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"?"
                      r"|'(?:\\.|[^'\\\n])*'?", re.S)


def _blank(text: str) -> str:
    """`text` with comments, strings and char literals replaced by spaces (newlines kept)."""
    return _LEXEMES.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _directives(code: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Code with preprocessor lines blanked, and each directive's (start, end, text)."""
    lines = code.split("\n")
    found = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("#"):
            start = i
            while lines[i].rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
            found.append((start + 1, i + 1, "\n".join(lines[start:i + 1])))
            for k in range(start, i + 1):
                lines[k] = " " * len(lines[k])
        i += 1
    return "\n".join(lines), found


def _function_name(header: str) -> str | None:
    header = header.rstrip()
    if not header.endswith(")") or "=" in header:
        return None
    depth = 0
    for pos in range(len(header) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(header[pos], 0)
        if depth == 0:
            m = re.search(r"([A-Za-z_]\w*)\s*$", header[:pos])
            return m.group(1) if m and m.group(1) not in _C_KEYWORDS else None
    return None


_SCAN_CACHE: dict[tuple[str, int], list[Definition]] = {}


def scan(path: str, text: str) -> list[Definition]:
    """Every top-level definition of one C file (cached by path and text)."""
    key = (path, hash(text))
    if key not in _SCAN_CACHE:
        _SCAN_CACHE[key] = _scan(path, text)
    return _SCAN_CACHE[key]


def _scan(path: str, text: str) -> list[Definition]:
    code = _blank(text)
    lines = text.split("\n")
    guards = set(_IFNDEF.findall(code))
    flat, directives = _directives(code)
    defs = []
    for start, end, directive in directives:
        m = _DEFINE.match(directive.strip())
        if m and not (m.group(1) in guards and not m.group(3).strip()):
            defs.append(Definition(m.group(1), "macro", path, start, end,
                                   "\n".join(lines[start - 1:end]), directive))
    defs += _braced(path, flat, lines)
    return defs


def _line_of(flat: str, pos: int) -> int:
    return flat.count("\n", 0, pos) + 1


def _braced(path: str, flat: str, lines: list[str]) -> list[Definition]:
    defs = []
    depth, seg, open_at = 0, 0, 0
    for m in re.finditer(r"[{};]", flat):
        ch, pos = m.group(0), m.start()
        if ch == "{":
            if depth == 0:
                open_at = pos
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                made = _definition(path, flat, lines, seg, open_at, pos)
                if made is not None:
                    defs.append(made)
                    seg = pos + 1
        elif ch == ";" and depth == 0:
            seg = pos + 1
    return defs


def _definition(path: str, flat: str, lines: list[str], seg: int, open_at: int,
                close: int) -> Definition | None:
    header = flat[seg:open_at]
    lead = len(header) - len(header.lstrip())
    start, end = _line_of(flat, seg + lead), _line_of(flat, close)
    if re.search(r"\benum\b", header) and "=" not in header:
        semi = flat.find(";", close)
        end = _line_of(flat, semi) if semi >= 0 else end
        body = flat[open_at + 1:close]
        members = tuple(m.group(1) for m in re.finditer(r"(?:^|,)\s*([A-Za-z_]\w*)", body))
        tag = re.search(r"\benum\s+(\w+)", header)
        name = tag.group(1) if tag else ""
        return Definition(name or f"enum@{start}", "enum", path, start, end,
                          "\n".join(lines[start - 1:end]),
                          "\n".join(flat.split("\n")[start - 1:end]), members=members)
    name = _function_name(header)
    if name is None or re.search(r"\b(struct|union)\s*\w*\s*$", header.strip()):
        return None
    code = "\n".join(flat.split("\n")[start - 1:end])
    return Definition(name, "function", path, start, end, "\n".join(lines[start - 1:end]),
                      code, inline=bool(re.search(r"\binline\b|__always_inline", header)),
                      static=bool(re.search(r"\bstatic\b", header)))


# ---- the tree ---------------------------------------------------------------------

def arch_of(path: str) -> str | None:
    parts = Path(path).parts
    return parts[1] if len(parts) > 2 and parts[0] == "arch" else None


@dataclass
class TreeIndex:
    """Definitions of every .c/.h file of one state of the tree, by name."""

    files: dict[str, str]  # path -> text
    defs: dict[str, list[Definition]] = field(default_factory=dict)
    by_path: dict[str, list[Definition]] = field(default_factory=dict)

    @classmethod
    def build(cls, files: dict[str, str]) -> "TreeIndex":
        index = cls(files)
        for path in sorted(files):
            found = scan(path, files[path])
            index.by_path[path] = found
            for d in found:
                index.defs.setdefault(d.name, []).append(d)
                for member in d.members:
                    index.defs.setdefault(member, []).append(d)
        return index

    def resolve(self, name: str, user: str, arch: str | None) -> Definition | None:
        """The definition of `name` that code in file `user` sees, for `arch`."""
        best: tuple[tuple[int, ...], Definition] | None = None
        for d in self.defs.get(name, []):
            if d.path != user and d.static and d.path.endswith(".c"):
                continue  # a static in another .c file is invisible
            if arch_of(d.path) not in (None, arch):
                continue
            rank = (d.path != user, arch_of(d.path) != arch or arch is None,
                    not d.path.endswith(".h"), d.kind != "function")
            key = (tuple(int(r) for r in rank), d)
            if best is None or (key[0], d.path, d.start) < (best[0], best[1].path,
                                                            best[1].start):
                best = key
        return None if best is None else best[1]

    def functions(self) -> list[Definition]:
        return [d for path in sorted(self.by_path) for d in self.by_path[path]
                if d.kind == "function"]


def tree_files(scratch: Scratch, overrides: dict[str, str | None]) -> dict[str, str]:
    """The .c/.h files of the scratch tree, with `overrides` (None: absent) applied."""
    files = dict(scratch.c_texts())
    for path, text in overrides.items():
        if text is None:
            files.pop(path, None)
        else:
            files[path] = text
    return files


# ---- what a patch touches ---------------------------------------------------------

@dataclass(frozen=True)
class Touched:
    """Names a patch changes, with the file of their changed definition."""

    functions: tuple[tuple[str, str], ...]  # (name, path)
    macros: tuple[tuple[str, str], ...]
    arch: str | None


def changed_lines(before: str, after: str) -> tuple[set[int], set[int]]:
    """Line numbers removed from `before` and added in `after` (1-based)."""
    a, b = before.split("\n"), after.split("\n")
    removed, added = set(), set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed |= set(range(i1 + 1, i2 + 1))
            added |= set(range(j1 + 1, j2 + 1))
    return removed, added


def touched(pairs: dict[str, tuple[str, str]], before: TreeIndex,
            after: TreeIndex) -> Touched:
    """The definitions whose lines differ between `before` and `after` of each file."""
    funcs: dict[tuple[str, str], None] = {}
    macros: dict[tuple[str, str], None] = {}
    for path, (old, new) in sorted(pairs.items()):
        removed, added = changed_lines(old, new)
        for index, lines in ((before, removed), (after, added)):
            for d in index.by_path.get(path, []):
                if any(d.start <= n <= d.end for n in lines):
                    names = [d.name] if d.kind != "enum" else list(d.members)
                    target = funcs if d.kind == "function" else macros
                    for name in names:
                        target[(name, path)] = None
    arches = sorted({a for p in pairs if (a := arch_of(p)) is not None})
    return Touched(tuple(funcs), tuple(macros), arches[0] if arches else None)


def roots(t: Touched, before: TreeIndex, after: TreeIndex) -> list[tuple[str, str]]:
    """(function, path) pairs to check: touched functions, macro users, inline callers."""
    candidates: dict[tuple[str, str], None] = dict.fromkeys(t.functions)
    macro_names = _macro_closure(t, before, after)
    for index in (before, after):
        for d in index.functions():
            if d.names_used() & macro_names:
                candidates[(d.name, d.path)] = None
    _add_inline_callers(candidates, t.arch, before, after)
    called = set()
    for name, path in candidates:
        for index in (before, after):
            for d in index.by_path.get(path, []):
                if d.name == name and d.kind == "function":
                    called |= {(c, r.path) for c in d.calls()
                               if (r := index.resolve(c, path, t.arch)) is not None}
    return [c for c in candidates if c not in called]


def _macro_closure(t: Touched, before: TreeIndex, after: TreeIndex) -> set[str]:
    """Touched macros and enumerators, and macros whose bodies name them."""
    names = {name for name, _ in t.macros}
    grew = True
    while grew:
        grew = False
        for index in (before, after):
            for defs in index.defs.values():
                for d in defs:
                    if d.kind == "macro" and d.name not in names and d.names_used() & names \
                            and arch_of(d.path) in (None, t.arch):
                        names.add(d.name)
                        grew = True
    return names


def _add_inline_callers(candidates: dict[tuple[str, str], None], arch: str | None,
                        before: TreeIndex, after: TreeIndex) -> None:
    """Replace inline helpers by the functions that call them, transitively."""
    work = list(candidates)
    seen = set(work)
    while work:
        name, path = work.pop()
        for index in (before, after):
            own = [d for d in index.by_path.get(path, []) if d.name == name]
            if not any(d.inline and d.kind == "function" for d in own):
                continue
            for d in index.functions():
                r = index.resolve(name, d.path, arch) if name in d.calls() else None
                if r is not None and r.path == path and (d.name, d.path) not in seen:
                    seen.add((d.name, d.path))
                    candidates[(d.name, d.path)] = None
                    work.append((d.name, d.path))


# ---- fragments --------------------------------------------------------------------

def needed(root: tuple[str, str], index: TreeIndex, arch: str | None) -> list[Definition]:
    """The root's definition and everything it names that the tree defines."""
    start = [d for d in index.by_path.get(root[1], []) if d.name == root[0]
             and d.kind == "function"]
    out: dict[tuple[str, str, int], Definition] = {}
    work = list(start[:1])
    while work:
        d = work.pop()
        key = (d.path, d.name, d.start)
        if key in out:
            continue
        out[key] = d
        for name in sorted(d.names_used()):
            r = index.resolve(name, d.path, arch)
            if r is not None:
                work.append(r)
                if r.kind == "macro":
                    # The whole flag layout of a header, for models and the mask view.
                    work += [m for m in index.by_path[r.path] if m.kind == "macro"
                             and "(" not in m.code.split(m.name, 1)[-1][:1]]
    return list(out.values())


def _callee_first(functions: list[Definition]) -> list[Definition]:
    by_name = {d.name: d for d in functions}
    order: list[Definition] = []
    seen: set[str] = set()

    def visit(d: Definition) -> None:
        if d.name in seen:
            return
        seen.add(d.name)
        for c in sorted(d.calls()):
            if c in by_name:
                visit(by_name[c])
        order.append(d)

    for d in sorted(functions, key=lambda d: (d.path, d.start)):
        visit(d)
    return order


@dataclass(frozen=True)
class Fragment:
    """One side of a root's check: file texts keyed by side path (a/..., b/...)."""

    files: tuple[tuple[str, str], ...]
    macros: tuple[str, ...]  # every macro name it defines (the witness undefines them)
    functions: tuple[str, ...]  # every function it defines, callees first


def fragment(root: tuple[str, str], index: TreeIndex, arch: str | None,
             prefix: str) -> Fragment | None:
    """The extracted side for `root`, or None when this side does not define it."""
    defs = needed(root, index, arch)
    if not defs:
        return None
    top = [d for d in defs if d.kind != "function"]
    top.sort(key=lambda d: (d.kind != "macro", d.path, d.start))
    funcs = _callee_first([d for d in defs if d.kind == "function"])
    paths = list(dict.fromkeys(d.path for d in funcs))
    texts: dict[str, list[str]] = {p: [] for p in paths}
    first = f"{prefix}/{paths[0]}"
    head = [f'#line {d.start} "{d.path}"\n{d.text}' for d in top]
    if head:
        texts[paths[0]] += head + [f'#line 1 "{first}"']
    for d in funcs:
        texts[d.path].append(f"#line {d.start}\n{d.text}")
    files = tuple((f"{prefix}/{p}", "\n".join(texts[p]) + "\n") for p in paths)
    return Fragment(files, tuple(d.name for d in top if d.kind == "macro"),
                    tuple(d.name for d in funcs))
