"""Rendering a `CheckResult` as text or JSON (deterministic, no z3)."""

from __future__ import annotations

import json
import re
from typing import Any

from equiv.errors import Location
from equiv.report.results import (
    DROPPABLE_PREMISES,
    Behaviour,
    BitRow,
    CheckResult,
    Condition,
    ConditionStatus,
    Counterexample,
    Cube,
    FunctionResult,
    LoopRun,
    Relevance,
    UNREACHED,
    Verdict,
)

SHOWN_PREFIX = 3  # cubes shown of a condition too large to print

_TITLES = {
    Verdict.EQUIVALENT: "EQUIVALENT",
    Verdict.NOT_EQUIVALENT: "NOT EQUIVALENT",
    Verdict.UNKNOWN: "UNKNOWN",
    Verdict.ONLY_BEFORE: "ONLY IN BEFORE (not checked)",
    Verdict.ONLY_AFTER: "ONLY IN AFTER (not checked)",
    Verdict.ERROR: "ERROR (not checked)",
}


def flags_text(flags: int, names: tuple[str, ...]) -> str:
    named = " | ".join(names) if names else "no bits set"
    return f"flags={flags:#x} ({named})"


def _where(loc: Location | None) -> str:
    return f"{loc.file}:{loc.line}" if loc else ""


def _shown_context(cex: Counterexample, i: int) -> tuple[str, ...]:
    """What the callee sees, shown only where it is what tells the two calls apart."""
    b, a = cex.before.calls, cex.after.calls
    if i >= len(b) or i >= len(a):
        return ()
    x, y = b[i], a[i]
    if (x.function, x.args) != (y.function, y.args):
        return ()
    theirs = dict(y.context)
    return tuple(n for n, v in x.context if theirs.get(n, v) != v)


def _call_column(b: Behaviour, i: int, shown: tuple[str, ...]) -> tuple[str, str]:
    if i >= len(b.calls):
        return "-", ""
    call = b.calls[i]
    return call.text(shown), _where(call.location)


def _calls_table(cex: Counterexample) -> list[str]:
    n = max(len(cex.before.calls), len(cex.after.calls))
    rows = []
    for i in range(n):
        shown = _shown_context(cex, i)
        rows.append(_call_column(cex.before, i, shown) + _call_column(cex.after, i, shown))
    w0 = max([len("before")] + [len(r[0]) for r in rows])
    w1 = max([0] + [len(r[1]) for r in rows])
    w2 = max([len("after")] + [len(r[2]) for r in rows])
    lines = [f"        {'before':<{w0}}  {'':<{w1}}  after"]
    for i, (bt, bw, at, aw) in enumerate(rows):
        mark = ">" if cex.first_divergence == i else " "
        lines.append(f"    {mark}{i + 1:>2} {bt:<{w0}}  {bw:<{w1}}  {at:<{w2}}  {aw}".rstrip())
    if not rows:
        lines.append("       (no calls on either side)")
    return lines


def word_text(cex: Counterexample) -> str:
    """`flags=0x4 (_TIF_X)`, under the name the report gives the flag word."""
    return flags_text(cex.flags, cex.flag_names).replace("flags=", f"{cex.word}=", 1)


def shown_inputs(cex: Counterexample) -> list[str]:
    """`name=value` for each input (not config) the difference depends on."""
    out = [f"{n}={v}" for n, v in cex.inputs if n in cex.matters]
    if cex.mapped is not None:  # the after side's word: the cause of its branches
        value, names = cex.mapped
        out.append(flags_text(value, names).replace("flags=", "mapped_word=", 1))
    return out


def _counterexample_lines(cex: Counterexample) -> list[str]:
    lines = [f"  counterexample: {word_text(cex)}"]
    if cex.not_minimal:
        lines.append(f"  not proved minimal: {cex.not_minimal} (the difference on it is proved)")
    configs = [(n, v) for n, v in cex.configs if n in cex.matters]
    if configs:
        lines.append("  configs: " + " ".join(f"{n}={'y' if v else 'n'}" for n, v in configs))
    inputs = shown_inputs(cex)
    if inputs:
        lines.append("  inputs: " + ", ".join(inputs))
    lines += _calls_table(cex)
    if cex.decided_at is not None:
        lines.append(f"  decided at: {cex.decided_at} (the condition the first differing call "
                     f"depends on)")
    lines += [_loop_line(run) for run in cex.loops if len(run.words) > 1]
    if cex.before.ret is not None or cex.after.ret is not None:
        mark = "" if cex.before.ret == cex.after.ret else "   <- differs"
        lines.append(f"  return: before {cex.before.ret}, after {cex.after.ret}{mark}")
    if cex.flags_observable and cex.before.flags != cex.after.flags:
        lines.append(f"  final flags: before {cex.before.flags:#x}, after {cex.after.flags:#x}")
    for (path, bv), (_, av) in zip(cex.before.memory, cex.after.memory):
        if bv != av:
            lines.append(f"  final {path}: before {bv}, after {av}")
    return lines


