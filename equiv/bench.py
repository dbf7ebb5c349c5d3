"""`python -m equiv.bench`: how long equiv takes, and how much memory it needs.

Runs fixed workloads, prints a table of medians over `--repeat` runs and
writes the same figures as JSON (`--json`, default bench-results/bench.json)
so that runs can be compared.  The workloads:

- seed: the bare import floor (`python -c 'import z3, pycparser'`), the v16
  11/18 seed pair end to end (`python -m equiv check` as a subprocess,
  judged against that floor), the interpreter alone, equiv's imports, and
  the check's stages timed in process;
- scale: N independent flag-gated calls, equivalent and one bit different;
- nest: D nested flag tests, equivalent and one bit different;
- region: a difference that depends on k bits, with the exact difference
  condition and the minimal counterexample timed separately;
- loop: a loop over flag bits at unwind bounds K;
- exit-loop: the generic exit-to-user work loop proved for every iteration
  count (target on the induction alone), and a pair that differs first on
  iteration N (`--exit-loop N`, 0 leaves both rows out);
- batch: 20 fixture pairs checked by `run_check` in one process;
- oracle: the gcc compile-and-enumerate oracle (tests/oracle.py) on the same
  pairs where at most 16 bits need enumerating, and the ratio equiv/oracle.

How figures are taken.  Wall time is `time.perf_counter` around the work.
Every row runs in its own child process (a worker running all repeats, or
one process per repeat for the command rows), and its peak memory is that
child's peak RSS from `os.wait4`, so in-process rows include the
interpreter, z3 and pycparser (see the `python + imports` row for that
floor).  The oracle's time includes gcc; its memory is not measured.

`--profile ROW` runs one row's work once in this process under cProfile and
prints the 25 functions with the largest cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "tests" / "fixtures" / "seeds" / "v16-11-18-rseq-exit-work"
FIXTURES = REPO / "tests" / "fixtures"
ORACLE = REPO / "tests" / "oracle.py"
STRUCT_FIELDS = REPO / "tests" / "bench_inputs" / "struct-fields"
CORPUS_VARIABLE = "EQUIV_KERNEL_CORPUS"
CORPUS_REBUILD = REPO / "tests" / "corpus" / "rebuild.py"
DEFAULT_JSON = "bench-results/bench.json"
ORACLE_MAX_BITS = 16
MB = 1024 * 1024

# Rows the gcc oracle is not run on: too many bits, nothing new to compare, or
# (struct) a difference that needs memory inputs, which the oracle does not enumerate.
NO_ORACLE_GROUPS = ("seed", "self", "big-small", "one-name", "struct", "corpus",
                    "exit-loop")  # exit-loop: the oracle's stubs never let the loop end

# Columns of the stage breakdown: (column, stages it sums).
STAGE_COLUMNS = (
    ("parse", ("parse",)),  # preprocess (gcc -E) + pycparser, both sides
    ("encode", ("program", "symex", "query")),  # lowering, symbolic execution, query
    ("solve", ("solve",)),  # Session + decide
    ("mincex", ("mincex",)),  # minimal_model + build_counterexample
    ("diffcond", ("diffcond",)),  # difference_condition
    ("explain", ("explain",)),  # names, masks, tested bits, bit_rows
    ("report", ("report",)),  # render_text
    ("other", ("other",)),  # the rest of run_check (e.g. the unchanged-function comparison)
)


# ---- workloads ----------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    """A generated before/after pair and how to check it."""

    name: str
    before: str  # C text
    after: str
    function: str
    unwind: int = 8
    bits: tuple[int, ...] = ()  # the flag bits either side tests (for the oracle)


@dataclass(frozen=True)
class Target:
    """A limit a row's figure must stay under."""

    metric: str  # "wall_s", "peak_rss_mb" or a stage name
    limit: float
    text: str  # as printed, e.g. "<3 s"


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    key: str  # the name --profile takes
    group: str
    label: str
    kind: str  # "process": a command per repeat; "stages": a pair; "batch": fixture pairs
    command: tuple[str, ...] = ()
    pair: Pair | None = None
    batch: tuple[tuple[str, str], ...] = ()
    targets: tuple[Target, ...] = ()


def _declarations(names: list[str]) -> list[str]:
    return ["struct pt_regs;", ""] + [f"void {n}(struct pt_regs *regs);" for n in names] + [""]


def _test(bit: int, shifted: bool) -> str:
    """The before side's `flags & BIT(b)`, or the after side's `(flags >> b) & 1`."""
    return f"(flags >> {bit}) & 1" if shifted else f"flags & BIT({bit})"


def scale_pair(n: int, different: bool) -> Pair:
    """N sequential independent calls, each gated by bit i % 64."""
    def side(after: bool) -> str:
        lines = _declarations([f"work_{i}" for i in range(n)])
        lines.append("void exit_work(struct pt_regs *regs, unsigned long flags)\n{")
        for i in range(n):
            bit = (i + 1) % 64 if after and different and i == n - 1 else i % 64
            lines.append(f"\tif ({_test(bit, after)})\n\t\twork_{i}(regs);")
        return "\n".join(lines + ["}", ""])

    bits = {i % 64 for i in range(n)} | ({n % 64} if different else set())
    kind = "diff" if different else "eq"
    return Pair(f"scale-{n}-{kind}", side(False), side(True), "exit_work", bits=tuple(sorted(bits)))


