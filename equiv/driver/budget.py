"""The whole-run budget: wall-clock time and memory for each piece of a check.

`--max-time` and `--max-memory` bound every stage, not only the solver:
preprocessing, parsing, lowering, symbolic execution, the query and the
explanation.  A `Guard` watches the thread that runs a piece of work.  When
the piece runs past its time, or the process's resident memory passes the
limit, the watchdog interrupts z3 (a solver call returns at once) and raises
`BudgetExceeded` in the working thread at its next Python instruction.  The
caller turns that into UNKNOWN, naming the limit: never a verdict, never a
hang, never an out-of-memory kill.  Every process (the -j workers too)
guards its own work.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

DEFAULT_MAX_TIME = 300.0  # seconds for each function (and for loading the sides)
DEFAULT_MAX_MEMORY = 4096  # MiB of resident memory per process; 0 turns the guard off
_POLL = 0.05  # seconds between the watchdog's looks
_REPEAT = 2.0  # seconds before an undelivered interruption is sent again


class BudgetExceeded(BaseException):
    """A limit of the budget was reached.

    A BaseException, so that no `except Exception` on the way up swallows it.
    """

    def __init__(self, reason: str = "budget exceeded"):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Budget:
    """The limits for one piece of work."""

    max_time: float = DEFAULT_MAX_TIME  # seconds of wall-clock time
    max_memory: int = DEFAULT_MAX_MEMORY  # MiB of resident memory; 0: unguarded

    @property
    def unlimited(self) -> bool:
        """No limit at all: no watchdog runs (the benchmark's profiler needs that)."""
        return self.max_time == float("inf") and not self.max_memory


def resident_mib() -> float:
    """This process's resident memory in MiB (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


class Guard:
    """`with Guard(budget, "checking f"):` runs the block under `budget`.

    Raises BudgetExceeded (with the limit and `what` in its reason) out of the
    block when a limit is reached; a block that finishes first is never
    interrupted afterwards.
    """

    def __init__(self, budget: Budget, what: str):
        self.budget = budget
        self.what = what
        self.reason: str | None = None
        self._stop = threading.Event()
        self._target = threading.get_ident()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Guard:
        self._start = time.monotonic()
        if not self.budget.unlimited:
            # A limit already reached is reached now, not at the watchdog's first look
            # (a block shorter than its poll would otherwise finish unguarded).
            reason = self._limit_reached()
            if reason is not None:
                self.reason = reason
                raise BudgetExceeded(reason)
            self._thread.start()
        return self

    def _limit_reached(self) -> str | None:
        if time.monotonic() - self._start > self.budget.max_time:
            return f"time limit reached (--max-time {self.budget.max_time:g} s) while {self.what}"
        if self.budget.max_memory and resident_mib() > self.budget.max_memory:
            return (f"memory limit reached (--max-memory {self.budget.max_memory} MiB) "
                    f"while {self.what}")
        return None

    def _watch(self) -> None:
        sent = 0.0
        while not self._stop.wait(_POLL):
            reason = self.reason or self._limit_reached()
            if reason is None or time.monotonic() - sent < _REPEAT:
                continue
            self.reason = reason
            sent = time.monotonic()
            _interrupt_z3()
            _raise_in(self._target, BudgetExceeded)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        while not self.budget.unlimited:
            try:
                self._stop.set()
                self._thread.join()
                if self.reason is not None:
                    # Drop an interruption not yet delivered.  Only then: clearing
                    # when none is pending leaves CPython 3.11's eval breaker set,
                    # and under a profiler the interpreter then spins for ever.
                    _raise_in(self._target, None)
                break
            except BudgetExceeded:  # delivered while stopping: the work is over anyway
                continue
        if exc_type is not None and issubclass(exc_type, MemoryError):
            self.reason = self.reason or (f"memory limit reached (Python could not allocate) "
                                          f"while {self.what}")
        if exc_type is not None and issubclass(exc_type, (BudgetExceeded, MemoryError)):
            raise BudgetExceeded(self.reason or f"budget exceeded while {self.what}") from None


def _quiet_unraisable(unraisable: Any) -> None:
    """Python's hook for exceptions it cannot raise, without the guard's own.

    The guard's BudgetExceeded lands wherever the thread is, and where that is
    a finalizer (z3's `AstRef.__del__`) Python drops it and prints
    `Exception ignored in ...` on stderr.  Dropping it is right: the guard sends
    it again after _REPEAT seconds.  Printing it is not: it is not an error.
    """
    if isinstance(unraisable.exc_value, BudgetExceeded):
        return
    _UNRAISABLE_HOOK(unraisable)


_UNRAISABLE_HOOK = sys.unraisablehook
sys.unraisablehook = _quiet_unraisable


def _interrupt_z3() -> None:
    """Interrupt the solver check in progress (never the whole z3 context: see
    equiv.query.smt.interrupt_running)."""
    smt = sys.modules.get("equiv.query.smt")
    if smt is not None:  # not loaded: no solver is running
        smt.interrupt_running()


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None)
