"""The front end, seen from the command line: what input equiv accepts and how it rejects the rest.

Hostile input must end with exit code 2 and a `file:line[:col]: error:` line
naming the user's own file (or header) and the right line, never a traceback.
Kernel-style input (annotations, masks, local headers) must get a real verdict.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_support import (  # noqa: E402
    assert_located_error,
    assert_no_internal_names,
    assert_no_traceback,
    assert_only_known_temp_paths,
    check,
    describe,
    located_errors,
    write,
)


def check_self(path: Path, *options: object) -> subprocess.CompletedProcess[str]:
    """`equiv check PATH PATH`: the identity check."""
    return check(path, path, *options)


# ---- files that are not C --------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.c", "")
    proc = check_self(empty)
    assert proc.returncode == 2, describe(proc)
    assert_no_traceback(proc)
    assert_no_internal_names(proc)
    errors = [line for line in proc.stderr.splitlines()
              if line.startswith((f"{empty}:", "equiv: error: "))]
    assert errors and "error: " in errors[0], describe(proc)
    assert re.search(r"no function", errors[0]), describe(proc)


def test_binary_junk(tmp_path: Path) -> None:
    junk = tmp_path / "junk.c"
    junk.write_bytes(random.Random(2024).randbytes(4096) + b"\0\0\0")
    proc = check_self(junk)
    assert_located_error(proc, junk, 1, r"binary|not a C")


def test_invalid_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.c"
    bad.write_bytes(b"int f(int x)\n{\n\treturn x; /* caf\xe9 */\n}\n")
    proc = check_self(bad)
    assert_located_error(proc, bad, 3, r"UTF-8|not a C")


# ---- preprocessor and parser errors ----------------------------------------


def test_syntax_error_missing_semicolon(tmp_path: Path) -> None:
    source = write(tmp_path, "semi.c", "int f(int x)\n{\n\tint y = 1\n\treturn x + y;\n}\n")
    proc = check_self(source)
    # gcc blames line 3 (where `;` is missing), pycparser line 4 (the token after).
    assert_located_error(proc, source, {3, 4}, r"syntax")


def test_syntax_error_incomplete_expression(tmp_path: Path) -> None:
    source = write(tmp_path, "expr.c", "int f(int x)\n{\n\treturn x +;\n}\n")
    proc = check_self(source)
    assert_located_error(proc, source, 3, r"syntax")


def test_unterminated_comment(tmp_path: Path) -> None:
    source = write(tmp_path, "comment.c",
                   "int f(int x)\n{\n\treturn x;\n}\n\n/* never closed\nint g;\n")
    proc = check_self(source)
    assert_located_error(proc, source, 6, r"unterminated comment")


def test_error_directive(tmp_path: Path) -> None:
    source = write(tmp_path, "err.c",
                   "int f(int x)\n{\n\treturn x;\n}\n#error this tree is not configured\n")
    proc = check_self(source)
    assert_located_error(proc, source, 5, r"this tree is not configured")


def test_if_without_endif(tmp_path: Path) -> None:
    source = write(tmp_path, "ifnoend.c",
                   "/* a fragment */\n#ifdef CONFIG_AUDIT\nint f(int x)\n{\n\treturn x;\n}\n")
    proc = check_self(source)
    assert_located_error(proc, source, 2, r"unterminated #if")


# ---- constructs outside the supported subset -------------------------------

# (source, lines the error may name, what the message must say)
UNSUPPORTED = {
    "function-as-value": (
        "void g(int);\n\nint f(int x)\n{\n"
        "\tvoid (*p)(int) = g;\n\n\tp(x);\n\treturn x;\n}\n",
        {5}, r"function pointer"),
    "double": (
        "int f(int x)\n{\n\tdouble d = x;\n\n\treturn d > 1.0;\n}\n",
        {3}, r"floating"),
    "asm-goto": (
        "int f(int x)\n{\n\tasm goto(\"nop\" : : : : out);\n\treturn x;\nout:\n"
        "\treturn 0;\n}\n",
        {3}, r"asm goto"),
    "computed-goto": (
        "int f(int x)\n{\n\tvoid *p = x ? &&a : &&b;\n\n\tgoto *p;\na:\n\treturn 1;\n"
        "b:\n\treturn 2;\n}\n",
        {3, 5}, r"goto|label"),
    "variable-length-array": (
        "int f(int n)\n{\n\tint a[n];\n\n\ta[0] = 1;\n\treturn a[0];\n}\n",
        {3}, r"array|\[\]|variable.length"),
    "auto-type-without-initializer": (
        "int f(int x)\n{\n\t__auto_type y;\n\n\ty = x;\n\treturn y;\n}\n",
        {3}, r"__auto_type"),
}

UNSUPPORTED_BUGS: dict[str, str] = {}  # construct -> "equiv bug: ..." (strict xfail)


def _unsupported_params() -> list[object]:
    params: list[object] = []
    for name in UNSUPPORTED:
        marks = ([pytest.mark.xfail(strict=True, reason=UNSUPPORTED_BUGS[name])]
                 if name in UNSUPPORTED_BUGS else [])
        params.append(pytest.param(name, id=name, marks=marks))
    return params


@pytest.mark.parametrize("construct", _unsupported_params())
def test_unsupported_construct_is_a_located_error(tmp_path: Path, construct: str) -> None:
    text, lines, message = UNSUPPORTED[construct]
    source = write(tmp_path, f"{construct}.c", text)
    proc = check_self(source)
    error = assert_located_error(proc, source, lines, r"unsupported")
    assert re.search(message, error.group("message"), re.I), describe(proc)


def test_direct_recursion(tmp_path: Path) -> None:
    source = write(tmp_path, "rec.c",
                   "int f(int x)\n{\n\tif (x)\n\t\treturn f(x - 1);\n\treturn 0;\n}\n")
    proc = check_self(source)
    assert_located_error(proc, source, 4, r"recursi")


MUTUAL = """\
int g(int x);