def one_name_pair(n: int, m: int) -> Pair:
    """`if (flags & (1UL << (i % M))) f(regs, i);` N times, against the same calls
    with guards written `(flags >> b) & 1`: one function name, a shared pointer
    and a constant argument, as real code calls `report_syscall(regs, ...)`."""
    def side(after: bool) -> str:
        lines = ["struct pt_regs;", "", "void f(struct pt_regs *regs, int nr);", "",
                 "void exit_work(struct pt_regs *regs, unsigned long flags)", "{"]
        for i in range(n):
            test = f"(flags >> {i % m}) & 1" if after else f"flags & (1UL << {i % m})"
            lines.append(f"\tif ({test})\n\t\tf(regs, {i});")
        return "\n".join(lines + ["}", ""])

    return Pair(f"one-{n}-m{m}", side(False), side(True), "exit_work",
                bits=tuple(sorted({i % m for i in range(n)})))


def self_pair(n: int, m: int = 64) -> Pair:
    """The one-name file of `one_name_pair` checked against itself."""
    text = one_name_pair(n, m).before
    return Pair(f"self-{n}", text, text, "exit_work", bits=tuple(sorted({i % m for i in range(n)})))


def big_small_pair(n: int) -> Pair:
    """An N-statement one-name function against a one-call function (they differ)."""
    small = ("struct pt_regs;\n\nvoid f(struct pt_regs *regs, int nr);\n\n"
             "void exit_work(struct pt_regs *regs, unsigned long flags)\n{\n"
             "\tif (flags & 1)\n\t\tf(regs, 0);\n}\n")
    return Pair(f"big-small-{n}", one_name_pair(n, 64).before, small, "exit_work")


STRUCT_TYPES = ("u8", "bool", "short", "int", "unsigned int", "u16", "unsigned long")


def struct_fields_pair(k: int) -> Pair:
    """K narrow struct fields read and written through a pointer, external calls
    between them (the shape of tests/bench_inputs/struct-fields); the sides
    differ in which field the first guarded store reads."""
    def side(after: bool) -> str:
        members = []
        for i in range(k):
            t = STRUCT_TYPES[i % len(STRUCT_TYPES)]
            width = f" : {3 + i % 5}" if i % 6 == 5 and t in ("int", "unsigned int") else ""
            members.append(f"\t{t} f{i}{width};")
        lines = ["struct pt_regs { long pc; long ret; };", "struct exit_ctx {", *members, "};",
                 "void note(struct pt_regs *regs, long what);", "",
                 "int do_exit_work(struct pt_regs *regs, struct exit_ctx *ec, unsigned long work)",
                 "{"]
        field = "ret" if after else "pc"
        lines += [f"\tif (regs->{field} == 1 && (work & BIT(32)))",
                  f"\t\tregs->ret = regs->{field} + 1;"]
        for i in range(k):
            if i % 3 == 0:
                lines.append(f"\tec->f{i} += 1;")
            elif i % 3 == 1:
                lines.append(f"\tec->f{i} = work >> {(5 * i) % 64};")
            else:
                lines.append(f"\tec->f{i} = ec->f{i - 1} + (work & BIT({i % 64}) ? 1 : 0);")
            lines.append(f"\tif (ec->f{i} == 0)\n\t\tnote(regs, {i});")
        return "\n".join(lines + ["\treturn ec->f0;", "}", ""])

    return Pair(f"struct-{k}", side(False), side(True), "do_exit_work")


def file_pair(name: str, stem: Path, function: str) -> Pair:
    """A pair kept as files (`STEM.before.c`, `STEM.after.c`)."""
    return Pair(name, Path(f"{stem}.before.c").read_text(), Path(f"{stem}.after.c").read_text(),
                function)


def nest_pair(depth: int, different: bool) -> Pair:
    """Depth-D nested conditions; level i tests bit i % 64 and calls work_i."""
    def side(after: bool) -> str:
        lines = _declarations([f"work_{i}" for i in range(depth)])
        lines.append("void exit_work(struct pt_regs *regs, unsigned long flags)\n{")
        for i in range(depth):
            bit = (i + 1) % 64 if after and different and i == depth - 1 else i % 64
            pad = "\t" * (i + 1)
            lines.append(f"{pad}if ({_test(bit, after)}) {{\n{pad}\twork_{i}(regs);")
        lines += ["\t" * (i + 1) + "}" for i in reversed(range(depth))]
        return "\n".join(lines + ["}", ""])

    bits = {i % 64 for i in range(depth)} | ({depth % 64} if different else set())
    kind = "diff" if different else "eq"
    return Pair(f"nest-{depth}-{kind}", side(False), side(True), "exit_work",
                bits=tuple(sorted(bits)))


def region_pair(k: int) -> Pair:
    """Sides that differ iff bit 0 is set and none of bits 1..k-1 is (a k-bit cube).

    Each bit also gates its own call, so every bit is tested; the summary call
    is gated by all k bits before and by bits 1..k-1 after (like the seed
    pair's _TIF_SYSCALL_EXIT_WORK).
    """
    def mask(bits: range) -> str:
        return " | ".join(f"_TIF_WORK_{b}" for b in bits)

    def side(after: bool) -> str:
        lines = [f"#define _TIF_WORK_{b}\t(1UL << {b})" for b in range(k)]
        lines.append(f"#define _TIF_SUMMARY_MASK\t({mask(range(1 if after else 0, k))})")
        lines += _declarations([f"work_{i}" for i in range(k)] + ["summary_work"])
        lines.append("void exit_work(struct pt_regs *regs, unsigned long flags)\n{")
        lines += [f"\tif (flags & _TIF_WORK_{i})\n\t\twork_{i}(regs);" for i in range(k)]
        lines.append("\tif (flags & _TIF_SUMMARY_MASK)\n\t\tsummary_work(regs);")
        return "\n".join(lines + ["}", ""])

    return Pair(f"region-{k}", side(False), side(True), "exit_work", bits=tuple(range(k)))


