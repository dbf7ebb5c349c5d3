"""Sides made of several files: `syscall.h+ptrace.c` and a directory.

The case is the arm64 seed "[PATCH v16 11/18] arm64: ptrace: Align syscall
exit work semantics with generic entry" split the way the kernel splits it:
the inline caller `syscall_exit_to_user_mode_work()` in `syscall.h`, the
callee `syscall_exit_work()` in `ptrace.c`, and the bits and masks in a local
`thread_info.h` that both include with `#include "thread_info.h"`.  The
patch moves `rseq_syscall()` from `ptrace.c` into `syscall.h`, so the two
sides' calls come from different files.  Every file is written under
`tmp_path`; equiv runs in a subprocess as a user would run it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_support import (  # noqa: E402
    assert_located_error,
    assert_no_internal_names,
    assert_no_traceback,
    assert_only_known_temp_paths,
    check,
    describe,
    write,
)

THREAD_INFO_BITS = """\
/* arch/arm64/include/asm/thread_info.h: the syscall work bits. */
#ifndef __ASM_THREAD_INFO_H
#define __ASM_THREAD_INFO_H

#define TIF_SYSCALL_TRACE\t8\t/* syscall trace active */
#define TIF_SYSCALL_AUDIT\t9\t/* syscall auditing */
#define TIF_SYSCALL_TRACEPOINT\t10\t/* syscall tracepoint for ftrace */
#define TIF_SECCOMP\t\t11\t/* syscall secure computing */
#define TIF_SYSCALL_EMU\t\t12\t/* syscall emulation active */
#define TIF_SINGLESTEP\t\t21

#define _TIF_SYSCALL_TRACE\t(1 << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_AUDIT\t(1 << TIF_SYSCALL_AUDIT)
#define _TIF_SYSCALL_TRACEPOINT\t(1 << TIF_SYSCALL_TRACEPOINT)
#define _TIF_SECCOMP\t\t(1 << TIF_SECCOMP)
#define _TIF_SYSCALL_EMU\t(1 << TIF_SYSCALL_EMU)
#define _TIF_SINGLESTEP\t\t(1 << TIF_SINGLESTEP)

#define _TIF_SYSCALL_WORK\t(_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT | \\
\t\t\t\t _TIF_SYSCALL_TRACEPOINT | _TIF_SECCOMP | \\
\t\t\t\t _TIF_SYSCALL_EMU)
"""

THREAD_INFO_END = "\n#endif /* __ASM_THREAD_INFO_H */\n"

EXIT_WORK_MASK = """
#define _TIF_SYSCALL_EXIT_WORK\t(_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT | \\
\t\t\t\t _TIF_SYSCALL_TRACEPOINT)
"""

THREAD_INFO_BEFORE = THREAD_INFO_BITS + THREAD_INFO_END
THREAD_INFO_AFTER = THREAD_INFO_BITS + EXIT_WORK_MASK + THREAD_INFO_END

SYSCALL_H_BEFORE = """\
/* arch/arm64/include/asm/syscall.h */
#ifndef __ASM_SYSCALL_H
#define __ASM_SYSCALL_H

#include <linux/audit.h>
#include "thread_info.h"

void syscall_exit_work(struct pt_regs *regs, unsigned long flags);

static __always_inline void syscall_exit_to_user_mode_work(struct pt_regs *regs)
{
\tunsigned long flags = read_thread_flags();

\tsyscall_exit_work(regs, flags);
}

#endif /* __ASM_SYSCALL_H */
"""

SYSCALL_H_AFTER = """\
/* arch/arm64/include/asm/syscall.h */
#ifndef __ASM_SYSCALL_H
#define __ASM_SYSCALL_H

#include <linux/audit.h>
#include <linux/rseq.h>
#include "thread_info.h"

void rseq_syscall(struct pt_regs *regs);
void syscall_exit_work(struct pt_regs *regs, unsigned long flags);

