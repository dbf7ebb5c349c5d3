"""What a patch touches, and the before/after fragments that check it.

A light scanner on the shared lexical layer (`equiv.frontend.lexical`:
comments and strings blanked; here top-level braces matched and `#define`
lines joined) finds the top-level definitions of every .c/.h file
in the tree: functions, macros, enums, struct/union/typedef types, file-scope
variables, and EXPORT_SYMBOL lines.  From the lines a patch changes it finds
the touched definitions (code that differs, comments and layout aside, or
exists on one side only), then the roots to check: every touched function,
every function that uses a touched name (directly or through macros, types
and variables that name it), and the callers of each, transitively through
inline helpers.  Each root says whether code outside the checks could see it
behave differently (`Root.escapes`).  For each root it extracts, per side,
only what the root needs (the functions it reaches, the macros, types, enums
and variables they name) from the tree's files, with `#line` directives so
every location is the tree's file and line.

This module does not parse C for meaning; equiv's front end does that later.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from equiv.frontend import lexical
from equiv.patch.series import Scratch

C_SUFFIXES = (".c", ".h")
_IDENT = lexical.IDENT
_CALL = lexical.CALL
_DEFINE = re.compile(r"#\s*define\s+(\w+)(\(?)(.*)", re.S)
_IFNDEF = re.compile(r"^\s*#\s*ifndef\s+(\w+)", re.M)
_C_KEYWORDS = frozenset(
    "if else while for do switch case default return goto break continue sizeof "
    "struct union enum typedef static inline extern const volatile void int long "
    "short char unsigned signed bool".split())


@dataclass(frozen=True)
class Definition:
    """A top-level definition in a tree file.

    `kind` is "function", "macro", "enum" (named `enum tag` or `enum@line`, its
    enumerators in `members`), "struct" (named `struct tag` or `union tag`),
    "typedef" (a tagged type it defines in `members`), "object" (a file-scope
    variable), "export" (an EXPORT_SYMBOL line; the exported name in `members`)
    or "invocation" (a top-level macro call such as `module_init(f);`, named by
    the macro, the names of its arguments in `members`).
    """

    name: str
    kind: str
    path: str  # relative to the tree root
    start: int  # first line, 1-based
    end: int  # last line
    text: str  # as written
    code: str  # comments and strings blanked (for name lookup)
    inline: bool = False
    static: bool = False
    members: tuple[str, ...] = ()  # enumerators, a typedef's tagged type, an exported name
    const: bool = False  # an object whose value cannot change (not a pointer)

    def names_used(self) -> set[str]:
        """Identifiers and `struct tag` / `union tag` names this definition refers to."""
        body = self.code if self.kind != "macro" else self.code.split(self.name, 1)[-1]
        tags = {f"{k} {t}" for k, t in _TAG_USE.findall(body)}
        return (set(_IDENT.findall(body)) | tags) - _C_KEYWORDS - {self.name, *self.members}

    def calls(self) -> set[str]:
        return set(_CALL.findall(self.code)) - _C_KEYWORDS - {self.name}

    def normalised(self) -> str:
        """The code with comments and layout removed: equal means no change."""
        return " ".join(self.code.split())


_TAG_USE = lexical.TAG_USE
_blank = lexical.blank
_directives = lexical.directive_spans


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
    """Every top-level item: a function body, or a declaration ending in `;`."""
    defs = []
    depth, seg, open_at = 0, 0, -1
    for m in re.finditer(r"[{};]", flat):
        ch, pos = m.group(0), m.start()
        if ch == "{":
            if depth == 0 and open_at < 0:
                open_at = pos
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0 and _function_name(flat[seg:open_at]) is not None:
                defs += _definitions(path, flat, lines, seg, pos, open_at)
                seg, open_at = pos + 1, -1
        elif ch == ";" and depth == 0:
            defs += _definitions(path, flat, lines, seg, pos, open_at)
            seg, open_at = pos + 1, -1
    return defs


def _item(path: str, flat: str, lines: list[str], seg: int, end: int, kind: str, name: str,
          **extra: object) -> Definition:
    item = flat[seg:end + 1]
    lead = len(item) - len(item.lstrip())
    start, last = _line_of(flat, seg + lead), _line_of(flat, end)
    return Definition(name, kind, path, start, last, "\n".join(lines[start - 1:last]),
                      "\n".join(flat.split("\n")[start - 1:last]), **extra)  # type: ignore


_TAGGED = re.compile(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)\s*\{")
_INVOCATION = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*;\s*$", re.S)
_EXPORT = re.compile(r"^\s*EXPORT_SYMBOL(?:_GPL)?(?:_NS)?\s*\(\s*(\w+)")


def _definitions(path: str, flat: str, lines: list[str], seg: int, end: int,
                 open_at: int) -> list[Definition]:
    """The definitions one top-level item makes (none for a prototype or extern)."""
    item = flat[seg:end + 1]
    if open_at >= 0 and (name := _function_name(flat[seg:open_at])) is not None:
        header = flat[seg:open_at]
        return [_item(path, flat, lines, seg, end, "function", name,
                      inline=bool(re.search(r"\binline\b|__always_inline", header)),
                      static=bool(re.search(r"\bstatic\b", header)))]
    if (export := _EXPORT.match(item)) is not None:
        return [_item(path, flat, lines, seg, end, "export", f"export {export.group(1)}",
                      members=(export.group(1),))]
    if (invoked := _INVOCATION.match(item)) is not None:
        # module_init(f); DEFINE_STATIC_CALL(name, f); ...: the names escape our view.
        args = tuple(sorted(set(_IDENT.findall(invoked.group(2))) - _C_KEYWORDS))
        return [_item(path, flat, lines, seg, end, "invocation", invoked.group(1),
                      members=args)]
    if re.fullmatch(r"\s*(struct|union|enum)\s+\w+\s*;", item):
        return []  # a forward declaration
    head = item if open_at < 0 else flat[seg:open_at]
    outside = _outside_braces(item)
    tagged = _TAGGED.search(item[:open_at - seg + 1]) if open_at >= 0 else None
    if re.search(r"\benum\b", head) and open_at >= 0 and "=" not in head:
        body = flat[open_at + 1:flat.rfind("}", open_at, end + 1)]
        members = tuple(m.group(1) for m in re.finditer(r"(?:^|,)\s*([A-Za-z_]\w*)", body))
        tag = re.search(r"\benum\s+(\w+)", head)
        start = _line_of(flat, seg + len(item) - len(item.lstrip()))
        return [_item(path, flat, lines, seg, end, "enum",
                      f"enum {tag.group(1)}" if tag else f"enum@{start}", members=members)]
    if re.match(r"\s*typedef\b", item):
        name = _declarator(outside.rsplit(";", 1)[0])
        aliases = (f"{tagged.group(1)} {tagged.group(2)}",) if tagged else ()
        return [_item(path, flat, lines, seg, end, "typedef", name, members=aliases)] \
            if name else []
    declarators = re.sub(r"\b(struct|union)\s+\w+|\b__\w+(\s*\(\(.*?\)\))?|;", "", outside)
    if tagged is not None and tagged.group(1) in ("struct", "union") \
            and not declarators.strip():
        return [_item(path, flat, lines, seg, end, "struct",
                      f"{tagged.group(1)} {tagged.group(2)}")]
    return _objects(path, flat, lines, seg, end, outside)


def _outside_braces(item: str) -> str:
    """`item` with every braced part (struct bodies, initializers) removed."""
    out, depth = [], 0
    for ch in item:
        depth += ch == "{"
        if depth == 0:
            out.append(ch)
        depth -= ch == "}" and depth > 0
    return "".join(out)


def _declarator(text: str) -> str | None:
    """The name a declarator declares: `*(*fn)(int)` -> fn, `mask[4]` -> mask."""
    text = re.sub(r"\[[^\]]*\]", "", text.split("=", 1)[0])
    pointer = re.search(r"\(\s*\*\s*([A-Za-z_]\w*)\s*\)", text)
    if pointer:
        return pointer.group(1)
    names = [n for n in _IDENT.findall(text) if n not in _C_KEYWORDS]
    return names[-1] if names else None


def _objects(path: str, flat: str, lines: list[str], seg: int, end: int,
             outside: str) -> list[Definition]:
    """File-scope variables an item defines (an extern or a prototype defines none)."""
    head = outside.rsplit(";", 1)[0]
    if re.search(r"\bextern\b", head) or not head.strip() or head.lstrip().startswith("#"):
        return []
    parts = _top_commas(head)
    first = parts[0].split("=", 1)[0]
    if re.search(r"\)\s*$", first.strip()) and not re.search(r"\(\s*\*", first):
        return []  # a prototype, or a macro invocation such as DEFINE_PER_CPU(x, y)
    static = bool(re.search(r"\bstatic\b", head))
    out = []
    for part in parts:
        name = _declarator(part)
        if name is None or name in _C_KEYWORDS:
            continue
        decl = part.split("=", 1)[0]
        const = bool(re.search(r"\bconst\b", parts[0].split("=", 1)[0])) and "*" not in decl
        out.append(_item(path, flat, lines, seg, end, "object", name, static=static,
                         const=const))
    return out


def _top_commas(text: str) -> list[str]:
    """`text` split at the commas outside brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    return parts + ["".join(cur)]


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
    exported: set[str] = field(default_factory=set)  # names under EXPORT_SYMBOL
    invoked: dict[str, str] = field(default_factory=dict)  # name -> top-level macro naming it
    _users: dict[str, list[Definition]] | None = None

    @classmethod
    def build(cls, files: dict[str, str]) -> "TreeIndex":
        index = cls(files)
        for path in sorted(files):
            found = scan(path, files[path])
            index.by_path[path] = [d for d in found if d.kind not in ("export", "invocation")]
            for d in found:
                if d.kind == "export":
                    index.exported.update(d.members)
                    continue
                if d.kind == "invocation":
                    for name in d.members:
                        index.invoked.setdefault(name, f"{d.name}() at {d.path}:{d.start}")
                    continue
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

    def users(self, name: str) -> list[Definition]:
        """Every definition that names `name` (built once per index)."""
        if self._users is None:
            self._users = {}
            for path in sorted(self.by_path):
                for d in self.by_path[path]:
                    for used in d.names_used():
                        self._users.setdefault(used, []).append(d)
        return self._users.get(name, [])

    def callers(self, name: str, path: str, arch: str | None) -> list[Definition]:
        """Functions that call the `name` defined in `path`."""
        out = []
        for d in self.users(name):
            if d.kind == "function" and name in d.calls():
                r = self.resolve(name, d.path, arch)
                if r is not None and r.path == path:
                    out.append(d)
        return out

    def defines(self, name: str, path: str, kind: str = "function") -> Definition | None:
        return next((d for d in self.by_path.get(path, [])
                     if d.name == name and d.kind == kind), None)


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
class ObjectChange:
    """A file-scope variable whose initializer (and nothing else) changed."""

    name: str
    path: str
    const: bool  # its value cannot change after initialisation
    line: int = 1  # of its definition after the patch


