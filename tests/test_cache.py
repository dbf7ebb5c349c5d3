"""The start-up cache of parsed sides: stable keys, safe to corrupt or turn off."""

from __future__ import annotations

import os
from pathlib import Path

from cli_support import REPO_ROOT, describe, run_process

SEED = REPO_ROOT / "tests" / "fixtures" / "seeds" / "v15-08-11-exit-work-mask"


def _check(cache: Path, **extra: str):
    env = {k: v for k, v in os.environ.items() if k != "EQUIV_CACHE"}
    env.update({"XDG_CACHE_HOME": str(cache), **extra})
    return run_process(["check", f"{SEED}.before.c", f"{SEED}.after.c"], env=env)


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "equiv" / "parse").glob("*.pickle"))


def test_a_second_run_hits_the_cache(tmp_path: Path) -> None:
    # The seed pair stubs headers: the stub directory's random name must not reach the key.
    first = _check(tmp_path)
    stored = _entries(tmp_path)
    assert first.returncode == 1 and stored, describe(first)
    second = _check(tmp_path)
    assert _entries(tmp_path) == stored  # no new entry: both sides were found
    assert (second.returncode, second.stdout) == (first.returncode, first.stdout)


def test_corrupt_entries_are_parsed_again(tmp_path: Path) -> None:
    first = _check(tmp_path)
    for entry in _entries(tmp_path):
        entry.write_bytes(b"not a pickle")
    again = _check(tmp_path)
    assert (again.returncode, again.stdout) == (first.returncode, first.stdout), describe(again)


def test_cache_off(tmp_path: Path) -> None:
    done = _check(tmp_path, EQUIV_CACHE="0")
    assert done.returncode == 1, describe(done)
    assert not (tmp_path / "equiv").exists()


def test_the_same_text_under_another_name_is_parsed_once(tmp_path: Path) -> None:
    """A side's own files are parsed under fixed names: a copy of the before side under
    another name (a file checked against itself) finds the before side's entry, and
    every location still names the real file."""
    text = (SEED.parent / f"{SEED.name}.before.c").read_text()
    one, other = tmp_path / "one" / "exit.c", tmp_path / "other" / "copy.c"
    for path in (one, other):
        path.parent.mkdir()
        path.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "EQUIV_CACHE"}
    same = run_process(["check", str(one), str(one)],
                       env={**env, "XDG_CACHE_HOME": str(tmp_path / "c1")})
    copied = run_process(["check", "--verdict-only", str(one), str(other)],
                         env={**env, "XDG_CACHE_HOME": str(tmp_path / "c2")})
    assert same.returncode == copied.returncode == 0, describe(copied)
    assert len(_entries(tmp_path / "c2")) == len(_entries(tmp_path / "c1")) > 0
    broken = tmp_path / "other" / "broken.c"
    broken.write_text(text + "\nint broken = ;\nvoid g(void) { broken( }\n")
    failed = run_process(["check", str(one), str(broken)],
                         env={**env, "XDG_CACHE_HOME": str(tmp_path / "c2")})
    assert failed.returncode == 2 and f"{broken}:" in failed.stderr, describe(failed)
    assert "<equiv-side" not in failed.stdout + failed.stderr



def _files_named(ast) -> set[str]:
    names, stack = set(), [ast]
    while stack:
        node = stack.pop()
        if getattr(node, "coord", None) is not None:
            names.add(node.coord.file)
        stack.extend(child for _, child in node.children())
    return names


def test_an_entry_names_the_files_of_the_side_that_reads_it(tmp_path: Path, monkeypatch) -> None:
    """The entry stores the side's files under fixed names; each read, and a fresh parse
    with the cache on or off, gives every coordinate the reading side's real names."""
    from equiv.frontend.source import _parse

    def text(path: str) -> str:
        return (f'# 1 "{path}"\nint g;\n# 1 "/models/m.h" 1\nint m;\n# 3 "{path}" 2\n'
                f"int f(int x)\n{{\n\treturn x + g;\n}}\n")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("EQUIV_CACHE", raising=False)
    for path in ("/a/one.c", "/b/two.c", "/a/one.c"):  # a store, then two reads
        ast = _parse(text(path), [path])[0]
        assert _files_named(ast) == {path, "/models/m.h"}
    assert len(_entries(tmp_path)) == 1
    monkeypatch.setenv("EQUIV_CACHE", "0")
    assert _files_named(_parse(text("/c/three.c"), ["/c/three.c"])[0]) == {"/c/three.c",
                                                                             "/models/m.h"}

