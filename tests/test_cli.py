"""The `equiv` command line: arguments, exit codes, output shape, robustness.

Every test runs `python -m equiv` in a subprocess on files it writes under
`tmp_path`, the way a user would.  Exit codes: 0 equivalent, 1 not
equivalent, 2 trouble, 3 unknown.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_support import (  # noqa: E402
    REPO_ROOT,
    RUN_TIMEOUT,
    assert_no_internal_names,
    assert_no_traceback,
    assert_only_known_temp_paths,
    assert_tool_error,
    check,
    describe,
    run_equiv,
    write,
)

IDENTITY = """\
int f(int x)
{
\treturn x;
}
"""

AUDIT_BEFORE = """\
#include <linux/audit.h>

#define TIF_SYSCALL_AUDIT\t9
#define TIF_SYSCALL_TRACE\t8
#define _TIF_SYSCALL_AUDIT\t(1UL << TIF_SYSCALL_AUDIT)
#define _TIF_SYSCALL_TRACE\t(1UL << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_WORK\t(_TIF_SYSCALL_AUDIT | _TIF_SYSCALL_TRACE)

void audit_syscall_exit(struct pt_regs *regs);

void syscall_exit_work(struct pt_regs *regs, unsigned long flags)
{
\tif (flags & _TIF_SYSCALL_WORK)
\t\taudit_syscall_exit(regs);
}
"""

# The after side drops _TIF_SYSCALL_TRACE from the work mask.
AUDIT_AFTER = AUDIT_BEFORE.replace(
    "(_TIF_SYSCALL_AUDIT | _TIF_SYSCALL_TRACE)", "(_TIF_SYSCALL_AUDIT)")


def verdict_lines(stdout: str) -> dict[str, str]:
    """`function: VERDICT` lines of a text report, by function."""
    return dict(re.findall(r"^(\w+): ([A-Z][A-Z ()a-z]*)$", stdout, re.M))


# ---- files that cannot be read ---------------------------------------------


@pytest.mark.parametrize("side", ["before", "after"])
def test_missing_file_is_reported_by_name(tmp_path: Path, side: str) -> None:
    present = write(tmp_path, "present.c", IDENTITY)
    missing = tmp_path / "missing.c"
    pair = (missing, present) if side == "before" else (present, missing)
    proc = check(*pair)
    assert_tool_error(proc, re.escape(str(missing)))


def test_directory_given_as_file(tmp_path: Path) -> None:
    present = write(tmp_path, "present.c", IDENTITY)
    directory = tmp_path / "adir"
    directory.mkdir()
    proc = check(directory, present)
    assert_tool_error(proc, re.escape(str(directory)) + r".*director")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_file_without_read_permission(tmp_path: Path) -> None:
    present = write(tmp_path, "present.c", IDENTITY)
    locked = write(tmp_path, "locked.c", IDENTITY)
    locked.chmod(0)
    try:
        proc = check(locked, present)
    finally:
        locked.chmod(0o644)
    assert_tool_error(proc, re.escape(str(locked)) + r".*permission")


# ---- choosing functions ----------------------------------------------------


def test_function_defined_on_neither_side(tmp_path: Path) -> None:
    source = write(tmp_path, "f.c", IDENTITY)
    proc = check(source, source, "--function", "no_such_function")
    assert_tool_error(proc, r"no_such_function.*neither side")


@pytest.mark.parametrize("after_f, expected_exit, f_verdict", [
    ("x", 0, "EQUIVALENT"),
    ("x + 1", 1, "NOT EQUIVALENT"),
])
def test_root_on_one_side_only(tmp_path: Path, after_f: str, expected_exit: int,
                               f_verdict: str) -> None:
    """A root only one side defines is listed, and the exit code follows `f`."""
    before = write(tmp_path, "before.c", IDENTITY)
    after = write(tmp_path, "after.c", IDENTITY.replace("return x;", f"return {after_f};")
                  + "\nint g(int x)\n{\n\treturn x + 2;\n}\n")
    proc = check(before, after)
    assert proc.returncode == expected_exit, describe(proc)
    assert_no_traceback(proc)
    verdicts = verdict_lines(proc.stdout)
    assert verdicts.get("f") == f_verdict, describe(proc)
    assert "ONLY IN AFTER" in verdicts.get("g", ""), describe(proc)

    swapped = check(after, before)
    assert swapped.returncode == expected_exit, describe(swapped)
    assert "ONLY IN BEFORE" in verdict_lines(swapped.stdout).get("g", ""), describe(swapped)


# ---- loops and options -----------------------------------------------------

UNBOUNDED_LOOP = """\
void f(void);

