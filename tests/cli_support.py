"""Running `python -m equiv` the way a user does, and judging what it printed.

Shared by the command-line tests.  Every run is a process of its own, started
from the repository root with a hard timeout, so a hang fails the test
instead of stalling the suite.  The process is forked from one
`python -m equiv.driver.serve` per test process (started on first use), so
each run is `equiv ARGS` in a fresh process without paying the interpreter's
and z3's start-up again; `EQUIV_TEST_SUBPROCESS=1` starts `python -m equiv`
for every run instead.  Tests about the start-up itself start their own.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 60

# `file:line[:col]: error: message`, the one shape a located diagnostic has.
LOCATED_ERROR = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?: error: (?P<message>.*)$")
# Names equiv uses internally; none may reach the user.
INTERNAL_NAMES = ("<stdin>", "<equiv-macros>", "equiv-stubs-")


class _Server:
    """One `python -m equiv.driver.serve` for this test process; runs one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def run(self, argv: list[str], cwd: Path, timeout: float, input: str | None,
            env: dict[str, str]) -> tuple[int, str, str] | None:
        """(exit, stdout, stderr); None when the run passed its timeout."""
        request = json.dumps({"argv": argv, "cwd": str(cwd), "env": env,
                              "stdin": input, "timeout": timeout})
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = subprocess.Popen([sys.executable, "-m", "equiv.driver.serve"],
                                              cwd=REPO_ROOT, stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, text=True)
                atexit.register(self._proc.kill)
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(request + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the equiv server ended without an answer")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the equiv server refused the request: {answer['error']}")
        if answer["timed_out"]:
            return None
        return answer["exit"], answer["stdout"], answer["stderr"]


_SERVER = _Server()


def run_process(argv: list[object], cwd: Path = REPO_ROOT, timeout: float = RUN_TIMEOUT,
                input: str | None = None, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    """`python -m equiv ARGV...` in `cwd` (environment `env`, default this process's),
    as subprocess.run would report it."""
    args = [str(a) for a in argv]
    command = [sys.executable, "-m", "equiv", *args]
    if os.environ.get("EQUIV_TEST_SUBPROCESS") == "1":
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, input=input, env=env)
    done = _SERVER.run(args, Path(cwd), timeout, input, dict(os.environ) if env is None else env)
    if done is None:
        raise subprocess.TimeoutExpired(command, timeout)
    return subprocess.CompletedProcess(command, *done)


def run_equiv(*args: object, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """`python -m equiv ARGS...` from the repository root."""
    return run_process(list(args), timeout=timeout)


def check(before: Path, after: Path, *options: object) -> subprocess.CompletedProcess[str]:
    """`equiv check BEFORE AFTER OPTIONS...`."""
    return run_equiv("check", before, after, *options)


def write(directory: Path, name: str, text: str) -> Path:
    """Write `text` to `directory/name` and return the path."""
    path = directory / name
    path.write_text(text)
    return path


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """Everything a failing assertion should show."""
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    """No Python traceback and no catch-all internal error on either stream."""
    for stream in (proc.stdout, proc.stderr):
        assert "Traceback" not in stream, describe(proc)
        assert "internal error" not in stream, describe(proc)


def assert_no_internal_names(proc: subprocess.CompletedProcess[str]) -> None:
    """Neither stream names a temporary file or one of equiv's pseudo-files."""
    for name in INTERNAL_NAMES:
        assert name not in proc.stdout + proc.stderr, describe(proc)


def assert_only_known_temp_paths(proc: subprocess.CompletedProcess[str], allowed: Path) -> None:
    """Every path under the system temp directory that the output names lies in `allowed`."""
    temp_root = re.escape(str(Path(tempfile.gettempdir()).resolve()))
    for match in re.finditer(temp_root + r"[^\s:\"')]*", proc.stdout + proc.stderr):
        assert match.group(0).startswith(str(allowed)), describe(proc)


def located_errors(proc: subprocess.CompletedProcess[str]) -> list[re.Match[str]]:
    """The `file:line[:col]: error:` lines on stderr."""
    return [m for m in map(LOCATED_ERROR.match, proc.stderr.splitlines()) if m]


def assert_located_error(proc: subprocess.CompletedProcess[str], path: Path,
                         lines: int | set[int] | None = None,
                         message: str | None = None) -> re.Match[str]:
    """Exit 2 with a `path:line[:col]: error:` line naming `path` (on one of `lines`).

    `message` is a regular expression the error message must match (case-insensitive).
    """
    assert proc.returncode == 2, describe(proc)
    assert_no_traceback(proc)
    assert_no_internal_names(proc)
    errors = [m for m in located_errors(proc) if m.group("file") == str(path)]
    assert errors, f"no error line naming {path}\n{describe(proc)}"
    first = errors[0]
    if lines is not None:
        wanted = {lines} if isinstance(lines, int) else lines
        assert int(first.group("line")) in wanted, describe(proc)
    if message is not None:
        assert re.search(message, first.group("message"), re.I), describe(proc)
    return first


def assert_tool_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2 with an `equiv: error:` line whose message matches `message`, and no report."""
    assert proc.returncode == 2, describe(proc)
    assert_no_traceback(proc)
    assert_no_internal_names(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("equiv: error: ")]
    assert errors, describe(proc)
    assert re.search(message, errors[0], re.I), describe(proc)
    assert proc.stdout == "", describe(proc)
