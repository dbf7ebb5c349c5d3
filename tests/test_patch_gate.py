"""`equiv patch`: what the gate checks, and its command line.

Each test builds a small git repository from tests/patch_tree, commits a
change, and runs `equiv patch --git HEAD~1..HEAD` on it the way a CI job
does.  The first group pins the three holes of issue 9 (a touched function's
other callers, deleted functions, changed initializers) and what the patch
cut-out carries; the second pins the baseline and each usage error of
issue 12 (message and exit status).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_patch import SERIES, TREE, equiv_patch, git

from equiv.patch.gate import same_cut_out
from equiv.patch.scope import Fragment

pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("gcc") is None,
                                reason="equiv patch needs git and gcc")

PTRACE = Path("arch/arm64/kernel/ptrace.c")
COMMON = Path("kernel/entry/common.c")


def repository(tmp_path: Path, setup: Callable[[Path], None] | None = None) -> Path:
    """tests/patch_tree committed as a git repository, after `setup` edits it."""
    path = tmp_path / "linux"
    shutil.copytree(TREE, path)
    if setup is not None:
        setup(path)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "base")
    return path


def commit(path: Path, message: str, **edits: tuple[str, str]) -> None:
    """Replace text in files (keyword: a path with '/' written as '__') and commit."""
    for key, (old, new) in edits.items():
        target = path / key.replace("__", "/")
        text = target.read_text()
        assert old in text, (key, old)
        target.write_text(text.replace(old, new))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)


def append(path: Path, rel: Path | str, text: str) -> None:
    target = path / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + text)


def gate_json(path: Path, *args: object) -> tuple[int, dict[str, object]]:
    run = equiv_patch("--git", "HEAD~1..HEAD", "--format", "json", *args, cwd=path)
    assert run.returncode in (0, 1, 3), run.stdout + run.stderr
    return run.returncode, json.loads(run.stdout)


def checked(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    patches = doc["patches"]
    assert isinstance(patches, list) and len(patches) == 1
    return {c["function"]: c for c in patches[0]["checks"]}


# ---- issue 9: every caller of a touched function -----------------------------------

SECOND_CALLER = """
void do_notify_exit(struct pt_regs *regs, unsigned long flags)
{
\tsyscall_exit_work(regs, flags);
}
"""


def test_second_caller_of_a_touched_function_is_checked(tmp_path: Path) -> None:
    """v16 11/18 moves rseq_syscall() out of syscall_exit_work(); a second caller of
    syscall_exit_work() loses it, so the claim is refuted even with the audit model."""
    path = repository(tmp_path, lambda p: append(p, "arch/arm64/kernel/signal.c",
                                                 "#include <asm/syscall.h>\n" + SECOND_CALLER))
    git(path, "am", "-q", str(SERIES / "0001-arm64-ptrace-Fold-the-single-step-test-into-"
                                       "one-mask.patch"))
    git(path, "am", "-q", str(SERIES / "0002-arm64-ptrace-Align-syscall-exit-work-semantics-"
                                       "with-.patch"))
    status, doc = gate_json(path, "--model", "audit", "--stable-flags")
    checks = checked(doc)
    assert status == 1
    assert doc["patches"][0]["outcome"] == "refuted"  # type: ignore[index]
    assert checks["do_notify_exit"]["result"]["verdict"] == "not-equivalent"
    cex = checks["do_notify_exit"]["result"]["counterexample"]
    assert "rseq_syscall" in [c["function"] for c in cex["before"]["calls"]]
    assert "rseq_syscall" not in [c["function"] for c in cex["after"]["calls"]]
    # The touched function itself is checked, and its callers are listed.
    assert sorted(checks["syscall_exit_work"]["callers"]) == [
        "do_notify_exit", "syscall_exit_to_user_mode_work"]


def test_touched_function_contained_by_its_callers_passes(tmp_path: Path) -> None:
    """Without the second caller the same patch is proved under the audit model: the
    touched functions differ alone, but every caller in scope behaves the same."""
    path = repository(tmp_path)
    git(path, "am", "-q", str(SERIES / "0001-arm64-ptrace-Fold-the-single-step-test-into-"
                                       "one-mask.patch"))
    git(path, "am", "-q", str(SERIES / "0002-arm64-ptrace-Align-syscall-exit-work-semantics-"
                                       "with-.patch"))
    status, doc = gate_json(path, "--model", "audit")
    checks = checked(doc)
    assert status == 0
    assert checks["el0_svc_common"]["result"]["verdict"] == "equivalent"
    assert checks["syscall_exit_work"]["result"]["verdict"] == "not-equivalent"
    assert checks["syscall_exit_work"]["contained"] is True
    assert "every caller in the scanned scope" in doc["patches"][0]["reason"]  # type: ignore


TRACEPOINT_TEST = "\tif (work & SYSCALL_WORK_SYSCALL_TRACEPOINT)\n\t\ttrace_sys_exit"


def test_callers_of_a_touched_static_function_are_checked(tmp_path: Path) -> None:
    path = repository(tmp_path)
    commit(path, "entry: Drop the tracepoint test\n\nNo functional change.", **{
        "kernel__entry__common.c": (TRACEPOINT_TEST, "\ttrace_sys_exit")})
    status, doc = gate_json(path)
    checks = checked(doc)
    assert status == 1
    assert checks["syscall_exit_work"]["contained"] is True  # static: seen via its caller
    assert checks["syscall_exit_to_user_mode_work"]["contained"] is False
    assert checks["syscall_exit_to_user_mode_work"]["result"]["verdict"] == "not-equivalent"


# ---- issue 9: a function on one side only ----------------------------------------------

UNUSED_HOOK = "\nvoid exit_debug_hook(struct pt_regs *regs)\n{\n\trseq_syscall(regs);\n}\n"


def test_deleted_function_under_a_claim_is_unknown(tmp_path: Path) -> None:
    path = repository(tmp_path, lambda p: append(p, COMMON, UNUSED_HOOK))
    commit(path, "entry: Remove exit_debug_hook()\n\nNo functional change.",
           **{"kernel__entry__common.c": (UNUSED_HOOK, "")})
    status, doc = gate_json(path)
    assert status == 3, doc
    report = doc["patches"][0]  # type: ignore[index]
    assert report["outcome"] == "unknown" and report["gate_fails"]
    assert "exit_debug_hook (deleted; no caller in the scanned scope)" in report["reason"]
    strict = equiv_patch("--git", "HEAD~1..HEAD", "--strict", cwd=path)
    assert strict.returncode in (1, 3) and "PROVED" not in strict.stdout
    sarif = json.loads(equiv_patch("--git", "HEAD~1..HEAD", "--format", "sarif",
                                   cwd=path).stdout)
    [result] = sarif["runs"][0]["results"]
    where = result["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == "kernel/entry/common.c"
    before_lines = git(path, "show", "HEAD~1:kernel/entry/common.c").split("\n")
    line = before_lines.index("void exit_debug_hook(struct pt_regs *regs)") + 1
    assert where["region"]["startLine"] == line


def test_deleted_function_without_a_claim_fails_strict(tmp_path: Path) -> None:
    path = repository(tmp_path, lambda p: append(p, COMMON, UNUSED_HOOK))
    commit(path, "entry: Remove exit_debug_hook()",
           **{"kernel__entry__common.c": (UNUSED_HOOK, "")})
    plain = equiv_patch("--git", "HEAD~1..HEAD", cwd=path)
    assert plain.returncode == 0 and "CHANGE" in plain.stdout, plain.stdout
    strict = equiv_patch("--git", "HEAD~1..HEAD", "--strict", cwd=path)
    assert strict.returncode == 1, strict.stdout
    assert "NEW-DIFFERENCE" in strict.stdout


def test_deleted_helper_whose_callers_stay_the_same_is_proved(tmp_path: Path) -> None:
    """Folding a static helper into its only caller: the helper is on one side only,
    and its caller, checked, behaves the same."""
    path = repository(tmp_path)
    helper = ("static inline bool report_single_step(unsigned long flags)\n{\n"
              "\tif (flags & _TIF_SYSCALL_EMU)\n\t\treturn false;\n\n"
              "\treturn flags & _TIF_SINGLESTEP;\n}\n\n")
    commit(path, "arm64: ptrace: Fold report_single_step()\n\nNo functional change.", **{
        "arch__arm64__kernel__ptrace.c": (helper, "")})
    text = (path / PTRACE).read_text().replace(
        "step = report_single_step(flags);",
        "step = !(flags & _TIF_SYSCALL_EMU) && (flags & _TIF_SINGLESTEP);")
    (path / PTRACE).write_text(text)
    git(path, "commit", "-q", "-a", "--amend", "--no-edit")
    status, doc = gate_json(path)
    checks = checked(doc)
    assert status == 0, doc
    assert checks["report_single_step"]["result"]["verdict"] == "only-before"
    assert checks["report_single_step"]["contained"] is True
    assert checks["syscall_exit_work"]["result"]["verdict"] == "equivalent"


# ---- issue 9: variables, initializers and types ----------------------------------------

MASK_USER = """
static const unsigned long exit_mask = _TIF_SYSCALL_TRACE;

