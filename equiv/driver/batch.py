"""`python -m equiv.driver.batch FILE`: many `equiv check` runs in one process.

Each line of FILE (or of standard input for `-`) is the argument list of one
`equiv check`, split like a shell would (`before.c after.c --model audit`).
Blank lines and lines starting with `#` are skipped.  The pairs run one after
the other in this process, so the interpreter, z3 and pycparser start once:
for editors and scripts that check many pairs, the start-up floor is paid
once instead of per pair.

Output: for each line, `==> FILE:LINE: ARGS`, then exactly what `equiv check
ARGS` prints on stdout and stderr, then `<== exit K`.  The exit status is the
most severe of the runs': 2 if any run had trouble, else 1 if any differs,
else 3 if any is unknown, else 0.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from typing import TextIO

SEVERITY = (2, 1, 3, 0)  # most severe first (a difference outranks an unknown)


def run_lines(lines: Iterable[str], origin: str, out: TextIO) -> int:
    """Runs every pair; returns the combined exit status."""
    from equiv.driver.cli import main

    codes: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            argv = shlex.split(line)
        except ValueError as err:
            print(f"{origin}:{number}: error: {err}", file=out)
            codes.append(2)
            continue
        print(f"==> {origin}:{number}: {' '.join(argv)}", file=out, flush=True)
        try:
            code = main(["check", *argv])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"<== exit {code}", file=out, flush=True)
        codes.append(code)
    return combine(codes)


def combine(codes: list[int]) -> int:
    """The most severe exit status (unexpected codes count as trouble)."""
    for code in SEVERITY:
        if code in codes:
            return code
    return 2 if codes else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m equiv.driver.batch FILE|-   (one `equiv check` argument list per line)",
              file=sys.stderr)
        return 2
    if args[0] == "-":
        return run_lines(sys.stdin.read().splitlines(), "<stdin>", sys.stdout)
    try:
        with open(args[0], encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        print(f"equiv: error: {args[0]}: {err}", file=sys.stderr)
        return 2
    return run_lines(lines, args[0], sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