def _loop_line(run: LoopRun) -> str:
    """`loop at f.c:3 (before): iteration 1 reads _TIF_X|_TIF_Y, iteration 2 reads 0`."""
    reads = ", ".join(f"iteration {k} reads {'|'.join(names) if names else '0'}"
                      + (f" ({value:#x})" if names and any(n.startswith('bit ') for n in names)
                         else "")
                      for k, (value, names) in enumerate(run.words, start=1))
    return f"  loop at {run.location} ({run.side}): {reads}"


def _label(row: BitRow) -> str:
    return f"{row.name} (bit {row.bit})" if not row.name.startswith(("bit ", row.word)) \
        else row.name


def _bit_line(row: BitRow, word: str) -> str:
    label = _label(row)
    if row.relevance is Relevance.UNDECIDED:
        return f"    {label}: not decided: {row.why}"
    name = word if row.word == "flags" else row.word
    return (f"    {label}: matters: differs at {name}={row.differs_at:#x}, "
            f"same at {name}={row.same_at:#x}")


def _ranges(bits: list[int]) -> str:
    """`0-30, 33` for sorted bit numbers."""
    out: list[str] = []
    start = prev = None
    for b in bits + [-2]:
        if start is not None and b == prev + 1:  # type: ignore[operator]
            prev = b
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = b
    return ", ".join(out)


def _plain(row: BitRow) -> bool:
    """A bit no macro names."""
    return row.name.startswith(("bit ", row.word))


def bit_lines(rows: tuple[BitRow, ...], word: str) -> list[str]:
    """Rows for the bits that matter or are undecided; one line for those proved not to."""
    unreached = [r for r in rows if r.relevance is Relevance.UNDECIDED and r.why == UNREACHED]
    shown = [r for r in rows if r.relevance is Relevance.MATTERS
             or (r.relevance is Relevance.UNDECIDED and not _plain(r) and r not in unreached)]
    quiet = [r for r in rows if r.relevance is Relevance.DOES_NOT_MATTER]
    lines = [_bit_line(r, word) for r in shown]
    if unreached:  # a cut explanation: one line, however many bits it left
        named = [_label(r) for r in unreached if not _plain(r)]
        plain = [r.bit for r in unreached if _plain(r)]
        if plain:
            named.append(f"bit{'s' if len(plain) > 1 else ''} {_ranges(plain)}")
        lines.append(f"    not reached (the explanation's time ran out): {', '.join(named)}")
    # Unnamed bits left undecided for the same reason share one line.
    undecided: dict[str, list[int]] = {}
    for r in rows:
        if r.relevance is Relevance.UNDECIDED and _plain(r) and r.why != UNREACHED:
            undecided.setdefault(r.why, []).append(r.bit)
    for why, bits in undecided.items():
        lines.append(f"    bit{'s' if len(bits) > 1 else ''} {_ranges(bits)}: not decided: {why}")
    if quiet:
        named = [_label(r) for r in quiet if not r.name.startswith(("bit ", r.word))]
        plain = [r.bit for r in quiet if r.name.startswith(("bit ", r.word))]
        if plain:
            named.append(f"bit{'s' if len(plain) > 1 else ''} {_ranges(plain)}")
        lines.append(f"    does not matter: {', '.join(named)}")
    return ["  per bit:"] + lines if lines else []


MAX_OPAQUE_SHOWN = 8


def opaque_text(names: tuple[str, ...]) -> str:
    """The opaque functions, in natural order, the first few when there are many."""
    def key(name: str) -> list[Any]:
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]

    ordered = sorted(names, key=key)
    if len(ordered) <= MAX_OPAQUE_SHOWN:
        return ", ".join(ordered)
    return (", ".join(ordered[:MAX_OPAQUE_SHOWN])
            + f", ... ({len(ordered)} in all; --json lists them)")


