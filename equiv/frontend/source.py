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

import functools
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

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
class SkippedDecl:
    """A file-scope declaration the parser could not read, and skipped.

    `names` are the identifiers it would declare (a function, a variable) and
    `tags` the struct, union or enum tags it would define: a checked function
    that reaches one of them gets `error`, never a silent stand-in.
    """

    error: InputError
    names: tuple[str, ...]
    tags: tuple[str, ...]
    function: str | None = None  # the function it defines, when it has a body


@dataclass(frozen=True)
class ParsedSide:
    """One side of a check after preprocessing and parsing."""

    paths: tuple[str, ...]  # as the user named them
    ast: Any  # pycparser c_ast.FileAST
    macros: dict[str, Macro] = field(default_factory=dict)
    prelude_file: str = ""
    skipped: tuple[SkippedDecl, ...] = ()  # file-scope declarations the parser skipped
    # Files the side's code came from that the user did not write: #included headers,
    # the prelude, models and other extras.
    foreign: frozenset[str] = frozenset()
    stubs: tuple[str, ...] = ()  # headers read as empty stubs (premises of every verdict)
    warnings: tuple[str, ...] = ()  # fallbacks that fired after a stub
    notes: tuple[str, ...] = ()  # layout macros that yielded to the side's own enumerators
    opaque_types: tuple[str, ...] = ()  # type names no header declares (incomplete structs)
    weak: frozenset[str] = frozenset()  # functions defined `__weak`: another file may replace them
    # SHA-256 of the text the AST was parsed from, the side's own files under fixed names
    # (see _parse): two sides with the same key have the same AST but for those names.
    text_key: str = ""

    def is_user_file(self, path: str) -> bool:
        """Code the user wrote (their files, or text they renamed with #line)."""
        return path in self.paths or path not in self.foreign


@functools.cache
def models_dir() -> Path:
    """The `models/` directory, in a source checkout or an installed wheel (found once:
    a check asks for it about twenty times, each a `realpath`)."""
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
            text, weak = _weak_functions(preprocess(all_paths, all_texts, macros, side, scan,
                                                    yields))
            report = _stub_report(text, scan, paths, texts, side.no_stubs)
            ast, skipped, types, text_key = _parse_with_types(text, paths)
            if any(s.error.location is not None and s.error.location.file == "<equiv-macros>"
                   for s in skipped):
                raise next(s.error for s in skipped)
        except InputError as err:
            if err.location is None or err.location.file != "<equiv-macros>":
                raise
            # A mask-like macro whose body is not an expression: do without mask names.
            macros = {}
            text, weak = _weak_functions(preprocess(all_paths, all_texts, macros, side, scan,
                                                    yields))
            report = _stub_report(text, scan, paths, texts, side.no_stubs)
            ast, skipped, types, text_key = _parse_with_types(text, paths)
    foreign = set(_INCLUDED.findall(text)) | {e.display for e in side.extras} | {
        str(models_dir() / "prelude.h"), "<equiv-macros>", *side.force_includes}
    return ParsedSide(tuple(paths), ast, macros, str(models_dir() / "prelude.h"),
                      tuple(skipped), frozenset(foreign), report.stubs, report.warnings,
                      tuple(c.note() for c in clashes), types, weak, text_key)


# `__weak` (the prelude's `__equiv_weak`), the declaration specifiers after it, and the name of
# the function it defines or declares.
_WEAK = re.compile(r"\b__equiv_weak\b([^;{}()]*?)\b([A-Za-z_]\w*)\s*\(")


def _weak_functions(text: str) -> tuple[str, frozenset[str]]:
    """The preprocessed `text` without its `__weak` markers, and the functions they mark.

    A `__weak` definition is a default that the linker drops when another file (an
    architecture's) defines the same function: its body is not the function's behaviour.
    The marker is blanked in place, so that columns stay where they were.
    """
    names = frozenset(m.group(2) for m in _WEAK.finditer(text))
    return re.sub(r"\b__equiv_weak\b", lambda m: " " * len(m.group(0)), text), names


def _parse_with_types(text: str, paths: list[str]
                      ) -> tuple[Any, list[SkippedDecl], tuple[str, ...], str]:
    """The AST, the declarations skipped, the type names no header declares that it
    needed (opaque types), and the parsed text's key (ParsedSide.text_key).

    A syntax error at a name used as a type that nothing declares (`syscall_fn_t`,
    `compat_ulong_t`, `__uint128_t` from headers the check does not have) declares
    that name as an incomplete struct and parses again.
    """
    key = tuple(paths)
    seeded = _UNKNOWN_TYPES.get(key, ())
    if seeded:  # another configuration of these files needed them: try them first
        try:
            ast, skipped, key, undeclared = _parse(
                headers.opaque_type_prologue(list(seeded)) + text, paths)
            return ast, skipped, seeded + _assumed_types_used(undeclared, text, seeded), key
        except InputError:
            pass
    types: list[str] = []
    while True:
        try:
            ast, skipped, text_key, undeclared = _parse(
                headers.opaque_type_prologue(types) + text, paths)
            _UNKNOWN_TYPES[key] = tuple(types)
            return ast, skipped, tuple(types) + _assumed_types_used(undeclared, text, types), \
                text_key
        except InputError as err:
            name = headers.unknown_type_name(err, err.source_line, set(types))
            if name is None or len(types) >= headers.MAX_UNKNOWN_TYPES:
                raise
            types.append(name)


