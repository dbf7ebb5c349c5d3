"""Run every fixture pair under tests/fixtures through `equiv check`.

A fixture is `<topic>/<case>.before.c` + `<case>.after.c`; its expectation is a
header of `//` comment lines at the top of the `.before.c` file (see
tests/fixtures/README.md).  Besides the declared expectation, every pair gets
two invariant checks for free: each side against itself must be equivalent
(identity, skipped for `error` and `unknown` cases) and the swapped pair must
end with the same exit code (symmetry).

The runs call `equiv.driver.cli.main` in this process, with stdout and stderr
captured: the process boundary is not what these tests are about (test_cli.py
and test_jobs.py run the command as a user does), and a new interpreter per
run cost most of the suite's time.  The identity runs ask for the full
difference query (`FunctionCheck.unchanged` is switched off for them), so
they keep testing the encoding; tests/test_unchanged.py covers the shortcut.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
BEFORE_SUFFIX = ".before.c"
AFTER_SUFFIX = ".after.c"
TIMEOUT_SECONDS = 300


class Expect(Enum):
    """The verdict a fixture expects, with the exit code `equiv check` uses for it."""

    EQUIVALENT = "equivalent"  # proved equal for every flag word: exit 0
    NOT_EQUIVALENT = "not-equivalent"  # a real counterexample exists: exit 1
    ERROR = "error"  # input rejected with a located error: exit 2
    UNKNOWN = "unknown"  # neither proved nor refuted (unwind bound, timeout): exit 3

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self]


_EXIT_CODES = {
    Expect.EQUIVALENT: 0,
    Expect.NOT_EQUIVALENT: 1,
    Expect.ERROR: 2,
    Expect.UNKNOWN: 3,
}


class HeaderError(ValueError):
    """A fixture header that cannot be trusted (unknown key, missing EXPECT, ...)."""


@dataclass(frozen=True)
class FixtureHeader:
    """The `// KEY: value` lines at the top of a `.before.c` file."""

    expect: Expect
    functions: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    oracle_skip: str | None = None


_HEADER_LINE = re.compile(r"//\s*(?P<key>[A-Za-z_]+)\s*:\s?(?P<value>.*)$")
_KNOWN_KEYS = ("EXPECT", "FUNCTION", "ARGS", "CHECK", "ORACLE")


def parse_header(text: str, origin: str = "<string>") -> FixtureHeader:
    """Parse the header at the top of `text`.

    The header is the run of `// KEY: value` lines before the first line that
    is not one (blank lines end it too).  Raises HeaderError for an unknown
    key, a repeated EXPECT, a bad EXPECT value, a malformed ORACLE line or a
    missing EXPECT.
    """
    fields: dict[str, list[str]] = {key: [] for key in _KNOWN_KEYS}
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _HEADER_LINE.match(line.strip())
        if match is None:
            break
        key, value = match.group("key"), match.group("value").strip()
        if key not in fields:
            raise HeaderError(f"{origin}:{lineno}: unknown header key {key!r}")
        fields[key].append(value)
    return _build_header(fields, origin)


def _build_header(fields: dict[str, list[str]], origin: str) -> FixtureHeader:
    if len(fields["EXPECT"]) != 1:
        raise HeaderError(f"{origin}: need exactly one EXPECT line, found {len(fields['EXPECT'])}")
    try:
        expect = Expect(fields["EXPECT"][0])
    except ValueError:
        raise HeaderError(f"{origin}: bad EXPECT value {fields['EXPECT'][0]!r}") from None
    oracle_skip = None
    if fields["ORACLE"]:
        oracle = " ".join(fields["ORACLE"])
        if not oracle.startswith("skip "):
            raise HeaderError(f"{origin}: ORACLE must read 'skip <reason>', got {oracle!r}")
        oracle_skip = oracle[len("skip ") :].strip()
    return FixtureHeader(
        expect=expect,
        functions=tuple(fields["FUNCTION"]),
        args=tuple(arg for line in fields["ARGS"] for arg in line.split()),
        checks=tuple(fields["CHECK"]),
        oracle_skip=oracle_skip,
    )


def read_header(path: Path) -> FixtureHeader:
    """Read and parse the header of a fixture's `.before.c` file."""
    return parse_header(path.read_text(encoding="utf-8"), origin=str(path))


