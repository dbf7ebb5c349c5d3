"""Witness programs: a difference equiv found, replayed by compiled C.

For one difference, `build` writes a standalone C program holding both sides
(each side's functions renamed before_*/after_*), equiv's prelude, any enabled
models, and a logging stub for every external function.  Run, it sets the
thread-flag word and the inputs of the counterexample, runs the checked
function of each side with the stubs returning the counterexample's values,
and prints both call sequences.  `confirm` builds it with the system C compiler
and says whether the difference reproduced.

What the stubs log is the callee's name: arguments are not compared, so a
difference only in call arguments or in memory is reported as not
confirmable, never as reproduced or as an equiv bug.

`confirm` executes code that comes from the patch.  It refuses fragments with
inline assembly, and runs the program in equiv.frontend.sandbox: an empty environment,
a fresh temporary directory, limits on CPU time, memory, file size, open files
and processes, no network where the machine allows a network namespace, and
the `nobody` user when equiv runs as root.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from equiv.errors import InputError
from equiv.frontend import lexical, sandbox
from equiv.frontend.confine import directives
from equiv.frontend.models import Model
from equiv.frontend.source import models_dir
from equiv.patch.scope import Fragment
from equiv.report.results import Behaviour, FunctionResult
from equiv.semantics.trace import OPAQUE_PREFIX

CC = "gcc"
CFLAGS = ("-std=gnu11", "-O0", "-fwrapv", "-fno-strict-aliasing", "-w")
RUN_TIMEOUT = 30  # seconds of wall-clock time, to build and to run
BUILD_LIMITS = sandbox.Limits(memory=2 << 30, cpu_seconds=RUN_TIMEOUT, file_size=64 << 20)
RUN_LIMITS = sandbox.Limits(memory=256 << 20, cpu_seconds=10, file_size=1 << 20,
                            open_files=16, processes=8)
_ASM = re.compile(r"\b(asm|__asm__|__asm)\b")
_CALL = lexical.CALL
_FUNC_MACRO = lexical.FUNCTION_MACRO
_MEMBER = re.compile(r"(?:->|\.)\s*([A-Za-z_]\w*)(\s*\[)?")
_STRUCT = re.compile(r"\bstruct\s+([A-Za-z_]\w*)")
_NOT_CALLS = frozenset("if while for switch return sizeof defined __attribute__ "
                       "__equiv_emit __equiv_assume __equiv_is_enabled".split())


@dataclass(frozen=True)
class Witness:
    """A standalone witness program and what equiv expects it to print."""

    function: str
    source: str
    expected_before: tuple[str, ...]
    expected_after: tuple[str, ...]
    args_only: bool  # the sides differ only in call arguments or memory
    reads_memory: bool  # some side reads memory through a pointer (calls may change it)
    refusal: str | None = None  # why --confirm must not build and run it


def _text(frag: Fragment) -> str:
    return "\n".join(text for _, text in frag.files)


def _defined_functions(text: str) -> set[str]:
    return set(re.findall(r"\b([A-Za-z_]\w*)\s*\([^;{}]*\)\s*\{", text))


def _externals(sides: list[str], known: set[str]) -> list[str]:
    names: set[str] = set()
    for text in sides:
        body = "\n".join(line for line in lexical.blank(text).splitlines()
                         if not line.lstrip().startswith("#"))
        names |= set(_CALL.findall(body))
    macros = {m for text in sides for m in _FUNC_MACRO.findall(text)}
    return sorted(names - known - macros - _NOT_CALLS)


def _structs(texts: list[str]) -> str:
    """Definitions for every struct named: all members long (arrays of 64)."""
    joined = lexical.blank("\n".join(texts))
    members: dict[str, bool] = {}
    for m in _MEMBER.finditer(joined):
        members[m.group(1)] = members.get(m.group(1), False) or bool(m.group(2))
    defined = set(re.findall(r"\bstruct\s+([A-Za-z_]\w*)\s*\{", joined))
    names = sorted((set(_STRUCT.findall(joined)) | {"pt_regs", "task_struct"}) - defined)
    fields = "".join(f"\tlong {n}{'[64]' if arr else ''};\n"
                     for n, arr in sorted(members.items()) if n != "flags")
    out = [f"struct thread_info {{\n\tunsigned long flags;\n{fields}}};"]
    out += [f"struct {n} {{\n\tlong __witness_pad;\n{fields}}};" for n in names
            if n != "thread_info"]
    return "\n".join(out)


def _root_params(function: str, text: str) -> tuple[bool, list[tuple[str, str | None]]]:
    """(returns a value, [(parameter name, struct tag if a struct pointer)])."""
    m = re.search(rf"([^;{{}}]*)\b{re.escape(function)}\s*\(([^)]*)\)\s*\{{", text)
    if m is None:
        return False, []
    ret = m.group(1).split("\n")[-1]
    returns = not re.search(r"\bvoid\s*$", ret.strip())
    params = []
    for p in m.group(2).split(","):
        p = p.strip()
        if not p or p == "void":
            continue
        name = re.findall(r"[A-Za-z_]\w*", p)[-1]
        tag = re.search(r"\bstruct\s+(\w+)\s*\*", p)
        params.append((name, tag.group(1) if tag else None))
    return returns, params


def _side(label: str, frag: Fragment) -> str:
    own = list(frag.functions) + list(frag.variables)
    renames = "".join(f"#define {f} {label}_{f}\n" for f in own)
    undefs = "".join(f"#undef {n}\n" for n in own + list(frag.macros))
    return f"/* ---- {label} ---- */\n{renames}{_text(frag)}\n{undefs}"


def _results(b: Behaviour) -> str:
    values = []
    for call in b.calls:
        try:
            values.append(str(int(call.result or "0", 0)) + "L")
        except ValueError:
            values.append("0L")
    return "{" + ", ".join(values + ["0L"]) + "}"


def _runner(label: str, function: str, returns: bool,
            params: list[tuple[str, str | None]], flags: int,
            inputs: dict[str, str]) -> str:
    lines = [f"static void run_{label}(void)", "{"]
    lines.append(f"\twitness_reset({label}_results, \"{label}\", {flags:#x}UL);")
    args = []
    for name, tag in params:
        if tag is not None:
            lines.append(f"\tstatic struct {tag} {name};")
            lines.append(f"\tmemset(&{name}, 0, sizeof({name}));")
            for key, value in sorted(inputs.items()):
                m = re.fullmatch(rf"{re.escape(name)}->(\w+)(\[\d+\])?", key)
                if m:
                    lines.append(f"\t{name}.{m.group(1)}{m.group(2) or ''} = {_c_int(value)};")
            args.append(f"&{name}")
        elif name in ("flags", "ti_work", "work"):
            args.append(f"{flags:#x}UL")
        else:
            args.append(_c_int(inputs.get(name, "0")))
    call = f"{label}_{function}({', '.join(args)})"
    lines.append(f"\twitness_say(\"return: %ld\\n\", (long){call});" if returns
                 else f"\t{call};")
    lines.append("\twitness_say(\"flags: %#lx\\n\", witness_ti.flags);")
    lines.append("}")
    return "\n".join(lines)


def _c_int(value: str) -> str:
    try:
        return f"{int(value, 0)}L"
    except ValueError:
        return "0L"


_SUPPORT = r"""
int printf(const char *, ...);
int vsnprintf(char *, unsigned long, const char *, __builtin_va_list);
void *memset(void *, int, unsigned long);
void *memcpy(void *, const void *, unsigned long);
int strcmp(const char *, const char *);
unsigned long strlen(const char *);

