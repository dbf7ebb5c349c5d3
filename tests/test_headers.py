"""Headers and identifiers as premises, and the kernel-tree mode (`--tree LINUX --arch ARCH`).

The fixtures under tests/fixtures/headers/ cover the verdicts (opaque
identifiers, stubs, the `#ifndef` fallback that fired on a stub, --no-stubs).
These tests cover what the fixtures cannot: the JSON and SARIF shapes, a
kernel tree (written here, a few lines of our own in the kernel's layout),
the note for a layout macro that a side declares as an enumerator, and the
`equiv patch` cut-out's types.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cli_support import (
    REPO_ROOT,
    assert_no_traceback,
    check,
    describe,
    run_equiv,
    run_process,
    write,
)

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "headers"

EXIT_WORK = """\
void report_syscall_exit(void);
void audit_syscall_exit(void);

void syscall_exit_work(unsigned long flags)
{{
	if (IS_ENABLED(CONFIG_AUDITSYSCALL))
		audit_syscall_exit();
	if (flags & ({mask}))
		report_syscall_exit();
}}
"""


def _tree(root: Path, singlestep: int = 5) -> Path:
    """A kernel-shaped tree: arm64 thread_info.h with its own layout, a kconfig.h that
    equiv must not use, and an include the build resolves from arch/arm64/include."""
    tree = root / "linux"
    write_file(tree / "arch/arm64/include/asm/thread_info.h", f"""\
#ifndef __ASM_THREAD_INFO_H
#define __ASM_THREAD_INFO_H
#include <linux/compiler.h>
#ifndef __ASSEMBLY__
struct thread_info {{
	unsigned long flags;
}};
#endif
#define TIF_SYSCALL_TRACE	8	/* syscall trace active */
#define TIF_SYSCALL_AUDIT	9
#ifdef CONFIG_MOVED_STEP
#define TIF_SINGLESTEP		30
#else
#define TIF_SINGLESTEP		{singlestep}
#endif
#define _TIF_SYSCALL_TRACE	(1 << TIF_SYSCALL_TRACE)
#define _TIF_SYSCALL_AUDIT	(1 << TIF_SYSCALL_AUDIT)
#define _TIF_SINGLESTEP		(1 << TIF_SINGLESTEP)
#endif /* __ASM_THREAD_INFO_H */
""")
    write_file(tree / "include/linux/kconfig.h", "#define IS_ENABLED(option) 0\n")
    write_file(tree / "arch/arm64/include/asm/exit.h", "#define EXIT_MASK _TIF_SYSCALL_TRACE\n")
    return tree


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _pair(tree: Path, before_mask: str, after_mask: str) -> tuple[Path, Path]:
    src = tree / "arch/arm64/kernel"
    head = "#include <asm/thread_info.h>\n#include <asm/exit.h>\n"
    return (write_file(src / "before.c", head + EXIT_WORK.format(mask=before_mask)),
            write_file(src / "after.c", head + EXIT_WORK.format(mask=after_mask)))


# ---- premises in JSON -------------------------------------------------------------------

def test_json_lists_stubs_and_opaque_names_as_premises() -> None:
    case = FIXTURES / "stub-fallback-warned-equiv"
    proc = check(f"{case}.before.c", f"{case}.after.c", "--arch", "arm64", "--json")
    assert proc.returncode == 0, describe(proc)
    fn = json.loads(proc.stdout)["functions"][0]
    kinds = {p["label"]: p["kind"] for p in fn["premises"]}
    assert kinds == {"layout arm64 (Linux v6.12, baked)": "layout",
                     "stub <asm/entry-common.h>": "stub"}, describe(proc)
    assert len(fn["warnings"]) == 1 and "ARCH_SYSCALL_EXIT_WORK" in fn["warnings"][0]
    assert fn["needed"] == []  # facts of the input are not dropped to test the proof


def test_json_opaque_name_is_an_input_of_the_counterexample() -> None:
    case = FIXTURES / "opaque-identifier-differs"
    proc = check(f"{case}.before.c", f"{case}.after.c", "--json")
    assert proc.returncode == 1, describe(proc)
    fn = json.loads(proc.stdout)["functions"][0]
    assert [p["kind"] for p in fn["premises"]] == ["opaque", "opaque"]
    assert "of type int, long or unsigned long (not unsigned int, nor an int INT_MIN " \
           "that is negated)" in \
        fn["premises"][0]["description"]
    inputs = fn["counterexample"]["inputs"]
    assert {"X86_EFLAGS_AC", "X86_EFLAGS_DF"} <= set(inputs), describe(proc)


def test_missing_arch_header_is_never_a_silent_equivalent() -> None:
    """The hazard of issue #10: the stub makes the sides equal; the report says so."""
    case = FIXTURES / "stub-fallback-warned-equiv"
    proc = check(f"{case}.before.c", f"{case}.after.c", "--arch", "arm64")
    assert proc.returncode == 0, describe(proc)
    assert "in force: layout arm64 (Linux v6.12, baked); stub <asm/entry-common.h>" in \
        proc.stdout, describe(proc)
    assert "warning: " in proc.stdout and "'#ifndef ARCH_SYSCALL_EXIT_WORK' fallback was used" \
        in proc.stdout, describe(proc)
    with_header = check(f"{case}.before.c", f"{case}.after.c", "--arch", "arm64",
                        "-I", FIXTURES / "arch-include")
    assert with_header.returncode == 1, describe(with_header)
    assert "stub <" not in with_header.stdout and "warning:" not in with_header.stdout
    refused = check(f"{case}.before.c", f"{case}.after.c", "--arch", "arm64", "--no-stubs")
    assert refused.returncode == 2 and "--no-stubs" in refused.stderr, describe(refused)