def loop_pair(bound: int) -> Pair:
    """`for (i = 0; i < K; i++) if (flags & BIT(i)) f(i);`, checked with --unwind K."""
    def side(after: bool) -> str:
        test = "(flags >> i) & 1" if after else "flags & BIT(i)"
        return (f"void work_bit(int nr);\n\n"
                f"void exit_work(unsigned long flags)\n{{\n\tint i;\n\n"
                f"\tfor (i = 0; i < {bound}; i++)\n\t\tif ({test})\n\t\t\twork_bit(i);\n}}\n")

    return Pair(f"loop-{bound}", side(False), side(True), "exit_work", unwind=bound,
                bits=tuple(range(bound)))


# ---- the exit-to-user work loop (issue 11) ---------------------------------------------

EXIT_LOOP_FIXTURE = FIXTURES / "loops" / "body-in-helper-equiv"
K_INDUCTION_FIXTURE = FIXTURES / "loops" / "k-induction-masked-copy-equiv"
SPACER_FIXTURE = FIXTURES / "loops" / "spacer-exit-relation-equiv"


def exit_loop_diff_pair(iteration: int) -> Pair:
    """The generic exit-to-user loop against one that drops _TIF_UPROBE from the word it
    re-reads from the (iteration - 1)-th re-read on: the first difference is on `iteration`."""
    text = Path(f"{EXIT_LOOP_FIXTURE}.after.c").read_text()
    changed = text.replace(
        "\t\tti_work = read_thread_flags();\n",
        "\t\tti_work = read_thread_flags();\n"
        f"\t\tif (++rereads >= {iteration - 1})\n\t\t\tti_work &= ~_TIF_UPROBE;\n").replace(
        "{\n\twhile (ti_work", "{\n\tint rereads = 0;\n\n\twhile (ti_work")
    assert changed != text
    return Pair(f"exit-loop-diff-{iteration}", text, changed, "exit_to_user_mode_loop",
                unwind=iteration + 1, bits=(0, 1, 2, 3))


def exit_loop_rows(iteration: int) -> list[Row]:
    """The generic exit-to-user loop: proved for every iteration count (lockstep
    induction after the bounded check at the default --unwind 8; the target is on the
    induction alone), and a pair whose first difference is on the third iteration."""
    proof = file_pair("exit-loop-proof", EXIT_LOOP_FIXTURE, "exit_to_user_mode_loop")
    return [
        Row("exit-loop-proof", "exit-loop", "exit loop: lockstep proof (unbounded)", "stages",
            pair=proof, targets=(Target("induction", 1.0, "induction <1 s"),)),
        Row(f"exit-loop-diff-{iteration}", "exit-loop",
            f"exit loop: differs on iteration {iteration}", "stages",
            pair=exit_loop_diff_pair(iteration), targets=(Target("wall_s", 10.0, "<10 s"),)),
        # The later rules: each row's induction time includes the rules tried before it.
        Row("exit-loop-k-induction", "exit-loop", "exit loop: k-induction (masked copy)",
            "stages", pair=file_pair("exit-loop-k-induction", K_INDUCTION_FIXTURE,
                                     "exit_to_user_mode_loop"),
            targets=(Target("induction", 2.0, "induction <2 s"),)),
        Row("exit-loop-spacer", "exit-loop", "exit loop: Spacer invariant, refined",
            "stages", pair=file_pair("exit-loop-spacer", SPACER_FIXTURE,
                                     "exit_to_user_mode_loop"),
            targets=(Target("induction", 2.0, "induction <2 s"),)),
    ]


def batch_pairs(count: int) -> tuple[tuple[str, str], ...]:
    """The first `count` fixture pairs (sorted) that expect a verdict and take no ARGS."""
    out = []
    for before in sorted(FIXTURES.glob("*/*.before.c")):
        header = [line for line in before.read_text().splitlines() if line.startswith("// ")]
        keys = {line[3:].split(":", 1)[0] for line in header}
        expect = [line for line in header if line.startswith("// EXPECT:")]
        if "ARGS" in keys or "FUNCTION" in keys or not expect:
            continue
        if expect[0].split(":", 1)[1].strip() not in ("equivalent", "not-equivalent"):
            continue
        after = before.with_name(before.name.replace(".before.c", ".after.c"))
        if after.is_file():
            out.append((str(before), str(after)))
        if len(out) == count:
            break
    return tuple(out)


@dataclass(frozen=True)
class Sizes:
    """What to generate (the defaults are the issue's sizes)."""

    scale: tuple[int, ...] = (10, 30, 60, 120, 128, 240)
    depth: tuple[int, ...] = (10, 20, 40)
    region: tuple[int, ...] = (4, 8, 12, 16)
    loops: tuple[int, ...] = (4, 8, 16)
    batch: int = 20
    one_name: tuple[int, ...] = (60, 128, 240)  # N of the one-name rows
    one_name_m: tuple[int, ...] = (64, 8)  # M: the bits they cycle through
    self_check: tuple[int, ...] = (240, 20000)  # a one-name file against itself
    big_small: tuple[int, ...] = (20000,)  # an N-statement function against a small one
    struct_fields: tuple[int, ...] = (10, 20, 40)  # fields read and written
    exit_loop: int = 3  # the iteration the exit-loop difference row differs on (0: no rows)


