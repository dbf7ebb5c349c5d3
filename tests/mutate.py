"""Mutation testing of the fixture suite: does equiv catch small changes?

    python tests/mutate.py [--per-base N] [--seed S] [--jobs 2] [--only TOPIC/CASE]

Bases are the fixture pairs that EXPECT equivalent, and every side of every
fixture expecting a definite verdict paired with itself (the identity check).
For each base the *after* file is mutated, one small edit at a time, by the
operators in :data:`OPERATORS` (a mask or bit number moved by one bit, two
call statements swapped, a constant changed, ``&&``/``||``, ``&``/``|``,
``<``/``<=``, an ``else`` dropped, a local narrowed to ``u32``,
``set``/``clear`` swapped).  The gcc oracle decides which mutants really
differ from the base (enumeration over the mined bits in both stub modes,
or equiv's counterexample replayed); mutants that compile C says are the same,
or that it cannot judge, are set aside.  A differing mutant is *killed* when
equiv says NOT EQUIVALENT.  The script prints the kill rate and every survivor.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from campaign import FastOracle, Outcome, judge_files  # noqa: E402
from test_fixtures import REPO_ROOT, Expect, discover_fixtures, read_header  # noqa: E402
from test_oracle_agreement import EQUIV_BUGS  # noqa: E402

from equiv.driver.check import CheckOptions, run_check  # noqa: E402
from equiv.errors import InputError  # noqa: E402
from equiv.report.results import Verdict  # noqa: E402

# --------------------------------------------------------------------------
# Operators: C text in, mutants out
# --------------------------------------------------------------------------

# A line of a function body (indented), not a preprocessor or comment line.
_BODY = re.compile(r"^[ \t]+(?![ \t]*(?:#|/?\*|//))")
_CALL_STMT = re.compile(r"^([ \t]+)[A-Za-z_]\w*\s*\(.*\);\s*$")
_DEFINE_NUM = re.compile(r"^(#define\s+\w+\s+\(?\s*)(\d+)(.*)$")
_SHIFT_BIT = re.compile(r"(<<\s*|BIT(?:_ULL)?\()(\d+)")
_CONST = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
_LOCAL = re.compile(r"^([ \t]+)(unsigned long|long|int|u64|unsigned int|u32)(\s+\w+\s*[=;])")


@dataclass(frozen=True)
class Mutant:
    operator: str
    line: int  # 1-based line of the edit
    text: str  # the whole mutated file

    @property
    def label(self) -> str:
        return f"{self.operator}@{self.line}"


def _body_lines(lines: list[str]) -> Iterator[int]:
    """Indices of lines inside function bodies (after a line that opens a
    function: crude, but fixtures are kernel-style)."""
    depth = 0
    for i, line in enumerate(lines):
        code = line.split("//")[0]
        if depth > 0 and _BODY.match(line) and not code.strip().startswith("*"):
            yield i
        depth += code.count("{") - code.count("}")


def _sub_each(lines: list[str], indices: Sequence[int], pattern: re.Pattern[str],
              repl: Callable[[re.Match[str]], str | None], operator: str) -> Iterator[Mutant]:
    """One mutant per match of ``pattern`` on the given lines."""
    for i in indices:
        for match in pattern.finditer(lines[i]):
            new = repl(match)
            if new is None:
                continue
            line = lines[i][: match.start()] + new + lines[i][match.end():]
            yield Mutant(operator, i + 1, "".join(lines[:i] + [line] + lines[i + 1:]))


def op_mask_bit(lines: list[str]) -> Iterator[Mutant]:
    """Drop one operand of a multi-bit mask macro (which may continue over
    several lines); move a constant shifted or BIT() bit by one."""
    operand = re.compile(r"\|\s*\w+(?:\([^()]*\))?|(?<=\()\s*\w+(?:\([^()]*\))?\s*\|")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("#define"):
            i += 1
            continue
        j = i
        while lines[j].rstrip().endswith("\\") and j + 1 < len(lines):
            j += 1
        block = "".join(lines[i : j + 1])
        for match in operand.finditer(block):
            new = block[: match.start()] + block[match.end():]
            yield Mutant("mask-bit", i + 1, "".join(lines[:i]) + new + "".join(lines[j + 1:]))
        i = j + 1
    defines = [i for i, line in enumerate(lines) if line.startswith("#define")]
    yield from _sub_each(lines, defines, _SHIFT_BIT, lambda m: f"{m[1]}{int(m[2]) + 1}" if int(m[2]) < 62 else None,
                         "mask-bit")


def op_off_by_one_bit(lines: list[str]) -> Iterator[Mutant]:
    """``#define TIF_X n`` -> ``n + 1`` (a bit number off by one)."""
    for i, line in enumerate(lines):
        match = _DEFINE_NUM.match(line.rstrip("\n"))
        if match and re.match(r"#define\s+TIF_", line) and int(match[2]) < 63:
            new = f"{match[1]}{int(match[2]) + 1}{match[3]}\n"
            yield Mutant("off-by-one-bit", i + 1, "".join(lines[:i] + [new] + lines[i + 1:]))


