"""Preprocess and parse one side of a check.

This is the only module that runs the C preprocessor or imports pycparser.
Input files are preprocessed with `gcc -E` (the kernel's own preprocessor),
with `models/prelude.h` force-included and every `#include` that nothing
provides replaced by an empty stub, so fragments copied from a kernel tree
work without one.  Every include is vetted first by equiv.frontend.confine: it must
resolve inside the allowed roots, and gcc runs under time, memory and output
limits (equiv.frontend.sandbox).  Line markers keep every coordinate in the user's file.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from equiv.errors import InputError, Location
from equiv.frontend import confine, headers, sandbox
from equiv.frontend.confine import DEFAULT_MAX_FILE_SIZE, IncludeScan

# Object-like macros whose value the report decodes into flag names.
_MASK_NAME = re.compile(r"^(_?TIF_\w+|\w*_WORK\w*|\w*_MASK\w*|SYSCALL_WORK_\w+)$")
_CONSTANT_BODY = re.compile(r"^[\s\w()|&^~<>+\-*]+$")
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\(?)(.*)$")
_MISSING_INCLUDE = re.compile(r"fatal error: ([^:]+): No such file or directory")
_GCC_DIAG = re.compile(r"^(.+?):(\d+):(?:(\d+):)? (?:fatal )?error: (.*)$")
_LINEMARKER = re.compile(r'^#\s*(\d+)\s+"((?:[^"\\]|\\.)*)"')
_OWN_IS_ENABLED = re.compile(r"^[ \t]*#[ \t]*(define|undef)[ \t]+IS_ENABLED\b.*$", re.M)
_PP_IF_LINE = re.compile(r"^([ \t]*#[ \t]*(?:if|elif)\b.*)$", re.M)
_CONFIG_TESTS = re.compile(r"\b(?:IS_ENABLED|IS_BUILTIN|IS_REACHABLE)\s*\(")
MACRO_PREFIX = "__equiv_macro_"
PREPROCESS_TIMEOUT = 60  # seconds of wall-clock time for one gcc -E
PREPROCESS_MEMORY = 2 << 30  # bytes of address space for gcc and cc1
PREPROCESS_OUTPUT = 64 << 20  # bytes of preprocessed output


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
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes, for every file read
    no_stubs: bool = False  # a header that nothing provides is an error, not an empty stub
    tree_dirs: tuple[str, ...] = ()  # --tree: the kernel's include path (after models/include)
    tree_root: str | None = None  # --tree: an allowed root (a quoted `../` may stay inside it)


_PP_CONDITION = re.compile(r"^[ \t]*#[ \t]*(?:if|ifdef|ifndef|elif)\b(.*)$", re.M)


def preprocessor_configs(paths: tuple[str, ...],
                         max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> list[str]:
    """CONFIG_* names tested by #if/#ifdef/#ifndef/#elif in the user's files."""
    names: dict[str, None] = {}
    for path in paths:
        for condition in _PP_CONDITION.findall(read_source(path, max_file_size)):
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
    stubs: tuple[str, ...] = ()  # headers read as empty stubs (premises of every verdict)
    warnings: tuple[str, ...] = ()  # fallbacks that fired after a stub
    notes: tuple[str, ...] = ()  # layout macros that yielded to the side's own enumerators
    opaque_types: tuple[str, ...] = ()  # type names no header declares (incomplete structs)


def models_dir() -> Path:
    """The `models/` directory, in a source checkout or an installed wheel."""
    here = Path(__file__).resolve().parents[2] / "models"
    if not (here / "prelude.h").is_file():
        import importlib.resources

        here = Path(str(importlib.resources.files("equiv.models")))
    confine.vouch(str(here / "prelude.h"))
    return here


