"""What equiv may read: regular files of bounded size inside the allowed roots.

A fragment from an untrusted patch decides, through its `#include` lines,
which files the preprocessor opens.  Every include is resolved here, the way
gcc resolves it, before gcc runs.  It must stay inside the roots: the sides'
own directories, `-I` directories, the model directories and equiv's stub
directory.  An absolute path, a `..` that leaves the roots, or a symlink out
of them is a located error that names the include; the target is never read
or quoted.  Only regular files of at most `max_file_size` bytes are read, and
nothing under /proc, /sys or /dev.  A macro operand (`#include MACRO`),
`__has_include`, `#embed` and `#pragma GCC dependency` are refused, because
only a literal name can be checked before gcc opens it.  Lines are quoted in
diagnostics only from files vetted here (`is_quotable`).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from equiv.errors import InputError, Location
from equiv.frontend import lexical

DEFAULT_MAX_FILE_SIZE = 16 * 1024 * 1024
_SYSTEM_TREES = ("/proc", "/sys", "/dev")
_DIRECTIVE = re.compile(r"^[ \t\f\v]*(?:#|%:)[ \t\f\v]*(include_next|include|import|embed)\b"
                        r"[ \t\f\v]*(.*)$", re.M)
_PRAGMA_DEPENDENCY = re.compile(r"^[ \t\f\v]*(?:#|%:)[ \t\f\v]*pragma\b.*\bdependency\b|"
                                r"\b_Pragma\s*\(.*\bdependency\b", re.M)
_HAS_FILE = re.compile(r"\b(__has_include_next|__has_include|__has_embed)\b")
_OPERAND = re.compile(r'^(?:"([^"\n]*)"|<([^>\n]*)>)')

# Realpaths of every file vetted in this process: the only files quoted in diagnostics.
_QUOTABLE: set[str] = set()


def _under(real: str, dirs: tuple[str, ...]) -> bool:
    return any(real == d or real.startswith(d.rstrip("/") + "/") for d in dirs)


def _refuse_system(path: str, real: str) -> None:
    if _under(real, _SYSTEM_TREES):
        raise InputError(None, f"{path}: refusing to read a file under /proc, /sys or /dev")


def read_bytes(path: str, max_size: int = DEFAULT_MAX_FILE_SIZE) -> bytes:
    """The bytes of `path`, a regular file of at most `max_size` bytes.

    Raises InputError for anything else (a directory, device, FIFO, socket,
    a file under /proc, /sys or /dev, or one that is too large).  Devices and
    FIFOs are never opened.
    """
    real = os.path.realpath(path)
    _refuse_system(path, real)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError(None, f"cannot read {path}: {exc.strerror or exc}") from None
    _check_kind(path, info, max_size)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise InputError(None, f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_kind(path, os.fstat(handle.fileno()), max_size)  # the file we opened
        data = handle.read(max_size + 1)
    if len(data) > max_size:
        raise InputError(None, _too_large(path, max_size))
    _QUOTABLE.add(real)
    return data


def _check_kind(path: str, info: os.stat_result, max_size: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise InputError(None, f"{path}: is a directory, not a C file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(None, f"{path}: not a regular file (a device, FIFO or socket); "
                               f"refusing to read it")
    if info.st_size > max_size:
        raise InputError(None, _too_large(path, max_size))


def _too_large(path: str, max_size: int) -> str:
    return (f"{path}: larger than the file size limit ({max_size} bytes; "
            f"--max-file-size raises it)")


def is_quotable(path: str) -> bool:
    """Whether diagnostics may quote lines of `path` (vetted in this process)."""
    return os.path.realpath(path) in _QUOTABLE


def vouch(path: str) -> None:
    """Record a file equiv itself ships (the prelude, models) as quotable."""
    _QUOTABLE.add(os.path.realpath(path))


# ---- scanning directives -------------------------------------------------------------

@dataclass(frozen=True)
class Include:
    """One `#include`-like directive, as written."""

    line: int
    directive: str  # include, include_next, import
    name: str
    angled: bool

    def spelled(self) -> str:
        """The operand as written: "name" or <name>."""
        return f"<{self.name}>" if self.angled else f'"{self.name}"'


def directives(display: str, text: str) -> list[Include]:
    """The file-reading directives of `text`; a located error for one we cannot vet.

    Over-approximates on purpose: an include inside `#if 0` or a comment that
    gcc would also treat as a directive is listed too.
    """
    if "#" not in text and "%:" not in text and "__has_" not in text and "_Pragma" not in text:
        return []
    clean = lexical.blank(lexical.splice(text), literals=False)
    out = []
    for m in _DIRECTIVE.finditer(clean):
        line = clean.count("\n", 0, m.start()) + 1
        where = Location(display, line)
        if m.group(1) == "embed":
            raise InputError(where, "#embed is not supported (equiv reads only C sources)")
        operand = _OPERAND.match(m.group(2))
        if operand is None:
            raise InputError(where, f"#{m.group(1)} with a macro operand is not supported: "
                                    f"write the file name, so that equiv can check what is read")
        name = operand.group(1) if operand.group(1) is not None else operand.group(2)
        out.append(Include(line, m.group(1), name, operand.group(2) is not None))
    for pattern, what in ((_HAS_FILE, None), (_PRAGMA_DEPENDENCY, "#pragma GCC dependency")):
        hit = pattern.search(clean)
        if hit is not None:
            line = clean.count("\n", 0, hit.start()) + 1
            raise InputError(Location(display, line),
                             f"{what or hit.group(1)} is not supported (it opens a file "
                             f"that equiv cannot check first)")
    return out


# ---- resolving includes -------------------------------------------------------------------

@dataclass
class IncludeScan:
    """Resolves the includes of a side, recursively, inside `roots`.

    `quote_dirs` and `angle_dirs` are the -iquote and -I directories in gcc's
    order, `stub_dir` the -idirafter directory where missing includes get an
    empty stub.  gcc reads its main file from stdin in the current directory,
    so the current directory is searched first for the user's files' quoted
    includes, as gcc does.
    """

    roots: tuple[str, ...]  # absolute, normalised (lexical)
    quote_dirs: tuple[str, ...]
    angle_dirs: tuple[str, ...]
    stub_dir: str
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    vetted: dict[str, str] = field(default_factory=dict)  # realpath -> name as gcc spells it
    missing: dict[str, Location] = field(default_factory=dict)  # name -> first include
    # The user's headers (quoted, or found through -I; not the shipped models'):
    # name -> text, for the macros that name flag bits.
    quoted_headers: dict[str, str] = field(default_factory=dict)
    shipped: str = ""  # the shipped models directory

    def __post_init__(self) -> None:
        self.real_roots = tuple(dict.fromkeys(os.path.realpath(r) for r in self.roots))

    def scan(self, display: str, text: str, own_dir: str | None) -> None:
        """Vet every include of `text` (the file `display`, found in `own_dir`)."""
        todo = [(display, text, own_dir)]
        while todo:
            display, text, own_dir = todo.pop()
            for inc in directives(display, text):
                where = Location(display, inc.line)
                for path in self._resolve(inc, own_dir, where):
                    real = os.path.realpath(path)
                    if real in self.vetted:
                        continue
                    data = self._read(path, where, inc)
                    self.vetted[real] = path
                    body = data.decode("utf-8", errors="replace")
                    shipped = (os.path.realpath(self.shipped),) if self.shipped else ()
                    if not inc.angled or not _under(real, shipped):
                        self.quoted_headers.setdefault(path, body)
                    todo.append((path, body, os.path.dirname(path)))

    def _dirs(self, inc: Include, own_dir: str | None) -> list[str]:
        dirs = [] if inc.angled else [own_dir if own_dir is not None else "."]
        dirs += [] if inc.angled else list(self.quote_dirs)
        return dirs + list(self.angle_dirs)

    def _resolve(self, inc: Include, own_dir: str | None, where: Location) -> list[str]:
        """The file(s) gcc would open for `inc`: none when missing (it gets a stub)."""
        spelled = inc.spelled()
        if os.path.isabs(inc.name):
            raise InputError(where, f"#{inc.directive} {spelled}: an absolute path is outside "
                                    f"the allowed roots; it is not read")
        found = []
        for d in self._dirs(inc, own_dir) + [self.stub_dir]:
            candidate = inc.name if d in ("", ".") else os.path.join(d, inc.name)
            inside = _under(os.path.normpath(os.path.abspath(candidate)), self.roots)
            if not inside and ".." in inc.name.split("/"):
                raise InputError(where, f"#{inc.directive} {spelled}: leaves the allowed roots "
                                        f"(through '..'); it is not read. {_ROOTS_HINT}")
            if not os.path.lexists(candidate):
                continue
            if not _under(os.path.realpath(candidate), self.real_roots):
                raise InputError(where, f"#{inc.directive} {spelled}: resolves outside the "
                                        f"allowed roots (a symlink or the current directory); "
                                        f"it is not read. {_ROOTS_HINT}")
            if os.path.exists(candidate):
                found.append(candidate)
                if inc.directive != "include_next":
                    break
        if not found:
            self.missing.setdefault(inc.name, where)
        return found

    def _read(self, path: str, where: Location, inc: Include) -> bytes:
        try:
            return read_bytes(path, self.max_file_size)
        except InputError as err:
            raise InputError(where, f"#{inc.directive} {inc.spelled()}: {err.message}") from None

    def check_entered(self, preprocessed: str, allowed: set[str], where: Location) -> None:
        """Every file gcc's line markers say it entered was vetted (defence in depth)."""
        known = set(self.vetted) | {os.path.realpath(p) for p in allowed}
        for m in _ENTER.finditer(preprocessed):
            name = m.group(1)
            if name.startswith("<") and name.endswith(">"):
                continue
            if os.path.realpath(name) not in known and not _under(
                    os.path.realpath(name), (os.path.realpath(self.stub_dir),)):
                raise InputError(where, f"the preprocessor entered {name}, which equiv did "
                                        f"not vet; refusing the output")


_ENTER = re.compile(r'^#\s*\d+\s+"((?:[^"\\]|\\.)*)"\s+1(?:\s|$)', re.M)
_ROOTS_HINT = ("Includes resolve only in the sides' directories, -I directories and the "
               "models")
