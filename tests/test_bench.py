"""Smoke test of `python -m equiv.bench`: tiny sizes, one repeat; checks the shape of
the table and the JSON, never the times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from equiv import bench

REPO = Path(__file__).resolve().parent.parent


def test_generated_pairs_check_as_intended(tmp_path: Path) -> None:
    expected = {
        "scale-3-eq": "equivalent", "scale-3-diff": "not-equivalent",
        "nest-2-eq": "equivalent", "nest-2-diff": "not-equivalent",
        "region-3": "not-equivalent", "loop-2": "equivalent",
        "one-3-m2": "equivalent", "self-3": "equivalent", "big-small-4": "not-equivalent",
        "struct-3": "not-equivalent",
    }
    pairs = [bench.scale_pair(3, False), bench.scale_pair(3, True), bench.nest_pair(2, False),
             bench.nest_pair(2, True), bench.region_pair(3), bench.loop_pair(2),
             bench.one_name_pair(3, 2), bench.self_pair(3), bench.big_small_pair(4),
             bench.struct_fields_pair(3)]
    for pair in pairs:
        before, after = bench.write_pair(pair, tmp_path)
        verdict, stages = bench.staged_check(before, after, pair.function, pair.unwind)
        assert verdict == expected[pair.name], pair.name
        assert {"parse", "program", "symex", "query", "solve", "report"} <= stages.keys()
        if verdict == "not-equivalent":
            assert {"mincex", "diffcond"} <= stages.keys()


def test_benchmark_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "equiv.bench", "--repeat", "1", "--oracle-repeat", "1",
         "--scale", "3", "--depth", "2", "--region-bits", "2", "--unwind", "2",
         "--batch", "2", "--one-name", "3", "--one-name-bits", "2", "--self", "3",
         "--big-small", "5", "--struct-fields", "2", "--exit-loop", "0", "--json", str(out)],
        # A guard against a hang, not a speed goal (those are the benchmark's own rows):
        # 123 s under a load of about 6 on two cores, past 300 s under a load of 7.
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env={k: v for k, v in os.environ.items() if k != bench.CORPUS_VARIABLE})
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[1].split()
    assert header[:4] == ["row", "verdict", "wall", "s"]
    assert "result" in header and "mincex" in header and "diffcond" in header
    data = json.loads(out.read_text())
    assert data["schema"] == 1 and data["repeat"] == 1
    keys = [row["key"] for row in data["rows"]]
    assert keys == ["floor", "seed-e2e", "python", "imports", "seed-stages", "scale-3-eq",
                    "scale-3-diff", "nest-2-eq", "nest-2-diff", "region-2", "loop-2",
                    "one-3-m2", "self-3", "big-small-5", "struct-fields", "struct-2", "corpus",
                    "batch-2"]
    rows = {row["key"]: row for row in data["rows"]}
    corpus = rows.pop("corpus")
    assert corpus["verdict"].startswith("skipped") and not corpus["targets"], corpus
    assert rows["self-3"]["verdict"] == "equivalent"
    assert rows["one-3-m2"]["verdict"] == "equivalent"
    assert rows["big-small-5"]["verdict"] == "not-equivalent"
    assert rows["struct-2"]["verdict"] == "not-equivalent"
    assert rows["struct-fields"]["verdict"] == "not-equivalent"
    vs = [t for t in rows["one-3-m2"]["targets"] if t["metric"] == "vs:scale-3-eq"]
    assert len(vs) == 1 and isinstance(vs[0]["pass"], bool), rows["one-3-m2"]["targets"]
    for row in rows.values():
        assert any(t["text"] == "<1 GB" for t in row["targets"]), row
        assert row["wall_s"] is not None and row["wall_s"] > 0, row
        assert row["peak_rss_mb"] is not None and row["peak_rss_mb"] > 0, row
        assert not row["verdict"].startswith("error"), row
        assert row["oracle_agrees"] in (None, True), row
    seed, floor = rows["seed-e2e"], rows["floor"]
    start_up = seed["targets"][0]
    assert start_up["text"] == "<floor+0.08 s" and isinstance(start_up["pass"], bool)
    assert abs(start_up["value"] - (seed["wall_s"] - floor["wall_s"])) < 1e-9
    assert start_up["pass"] == (start_up["value"] <= 0.08)
    assert len(data["table"]) == len(keys) + 2
    for key in keys:
        assert any(line.startswith(key) for line in data["table"])


def test_profile_prints_top_functions() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "equiv.bench", "--scale", "3", "--profile", "scale-3-diff"],
        cwd=REPO, capture_output=True, text=True, timeout=600)  # a hang guard
    assert proc.returncode == 0, proc.stderr
    assert "cumulative" in proc.stdout and "staged_check" in proc.stdout


def test_corpus_row_runs_each_manifest_pair_from_its_directory(tmp_path: Path) -> None:
    """A corpus laid out by tests/corpus/rebuild.py (a directory per pair) is run with each
    pair's own command: here one pair whose files are stand-ins, the same on both sides."""
    rebuild = bench._module_at("bench_test_rebuild", bench.CORPUS_REBUILD)
    pair = next(p for p in rebuild.load_manifest()[0] if "--function" in p.args)
    function = pair.args[pair.args.index("--function") + 1]
    for arg in pair.args[1:]:
        if "/" in arg and not arg.startswith("-"):
            for part in arg.split("+"):
                path = tmp_path / pair.id / part
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"void {function}(unsigned long flags)\n{{\n}}\n")
    summary, stages = bench.corpus_check(tmp_path)
    assert summary.startswith("1 pairs, ") and "1 equivalent" in summary, summary
    assert stages["max"] == stages["median"] > 0
