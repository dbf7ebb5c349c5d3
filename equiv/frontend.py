"""Preprocess and parse one side of a check.

This is the only module that runs the C preprocessor or imports pycparser.
Input files are preprocessed with `gcc -E` (the kernel's own preprocessor),
with `models/prelude.h` force-included and every `#include` that nothing
provides replaced by an empty stub, so fragments copied from a kernel tree
work without one.  Line markers keep every coordinate in the user's file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from equiv.errors import InputError, Location

# Object-like macros whose value the report decodes into flag names.
_MASK_NAME = re.compile(r"^(_?TIF_\w+|\w*_WORK\w*|\w*_MASK\w*|SYSCALL_WORK_\w+)$")
_CONSTANT_BODY = re.compile(r"^[\s\w()|&^~<>+\-*]+$")
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\(?)(.*)$")
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"]+)[>"]', re.M)
_MISSING_INCLUDE = re.compile(r"fatal error: ([^:]+): No such file or directory")
_GCC_DIAG = re.compile(r"^(.+?):(\d+):(?:(\d+):)? (?:fatal )?error: (.*)$")
_LINEMARKER = re.compile(r'^#\s*(\d+)\s+"((?:[^"\\]|\\.)*)"')
_OWN_IS_ENABLED = re.compile(r"^[ \t]*#[ \t]*(define|undef)[ \t]+IS_ENABLED\b.*$", re.M)
_PP_IF_LINE = re.compile(r"^([ \t]*#[ \t]*(?:if|elif)\b.*)$", re.M)
_CONFIG_TESTS = re.compile(r"\b(?:IS_ENABLED|IS_BUILTIN|IS_REACHABLE)\s*\(")
MACRO_PREFIX = "__equiv_macro_"
PREPROCESS_TIMEOUT = 60


@dataclass(frozen=True)
class Macro:
    """An object-like `#define` from the user's file, as written."""

    name: str
    body: str
    location: Location


@dataclass(frozen=True)
class Extra:
    """Text appended to a side after the user's files (a model, an assumption)."""

    display: str  # the name diagnostics give it, e.g. models/functions/audit.c
    text: str


@dataclass(frozen=True)
class SideInput:
    """Everything that goes into one side's translation unit."""

    paths: tuple[str, ...]  # the user's files, in order
    include_dirs: tuple[str, ...] = ()
    force_includes: tuple[str, ...] = ()  # architecture layouts, after the prelude
    extras: tuple[Extra, ...] = ()
    defines: tuple[tuple[str, str | None], ...] = ()  # -D NAME=VALUE, or -U NAME for None


_PP_CONDITION = re.compile(r"^[ \t]*#[ \t]*(?:if|ifdef|ifndef|elif)\b(.*)$", re.M)


def preprocessor_configs(paths: tuple[str, ...]) -> list[str]:
    """CONFIG_* names tested by #if/#ifdef/#ifndef/#elif in the user's files."""
    names: dict[str, None] = {}
    for path in paths:
        for condition in _PP_CONDITION.findall(read_source(path)):
            for name in re.findall(r"\bCONFIG_\w+", condition):
                names[name] = None
    return list(names)


@dataclass(frozen=True)
class ParsedSide:
    """One side of a check after preprocessing and parsing."""

    paths: tuple[str, ...]  # as the user named them
    ast: Any  # pycparser c_ast.FileAST
    macros: dict[str, Macro] = field(default_factory=dict)
    prelude_file: str = ""


def models_dir() -> Path:
    """The `models/` directory, in a source checkout or an installed wheel."""
    here = Path(__file__).resolve().parent.parent / "models"
    if (here / "prelude.h").is_file():
        return here
    import importlib.resources

    return Path(str(importlib.resources.files("equiv.models")))