def build_rows(sizes: Sizes) -> list[Row]:
    python = sys.executable
    seed = (f"{SEED}.before.c", f"{SEED}.after.c")
    rows = [
        # Issue 14's start-up target: the seed pair end to end within 0.08 s of the bare
        # import floor, measured side by side in the same run.
        Row("floor", "seed", "seed: python -c 'import z3, pycparser'", "process",
            command=(python, "-c", "import z3, pycparser")),
        Row("seed-e2e", "seed", "seed: python -m equiv check", "process",
            command=(python, "-m", "equiv", "check", *seed),
            targets=(Target("over:floor", 0.08, "<floor+0.08 s"),)),
        Row("python", "seed", "seed: python -c pass", "process", command=(python, "-c", "pass")),
        Row("imports", "seed", "seed: python + imports", "process",
            command=(python, "-c", "import equiv.driver.check, z3, pycparser")),
        Row("seed-stages", "seed", "seed: stages in process", "stages",
            pair=Pair("seed", Path(seed[0]).read_text(), Path(seed[1]).read_text(),
                      "syscall_exit_to_user_mode_work")),
    ]
    for n in sizes.scale:
        for different in (False, True):
            pair = scale_pair(n, different)
            targets: tuple[Target, ...] = (
                (Target("wall_s", 3.0, "<3 s"), Target("peak_rss_mb", 300, "<300 MB"))
                if n == 240 else ())
            rows.append(Row(pair.name, "scale", f"scale N={n} {'diff' if different else 'eq'}",
                            "stages", pair=pair, targets=targets))
    for d in sizes.depth:
        for different in (False, True):
            pair = nest_pair(d, different)
            rows.append(Row(pair.name, "nest", f"nest D={d} {'diff' if different else 'eq'}",
                            "stages", pair=pair))
    for k in sizes.region:
        targets = (Target("diffcond", 1.0, "diffcond <1 s"),) if k == 16 else ()
        rows.append(Row(f"region-{k}", "region", f"region k={k} diff", "stages",
                        pair=region_pair(k), targets=targets))
    for bound in sizes.loops:
        rows.append(Row(f"loop-{bound}", "loop", f"loop K=unwind={bound} eq", "stages",
                        pair=loop_pair(bound)))
    rows += shape_rows(sizes)
    rows += exit_loop_rows(sizes.exit_loop) if sizes.exit_loop else []
    if sizes.batch:
        pairs = batch_pairs(sizes.batch)
        targets = (Target("wall_s", 5.0, "<5 s"),) if sizes.batch == 20 else ()
        rows.append(Row(f"batch-{sizes.batch}", "batch", f"batch {len(pairs)} fixture pairs",
                        "batch", batch=pairs, targets=targets))
    memory = Target("peak_rss_mb", 1024, "<1 GB")
    return [replace(r, targets=r.targets + (memory,)) for r in rows]


def shape_rows(sizes: Sizes) -> list[Row]:
    """The shapes real code takes (issue 14): one function name called with a
    shared pointer, a file against itself, a huge function against a small
    one, narrow struct fields, and the real-code corpus."""
    rows = []
    for n in sizes.one_name:
        for m in sizes.one_name_m:
            pair = one_name_pair(n, m)
            targets = [Target(f"vs:scale-{n}-eq", 2.0, f"<2x scale-{n}-eq")]
            if n == 240:
                targets.append(Target("wall_s", 3.0, "<3 s"))
            rows.append(Row(pair.name, "one-name", f"one name N={n} M={m} eq", "stages",
                            pair=pair, targets=tuple(targets)))
    for n in sizes.self_check:
        limit = 0.5 if n <= 240 else 5.0
        rows.append(Row(f"self-{n}", "self", f"file against itself N={n}", "stages",
                        pair=self_pair(n), targets=(Target("wall_s", limit, f"<{limit:g} s"),)))
    for n in sizes.big_small:
        rows.append(Row(f"big-small-{n}", "big-small", f"N={n} against 1 call", "stages",
                        pair=big_small_pair(n), targets=(Target("wall_s", 20.0, "<20 s"),)))
    if Path(f"{STRUCT_FIELDS}.before.c").is_file():
        rows.append(Row("struct-fields", "struct", "struct-field pair (repro)", "stages",
                        pair=file_pair("struct-fields", STRUCT_FIELDS, "do_exit_work"),
                        targets=(Target("wall_s", 2.0, "<2 s"),)))
    for k in sizes.struct_fields:
        rows.append(Row(f"struct-{k}", "struct", f"{k} struct fields diff", "stages",
                        pair=struct_fields_pair(k)))
    rows.append(Row("corpus", "corpus", "real-code corpus (max per pair)", "corpus",
                    targets=(Target("wall_s", 2.0, "every pair <2 s"),)))
    return rows


# ---- the stages of one check ----------------------------------------------------------

