"""What symbolic execution of one side produces: its `SideTrace`.

A trace holds everything observable about the side's root function: the
guarded external calls in program order (`Event`), the return value, the
final flag word and the memory the side wrote, plus where paths were cut
(`LoopBound`: a loop bound, or undefined behaviour) and the inputs read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from equiv.errors import Location
from equiv.ir import ctypes_model as ct

FLAG_WORD = "flags"  # the z3 name of the shared thread-flag word
THREAD_INFO = "current_thread_info()"
CURRENT = "current"
FLAG_PARAMS = ("flags", "ti_work", "work")
ASSUME_PREFIX = "__equiv_assume_"
# Facts that C itself guarantees of a program that compiles (the labels of a switch are
# distinct): recorded with the assumptions, kept whatever premises are chosen.
C_RULE_PREFIX = "C rule: "
OPAQUE_PREFIX = "ident:"  # z3 names of undeclared identifiers (equiv.ir.opaque)
FLAGS_HAVOC = "<flags>"  # Event.havoc key of the flag word a call leaves behind


class AnalysisLimit(Exception):
    """The code unrolls or inlines to more than equiv will execute: UNKNOWN."""


@dataclass(frozen=True)
class Options:
    """How to execute a side."""

    unwind: int = 8
    flag_params: tuple[str, ...] = FLAG_PARAMS
    racy_flags: bool = False  # every read of the flag word may see others' changes
    # The flag word changes only through the side's own writes, never across an
    # external call (the semantics before v0.2; `--stable-flags`).
    stable_flags: bool = False
    symbol_prefix: str = ""  # names this execution's private symbols (default: the label)
    param_word: str = FLAG_WORD  # the z3 word the root's flag parameter receives
    # The names the root's parameters get in inputs and memory paths, by position
    # (the before side's names), so that both sides bind them by position.
    root_names: tuple[str, ...] = ()
    params_by_name: bool = False  # scalar parameters shared by name, not by position
    # Replace each loop by a summary event and one symbolic iteration
    # (equiv.semantics.loops), for an unbounded proof by induction.
    summarize_loops: bool = False
    # With summarize_loops: how many iterations of the k-th loop reached (index k - 1)
    # run before its summary starts (loop peeling).  A `do` loop always peels one.
    peel: tuple[int, ...] = ()
    # With summarize_loops: loop passes per summarised iteration (every loop of the side).
    unroll: int = 1


@dataclass
class Event:
    """One potential call to an external function, in program order.

    The call happens iff `guard`; `args` are 64-bit terms (each argument
    converted to its parameter type, then sign- or zero-extended);
    `result` is the call's symbolic result; `havoc` holds the symbols for
    memory cells re-read after the call (the call may have written them).
    """

    index: int
    guard: z3.BoolRef
    name: str
    args: tuple[z3.BitVecRef, ...]
    arg_types: tuple[ct.CType, ...]
    location: Location | None
    result: z3.BitVecRef | None
    havoc: dict[str, z3.BitVecRef] = field(default_factory=dict)
    # What else the callee can see: the flag word and any memory cell, as
    # they are when the call happens.
    flags_at: z3.BitVecRef | None = None
    memory_at: Callable[[str], z3.BitVecRef] | None = None
    context: tuple[z3.BitVecRef, ...] = ()  # set on the query's copy: what the sides write
    context_names: tuple[str, ...] = ()
    # The flag word the call leaves behind (None under --stable-flags); linked across
    # the sides, through `havoc`, where it is read or where the final word is compared.
    flags_after: z3.BitVecRef | None = None
    # The innermost condition (if, loop, switch, &&, ?:) in the user's files that the
    # call depends on: where a reviewer looks when the call happens on one side only.
    branch: Location | None = None
    # A proved loop pair's events (equiv.query.loop_proof) carry one formula: what the
    # two loops leave, which holds when the events are matched (same history and inputs).
    joint: z3.BoolRef | None = field(default=None, compare=False)


@dataclass(frozen=True)
class LoopBound:
    """Paths cut where `guard` holds: a loop ran past the unwind bound, or `what` else.

    `what` is "loop" for the unwind bound; otherwise it names the undefined
    behaviour the paths reached (a difference resting on it is not real).
    """

    guard: z3.BoolRef
    location: Location | None
    what: str = "loop"


@dataclass(frozen=True)
class LoopHead:
    """A loop head a bounded run may reach: iteration `iteration` of the loop at
    `location` starts (its test is next) where `guard` holds, with flag word `flags`."""

    location: Location | None
    iteration: int  # from 1
    guard: z3.BoolRef
    flags: z3.BitVecRef


@dataclass
class SideTrace:
    """All observable behaviour of one side's root function."""

    label: str
    function: str
    events: list[Event]
    ret: z3.BitVecRef | None
    ret_type: ct.CType
    final_flags: z3.BitVecRef
    flags_written: bool
    written: list[str]
    memory_reader: Callable[[str], z3.BitVecRef]
    exceeded: list[LoopBound]
    assumptions: list[tuple[str, z3.BoolRef]]  # (assumption function, condition)
    configs: dict[str, z3.BoolRef]
    pointer_roots: dict[str, z3.BitVecRef]
    inputs: dict[str, z3.BitVecRef]
    location: Location | None
    iterations: tuple = ()  # equiv.semantics.loops.Iteration, one per loop reached (summaries)
    heads: list[LoopHead] = field(default_factory=list)  # loop heads of the unrolled loops
    local_escapes: tuple[str, ...] = ()  # external callees given a pointer to a local
    # Arrays of unknown length read at an index that may be any (`syscall_table`).
    arrays_read: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()  # undeclared identifiers used as pointers
    # Elements read from such an array's contents on entry: (array, key, guard, index, value).
    entry_reads: tuple[tuple[str, str, z3.BoolRef, z3.BitVecRef, z3.BitVecRef], ...] = ()
    arrays: tuple[str, ...] = ()  # their memory keys (`ArrayCells.key`)
    # Every element cell the side named: (its array's key, position).
    elements: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Written memory cells: (bits, signed) of the type they are written as (None: two types).
    cell_views: dict[str, tuple[int, bool] | None] = field(default_factory=dict)

    def final_memory(self, path: str) -> z3.BitVecRef:
        """The 64-bit content of memory cell `path` when the function returns."""
        return self.memory_reader(path)