static __always_inline void syscall_exit_to_user_mode_work(struct pt_regs *regs)
{
\tunsigned long flags = read_thread_flags();

\trseq_syscall(regs);

\tif (unlikely(flags & _TIF_SYSCALL_EXIT_WORK) || flags & _TIF_SINGLESTEP)
\t\tsyscall_exit_work(regs, flags);
}

#endif /* __ASM_SYSCALL_H */
"""
SYSCALL_H_AFTER_RSEQ_LINE = 16

PTRACE_C_HEAD = """\
/* arch/arm64/kernel/ptrace.c */
#include <linux/audit.h>
#include <linux/rseq.h>
#include <trace/events/syscalls.h>
#include "thread_info.h"

void rseq_syscall(struct pt_regs *regs);
void audit_syscall_exit(void *pt_regs);
void trace_sys_exit(struct pt_regs *regs, long ret);
long syscall_get_return_value(struct task_struct *task, struct pt_regs *regs);
void report_syscall_exit(struct pt_regs *regs);

static inline bool report_single_step(unsigned long flags)
{
\tif (flags & _TIF_SYSCALL_EMU)
\t\treturn false;

\treturn flags & _TIF_SINGLESTEP;
}

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
\tbool step;

"""

PTRACE_C_TAIL = """\
\taudit_syscall_exit(regs);

\tif (flags & _TIF_SYSCALL_TRACEPOINT)
\t\ttrace_sys_exit(regs, syscall_get_return_value(current, regs));

\tstep = report_single_step(flags);
\tif (step || flags & _TIF_SYSCALL_TRACE)
\t\treport_syscall_exit(regs);
}
"""

PTRACE_C_BEFORE = PTRACE_C_HEAD + "\trseq_syscall(regs);\n\n" + PTRACE_C_TAIL
PTRACE_C_BEFORE_RSEQ_LINE = 25
PTRACE_C_BEFORE_AUDIT_LINE = 27
PTRACE_C_AFTER = PTRACE_C_HEAD + PTRACE_C_TAIL

FUNCTION = "syscall_exit_to_user_mode_work"


def write_side(directory: Path, syscall_h: str, thread_info_h: str, ptrace_c: str) -> Path:
    """The three files of one side in `directory`; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    write(directory, "thread_info.h", thread_info_h)
    write(directory, "syscall.h", syscall_h)
    write(directory, "ptrace.c", ptrace_c)
    return directory


def write_before(tmp_path: Path) -> Path:
    return write_side(tmp_path / "before", SYSCALL_H_BEFORE, THREAD_INFO_BEFORE, PTRACE_C_BEFORE)


def write_after(tmp_path: Path, syscall_h: str = SYSCALL_H_AFTER) -> Path:
    return write_side(tmp_path / "after", syscall_h, THREAD_INFO_AFTER, PTRACE_C_AFTER)


def joined(side: Path) -> str:
    """The side as `syscall.h+ptrace.c`."""
    return f"{side / 'syscall.h'}+{side / 'ptrace.c'}"


def only_function(report: dict[str, Any]) -> dict[str, Any]:
    entries = [f for f in report["functions"] if f["function"] == FUNCTION]
    assert len(entries) == 1, json.dumps(report, indent=1)
    return entries[0]


def test_joined_side_finds_the_audit_difference(tmp_path: Path) -> None:
    before, after = write_before(tmp_path), write_after(tmp_path)
    proc = check(joined(before), joined(after))
    assert proc.returncode == 1, describe(proc)
    assert_no_traceback(proc)
    assert_no_internal_names(proc)
    assert_only_known_temp_paths(proc, tmp_path)
    assert f"{FUNCTION}: NOT EQUIVALENT" in proc.stdout, describe(proc)
    assert "counterexample: flags=0x0 (no bits set)" in proc.stdout, describe(proc)
    assert "audit_syscall_exit(regs)" in proc.stdout, describe(proc)
    # The header's inline caller is the root; its callee in ptrace.c is inlined.
    assert "syscall_exit_work:" not in proc.stdout, describe(proc)


