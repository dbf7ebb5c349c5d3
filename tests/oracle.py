"""The gcc oracle: concrete ground truth for equiv, independent of its checker.

Each side of a pair is compiled by gcc, exactly once, into an executable that
runs the checked ("root") function for one concrete flag word per input line,
in a forked child, with every *external* function (called but not defined by
the fragment) replaced by a stub that logs ``name(args)`` and returns a
deterministic value.  Two sides behave the same on a run when their
:class:`Trace` values are equal: the ordered calls with their rendered
arguments, the root's return value and the final flag word.

Pipeline, one section per stage, imports in one direction:
  include stubs + ``gcc -E``  ->  pycparser analysis (:class:`FragmentInfo`)
  ->  generated C harness  ->  build  ->  run  ->  compare.

This module is test tooling; it is the only place under tests/ that imports
pycparser, and it imports nothing from ``equiv``.  It shares only the C
prelude (``models/prelude.h``), which it force-includes the way equiv does.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import copy
import dataclasses
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

from pycparser import c_ast, c_generator

from equiv.frontend.source import (
    _locating_parser_class,  # pycparser with GNU ?: and ({ ... }): syntax only
)

REPO = Path(__file__).resolve().parent.parent
PRELUDE = REPO / "models" / "prelude.h"
MODEL_INCLUDE = REPO / "models" / "include"
MODEL_FUNCTIONS = REPO / "models" / "functions"
MODEL_ARCH = REPO / "models" / "arch"

CC = "gcc"
# The kernel's code-generation options that change behaviour: wrapping signed
# arithmetic and no type-based alias assumptions.  -w: fragments are sloppy C.
# Undefined behaviour the kernel does not define away: a shift count that is
# negative or not below the width (C11 6.5.7p3) traps (SIGILL) instead of
# giving whatever the machine's shift does; such a run is UNDEFINED, never a
# difference.  (Signed overflow wraps under -fwrapv, as in the kernel.)
CFLAGS = ("-O0", "-fwrapv", "-fno-strict-aliasing", "-w",
          "-fsanitize=shift-exponent", "-fsanitize-undefined-trap-on-error")
UB_OUTCOME = "undefined"
# A run whose inputs break an assumption (--assume, a model's) exits with this
# status; it is left out of the comparison.
EXCLUDED_STATUS = 77
EXCLUDED_OUTCOME = "excluded"
FLAG_PARAMS = frozenset({"flags", "ti_work", "work"})
# Prelude intrinsics the harness itself defines; never logged as externals.
INTRINSICS = frozenset({"__equiv_thread_info", "__equiv_current", "__equiv_is_enabled", "__equiv_emit"})
# A constant passed for a parameter with one of these names is a flag bit number
# (test_thread_flag(int flag), test_bit(long nr, ...)).
BIT_NUMBER_PARAMS = frozenset({"flag", "nr", "bit"})
PTR_BUFFER_BYTES = 4096
# Always enumerated with the mined bits: where int truncation, sign extension
# and u32 zero extension show, and the top bit.  No constant names them.
BOUNDARY_BITS = frozenset({31, 32, 63})
# A run making more external calls than this is reported as a timeout: it is
# almost surely a non-terminating loop, and its log would flood the pipe.
MAX_CALLS_PER_RUN = 10000
MAX_INCLUDE_RETRIES = 64


# --------------------------------------------------------------------------
# Public result types
# --------------------------------------------------------------------------


class OracleError(Exception):
    """The oracle cannot run this pair (compile error, unsupported construct)."""


class TooManyBits(OracleError):
    """Enumeration would exceed the caller's bit or config budget."""


class StubResults(Enum):
    """What every external stub returns."""

    ZERO = 0  # always 0: the default, the kernel's "nothing to do" answer
    HASH = 1  # FNV-1a of (call index, name, rendered args) mapped to -1..2
    REPLAY = 2  # the values of a counterexample, by call index; 0 past its end


class OracleStatus(Enum):
    """Overall answer of the oracle; ordered from most to least conclusive."""

    DIFFERS = "differs"  # a run ended normally on both sides with different traces
    UNDEFINED = "undefined"  # a difference only where a side has undefined behaviour
    CRASH = "crash"  # the only differences involve a side killed by a signal
    TIMEOUT = "timeout"  # a run did not finish in time: nothing is proven
    SAME = "same"  # every run produced identical traces on both sides


@dataclass(frozen=True)
class Call:
    """One call to an external function, with its arguments as rendered text."""

    name: str
    args: tuple[str, ...]
    result: int = field(default=0, compare=False)  # what the stub returned
    flags_at: int | None = None  # the flag word the callee could read
    # FNV-1a of the bytes a callee could read: the task, current_thread_info()
    # and every object behind a pointer argument of the root
    memory: int | None = None

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.args)})"


@dataclass(frozen=True)
class Trace:
    """Observable behaviour of one side on one run.

    ``outcome`` is ``"ok"``, ``"signal N"``, ``"exit N"`` or ``"timeout"``;
    ``ret`` is None for a void root, ``flags`` None unless the run ended ok.
    """

    calls: tuple[Call, ...]
    ret: str | None
    flags: int | None
    outcome: str
    # hash of the harness's objects at the end (README: the final contents of
    # memory either side writes are observable); None unless the run ended ok
    memory: int | None = None
    # accesses to the flag word that were the first after an external call (the
    # reads a script drives); not behaviour
    rereads: int = field(default=0, compare=False)

    @property
    def call_strings(self) -> list[str]:
        """Calls as ``name(arg, ...)`` strings, in order."""
        return [str(call) for call in self.calls]

    def to_dict(self) -> dict:
        """JSON-ready form, with the flag word in hex."""
        return {
            "calls": self.call_strings,
            "results": [call.result for call in self.calls],
            "memory": [None if call.memory is None else hex(call.memory) for call in self.calls],
            "return": self.ret,
            "flags": None if self.flags is None else hex(self.flags),
            "final_memory": None if self.memory is None else hex(self.memory),
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class OracleVerdict:
    """Result of :func:`enumerate_pair`.

    ``differs`` is True exactly when ``status`` is DIFFERS; ``example`` is the
    first differing (or crashing / timed-out) run in enumeration order, which
    visits flag words with fewer bits first.
    """

    status: OracleStatus
    differs: bool
    example: dict | None
    runs: int
    bits: tuple[int, ...]
    configs: tuple[str, ...]


@dataclass(frozen=True)
class ReplayResult:
    """Result of :func:`replay`: both traces on one counterexample."""

    status: OracleStatus
    differs: bool
    before: Trace
    after: Trace


# --------------------------------------------------------------------------
# Premises: what equiv's command line adds to C
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Premises:
    """The parts of an ``equiv check`` command line that change what the
    sides mean, read from the README's account of them (not from equiv):

    * ``models``: C files of ``models/functions/`` compiled after the
      fragment; ``__equiv_emit("name", args...)`` is a logged call
      ``name(args)``; a fragment's own definition of a function wins;
    * ``arch``: ``models/arch/<arch>.h`` included before the fragment (the
      fragment's own macros win);
    * ``pins``: ``-D CONFIG_X=y`` defines CONFIG_X as 1, ``=n`` leaves it
      undefined and holds its switch at 0;
    * ``assumes``: C expressions over ``flags`` (the flag word on entry) and
      the fragment's macros; a run where one is false on either side is
      left out, as are runs where a model's ``__equiv_assume_*()`` is false;
    * ``stable_flags``: ``--stable-flags``, external calls leave the flag word
      as it was.  Without it a call may leave any word (README "The flag word
      across calls"), and :func:`enumerate_pair` also scripts the words read.
    """

    models: tuple[str, ...] = ()
    arch: str | None = None
    pins: tuple[tuple[str, bool], ...] = ()
    assumes: tuple[str, ...] = ()
    # --stable-flags: external calls never change the flag word, so no run scripts it
    stable_flags: bool = False

    @property
    def model_files(self) -> tuple[Path, ...]:
        return tuple(MODEL_FUNCTIONS / f"{name}.c" for name in self.models)

    @property
    def arch_headers(self) -> tuple[Path, ...]:
        """`--arch NAME[@VERSION]`: the layout file and the SYSCALL_WORK bits of that version."""
        if not self.arch:
            return ()
        version = self.arch.partition("@")[2]
        work = f"syscall_work@{version}.h" if version else "syscall_work.h"
        return (MODEL_ARCH / f"{self.arch}.h", MODEL_ARCH / work)

    @property
    def defines(self) -> tuple[str, ...]:
        return tuple(f"-D{name}=1" for name, on in self.pins if on)

    @property
    def pinned(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.pins)


NO_PREMISES = Premises()
_PIN_RE = re.compile(r"^(CONFIG_\w+)=(y|n)$")


def premises_from_args(args: Sequence[str]) -> Premises:
    """The premises of an equiv command line's options (a fixture's ARGS).
    Raises OracleError for an option the oracle cannot model (--racy-flags,
    --flag-map, --flags-param, --model-dir) or a malformed one."""
    models: list[str] = []
    arch, pins, assumes, stable = None, [], [], False
    words = list(args)
    while words:
        word = words.pop(0)
        if word in ("--unwind", "--timeout", "--jobs", "-j"):
            words.pop(0) if words else None
            continue
        if word == "--stable-flags":
            stable = True  # no script: the stubs never change the flag word
            continue
        value = words.pop(0) if word in ("--model", "--models", "--arch", "-D", "--assume") and words else None
        if word == "--model" and value:
            models.append(value)
        elif word == "--models" and value == "all":
            models += sorted(p.stem for p in MODEL_FUNCTIONS.glob("*.c"))
        elif word == "--arch" and value:
            arch = value
        elif word == "-D" and value and _PIN_RE.match(value):
            match = _PIN_RE.match(value)
            assert match is not None
            pins.append((match[1], match[2] == "y"))
        elif word == "--assume" and value:
            assumes.append(value)
        else:
            raise OracleError(f"the oracle does not model the option {word!r}")
    premises = Premises(tuple(dict.fromkeys(models)), arch, tuple(pins), tuple(assumes), stable)
    for path in (*premises.model_files, *premises.arch_headers):
        if path is not None and not path.is_file():
            raise OracleError(f"no such model: {path.relative_to(REPO)}")
    return premises


# --------------------------------------------------------------------------
# Preprocessing: stub headers, gcc -E
# --------------------------------------------------------------------------

_INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.MULTILINE)
_MISSING_RE = re.compile(r"(?:fatal )?error: ([^:\s]+): No such file or directory")

# Force-included before the prelude: the flag word's home and IS_ENABLED's
# intrinsic.  A CONFIG_X left undefined stays an identifier, which the harness
# declares as an int switch; a fragment that #defines it pins it.
ORACLE_HEADER = """\
#define __equiv_is_enabled(option, name) (!!(option))
"""
THREAD_INFO_DEF = "struct thread_info { unsigned long flags; };\n"
_THREAD_INFO_RE = re.compile(r"\bstruct\s+thread_info\s*\{")


@dataclass(frozen=True)
class Workspace:
    """Files of one side: a private directory with its include stubs."""

    fragment: Path
    root: Path
    source_dir: Path | None = None  # where quoted includes resolve, when ``fragment`` is a copy
    premises: Premises = NO_PREMISES
    # functions both the fragment and a model define: the model's copy is renamed
    model_overridden: tuple[str, ...] = ()

    @property
    def stubs(self) -> Path:
        return self.root / "include-stubs"

    @property
    def header(self) -> Path:
        return self.root / "oracle.h"

    @property
    def renames(self) -> Path:
        return self.root / "renames.h"