@dataclass(frozen=True)
class Fixture:
    """One before/after pair, named `topic/case` relative to tests/fixtures."""

    name: str
    before: Path  # relative to REPO_ROOT
    after: Path  # relative to REPO_ROOT


def discover_fixtures(root: Path = FIXTURES) -> list[Fixture]:
    """Every `<case>.before.c` under `root`, sorted by name.

    The `.after.c` file is not required to exist here: a missing one must
    fail its test loudly rather than vanish from the collection.
    """
    found = []
    for before in sorted(root.rglob("*" + BEFORE_SUFFIX)):
        stem = before.name[: -len(BEFORE_SUFFIX)]
        after = before.with_name(stem + AFTER_SUFFIX)
        name = (before.parent.relative_to(root) / stem).as_posix()
        found.append(
            Fixture(name, before.relative_to(REPO_ROOT), after.relative_to(REPO_ROOT))
        )
    return found


@dataclass(frozen=True)
class Run:
    """One `equiv check` invocation derived from a fixture."""

    fixture: Fixture
    variant: str  # "" for the declared pair, else identity-before/identity-after/swapped

    @property
    def test_id(self) -> str:
        return self.fixture.name + (f"[{self.variant}]" if self.variant else "")


def all_runs() -> list[Run]:
    runs = []
    for fixture in discover_fixtures():
        for variant in ("", "identity-before", "identity-after", "swapped"):
            runs.append(Run(fixture, variant))
    return runs


def equiv_command(header: FixtureHeader, before: Path, after: Path) -> list[str]:
    """The `python -m equiv check` command line for one pair."""
    command = [sys.executable, "-m", "equiv", "check"]
    for function in header.functions:
        command += ["--function", function]
    command += list(header.args)
    command += [before.as_posix(), after.as_posix()]
    return command


@dataclass(frozen=True)
class Outcome:
    """What one `equiv check` run printed and returned."""

    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.command)}\n"
            f"exit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}"
            f"--- stderr ---\n{self.stderr}"
        )


def run_equiv(header: FixtureHeader, before: Path, after: Path) -> Outcome:
    """`equiv check` on the pair, in this process, from the repository root."""
    command = equiv_command(header, before, after)
    return run_in_process(command)


