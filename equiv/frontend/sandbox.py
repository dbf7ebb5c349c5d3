"""Running a program equiv does not trust: the preprocessor, a witness.

`run` starts a command in its own process group under resource limits
(address space, CPU time, file size, open files, processes) and a wall-clock
limit, with its output going to files whose size the file-size limit bounds.
With `isolate`, the command also gets an empty environment, no network (a new
network namespace, where the machine allows one) and, when equiv runs as
root, the `nobody` user.  What could not be arranged is said in `notes`.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import resource
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_CHILD_SUBREAPER = 36
NOBODY = 65534
_MAX_CAPTURE = 1 << 20  # bytes of stderr kept
# Whether this process is a child subreaper (_become_subreaper): only then can the
# orphans of a command become its children, to be found by _reap_orphans.
_subreaper = False
# The longest a wait for a command blocks in C at a time (see _ended_within).
_SLICE_S = 0.05


@dataclass(frozen=True)
class Limits:
    """Resource limits for one command (None: not limited)."""

    memory: int | None = None  # bytes of address space (RLIMIT_AS)
    cpu_seconds: int | None = None
    file_size: int | None = None  # bytes any one written file (and the output) may reach
    open_files: int | None = None
    processes: int | None = None  # RLIMIT_NPROC, for the user the command runs as


@dataclass(frozen=True)
class Finished:
    """How a command ended."""

    returncode: int  # negative: killed by that signal
    stdout: str
    stderr: str
    timed_out: bool  # killed for the wall-clock limit
    notes: tuple[str, ...] = ()  # isolation that could not be arranged


def _set_limits(limits: Limits) -> None:
    pairs = ((resource.RLIMIT_AS, limits.memory), (resource.RLIMIT_CPU, limits.cpu_seconds),
             (resource.RLIMIT_FSIZE, limits.file_size),
             (resource.RLIMIT_NOFILE, limits.open_files),
             (resource.RLIMIT_NPROC, limits.processes), (resource.RLIMIT_CORE, 0))
    for which, value in pairs:
        if value is not None:
            resource.setrlimit(which, (value, value))


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def _preexec(limits: Limits, isolate: bool, no_network: bool) -> None:
    if isolate and no_network:
        _unshare(_CLONE_NEWNET if os.geteuid() == 0 else _CLONE_NEWUSER | _CLONE_NEWNET)
    _set_limits(limits)
    if isolate and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def run(cmd: list[str], *, limits: Limits, timeout: float, input_text: str | None = None,
        cwd: str | None = None, isolate: bool = False) -> Finished:
    """Run `cmd` to completion or to its limits; never raises for what the command does.

    Raises OSError when the command cannot be started at all.
    """
    why_not = network_isolation_unavailable() if isolate else None
    if isolate:
        _become_subreaper()
    try:
        finished = _run(cmd, limits, timeout, input_text, cwd, isolate, why_not is None)
    except subprocess.SubprocessError as exc:
        raise OSError(f"cannot start {cmd[0]} under its limits: {exc}") from None
    if why_not is None:
        return finished
    note = f"no network isolation: this machine allows no network namespace ({why_not})"
    return Finished(finished.returncode, finished.stdout, finished.stderr,
                    finished.timed_out, (note,))


@functools.cache
def network_isolation_unavailable() -> str | None:
    """None when a new network namespace can be made here, else why not."""
    try:
        subprocess.run(["true"], preexec_fn=lambda: _preexec(Limits(), True, True),
                       check=False, timeout=10, env={})
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None


def _run(cmd: list[str], limits: Limits, timeout: float, input_text: str | None,
         cwd: str | None, isolate: bool, no_network: bool) -> Finished:
    env: dict[str, str] | None = {} if isolate else None
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        if input_text is not None:  # a file, not a pipe: nothing to feed while waiting
            stdin.write(input_text.encode())
            stdin.seek(0)
        prefix = None if isolate else _prlimit_prefix(limits)
        if prefix is not None:  # no Python code runs between fork and exec
            _must_exist(cmd[0], cwd)
            proc = subprocess.Popen(
                [*prefix, *cmd], stdin=stdin if input_text is not None else subprocess.DEVNULL,
                stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True)
        else:
            proc = subprocess.Popen(
                cmd, stdin=stdin if input_text is not None else subprocess.DEVNULL,
                stdout=out, stderr=err, cwd=cwd, env=env, start_new_session=True,
                preexec_fn=lambda: _preexec(limits, isolate, no_network))
        try:
            timed_out = not _ended_within(proc, timeout)
        finally:
            _kill_group(proc)
        limit = (limits.file_size or 0) + 1 if limits.file_size else None
        out.seek(0)
        err.seek(0)
        stdout = out.read(limit if limit else -1).decode("utf-8", errors="replace")
        stderr = err.read(_MAX_CAPTURE).decode("utf-8", errors="replace")
    return Finished(proc.returncode, stdout, stderr, timed_out)


@functools.cache
def _prlimit() -> str | None:
    """util-linux's prlimit, if this machine has it."""
    return shutil.which("prlimit")