def test_joined_side_is_equivalent_under_the_audit_model(tmp_path: Path) -> None:
    before, after = write_before(tmp_path), write_after(tmp_path)
    proc = check(joined(before), joined(after), "--model", "audit", "--stable-flags")
    assert proc.returncode == 0, describe(proc)
    assert f"{FUNCTION}: EQUIVALENT" in proc.stdout, describe(proc)
    assert "needs model audit" in proc.stdout, describe(proc)
    assert "without it: NOT EQUIVALENT at flags=0x0" in proc.stdout, describe(proc)


def test_call_locations_name_the_file_of_each_call(tmp_path: Path) -> None:
    before, after = write_before(tmp_path), write_after(tmp_path)
    proc = check(joined(before), joined(after), "--json")
    assert proc.returncode == 1, describe(proc)
    cex = only_function(json.loads(proc.stdout))["counterexample"]
    where = {side: [(c["function"], c["file"], c["line"]) for c in cex[side]["calls"]]
             for side in ("before", "after")}
    assert where["before"] == [
        ("rseq_syscall", str(before / "ptrace.c"), PTRACE_C_BEFORE_RSEQ_LINE),
        ("audit_syscall_exit", str(before / "ptrace.c"), PTRACE_C_BEFORE_AUDIT_LINE),
    ], json.dumps(cex, indent=1)
    assert where["after"] == [
        ("rseq_syscall", str(after / "syscall.h"), SYSCALL_H_AFTER_RSEQ_LINE),
    ], json.dumps(cex, indent=1)


def test_text_report_locates_calls_in_their_files(tmp_path: Path) -> None:
    before, after = write_before(tmp_path), write_after(tmp_path)
    proc = check(joined(before), joined(after))
    assert f"{before / 'ptrace.c'}:{PTRACE_C_BEFORE_AUDIT_LINE}" in proc.stdout, describe(proc)
    assert f"{after / 'syscall.h'}:{SYSCALL_H_AFTER_RSEQ_LINE}" in proc.stdout, describe(proc)


def test_syntax_error_in_the_header_is_located_in_the_header(tmp_path: Path) -> None:
    broken = SYSCALL_H_AFTER.replace(
        "\tif (unlikely(flags & _TIF_SYSCALL_EXIT_WORK) || flags & _TIF_SINGLESTEP)\n",
        "\tif (flags & )\n")
    bad_line = broken.splitlines().index("\tif (flags & )") + 1
    before, after = write_before(tmp_path), write_after(tmp_path, syscall_h=broken)
    proc = check(joined(before), joined(after), "--function", "syscall_exit_to_user_mode_work")
    assert_located_error(proc, after / "syscall.h", lines=bad_line, message="syntax error")
    assert_only_known_temp_paths(proc, tmp_path)
    # Checking every function: the broken one is its error, the other still gets its
    # verdict (a real difference, the worst outcome: exit 1).
    every = check(joined(before), joined(after))
    assert every.returncode == 1, describe(every)
    assert "syscall_exit_to_user_mode_work: ERROR (not checked)" in every.stdout, describe(every)
    assert f"{after / 'syscall.h'}:{bad_line}:" in every.stderr, describe(every)


def test_directory_side_gives_the_same_verdict(tmp_path: Path) -> None:
    before, after = write_before(tmp_path), write_after(tmp_path)
    as_files = check(joined(before), joined(after), "--json")
    as_dirs = check(before, after, "--json")
    assert as_dirs.returncode == 1, describe(as_dirs)
    assert_no_traceback(as_dirs)
    files_report, dirs_report = json.loads(as_files.stdout), json.loads(as_dirs.stdout)
    # A directory is its .h files, then its .c files.
    assert dirs_report["before"] == [str(before / n) for n in
                                     ("syscall.h", "thread_info.h", "ptrace.c")]
    assert only_function(dirs_report)["counterexample"] == \
        only_function(files_report)["counterexample"]


def test_directory_side_under_the_audit_model(tmp_path: Path) -> None:
    before, after = write_before(tmp_path), write_after(tmp_path)
    proc = check(before, after, "--model", "audit", "--stable-flags")
    assert proc.returncode == 0, describe(proc)
    assert f"{FUNCTION}: EQUIVALENT" in proc.stdout, describe(proc)
