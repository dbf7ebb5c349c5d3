"""Headers a side reads: kernel-tree include paths, stubs, and fallbacks that fired on a stub.

An `#include` that no directory in reach provides is read as an empty stub
(equiv.frontend.source), so that a fragment copied out of a kernel tree can be
checked without one.  A stub is never silent: every stub gcc entered is a
premise of the side's verdicts, and an `#ifndef X` / `#define X` fallback that
fired after a stub was entered gets a warning naming X and the stubs, because
the real header may have defined X otherwise (the case of
`ARCH_SYSCALL_EXIT_WORK`, `(0)` by fallback but `_TIF_SINGLESTEP` on x86).

With a kernel tree (`--tree LINUX --arch ARCH`), includes resolve as the
kernel's own build resolves them (`tree_include_dirs`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from equiv.errors import InputError, Location

_LINEMARKER = re.compile(r'^#\s*(\d+)\s+"((?:[^"\\]|\\.)*)"')
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)")
_CONDITIONAL = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b[ \t]*(.*)$")
_NOT_DEFINED = re.compile(r"^(?:!\s*defined\s*\(?\s*(\w+)\s*\)?\s*)$")

# The kernel's include path for an architecture (scripts/Makefile, LINUXINCLUDE), in order.
TREE_INCLUDES = ("arch/{arch}/include", "arch/{arch}/include/generated", "include",
                 "arch/{arch}/include/uapi", "arch/{arch}/include/generated/uapi",
                 "include/uapi", "include/generated/uapi")
# equiv's names for an architecture -> the kernel's arch/ directory.
TREE_ARCH_DIRS = {"x86_64": "x86", "arm64": "arm64", "riscv": "riscv", "s390": "s390",
                  "loongarch": "loongarch"}


def tree_include_dirs(tree: str, arch: str | None) -> tuple[str, ...]:
    """The include directories of kernel tree `tree` for `arch`, as the kernel build uses them.

    Directories that do not exist (no `generated/` before a build) are left out.
    """
    if not any(os.path.isdir(os.path.join(tree, d)) for d in ("include", "arch")):
        raise InputError(None, f"--tree {tree}: not a kernel tree (it has neither include/ "
                               f"nor arch/)")
    if arch is None:
        raise InputError(None, "--tree needs --arch (the architecture whose arch/ARCH/include "
                               "the build uses)")
    if "@" in arch:
        name, _, version = arch.partition("@")
        raise InputError(None, f"--tree reads the flag layout from the tree: give --arch {name} "
                               f"(a baked layout such as @{version} is for checks without --tree)")
    arch_dir = TREE_ARCH_DIRS.get(arch, arch)
    if not os.path.isdir(os.path.join(tree, "arch", arch_dir)):
        raise InputError(None, f"--tree {tree}: has no arch/{arch_dir} for --arch {arch}")
    dirs = [os.path.join(tree, d.format(arch=arch_dir)) for d in TREE_INCLUDES]
    return tuple(d for d in dirs if os.path.isdir(d))


@dataclass(frozen=True)
class Fallback:
    """`#ifndef NAME` whose block defines NAME: a default for what a header did not say."""

    name: str
    path: str  # as the preprocessor spells it in line markers
    line: int  # of the #ifndef
    define_line: int  # of the #define inside it


def fallbacks(path: str, text: str) -> list[Fallback]:
    """The `#ifndef X ... #define X` fallbacks of one file (also `#if !defined(X)`)."""
    out: list[Fallback] = []
    open_blocks: list[tuple[str | None, int]] = []  # (guarded name, line) per nested #if
    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        m = _CONDITIONAL.match(raw)
        if m is not None:
            kind, rest = m.group(1), m.group(2).split("/*")[0].split("//")[0].strip()
            if kind in ("if", "ifdef", "ifndef"):
                guarded = rest.split()[0] if kind == "ifndef" and rest else None
                if kind == "if":
                    hit = _NOT_DEFINED.match(rest)
                    guarded = hit.group(1) if hit else None
                open_blocks.append((guarded, number))
            elif kind in ("elif", "else") and open_blocks:
                open_blocks[-1] = (None, open_blocks[-1][1])
            elif kind == "endif" and open_blocks:
                open_blocks.pop()
            continue
        d = _DEFINE.match(raw)
        if d is not None and open_blocks and open_blocks[-1][0] == d.group(1):
            guarded, start = open_blocks[-1]
            if not _is_include_guard(lines, start, d.group(1)):
                out.append(Fallback(d.group(1), path, start, number))
    return out


def _is_include_guard(lines: list[str], start: int, name: str) -> bool:
    """`#ifndef _LINUX_X_H / #define _LINUX_X_H` at the top of a header guards it: no fallback."""
    before = [line for line in lines[:start - 1] if line.strip() and not line.strip().startswith(
        ("/*", "*", "//"))]
    return not before and (name.endswith(("_H", "_H_")) or name.startswith("__"))


@dataclass(frozen=True)
class StubReport:
    """What the side's preprocessed text says about stubs."""

    stubs: tuple[str, ...]  # header names gcc entered as empty stubs, in order
    warnings: tuple[str, ...]  # one per fallback that fired after a stub


