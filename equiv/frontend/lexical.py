"""The lexical layer of every textual look at C before the parser runs.

Three places read C as text: the include vetting (`frontend.confine`), the patch
scanner that finds definitions and uses (`patch.scope`) and the witness builder
(`explain.witness`).  They share this one layer, so a comment, a string
literal or a line splice means the same thing to each of them: comments (and,
when asked, string and character literals) become spaces, newlines stay, so
every line and column keeps its place and a diagnostic's location is the
file's own.
"""

from __future__ import annotations

import re

# A comment, a string literal or a character constant (an unterminated one runs to the end
# of its line; an unterminated comment to the end of the text).
LEXEME = re.compile(r'//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?',
                    re.S)
SPLICE = re.compile(r"\\[ \t]*\r?\n")
IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
TAG_USE = re.compile(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)")
FUNCTION_MACRO = re.compile(r"^\s*#\s*define\s+(\w+)\(", re.M)


def splice(text: str) -> str:
    """Backslash-continued lines joined, each joined line's newline moved after the
    logical line, so every line keeps its number."""
    out = []
    pending = 0
    for line in re.split(r"(?<=\n)", text):
        m = SPLICE.search(line)
        if m and m.end() == len(line):
            out.append(line[:m.start()])
            pending += 1
            continue
        out.append(line + "\n" * pending)
        pending = 0
    return "".join(out)


def blank(text: str, literals: bool = True) -> str:
    """`text` with comments, and with `literals` also string and character literals,
    replaced by spaces; newlines are kept, so lines and columns do not move."""
    def spaces(m: re.Match[str]) -> str:
        s = m.group(0)
        if not literals and not s.startswith("/"):
            return s
        return re.sub(r"[^\n]", " ", s)

    return LEXEME.sub(spaces, text)


def directive_spans(code: str) -> tuple[str, list[tuple[int, int, str]]]:
    """`code` (already blanked) with its preprocessor lines blanked too, and each
    directive's first line, last line (1-based, continuations included) and text."""
    lines = code.split("\n")
    found = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("#"):
            start = i
            while lines[i].rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
            found.append((start + 1, i + 1, "\n".join(lines[start:i + 1])))
            for k in range(start, i + 1):
                lines[k] = " " * len(lines[k])
        i += 1
    return "\n".join(lines), found
