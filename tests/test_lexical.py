"""The lexical layer shared by the include vetting, the patch scanner and the witness."""

from __future__ import annotations

from equiv.frontend import lexical
from equiv.frontend.confine import directives
from equiv.patch.scope import scan

TEXT = """\
/* a comment that mentions asm and "quotes",
   over two lines */ int a; // trailing f(
char *s = "not /* a comment */ g(";
#define TWICE(x) \\
	((x) + (x))
int h(int x) { return TWICE(x); }
"""


def test_blank_keeps_every_line_and_column() -> None:
    out = lexical.blank(TEXT)
    assert len(out) == len(TEXT)
    assert [len(line) for line in out.split("\n")] == [len(line) for line in TEXT.split("\n")]
    assert "asm" not in out and "g(" not in out and "f(" not in out
    assert out.split("\n")[1].strip() == "int a;"


def test_blank_can_keep_literals_for_include_operands() -> None:
    out = lexical.blank('#include "a.h" /* "b.h" */\n', literals=False)
    assert out.startswith('#include "a.h"') and "b.h" not in out


def test_splice_keeps_line_numbers() -> None:
    joined = lexical.splice(TEXT)
    assert joined.count("\n") == TEXT.count("\n")
    line = joined.split("\n")[3]
    assert line.startswith("#define TWICE(x)") and "((x) + (x))" in line


def test_the_three_readers_agree_on_comments_and_strings() -> None:
    # The patch scanner sees the function and the macro, not the names in the comment
    # or the string; the include vetting sees no directive in a comment.
    names = {(d.name, d.kind) for d in scan("x.c", TEXT)}
    assert ("h", "function") in names and ("TWICE", "macro") in names
    assert not any(n in ("f", "g") for n, _ in names)
    assert directives("x.c", '/* #include "/etc/passwd" */\nint a;\n') == []
    assert [i.name for i in directives("x.c", '#include /* c */ "ok.h"\n')] == ["ok.h"]


def test_a_comment_that_says_asm_does_not_stop_a_witness() -> None:
    from equiv.explain.witness import _refusal
    from equiv.patch.scope import Fragment

    text = "/* no asm here */\nvoid f(void)\n{\n}\n"
    assert _refusal(Fragment((("a/x.c", text),), (), ("f",))) is None
    with_asm = text.replace("{\n}", "{\n\tasm volatile(\"nop\");\n}")
    assert "inline assembly" in (_refusal(Fragment((("a/x.c", with_asm),), (), ("f",))) or "")
