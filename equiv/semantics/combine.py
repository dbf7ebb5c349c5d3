"""One side's behaviour across its preprocessor configurations.

A side whose `#if`/`#ifdef` lines test config switches is executed once per
valuation of those switches; `combine` joins the runs into one `SideTrace`
whose every part is guarded by the valuation it came from.  The valuations
are disjoint, so for any input exactly one run's behaviour is visible.
"""

from __future__ import annotations

from dataclasses import replace

import z3

from equiv.semantics.state import mk_and, mk_ite
from equiv.semantics.trace import LoopBound, LoopHead, SideTrace


def _valuation(values: tuple[tuple[str, bool], ...]) -> z3.BoolRef:
    return mk_and(*[z3.Bool(n) if on else z3.Not(z3.Bool(n)) for n, on in values])


def combine(runs: list[tuple[tuple[tuple[str, bool], ...], SideTrace]]) -> SideTrace:
    """The side's trace: each run's parts guarded by its valuation."""
    if len(runs) == 1:
        return runs[0][1]
    first = runs[0][1]
    guards = [_valuation(v) for v, _ in runs]
    events = [replace(e, guard=mk_and(g, e.guard)) for g, (_, t) in zip(guards, runs)
              for e in t.events]
    exceeded = [LoopBound(mk_and(g, lb.guard), lb.location, lb.what)
                for g, (_, t) in zip(guards, runs) for lb in t.exceeded]
    heads = [LoopHead(h.location, h.iteration, mk_and(g, h.guard), h.flags)
             for g, (_, t) in zip(guards, runs) for h in t.heads]
    assumptions = [(name, z3.Implies(g, term)) for g, (_, t) in zip(guards, runs)
                   for name, term in t.assumptions]

    def pick(get):  # type: ignore[no-untyped-def]
        term = get(runs[-1][1])
        for g, (_, t) in reversed(list(zip(guards, runs))[:-1]):
            term = mk_ite(g, get(t), term)
        return term

    rets = [t.ret for _, t in runs]
    ret = pick(lambda t: t.ret) if all(r is not None for r in rets) else None
    configs, roots, inputs = {}, {}, {}
    for values, t in runs:
        configs.update(t.configs)
        configs.update({n: z3.Bool(n) for n, _ in values})
        roots.update(t.pointer_roots)
        inputs.update(t.inputs)
    written = list(dict.fromkeys(p for _, t in runs for p in t.written))
    return replace(
        first, events=events, ret=ret, final_flags=pick(lambda t: t.final_flags),
        flags_written=any(t.flags_written for _, t in runs), written=written,
        memory_reader=lambda path: pick(lambda t: t.final_memory(path)),
        exceeded=exceeded, assumptions=assumptions, configs=dict(sorted(configs.items())),
        pointer_roots=roots, inputs=inputs, iterations=(), heads=heads,
        local_escapes=tuple(dict.fromkeys(n for _, t in runs for n in t.local_escapes)),
        arrays_read=tuple(dict.fromkeys(n for _, t in runs for n in t.arrays_read)),
        objects=tuple(dict.fromkeys(n for _, t in runs for n in t.objects)),
        entry_reads=tuple((name, key, mk_and(g, guard), index, value) for g, (_, t) in
                          zip(guards, runs) for name, key, guard, index, value in t.entry_reads),
        arrays=tuple(sorted({k for _, t in runs for k in t.arrays})),
        elements={p: o for _, t in runs for p, o in t.elements.items()},
        cell_views=_views([t for _, t in runs]))


def _views(traces: list[SideTrace]) -> dict[str, tuple[int, bool] | None]:
    """The write view of each cell over every configuration (None where they differ)."""
    out: dict[str, tuple[int, bool] | None] = {}
    for t in traces:
        for path, view in t.cell_views.items():
            out[path] = view if out.setdefault(path, view) == view else None
    return out  # loops are not summarised per run
