"""Which #if config switches make configurations of their own (equiv.driver.configs)."""

from __future__ import annotations

from pathlib import Path

from equiv.driver.configs import relevant_configs
from equiv.frontend.source import SideInput, load_side
from equiv.ir.unit import build_unit

SOURCE = """\
#ifdef CONFIG_COMPAT
static inline long adjust(long nr) { return nr & 0xffffffff; }
#else
static inline long adjust(long nr) { return nr; }
#endif

#ifdef CONFIG_AUDIT
#define BIAS OTHER_BIAS
#endif

#if IS_ENABLED(CONFIG_TRACE)
#define OTHER_BIAS 1
#endif

#ifdef CONFIG_HAVE_HW_BREAKPOINT
static void unrelated(long nr) { (void)nr; }
#endif

long checked(long nr)
{
#ifdef CONFIG_INSIDE
\tnr++;
#endif
\treturn adjust(nr) + BIAS;
}

long other(long nr)
{
#ifdef CONFIG_ELSEWHERE
\tnr--;
#endif
\treturn nr;
}
"""
SWITCHES = ["CONFIG_COMPAT", "CONFIG_AUDIT", "CONFIG_TRACE", "CONFIG_HAVE_HW_BREAKPOINT",
            "CONFIG_INSIDE", "CONFIG_ELSEWHERE"]


def test_only_switches_around_reached_code_or_used_names_are_relevant(tmp_path: Path) -> None:
    path = tmp_path / "f.c"
    path.write_text(SOURCE)
    program = build_unit(load_side(SideInput((str(path),))))
    found = relevant_configs(program, ("checked",), SWITCHES, {str(path): SOURCE})
    # The reached helper's group, the macro the function uses and the macro that one
    # uses (through the group that became relevant), and the group inside the function.
    assert found == ["CONFIG_COMPAT", "CONFIG_AUDIT", "CONFIG_TRACE", "CONFIG_INSIDE"]