@dataclass(frozen=True)
class Touched:
    """Names a patch changes, with the file of their changed definition."""

    functions: tuple[tuple[str, str], ...]  # (name, path): changed, added or deleted
    names: tuple[tuple[str, str], ...]  # macros, enumerators, types, variables changed
    initializers: tuple[ObjectChange, ...]  # variables whose initial value changed
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


def _counterpart(d: Definition, other: TreeIndex) -> Definition | None:
    return next((o for o in other.by_path.get(d.path, [])
                 if o.name == d.name and o.kind == d.kind), None)


def touched(pairs: dict[str, tuple[str, str]], before: TreeIndex,
            after: TreeIndex) -> Touched:
    """The definitions whose code differs between `before` and `after` of each file.

    A definition on changed lines whose code (comments and layout aside) is the
    same on both sides is not touched; one that exists on one side only is.
    """
    funcs: dict[tuple[str, str], None] = {}
    names: dict[tuple[str, str], None] = {}
    inits: dict[ObjectChange, None] = {}
    for path, (old, new) in sorted(pairs.items()):
        removed, added = changed_lines(old, new)
        if _changes_directives(old, removed) or _changes_directives(new, added):
            # An #include, #if or #undef changes what every function of the file
            # may see: all of them are touched.
            for index in (before, after):
                for d in index.by_path.get(path, []):
                    if d.kind == "function":
                        funcs[(d.name, path)] = None
        for index, other, lines in ((before, after, removed), (after, before, added)):
            for d in index.by_path.get(path, []):
                if not any(d.start <= n <= d.end for n in lines):
                    continue
                twin = _counterpart(d, other)
                if twin is not None and twin.normalised() == d.normalised():
                    continue
                if d.kind == "function":
                    funcs[(d.name, path)] = None
                    continue
                for name in (d.name, *d.members):
                    names[(name, path)] = None
                if d.kind == "object" and twin is not None and _declaration(d) == \
                        _declaration(twin):
                    inits[ObjectChange(d.name, path, d.const and twin.const,
                                       (d if index is after else twin).start)] = None
    arches = sorted({a for p in pairs if (a := arch_of(p)) is not None})
    return Touched(tuple(funcs), tuple(names), tuple(inits), arches[0] if arches else None)