def test_include_guard_is_not_a_fallback(tmp_path: Path) -> None:
    write(tmp_path, "guarded.h", "#ifndef _GUARDED_H\n#define _GUARDED_H\n#define X 1\n#endif\n")
    side = write(tmp_path, "a.c", "#include <linux/sched.h>\n#include \"guarded.h\"\n"
                                  "void f(void);\nvoid g(unsigned long flags) { f(); }\n")
    proc = check(side, side)
    assert proc.returncode == 0, describe(proc)
    assert "stub <linux/sched.h>" in proc.stdout and "warning:" not in proc.stdout


# ---- SARIF ------------------------------------------------------------------------------

PATCH = """\
From: A <a@example.org>
Subject: [PATCH] x86/entry: Test the other flag

No functional change intended.
---
 arch/x86/kernel/entry.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/arch/x86/kernel/entry.c b/arch/x86/kernel/entry.c
--- a/arch/x86/kernel/entry.c
+++ b/arch/x86/kernel/entry.c
@@ -2,6 +2,6 @@ void clear_direction_flag(void);
 
 void enter_from_user_mode(unsigned long eflags)
 {
-	if (eflags & X86_EFLAGS_DF)
+	if (eflags & X86_EFLAGS_AC)
 		clear_direction_flag();
 }
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="equiv patch needs git")
def test_sarif_lists_what_the_verdict_rests_on(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_file(tree / "arch/x86/kernel/entry.c", "void clear_direction_flag(void);\n\n"
               "void enter_from_user_mode(unsigned long eflags)\n{\n"
               "\tif (eflags & X86_EFLAGS_DF)\n\t\tclear_direction_flag();\n}\n")
    patch = write(tmp_path, "p.patch", PATCH)
    proc = run_equiv("patch", patch, "--tree", tree, "--format", "sarif")
    assert proc.returncode == 1, describe(proc)
    result = json.loads(proc.stdout)["runs"][0]["results"][0]
    assert result["properties"]["inForce"] == ["opaque X86_EFLAGS_AC", "opaque X86_EFLAGS_DF"]
    assert "in force: opaque X86_EFLAGS_AC; opaque X86_EFLAGS_DF" in result["message"]["text"]
    text = run_equiv("patch", patch, "--tree", tree)
    assert "in force: opaque X86_EFLAGS_AC; opaque X86_EFLAGS_DF" in text.stdout, describe(text)


# ---- kernel-tree mode -------------------------------------------------------------------

def test_tree_layout_comes_from_the_trees_thread_info(tmp_path: Path) -> None:
    tree = _tree(tmp_path, singlestep=5)
    before, after = _pair(tree, "EXIT_MASK | _TIF_SINGLESTEP", "EXIT_MASK")
    proc = check(before, after, "--tree", tree, "--arch", "arm64")
    assert proc.returncode == 1, describe(proc)
    assert "in force: layout arm64 (from --tree)" in proc.stdout, describe(proc)
    # bit 5 in this tree; the baked v6.12 layout has TIF_SINGLESTEP at 21
    assert "counterexample: flags=0x20 (_TIF_SINGLESTEP)" in proc.stdout, describe(proc)
    moved = check(before, after, "--tree", tree, "--arch", "arm64", "-D", "CONFIG_MOVED_STEP=y")
    assert "counterexample: flags=0x40000000 (_TIF_SINGLESTEP)" in moved.stdout, describe(moved)


def test_tree_is_enabled_keeps_equivs_meaning(tmp_path: Path) -> None:
    """The tree's kconfig.h (here: IS_ENABLED is 0) never replaces the symbolic switch."""
    tree = _tree(tmp_path)
    before, after = _pair(tree, "EXIT_MASK", "EXIT_MASK")
    after.write_text(after.read_text().replace("IS_ENABLED(CONFIG_AUDITSYSCALL)",
                                               "IS_BUILTIN(CONFIG_AUDITSYSCALL) && 0"))
    proc = check(before, after, "--tree", tree, "--arch", "arm64")
    assert proc.returncode == 1, describe(proc)
    assert "differs iff: CONFIG_AUDITSYSCALL=y" in proc.stdout, describe(proc)
    same = check(before, before, "--tree", tree, "--arch", "arm64")
    assert same.returncode == 0, describe(same)


