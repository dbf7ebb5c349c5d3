"""`equiv patch`: the command line of the patch gate.

Exit status: 0 the gate passes, 1 it fails (a refuted no-functional-change
claim; with --strict, any difference the baseline does not record), 2 trouble
(a patch does not apply, unreadable input), 3 unknown (an undecided check of
a patch that claims no change).
"""

from __future__ import annotations

import argparse
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
                   help="record every difference found in the baseline, then pass")
    p.add_argument("--witness", metavar="DIR",
                   help="write a standalone C program per difference into DIR")
    p.add_argument("--confirm", action="store_true",
                   help="build and run each witness with gcc; a difference that does not "
                        "reproduce is reported as an equiv bug")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="use the C model of a kernel function (repeatable)")
    p.add_argument("--models", choices=["all"], help="use every model")
    p.add_argument("--arch", metavar="NAME", help="thread-flag layout for undefined TIF_* names")
    p.add_argument("-D", dest="pins", action="append", default=[], metavar="CONFIG_X=y|n")
    p.add_argument("--unwind", type=int, default=8, metavar="N")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    p.set_defaults(run=run)


def _default_tree() -> str:
    from equiv.patch_series import git

    return str(git(".", "rev-parse", "--show-toplevel")).strip()


def run(args: argparse.Namespace) -> int:
    from equiv.check import CheckOptions
    from equiv.cli import parse_pins
    from equiv.errors import InputError
    from equiv.patch_gate import (BASELINE_NAME, GateOptions, check_series, exit_status,
                                  load_baseline, write_baseline)
    from equiv.patch_report import render
    from equiv.patch_series import Scratch, git_range, read_patches

    if bool(args.patches) == bool(args.git):
        print("equiv patch: error: give patch files or --git A..B (not both)", file=sys.stderr)
        return TROUBLE
    try:
        tree = args.tree or _default_tree()
        options = GateOptions(
            CheckOptions(unwind=args.unwind, timeout=args.timeout, models=tuple(args.model),
                         all_models=args.models == "all", arch=args.arch,
                         pins=parse_pins(args.pins)),
            strict=args.strict, witness_dir=args.witness, confirm=args.confirm)
        baseline_path = Path(args.baseline) if args.baseline else Path(tree) / BASELINE_NAME
        baseline = [] if args.update_baseline else load_baseline(baseline_path)
        old = load_baseline(baseline_path) if args.update_baseline else []
        scope = tuple(args.scope)
        with tempfile.TemporaryDirectory(prefix="equiv-tree-") as tmp:
            if args.git:
                base, patches = git_range(tree, args.git)
                scratch = Scratch.from_commit(tree, base, Path(tmp) / "tree", scope)
            else:
                patches = read_patches(args.patches)
                scratch = Scratch.from_directory(tree, Path(tmp) / "tree", scope)
            reports = check_series(patches, scratch, options, baseline)
    except InputError as err:
        print(err.render(), file=sys.stderr)
        return TROUBLE
    if args.format == "email":
        from equiv.patch_report import probe_premises, render_email

        text = render_email(reports, options, probe_premises(reports, options))
    else:
        text = render(reports, args.format)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    status = exit_status(reports)
    if args.update_baseline:
        count = write_baseline(baseline_path, reports, old)
        print(f"equiv patch: {baseline_path}: {count} accepted differences", file=sys.stderr)
        return TROUBLE if status == TROUBLE else 0
    return status