_SCOPE_DIRECTIVE = re.compile(r"^\s*#\s*(include|include_next|import|if|ifdef|ifndef|elif|else|"
                              r"endif|undef|line|pragma)\b")


def _changes_directives(text: str, lines: Iterable[int]) -> bool:
    """Whether any of `lines` (1-based) of `text` is a directive other than #define."""
    all_lines = text.splitlines()
    return any(0 < n <= len(all_lines) and _SCOPE_DIRECTIVE.match(all_lines[n - 1])
               for n in lines)


def _declaration(d: Definition) -> str:
    """An object's declaration without its initializer."""
    return " ".join(d.code.split("=", 1)[0].split())


@dataclass(frozen=True)
class Root:
    """A function to check, with who else sees a difference in it."""

    name: str
    path: str
    callers: tuple[tuple[str, str], ...]  # callers in the scanned scope, checked as well
    escapes: str | None  # why a difference here reaches unchecked code; None: it cannot


def roots(t: Touched, before: TreeIndex, after: TreeIndex) -> list[Root]:
    """What to check, sorted by (name, path): every touched function, every user of a
    touched name, and the callers of each touched function and of each inline helper
    among them (transitively through inline helpers).  A user of a touched name that
    is not inline keeps its callers unchecked, so a difference in it is always shown."""
    names = _name_closure(t, before, after)
    affected: dict[tuple[str, str], None] = dict.fromkeys(t.functions)
    for index in (before, after):
        for name in sorted(names):
            for d in index.users(name):
                if d.kind == "function" and arch_of(d.path) in (None, t.arch):
                    affected[(d.name, d.path)] = None
    callers: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
    reach = set(t.functions)  # whose callers are checked: touched functions, inline helpers
    work = list(affected)
    while work:
        key = work.pop()
        if key not in reach and not _is_inline(key, before, after):
            callers.setdefault(key, ())  # a user of a touched name: its difference is shown
            continue
        reach.add(key)
        found = sorted({(d.name, d.path) for index in (before, after)
                        for d in index.callers(key[0], key[1], t.arch)} - {key})
        callers[key] = tuple(found)
        for caller in found:
            if caller in callers or caller in work:
                continue
            if _is_inline(caller, before, after):
                work.append(caller)  # an inline helper acts only through its callers
            else:
                callers.setdefault(caller, ())
    return [Root(key[0], key[1], callers[key],
                 _escapes(key, callers[key], key in reach, before, after))
            for key in sorted(callers)]


