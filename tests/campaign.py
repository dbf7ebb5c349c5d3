"""Agreement campaign: equiv's verdicts against compiled C on generated pairs.

    python tests/campaign.py --pairs 200 --seed 1 [--jobs 2] [--out DIR]

For every pair from :mod:`generate`, equiv runs in-process (``run_check``) and
the gcc oracle (:mod:`oracle`) compiles each side once and then

* enumerates every flag word over the pair's bits (``Pair.bits``), in both
  stub-result modes (ZERO and HASH), and
* replays equiv's counterexample, when there is one, on the same binaries.

A pair *agrees* when

* equiv says EQUIVALENT and the enumeration finds no difference, or
* equiv says NOT EQUIVALENT and its counterexample makes the compiled sides
  differ, with each side's calls, return value and final flag word exactly
  as equiv reported them.  (The enumeration may miss such a difference: it
  tries two stub behaviours only; the replay is the proof.)

Anything else where both tools answered is a *disagreement*, written as a
fixture-style pair (``<name>.before.c`` / ``.after.c``, header EXPECT = what
compiled C says) into ``--out`` for triage.  UNKNOWN verdicts, InputErrors,
oracle errors, crashes and timeouts are counted apart: they prove nothing.

Speed: the oracle's public ``enumerate_pair`` + ``replay`` build each side
twice with four gcc runs per build.  Here each side is built once per pair
(one ``gcc -E`` for the analysis, one ``gcc`` compiling and linking against a
runtime object compiled once per worker); ``--reference-oracle`` uses the
public API instead, to cross-check the fast path.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import re
import resource
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

import oracle  # noqa: E402
from generate import FAMILIES, Pair, fixture_text, generate_pair, parse_families  # noqa: E402
from oracle import OracleStatus, RunInput, StubResults  # noqa: E402

from equiv.driver.check import CheckOptions, run_check  # noqa: E402
from equiv.errors import InputError  # noqa: E402
from equiv.report.render import render_json  # noqa: E402
from equiv.report.results import Verdict  # noqa: E402

STUB_MODES = (StubResults.ZERO, StubResults.HASH)
UNWIND = 8
TIMEOUT = 10.0


class Judgement(Enum):
    """How one pair ended; every way has a stable name."""

    AGREE = "agree"  # both tools answered and they agree
    EQUIV_UNSOUND = "equiv-says-equivalent-but-c-differs"  # the serious kind
    BOGUS_COUNTEREXAMPLE = "counterexample-does-not-reproduce"  # replay shows no difference
    WRONG_DETAILS = "counterexample-details-differ"  # replay differs, but not as equiv said
    UNKNOWN = "equiv-unknown"  # equiv could not decide
    INPUT_ERROR = "equiv-input-error"  # equiv rejected the pair (generator or equiv issue)
    EQUIV_CRASH = "equiv-crash"  # anything but InputError escaped equiv
    ORACLE_INCONCLUSIVE = "oracle-inconclusive"  # oracle error, crash or timeout
    # the sides differ only where C is undefined (the oracle traps there):
    UB_AS_DIFFERENCE = "undefined-behaviour-printed-as-difference"  # equiv's counterexample is a UB run
    UB_IGNORED = "equivalent-resting-on-undefined-behaviour"  # equiv proved what only UB could break

    @property
    def is_disagreement(self) -> bool:
        return self in (Judgement.EQUIV_UNSOUND, Judgement.BOGUS_COUNTEREXAMPLE, Judgement.WRONG_DETAILS,
                        Judgement.EQUIV_CRASH, Judgement.UB_AS_DIFFERENCE, Judgement.UB_IGNORED)


@dataclass(frozen=True)
class Outcome:
    """Everything the campaign reports about one pair."""

    name: str
    judgement: Judgement
    equiv: str  # equiv's verdict, or "error"
    oracle: str  # the enumeration's status, or "error"
    replay: str | None  # the replay's status for a counterexample
    detail: str = ""
    seconds: float = 0.0
    equiv_seconds: float = 0.0

    @property
    def c_differs(self) -> bool | None:
        """What compiled C says: a difference was seen (enumeration or replay)."""
        if self.oracle == "differs" or self.replay == "differs":
            return True
        if self.oracle == "same":
            return False
        return None


# --------------------------------------------------------------------------
# The oracle, one build per side
# --------------------------------------------------------------------------


class FastOracle:
    """The gcc oracle with the runtime compiled once and each side built once."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        ws = oracle.Workspace(workdir / "runtime.c", workdir)
        self.runtime_o = oracle.compile_runtime(ws, workdir)
        self.reference_o = None
        if oracle.CHECK_DRIVER:
            (workdir / "reference").mkdir()
            self.reference_o = oracle.compile_runtime(ws, workdir / "reference", reference=True)

    def build(self, fragment: Path, root: str, workdir: Path, inputs: Iterable[str],
              caller: oracle.CallerView | None = None) -> tuple[oracle.FragmentInfo, oracle.Executable]:
        """``oracle.build`` with the prebuilt runtime and one compile-and-link."""
        info, seen = oracle._analyse(fragment, root, workdir)
        caller = caller or oracle.caller_view(info)
        slots = oracle.input_slots(info, inputs, caller)
        prefix, suffix, unit = workdir / "prefix.h", workdir / "suffix.c", workdir / "unit.c"
        info.ws.renames.write_text("".join(f"#define {n} __oracle_prelude_{n}\n" for n in info.overridden))
        prefix.write_text(oracle.prefix_c(info))
        suffix.write_text(oracle.suffix_c(info, seen, slots, caller))
        unit.write_text(oracle._wrapper(oracle.harness_workspace(info, seen), prefix, suffix))
        exe = workdir / "side"
        oracle._compile(info.ws, [*oracle._include_args(info.ws), "-c", str(unit), "-o", str(workdir / "unit.o")])
        oracle.link_side(info.ws, [str(workdir / "unit.o")], exe, self.runtime_o, self.reference_o)
        return info, oracle.Executable(exe, info.configs, slots)

    def judge(self, before: Path, after: Path, function: str, bits: Sequence[int] | None,
              cex: Mapping[str, Any] | None, workdir: Path) -> tuple[oracle.OracleVerdict, oracle.ReplayResult | None]:
        """Enumeration over ``bits`` (None: the bits the oracle mines, as
        ``enumerate_pair`` does, at most 12) in both stub modes, and the
        replay of ``cex``."""
        inputs = dict((cex or {}).get("inputs") or {})
        info_b, exe_b = self.build(before, function, workdir / "before", inputs)
        caller = oracle.caller_view(info_b)  # the caller was written against the before side
        info_a, exe_a = self.build(after, function, workdir / "after", inputs, caller)
        chosen = tuple(sorted(set(bits) if bits is not None else oracle._mined(info_b, info_a, True)))
        configs = tuple(sorted(set(info_b.configs) | set(info_a.configs)))
        if len(chosen) > 12 or len(configs) > 8:
            raise oracle.TooManyBits(f"{len(chosen)} flag bits, {len(configs)} CONFIG switches")
        runs = oracle.enumeration_runs(caller, (info_b, info_a), chosen, configs, STUB_MODES)
        verdict = oracle._verdict(runs, oracle.execute(exe_b, runs), oracle.execute(exe_a, runs), chosen, configs)
        replayed = None
        if cex is not None:
            flags = oracle._parse_int(cex["flags"])
            cfg = {name: bool(on) for name, on in (cex.get("configs") or {}).items()}
            values = {name: oracle._parse_int(v) for name, v in inputs.items()}
            args = oracle.caller_args(caller, max(len(info_b.params), len(info_a.params)), flags, values, (info_b, info_a))
            tb, ta = (oracle.execute(exe, [RunInput(flags, cfg, values, StubResults.REPLAY, oracle._side_results(cex.get(label)), args)])[0]
                      for exe, label in ((exe_b, "before"), (exe_a, "after")))
            status = oracle._pair_status(tb, ta)
            replayed = oracle.ReplayResult(status, status is OracleStatus.DIFFERS, tb, ta)
        return verdict, replayed