def _prlimit_prefix(limits: Limits) -> list[str] | None:
    """`prlimit --as=... -- ` setting `limits` (and no core file) on the command it starts,
    or None without prlimit.

    A `preexec_fn` sets the same limits, but it makes Python fork the whole
    process and run Python code in the child before the exec: 8 to 30 ms per
    command once z3 holds a few hundred MB, against 2 ms for prlimit.
    """
    tool = _prlimit()
    if tool is None:
        return None
    options = [("as", limits.memory), ("cpu", limits.cpu_seconds), ("fsize", limits.file_size),
               ("nofile", limits.open_files), ("nproc", limits.processes), ("core", 0)]
    return [tool, *(f"--{name}={value}" for name, value in options if value is not None), "--"]


def _must_exist(program: str, cwd: str | None) -> None:
    """Raise what Popen would for a program that cannot be started: prlimit, which
    starts it here, would only print a message and exit with 1."""
    if os.sep in program:
        path = program if cwd is None or os.path.isabs(program) else os.path.join(cwd, program)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    elif shutil.which(program) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)


def _ended_within(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether the command ends within `timeout` seconds (it is not reaped here).

    Waits on a pidfd, which wakes the moment the command ends; `Popen.wait`
    with a timeout polls with growing sleeps instead, and on a 20 ms `gcc -E`
    slept about 15 ms past its end.  The wait is cut into slices of _SLICE_S,
    so that the budget's watchdog (equiv.driver.budget), whose exception is
    delivered only between two Python instructions, still stops it.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux 5.3+: Popen's polling
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if poller.poll(min(left, _SLICE_S) * 1000):
                return True
        return False
    finally:
        os.close(pidfd)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the command and anything it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    if _subreaper:
        _reap_orphans(proc.pid)


def _become_subreaper() -> None:
    """Orphans of the commands we run become our children, so we can end and reap them."""
    global _subreaper
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            _subreaper = True
    except (OSError, AttributeError):
        pass


def _reap_orphans(group: int) -> None:
    """Kill and reap our children left from `group`, or running as nobody (a witness's)."""
    me, as_root = os.getpid(), os.geteuid() == 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
            uid = os.stat(f"/proc/{entry}").st_uid
        except (OSError, IndexError):
            continue
        ppid, pgid = int(fields[1]), int(fields[2])
        if ppid == me and (pgid == group or (as_root and uid == NOBODY)):
            try:
                os.kill(int(entry), signal.SIGKILL)
                os.waitpid(int(entry), 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def out_of_memory(stderr: str) -> bool:
    """Whether a command's messages say it ran out of memory (hit RLIMIT_AS)."""
    lowered = stderr.lower()
    return any(s in lowered for s in ("memory exhausted", "out of memory",
                                      "cannot allocate memory", "bad_alloc"))
