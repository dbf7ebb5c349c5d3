#!/usr/bin/env python3
"""Rebuild the practice corpus of real kernel code outside the repository, and run equiv on it.

The repository holds no kernel source. `tests/corpus/manifest.toml` names, for each pair, the
kernel files before and after a real change by their git blob ids, and says where each blob can
be had:

- from a kernel git tree (`--linux-git DIR`): `git cat-file blob ID` for mainline blobs;
- from public-inbox mailing-list archives (`--archive DIR`, repeatable): every derivation step
  in the manifest is "blob NEW is blob OLD with the diff of FILE in email COMMIT applied"
  (forward) or the same diff reversed. The step's email is read from the archive's git
  (`git show COMMIT:m`), and every result is checked with `git hash-object`. A file created by
  a patch starts from the empty blob, so a chain needs no kernel tree at all;
- from a directory of seed blobs (`--seeds DIR`, files named by their 40-hex blob id).

Modes (run from the repository root):

    python tests/corpus/rebuild.py build --out DIR [--linux-git DIR] [--archive DIR]... [--seeds DIR]
    python tests/corpus/rebuild.py run [--corpus DIR] [--only ID]... [--timeout S] [--json FILE]
    python tests/corpus/rebuild.py arm64-tree --out DIR [same sources as build]
    python tests/corpus/rebuild.py scan --archive DIR --path FILE... (prints diffs found, for authors)

`--out`/`--corpus` default to `$EQUIV_KERNEL_CORPUS`. `build` writes DIR/<pair>/before/<path>
and DIR/<pair>/after/<path>, plus DIR/blobs/<id>. `run` runs each pair's `equiv check` command
exactly as the manifest spells it (the words a developer would type), from the pair's
directory, and prints one row per pair: expected verdict, verdict got, exit status, the first
error line and the wall time.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
MANIFEST = HERE / "manifest.toml"
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
VERDICT_BY_EXIT = {0: "equivalent", 1: "not-equivalent", 2: "trouble", 3: "unknown"}
DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)


class RebuildError(Exception):
    """A blob could not be had from any source, or did not hash to its id."""


@dataclass(frozen=True)
class Step:
    """Blob `new` is blob `old` with the diff of `path` in archive email `email` applied.

    `reverse` applies the diff backwards (the email turns `new` into `old`)."""

    new: str
    old: str
    archive: str
    email: str
    path: str
    reverse: bool


@dataclass(frozen=True)
class Pair:
    """One before/after pair of real kernel files and the check a developer would run."""

    id: str
    files: tuple[tuple[str, str, str], ...]  # (repository path, before blob, after blob)
    args: tuple[str, ...]
    expect: str
    raw: dict[str, object]


# ---------------------------------------------------------------------------------------------
# manifest


def load_manifest(path: Path = MANIFEST) -> tuple[list[Pair], dict[str, Step], dict[str, object]]:
    """The pairs, the derivation steps by the blob they make, and the manifest's tables."""
    data = tomllib.loads(path.read_text())
    steps = {s["new"]: Step(s["new"], s["old"], s["archive"], s["email"], s["path"],
                            bool(s.get("reverse", False))) for s in data.get("step", [])}
    pairs = [Pair(p["id"], tuple((f["path"], f["before"], f["after"]) for f in p["file"]),
                  tuple(p["args"]), p["expect"], p) for p in data.get("pair", [])]
    return pairs, steps, data


# ---------------------------------------------------------------------------------------------
# blobs


def git_hash(data: bytes) -> str:
    """The git blob id of `data`."""
    return subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True,
                          check=True).stdout.decode().strip()