def reference_judge(before: Path, after: Path, function: str, bits: Sequence[int] | None,
                    cex: Mapping[str, Any] | None) -> tuple[oracle.OracleVerdict, oracle.ReplayResult | None]:
    """The same through the oracle's public API (slow)."""
    verdict = oracle.enumerate_pair(before, after, function, bits=bits, stub_results=STUB_MODES)
    return verdict, (oracle.replay(before, after, function, cex) if cex is not None else None)


# --------------------------------------------------------------------------
# Judging one pair
# --------------------------------------------------------------------------


def rendered_calls(side: Mapping[str, Any]) -> list[str]:
    return [f"{call['function']}({', '.join(call['args'])})" for call in side["calls"]]


_STRUCT_BYTES = re.compile(r"\{([0-9a-f]*)\}")


def struct_words(call: str) -> str:
    """gcc's `{bytes}` for a struct passed by value, as its 8-byte words in signed
    decimal: how equiv shows a struct argument (its members, each a long here)."""
    def words(m: re.Match[str]) -> str:
        raw = bytes.fromhex(m.group(1))
        return ", ".join(str(int.from_bytes(raw[i:i + 8], "little", signed=True))
                         for i in range(0, len(raw), 8))
    return _STRUCT_BYTES.sub(words, call)


def details_mismatch(cex: Mapping[str, Any], replay: oracle.ReplayResult) -> str | None:
    """Where equiv's account of a side differs from the compiled run."""
    for label, trace in (("before", replay.before), ("after", replay.after)):
        side = cex[label]
        if rendered_calls(side) != [struct_words(c) for c in trace.call_strings]:
            return f"{label} calls: equiv {rendered_calls(side)} vs gcc {trace.call_strings}"
        if side["return"] != trace.ret:
            return f"{label} return: equiv {side['return']} vs gcc {trace.ret}"
        # The final word is observable only when a side writes it (README).
        if cex.get("flags_observable", True) and int(side["flags"], 0) != trace.flags:
            return f"{label} final flags: equiv {side['flags']} vs gcc {hex(trace.flags or 0)}"
    return None