def op_swap_calls(lines: list[str]) -> Iterator[Mutant]:
    """Two adjacent call statements at the same indentation swapped."""
    body = set(_body_lines(lines))
    for i in range(len(lines) - 1):
        a, b = _CALL_STMT.match(lines[i]), _CALL_STMT.match(lines[i + 1])
        if i in body and a and b and a[1] == b[1] and lines[i].strip() != lines[i + 1].strip():
            yield Mutant("swap-calls", i + 1, "".join(lines[:i] + [lines[i + 1], lines[i]] + lines[i + 2:]))


def op_const(lines: list[str]) -> Iterator[Mutant]:
    """A decimal constant in a function body changed by one."""
    body = [i for i in _body_lines(lines) if not lines[i].lstrip().startswith("case")]
    yield from _sub_each(lines, body, _CONST, lambda m: str(int(m[1]) + 1), "const")


def op_and_or(lines: list[str]) -> Iterator[Mutant]:
    body = list(_body_lines(lines))
    yield from _sub_each(lines, body, re.compile(r"&&|\|\|"), lambda m: "||" if m[0] == "&&" else "&&", "and-or")


def op_amp_or(lines: list[str]) -> Iterator[Mutant]:
    """Binary ``&`` <-> ``|`` (not ``&&``, ``||``, compound assignments)."""
    body = list(_body_lines(lines))
    pattern = re.compile(r"(?<=[\w)\]]\s)([&|])(?=\s)")
    yield from _sub_each(lines, body, pattern, lambda m: "|" if m[1] == "&" else "&", "amp-or")


def op_less_equal(lines: list[str]) -> Iterator[Mutant]:
    """``<`` <-> ``<=`` (not shifts)."""
    body = list(_body_lines(lines))
    pattern = re.compile(r"(?<![<>-])(<=?)(?![<=])")
    yield from _sub_each(lines, body, pattern, lambda m: "<" if m[1] == "<=" else "<=", "less-equal")


def op_drop_else(lines: list[str]) -> Iterator[Mutant]:
    """The ``else`` keyword removed: its branch runs unconditionally."""
    body = list(_body_lines(lines))
    yield from _sub_each(lines, body, re.compile(r"\belse\b\s*"), lambda m: "", "drop-else")


def op_truncate(lines: list[str]) -> Iterator[Mutant]:
    """A local of a wider type declared ``u32`` (``u16`` for 32-bit ones)."""
    body = list(_body_lines(lines))
    for i in body:
        match = _LOCAL.match(lines[i])
        if match:
            narrow = "u16" if match[2] in ("int", "unsigned int", "u32") else "u32"
            line = lines[i][: match.start(2)] + narrow + lines[i][match.end(2):]
            yield Mutant("truncate-local", i + 1, "".join(lines[:i] + [line] + lines[i + 1:]))


def op_set_clear(lines: list[str]) -> Iterator[Mutant]:
    body = list(_body_lines(lines))
    pattern = re.compile(r"\b(set|clear)_(ti_)?thread_flag\b")
    yield from _sub_each(lines, body, pattern, lambda m: ("clear" if m[1] == "set" else "set") + m[0][len(m[1]):],
                         "set-clear")


OPERATORS = (op_mask_bit, op_off_by_one_bit, op_swap_calls, op_const, op_and_or, op_amp_or, op_less_equal,
             op_drop_else, op_truncate, op_set_clear)


def mutants(text: str) -> list[Mutant]:
    """Every mutant of ``text``, deduplicated, in a stable order."""
    lines = text.splitlines(keepends=True)
    seen, out = {text}, []
    for operator in OPERATORS:
        for mutant in operator(lines):
            if mutant.text not in seen:
                seen.add(mutant.text)
                out.append(mutant)
    return out


# --------------------------------------------------------------------------
# Bases and jobs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    """A pair of fixture files the oracle and equiv both call equivalent."""

    name: str  # topic/case[variant]
    before: Path
    after: Path  # the file that gets mutated
    functions: tuple[str, ...]
    unwind: int


def _unwind(args: Sequence[str]) -> int | None:
    """The --unwind of a fixture's ARGS; None when ARGS has anything else."""
    unwind, rest = 8, list(args)
    while rest:
        flag = rest.pop(0)
        if flag == "--unwind" and rest:
            unwind = int(rest.pop(0))
        else:
            return None
    return unwind