static struct thread_info witness_ti;
static struct task_struct witness_task;
static const long *witness_replay;
static int witness_calls;
static const char *witness_label;
static char witness_seen[2][16384];  /* what each side did, to compare at the end */
static char *witness_out = witness_seen[0];

/* Print "<side> <what>" and record <what> for the side running now. */
static void witness_say(const char *format, ...)
{
	char line[512];
	unsigned long used = strlen(witness_out);
	__builtin_va_list ap;

	__builtin_va_start(ap, format);
	vsnprintf(line, sizeof(line), format, ap);
	__builtin_va_end(ap);
	printf("%s %s", witness_label, line);
	if (used + strlen(line) < sizeof(witness_seen[0]))
		memcpy(witness_out + used, line, strlen(line) + 1);
}

struct thread_info *__equiv_thread_info(void) { return &witness_ti; }
struct task_struct *__equiv_current(void) { return &witness_task; }

static void witness_reset(const long *replay, const char *label, unsigned long flags)
{
	memset(&witness_ti, 0, sizeof(witness_ti));
	memset(&witness_task, 0, sizeof(witness_task));
	witness_ti.flags = flags;
	witness_replay = replay;
	witness_calls = 0;
	witness_label = label;
	witness_out = witness_seen[label[0] == 'a'];
}