int f(int x)
{
\tif (x)
\t\treturn g(x - 1);
\treturn 0;
}

int g(int x)
{
\treturn f(x);
}
"""


def test_mutual_recursion_below_a_root(tmp_path: Path) -> None:
    source = write(tmp_path, "mutual.c", MUTUAL + "\nint exit_work(int x)\n{\n\treturn f(x);\n}\n")
    proc = check_self(source)
    assert_located_error(proc, source, {6, 12}, r"recursi")


def test_mutual_recursion_chosen_with_function(tmp_path: Path) -> None:
    source = write(tmp_path, "mutual.c", MUTUAL)
    proc = check_self(source, "--function", "f")
    assert_located_error(proc, source, {6, 12}, r"recursi")


def test_mutual_recursion_without_a_root(tmp_path: Path) -> None:
    source = write(tmp_path, "mutual.c", MUTUAL)
    proc = check_self(source)
    assert_located_error(proc, source, {6, 12}, r"recursi")


def test_unused_incomplete_mask_macro_is_harmless(tmp_path: Path) -> None:
    # gcc compiles this: a macro nobody expands is never parsed as C.
    source = write(tmp_path, "macro.c", "#define EXIT_WORK_MASK (1 |\n\nint f(int x)\n{\n"
                                        "\treturn x;\n}\n")
    proc = check_self(source)
    assert_no_internal_names(proc)
    assert proc.returncode == 0, describe(proc)


def test_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    source = tmp_path / "dos.c"
    source.write_bytes(b"int f(int x)\r\n{\r\n\treturn x;\r\n}\r\n")
    proc = check_self(source)
    assert proc.returncode == 0, describe(proc)
    assert "f: EQUIVALENT" in proc.stdout, describe(proc)


# ---- kernel-style input that must work -------------------------------------

LOCAL_H = """\
/* Thread flag numbers, as arch/arm64/include/asm/thread_info.h lays them out. */
#ifndef __FRAGMENT_LOCAL_H
#define __FRAGMENT_LOCAL_H

