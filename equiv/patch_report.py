"""Rendering `equiv patch` results: text, JSON, SARIF 2.1.0 and JUnit XML.

Deterministic (no timestamps, no temporary paths): locations are the tree's
relative paths, with the checker's a/ and b/ side prefixes removed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from equiv import __version__
from equiv.errors import Location
from equiv.patch_gate import PatchReport, RootCheck, exit_status
from equiv.report import condition_text, render_text
from equiv.results import CheckResult, Verdict

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
    loc = first_divergence(check)
    if loc is not None:
        return tree_path(loc.file), loc.line
    return check.path, 1


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
    if c.confirmation is not None:
        text += f"  witness: {c.confirmation}\n"
    return text


# ---- JSON ---------------------------------------------------------------------------

def render_json_report(reports: list[PatchReport]) -> str:
    from equiv.report import render_json

    rows = []
    for r in reports:
        checks = []
        for c in r.checks:
            result = CheckResult(("a/" + c.path,), ("b/" + c.path,), (c.result,))
            body = json.loads(render_json(result))
            checks.append({"function": c.function, "file": c.path, "baselined": c.baselined,
                           "confirmation": c.confirmation, "result": body["functions"][0]})
        rows.append({"index": r.patch.index, "subject": r.patch.subject,
                     "source": r.patch.source, "claims_no_change": r.patch.claims_no_change,
                     "outcome": r.outcome.value, "gate_fails": r.gate_fails,
                     "reason": r.reason, "checks": checks})
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
        targets = [c for c in r.checks if c.result.verdict in (Verdict.NOT_EQUIVALENT,
                                                                Verdict.UNKNOWN)
                   and r.outcome.value != "trouble"]
        for c in targets or [None]:  # type: ignore[list-item]
            if c is None:
                paths = sorted({p for pair in r.patch.files for p in pair if p != "/dev/null"})
                uri, line, text = (paths[0] if paths else "."), 1, r.reason
            else:
                uri, line = _where(c)
                text = f"{subject}: {c.function}: {r.reason}"
                if c.result.condition is not None:
                    text += f"; differs iff {condition_text(c.result.condition)}"
            results.append({
                "ruleId": r.outcome.value,
                "level": _sarif_level(r),
                "message": {"text": text},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "SRCROOT"},
                    "region": {"startLine": max(line, 1)}}}],
                "properties": {"patch": r.patch.index, "subject": subject},
            })
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
            elif r.gate_fails and (c is None or c.result.verdict in (Verdict.NOT_EQUIVALENT,
                                                                     Verdict.UNKNOWN)
                                   and not c.baselined):
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