def stub_report(preprocessed: str, stub_dir: str, known: list[Fallback]) -> StubReport:
    """The stubs gcc entered and the fallbacks in `known` that fired after one.

    A fallback fired when gcc's `-dD` output holds its `#define` at its line;
    it is reported when at least one stub was entered before that point.
    """
    prefix = stub_dir.rstrip("/") + "/"
    by_place = {(f.path, f.define_line): f for f in known}
    stubs: dict[str, None] = {}
    warnings: list[str] = []
    file, line = "", 0
    for text in preprocessed.split("\n"):
        m = _LINEMARKER.match(text)
        if m is not None:
            file, line = m.group(2), int(m.group(1))
            if file.startswith(prefix):
                stubs.setdefault(file[len(prefix):], None)
            continue
        d = _DEFINE.match(text)
        if d is not None and stubs:
            hit = by_place.get((file, line))
            if hit is not None and hit.name == d.group(1):
                warnings.append(fallback_warning(hit, tuple(stubs)))
        line += 1
    return StubReport(tuple(stubs), tuple(dict.fromkeys(warnings)))


def fallback_warning(hit: Fallback, stubs: tuple[str, ...]) -> str:
    """The warning text for a fallback that fired after `stubs` were read as empty."""
    named = ", ".join(f"<{s}>" for s in stubs)
    was = "was" if len(stubs) == 1 else "were"
    return (f"{Location(hit.path, hit.line)}: the '#ifndef {hit.name}' fallback was used, "
            f"but {named} {was} stubbed (empty); the real header may define {hit.name} "
            f"otherwise (give it with -I DIR or --tree, or --no-stubs to refuse stubs)")


def refuse_stubs(stubs: tuple[str, ...], missing: dict[str, Location]) -> None:
    """--no-stubs: a header that no directory provides is an error at its first include."""
    if not stubs:
        return
    name = stubs[0]
    raise InputError(missing.get(name), f"#include <{name}>: no header in reach provides it, "
                                         f"and --no-stubs refuses an empty stub (give the "
                                         f"header with -I DIR or --tree)")


# ---- type names no header declares -----------------------------------------------------------

MAX_UNKNOWN_TYPES = 32  # parse attempts that may each declare one more unknown type name
_C_WORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while _Bool".split())
_IDENT_AT = re.compile(r"[A-Za-z_]\w*")
_IDENT_BEFORE = re.compile(r"([A-Za-z_]\w*)[\s)]*$")


def unknown_type_name(err: InputError, line: str | None, known: set[str]) -> str | None:
    """The identifier a syntax error shows used as a type that nothing declares, or None.

    pycparser reports an unknown type name either at the name (`Missing type in
    declaration`, `Invalid declaration`) or at the next token (`before: x` in
    `compat_ulong_t x` or `(compat_long_t)v`); both are tried.
    """
    loc = err.location
    if line is None or loc is None or not loc.column or "syntax error" not in err.message:
        return None
    at = _IDENT_AT.match(line, loc.column - 1)
    rest = line[at.end():] if at else ""
    if at and re.match(r"\s*(?:[A-Za-z_*(]|\)\s*[A-Za-z_(])", rest):
        candidate = at.group(0)
    else:
        before = _IDENT_BEFORE.search(line[:loc.column - 1])
        candidate = before.group(1) if before else ""
    if not candidate or candidate in _C_WORDS or candidate in known:
        return None
    return candidate


def opaque_type_prologue(names: list[str]) -> str:
    """Declarations that make each unknown type name an incomplete struct: equiv refuses
    any value of it where a checked function reaches one."""
    lines = "".join(f"typedef struct __equiv_opaque_type_{n} {n};\n" for n in names)
    return f'# 1 "<equiv-types>"\n{lines}' if names else ""


# ---- clashes with a layout ------------------------------------------------------------------

_ENUM_BODY = re.compile(r"\benum\s*\w*\s*\{([^}]*)\}", re.DOTALL)
_ENUMERATOR = re.compile(r"(?:^|,)\s*([A-Za-z_]\w*)")


@dataclass(frozen=True)
class Clash:
    """A layout macro that the side declares itself as an enumerator."""

    name: str
    where: Location  # the side's enum
    layout: Location  # the layout's #define

    def note(self) -> str:
        layout = str(self.layout)
        shipped = layout.rfind("/models/arch/")
        layout = layout[shipped + 1:] if shipped >= 0 else layout  # no machine paths
        return (f"{self.where}: {self.name} is an enumerator here and a macro of the "
                f"layout at {layout}; the side's own definition is used")


