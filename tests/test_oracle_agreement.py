"""equiv's verdicts against compiled C: the gcc oracle on the fixture suite.

Every fixture pair that expects `equivalent` or `not-equivalent` (and carries
no `// ORACLE: skip`) is checked twice, with the premises of its ARGS (models,
`--arch`, `-D CONFIG_X=y|n`, `--assume`: see :class:`oracle.Premises`), from one shared computation per pair
(one `equiv check --json`, run in this process as test_fixtures.py runs it, one replay per counterexample, one enumeration per
function):

* `test_equiv_matches_oracle` -- a `not-equivalent` function's counterexample,
  replayed on the gcc-built sides, really makes them differ, and each side's
  calls, return value and final flag word are the ones equiv reported; an
  `equivalent` function shows no difference over the oracle's enumeration.
* `test_oracle_matches_expect` -- independently of equiv's verdict, the
  oracle's enumeration finds a difference exactly when the fixture's EXPECT
  says `not-equivalent` (when equiv gives no report, over the fixture's
  FUNCTION lines).

The oracle calls the root the way C does, by position (the before side's
signature names the arguments); a run where a side has undefined behaviour
(a shift count out of range) proves nothing and is skipped, never passed.

An enumeration the oracle refuses (too many bits) or that times out proves
nothing: the case is skipped with that reason, never passed.  equiv runs in this
process on the main thread when a test asks for its pair (pytest swaps the
standard streams between phases, so no other thread may redirect them); the
oracle's work (gcc and the compiled sides) runs in a small thread pool, a few
pairs ahead.
"""

from __future__ import annotations

import concurrent.futures
import gc
import json
import os
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oracle  # noqa: E402
from oracle import OracleStatus, OracleVerdict, ReplayResult, StubResults, Trace  # noqa: E402
from test_fixtures import (  # noqa: E402
    REPO_ROOT,
    Expect,
    Fixture,
    FixtureHeader,
    discover_fixtures,
    equiv_command,
    Outcome,
    read_header,
    run_in_process,
)

# One worker computes every pair up front (the `pairs` fixture): under xdist the
# file stays on one worker, or each worker would compute them all.
pytestmark = [pytest.mark.skipif(shutil.which("gcc") is None, reason="the oracle needs gcc"),
              pytest.mark.xdist_group("oracle_agreement")]

CHECKED_EXPECTS = (Expect.EQUIVALENT, Expect.NOT_EQUIVALENT)
# Zero results take every "nothing to do" branch on a call's result; hashed
# results (-1..2) take the others.  Both reuse the same build.
STUB_MODES = (StubResults.ZERO, StubResults.HASH)
# Without --stable-flags a call may leave any flag word behind: where a run reads
# the word after a call (a loop's re-read), the oracle scripts the words read, up
# to this many of them (loops run up to SCRIPTED_READS + 1 iterations).
SCRIPTED_READS = 2
WORKERS = max(2, os.cpu_count() or 1)
# equiv's in-process runs between two collections of cyclic garbage (see `pairs`).
COLLECT_EVERY = 8
# Parameters of test_equiv_matches_oracle where equiv is known to be wrong,
# `topic/case` -> reason; each becomes a strict xfail, so a fix must remove
# its entry.  The executor rewrite of issue 9 fixes these.
EQUIV_BUGS: Mapping[str, str] = {
}


# ---- cases -------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One fixture pair the oracle can judge."""

    fixture: Fixture
    header: FixtureHeader

    @property
    def name(self) -> str:
        return self.fixture.name

    @property
    def before(self) -> Path:
        return REPO_ROOT / self.fixture.before

    @property
    def after(self) -> Path:
        return REPO_ROOT / self.fixture.after

    @property
    def premises(self) -> oracle.Premises:
        """The models, arch layout, pins and assumptions of the fixture's ARGS."""
        return oracle.premises_from_args(self.header.args)


def oracle_cases() -> list[Case]:
    """Fixture pairs expecting a definite verdict, `ORACLE: skip` ones included."""
    cases = [Case(f, read_header(REPO_ROOT / f.before)) for f in discover_fixtures()]
    return [case for case in cases if case.header.expect in CHECKED_EXPECTS]


def case_params(bugs: Mapping[str, str]) -> list[Any]:
    """pytest parameters `topic/case`: ORACLE-skipped pairs skip with their
    reason, pairs named in ``bugs`` are strict xfails."""
    params = []
    for case in oracle_cases():
        marks: list[pytest.MarkDecorator] = []
        if case.header.oracle_skip is not None:
            marks.append(pytest.mark.skip(reason=f"ORACLE: skip {case.header.oracle_skip}"))
        if case.name in bugs:
            marks.append(pytest.mark.xfail(strict=True, reason=bugs[case.name]))
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


# ---- one computation per pair -------------------------------------------------


@dataclass(frozen=True)
class Enumeration:
    """The oracle's enumeration of one function, or why there is none."""

    verdict: OracleVerdict | None
    refused: str | None  # TooManyBits message when the oracle declined