def _cube_text(cube: Cube) -> str:
    if not cube:
        return "always"
    configs = [f"{c.name}={'y' if c.value else 'n'}" for c in cube if c.kind == "config"]
    on = [c.name for c in cube if c.value and c.kind != "config"]
    off = [c.name for c in cube if not c.value and c.kind != "config"]
    parts = []
    if on:
        parts.append(f"{on[0]} is set" if len(on) == 1 else f"all of {', '.join(on)} are set")
    if off:
        parts.append(f"{off[0]} is clear" if len(off) == 1
                     else f"none of {', '.join(off)} is set")
    parts += configs
    return " and ".join(parts)


def _cubes_text(cubes: tuple[Cube, ...]) -> str:
    if len(cubes) == 1:
        return _cube_text(cubes[0])
    return " or ".join(f"({_cube_text(c)})" for c in cubes)


def condition_text(cond: Condition) -> str:
    """The English sentence for a difference condition."""
    cuts = ["every loop stays within the unwind bound"] if cond.bounded else []
    cuts += ["no undefined behaviour is reached"] if cond.undefined else []
    bound = f" (for inputs on which {' and '.join(cuts)})" if cuts else ""
    if cond.status is ConditionStatus.UNDECIDED:
        return f"not decided: {cond.reason}"
    if cond.status is ConditionStatus.TOO_LARGE:
        cubes = cond.sure + cond.maybe
        size = f"{cond.size}" if cond.complete else f"more than {cond.size}"
        head = " or ".join(f"({_cube_text(c)})" for c in cubes[:SHOWN_PREFIX])
        more = " or ..." if len(cubes) > SHOWN_PREFIX or not cond.complete else ""
        return (f"too large to print: {size} cubes over {cond.inputs} bits and switches; "
                f"it begins {head}{more}{bound}")
    if not cond.sure and not cond.maybe:
        return "never" + bound
    if not cond.sure:
        if cond.maybe == ((),):
            return "for some values of other inputs, whatever the flag word" + bound
        return "only for some values of other inputs, when " + _cubes_text(cond.maybe) + bound
    text = _cubes_text(cond.sure)
    if cond.maybe:
        text += ("; otherwise for some values of other inputs" if cond.maybe == ((),)
                 else "; also, for some values of other inputs, when " + _cubes_text(cond.maybe))
    return text + bound


def _premise_lines(result: FunctionResult) -> list[str]:
    lines = []
    if result.premises:
        lines.append("  in force: " + "; ".join(p.label for p in result.premises))
    if result.verdict is Verdict.EQUIVALENT and any(p.kind in DROPPABLE_PREMISES
                                                    for p in result.premises):
        if not result.needed:
            lines.append("  needs: nothing (holds without the models and assumptions)")
        for need in result.needed:
            what = f" ({need.premise.description})" if need.premise.kind == "model" else ""
            without = _TITLES[need.without]
            if need.flags is not None:
                without += f" at {flags_text(need.flags, need.flag_names)}"
            if need.configs:
                without += " with " + " ".join(f"{n}={'y' if v else 'n'}"
                                               for n, v in need.configs)
            lines.append(f"  needs {need.premise.label}{what}; without it: {without}")
    return lines


def function_lines(result: FunctionResult) -> list[str]:
    lines = [f"{result.function}: {_TITLES[result.verdict]}"]
    lines += _premise_lines(result)
    lines += [f"  warning: {w}" for w in result.warnings]
    lines += [f"  flag word: {n}" for n in result.word_notes]
    if result.reason and result.verdict is Verdict.ERROR:
        lines += [f"  {line}" for line in result.reason.splitlines()]
    elif result.reason:
        lines.append(f"  reason: {result.reason}")
    if result.counterexample is not None:
        lines += _counterexample_lines(result.counterexample)
    if result.verdict is Verdict.NOT_EQUIVALENT and result.counterexample is not None:
        cond = result.condition
        lines.append("  differs iff: " + (condition_text(cond) if cond is not None else
                                          "not computed (--verdict-only, a premise check "
                                          "that shows only the counterexample, or a budget "
                                          "that ran out: see the reason)"))
        lines += bit_lines(result.bits, result.counterexample.word)
    if result.opaque and result.verdict in (Verdict.NOT_EQUIVALENT, Verdict.UNKNOWN):
        lines.append("  opaque (no definition or model): " + opaque_text(result.opaque))
    for mask in result.masks:
        if mask.before == mask.after:
            continue  # unchanged: nothing for a reviewer to look at (JSON keeps it)
        b = " | ".join(mask.before) if mask.before is not None else "(not defined)"
        a = " | ".join(mask.after) if mask.after is not None else "(not defined)"
        lines.append(f"  mask {mask.name}:")
        lines.append(f"    before: {b}")
        lines.append(f"    after:  {a}")
        if mask.added:
            lines.append(f"    added:   {', '.join(mask.added)}")
        if mask.dropped:
            lines.append(f"    dropped: {', '.join(mask.dropped)}")
    return lines


