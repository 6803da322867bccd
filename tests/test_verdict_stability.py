"""The disjoint-seed verdict check matches claims by text and counts what held (benchmarks/verdict_stability.py)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from verdict_stability import compare_verdicts  # noqa: E402


def test_compare_verdicts_by_hand():
    committed = [{"claim": "a", "verdict": "reproduced", "mean": 1.0},
                 {"claim": "b", "verdict": "inconclusive", "mean": 0.1},
                 {"claim": "c", "verdict": "contradicted", "mean": -1.0}]
    fresh = [{"claim": "b", "verdict": "inconclusive", "mean": 0.3},
             {"claim": "a", "verdict": "inconclusive", "mean": 0.4},
             {"claim": "d", "verdict": "reproduced", "mean": 2.0}]
    out = compare_verdicts(committed, fresh)
    # a and b by text; c and d are left over on both sides: paired by their order
    assert [(r["claim"], r["fresh_claim"], r["matched"]) for r in out["claims"]] == [
        ("a", "a", "text"), ("b", "b", "text"), ("c", "d", "position")]
    assert [r["held"] for r in out["claims"]] == [False, True, False]
    assert (out["held"], out["total"]) == (1, 3) and out["share"] == pytest.approx(1 / 3)
    # one left over on one side only: not held
    only = compare_verdicts(committed, fresh[:2])
    assert only["claims"][-1]["matched"] == "none" and only["claims"][-1]["fresh"] is None and only["held"] == 1


def test_overlapping_seeds_are_refused_before_anything_runs():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "verdict_stability.py"), "mil", "--scale", "book",
                        "--seeds", "0", "101"], capture_output=True, text=True)
    assert r.returncode == 2 and "were used by the committed run" in r.stderr