class Stopwatch:
    """Accumulates seconds per stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def staged_check(before: str, after: str, function: str, unwind: int = 8,
                 timeout: float = 30.0) -> tuple[str, dict[str, float]]:
    """One `run_check` of `function` plus `render_text`, timed stage by stage:
    the verdict and the seconds per stage.

    The pipeline is equiv's own (`run_check`, one worker); the stages are
    timed by wrapping the functions that implement them (`STAGE_HOOKS`) for
    the duration of the call, so the bench cannot drift from what
    `equiv check` does (including the unchanged-function shortcut).
    """
    from equiv.driver.check import CheckOptions, run_check
    from equiv.report import render as report

    clock = Stopwatch()
    # The default budget, as `equiv check` runs (its watchdog also runs under --profile).
    options = CheckOptions(functions=(function,), unwind=unwind, timeout=timeout, jobs=1)
    start = time.perf_counter()
    with timed_stages(clock):
        result = run_check([before], [after], options)
        report.render_text(result)
    # Work outside the hooked stages (e.g. comparing the sides for the
    # unchanged-function shortcut) counts too: the row's wall is the whole check.
    rest = time.perf_counter() - start - sum(clock.seconds.values())
    if rest > 0:
        clock.seconds["other"] = rest
    return result.functions[0].verdict.value, clock.seconds


# (module, attribute, stage): the functions whose time is each stage's.  A
# dotted attribute is a method of a class.
STAGE_HOOKS = (
    ("equiv.driver.check", "load_side", "parse"),
    ("equiv.driver.check", "build_unit", "program"),
    ("equiv.semantics.executor", "StatementExecutor.run", "symex"),
    ("equiv.query.equivalence", "build_query", "query"),
    ("equiv.query.equivalence", "decide", "solve"),
    ("equiv.explain.counterexample", "minimal_model", "mincex"),
    ("equiv.explain.counterexample", "build_counterexample", "mincex"),
    ("equiv.explain.perbit", "difference_condition", "diffcond"),
    ("equiv.explain.perbit", "bit_rows", "explain"),
    ("equiv.explain.perbit", "tested_bits", "explain"),
    ("equiv.explain.perbit", "mask_rows", "explain"),
    ("equiv.explain.perbit", "macro_values", "explain"),
    ("equiv.report.render", "render_text", "report"),
    # exit-loop rows: the loop rules, tried first on their own (FunctionCheck.decision)
    # and again by FunctionCheck.induction, which spends its time in them.
    ("equiv.driver.check", "FunctionCheck._rules", "induction"),
)


@contextmanager
def timed_stages(clock: Stopwatch) -> Iterator[None]:
    """Wraps every `STAGE_HOOKS` function with `clock` while the block runs.

    Time spent in a hook that another hook calls counts once, for the outer one.
    """
    import functools
    import importlib

    depth = [0]
    saved: list[tuple[Any, str, Any]] = []

    def wrap(fn: Any, stage: str) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return fn(*args, **kwargs)
            depth[0] += 1
            try:
                with clock.stage(stage):
                    return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
        return timed

    for module_name, attr, stage in STAGE_HOOKS:
        owner: Any = importlib.import_module(module_name)
        *path, name = attr.split(".")
        for part in path:
            owner = getattr(owner, part, None)
        if owner is None or name not in owner.__dict__:
            continue  # renamed: the stage goes missing from the table (test_bench sees it)
        saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, wrap(getattr(owner, name), stage))
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def batch_check(pairs: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, float]]:
    """`run_check` + `render_text` on every pair, one after the other."""
    from equiv.driver.check import CheckOptions, run_check
    from equiv.report.render import render_text

    verdicts: dict[str, int] = {}
    for before, after in pairs:
        result = run_check([before], [after], CheckOptions(jobs=1))
        render_text(result)
        for fn in result.functions:
            verdicts[fn.verdict.value] = verdicts.get(fn.verdict.value, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())), {}


def corpus_pairs(directory: Path) -> list[tuple[str, str]]:
    """Every `X.before.c` with its `X.after.c` under `directory`, sorted."""
    out = []
    for before in sorted(directory.rglob("*.before.c")):
        after = before.with_name(before.name[:-len(".before.c")] + ".after.c")
        if after.is_file():
            out.append((str(before), str(after)))
    return out


def manifest_check(directory: Path) -> tuple[list[float], dict[str, int], int] | None:
    """The real-code corpus as `tests/corpus/rebuild.py build` lays it out (a directory
    per manifest pair): each pair's own command, in process from its directory, timed
    one by one; the seconds, the verdict counts and how many agree with the manifest.
    None when `directory` holds none of the manifest's pairs."""
    import contextlib
    import io

    from equiv.driver.cli import main

    rebuild = _module_at("equiv_bench_corpus", CORPUS_REBUILD)
    pairs = [p for p in rebuild.load_manifest()[0] if (directory / p.id).is_dir()]
    if not pairs:
        return None
    times: list[float] = []
    verdicts: dict[str, int] = {}
    agree = 0
    home = os.getcwd()
    for pair in pairs:
        os.chdir(directory / pair.id)
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                code = main(list(pair.args))
        finally:
            os.chdir(home)
        times.append(time.perf_counter() - start)
        got = rebuild.VERDICT_BY_EXIT.get(code, f"exit {code}")
        verdicts[got] = verdicts.get(got, 0) + 1
        agree += got == pair.expect
    return times, verdicts, agree


def corpus_check(directory: Path) -> tuple[str, dict[str, float]]:
    """`run_check` on every corpus pair, timed one by one: the verdict counts,
    and the median and maximum seconds per pair (stages "median" and "max").

    A corpus laid out by `tests/corpus/rebuild.py` runs each pair's own command
    (manifest_check); otherwise every `X.before.c` with its `X.after.c`."""
    from equiv.driver.check import CheckOptions, run_check
    from equiv.errors import InputError

    manifest = manifest_check(directory)
    if manifest is not None:
        times, verdicts, agree = manifest
        summary = (f"{len(times)} pairs, {agree} agree, median "
                   f"{statistics.median(times):.2f} s: "
                   + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))
        return summary, {"median": statistics.median(times), "max": max(times)}
    times: list[float] = []
    verdicts: dict[str, int] = {}
    for before, after in corpus_pairs(directory):
        start = time.perf_counter()
        try:
            values = [f.verdict.value for f in
                      run_check([before], [after], CheckOptions(jobs=1)).functions]
        except InputError:
            values = ["error"]
        times.append(time.perf_counter() - start)
        for v in values:
            verdicts[v] = verdicts.get(v, 0) + 1
    if not times:
        return f"no pairs under {directory}", {}
    summary = (f"{len(times)} pairs, median {statistics.median(times):.2f} s: "
               + ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items())))
    return summary, {"median": statistics.median(times), "max": max(times)}