def _assumed_types_used(undeclared: frozenset[str], text: str,
                        known: Iterable[str]) -> tuple[str, ...]:
    """The names the parser read as types that nothing declares (`assumed_type_names`)
    and that the AST uses as types, sorted; `known` ones left out.  `undeclared`: the
    AST's `_undeclared_type_names`."""
    candidates = undeclared - set(known) - _C_WORDS  # `int` is never an assumed name
    if not candidates:  # the usual case: no need to read the text's every token
        return ()
    return tuple(sorted(assumed_type_names(text) & candidates))


def _undeclared_type_names(ast: Any) -> frozenset[str]:
    """The one-word type names the AST uses that no typedef in it declares.

    Computed with the parse and cached with it: the walk visits every node.
    """
    used: set[str] = set()
    declared: set[str] = set()
    stack = [ast]
    while stack:
        node = stack.pop()
        kind = type(node).__name__
        if kind == "Typedef":
            declared.add(node.name)
        elif kind == "IdentifierType" and len(node.names) == 1:
            used.add(node.names[0])
        stack.extend(child for _, child in node.children())
    return frozenset(used - declared)


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


# C's keywords and GCC's spellings of them: never a typedef name.
_C_WORDS = frozenset((
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
    "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool", "_Complex",
    "_Noreturn", "_Thread_local", "_Static_assert", "_Atomic", "_Alignof", "_Alignas",
    "_Pragma", "__int128", "offsetof", "asm", "__asm__", "__asm", "typeof", "__typeof__",
    "__typeof", "__auto_type", "__volatile__", "__inline__", "__inline", "__const",
    "__restrict", "__restrict__", "__signed__", "__extension__", "__attribute__",
    "__builtin_offsetof",
))
_INCLUDED = re.compile(r'^#\s*\d+\s+"((?:[^"\\]|\\.)*)"\s+1\b', re.MULTILINE)  # entering
_ASM_WORDS = ("asm", "__asm__", "__asm")
_TYPEOF_WORDS = ("typeof", "__typeof__", "__typeof", "__auto_type")
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[A-Za-z_]\w*|\d\w*|\S')
_IDENT = re.compile(r"[A-Za-z_]\w*$")


def assumed_type_names(text: str) -> frozenset[str]:
    """Identifiers that `text` can only be using as typedef names it never declares.

    A typedef from a header that is not there (`syscall_fn_t`, `compat_ulong_t`) or a
    GCC type (`__uint128_t`) makes pycparser fail on the whole file.  In C an
    identifier followed by another identifier (`syscall_fn_t fn`) can only be a type
    name, and so can `(X)` followed by an operand or `(X *)` (casts); a name that ends
    in `_t` is one too where a declarator follows (`compat_ulong_t *p;`).  Such a name
    is lexed as a type unless the file declares it as something else in scope; its
    meaning is decided later (equiv.ir.unit: an opaque type).
    """
    lines = [line for line in text.split("\n") if not line.lstrip().startswith("#")]
    tokens = _TOKEN.findall("\n".join(lines))
    # One pass with each token's class computed once (a call per token and per look
    # was most of a 20,000-statement file's parse time after pycparser's own).
    ident = [bool(_IDENT.match(t)) and t not in _C_WORDS for t in tokens] + [False] * 3
    after = tokens + [""] * 3
    names: set[str] = set()
    for i, tok in enumerate(tokens):
        if not ident[i] or tok in names:
            continue
        before = tokens[i - 1] if i else ""
        if before in ("struct", "union", "enum", "goto", ".", ">"):
            continue
        if ident[i + 1]:  # `syscall_fn_t fn`
            names.add(tok)
        elif before == "(" and after[i + 1] == ")":  # a cast: `(T)x`, `(T)1`
            if ident[i + 2] or after[i + 2][:1].isdigit():
                names.add(tok)
        elif before == "(" and after[i + 1] == "*" and after[i + 2] in ("*", ")"):  # `(T *)`
            names.add(tok)
        elif (tok.endswith("_t") and after[i + 1] == "*" and ident[i + 2]
              and after[i + 3] in (";", ",", "=", ")", "[")):  # `compat_ulong_t *p;`
            names.add(tok)
    return frozenset(names)


