"""Options that `equiv check` and `equiv patch` share: limits, ranges, -D pins.

Both command lines import from here, so neither imports the other.
"""

from __future__ import annotations

import argparse

MAX_UNWIND = 10_000
MAX_TIMEOUT = 4_294_967.0  # seconds: z3 takes a 32-bit count of milliseconds


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """--max-time, --max-memory and --max-file-size (equiv check and equiv patch)."""
    from equiv.driver.budget import DEFAULT_MAX_MEMORY, DEFAULT_MAX_TIME
    from equiv.frontend.confine import DEFAULT_MAX_FILE_SIZE

    parser.add_argument("--max-time", type=float, default=DEFAULT_MAX_TIME, metavar="SECONDS",
                        help="wall-clock budget for loading the sides, and again for each "
                             f"function: past it the verdict is UNKNOWN (default "
                             f"{DEFAULT_MAX_TIME:g})")
    parser.add_argument("--max-memory", type=int, default=DEFAULT_MAX_MEMORY, metavar="MIB",
                        help="resident memory limit per process: past it the verdict is "
                             f"UNKNOWN (default {DEFAULT_MAX_MEMORY}; 0 turns the guard off)")
    parser.add_argument("--max-file-size", type=int, default=DEFAULT_MAX_FILE_SIZE,
                        metavar="BYTES", help="largest file equiv reads, sides and includes "
                                              f"alike (default {DEFAULT_MAX_FILE_SIZE})")


def limit_options(args: argparse.Namespace) -> dict[str, object]:
    """The CheckOptions fields of the limit options; InputError when one is out of range."""
    from equiv.driver.budget import Budget
    from equiv.errors import InputError

    if not 0 < args.max_time < 1e6:
        raise InputError(None, "--max-time must be positive (seconds)")
    if args.max_memory < 0:
        raise InputError(None, "--max-memory must be a number of MiB (0: no guard)")
    if args.max_file_size <= 0:
        raise InputError(None, "--max-file-size must be a positive number of bytes")
    return {"budget": Budget(args.max_time, args.max_memory),
            "max_file_size": args.max_file_size}


def range_error(args: argparse.Namespace) -> str | None:
    """What is out of range among --unwind, --timeout and -j, or None.

    A --timeout above z3's limit (MAX_TIMEOUT, about 49 days) means no limit in
    practice and is accepted; the run uses MAX_TIMEOUT.
    """
    if not 1 <= args.unwind <= MAX_UNWIND:
        return f"--unwind {args.unwind}: must be between 1 and {MAX_UNWIND}"
    if not args.timeout > 0:  # also NaN
        return f"--timeout {args.timeout:g}: must be a positive number of seconds"
    args.timeout = min(args.timeout, MAX_TIMEOUT)
    jobs = getattr(args, "jobs", None)
    if jobs is not None and jobs < 1:
        return f"-j {jobs}: must be at least 1"
    return None


def parse_pins(pins: list[str]) -> tuple[tuple[str, bool], ...]:
    """`-D CONFIG_X=y|n` (also 1/0, or bare CONFIG_X for y)."""
    from equiv.errors import InputError

    out = []
    for pin in pins:
        name, _, value = pin.partition("=")
        value = value or "y"
        if not name.startswith("CONFIG_") or value not in ("y", "n", "1", "0"):
            raise InputError(None, f"-D {pin}: expected CONFIG_X=y or CONFIG_X=n")
        out.append((name, value in ("y", "1")))
    return tuple(out)