# ---- measuring ------------------------------------------------------------------------

@dataclass
class Measurement:
    """A row's figures: medians over the repeats."""

    key: str
    group: str
    label: str
    verdict: str = ""
    wall_s: float | None = None
    samples_s: list[float] = field(default_factory=list)
    peak_rss_mb: float | None = None
    rss_source: str = ""
    stages_s: dict[str, float] = field(default_factory=dict)
    oracle_s: float | None = None
    oracle_verdict: str = ""
    ratio: float | None = None  # equiv wall / oracle wall
    oracle_agrees: bool | None = None  # "same" exactly when equiv says equivalent
    targets: list[dict[str, Any]] = field(default_factory=list)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in
                                                        [env.get("PYTHONPATH", "")] if p])
    return env


def run_child(command: list[str], stderr: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB, from wait4) and exit status of one child process."""
    err = open(stderr, "wb") if stderr else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, env=_env(), cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if stderr:
            err.close()  # type: ignore[union-attr]
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss * 1024 / MB, proc.returncode


def measure_process(row: Row, repeat: int) -> Measurement:
    walls, peaks, codes = [], [], set()
    for _ in range(repeat):
        wall, peak, code = run_child(list(row.command))
        walls.append(wall)
        peaks.append(peak)
        codes.add(code)
    verdict = "exit " + "/".join(str(c) for c in sorted(codes))
    return Measurement(row.key, row.group, row.label, verdict, statistics.median(walls), walls,
                       statistics.median(peaks), "wait4 (per process, median)")


def measure_worker(row: Row, repeat: int, workdir: Path) -> Measurement:
    """Runs the row's repeats in one worker process; its peak RSS is the row's."""
    spec = workdir / f"{row.key}.spec.json"
    out = workdir / f"{row.key}.out.json"
    spec.write_text(json.dumps(_work_spec(row, workdir)))
    command = [sys.executable, "-m", "equiv.bench", "--worker", str(spec), "--worker-out",
               str(out), "--repeat", str(repeat)]
    log = workdir / f"{row.key}.stderr"
    _, peak, code = run_child(command, log)
    if code != 0 or not out.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        print(f"bench: {row.key}: worker exit {code}: {tail[0]}", file=sys.stderr)
        return Measurement(row.key, row.group, row.label, f"error (exit {code})",
                           peak_rss_mb=peak, rss_source="wait4 (worker process)")
    data = json.loads(out.read_text())
    samples = data["samples"]
    totals = [sum(s.values()) for s in samples]
    stages = {name: statistics.median(s.get(name, 0.0) for s in samples)
              for name in dict.fromkeys(n for s in samples for n in s)}
    return Measurement(row.key, row.group, row.label, data["verdict"],
                       statistics.median(totals), totals, peak, "wait4 (worker process)",
                       stages)


def _work_spec(row: Row, workdir: Path) -> dict[str, Any]:
    if row.kind == "corpus":
        return {"kind": "corpus", "directory": os.environ.get(CORPUS_VARIABLE, "")}
    if row.kind == "batch":
        return {"kind": "batch", "pairs": [list(p) for p in row.batch]}
    assert row.pair is not None
    before, after = write_pair(row.pair, workdir)
    return {"kind": "stages", "before": before, "after": after, "function": row.pair.function,
            "unwind": row.pair.unwind}


def write_pair(pair: Pair, workdir: Path) -> tuple[str, str]:
    before = workdir / f"{pair.name}.before.c"
    after = workdir / f"{pair.name}.after.c"
    before.write_text(pair.before)
    after.write_text(pair.after)
    return str(before), str(after)


def run_work(spec: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """One repeat of a worker's job (also what --profile profiles)."""
    if spec["kind"] == "batch":
        return batch_check(tuple(tuple(p) for p in spec["pairs"]))  # type: ignore[misc]
    if spec["kind"] == "corpus":
        return corpus_check(Path(spec["directory"]))
    if spec["kind"] == "oracle":
        return oracle_check(spec["before"], spec["after"], spec["function"], spec["bits"]), {}
    return staged_check(spec["before"], spec["after"], spec["function"], spec["unwind"])


def worker_main(spec_path: str, out_path: str, repeat: int) -> int:
    spec = json.loads(Path(spec_path).read_text())
    samples = []
    verdict = ""
    for _ in range(repeat):
        # The last repeat's structures are cyclic garbage (events hold closures over
        # the executor): freed here, untimed, rather than by a collection inside the
        # next repeat's stages, which a one-check process never pays.
        gc.collect()
        start = time.perf_counter()
        verdict, stages = run_work(spec)
        if not stages:
            stages = {"total": time.perf_counter() - start}
        samples.append(stages)
    Path(out_path).write_text(json.dumps({"verdict": verdict, "samples": samples}))
    return 0


# ---- the oracle -----------------------------------------------------------------------