void exit_work(unsigned long flags)
{
\twhile (flags & 1)
\t\tf();
}
"""


# The same loop unrolled by two: equivalent, but not iteration by iteration; the
# rule that runs two passes of one loop against one of the other proves it.
UNROLLED_LOOP = """\
void f(void);

void exit_work(unsigned long flags)
{
\twhile (flags & 1) {
\t\tf();
\t\tif (!(flags & 1))
\t\t\tbreak;
\t\tf();
\t}
}
"""

# Unrolled by three: equivalent too, but no rule lines the loops up.
UNROLLED_THRICE = UNROLLED_LOOP.replace("\t\tf();\n\t}", "\t\tf();\n\t\tif (!(flags & 1))\n"
                                        "\t\t\tbreak;\n\t\tf();\n\t}")


def test_unbounded_loop_is_unknown_never_equivalent(tmp_path: Path) -> None:
    source = write(tmp_path, "loop.c", UNBOUNDED_LOOP)
    unrolled = write(tmp_path, "unrolled.c", UNROLLED_THRICE)
    assert UNROLLED_THRICE.count("f();") == 3
    proc = check(source, unrolled)
    assert proc.returncode == 3, describe(proc)
    assert_no_traceback(proc)
    assert verdict_lines(proc.stdout).get("exit_work") == "UNKNOWN", describe(proc)
    # The reason points at the loop in the user's file, names the bound and what helps.
    assert f"{source}:5" in proc.stdout, describe(proc)
    assert "may run more than --unwind 8 iterations; try --unwind 32, a model or --assume" \
        in proc.stdout, describe(proc)
    assert "tried lockstep induction" in proc.stdout, describe(proc)


def test_loop_unrolled_by_two_is_proved_two_passes_against_one(tmp_path: Path) -> None:
    source = write(tmp_path, "loop.c", UNBOUNDED_LOOP)
    unrolled = write(tmp_path, "unrolled.c", UNROLLED_LOOP)
    for before, after, passes in ((source, unrolled, "two passes of the before loop"),
                                  (unrolled, source, "two of the after loop")):
        proc = check(before, after)
        assert proc.returncode == 0, describe(proc)
        assert verdict_lines(proc.stdout).get("exit_work") == "EQUIVALENT", describe(proc)
        assert passes in proc.stdout, describe(proc)


def test_unbounded_loop_against_itself_is_proved(tmp_path: Path) -> None:
    """Lockstep induction proves a loop no bound covers (here: against itself)."""
    source = write(tmp_path, "loop.c", UNBOUNDED_LOOP)
    proc = check(source, source)
    assert proc.returncode == 0, describe(proc)
    assert verdict_lines(proc.stdout).get("exit_work") == "EQUIVALENT", describe(proc)


@pytest.mark.parametrize("option, value", [
    ("--unwind", "0"),
    ("--unwind", "-3"),
    ("--timeout", "0"),
    ("--timeout", "-1"),
    ("--timeout", "nan"),
])
def test_nonpositive_bounds_are_usage_errors(tmp_path: Path, option: str, value: str) -> None:
    source = write(tmp_path, "f.c", IDENTITY)
    proc = check(source, source, option, value)
    assert_tool_error(proc, re.escape(option))


def test_infinite_timeout_is_not_an_internal_error(tmp_path: Path) -> None:
    source = write(tmp_path, "f.c", IDENTITY)
    proc = check(source, source, "--timeout", "inf")
    assert_no_traceback(proc)
    assert proc.returncode in (0, 2), describe(proc)


@pytest.mark.parametrize("argv", [
    [],
    ["check"],
    ["check", "only-one.c"],
    ["check", "--unwind", "many", "a.c", "b.c"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    proc = run_equiv(*argv)
    assert proc.returncode == 2, describe(proc)
    assert_no_traceback(proc)
    assert "usage:" in proc.stderr, describe(proc)


# ---- output ----------------------------------------------------------------


def test_json_output_shape(tmp_path: Path) -> None:
    before = write(tmp_path, "before.c", AUDIT_BEFORE)
    after = write(tmp_path, "after.c", AUDIT_AFTER)
    proc = check(before, after, "--json")
    assert proc.returncode == 1, describe(proc)
    doc = json.loads(proc.stdout)
    assert doc["before"] == [str(before)]
    assert doc["after"] == [str(after)]
    assert doc["exit_code"] == proc.returncode
    [fn] = doc["functions"]
    assert {"verdict", "counterexample", "difference", "bits", "masks"} <= fn.keys()
    assert fn["verdict"] == "not-equivalent"
    assert fn["counterexample"]["flags"] == "0x100"
    assert fn["counterexample"]["flag_names"] == ["_TIF_SYSCALL_TRACE"]
    assert isinstance(fn["difference"], str) and "_TIF_SYSCALL_TRACE" in fn["difference"]
    assert {row["name"] for row in fn["bits"]} == {"_TIF_SYSCALL_TRACE", "_TIF_SYSCALL_AUDIT"}
    [mask] = fn["masks"]
    assert mask["name"] == "_TIF_SYSCALL_WORK"
    assert mask["dropped"] == ["_TIF_SYSCALL_TRACE"]


def test_json_for_equivalent_pair(tmp_path: Path) -> None:
    source = write(tmp_path, "f.c", AUDIT_BEFORE)
    proc = check(source, source, "--json")
    assert proc.returncode == 0, describe(proc)
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 0
    assert [fn["verdict"] for fn in doc["functions"]] == ["equivalent"]
    assert doc["functions"][0]["counterexample"] is None


def test_verdict_only_keeps_the_verdict_and_counterexample_but_skips_the_explanation(
        tmp_path: Path) -> None:
    before = write(tmp_path, "before.c", AUDIT_BEFORE)
    after = write(tmp_path, "after.c", AUDIT_AFTER)
    full = check(before, after, "--json")
    brief = check(before, after, "--json", "--verdict-only")
    assert (full.returncode, brief.returncode) == (1, 1), describe(brief)
    [f_fn], [b_fn] = json.loads(full.stdout)["functions"], json.loads(brief.stdout)["functions"]
    assert b_fn["counterexample"]["flags"] == f_fn["counterexample"]["flags"] == "0x100"
    assert f_fn["difference"] is not None and f_fn["bits"]
    assert b_fn["difference"] is None and not b_fn["bits"]
    text = check(before, after, "--verdict-only")
    assert "differs iff: not computed (--verdict-only" in text.stdout, describe(text)


@pytest.mark.parametrize("fmt", [(), ("--json",)])
def test_output_is_byte_identical_across_runs(tmp_path: Path, fmt: tuple[str, ...]) -> None:
    before = write(tmp_path, "before.c", AUDIT_BEFORE)
    after = write(tmp_path, "after.c", AUDIT_AFTER)
    first = check(before, after, *fmt)
    second = check(before, after, *fmt)
    assert first.returncode == 1, describe(first)
    assert (first.stdout, first.stderr) == (second.stdout, second.stderr)


def test_output_names_no_temp_path_but_the_inputs(tmp_path: Path) -> None:
    """Stubbed includes and the preprocessor's input never leak into the report."""
    before = write(tmp_path, "before.c", AUDIT_BEFORE)
    after = write(tmp_path, "after.c", AUDIT_AFTER)
    for fmt in ((), ("--json",)):
        proc = check(before, after, *fmt)
        assert proc.returncode == 1, describe(proc)
        assert_no_internal_names(proc)
        assert_only_known_temp_paths(proc, tmp_path)


