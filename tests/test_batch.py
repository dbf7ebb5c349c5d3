"""`python -m equiv.driver.batch`: many checks in one process, each reported as `equiv check` would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED = "tests/fixtures/seeds/v16-11-18-rseq-exit-work"

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="equiv preprocesses with gcc")


def test_batch_runs_each_line_and_combines_exit_codes(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{SEED}.before.c {SEED}.after.c\n"
                     "# a comment\n\n"
                     f"{SEED}.before.c {SEED}.before.c --models all\n")
    proc = subprocess.run([sys.executable, "-m", "equiv.driver.batch", str(pairs)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr  # a difference outranks an equivalence
    out = proc.stdout
    assert out.count("==> ") == 2 and f"{pairs}:1: " in out and f"{pairs}:4: " in out
    assert ["<== exit 1", "<== exit 0"] == [l for l in out.splitlines() if l.startswith("<==")]
    single = subprocess.run([sys.executable, "-m", "equiv", "check", f"{SEED}.before.c",
                             f"{SEED}.after.c"], cwd=REPO, capture_output=True, text=True,
                            timeout=300, check=False)
    first = out.split("==> ")[1].split("\n", 1)[1].split("<== exit")[0]
    assert first == single.stdout


def test_batch_trouble_outranks_everything(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{SEED}.before.c {SEED}.after.c\nmissing.c also-missing.c\n")
    proc = subprocess.run([sys.executable, "-m", "equiv.driver.batch", str(pairs)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert "missing.c" in proc.stderr and "Traceback" not in proc.stderr
