"""`equiv patch`: the command line of the patch gate.

Exit status: 0 the gate passes, 1 it fails (a refuted no-functional-change
claim; with --strict, any difference the baseline does not record), 2 trouble
(usage, a patch does not apply, unreadable input, a baseline named with
--baseline that does not exist), 3 unknown (an undecided check of a patch
that claims no change, or with --strict).  With --update-baseline the
differences found are recorded first and the patches judged against the new
baseline, so the summary line and the exit status agree.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

TROUBLE = 2


def register(sub: Any) -> None:
    """Add the `patch` subcommand to equiv's subparsers."""
    p = sub.add_parser(
        "patch", help="check a patch series against its claims",
        description="Apply each patch to a scratch copy of the tree, check the C functions "
                    "and macros it touches, and gate on its claims. Exit status: 0 passes, "
                    "1 fails, 2 trouble, 3 unknown.")
    p.add_argument("patches", nargs="*", metavar="PATCH",
                   help="patch files or an mbox holding a series, in series order")
    p.add_argument("--git", metavar="A..B", help="check the commits of a range instead")
    p.add_argument("--tree", metavar="DIR", default=None,
                   help="the tree the patches apply to (default: the current git repository)")
    p.add_argument("--scope", action="append", default=[], metavar="DIR",
                   help="search only these directories of the tree (repeatable) for callers, "
                        "users and definitions; default: the whole tree")
    p.add_argument("--format", choices=["text", "json", "sarif", "junit", "email"], default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.add_argument("--strict", action="store_true",
                   help="fail on any behaviour change the baseline does not record")
    p.add_argument("--baseline", metavar="FILE",
                   help="accepted differences (default: TREE/.equiv-baseline)")
    p.add_argument("--update-baseline", action="store_true",
                   help="record every difference found in the baseline (never a refuted "
                        "claim of no functional change), then judge against it")
    p.add_argument("--witness", metavar="DIR",
                   help="write a standalone C program per difference into DIR")
    p.add_argument("--confirm", action="store_true",
                   help="build and run each witness with gcc (this EXECUTES code derived "
                        "from the patch, in a sandbox: see the README); a difference that "
                        "does not reproduce is reported as an equiv bug")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="use the C model of a kernel function (repeatable)")
    p.add_argument("--models", choices=["all"], help="use every model")
    p.add_argument("--model-dir", action="append", default=[], metavar="DIR",
                   help="also read models from DIR (*.c; a model there wins over a shipped "
                        "one of the same name)")
    p.add_argument("--arch", metavar="NAME", help="thread-flag layout for undefined TIF_* names")
    p.add_argument("--stable-flags", action="store_true",
                   help="premise: external calls never change the flag word")
    p.add_argument("-D", dest="pins", action="append", default=[], metavar="CONFIG_X=y|n")
    p.add_argument("--unwind", type=int, default=8, metavar="N",
                   help="unroll loops up to N iterations (default 8)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="give up a solver query after this long (default 30)")
    from equiv.driver.options import add_limit_options

    add_limit_options(p)
    p.set_defaults(run=run)


def _default_tree() -> str:
    from equiv.patch.series import git

    return str(git(".", "rev-parse", "--show-toplevel")).strip()


def usage_error(args: argparse.Namespace, tree: str) -> str | None:
    """What is wrong with the command line before anything runs, or None."""
    from equiv.driver.options import range_error

    problem = range_error(args)
    if problem is not None:
        return problem
    for scope in args.scope:
        if not (Path(tree) / scope).is_dir():
            return f"--scope {scope}: no such directory in the tree {tree}"
    for directory in args.model_dir:
        if not Path(directory).is_dir():
            return f"--model-dir {directory}: no such directory"
    if args.output:
        parent = Path(args.output).resolve().parent
        if not parent.is_dir():
            return f"-o {args.output}: directory {parent} does not exist"
        if Path(args.output).is_dir():
            return f"-o {args.output}: is a directory"
    if args.witness and Path(args.witness).exists() and not Path(args.witness).is_dir():
        return f"--witness {args.witness}: exists and is not a directory"
    if args.witness and not Path(args.witness).resolve().parent.is_dir():
        return f"--witness {args.witness}: directory {Path(args.witness).parent} does not exist"
    if args.baseline and not args.update_baseline and not Path(args.baseline).is_file():
        return (f"--baseline {args.baseline}: no such file (create it with "
                f"--update-baseline)")
    return None


def run(args: argparse.Namespace) -> int:
    from equiv.driver.check import CheckOptions
    from equiv.driver.options import limit_options, parse_pins
    from equiv.errors import InputError
    from equiv.patch.baseline import BASELINE_NAME, load_baseline
    from equiv.patch.gate import (
        GateOptions,
        check_series,
        exit_status,
        refused,
        rejudge,
        write_baseline,
    )
    from equiv.patch.report import render
    from equiv.patch.series import Scratch, git_range, read_patches

    if bool(args.patches) == bool(args.git):
        print("equiv patch: error: give patch files or --git A..B (not both)", file=sys.stderr)
        return TROUBLE
    try:
        tree = args.tree or _default_tree()
        problem = usage_error(args, tree)
        if problem is not None:
            print(f"equiv patch: error: {problem}", file=sys.stderr)
            return TROUBLE
        options = GateOptions(
            CheckOptions(unwind=args.unwind, timeout=args.timeout, models=tuple(args.model),
                         stable_flags=args.stable_flags,
                         all_models=args.models == "all", arch=args.arch,
                         model_dirs=tuple(os.path.abspath(d) for d in args.model_dir),
                         pins=parse_pins(args.pins),
                         **limit_options(args)),  # type: ignore[arg-type]
            strict=args.strict, witness_dir=args.witness, confirm=args.confirm)
        baseline_path = Path(args.baseline) if args.baseline else Path(tree) / BASELINE_NAME
        # The default baseline may be absent (nothing accepted yet); a named one may not.
        old = load_baseline(baseline_path, must_exist=bool(args.baseline)
                            and not args.update_baseline)
        baseline = [] if args.update_baseline else old
        scope = tuple(args.scope)
        with tempfile.TemporaryDirectory(prefix="equiv-tree-") as tmp:
            if args.git:
                base, patches = git_range(tree, args.git)
                if not patches:
                    print(f"equiv patch: error: --git {args.git}: the range has no commits "
                          f"(nothing to check; is it A..B with B after A?)", file=sys.stderr)
                    return TROUBLE
                scratch = Scratch.from_commit(tree, base, Path(tmp) / "tree", scope)
            else:
                patches = read_patches(args.patches)
                scratch = Scratch.from_directory(tree, Path(tmp) / "tree", scope)
            scratch.max_file_size = args.max_file_size
            reports = check_series(patches, scratch, options, baseline)
        note = None
        if args.update_baseline:
            count = write_baseline(baseline_path, reports, old)
            reports = rejudge(reports, load_baseline(baseline_path), args.strict)
            note = f"equiv patch: {baseline_path}: {count} accepted differences"
            for r in reports:
                if refused(r):
                    note += (f"\nequiv patch: not recorded: [{r.patch.index}] "
                             f"{r.patch.subject}: it claims no functional change, and the "
                             f"claim is refuted (fix the claim or the code)")
        if args.format == "email":
            from equiv.patch.report import probe_premises, render_email

            text = render_email(reports, options, probe_premises(reports, options))
        else:
            text = render(reports, args.format)
        if args.output:
            try:
                Path(args.output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise InputError(None, f"cannot write {args.output}: "
                                       f"{exc.strerror or exc}") from None
        else:
            sys.stdout.write(text)
    except InputError as err:
        print(err.render(), file=sys.stderr)
        return TROUBLE
    except OSError as exc:  # e.g. --witness DIR that cannot be written
        print(f"equiv patch: error: {exc.filename or ''}: {exc.strerror or exc}",
              file=sys.stderr)
        return TROUBLE
    if note is not None:
        print(note, file=sys.stderr)
    return exit_status(reports)
