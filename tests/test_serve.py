"""`python -m equiv.driver.serve`: each request is `equiv ARGV` in a forked child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = REPO_ROOT / "tests" / "fixtures" / "seeds" / "v15-08-11-exit-work-mask"


def serve(*requests: object, command: tuple[str, ...] = ("equiv.driver.serve",)) -> list[dict]:
    lines = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests)
    proc = subprocess.run([sys.executable, "-m", *command], cwd=REPO_ROOT,
                          input=lines, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_answers_are_what_the_command_prints() -> None:
    argv = ["check", f"{SEED}.before.c", f"{SEED}.after.c"]
    direct = subprocess.run([sys.executable, "-m", "equiv", *argv], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    missing = ["check", "no-such-file.c", f"{SEED}.after.c"]
    direct_missing = subprocess.run([sys.executable, "-m", "equiv", *missing], cwd=REPO_ROOT,
                                    capture_output=True, text=True, timeout=120)
    first, second, third = serve({"argv": argv}, {"argv": missing}, {"argv": argv})
    for answer, proc in ((first, direct), (second, direct_missing), (third, direct)):
        assert (answer["exit"], answer["stdout"], answer["stderr"]) == (
            proc.returncode, proc.stdout, proc.stderr)
        assert not answer["timed_out"]
    assert first["exit"] == 1 and second["exit"] == 2  # a difference; a located error


def test_bad_requests_are_answered_and_the_server_reads_on() -> None:
    answers = serve("not json", {"argv": "check"}, {"argv": ["--version"], "timeout": "soon"},
                    {"argv": ["--version"], "env": ["PATH"]},
                    {"argv": ["--version"], "cwd": "/no/such/directory"}, {"argv": ["--version"]})
    assert answers[0]["error"].startswith("not JSON")
    assert "argv" in answers[1]["error"]
    assert "timeout" in answers[2]["error"] and "env" in answers[3]["error"]
    assert answers[4]["exit"] == 2 and answers[4]["stderr"].startswith(
        "equiv: error: cannot run in /no/such/directory"), answers[4]
    assert "internal error" not in answers[4]["stderr"]
    assert answers[5]["exit"] == 0 and answers[5]["stdout"].startswith("equiv ")


def test_cwd_env_and_stdin_belong_to_the_request(tmp_path: Path) -> None:
    series = tmp_path / "series.mbox"
    series.write_text("not a patch\n")
    answer, = serve({"argv": ["patch", "-"], "cwd": str(tmp_path), "stdin": "not a patch\n",
                     "env": {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}})
    assert answer["exit"] == 2, answer  # no patch in the input: trouble, said as such
    assert "Traceback" not in answer["stderr"] + answer["stdout"]


def test_a_run_past_its_timeout_is_killed(tmp_path: Path) -> None:
    # A 20,000-statement function takes far longer than 0.3 s to check.
    big = tmp_path / "big.c"
    big.write_text("void f(int);\nvoid g(unsigned long flags)\n{\n" + "".join(
        f"\tif (flags & {1 << (i % 60)}UL)\n\t\tf({i});\n" for i in range(20000)) + "}\n")
    answer, after = serve({"argv": ["check", str(big), str(big)], "timeout": 0.3},
                          {"argv": ["--version"]})
    assert answer["timed_out"] and answer["exit"] < 0, answer
    assert after["exit"] == 0  # the server goes on


def test_equiv_serve_is_the_same_server() -> None:
    answer, = serve({"argv": ["--version"]}, command=("equiv", "serve"))
    assert answer["exit"] == 0 and answer["stdout"].startswith("equiv ")