def test_error_after_stubbed_include_names_no_temp_path(tmp_path: Path) -> None:
    source = write(tmp_path, "broken.c", "#include <linux/audit.h>\n#include <asm/syscall.h>\n"
                                         "\nint f(int x)\n{\n\treturn x\n}\n")
    proc = check(source, source)
    assert proc.returncode == 2, describe(proc)
    assert_no_traceback(proc)
    assert_no_internal_names(proc)
    assert_only_known_temp_paths(proc, tmp_path)
    assert proc.stderr.startswith(f"{source}:"), describe(proc)


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_exit_0_quickly(flag: str) -> None:
    start = time.monotonic()
    proc = run_equiv(flag)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, describe(proc)
    assert proc.stderr == "", describe(proc)
    assert elapsed < 10, f"{flag} took {elapsed:.1f}s"
    if flag == "--version":
        assert re.fullmatch(r"equiv \d+\.\d+\.\d+\n", proc.stdout), describe(proc)
    else:
        assert "check" in proc.stdout, describe(proc)


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_do_not_import_the_solver(flag: str) -> None:
    script = (
        "import sys\n"
        "from equiv.driver.cli import main\n"
        "try:\n"
        f"    main([{flag!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print(sorted(m for m in ('z3', 'pycparser') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.splitlines()[-1] == "[]", describe(proc)


def test_version_import_log_has_no_z3() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "equiv", "--version"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    assert "equiv.driver.cli" in imported, describe(proc)  # the log is really there
    assert not [name for name in imported if name == "z3" or name.startswith("z3.")]


# ---- size ------------------------------------------------------------------


def nested_ifs(depth: int, call_every_level: bool) -> str:
    """`depth` nested `if (flags & bit)` blocks, with a call inside the innermost or in each."""
    lines = ["void report(int depth);", "", "void exit_work(unsigned long flags)", "{"]
    for i in range(depth):
        call = f" report({i});" if call_every_level else ""
        lines.append(f"if (flags & (1UL << {i % 64})) {{{call}")
    if not call_every_level:
        lines.append(f"report({depth});")
    lines += ["}"] * depth + ["}"]
    return "\n".join(lines) + "\n"


def test_500_deep_nested_ifs_are_proved(tmp_path: Path) -> None:
    source = write(tmp_path, "deep.c", nested_ifs(500, call_every_level=False))
    proc = check(source, source)
    assert_no_traceback(proc)
    assert proc.returncode == 0, describe(proc)
    assert verdict_lines(proc.stdout) == {"exit_work": "EQUIVALENT"}, describe(proc)


def test_500_deep_nested_ifs_with_calls_finish(tmp_path: Path) -> None:
    """A harder shape: it must end cleanly, proved or honestly UNKNOWN, never different."""
    source = write(tmp_path, "deep.c", nested_ifs(500, call_every_level=True))
    proc = check(source, source, "--timeout", "5")
    assert_no_traceback(proc)
    assert proc.returncode in (0, 2, 3), describe(proc)  # never 1 against itself
    if proc.returncode == 0:
        assert verdict_lines(proc.stdout) == {"exit_work": "EQUIVALENT"}, describe(proc)
    elif proc.returncode == 3:
        assert re.search(r"^  reason: \S", proc.stdout, re.M), describe(proc)
    else:
        assert re.search(r"^(equiv|\S+:\d+(:\d+)?): error: ", proc.stderr, re.M), describe(proc)


def long_function(statements: int) -> str:
    body = [f"\ty = y + {i % 7};" for i in range(statements - 2)]
    return "int exit_work(int x)\n{\n\tint y = 0;\n" + "\n".join(body) + "\n\treturn y + x;\n}\n"


def test_20000_statement_function_finishes(tmp_path: Path) -> None:
    source = write(tmp_path, "long.c", long_function(20_000))
    start = time.monotonic()
    proc = check(source, source)  # run_equiv's timeout fails the test on a hang
    elapsed = time.monotonic() - start
    print(f"20,000-statement function: {elapsed:.1f}s")
    assert_no_traceback(proc)
    assert proc.returncode == 0, describe(proc)
    assert verdict_lines(proc.stdout) == {"exit_work": "EQUIVALENT"}, describe(proc)
    assert elapsed < RUN_TIMEOUT


# ---- usage glitches (issue 12) -----------------------------------------------


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_jobs_below_one_are_usage_errors(tmp_path: Path, jobs: str) -> None:
    source = write(tmp_path, "f.c", IDENTITY)
    proc = check(source, source, "-j", jobs)
    assert_tool_error(proc, re.escape(f"-j {jobs}: must be at least 1"))


def test_large_timeout_is_accepted(tmp_path: Path) -> None:
    source = write(tmp_path, "f.c", IDENTITY)
    proc = check(source, source, "--timeout", "1000000")
    assert proc.returncode == 0, describe(proc)


def test_patch_given_to_check_suggests_equiv_patch(tmp_path: Path) -> None:
    mail = REPO_ROOT / "tests" / "patch_series" / (
        "0004-entry-Drop-the-redundant-tracepoint-test-in-syscall_.patch")
    source = write(tmp_path, "f.c", IDENTITY)
    proc = check(mail, source)
    assert_tool_error(proc, r"is a patch or mail, not C source; .*use `equiv patch ")
    assert "#endif" not in proc.stderr


def test_undeclared_flag_name_in_a_model_hints_at_arch(tmp_path: Path) -> None:
    source = write(tmp_path, "f.c", "void audit_syscall_exit(struct pt_regs *regs);\n"
                                    "void exit_work(struct pt_regs *regs, unsigned long flags)\n"
                                    "{\n\taudit_syscall_exit(regs);\n}\n")
    proc = check(source, source, "--model", "audit")
    assert proc.returncode == 2, describe(proc)
    assert "'TIF_SYSCALL_AUDIT' undeclared" in proc.stderr
    assert "give --arch arm64 or --arch x86_64@v5.10," in proc.stderr, describe(proc)
    with_arch = check(source, source, "--model", "audit", "--arch", "arm64")
    assert with_arch.returncode == 0, describe(with_arch)


def test_a_weak_default_is_not_a_function_to_check(tmp_path: Path) -> None:
    """`--function` naming a function the file only defines `__weak` says why it is not there:
    another file may replace the body, so equiv does not take it for the function."""
    source = write(tmp_path, "f.c", "void __weak arch_hook(long x) { }\n"
                                    "void caller(long x)\n{\n\tarch_hook(x);\n}\n")
    proc = check(source, source, "--function", "arch_hook")
    assert_tool_error(proc, r"function 'arch_hook' is defined on neither side \(only as a "
                            r"__weak default, which another file may replace")
    calls = check(source, source, "--function", "caller")
    assert calls.returncode == 0, describe(calls)


def test_for_loop_rewritten_as_while_post_increment_is_proved(tmp_path: Path) -> None:
    """`for (i = 0; i < n; i++)` against `i = 0; while (i++ < n)`: the counters are equal
    at every head.  Houdini's first coupling also equates i with n (which makes the loops
    leave at once, so nothing contradicts it); the loop events then differ where the loops
    start, those pairs are dropped, and lockstep proves the rest."""
    body = "struct pt_regs;\nvoid rseq_syscall(struct pt_regs *regs);\n" \
           "void rseq_drain(struct pt_regs *regs, int n)\n{\n\tint i%s;\n\n%s\t\trseq_syscall(regs);\n}\n"
    before = write(tmp_path, "for.c", body % ("", "\tfor (i = 0; i < n; i++)\n"))
    after = write(tmp_path, "while.c", body % (" = 0", "\twhile (i++ < n)\n"))
    proc = check(before, after, "--unwind", "2")
    assert proc.returncode == 0, describe(proc)
    assert "by lockstep induction" in proc.stdout, describe(proc)
    assert "left out" in proc.stdout, describe(proc)


def test_the_parser_built_once_keeps_no_state_between_runs() -> None:
    """`main` reuses one parser per process (`equiv batch` runs it per line): the lists
    one run appends to are not the next run's defaults."""
    from equiv.driver.cli import _parser

    first = _parser().parse_args(["check", "a.c", "b.c", "-f", "one", "-D", "CONFIG_X=y",
                                  "-I", "inc", "--assume", "x == 1"])
    again = _parser().parse_args(["check", "a.c", "b.c"])
    assert first.function == ["one"] and first.pins == ["CONFIG_X=y"]
    assert (again.function, again.pins, again.include_dirs, again.assume) == ([], [], [], [])
    assert _parser() is _parser()