def _is_inline(key: tuple[str, str], before: TreeIndex, after: TreeIndex) -> bool:
    return any((d := index.defines(*key)) is not None and d.inline for index in (before, after))


def _escapes(key: tuple[str, str], callers: tuple[tuple[str, str], ...], reach: bool,
             before: TreeIndex, after: TreeIndex) -> str | None:
    """Why code equiv does not check could see `key` behave differently, or None."""
    if not reach:
        return "its callers are not checked"
    if any(key[0] in index.exported for index in (before, after)):
        return "it is exported (EXPORT_SYMBOL)"
    for index in (before, after):
        if key[0] in index.invoked:
            return f"{index.invoked[key[0]]} names it"
    for index in (before, after):
        for d in index.users(key[0]):
            if d.kind in ("function", "object", "macro") and key[0] not in d.calls() \
                    and (d.name, d.path) != key:
                return f"{d.name} ({d.path}) uses it other than by a call"
            if d.kind in ("object", "macro"):
                return f"{d.name} ({d.path}) names it"
    if not callers:
        return "no caller in the scanned scope"
    return None


def _name_closure(t: Touched, before: TreeIndex, after: TreeIndex) -> set[str]:
    """Touched names, and the macros, types and variables whose definitions name them."""
    names = {name for name, _ in t.names}
    work = sorted(names)
    while work:
        name = work.pop()
        for index in (before, after):
            for d in index.users(name):
                if d.kind != "function" and arch_of(d.path) in (None, t.arch):
                    for new in {d.name, *d.members} - names:
                        names.add(new)
                        work.append(new)
    return names


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


