"""Located diagnostics: the one way bad input leaves equiv.

Every stage raises `InputError` with a source location; the command line
prints it as `file:line:col: error: message` and exits with code 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in the user's source (never a temporary file)."""

    file: str
    line: int
    column: int = 0

    def __str__(self) -> str:
        if self.column:
            return f"{self.file}:{self.line}:{self.column}"
        return f"{self.file}:{self.line}"


class InputError(Exception):
    """The input cannot be checked: unreadable, malformed or unsupported."""

    def __init__(self, location: Location | None, message: str, source_line: str | None = None):
        super().__init__(message)
        self.location = location
        self.message = message
        self.source_line = source_line

    def __reduce__(self) -> tuple[type, tuple[Location | None, str, str | None]]:
        # Picklable, so that worker processes (-j) can hand it back.
        return (InputError, (self.location, self.message, self.source_line))

    def render(self) -> str:
        """`file:line:col: error: message`, plus the quoted line when known."""
        where = f"{self.location}: " if self.location else "equiv: "
        text = f"{where}error: {self.message}"
        if self.source_line is not None and self.source_line.strip():
            text += f"\n    {self.source_line.strip()}"
        return text


def unsupported(location: Location | None, construct: str) -> InputError:
    """The error for a C construct outside equiv's supported subset."""
    return InputError(location, f"unsupported construct: {construct}")


def with_hint(err: InputError,
              layouts_with: Callable[[str], list[str]] | None = None) -> InputError:
    """`err`, with a hint when a thread-flag name is undeclared (no layout defines it).

    `layouts_with(name)` lists the baked layouts that define `name`; the hint names them.
    """
    m = re.search(r"'(_?TIF_\w+|SYSCALL_WORK_\w+)' undeclared", err.message)
    if m is None or "--arch" in err.message:
        return err
    found = layouts_with(m.group(1)) if layouts_with is not None else []
    choices = (" or ".join(f"--arch {name}" for name in found) if found else
               "--tree LINUX with a kernel that has it (no baked layout does)")
    message = (f"{err.message} (no thread-flag layout in force defines it: give {choices}, "
               f"or define {m.group(1)} in the code)")
    return InputError(err.location, message, err.source_line)