def run_equiv(before: Path, after: Path, function: str, unwind: int = UNWIND) -> tuple[str, dict | None, str]:
    """equiv's verdict on ``function``, its counterexample (JSON form) and a
    note (the reason of an UNKNOWN, the message of an error)."""
    try:
        # --stable-flags: the oracle keeps the flag word across calls (it does not yet
        # script the word a call leaves behind), so equiv is held to the same rule.
        result = run_check([str(before)], [str(after)],
                           CheckOptions(functions=(function,), unwind=unwind, timeout=TIMEOUT,
                                        stable_flags=True, explain=False))
    except InputError as exc:
        return "error", None, exc.render()
    entry = json.loads(render_json(result))["functions"][0]
    verdict = result.functions[0].verdict
    return verdict.value, entry.get("counterexample"), result.functions[0].reason or ""


def judge_files(before: Path, after: Path, function: str, bits: Sequence[int] | None, workdir: Path,
                fast: FastOracle | None, name: str = "", unwind: int = UNWIND) -> Outcome:
    """Run both tools on one pair of files and classify the result."""
    start = time.perf_counter()
    try:
        verdict, cex, note = run_equiv(before, after, function, unwind)
    except Exception:  # anything but InputError is an equiv bug
        return Outcome(name, Judgement.EQUIV_CRASH, "crash", "-", None, traceback.format_exc(limit=6),
                       time.perf_counter() - start)
    equiv_seconds = time.perf_counter() - start

    def done(judgement: Judgement, oracle_status: str, replay: str | None, detail: str = "") -> Outcome:
        return Outcome(name, judgement, verdict, oracle_status, replay, detail, time.perf_counter() - start, equiv_seconds)

    if verdict == "error":
        return done(Judgement.INPUT_ERROR, "-", None, note)
    try:
        if fast is not None:
            enumeration, replayed = fast.judge(before, after, function, bits, cex, workdir)
        else:
            enumeration, replayed = reference_judge(before, after, function, bits, cex)
    except oracle.OracleError as exc:
        return done(Judgement.ORACLE_INCONCLUSIVE, "error", None, str(exc)[:2000])
    status = enumeration.status.value
    replay_status = replayed.status.value if replayed else None
    if verdict == Verdict.UNKNOWN.value:
        return done(Judgement.UNKNOWN, status, replay_status, note)
    if verdict == Verdict.EQUIVALENT.value:
        if enumeration.status is OracleStatus.UNDEFINED:
            return done(Judgement.UB_IGNORED, status, None, json.dumps(enumeration.example, indent=1))
        if enumeration.status is OracleStatus.DIFFERS:
            return done(Judgement.EQUIV_UNSOUND, status, None, json.dumps(enumeration.example, indent=1))
        if enumeration.status is OracleStatus.SAME:
            return done(Judgement.AGREE, status, None)
        return done(Judgement.ORACLE_INCONCLUSIVE, status, None, json.dumps(enumeration.example))
    assert replayed is not None and cex is not None
    if replayed.status is OracleStatus.DIFFERS:
        mismatch = details_mismatch(cex, replayed)
        if mismatch:
            return done(Judgement.WRONG_DETAILS, status, replay_status, mismatch)
        return done(Judgement.AGREE, status, replay_status)
    if replayed.status is OracleStatus.UNDEFINED:
        return done(Judgement.UB_AS_DIFFERENCE, status, replay_status, f"counterexample {json.dumps(cex)}")
    if replayed.status is OracleStatus.SAME:
        detail = (f"counterexample {json.dumps(cex)}\nreplay before {replayed.before.to_dict()}\n"
                  f"replay after {replayed.after.to_dict()}")
        return done(Judgement.BOGUS_COUNTEREXAMPLE, status, replay_status, detail)
    return done(Judgement.ORACLE_INCONCLUSIVE, status, replay_status, "replay crashed or timed out")