def test_tree_needs_arch_and_a_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    before, after = _pair(tree, "EXIT_MASK", "EXIT_MASK")
    no_arch = check(before, after, "--tree", tree)
    assert no_arch.returncode == 2 and "--tree needs --arch" in no_arch.stderr
    not_tree = check(before, after, "--tree", tmp_path / "nowhere", "--arch", "arm64")
    assert not_tree.returncode == 2 and "not a kernel tree" in not_tree.stderr
    other_arch = check(before, after, "--tree", tree, "--arch", "x86_64")
    assert other_arch.returncode == 2 and "has no arch/x86" in other_arch.stderr
    for proc in (no_arch, not_tree, other_arch):
        assert_no_traceback(proc)


def test_tree_includes_stay_confined(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    secret = write_file(tmp_path / "outside" / "secret.h", "#define SECRET 1\n")
    os.symlink(secret, tree / "include" / "leak.h")
    before, after = _pair(tree, "EXIT_MASK", "EXIT_MASK")
    before.write_text("#include <leak.h>\n" + before.read_text())
    proc = check(before, after, "--tree", tree, "--arch", "arm64")
    assert proc.returncode == 2, describe(proc)
    assert "resolves outside the allowed roots" in proc.stderr, describe(proc)


def test_layout_macro_yields_to_a_sides_enumerator(tmp_path: Path) -> None:
    """A real header's enum syscall_work_bit with --arch: a note, never a syntax error."""
    side = write(tmp_path, "entry.c", """\
enum syscall_work_bit {
	SYSCALL_WORK_BIT_SECCOMP,
	SYSCALL_WORK_BIT_SYSCALL_TRACEPOINT,
};
void secure_computing(void);
void syscall_enter(unsigned long work)
{
	if (work & SYSCALL_WORK_SECCOMP)
		secure_computing();
}
""")
    proc = check(side, side, "--arch", "arm64")
    assert proc.returncode == 0, describe(proc)
    assert (f"note: {side}:2: SYSCALL_WORK_BIT_SECCOMP is an enumerator here and a macro of "
            f"the layout at models/arch/syscall_work.h:") in proc.stdout, describe(proc)


# ---- the patch cut-out ------------------------------------------------------------------

def test_cutout_carries_the_structs_and_typedefs_it_uses() -> None:
    from equiv.patch.scope import TreeIndex, fragment

    files = {
        "arch/arm64/include/asm/ptrace.h":
            "struct user_regs { unsigned long regs[31]; };\n"
            "struct pt_regs {\n\tunion {\n\t\tstruct user_regs user_regs;\n"
            "\t\tstruct { unsigned long regs[31]; unsigned long sp; };\n\t};\n"
            "\tunsigned long orig_x0;\n};\n"
            "typedef struct { int nr; } syscall_info_t;\n"
            "struct unused { int x; };\n",
        "arch/arm64/include/asm/syscall.h":
            "static inline long return_value(struct pt_regs *regs)\n{\n"
            "\tsyscall_info_t info;\n\treturn regs->regs[0];\n}\n",
    }
    frag = fragment(("return_value", "arch/arm64/include/asm/syscall.h"),
                    TreeIndex.build(files), "arm64", "a")
    assert frag is not None
    text = frag.files[0][1]
    for needed in ("struct user_regs {", "struct pt_regs {", "syscall_info_t;"):
        assert needed in text, text
    assert "struct unused" not in text
    assert text.index("struct user_regs {") < text.index("struct pt_regs {")


def test_help_names_the_new_options() -> None:
    proc = run_process(["check", "--help"])
    assert "--tree LINUX" in proc.stdout and "--no-stubs" in proc.stdout


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("gcc") is None,
                    reason="equiv patch --confirm needs git and gcc")
