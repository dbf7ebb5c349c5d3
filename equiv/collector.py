"""Python's cycle collector, paused where equiv allocates much and frees nothing.

Shared by the parse cache (reading an entry), the driver (loading the sides)
and the solver race (two threads in two z3 contexts).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block, and back as it was after (nested blocks keep it
    off until the outermost ends)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
