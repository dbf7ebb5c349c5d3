"""Assumptions and configurations: the cases the fixture runner cannot hold.

The fixture runner wants every `error` case to name an input file, but a
contradiction among `--assume` options lives on the command line, not in a
file; and the runner has no xfail, so the known equiv bugs about premises
and `#if IS_ENABLED()` blocks are kept here as strict xfails.  Every file is
written under `tmp_path`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_support import (  # noqa: E402
    assert_located_error,
    assert_no_traceback,
    assert_tool_error,
    check,
    describe,
    write,
)

REPORT_GATE = """\
#define TIF_SYSCALL_TRACE\t8\t/* syscall trace active */
#define TIF_SYSCALL_EMU\t\t12\t/* syscall emulation active */
#define _TIF_SYSCALL_TRACE\t(1UL << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_EMU\t(1UL << TIF_SYSCALL_EMU)

void report_syscall_exit(struct pt_regs *regs);

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
\tif (flags & %s)
\t\treport_syscall_exit(regs);
}
"""

EMU_IMPLIES_TRACE = "!(flags & _TIF_SYSCALL_EMU) || (flags & _TIF_SYSCALL_TRACE)"


def write_report_pair(tmp_path: Path) -> tuple[Path, Path]:
    """The after side drops _TIF_SYSCALL_EMU from the gate."""
    before = write(tmp_path, "before.c", REPORT_GATE % "(_TIF_SYSCALL_TRACE | _TIF_SYSCALL_EMU)")
    after = write(tmp_path, "after.c", REPORT_GATE % "_TIF_SYSCALL_TRACE")
    return before, after


def test_assumption_needed_for_the_proof_is_named(tmp_path: Path) -> None:
    proc = check(*write_report_pair(tmp_path), "--assume", EMU_IMPLIES_TRACE)
    assert proc.returncode == 0, describe(proc)
    assert f"in force: assume '{EMU_IMPLIES_TRACE}'" in proc.stdout, describe(proc)
    assert (f"needs assume '{EMU_IMPLIES_TRACE}'; without it: NOT EQUIVALENT at "
            "flags=0x1000 (_TIF_SYSCALL_EMU)") in proc.stdout, describe(proc)


def test_contradictory_assumptions_are_an_error(tmp_path: Path) -> None:
    proc = check(*write_report_pair(tmp_path),
                 "--assume", "flags & _TIF_SYSCALL_EMU", "--assume", "!(flags & _TIF_SYSCALL_EMU)")
    assert_tool_error(proc, "contradict")


def test_assumption_contradicting_a_pin_is_an_error(tmp_path: Path) -> None:
    proc = check(*write_report_pair(tmp_path),
                 "-D", "CONFIG_DEBUG_RSEQ=y", "--assume", "!IS_ENABLED(CONFIG_DEBUG_RSEQ)")
    assert_tool_error(proc, "contradict")


def test_assumption_error_is_located_in_the_expression(tmp_path: Path) -> None:
    proc = check(*write_report_pair(tmp_path), "--assume", "flags & _TIF_NOPE")
    assert proc.returncode == 2, describe(proc)
    assert_no_traceback(proc)
    # _TIF_NOPE starts at column 9 of the only line of the first --assume.
    assert "--assume 1:1:9: error: '_TIF_NOPE' undeclared" in proc.stderr, describe(proc)


RSEQ_BEFORE = """\
void rseq_syscall(struct pt_regs *regs);

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
\trseq_syscall(regs);
}
"""

RSEQ_AFTER = """\
void rseq_syscall(struct pt_regs *regs);

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
\tif (IS_ENABLED(CONFIG_DEBUG_RSEQ))
\t\trseq_syscall(regs);
}
"""


def test_needed_premise_counterexample_names_its_config(tmp_path: Path) -> None:
    before = write(tmp_path, "before.c", RSEQ_BEFORE)
    after = write(tmp_path, "after.c", RSEQ_AFTER)
    proc = check(before, after, "--model", "rseq")
    assert proc.returncode == 0, describe(proc)
    needs = [line for line in proc.stdout.splitlines() if "needs model rseq" in line]
    assert needs and "CONFIG_DEBUG_RSEQ=n" in needs[0], describe(proc)


AUDIT_BEFORE = """\
void audit_syscall_exit(void *pt_regs);

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
\taudit_syscall_exit(regs);
}
"""

AUDIT_IN_IF_BLOCK = """\
void audit_syscall_exit(void *pt_regs);

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
#%s
\taudit_syscall_exit(regs);
#endif
}
"""


def test_if_defined_block_is_run_per_config(tmp_path: Path) -> None:
    before = write(tmp_path, "before.c", AUDIT_BEFORE)
    after = write(tmp_path, "after.c", AUDIT_IN_IF_BLOCK % "if defined(CONFIG_AUDITSYSCALL)")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    assert "differs iff: CONFIG_AUDITSYSCALL=n" in proc.stdout, describe(proc)


def test_if_is_enabled_block_is_run_per_config(tmp_path: Path) -> None:
    before = write(tmp_path, "before.c", AUDIT_BEFORE)
    after = write(tmp_path, "after.c", AUDIT_IN_IF_BLOCK % "if IS_ENABLED(CONFIG_AUDITSYSCALL)")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    assert "differs iff: CONFIG_AUDITSYSCALL=n" in proc.stdout, describe(proc)


def test_if_is_enabled_error_names_the_fragment(tmp_path: Path) -> None:
    before = write(tmp_path, "before.c", AUDIT_BEFORE)
    after = write(tmp_path, "after.c", AUDIT_IN_IF_BLOCK % "if IS_ENABLED(CONFIG_AUDITSYSCALL)")
    proc = check(before, after)
    if proc.returncode == 2:
        assert_located_error(proc, after, lines=5)
    else:
        assert proc.returncode == 1, describe(proc)
