"""The practice corpus of real kernel code (tests/corpus/), run as a developer would.

Skipped unless EQUIV_KERNEL_CORPUS names a directory rebuilt by `tests/corpus/rebuild.py build`.
Each pair is one `python -m equiv check ...` command from the manifest. The hard requirement is
that equiv never says EQUIVALENT where the change is known to alter behaviour; agreement with
the expected verdict is reported per pair (printed with `-s` / `-rA`), since today most pairs
stop at exit 2 on constructs equiv does not handle yet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))
import rebuild

CORPUS = os.environ.get("EQUIV_KERNEL_CORPUS", "")
PAIRS = rebuild.load_manifest()[0]
VERDICTS = {"equivalent", "not-equivalent", "unknown"}

needs_corpus = pytest.mark.skipif(not CORPUS or not Path(CORPUS).is_dir(),
                                  reason="set EQUIV_KERNEL_CORPUS to a rebuilt corpus")


def test_manifest_is_well_formed() -> None:
    """Every pair names its files by full blob ids, a known verdict, a reason and a command."""
    ids = [p.id for p in PAIRS]
    assert len(ids) == len(set(ids)) >= 25
    for pair in PAIRS:
        assert pair.expect in VERDICTS, pair.id
        assert pair.raw.get("why"), pair.id
        assert pair.args[0] == "check" and "--function" in pair.args, pair.id
        for _, before, after in pair.files:
            assert len(before) == len(after) == 40 and before != after, pair.id


@needs_corpus
def test_rebuilt_files_are_the_real_ones() -> None:
    """Each rebuilt file hashes to the blob id the manifest names."""
    for pair in PAIRS:
        for path, before, after in pair.files:
            for side, blob in (("before", before), ("after", after)):
                data = (Path(CORPUS) / pair.id / side / path).read_bytes()
                assert rebuild.git_hash(data) == blob, f"{pair.id} {side} {path}"


@needs_corpus
@pytest.mark.parametrize("pair", PAIRS, ids=[p.id for p in PAIRS])
def test_pair(pair: rebuild.Pair) -> None:
    """No wrong EQUIVALENT, no traceback; the agreement is printed for the report."""
    outcome = rebuild.run_pair(pair, Path(CORPUS).resolve(), timeout=300.0)
    print(f"{pair.id}: expected {outcome.expect}, got {outcome.got} (exit {outcome.exit}) "
          f"{outcome.first_error}")
    assert not outcome.wrong_equivalent, f"{pair.id}: EQUIVALENT, but {pair.raw['why']}"
    assert not outcome.first_error.startswith("TRACEBACK"), outcome.first_error
    assert outcome.exit in (0, 1, 2, 3), f"{pair.id}: exit {outcome.exit}"
