"""`-j N` checks functions in worker processes; the output must not change."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cli_support import run_process

ROOT = Path(__file__).resolve().parent.parent


def _fragment(differ: bool) -> str:
    parts = ["#define TIF_SECCOMP 11\n#define _TIF_SECCOMP (1UL << TIF_SECCOMP)\n"]
    for k in range(4):
        bit = "_TIF_SECCOMP" if not (differ and k % 2) else "(1UL << 12)"
        parts.append(f"void exit_work_{k}(struct pt_regs *regs, unsigned long flags)\n{{\n"
                     f"\tif (flags & {bit})\n\t\twork_{k}(regs, {k});\n\tdone_{k}(regs);\n}}\n")
    return "".join(parts)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return run_process(["check", *args], cwd=ROOT, timeout=120)


def test_jobs_give_byte_identical_output(tmp_path: Path) -> None:
    before, after = tmp_path / "before.c", tmp_path / "after.c"
    before.write_text(_fragment(False))
    after.write_text(_fragment(True))
    for fmt in ([], ["--json"]):
        serial = _run(["-j", "1", *fmt, str(before), str(after)])
        parallel = _run(["-j", "2", *fmt, str(before), str(after)])
        assert serial.returncode == parallel.returncode == 1
        assert serial.stdout == parallel.stdout
        assert "exit_work_1: NOT EQUIVALENT" in serial.stdout or fmt
        assert "Traceback" not in serial.stderr + parallel.stderr
