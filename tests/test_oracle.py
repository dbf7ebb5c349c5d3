"""Unit tests of the gcc oracle (tests/oracle.py), independent of equiv.

Each pair is small C written inline (or the seed case under
tests/oracle_cases/); every enumerated pair is also checked against itself,
so a harness bug that makes a side differ from itself fails loudly.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oracle  # noqa: E402
from oracle import OracleStatus, StubResults  # noqa: E402

CASES = Path(__file__).resolve().parent / "oracle_cases"

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="the oracle needs gcc")

TIF_HEADER = """\
#include <linux/thread_info.h>
#define TIF_SYSCALL_TRACE 8
#define TIF_SYSCALL_AUDIT 9
#define _TIF_SYSCALL_TRACE (1 << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_AUDIT (1 << TIF_SYSCALL_AUDIT)
void audit_syscall_exit(struct pt_regs *regs);
void report_syscall_exit(struct pt_regs *regs);
"""


def write_pair(tmp_path: Path, before: str, after: str) -> tuple[Path, Path]:
    """Write the two sides as x.before.c / x.after.c under ``tmp_path``."""
    b, a = tmp_path / "x.before.c", tmp_path / "x.after.c"
    b.write_text(before)
    a.write_text(after)
    return b, a


def check(before: Path, after: Path, function: str, **kwargs: object) -> oracle.OracleVerdict:
    """Enumerate the pair after checking that each side equals itself."""
    for side in (before, after):
        same = oracle.enumerate_pair(side, side, function, **kwargs)
        assert same.status is OracleStatus.SAME, same.example
    return oracle.enumerate_pair(before, after, function, **kwargs)


def test_flag_gated_calls_written_two_ways_are_same(tmp_path: Path) -> None:
    before, after = write_pair(
        tmp_path,
        TIF_HEADER
        + """
void exit_work(struct pt_regs *regs)
{
	unsigned long flags = read_thread_flags();

	if (flags & _TIF_SYSCALL_AUDIT)
		audit_syscall_exit(regs);
	if (flags & _TIF_SYSCALL_TRACE)
		report_syscall_exit(regs);
}
""",
        TIF_HEADER
        + """
void exit_work(struct pt_regs *regs)
{
	if (test_thread_flag(TIF_SYSCALL_AUDIT))
		audit_syscall_exit(regs);
	if (current_thread_info()->flags & BIT(TIF_SYSCALL_TRACE))
		report_syscall_exit(regs);
}
""",
    )
    verdict = check(before, after, "exit_work")
    assert verdict.status is OracleStatus.SAME
    assert not verdict.differs
    assert verdict.bits == (8, 9, 31, 32, 63)  # mined, plus the boundary bits
    assert verdict.runs == 32


def test_difference_only_when_one_bit_is_set(tmp_path: Path) -> None:
    body = """
void exit_work(struct pt_regs *regs, unsigned long ti_work)
{
	if (ti_work & _TIF_SYSCALL_AUDIT)
		audit_syscall_exit(regs);
	if (ti_work & _TIF_SYSCALL_TRACE)
		report_syscall_exit(regs);
}
"""
    swapped = body.replace("_TIF_SYSCALL_TRACE)", "XX").replace("_TIF_SYSCALL_AUDIT)", "_TIF_SYSCALL_TRACE)")
    before, after = write_pair(tmp_path, TIF_HEADER + body, TIF_HEADER + swapped.replace("XX", "_TIF_SYSCALL_AUDIT)"))
    # after: the audit call is gated by TRACE and the report call by AUDIT.
    verdict = check(before, after, "exit_work")
    assert verdict.differs
    assert verdict.example is not None
    assert verdict.example["flags"] in (1 << 8, 1 << 9)
    assert verdict.example["before"]["calls"] != verdict.example["after"]["calls"]


def test_single_bit_difference_example_has_that_bit(tmp_path: Path) -> None:
    before, after = write_pair(
        tmp_path,
        TIF_HEADER
        + """
void exit_work(struct pt_regs *regs)
{
	if (read_thread_flags() & (_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT))
		report_syscall_exit(regs);
}
""",
        TIF_HEADER
        + """