def judge_pair(pair: Pair, workdir: Path, fast: FastOracle | None) -> Outcome:
    workdir.mkdir(parents=True, exist_ok=True)
    before, after = workdir / "pair.before.c", workdir / "pair.after.c"
    before.write_text(pair.before)
    after.write_text(pair.after)
    return judge_files(before, after, pair.function, pair.bits, workdir, fast, pair.name)


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(reference: bool, exclude: frozenset[str], families: frozenset[str] = frozenset()) -> None:
    root = Path(tempfile.mkdtemp(prefix="equiv-campaign-"))
    _WORKER.update(root=root, fast=None if reference else FastOracle(root), exclude=exclude, families=families)


def _work(task: tuple[int, int]) -> tuple[Pair, Outcome]:
    seed, index = task
    pair = generate_pair(seed, index, _WORKER["exclude"], _WORKER["families"])
    workdir = Path(_WORKER["root"], f"p{index}")
    try:
        return pair, judge_pair(pair, workdir, _WORKER["fast"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Summary:
    """Counts over a campaign."""

    outcomes: list[tuple[Pair, Outcome]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def count(self, judgement: Judgement) -> int:
        return sum(o.judgement is judgement for _, o in self.outcomes)

    @property
    def disagreements(self) -> list[tuple[Pair, Outcome]]:
        return [(p, o) for p, o in self.outcomes if o.judgement.is_disagreement]

    def render(self) -> str:
        n = len(self.outcomes)
        c_same = sum(o.c_differs is False for _, o in self.outcomes)
        c_diff = sum(o.c_differs is True for _, o in self.outcomes)
        intended = collections.Counter(p.intended for p, _ in self.outcomes)
        label_wrong = sum(o.c_differs is not None and o.c_differs != (p.intended == "not-equivalent")
                          for p, o in self.outcomes)
        verdicts = collections.Counter(o.equiv for _, o in self.outcomes)
        found_by_replay_only = sum(o.replay == "differs" and o.oracle == "same" for _, o in self.outcomes)
        lines = [
            f"pairs:                 {n}",
            f"intended:              {intended['equivalent']} equivalent, {intended['not-equivalent']} not-equivalent",
            f"compiled C says:       {c_same} equivalent, {c_diff} differ, {n - c_same - c_diff} inconclusive"
            f" ({label_wrong} intended labels were wrong)",
            "equiv says:            " + ", ".join(f"{v} {k}" for k, v in sorted(verdicts.items())),
            f"agreements:            {self.count(Judgement.AGREE)}"
            f" ({found_by_replay_only} differences only equiv's counterexample exposed)",
            f"disagreements:         {len(self.disagreements)}",
        ]
        for j in Judgement:
            if j is not Judgement.AGREE and self.count(j):
                lines.append(f"  {j.value}: {self.count(j)}")
        rate = n / self.seconds if self.seconds else 0.0
        lines += [
            f"wall time:             {self.seconds:.1f} s ({rate:.2f} pairs/s)",
            f"cpu time:              {self.cpu_seconds:.1f} s ({self.cpu_seconds / max(n, 1):.2f} s/pair)",
            f"10k pairs, extrapolated: {10000 / rate / 60:.1f} min at this rate" if rate else "",
            f"equiv share:           {sum(o.equiv_seconds for _, o in self.outcomes) / max(sum(o.seconds for _, o in self.outcomes), 1e-9):.0%} of per-pair time",
        ]
        return "\n".join(line for line in lines if line)


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_campaign(pairs: int, seed: int, jobs: int = 1, reference: bool = False,
                 exclude: frozenset[str] = frozenset(), start: int = 0, progress: bool = False,
                 families: frozenset[str] = frozenset()) -> Summary:
    """Generate and judge ``pairs`` pairs of stream ``seed``; ``families``
    adds the generator's construct families (:data:`generate.FAMILIES`)."""
    tasks = [(seed, i) for i in range(start, start + pairs)]
    summary = Summary()
    t0, c0 = time.perf_counter(), _cpu()
    if jobs <= 1:
        _init_worker(reference, exclude, families)
        results: Iterable[tuple[Pair, Outcome]] = map(_work, tasks)
    else:
        ctx = multiprocessing.get_context("fork")
        pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(reference, exclude, families))
        results = pool.imap_unordered(_work, tasks, chunksize=4)
    for k, item in enumerate(results, 1):
        summary.outcomes.append(item)
        if progress and k % 100 == 0:
            print(f"... {k}/{pairs} pairs, {len(summary.disagreements)} disagreements,"
                  f" {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if jobs > 1:
        pool.close()
        pool.join()
    else:
        shutil.rmtree(_WORKER["root"], ignore_errors=True)
    summary.outcomes.sort(key=lambda po: int(po[0].name.rsplit("-", 1)[1]))
    summary.seconds, summary.cpu_seconds = time.perf_counter() - t0, _cpu() - c0
    return summary


def write_triage(summary: Summary, out: Path, include: Sequence[Judgement] = ()) -> list[Path]:
    """Each disagreement (and each outcome in ``include``) as a fixture-style pair."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for pair, outcome in summary.outcomes:
        if not (outcome.judgement.is_disagreement or outcome.judgement in include):
            continue
        truth = {True: "not-equivalent", False: "equivalent", None: pair.intended}[outcome.c_differs]
        pair_for_c = Pair(pair.name, pair.before, pair.after, pair.function, pair.bits, truth, pair.edits, pair.features)
        note = (f"{outcome.judgement.value}: equiv {outcome.equiv}, oracle {outcome.oracle}, replay {outcome.replay}\n"
                f"{outcome.detail}")
        before, after = fixture_text(pair_for_c, note.replace("*/", "* /"))
        (out / f"{pair.name}.before.c").write_text(before)
        (out / f"{pair.name}.after.c").write_text(after)
        written.append(out / f"{pair.name}.before.c")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="first pair index")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=Path("campaign-out"), help="triage directory for disagreements")
    parser.add_argument("--exclude", action="append", default=[], help="generator feature or edit to leave out")
    parser.add_argument("--families", default="none",
                        help="generator construct families: all (every UB-free one), none, or a comma-separated "
                        f"list of {', '.join(sorted(FAMILIES))}")
    parser.add_argument("--reference-oracle", action="store_true", help="use oracle.enumerate_pair/replay (slow)")
    parser.add_argument("--save-inconclusive", action="store_true", help="also write unknown/error pairs to --out")
    parser.add_argument("--cross-check", action="store_true", help="re-check EQUIVALENT verdicts with a second solver")
    args = parser.parse_args(argv)
    if args.cross_check:
        print("--cross-check: not available: run_check exposes no SMT query to hand to a second solver, "
              "and reaching it would need equiv internals", file=sys.stderr)
        return 2
    summary = run_campaign(args.pairs, args.seed, args.jobs, args.reference_oracle, frozenset(args.exclude),
                           args.start, progress=True, families=parse_families(args.families))
    print(summary.render())
    extra = [j for j in Judgement if not j.is_disagreement and j is not Judgement.AGREE] if args.save_inconclusive else []
    written = write_triage(summary, args.out, extra)
    if written:
        print(f"wrote {len(written)} pairs to {args.out}/")
    for pair, outcome in summary.disagreements:
        print(f"  {pair.name}: {outcome.judgement.value} (edits {', '.join(pair.edits)}): {outcome.detail.splitlines()[0] if outcome.detail else ''}")
    return 1 if summary.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
