"""Untrusted patches: equiv must not leak, hang or run what a patch brings.

Each test is one attack a patch author could try on a CI job that runs equiv
and publishes its output.  A file outside the allowed roots holds a secret;
the attack must end with a clear message and exit 2 (or, for the witness of
`--confirm`, a refusal or a contained failure), and the secret must appear in
no output format.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_support import (  # noqa: E402
    REPO_ROOT,
    assert_no_traceback,
    describe,
    run_equiv,
)

SECRET = "SECRET-TOKEN-4242"
FUNCTION = "int f(unsigned long flags)\n{\n\treturn flags & 1;\n}\n"
HANG_BOUND = 10  # seconds: /dev/zero, a FIFO or a huge file must end well before

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
pytestmark = needs_gcc


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """tmp/side (the fragments) next to tmp/secret (outside every root)."""
    (tmp_path / "side").mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "creds.h").write_text(f"{SECRET} = 1;\n#define X {SECRET}\n")
    (tmp_path / "side" / "after.c").write_text(FUNCTION)
    return tmp_path


def attack(tree: Path, before: str, *options: object) -> list[subprocess.CompletedProcess[str]]:
    """`equiv check` with `before` as the before side, in text and in JSON."""
    path = tree / "side" / "before.c"
    path.write_text(before)
    runs = [run_equiv("check", path, tree / "side" / "after.c", *options, timeout=HANG_BOUND),
            run_equiv("check", path, tree / "side" / "after.c", "--json", *options,
                      timeout=HANG_BOUND)]
    return runs


def assert_refused(runs: list[subprocess.CompletedProcess[str]], *needles: str,
                   secrets: tuple[str, ...] = (SECRET,)) -> None:
    """Exit 2 with a located error holding `needles`, and no secret anywhere."""
    for run in runs:
        assert run.returncode == 2, describe(run)
        assert_no_traceback(run)
        assert "error:" in run.stderr, describe(run)
        for needle in needles:
            assert needle in run.stderr, describe(run)
        for secret in secrets:
            assert secret not in run.stdout + run.stderr, describe(run)


# ---- reading outside the roots ------------------------------------------------------

def test_absolute_include_is_refused_without_reading(tree: Path) -> None:
    target = tree / "secret" / "creds.h"
    runs = attack(tree, f'#include "{target}"\n{FUNCTION}')
    assert_refused(runs, f'#include "{target}"', "absolute path", "before.c:1")


def test_etc_hostname_is_refused(tree: Path) -> None:
    hostname = Path("/etc/hostname")
    content = hostname.read_text().strip() if hostname.is_file() else ""
    runs = attack(tree, f'#include "/etc/hostname"\n{FUNCTION}')
    secrets = (content,) if len(content) >= 4 else ()
    assert_refused(runs, '#include "/etc/hostname"', secrets=secrets)


def test_dotdot_escape_is_refused(tree: Path) -> None:
    runs = attack(tree, f'#include "../secret/creds.h"\n{FUNCTION}')
    assert_refused(runs, '#include "../secret/creds.h"', "leaves the allowed roots")


def test_dotdot_escape_through_a_symlinked_directory_is_refused(tree: Path) -> None:
    (tree / "side" / "sub").symlink_to(tree / "secret")
    runs = attack(tree, f'#include "sub/creds.h"\n{FUNCTION}')
    assert_refused(runs, '#include "sub/creds.h"', "resolves outside the allowed roots")


def test_symlink_out_of_the_roots_is_refused(tree: Path) -> None:
    (tree / "side" / "local.h").symlink_to(tree / "secret" / "creds.h")
    runs = attack(tree, f'#include <local.h>\n{FUNCTION}')
    assert_refused(runs, "#include <local.h>", "resolves outside the allowed roots")


def test_symlink_inside_a_header_is_refused(tree: Path) -> None:
    (tree / "side" / "inner.h").symlink_to(tree / "secret" / "creds.h")
    (tree / "side" / "outer.h").write_text('#include "inner.h"\n')
    runs = attack(tree, f'#include "outer.h"\n{FUNCTION}')
    assert_refused(runs, "outer.h:1", '#include "inner.h"')


def test_macro_operand_include_is_refused(tree: Path) -> None:
    target = tree / "secret" / "creds.h"
    runs = attack(tree, f'#define F "{target}"\n#include F\n{FUNCTION}')
    assert_refused(runs, "before.c:2", "macro operand")


def test_include_hidden_by_a_line_splice_is_still_vetted(tree: Path) -> None:
    target = tree / "secret" / "creds.h"
    runs = attack(tree, f'/* c */ #inc\\\nlude "{target}"\n{FUNCTION}')
    assert_refused(runs, "absolute path")


def test_has_include_is_refused(tree: Path) -> None:
    runs = attack(tree, f'#if __has_include("/etc/passwd")\n#endif\n{FUNCTION}')
    assert_refused(runs, "__has_include")


def test_a_line_directive_does_not_make_equiv_quote_a_file(tree: Path) -> None:
    target = tree / "secret" / "creds.h"
    runs = attack(tree, f'#line 1 "{target}"\nint f(unsigned long flags) {{ return }}\n')
    for run in runs:
        assert run.returncode == 2, describe(run)
        assert str(target) in run.stderr  # the name the fragment wrote, and only that
        assert SECRET not in run.stdout + run.stderr, describe(run)


def test_proc_self_environ_is_refused(tree: Path) -> None:
    env = {**os.environ, "EQUIV_TEST_SECRET": SECRET}
    for before in (tree / "side" / "before.c", Path("/proc/self/environ")):
        (tree / "side" / "before.c").write_text(f'#include "/proc/self/environ"\n{FUNCTION}')
        run = subprocess.run([sys.executable, "-m", "equiv", "check", str(before),
                              str(tree / "side" / "after.c")], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=HANG_BOUND, check=False)
        assert_refused([run], "/proc/self/environ")


# ---- hanging -----------------------------------------------------------------------------

def test_dev_zero_include_ends_with_exit_2(tree: Path) -> None:
    runs = attack(tree, f'#include "/dev/zero"\n{FUNCTION}')
    assert_refused(runs, '#include "/dev/zero"')


def test_dev_zero_as_a_side_ends_with_exit_2(tree: Path) -> None:
    run = run_equiv("check", "/dev/zero", tree / "side" / "after.c", timeout=HANG_BOUND)
    assert_refused([run], "/dev/zero")


def test_fifo_include_and_side_end_with_exit_2(tree: Path) -> None:
    fifo = tree / "side" / "pipe.h"
    os.mkfifo(fifo)
    runs = attack(tree, f'#include "pipe.h"\n{FUNCTION}')
    assert_refused(runs, '#include "pipe.h"', "not a regular file")
    run = run_equiv("check", fifo, tree / "side" / "after.c", timeout=HANG_BOUND)
    assert_refused([run], "not a regular file")


def test_100_mb_file_is_refused(tree: Path) -> None:
    big = tree / "side" / "big.h"
    with big.open("wb") as handle:  # sparse: no disk space used
        handle.truncate(100 * 1024 * 1024)
    runs = attack(tree, f'#include "big.h"\n{FUNCTION}')
    assert_refused(runs, "big.h", "file size limit")
    run = run_equiv("check", big, tree / "side" / "after.c", timeout=HANG_BOUND)
    assert_refused([run], "file size limit")


def test_file_size_limit_is_configurable(tree: Path) -> None:
    (tree / "side" / "small.h").write_text("#define _TIF_A 1\n" * 10)
    runs = attack(tree, f'#include "small.h"\n{FUNCTION}', "--max-file-size", "120")
    assert_refused(runs, "small.h", "file size limit")


def test_preprocessor_output_limit(tree: Path) -> None:
    lines = ["#define A0 " + ("y" * 1000 + " ") * 16]  # 16 tokens of 1001 bytes
    lines += [f"#define A{k} A{k - 1} A{k - 1}" for k in range(1, 14)]  # 2**13 times that
    (tree / "side" / "before.c").write_text("\n".join(lines) + "\nA13\n" + FUNCTION)
    run = run_equiv("check", tree / "side" / "before.c", tree / "side" / "after.c", timeout=120)
    assert_refused([run], "before.c:1", "preprocessor output limit")


# ---- the budget ------------------------------------------------------------------------

def test_max_time_covers_parsing(tree: Path) -> None:
    body = "".join(f"\tif (flags & {1 << (k % 60)}UL)\n\t\tg{k}();\n" for k in range(20000))
    text = f"void f(unsigned long flags)\n{{\n{body}}}\n"
    path = tree / "side" / "big.c"
    path.write_text(text)
    run = run_equiv("check", path, path, "--max-time", "0.5", timeout=60)
    assert run.returncode == 3, describe(run)
    assert "time limit reached (--max-time 0.5 s)" in run.stderr + run.stdout, describe(run)


def test_max_memory_makes_the_verdict_unknown(tree: Path) -> None:
    run = run_equiv("check", tree / "side" / "after.c", tree / "side" / "after.c",
                    "--max-memory", "1", timeout=60)
    assert run.returncode == 3, describe(run)
    assert "memory limit reached (--max-memory 1 MiB)" in run.stdout + run.stderr, describe(run)


def test_missing_system_headers_still_become_stubs(tree: Path) -> None:
    (tree / "side" / "before.c").write_text(f"#include <linux/sched.h>\n#include "
                                            f'"asm/nowhere.h"\n{FUNCTION}')
    run = run_equiv("check", tree / "side" / "before.c", tree / "side" / "after.c")
    assert run.returncode == 0, describe(run)


# ---- equiv patch: every output format ----------------------------------------------------

def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture()
def kernel(tree: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("equiv patch needs git")
    path = tree / "linux"
    shutil.copytree(REPO_ROOT / "tests" / "patch_tree", path)
    _git(path, "init", "-q")
    _git(path, "add", ".")
    _git(path, "commit", "-q", "-m", "base")
    return path


def patch_outputs(kernel: Path, tmp: Path) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
    out = []
    for fmt in ("text", "json", "sarif", "junit"):
        run = subprocess.run([sys.executable, "-m", "equiv", "patch", "--git", "HEAD~1..HEAD",
                              "--format", fmt], cwd=kernel, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120,
                             check=False)
        out.append((fmt, run))
    return out


def assert_patch_trouble(outputs: list[tuple[str, subprocess.CompletedProcess[str]]],
                         needle: str) -> None:
    for fmt, run in outputs:
        assert run.returncode == 2, describe(run)
        assert_no_traceback(run)
        assert SECRET not in run.stdout + run.stderr, f"{fmt}: {describe(run)}"
        assert needle in run.stdout, f"{fmt}: {describe(run)}"
        if fmt in ("json", "sarif"):
            json.loads(run.stdout)


def test_patch_including_a_file_outside_the_tree(kernel: Path, tree: Path) -> None:
    common = kernel / "kernel" / "entry" / "common.c"
    target = tree / "secret" / "creds.h"
    common.write_text(common.read_text().replace(
        "\taudit_syscall_exit(regs);\n", f'#include "{target}"\n\taudit_syscall_exit(regs);\n', 1))
    _git(kernel, "commit", "-q", "-a", "-m", "entry: tidy\n\nNo functional change.")
    assert_patch_trouble(patch_outputs(kernel, tree), "absolute path")


def test_patch_adding_a_symlink_out_of_the_tree(kernel: Path, tree: Path) -> None:
    (kernel / "kernel" / "entry" / "evil.h").symlink_to(tree / "secret" / "creds.h")
    _git(kernel, "add", ".")
    _git(kernel, "commit", "-q", "-m", "entry: add a header\n\nNo functional change.")
    assert_patch_trouble(patch_outputs(kernel, tree), "symlink out of the tree")


# ---- running code: the witness of --confirm ------------------------------------------------

HOSTILE_WITNESS = r"""
int printf(const char *, ...);
char *getenv(const char *);
int socket(int, int, int);
int connect(int, const void *, unsigned int);
int fork(void);
unsigned int sleep(unsigned int);
void _exit(int);
int open(const char *, int, ...);
long write(int, const void *, unsigned long);
int fflush(void *);
int main(void)
{
	static char buf[4096];
	unsigned char addr[16] = {2, 0, 0, 80, 127, 0, 0, 1};
	const char *token = getenv("EQUIV_TEST_SECRET");
	int s, forks = 0, fd;
	long written = 0;

	printf("env: %s\n", token ? token : "(none)");
	printf("path: %s\n", getenv("PATH") ? "set" : "(none)");
	s = socket(2, 1, 0);
	printf("connect: %d\n", s >= 0 ? connect(s, addr, 16) : -1);
	fflush(0);
	for (int i = 0; i < 64; i++) {
		int pid = fork();
		if (pid == 0) {
			sleep(100);
			_exit(0);
		}
		forks += pid > 0;
	}
	printf("forks: %d\n", forks);
	fflush(0);
	fd = open("big", 0101, 0644);
	for (int i = 0; fd >= 0 && i < 100000; i++) {
		long n = write(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		written += n;
	}
	printf("written: %ld\n", written);
	return 0;
}
"""


# The witness runs in a child Python that holds the secret in its environment.
# Setting it here instead would rewrite this process's `environ` while the
# oracle tests' threads spawn processes, and a child spawned in that moment
# can fail its exec with EFAULT (seen in CI).
RUN_HOSTILE = """
import json, sys
from equiv.explain import witness
ran = witness.execute(sys.stdin.read())
if isinstance(ran, str):
    print(json.dumps({"refused": ran}))
else:
    print(json.dumps({"stdout": ran.stdout, "returncode": ran.returncode, "timed_out": ran.timed_out}))
"""


def test_hostile_witness_is_contained() -> None:
    env = {**os.environ, "EQUIV_TEST_SECRET": SECRET}
    proc = subprocess.run([sys.executable, "-c", RUN_HOSTILE], input=HOSTILE_WITNESS, env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ran = json.loads(proc.stdout)
    assert "refused" not in ran, ran
    out = ran["stdout"]
    assert "env: (none)" in out and "path: (none)" in out, out  # an empty environment
    assert SECRET not in out
    assert "connect: -1" in out, out  # no network (nothing listens there, either)
    forks = int(out.split("forks: ")[1].split()[0])
    assert forks < 64, out  # the process limit
    assert "written: 409600000" not in out, out  # the file size limit: killed or cut short
    assert ran["returncode"] != 0 or int(out.split("written: ")[1].split()[0]) <= 1 << 20, out
    assert not ran["timed_out"]


def test_witness_with_inline_assembly_is_not_run() -> None:
    from equiv.explain import witness
    from equiv.patch.scope import Fragment
    from equiv.report.results import (
        Behaviour,
        Call,
        Counterexample,
        FunctionResult,
        Verdict,
    )

    text = ("void f(unsigned long flags)\n{\n\tif (flags & 1)\n\t\tg();\n"
            "\tasm volatile(\"nop\");\n}\n")
    frag = Fragment((("a/x.c", text),), (), ("f",))
    after = Fragment((("b/x.c", text.replace("flags & 1", "flags & 2")),), (), ("f",))
    g = Call("g", (), "0", None)
    cex = Counterexample(flags=1, flag_names=(), configs=(), inputs=(),
                         before=Behaviour(calls=(g,), ret=None, flags=1, memory=()),
                         after=Behaviour(calls=(), ret=None, flags=1, memory=()),
                         first_divergence=0)
    result = FunctionResult("f", Verdict.NOT_EQUIVALENT, counterexample=cex)
    program = witness.build("f", frag, after, result)
    assert not program.args_only
    verdict = witness.confirm(program, result)
    assert verdict.startswith("not run:") and "inline assembly" in verdict, verdict


@pytest.mark.parametrize("route", ["prlimit", "preexec"])
def test_sandbox_limits_hold_on_both_routes(route: str, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """The limits a command runs under, whether prlimit sets them or Python's preexec_fn
    does (the route without prlimit, and the isolated one)."""
    from equiv.frontend import sandbox

    if route == "prlimit" and sandbox._prlimit() is None:
        pytest.skip("no prlimit on this machine")
    if route == "preexec":
        monkeypatch.setattr(sandbox, "_prlimit", lambda: None)
    py = sys.executable
    memory = sandbox.run([py, "-c", "x = bytearray(600 << 20)"],
                         limits=sandbox.Limits(memory=400 << 20), timeout=30)
    assert memory.returncode != 0 and "MemoryError" in memory.stderr, memory
    size = sandbox.run([py, "-c", "import sys; sys.stdout.write('x' * 100000)"],
                       limits=sandbox.Limits(file_size=1000), timeout=30)
    assert len(size.stdout) == 1000, len(size.stdout)  # Python ignores SIGXFSZ: cut short
    fed = sandbox.run([py, "-c", "import sys; print(len(sys.stdin.read()))"],
                      limits=sandbox.Limits(), timeout=30, input_text="y" * 300000)
    assert (fed.returncode, fed.stdout.strip()) == (0, "300000"), fed
    slow = sandbox.run([py, "-c", "import time; time.sleep(30)"], limits=sandbox.Limits(),
                       timeout=0.5)
    assert slow.timed_out and slow.returncode < 0, slow
    with pytest.raises(OSError):
        sandbox.run([str(tmp_path / "no-such-program")], limits=sandbox.Limits(), timeout=5)
    with pytest.raises(OSError):
        sandbox.run(["equiv-no-such-program"], limits=sandbox.Limits(), timeout=5)
