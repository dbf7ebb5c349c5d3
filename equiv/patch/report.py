"""Rendering `equiv patch` results: text, JSON, SARIF 2.1.0 and JUnit XML.

Deterministic (no timestamps, no temporary paths): locations are the tree's
relative paths, with the checker's a/ and b/ side prefixes removed.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from equiv import __version__
from equiv.driver.check import CheckOptions
from equiv.errors import Location
from equiv.patch.gate import PatchReport, RootCheck, exit_status
from equiv.patch.series import Patch
from equiv.report.render import condition_text, render_text
from equiv.report.results import CheckResult, FunctionResult, Verdict

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
RULES = {
    "refuted": "A patch claims no functional change, and behaviour changes",
    "new-difference": "Behaviour changes and the baseline does not record it (--strict)",
    "change": "Behaviour changes (declared change)",
    "accepted": "Behaviour changes as recorded in the baseline",
    "unknown": "equiv could not decide the check",
    "trouble": "The patch could not be applied or checked",
}


def tree_path(path: str) -> str:
    """`b/arch/x.c` -> `arch/x.c`."""
    return path[2:] if path[:2] in ("a/", "b/") else path


def first_divergence(check: RootCheck) -> Location | None:
    """Where the after side first differs: its divergent call, else its first call."""
    cex = check.result.counterexample
    if cex is None:
        return None
    calls = cex.after.calls
    at = cex.first_divergence
    if at is not None and at < len(calls) and calls[at].location is not None:
        return calls[at].location
    # The after side has no call there (it dropped one): its previous call, or the root.
    for call in reversed(calls[:at] if at is not None else calls):
        if call.location is not None:
            return call.location
    return None


def _where(check: RootCheck) -> tuple[str, int]:
    """Where CI points: the condition that decides the difference, else the divergent call."""
    cex = check.result.counterexample
    loc = cex.decided_at if cex is not None and cex.decided_at is not None \
        else first_divergence(check)
    if loc is not None:
        return tree_path(loc.file), loc.line
    return check.path, check.line


def _related(check: RootCheck) -> list[dict[str, object]]:
    """The first differing call on each side, as SARIF related locations."""
    cex = check.result.counterexample
    if cex is None or cex.first_divergence is None:
        return []
    out: list[dict[str, object]] = []
    for side, behaviour in (("before", cex.before), ("after", cex.after)):
        calls = behaviour.calls
        if cex.first_divergence < len(calls) and calls[cex.first_divergence].location:
            call = calls[cex.first_divergence]
            assert call.location is not None
            out.append({"id": len(out) + 1,
                        "message": {"text": f"{side}: {call.text(())}"},
                        "physicalLocation": {
                            "artifactLocation": {"uri": tree_path(call.location.file),
                                                 "uriBaseId": "SRCROOT"},
                            "region": {"startLine": max(call.location.line, 1)}}})
    return out


# ---- text ---------------------------------------------------------------------------

def render_text_report(reports: list[PatchReport]) -> str:
    out = []
    for r in reports:
        out.append(f"[{r.patch.index}] {r.patch.subject}")
        out.append(f"    {r.outcome.value.upper()}{' (gate fails)' if r.gate_fails else ''}: "
                   f"{r.reason}")
        for c in r.checks:
            out += ["    " + line for line in _check_text(c).splitlines()]
    status = exit_status(reports)
    counts: dict[str, int] = {}
    for r in reports:
        counts[r.outcome.value] = counts.get(r.outcome.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    out.append(f"equiv patch: {len(reports)} patches ({summary}); gate "
               f"{'passes' if status == 0 else 'fails'} (exit {status})")
    return "\n".join(out) + "\n"


def _check_text(c: RootCheck) -> str:
    if c.confirmation is not None and c.confirmation.startswith("equiv bug"):
        # A difference compiled code does not reproduce is never shown as one.
        return (f"{c.function}: NOT SHOWN: equiv found a difference that its witness "
                f"does not reproduce; please report\n  witness: {c.confirmation}\n")
    result = CheckResult(("a/" + c.path,), ("b/" + c.path,), (c.result,))
    text = render_text(result).split("\n", 1)[1]  # drop the "equiv: X -> Y" line
    if c.baselined:
        text = text.replace(": NOT EQUIVALENT", ": NOT EQUIVALENT (accepted in baseline)", 1)
    if c.contained:
        text += (f"  contained: only its callers see it, and they are checked here "
                 f"({', '.join(c.callers)})\n")
    elif c.differs and c.escapes is not None:
        text += f"  visible: {c.escapes}\n"
    if c.confirmation is not None:
        text += f"  witness: {c.confirmation}\n"
    return text


# ---- JSON ---------------------------------------------------------------------------

def render_json_report(reports: list[PatchReport]) -> str:
    from equiv.report.render import render_json

    rows = []
    for r in reports:
        checks = []
        for c in r.checks:
            result = CheckResult(("a/" + c.path,), ("b/" + c.path,), (c.result,))
            body = json.loads(render_json(result))
            checks.append({"function": c.function, "file": c.path, "baselined": c.baselined,
                           "confirmation": c.confirmation, "result": body["functions"][0],
                           "callers": list(c.callers), "contained": c.contained,
                           "escapes": c.escapes})
        rows.append({"index": r.patch.index, "subject": r.patch.subject,
                     "source": r.patch.source, "claims_no_change": r.patch.claims_no_change,
                     "outcome": r.outcome.value, "gate_fails": r.gate_fails,
                     "reason": r.reason, "checks": checks, "patch_id": r.patch.patch_id,
                     "location": None if r.location is None else {
                         "file": tree_path(r.location.file), "line": r.location.line}})
    doc = {"exit": exit_status(reports), "patches": rows}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


# ---- SARIF --------------------------------------------------------------------------

def _sarif_level(r: PatchReport) -> str:
    return "error" if r.gate_fails else "warning" if r.outcome.value == "change" else "note"


def render_sarif(reports: list[PatchReport]) -> str:
    results: list[dict[str, Any]] = []
    for r in reports:
        if r.outcome.value in ("proved", "skipped"):
            continue
        subject = r.patch.subject
        targets = [c for c in r.checks if (c.differs or c.result.verdict is Verdict.UNKNOWN)
                   and not c.contained and r.outcome.value != "trouble"]
        for c in targets or [None]:  # type: ignore[list-item]
            if c is None:
                paths = sorted({p for pair in r.patch.files for p in pair if p != "/dev/null"})
                uri, line, text = (paths[0] if paths else "."), 1, r.reason
                if r.location is not None:
                    uri, line = tree_path(r.location.file), r.location.line
            else:
                uri, line = _where(c)
                text = f"{subject}: {c.function}: {r.reason}"
                if c.result.condition is not None:
                    text += f"; differs iff {condition_text(c.result.condition)}"
            result: dict[str, object] = {
                "ruleId": r.outcome.value,
                "level": _sarif_level(r),
                "message": {"text": text},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "SRCROOT"},
                    "region": {"startLine": max(line, 1)}}}],
                "properties": {"patch": r.patch.index, "subject": subject},
            }
            if c is not None and (c.result.premises or c.result.warnings):
                # What the verdict rests on (stubs, undeclared names, models): never silent.
                properties = result["properties"]
                assert isinstance(properties, dict)
                properties["inForce"] = [p.label for p in c.result.premises]
                properties["warnings"] = list(c.result.warnings)
                text += "; in force: " + "; ".join(p.label for p in c.result.premises)
                result["message"] = {"text": text}
            related = _related(c) if c is not None else []
            if related:
                result["relatedLocations"] = related
            results.append(result)
    used = sorted({res["ruleId"] for res in results})
    driver = {"name": "equiv", "version": __version__,
              "rules": [{"id": k, "shortDescription": {"text": RULES[k]}} for k in used]}
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": driver}, "results": results,
                     "originalUriBaseIds": {"SRCROOT": {"uri": "./"}}}]}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


# ---- JUnit --------------------------------------------------------------------------

def render_junit(reports: list[PatchReport]) -> str:
    suite = ET.Element("testsuite", name="equiv patch")
    failures = errors = skipped = tests = 0
    for r in reports:
        cases = list(r.checks) or [None]  # type: ignore[list-item]
        for c in cases:
            tests += 1
            name = c.function if c is not None else "(patch)"
            case = ET.SubElement(suite, "testcase", classname=f"{r.patch.index:04d} "
                                 f"{r.patch.subject}", name=name)
            body = _check_text(c) if c is not None else r.reason
            if r.outcome.value == "trouble":
                errors += 1
                ET.SubElement(case, "error", message=r.reason).text = body
            elif r.outcome.value == "skipped":
                skipped += 1
                ET.SubElement(case, "skipped", message=r.reason)
            elif r.gate_fails and (c is None or (c.differs or c.result.verdict
                                                 is Verdict.UNKNOWN)
                                   and not c.baselined and not c.contained):
                failures += 1
                ET.SubElement(case, "failure", message=r.reason).text = body
            else:
                ET.SubElement(case, "system-out").text = body
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


RENDERERS = {"text": render_text_report, "json": render_json_report,
             "sarif": render_sarif, "junit": render_junit}


def render(reports: list[PatchReport], fmt: str) -> str:
    return RENDERERS[fmt](reports)



# ---- email --------------------------------------------------------------------------

EMAIL_WIDTH = 72
MAX_EMAIL_CALLS = 8  # calls listed per side; the rest are elided around the divergence
SCISSORS = "-- >8 --"
_CLAIM = re.compile(r"\bno\s+functional\s+changes?\b[^.\n]*\.?|\bNFC\b[^.\n]*\.?", re.IGNORECASE)


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, EMAIL_WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)


def reproduce_command(patch: Patch, opts: CheckOptions, extra_models: tuple[str, ...] = (),
                      stable_flags: bool = False) -> str:
    """The `equiv patch` line that checks `patch` again, with the options used."""
    parts = ["equiv", "patch"]
    for d in opts.model_dirs:
        parts += ["--model-dir", d]
    for m in opts.models + extra_models:
        parts += ["--model", m]
    if opts.stable_flags or stable_flags:
        parts.append("--stable-flags")
    if opts.all_models:
        parts += ["--models", "all"]
    if opts.arch:
        parts += ["--arch", opts.arch]
    for name, on in opts.pins:
        parts += ["-D", f"{name}={'y' if on else 'n'}"]
    if opts.unwind != CheckOptions().unwind:
        parts += ["--unwind", str(opts.unwind)]
    source = patch.source
    if re.fullmatch(r"[0-9a-f]{7,40}", source):
        parts += ["--git", f"{source}^..{source}"]
    else:
        parts.append(Path(source.rsplit("#", 1)[0] if "#" in source else source).name)
    text = " ".join(shlex.quote(p) for p in parts)
    if "#" in source and not source.endswith("#"):
        text += f"   # patch {source.rsplit('#', 1)[1]} of the mbox"
    return text


def _email_word(cex: Any) -> str:
    names = " | ".join(cex.flag_names) if cex.flag_names else "no flag set"
    return f"{cex.word}={cex.flags:#x}, {names}"


def _email_calls(label: str, calls: tuple[Any, ...], at: int | None,
                 shown: Any, width: int = 0) -> list[str]:
    if not calls:
        return [f"  {label}: no calls"]
    rows = [(c.text(shown(i)), f"{tree_path(c.location.file)}:{c.location.line}"
             if c.location else "") for i, c in enumerate(calls)]
    keep = list(range(len(rows)))
    if len(rows) > MAX_EMAIL_CALLS:
        centre = at if at is not None else 0
        lo = max(0, min(centre - MAX_EMAIL_CALLS // 2, len(rows) - MAX_EMAIL_CALLS))
        keep = list(range(lo, lo + MAX_EMAIL_CALLS))
    width = max(width, max(len(rows[i][0]) for i in keep))
    out = [f"  {label}:"]
    if keep[0] > 0:
        out.append("    ...")
    for i in keep:
        mark = "  <-- first difference" if i == at else ""
        out.append(f"    {rows[i][0]:<{width}}  {rows[i][1]}{mark}".rstrip())
    if keep[-1] < len(rows) - 1:
        out.append("    ...")
    return out


def _email_counterexample(result: FunctionResult) -> list[str]:
    from equiv.report.render import _shown_context, shown_inputs

    cex = result.counterexample
    assert cex is not None
    what = [_email_word(cex)]
    what += [f"{n}={'y' if v else 'n'}" for n, v in cex.configs if n in cex.matters]
    what += shown_inputs(cex)
    lines = _wrap(f"For {'; '.join(what)}:") + [""]
    at = cex.first_divergence
    before_at = at if at is not None and at < len(cex.before.calls) else None
    after_at = at if at is not None and at < len(cex.after.calls) else None
    def shown(i: int) -> Any:
        return _shown_context(cex, i)

    width = max([len(c.text(shown(i))) for b in (cex.before, cex.after)
                 for i, c in enumerate(b.calls)] + [0])
    lines += _email_calls("before", cex.before.calls, before_at, shown, width)
    lines += _email_calls("after", cex.after.calls, after_at, shown, width)
    if cex.before.ret != cex.after.ret and None not in (cex.before.ret, cex.after.ret):
        lines.append(f"  returns: before {cex.before.ret}, after {cex.after.ret}")
    if cex.flags_observable and cex.before.flags != cex.after.flags:
        lines.append(f"  final flags: before {cex.before.flags:#x}, after {cex.after.flags:#x}")
    if at is None:  # the calls agree: the difference is in what is left behind
        for (path, bv), (_, av) in zip(cex.before.memory, cex.after.memory):
            if bv != av:
                lines.append(f"  final {path}: before {bv}, after {av}")
    return lines


def _condition_sentence(cond: Any, text: str, cex: Any = None) -> str:
    """The exact condition as a sentence of the reply."""
    from equiv.report.results import ConditionStatus

    rereads = [m for m in (cex.matters if cex is not None else ()) if m.startswith("flags after ")]
    if cond.status is ConditionStatus.EXACT and not cond.sure and cond.maybe == ((),) and rereads:
        call = rereads[0][len("flags after "):].split(" #")[0]
        return (f"Whatever the flag word at entry, it differs depending on the word "
                f"{call} leaves behind (a call may change the thread flags).")
    if cond.status is ConditionStatus.EXACT and cond.sure == ((),) and not cond.bounded \
            and not cond.undefined:
        return "It differs for every flag word and configuration."
    if cond.status is ConditionStatus.EXACT and cond.sure and cond.sure != ((),):
        return f"It differs exactly when {text}."
    return f"Where it differs: {text}."


def _premise_text(need: Any) -> str:
    p = need.premise
    if p.kind == "model":
        model = _model_follows(p.key)
        return f"{p.description} (equiv's model \"{p.key}\"{model})"
    if p.kind == "stable-flags":
        return "the calls in between leave the thread flags alone (--stable-flags)"
    return f"the assumption {p.description} holds"


def _model_follows(name: str) -> str:
    from equiv.frontend.models import catalogue

    m = catalogue().get(name)
    return f", after {m.follows}" if m is not None and m.follows else ""


def _email_finding(report: PatchReport, c: RootCheck, probe: Any,
                   opts: CheckOptions) -> list[str]:
    """One root's paragraph: the verdict on the claim, the counterexample, what a proof needs."""
    from equiv.report.render import condition_text

    fn = f"{c.function}()"
    r = c.result
    lines: list[str] = []
    if r.verdict is Verdict.NOT_EQUIVALENT:
        if report.patch.claims_no_change:
            lines += _wrap(f"This does not hold as written: {fn} behaves differently before "
                           f"and after the patch.")
        else:
            lines += _wrap(f"This patch changes the behaviour of {fn}; the changelog does not "
                           f"claim otherwise, so this is for the record.")
        if c.baselined:
            lines += _wrap("(The difference is recorded in the tree's .equiv-baseline.)")
        lines.append("")
        lines += _email_counterexample(r)
        lines.append("")
        if r.condition is not None:
            lines += _wrap(_condition_sentence(r.condition, condition_text(r.condition),
                                               r.counterexample))
        if probe is not None and probe.proved and probe.needed:
            premises = "; and ".join(_premise_text(n) for n in probe.needed)
            these = "that premise" if len(probe.needed) == 1 else "those premises"
            lines.append("")
            if report.patch.claims_no_change:
                lines += _wrap(f"The claim holds only if {premises}: under {these} equiv "
                               f"proves {fn} unchanged. If that is the argument, could the "
                               f"changelog state it?")
            else:
                lines += _wrap(f"{fn} is unchanged only if {premises}: under {these} equiv "
                               f"proves it.")
        elif probe is not None:
            lines.append("")
            lines += _wrap(f"Even with equiv's models of {', '.join(probe.models)} the "
                           f"difference remains.")
    elif r.verdict is Verdict.EQUIVALENT:
        text = f"equiv proves {fn} unchanged for every flag word and input"
        if r.needed:
            text += ", given that " + "; and ".join(_premise_text(n) for n in r.needed)
        lines += _wrap(text + ".")
    elif r.verdict is Verdict.UNKNOWN:
        lines += _wrap(f"equiv could not decide {fn}: {r.reason or 'unknown'}.")
    else:
        lines += _wrap(f"{fn} is defined only {'before' if r.verdict is Verdict.ONLY_BEFORE else 'after'} "
                       f"the patch; equiv did not compare it.")
    return lines


