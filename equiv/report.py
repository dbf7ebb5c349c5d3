"""Rendering a `CheckResult` as text or JSON (deterministic, no z3)."""

from __future__ import annotations

import json
from typing import Any

from equiv.errors import Location
from equiv.results import Behaviour, BitRow, CheckResult, Counterexample, FunctionResult, Verdict

_TITLES = {
    Verdict.EQUIVALENT: "EQUIVALENT",
    Verdict.NOT_EQUIVALENT: "NOT EQUIVALENT",
    Verdict.UNKNOWN: "UNKNOWN",
    Verdict.ONLY_BEFORE: "ONLY IN BEFORE (not checked)",
    Verdict.ONLY_AFTER: "ONLY IN AFTER (not checked)",
}


def flags_text(flags: int, names: tuple[str, ...]) -> str:
    named = " | ".join(names) if names else "no bits set"
    return f"flags={flags:#x} ({named})"


def _where(loc: Location | None) -> str:
    return f"{loc.file}:{loc.line}" if loc else ""


def _call_column(b: Behaviour, i: int) -> tuple[str, str]:
    if i >= len(b.calls):
        return "-", ""
    call = b.calls[i]
    return call.text(), _where(call.location)


def _calls_table(cex: Counterexample) -> list[str]:
    n = max(len(cex.before.calls), len(cex.after.calls))
    rows = [_call_column(cex.before, i) + _call_column(cex.after, i) for i in range(n)]
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


def _counterexample_lines(cex: Counterexample) -> list[str]:
    lines = [f"  counterexample: {flags_text(cex.flags, cex.flag_names)}"]
    if cex.configs:
        lines.append("  configs: " + " ".join(f"{n}={'y' if v else 'n'}" for n, v in cex.configs))
    if cex.inputs:
        lines.append("  inputs: " + ", ".join(f"{n}={v}" for n, v in cex.inputs))
    lines += _calls_table(cex)
    if cex.before.ret is not None or cex.after.ret is not None:
        mark = "" if cex.before.ret == cex.after.ret else "   <- differs"
        lines.append(f"  return: before {cex.before.ret}, after {cex.after.ret}{mark}")
    if cex.flags_observable and cex.before.flags != cex.after.flags:
        lines.append(f"  final flags: before {cex.before.flags:#x}, after {cex.after.flags:#x}")
    for (path, bv), (_, av) in zip(cex.before.memory, cex.after.memory):
        if bv != av:
            lines.append(f"  final {path}: before {bv}, after {av}")
    return lines


def _bit_line(row: BitRow) -> str:
    label = f"{row.name} (bit {row.bit})" if not row.name.startswith("bit ") else row.name
    if row.differs is None:
        return f"    {label}: undecided"
    if row.differs:
        return f"    {label}: differs, e.g. flags={row.example:#x}"
    return f"    {label}: same for every flag word with it set"


def _premise_lines(result: FunctionResult) -> list[str]:
    lines = []
    if result.premises:
        lines.append("  in force: " + "; ".join(p.label for p in result.premises))
    if result.verdict is Verdict.EQUIVALENT and result.premises:
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
    if result.reason:
        lines.append(f"  reason: {result.reason}")
    if result.counterexample is not None:
        lines += _counterexample_lines(result.counterexample)
    if result.difference is not None:
        lines.append(f"  differs iff: {result.difference}")
    if result.bits and result.verdict is Verdict.NOT_EQUIVALENT:
        lines.append("  per bit:")
        lines += [_bit_line(r) for r in result.bits]
    for mask in result.masks:
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
        "flags": f"{b.flags:#x}",
        "memory": dict(b.memory),
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
        },
        "difference": fn.difference,
        "bits": [{"bit": r.bit, "name": r.name, "differs": r.differs,
                  "example": None if r.example is None else f"{r.example:#x}"} for r in fn.bits],
        "premises": [{"label": p.label, "kind": p.kind, "description": p.description}
                     for p in fn.premises],
        "needed": [{"label": n.premise.label, "without": n.without.value,
                    "flags": None if n.flags is None else f"{n.flags:#x}",
                    "flag_names": list(n.flag_names), "configs": dict(n.configs)}
                   for n in fn.needed],
        "masks": [{"name": m.name, "before": None if m.before is None else list(m.before),
                   "after": None if m.after is None else list(m.after),
                   "added": list(m.added), "dropped": list(m.dropped)} for m in fn.masks],
    }


def render_json(result: CheckResult) -> str:
    doc = {
        "before": list(result.before),
        "after": list(result.after),
        "exit_code": int(result.exit_code),
        "notes": list(result.notes),
        "functions": [_function_json(f) for f in result.functions],
    }
    return json.dumps(doc, indent=2) + "\n"