static long witness_log(const char *name)
{
	witness_say("call: %s\n", name);
	return witness_replay[witness_calls++];
}
"""


# Exit status 1 and "DIFFERS" when the two sides did different things, 0 and "SAME".
_MAIN = """int main(void)
{
	run_before();
	run_after();
	if (strcmp(witness_seen[0], witness_seen[1]) != 0) {
		printf("DIFFERS\\n");
		return 1;
	}
	printf("SAME\\n");
	return 0;
}"""


def build(function: str, before: Fragment, after: Fragment, result: FunctionResult,
          models: tuple[Model, ...] = (), arch_headers: tuple[str, ...] = ()) -> Witness:
    """The witness program for `result`'s counterexample."""
    cex = result.counterexample
    assert cex is not None
    prelude = (models_dir() / "prelude.h").read_text(encoding="utf-8")
    layout = "\n".join(Path(h).read_text(encoding="utf-8") for h in arch_headers)
    model_text = "\n".join(m.text for m in models)
    sides = [_text(before), _text(after)]
    known = (_defined_functions(prelude) | _defined_functions(model_text)
             | set(before.functions) | set(after.functions)
             | set(_FUNC_MACRO.findall(prelude)))
    externals = _externals(sides + [model_text], known)
    configs = "".join(f"\tif (!strcmp(name, \"{n}\")) return {int(on)};\n"
                      for n, on in cex.configs)
    returns, params = _root_params(function, sides[1] or sides[0])
    inputs = dict(cex.inputs)
    parts = [
        f"/* equiv witness: {function} at flags={cex.flags:#x} "
        f"({' | '.join(cex.flag_names) or 'no bits set'}).",
        " * Build: gcc -std=gnu11 -w -o witness witness.c && ./witness",
        " * Prints DIFFERS and exits 1 when the sides behave differently. */",
        _structs(sides + [model_text]),
        "".join(f"#define {n} 1\n" for n, on in cex.configs if on),
        _opaque_constants(result, inputs),
        "#define __equiv_is_enabled(option, name) witness_config(name)",
        "static int witness_config(const char *name);",
        "#define __equiv_emit(name, ...) ((void)witness_log(name))",
        "#define __equiv_assume(x) ((void)0)",
        prelude, layout, _SUPPORT,
        "".join(f"long {n}();\n" for n in externals),
        model_text,
        f"static const long before_results[] = {_results(cex.before)};",
        f"static const long after_results[] = {_results(cex.after)};",
        _side("before", before), _side("after", after),
        "".join(f"long {n}() {{ return witness_log(\"{n}\"); }}\n" for n in externals),
        "static int witness_config(const char *name)\n{\n" + configs + "\treturn 0;\n}",
        _runner("before", function, returns, params, cex.flags, inputs),
        _runner("after", function, returns, params, cex.flags, inputs),
        _MAIN,
    ]
    before_names = tuple(c.function for c in cex.before.calls)
    after_names = tuple(c.function for c in cex.after.calls)
    args_only = (before_names == after_names and cex.before.ret == cex.after.ret
                 and cex.before.flags == cex.after.flags)
    reads = any(re.search(r"->\s*(?!flags\b)\w", t) for t in sides)
    return Witness(function, "\n".join(parts) + "\n", before_names, after_names, args_only,
                   reads, _refusal(before, after))


def _opaque_constants(result: FunctionResult, inputs: dict[str, str]) -> str:
    """`#define X ((long)0x...UL)` for each undeclared identifier, at its counterexample value."""
    out = []
    for p in result.premises:
        if p.kind == "opaque":
            name = p.key[len(OPAQUE_PREFIX):]
            value = int(inputs.get(name, "0")) & ((1 << 64) - 1)
            out.append(f"#define {name} ((long){value:#x}UL)\n")
    return "".join(out)


def _refusal(*frags: Fragment) -> str | None:
    """Why the fragments must not be run: inline assembly, or an include outside equiv."""
    for frag in frags:
        for path, text in frag.files:
            if _ASM.search(lexical.blank(text)):
                return (f"not run: {path} has inline assembly, which can do anything when "
                        f"run; --confirm refuses it")
            try:
                if directives(path, text):
                    return f"not run: {path} has #include lines; --confirm refuses them"
            except InputError as err:
                return f"not run: {err.render()}"
    return None