def _claim_line(message: str) -> str | None:
    """The changelog line that makes the claim, preferring one that is only the claim."""
    found = [line.strip() for line in message.splitlines() if _CLAIM.search(line)]
    if not found:
        return None
    return min(found, key=lambda line: len(re.sub(r"\bno\s+functional\s+changes?\b|\bNFC\b|"
                                                  r"\bintended\b|[.\s]", "", line, flags=re.IGNORECASE)))


def _email_one(report: PatchReport, probes: dict[tuple[int, str], Any],
               opts: CheckOptions) -> list[str]:
    patch = report.patch
    tags = patch.tags or "[PATCH]"
    lines = [f"Subject: Re: {tags} {patch.subject}", ""]
    claim = _claim_line(patch.message) if patch.claims_no_change else None
    if claim is not None:
        lines += [f"> {claim}", ""]
    if report.outcome.value == "trouble":
        lines += _wrap(f"equiv could not check this patch: {report.reason}.")
    else:
        # A contained difference shows through its callers' findings: not repeated;
        # functions proved unchanged are left out when something else is a finding.
        shown = [c for c in report.checks if not c.contained] or list(report.checks)
        shown = [c for c in shown if c.result.verdict is not Verdict.EQUIVALENT] or shown
        for k, c in enumerate(shown):
            if k:
                lines.append("")
            lines += _email_finding(report, c, probes.get((patch.index, c.function)), opts)
    lines += ["", "To reproduce, from the tree the series applies to:", ""]
    lines.append("  " + reproduce_command(patch, opts))
    needed = [n.premise for (i, _), p in probes.items() if i == patch.index
              and p is not None and p.proved for n in p.needed]
    extra = sorted({p.key for p in needed if p.kind == "model"})
    stable = any(p.kind == "stable-flags" for p in needed)
    if extra or stable:
        lines.append("  " + reproduce_command(patch, opts, tuple(extra), stable))
    return lines


def render_email(reports: list[PatchReport], options: Any,
                 probes: dict[tuple[int, str], Any] | None = None) -> str:
    """A plain-text reply per checked patch, to paste under it on the list.

    Kernel review conventions: `Re: [PATCH ...]` subject, the claim quoted,
    the verdict on it, a counterexample as flags and call sequences with
    file:line, the exact condition, the premises a proof needs (`probes`:
    see equiv.patch.premises), and the command that reproduces it.  Replies
    are separated by a scissors line; patches with nothing to check are left out.
    """
    opts = options.check
    out: list[str] = []
    for r in reports:
        if r.outcome.value == "skipped":
            continue
        if out:
            out += ["", SCISSORS, ""]
        out += _email_one(r, probes or {}, opts)
    if not out:
        out = ["equiv: no patch with C code to reply to"]
    return "\n".join(out) + "\n"


def probe_premises(reports: list[PatchReport], options: Any) -> dict[tuple[int, str], Any]:
    """For each differing root of a patch, the check again under the models it may need."""
    from equiv.patch.premises import probe

    out = {}
    for r in reports:
        for c in r.checks:
            found = probe(c, options)
            if found is not None:
                out[(r.patch.index, c.function)] = found
    return out