def enumerator_clashes(files: list[tuple[str, str]],
                       layout: dict[str, Location]) -> list[Clash]:
    """Layout macros (`layout`: name -> its #define) that an enum of `files` declares.

    The macro would turn the enumerator into a number (`enum { 0, ... }`, a syntax
    error): it is undefined before the side's code instead, and the clash is a note.
    """
    out: dict[str, Clash] = {}
    for path, text in files:
        code = re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: "\n" * m.group(0).count("\n"), text,
                      flags=re.DOTALL)
        for body in _ENUM_BODY.finditer(code):
            for m in _ENUMERATOR.finditer(body.group(1)):
                name = m.group(1)
                if name in layout and name not in out:
                    line = code.count("\n", 0, body.start(1) + m.start(1)) + 1
                    out[name] = Clash(name, Location(path, line), layout[name])
    return list(out.values())


# ---- the flag layout of a kernel tree ----------------------------------------------------

_LAYOUT_NAME = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(_?TIF_\w+|HAVE_TIF_\w+|SYSCALL_WORK_\w+)\b")
_CONFIG_TEST = re.compile(r"\b(?:IS_ENABLED|IS_BUILTIN|IS_REACHABLE)\s*\(")
_LAYOUT_FILES = ("arch/{arch}/include/asm/thread_info.h", "include/asm-generic/thread_info_tif.h")
_WORK_FILE = "include/linux/thread_info.h"
_WORK_ENUM = re.compile(r"enum\s+syscall_work_bit\s*\{[^}]*\}\s*;", re.DOTALL)
_LAYOUTS: dict[tuple[str, str], tuple[str, ...]] = {}


def tree_layout(tree: str | None, arch: str | None) -> tuple[str, ...]:
    """Force-included headers with the flag layout of `tree` for `arch`.

    The layout is read from the tree's own headers, never from a baked table:
    every `#define` of a `TIF_*`, `_TIF_*` or `HAVE_TIF_*` name in
    `arch/ARCH/include/asm/thread_info.h` (and `asm-generic/thread_info_tif.h`
    where the tree has it), with the conditionals around them, and
    `enum syscall_work_bit` with the `SYSCALL_WORK_*` masks of
    `include/linux/thread_info.h`.  The extract is written to a private
    directory that lives as long as the process.
    """
    if tree is None or arch is None:
        return ()
    key = (os.path.realpath(tree), arch)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = _write_layout(tree, arch)
    return _LAYOUTS[key]


def _write_layout(tree: str, arch: str) -> tuple[str, ...]:
    import atexit
    import shutil
    import tempfile

    from equiv.frontend.confine import read_bytes, vouch

    arch_dir = TREE_ARCH_DIRS.get(arch, arch)
    parts = []
    for rel in _LAYOUT_FILES:
        path = os.path.join(tree, rel.format(arch=arch_dir))
        if os.path.isfile(path):
            text = read_bytes(path).decode("utf-8", errors="replace")
            parts.append(f'# 1 "{path}"\n' + _layout_lines(text))
    if not parts:
        raise InputError(None, f"--tree {tree}: no arch/{arch_dir}/include/asm/thread_info.h "
                               f"to read the thread-flag layout from")
    work = os.path.join(tree, _WORK_FILE)
    if os.path.isfile(work):
        text = read_bytes(work).decode("utf-8", errors="replace")
        enum = _WORK_ENUM.search(text)
        lines = [line for line in _layout_lines(text).splitlines()
                 if not line.lstrip().startswith("#") or "SYSCALL_WORK_" in line]
        parts.append(f'# 1 "{work}"\n' + (enum.group(0) if enum else "") + "\n"
                     + "\n".join(lines) + "\n")
    directory = tempfile.mkdtemp(prefix="equiv-layout-")
    atexit.register(shutil.rmtree, directory, True)
    target = os.path.join(directory, f"{arch}-tree-layout.h")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(f"/* The thread-flag layout of {tree}, extracted by equiv. */\n")
        handle.write("\n".join(parts))
    vouch(target)
    return (target,)


def _layout_lines(text: str) -> str:
    """The layout `#define`s of `text` and the conditionals that enclose them."""
    out: list[str] = []
    lines = _joined(text)
    for line in lines:
        stripped = line.lstrip()
        if _LAYOUT_NAME.match(line):
            out.append(line.split("/*")[0].split("//")[0].rstrip())
        elif _CONDITIONAL.match(line):
            # Include guards and __ASSEMBLY__ tests are true for C; the structure stays.
            guard = re.match(r"#\s*ifndef\s+_", stripped) is not None
            # As in the sides' own #if lines, a config test is `defined`.
            out.append("#if 1" if guard else _CONFIG_TEST.sub("defined(", line))
    return _balanced(out)


def _joined(text: str) -> list[str]:
    """Lines with backslash continuations joined and block comments dropped."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.DOTALL)
    return text.replace("\\\n", " ").splitlines()


def _balanced(lines: list[str]) -> str:
    """`lines` with conditionals balanced (an include guard's #endif has no #if here)."""
    depth = 0
    out = []
    for line in lines:
        kind = _CONDITIONAL.match(line)
        word = kind.group(1) if kind else ""
        if word in ("if", "ifdef", "ifndef"):
            depth += 1
        elif word in ("elif", "else") and depth == 0:
            continue
        elif word == "endif":
            if depth == 0:
                continue
            depth -= 1
        out.append(line)
    return "\n".join(out + ["#endif"] * depth) + "\n"
