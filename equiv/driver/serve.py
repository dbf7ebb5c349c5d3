"""`python -m equiv.driver.serve`: a long-lived equiv for editors, scripts and test suites.

The interpreter, z3 and pycparser start once; each request then runs in a
child process forked from this one, so one run's crash, memory or hang never
reaches the server or the next run, and each run is exactly `equiv ARGV` as
a fresh process would run it, minus the start-up.

Protocol: one JSON object per line on standard input, one JSON answer per line
on standard output, in order.

    request: {"argv": ["check", "a.c", "b.c"], "cwd": DIR, "env": {...},
              "stdin": TEXT, "timeout": SECONDS}
    answer:  {"exit": K, "stdout": TEXT, "stderr": TEXT, "timed_out": BOOL}

Only "argv" is required.  "cwd" defaults to the server's directory, "env"
(the whole environment, not a change to it) to the server's, "stdin" to
empty, "timeout" to none.  A run killed by a signal has "exit" -N, as
`subprocess` reports it; a run past its timeout is killed and has
"timed_out": true.  A request that is not valid JSON or lacks "argv" gets
{"error": WHY} and the server reads on.  End of input stops the server.

The server never starts a thread, so forking it is safe.  POSIX only.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import tempfile
import time
from typing import IO, Any

# What a child that could not run reports (never a traceback, as for the command).
_TROUBLE = 2


def _child(request: dict[str, Any], out: IO[bytes], err: IO[bytes], stdin: IO[bytes]) -> None:
    """In the forked child: become `equiv ARGV` and never return."""
    code = _TROUBLE
    try:
        os.dup2(stdin.fileno(), 0)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if request.get("cwd"):
            try:
                os.chdir(request["cwd"])
            except OSError as exc:
                print(f"equiv: error: cannot run in {request['cwd']}: {exc.strerror}",
                      file=sys.stderr)
                raise SystemExit(_TROUBLE) from None
        if isinstance(request.get("env"), dict):
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        argv = [str(a) for a in request["argv"]]
        sys.argv = ["equiv", *argv]
        from equiv.driver.cli import main

        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors and --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else _TROUBLE)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else _TROUBLE
    except BaseException as exc:  # noqa: BLE001 - the child must end here, whatever happened
        try:
            print(f"equiv: internal error: {type(exc).__name__}: {exc} (please report)",
                  file=sys.stderr)
        except BaseException:  # noqa: BLE001
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) and 0 <= code < 256 else _TROUBLE)


def _wait(pid: int, timeout: float | None) -> tuple[int, bool]:
    """(exit status as subprocess reports it, whether the timeout killed it)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    timed_out = False
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = True
                break
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(0.005, left) if left is not None else 0.005)
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return os.waitstatus_to_exitcode(status), timed_out


def run_request(request: dict[str, Any]) -> dict[str, Any]:
    """Runs one request in a forked child; its answer."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryFile() as stdin:
        stdin.write(str(request.get("stdin") or "").encode("utf-8", "surrogateescape"))
        stdin.flush()
        stdin.seek(0)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, out, err, stdin)
        timeout = request.get("timeout")
        code, timed_out = _wait(pid, float(timeout) if timeout is not None else None)
        out.seek(0)
        err.seek(0)
        return {"exit": code, "timed_out": timed_out,
                "stdout": out.read().decode("utf-8", "replace"),
                "stderr": err.read().decode("utf-8", "replace")}


def _request(line: str) -> dict[str, Any] | str:
    """The request on `line`, or why it is not one."""
    try:
        request = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(request, dict) or not isinstance(request.get("argv"), list):
        return 'a request is a JSON object with an "argv" list'
    checks = (("cwd", str, "a directory name"), ("stdin", str, "a string"),
              ("env", dict, "an object of strings"), ("timeout", (int, float), "a number of seconds"))
    for key, kind, what in checks:
        if request.get(key) is not None and (isinstance(request[key], bool)
                                             or not isinstance(request[key], kind)):
            return f'"{key}" must be {what}'
    return request


def serve(requests: IO[str], answers: IO[str]) -> int:
    """Answers every request line until end of input."""
    # What every run needs, loaded once: the children inherit it.
    import equiv.driver.check  # noqa: F401
    import equiv.driver.cli  # noqa: F401

    for line in requests:
        if not line.strip():
            continue
        request = _request(line)
        answer = {"error": request} if isinstance(request, str) else run_request(request)
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        print("usage: python -m equiv.driver.serve   (JSON requests on standard input; "
              "see the module's help)", file=sys.stderr)
        return _TROUBLE
    sys.setrecursionlimit(100_000)
    return serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
