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

    def text(self) -> str:
        seen = "".join(f" [{n}={v}]" for n, v in self.context)
        return f"{self.function}({', '.join(self.args)}){seen}"


@dataclass(frozen=True)
class Behaviour:
    """What one side does on the counterexample input."""

    calls: tuple[Call, ...]
    ret: str | None
    flags: int
    memory: tuple[tuple[str, str], ...]


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


@dataclass(frozen=True)
class BitRow:
    """Per-bit view: does behaviour differ for some flag word with this bit set?"""

    bit: int
    name: str
    differs: bool | None  # None: could not be decided
    example: int | None


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
    """Something a proof may rest on: an enabled model or an --assume."""

    label: str  # "model audit", "assume '...'"
    kind: str  # "model" or "assume"
    description: str  # the model's invariant, or the assumed expression
    key: str  # the model name, or the assumption function


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
    difference: str | None = None  # the exact set of differing inputs, as a condition
    bits: tuple[BitRow, ...] = ()
    masks: tuple[MaskRow, ...] = ()
    premises: tuple[Premise, ...] = ()  # in force
    needed: tuple[NeededPremise, ...] = ()  # for a proof: an irreducible set it rests on


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `equiv check` on two sides."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    functions: tuple[FunctionResult, ...]
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        verdicts = [f.verdict for f in self.functions]
        if Verdict.NOT_EQUIVALENT in verdicts:
            return ExitCode.DIFFERENT
        if Verdict.UNKNOWN in verdicts:
            return ExitCode.UNKNOWN
        if not any(v == Verdict.EQUIVALENT for v in verdicts):
            return ExitCode.TROUBLE
        return ExitCode.EQUIVALENT
