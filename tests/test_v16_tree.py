"""Acceptance: `equiv patch` on the real "[PATCH v16 11/18]" email against a realistic arm64 tree.

The tree is written outside the repository by tests/corpus/arm64_v16_tree.py from
real kernel files (see its docstring for the versions), and the email is the one
posted to the list.  Neither is in this repository, so the test runs only when
both are given:

    EQUIV_ARM64_SOURCES=DIR   ptrace.c, syscall.h and thread_info.h (real files)
    EQUIV_V16_EMAIL=FILE      the "[PATCH v16 11/18]" email

The claim "No functional changes intended" holds only if audit_syscall_exit()
does nothing without TIF_SYSCALL_AUDIT, and nothing on the exit path sets or clears
that flag: without the audit model the patch is REFUTED at flags=0x0; with it
(which states both) PROVED.  ptrace.c may be the whole file: its regset functions,
which the patch touches only through an #include line or an unused macro, are
equivalent by identity.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))

import arm64_v16_tree

SOURCES = os.environ.get("EQUIV_ARM64_SOURCES")
EMAIL = os.environ.get("EQUIV_V16_EMAIL")
TIMEOUT = 600

pytestmark = [
    pytest.mark.skipif(not SOURCES or not EMAIL,
                       reason="set EQUIV_ARM64_SOURCES and EQUIV_V16_EMAIL (see the docstring)"),
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("v16") / "linux"
    arm64_v16_tree.write_tree(Path(str(SOURCES)), out)
    ok, said = arm64_v16_tree.applies(out, Path(str(EMAIL)))
    assert ok, f"the v16 11/18 email does not apply to the tree:\n{said}"
    return out


def _patch(tree: Path, *options: str) -> tuple[int, dict[str, object], str]:
    done = subprocess.run([sys.executable, "-m", "equiv", "patch", str(EMAIL), "--tree",
                           str(tree), "--format", "json", *options], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout or "{}"), done.stdout + done.stderr


def test_v16_11_18_is_refuted_at_flags_zero(tree: Path) -> None:
    code, report, text = _patch(tree)
    patch = report["patches"][0]  # type: ignore[index]
    assert (code, patch["outcome"]) == (1, "refuted"), text
    flags = [c["result"]["counterexample"]["flags"] for c in patch["checks"]
             if c["result"]["counterexample"] is not None]
    assert "0x0" in flags, text


def test_v16_11_18_is_proved_with_the_audit_model(tree: Path) -> None:
    code, report, text = _patch(tree, "--model", "audit")
    patch = report["patches"][0]  # type: ignore[index]
    assert (code, patch["outcome"]) == (0, "proved"), text
    checks = {c["function"]: c for c in patch["checks"]}  # type: ignore[union-attr]
    assert checks["syscall_exit_to_user_mode_work"]["result"]["verdict"] == "equivalent", text


def test_v16_11_18_proof_rests_on_the_audit_flag_being_stable(
        tree: Path, tmp_path: Path) -> None:
    # rseq_syscall() now runs before the flags are tested on the after side only; if it
    # could set TIF_SYSCALL_AUDIT, the before side would audit and the after side not.
    # An audit model without its Stable: line (same name, from --model-dir) says so.
    shipped = (REPO_ROOT / "models" / "functions" / "audit.c").read_text()
    loose = "\n".join(line for line in shipped.splitlines() if "Stable:" not in line)
    assert loose != shipped
    (tmp_path / "audit.c").write_text(loose + "\n")
    code, report, text = _patch(tree, "--model-dir", str(tmp_path), "--model", "audit")
    patch = report["patches"][0]  # type: ignore[index]
    assert (code, patch["outcome"]) == (1, "refuted"), text
    inputs = [c["result"]["counterexample"]["inputs"] for c in patch["checks"]
              if c["function"] == "syscall_exit_to_user_mode_work"]
    assert inputs and any("flags after rseq_syscall()" in k for k in inputs[0]), text


def test_v16_11_18_functions_touched_only_by_an_include_line_are_not_executed(
        tree: Path) -> None:
    # The patch adds and removes #include lines, which touch every function of
    # ptrace.c and syscall.h; those whose cut-outs are the same are equivalent by
    # identity, so constructs equiv refuses in them (arch_ptrace) do not stop the gate.
    _, report, text = _patch(tree)
    checks = {c["function"]: c["result"] for c in report["patches"][0]["checks"]}  # type: ignore[index]
    assert checks["arch_ptrace"]["verdict"] == "equivalent", text
    assert "not executed" in checks["arch_ptrace"]["reason"], text
    assert checks["syscall_exit_work"]["verdict"] == "not-equivalent", text


def test_v16_11_18_email_reply(tree: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "equiv", "patch", str(EMAIL), "--tree",
                           str(tree), "--format", "email"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("Subject: Re: [PATCH v16 11/18] arm64: ptrace: Align syscall exit "
                        "work semantics with generic entry"), done.stdout
    assert "> No functional changes intended." in lines
    assert "For flags=0x0, no flag set:" in lines, done.stdout
    assert any(line.startswith("    audit_syscall_exit(regs)  arch/arm64/kernel/ptrace.c:")
               and line.endswith("<-- first difference") for line in lines), done.stdout
    assert not any(line.startswith("  final ") for line in lines), done.stdout
    assert f"  equiv patch --model audit {Path(str(EMAIL)).name}" in lines
