"""Fuzzing equiv's front end and checker with byte-level mutants of fixtures.

Each input is a fixture pair whose before side (or after side) had a few
random byte- or token-level edits: spans deleted, lines duplicated, swapped
or dropped, punctuation and keywords of unsupported constructs inserted,
stray non-UTF-8 bytes.  equiv runs in-process (``run_check``, then both
renderers) in a pool of two workers with a hard per-input time limit.  The
only acceptable outcomes are a ``CheckResult`` with an exit code in {0, 1, 2,
3} or ``InputError``; anything else escaping, or a hang, fails.  A second
sample goes through ``equiv.driver.cli.main`` with stdout/stderr captured: the exit
code must be in {0, 1, 2, 3} and stderr must not report an internal error.

The default run checks the first 120 and 20 inputs of the two seeded
sequences; `--campaign` (tests/conftest.py) checks 400 and 60.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import random
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_fixtures import REPO_ROOT, discover_fixtures, read_header  # noqa: E402

SEED = 4242
# The default run (CI's and a developer's) fuzzes a bounded sample: the first
# inputs of the same seeded sequence that `--campaign` (tests/conftest.py)
# runs in full.
INPUTS = 120
CLI_INPUTS = 20
FULL_INPUTS = 400
FULL_CLI_INPUTS = 60
# A hang is judged by the CPU an input uses (the machine may be loaded; the
# slowest input of the full run needs about 11 s); the wall-clock limit only
# catches a worker that waits forever without using CPU.
PER_INPUT_CPU_SECONDS = 60
PER_INPUT_SECONDS = 600
INSERTS = (b"{", b"}", b"(", b")", b";", b",", b"&", b"|", b"!", b"~", b"<<", b"=", b"?", b":", b"#", b"\"",
           b"'", b"\\", b"\n", b"*", b"goto out;", b"while (1)", b"for (;;)", b"switch (x) {", b"case 1:",
           b"asm(\"nop\");", b"float f;", b"typeof(x) y;", b"struct s v;", b"&flags", b"[3]", b"0x", b"1UL << 99",
           b"__builtin_unreachable();", b"static int s;", b"({ 1; })", b"\xff\xfe", b"\x00", b"return", b"else",
           b"#if CONFIG_X\n", b"#endif\n", b"#define X(", b"/*", b"*/", b"//", b"$", b"@", b"`")


FuzzInput = tuple[str, bytes, bytes, tuple[str, ...]]  # name, before, after, functions


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """A few random edits of ``data``."""
    for _ in range(rng.randint(1, 4)):
        lines = data.split(b"\n")
        kind = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if kind == 0 and data:
            data = data[:pos] + data[pos + rng.randint(1, 40):]
        elif kind == 1:
            data = data[:pos] + rng.choice(INSERTS) + data[pos:]
        elif kind == 2 and data:
            data = data[:pos] + bytes([rng.randrange(256)]) + data[pos + 1:]
        elif kind == 3 and len(lines) > 1:
            i = rng.randrange(len(lines))
            lines.insert(i, lines[rng.randrange(len(lines))])
            data = b"\n".join(lines)
        elif kind == 4 and len(lines) > 1:
            del lines[rng.randrange(len(lines))]
            data = b"\n".join(lines)
        elif len(lines) > 1:
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
    return data


def fuzz_inputs(count: int, seed: int) -> list[tuple[str, bytes, bytes, tuple[str, ...]]]:
    """``count`` (name, before bytes, after bytes, functions) inputs."""
    rng = random.Random(seed)
    fixtures = discover_fixtures()
    out = []
    for k in range(count):
        fixture = rng.choice(fixtures)
        before, after = (REPO_ROOT / fixture.before).read_bytes(), (REPO_ROOT / fixture.after).read_bytes()
        functions = read_header(REPO_ROOT / fixture.before).functions
        if rng.random() < 0.5:
            before = mutate_bytes(before, rng)
        else:
            after = mutate_bytes(after, rng)
        out.append((f"{fixture.name}#{k}", before, after, functions))
    return out


def check_one(item: tuple[str, bytes, bytes, tuple[str, ...]]) -> str | None:
    """Run equiv on one input; None when it behaved, else what went wrong."""
    from equiv.driver.check import CheckOptions, run_check
    from equiv.errors import InputError
    from equiv.report.render import render_json, render_text

    name, before, after, functions = item
    with tempfile.TemporaryDirectory(prefix="equiv-fuzz-") as tmp:
        b, a = Path(tmp, "x.before.c"), Path(tmp, "x.after.c")
        b.write_bytes(before)
        a.write_bytes(after)
        try:
            result = run_check([str(b)], [str(a)], CheckOptions(functions=functions, unwind=4, timeout=5))
            render_json(result)
            render_text(result)
        except InputError as exc:
            exc.render()
            return None
        except RecursionError:
            return None  # the command line reports this as a located trouble exit
        except Exception:
            return f"{name}: {traceback.format_exc(limit=8)}"
        if int(result.exit_code) not in (0, 1, 2, 3):
            return f"{name}: exit code {result.exit_code}"
    return None


def check_cli(item: tuple[str, bytes, bytes, tuple[str, ...]]) -> str | None:
    """The same input through ``equiv.driver.cli.main``, output captured."""
    from equiv.driver.cli import main

    name, before, after, functions = item
    with tempfile.TemporaryDirectory(prefix="equiv-fuzz-") as tmp:
        b, a = Path(tmp, "x.before.c"), Path(tmp, "x.after.c")
        b.write_bytes(before)
        a.write_bytes(after)
        argv = ["check", "--unwind", "4", "--timeout", "5"]
        for function in functions:
            argv += ["--function", function]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv + [str(b), str(a)])
        if code not in (0, 1, 2, 3):
            return f"{name}: exit code {code}"
        if "internal error" in err.getvalue() or "Traceback" in err.getvalue():
            return f"{name}: {err.getvalue()[-2000:]}"
    return None


class _CpuLimit(BaseException):  # not caught by the checks' `except Exception`
    """An input used more than PER_INPUT_CPU_SECONDS of CPU."""


def _cpu_limit_reached(signum: int, frame: object) -> None:
    raise _CpuLimit


def limited(check: Callable[[FuzzInput], str | None], item: FuzzInput) -> str | None:
    """``check(item)`` in a pool worker, stopped after PER_INPUT_CPU_SECONDS
    of this process's CPU time (ITIMER_PROF is not inherited by children)."""
    previous = signal.signal(signal.SIGPROF, _cpu_limit_reached)
    signal.setitimer(signal.ITIMER_PROF, PER_INPUT_CPU_SECONDS)
    try:
        return check(item)
    except _CpuLimit:
        return f"{item[0]}: more than {PER_INPUT_CPU_SECONDS} s of CPU (hang?)"
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def run_pool(check, items) -> list[str]:  # type: ignore[no-untyped-def]
    problems = []
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pending = [(item[0], pool.apply_async(limited, (check, item))) for item in items]
        for name, result in pending:
            try:
                problem = result.get(timeout=PER_INPUT_SECONDS)
            except multiprocessing.TimeoutError:
                problem = f"{name}: no answer within {PER_INPUT_SECONDS} s (hang?)"
                pool.terminate()
                problems.append(problem)
                break
            if problem:
                problems.append(problem)
    return problems


@pytest.mark.skipif(shutil.which("gcc") is None, reason="equiv preprocesses with gcc")
def test_fuzzed_fixtures_never_crash_run_check(full_campaign: bool) -> None:
    problems = run_pool(check_one, fuzz_inputs(FULL_INPUTS if full_campaign else INPUTS, SEED))
    assert not problems, "\n".join(problems[:10])


@pytest.mark.skipif(shutil.which("gcc") is None, reason="equiv preprocesses with gcc")
def test_fuzzed_fixtures_through_the_command_line(full_campaign: bool) -> None:
    problems = run_pool(check_cli, fuzz_inputs(FULL_CLI_INPUTS if full_campaign else CLI_INPUTS, SEED + 1))
    assert not problems, "\n".join(problems[:10])


def test_default_sample_is_a_prefix_of_the_full_run() -> None:
    """The bounded sample checks exactly the first inputs `--campaign` checks."""
    assert fuzz_inputs(INPUTS, SEED) == fuzz_inputs(FULL_INPUTS, SEED)[:INPUTS]