def measure_oracle(m: Measurement, pair: Pair, repeat: int, workdir: Path) -> None:
    """Fills in the oracle's time (median over `repeat`) and the ratio equiv/oracle.

    The oracle runs in a worker process too: it holds every run's trace, and a
    large parent would show in later children's peak RSS (a child's ru_maxrss
    starts from its parent's RSS at fork).
    """
    if not ORACLE.is_file() or len(pair.bits) > ORACLE_MAX_BITS:
        return
    before, after = write_pair(pair, workdir)
    spec = workdir / f"{pair.name}.oracle.json"
    out = workdir / f"{pair.name}.oracle.out.json"
    spec.write_text(json.dumps({"kind": "oracle", "before": before, "after": after,
                                "function": pair.function, "bits": list(pair.bits)}))
    log = workdir / f"{pair.name}.oracle.stderr"
    _, _, code = run_child([sys.executable, "-m", "equiv.bench", "--worker", str(spec),
                            "--worker-out", str(out), "--repeat", str(repeat)], log)
    if code != 0 or not out.is_file():
        m.oracle_verdict = f"error (exit {code})"
        return
    data = json.loads(out.read_text())
    m.oracle_s = statistics.median(s["total"] for s in data["samples"])
    m.oracle_verdict = data["verdict"]
    m.oracle_agrees = (m.oracle_verdict == "same") == (m.verdict == "equivalent")
    if m.wall_s is not None and m.oracle_s:
        m.ratio = m.wall_s / m.oracle_s


def oracle_check(before: str, after: str, function: str, bits: list[int]) -> str:
    """tests/oracle.py on every combination of `bits`: its status (same, differs, ...)."""
    verdict = _oracle_module().enumerate_pair(Path(before), Path(after), function,
                                    max_bits=ORACLE_MAX_BITS, bits=bits)
    return str(verdict.status.value)


def _oracle_module() -> Any:
    """tests/oracle.py, loaded from its file (sys.path is left alone)."""
    return _module_at("equiv_bench_oracle", ORACLE)