def _make_workspace(fragment: Path, root: Path, premises: Premises = NO_PREMISES) -> Workspace:
    """Create ``root`` with the oracle header and empty stubs for every
    header the fragment names (the models tree and the fragment's own
    directory are searched first, so real headers still win)."""
    fragment = fragment.resolve()
    if not fragment.is_file():
        raise OracleError(f"{fragment}: no such file")
    ws = Workspace(fragment, root, premises=premises)
    ws.stubs.mkdir(parents=True, exist_ok=True)
    text = fragment.read_text()
    header = ORACLE_HEADER
    if not _THREAD_INFO_RE.search(text):
        header += THREAD_INFO_DEF
    ws.header.write_text(header)
    for name in _INCLUDE_RE.findall(text):
        _stub_header(ws, name)
    return ws


def _stub_header(ws: Workspace, name: str) -> None:
    """Create an empty header ``name`` under the stub directory."""
    path = (ws.stubs / name).resolve()
    if ws.stubs.resolve() not in path.parents:
        raise OracleError(f"{ws.fragment}: refusing include outside the tree: {name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def _include_args(ws: Workspace) -> list[str]:
    source_dir = ws.source_dir or ws.fragment.parent
    return ["-nostdinc", *ws.premises.defines, "-iquote", str(source_dir), "-I", str(MODEL_INCLUDE), "-I", str(ws.stubs)]


def _wrapper(ws: Workspace, prefix: Path | None = None, suffix: Path | None = None) -> str:
    """The translation unit: oracle header, [renames], prelude, arch layout,
    [prefix], fragment, models, [suffix].  The bracketed parts exist only
    when building."""
    renames = ws.renames if prefix is not None else None
    parts = [ws.header, renames, PRELUDE, *ws.premises.arch_headers, prefix, ws.fragment]
    text = "".join(f'#include "{p}"\n' for p in parts if p is not None)
    for model in ws.premises.model_files:
        text += "".join(f"#define {n} __oracle_model_{n}\n" for n in ws.model_overridden)
        text += f'#include "{model}"\n'
        text += "".join(f"#undef {n}\n" for n in ws.model_overridden)
    return text + (f'#include "{suffix}"\n' if suffix is not None else "")


def _gcc(ws: Workspace, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run gcc, stubbing each missing header it reports and retrying."""
    for _ in range(MAX_INCLUDE_RETRIES):
        proc = subprocess.run([CC, *args], capture_output=True, text=True)
        missing = _MISSING_RE.findall(proc.stderr)
        if proc.returncode == 0 or not missing:
            return proc
        for name in missing:
            _stub_header(ws, name)
    return proc


def _preprocess(ws: Workspace) -> str:
    """``gcc -E`` of oracle header + prelude + fragment (line markers kept)."""
    src = ws.root / "analyse.c"
    src.write_text(_wrapper(ws))
    proc = _gcc(ws, ["-E", *_include_args(ws), str(src)])
    if proc.returncode != 0:
        raise OracleError(f"gcc -E failed for {ws.fragment}:\n{proc.stderr}")
    return proc.stdout


# --------------------------------------------------------------------------
# Analysis: what the fragment defines, declares, calls and tests
# --------------------------------------------------------------------------


class ParamKind(Enum):
    """How the harness supplies one parameter of the root."""

    FLAG = "flag"  # named flags/ti_work/work: an integer; its position is the flag word's
    OBJECT = "object"  # pointer to a struct the fragment defines: zeroed object
    BUFFER = "buffer"  # any other pointer or array: zeroed 4 KiB buffer
    SCALAR = "scalar"  # integer: the caller's argument at its position


@dataclass(frozen=True)
class Param:
    """One root parameter; ``pointee`` is the C type text of an OBJECT's
    object (a BUFFER's element) and ``fields`` its settable fields (name -> is
    array)."""

    name: str
    kind: ParamKind
    pointee: str | None = None
    fields: tuple[tuple[str, bool], ...] = ()
    # members a filled run writes: (name, is a bit-field); pointers left out (a
    # BUFFER of integers: one entry, the whole buffer)
    fill: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class External:
    """A function the fragment calls but does not define.

    ``prototype`` is its declaration (None when undeclared: then every call
    must pass ``arity`` arguments, which undergo default promotions, and the
    call returns long)."""

    name: str
    prototype: c_ast.Decl | None
    arity: int


@dataclass(frozen=True)
class FragmentInfo:
    """Everything the harness generator needs to know about one side."""

    ws: Workspace
    root: str
    params: tuple[Param, ...]
    returns_void: bool
    externals: tuple[External, ...]
    configs: tuple[str, ...]
    extern_objects: tuple[c_ast.Decl, ...]
    bits: frozenset[int]
    overridden: tuple[str, ...]  # prelude functions the fragment redefines
    assumptions: tuple[str, ...] = ()  # the models' __equiv_assume_* functions


def _parse(ws: Workspace, text: str) -> c_ast.FileAST:
    try:
        return _locating_parser_class()().parse(text, str(ws.fragment))
    except Exception as exc:  # pycparser raises ParseError and friends
        raise OracleError(f"{ws.fragment}: pycparser: {exc}") from exc


class _Collector(c_ast.NodeVisitor):
    """One walk over the translation unit gathering names and structures."""

    def __init__(self, model_files: set[str] | None = None) -> None:
        self.model_files = model_files or set()
        self.model_overridden: set[str] = set()  # defined by the fragment and a model
        self.assumptions: list[str] = []  # models' __equiv_assume_* functions
        self.defined: dict[str, c_ast.FuncDef] = {}
        self.prelude_defined: set[str] = set()
        self.prototypes: dict[str, c_ast.Decl] = {}
        self.calls: dict[str, set[int]] = {}
        self.structs: dict[str, c_ast.Struct] = {}
        self.typedefs: dict[str, c_ast.Node] = {}
        self.enums: dict[str, int] = {}
        self.configs: set[str] = set()
        self.ids: set[str] = set()
        self.variables: set[str] = set()  # objects and parameters, any scope
        self._aggregate_depth = 0  # > 0 while visiting struct/union members

    def visit_FuncDef(self, node: c_ast.FuncDef) -> None:
        name = node.decl.name
        if node.coord and node.coord.file == str(PRELUDE):
            self.prelude_defined.add(name)
        if node.coord and node.coord.file in self.model_files:
            if name.startswith("__equiv_assume_"):
                self.assumptions.append(name)
            if name in self.defined:  # the fragment's own definition wins
                self.model_overridden.add(name)
                self.generic_visit(node)  # still compiled (renamed): its callees need stubs
                return
        self.defined[name] = node
        self.generic_visit(node)

    def visit_Decl(self, node: c_ast.Decl) -> None:
        if isinstance(node.type, c_ast.FuncDecl):
            if node.type.args is not None:
                self.prototypes.setdefault(node.name, node)
        elif node.name and not self._aggregate_depth:
            self.variables.add(node.name)
        self.generic_visit(node)

    def visit_FuncCall(self, node: c_ast.FuncCall) -> None:
        if isinstance(node.name, c_ast.ID):
            arity = len(node.args.exprs) if node.args else 0
            self.calls.setdefault(node.name.name, set()).add(arity)
        self.generic_visit(node)

    def visit_Struct(self, node: c_ast.Struct) -> None:
        if node.name and node.decls is not None:
            self.structs[node.name] = node
        self._visit_members(node)

    def visit_Union(self, node: c_ast.Union) -> None:
        self._visit_members(node)

    def _visit_members(self, node: c_ast.Struct | c_ast.Union) -> None:
        self._aggregate_depth += 1
        self.generic_visit(node)
        self._aggregate_depth -= 1

    def visit_Typedef(self, node: c_ast.Typedef) -> None:
        self.typedefs[node.name] = node.type
        self.generic_visit(node)

    def visit_Enum(self, node: c_ast.Enum) -> None:
        value = -1
        for item in node.values.enumerators if node.values else []:
            folded = _fold(item.value, self.enums) if item.value else None
            value = folded if folded is not None else value + 1
            self.enums[item.name] = value
        self.generic_visit(node)

    def visit_ID(self, node: c_ast.ID) -> None:
        self.ids.add(node.name)
        if node.name.startswith("CONFIG_"):
            self.configs.add(node.name)


def analyse(fragment: Path, root: str, workdir: Path, premises: Premises = NO_PREMISES) -> FragmentInfo:
    """Preprocess and parse ``fragment`` in ``workdir`` and describe the
    harness it needs for checking ``root``.  Raises OracleError when the
    fragment cannot be compiled or uses something the harness cannot stub."""
    return _analyse(fragment, root, workdir, premises)[0]


def _analyse(fragment: Path, root: str, workdir: Path,
             premises: Premises = NO_PREMISES) -> tuple[FragmentInfo, _Collector]:
    ws = _make_workspace(fragment, workdir, premises)
    ast = _parse(ws, _preprocess(ws))
    seen = _Collector({str(path) for path in premises.model_files})
    seen.visit(ast)
    if seen.model_overridden:
        ws = dataclasses.replace(ws, model_overridden=tuple(sorted(seen.model_overridden)))
    if root not in seen.defined:
        raise OracleError(f"{fragment}: function {root!r} is not defined")
    decl = seen.defined[root].decl
    info = FragmentInfo(
        ws=ws,
        root=root,
        params=_root_params(decl, seen),
        returns_void=_returns_void(decl.type, seen),
        externals=_externals(fragment, seen),
        configs=tuple(sorted(seen.configs)),
        extern_objects=_extern_objects(ast),
        bits=frozenset(_referenced_bits(ws, ast, seen)),
        overridden=_overridden(seen),
        assumptions=tuple(seen.assumptions),
    )
    return info, seen


def _overridden(seen: _Collector) -> tuple[str, ...]:
    """Prelude functions the fragment defines again.  Its definition wins;
    the build renames the prelude's copy so the unit still compiles."""
    return tuple(
        sorted(
            name
            for name in seen.prelude_defined
            if seen.defined[name].coord is None or seen.defined[name].coord.file != str(PRELUDE)
        )
    )


# ---- types -----------------------------------------------------------------


def _resolve(node: c_ast.Node, seen: _Collector) -> c_ast.Node:
    """Follow typedef names until a type that is not a typedef name."""
    for _ in range(32):
        if not isinstance(node, c_ast.TypeDecl):
            return node
        inner = node.type
        if isinstance(inner, c_ast.IdentifierType) and len(inner.names) == 1:
            target = seen.typedefs.get(inner.names[0])
            if target is not None:
                node = target
                continue
        return node
    return node


def _struct_of(node: c_ast.Node, seen: _Collector) -> c_ast.Struct | c_ast.Union | None:
    """The struct/union a type names, or None for non-aggregates."""
    node = _resolve(node, seen)
    if isinstance(node, c_ast.TypeDecl) and isinstance(node.type, (c_ast.Struct, c_ast.Union)):
        agg = node.type
        if agg.decls is None and isinstance(agg, c_ast.Struct) and agg.name in seen.structs:
            return seen.structs[agg.name]
        return agg
    return None


def _is_void(node: c_ast.Node, seen: _Collector) -> bool:
    node = _resolve(node, seen)
    return (
        isinstance(node, c_ast.TypeDecl)
        and isinstance(node.type, c_ast.IdentifierType)
        and node.type.names == ["void"]
    )


def _returns_void(func: c_ast.FuncDecl, seen: _Collector) -> bool:
    if _struct_of(func.type, seen) is not None:
        raise OracleError("functions returning a struct by value are not supported")
    return _is_void(func.type, seen)


def _type_text(node: c_ast.Node) -> str:
    """C text of an unnamed, unqualified copy of a type."""
    node = copy.deepcopy(node)
    if isinstance(node, c_ast.TypeDecl):
        node.quals = []
        node.declname = None
    return c_generator.CGenerator().visit(c_ast.Typename(None, [], None, node))


def _set_declname(node: c_ast.Node, name: str) -> None:
    """Name a (parameter) declarator in place."""
    while not isinstance(node, c_ast.TypeDecl):
        node = node.type
    node.declname = name


def _param_decls(func: c_ast.FuncDecl) -> list[c_ast.Node]:
    """Parameters of a prototype, without ``(void)``; rejects ``...``."""
    params = list(func.args.params) if func.args else []
    if any(isinstance(p, c_ast.EllipsisParam) for p in params):
        raise OracleError("variadic functions are not supported")
    if len(params) == 1 and params[0].name is None and isinstance(params[0].type, c_ast.TypeDecl):
        inner = params[0].type.type
        if isinstance(inner, c_ast.IdentifierType) and inner.names == ["void"]:
            return []
    return params


# ---- root parameters -----------------------------------------------------------


def _root_params(decl: c_ast.Decl, seen: _Collector) -> tuple[Param, ...]:
    params = []
    for index, p in enumerate(_param_decls(decl.type)):
        name = p.name or f"__oracle_unnamed{index}"
        params.append(_classify_param(name, p.type, seen))
    return tuple(params)


def _classify_param(name: str, type_: c_ast.Node, seen: _Collector) -> Param:
    if name in FLAG_PARAMS:
        return Param(name, ParamKind.FLAG)
    if isinstance(type_, c_ast.ArrayDecl):
        return _buffer_param(name, type_.type, seen)
    if isinstance(type_, c_ast.PtrDecl):
        agg = _struct_of(type_.type, seen)
        if agg is not None and agg.decls is not None:
            return Param(name, ParamKind.OBJECT, _type_text(type_.type), _fields(agg, seen), _fill_members(agg, seen))
        return _buffer_param(name, type_.type, seen)
    if _struct_of(type_, seen) is not None:
        raise OracleError(f"root parameter {name!r}: struct by value is not supported")
    return Param(name, ParamKind.SCALAR)


def _holds_pointer(type_: c_ast.Node, seen: _Collector) -> bool:
    """A pointer, an array of them, or an aggregate with one inside."""
    type_ = _resolve(type_, seen)
    if isinstance(type_, c_ast.PtrDecl):
        return True
    if isinstance(type_, c_ast.ArrayDecl):
        return _holds_pointer(type_.type, seen)
    agg = _struct_of(type_, seen)
    return agg is not None and any(_holds_pointer(m.type, seen) for m in agg.decls or [])


def _buffer_param(name: str, elem: c_ast.Node, seen: _Collector) -> Param:
    """A pointer (or array) parameter to anything but a defined struct: a buffer of
    `elem`.  A buffer of integers is filled with distinct bytes in a filled run, so
    that distinct elements differ (a garbage pointer would only crash the run)."""
    fill = (("", False),) if _struct_of(elem, seen) is None and not _holds_pointer(elem, seen) \
        else ()
    return Param(name, ParamKind.BUFFER, _type_text(elem), fill=fill)


def _fill_members(agg: c_ast.Struct | c_ast.Union, seen: _Collector) -> tuple[tuple[str, bool], ...]:
    """Named members a filled run gives nonzero contents: every one that
    holds no pointer (a garbage pointer would only crash the run)."""
    return tuple(
        (m.name, m.bitsize is not None) for m in agg.decls or [] if m.name and not _holds_pointer(m.type, seen)
    )


def _fields(agg: c_ast.Struct | c_ast.Union, seen: _Collector) -> tuple[tuple[str, bool], ...]:
    """Named scalar fields (and arrays of scalars) an input may set."""
    out = []
    for member in agg.decls or []:
        if member.name is None or member.bitsize is not None:
            continue
        type_ = member.type
        is_array = isinstance(type_, c_ast.ArrayDecl)
        if is_array:
            type_ = type_.type
        if isinstance(type_, c_ast.TypeDecl) and _struct_of(type_, seen) is None:
            out.append((member.name, is_array))
    return tuple(out)


# ---- externals -----------------------------------------------------------------


def _externals(fragment: Path, seen: _Collector) -> tuple[External, ...]:
    """Called names, and declared functions used as values (their address
    taken), that the unit does not define."""
    out = []
    for name in sorted(set(seen.calls) | (seen.ids & set(seen.prototypes))):
        if name in seen.defined or name in seen.variables or name in INTRINSICS or name.startswith("__builtin_"):
            continue  # calls through a variable run whatever it points to
        arities = seen.calls.get(name, {0})
        proto = seen.prototypes.get(name)
        if proto is None and len(arities) > 1:
            raise OracleError(f"{fragment}: undeclared {name!r} is called with {sorted(arities)} arguments")
        out.append(External(name, proto, max(arities)))
    return tuple(out)


def _extern_objects(ast: c_ast.FileAST) -> tuple[c_ast.Decl, ...]:
    """File-scope ``extern`` object declarations (the harness defines them, zeroed)."""
    return tuple(
        node
        for node in ast.ext
        if isinstance(node, c_ast.Decl)
        and "extern" in node.storage
        and node.name is not None
        and not isinstance(node.type, c_ast.FuncDecl)
    )


# --------------------------------------------------------------------------
# Referenced flag bits
# --------------------------------------------------------------------------

_INT_SUFFIX_RE = re.compile(r"[uUlL]+$")
_U64 = (1 << 64) - 1


def _int_literal(text: str) -> int | None:
    body = _INT_SUFFIX_RE.sub("", text)
    try:
        if re.fullmatch(r"0[0-7]+", body):
            return int(body, 8)
        return int(body, 0)
    except ValueError:
        return None


_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "|": lambda a, b: a | b,
    "&": lambda a, b: a & b,
    "^": lambda a, b: a ^ b,
    "<<": lambda a, b: a << b if 0 <= b < 128 else None,
    ">>": lambda a, b: a >> b if 0 <= b < 128 else None,
}


def _fold(node: c_ast.Node | None, enums: Mapping[str, int]) -> int | None:
    """Value of an integer constant expression (mathematical integers: no
    width, so ``1 << 31`` is 2**31), or None when it is not one."""
    if isinstance(node, c_ast.Constant):
        return _int_literal(node.value) if "int" in node.type else None
    if isinstance(node, c_ast.ID):
        return enums.get(node.name)
    if isinstance(node, c_ast.Cast):
        return _fold(node.expr, enums)
    if isinstance(node, c_ast.UnaryOp):
        value = _fold(node.expr, enums)
        ops = {"-": lambda v: -v, "+": lambda v: v, "~": lambda v: ~v, "!": lambda v: int(not v)}
        return None if value is None or node.op not in ops else ops[node.op](value)
    if isinstance(node, c_ast.BinaryOp) and node.op in _BINARY:
        left, right = _fold(node.left, enums), _fold(node.right, enums)
        return None if left is None or right is None else _BINARY[node.op](left, right)
    if isinstance(node, c_ast.TernaryOp):
        cond = _fold(node.cond, enums)
        return None if cond is None else _fold(node.iftrue if cond else node.iffalse, enums)
    return None


def _bits_of(value: int | None) -> set[int]:
    if value is None or value <= 0 or value > _U64:
        return set()
    return {bit for bit in range(64) if value >> bit & 1}


class _BitMiner(c_ast.NodeVisitor):
    """Bits a fragment can test: constant masks of ``& | ^`` (and their
    assignment forms, ``~mask`` counted as ``mask``), constant shift counts n
    of ``>>`` (n and n+1), and constant arguments for parameters named
    flag/nr/bit."""

    def __init__(self, seen: _Collector, constants: Mapping[str, int] = {}) -> None:
        self.seen = seen
        self.values = {**seen.enums, **constants}
        self.bits: set[int] = set()

    def _mask(self, node: c_ast.Node) -> None:
        if isinstance(node, c_ast.UnaryOp) and node.op == "~":
            node = node.expr
        self.bits |= _bits_of(_fold(node, self.values))

    def _number(self, node: c_ast.Node, above: bool = False) -> None:
        """Bit ``node``; with ``above`` also the next one, which a shifted
        value compared as a whole (``(flags >> n) > 0``) also sees."""
        value = _fold(node, self.values)
        if value is not None and 0 <= value < 64:
            self.bits.add(value)
            if above and value < 63:
                self.bits.add(value + 1)

    def visit_BinaryOp(self, node: c_ast.BinaryOp) -> None:
        if node.op in ("&", "|", "^"):
            self._mask(node.left)
            self._mask(node.right)
        elif node.op == ">>":
            self._number(node.right, above=True)
        self.generic_visit(node)

    def visit_Assignment(self, node: c_ast.Assignment) -> None:
        if node.op in ("&=", "|=", "^="):
            self._mask(node.rvalue)
        elif node.op == ">>=":
            self._number(node.rvalue, above=True)
        self.generic_visit(node)

    def visit_FuncCall(self, node: c_ast.FuncCall) -> None:
        names = self._param_names(node)
        for name, arg in zip(names, node.args.exprs if node.args else []):
            if name in BIT_NUMBER_PARAMS:
                self._number(arg)
        self.generic_visit(node)

    def _param_names(self, node: c_ast.FuncCall) -> list[str | None]:
        if not isinstance(node.name, c_ast.ID):
            return []
        target = self.seen.defined.get(node.name.name)
        decl = target.decl if target else self.seen.prototypes.get(node.name.name)
        if decl is None or not isinstance(decl.type, c_ast.FuncDecl):
            return []
        return [getattr(p, "name", None) for p in (decl.type.args.params if decl.type.args else [])]


def _file_scope_constants(ast: c_ast.FileAST, enums: Mapping[str, int]) -> dict[str, int]:
    """File-scope integer objects with a constant initializer, by name: a
    mask held in ``static const unsigned long mask = 0x3;`` is read like a
    constant (the miner then sees its bits)."""
    out: dict[str, int] = {}
    for node in ast.ext:
        if isinstance(node, c_ast.Decl) and node.name and isinstance(node.type, c_ast.TypeDecl) and node.init is not None:
            value = _fold(node.init, {**enums, **out})
            if value is not None:
                out[node.name] = value
    return out


def _referenced_bits(ws: Workspace, ast: c_ast.FileAST, seen: _Collector) -> set[int]:
    """Bits mined from the fragment's own code (not the prelude's)."""
    tooling = {str(PRELUDE), str(ws.header)}
    miner = _BitMiner(seen, _file_scope_constants(ast, seen.enums))
    for node in ast.ext:
        file = node.coord.file if node.coord else None
        if file not in tooling:
            miner.visit(node)
    return miner.bits


# --------------------------------------------------------------------------
# Harness generation (C text)
# --------------------------------------------------------------------------

# Kind codes shared with RUNTIME_C.  `1 ? x : x` applies the usual arithmetic
# conversions, so char/short/_Bool/bit-fields become int: the promoted type.
KIND_MACRO = (
    "#define __ORACLE_KIND(x) _Generic(1 ? (x) : (x), int: 1, unsigned int: 2, "
    "long: 3, unsigned long: 4, long long: 5, unsigned long long: 6, "
    "float: 7, double: 7, long double: 9, default: 8)\n"
)
# A call of a variadic external with up to 8 arguments, each as kind, value.
VCALL_MACROS = (
    "#define __ORACLE_NARG(...) __ORACLE_NARG_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)\n"
    "#define __ORACLE_NARG_(a1, a2, a3, a4, a5, a6, a7, a8, n, ...) n\n"
    "#define __ORACLE_CAT(a, b) __ORACLE_CAT_(a, b)\n"
    "#define __ORACLE_CAT_(a, b) a##b\n"
    # kind + 16, value, size: a struct or union (GCC's type classes 12, 13)
    # passes its bytes, through a one-element compound literal
    "#define __ORACLE_AGG(a) (__builtin_classify_type(a) == 12 || __builtin_classify_type(a) == 13)\n"
    "#define __ORACLE_VA(a) __builtin_choose_expr(__ORACLE_AGG(a), 26, 16 + __ORACLE_KIND(a)), "
    "__builtin_choose_expr(__ORACLE_AGG(a), (const void *)(__typeof__(a)[1]){a}, (a)), (unsigned long)sizeof(a)\n"
    "#define __ORACLE_KA1(a) __ORACLE_VA(a)\n"
    + "".join(f"#define __ORACLE_KA{n}(a, ...) __ORACLE_VA(a), __ORACLE_KA{n - 1}(__VA_ARGS__)\n" for n in range(2, 9))
    + "#define __ORACLE_VCALL(name, ...) __oracle_call(name, __ORACLE_NARG(__VA_ARGS__), "
    "__ORACLE_CAT(__ORACLE_KA, __ORACLE_NARG(__VA_ARGS__))(__VA_ARGS__))\n"
)


@dataclass(frozen=True)
class InputSlot:
    """One settable input: its name in equiv's JSON and its C lvalue."""

    name: str
    lvalue: str


_FIELD_INPUT_RE = re.compile(r"^(\w+)->(\w+)(?:\[(\d+)\])?$")
_ELEMENT_INPUT_RE = re.compile(r"^(\w+)\[(-?\d+)\]$")  # an element behind a pointer argument
_DEREF_INPUT_RE = re.compile(r"^\*(?:(\w+)|\((\w+)\+(\d+)\))$")  # `*table`, `*(table+2)`


@dataclass(frozen=True)
class CallerView:
    """How the caller of the root sees its parameters: by position.

    C binds arguments to parameters by position (C11 6.5.2.2p4, 6.9.1p10):
    both sides of a pair are called with the same argument list, whatever
    their parameters are named.  ``names`` are the parameter names of the
    side the caller was written against (the before side); they name the
    inputs of a counterexample and the objects behind pointer arguments.
    ``flag_position`` is the argument that carries the flag word (the first
    parameter of that side named flags/ti_work/work), or None."""

    names: tuple[str, ...]
    flag_position: int | None

    def position(self, name: str, own: FragmentInfo) -> int | None:
        """The argument position of input ``name``: the caller's parameter of
        that name, else this side's own (a name only the other side has)."""
        if name in self.names:
            return self.names.index(name)
        own_names = [p.name for p in own.params]
        return own_names.index(name) if name in own_names else None

    def label(self, position: int, own: FragmentInfo) -> str:
        """How a pointer argument at ``position`` is rendered in call logs."""
        return self.names[position] if position < len(self.names) else own.params[position].name


def caller_view(info: FragmentInfo) -> CallerView:
    """The view of a caller written against ``info``'s signature."""
    names = tuple(p.name for p in info.params)
    flag = next((i for i, p in enumerate(info.params) if p.kind is ParamKind.FLAG), None)
    return CallerView(names, flag)


def caller_args(caller: CallerView, positions: int, flags: int, inputs: Mapping[str, int],
                infos: Sequence[FragmentInfo], base: Sequence[int] = ()) -> tuple[int, ...]:
    """The argument list of one run: ``base`` (zeros past its end), the flag
    word at the flag position, and each scalar input at its position."""
    args = [base[i] if i < len(base) else 0 for i in range(positions)]
    for name, value in inputs.items():
        for info in infos:
            pos = caller.position(name, info)
            if pos is not None and pos < positions:
                args[pos] = value & _U64
                break
    if caller.flag_position is not None and caller.flag_position < positions:
        args[caller.flag_position] = flags & _U64
    return tuple(args)


def field_inputs(caller: CallerView, infos: Sequence[FragmentInfo]) -> tuple[str, ...]:
    """Input names of the settable fields of every object the caller passes
    (``regs->syscallno``, ``regs->regs[0]``), sorted."""
    names = set()
    for info in infos:
        for pos, param in enumerate(info.params[: len(caller.names)]):
            if param.kind is ParamKind.OBJECT:
                names |= {f"{caller.names[pos]}->{f}" + ("[0]" if is_array else "") for f, is_array in param.fields}
    return tuple(sorted(names))


def scalar_vectors(caller: CallerView, infos: Sequence[FragmentInfo]) -> list[tuple[int, ...]]:
    """Base argument lists an enumeration tries: all zero and, when some
    side has an integer parameter besides the flag word, distinct positive
    and distinct negative values per position (so swapped or renamed
    parameters show)."""
    positions = max((len(info.params) for info in infos), default=0)
    scalar = [
        i for i in range(positions) if i != caller.flag_position
        and any(i < len(info.params) and info.params[i].kind in (ParamKind.SCALAR, ParamKind.FLAG) for info in infos)
    ]
    vectors = [tuple([0] * positions)]
    if scalar:
        vectors.append(tuple(i + 2 if i in scalar else 0 for i in range(positions)))
        vectors.append(tuple(-(i + 2) & _U64 if i in scalar else 0 for i in range(positions)))
    return vectors


def input_slots(info: FragmentInfo, names: Iterable[str], caller: CallerView | None = None) -> tuple[InputSlot, ...]:
    """The field inputs among ``names`` this side can set: scalar fields of a
    defined struct behind a pointer argument (``regs->syscallno``,
    ``regs->regs[0]``), the pointer found by position.  Scalar arguments are
    not slots: they travel in :attr:`RunInput.args`.  Other names are ignored."""
    caller = caller or caller_view(info)
    slots = []
    for name in sorted(names):
        lvalue = _input_lvalue(info, caller, name)
        if lvalue is not None:
            slots.append(InputSlot(name, lvalue))
    return tuple(slots)


def _input_lvalue(info: FragmentInfo, caller: CallerView, name: str) -> str | None:
    element = _ELEMENT_INPUT_RE.match(name)
    if element:
        return _element_lvalue(info, caller, element[1], int(element[2]))
    deref = _DEREF_INPUT_RE.match(name)
    if deref:
        return _element_lvalue(info, caller, deref[1] or deref[2], int(deref[3] or 0))
    match = _FIELD_INPUT_RE.match(name)
    if not match:
        return None
    pos = caller.position(match[1], info)
    if pos is None or pos >= len(info.params):
        return None
    param, field_name, index = info.params[pos], match[2], match[3]
    is_array = dict(param.fields).get(field_name)
    if param.kind is not ParamKind.OBJECT or is_array is None or is_array != (index is not None):
        return None
    return f"__oracle_obj_{pos}.{field_name}" + (f"[{index}]" if index else "")


def _element_lvalue(info: FragmentInfo, caller: CallerView, name: str, index: int) -> str | None:
    """``table[3]``: element 3 of the extern array ``table`` of unknown size, or of
    the buffer behind pointer argument ``table`` (C11 6.5.2.1: ``table[3]`` is
    ``*(table + 3)``), if it lies in the buffer (elements of at most 8 bytes)."""
    if not 0 <= index < PTR_BUFFER_BYTES // 8:
        return None
    for decl in info.extern_objects:
        # `extern long table[];`, defined here with 512 elements (a const one cannot be set)
        if decl.name == name and isinstance(decl.type, c_ast.ArrayDecl) and decl.type.dim is None:
            element = decl.type.type
            const = isinstance(element, c_ast.TypeDecl) and "const" in element.quals
            return None if const else f"{name}[{index}]"
    pos = caller.position(name, info)
    if pos is None or pos >= len(info.params):
        return None
    param = info.params[pos]
    if param.kind is not ParamKind.BUFFER or param.pointee is None:
        return None
    return f"(({param.pointee} *)(void *)__oracle_obj_{pos})[{index}]"


def _call_expr(name: str, args: Sequence[str]) -> str:
    """``__oracle_call("name", n, kind(a0), a0, ...)``."""
    pieces = [f'"{name}"', str(len(args))]
    for arg in args:
        pieces += [f"__ORACLE_KIND({arg})", f"({arg})"]
    return f"__oracle_call({', '.join(pieces)})"


def prefix_c(info: FragmentInfo) -> str:
    """C placed between the prelude and the fragment: the kind macro, the
    CONFIG switches, and macros standing for undeclared externals (so their
    arguments keep their promoted types, and the call returns long)."""
    out = [f"#undef {name}\n" for name in info.overridden]
    out += [KIND_MACRO, VCALL_MACROS, "long long __oracle_call(const char *, int, ...);\n"]
    out.append("#define __equiv_emit(name, ...) ((void)__ORACLE_VCALL(name, __VA_ARGS__))\n")
    out += [f"int {name};\n" for name in info.configs]
    for ext in info.externals:
        if ext.prototype is None:
            params = [f"__oa{i}" for i in range(ext.arity)]
            out.append(f"#define {ext.name}({', '.join(params)}) ((long){_call_expr(ext.name, params)})\n")
    return "".join(out)


def _stub_c(ext: External, returns_void: bool, is_pointer: bool) -> str:
    decl = copy.deepcopy(ext.prototype)
    decl.storage = [s for s in decl.storage if s != "extern"]
    decl.funcspec = []
    args = []
    for index, param in enumerate(_param_decls(decl.type)):
        args.append(f"__oracle_a{index}")
        _set_declname(param.type, args[-1])
    head = c_generator.CGenerator().visit(decl)
    call = _call_expr(ext.name, args)
    if returns_void:
        body = f"\t(void){call};\n"
    elif is_pointer:
        body = f"\treturn {call} ? __oracle_scratch() : 0;\n"
    else:
        body = f"\treturn {call};\n"
    return f"{head}\n{{\n{body}}}\n"


def _is_variadic(decl: c_ast.Decl | None) -> bool:
    func = decl.type if decl is not None else None
    return isinstance(func, c_ast.FuncDecl) and any(
        isinstance(p, c_ast.EllipsisParam) for p in (func.args.params if func.args else [])
    )


def _variadic_macro(ext: External, seen: _Collector) -> str:
    """``#define name(...)`` logging a call of a variadic external: the stub
    cannot know the types behind ``...``, the call site can (each argument
    after the default argument promotions, C11 6.5.2.2p6-7)."""
    assert ext.prototype is not None
    ret = ext.prototype.type.type
    call = f'__ORACLE_VCALL("{ext.name}", __VA_ARGS__)'
    if _is_void(ret, seen):
        return f"#define {ext.name}(...) ((void){call})\n"
    if isinstance(_resolve(ret, seen), c_ast.PtrDecl) or _struct_of(ret, seen) is not None:
        raise OracleError(f"{ext.name}: a variadic external returning a pointer or struct is not supported")
    return f"#define {ext.name}(...) (({_type_text(ret)}){call})\n"


def harness_workspace(info: FragmentInfo, seen: _Collector) -> Workspace:
    """The workspace the harness compiles: ``info.ws``, or, when the fragment
    declares variadic externals, a copy of the fragment with a logging macro
    after each such declaration (quoted includes still resolve next to the
    original).  A variadic prototype outside the fragment is refused."""
    variadic = [ext for ext in info.externals if _is_variadic(ext.prototype)]
    if not variadic:
        return info.ws
    lines = info.ws.fragment.read_text().splitlines(keepends=True)
    inserts: dict[int, str] = {}
    for ext in variadic:
        coord = ext.prototype.coord if ext.prototype is not None else None
        if coord is None or Path(coord.file).resolve() != info.ws.fragment:
            raise OracleError(f"{ext.name}: a variadic external declared outside the fragment is not supported")
        end = coord.line - 1
        while end < len(lines) and ";" not in lines[end]:
            end += 1
        inserts[end] = inserts.get(end, "") + _variadic_macro(ext, seen)
    text = "".join(line + (("\n" if not line.endswith("\n") else "") + inserts[i] if i in inserts else "")
                   for i, line in enumerate(lines))
    copy_path = info.ws.root / "fragment.c"
    copy_path.write_text(text)
    return Workspace(copy_path, info.ws.root, info.ws.fragment.parent)


def _stubs_c(info: FragmentInfo, seen: _Collector) -> str:
    out = []
    for ext in info.externals:
        if ext.prototype is None or _is_variadic(ext.prototype):
            continue
        func = ext.prototype.type
        for param in _param_decls(func):
            if _struct_of(param.type, seen) is not None:
                raise OracleError(f"{ext.name}: struct arguments by value are not supported")
        is_void = _returns_void(func, seen)
        out.append(_stub_c(ext, is_void, isinstance(_resolve(func.type, seen), c_ast.PtrDecl)))
    return "".join(out)


RUNTIME_DECLS = """\
extern unsigned long long __oracle_flags;
extern long long __oracle_cfg[], __oracle_in[];
extern unsigned long long __oracle_args[], __oracle_fill;
void __oracle_fill_bytes(void *, unsigned long, unsigned long);
void __oracle_excluded(void);
void __oracle_return(int, ...);
void __oracle_return_void(void);
void __oracle_final(unsigned long long);
void __oracle_name_ptr(const char *, const void *, unsigned long);
void *__oracle_scratch(void);
static struct thread_info __oracle_ti;
static _Alignas(64) unsigned char __oracle_task[4096];
void __oracle_flag_access(void);
struct thread_info *__equiv_thread_info(void) { __oracle_flag_access(); return &__oracle_ti; }
unsigned long *__oracle_flag_word = &__oracle_ti.flags;
struct task_struct *__equiv_current(void) { return (struct task_struct *)(void *)__oracle_task; }
"""


def _param_storage(position: int, param: Param) -> str:
    if param.kind is ParamKind.OBJECT:
        return f"static {param.pointee} __oracle_obj_{position};\n"
    if param.kind is ParamKind.BUFFER:
        return f"static _Alignas(64) unsigned char __oracle_obj_{position}[{PTR_BUFFER_BYTES}];\n"
    return ""


def _param_arg(position: int, param: Param) -> str:
    """The argument at ``position``: an integer parameter (the flag word's
    included) takes the caller's value there, converted as by assignment."""
    if param.kind is ParamKind.OBJECT:
        return f"&__oracle_obj_{position}"
    if param.kind is ParamKind.BUFFER:
        return f"(void *)__oracle_obj_{position}"
    return f"__oracle_args[{position}]"


def _assume_c(info: FragmentInfo) -> str:
    """``__oracle_assume(flags)``: every --assume expression over the entry
    flag word (and the fragment's macros) and every model assumption."""
    terms = [f"({expr})" for expr in info.ws.premises.assumes] + [f"{name}()" for name in info.assumptions]
    body = " && ".join(terms) or "1"
    return f"static int __oracle_assume(unsigned long flags)\n{{\n\t(void)flags;\n\treturn {body};\n}}\n"


def _stable_names(model: Path) -> list[str]:
    """A model's `Stable:` masks (flag bits no external call sets or clears)."""
    m = re.search(r"^\s*\*?\s*Stable:\s*(.+?)\s*$", model.read_text(), re.M)
    return m.group(1).replace(",", " ").split() if m else []


def _keep_c(info: FragmentInfo) -> str:
    """``__oracle_keep``: the flag bits a call leaves as it found them (the models'
    `Stable:` masks that the fragment defines); the word a call leaves keeps them."""
    names = [n for path in info.ws.premises.model_files for n in _stable_names(path)]
    terms = "".join(f"#ifdef {n}\n\t| ({n})\n#endif\n" for n in names)
    return f"const unsigned long __oracle_keep = 0UL\n{terms};\n"


def _fill_c(info: FragmentInfo) -> list[str]:
    """Statements giving each object's pointer-free members distinct nonzero
    contents when the run asks for it (a bit-field gets the value, reduced
    modulo its width as GCC does)."""
    lines = []
    for pos, param in enumerate(info.params):
        if param.kind is ParamKind.BUFFER and param.fill:
            lines.append(f"\tif (__oracle_fill) __oracle_fill_bytes(__oracle_obj_{pos}, "
                         f"sizeof __oracle_obj_{pos}, __oracle_fill * 64 + {pos * 8});")
            continue
        for j, (member, is_bitfield) in enumerate(param.fill):
            seed = f"__oracle_fill * 64 + {pos * 8 + j}"
            obj = f"__oracle_obj_{pos}.{member}"
            if is_bitfield:
                lines.append(f"\tif (__oracle_fill) {obj} = {seed} * 37 + 1;")
            else:
                lines.append(f"\tif (__oracle_fill) __oracle_fill_bytes(&{obj}, sizeof {obj}, {seed});")
    return lines


def _run_one_c(info: FragmentInfo, slots: Sequence[InputSlot], caller: CallerView) -> str:
    lines = ["\t__oracle_ti.flags = __oracle_flags;"]
    lines += [f"\t{name} = (int)__oracle_cfg[{i}];" for i, name in enumerate(info.configs)]
    lines += _fill_c(info)
    lines += [f"\t{slot.lvalue} = __oracle_in[{i}];" for i, slot in enumerate(slots)]
    lines.append("\tif (!__oracle_assume(__oracle_flags))\n\t\t__oracle_excluded();")
    lines.append('\t__oracle_name_ptr("current", __oracle_task, sizeof __oracle_task);')
    lines.append('\t__oracle_name_ptr("current_thread_info()", &__oracle_ti, sizeof __oracle_ti);')
    for i, p in enumerate(info.params):
        if p.kind in (ParamKind.OBJECT, ParamKind.BUFFER):
            label = caller.label(i, info)
            lines.append(f'\t__oracle_name_ptr("{label}", &__oracle_obj_{i}, sizeof __oracle_obj_{i});')
    call = f"{info.root}({', '.join(_param_arg(i, p) for i, p in enumerate(info.params))})"
    if info.returns_void:
        lines += [f"\t{call};", "\t__oracle_return_void();"]
    else:
        lines.append(f"\t__oracle_return(__ORACLE_KIND({call}), {call});")
    lines.append("\t__oracle_final(__oracle_ti.flags);")
    return "void __oracle_run_one(void)\n{\n" + "\n".join(lines) + "\n}\n"


def suffix_c(info: FragmentInfo, seen: _Collector, slots: Sequence[InputSlot], caller: CallerView | None = None) -> str:
    """C placed after the fragment: intrinsics, stubs, zeroed definitions of
    extern objects, parameter storage and ``__oracle_run_one``."""
    gen = c_generator.CGenerator()
    objects = []
    for decl in info.extern_objects:
        decl = copy.deepcopy(decl)
        decl.storage, decl.init = [s for s in decl.storage if s != "extern"], None
        if isinstance(decl.type, c_ast.ArrayDecl) and decl.type.dim is None:
            # `extern long table[];` names an array of some length: give it room for
            # every index a harness input reaches (as a pointer argument's buffer has).
            decl.type.dim = c_ast.Constant("int", str(PTR_BUFFER_BYTES // 8))
        objects.append(gen.visit(decl) + ";\n")
    return "".join(
        [
            f"const int __oracle_ncfg = {len(info.configs)};\n",
            f"const int __oracle_nin = {len(slots)};\n",
            RUNTIME_DECLS,
            _stubs_c(info, seen),
            *objects,
            *(_param_storage(i, p) for i, p in enumerate(info.params)),
            _assume_c(info),
            _keep_c(info),
            _run_one_c(info, slots, caller or caller_view(info)),
        ]
    )


# The driver, compiled as its own translation unit with the system headers
# (the fragment's unit cannot include them: the prelude redefines keywords).
# Protocol: one run per stdin line,
#   flags mode fill cfg[ncfg] in[nin] nargs arg[nargs] nresults result[nresults]
#   scripted nscript script[nscript] nleaves (call word)[nleaves]
# and per run on stdout: "B i", then "C result<TAB>name<TAB>arg..." per call,
# "R value" or "R -", "F 0xflags" from the child, then "E outcome".
RUNTIME_C = r"""
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SLOTS 4096
#define MAX_CALLS @MAX_CALLS@
#define EXCLUDED @EXCLUDED@
#define MAX_NAMES 64
#define MAX_ARGS 64
#define ARG_CHARS 64

extern const int __oracle_ncfg, __oracle_nin;
void __oracle_run_one(void);

unsigned long long __oracle_flags;
long long __oracle_cfg[MAX_SLOTS], __oracle_in[MAX_SLOTS];
unsigned long long __oracle_args[MAX_ARGS];
unsigned long long __oracle_fill;

void __oracle_fill_bytes(void *p, unsigned long size, unsigned long seed)
{
	unsigned char *b = p;
	unsigned long k;

	for (k = 0; k < size; k++)
		b[k] = (unsigned char)(seed * 37 + k * 13 + 1);
}

enum { MODE_ZERO, MODE_HASH, MODE_REPLAY };
static int mode;
/*
 * The flag word an external call leaves behind.  Without a script (the
 * --stable-flags rule) a call leaves it as it was.  With a script, a call
 * leaves the next scripted word (0 once the script runs out) if the word was
 * accessed since the last one was left, else the same word: one script word
 * per read after calls.  A replay gives, per call number, the word that call
 * leaves.
 */
static int scripted, pending, accessed;
static unsigned long long script[MAX_SLOTS];
static long nscript, script_at, rereads;
static long long leave_call[MAX_SLOTS];
static unsigned long long leave_word[MAX_SLOTS];
static long nleaves;
static long long results[MAX_SLOTS];
static long nresults, call_index;
static struct { const char *name; const char *base; unsigned long size; } names[MAX_NAMES];
static int nnames;
static _Alignas(64) unsigned char scratch[64][4096];
static int nscratch;

void __oracle_name_ptr(const char *name, const void *base, unsigned long size)
{
	if (nnames < MAX_NAMES) {
		names[nnames].name = name;
		names[nnames].base = base;
		names[nnames].size = size;
		nnames++;
	}
}

void *__oracle_scratch(void)
{
	return scratch[nscratch++ % 64];
}

static void render_ptr(const char *p, char *out)
{
	int i;

	if (!p) {
		snprintf(out, ARG_CHARS, "0");
		return;
	}
	for (i = 0; i < nnames; i++)
		if (p == names[i].base) {
			snprintf(out, ARG_CHARS, "%s", names[i].name);
			return;
		}
	for (i = 0; i < nnames; i++)
		if (p > names[i].base && p < names[i].base + names[i].size) {
			snprintf(out, ARG_CHARS, "%s+%ld", names[i].name, (long)(p - names[i].base));
			return;
		}
	snprintf(out, ARG_CHARS, "<ptr>");
}

static void render_bytes(const unsigned char *p, unsigned long size, char *out)
{
	int n = 0;
	unsigned long k;

	n += snprintf(out, ARG_CHARS, "{");
	for (k = 0; k < size && n < ARG_CHARS - 4; k++)
		n += snprintf(out + n, ARG_CHARS - n, "%02x", p[k]);
	snprintf(out + n, ARG_CHARS - n, "}");
}

static void render(int kind, va_list *ap, char *out)
{
	if (kind == 26) {	/* a struct or union through `...`: its bytes, then its size */
		const unsigned char *bytes = va_arg(*ap, const unsigned char *);

		render_bytes(bytes, va_arg(*ap, unsigned long), out);
		return;
	}
	if (kind >= 16) {	/* a scalar through `...`: its value, then its size */
		render(kind - 16, ap, out);
		(void)va_arg(*ap, unsigned long);
		return;
	}
	switch (kind) {
	case 1: snprintf(out, ARG_CHARS, "%d", va_arg(*ap, int)); break;
	case 2: snprintf(out, ARG_CHARS, "%u", va_arg(*ap, unsigned int)); break;
	case 3: snprintf(out, ARG_CHARS, "%ld", va_arg(*ap, long)); break;
	case 4: snprintf(out, ARG_CHARS, "%lu", va_arg(*ap, unsigned long)); break;
	case 5: snprintf(out, ARG_CHARS, "%lld", va_arg(*ap, long long)); break;
	case 6: snprintf(out, ARG_CHARS, "%llu", va_arg(*ap, unsigned long long)); break;
	case 7: snprintf(out, ARG_CHARS, "%.17g", va_arg(*ap, double)); break;
	case 9: snprintf(out, ARG_CHARS, "%.21Lg", va_arg(*ap, long double)); break;
	default: render_ptr(va_arg(*ap, const char *), out); break;
	}
}

static unsigned long long fnv1a(unsigned long long h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static long long stub_result(unsigned long long hash)
{
	if (mode == MODE_HASH)
		return (long long)(hash % 4) - 1;
	if (mode == MODE_REPLAY && call_index < nresults)
		return results[call_index];
	return 0;
}

extern unsigned long *__oracle_flag_word;
extern const unsigned long __oracle_keep;

/* The word a call leaves: `word`, but with the bits no call changes kept. */
static unsigned long leave(unsigned long word)
{
	return (word & ~__oracle_keep) | (*__oracle_flag_word & __oracle_keep);
}

static unsigned long long memory_hash(void)
{
	unsigned long long h = 14695981039346656037ULL;
	unsigned long k;
	int i;

	for (i = 0; i < nnames; i++)
		for (k = 0; k < names[i].size; k++)
			h = (h ^ (unsigned char)names[i].base[k]) * 1099511628211ULL;
	return h;
}

long long __oracle_call(const char *name, int nargs, ...)
{
	char args[16][ARG_CHARS], index[32];
	unsigned long long hash = 14695981039346656037ULL;
	long long result;
	va_list ap;
	int i;

	va_start(ap, nargs);
	for (i = 0; i < nargs && i < 16; i++)
		render(va_arg(ap, int), &ap, args[i]);
	va_end(ap);
	snprintf(index, sizeof index, "%ld\t", call_index);
	hash = fnv1a(fnv1a(hash, index), name);
	for (i = 0; i < nargs && i < 16; i++)
		hash = fnv1a(fnv1a(hash, "\t"), args[i]);
	result = stub_result(hash);
	if (++call_index > MAX_CALLS) {
		fflush(stdout);
		raise(SIGALRM);	/* reported like a timeout */
	}
	/* A callee can read the flag word and the harness's objects: log them. */
	printf("W %lx\n", *__oracle_flag_word);
	printf("M %llx\n", memory_hash());
	for (i = 0; i < nleaves; i++)
		if (leave_call[i] == call_index - 1)
			*__oracle_flag_word = leave(leave_word[i]);
	if (scripted && accessed) {
		*__oracle_flag_word = leave(script_at < nscript ? script[script_at++] : 0);
		accessed = 0;
	}
	pending = 1;
	printf("C %lld\t%s", result, name);
	for (i = 0; i < nargs && i < 16; i++)
		printf("\t%s", args[i]);
	printf("\n");
	fflush(stdout);
	return result;
}

void __oracle_return(int kind, ...)
{
	char text[ARG_CHARS];
	va_list ap;

	va_start(ap, kind);
	render(kind, &ap, text);
	va_end(ap);
	printf("R %s\n", text);
}

void __oracle_flag_access(void)
{
	accessed = 1;
	if (pending)
		rereads++;
	pending = 0;
}

#ifndef ORACLE_FORK_PER_RUN
static jmp_buf excluded_jump;
static int in_worker;
#endif

void __oracle_excluded(void)
{
	fflush(stdout);
#ifndef ORACLE_FORK_PER_RUN
	if (in_worker)
		longjmp(excluded_jump, 1);  /* the worker reports it as the exit would be */
#endif
	_exit(EXCLUDED);
}

void __oracle_return_void(void)
{
	printf("R -\n");
}

void __oracle_final(unsigned long long flags)
{
	printf("A %ld\n", rereads);
	printf("F 0x%llx\n", flags);
	printf("N %llx\n", memory_hash());
}

static int read_word(unsigned long long *value)
{
	char token[128];

	if (scanf("%127s", token) != 1)
		return 0;
	*value = strtoull(token, NULL, 0);
	return 1;
}

static int read_run(void)
{
	unsigned long long v, n;
	int i;

	if (!read_word(&__oracle_flags) || !read_word(&v) || !read_word(&__oracle_fill))
		return 0;
	mode = (int)v;
	for (i = 0; i < __oracle_ncfg; i++)
		read_word((unsigned long long *)&__oracle_cfg[i]);
	for (i = 0; i < __oracle_nin; i++)
		read_word((unsigned long long *)&__oracle_in[i]);
	memset(__oracle_args, 0, sizeof __oracle_args);
	read_word(&n);
	for (i = 0; i < (long)n; i++)
		read_word(i < MAX_ARGS ? &__oracle_args[i] : &v);
	read_word(&v);
	nresults = v < MAX_SLOTS ? (long)v : MAX_SLOTS;
	for (i = 0; i < (long)v; i++)
		read_word(i < MAX_SLOTS ? (unsigned long long *)&results[i] : &v);
	read_word(&v);
	scripted = (int)v;
	read_word(&v);
	nscript = v < MAX_SLOTS ? (long)v : MAX_SLOTS;
	for (i = 0; i < (long)v; i++)
		read_word(i < MAX_SLOTS ? &script[i] : &n);
	read_word(&v);
	nleaves = v < MAX_SLOTS ? (long)v : MAX_SLOTS;
	for (i = 0; i < (long)v; i++) {
		read_word(i < MAX_SLOTS ? (unsigned long long *)&leave_call[i] : &n);
		read_word(i < MAX_SLOTS ? &leave_word[i] : &n);
	}
	pending = 0;
	accessed = 1;
	script_at = 0;
	rereads = 0;
	return 1;
}

#ifdef ORACLE_FORK_PER_RUN
/* One child per run (EQUIV_ORACLE_FORK_PER_RUN=1): the reference for the driver below. */
int main(int argc, char **argv)
{
	unsigned timeout = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	long run = 0;
	int status;
	pid_t pid;

	while (read_run()) {
		printf("B %ld\n", run++);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			alarm(timeout);
			__oracle_run_one();
			fflush(stdout);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
			printf("E timeout\n");
			break;
		}
		if (WIFSIGNALED(status))
			printf("E signal %d\n", WTERMSIG(status));
		else if (WEXITSTATUS(status))
			printf("E exit %d\n", WEXITSTATUS(status));
		else
			printf("E ok\n");
	}
	fflush(stdout);
	return 0;
}
#else
/*
 * One child runs the runs one after the other until a run ends it (a trap,
 * exit(), the alarm); the parent then reports that run and forks the next
 * child, which goes on after it.  Each run starts from the program's data as
 * it was before the first run (the executable's .data and .bss are copied
 * back), as a child forked for that run alone would: a fork per run was most
 * of the oracle's time.  The runs are read into memory first, so a child that
 * dies loses none of the input; `struct progress` (shared with the parent)
 * says which run was going on and where the next one starts.
 */
extern char __data_start[], _end[];

struct progress {
	long run, next;
	int running, done;
};

static char *read_all(long *size)
{
	long cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap);

	while (buf && (got = (long)fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += got;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf) {
		perror("oracle driver");
		exit(2);
	}
	*size = n;
	return buf;
}

/*
 * The data copied back before each run: all of .data and .bss but the
 * driver's large input arrays, which read_run() fills and the code under
 * test never sees, and the scratch pages, of which only those handed out in
 * the run are cleared.  Copying back all of it (470 KB a run) cost more than
 * the runs.
 */
struct range {
	char *start, *end;
};

static int by_start(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int kept_ranges(struct range *out)
{
	struct range skip[] = {
		{ (char *)scratch, (char *)scratch + sizeof scratch },
		{ (char *)__oracle_cfg, (char *)__oracle_cfg + sizeof __oracle_cfg },
		{ (char *)__oracle_in, (char *)__oracle_in + sizeof __oracle_in },
		{ (char *)script, (char *)script + sizeof script },
		{ (char *)leave_call, (char *)leave_call + sizeof leave_call },
		{ (char *)leave_word, (char *)leave_word + sizeof leave_word },
		{ (char *)results, (char *)results + sizeof results },
	};
	int n = (int)(sizeof skip / sizeof skip[0]), i, k = 0;
	char *at = __data_start;

	qsort(skip, n, sizeof skip[0], by_start);
	for (i = 0; i < n; i++) {
		if (skip[i].start > at)
			out[k++] = (struct range){ at, skip[i].start };
		if (skip[i].end > at)
			at = skip[i].end;
	}
	if (_end > at)
		out[k++] = (struct range){ at, _end };
	return k;
}

static void worker(char *buf, long size, long offset, long run, struct progress *p,
		   unsigned timeout)
{
	unsigned long span = (unsigned long)(_end - __data_start);
	struct range keep[16];
	int nkeep = kept_ranges(keep), i, used;
	char *saved;

	if (offset >= size) {
		p->done = 1;
		_exit(0);
	}
	stdin = fmemopen(buf + offset, size - offset, "r");
	saved = malloc(span);
	if (!stdin || !saved) {
		perror("oracle driver");
		_exit(2);
	}
	memcpy(saved, __data_start, span);
	for (;;) {
		used = nscratch < 64 ? nscratch : 64;
		memset(scratch, 0, (unsigned long)used * sizeof scratch[0]);
		for (i = 0; i < nkeep; i++)
			memcpy(keep[i].start, saved + (keep[i].start - __data_start),
			       (unsigned long)(keep[i].end - keep[i].start));
		if (!read_run())
			break;
		p->next = offset + ftell(stdin);
		p->run = run;
		printf("B %ld\n", run++);
		fflush(stdout);
		p->running = 1;
		in_worker = 1;
		if (setjmp(excluded_jump)) {  /* __oracle_excluded: as the exit would be reported */
			alarm(0);
			p->running = 0;
			printf("E exit %d\n", EXCLUDED);
			fflush(stdout);
			continue;
		}
		alarm(timeout);
		__oracle_run_one();
		alarm(0);
		fflush(stdout);
		p->running = 0;
		printf("E ok\n");
		fflush(stdout);
	}
	p->done = 1;
	fflush(stdout);
	_exit(0);
}

int main(int argc, char **argv)
{
	unsigned timeout = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	long size, offset = 0, run = 0;
	char *buf = read_all(&size);
	struct progress *p = mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t pid;

	if (p == MAP_FAILED) {
		perror("oracle driver");
		return 2;
	}
	for (;;) {
		p->run = run;
		p->next = offset;
		p->running = 0;
		p->done = 0;
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			worker(buf, size, offset, run, p, timeout);
		waitpid(pid, &status, 0);
		if (!p->running) {
			if (!p->done)
				printf("E driver\n");
			break;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
			printf("E timeout\n");
			break;
		}
		if (WIFSIGNALED(status))
			printf("E signal %d\n", WTERMSIG(status));
		else if (WEXITSTATUS(status))
			printf("E exit %d\n", WEXITSTATUS(status));
		else
			printf("E ok\n");
		run = p->run + 1;
		offset = p->next;
	}
	fflush(stdout);
	return 0;
}
#endif
"""


# EQUIV_ORACLE_CHECK_DRIVER=1: every driver run is repeated with the reference
# driver (a fork per run) and the two outputs must be byte-identical.
CHECK_DRIVER = os.environ.get("EQUIV_ORACLE_CHECK_DRIVER") == "1"


def runtime_c(reference: bool = False) -> str:
    """The driver's C text with its limits filled in (`reference`: a fork per run)."""
    text = RUNTIME_C.replace("@MAX_CALLS@", str(MAX_CALLS_PER_RUN)).replace("@EXCLUDED@", str(EXCLUDED_STATUS))
    return ("#define ORACLE_FORK_PER_RUN\n" + text) if reference else text


# --------------------------------------------------------------------------
# Build and run
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Executable:
    """One compiled side: its binary and the order of its switches and inputs."""

    path: Path
    configs: tuple[str, ...]
    slots: tuple[InputSlot, ...]


@dataclass(frozen=True)
class RunInput:
    """Concrete values for one run of one side."""

    flags: int
    configs: Mapping[str, bool]
    inputs: Mapping[str, int]
    mode: StubResults
    results: tuple[int, ...] = ()
    args: tuple[int, ...] = ()  # the root's arguments by position (see CallerView)
    fill: int = 0  # nonzero: the seed of the bytes written to objects' members first
    # The words calls leave behind, one per read of the flag word after calls, in
    # order (0 past the end); None: calls leave the word as it was (--stable-flags).
    script: tuple[int, ...] | None = None
    # (call number from 0, word): the word that call leaves behind (a replay)
    leaves: tuple[tuple[int, int], ...] = ()


def build(fragment: Path, root: str, workdir: Path, inputs: Iterable[str] = (),
          caller: CallerView | None = None, premises: Premises = NO_PREMISES) -> tuple[FragmentInfo, Executable]:
    """Analyse and compile one side in ``workdir``; ``inputs`` are the input
    names the executable must accept (unsettable ones are dropped), found by
    position through ``caller`` (default: this side's own signature).

    Builds are cached for the life of the process (see ``_BuildCache``): the
    same fragment text, root, inputs, caller view and premises give the same
    binary."""
    inputs = tuple(inputs)
    key = _BUILD_CACHE.key(fragment, root, inputs, (repr(caller), repr(premises)))
    hit = _BUILD_CACHE.get(key) if key is not None else None
    if hit is not None:
        return hit
    info, exe = _build(fragment, root, workdir, inputs, caller, premises)
    return _BUILD_CACHE.put(key, info, exe) if key is not None else (info, exe)


class _BuildCache:
    """Compiled sides kept for the life of the process, keyed by content.

    The key is the fragment's path and text, the text of the headers next to
    it (a fragment may include them), the root and the input names: the
    harness is a function of these.  Binaries are copied into a private
    directory that is removed when the process exits; the shared runtime
    object is compiled once.
    """

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._lock = threading.Lock()
        self._builds: dict[tuple, tuple[FragmentInfo, Executable]] = {}
        self._runtime: dict[bool, Path] = {}

    def directory(self) -> Path:
        with self._lock:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="equiv-oracle-cache-"))
                atexit.register(shutil.rmtree, self._dir, True)
            return self._dir

    def key(self, fragment: Path, root: str, inputs: tuple[str, ...],
            view: tuple[str, str]) -> tuple | None:
        try:
            path = fragment.resolve()
            headers = tuple((h.name, h.read_bytes()) for h in sorted(path.parent.glob("*.h")))
            return (str(path), path.read_bytes(), headers, root, inputs, view)
        except OSError:
            return None  # the build reports it

    def get(self, key: tuple) -> tuple[FragmentInfo, Executable] | None:
        with self._lock:
            return self._builds.get(key)

    def put(self, key: tuple, info: FragmentInfo, exe: Executable) -> tuple[FragmentInfo, Executable]:
        kept = Path(tempfile.mkdtemp(dir=self.directory())) / "side"
        _keep(exe.path, kept)
        if CHECK_DRIVER:
            _keep(_reference(exe.path), _reference(kept))
        out = (info, Executable(kept, exe.configs, exe.slots))
        with self._lock:
            self._builds[key] = out
        return out

    def runtime_object(self, ws: Workspace, reference: bool = False) -> Path:
        """runtime.o (`reference`: the fork-per-run driver's), compiled once per process."""
        with self._lock:
            if reference in self._runtime:
                return self._runtime[reference]
        work = Path(tempfile.mkdtemp(dir=self.directory()))
        compile_runtime(ws, work, reference)
        with self._lock:
            self._runtime[reference] = work / "runtime.o"
            return self._runtime[reference]


_BUILD_CACHE = _BuildCache()


def compile_runtime(ws: Workspace, work: Path, reference: bool = False) -> Path:
    """work/runtime.o: the driver (`reference`: the fork-per-run one)."""
    runtime = work / "runtime.c"
    runtime.write_text(runtime_c(reference))
    # The driver is not code under test: optimised, its memory hash at every call
    # no longer dominates a run (the fragments stay at -O0).
    _compile(ws, ["-O2", "-c", str(runtime), "-o", str(work / "runtime.o")])
    return work / "runtime.o"


def link_side(ws: Workspace, objects: Sequence[str], exe: Path,
              runtime: Path, reference: Path | None = None) -> None:
    """Links `exe` from `objects` and the driver (and, in EQUIV_ORACLE_CHECK_DRIVER mode,
    its reference twin from `reference`)."""
    _compile(ws, [*objects, str(runtime), "-o", str(exe)])
    if CHECK_DRIVER and reference is not None:
        _compile(ws, [*objects, str(reference), "-o", str(_reference(exe))])


def _build(fragment: Path, root: str, workdir: Path, inputs: tuple[str, ...],
           caller: CallerView | None, premises: Premises) -> tuple[FragmentInfo, Executable]:
    info, seen = _analyse(fragment, root, workdir, premises)
    caller = caller or caller_view(info)
    slots = input_slots(info, inputs, caller)
    prefix, suffix = workdir / "prefix.h", workdir / "suffix.c"
    info.ws.renames.write_text("".join(f"#define {n} __oracle_prelude_{n}\n" for n in info.overridden))
    prefix.write_text(prefix_c(info))
    suffix.write_text(suffix_c(info, seen, slots, caller))
    unit = workdir / "unit.c"
    unit.write_text(_wrapper(harness_workspace(info, seen), prefix, suffix))
    exe = workdir / "side"
    _compile(info.ws, [*_include_args(info.ws), "-c", str(unit), "-o", str(workdir / "unit.o")])
    reference = _BUILD_CACHE.runtime_object(info.ws, reference=True) if CHECK_DRIVER else None
    link_side(info.ws, [str(workdir / "unit.o")], exe, _BUILD_CACHE.runtime_object(info.ws),
              reference)
    return info, Executable(exe, info.configs, slots)


def _keep(built: Path, kept: Path) -> None:
    """`built` at `kept` too: a hard link, not a copy written by this process.  A copy's
    write descriptor is inherited, for a moment, by whatever another thread forks then
    (equiv's own `gcc -E` runs in this process), and exec'ing the copy meanwhile fails
    with ETXTBSY ("Text file busy")."""
    try:
        os.link(built, kept)
    except OSError:  # another file system
        shutil.copy2(built, kept)


def _reference(exe: Path) -> Path:
    """Where the EQUIV_ORACLE_CHECK_DRIVER build of `exe` with the reference driver is."""
    return exe.with_name(exe.name + "-reference")


def _compile(ws: Workspace, args: Sequence[str]) -> None:
    proc = _gcc(ws, [*CFLAGS, *args])
    if proc.returncode != 0:
        raise OracleError(f"gcc failed for {ws.fragment}:\n{proc.stderr}")


def _encode(exe: Executable, run: RunInput) -> str:
    words = [hex(run.flags), str(run.mode.value), str(run.fill)]
    words += [str(int(bool(run.configs.get(name, False)))) for name in exe.configs]
    words += [str(run.inputs.get(slot.name, 0)) for slot in exe.slots]
    words += [str(len(run.args)), *map(str, run.args)]
    words += [str(len(run.results)), *map(str, run.results)]
    script = run.script or ()
    words += [str(int(run.script is not None)), str(len(script)), *map(hex, script)]
    words += [str(len(run.leaves)), *(f"{k} {hex(w)}" for k, w in run.leaves)]
    return " ".join(words)


def execute(exe: Executable, runs: Sequence[RunInput], timeout_s: int = 3) -> list[Trace]:
    """Run every input; the list stops early after the first timed-out run."""
    stdin = "".join(_encode(exe, run) + "\n" for run in runs)
    budget = 30 + timeout_s * 2 + len(runs) // 50
    try:
        proc = subprocess.run(
            [str(exe.path), str(timeout_s)], input=stdin, capture_output=True, text=True, timeout=budget
        )
    except subprocess.TimeoutExpired as exc:
        raise OracleError(f"oracle driver {exe.path.name} exceeded {budget} s") from exc
    if proc.returncode != 0:
        raise OracleError(f"oracle driver failed ({proc.returncode}): {proc.stderr}")
    if CHECK_DRIVER:
        ref = subprocess.run([str(_reference(exe.path)), str(timeout_s)], input=stdin,
                             capture_output=True, text=True, timeout=budget)
        if ref.stdout != proc.stdout:
            raise OracleError(f"oracle driver {exe.path} and its reference disagree on the same runs")
    return list(_parse_traces(proc.stdout))


def _parse_traces(output: str) -> Iterator[Trace]:
    calls: list[Call] = []
    ret: str | None = None
    flags: int | None = None
    seen: int | None = None
    memory: int | None = None
    final_memory: int | None = None
    rereads = 0
    for line in output.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "B":
            calls, ret, flags, final_memory, rereads = [], None, None, None, 0
        elif tag == "W":
            seen = int(rest, 16)
        elif tag == "C":
            result, name, *args = rest.split("\t")
            calls.append(Call(name, tuple(args), int(result), seen, memory))
        elif tag == "R":
            ret = None if rest == "-" else rest
        elif tag == "F":
            flags = int(rest, 16)
        elif tag == "M":
            memory = int(rest, 16)
        elif tag == "N":
            final_memory = int(rest, 16)
        elif tag == "A":
            rereads = int(rest)
        elif tag == "E":
            ok = rest == "ok"
            outcome = {f"signal {signal.SIGILL}": UB_OUTCOME, f"exit {EXCLUDED_STATUS}": EXCLUDED_OUTCOME}.get(rest, rest)
            yield Trace(tuple(calls), ret if ok else None, flags if ok else None, outcome,
                        final_memory if ok else None, rereads)


# --------------------------------------------------------------------------
# Comparison, enumeration, replay
# --------------------------------------------------------------------------


_T = TypeVar("_T")
_R = TypeVar("_R")


def _both(work: Callable[[_T], _R], before: _T, after: _T) -> tuple[_R, _R]:
    """``work`` on both sides at once (the time goes into gcc and the
    drivers, which run as subprocesses); exceptions propagate."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.submit(work, before), pool.submit(work, after)
        return first.result(), second.result()


def _pair_status(before: Trace, after: Trace) -> OracleStatus:
    """Classify one run of both sides."""
    if "timeout" in (before.outcome, after.outcome):
        return OracleStatus.TIMEOUT
    if EXCLUDED_OUTCOME in (before.outcome, after.outcome) or before == after:
        return OracleStatus.SAME
    if before.outcome == after.outcome == "ok":
        return OracleStatus.DIFFERS
    if UB_OUTCOME in (before.outcome, after.outcome):
        return OracleStatus.UNDEFINED
    return OracleStatus.CRASH


def _combine(statuses: Iterable[OracleStatus]) -> OracleStatus:
    """Most conclusive status among runs (DIFFERS > UNDEFINED > CRASH > TIMEOUT > SAME)."""
    order = list(OracleStatus)
    return min(statuses, key=order.index, default=OracleStatus.SAME)


def _flag_words(bits: Sequence[int]) -> list[int]:
    """Every subset of ``bits`` as a flag word, fewest bits first."""
    words = [sum(1 << b for b, on in zip(bits, pick) if on) for pick in itertools.product((0, 1), repeat=len(bits))]
    return sorted(words, key=lambda w: (bin(w).count("1"), w))


def _config_choices(names: Sequence[str]) -> list[dict[str, bool]]:
    """Every on/off assignment of ``names``, fewest switches on first."""
    picks = sorted(itertools.product((False, True), repeat=len(names)), key=lambda p: (sum(p), p))
    return [dict(zip(names, pick)) for pick in picks]


def _example(run: RunInput, before: Trace, after: Trace) -> dict:
    return {
        "flags": run.flags,
        "flags_hex": hex(run.flags),
        "configs": dict(run.configs),
        "args": [hex(a) for a in run.args],
        "inputs": dict(run.inputs),
        "stub_results": run.mode.name.lower(),
        "before": before.to_dict(),
        "after": after.to_dict(),
    }


def enumerate_pair(
    before: Path,
    after: Path,
    function: str,
    max_bits: int = 12,
    *,
    bits: Iterable[int] | None = None,
    boundary_bits: bool = True,
    stub_results: Sequence[StubResults] = (StubResults.ZERO,),
    max_configs: int = 8,
    timeout_s: int = 3,
    premises: Premises = NO_PREMISES,
    scripted_reads: int = 0,
) -> OracleVerdict:
    """Run ``function`` of both files on every combination of the flag bits
    either side references (plus BOUNDARY_BITS unless ``boundary_bits`` is
    False; or exactly ``bits``) and of every CONFIG switch either side reads,
    once per stub-result mode, and compare the traces.

    ``premises`` add models, an arch layout, pinned switches (never
    enumerated) and assumptions (runs breaking one are left out).  A switch
    tested by ``#if``/``#ifdef`` lines is enumerated by building both sides
    once per valuation (at most MAX_PP_SWITCHES of them).

    ``scripted_reads`` > 0 (and no ``--stable-flags`` premise): when some run
    reads the flag word after an external call, or a run does not finish (a
    loop that waits for the word to change), the pair is run again with the
    words those reads see scripted (see :func:`scripted_runs`): every script
    of up to ``scripted_reads`` words, then 0.  A loop that re-reads the word
    thus runs 1 to ``scripted_reads + 1`` iterations.

    Raises TooManyBits when more than ``max_bits`` bits (``max_configs``
    switches) would be enumerated, OracleError when a side cannot be built.
    """
    switches = preprocessor_switches((before, after), premises)
    if len(switches) > MAX_PP_SWITCHES:
        raise TooManyBits(f"{len(switches)} switches tested by #if lines exceed {MAX_PP_SWITCHES}")
    verdicts = []
    for valuation in _config_choices(switches):
        pinned = dataclasses.replace(premises, pins=premises.pins + tuple(valuation.items()))
        verdict = _enumerate_built(before, after, function, max_bits, bits, boundary_bits, stub_results,
                                   max_configs, timeout_s, pinned, scripted_reads)
        example = verdict.example
        if example is not None and "configs" in example:
            example = {**example, "configs": {**example["configs"], **valuation}}
        verdicts.append(dataclasses.replace(verdict, example=example, configs=tuple(sorted(set(verdict.configs) | set(switches)))))
    status = _combine(v.status for v in verdicts)
    first = next(v for v in verdicts if v.status is status)
    return dataclasses.replace(first, runs=sum(v.runs for v in verdicts))


MAX_PP_SWITCHES = 3
_PP_IF_RE = re.compile(r"^\s*#\s*(?:if|ifdef|ifndef|elif)\b")


def preprocessor_switches(paths: Iterable[Path], premises: Premises = NO_PREMISES) -> tuple[str, ...]:
    """CONFIG switches that ``#if``-family lines of the files (and the
    models) test, the pinned ones left out."""
    names: set[str] = set()
    for path in (*paths, *premises.model_files):
        for line in Path(path).read_text(errors="replace").splitlines():
            if _PP_IF_RE.match(line):
                names |= set(re.findall(r"\bCONFIG_\w+", line))
    return tuple(sorted(names - premises.pinned))


def _enumerate_built(before: Path, after: Path, function: str, max_bits: int, bits: Iterable[int] | None,
                     boundary_bits: bool, stub_results: Sequence[StubResults], max_configs: int, timeout_s: int,
                     premises: Premises, scripted_reads: int = 0) -> OracleVerdict:
    """:func:`enumerate_pair` for one build of each side."""
    with tempfile.TemporaryDirectory(prefix="equiv-oracle-") as tmp:
        seen_b, seen_a = _both(lambda side: analyse(Path(side[0]), function, Path(tmp, side[1]), premises),
                               (before, "caller-b"), (after, "caller-a"))
        caller = caller_view(seen_b)
        fields = field_inputs(caller, (seen_b, seen_a))
        (info_b, exe_b), (info_a, exe_a) = _both(
            lambda side: build(Path(side[0]), function, Path(tmp, side[1]), fields, caller, premises),
            (before, "before"),
            (after, "after"),
        )
        chosen = tuple(sorted(set(bits) if bits is not None else _mined(info_b, info_a, boundary_bits)))
        configs = tuple(sorted((set(info_b.configs) | set(info_a.configs)) - premises.pinned))
        if len(chosen) > max_bits:
            raise TooManyBits(f"{len(chosen)} flag bits {list(chosen)} exceed max_bits={max_bits}; pass bits=")
        if len(configs) > max_configs:
            raise TooManyBits(f"{len(configs)} CONFIG switches exceed max_configs={max_configs}")
        runs = enumeration_runs(caller, (info_b, info_a), chosen, configs, stub_results)
        traces_b, traces_a = _both(lambda exe: execute(exe, runs, timeout_s), exe_b, exe_a)
        verdict = _verdict(runs, traces_b, traces_a, chosen, configs)
        rereads = any(t.rereads for t in (*traces_b, *traces_a))
        stopped = min(len(traces_b), len(traces_a)) < len(runs)
        if scripted_reads <= 0 or premises.stable_flags or not (rereads or stopped):
            return verdict
        mined = tuple(sorted(_mined(info_b, info_a, False) & set(chosen)))
        more = scripted_runs(caller, (info_b, info_a), chosen, mined, configs, scripted_reads)
        traces_b, traces_a = _both(lambda exe: [_unscripted_view(t) for t in execute(exe, more, timeout_s)],
                                   exe_b, exe_a)
    scripted = _verdict(more, traces_b, traces_a, chosen, configs)
    if verdict.status is OracleStatus.TIMEOUT and scripted.status is not OracleStatus.TIMEOUT:
        # the stable rule's runs did not finish (a loop waits for the word to change)
        verdict = dataclasses.replace(verdict, status=OracleStatus.SAME, differs=False, example=None)
    best = min((verdict, scripted), key=lambda v: list(OracleStatus).index(v.status))
    return dataclasses.replace(best, runs=verdict.runs + scripted.runs)


def scripted_runs(caller: CallerView, infos: Sequence[FragmentInfo], bits: Sequence[int], mined: Sequence[int],
                  configs: Sequence[str], depth: int) -> list[RunInput]:
    """Runs whose reads of the flag word after external calls see scripted words.

    Shortest scripts first (the fewest loop iterations), then the fewest bits.
    A script of length 0 or 1 goes with every entry word over ``bits``; longer
    ones, each word over the fragment's own bits ``mined``, with entry words
    over ``mined`` only (the count grows as 2**(len(mined) * (length + 1))).
    The stubs return 0.
    """
    positions = max(len(info.params) for info in infos)
    base = scalar_vectors(caller, infos)[0]
    mined_words = _flag_words(mined)
    runs = []
    for length in range(depth + 1):
        entries = _flag_words(bits) if length <= 1 else mined_words
        for script in itertools.product(mined_words, repeat=length):
            for flags in entries:
                for cfg in _config_choices(configs):
                    runs.append(RunInput(flags, cfg, {}, StubResults.ZERO, (),
                                         caller_args(caller, positions, flags, {}, infos, base),
                                         script=tuple(script)))
    return runs


def _unscripted_view(trace: Trace) -> Trace:
    """A scripted run's trace without what the script, not the code, decides.

    The word a callee sees and the final word (and the memory hashes, which
    include the flag word) are left out: equiv compares them only where a side
    writes the word, and a script applied at reads leaves the word a callee
    sees to the order of the sides' accesses.
    """
    calls = tuple(dataclasses.replace(c, flags_at=None, memory=None) for c in trace.calls)
    return dataclasses.replace(trace, calls=calls, flags=None, memory=None)


def enumeration_runs(caller: CallerView, infos: Sequence[FragmentInfo], bits: Sequence[int],
                     configs: Sequence[str], modes: Sequence[StubResults]) -> list[RunInput]:
    """Every flag word over ``bits`` x config valuation x base input x stub
    mode, fewest flag bits first.  The base inputs: everything zero, then
    (when there are integer arguments or object fields to set) distinct
    positive and distinct negative values for each of them."""
    positions = max(len(info.params) for info in infos)
    fields = field_inputs(caller, infos)
    bases = scalar_vectors(caller, infos)
    if any(p.fill for info in infos for p in info.params) and len(bases) == 1:
        bases = bases * 3
    field_values = [{name: sign * (j + 2) for j, name in enumerate(fields)} for sign in (0, 1, -1)]
    return [
        RunInput(flags, cfg, field_values[k], mode, (), caller_args(caller, positions, flags, {}, infos, base), k)
        for flags in _flag_words(bits)
        for cfg in _config_choices(configs)
        for k, base in enumerate(bases)
        for mode in modes
    ]


def _mined(before: FragmentInfo, after: FragmentInfo, boundary_bits: bool) -> frozenset[int]:
    return before.bits | after.bits | (BOUNDARY_BITS if boundary_bits else frozenset())


def _verdict(
    runs: Sequence[RunInput],
    traces_b: Sequence[Trace],
    traces_a: Sequence[Trace],
    bits: tuple[int, ...],
    configs: tuple[str, ...],
) -> OracleVerdict:
    firsts: dict[OracleStatus, dict] = {}
    for run, tb, ta in zip(runs, traces_b, traces_a):
        status = _pair_status(tb, ta)
        if status is not OracleStatus.SAME:
            firsts.setdefault(status, _example(run, tb, ta))
    if min(len(traces_b), len(traces_a)) < len(runs) and not firsts:
        firsts[OracleStatus.TIMEOUT] = {"error": "driver stopped early"}
    status = _combine(firsts)
    return OracleVerdict(
        status=status,
        differs=status is OracleStatus.DIFFERS,
        example=firsts.get(status),
        runs=min(len(traces_b), len(traces_a)),
        bits=bits,
        configs=configs,
    )


def _parse_int(text: str | int) -> int:
    return text if isinstance(text, int) else int(str(text), 0)


def _side_results(side: Mapping | None) -> tuple[int, ...]:
    calls = (side or {}).get("calls", [])
    return tuple(_parse_int(c["result"]) if c.get("result") is not None else 0 for c in calls)


def _side_leaves(side: Mapping | None) -> tuple[tuple[int, int], ...]:
    """The flag word each call of a counterexample side leaves behind, by call number
    (equiv's ``flags_left``: call numbers from 1)."""
    return tuple((int(item["call"]) - 1, _parse_int(item["flags"]))
                 for item in (side or {}).get("flags_left", []))


def replay(before: Path, after: Path, function: str, cex: Mapping, timeout_s: int = 3,
           premises: Premises = NO_PREMISES) -> ReplayResult:
    """Run both sides once on an equiv counterexample (its ``flags``,
    ``configs``, ``inputs``, and each side's call results by index)."""
    flags = _parse_int(cex["flags"])
    configs = {name: bool(on) for name, on in (cex.get("configs") or {}).items()}
    inputs = {name: _parse_int(v) for name, v in (cex.get("inputs") or {}).items()}
    switches = preprocessor_switches((before, after), premises)
    premises = dataclasses.replace(premises, pins=premises.pins + tuple((n, configs.get(n, False)) for n in switches))

    with tempfile.TemporaryDirectory(prefix="equiv-oracle-") as tmp:
        caller = caller_view(analyse(before, function, Path(tmp, "caller"), premises))
        built = _both(lambda side: build(Path(side[0]), function, Path(tmp, side[1]), inputs, caller, premises),
                      (before, "before"), (after, "after"))
        infos = [info for info, _ in built]
        args = caller_args(caller, max(len(i.params) for i in infos), flags, inputs, infos)

        def run_side(side: tuple[Executable, str]) -> Trace:
            exe, name = side
            run = RunInput(flags, configs, inputs, StubResults.REPLAY, _side_results(cex.get(name)), args,
                           leaves=_side_leaves(cex.get(name)))
            return execute(exe, [run], timeout_s)[0]

        traces = _both(run_side, (built[0][1], "before"), (built[1][1], "after"))
    status = _pair_status(*traces)
    return ReplayResult(status, status is OracleStatus.DIFFERS, traces[0], traces[1])