def test_witness_defines_undeclared_names_at_their_counterexample_values(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_file(tree / "arch/x86/kernel/entry.c", "void clear_direction_flag(void);\n\n"
               "void enter_from_user_mode(unsigned long eflags)\n{\n"
               "\tif (eflags & X86_EFLAGS_DF)\n\t\tclear_direction_flag();\n}\n")
    patch = write(tmp_path, "p.patch", PATCH)
    proc = run_equiv("patch", patch, "--tree", tree, "--confirm", "--witness", tmp_path / "w")
    assert proc.returncode == 1, describe(proc)
    assert "witness: reproduced" in proc.stdout, describe(proc)
    source = next((tmp_path / "w").rglob("witness.c")).read_text()
    assert "#define X86_EFLAGS_AC ((long)0x" in source and "#define X86_EFLAGS_DF" in source


def test_tree_quoted_include_may_climb_inside_the_tree(tmp_path: Path) -> None:
    """A tree header's `#include "../.."` that stays inside the tree is read; one that
    leaves it is refused."""
    tree = _tree(tmp_path)
    write_file(tree / "kernel/entry/common.h", "#define LOCAL_MASK _TIF_SYSCALL_AUDIT\n")
    write_file(tree / "arch/arm64/include/asm/exit.h",
               '#include "../../../../kernel/entry/common.h"\n'
               "#define EXIT_MASK (_TIF_SYSCALL_TRACE | LOCAL_MASK)\n")
    before, after = _pair(tree, "EXIT_MASK", "_TIF_SYSCALL_TRACE")
    proc = check(before, after, "--tree", tree, "--arch", "arm64")
    assert proc.returncode == 1, describe(proc)
    assert "counterexample: flags=0x200 (_TIF_SYSCALL_AUDIT)" in proc.stdout, describe(proc)
    write_file(tree / "arch/arm64/include/asm/exit.h",
               '#include "../../../../../outside.h"\n#define EXIT_MASK 0\n')
    write_file(tmp_path / "outside.h", "#define OUTSIDE 1\n")
    refused = check(before, after, "--tree", tree, "--arch", "arm64")
    assert refused.returncode == 2 and "leaves the allowed roots" in refused.stderr, \
        describe(refused)
