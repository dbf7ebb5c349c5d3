"""`equiv patch` input: patch files, an mbox series, or a git commit range.

Turns each input into `Patch` values in series order, and applies them one by
one to a scratch copy of the tree (never the user's tree).  Nothing here looks
at C: it only knows mail messages, unified diffs and `git apply`.
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from equiv.errors import InputError
from equiv.frontend import confine

GIT_TIMEOUT = 120
_SUBJECT_TAG = re.compile(r"^\s*(\[[^\]]*\]\s*)+")
_DIFF_FILE = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)
_MBOX_FROM = re.compile(r"^From [^\n]*\d{4}\n", re.M)
# "No functional change(s) (intended)", "NFC", "no functional change", any case.
_NFC_CLAIM = re.compile(r"\bno\s+functional\s+changes?\b|\bNFC\b", re.I)


@dataclass(frozen=True)
class Patch:
    """One patch of a series, as mailed or committed."""

    index: int  # 1-based position in the series
    subject: str  # without the [PATCH ...] tags
    message: str  # the commit message body (above the `---` line)
    diff: str  # the unified diff, as `git apply` takes it
    source: str  # where it came from: file name, mbox#N, or a commit id
    patch_id: str = ""  # `git patch-id --stable` of the diff: the same across rebases
    tags: str = ""  # the subject's tags as mailed, `[PATCH v16 11/18]` (for replies)

    @property
    def files(self) -> tuple[tuple[str, str], ...]:
        """(old path, new path) of every file the diff touches."""
        return tuple((m.group(1), m.group(2)) for m in _DIFF_FILE.finditer(self.diff))

    @property
    def claims_no_change(self) -> bool:
        """The message says the patch changes no behaviour."""
        return bool(_NFC_CLAIM.search(self.subject + "\n" + self.message))


def strip_tags(subject: str) -> str:
    """`[PATCH v16 11/18] arm64: x` -> `arm64: x` (tags change between versions)."""
    return _SUBJECT_TAG.sub("", " ".join(subject.split())).strip()


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(None, f"cannot read {path}: {exc.strerror or exc}") from None


def _split_mbox(text: str) -> list[str]:
    starts = [m.start() for m in _MBOX_FROM.finditer(text)]
    if not starts or starts[0] != 0:
        starts = [0] + starts
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)]) if text[a:b].strip()]


def parse_message(text: str, source: str, index: int) -> Patch:
    """One mail (or bare diff) as a Patch; an input with no diff is an error."""
    msg = email.message_from_string(text, policy=email.policy.compat32)
    raw = " ".join(str(msg.get("Subject", "") or "").split())
    subject = strip_tags(raw)
    tagged = _SUBJECT_TAG.match(raw)
    tags = " ".join(tagged.group(0).split()) if tagged else ""
    body = msg.get_payload(decode=False) if msg.keys() else text
    if not isinstance(body, str):
        raise InputError(None, f"{source}: multipart mail is not supported; "
                               f"use git format-patch output")
    start = 0 if body.startswith("diff --git ") else body.find("\ndiff --git ") + 1
    if start == 0 and not body.startswith("diff --git "):
        raise InputError(None, f"{source}: no 'diff --git' in this patch (use git format-patch "
                               f"or git diff output)")
    head, diff = body[:start], body[start:]
    message = head.split("\n---\n", 1)[0].strip() if "\n---\n" in head else head.strip()
    diff = re.sub(r"\n-- \n[^\n]*\n*\Z", "\n", diff)  # the format-patch signature
    if not subject:
        # A list archive's page (pipermail) carries the subject as its first line.
        first = " ".join((message.splitlines()[0] if message else Path(source).name).split())
        subject = strip_tags(first) or first
        tagged = _SUBJECT_TAG.match(first)
        tags = tags or (" ".join(tagged.group(0).split()) if tagged else "")
    return Patch(index, subject, message, diff, source, patch_id(diff), tags)


def patch_id(diff: str) -> str:
    """`git patch-id --stable` of a diff ("" when git cannot compute one)."""
    try:
        done = subprocess.run(["git", "patch-id", "--stable"], input=diff.encode(),
                              capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    out = done.stdout.decode(errors="replace").split()
    return out[0] if done.returncode == 0 and out else ""


def read_patches(inputs: list[str]) -> list[Patch]:
    """Patch files and mboxes, in the order given (an mbox in its own order)."""
    patches: list[Patch] = []
    for path in inputs:
        mails = _split_mbox(_read(path))
        if not mails:
            raise InputError(None, f"{path}: empty patch file")
        for k, mail in enumerate(mails, start=1):
            source = path if len(mails) == 1 else f"{path}#{k}"
            patches.append(parse_message(mail, source, len(patches) + 1))
    return patches


def git(tree: str, *args: str, binary: bool = False) -> "str | bytes":
    """Run git in `tree`; failure is an InputError naming the command."""
    try:
        done = subprocess.run(["git", "-C", tree, *args], capture_output=True,
                              timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(None, f"git {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        raise InputError(None, f"git {' '.join(args)}: "
                               f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout if binary else done.stdout.decode(errors="replace")


def git_range(tree: str, spec: str) -> tuple[str, list[Patch]]:
    """`A..B`: the base commit and the commits of the range as patches, oldest first."""
    if ".." not in spec:
        raise InputError(None, f"--git {spec}: expected a range A..B")
    base = spec.split("..", 1)[0] or "HEAD"
    base_id = str(git(tree, "rev-parse", "--verify", f"{base}^{{commit}}")).strip()
    commits = str(git(tree, "rev-list", "--reverse", "--no-merges", spec)).split()
    patches = []
    for k, commit in enumerate(commits, start=1):
        text = str(git(tree, "format-patch", "-1", "--stdout", "--binary", "--no-signature",
                       "--no-numbered", commit))
        patch = parse_message(text, commit[:12], k)
        patches.append(patch)
    return base_id, patches


class Scratch:
    """A private copy of the tree that the series is applied to, patch by patch."""

    def __init__(self, root: Path, scope: tuple[str, ...] = ()):
        self.root = root
        self.scope = scope  # directories whose .c/.h files are searched (all when empty)
        self._texts: dict[str, str] | None = None
        self.max_file_size = confine.DEFAULT_MAX_FILE_SIZE  # bytes, for every file read

    def c_texts(self) -> dict[str, str]:
        """Every .c/.h file in scope, by relative path (cached until a patch applies)."""
        if self._texts is None:
            self._texts = {}
            for top in [self.root / d for d in self.scope] or [self.root]:
                for p in sorted(top.rglob("*")):
                    if p.suffix in (".c", ".h") and p.is_file():
                        rel = p.relative_to(self.root).as_posix()
                        self._texts[rel] = self.read(rel) or ""
        return self._texts

    @classmethod
    def from_directory(cls, tree: str, dest: Path, scope: tuple[str, ...] = ()) -> "Scratch":
        if not Path(tree).is_dir():
            raise InputError(None, f"--tree {tree}: not a directory")
        shutil.copytree(tree, dest, symlinks=True,
                        ignore=shutil.ignore_patterns(".git"))
        return cls(dest, scope)

    @classmethod
    def from_commit(cls, tree: str, commit: str, dest: Path,
                    scope: tuple[str, ...] = ()) -> "Scratch":
        data = git(tree, "archive", "--format=tar", commit, binary=True)
        assert isinstance(data, bytes)
        dest.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
        return cls(dest, scope)

    def read(self, path: str) -> str | None:
        """A file's text, None when it does not exist.

        A patch decides what the tree holds: a symlink out of the tree, a file
        that is not regular, or one over the size limit is an InputError and is
        never read (equiv.frontend.confine).
        """
        full = self.root / path
        if not os.path.lexists(full):
            return None
        root = os.path.realpath(self.root)
        if not os.path.realpath(full).startswith(root + os.sep):
            raise InputError(None, f"{path}: a symlink out of the tree; equiv does not read it")
        try:
            data = confine.read_bytes(str(full), self.max_file_size)
            return data.decode("utf-8", errors="replace")
        except InputError as err:
            raise InputError(None, err.message.replace(str(full), path)) from None

    def apply(self, patch: Patch) -> str | None:
        """Apply `patch`; None on success, else git's reason."""
        try:
            # The ceiling keeps git from finding an enclosing repository.
            env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(self.root.parent)}
            done = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"],
                                  cwd=self.root, input=patch.diff.encode(), env=env,
                                  capture_output=True, timeout=GIT_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if done.returncode == 0:
            if self._texts is not None:
                for pair in patch.files:
                    for path in pair:
                        self._texts.pop(path, None)
                        text = self.read(path)
                        if text is not None and path.endswith((".c", ".h")):
                            self._texts[path] = text
            return None
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return "; ".join(lines[:3]) or f"git apply exited {done.returncode}"