void exit_work(struct pt_regs *regs)
{
	if (read_thread_flags() & _TIF_SYSCALL_TRACE)
		report_syscall_exit(regs);
}
""",
    )
    verdict = check(before, after, "exit_work")
    assert verdict.differs
    assert verdict.example["flags"] == 1 << 9
    assert verdict.example["before"]["calls"] == ["report_syscall_exit(regs)"]
    assert verdict.example["after"]["calls"] == []


def test_is_enabled_switches_are_enumerated(tmp_path: Path) -> None:
    before, after = write_pair(
        tmp_path,
        """
void rseq_syscall(struct pt_regs *regs);
void exit_work(struct pt_regs *regs)
{
	if (IS_ENABLED(CONFIG_DEBUG_RSEQ))
		rseq_syscall(regs);
}
""",
        """
void rseq_syscall(struct pt_regs *regs);
void exit_work(struct pt_regs *regs)
{
	if (CONFIG_DEBUG_RSEQ)
		rseq_syscall(regs);
}
""",
    )
    assert check(before, after, "exit_work").status is OracleStatus.SAME
    after.write_text(after.read_text().replace("if (CONFIG_DEBUG_RSEQ)", ""))
    verdict = check(before, after, "exit_work")
    assert verdict.differs
    assert verdict.configs == ("CONFIG_DEBUG_RSEQ",)
    assert verdict.example["configs"] == {"CONFIG_DEBUG_RSEQ": False}
    assert verdict.runs == 2 * 8


def test_defined_config_is_pinned_not_enumerated(tmp_path: Path) -> None:
    source = """
#define CONFIG_AUDIT 1
void audit_syscall_exit(struct pt_regs *regs);
void exit_work(struct pt_regs *regs)
{
	if (IS_ENABLED(CONFIG_AUDIT))
		audit_syscall_exit(regs);
}
"""
    before, after = write_pair(tmp_path, source, source.replace("if (IS_ENABLED(CONFIG_AUDIT))", ""))
    verdict = check(before, after, "exit_work")
    assert verdict.status is OracleStatus.SAME
    assert verdict.configs == ()


def test_int_local_truncates_the_flag_word(tmp_path: Path) -> None:
    body = """
#define _TIF_HIGH BIT(40)
void high_work(void);
void exit_work(void)
{
	TYPE work = read_thread_flags();

	if (work & _TIF_HIGH)
		high_work();
}
"""
    before, after = write_pair(tmp_path, body.replace("TYPE", "unsigned long"), body.replace("TYPE", "int"))
    mined = check(before, after, "exit_work", boundary_bits=False)
    assert mined.differs
    assert mined.bits == (40,)
    assert mined.example["flags"] == 1 << 40
    assert mined.example["before"]["calls"] == ["high_work()"]
    assert mined.example["after"]["calls"] == []
    # With the boundary bits the first difference is the sign extension of
    # bit 31: the negative int has bit 40 set after promotion.
    verdict = check(before, after, "exit_work")
    assert verdict.bits == (31, 32, 40, 63)
    assert verdict.example["flags"] == 1 << 31
    assert verdict.example["before"]["calls"] == []
    assert verdict.example["after"]["calls"] == ["high_work()"]


def test_short_circuit_call_on_the_right(tmp_path: Path) -> None:
    head = TIF_HEADER + "bool audit_dummy_context(void);\n"
    before, after = write_pair(
        tmp_path,
        head
        + """
void exit_work(struct pt_regs *regs)
{
	if ((read_thread_flags() & _TIF_SYSCALL_AUDIT) && !audit_dummy_context())
		audit_syscall_exit(regs);
}
""",
        head
        + """
void exit_work(struct pt_regs *regs)
{
	if (!audit_dummy_context() && (read_thread_flags() & _TIF_SYSCALL_AUDIT))
		audit_syscall_exit(regs);
}
""",
    )
    verdict = check(before, after, "exit_work")
    assert verdict.differs
    assert verdict.example["flags"] == 0
    assert verdict.example["before"]["calls"] == []
    assert verdict.example["after"]["calls"] == ["audit_dummy_context()"]


def test_missing_kernel_headers_are_stubbed(tmp_path: Path) -> None:
    source = """
#include <linux/does/not/exist.h>
#include "local_missing.h"
#include <asm/ptrace.h>
static __always_inline noinstr long __must_check exit_work(unsigned long flags)
{
	if (unlikely(flags & BIT(3)))
		return -1;
	return 0;
}
"""
    before, after = write_pair(tmp_path, source, source.replace("return -1", "return -2"))
    verdict = check(before, after, "exit_work")
    assert verdict.differs
    assert verdict.example["flags"] == 8
    assert (verdict.example["before"]["return"], verdict.example["after"]["return"]) == ("-1", "-2")


def test_prototype_pointer_args_are_rendered_by_name(tmp_path: Path) -> None:
    source = """
struct pt_regs { unsigned long regs[31]; long syscallno; };
void audit_syscall_exit(struct pt_regs *regs);
void trace_sys_exit(struct pt_regs *regs, long ret);
void save_syscallno(long *where, struct task_struct *task);
void exit_work(struct pt_regs *regs)
{
	audit_syscall_exit(regs);
	trace_sys_exit(regs, regs->syscallno);
	save_syscallno(&regs->syscallno, current);
}
"""
    before, after = write_pair(tmp_path, source, source)
    verdict = check(before, after, "exit_work")
    assert verdict.status is OracleStatus.SAME
    cex = {"flags": "0x0", "inputs": {"regs->syscallno": "-1", "regs->nonexistent": "3"}}
    result = oracle.replay(before, after, "exit_work", cex)
    assert result.before.call_strings == [
        "audit_syscall_exit(regs)",
        "trace_sys_exit(regs, -1)",
        "save_syscallno(regs+248, current)",
    ]


def test_undeclared_externals_use_promoted_argument_types(tmp_path: Path) -> None:
    source = """
long exit_work(unsigned long flags)
{
	char c = -3;
	unsigned int u = 4000000000u;

	log_values(c, u, -1L, flags);
	return probe() + 5;
}
"""
    before, after = write_pair(tmp_path, source, source)
    result = oracle.replay(before, after, "exit_work", {"flags": "0x10"})
    assert result.before.call_strings == ["log_values(-3, 4000000000, -1, 16)", "probe()"]
    assert result.before.ret == "5"
    assert not result.differs


def test_replay_results_steer_a_branch(tmp_path: Path) -> None:
    head = "bool fetch_work(struct pt_regs *regs);\nvoid handle_work(struct pt_regs *regs);\n"
    before, after = write_pair(
        tmp_path,
        head + "void exit_work(struct pt_regs *regs)\n{\n\tif (fetch_work(regs))\n\t\thandle_work(regs);\n}\n",
        head + "void exit_work(struct pt_regs *regs)\n{\n\tif (!fetch_work(regs))\n\t\thandle_work(regs);\n}\n",
    )
    side = {"calls": [{"function": "fetch_work", "args": ["regs"], "result": "1"}], "return": None, "flags": "0x0"}
    cex = {"flags": "0x0", "configs": {}, "inputs": {}, "before": side, "after": side, "first_divergence": 1}
    result = oracle.replay(before, after, "exit_work", cex)
    assert result.differs
    assert result.before.call_strings == ["fetch_work(regs)", "handle_work(regs)"]
    assert result.after.call_strings == ["fetch_work(regs)"]
    # With the default all-zero stubs the roles swap.
    zero = oracle.enumerate_pair(before, after, "exit_work")
    assert zero.example["after"]["calls"] == ["fetch_work(regs)", "handle_work(regs)"]


def test_replay_sets_inputs_and_configs(tmp_path: Path) -> None:
    head = "struct pt_regs { long syscallno; };\nvoid skip_work(void);\nvoid debug_work(void);\n"
    body = head + """
int exit_work(struct pt_regs *regs, int nr)
{
	if (regs->syscallno == -1)
		skip_work();
	if (IS_ENABLED(CONFIG_DEBUG_ENTRY))
		debug_work();
	return nr * 2;
}
"""
    before, after = write_pair(tmp_path, body, body)
    cex = {"flags": "0x0", "configs": {"CONFIG_DEBUG_ENTRY": True}, "inputs": {"regs->syscallno": "-1", "nr": "21"}}
    result = oracle.replay(before, after, "exit_work", cex)
    assert result.before.call_strings == ["skip_work()", "debug_work()"]
    assert result.before.ret == "42"
    assert result.status is OracleStatus.SAME


def test_final_flag_word_is_observed(tmp_path: Path) -> None:
    source = """
#define TIF_NOTIFY_RESUME 2
void exit_work(void)
{
	if (test_and_clear_thread_flag(TIF_NOTIFY_RESUME))
		return;
	set_thread_flag(5);
}
"""
    before, after = write_pair(tmp_path, source, source.replace("set_thread_flag(5)", "set_thread_flag(6)"))
    verdict = check(before, after, "exit_work")
    assert verdict.differs
    assert verdict.bits == (2, 5, 6, 31, 32, 63)
    assert verdict.example["flags"] == 0
    assert (verdict.example["before"]["flags"], verdict.example["after"]["flags"]) == ("0x20", "0x40")


def test_hash_stub_results_exercise_nonzero_returns(tmp_path: Path) -> None:
    source = """
long poll_work(int n);
void extra(void);
void exit_work(void)
{
	if (poll_work(1) > 0)
		extra();
}
"""
    before, after = write_pair(tmp_path, source, source.replace("extra();", ";"))
    assert check(before, after, "exit_work").status is OracleStatus.SAME
    modes = (StubResults.ZERO, StubResults.HASH)
    verdict = check(before, after, "exit_work", stub_results=modes)
    assert verdict.runs == 2 * 8
    hashed = oracle.enumerate_pair(before, before, "exit_work", stub_results=(StubResults.HASH,))
    assert hashed.status is OracleStatus.SAME
    # The hash of (0, poll_work, "1") is positive, so extra() is reached.
    assert verdict.differs
    assert verdict.example["stub_results"] == "hash"


def test_too_many_bits_is_refused(tmp_path: Path) -> None:
    source = "void f(void);\nvoid exit_work(unsigned long flags)\n{\n\tif (flags & 0x3ff0)\n\t\tf();\n}\n"
    before, after = write_pair(tmp_path, source, source)
    with pytest.raises(oracle.TooManyBits, match="13 flag bits"):
        oracle.enumerate_pair(before, after, "exit_work")
    with pytest.raises(oracle.TooManyBits):
        oracle.enumerate_pair(before, after, "exit_work", max_bits=8, boundary_bits=False)
    assert oracle.enumerate_pair(before, after, "exit_work", boundary_bits=False).runs == 1 << 10
    assert oracle.enumerate_pair(before, after, "exit_work", bits=[4]).runs == 2


def test_nonterminating_run_is_a_timeout(tmp_path: Path) -> None:
    source = "void exit_work(unsigned long flags)\n{\n\twhile (flags & BIT(1))\n\t\t;\n}\n"
    before, after = write_pair(tmp_path, source, "void exit_work(unsigned long flags)\n{\n}\n")
    verdict = oracle.enumerate_pair(before, after, "exit_work", timeout_s=1)
    assert verdict.status is OracleStatus.TIMEOUT
    assert not verdict.differs


def test_call_flood_is_a_timeout(tmp_path: Path) -> None:
    source = "void work(void);\nvoid exit_work(unsigned long ti_work)\n{\n\twhile (ti_work & 1)\n\t\twork();\n}\n"
    before, after = write_pair(tmp_path, source, source)
    verdict = oracle.enumerate_pair(before, after, "exit_work", bits=[0])
    assert verdict.status is OracleStatus.TIMEOUT
    assert len(verdict.example["before"]["calls"]) == oracle.MAX_CALLS_PER_RUN


def test_shift_count_also_mines_the_bit_above(tmp_path: Path) -> None:
    source = "void f(void);\nvoid exit_work(unsigned long flags)\n{\n\tif ((flags >> 9) & 1)\n\t\tf();\n}\n"
    before, after = write_pair(tmp_path, source, source.replace("& 1)", "> 0)"))
    verdict = check(before, after, "exit_work", boundary_bits=False)
    assert verdict.bits == (0, 9, 10)
    assert verdict.example["flags"] == 1 << 10


def test_compile_error_is_an_oracle_error(tmp_path: Path) -> None:
    before, after = write_pair(tmp_path, "void exit_work(void)\n{\n\tundeclared_var = 1;\n}\n", "void exit_work(void) {}\n")
    with pytest.raises(oracle.OracleError, match="undeclared_var"):
        oracle.enumerate_pair(before, after, "exit_work")
    with pytest.raises(oracle.OracleError, match="not defined"):
        oracle.enumerate_pair(after, after, "missing_root")


def test_seed_arm64_exit_work_differs_at_flags_zero() -> None:
    before = CASES / "arm64_exit_work.before.c"
    after = CASES / "arm64_exit_work.after.c"
    verdict = check(before, after, "syscall_exit_to_user_mode_work")
    assert verdict.differs
    assert verdict.bits == (8, 9, 10, 21, 31, 32, 63)
    assert verdict.example["flags"] == 0
    assert verdict.example["before"]["calls"] == ["rseq_syscall(regs)", "audit_syscall_exit(regs)"]
    assert verdict.example["after"]["calls"] == ["rseq_syscall(regs)"]
    cex = {
        "flags": "0x400",
        "flag_names": ["_TIF_SYSCALL_TRACEPOINT"],
        "configs": {},
        "inputs": {},
        "before": {"calls": [], "return": None, "flags": "0x400"},
        "after": {"calls": [], "return": None, "flags": "0x400"},
        "first_divergence": None,
    }
    result = oracle.replay(before, after, "syscall_exit_to_user_mode_work", cex)
    assert result.status is OracleStatus.SAME
    assert result.after.call_strings == [
        "rseq_syscall(regs)",
        "audit_syscall_exit(regs)",
        "syscall_get_return_value(current, regs)",
        "trace_sys_exit(regs, 0)",
    ]
    assert result.after.flags == 0x400


def test_fragment_may_redefine_a_prelude_function(tmp_path: Path) -> None:
    body = """
void notify(void);
void exit_work(void)
{
	if (read_thread_flags() & BIT(4))
		notify();
}
"""
    override = """
static inline unsigned long read_thread_flags(void)
{
	return current_thread_info()->flags | BIT(4);
}
"""
    before, after = write_pair(tmp_path, override + body, body)
    verdict = check(before, after, "exit_work")
    assert verdict.differs
    assert verdict.example["flags"] == 0
    assert verdict.example["before"]["calls"] == ["notify()"]


def test_enum_bit_numbers_and_pointer_returning_stubs(tmp_path: Path) -> None:
    source = """
enum { TIF_NOTIFY_RESUME = 3, TIF_UPROBE };
struct callback_head { long pending; };
struct callback_head *task_work_pending(struct task_struct *task);
void task_work_run(struct callback_head *work);
void uprobe_notify_resume(struct pt_regs *regs);
void exit_work(struct pt_regs *regs)
{
	struct callback_head *work = task_work_pending(current);

	if (work)
		task_work_run(work);
	if (test_thread_flag(TIF_UPROBE))
		uprobe_notify_resume(regs);
}
"""
    before, after = write_pair(tmp_path, source, source.replace("if (work)\n", "if (!work)\n"))
    verdict = check(before, after, "exit_work")
    assert verdict.bits == (4, 31, 32, 63)
    assert verdict.differs
    # The zero stub returns NULL: only the after side runs the work, with NULL.
    assert verdict.example["after"]["calls"] == ["task_work_pending(current)", "task_work_run(0)"]
    cex = {"flags": "0x10", "before": {"calls": [{"result": "1"}]}, "after": {"calls": [{"result": "1"}]}}
    result = oracle.replay(before, after, "exit_work", cex)
    assert result.before.call_strings == [
        "task_work_pending(current)",
        "task_work_run(<ptr>)",
        "uprobe_notify_resume(regs)",
    ]
    assert result.after.call_strings == ["task_work_pending(current)", "uprobe_notify_resume(regs)"]


def test_declared_function_used_as_a_value_is_stubbed(tmp_path: Path) -> None:
    source = """
void audit_syscall_exit(void *pt_regs);
void exit_work(struct pt_regs *regs, unsigned long flags)
{
	void (*exit_hook)(void *pt_regs) = audit_syscall_exit;

	if (flags & BIT(9))
		exit_hook(regs);
}
"""
    before, after = write_pair(tmp_path, source, source.replace("BIT(9)", "BIT(8)"))
    verdict = check(before, after, "exit_work", boundary_bits=False)
    assert verdict.differs
    assert verdict.example["flags"] == 1 << 8
    assert verdict.example["after"]["calls"] == ["audit_syscall_exit(regs)"]