def bases() -> list[Base]:
    """EXPECT-equivalent pairs and identity pairs of every definite fixture."""
    out = []
    for fixture in discover_fixtures():
        header = read_header(REPO_ROOT / fixture.before)
        unwind = _unwind(header.args)
        if header.oracle_skip or unwind is None or header.expect not in (Expect.EQUIVALENT, Expect.NOT_EQUIVALENT):
            continue
        before, after = REPO_ROOT / fixture.before, REPO_ROOT / fixture.after
        if header.expect is Expect.EQUIVALENT:
            out.append(Base(fixture.name, before, after, header.functions, unwind))
        out.append(Base(fixture.name + "[identity-before]", before, before, header.functions, unwind))
        out.append(Base(fixture.name + "[identity-after]", after, after, header.functions, unwind))
    return out


def checked_functions(base: Base) -> tuple[str, ...]:
    """The functions equiv proves equivalent on the unmutated base."""
    options = CheckOptions(functions=base.functions, unwind=base.unwind, timeout=10,
                           stable_flags=True)  # the oracle keeps the flag word across calls
    try:
        result = run_check([str(base.before)], [str(base.after)], options)
    except InputError:
        return ()
    return tuple(f.function for f in result.functions if f.verdict is Verdict.EQUIVALENT)


@dataclass(frozen=True)
class Task:
    base: Base
    function: str
    mutant: Mutant


@dataclass(frozen=True)
class Judged:
    task: Task
    outcome: Outcome

    @property
    def differs(self) -> bool | None:
        """Whether compiled C shows a difference; None when it cannot tell.

        A mutant inside a struct or union definition changes the type's layout: the
        oracle's fingerprint of raw memory then differs even where no member either
        side touches changed.  When that fingerprint is all that differs (same calls,
        results, return and flag word), the oracle cannot judge the mutant."""
        if self.outcome.c_differs and self.layout_only:
            return None
        return self.outcome.c_differs

    @property
    def memory_only_layout_counterexample(self) -> bool:
        if not in_aggregate_definition(self.task.mutant.text, self.task.mutant.line):
            return False
        first = self.outcome.detail.split("\n", 1)[0]
        if not first.startswith("counterexample "):
            return False
        try:
            cex = json.loads(first[len("counterexample "):])
        except ValueError:
            return False
        b, a = cex.get("before") or {}, cex.get("after") or {}
        return all(b.get(k) == a.get(k) for k in ("calls", "return", "flags"))

    @property
    def layout_only(self) -> bool:
        if not in_aggregate_definition(self.task.mutant.text, self.task.mutant.line):
            return False
        try:
            example = json.loads(self.outcome.detail)
        except ValueError:
            return False
        sides = [example.get(k) for k in ("before", "after")]
        if not all(isinstance(s, dict) for s in sides):
            return False
        keys = ("calls", "results", "return", "flags", "outcome")
        return all(sides[0].get(k) == sides[1].get(k) for k in keys)

    @property
    def killed(self) -> bool:
        return self.outcome.equiv == Verdict.NOT_EQUIVALENT.value


def plan(per_base: int, seed: int, only: str | None = None, max_bases: int = 0) -> list[Task]:
    """Up to ``per_base`` mutants per base and function (0: all), sampled
    with ``seed`` but covering every operator first; ``max_bases`` > 0
    samples that many bases.  Fixtures equiv is known to get wrong
    (``EQUIV_BUGS`` of the agreement test) are no bases: their mutants would
    only show the same bug again."""
    rng = random.Random(seed)
    tasks = []
    chosen_bases = [b for b in bases() if (not only or b.name.startswith(only))
                    and b.name.split("[")[0] not in EQUIV_BUGS]
    if max_bases and len(chosen_bases) > max_bases:
        chosen_bases = rng.sample(chosen_bases, max_bases)
    for base in chosen_bases:
        functions = checked_functions(base)
        every = mutants(base.after.read_text())
        by_op: dict[str, list[Mutant]] = {}
        for m in every:
            by_op.setdefault(m.operator, []).append(m)
        for function in functions:
            chosen = every
            if per_base and len(every) > per_base:
                first = [rng.choice(ms) for ms in by_op.values()]
                rest = [m for m in every if m not in first]
                chosen = (first + rng.sample(rest, len(rest)))[:per_base]
            tasks += [Task(base, function, m) for m in chosen]
    return tasks


_WORKER: dict[str, Any] = {}


def _init_worker() -> None:
    root = Path(tempfile.mkdtemp(prefix="equiv-mutate-"))
    _WORKER.update(root=root, fast=FastOracle(root), n=0)


_PREPROCESSOR_SWITCH = re.compile(r"^\s*#\s*(?:if|ifdef|ifndef|elif)\b.*\bCONFIG_", re.M)
_AGGREGATE = re.compile(r"^[ \t]*(?:typedef\s+)?(?:struct|union)\b[^;]*\{", re.M)