def _locating_parser_class() -> Any:
    from pycparser import c_ast, c_parser

    class LocatingParser(c_parser.CParser):  # type: ignore[misc]
        """pycparser's parser with the GNU C the kernel's entry code uses.

        It accepts GNU `a ?: b` (a TernaryOp with no middle operand) and
        statement expressions `({ ... })` (a Compound in expression
        position), and gives errors that pycparser reports without a line the
        next token's place.  pycparser 3 is a hand-written recursive-descent
        parser, so each extension overrides the one method of its rule.

        Two kinds of tolerance for real kernel files: names that can only be
        typedef names the file never declares (`assumed_type_names`) are lexed
        as types, and a file-scope declaration that does not parse is skipped
        and recorded (`skipped`), so that the functions around it still load.
        """

        assumed: frozenset[str] = frozenset()
        skipped: tuple[Any, ...] = ()

        def parse_tolerant(self, text: str, filename: str) -> tuple[Any, list[Any]]:
            self.assumed = assumed_type_names(text)
            self.skipped = ()
            return self.parse(text, filename=filename), list(self.skipped)

        def _lex_type_lookup_func(self, name: str) -> bool:
            for scope in reversed(self._scope_stack):
                known = scope.get(name)
                if known is not None:
                    return bool(known)
            return name in self.assumed

        def _parse_translation_unit(self) -> list[Any]:
            ext: list[Any] = []
            while self._peek() is not None:
                mark = self._mark()
                try:
                    ext.extend(self._parse_external_declaration())
                except (c_parser.ParseError, AssertionError, AttributeError, TypeError) as exc:
                    self._reset(mark)
                    self.skipped += (self._skip_external(exc),)
                    if self._mark() == mark:  # no progress: give up on the file
                        raise
            return ext

        def _skip_external(self, exc: Exception) -> Any:
            """Consume one file-scope declaration (to its `;` or its body's `}`)."""
            first = self._peek()
            message = str(exc)
            if not isinstance(exc, c_parser.ParseError) and first is not None:
                message = f"{self._tok_coord(first)}: cannot parse this declaration"
            names: list[str] = []
            tags: list[str] = []
            braces = parens = 0
            body = False
            previous = ""
            function = None
            while self._peek() is not None:
                tok = self._advance()
                kind = tok.type
                if kind == "LBRACE":
                    if braces == 0 and previous == "RPAREN" and not body:
                        body = True
                        function = names[-1] if names else None
                    braces += 1
                elif kind == "RBRACE":
                    braces -= 1
                    if braces <= 0 and body:
                        self._accept("SEMI")
                        break
                elif kind in ("LPAREN", "LBRACKET"):
                    parens += 1
                elif kind in ("RPAREN", "RBRACKET"):
                    parens -= 1
                elif kind == "SEMI" and braces <= 0 and parens <= 0:
                    break
                elif kind == "ID" and braces <= 0:
                    if previous in ("STRUCT", "UNION", "ENUM"):
                        tags.append(tok.value)
                    elif parens <= 0:
                        names.append(tok.value)
                previous = kind
            return (message, tuple(names), tuple(tags), function)

        def _starts_declaration(self, tok: Any = None) -> bool:
            tok = tok or self._peek()
            if tok is not None and tok.type == "ID" and tok.value in _TYPEOF_WORDS:
                return True
            return bool(super()._starts_declaration(tok))

        def _parse_declaration_specifiers(self, allow_no_type: bool = False) -> Any:
            """GNU `typeof(expr)`, `typeof(type)` and `__auto_type` as the leading type
            specifier: a Typename named `__equiv_typeof` (its `type` is the expression)
            or `__equiv_auto_type`, which the lowering resolves."""
            tok = self._peek()
            if tok is None or tok.type != "ID" or tok.value not in _TYPEOF_WORDS:
                return super()._parse_declaration_specifiers(allow_no_type)
            self._advance()
            coord = self._tok_coord(tok)
            node: Any
            if tok.value == "__auto_type":
                node = c_ast.Typename("__equiv_auto_type", [], None,
                                      c_ast.ID("__auto_type", coord), coord)
            else:
                self._expect("LPAREN")
                if self._starts_declaration():
                    node = self._parse_type_name()
                else:
                    node = c_ast.Typename("__equiv_typeof", [], None, self._parse_expression(),
                                          coord)
                self._expect("RPAREN")
            spec: Any = {"qual": [], "storage": [], "type": [], "function": [], "alignment": []}
            if self._starts_declaration():
                spec, _, _ = super()._parse_declaration_specifiers(allow_no_type=True)
            if spec["type"]:
                self._parse_error("Invalid multiple types specified", coord)
            spec["type"] = [node]
            return spec, True, coord

        def _parse_statement(self) -> Any:
            token = self._peek()
            if token is not None and token.type == "ID" and token.value in _ASM_WORDS:
                return self._parse_asm_statement()
            return super()._parse_statement()

        def _parse_asm_statement(self) -> Any:
            """GNU `asm [volatile|inline|goto] ("template" : outputs : inputs : clobbers
            : labels);` as the call `__equiv_asm("template", n_outputs, n_labels,
            "constraint", lvalue, ..., "constraint", value, ...)` for the lowering."""
            coord = self._tok_coord(self._advance())
            labels = 0
            while self._peek_type() in ("VOLATILE", "INLINE", "GOTO"):
                self._advance()
            self._expect("LPAREN")
            template = self._parse_unified_string_literal()
            operands: list[Any] = []
            outputs = 0
            section = 0
            while self._accept("COLON"):
                section += 1
                while self._peek_type() not in ("COLON", "RPAREN"):
                    if section <= 2:
                        if self._accept("LBRACKET"):  # [symbolic name]
                            self._advance()
                            self._expect("RBRACKET")
                        operands.append(self._parse_unified_string_literal())
                        self._expect("LPAREN")
                        operands.append(self._parse_expression())
                        self._expect("RPAREN")
                        outputs += section == 1
                    elif section == 3:
                        self._parse_unified_string_literal()  # a clobber
                    else:
                        self._advance()  # a label of asm goto
                        labels += 1
                    if not self._accept("COMMA"):
                        break
            self._expect("RPAREN")
            self._expect("SEMI")
            args = [template, c_ast.Constant("int", str(outputs), coord),
                    c_ast.Constant("int", str(labels), coord)] + operands
            return c_ast.FuncCall(c_ast.ID("__equiv_asm", coord), c_ast.ExprList(args, coord),
                                  coord)

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


