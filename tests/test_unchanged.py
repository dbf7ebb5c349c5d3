"""Unchanged functions (equiv/query/unchanged.py): equivalent without the difference query.

The shortcut must see every change that can influence behaviour, and must not
hide what the full check would report: unsupported constructs, loops past
the unwind bound, contradictory assumptions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from equiv.driver.check import CheckOptions, run_check
from equiv.errors import InputError
from equiv.frontend.source import SideInput, load_side
from equiv.ir.unit import build_unit as build_program
from equiv.query.unchanged import unchanged
from equiv.report.results import Verdict

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="equiv preprocesses with gcc")

BASE = """\
struct pt_regs { long ret; int mode; };
void report(struct pt_regs *regs, int what);
static inline void helper(struct pt_regs *regs) { report(regs, 1); }
static inline void unrelated(struct pt_regs *regs) { report(regs, 9); }
void exit_work(struct pt_regs *regs, unsigned long flags)
{
	if (flags & 4)
		helper(regs);
	regs->ret = regs->mode;
}
"""


def _program(tmp_path: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text)
    return build_program(load_side(SideInput((str(path),))))


def _same(tmp_path: Path, before: str, after: str) -> bool:
    b = _program(tmp_path, "b.c", before)
    a = _program(tmp_path, "a.c", after)
    return unchanged([((), b)], [((), a)], "exit_work")


def test_same_text_in_another_file_is_unchanged(tmp_path: Path) -> None:
    assert _same(tmp_path, BASE, BASE)


def test_moved_lines_are_unchanged(tmp_path: Path) -> None:
    assert _same(tmp_path, BASE, "\n\n/* moved */\n" + BASE)


def test_change_in_an_unreached_function_is_unchanged(tmp_path: Path) -> None:
    assert _same(tmp_path, BASE, BASE.replace("report(regs, 9)", "report(regs, 8)"))


@pytest.mark.parametrize("old, new", [
    ("report(regs, 1)", "report(regs, 2)"),  # a callee's body
    ("int mode;", "short mode;"),  # a struct member's type
    ("flags & 4", "flags & 8"),  # the root's body
    ("void report(struct pt_regs *regs, int what);",
     "void report(struct pt_regs *regs, char what);"),  # a prototype
])
def test_any_reached_change_is_seen(tmp_path: Path, old: str, new: str) -> None:
    assert old in BASE
    assert not _same(tmp_path, BASE, BASE.replace(old, new))


def test_a_different_macro_value_is_seen(tmp_path: Path) -> None:
    text = "#define MASK 4\n" + BASE.replace("flags & 4", "flags & MASK")
    assert not _same(tmp_path, text, text.replace("#define MASK 4", "#define MASK 5"))


def _count_queries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from equiv.query import smt

    calls: list[int] = []
    original = smt.Session.check

    def counted(self, *extra, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(extra))
        return original(self, *extra, **kwargs)

    monkeypatch.setattr(smt.Session, "check", counted)
    return calls


def test_unchanged_root_asks_no_difference_query(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.c"
    path.write_text(BASE)
    calls = _count_queries(monkeypatch)
    only = ("exit_work",)
    result = run_check([str(path)], [str(path)], CheckOptions(functions=only))
    assert [f.verdict for f in result.functions] == [Verdict.EQUIVALENT]
    assert calls == [0]  # only the background's consistency check
    full = run_check([str(path)], [str(path)], CheckOptions(functions=only, skip_unchanged=False))
    assert [f.verdict for f in full.functions] == [Verdict.EQUIVALENT]
    assert len(calls) > 1


def test_unchanged_loop_past_the_bound_is_proved_by_a_loop_rule(tmp_path: Path) -> None:
    """A loop past the bound is not waved through as unchanged: a loop rule proves it
    (k-induction: i < 64 at every head follows from the entry and the test)."""
    path = tmp_path / "loop.c"
    path.write_text("void work(int i);\nvoid exit_work(unsigned long flags)\n{\n\tint i;\n\n"
                    "\tfor (i = 0; i < 64; i++)\n\t\tif (flags & (1UL << i))\n\t\t\twork(i);\n}\n")
    result = run_check([str(path)], [str(path)], CheckOptions(unwind=2))
    assert [f.verdict for f in result.functions] == [Verdict.EQUIVALENT]
    assert "by k-induction" in (result.functions[0].reason or "")


def test_unchanged_loop_that_reaches_undefined_behaviour_is_still_unknown(
        tmp_path: Path) -> None:
    """The same loop bounded by a parameter: past 64 passes it shifts by 64, which is
    undefined, so no rule may prove it, unchanged or not."""
    path = tmp_path / "loop.c"
    path.write_text("void work(int i);\nvoid exit_work(unsigned long flags, int n)\n{\n"
                    "\tint i;\n\n\tfor (i = 0; i < n; i++)\n\t\tif (flags & (1UL << i))\n"
                    "\t\t\twork(i);\n}\n")
    result = run_check([str(path)], [str(path)], CheckOptions(unwind=2, timeout=2.0))
    assert [f.verdict for f in result.functions] == [Verdict.UNKNOWN]


def test_unchanged_unsupported_construct_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "fp.c"
    path.write_text("void exit_work(unsigned long flags)\n{\n\tfloat f = 1.0;\n}\n")
    with pytest.raises(InputError) as err:
        run_check([str(path)], [str(path)], CheckOptions())
    assert err.value.location is not None and err.value.location.line == 3


def test_unchanged_contradictory_assumptions_are_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.c"
    path.write_text(BASE)
    options = CheckOptions(assumptions=("flags & 1", "!(flags & 1)"))
    with pytest.raises(InputError, match="contradict"):
        run_check([str(path)], [str(path)], options)


def test_unchanged_root_executes_one_side(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The same program on both sides is executed once; a changed one on each side."""
    from equiv.semantics.executor import StatementExecutor

    labels: list[str] = []
    original = StatementExecutor.run

    def counted(self, function):  # type: ignore[no-untyped-def]
        labels.append(self.label)
        return original(self, function)

    monkeypatch.setattr(StatementExecutor, "run", counted)
    path = tmp_path / "x.c"
    path.write_text(BASE)
    result = run_check([str(path)], [str(path)], CheckOptions(functions=("exit_work",)))
    assert [f.verdict for f in result.functions] == [Verdict.EQUIVALENT]
    assert labels == ["before"]
    changed = tmp_path / "y.c"
    changed.write_text(BASE.replace("flags & 4", "flags & 8"))
    labels.clear()
    result = run_check([str(path)], [str(changed)], CheckOptions(functions=("exit_work",)))
    assert [f.verdict for f in result.functions] == [Verdict.NOT_EQUIVALENT]
    assert sorted(set(labels)) == ["after", "before"]


def test_the_same_parsed_text_is_not_walked_again(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Sides parsed from the same text (their own files under fixed names) are the same
    program without comparing their ASTs; any other pair is still compared in full."""
    from equiv.query import unchanged as module

    walked: list[str] = []
    original = module.fingerprint

    def counted(program, root):  # type: ignore[no-untyped-def]
        walked.append(root)
        return original(program, root)

    monkeypatch.setattr(module, "fingerprint", counted)
    b, a = _program(tmp_path, "b.c", BASE), _program(tmp_path, "a.c", BASE)
    assert b.side.text_key and b.side.text_key == a.side.text_key
    assert unchanged([((), b)], [((), a)], "exit_work") and walked == []
    moved = _program(tmp_path, "m.c", "\n" + BASE)  # moved lines: another text, same program
    assert moved.side.text_key != b.side.text_key
    assert unchanged([((), b)], [((), moved)], "exit_work") and walked == ["exit_work"] * 2
    changed = _program(tmp_path, "c.c", BASE.replace("flags & 4", "flags & 8"))
    assert not unchanged([((), b)], [((), changed)], "exit_work")