def render_text(result: CheckResult) -> str:
    lines = [f"equiv: {'+'.join(result.before)} -> {'+'.join(result.after)}"]
    lines += [f"note: {n}" for n in result.notes]
    for fn in result.functions:
        lines += function_lines(fn)
    return "\n".join(lines) + "\n"


def _behaviour_json(b: Behaviour) -> dict[str, Any]:
    return {
        "calls": [{"function": c.function, "args": list(c.args), "result": c.result,
                   "sees": dict(c.context),
                   "file": c.location.file if c.location else None,
                   "line": c.location.line if c.location else None} for c in b.calls],
        "return": b.ret,
        "results_that_matter": [c.function for c in b.calls if c.result_matters],
        "flags": f"{b.flags:#x}",
        "memory": dict(b.memory),
        "flags_left": [{"call": n, "flags": f"{w:#x}"} for n, w in b.flags_left],
    }


def _function_json(fn: FunctionResult) -> dict[str, Any]:
    cex = fn.counterexample
    return {
        "function": fn.function,
        "verdict": fn.verdict.value,
        "reason": fn.reason,
        "counterexample": None if cex is None else {
            "flags": f"{cex.flags:#x}",
            "flag_names": list(cex.flag_names),
            "configs": dict(cex.configs),
            "inputs": dict(cex.inputs),
            "before": _behaviour_json(cex.before),
            "after": _behaviour_json(cex.after),
            "first_divergence": cex.first_divergence,
            "minimal": not cex.not_minimal,
            "not_minimal": cex.not_minimal or None,
            "flags_observable": cex.flags_observable,
            "decided_at": None if cex.decided_at is None else str(cex.decided_at),
            "word": cex.word,
            "matters": list(cex.matters),
            "mapped_word": None if cex.mapped is None else f"{cex.mapped[0]:#x}",
            "loops": [{"side": run.side, "location": str(run.location),
                       "reads": [f"{w:#x}" for w, _ in run.words]} for run in cex.loops],
        },
        "difference": None if fn.condition is None else condition_text(fn.condition),
        "condition": None if fn.condition is None else _condition_json(fn.condition),
        "bits": [{"bit": r.bit, "name": r.name, "word": r.word, "relevance": r.relevance.value,
                  "differs_at": None if r.differs_at is None else f"{r.differs_at:#x}",
                  "same_at": None if r.same_at is None else f"{r.same_at:#x}",
                  "why": r.why or None} for r in fn.bits],
        "opaque": list(fn.opaque),
        "flag_word": list(fn.word_notes),
        "premises": [{"label": p.label, "kind": p.kind, "description": p.description}
                     for p in fn.premises],
        "needed": [{"label": n.premise.label, "without": n.without.value,
                    "flags": None if n.flags is None else f"{n.flags:#x}",
                    "flag_names": list(n.flag_names), "configs": dict(n.configs)}
                   for n in fn.needed],
        "warnings": list(fn.warnings),
        "masks": [{"name": m.name, "before": None if m.before is None else list(m.before),
                   "after": None if m.after is None else list(m.after),
                   "added": list(m.added), "dropped": list(m.dropped)} for m in fn.masks],
    }


def _condition_json(cond: Condition) -> dict[str, Any]:
    def cubes(cs: tuple[Cube, ...]) -> list[list[dict[str, Any]]]:
        return [[{"name": lit.name, "kind": lit.kind, "value": lit.value} for lit in c]
                for c in cs]

    return {"status": cond.status.value, "sure": cubes(cond.sure), "maybe": cubes(cond.maybe),
            "size": cond.size, "complete": cond.complete, "inputs": cond.inputs,
            "bounded": cond.bounded, "undefined": cond.undefined,
            "reason": cond.reason or None, "key": cond.key()}


def render_json(result: CheckResult) -> str:
    doc = {
        "before": list(result.before),
        "after": list(result.after),
        "exit_code": int(result.exit_code),
        "notes": list(result.notes),
        "functions": [_function_json(f) for f in result.functions],
    }
    return json.dumps(doc, indent=2) + "\n"
