"""equiv's own compiled modules, kept in the user's cache when Python keeps none.

With `PYTHONDONTWRITEBYTECODE` set (or `-B`), Python writes no `.pyc` files,
and an editable install has none: every `equiv` command then compiles
equiv's modules from source again, about 0.1 s of a 0.5 s check.  Where
that is the case, the finder installed here compiles each `equiv.*` module
once and keeps the code object in `$XDG_CACHE_HOME/equiv/bytecode` (the
directory of the parse cache), under the SHA-256 of the interpreter's
bytecode magic, its optimisation level, the file's path and its source.  Nothing is written next to
the sources, which is what the setting asks for.

Deleting the directory is always safe: a missing, truncated or foreign entry
is compiled again, and a cache that cannot be written is skipped.
`EQUIV_CACHE=0` turns it off, as it does the parse cache.  When Python keeps
its own `.pyc` files, none of this is installed.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

from equiv.cachedir import cache_root, write_atomically

PACKAGE = "equiv"


def directory() -> Path | None:
    """Where the compiled modules go, or None when caching is off."""
    root = cache_root()
    return None if root is None else root / "bytecode"


class _Loader(importlib.machinery.SourceFileLoader):
    """A source loader whose compiled code lives in `directory()` (see the module doc)."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        where = directory()
        if where is None:
            return self.source_to_code(source, path)
        # The optimisation level (-O, -OO) is part of the code: asserts and docstrings.
        level = str(sys.flags.optimize).encode()
        digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + level + b"\0" + os.fsencode(path)
                                + b"\0" + source)
        entry = where / f"{digest.hexdigest()}.bin"
        try:
            code = marshal.loads(entry.read_bytes())
            if isinstance(code, CodeType):
                return code
        except Exception:  # noqa: BLE001, S110 - missing, truncated, foreign: compile again
            pass
        code = self.source_to_code(source, path)
        data = marshal.dumps(code)
        write_atomically(entry, lambda f: f.write(data))
        return code


class _Finder:
    """A meta-path finder for `equiv.*` only: the usual spec, with `_Loader` for sources."""

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None, target: Any = None) -> Any:
        if not fullname.startswith(PACKAGE + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = _Loader(fullname, spec.origin)
        return spec


def install() -> None:
    """Put the finder first, once, when Python writes no bytecode of its own."""
    if sys.dont_write_bytecode and not any(f is _Finder for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder)
