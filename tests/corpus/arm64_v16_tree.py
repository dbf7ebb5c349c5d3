"""Write the arm64 tree that "[PATCH v16 11/18] arm64: ptrace: Align syscall exit work
semantics with generic entry" applies to, from real kernel files given on the command line.

The exact blobs the patch expects (the files after v16 01-10, `index` lines of the
email: ptrace.c 9ebe3389451c, syscall.h 72461c22bb5e, thread_info.h 5d7fe3e153c8) are in
no archive we can reach.  This script starts from real files of an earlier posting of the
same arm64 generic-entry series and makes the two changes v16 01-10 made to the code the
patch touches, so that the patch applies to real surroundings:

- `syscall_exit_work()` in ptrace.c is no longer static and starts with
  `rseq_syscall(regs)`;
- `syscall_exit_to_user_mode_prepare()` moves out of ptrace.c; syscall.h declares
  `syscall_exit_work()` and defines the inline `syscall_exit_to_user_mode_work()`
  that reads the flags and calls it.

Everything else is the given files, unchanged.  No kernel text is kept in this
repository: the files come from SOURCES (for example the stored intel-lab-lkp/linux
versions: ptrace.c and syscall.h at 028f4acbf5857f763eaf6ca0ef88510447d0ce28,
thread_info.h at 1c34725bcd3d8c699d351b5c7a7f112553ced804).  SOURCES holds
`ptrace.c`, `syscall.h` and `thread_info.h`; a ptrace.c may be abridged (its regset
code left out) as long as its includes and its syscall section are whole.

    python tests/corpus/arm64_v16_tree.py --sources DIR --out TREE [--patch EMAIL]

exits 0 when the tree is written (and, with --patch, the patch applies), 2 otherwise.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

FILES = {
    "ptrace.c": "arch/arm64/kernel/ptrace.c",
    "syscall.h": "arch/arm64/include/asm/syscall.h",
    "thread_info.h": "arch/arm64/include/asm/thread_info.h",
}
_EXIT_WORK = re.compile(r"^static void syscall_exit_work\(struct pt_regs \*regs, "
                        r"unsigned long flags\)\n\{\n", re.MULTILINE)
_PREPARE_DEF = re.compile(r"^void syscall_exit_to_user_mode_prepare\(struct pt_regs \*regs\)\n"
                          r"\{\n.*?^\}\n\n", re.MULTILINE | re.DOTALL)
_PREPARE_DECL = "void syscall_exit_to_user_mode_prepare(struct pt_regs *regs);\n"
_WORK_INLINE = ("void syscall_exit_work(struct pt_regs *regs, unsigned long flags);\n\n"
                "static __always_inline void syscall_exit_to_user_mode_work"
                "(struct pt_regs *regs)\n{\n\tunsigned long flags = read_thread_flags();\n\n"
                "\tsyscall_exit_work(regs, flags);\n}\n")


class BridgeError(Exception):
    """The given files do not have the shape the bridge expects."""


def bridge_ptrace(text: str) -> str:
    """ptrace.c as v16 01-10 leave it (see the module docstring)."""
    if not _EXIT_WORK.search(text) or not _PREPARE_DEF.search(text):
        raise BridgeError("ptrace.c: no static syscall_exit_work() followed by "
                          "syscall_exit_to_user_mode_prepare()")
    text = _EXIT_WORK.sub("void syscall_exit_work(struct pt_regs *regs, unsigned long flags)\n"
                          "{\n\trseq_syscall(regs);\n\n", text, count=1)
    return _PREPARE_DEF.sub("", text, count=1)


def bridge_syscall_h(text: str) -> str:
    if _PREPARE_DECL not in text:
        raise BridgeError("syscall.h: no syscall_exit_to_user_mode_prepare() declaration")
    return text.replace(_PREPARE_DECL, _WORK_INLINE, 1)


def write_tree(sources: Path, out: Path) -> None:
    """The three files, bridged, under `out`, committed in a new git repository."""
    bridges = {"ptrace.c": bridge_ptrace, "syscall.h": bridge_syscall_h,
               "thread_info.h": lambda text: text}
    for name, rel in FILES.items():
        source = sources / name
        if not source.is_file():
            raise BridgeError(f"{source}: missing")
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(bridges[name](source.read_text()))
    git = ["git", "-C", str(out), "-c", "user.name=equiv", "-c", "user.email=equiv@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "arm64 files as v16 11/18 expects them"],
                   check=True)


def applies(out: Path, patch: Path) -> tuple[bool, str]:
    """Whether `git apply --check` accepts the patch on the tree, and what git said."""
    done = subprocess.run(["git", "-C", str(out), "apply", "--check", str(patch.resolve())],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--patch", type=Path)
    args = parser.parse_args(argv)
    try:
        write_tree(args.sources, args.out)
    except BridgeError as error:
        print(f"arm64_v16_tree: {error}", file=sys.stderr)
        return 2
    if args.patch is not None:
        ok, said = applies(args.out, args.patch)
        print(f"git apply --check {args.patch}: {'applies' if ok else 'does not apply'}")
        if said:
            print(said)
        return 0 if ok else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