@dataclass(frozen=True)
class FunctionResult:
    """equiv's verdict on one checked function and the oracle's evidence."""

    function: str
    verdict: str  # equiv's: equivalent / not-equivalent / unknown / error
    report: Mapping[str, Any]  # equiv's JSON entry for the function
    replay: ReplayResult | None  # only for a not-equivalent verdict
    enumeration: Enumeration


@dataclass(frozen=True)
class PairResult:
    """Everything both tests of one pair look at."""

    command: str
    returncode: int
    stdout: str
    stderr: str
    functions: tuple[FunctionResult, ...]
    equiv_answered: bool = True  # False: the functions are the fixture's FUNCTION lines

    def describe(self) -> str:
        return f"$ {self.command}\nexit code {self.returncode}\n--- stderr ---\n{self.stderr}"


def equiv_json_command(case: Case) -> list[str]:
    """The fixture's `equiv check` command line with `--json` added."""
    command = equiv_command(case.header, case.fixture.before, case.fixture.after)
    check = command.index("check")
    return [*command[: check + 1], "--json", *command[check + 1 :]]


def run_equiv_json(case: Case) -> Outcome:
    """equiv's `check --json` on ``case``, in this process (as test_fixtures.py runs it).

    Only on the main thread: pytest swaps the standard streams between test
    phases, and a redirection made in another thread would lose its output."""
    assert threading.current_thread() is threading.main_thread()
    return run_in_process(equiv_json_command(case))


def compute_pair(case: Case, equiv: Outcome) -> PairResult:
    """The oracle on each function equiv checked in ``equiv`` (its run on ``case``)."""
    proc = equiv
    shown = " ".join(equiv.command[1:])
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        # equiv gave no report: the oracle still judges the FUNCTION lines
        functions = tuple(
            FunctionResult(name, "error", {}, None, enumerate_function(case, name)) for name in case.header.functions
        )
        return PairResult(shown, proc.returncode, proc.stdout, proc.stderr, functions, equiv_answered=False)
    functions = tuple(compute_function(case, entry) for entry in report.get("functions", []))
    return PairResult(shown, proc.returncode, proc.stdout, proc.stderr, functions)


def compute_function(case: Case, entry: Mapping[str, Any]) -> FunctionResult:
    function, verdict = entry["function"], entry["verdict"]
    replay = None
    if verdict == "not-equivalent":
        replay = oracle.replay(case.before, case.after, function, entry["counterexample"], premises=case.premises)
    return FunctionResult(function, verdict, entry, replay, enumerate_function(case, function))


def enumerate_function(case: Case, function: str) -> Enumeration:
    try:
        verdict = oracle.enumerate_pair(case.before, case.after, function, stub_results=STUB_MODES,
                                        premises=case.premises, scripted_reads=SCRIPTED_READS)
    except oracle.TooManyBits as exc:
        return Enumeration(None, str(exc))
    return Enumeration(verdict, None)


class PairResults:
    """Pair computations handed out by name: equiv's run on this thread, the oracle's
    in a thread pool, a few pairs ahead of the test that asks."""

    LOOKAHEAD = 4  # pairs whose oracle work may wait in the pool

    def __init__(self, cases: Sequence[Case], pool: concurrent.futures.Executor) -> None:
        self._pool = pool
        self._cases = list(cases)
        self._next = 0
        self._futures: dict[str, concurrent.futures.Future[PairResult]] = {}
        self._runs = 0

    def _start(self, case: Case) -> None:
        if case.name not in self._futures:
            self._futures[case.name] = self._pool.submit(compute_pair, case, run_equiv_json(case))
            self._runs += 1
            if self._runs % COLLECT_EVERY == 0:
                gc.collect()  # here, where no thread uses z3 (see `pairs`)

    def get(self, case: Case) -> PairResult:
        self._start(case)
        while self._next < len(self._cases) and sum(
                not f.done() for f in self._futures.values()) < self.LOOKAHEAD:
            self._start(self._cases[self._next])  # the gcc work goes on meanwhile
            self._next += 1
        return self._futures[case.name].result()


def selected_cases(session: pytest.Session) -> list[Case]:
    """The cases of this file's tests that pytest will run (after -k etc.),
    skipped ones left out."""
    module = sys.modules[__name__]
    seen: dict[str, Case] = {}
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        case = params.get("case")
        if getattr(item, "module", None) is module and isinstance(case, Case) and not case.header.oracle_skip:
            seen.setdefault(case.name, case)
    return list(seen.values())


@pytest.fixture(scope="module")
def pairs(request: pytest.FixtureRequest) -> Iterator[PairResults]:
    # z3's context is not thread-safe, and Python's cycle collector runs in whichever
    # thread happens to allocate: a pool thread could free z3 terms while equiv runs
    # on the main thread (a segfault in Z3_solver_pop, seen here).  So the collector
    # is paused for this file and run on the main thread between equiv's runs.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
            yield PairResults(selected_cases(request.session), pool)
            pool.shutdown(cancel_futures=True)
    finally:
        if was_enabled:
            gc.enable()


# ---- checks --------------------------------------------------------------------