def write(directory: Path, patch_index: int, function: str, witness: Witness) -> Path:
    """Write `witness` as DIR/<patch>-<function>/witness.c; return its path."""
    target = directory / f"{patch_index:04d}-{function}" / "witness.c"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(witness.source, encoding="utf-8")
    return target


def _sequences(output: str) -> dict[str, list[str]]:
    seqs: dict[str, list[str]] = {"before": [], "after": []}
    for line in output.splitlines():
        label, _, rest = line.partition(" ")
        if label in seqs:
            seqs[label].append(rest)
    return seqs


def execute(source: str) -> sandbox.Finished | str:
    """Build `source` with gcc and run it in the sandbox; a string says why it did not build."""
    with tempfile.TemporaryDirectory(prefix="equiv-witness-") as tmp:
        src, exe = Path(tmp) / "witness.c", Path(tmp) / "witness"
        src.write_text(source, encoding="utf-8")
        try:
            built = sandbox.run([CC, *CFLAGS, "-nostdinc", "-o", str(exe), str(src)],
                                limits=BUILD_LIMITS, timeout=RUN_TIMEOUT, cwd=tmp)
        except OSError as exc:
            return f"witness did not build: {exc}"
        if built.returncode != 0 or built.timed_out:
            first = (built.stderr.strip().splitlines() or ["no output"])[0]
            return f"witness did not build: {'time limit reached' if built.timed_out else first}"
        workdir = Path(tmp) / "run"
        workdir.mkdir()
        os.chmod(tmp, 0o711)  # the nobody user may run the program, not read the source
        os.chmod(workdir, 0o777)  # and write (up to the file size limit) only here
        try:
            return sandbox.run([str(exe)], limits=RUN_LIMITS, timeout=RUN_TIMEOUT,
                               cwd=str(workdir), isolate=True)
        except OSError as exc:
            return f"witness did not run: {exc}"


def _failure(ran: sandbox.Finished) -> str | None:
    """Why the witness did not run to its end, if it did not."""
    if ran.timed_out:
        return f"witness did not run: time limit reached ({RUN_TIMEOUT} s)"
    if ran.returncode < 0:
        name = signal.Signals(-ran.returncode).name
        return f"witness did not run: killed by {name} (a sandbox limit)"
    if ran.returncode not in (0, 1):  # 1: the sides differ (DIFFERS)
        return f"witness did not run: exit status {ran.returncode}"
    return None


def confirm(witness: Witness, result: FunctionResult) -> str:
    """Build and run the witness: "reproduced", or why not ("equiv bug: ..." if it differs)."""
    if witness.args_only:
        return "not confirmable: the sides differ only in call arguments or memory"
    if witness.refusal is not None:
        return witness.refusal
    ran = execute(witness.source)
    if isinstance(ran, str):
        return ran
    verdict = _failure(ran) or _judge(witness, ran.stdout)
    return "; ".join((verdict,) + ran.notes)


def _judge(witness: Witness, stdout: str) -> str:
    seqs = _sequences(stdout)
    calls = {k: tuple(line.split(": ", 1)[1] for line in v if line.startswith("call: "))
             for k, v in seqs.items()}
    ran_text = (f"compiled code called before: {', '.join(calls['before']) or '-'}; "
                f"after: {', '.join(calls['after']) or '-'}")
    if seqs["before"] == seqs["after"]:
        return f"equiv bug: both sides behave the same on the counterexample ({ran_text})"
    predicted = (witness.expected_before, witness.expected_after)
    if (calls["before"], calls["after"]) == predicted:
        return "reproduced"
    if _divergence(calls["before"], calls["after"]) == _divergence(*predicted):
        return "reproduced"
    if witness.reads_memory:
        return ("not confirmable: the code reads memory that external calls may change, and "
                f"the witness keeps it fixed ({ran_text})")
    return (f"equiv bug: {ran_text} (equiv predicted before: "
            f"{', '.join(witness.expected_before) or '-'}; after: "
            f"{', '.join(witness.expected_after) or '-'})")


def _divergence(before: tuple[str, ...], after: tuple[str, ...]) -> tuple[str, str] | None:
    """The first differing pair of calls ('-' for none), None when the lists agree."""
    for k in range(max(len(before), len(after))):
        b = before[k] if k < len(before) else "-"
        a = after[k] if k < len(after) else "-"
        if a != b:
            return b, a
    return None
