"""Acceptance: `equiv patch` on the real "[PATCH v16 11/18]" email against a realistic arm64 tree.

The tree is written outside the repository by tests/corpus/arm64_v16_tree.py from
real kernel files (see its docstring for the versions), and the email is the one
posted to the list.  Neither is in this repository, so the test runs only when
both are given:

    EQUIV_ARM64_SOURCES=DIR   ptrace.c, syscall.h and thread_info.h (real files)
    EQUIV_V16_EMAIL=FILE      the "[PATCH v16 11/18]" email

The claim "No functional changes intended" holds only if audit_syscall_exit()
does nothing without TIF_SYSCALL_AUDIT: without the audit model the patch is
REFUTED at flags=0x0, with it PROVED.
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
