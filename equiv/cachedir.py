"""equiv's directory in the user's cache, and writing an entry there whole or not at all.

Shared by the parse cache (equiv.frontend.cache) and the compiled modules
(equiv._bytecode).  Kept to the standard library's lightest modules: it is
imported when the `equiv` package is.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def cache_root() -> Path | None:
    """`$XDG_CACHE_HOME/equiv` (default `~/.cache/equiv`), or None when `EQUIV_CACHE=0`."""
    if os.environ.get("EQUIV_CACHE", "1") == "0":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "equiv"


def write_atomically(entry: Path, write: Callable[[BinaryIO], None]) -> None:
    """`write` the entry to a temporary file beside it, then rename it into place, so a
    concurrent reader never sees half of it.  A cache that cannot be written is skipped
    (OSError); any other exception of `write` propagates, and nothing is left behind."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(temporary, entry)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass
