"""The reviewer's report: computed explanations, names from the right word, the email reply.

Issue 12, parts 1, 2 and 4.  Each test pins one promise of the report:
per-bit relevance is computed (matters / does not matter / not decided, never
"same" for a bit only the loop bound cut off); the counterexample shows the
inputs the difference depends on and only those, one signedness per type;
`differs iff` is always there (minimised, "always", or "too large" with its
size and a prefix), and is stored as data; opaque functions are listed;
each flag-word parameter is named in its own layout and recognised by use;
`equiv patch --format email` writes the reply for the v16 11/18 patch.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_support import check, describe, run_process, write

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS = REPO_ROOT / "tests" / "fixtures" / "seeds"
V16_BEFORE = SEEDS / "v16-11-18-rseq-exit-work.before.c"
V16_AFTER = SEEDS / "v16-11-18-rseq-exit-work.after.c"
TREE = REPO_ROOT / "tests" / "patch_tree"
V16_PATCH = (REPO_ROOT / "tests" / "patch_series"
             / "0002-arm64-ptrace-Align-syscall-exit-work-semantics-with-.patch")

TIF_HEADER = """\
#define TIF_SYSCALL_TRACE 8
#define TIF_SYSCALL_AUDIT 9
#define TIF_SYSCALL_TRACEPOINT 10
#define _TIF_SYSCALL_TRACE (1UL << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_AUDIT (1UL << TIF_SYSCALL_AUDIT)
#define _TIF_SYSCALL_TRACEPOINT (1UL << TIF_SYSCALL_TRACEPOINT)
"""


def pair(tmp_path: Path, before: str, after: str) -> tuple[Path, Path]:
    return write(tmp_path, "before.c", before), write(tmp_path, "after.c", after)


def function_json(proc: subprocess.CompletedProcess[str]) -> dict:
    doc = json.loads(proc.stdout)
    assert len(doc["functions"]) == 1, proc.stdout
    return doc["functions"][0]


def report_lines(proc: subprocess.CompletedProcess[str], prefix: str) -> list[str]:
    return [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith(prefix)]


# ---- 1. per-bit relevance ---------------------------------------------------------------

def test_per_bit_rows_say_matters_or_does_not_matter() -> None:
    proc = check(V16_BEFORE, V16_AFTER)
    assert proc.returncode == 1, describe(proc)
    out = proc.stdout
    assert ("_TIF_SYSCALL_TRACE (bit 8): matters: differs at flags=0x0, same at flags=0x100"
            in out), out
    assert "_TIF_SINGLESTEP (bit 21): matters:" in out, out
    # EMU plays no role: no row of its own, listed once as not mattering.
    assert "does not matter: _TIF_SYSCALL_EMU (bit 12)" in out, out
    assert "_TIF_SYSCALL_EMU (bit 12): " not in out, out
    assert "same for every" not in out and "differs, e.g." not in out, out


def test_relevance_is_data_in_json() -> None:
    entry = function_json(check(V16_BEFORE, V16_AFTER, "--json"))
    relevance = {row["name"]: row["relevance"] for row in entry["bits"]}
    assert relevance == {"_TIF_SYSCALL_TRACE": "matters", "_TIF_SYSCALL_AUDIT": "matters",
                         "_TIF_SYSCALL_TRACEPOINT": "matters",
                         "_TIF_SYSCALL_EMU": "does-not-matter", "_TIF_SINGLESTEP": "matters"}


def test_truncation_rows_only_for_the_bit_that_matters(tmp_path: Path) -> None:
    before, after = pair(tmp_path, """\
void audit_syscall_exit(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
	int narrow = flags;
	if (narrow < 0)
		audit_syscall_exit(regs);
}
""", """\
void audit_syscall_exit(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
	long wide = flags;
	if (wide < 0)
		audit_syscall_exit(regs);
}
""")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    rows = report_lines(proc, "bit ")
    # Only bits 31 and 63 decide the sign of the two views; no row for the other 62.
    assert [r.split(":")[0] for r in rows] == ["bit 31", "bit 63"], proc.stdout
    assert "does not matter: bits 0-30, 32-62" in proc.stdout, proc.stdout
    assert "differs iff: (bit 31 is set and bit 63 is clear) or " \
           "(bit 63 is set and bit 31 is clear)" in proc.stdout, proc.stdout


LOOP_BEFORE = """\
void handle(struct pt_regs *regs);
unsigned long get_more(void);
void audit_syscall_exit(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
	unsigned long work = flags;
	while (work & 0x20) {
		handle(regs);
		work = get_more();
	}
	if (flags & 0x100)
		audit_syscall_exit(regs);
}
"""


def test_bit_cut_off_by_the_loop_bound_is_not_decided(tmp_path: Path) -> None:
    before, after = pair(tmp_path, LOOP_BEFORE,
                         LOOP_BEFORE.replace("audit_syscall_exit(regs);\n}", ";\n}"))
    proc = check(before, after, "--unwind", "3")
    assert proc.returncode == 1, describe(proc)
    out = proc.stdout
    assert f"bit 5: not decided: the loop at {before}:7:2 may run past the unwind bound" in out, \
        out
    assert "does not matter: bit 5" not in out, out
    assert "bit 8: matters" in out, out
    assert ("differs iff: bit 8 is set (for inputs on which every loop stays within the "
            "unwind bound)") in out, out


# ---- 1. the counterexample: every input that matters, only those ---------------------------

def test_opaque_result_the_difference_depends_on_is_in_the_text(tmp_path: Path) -> None:
    before, after = pair(tmp_path, """\
long report_single_step(unsigned long flags);
void ptrace_report_syscall_exit(struct pt_regs *regs, long step);
void f(struct pt_regs *regs, unsigned long flags)
{
	long step = report_single_step(flags);
	if (step < 0)
		ptrace_report_syscall_exit(regs, step);
}
""", """\
long report_single_step(unsigned long flags);
void ptrace_report_syscall_exit(struct pt_regs *regs, long step);
void f(struct pt_regs *regs, unsigned long flags)
{
	long step = report_single_step(flags);
	if (step < -1)
		ptrace_report_syscall_exit(regs, step);
}
""")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    # The cause (the value returned) is shown, in the same signedness as the argument.
    assert "report_single_step(0) = -1" in proc.stdout, proc.stdout
    assert "ptrace_report_syscall_exit(regs, -1)" in proc.stdout, proc.stdout
    entry = function_json(check(before, after, "--json"))
    assert entry["counterexample"]["matters"] == ["report_single_step()"], entry
    assert entry["counterexample"]["before"]["calls"][0]["result"] == "-1", entry


def test_inputs_and_configs_that_play_no_role_are_not_printed(tmp_path: Path) -> None:
    before, after = pair(tmp_path, TIF_HEADER + """\
void audit_syscall_exit(struct pt_regs *regs);
void rseq_syscall(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags, long scno)
{
	if (IS_ENABLED(CONFIG_DEBUG_RSEQ))
		rseq_syscall(regs);
	if (regs->syscallno == scno)
		regs->orig_x0 = 1;
	audit_syscall_exit(regs);
}
""", TIF_HEADER + """\
void audit_syscall_exit(struct pt_regs *regs);
void rseq_syscall(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags, long scno)
{
	if (IS_ENABLED(CONFIG_DEBUG_RSEQ))
		rseq_syscall(regs);
	if (regs->syscallno == scno)
		regs->orig_x0 = 1;
	if (flags & _TIF_SYSCALL_AUDIT)
		audit_syscall_exit(regs);
}
""")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    out = proc.stdout
    assert "counterexample: flags=0x0 (no bits set)" in out, out
    assert "configs:" not in out and "inputs:" not in out, out
    assert "[regs->orig_x0=" not in out, out  # the same on both sides: no role
    assert "differs iff: _TIF_SYSCALL_AUDIT is clear" in out, out
    entry = function_json(check(before, after, "--json"))
    # JSON keeps every input, with the ones that matter listed.
    assert {"regs->syscallno", "scno"} <= set(entry["counterexample"]["inputs"]), entry
    assert entry["counterexample"]["matters"] == [], entry


def test_config_that_matters_is_printed() -> None:
    base = REPO_ROOT / "tests" / "fixtures" / "config" / "ifdef-debug-rseq-differs"
    proc = check(Path(f"{base}.before.c"), Path(f"{base}.after.c"))
    assert "  configs: CONFIG_DEBUG_RSEQ=y\n" in proc.stdout, proc.stdout
    assert "differs iff: CONFIG_DEBUG_RSEQ=y\n" in proc.stdout, proc.stdout


def test_opaque_functions_are_listed() -> None:
    proc = check(V16_BEFORE, V16_AFTER)
    assert ("opaque (no definition or model): audit_syscall_exit, report_syscall_exit, "
            "rseq_syscall, syscall_get_return_value, trace_sys_exit") in proc.stdout, proc.stdout
    modelled = check(V16_BEFORE, V16_AFTER, "--model", "rseq")
    assert "rseq_syscall," not in modelled.stdout.split("opaque")[-1], modelled.stdout


# ---- 1. differs iff: always there ------------------------------------------------------------

def test_differs_iff_always_and_no_empty_per_bit_heading() -> None:
    proc = check(V16_BEFORE, V16_AFTER, "-f", "syscall_exit_work")
    assert "  differs iff: always\n" in proc.stdout, proc.stdout
    calls = REPO_ROOT / "tests" / "fixtures" / "calls" / "opaque-result-differs"
    bare = check(Path(f"{calls}.before.c"), Path(f"{calls}.after.c"))
    assert "differs iff: always" in bare.stdout, bare.stdout
    assert "per bit:" not in bare.stdout, bare.stdout  # no bit tested: no heading


def test_condition_with_dont_cares_is_always(tmp_path: Path) -> None:
    # Every flag word the assumption allows differs: the cover over the allowed
    # words is everything, so the condition is "always", not a list of cubes.
    before, after = pair(tmp_path, TIF_HEADER + """\
void audit_syscall_exit(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
	if ((flags & _TIF_SYSCALL_TRACE) || (flags & _TIF_SYSCALL_AUDIT))
		audit_syscall_exit(regs);
}
""", TIF_HEADER + """\
void audit_syscall_exit(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
}
""")
    proc = check(before, after, "--assume", "flags & (_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT)")
    assert proc.returncode == 1, describe(proc)
    assert "differs iff: always\n" in proc.stdout, proc.stdout


def parity_pair(tmp_path: Path, bits: int) -> tuple[Path, Path]:
    parity = " ^ ".join(f"((flags >> {i}) & 1)" for i in range(bits))
    return pair(tmp_path, f"""\
void work(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{{
	if ({parity})
		work(regs);
}}
""", """\
void work(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
}
""")


def test_too_large_condition_says_so_with_size_and_prefix(tmp_path: Path) -> None:
    proc = check(*parity_pair(tmp_path, 5))
    assert proc.returncode == 1, describe(proc)
    line = next(line for line in proc.stdout.splitlines() if "differs iff:" in line)
    assert line.startswith("  differs iff: too large to print: 16 cubes over 5 bits and "
                           "switches; it begins ("), line
    assert line.endswith(" or ..."), line
    entry = function_json(check(*parity_pair(tmp_path, 5), "--json"))
    assert entry["condition"]["status"] == "too-large"
    assert entry["condition"]["size"] == 16 and len(entry["condition"]["sure"]) == 16


def test_condition_over_more_than_twenty_bits_is_never_dropped(tmp_path: Path) -> None:
    before, after = pair(tmp_path, """\
void work(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
	if (flags & 0x3ffffff)
		work(regs);
}
""", """\
void work(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
}
""")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    assert ("differs iff: too large to print: 26 cubes over 26 bits and switches; it begins "
            "(bit 0 is set) or (bit 1 is set) or (bit 2 is set) or ...") in proc.stdout, \
        proc.stdout


def test_condition_is_data_with_a_canonical_key() -> None:
    entry = function_json(check(V16_BEFORE, V16_AFTER, "--json"))
    cond = entry["condition"]
    assert cond["status"] == "exact" and cond["maybe"] == []
    assert [[(lit["name"], lit["value"]) for lit in cube] for cube in cond["sure"]] == [
        [("_TIF_SYSCALL_TRACE", False), ("_TIF_SYSCALL_AUDIT", False),
         ("_TIF_SYSCALL_TRACEPOINT", False), ("_TIF_SINGLESTEP", False)]]
    assert cond["key"] == ("!_TIF_SYSCALL_TRACE&!_TIF_SYSCALL_AUDIT&!_TIF_SYSCALL_TRACEPOINT"
                           "&!_TIF_SINGLESTEP")
    assert entry["difference"] == ("none of _TIF_SYSCALL_TRACE, _TIF_SYSCALL_AUDIT, "
                                   "_TIF_SYSCALL_TRACEPOINT, _TIF_SINGLESTEP is set")


def test_condition_sentence_is_made_from_data_only() -> None:
    from equiv.report.render import condition_text
    from equiv.report.results import Condition, ConditionStatus, Literal

    a, b = Literal("_TIF_A", "bit", True), Literal("CONFIG_X", "config", False)
    assert condition_text(Condition(ConditionStatus.EXACT)) == "never"
    assert condition_text(Condition(ConditionStatus.EXACT, ((),))) == "always"
    assert condition_text(Condition(ConditionStatus.EXACT, ((a, b),))) == \
        "_TIF_A is set and CONFIG_X=n"
    assert condition_text(Condition(ConditionStatus.EXACT, (), ((a,),))) == \
        "only for some values of other inputs, when _TIF_A is set"
    assert condition_text(Condition(ConditionStatus.UNDECIDED, reason="solver gave up (x)")) \
        == "not decided: solver gave up (x)"


def test_minimise_uses_dont_cares() -> None:
    from equiv.explain.perbit import minimise

    # on: a=1,b=1 and a=1,b=0 (c=1); off: a=0.  With c free the cover is just "a".
    on = [{0: True, 1: True}, {0: True, 1: False, 2: True}]
    assert minimise(on, [{0: False}], 3) == [{0: True}]
    # Nothing to avoid: one empty cube, i.e. always.
    assert minimise(on, [], 3) == [{}]


# ---- 1. masks ---------------------------------------------------------------------------

def test_unchanged_masks_are_not_printed_and_include_masks_have_names(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    write(inc, "tif.h", TIF_HEADER + """\
#define _TIF_WORK (_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT | _TIF_SYSCALL_TRACEPOINT)
""")
    body = """\
#include <tif.h>
%s
void audit_syscall_exit(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long flags)
{
	if (flags & _TIF_WORK)
		audit_syscall_exit(regs);
}
"""
    before, after = pair(tmp_path, body % "#define _TIF_KEEP (_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT)",
                         body % "#define _TIF_KEEP (_TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT)\n"
                                "#undef _TIF_WORK\n#define _TIF_WORK (_TIF_SYSCALL_TRACE | "
                                "_TIF_SYSCALL_AUDIT)")
    proc = check(before, after, "-I", inc)
    assert proc.returncode == 1, describe(proc)
    out = proc.stdout
    assert "counterexample: flags=0x400 (_TIF_SYSCALL_TRACEPOINT)" in out, out
    assert "before: _TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT | _TIF_SYSCALL_TRACEPOINT" in out, out
    assert "| bit " not in out and "(bit 10)\n" not in out, out
    assert "mask _TIF_KEEP" not in out, out  # unchanged


# ---- 2. names from the right word -------------------------------------------------------

GENERIC = """\
#define SYSCALL_WORK_BIT_SYSCALL_TRACE 2
#define SYSCALL_WORK_BIT_SYSCALL_EMU 3
#define SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH 5
#define SYSCALL_WORK_SYSCALL_TRACE BIT(SYSCALL_WORK_BIT_SYSCALL_TRACE)
#define SYSCALL_WORK_SYSCALL_EMU BIT(SYSCALL_WORK_BIT_SYSCALL_EMU)
#define SYSCALL_WORK_SYSCALL_USER_DISPATCH BIT(SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH)
#define TIF_SINGLESTEP 3
#define TIF_SSBD 5
#define _TIF_SINGLESTEP (1UL << TIF_SINGLESTEP)
#define _TIF_SSBD (1UL << TIF_SSBD)
void ptrace_report_syscall_exit(struct pt_regs *regs, int step);
void syscall_exit_work(struct pt_regs *regs, unsigned long work)
{
	if (work & %s)
		ptrace_report_syscall_exit(regs, 0);
}
"""


def test_work_parameter_is_named_as_the_syscall_work_word(tmp_path: Path) -> None:
    before, after = pair(tmp_path, GENERIC % "SYSCALL_WORK_SYSCALL_EMU",
                         GENERIC % "SYSCALL_WORK_SYSCALL_USER_DISPATCH")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    out = proc.stdout
    assert "counterexample: work=0x8 (SYSCALL_WORK_SYSCALL_EMU)" in out, out
    assert "SYSCALL_WORK_SYSCALL_USER_DISPATCH (bit 5): matters" in out, out
    assert "_TIF_SINGLESTEP" not in out and "_TIF_SSBD" not in out, out
    assert ("flag word: parameter 'work' (ANDed with SYSCALL_WORK_SYSCALL_EMU at "
            f"{before}:14), the syscall_work word (SYSCALL_WORK_* names)") in out, out


def test_work_parameter_by_name_alone_is_the_syscall_work_word(tmp_path: Path) -> None:
    text = GENERIC.replace("work & %s", "work == %s")
    before, after = pair(tmp_path, text % "SYSCALL_WORK_SYSCALL_EMU",
                         text % "SYSCALL_WORK_SYSCALL_USER_DISPATCH")
    proc = check(before, after)
    assert "flag word: parameter 'work' (by name), the syscall_work word" in proc.stdout, \
        proc.stdout
    assert "_TIF_" not in proc.stdout, proc.stdout


NOTIFY = """\
#define TIF_SIGPENDING 0
#define TIF_NEED_RESCHED 1
#define TIF_NOTIFY_SIGNAL 6
#define _TIF_SIGPENDING (1 << TIF_SIGPENDING)
#define _TIF_NEED_RESCHED (1 << TIF_NEED_RESCHED)
#define _TIF_NOTIFY_SIGNAL (1 << TIF_NOTIFY_SIGNAL)
void schedule(void);
void do_signal(struct pt_regs *regs);
void do_notify_resume(struct pt_regs *regs, unsigned long thread_flags)
{
	if (thread_flags & _TIF_NEED_RESCHED)
		schedule();
	if (thread_flags & %s)
		do_signal(regs);
}
"""


def test_flag_word_recognised_by_use(tmp_path: Path) -> None:
    before, after = pair(tmp_path, NOTIFY % "(_TIF_SIGPENDING | _TIF_NOTIFY_SIGNAL)",
                         NOTIFY % "_TIF_SIGPENDING")
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    out = proc.stdout
    assert "counterexample: flags=0x40 (_TIF_NOTIFY_SIGNAL)" in out, out
    assert "inputs:" not in out, out
    assert (f"flag word: parameter 'thread_flags' (ANDed with _TIF_NEED_RESCHED at {before}:11)"
            ", the thread-flag word (_TIF_* names)") in out, out
    assert "differs iff: _TIF_NOTIFY_SIGNAL is set and _TIF_SIGPENDING is clear" in out, out


def test_flagword_prepass_on_the_ast(tmp_path: Path) -> None:
    from equiv.frontend.source import SideInput, load_side
    from equiv.ir.unit import build_unit as build_program
    from equiv.semantics.flagword import SYSCALL_WORK, TIF, flag_words

    path = write(tmp_path, "x.c", """\
#define _TIF_A 1
#define MY_MASK (_TIF_A | 2)
#define SYSCALL_WORK_B 4
long g(long a, unsigned long mine, unsigned long work, unsigned long flags,
       unsigned long other, struct pt_regs *regs)
{
	return (a + 1) | (MY_MASK & mine) | (work & SYSCALL_WORK_B) | flags | other;
}
""")
    program = build_program(load_side(SideInput((str(path),))))
    bodies = {n: m.body for n, m in program.side.macros.items()}
    words = flag_words(program.functions["g"], bodies, ("flags", "ti_work", "work"))
    assert [(w.param, w.layout) for w in words] == [
        ("mine", TIF), ("work", SYSCALL_WORK), ("flags", TIF)]
    assert words[0].why == f"ANDed with MY_MASK at {path}:7"
    assert words[2].why == "by name"


# ---- 4. the email reply -------------------------------------------------------------------

V16_EMAIL = """\
Subject: Re: [PATCH 2/5] arm64: ptrace: Align syscall exit work semantics with generic entry

> No functional changes intended.

This does not hold as written: el0_svc_common() behaves differently
before and after the patch.

For flags=0x0, no flag set; flags after invoke_syscall() #5=0x0:

  before:
    invoke_syscall(regs, 0)   arch/arm64/kernel/syscall.c:21
    rseq_syscall(regs)        arch/arm64/kernel/ptrace.c:47
    audit_syscall_exit(regs)  arch/arm64/kernel/ptrace.c:49  <-- first difference
  after:
    invoke_syscall(regs, 0)   arch/arm64/kernel/syscall.c:21
    rseq_syscall(regs)        arch/arm64/include/asm/syscall.h:26

Whatever the flag word at entry, it differs depending on the word
invoke_syscall() leaves behind (a call may change the thread flags).

The claim holds only if audit_syscall_exit() has an effect only when
TIF_SYSCALL_AUDIT is set, and no call on the exit path sets or clears
TIF_SYSCALL_AUDIT (equiv's model "audit", after include/linux/audit.h
and kernel/auditsc.c, Linux v6.12): under that premise equiv proves
el0_svc_common() unchanged. If that is the argument, could the changelog
state it?

To reproduce, from the tree the series applies to:

  equiv patch 0002-arm64-ptrace-Align-syscall-exit-work-semantics-with-.patch
  equiv patch --model audit 0002-arm64-ptrace-Align-syscall-exit-work-semantics-with-.patch
"""


def equiv_patch(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return run_process(["patch", *args], env=env, timeout=300)


@pytest.fixture(scope="module")
def v16_email() -> subprocess.CompletedProcess[str]:
    return equiv_patch(V16_PATCH, "--tree", TREE, "--format", "email")


def test_v16_email_full_text(v16_email: subprocess.CompletedProcess[str]) -> None:
    assert v16_email.returncode == 1, describe(v16_email)  # the gate's status: refuted
    assert v16_email.stdout == V16_EMAIL, v16_email.stdout


def test_v16_email_is_short(v16_email: subprocess.CompletedProcess[str]) -> None:
    lines = v16_email.stdout.splitlines()
    finding = lines[lines.index("> No functional changes intended."):
                    lines.index("To reproduce, from the tree the series applies to:")]
    assert len(finding) <= 30, "\n".join(finding)


def test_email_reproduce_command_rebuilds_the_check(tmp_path: Path) -> None:
    from equiv.driver.check import CheckOptions
    from equiv.patch.report import reproduce_command
    from equiv.patch.series import read_patches

    patch = read_patches([str(V16_PATCH)])[0]
    assert patch.tags == "[PATCH 2/5]"
    options = CheckOptions(models=("audit",), arch="arm64", pins=(("CONFIG_X", True),), unwind=4)
    assert reproduce_command(patch, options) == (
        "equiv patch --model audit --arch arm64 -D CONFIG_X=y --unwind 4 " + V16_PATCH.name)


def test_flag_word_recognised_on_one_side_is_the_flag_word_on_both(tmp_path: Path) -> None:
    # Only the before side spells the mask; the same parameter must not become
    # the flag word on one side and an unrelated input on the other.
    text = """\
#define TIF_A 3
#define _TIF_A (1UL << TIF_A)
void work(struct pt_regs *regs);
void f(struct pt_regs *regs, unsigned long x)
{
	if (x & %s)
		work(regs);
}
"""
    before, after = pair(tmp_path, text % "_TIF_A", text % "8")
    proc = check(before, after)
    assert proc.returncode == 0, describe(proc)
    assert f"flag word: before side: parameter 'x' (ANDed with _TIF_A at {before}:6)" in \
        proc.stdout, proc.stdout


def test_flag_map_shows_the_mapped_word_and_names_its_free_bits(tmp_path: Path) -> None:
    import test_flag_map as fm

    wrong = fm.FLAG_MAP.replace("= SYSCALL_WORK_BIT_SYSCALL_EXIT_TRAP",
                                "= SYSCALL_WORK_BIT_SYSCALL_USER_DISPATCH")
    before, after, flag_map = fm.write_pair(tmp_path, emu_case=False, flag_map=wrong)
    proc = fm.run_mapped(before, after, flag_map)
    assert proc.returncode == 1, describe(proc)
    out = proc.stdout
    # The after side's early branch has a visible cause: its word, in its own names.
    assert "inputs: mapped_word=0x40 (SYSCALL_WORK_SYSCALL_EXIT_TRAP)" in out, out
    assert ("differs iff: (_TIF_SINGLESTEP is set and SYSCALL_WORK_SYSCALL_EXIT_TRAP is clear) "
            "or (SYSCALL_WORK_SYSCALL_EXIT_TRAP is set and _TIF_SINGLESTEP is clear)") in out, out
    assert ("SYSCALL_WORK_SYSCALL_EXIT_TRAP (bit 6): matters: differs at mapped_word=0x40, "
            "same at mapped_word=0x0") in out, out
    assert "_TIF_SYSCALL_AUDIT (bit 9): matters" not in out, out


def test_memory_shown_as_the_member_reads_it(tmp_path: Path) -> None:
    # A u8 member written before a call: the call's context shows the member's value,
    # never the 64-bit cell with the bits above the member.
    # The sides differ only in what the callee sees there.
    common = ("struct ctx { unsigned char level; };\nvoid g(void);\n"
              "void f(struct ctx *c, unsigned long flags)\n{\n"
              "\tc->level = (flags & 1) ? 200 : {low};\n\tif (flags & 2)\n\t\tg();\n"
              "\tc->level = 1;\n}\n")
    before = write(tmp_path, "before.c", common.replace("{low}", "7"))
    after = write(tmp_path, "after.c", common.replace("{low}", "9"))
    proc = check(before, after)
    assert proc.returncode == 1, describe(proc)
    shown = re.findall(r"\[c->level=(-?\d+)\]", proc.stdout)
    assert sorted(shown) == ["7", "9"], describe(proc)


def test_cell_values_at_their_view() -> None:
    from equiv.explain.counterexample import _at_view

    assert _at_view(0x1000000FF, (8, False)) == 255  # the bits above the member are not shown
    assert _at_view(0x1000000FF, (8, True)) == -1
    assert _at_view(0x17, (3, False)) == 7  # a bit-field
    assert _at_view(1 << 63, None) == -(1 << 63)  # no single view: the whole cell, as a long


def test_growing_a_cube_with_unsat_cores_drops_what_dropping_each_literal_drops() -> None:
    """`_grow` skips the questions for literals outside the last unsat core; on random
    conditions over eight bits it keeps exactly the literals that asking about each
    literal in turn (the plain greedy) keeps."""
    import random
    from types import SimpleNamespace

    import z3

    from equiv.explain import perbit
    from equiv.query.smt import Outcome, Session

    word = z3.BitVec("word", 64)
    bits = [z3.Extract(i, i, word) == 1 for i in range(8)]
    vars_ = [perbit.Variable(f"bit {i}", "bit", bits[i], (), bit=i) for i in range(8)]
    rng = random.Random(14)
    grown = 0
    for _ in range(40):
        terms = [z3.And(*[bits[i] if rng.random() < 0.5 else z3.Not(bits[i])
                          for i in rng.sample(range(8), rng.randint(1, 4))])
                 for _ in range(rng.randint(1, 4))]
        query = SimpleNamespace(within_bound=z3.BoolVal(True), differs=z3.Or(*terms))
        session = Session([], 10.0)
        for point in range(0, 256, 17):
            cube = {i: bool(point >> i & 1) for i in range(8)}

            def always(c: dict[int, bool]) -> bool:
                lits = [bits[i] if v else z3.Not(bits[i]) for i, v in c.items()]
                return session.check(query.within_bound, z3.Not(query.differs), *lits,
                                     want_model=False).outcome is Outcome.UNSAT

            expected = dict(cube)
            if always(expected):
                for i in sorted(cube):
                    trial = {k: v for k, v in expected.items() if k != i}
                    if always(trial):
                        expected = trial
            got, sure = perbit._grow(query, session, vars_, dict(cube))
            assert sure == always(cube)
            assert got == (expected if sure else cube)
            grown += sure
    assert grown > 50  # the comparison ran on many cubes that do differ


@pytest.mark.parametrize("case", ["loops/later-iteration-differs",
                                  "flag-read/read-after-clear-differs"])
def test_a_reread_word_the_rest_fixes_is_not_minimised_bit_by_bit(
        case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the calls leave the word they found and the entry word is minimal, a word
    read after a call has one value left: one question says so (`_fixed`), and the
    counterexample's minimised words are the ones the question per set bit gives: the
    entry word, each word a call that happens leaves and is read, the words at the loop
    heads.  (What is not minimised, such as the words after calls that do not happen,
    is whatever model a raced question got: README, determinism.)"""
    from equiv.driver.check import CheckOptions, run_check
    from equiv.explain import counterexample

    stem = REPO_ROOT / "tests" / "fixtures" / case
    args = [f"{stem}.before.c"], [f"{stem}.after.c"]
    header = (stem.parent / f"{stem.name}.before.c").read_text()
    unwind = re.search(r"--unwind (\d+)", header)
    options = CheckOptions(jobs=1, unwind=int(unwind.group(1)) if unwind else 8)
    fixed = counterexample._fixed
    answers: list[bool] = []
    monkeypatch.setattr(counterexample, "_fixed",
                        lambda *a: answers.append(fixed(*a)) or answers[-1])
    shortcut = run_check(*args, options).functions[0].counterexample
    assert True in answers  # the shortcut fired
    monkeypatch.setattr(counterexample, "_fixed", lambda *a: False)
    plain = run_check(*args, options).functions[0].counterexample
    assert shortcut is not None and plain is not None

    def minimised(cex: Any) -> tuple[Any, ...]:
        return (cex.flags, cex.not_minimal, cex.before.flags_left, cex.after.flags_left,
                tuple(run.words for run in cex.loops))

    assert minimised(shortcut) == minimised(plain)


def test_the_one_pass_simplification_gives_what_z3_simplify_gives() -> None:
    """tested_bits simplifies every term of a trace in one goal, built through the C API;
    each result must be z3.simplify's, in order, whatever the sorts, duplicates and terms
    that simplify to the same thing."""
    import random

    import z3

    from equiv.explain.perbit import _simplified

    rng = random.Random(14)
    flags, other = z3.BitVec("flags", 64), z3.BitVec("other", 32)
    atoms = [flags, flags & (1 << 9), z3.Extract(31, 0, flags), other, z3.BitVecVal(0, 64)]

    def term(depth: int) -> z3.ExprRef:
        if depth == 0:
            return rng.choice(atoms)
        a, b = term(depth - 1), term(depth - 1)
        if a.size() != b.size():
            b = z3.ZeroExt(a.size() - b.size(), b) if a.size() > b.size() else z3.Extract(
                a.size() - 1, 0, b)
        return rng.choice([a & b, a | b, a + 0, a ^ a, z3.If(z3.ULT(a, b), a, b),
                           z3.LShR(a, 3), a * 1])

    terms: list[z3.ExprRef] = []
    for _ in range(300):
        t = term(rng.randrange(4))
        terms.append(t if rng.random() < 0.6 else z3.ULT(t, 7) if rng.random() < 0.5 else
                     z3.Not(z3.Not(z3.Extract(0, 0, t) == 1)))
    terms += terms[:20]  # the same terms again
    kept, results = _simplified(terms)
    assert len(results) == len(terms)
    for t, r in zip(terms, results):
        assert z3.eq(z3.z3._to_expr_ref(r, t.ctx), z3.simplify(t)), t
    del kept