enum {
\tTIF_SIGPENDING = 0,
\tTIF_NEED_RESCHED = 1,
\tTIF_NOTIFY_RESUME = 2,
\tTIF_SYSCALL_TRACE = 8,
\tTIF_SYSCALL_AUDIT = 9,
\tTIF_SYSCALL_TRACEPOINT = 10,
\tTIF_SECCOMP = 11,
\tTIF_SYSCALL_EMU = 12,
\tTIF_SINGLESTEP = 21,
};

#endif /* __FRAGMENT_LOCAL_H */
"""

PTRACE_C = """\
// SPDX-License-Identifier: GPL-2.0-only
/*
 * A syscall-exit fragment written in the style of arch/arm64/kernel/ptrace.c
 * and arch/arm64/include/asm/syscall.h.
 */
#include <linux/audit.h>
#include <linux/ptrace.h>
#include <asm/syscall.h>
#include "local.h"

#define _TIF_SYSCALL_TRACE\t(1UL << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_AUDIT\t(1UL << TIF_SYSCALL_AUDIT)
#define _TIF_SYSCALL_TRACEPOINT\t(1UL << TIF_SYSCALL_TRACEPOINT)
#define _TIF_SECCOMP\t\t(1UL << TIF_SECCOMP)
#define _TIF_SYSCALL_EMU\tBIT(TIF_SYSCALL_EMU)
#define _TIF_SINGLESTEP\t\tBIT(TIF_SINGLESTEP)

#define _TIF_SYSCALL_WORK\t(_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT | \\
\t\t\t\t _TIF_SYSCALL_TRACEPOINT | _TIF_SECCOMP | \\
\t\t\t\t _TIF_SYSCALL_EMU)

#define PTRACE_SYSCALL_EXIT\t1
#define NO_SYSCALL\t\t(-1)

struct pt_regs {
\tunsigned long regs[31];
\tunsigned long sp;
\tunsigned long pc;
\tint syscallno;
};

void audit_syscall_exit(struct pt_regs *regs);
void trace_sys_exit(struct pt_regs *regs, long ret);
void report_syscall(struct pt_regs *regs, int dir);
void rseq_syscall(struct pt_regs *regs);
void user_rewind_single_step(struct task_struct *task);

static __always_inline long syscall_get_return_value(struct task_struct *task,
\t\t\t\t\t\t     struct pt_regs *regs)
{
\tunsigned long val = regs->regs[0];

\treturn val;
}

static __always_inline __must_check bool report_single_step(unsigned long flags)
{
\treturn likely(!(flags & _TIF_SYSCALL_EMU)) && (flags & _TIF_SINGLESTEP);
}

static inline int syscall_exit_kind(struct pt_regs *regs) __attribute__((unused));

static inline int syscall_exit_kind(struct pt_regs *regs)
{
\tswitch (regs->syscallno) {
\tcase NO_SYSCALL:
\t\treturn 0;
\tcase 0:
\t\treturn 1;
\tdefault:
\t\treturn 2;
\t}
}