class BlobSource:
    """Finds blobs by id: store, seeds, kernel git tree, then derivation from archives."""

    def __init__(self, store: Path, steps: dict[str, Step], archives: dict[str, Path],
                 linux_git: Path | None, seeds: Path | None) -> None:
        self.store = store
        self.steps = steps
        self.archives = archives
        self.linux_git = linux_git
        self.seeds = seeds
        self.how: dict[str, str] = {}
        store.mkdir(parents=True, exist_ok=True)

    def get(self, blob: str, depth: int = 0) -> bytes:
        """The bytes of `blob`, verified against its id; RebuildError if none can be had."""
        if blob == EMPTY_BLOB:
            return b""
        cached = sorted(self.store.glob(f"{blob}*"))
        if len(cached) == 1:
            return self._verified(blob, cached[0].read_bytes(), "store")
        for name, reader in (("seed", self._from_seed), ("linux-git", self._from_git)):
            data = reader(blob)
            if data is not None:
                return self._keep(blob, data, name)
        if blob in self.steps and depth < 500:
            return self._keep(blob, self._derive(self.steps[blob], depth), "archive")
        raise RebuildError(f"blob {blob}: not in the store, the seeds or the kernel tree, "
                           f"and no archive step makes it")

    def _verified(self, blob: str, data: bytes, where: str) -> bytes:
        got = git_hash(data)
        if not got.startswith(blob):
            raise RebuildError(f"blob {blob} from {where} hashes to {got}")
        return data

    def _keep(self, blob: str, data: bytes, where: str) -> bytes:
        self._verified(blob, data, where)
        (self.store / git_hash(data)).write_bytes(data)
        self.how[blob] = where
        return data

    def _from_seed(self, blob: str) -> bytes | None:
        if self.seeds is None or not self.seeds.is_dir():
            return None
        found = sorted(self.seeds.glob(f"{blob}*"))  # abbreviated ids, as in a diff's index line
        return found[0].read_bytes() if len(found) == 1 else None

    def _from_git(self, blob: str) -> bytes | None:
        if self.linux_git is None:
            return None
        done = subprocess.run(["git", "-C", str(self.linux_git), "cat-file", "blob", blob],
                              capture_output=True, check=False)
        return done.stdout if done.returncode == 0 else None

    def _derive(self, step: Step, depth: int) -> bytes:
        if step.archive not in self.archives:
            raise RebuildError(f"blob {step.new} needs archive {step.archive!r}: pass "
                               f"--archive {step.archive}=DIR")
        old = self.get(step.old, depth + 1)
        diff = email_file_diff(self.archives[step.archive], step.email, step.path)
        return apply_diff(old, diff, step.path, step.reverse)


def email_file_diff(archive: Path, email: str, path: str) -> str:
    """The part of the diff in archive email `email` that touches `path`."""
    raw = subprocess.run(["git", "-C", str(archive), "show", f"{email}:m"], capture_output=True,
                         check=True).stdout
    return file_diff(email_body(raw), path)


def email_body(raw: bytes) -> str:
    """The decoded text of an email (quoted-printable and base64 undone; first text part)."""
    message = email.message_from_bytes(raw)
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")


def file_diff(text: str, path: str) -> str:
    """Cut the `diff --git` section for `path` out of an email body."""
    headers = list(DIFF_HEADER.finditer(text))
    for index, header in enumerate(headers):
        if path not in (header.group(1), header.group(2)):
            continue
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        section = text[header.start():end]
        cut = re.search(r"^-- \n", section, re.MULTILINE)  # the signature after the last hunk
        return section[:cut.start()] if cut else section
    raise RebuildError(f"no diff of {path} in that email")


