"""Minimal counterexamples, replayed into concrete behaviours.

The chosen flag word has the fewest set bits, and among those the smallest
value.  Every counterexample is replayed on both sides' terms under the
model; one that does not show a difference is never reported as one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import z3

from equiv.errors import Location
from equiv.ir import ctypes_model as ct
from equiv.ir.ctypes_model import CType
from equiv.query.equivalence import Query
from equiv.query.smt import Answer, Outcome, Session, satisfies
from equiv.report.results import Behaviour, Call, Counterexample, LoopRun
from equiv.semantics.state import mk_and, mk_not
from equiv.semantics.trace import FLAGS_HAVOC, SideTrace

MASK64 = (1 << 64) - 1
# The most calls that may change the flag word for which the minimisation asks that
# none does.  Past it the question is skipped and the counterexample says so: with
# 2,000 such calls it took the whole allowance, and with 20,000 the question after it ran
# 25 to 31 s past its timeout, which neither z3's interrupt nor its own timer stopped.
QUIET_MAX = 500
SEEN_KEPT = 4  # models of the difference kept besides the minimal one (Minimal.seen)
RACY_INPUT = "flag bits flipped before read "  # the executor's name of a --racy-flags input


def flag_bits(flags: z3.BitVecRef) -> list[z3.BoolRef]:
    """`Extract(i, i, flags) == 1` for each bit i of the 64-bit word, built through the C API
    (z3's Python operators cost about 60 us a literal, and the explanation asks for these
    literals of the same word hundreds of times on a small pair)."""
    ctx = flags.ctx
    ref = ctx.ref()
    one = z3.BitVecVal(1, 1, ctx)
    word = flags.as_ast()
    return [z3.BoolRef(z3.Z3_mk_eq(ref, z3.Z3_mk_extract(ref, i, i, word), one.as_ast()), ctx)
            for i in range(64)]


@dataclass(frozen=True)
class Minimal:
    """A model of the difference, and whether it was proved minimal."""

    answer: Answer
    # Empty when every step of the minimisation was decided; otherwise why the
    # counterexample may not be the minimal one (the solver gave up, the time ran out).
    unproved: str = ""
    # The other models of the difference met on the way (the verdict's first): places
    # where the explanation tries a flipped input before asking the solver.
    seen: tuple[z3.ModelRef, ...] = ()


def minimal_model(session: Session, query: Query, *extra: z3.BoolRef,
                  known: Answer | None = None, deadline: float | None = None) -> Minimal:
    """A model of within_bound ∧ differs ∧ extra: fewest iterations, then fewest flag bits.

    If the difference needs no call to change the flag word, no call does
    (the plainest story, and the one a compiled run replays as it is; asked
    only of at most QUIET_MAX such calls).  Then
    the fewest loop iterations: the smallest K such that no loop of either
    side reaches its head K + 1 times.  Then the flag word has the fewest,
    then lowest, bits, and so does each word read after a call that happens,
    in program order (before side first).  `known`: a model of within_bound ∧
    differs ∧ extra already found (the verdict's), so that query is not asked again.

    `deadline` (time.monotonic()) bounds the minimisation: a step the solver
    does not decide by then, or within the session's timeout, keeps the best
    model so far, and the result says the model is not proved minimal.
    """
    ask = _Asker(session, deadline)
    base = (query.within_bound, query.differs) + extra
    first = known if known is not None and known.model is not None else ask(*base)
    if first.outcome is not Outcome.SAT:
        return Minimal(first)
    unchanged = tuple(e.flags_after == e.flags_at for side in (query.before, query.after)
                      for e in side.events
                      if e.flags_after is not None and e.flags_at is not None)
    best = first
    if len(unchanged) > QUIET_MAX:
        ask.reasons.append(f"{len(unchanged)} calls may change the flag word, too many to "
                           f"ask that none does (at most {QUIET_MAX})")
    elif unchanged:
        quiet = ask(*base, *unchanged, candidates=[best.model])
        if quiet.outcome is Outcome.SAT:
            base, best = base + unchanged, quiet
    fewer, found = _fewest_iterations(ask, base, query, best)
    if fewer is not base:
        base, best = fewer, found
    best, base = _fewest_bits(ask, base, best, query.flags)
    for flip in _racy_flips(query):
        best, base = _fewest_bits(ask, base, best, flip)
    for side in (query.before, query.after):
        for guard, word in _rereads(side):
            if not _true(best, guard):
                continue
            if _fixed(ask, base, best, word):
                base += (word == _value(best, word),)
                continue
            best, base = _fewest_bits(ask, base, best, word)
    seen = [m for m in dict.fromkeys([first.model, *ask.models]) if m is not best.model]
    return Minimal(best, ask.unproved(), tuple(seen[:SEEN_KEPT]))


class _Asker:
    """The session's questions under a deadline, remembering the undecided ones."""

    def __init__(self, session: Session, deadline: float | None):
        self.session = session
        self.deadline = deadline
        self.reasons: list[str] = []
        self.models: list[z3.ModelRef] = []  # the models of the SAT answers, in order

    def __call__(self, *terms: z3.BoolRef, want_model: bool = True,
                 candidates: list[z3.ModelRef | None] = ()) -> Answer:
        """The session's answer; `candidates` are models tried first (Session.check)."""
        tried = [m for m in candidates if m is not None]
        limit = None
        if self.deadline is not None:
            limit = self.deadline - time.monotonic()
            if limit <= 0:
                answer = Answer(Outcome.UNKNOWN, reason="time for the explanation ran out")
                self.reasons.append(answer.reason)
                return answer
        answer = self.session.check(*terms, want_model=want_model, limit_s=limit,
                                    candidates=tried)
        if answer.model is not None:
            self.models.append(answer.model)
        if answer.outcome is Outcome.UNKNOWN:
            self.reasons.append(answer.reason or "timeout")
        return answer

    def unproved(self) -> str:
        return "; ".join(dict.fromkeys(self.reasons))


def _fewest_iterations(ask: _Asker, base: tuple[z3.BoolRef, ...], query: Query,
                       best: Answer) -> tuple[tuple[z3.BoolRef, ...], Answer]:
    """`base` with the fewest loop heads reached that still shows the difference, and
    a model of it (`base` and `best` themselves when no bound is smaller)."""
    heads = list(query.before.heads) + list(query.after.heads)
    most = max((h.iteration for h in heads), default=0)
    for k in range(1, most):
        within = mk_and(*[mk_not(h.guard) for h in heads if h.iteration > k])
        answer = ask(*base, within, candidates=[best.model])
        if answer.outcome is Outcome.SAT:
            return base + (within,), answer
    return base, best


def _rereads(side: SideTrace) -> list[tuple[z3.BoolRef, z3.BitVecRef]]:
    """The flag words a side reads after its calls, in program order, with the calls' guards."""
    return [(e.guard, e.havoc[FLAGS_HAVOC]) for e in side.events if FLAGS_HAVOC in e.havoc]


def _racy_flips(query: Query) -> list[z3.BitVecRef]:
    """Under --racy-flags: the bits others flip before each read, read 2 first."""
    flips = {name: term for side in (query.before, query.after)
             for name, term in side.inputs.items() if name.startswith(RACY_INPUT)}
    return [flips[n] for n in sorted(flips, key=lambda n: int(n[len(RACY_INPUT):]))]


def _true(answer: Answer, term: z3.BoolRef) -> bool:
    assert answer.model is not None
    return bool(z3.is_true(answer.model.eval(term, model_completion=True)))


def _fixed(ask: _Asker, base: tuple[z3.BoolRef, ...], best: Answer, word: z3.BitVecRef) -> bool:
    """`base` leaves `word` no other value than the one it has in `best`.

    Then `_fewest_bits` has no bit to clear and would end where it started, after a
    question per set bit (a word read after a call, once the calls leave the word
    they found and the entry word is fixed): this is one question.
    """
    value = _value(best, word)
    others = [_with_value(best, word, value ^ (1 << i)) for i in (63, 0)]
    differs = ask(*base, word != value, want_model=False, candidates=others)
    return differs.outcome is Outcome.UNSAT


def _fewest_bits(ask: _Asker, base: tuple[z3.BoolRef, ...], best: Answer,
                 word: z3.BitVecRef) -> tuple[Answer, tuple[z3.BoolRef, ...]]:
    """The model with the fewest, then lowest, bits set in `word`; and `word` fixed so.

    A question the solver does not decide keeps what the best model has (a
    bit it could not clear stays set); `ask` records that it was undecided.
    """
    bits = flag_bits(word)
    count = _value(best, word).bit_count()
    fewer = _cleared(ask, base, best, word)
    for k in range(count):
        tighter = ask(*base, z3.PbLe([(b, 1) for b in bits], k), candidates=[fewer])
        if tighter.outcome is Outcome.SAT:
            best, count = tighter, k
            break
        if tighter.outcome is Outcome.UNKNOWN:
            return best, base + (word == _value(best, word),)
    at_most = z3.PbLe([(b, 1) for b in bits], count)
    fixed: list[z3.BoolRef] = []
    for i in reversed(range(64)):
        if not _value(best, word) >> i & 1:
            fixed.append(z3.Not(bits[i]))
            continue
        attempt = ask(*base, at_most, *fixed, z3.Not(bits[i]), candidates=[
            _with_value(best, word, _value(best, word) & ~(1 << i))])
        if attempt.outcome is Outcome.SAT:
            best = attempt
            fixed.append(z3.Not(bits[i]))
        else:
            fixed.append(bits[i])
    return best, base + (word == _value(best, word),)


def _cleared(ask: _Asker, base: tuple[z3.BoolRef, ...], best: Answer,
             word: z3.BitVecRef) -> z3.ModelRef | None:
    """The best model with as many of `word`'s set bits cleared as evaluation alone
    allows (highest first; every other input as the model has it), or None.

    A candidate for the questions that follow, never an answer by itself: the
    fewest bits still need the solver's proof that fewer do not exist.
    """
    model = best.model
    value = _value(best, word)
    for i in reversed(range(64)):
        if not value >> i & 1:
            continue
        trial = _with_value(Answer(Outcome.SAT, model), word, value & ~(1 << i))
        if trial is None:
            return None
        if satisfies(trial, [*ask.session.background, *base]):
            model, value = trial, value & ~(1 << i)
    return None if model is best.model else model


def _with_value(answer: Answer, word: z3.BitVecRef, value: int) -> z3.ModelRef | None:
    """A copy of the answer's model with the input `word` set to `value` (None when
    `word` is not an input symbol: then there is no candidate to try)."""
    if answer.model is None or not (z3.is_const(word) and
                                    word.decl().kind() == z3.Z3_OP_UNINTERPRETED):
        return None
    model = answer.model.translate(answer.model.ctx)
    model.update_value(word.decl(), z3.BitVecVal(value & MASK64, word.size(), word.ctx))
    return model


def _value(answer: Answer, word: z3.BitVecRef) -> int:
    assert answer.model is not None
    return answer.model.eval(word, model_completion=True).as_long()


def render_value(value: int, ctype: CType, pointers: dict[int, str]) -> str:
    """A C value as a reviewer reads it: named pointer, or decimal of its type."""
    if ctype.kind == "ptr":
        if value in pointers:
            return pointers[value]
        return "NULL" if value == 0 else hex(value)
    width = ctype.width or 64
    value &= (1 << width) - 1
    if ctype.signed and value >> (width - 1):
        value -= 1 << width
    return str(value)


class Replayer:
    """Evaluates one side's terms under a model."""

    def __init__(self, model: z3.ModelRef, pointer_roots: dict[str, z3.BitVecRef]):
        self.model = model
        self.pointers = {self.int(sym): name for name, sym in sorted(pointer_roots.items())}

    def int(self, term: z3.BitVecRef) -> int:
        return int(self.model.eval(term, model_completion=True).as_long())

    def true(self, term: z3.BoolRef) -> bool:
        return bool(z3.is_true(self.model.eval(term, model_completion=True)))

    def behaviour(self, side: SideTrace, mem: Callable[[str], z3.BitVecRef | None],
                  paths: list[str]) -> Behaviour:
        calls = []
        left = []
        for event in side.events:
            if not self.true(event.guard):
                continue
            if FLAGS_HAVOC in event.havoc:
                left.append((len(calls) + 1, self.int(event.havoc[FLAGS_HAVOC])))
            args = tuple(render_value(self.int(a), t, self.pointers)
                         for a, t in zip(event.args, event.arg_types))
            result = None
            if event.result is not None:
                result = str(_signed(self.int(event.result)))
            context = tuple((n, hex(self.int(t)) if n == "flags"
                             else str(_at_view(self.int(t), side.cell_views.get(n))))
                            for n, t in zip(event.context_names, event.context))
            calls.append(Call(event.name, args, result, event.location, context))
        ret = None
        if side.ret is not None:
            wide = side.ret_type
            if wide.kind == "int":  # side.ret is already extended to 64 bits
                wide = ct.LONG if wide.signed else ct.ULONG
            ret = render_value(self.int(side.ret), wide, self.pointers)
        memory = []
        for path in paths:
            term = mem(path)
            if term is not None:
                memory.append((path, str(_at_view(self.int(term), side.cell_views.get(path)))))
        return Behaviour(tuple(calls), ret, self.int(side.final_flags), tuple(memory), tuple(left))

    def loops(self, side: SideTrace, names: dict[int, str]) -> list[LoopRun]:
        """Each run of an unrolled loop: the flag word at every head the model reaches."""
        runs: list[LoopRun] = []
        words: list[tuple[int, tuple[str, ...]]] = []
        where = None
        for head in side.heads:
            if head.iteration == 1 and words:
                runs.append(LoopRun(side.label, where, tuple(words)))
                words = []
            if not self.true(head.guard):
                continue
            where = head.location
            value = self.int(head.flags)
            words.append((value, tuple(names.get(i, f"bit {i}") for i in range(64)
                                       if value >> i & 1)))
        if words:
            runs.append(LoopRun(side.label, where, tuple(words)))
        return runs


def build_counterexample(answer: Answer, query: Query, names: dict[int, str],
                         word: str = "flags", mapped: tuple[str, dict[int, str]] | None = None
                         ) -> Counterexample | None:
    """The concrete counterexample of `answer`; None if it does not replay.

    Every 64-bit input and call result is shown as a signed `long` (flag
    words in hex), so one value reads the same everywhere; a memory cell a
    side writes through one member type is shown as that member reads it.
    `mapped` is the --flag-map word's symbol name and bit names.
    """
    assert answer.model is not None
    replay = Replayer(answer.model, {**query.before.pointer_roots, **query.after.pointer_roots})
    paths = list(query.final_mem)
    before = replay.behaviour(query.before, lambda p: query.final_mem[p][0], paths)
    after = replay.behaviour(query.after, lambda p: query.final_mem[p][1], paths)
    if not _observably_different(before, after, query):
        return None
    flags = replay.int(query.flags)
    configs = {**query.before.configs, **query.after.configs}
    inputs = {name: _render_input(name, replay.int(term))
              for name, term in {**query.before.inputs, **query.after.inputs}.items()}
    inputs.update({name: str(_signed(replay.int(value)))
                   for name, (_, _, value) in entry_elements(answer.model, query).items()})
    return Counterexample(
        flags=flags,
        flag_names=tuple(names.get(i, f"bit {i}") for i in range(64) if flags >> i & 1),
        configs=tuple((name, replay.true(configs[name])) for name in sorted(configs)),
        inputs=tuple((name, inputs[name]) for name in sorted(inputs)),
        before=before,
        after=after,
        first_divergence=_first_divergence(before, after),
        decided_at=_decided_at(replay, query, _first_divergence(before, after)),
        flags_observable=query.before.flags_written or query.after.flags_written,
        word=word,
        mapped=None if mapped is None else _mapped(replay, *mapped),
        loops=tuple(replay.loops(query.before, names) + replay.loops(query.after, names)),
    )


def entry_elements(model: z3.ModelRef, query: Query
                   ) -> dict[str, tuple[z3.ArrayRef, int, z3.BitVecRef]]:
    """The elements of arrays of unknown length that the runs read on entry at an
    index that is not a constant, by the name a counterexample gives them
    (`table[5]`, inputs like any memory cell): the entry Array, the position, the
    value read."""
    out: dict[str, tuple[z3.ArrayRef, int, z3.BitVecRef]] = {}
    for side in (query.before, query.after):
        for array, key, guard, index, value in side.entry_reads:
            if z3.is_true(model.eval(guard, model_completion=True)):
                k = model.eval(index, model_completion=True).as_long()
                whole = z3.Array(f"mem:{key}", z3.BitVecSort(64), z3.BitVecSort(64))
                out.setdefault(f"{array}[{_signed(k)}]", (whole, k, value))
    return out


def _decided_at(replay: Replayer, query: Query, at: int | None) -> Location | None:
    """The condition the first divergent call depends on.

    The divergent call happens on one side; if the other side has the same
    call but it does not happen there, its gating condition is the one whose
    outcome changed.  Otherwise the call's own gating condition.
    """
    if at is None:
        return None
    happened = [[e for e in side.events if replay.true(e.guard)]
                for side in (query.before, query.after)]
    for k, other in ((1, 0), (0, 1)):  # the after side's call first, then the before side's
        if at >= len(happened[k]):
            continue
        call = happened[k][at]
        for e in (query.before, query.after)[other].events:
            if e.name == call.name and e.branch is not None and not replay.true(e.guard):
                return e.branch
        if call.branch is not None:
            return call.branch
    return None


def _mapped(replay: Replayer, symbol: str, names: dict[int, str]) -> tuple[int, tuple[str, ...]]:
    value = replay.int(z3.BitVec(symbol, 64))
    return value, tuple(names.get(i, f"bit {i}") for i in range(64) if value >> i & 1)


def _render_input(name: str, value: int) -> str:
    return hex(value) if "flag" in name else str(_signed(value))


def _signed(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


def _at_view(value: int, view: tuple[int, bool] | None) -> int:
    """A memory cell's value as the member the side writes it through reads it.

    A cell is 64 bits and a narrower member keeps the bits above it, which are
    no part of the member's value (`u8 prio` showed as 16777216).  A cell
    written through no member, or through members of different types, is
    shown whole, as a `long`."""
    if view is None:
        return _signed(value)
    width, signed = view
    value &= (1 << width) - 1
    return value - (1 << width) if signed and value >> (width - 1) else value


def _key(behaviour: Behaviour) -> list[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]]:
    return [(c.function, c.args, c.context) for c in behaviour.calls]


def _first_divergence(before: Behaviour, after: Behaviour) -> int | None:
    b, a = _key(before), _key(after)
    for i in range(max(len(b), len(a))):
        if i >= len(b) or i >= len(a) or b[i] != a[i]:
            return i
    return None


def _observably_different(before: Behaviour, after: Behaviour, query: Query) -> bool:
    if _key(before) != _key(after):
        return True
    if before.ret != after.ret and query.before.ret is not None and query.after.ret is not None:
        return True
    if (query.before.flags_written or query.after.flags_written) and before.flags != after.flags:
        return True
    return before.memory != after.memory