void exit_mask_hook(struct pt_regs *regs, unsigned long flags)
{
\tif (flags & exit_mask)
\t\treport_syscall_exit(regs);
}
"""


# ---- a function equiv cannot model, next to a finding --------------------------------

VLA_USER = "\nvoid vla_user(int n)\n{\n\tchar buf[n];\n\tbuf[0] = 0;\n}\n"


def test_function_touched_only_by_an_include_line_is_equivalent_by_identity(
        tmp_path: Path) -> None:
    # The include line touches every function of ptrace.c; vla_user's cut-out is the
    # same on both sides, so equiv does not execute it (it would refuse the VLA).
    path = repository(tmp_path, lambda p: append(p, PTRACE, VLA_USER))
    commit(path, "arm64: ptrace: Drop an include\n\nNo functional change.",
           **{"arch__arm64__kernel__ptrace.c": ("#include <linux/rseq.h>\n", "")})
    status, doc = gate_json(path)
    checks = checked(doc)
    assert status == 0, doc
    assert doc["patches"][0]["outcome"] == "proved"  # type: ignore[index]
    assert checks["vla_user"]["result"]["verdict"] == "equivalent"
    assert "not executed" in checks["vla_user"]["result"]["reason"]
    assert all("not executed" in c["result"]["reason"] for c in checks.values())


def test_a_function_equiv_refuses_makes_the_gate_trouble(tmp_path: Path) -> None:
    path = repository(tmp_path, lambda p: append(p, PTRACE, VLA_USER))
    commit(path, "arm64: ptrace: Clear two bytes\n\nNo functional change.",
           **{"arch__arm64__kernel__ptrace.c": ("\tbuf[0] = 0;\n}", "\tbuf[0] = 0;\n\tbuf[1] = 0;\n}")})
    run = equiv_patch("--git", "HEAD~1..HEAD", cwd=path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "variable-length array" in run.stdout


def test_a_refutation_outranks_a_function_equiv_refuses(tmp_path: Path) -> None:
    # A counterexample in a function that was checked is real whatever the function
    # that could not be checked does: the claim is refuted, and the report says what
    # was not checked.
    path = repository(tmp_path, lambda p: append(p, PTRACE, VLA_USER))
    commit(path, "entry: Tidy\n\nNo functional change.", **{
        "arch__arm64__kernel__ptrace.c": ("\tbuf[0] = 0;\n}", "\tbuf[0] = 0;\n\tbuf[1] = 0;\n}"),
        "kernel__entry__common.c": (TRACEPOINT_TEST, "\ttrace_sys_exit")})
    status, doc = gate_json(path)
    report = doc["patches"][0]  # type: ignore[index]
    assert (status, report["outcome"]) == (1, "refuted"), doc
    assert "not checked: vla_user" in report["reason"]
    assert "variable-length array" in report["reason"]


def test_changed_static_const_is_never_proved(tmp_path: Path) -> None:
    path = repository(tmp_path, lambda p: append(p, PTRACE, MASK_USER))
    commit(path, "arm64: ptrace: Widen the exit mask\n\nNo functional change.", **{
        "arch__arm64__kernel__ptrace.c": ("exit_mask = _TIF_SYSCALL_TRACE;",
                                          "exit_mask = _TIF_SYSCALL_TRACE | _TIF_SYSCALL_AUDIT;")})
    status, doc = gate_json(path)
    report = doc["patches"][0]  # type: ignore[index]
    # Refuted where the checker reads initializers, undecided where it cannot: never a pass.
    assert status in (1, 3), report
    assert report["outcome"] in ("refuted", "unknown") and report["gate_fails"]
    assert "exit_mask_hook" in checked(doc)  # the user of the constant is checked


def test_changed_global_initializer_is_not_skipped(tmp_path: Path) -> None:
    counter = "\nunsigned long exit_count = 0;\n"
    path = repository(tmp_path, lambda p: append(p, COMMON, counter))
    commit(path, "entry: Start counting at one\n\nNo functional change.", **{
        "kernel__entry__common.c": ("exit_count = 0;", "exit_count = 1;")})
    status, doc = gate_json(path)
    report = doc["patches"][0]  # type: ignore[index]
    assert status == 3 and report["outcome"] == "unknown", report
    assert "initializer of 'exit_count'" in checked(doc)["exit_count"]["result"]["reason"]


STRUCT = """
struct exit_ctx {
\tunsigned int mode;
};