def read_source(path: str) -> str:
    """The text of a C source file, or a located error saying why not."""
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise InputError(None, f"{path}: is a directory, not a C file") from None
    except OSError as exc:
        raise InputError(None, f"cannot read {path}: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise InputError(Location(path, 1), "not a C source file (binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(Location(path, line), "not a C source file (invalid UTF-8)") from None


def source_line(path: str, line: int) -> str | None:
    """Line `line` of `path`, for quoting in diagnostics; None if unavailable."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    return lines[line - 1] if 0 < line <= len(lines) else None


def scan_macros(path: str, text: str) -> dict[str, Macro]:
    """Object-like mask and bit macros defined in `text` (continuations joined)."""
    macros: dict[str, Macro] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        logical = lines[i]
        while logical.endswith("\\") and i + 1 < len(lines):
            i += 1
            logical = logical[:-1] + " " + lines[i]
        i += 1
        m = _DEFINE.match(logical)
        if not m or m.group(2) == "(":
            continue
        name = m.group(1)
        body = re.sub(r"/\*.*?\*/|//.*$", " ", m.group(3)).strip()
        if _MASK_NAME.match(name) and body and _CONSTANT_BODY.match(body):
            macros[name] = Macro(name, body, Location(path, start + 1))
    return macros


def _macro_trailer(macros: dict[str, Macro]) -> str:
    """Declarations that let the evaluator compute each mask macro's value."""
    out = ['# 1 "<equiv-macros>"']
    for name in macros:
        out.append(f"#ifdef {name}")
        out.append(f"static const unsigned long long {MACRO_PREFIX}{name} = ({name});")
        out.append("#endif")
    return "\n".join(out) + "\n"


def _compose(paths: list[str], texts: list[str], macros: dict[str, Macro]) -> str:
    """One translation unit: every file of the side, then the macro trailer."""
    parts = []
    for path, text in zip(paths, texts):
        if not text.endswith("\n"):
            text += "\n"
        escaped = path.replace("\\", "\\\\").replace('"', '\\"')
        # The tool's IS_ENABLED always wins over a fragment's own fallback.
        text = _OWN_IS_ENABLED.sub("", text)
        # In #if lines a config test is `defined`: each configuration of the
        # side is preprocessed with its switches defined as 1 or not at all.
        text = _PP_IF_LINE.sub(lambda m: _CONFIG_TESTS.sub("defined(", m.group(1)), text)
        parts.append(f'# 1 "{escaped}"\n{text}\n')
    parts.append(_macro_trailer(macros))
    return "".join(parts)


def _gcc_command(paths: list[str], stub_dir: str, side: SideInput) -> list[str]:
    include_dirs = list(side.include_dirs)
    cc = os.environ.get("EQUIV_CPP", "gcc")
    cmd = [cc, "-E", "-dD", "-undef", "-nostdinc", "-std=gnu11", "-x", "c"]
    cmd += ["-include", str(models_dir() / "prelude.h")]
    for header in side.force_includes:
        cmd += ["-include", header]
    for name, value in side.defines:
        cmd.append(f"-D{name}={value}" if value is not None else f"-U{name}")
    for d in dict.fromkeys([str(Path(p).parent or ".") for p in side.paths]):
        cmd += ["-iquote", d, "-I", d]
    for d in include_dirs:
        cmd += ["-I", d]
    cmd += ["-I", str(models_dir() / "include"), "-idirafter", stub_dir, "-"]
    return cmd


def _stub(stub_dir: str, name: str) -> bool:
    target = Path(stub_dir) / name
    if target.exists() or ".." in Path(name).parts or Path(name).is_absolute():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("/* empty stub made by equiv */\n")
    return True


def _gcc_error(stderr: str, paths: list[str]) -> InputError:
    for line in stderr.splitlines():
        m = _GCC_DIAG.match(line)
        if m:
            loc = Location(m.group(1), int(m.group(2)), int(m.group(3) or 0))
            return InputError(loc, f"preprocessor: {m.group(4)}", source_line(loc.file, loc.line))
    first = stderr.strip().splitlines()[:1]
    return InputError(Location(paths[0], 1), f"preprocessor failed: {first[0] if first else 'no output'}")


def preprocess(paths: list[str], texts: list[str], macros: dict[str, Macro],
               side: SideInput) -> str:
    """`gcc -E` output for the side; missing includes become empty stubs."""
    if shutil.which(os.environ.get("EQUIV_CPP", "gcc")) is None:
        raise InputError(None, "no C preprocessor: install gcc or set EQUIV_CPP")
    include_dirs = list(side.include_dirs)
    source = _compose(paths, texts, macros)
    with tempfile.TemporaryDirectory(prefix="equiv-stubs-") as stub_dir:
        for text in texts:
            for name in _INCLUDE.findall(text):
                if not any((Path(d) / name).exists() for d in include_dirs):
                    if not (models_dir() / "include" / name).exists():
                        _stub(stub_dir, name)
        cmd = _gcc_command(paths, stub_dir, side)
        for _ in range(64):
            try:
                proc = subprocess.run(cmd, input=source, capture_output=True, text=True,
                                      timeout=PREPROCESS_TIMEOUT, errors="replace")
            except subprocess.TimeoutExpired:
                raise InputError(Location(paths[0], 1), "preprocessor timed out") from None
            if proc.returncode == 0:
                return proc.stdout
            missing = _MISSING_INCLUDE.search(proc.stderr)
            if not (missing and _stub(stub_dir, missing.group(1))):
                raise _gcc_error(proc.stderr, paths)
        raise InputError(Location(paths[0], 1), "too many missing includes")


def _strip_directives(text: str) -> str:
    """Blank out `#define`/`#undef` lines (-dD) so pycparser sees only code."""
    out = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("#") and not _LINEMARKER.match(stripped):
            if re.match(r"#\s*(define|undef|pragma|ident)\b", stripped):
                line = ""
        out.append(line)
    return "\n".join(out)


_HINTS = (
    (re.compile(r"\b(asm|__asm__|__asm)\b"), "inline assembly"),
    (re.compile(r"\b(typeof|__typeof__|__typeof)\b"), "typeof"),
    (re.compile(r"\(\s*\{"), "a statement expression ({ ... })"),
    (re.compile(r"&&\s*\w"), "a computed goto or label address"),
    (re.compile(r"\bgoto\s*\*"), "a computed goto"),
)


def _parse_error(exc: Exception, paths: list[str]) -> InputError:
    text = str(exc)
    m = re.match(r"^(.*?):(\d+):(?:(\d+):)?\s*(.*)$", text)
    if not m:
        return InputError(Location(paths[0], 1), f"syntax error: {text}")
    loc = Location(m.group(1), int(m.group(2)), int(m.group(3) or 0))
    quoted = source_line(loc.file, loc.line)
    message = f"syntax error: {m.group(4)}"
    if loc.file == "<equiv-macros>":
        return InputError(loc, message)
    for pattern, construct in _HINTS:
        if quoted is not None and pattern.search(quoted):
            message = f"unsupported construct: {construct} ({message})"
            break
    return InputError(loc, message, quoted)


def load_side(side: SideInput) -> ParsedSide:
    """Read, preprocess and parse the files of one side into a pycparser AST."""
    paths = list(side.paths)
    texts = [read_source(p) for p in paths]
    macros: dict[str, Macro] = {}
    for header in side.force_includes:
        macros.update(scan_macros(header, read_source(header)))
    for path, text in zip(paths, texts):
        macros.update(scan_macros(path, text))
    for path in _local_headers(paths, texts, side.include_dirs):
        macros.update(scan_macros(path, read_source(path)))
    all_paths = paths + [e.display for e in side.extras]
    all_texts = texts + [e.text for e in side.extras]
    try:
        ast = _parse(preprocess(all_paths, all_texts, macros, side), paths)
    except InputError as err:
        if err.location is None or err.location.file != "<equiv-macros>":
            raise
        # A mask-like macro whose body is not an expression: do without mask names.
        macros = {}
        ast = _parse(preprocess(all_paths, all_texts, macros, side), paths)
    return ParsedSide(tuple(paths), ast, macros, str(models_dir() / "prelude.h"))


_PARSER: Any = None


def _parser() -> Any:
    """One parser for the process (building pycparser's lexer tables costs time)."""
    global _PARSER
    if _PARSER is None:
        _PARSER = _locating_parser_class()()
    return _PARSER


def _locating_parser_class() -> Any:
    from pycparser import c_parser

    class LocatingParser(c_parser.CParser):  # type: ignore[misc]
        """Gives errors that pycparser reports without a line the next token's place."""

        def _parse_error(self, msg: str, coord: Any) -> Any:
            if not hasattr(coord, "line"):
                try:
                    token = self._peek()
                    if token is not None:
                        coord = self._tok_coord(token)
                except Exception:  # a private API: keep pycparser's own message
                    pass
            return super()._parse_error(msg, coord)

    return LocatingParser


def _parse(preprocessed: str, paths: list[str]) -> Any:
    from equiv.cache import cached_parse

    text = _strip_directives(preprocessed)
    try:
        return cached_parse(text, paths[0], lambda: _parser().parse(text, filename=paths[0]))
    except Exception as exc:  # pycparser raises ParseError and, rarely, others
        raise _parse_error(exc, paths) from None


def _local_headers(paths: list[str], texts: list[str],
                   include_dirs: tuple[str, ...]) -> list[str]:
    """User headers reached through #include "..." (their macros name flag bits too)."""
    found: dict[str, None] = {}
    todo = list(zip(paths, texts))
    while todo:
        path, text = todo.pop()
        for name in re.findall(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', text, re.M):
            for d in [str(Path(path).parent)] + list(include_dirs):
                candidate = str(Path(d) / name) if d not in ("", ".") else name
                if candidate not in found and candidate not in paths and Path(candidate).is_file():
                    found[candidate] = None
                    try:
                        todo.append((candidate, read_source(candidate)))
                    except InputError:
                        pass
                    break
    return list(found)
