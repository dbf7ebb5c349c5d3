"""The baseline of accepted differences for `equiv patch`.

An entry accepts one difference of one function for one patch: the patch is
named by `git patch-id --stable` of its diff (stable across rebases, subject
tags and rewording), and the difference by its condition read as data, so
that neither wording nor order matters.  The subject and the condition's text
are kept for display only.  No check, judging or rendering here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from equiv.errors import InputError
from equiv.patch.series import Patch
from equiv.report.results import FunctionResult, Verdict

BASELINE_NAME = ".equiv-baseline"


@dataclass(frozen=True)
class Accepted:
    """A difference someone accepted: for one patch (or any), one function, one condition.

    `patch_id` is `git patch-id --stable` of the patch's diff ("*": any patch;
    "": none, for an entry written before patch-ids or a diff git could not
    identify, matched by `subject`).  Otherwise the subject is kept for display.
    """

    patch_id: str
    subject: str
    function: str
    difference: str  # as displayed when accepted
    condition: str  # canonical_difference() of it: what is compared


def difference_text(result: FunctionResult) -> str:
    """The difference as displayed: the condition, the counterexample, or the side."""
    if result.verdict is Verdict.ONLY_BEFORE:
        return "deleted (defined only before)"
    if result.verdict is Verdict.ONLY_AFTER:
        return "added (defined only after)"
    if result.condition is not None:
        from equiv.report.render import condition_text

        return condition_text(result.condition)
    cex = result.counterexample
    return f"flags={cex.flags:#x}" if cex is not None else "(undetermined)"


_LITERALS = (
    (re.compile(r"^all of (.+) are set$"), True),
    (re.compile(r"^none of (.+) is set$"), False),
    (re.compile(r"^(\S+) is set$"), True),
    (re.compile(r"^(\S+) is clear$"), False),
)


def canonical_difference(result: FunctionResult | str) -> str:
    """The difference as data: the one place baseline entries are compared.

    A structured condition on the result (cubes over named bits) is used when
    the result carries one; otherwise the rendered condition is read back into
    cubes of (name, value) literals, sorted, so that wording and order do not
    matter.  Text that does not read as cubes is compared with its layout and
    case normalised.
    """
    if not isinstance(result, str):
        if result.condition is not None:
            return "condition:" + result.condition.key()
        result = difference_text(result)
    text = " ".join(result.split())
    sure, _, maybe = text.partition("; also, for some values of other inputs, when ")
    try:
        parts = [_cubes(sure)] + ([_cubes(maybe)] if maybe else [])
    except ValueError:
        return "text:" + text.lower()
    return "cubes:" + json.dumps(parts)


def _cubes(text: str) -> list[list[list[object]]]:
    """`(A is set) or (none of B, C is set and CONFIG_X=y)` as sorted cubes."""
    if text.startswith("("):
        if not text.endswith(")"):
            raise ValueError(text)
        terms = text[1:-1].split(") or (")
    else:
        terms = [text]
    cubes = []
    for term in terms:
        cube: set[tuple[str, bool]] = set()
        for part in ([] if term == "always" else term.split(" and ")):
            cube |= _literals(part)
        cubes.append(sorted([n, v] for n, v in cube))
    return sorted(cubes)


def _literals(part: str) -> set[tuple[str, bool]]:
    config = re.fullmatch(r"(CONFIG_\w+)=([yn])", part)
    if config:
        return {(config.group(1), config.group(2) == "y")}
    for pattern, value in _LITERALS:
        m = pattern.fullmatch(part)
        if m:
            return {(name.strip(), value) for name in m.group(1).split(",")}
    raise ValueError(part)


def _sorted_data(value: object) -> object:
    """Nested sequences sorted at every level, so that order does not matter."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_sorted_data(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if hasattr(value, "__dataclass_fields__"):
        return {k: _sorted_data(getattr(value, k)) for k in value.__dataclass_fields__}
    return value if isinstance(value, (int, str, bool, type(None))) else str(value)


def load_baseline(path: Path, must_exist: bool = True) -> list[Accepted]:
    """The accepted differences in `path`; a missing file is an error unless
    `must_exist` is false (then it is empty)."""
    if not path.exists():
        if must_exist:
            raise InputError(None, f"--baseline {path}: no such file (create it with "
                                   f"--update-baseline)")
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Accepted(e.get("patch_id", ""), e.get("subject", "*"), e["function"],
                         e["difference"], e.get("condition")
                         or canonical_difference(e["difference"]))
                for e in data["accepted"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(None, f"{path}: not an equiv baseline ({exc})") from None


def is_accepted(baseline: list[Accepted], patch: Patch, function: str,
                result: FunctionResult) -> bool:
    """Recorded for this patch (by patch-id; '*' any) and function, with the same condition."""
    key = canonical_difference(result)
    return any(a.function == function and a.condition == key and _same_patch(a, patch)
               for a in baseline)


def _same_patch(a: Accepted, patch: Patch) -> bool:
    if a.patch_id == "*" or a.subject == "*" and not a.patch_id:
        return True
    if a.patch_id:
        return a.patch_id == patch.patch_id
    return a.subject == patch.subject  # an entry written before patch-ids


def accepted_entry(patch: Patch, function: str, result: FunctionResult) -> Accepted:
    """The entry that accepts `result`'s difference in `function` for `patch`.

    Without a patch-id (git could not compute one) the subject keys it.
    """
    return Accepted(patch.patch_id, patch.subject, function, difference_text(result),
                    canonical_difference(result))


def save_baseline(path: Path, entries: list[Accepted]) -> int:
    """Write `entries` (duplicates dropped, sorted); how many were written."""
    unique = {(a.patch_id, a.subject, a.function, a.condition): a for a in entries}
    rows = [{"patch_id": a.patch_id, "subject": a.subject, "function": a.function,
             "difference": a.difference, "condition": a.condition}
            for a in sorted(unique.values(), key=lambda a: (a.subject, a.function,
                                                            a.condition, a.patch_id))]
    text = json.dumps({"equiv-baseline": 2, "accepted": rows}, indent=2, sort_keys=True)
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(None, f"cannot write baseline {path}: {exc.strerror or exc}") from None
    return len(rows)
