"""`--flag-map`: arm64's syscall_exit_work(regs, flags) against the generic one.

The before side is arm64's exit work, which tests `_TIF_*` bits of the
thread-flag word and reports a single step whenever `TIF_SINGLESTEP` is set.
The after side is the generic entry code's `syscall_exit_work(regs, work)`,
which tests `SYSCALL_WORK_*` bits of another word and whose
`report_single_step(work)` returns false when `SYSCALL_WORK_SYSCALL_EMU` is
set.  That is a real difference between the two: with `TIF_SINGLESTEP` and
`TIF_SYSCALL_EMU` both set (PTRACE_SYSEMU_SINGLESTEP), arm64 reports the step
and generic entry does not.  `--arch arm64` supplies both layouts; the map
file ties the bits together.  Every file is written under `tmp_path`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_support import (  # noqa: E402
    assert_located_error,
    assert_no_internal_names,
    assert_no_traceback,
    check,
    describe,
    write,
)

ARM64_EXIT_WORK = """\
#include <asm/thread_info.h>

void audit_syscall_exit(void *pt_regs);
void trace_sys_exit(struct pt_regs *regs, long ret);
long syscall_get_return_value(struct task_struct *task, struct pt_regs *regs);
void ptrace_report_syscall_exit(struct pt_regs *regs, int step);

static inline bool report_single_step(unsigned long flags)
{
\treturn flags & _TIF_SINGLESTEP;
}

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
\tbool step;

\taudit_syscall_exit(regs);

\tif (flags & _TIF_SYSCALL_TRACEPOINT)
\t\ttrace_sys_exit(regs, syscall_get_return_value(current, regs));

\tstep = report_single_step(flags);
\tif (step || flags & _TIF_SYSCALL_TRACE)
\t\tptrace_report_syscall_exit(regs, step);
}
"""

GENERIC_EMU_CASE = """\
\tif (work & SYSCALL_WORK_SYSCALL_EMU)
\t\treturn false;

"""

GENERIC_EXIT_WORK = """\
#include <linux/entry-common.h>

void audit_syscall_exit(void *pt_regs);
void trace_sys_exit(struct pt_regs *regs, long ret);
long syscall_get_return_value(struct task_struct *task, struct pt_regs *regs);
void ptrace_report_syscall_exit(struct pt_regs *regs, int step);

static inline bool report_single_step(unsigned long work)
{
%s\treturn work & SYSCALL_WORK_SYSCALL_EXIT_TRAP;
}

