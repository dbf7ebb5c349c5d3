"""The on-disk cache of parsed translation units, keyed by their content.

pycparser's parse of a side (mostly the force-included prelude and models) is
the largest fixed cost of a check after the imports.  A parse depends only on
the preprocessed text and the file name it is given, so its AST is kept in
`$XDG_CACHE_HOME/equiv` (default `~/.cache/equiv`) under the SHA-256 of those,
of the equiv, pycparser and Python versions.  Deleting the directory is
always safe: a missing, unreadable or corrupt entry is parsed again, and a
cache that cannot be written is skipped.  `EQUIV_CACHE=0` turns it off.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from equiv.cachedir import cache_root, write_atomically
from equiv.collector import paused

FORMAT = "parse-4"  # bump when what is stored changes


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is off."""
    return cache_root()


def _key(text: str, filename: str) -> str:
    from pycparser import __version__ as pycparser_version

    from equiv import __version__ as equiv_version

    h = hashlib.sha256()
    for part in (FORMAT, equiv_version, pycparser_version, sys.version, _parser_source(),
                 filename, text):
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


@functools.cache
def _parser_source() -> str:
    """The parser is pycparser's extended in equiv.frontend.source: its source is part of
    the key, read once, as the process loaded it (a file edited while a process runs must
    not give that process's entries the new code's keys)."""
    return Path(__file__).with_name("source.py").read_text(encoding="utf-8")


# The per-run directory of empty header stubs (source.load_side): its random name
# is in the line markers, and nothing parsed comes from it (the stubs are empty).
_STUB_DIR = re.compile(r"equiv-stubs-[A-Za-z0-9_]+")


def cached_parse(text: str, filename: str, parse: Callable[[], Any],
                 real: dict[str, str], restore: Callable[[Any], None]) -> Any:
    """`parse()`'s AST for `text`, from the cache when an entry exists, with the
    side's files named by their real names.

    `parse()` names the side's files by fixed names (`real`'s keys, see
    equiv.frontend.source._parse); `restore` gives a fresh parse the real ones.
    An entry stores each fixed name as a reference that reading resolves to
    `real`'s value, so a hit needs no walk over the AST to rename it.

    The key reads the stub directory's random name as one fixed name: the
    stubs are empty, so no parsed node can carry it, and with it every run
    that stubbed a header missed the cache and stored a new entry.  Only
    successful parses are stored; `parse()`'s exceptions propagate.
    """
    directory = cache_dir()
    if directory is None:
        ast = parse()
        restore(ast)
        return ast
    path = directory / "parse" / f"{_key(_STUB_DIR.sub('equiv-stubs', text), filename)}.pickle"
    try:
        # Reading makes hundreds of thousands of objects and no garbage; the collections
        # that allocation set off took half the read time.
        with open(path, "rb") as f, paused():
            stored = _Reader(f, real).load()
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == FORMAT:
            return stored[1]
    except Exception:  # noqa: BLE001, S110 - missing, truncated, other version: parse again
        pass
    ast = parse()
    _store(path, (FORMAT, ast), frozenset(real))
    restore(ast)
    return ast


class _Writer(pickle.Pickler):
    """Writes each of `names` as a reference by name (see cached_parse)."""

    def __init__(self, file: Any, names: frozenset[str]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.names = names

    def persistent_id(self, obj: Any) -> Any:
        return obj if type(obj) is str and obj in self.names else None


class _Reader(pickle.Unpickler):
    """Reads each reference by name as `real[name]` (see cached_parse)."""

    def __init__(self, file: Any, real: dict[str, str]):
        super().__init__(file)
        self.real = real

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is not str:
            raise pickle.UnpicklingError(f"unknown reference {pid!r}")
        return self.real.get(pid, pid)


def _store(path: Path, ast: Any, names: frozenset[str]) -> None:
    """Writes atomically (temp file, then rename); failures are ignored."""
    try:
        write_atomically(path, lambda f: _Writer(f, names).dump(ast))
    except (pickle.PicklingError, RecursionError):
        pass