# ---- equiv's own compiled modules (equiv/_bytecode.py) -----------------------------------

_IMPORT_AND_SAY_LOADERS = (
    "import sys, equiv.driver.check\n"
    "mods = {n: m for n, m in sys.modules.items() if n.startswith('equiv.')}\n"
    "other = sorted(n for n, m in mods.items() if type(m.__spec__.loader).__name__ != '_Loader')\n"
    "assert other == ['equiv._bytecode', 'equiv.cachedir'], other\n"
    "print(len(mods) - len(other), len(mods))\n")


def _import(cache: Path, **extra: str) -> tuple[int, int]:
    """(modules loaded through the cache's loader, equiv modules loaded) in a new process;
    only the two that the package imports to install the loader come another way."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "EQUIV_CACHE"}
    env.update({"XDG_CACHE_HOME": str(cache), "PYTHONDONTWRITEBYTECODE": "1", **extra})
    proc = subprocess.run([sys.executable, "-c", _IMPORT_AND_SAY_LOADERS], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cached, loaded = map(int, proc.stdout.split())
    return cached, loaded


def _bytecode(cache: Path) -> list[Path]:
    return sorted((cache / "equiv" / "bytecode").glob("*.bin"))


def test_without_pyc_files_equiv_keeps_its_compiled_modules_in_the_cache(tmp_path: Path) -> None:
    cached, loaded = _import(tmp_path)
    stored = _bytecode(tmp_path)
    assert cached == loaded - 2 > 10
    assert len(stored) == cached
    assert _import(tmp_path) == (cached, loaded) and _bytecode(tmp_path) == stored
    for entry in stored:  # a corrupt cache is compiled again, and repaired
        entry.write_bytes(b"not marshalled code")
    assert _import(tmp_path) == (cached, loaded)
    import marshal
    assert all(marshal.loads(entry.read_bytes()).co_filename.endswith(".py") for entry in stored)


def test_the_bytecode_cache_turns_off_with_the_parse_cache(tmp_path: Path) -> None:
    assert _import(tmp_path, EQUIV_CACHE="0")[0] > 10  # the loader still compiles
    assert not (tmp_path / "equiv").exists()


def test_an_edited_module_gets_a_new_entry(tmp_path: Path, monkeypatch) -> None:
    from equiv import _bytecode

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("EQUIV_CACHE", raising=False)
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n")
    namespace: dict[str, object] = {}
    exec(_bytecode._Loader("equiv.mod", str(source)).get_code("equiv.mod"), namespace)
    source.write_text("VALUE = 2\n")
    exec(_bytecode._Loader("equiv.mod", str(source)).get_code("equiv.mod"), namespace)
    assert namespace["VALUE"] == 2
    assert len(list((tmp_path / "cache" / "equiv" / "bytecode").glob("*.bin"))) == 2


def test_optimised_code_is_kept_apart(tmp_path: Path) -> None:
    """`python -O` compiles without asserts: its modules are other entries, never the
    plain ones."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "EQUIV_CACHE"}
    env.update({"XDG_CACHE_HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"})
    plain = subprocess.run([sys.executable, "-c", "import equiv.ir.nodes"], env=env,
                           cwd=REPO_ROOT, timeout=120)
    assert plain.returncode == 0
    stored = set(_bytecode(tmp_path))
    optimised = subprocess.run([sys.executable, "-O", "-c", "import equiv.ir.nodes"], env=env,
                               cwd=REPO_ROOT, timeout=120)
    assert optimised.returncode == 0
    added = set(_bytecode(tmp_path)) - stored
    assert stored and len(added) == len(stored)