def run_in_process(command: list[str]) -> Outcome:
    """What `python -m equiv ARGS` would print and return, run by `equiv.driver.cli.main`.

    `command` is a full `python -m equiv ...` line (as shown in failures); the
    relative paths in it are relative to the repository root.
    """
    from equiv.driver.cli import main

    argv = command[command.index("equiv") + 1:]
    out, err = io.StringIO(), io.StringIO()
    with _at_repo_root(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return Outcome(tuple(command), code, out.getvalue(), err.getvalue())


_LOCATED_ERROR = re.compile(r"^(?P<file>[^:\n]+):\d+:(?:\d+:)? error:", re.MULTILINE)


def located_error_files(stderr: str) -> set[Path]:
    """Resolved paths named by `file:line[:col]: error:` lines of `stderr`."""
    return {(REPO_ROOT / m.group("file")).resolve() for m in _LOCATED_ERROR.finditer(stderr)}


def assert_sane(outcome: Outcome) -> None:
    output = outcome.stdout + outcome.stderr
    assert "Traceback" not in output, "equiv crashed:\n" + outcome.describe()


def assert_expected(header: FixtureHeader, fixture: Fixture, outcome: Outcome) -> None:
    assert_sane(outcome)
    assert outcome.returncode == header.expect.exit_code, (
        f"expected {header.expect.value} (exit {header.expect.exit_code}):\n"
        + outcome.describe()
    )
    output = outcome.stdout + outcome.stderr
    for check in header.checks:
        assert check in output, f"CHECK text {check!r} missing:\n" + outcome.describe()
    if header.expect is Expect.ERROR:
        assert_located_error(fixture, outcome)


def assert_located_error(fixture: Fixture, outcome: Outcome) -> None:
    inputs = {(REPO_ROOT / fixture.before).resolve(), (REPO_ROOT / fixture.after).resolve()}
    named = located_error_files(outcome.stderr)
    assert named & inputs, (
        "expected a 'file:line[:col]: error:' line naming an input file:\n"
        + outcome.describe()
    )


@contextlib.contextmanager
def _at_repo_root() -> Iterator[None]:
    """The working directory is the repository root (fixture paths are relative to it)."""
    saved = Path.cwd()
    if saved == REPO_ROOT:
        yield
        return
    os.chdir(REPO_ROOT)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def full_query() -> Iterator[None]:
    """Identical sides go through the full difference query, not the unchanged shortcut."""
    from equiv.driver.check import FunctionCheck

    saved = FunctionCheck.unchanged
    FunctionCheck.unchanged = lambda self, models: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        FunctionCheck.unchanged = saved  # type: ignore[method-assign]


@pytest.mark.parametrize("run", all_runs(), ids=lambda run: run.test_id)
def test_fixture(run: Run) -> None:
    fixture = run.fixture
    header = read_header(REPO_ROOT / fixture.before)
    assert (REPO_ROOT / fixture.after).is_file(), f"{fixture.after} is missing"
    if run.variant == "":
        assert_expected(header, fixture, run_equiv(header, fixture.before, fixture.after))
    elif run.variant.startswith("identity-"):
        if header.expect in (Expect.ERROR, Expect.UNKNOWN):
            pytest.skip(f"no identity check for an {header.expect.value} case")
        side = fixture.before if run.variant == "identity-before" else fixture.after
        with full_query():
            outcome = run_equiv(header, side, side)
        assert_sane(outcome)
        assert outcome.returncode == 0, f"{side} is not equivalent to itself:\n" + outcome.describe()
    else:
        outcome = run_equiv(header, fixture.after, fixture.before)
        assert_sane(outcome)
        assert outcome.returncode == header.expect.exit_code, (
            f"swapped pair ended differently from {header.expect.value}:\n" + outcome.describe()
        )


# ---- the runner's own logic ------------------------------------------------


def test_parse_header_reads_all_keys() -> None:
    header = parse_header(
        "// EXPECT: not-equivalent\n"
        "// FUNCTION: syscall_exit_work\n"
        "// FUNCTION: report_single_step\n"
        "// ARGS: --unwind 4\n"
        "// CHECK: flags=0x800 (_TIF_SECCOMP)\n"
        "// CHECK: NOT EQUIVALENT\n"
        "// ORACLE: skip uses a function pointer\n"
        "\n"
        "// CHECK: a blank line ended the header, so this is a plain comment\n"
        "#include <linux/audit.h>\n"
    )
    assert header == FixtureHeader(
        expect=Expect.NOT_EQUIVALENT,
        functions=("syscall_exit_work", "report_single_step"),
        args=("--unwind", "4"),
        checks=("flags=0x800 (_TIF_SECCOMP)", "NOT EQUIVALENT"),
        oracle_skip="uses a function pointer",
    )


def test_parse_header_rejects_unknown_key() -> None:
    with pytest.raises(HeaderError, match="unknown header key 'EXPCT'"):
        parse_header("// EXPECT: equivalent\n// EXPCT: error\n")


def test_parse_header_requires_expect() -> None:
    with pytest.raises(HeaderError, match="EXPECT"):
        parse_header("// CHECK: EQUIVALENT\nvoid f(void) {}\n")


def test_parse_header_rejects_bad_expect_value() -> None:
    with pytest.raises(HeaderError, match="bad EXPECT"):
        parse_header("// EXPECT: equivalant\n")


def test_located_error_files_accepts_both_forms() -> None:
    stderr = (
        "tests/fixtures/unsupported/asm.before.c:12:2: error: inline asm is not supported\n"
        "tests/fixtures/unsupported/asm.after.c:7: error: something\n"
        "note: tests/fixtures/x.c:3: error: not at line start\n"
    )
    assert located_error_files(stderr) == {
        (REPO_ROOT / "tests/fixtures/unsupported/asm.before.c").resolve(),
        (REPO_ROOT / "tests/fixtures/unsupported/asm.after.c").resolve(),
    }


def test_every_fixture_header_parses() -> None:
    fixtures = discover_fixtures()
    assert fixtures, "no fixtures found"
    for fixture in fixtures:
        read_header(REPO_ROOT / fixture.before)
        assert (REPO_ROOT / fixture.after).is_file(), f"{fixture.after} is missing"