def apply_diff(old: bytes, diff: str, path: str, reverse: bool) -> bytes:
    """`git apply` the diff of `path` to `old` in a scratch directory."""
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        creating = re.search(r"^new file mode", diff, re.MULTILINE) is not None
        if not (creating and not reverse):
            target.write_bytes(old)
        patch = Path(scratch) / "step.diff"
        patch.write_bytes(diff.encode("utf-8", "surrogateescape"))
        done = subprocess.run(["git", "apply", *(["-R"] if reverse else []), "step.diff"],
                              cwd=scratch, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RebuildError(f"git apply of {path} failed: {done.stderr.strip()}")
        return target.read_bytes() if target.exists() else b""


# ---------------------------------------------------------------------------------------------
# build


def parse_archives(values: list[str], data: dict[str, object]) -> dict[str, Path]:
    """`--archive NAME=DIR` or a bare DIR matched to the manifest's archives by repository."""
    entries: list[dict[str, str]] = data.get("archive", [])  # type: ignore[assignment]
    known = {a["name"]: a for a in entries}
    archives: dict[str, Path] = {}
    for value in values:
        if "=" in value:
            name, _, where = value.partition("=")
            archives[name] = Path(where)
            continue
        for name, entry in known.items():
            if entry["repo"].replace("/", "+") in value:
                archives[name] = Path(value)
    return archives


def sources(args: argparse.Namespace, out: Path) -> tuple[list[Pair], BlobSource, dict]:
    """The manifest and a BlobSource from the command line's sources."""
    pairs, steps, data = load_manifest()
    archives = parse_archives(args.archive or [], data)
    blobs = BlobSource(out / "blobs", steps, archives, args.linux_git, args.seeds)
    return pairs, blobs, data


def build(args: argparse.Namespace) -> int:
    """Write every pair's before/after files under --out; report the pairs that failed."""
    out = corpus_dir(args.out)
    pairs, blobs, _ = sources(args, out)
    failed = 0
    for pair in pairs:
        if args.only and pair.id not in args.only:
            continue
        try:
            for path, before, after in pair.files:
                for side, blob in (("before", before), ("after", after)):
                    target = out / pair.id / side / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(blobs.get(blob))
            print(f"ok    {pair.id}")
        except (RebuildError, subprocess.CalledProcessError) as error:
            failed += 1
            print(f"FAIL  {pair.id}: {error}")
    print(f"{len(pairs) - failed} of {len(pairs)} pairs rebuilt into {out}")
    return 1 if failed else 0


def corpus_dir(value: str | None) -> Path:
    """--out/--corpus, else $EQUIV_KERNEL_CORPUS."""
    where = value or os.environ.get("EQUIV_KERNEL_CORPUS")
    if not where:
        sys.exit("rebuild.py: give --out/--corpus or set EQUIV_KERNEL_CORPUS")
    return Path(where).resolve()


# ---------------------------------------------------------------------------------------------
# run


@dataclass(frozen=True)
class Outcome:
    """What `equiv check` did on one pair."""

    id: str
    expect: str
    got: str
    exit: int
    first_error: str
    seconds: float

    @property
    def agrees(self) -> bool:
        """The verdict got is the one expected."""
        return self.got == self.expect

    @property
    def wrong_equivalent(self) -> bool:
        """equiv said EQUIVALENT where the change is known to alter behaviour."""
        return self.got == "equivalent" and self.expect == "not-equivalent"


def run_pair(pair: Pair, corpus: Path, timeout: float) -> Outcome:
    """Run the pair's command from its directory, as a developer would type it."""
    start = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    try:
        done = subprocess.run([sys.executable, "-m", "equiv", *pair.args], cwd=corpus / pair.id,
                              capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, text = -1, "timeout"
    seconds = time.monotonic() - start
    got = VERDICT_BY_EXIT.get(code, "timeout" if code == -1 else f"exit {code}")
    return Outcome(pair.id, pair.expect, got, code, first_error(text), seconds)


def first_error(text: str) -> str:
    """The first `error:` line (or traceback's last line) of equiv's output."""
    for line in text.splitlines():
        if ": error:" in line or line.startswith("error:"):
            return line.strip()
    if "Traceback" in text:
        return "TRACEBACK: " + text.strip().splitlines()[-1]
    return ""


def run(args: argparse.Namespace) -> int:
    """Check every pair and print the table; exit 1 if any EQUIVALENT is wrong."""
    corpus = corpus_dir(args.corpus)
    pairs, _, _ = load_manifest()
    outcomes = [run_pair(p, corpus, args.timeout) for p in pairs
                if not args.only or p.id in args.only]
    print_table(outcomes)
    if args.json:
        Path(args.json).write_text(json.dumps([o.__dict__ for o in outcomes], indent=1) + "\n")
    return 1 if any(o.wrong_equivalent for o in outcomes) else 0


def print_table(outcomes: list[Outcome]) -> None:
    """One row per pair, then the agreement count."""
    print(f"{'pair':44} {'expected':15} {'got':15} {'exit':>4} {'time':>6}  first error")
    for o in outcomes:
        mark = "" if o.agrees else ("  WRONG-EQUIVALENT" if o.wrong_equivalent else "")
        print(f"{o.id:44} {o.expect:15} {o.got:15} {o.exit:>4} {o.seconds:6.1f}  "
              f"{o.first_error[:150]}{mark}")
    agree = sum(o.agrees for o in outcomes)
    print(f"agreement: {agree} of {len(outcomes)}; wrong EQUIVALENT: "
          f"{sum(o.wrong_equivalent for o in outcomes)}")


# ---------------------------------------------------------------------------------------------
# the arm64 tree for `equiv patch` on the seed series


def arm64_tree(args: argparse.Namespace) -> int:
    """Write a git repository holding the manifest's [tree] files, committed; try the patch."""
    out = Path(args.out).resolve()
    _, blobs, data = sources(args, out / ".equiv-blobs")
    tree = data["tree"]  # type: ignore[index]
    missing = []
    for entry in tree["file"]:  # type: ignore[index]
        try:
            text = blobs.get(entry["blob"])
        except RebuildError as error:
            missing.append(f"{entry['path']} {entry['blob']}: {error}")
            continue
        target = out / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text)
    if missing:
        print("cannot write the arm64 tree; these files are not available from the given "
              "sources:\n  " + "\n  ".join(missing))
        print(str(tree["how"]))
        return 2
    (out / ".gitignore").write_text(".equiv-blobs/\n")
    git = ["git", "-C", str(out), "-c", "user.name=corpus", "-c", "user.email=corpus@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", str(tree["message"])], check=True)
    print(f"arm64 tree written to {out}: {tree['message']}")
    if args.patch:
        done = subprocess.run([*git, "apply", "--check", "-v", str(Path(args.patch).resolve())],
                              capture_output=True, text=True, check=False)
        print(f"git apply --check {args.patch}: exit {done.returncode}")
        print((done.stdout + done.stderr).strip())
    return 0


