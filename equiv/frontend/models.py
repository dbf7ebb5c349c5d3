"""The model library: architecture flag layouts and kernel function models.

Models are C files under `models/` that go through the same pipeline as
user code.  A function model's header names it and says what it follows and
assumes (`Model:`, `Follows:`, `Invariant:` lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from equiv.errors import InputError
from equiv.frontend.source import models_dir, read_source


@dataclass(frozen=True)
class Model:
    """One function model: a C file defining kernel functions."""

    name: str
    path: str  # where it is read from
    display: str  # the path diagnostics and traces show
    follows: str
    invariant: str
    text: str
    # Flag masks no external call sets or clears (`Stable:` line, names such as
    # _TIF_SYSCALL_AUDIT): a premise of the model, kept in the query as facts.
    stable: tuple[str, ...] = ()


def _field(text: str, key: str) -> str:
    m = re.search(rf"^\s*\*?\s*{key}:\s*(.+?)\s*$", text, re.M)
    return m.group(1) if m else ""


def _read_model(path: Path, display: str) -> Model:
    text = read_source(str(path))
    name = _field(text, "Model") or path.stem
    return Model(name, str(path), display, _field(text, "Follows"), _field(text, "Invariant"),
                 text, tuple(_field(text, "Stable").replace(",", " ").split()))


def catalogue(extra_dirs: tuple[str, ...] = ()) -> dict[str, Model]:
    """Every model by name: the shipped ones, then those in `extra_dirs` (which win)."""
    models: dict[str, Model] = {}
    shipped = models_dir() / "functions"
    for path in sorted(shipped.glob("*.c")):
        m = _read_model(path, f"models/functions/{path.name}")
        models[m.name] = m
    for d in extra_dirs:
        directory = Path(d)
        if not directory.is_dir():
            raise InputError(None, f"--model-dir {d}: not a directory")
        for path in sorted(directory.glob("*.c")):
            m = _read_model(path, str(path))
            models[m.name] = m
    return models


def select_models(names: tuple[str, ...], use_all: bool,
                  extra_dirs: tuple[str, ...]) -> list[Model]:
    """The models the user enabled, in catalogue order."""
    available = catalogue(extra_dirs)
    for name in names:
        if name not in available:
            known = ", ".join(sorted(available)) or "none"
            raise InputError(None, f"unknown model '{name}' (available: {known})")
    wanted = set(available) if use_all else set(names)
    return [m for name, m in available.items() if name in wanted]


def arch_headers(arch: str | None) -> tuple[str, ...]:
    """The layout headers for `--arch NAME[@VERSION]`: the arch's TIF bits and SYSCALL_WORK bits.

    `NAME` is the current baked layout; `NAME@VERSION` an older one, whose SYSCALL_WORK bits
    are those of the same version (`syscall_work@VERSION.h`).
    """
    if arch is None:
        return ()
    directory = models_dir() / "arch"
    known = sorted(p.stem for p in directory.glob("*.h")
                   if p.stem.partition("@")[0] != "syscall_work")
    if arch not in known:
        raise InputError(None, f"unknown architecture '{arch}' (available: {', '.join(known)})")
    version = arch.partition("@")[2]
    work = f"syscall_work@{version}.h" if version else "syscall_work.h"
    return (str(directory / f"{arch}.h"), str(directory / work))


def arch_version(arch: str | None) -> str:
    """The kernel version a baked layout follows: its header's `Version:` line, or `Linux vX.Y`."""
    if arch is None:
        return ""
    text = read_source(str(models_dir() / "arch" / f"{arch}.h"))
    stated = _field(text, "Version")
    if stated:
        return stated
    m = re.search(r"\bLinux (v[\d.]+)", text)
    return f"Linux {m.group(1)}" if m else "an unstated kernel version"


def layouts_with(name: str) -> list[str]:
    """The baked layouts (`--arch` values) whose headers `#define` `name`, sorted."""
    define = re.compile(rf"^\s*#\s*define\s+{re.escape(name)}\b", re.M)
    directory = models_dir() / "arch"
    arches = sorted(p.stem for p in directory.glob("*.h")
                    if p.stem.partition("@")[0] != "syscall_work")
    return [arch for arch in arches
            if any(define.search(read_source(h)) for h in arch_headers(arch))]