def in_aggregate_definition(text: str, line: int) -> bool:
    """Whether 1-based `line` of `text` lies inside a struct or union definition."""
    for m in _AGGREGATE.finditer(text):
        start = text.count("\n", 0, m.start()) + 1
        depth, pos = 0, m.end() - 1
        while pos < len(text):
            depth += {"{": 1, "}": -1}.get(text[pos], 0)
            if depth == 0:
                break
            pos += 1
        end = text.count("\n", 0, pos) + 1
        if start < line <= end:
            return True
    return False


def judge_task(task: Task) -> Judged:
    _WORKER["n"] += 1
    work = Path(_WORKER["root"], f"m{_WORKER['n']}")
    work.mkdir(parents=True)
    # No fixture includes a local header, so the mutant can live anywhere.
    mutant = work / task.base.after.name
    try:
        mutant.write_text(task.mutant.text)
        # The fast oracle compiles each side once; a base with `#if CONFIG_...` lines needs
        # the reference oracle, which builds each side per valuation of its switches.
        fast = None if _PREPROCESSOR_SWITCH.search(task.mutant.text) else _WORKER["fast"]
        outcome = judge_files(task.base.before, mutant, task.function, None, work, fast,
                              f"{task.base.name}:{task.function}:{task.mutant.label}", task.base.unwind)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Judged(task, outcome)


def run_mutation(tasks: Sequence[Task], jobs: int) -> list[Judged]:
    if jobs <= 1:
        _init_worker()
        return [judge_task(t) for t in tasks]
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker) as pool:
        return list(pool.imap(judge_task, tasks, chunksize=2))


@dataclass(frozen=True)
class Score:
    judged: list[Judged]

    @property
    def differing(self) -> list[Judged]:
        return [j for j in self.judged if j.differs]

    @property
    def survivors(self) -> list[Judged]:
        return [j for j in self.differing if not j.killed]

    @property
    def suspicious(self) -> list[Judged]:
        """Killed, but the oracle does not confirm equiv's account (or equiv crashed).

        Not a layout mutant whose counterexample differs only in memory: the oracle's
        raw bytes of two different struct types can agree where the members' values
        do not (a 5-bit -16 and a 6-bit 16 are the same byte)."""
        return [j for j in self.judged if j.outcome.judgement.is_disagreement and j.killed
                and not j.memory_only_layout_counterexample]

    @property
    def kill_rate(self) -> float:
        return 1.0 - len(self.survivors) / len(self.differing) if self.differing else 1.0

    def render(self) -> str:
        same = sum(j.differs is False for j in self.judged)
        unjudged = sum(j.differs is None for j in self.judged)
        layout = sum(j.outcome.c_differs is True and j.differs is None for j in self.judged)
        by_op: dict[str, list[int]] = {}
        for j in self.differing:
            row = by_op.setdefault(j.task.mutant.operator, [0, 0])
            row[0] += 1
            row[1] += j.killed
        lines = [
            f"mutants:      {len(self.judged)} ({same} equivalent per gcc, {unjudged} not judgeable, "
            f"{layout} of them layout changes that differ only in raw memory)",
            f"differing:    {len(self.differing)}",
            f"killed:       {len(self.differing) - len(self.survivors)}",
            f"kill rate:    {self.kill_rate:.1%}",
        ]
        excused = sum(j.outcome.judgement.is_disagreement and j.killed
                      and j.memory_only_layout_counterexample for j in self.judged)
        if excused:
            lines.append(f"layout:       {excused} killed layout mutants whose counterexample "
                         f"differs only in memory the oracle sees as raw bytes")
        lines += [f"  {op}: {k}/{n}" for op, (n, k) in sorted(by_op.items())]
        for j in self.survivors:
            o = j.outcome
            lines.append(f"SURVIVOR {o.name}: equiv {o.equiv} ({o.judgement.value}) {o.detail.splitlines()[0] if o.detail else ''}")
        for j in self.suspicious:
            lines.append(f"SUSPICIOUS {j.outcome.name}: {j.outcome.judgement.value}: {j.outcome.detail[:300]}")
        return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-base", type=int, default=12, help="mutants per base and function (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--only", help="fixture name prefix, e.g. calls/")
    parser.add_argument("--out", type=Path, help="write each survivor's mutant here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    tasks = plan(args.per_base, args.seed, args.only)
    score = Score(run_mutation(tasks, args.jobs))
    print(score.render())
    print(f"time:         {time.perf_counter() - start:.1f} s")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for j in score.survivors:
            safe = re.sub(r"[^\w.-]+", "_", j.outcome.name)
            (args.out / f"{safe}.c").write_text(j.task.mutant.text)
    return 0 if not score.survivors and not score.suspicious else 1


if __name__ == "__main__":
    sys.exit(main())