void syscall_exit_work(struct pt_regs *regs, unsigned long work)
{
\tbool step;

\taudit_syscall_exit(regs);

\tif (work & SYSCALL_WORK_SYSCALL_TRACEPOINT)
\t\ttrace_sys_exit(regs, syscall_get_return_value(current, regs));

\tstep = report_single_step(work);
\tif (step || work & SYSCALL_WORK_SYSCALL_TRACE)
\t\tptrace_report_syscall_exit(regs, step);
}
"""

FLAG_MAP = """\
# arm64 thread flag = generic syscall_work bit
TIF_SYSCALL_TRACE\t= SYSCALL_WORK_BIT_SYSCALL_TRACE
TIF_SYSCALL_AUDIT\t= SYSCALL_WORK_BIT_SYSCALL_AUDIT
TIF_SYSCALL_TRACEPOINT\t= SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT
TIF_SECCOMP\t\t= SYSCALL_WORK_BIT_SECCOMP
TIF_SYSCALL_EMU\t\t= SYSCALL_WORK_BIT_SYSCALL_EMU
TIF_SINGLESTEP\t\t= SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP
"""

TIF_SYSCALL_EMU_BIT = 12  # arm64, Linux v6.12
TIF_SINGLESTEP_BIT = 21


def write_pair(tmp_path: Path, emu_case: bool = True, flag_map: str = FLAG_MAP
               ) -> tuple[Path, Path, Path]:
    """before.c (arm64), after.c (generic entry) and the map file."""
    before = write(tmp_path, "before.c", ARM64_EXIT_WORK)
    after = write(tmp_path, "after.c", GENERIC_EXIT_WORK % (GENERIC_EMU_CASE if emu_case else ""))
    return before, after, write(tmp_path, "map", flag_map)


def run_mapped(before: Path, after: Path, flag_map: Path, *options: object
               ) -> subprocess.CompletedProcess[str]:
    return check(before, after, "--arch", "arm64", "--flag-map", flag_map, *options)


def function_entry(stdout: str) -> dict[str, Any]:
    report = json.loads(stdout)
    entries = [f for f in report["functions"] if f["function"] == "syscall_exit_work"]
    assert len(entries) == 1, stdout
    return entries[0]


def test_generic_emu_case_is_a_real_difference(tmp_path: Path) -> None:
    proc = run_mapped(*write_pair(tmp_path), "--json")
    assert proc.returncode == 1, describe(proc)
    assert_no_traceback(proc)
    entry = function_entry(proc.stdout)
    assert entry["verdict"] == "not-equivalent"
    cex = entry["counterexample"]
    flags = int(cex["flags"], 16)
    assert flags & (1 << TIF_SINGLESTEP_BIT), json.dumps(cex, indent=1)
    assert flags & (1 << TIF_SYSCALL_EMU_BIT), json.dumps(cex, indent=1)
    # The minimal counterexample needs nothing else.
    assert flags == (1 << TIF_SINGLESTEP_BIT) | (1 << TIF_SYSCALL_EMU_BIT), json.dumps(cex)
    assert cex["flag_names"] == ["_TIF_SYSCALL_EMU", "_TIF_SINGLESTEP"]
    before_calls = [(c["function"], c["args"]) for c in cex["before"]["calls"]]
    after_calls = [(c["function"], c["args"]) for c in cex["after"]["calls"]]
    assert ("ptrace_report_syscall_exit", ["regs", "1"]) in before_calls, before_calls
    assert all(name != "ptrace_report_syscall_exit" for name, _ in after_calls), after_calls


def test_text_report_names_both_bits(tmp_path: Path) -> None:
    proc = run_mapped(*write_pair(tmp_path))
    assert proc.returncode == 1, describe(proc)
    assert "counterexample: flags=0x201000 (_TIF_SYSCALL_EMU | _TIF_SINGLESTEP)" in proc.stdout, \
        describe(proc)
    assert_no_internal_names(proc)


def test_without_the_emu_case_the_sides_agree(tmp_path: Path) -> None:
    proc = run_mapped(*write_pair(tmp_path, emu_case=False))
    assert proc.returncode == 0, describe(proc)
    assert "syscall_exit_work: EQUIVALENT" in proc.stdout, describe(proc)


def test_without_the_map_the_words_are_unrelated(tmp_path: Path) -> None:
    before, after, _ = write_pair(tmp_path, emu_case=False)
    proc = check(before, after, "--arch", "arm64")
    assert proc.returncode == 1, describe(proc)


def test_swapped_map_entry_is_a_difference(tmp_path: Path) -> None:
    wrong = FLAG_MAP.replace("= SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP",
                             "= SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH")
    proc = run_mapped(*write_pair(tmp_path, emu_case=False, flag_map=wrong))
    assert proc.returncode == 1, describe(proc)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("TIF_SYSCALL_AUDIT SYSCALL_WORK_BIT_SYSCALL_AUDIT", "expected"),
        ("TIF_NOPE = SYSCALL_WORK_BIT_SYSCALL_AUDIT", "TIF_NOPE"),
        ("TIF_SYSCALL_AUDIT = SYSCALL_WORK_BIT_NOPE", "SYSCALL_WORK_BIT_NOPE"),
        ("TIF_SYSCALL_AUDIT = 64", "not a bit number"),
    ],
    ids=["no-equals", "unknown-before-bit", "unknown-after-bit", "bit-out-of-range"],
)
def test_bad_map_line_is_a_located_error(tmp_path: Path, line: str, message: str) -> None:
    lines = FLAG_MAP.splitlines()
    bad_line = lines.index("TIF_SYSCALL_AUDIT\t= SYSCALL_WORK_BIT_SYSCALL_AUDIT") + 1
    lines[bad_line - 1] = line
    before, after, flag_map = write_pair(tmp_path, flag_map="\n".join(lines) + "\n")
    proc = run_mapped(before, after, flag_map)
    assert_located_error(proc, flag_map, lines=bad_line, message=message)
    assert f"{flag_map}:{bad_line}: error:" in proc.stderr, describe(proc)
    assert proc.stdout == "", describe(proc)


def test_difference_condition_names_the_mapped_emu_bit(tmp_path: Path) -> None:
    proc = run_mapped(*write_pair(tmp_path), "--json")
    entry = function_entry(proc.stdout)
    # Exactly the flag words with both bits set differ, whatever else is set.
    assert entry["difference"] == "all of _TIF_SYSCALL_EMU, _TIF_SINGLESTEP are set", entry
    assert "other inputs" not in entry["difference"], entry
    assert TIF_SYSCALL_EMU_BIT in [row["bit"] for row in entry["bits"]], entry["bits"]


def test_after_bit_mapped_twice_is_a_located_error(tmp_path: Path) -> None:
    twice = FLAG_MAP.replace("TIF_SYSCALL_AUDIT\t= SYSCALL_WORK_BIT_SYSCALL_AUDIT",
                             "TIF_SYSCALL_AUDIT\t= SYSCALL_WORK_BIT_SYSCALL_TRACE")
    bad_line = twice.splitlines().index("TIF_SYSCALL_AUDIT\t= SYSCALL_WORK_BIT_SYSCALL_TRACE") + 1
    before, after, flag_map = write_pair(tmp_path, flag_map=twice)
    proc = run_mapped(before, after, flag_map)
    assert_located_error(proc, flag_map, lines=bad_line, message="SYSCALL_WORK_BIT_SYSCALL_TRACE")