def _used_first(defs: list[Definition]) -> list[Definition]:
    """Types, enums and variables, each after the ones its definition names."""
    by_name = {n: d for d in defs for n in (d.name, *d.members)}
    order: list[Definition] = []
    seen: set[tuple[str, str, int]] = set()

    def visit(d: Definition) -> None:
        key = (d.path, d.name, d.start)
        if key in seen:
            return
        seen.add(key)
        for name in sorted(d.names_used()):
            if name in by_name:
                visit(by_name[name])
        order.append(d)

    for d in sorted(defs, key=lambda d: (d.path, d.start)):
        visit(d)
    return order


@dataclass(frozen=True)
class Fragment:
    """One side of a root's check: file texts keyed by side path (a/..., b/...)."""

    files: tuple[tuple[str, str], ...]
    macros: tuple[str, ...]  # every macro name it defines (the witness undefines them)
    functions: tuple[str, ...]  # every function it defines, callees first
    variables: tuple[str, ...] = ()  # every file-scope variable it defines


def fragment(root: tuple[str, str], index: TreeIndex, arch: str | None,
             prefix: str) -> Fragment | None:
    """The extracted side for `root`, or None when this side does not define it."""
    defs = needed(root, index, arch)
    if not defs:
        return None
    top = [d for d in defs if d.kind == "macro"]
    top.sort(key=lambda d: (d.path, d.start))
    top += _used_first([d for d in defs if d.kind not in ("macro", "function")])
    funcs = _callee_first([d for d in defs if d.kind == "function"])
    paths = list(dict.fromkeys(d.path for d in funcs))
    texts: dict[str, list[str]] = {p: [] for p in paths}
    first = f"{prefix}/{paths[0]}"
    head = [f'#line {d.start} "{prefix}/{d.path}"\n{d.text}' for d in top]
    if head:
        texts[paths[0]] += head + [f'#line 1 "{first}"']
    for d in funcs:
        texts[d.path].append(f"#line {d.start}\n{d.text}")
    files = tuple((f"{prefix}/{p}", "\n".join(texts[p]) + "\n") for p in paths)
    return Fragment(files, tuple(d.name for d in top if d.kind == "macro"),
                    tuple(d.name for d in funcs),
                    tuple(d.name for d in top if d.kind == "object"))
