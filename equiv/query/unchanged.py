"""Unchanged functions: is what a root reaches the same program on both sides?

A root whose own body and everything it can reach are the same on both sides
behaves the same, because the environment is deterministic: the query need
not ask the solver whether the sides differ.  "The same" is decided on the
preprocessed AST with coordinates left out (so moved lines and renamed files
do not count), comparing:

- the root's definition and every user-defined function it calls,
  transitively;
- every other file-scope item, whole: types, structs, unions, enums,
  typedefs, globals, prototypes, macro values, and the definitions that come
  from the prelude, models and assumptions (models are C too);
- for each item, whether it comes from the user's files or which model or
  layout file it comes from (a fragment's definition wins over a model's);
- every preprocessor configuration of each side, with its valuation.

Nothing here looks at z3: it compares data, so a difference in anything that
can influence semantics keeps the full query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import zip_longest
from typing import Any

from equiv.ir.unit import Unit as Program

Token = tuple[Any, ...]
USER = "<user>"


def _origin(program: Program, node: Any) -> str:
    coord = getattr(node, "coord", None)
    file = str(coord.file) if coord is not None and coord.file else ""
    return USER if file in program.side.paths else file


def node_tokens(node: Any) -> Iterator[Token]:
    """The node and its subtree as a flat token stream, without coordinates.

    Iterative, so 500-deep nesting and 20,000-statement bodies do not hit
    Python's recursion limit.  Each token is (class, attribute values,
    number of children), in preorder: the stream determines the tree.
    """
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            yield ("None",)
            continue
        attrs = tuple(_plain(getattr(n, a, None)) for a in n.attr_names)
        children = [c for _, c in n.children()]
        yield (type(n).__name__, attrs, len(children))
        stack.extend(reversed(children))


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


def _called(funcdef: Any) -> set[str]:
    """Names of the functions `funcdef` calls directly."""
    names: set[str] = set()
    stack = [funcdef.body]
    while stack:
        node = stack.pop()
        if type(node).__name__ == "FuncCall" and type(node.name).__name__ == "ID":
            names.add(node.name.name)
        stack.extend(child for _, child in node.children())
    return names


def _reached_user_functions(program: Program, root: str) -> list[str]:
    """The user-defined functions `root` reaches through calls, root first, sorted after."""
    seen = {root}
    todo = [root]
    while todo:
        name = todo.pop()
        fn = program.functions.get(name)
        if fn is None:
            continue
        for callee in _called(fn):
            if callee not in seen and callee in program.user_functions:
                seen.add(callee)
                todo.append(callee)
    return [root] + sorted(seen - {root})


def fingerprint(program: Program, root: str) -> Iterator[Token]:
    """Everything that can influence `root`'s behaviour in `program` (see the module doc),
    as a stream, so that a comparison stops at the first difference."""
    yield ("root", root)
    # The bodies first: a patch changes them far more often than the file scope, whose
    # prelude and models make it the longer part of the stream.
    for name in _reached_user_functions(program, root):
        fn = program.functions.get(name)
        yield ("body", name, None if fn is None else _origin(program, fn))
        if fn is not None:
            yield from node_tokens(fn)
    for item in program.side.ast.ext:
        if type(item).__name__ == "FuncDef" and program.is_user_node(item):
            yield ("user-function", item.decl.name)
            continue
        yield ("item", _origin(program, item))
        yield from node_tokens(item)


def unchanged(before: Sequence[tuple[Any, Program]], after: Sequence[tuple[Any, Program]],
              root: str) -> bool:
    """True iff both sides are, configuration by configuration, the same program for `root`.

    Each side is a list of (valuation, program); the valuations must match in
    order too.
    """
    if len(before) != len(after):
        return False
    for (b_val, b_prog), (a_val, a_prog) in zip(before, after):
        if b_val != a_val:
            return False
        if _same_text(b_prog, a_prog):
            continue
        if not _same(fingerprint(b_prog, root), fingerprint(a_prog, root)):
            return False
    return True


def _same_text(before: Program, after: Program) -> bool:
    """Both programs were parsed from the same text, the sides' own files under the
    same fixed names (ParsedSide.text_key): their ASTs are the same, and each side's
    n-th file has the same origin (the user's), so their fingerprints are equal
    without walking them (2 s on a 20,000-statement function)."""
    key = before.side.text_key
    return bool(key) and key == after.side.text_key and len(before.side.paths) == len(
        after.side.paths)


def _same(a: Iterable[Token], b: Iterable[Token]) -> bool:
    """Whether two token streams are equal (read only up to their first difference)."""
    end = object()
    return all(x == y for x, y in zip_longest(a, b, fillvalue=end))