def read_source(path: str, max_file_size: int = DEFAULT_MAX_FILE_SIZE) -> str:
    """The text of a C source file, or a located error saying why not.

    Only a regular file of at most `max_file_size` bytes is read (equiv.frontend.confine).
    """
    data = confine.read_bytes(path, max_file_size)
    if b"\0" in data:
        raise InputError(Location(path, 1), "not a C source file (binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(Location(path, line), "not a C source file (invalid UTF-8)") from None


def source_line(path: str, line: int) -> str | None:
    """Line `line` of `path`, for quoting in diagnostics; None if unavailable.

    Only files that equiv vetted are quoted: a `#line` directive can name any file.
    """
    if not confine.is_quotable(path):
        return None
    try:
        lines = confine.read_bytes(path).decode("utf-8", errors="replace").splitlines()
    except InputError:
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


def _compose(paths: list[str], texts: list[str], macros: dict[str, Macro],
             yields: tuple[str, ...] = ()) -> str:
    """One translation unit: every file of the side, then the macro trailer.

    `yields`: layout macros to undefine first, because the side declares the
    same names itself (as enumerators: the tree's definitions win).
    """
    parts = ['# 1 "<equiv-layout>"\n' + "".join(f"#undef {n}\n" for n in yields)] \
        if yields else []
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


def _side_dirs(side: SideInput) -> list[str]:
    return list(dict.fromkeys(str(Path(p).parent or ".") for p in side.paths))


def _gcc_command(stub_dir: str, side: SideInput) -> list[str]:
    cc = os.environ.get("EQUIV_CPP", "gcc")
    cmd = [cc, "-E", "-dD", "-undef", "-nostdinc", "-std=gnu11", "-x", "c"]
    cmd += ["-include", str(models_dir() / "prelude.h")]
    for header in side.force_includes:
        cmd += ["-include", header]
    for name, value in side.defines:
        cmd.append(f"-D{name}={value}" if value is not None else f"-U{name}")
    for d in _side_dirs(side):
        cmd += ["-iquote", d, "-I", d]
    for d in side.include_dirs:
        cmd += ["-I", d]
    cmd += ["-I", str(models_dir() / "include")]
    for d in side.tree_dirs:
        cmd += ["-I", d]
    cmd += ["-idirafter", stub_dir, "-"]
    return cmd


def include_scan(side: SideInput, stub_dir: str) -> IncludeScan:
    """The include resolver for `side`, with the roots the side may read from."""
    dirs = _side_dirs(side)
    angle = dirs + list(side.include_dirs) + [str(models_dir() / "include")] + list(
        side.tree_dirs)
    extra = [side.tree_root] if side.tree_root else []
    roots = [os.path.abspath(d) for d in angle + extra + [str(models_dir()), stub_dir]]
    return IncludeScan(tuple(dict.fromkeys(roots)), tuple(dirs), tuple(angle), stub_dir,
                       side.max_file_size, shipped=str(models_dir()))


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


def _limit_error(finished: sandbox.Finished, paths: list[str]) -> InputError | None:
    """The error for a preprocessor run that hit one of its limits, if it did."""
    where = Location(paths[0], 1)
    if finished.timed_out:
        return InputError(where, f"preprocessor time limit reached ({PREPROCESS_TIMEOUT} s "
                                 f"of wall-clock time)")
    if len(finished.stdout) > PREPROCESS_OUTPUT or "file size limit" in finished.stderr.lower():
        return InputError(where, f"preprocessor output limit reached ({PREPROCESS_OUTPUT >> 20} "
                                 f"MiB of preprocessed code)")
    if finished.returncode != 0 and sandbox.out_of_memory(finished.stderr):
        return InputError(where, f"preprocessor memory limit reached ({PREPROCESS_MEMORY >> 20} "
                                 f"MiB)")
    return None


def _run_gcc(cmd: list[str], source: str, paths: list[str]) -> sandbox.Finished:
    limits = sandbox.Limits(memory=PREPROCESS_MEMORY, file_size=PREPROCESS_OUTPUT + 1)
    try:
        finished = sandbox.run(cmd, limits=limits, timeout=PREPROCESS_TIMEOUT, input_text=source)
    except OSError as exc:
        raise InputError(None, f"cannot run the C preprocessor: {exc}") from None
    error = _limit_error(finished, paths)
    if error is not None:
        raise error
    return finished


def preprocess(paths: list[str], texts: list[str], macros: dict[str, Macro],
               side: SideInput, scan: IncludeScan, yields: tuple[str, ...] = ()) -> str:
    """`gcc -E` output for the side; missing includes become empty stubs.

    `scan` has vetted every include of `texts`; gcc may enter no other file.
    """
    if shutil.which(os.environ.get("EQUIV_CPP", "gcc")) is None:
        raise InputError(None, "no C preprocessor: install gcc or set EQUIV_CPP")
    source = _compose(paths, texts, macros, yields)
    for name in scan.missing:
        _stub(scan.stub_dir, name)
    cmd = _gcc_command(scan.stub_dir, side)
    allowed = {str(models_dir() / "prelude.h"), *side.force_includes}
    for _ in range(64):
        finished = _run_gcc(cmd, source, paths)
        if finished.returncode == 0:
            scan.check_entered(finished.stdout, allowed, Location(paths[0], 1))
            return finished.stdout
        missing = _MISSING_INCLUDE.search(finished.stderr)
        if not (missing and _stub(scan.stub_dir, missing.group(1))):
            raise _gcc_error(finished.stderr, paths)
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
    texts = [read_source(p, side.max_file_size) for p in paths]
    macros: dict[str, Macro] = {}
    for header in side.force_includes:
        macros.update(scan_macros(header, read_source(header)))
    layout = {name: macro.location for name, macro in macros.items()}
    all_paths = paths + [e.display for e in side.extras]
    all_texts = texts + [e.text for e in side.extras]
    with tempfile.TemporaryDirectory(prefix="equiv-stubs-") as stub_dir:
        scan = include_scan(side, stub_dir)
        for path, text in zip(all_paths, all_texts):
            scan.scan(path, text, None)
        for path, text in zip(paths, texts):
            macros.update(scan_macros(path, text))
        for path, text in scan.quoted_headers.items():  # their macros name flag bits too
            if path not in paths:
                macros.update(scan_macros(path, text))
        clashes = headers.enumerator_clashes(
            [*zip(paths, texts), *scan.quoted_headers.items()], layout)
        yields = tuple(c.name for c in clashes)
        try:
            text = preprocess(all_paths, all_texts, macros, side, scan, yields)
            report = _stub_report(text, scan, paths, texts, side.no_stubs)
            ast, types = _parse_with_types(text, paths)
        except InputError as err:
            if err.location is None or err.location.file != "<equiv-macros>":
                raise
            # A mask-like macro whose body is not an expression: do without mask names.
            macros = {}
            text = preprocess(all_paths, all_texts, macros, side, scan, yields)
            report = _stub_report(text, scan, paths, texts, side.no_stubs)
            ast, types = _parse_with_types(text, paths)
    return ParsedSide(tuple(paths), ast, macros, str(models_dir() / "prelude.h"),
                      report.stubs, report.warnings, tuple(c.note() for c in clashes), types)


def _parse_with_types(text: str, paths: list[str]) -> tuple[Any, tuple[str, ...]]:
    """The AST, and the type names no header declares that it needed (opaque types).

    A syntax error at a name used as a type that nothing declares (`syscall_fn_t`,
    `compat_ulong_t`, `__uint128_t` from headers the check does not have) declares
    that name as an incomplete struct and parses again.
    """
    key = tuple(paths)
    seeded = _UNKNOWN_TYPES.get(key, ())
    if seeded:  # another configuration of these files needed them: try them first
        try:
            return _parse(headers.opaque_type_prologue(list(seeded)) + text, paths), seeded
        except InputError:
            pass
    types: list[str] = []
    while True:
        try:
            ast = _parse(headers.opaque_type_prologue(types) + text, paths)
            _UNKNOWN_TYPES[key] = tuple(types)
            return ast, tuple(types)
        except InputError as err:
            name = headers.unknown_type_name(err, err.source_line, set(types))
            if name is None or len(types) >= headers.MAX_UNKNOWN_TYPES:
                raise
            types.append(name)


# The unknown type names each side's files needed, so that the next configuration of the
# same files parses at once (each retry parses the whole translation unit again).
_UNKNOWN_TYPES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _stub_report(text: str, scan: IncludeScan, paths: list[str], texts: list[str],
                 no_stubs: bool) -> headers.StubReport:
    """The stubs gcc entered, and the fallbacks of the user's files and headers they fired.

    Under `no_stubs` a stub is an error at its first include.
    """
    known = [f for path, body in [*zip(paths, texts), *scan.quoted_headers.items()]
             for f in headers.fallbacks(path, body)]
    report = headers.stub_report(text, scan.stub_dir, known)
    if no_stubs:
        headers.refuse_stubs(report.stubs, scan.missing)
    return report


_PARSER: Any = None


def _parser() -> Any:
    """One parser for the process (building pycparser's lexer tables costs time)."""
    global _PARSER
    if _PARSER is None:
        _PARSER = _locating_parser_class()()
    return _PARSER


def _locating_parser_class() -> Any:
    from pycparser import c_ast, c_parser

    class LocatingParser(c_parser.CParser):  # type: ignore[misc]
        """pycparser's parser with the GNU C the kernel's entry code uses.

        It accepts GNU `a ?: b` (a TernaryOp with no middle operand) and
        statement expressions `({ ... })` (a Compound in expression
        position), and gives errors that pycparser reports without a line the
        next token's place.  pycparser 3 is a hand-written recursive-descent
        parser, so each extension overrides the one method of its rule.
        """

        def _parse_conditional_expression(self) -> Any:
            expr = self._parse_binary_expression()
            if not self._accept("CONDOP"):
                return expr
            if self._peek_type() == "COLON":  # GNU: the condition is the middle operand
                self._advance()
                iffalse = self._parse_conditional_expression()
                return c_ast.TernaryOp(expr, None, iffalse, expr.coord)
            iftrue = self._parse_expression()
            self._expect("COLON")
            iffalse = self._parse_conditional_expression()
            return c_ast.TernaryOp(expr, iftrue, iffalse, expr.coord)

        def _parse_primary_expression(self) -> Any:
            if self._peek_type() == "LPAREN" and self._peek_type(2) == "LBRACE":
                self._advance()
                block = self._parse_compound_statement()
                self._expect("RPAREN")
                return block
            return super()._parse_primary_expression()

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
    from equiv.frontend.cache import cached_parse

    text = _strip_directives(preprocessed)
    try:
        return cached_parse(text, paths[0], lambda: _parser().parse(text, filename=paths[0]))
    except Exception as exc:  # pycparser raises ParseError and, rarely, others
        raise _parse_error(exc, paths) from None
