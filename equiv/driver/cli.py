"""The `equiv` command line.

Exit codes (the diff/cmp convention): 0 equivalent, 1 not equivalent,
2 trouble (usage, unreadable input, parse error, unsupported construct,
internal error, an include outside the allowed roots, a preprocessor limit),
3 unknown (solver timeout, loop bound reached, --max-time or --max-memory).
z3 and pycparser are imported only when a check runs.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import threading
from typing import Callable

from equiv import __version__
from equiv.driver.options import (
    add_limit_options,
    limit_options,
    parse_pins,
    range_error,
)

TROUBLE = 2
UNKNOWN = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="equiv",
        description="Prove that two versions of kernel exit-path C code behave the same "
                    "for every thread-flag word, or show a flag word where they differ.")
    parser.add_argument("--version", action="version", version=f"equiv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="compare two C files",
                           description="Compare BEFORE and AFTER. Exit status: 0 equivalent, "
                                       "1 not equivalent, 2 trouble, 3 unknown.")
    check.add_argument("before", help="the code before the change: a C file, several "
                                      "joined with '+' (syscall.h+ptrace.c), or a directory")
    check.add_argument("after", help="the code after the change, in the same forms")
    check.add_argument("-f", "--function", action="append", default=[], metavar="NAME",
                       help="check this function (repeatable); default: every function "
                            "that no other function in its file calls")
    check.add_argument("--unwind", type=int, default=8, metavar="N",
                       help="unroll loops up to N iterations (default 8); a loop that can "
                            "run longer makes the verdict UNKNOWN")
    check.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                       help="give up a solver query after this long: UNKNOWN (default 30; "
                            "any positive number, capped at z3's limit of about 49 days)")
    check.add_argument("--flags-param", action="append", default=[], metavar="NAME",
                       help="a parameter of the checked function that holds the flag word, "
                            "besides flags, ti_work and work (repeatable)")
    check.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR",
                       help="search DIR for #include files")
    check.add_argument("--model", action="append", default=[], metavar="NAME",
                       help="use the C model of a kernel function (repeatable): audit, rseq, "
                            "tracepoint, ptrace, syscall, or one from --model-dir")
    check.add_argument("--models", choices=["all"], help="use every model")
    check.add_argument("--model-dir", action="append", default=[], metavar="DIR",
                       help="also look for models (*.c) in DIR; they win over shipped ones")
    check.add_argument("--assume", action="append", default=[], metavar="EXPR",
                       help="assume a C expression over `flags` and configs (repeatable)")
    check.add_argument("--arch", metavar="NAME",
                       help="use an architecture's thread-flag layout (arm64, x86_64) for "
                            "TIF_* names the fragments do not define")
    check.add_argument("--tree", metavar="LINUX",
                       help="a kernel tree: includes resolve as the kernel build resolves them "
                            "for --arch (arch/ARCH/include, include, their uapi), and the flag "
                            "layout is the tree's own thread_info.h")
    check.add_argument("--no-stubs", action="store_true",
                       help="an #include that no directory provides is an error (by default it "
                            "is read as an empty stub, listed under 'in force:')")
    check.add_argument("--verdict-only", action="store_true",
                       help="print the verdict and the counterexample only: no per-bit rows, no "
                            "'differs iff', no search for the premises a proof needs (faster)")
    check.add_argument("-D", dest="pins", action="append", default=[], metavar="CONFIG_X=y|n",
                       help="pin a config switch (unpinned switches are free)")
    check.add_argument("--racy-flags", action="store_true",
                       help="each read of the flag word may see bits others changed since the "
                            "previous read (the same changes on both sides)")
    check.add_argument("--stable-flags", action="store_true",
                       help="external calls never change the flag word (by default a call "
                            "may, and a later read sees the word it leaves behind)")
    check.add_argument("--flag-map", metavar="FILE",
                       help="the after side's flag parameter is another word: FILE maps its "
                            "bits ('TIF_X = SYSCALL_WORK_BIT_Y' per line)")
    check.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                       help="check independent functions in N worker processes "
                            "(default: the number of cores, at least 1; output does not depend "
                            "on it)")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.add_argument("-v", "--verbose", action="store_true",
                       help="also list, on stderr, the file-scope declarations left out "
                            "because they cannot be read and no checked function reaches them")
    add_limit_options(check)
    _register_patch(sub)
    sub.add_parser("serve", help="answer JSON requests on standard input, each run in a "
                                 "forked child (see README, Serve mode)",
                   description="A long-lived equiv: one JSON request per line on standard "
                               "input, one JSON answer per line on standard output.")
    return parser


def _register_patch(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """`equiv patch` lives in equiv.patch (imported lazily when it runs)."""
    try:
        from equiv.patch import cli as patch_cli
    except ImportError:
        return
    patch_cli.register(sub)


def run(args: argparse.Namespace) -> int:
    from equiv.driver.budget import BudgetExceeded
    from equiv.driver.check import CheckOptions, run_check
    from equiv.errors import InputError, with_hint
    from equiv.frontend.models import layouts_with
    from equiv.report.render import render_json, render_text
    from equiv.semantics.trace import FLAG_PARAMS

    problem = range_error(args)
    if problem is not None:
        print(f"equiv: error: {problem}", file=sys.stderr)
        return TROUBLE
    try:
        _refuse_patch_files([args.before, args.after])
        options = CheckOptions(
            functions=tuple(args.function), unwind=args.unwind, timeout=args.timeout,
            flag_params=FLAG_PARAMS + tuple(args.flags_param),
            include_dirs=tuple(args.include_dirs), models=tuple(args.model),
            all_models=args.models == "all", model_dirs=tuple(args.model_dir),
            assumptions=tuple(args.assume), arch=args.arch, pins=parse_pins(args.pins),
            racy_flags=args.racy_flags, stable_flags=args.stable_flags, flag_map=args.flag_map,
            jobs=args.jobs, no_stubs=args.no_stubs, tree=args.tree,
            explain=not args.verdict_only,
            **limit_options(args))  # type: ignore[arg-type]
        result = run_check(split_side(args.before), split_side(args.after), options)
    except InputError as err:
        print(with_hint(err, layouts_with).render(), file=sys.stderr)
        return TROUBLE
    except BudgetExceeded as hit:
        print(f"equiv: unknown: {hit.reason}", file=sys.stderr)
        return UNKNOWN
    from equiv.report.results import Verdict

    for fn in result.functions:  # a function's own error: its located line, as for any error
        if fn.verdict is Verdict.ERROR and fn.reason:
            print(fn.reason, file=sys.stderr)
    if args.verbose:
        for line in result.skipped:
            print(line, file=sys.stderr)
    sys.stdout.write(render_json(result) if args.json else render_text(result))
    return int(result.exit_code)


_PATCH_TEXT = re.compile(r"^(diff --git |Subject: |From [0-9a-f]{40} |--- a/|Index: )",
                         re.MULTILINE)


def _refuse_patch_files(sides: list[str]) -> None:
    """A patch or mail given to `equiv check` is an error that names `equiv patch`."""
    import os
    import stat

    from equiv.errors import InputError

    for side in sides:
        for part in side.split("+"):
            try:
                if not stat.S_ISREG(os.stat(part).st_mode):
                    continue  # a FIFO or device is never opened here: the check refuses it
                with open(part, "rb") as handle:
                    head = handle.read(8192).decode("utf-8", errors="replace")
            except OSError:
                continue  # a directory, or unreadable: reported by the check itself
            if _PATCH_TEXT.search(head) and re.search(r"^(\+\+\+ b/|@@ )", head, re.MULTILINE):
                raise InputError(None, f"{part}: this is a patch or mail, not C source; to "
                                       f"check what a patch changes, use "
                                       f"`equiv patch {part} --tree DIR`")


def split_side(arg: str) -> list[str]:
    """A side: one file, files joined with '+', or a directory."""
    from equiv.driver.check import side_paths

    return [p for part in arg.split("+") if part for p in side_paths(part)]


def _guarded(args: argparse.Namespace, outcome: list[int],
             command: "Callable[[argparse.Namespace], int]") -> None:
    try:
        outcome.append(command(args))
    except RecursionError:
        print("equiv: error: input nested too deeply to analyse", file=sys.stderr)
        outcome.append(TROUBLE)
    except KeyboardInterrupt:
        outcome.append(130)
    except Exception as exc:  # never a traceback: say what happened, exit 2
        print(f"equiv: internal error: {type(exc).__name__}: {exc} (please report)",
              file=sys.stderr)
        outcome.append(TROUBLE)


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser, built once per process: `equiv batch` runs `main` for each line, and
    building it took 4 ms (parsing leaves it as it was)."""
    return build_parser()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return TROUBLE
    if args.command == "serve":  # forks per request: it must run on this, the only thread
        from equiv.driver import serve

        return serve.main([])
    runner = getattr(args, "run", None)  # subcommands other than check bring their own
    # Deeply nested input recurses deeply: run with a large stack.
    sys.setrecursionlimit(100_000)
    threading.stack_size(512 * 1024 * 1024)
    outcome: list[int] = []
    worker = threading.Thread(target=_guarded, args=(args, outcome, runner or run))
    worker.start()
    worker.join()
    return outcome[0] if outcome else TROUBLE