def _parse(preprocessed: str, paths: list[str]
           ) -> tuple[Any, list[SkippedDecl], str, frozenset[str]]:
    """The AST of `preprocessed`, the file-scope declarations skipped in it, the
    SHA-256 of the text it was parsed from (ParsedSide.text_key), and the AST's
    `_undeclared_type_names`.

    The side's own files are parsed under fixed names (`_SIDE_FILE`), in the
    line markers and so in the cache key, and their real names are put back
    into the AST's coordinates and the messages: the same text under another
    name (the other side of a file checked against itself, a copy in another
    directory) is a cache hit, not a second parse.
    """
    from equiv.frontend.cache import cached_parse

    names = {path: _SIDE_FILE.format(i) for i, path in enumerate(paths)}
    text = _renamed_markers(_strip_directives(preprocessed), names)
    real = {name: path for path, name in names.items()}
    first = names.get(paths[0], paths[0])
    try:
        ast, raw, undeclared = cached_parse(text, first, lambda: _parsed(text, first), real,
                                            lambda parsed: _restore_names(parsed[0], real))
    except Exception as exc:  # pycparser raises ParseError and, rarely, others
        raise _parse_error(Exception(_real_names(str(exc), real)), paths) from None
    skipped = [SkippedDecl(_parse_error(Exception(_real_names(message, real)), paths), names_,
                           tags, function)
               for message, names_, tags, function in raw]
    key = hashlib.sha256(f"{first}\0{text}".encode("utf-8", "surrogateescape")).hexdigest()
    return ast, skipped, key, undeclared


def _parsed(text: str, filename: str) -> tuple[Any, list[Any], frozenset[str]]:
    """What the parse cache keeps for `text`: the AST, the raw skipped declarations and
    the undeclared type names."""
    ast, raw = _parser().parse_tolerant(text, filename)
    return ast, raw, _undeclared_type_names(ast)


# The name a side's n-th file is parsed under (see _parse); `<` cannot start a path gcc
# writes in a line marker for a file equiv reads, so no real file has it.
_SIDE_FILE = "<equiv-side-{}>"


def _renamed_markers(text: str, names: dict[str, str]) -> str:
    """`text` with the line markers that name a file in `names` naming its new name."""
    if not names:
        return text
    quoted = "|".join(re.escape(f'"{path}"') for path in names)
    marker = re.compile(rf'^(#\s*(?:line\s+)?\d+\s+)({quoted})', re.MULTILINE)
    return marker.sub(lambda m: f'{m.group(1)}"{names[m.group(2)[1:-1]]}"', text)


def _real_names(message: str, real: dict[str, str]) -> str:
    for name, path in real.items():
        message = message.replace(name, path)
    return message


def _restore_names(ast: Any, real: dict[str, str]) -> None:
    """Every coordinate of `ast` that names a renamed file names the real one again."""
    stack = [ast]
    while stack:
        node = stack.pop()
        coord = getattr(node, "coord", None)
        if coord is not None and coord.file in real:
            coord.file = real[coord.file]
        for _, child in node.children():
            stack.append(child)