def _module_at(name: str, path: Path) -> Any:
    """The module in the file `path`, loaded under `name` (sys.path is left alone)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# ---- targets and the table --------------------------------------------------------------

def check_targets(m: Measurement, row: Row, done: dict[str, Measurement]) -> None:
    """Judges `m` against its row's limits (at most the limit passes).

    A `vs:KEY` target limits the ratio of this row's wall time to row KEY's, an
    `over:KEY` target the difference (KEY measured earlier in the same run).  A skipped row is not judged.
    """
    if m.verdict.startswith("skipped"):
        return
    for target in row.targets:
        if target.metric.startswith(("vs:", "over:")):
            kind, _, key = target.metric.partition(":")
            other = done.get(key)
            known = other is not None and other.wall_s and m.wall_s is not None
            value = None if not known else (m.wall_s / other.wall_s if kind == "vs"
                                            else m.wall_s - other.wall_s)
        else:
            value = (m.wall_s if target.metric == "wall_s" else m.peak_rss_mb
                     if target.metric == "peak_rss_mb" else m.stages_s.get(target.metric))
        ok = value is not None and value <= target.limit
        m.targets.append({"metric": target.metric, "limit": target.limit, "text": target.text,
                          "value": value, "pass": ok})


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _column(m: Measurement, stages: tuple[str, ...]) -> str:
    present = [m.stages_s[s] for s in stages if s in m.stages_s]
    return _secs(sum(present)) if present else "-"


HEADER = (["row", "verdict", "wall s", "RSS MB"] + [c for c, _ in STAGE_COLUMNS]
          + ["oracle s", "ratio", "target", "result"])


def table_lines(measurements: list[Measurement]) -> list[str]:
    rows = [HEADER]
    for m in measurements:
        target = "; ".join(t["text"] for t in m.targets)
        result = "" if not m.targets else \
            "PASS" if all(t["pass"] for t in m.targets) else "FAIL"
        oracle = "-" if not m.oracle_verdict else m.oracle_verdict if m.oracle_s is None \
            else f"{m.oracle_s:.3f} {m.oracle_verdict}" + (
                "" if m.oracle_agrees else " MISMATCH")
        rows.append([m.key, m.verdict, _secs(m.wall_s),
                     "-" if m.peak_rss_mb is None else f"{m.peak_rss_mb:.0f}"]
                    + [_column(m, stages) for _, stages in STAGE_COLUMNS]
                    + [oracle, "-" if m.ratio is None else f"{m.ratio:.2f}", target, result])
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = []
    for k, r in enumerate(rows):
        cells = [c.ljust(w) if i < 2 or i >= len(r) - 2 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


NOTES = """\
wall s: median over the repeats.  Command rows (floor, seed-e2e, python, imports): process
start to exit.  Other rows: in process, the sum of the stages (batch: run_check + render_text on each
pair); parse = preprocess + parse, encode = build_program + symex + build_query, solve =
Session + decide, mincex = minimal_model + build_counterexample, diffcond =
difference_condition, explain = names, masks, tested bits, bit_rows; report = render_text;
other = the rest of run_check (e.g. comparing the sides for an unchanged function).
RSS MB: peak RSS from os.wait4 of the row's child process (command rows: median over the
runs; other rows: the worker process that ran every repeat, interpreter and imports
included).  oracle s: tests/oracle.py enumerate_pair on the pair's flag bits (<= 16), gcc
included; ratio = equiv wall / oracle wall."""


# ---- driving ---------------------------------------------------------------------------

def run_benchmark(rows: list[Row], repeat: int, oracle_repeat: int,
                  progress: Callable[[str], None]) -> list[Measurement]:
    out: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="equiv-bench-") as tmp:
        workdir = Path(tmp)
        for row in rows:
            progress(f"bench: {row.key}")
            if row.kind == "process":
                m = measure_process(row, repeat)
            elif row.kind == "corpus" and not os.environ.get(CORPUS_VARIABLE):
                m = Measurement(row.key, row.group, row.label,
                                f"skipped: set {CORPUS_VARIABLE} to the corpus directory")
            else:
                m = measure_worker(row, repeat, workdir)
            if row.kind == "corpus":  # no pair measured: no figure to pass a target with
                m.wall_s = m.stages_s.get("max")
            if row.pair is not None and row.group not in NO_ORACLE_GROUPS and oracle_repeat > 0:
                measure_oracle(m, row.pair, oracle_repeat, workdir)
            check_targets(m, row, {d.key: d for d in out})
            out.append(m)
    return out


def environment() -> dict[str, Any]:
    import z3

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "z3": z3.get_version_string(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "commit": commit}


def profile_row(row: Row, top: int = 25) -> None:
    """Runs the row's work once in this process under cProfile; prints the top functions."""
    with tempfile.TemporaryDirectory(prefix="equiv-bench-") as tmp:
        if row.kind == "process":
            if row.key != "seed-e2e":
                raise SystemExit(f"bench: row '{row.key}' has no in-process work to profile")
            # The command's work in process: imports, run_check and render_text
            # (everything but the interpreter's own start).
            pair = (f"{SEED}.before.c", f"{SEED}.after.c")
            work: Callable[[], Any] = lambda: batch_check((pair,))
        else:
            spec = _work_spec(row, Path(tmp))
            work = lambda: run_work(spec)
        if row.kind != "process":  # the command's imports are part of its work
            import pycparser  # noqa: F401
            import z3  # noqa: F401

            import equiv.driver.check  # noqa: F401

        profiler = cProfile.Profile()
        profiler.enable()
        work()
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(top)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m equiv.bench", description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5, metavar="N", help="runs per row (default 5)")
    p.add_argument("--json", default=DEFAULT_JSON, metavar="FILE",
                   help=f"write the results here (default {DEFAULT_JSON})")
    p.add_argument("--profile", metavar="ROW", help="profile one row (e.g. scale-240-diff)")
    p.add_argument("--only", default="", metavar="GROUPS",
                   help="comma-separated groups: seed,scale,nest,region,loop,one-name,self,"
                        "big-small,struct,corpus,exit-loop,batch")
    p.add_argument("--scale", type=_ints, default=Sizes.scale, metavar="N,...")
    p.add_argument("--depth", type=_ints, default=Sizes.depth, metavar="D,...")
    p.add_argument("--region-bits", type=_ints, default=Sizes.region, metavar="K,...")
    p.add_argument("--unwind", type=_ints, default=Sizes.loops, metavar="K,...",
                   help="loop rows: unwind bounds (each loop runs exactly K times)")
    p.add_argument("--batch", type=int, default=Sizes.batch, metavar="N",
                   help="fixture pairs in the batch row (0: none)")
    p.add_argument("--one-name", type=_ints, default=Sizes.one_name, metavar="N,...",
                   help="one-name rows: calls f(regs, i)")
    p.add_argument("--one-name-bits", type=_ints, default=Sizes.one_name_m, metavar="M,...",
                   help="one-name rows: call i tests bit i %% M")
    p.add_argument("--self", type=_ints, default=Sizes.self_check, metavar="N,...",
                   help="file-against-itself rows")
    p.add_argument("--big-small", type=_ints, default=Sizes.big_small, metavar="N,...",
                   help="N-statement function against a one-call function")
    p.add_argument("--struct-fields", type=_ints, default=Sizes.struct_fields, metavar="K,...",
                   help="generated struct-field pairs with K fields")
    p.add_argument("--oracle-repeat", type=int, default=None, metavar="N",
                   help="runs of the gcc oracle per row (default: --repeat; 0: skip it)")
    p.add_argument("--exit-loop", type=int, default=Sizes.exit_loop, metavar="N",
                   help="the exit-loop rows: a difference on iteration N (0: no rows)")
    p.add_argument("--list", action="store_true", help="list the rows and exit")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.setrecursionlimit(100_000)
    if args.worker:
        return worker_main(args.worker, args.worker_out, args.repeat)
    sizes = Sizes(args.scale, args.depth, args.region_bits, args.unwind, args.batch,
                  args.one_name, args.one_name_bits, args.self, args.big_small,
                  args.struct_fields)
    rows = build_rows(replace(sizes, exit_loop=args.exit_loop))
    if args.only:
        groups = set(args.only.split(","))
        rows = [r for r in rows if r.group in groups]
    if args.list:
        print("\n".join(f"{r.key}\t{r.label}" for r in rows))
        return 0
    if args.profile:
        chosen = [r for r in rows if r.key == args.profile]
        if not chosen:
            print(f"bench: no row '{args.profile}' (see --list)", file=sys.stderr)
            return 2
        profile_row(chosen[0])
        return 0
    oracle_repeat = args.repeat if args.oracle_repeat is None else args.oracle_repeat
    measurements = run_benchmark(rows, args.repeat, oracle_repeat,
                                 lambda s: print(s, file=sys.stderr, flush=True))
    lines = table_lines(measurements)
    print(f"equiv bench: median of {args.repeat} runs")
    print("\n".join(lines))
    print(NOTES)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "schema": 1, "repeat": args.repeat, "oracle_repeat": oracle_repeat,
            "environment": environment(), "sizes": asdict(sizes),
            "rows": [asdict(m) for m in measurements], "table": lines}, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