# ---------------------------------------------------------------------------------------------
# scan (for manifest authors)


def scan(args: argparse.Namespace) -> int:
    """List every email in an archive whose diff touches one of --path, with its index line."""
    archive = Path(args.archive[0])
    commits = subprocess.run(["git", "-C", str(archive), "log", "--format=%H"],
                             capture_output=True, text=True, check=True).stdout.split()
    wanted = set(args.path)
    for commit in reversed(commits):
        text = subprocess.run(["git", "-C", str(archive), "show", f"{commit}:m"],
                              capture_output=True, check=False).stdout.decode("utf-8", "replace")
        subject = re.search(r"^Subject: (.*(?:\n[ \t].*)*)", text, re.MULTILINE)
        title = " ".join(subject.group(1).split()) if subject else "?"
        for header in DIFF_HEADER.finditer(text):
            if header.group(2) not in wanted:
                continue
            index = re.compile(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)", re.MULTILINE).search(text,
                                                                                   header.end())
            if index:
                print(commit, header.group(2), index.group(1), index.group(2), title, sep="\t")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: build, run, arm64-tree, scan."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("build", "arm64-tree", "scan"):
        one = sub.add_parser(name)
        one.add_argument("--out")
        one.add_argument("--linux-git", type=Path)
        one.add_argument("--archive", action="append", help="NAME=DIR or a fetched archive DIR")
        one.add_argument("--seeds", type=Path)
        one.add_argument("--only", action="append")
        one.add_argument("--patch", help="arm64-tree: check whether this patch applies")
        one.add_argument("--path", action="append", default=[])
    checker = sub.add_parser("run")
    checker.add_argument("--corpus")
    checker.add_argument("--only", action="append")
    checker.add_argument("--timeout", type=float, default=300.0)
    checker.add_argument("--json")
    args = parser.parse_args(argv)
    return {"build": build, "run": run, "arm64-tree": arm64_tree, "scan": scan}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
