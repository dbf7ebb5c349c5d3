"""What a check concludes, as plain frozen values (no z3 beyond this line).

The equivalence stage produces these; the report stage renders them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from equiv.errors import Location


class Verdict(enum.Enum):
    """How the check of one function ended."""

    EQUIVALENT = "equivalent"  # proved: same behaviour for every flag word and input
    NOT_EQUIVALENT = "not-equivalent"  # a concrete input where behaviour differs
    UNKNOWN = "unknown"  # neither proved nor refuted (timeout, loop bound)
    ONLY_BEFORE = "only-before"  # the function exists only in the before side
    ONLY_AFTER = "only-after"  # the function exists only in the after side
    ERROR = "error"  # this function could not be checked: `reason` is its located error


class ExitCode(enum.IntEnum):
    """The process exit status, following diff/cmp."""

    EQUIVALENT = 0  # every checked function was proved equivalent
    DIFFERENT = 1  # some function behaves differently (a real counterexample)
    TROUBLE = 2  # usage error, unreadable input, parse error, unsupported construct
    UNKNOWN = 3  # no difference found, but some function could not be proved


@dataclass(frozen=True)
class Call:
    """One call of an external function in a concrete run."""

    function: str
    args: tuple[str, ...]
    result: str | None
    location: Location | None
    context: tuple[tuple[str, str], ...] = ()  # flag word / written memory the callee sees
    result_matters: bool = False  # the difference depends on the value this call returned

    def text(self, shown: tuple[str, ...] | None = None) -> str:
        """`f(a, b) = result [ctx=v]`: the result only where it matters; `shown` context names."""
        seen = "".join(f" [{n}={v}]" for n, v in self.context if shown is None or n in shown)
        ret = f" = {self.result}" if self.result_matters and self.result is not None else ""
        return f"{self.function}({', '.join(self.args)}){ret}{seen}"


@dataclass(frozen=True)
class Behaviour:
    """What one side does on the counterexample input."""

    calls: tuple[Call, ...]
    ret: str | None
    flags: int
    memory: tuple[tuple[str, str], ...]
    # (call number from 1, word): the flag word a call leaves where the side reads it
    flags_left: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class LoopRun:
    """One run of a loop in a counterexample: the flag word at each head it reached.

    `words[k]` is the word when iteration k + 1 starts (its test is next); the
    last one is the word the loop leaves on, unless the run ends inside it.
    """

    side: str  # "before" or "after"
    location: Location | None
    words: tuple[tuple[int, tuple[str, ...]], ...]  # (word, names of its set bits)


@dataclass(frozen=True)
class Counterexample:
    """A concrete input on which the two sides behave differently."""

    flags: int
    flag_names: tuple[str, ...]  # names of the set bits, lowest bit first
    configs: tuple[tuple[str, bool], ...]
    inputs: tuple[tuple[str, str], ...]
    before: Behaviour
    after: Behaviour
    first_divergence: int | None  # index of the first differing call, None if calls agree
    flags_observable: bool = False  # some side writes the flag word
    # The inputs (config, input and `name()` call-result names) the difference at this
    # counterexample depends on: changing one of them alone can make the sides agree.
    matters: tuple[str, ...] = ()
    word: str = "flags"  # the parameter (or accessor) taken as the flag word
    mapped: tuple[int, tuple[str, ...]] | None = None  # --flag-map: the after word and its names
    # The condition that decides the difference: where the call that happens on one side
    # only is gated (on the side that skips it, when it has the call at all).
    decided_at: Location | None = None
    loops: tuple[LoopRun, ...] = ()  # the unrolled loops' runs, per side in program order
    # Empty when the minimisation was decided step by step (fewest iterations, then fewest
    # and lowest bits); otherwise why this counterexample may not be the minimal one.
    not_minimal: str = ""


class Relevance(enum.Enum):
    """Whether the difference depends on one input (a flag bit, a config switch)."""

    MATTERS = "matters"  # two inputs differing only here: one differs, the other does not
    DOES_NOT_MATTER = "does-not-matter"  # proved: flipping it never changes whether they differ
    UNDECIDED = "undecided"  # not decided: the solver gave up, or a loop bound cut it off


# The reason of an UNDECIDED row the explanation never reached before its allowance ran out.
UNREACHED = "the explanation's time ran out before this bit was decided"


@dataclass(frozen=True)
class BitRow:
    """Per-bit view: does whether the sides differ depend on this bit?"""

    bit: int
    name: str
    relevance: Relevance
    differs_at: int | None = None  # MATTERS: a word on which the sides differ...
    same_at: int | None = None  # ...and the same word with this bit flipped, where they agree
    why: str = ""  # UNDECIDED: the reason
    word: str = "flags"  # the word the bit belongs to ("flags", or the --flag-map word)


@dataclass(frozen=True)
class Literal:
    """One input of a difference condition at one value: a flag bit set/clear, a config y/n."""

    name: str  # `_TIF_SYSCALL_AUDIT`, `bit 40`, `SYSCALL_WORK_SYSCALL_EMU`, `CONFIG_X`
    kind: str  # "bit" or "config"
    value: bool  # set / y

    def key(self) -> str:
        return ("" if self.value else "!") + self.name


Cube = tuple[Literal, ...]  # a conjunction; () is "every input"


class ConditionStatus(enum.Enum):
    """How complete a difference condition is."""

    EXACT = "exact"  # `sure` and `maybe` are exactly the differing inputs
    TOO_LARGE = "too-large"  # more cubes than a report shows: `size` and a prefix
    UNDECIDED = "undecided"  # the solver could not compute it: `reason`


@dataclass(frozen=True)
class Condition:
    """The inputs on which the sides differ, over flag bits and config switches (data).

    `sure` cubes: the sides differ for every value of the other inputs.
    `maybe` cubes: they differ only for some values of other inputs (opaque
    call results, memory).  Both empty: never.  `sure == ((),)`: always.
    """

    status: ConditionStatus
    sure: tuple[Cube, ...] = ()
    maybe: tuple[Cube, ...] = ()
    size: int = 0  # TOO_LARGE: the number of cubes found
    complete: bool = True  # TOO_LARGE: False when `size` is only a lower bound
    inputs: int = 0  # how many bits and switches the condition ranges over
    bounded: bool = False  # holds for inputs on which every loop stays within --unwind
    undefined: bool = False  # holds for inputs that reach no undefined behaviour
    reason: str = ""

    def key(self) -> str:
        """A canonical data form (for baselines and comparison), never prose."""
        def cubes(cs: tuple[Cube, ...]) -> str:
            return " | ".join("&".join(lit.key() for lit in c) or "1" for c in cs) or "0"

        if self.status is not ConditionStatus.EXACT:
            return f"{self.status.value}:{self.size}:{cubes(self.sure)}"
        text = cubes(self.sure)
        if self.maybe:
            text += " ; some: " + cubes(self.maybe)
        return text


@dataclass(frozen=True)
class MaskRow:
    """A mask macro decoded into flag names on both sides."""

    name: str
    before: tuple[str, ...] | None  # None: not defined on that side
    after: tuple[str, ...] | None
    added: tuple[str, ...]
    dropped: tuple[str, ...]


@dataclass(frozen=True)
class Premise:
    """Something a verdict rests on: an enabled model, an --assume, --stable-flags, the
    architecture layout, a stubbed header or an undeclared identifier."""

    label: str  # "model audit", "assume '...'", "stub <asm/x.h>", "opaque X86_EFLAGS_DF"
    # "model", "assume", "stable-flags" (these a proof may be checked without: `needed`);
    # "layout", "stub", "opaque", "opaque-type", "local-address", "object",
    # "array-index" (facts of the input, always in force)
    kind: str
    description: str  # the model's invariant, or the assumed expression
    key: str  # the model name, or the assumption function


DROPPABLE_PREMISES = ("model", "assume", "stable-flags")


@dataclass(frozen=True)
class NeededPremise:
    """A premise the proof needs, and what the check says without it."""

    premise: Premise
    without: Verdict
    flags: int | None  # the counterexample without it, if one was found
    flag_names: tuple[str, ...]
    configs: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class FunctionResult:
    """The outcome for one checked function."""

    function: str
    verdict: Verdict
    reason: str | None = None
    counterexample: Counterexample | None = None
    condition: Condition | None = None  # the exact set of differing inputs
    bits: tuple[BitRow, ...] = ()
    opaque: tuple[str, ...] = ()  # external functions with no model (both sides)
    word_notes: tuple[str, ...] = ()  # which parameter was taken as the flag word, and why
    masks: tuple[MaskRow, ...] = ()
    premises: tuple[Premise, ...] = ()  # in force
    needed: tuple[NeededPremise, ...] = ()  # for a proof: an irreducible set it rests on
    # Headers: a `#ifndef X` fallback that fired after a stubbed include (equiv.frontend.headers)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `equiv check` on two sides."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    functions: tuple[FunctionResult, ...]
    notes: tuple[str, ...] = ()
    # File-scope declarations left out because no checked function reaches them
    # (each a located error line; `equiv check -v` lists them).
    skipped: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        """The worst outcome: a difference, then trouble, then unknown."""
        verdicts = [f.verdict for f in self.functions]
        if Verdict.NOT_EQUIVALENT in verdicts:
            return ExitCode.DIFFERENT
        if Verdict.ERROR in verdicts:
            return ExitCode.TROUBLE
        if Verdict.UNKNOWN in verdicts:
            return ExitCode.UNKNOWN
        if not any(v == Verdict.EQUIVALENT for v in verdicts):
            return ExitCode.TROUBLE
        return ExitCode.EQUIVALENT