void exit_ctx_hook(struct exit_ctx *ctx)
{
\tif (ctx->mode & 0x100)
\t\treport_syscall_exit(0);
}
"""


def test_struct_layout_change_checks_its_users(tmp_path: Path) -> None:
    path = repository(tmp_path, lambda p: append(p, COMMON, STRUCT))
    commit(path, "entry: Narrow the mode\n\nNo functional change.", **{
        "kernel__entry__common.c": ("\tunsigned int mode;", "\tunsigned char mode;")})
    run = equiv_patch("--git", "HEAD~1..HEAD", "--format", "json", cwd=path)
    doc = json.loads(run.stdout)
    assert "exit_ctx_hook" in checked(doc), run.stdout
    assert run.returncode != 0 and doc["patches"][0]["outcome"] != "proved"


def test_cut_out_carries_the_types_it_uses() -> None:
    from equiv.patch.scope import TreeIndex, fragment

    files = {"k/a.h": "struct exit_ctx {\n\tunsigned int mode;\n};\n"
                      "typedef struct exit_ctx exit_ctx_t;\n",
             "k/a.c": '#include "a.h"\nstatic const unsigned long exit_mask = 3;\n'
                      "void use(exit_ctx_t *c, struct exit_ctx *d)\n{\n"
                      "\tif (c->mode & exit_mask)\n\t\tfoo(d);\n}\n"}
    frag = fragment(("use", "k/a.c"), TreeIndex.build(files), None, "a")
    assert frag is not None
    text = "".join(t for _, t in frag.files)
    struct, typedef = text.find("struct exit_ctx {"), text.find("typedef struct exit_ctx")
    assert 0 <= struct < typedef < text.find("void use(")
    assert "static const unsigned long exit_mask = 3;" in text
    assert '#line 1 "a/k/a.h"' in text  # located in the tree's own file (side a)


# ---- issue 12: the baseline ---------------------------------------------------------

def test_baseline_matches_by_patch_id_not_subject(tmp_path: Path) -> None:
    """Recorded from an mbox (stripped subject), matched for the same diff mailed as
    `[PATCH v16 11/18]` under a reworded subject."""
    path = repository(tmp_path)
    for name in ("0001-arm64-ptrace-Fold-the-single-step-test-into-one-mask.patch",
                 "0002-arm64-ptrace-Align-syscall-exit-work-semantics-with-.patch"):
        git(path, "am", "-q", str(SERIES / name))
    raw = (SERIES / "0003-arm64-ptrace-Define-and-use-_TIF_SYSCALL_EXIT_WORK.patch").read_text()
    mbox = tmp_path / "one.mbox"
    mbox.write_text(raw.replace("Subject: [PATCH 3/5] ", "Subject: "))
    baseline = tmp_path / "baseline.json"
    update = equiv_patch(mbox, "--tree", path, "--strict", "--update-baseline",
                         "--baseline", baseline)
    assert update.returncode == 0, update.stdout + update.stderr
    entries = json.loads(baseline.read_text())["accepted"]
    assert [e["function"] for e in entries] == ["el0_svc_common"]
    assert len(entries[0]["patch_id"]) == 40
    renamed = tmp_path / "v16.patch"
    renamed.write_text(raw.replace(
        "Subject: [PATCH 3/5] arm64/ptrace: Define and use _TIF_SYSCALL_EXIT_WORK",
        "Subject: [PATCH v16 11/18] arm64: entry: Add the exit work mask"))
    again = equiv_patch(renamed, "--tree", path, "--strict", "--baseline", baseline)
    assert again.returncode == 0, again.stdout
    assert "accepted in baseline" in again.stdout


def test_condition_is_compared_as_data() -> None:
    from equiv.patch.baseline import canonical_difference

    a = canonical_difference("(_TIF_A is set and none of _TIF_B, _TIF_C is set) or "
                             "(CONFIG_X=y and _TIF_D is clear)")
    b = canonical_difference("(_TIF_D is clear and CONFIG_X=y) or (none of _TIF_C, "
                             "_TIF_B is set  and _TIF_A is set)")
    assert a == b and a.startswith("cubes:")
    assert canonical_difference("_TIF_A is set") != canonical_difference("_TIF_A is clear")


def test_update_baseline_message_matches_exit_status(tmp_path: Path) -> None:
    path = repository(tmp_path)
    git(path, "am", "-q", str(SERIES / "series.mbox"))
    run = equiv_patch("--git", "HEAD~3..HEAD~2", "--strict", "--update-baseline", cwd=path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gate passes (exit 0)" in run.stdout and "gate fails" not in run.stdout


def test_refuted_claim_is_not_accepted_into_the_baseline(tmp_path: Path) -> None:
    path = repository(tmp_path)
    git(path, "am", "-q", str(SERIES / "series.mbox"))
    run = equiv_patch("--git", "HEAD~2..HEAD~1", "--update-baseline", cwd=path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "not recorded" in run.stderr and "refuted" in run.stderr
    assert "gate fails (exit 1)" in run.stdout
    assert json.loads((path / ".equiv-baseline").read_text())["accepted"] == []
    # Nor does an entry written by hand make the claim pass.
    from equiv.patch.baseline import canonical_difference

    doc = json.loads(equiv_patch("--git", "HEAD~2..HEAD~1", "--format", "json",
                                 cwd=path).stdout)
    rows = [{"patch_id": "*", "subject": "*", "function": c["function"],
             "difference": c["result"]["difference"],
             "condition": canonical_difference(c["result"]["difference"])}
            for c in doc["patches"][0]["checks"] if not c["contained"]]
    (path / ".equiv-baseline").write_text(json.dumps({"equiv-baseline": 2, "accepted": rows}))
    again = equiv_patch("--git", "HEAD~2..HEAD~1", cwd=path)
    assert again.returncode == 1 and "REFUTED" in again.stdout, again.stdout


def test_missing_baseline_file_is_an_error(tmp_path: Path) -> None:
    run = equiv_patch(SERIES / "0005-Documentation-entry-Mention-the-equivalence-gate.patch",
                      "--tree", TREE, "--baseline", tmp_path / "nope.json")
    assert run.returncode == 2
    assert "nope.json: no such file" in run.stderr and "--update-baseline" in run.stderr


# ---- issue 12: usage errors -----------------------------------------------------------

DOC_PATCH = SERIES / "0005-Documentation-entry-Mention-the-equivalence-gate.patch"


@pytest.mark.parametrize("args, message", [
    (["-o", "/nonexistent/dir/x"], ("-o /nonexistent/dir/x: directory /nonexistent/dir "
                                    "does not exist")),
    (["--witness", "FILE"], "--witness FILE: exists and is not a directory"),
    (["--scope", "nosuchdir"], "--scope nosuchdir: no such directory"),
    (["--timeout", "0"], "--timeout 0: must be a positive number of seconds"),
    (["--unwind", "0"], "--unwind 0: must be between 1 and"),
])
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "FILE").write_text("")
    run = equiv_patch(DOC_PATCH, "--tree", TREE, *args, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr


def test_large_timeout_is_accepted() -> None:
    run = equiv_patch(DOC_PATCH, "--tree", TREE, "--timeout", "1000000")
    assert run.returncode == 0, run.stderr


def test_empty_range_is_an_error(tmp_path: Path) -> None:
    path = repository(tmp_path)
    run = equiv_patch("--git", "HEAD..HEAD", cwd=path)
    assert run.returncode == 2
    assert "the range has no commits" in run.stderr and "0 patches" not in run.stdout


# ---- issue 12: errors point at their own line --------------------------------------------

# An error the whole file stops at (a broken function alone is that function's error,
# reported only where a check reaches it).
BAD = "\tcpu_relax();\n#error spin: no loops here\n"


def test_error_quotes_its_own_line_in_every_format(tmp_path: Path) -> None:
    path = repository(tmp_path)
    commit(path, "entry: Spin\n\nNo functional change.", **{
        "kernel__entry__common.c": ("\trseq_syscall(regs);\n\n\tif (unlikely",
                                    f"\trseq_syscall(regs);\n{BAD}\n\tif (unlikely")})
    lines = (path / COMMON).read_text().split("\n")
    text = equiv_patch("--git", "HEAD~1..HEAD", cwd=path)
    assert text.returncode == 2, text.stdout + text.stderr
    m = __import__("re").search(r"(\S+common\.c):(\d+)(?::\d+)?: error: .*\n\s+(.*)",
                                text.stdout)
    assert m is not None, text.stdout
    line = int(m.group(2))
    assert m.group(3).strip() == lines[line - 1].strip()
    assert not m.group(3).startswith(("#line", "#define", "}"))
    sarif = json.loads(equiv_patch("--git", "HEAD~1..HEAD", "--format", "sarif",
                                   cwd=path).stdout)
    region = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "kernel/entry/common.c"
    assert region["region"]["startLine"] == line
    doc = json.loads(equiv_patch("--git", "HEAD~1..HEAD", "--format", "json",
                                 cwd=path).stdout)
    assert doc["patches"][0]["location"] == {"file": "kernel/entry/common.c", "line": line}
    assert lines[line - 1].strip() in doc["patches"][0]["reason"]
    junit = equiv_patch("--git", "HEAD~1..HEAD", "--format", "junit", cwd=path).stdout
    assert lines[line - 1].strip().replace('"', "&quot;") in junit


def test_witness_says_differs(tmp_path: Path) -> None:
    run = equiv_patch(SERIES / "0004-entry-Drop-the-redundant-tracepoint-test-in-syscall_.patch",
                      "--tree", TREE, "--witness", tmp_path)
    assert run.returncode == 1
    sources = sorted(tmp_path.glob("*/witness.c"))
    assert sources
    exe = tmp_path / "w"
    subprocess.run(["gcc", "-std=gnu11", "-w", "-o", str(exe), str(sources[0])], check=True)
    ran = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert ran.returncode == 1 and ran.stdout.rstrip().endswith("DIFFERS")


def test_functions_named_outside_calls_are_never_contained() -> None:
    """A difference in a function that a top-level macro, EXPORT_SYMBOL or a pointer
    names can reach code no check sees, whatever its callers in scope do."""
    from equiv.patch.scope import TreeIndex, roots, touched

    def tree(body: str) -> dict[str, str]:
        return {"k/a.c": "static int helper(int x)\n{\n\treturn " + body + ";\n}\n\n"
                         "int user(int x)\n{\n\treturn helper(x);\n}\n"}

    for tail, why in [("", None), ("module_init(helper);\n", "module_init() at k/a.c:10"),
                      ("EXPORT_SYMBOL(helper);\n", "exported"),
                      ("static int (*hook)(int) = helper;\n", "hook (k/a.c) uses it")]:
        old, new = tree("x"), tree("x + 1")
        old["k/a.c"] += tail
        new["k/a.c"] += tail
        before, after = TreeIndex.build(old), TreeIndex.build(new)
        t = touched({"k/a.c": (old["k/a.c"], new["k/a.c"])}, before, after)
        found = {r.name: r for r in roots(t, before, after)}
        assert found["helper"].callers == (("user", "k/a.c"),)
        escapes = found["helper"].escapes
        assert (escapes is None) if why is None else (why in (escapes or "")), (tail, escapes)
        assert found["user"].escapes == "its callers are not checked"


def test_list_archive_page_subject_keeps_its_tags_for_the_reply() -> None:
    # A pipermail page starts with the subject line itself, not a Subject: header.
    from equiv.patch.series import parse_message

    page = ("[PATCH v16 11/18] arm64: ptrace: Align syscall exit work\n\nJ. Doe\n\n"
            "Some words.\n\nNo functional changes intended.\n---\n"
            "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n")
    patch = parse_message(page, "page.txt", 1)
    assert patch.tags == "[PATCH v16 11/18]"
    assert patch.subject == "arm64: ptrace: Align syscall exit work"


# ---- cut-outs that differ only in macros nothing uses ------------------------------------

CUT_OUT = """\
#define _TIF_A (1UL << 3)
#define WORK (_TIF_A | LATER)
#define LATER (1UL << 4)
void g(struct s v);
void f(unsigned long flags)
{
	if (flags & WORK)
		g((struct s){0});
}
"""


def _cut_out(side: str, text: str) -> Fragment:
    return Fragment(((f"{side}/arch/x/f.c", text),), (), ("f",))


@pytest.mark.parametrize("after, same", [
    # an added macro that nothing uses: the same program
    (CUT_OUT.replace("void g", "#define _TIF_UNUSED (_TIF_A | \\\n\t\t\t(1UL << 9))\nvoid g"),
     True),
    # an unused macro changed
    (CUT_OUT.replace("#define _TIF_A (1UL << 3)\n",
                     "#define _TIF_A (1UL << 3)\n#define OLD 1\n").replace("OLD 1", "OLD 2"),
     True),
    # a used macro changed, and one used only through another used macro
    (CUT_OUT.replace("(1UL << 3)", "(1UL << 5)"), False),
    (CUT_OUT.replace("#define LATER (1UL << 4)", "#define LATER (1UL << 6)"), False),
    # token pasting could form any name: nothing is left out
    (CUT_OUT.replace("void g", "#define CAT(a, b) a##b\nvoid g"), False),
])
def test_same_cut_out_ignores_only_unused_macros(after: str, same: bool) -> None:
    before = CUT_OUT.replace("void g", "#define CAT(a, b) a##b\nvoid g") \
        if "##" in after else CUT_OUT
    if "##" in after:
        after = after.replace("#define _TIF_A", "#define UNUSED_TOO 1\n#define _TIF_A")
    assert same_cut_out(_cut_out("a", before), _cut_out("b", after)) is same


def test_same_cut_out_keeps_macros_the_models_read() -> None:
    """The audit model tests TIF_SYSCALL_AUDIT: a cut-out whose code only calls
    audit_syscall_exit() still depends on that macro when the model is in force."""
    from equiv.driver.check import CheckOptions
    from equiv.patch.gate import GateOptions, _read_by_models

    text = ("#define TIF_SYSCALL_AUDIT {}\nvoid audit_syscall_exit(void *regs);\n"
            "void f(void *regs)\n{{\n\taudit_syscall_exit(regs);\n}}\n")
    before, after = _cut_out("a", text.format(9)), _cut_out("b", text.format(7))
    assert same_cut_out(before, after, _read_by_models(GateOptions(CheckOptions())))
    with_model = _read_by_models(GateOptions(CheckOptions(models=("audit",))))
    assert "TIF_SYSCALL_AUDIT" in with_model
    assert not same_cut_out(before, after, with_model)