void noinstr syscall_trace_exit(struct pt_regs *regs)
{
\tunsigned long flags = read_thread_flags();
\tint kind = syscall_exit_kind(regs);

\tif (unlikely(!(flags & _TIF_SYSCALL_WORK)))
\t\tgoto out;

\taudit_syscall_exit(regs);

\tif (flags & _TIF_SYSCALL_TRACEPOINT)
\t\ttrace_sys_exit(regs, syscall_get_return_value(current, regs));

\tif (kind != 0 && (flags & (1UL << TIF_SYSCALL_TRACE)))
\t\treport_syscall(regs, PTRACE_SYSCALL_EXIT);
\telse if (report_single_step(flags))
\t\tuser_rewind_single_step(current);

out:
\tif (IS_ENABLED(CONFIG_DEBUG_RSEQ))
\t\trseq_syscall(regs);
}
"""

# The one-bit change: _TIF_SECCOMP leaves the work mask.
PTRACE_C_NO_SECCOMP = PTRACE_C.replace("_TIF_SYSCALL_TRACEPOINT | _TIF_SECCOMP | \\",
                                       "_TIF_SYSCALL_TRACEPOINT | \\")


def kernel_pair(tmp_path: Path) -> tuple[Path, Path]:
    write(tmp_path, "local.h", LOCAL_H)
    return (write(tmp_path, "ptrace.before.c", PTRACE_C),
            write(tmp_path, "ptrace.after.c", PTRACE_C_NO_SECCOMP))


def test_kernel_style_fragment_is_equivalent_to_itself(tmp_path: Path) -> None:
    before, _ = kernel_pair(tmp_path)
    proc = check_self(before)
    assert proc.returncode == 0, describe(proc)
    assert_no_traceback(proc)
    assert re.search(r"^syscall_trace_exit: EQUIVALENT$", proc.stdout, re.M), describe(proc)
    # A mask that is the same on both sides is not printed (the JSON report keeps it).
    assert "mask _TIF_SYSCALL_WORK" not in proc.stdout, describe(proc)


@pytest.mark.parametrize("swapped", [False, True], ids=["forward", "swapped"])
def test_kernel_style_one_bit_change_is_found(tmp_path: Path, swapped: bool) -> None:
    before, after = kernel_pair(tmp_path)
    if swapped:
        before, after = after, before
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    assert_no_traceback(proc)
    assert_only_known_temp_paths(proc, tmp_path)
    assert re.search(r"^syscall_trace_exit: NOT EQUIVALENT$", proc.stdout, re.M), describe(proc)
    assert "counterexample: flags=0x800 (_TIF_SECCOMP)\n" in proc.stdout, describe(proc)
    assert ("dropped: _TIF_SECCOMP" if not swapped else "added:   _TIF_SECCOMP") \
        in proc.stdout, describe(proc)


def test_masks_from_a_local_header_name_the_bits(tmp_path: Path) -> None:
    defines = PTRACE_C[PTRACE_C.index("#define _TIF_SYSCALL_TRACE"):
                       PTRACE_C.index("#define _TIF_SYSCALL_WORK")]
    write(tmp_path, "local.h", LOCAL_H.replace("#endif", defines + "#endif"))
    before = write(tmp_path, "before.c", PTRACE_C.replace(defines, ""))
    after = write(tmp_path, "after.c", PTRACE_C_NO_SECCOMP.replace(defines, ""))
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    assert "counterexample: flags=0x800 (_TIF_SECCOMP)\n" in proc.stdout, describe(proc)


# ---- diagnostics inside a user header --------------------------------------

MAIN_USING_HEADER = "#include <linux/audit.h>\n#include \"local.h\"\n\nint f(int x)\n{\n" \
                    "\treturn helper(x);\n}\n"

# (local.h text, the line of local.h the error must name, what the message must say)
HEADER_ERRORS = {
    "error-directive": ("/* local.h */\n#define X 1\n#error local.h is broken\n",
                        {3}, r"local\.h is broken"),
    "syntax-error": ("/* local.h */\nstatic inline int helper(int x)\n{\n\tint y = 1\n"
                     "\treturn x + y;\n}\n", {4, 5}, r"syntax"),
    "unsupported": ("/* local.h */\nstatic inline int helper(int x)\n{\n\tdouble d = x;\n"
                    "\treturn d > 1.0;\n}\n", {4}, r"floating"),
    "unterminated-if": ("/* local.h */\n#if 1\nstatic inline int helper(int x)\n{\n"
                        "\treturn x;\n}\n", {2}, r"unterminated"),
    "recursion": ("/* local.h */\nstatic inline int helper(int x)\n{\n\tif (x)\n"
                  "\t\treturn helper(x - 1);\n\treturn 0;\n}\n", {5}, r"recursi"),
}


@pytest.mark.parametrize("case", list(HEADER_ERRORS))
def test_error_in_local_header_names_the_header(tmp_path: Path, case: str) -> None:
    header_text, lines, message = HEADER_ERRORS[case]
    header = write(tmp_path, "local.h", header_text)
    source = write(tmp_path, "main.c", MAIN_USING_HEADER)
    proc = check_self(source)
    assert_located_error(proc, header, lines, message)
    assert not [m for m in located_errors(proc) if m.group("file") == str(source)], \
        describe(proc)