def equiv_functions(pair: PairResult) -> tuple[FunctionResult, ...]:
    """equiv's per-function results; fails when equiv gave no usable report."""
    assert pair.returncode in (0, 1) and pair.functions and pair.equiv_answered, (
        "equiv gave no definite verdict on a fixture that expects one:\n" + pair.describe()
    )
    return pair.functions


def rendered_calls(side: Mapping[str, Any]) -> list[str]:
    """equiv's calls of one counterexample side as `name(arg, ...)`.

    equiv and the oracle render arguments the same way (pointer parameters by
    name, integers in decimal with the signedness of their promoted type), so
    no normalisation is needed."""
    return [f"{call['function']}({', '.join(call['args'])})" for call in side["calls"]]


def check_counterexample(result: FunctionResult) -> str | None:
    """Assert the oracle reproduces equiv's counterexample; a skip reason if
    the replay timed out."""
    replay, cex = result.replay, result.report["counterexample"]
    assert replay is not None
    if replay.status is OracleStatus.TIMEOUT:
        return f"{result.function}: the replay of equiv's counterexample timed out"
    assert replay.differs, (
        f"{result.function}: equiv's counterexample does not make the compiled sides differ "
        f"(oracle: {replay.status.value})\ncounterexample: {json.dumps(cex, indent=1)}\n"
        f"before: {replay.before.to_dict()}\nafter: {replay.after.to_dict()}"
    )
    for name, trace in (("before", replay.before), ("after", replay.after)):
        check_side(result.function, name, cex[name], trace, cex.get("flags_observable", True))
    return None


def check_side(function: str, name: str, reported: Mapping[str, Any], trace: Trace,
               flags_observable: bool = True) -> None:
    """One side of equiv's counterexample against the compiled run.

    The final flag word is compared only where it is observable (a side writes
    it): otherwise a call may have left any word behind, and equiv does not
    pin the one it shows."""
    where = f"{function}, {name} side"
    assert rendered_calls(reported) == trace.call_strings, f"{where}: calls differ (equiv vs gcc)"
    assert reported["return"] == trace.ret, f"{where}: return value differs (equiv vs gcc)"
    if flags_observable:
        assert int(reported["flags"], 0) == trace.flags, \
            f"{where}: final flags differ (equiv vs gcc)"


def inconclusive(result: FunctionResult) -> str | None:
    """Why the enumeration of ``result`` proves nothing, or None if it does.
    A crash is no answer either, but it needs a look: it fails."""
    enumeration = result.enumeration
    if enumeration.verdict is None:
        return f"{result.function}: oracle refused: {enumeration.refused}"
    status = enumeration.verdict.status
    assert status is not OracleStatus.CRASH, (
        f"{result.function}: a compiled side crashed: {enumeration.verdict.example}"
    )
    if status is OracleStatus.UNDEFINED:
        return f"{result.function}: the sides differ only where C is undefined: {enumeration.verdict.example}"
    if status is OracleStatus.TIMEOUT:
        return f"{result.function}: oracle timed out: {enumeration.verdict.example}"
    return None


def enumeration_differs(result: FunctionResult) -> bool:
    verdict = result.enumeration.verdict
    return verdict is not None and verdict.differs


def check_no_difference(result: FunctionResult) -> str | None:
    """Assert the oracle finds no difference where equiv proved equivalence;
    a skip reason when its enumeration is inconclusive."""
    reason = inconclusive(result)
    if reason is None:
        verdict = result.enumeration.verdict
        assert verdict is not None and not verdict.differs, (
            f"{result.function}: equiv says equivalent, compiled C differs: {verdict and verdict.example}"
        )
    return reason


def skip_if_any(reasons: Sequence[str | None]) -> None:
    given = [reason for reason in reasons if reason]
    if given:
        pytest.skip("; ".join(given))


# ---- tests ---------------------------------------------------------------------


@pytest.mark.parametrize("case", case_params(EQUIV_BUGS))
def test_equiv_matches_oracle(case: Case, pairs: PairResults) -> None:
    reasons = []
    for result in equiv_functions(pairs.get(case)):
        if result.verdict == "not-equivalent":
            reasons.append(check_counterexample(result))
        elif result.verdict == "equivalent":
            reasons.append(check_no_difference(result))
        else:
            pytest.fail(f"{result.function}: equiv says {result.verdict} ({result.report.get('reason')})")
    skip_if_any(reasons)


@pytest.mark.parametrize("case", case_params({}))
def test_oracle_matches_expect(case: Case, pairs: PairResults) -> None:
    pair = pairs.get(case)
    results = pair.functions if not pair.equiv_answered and pair.functions else equiv_functions(pair)
    differing = [r.function for r in results if enumeration_differs(r)]
    expected = case.header.expect is Expect.NOT_EQUIVALENT
    if differing and not expected:
        pytest.fail(f"EXPECT equivalent, but compiled C differs in {differing}")
    if expected and not differing:
        skip_if_any([inconclusive(r) for r in results])
        pytest.fail("EXPECT not-equivalent, but the oracle found no difference")
    if not expected:
        skip_if_any([inconclusive(r) for r in results])
