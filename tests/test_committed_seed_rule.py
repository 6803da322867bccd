"""The committed book-scale results follow the seed rule: every verdict rests on a fresh confirmatory
set that the pilot sized (``avlib.seed_rule``), never on the pilot's seeds."""
import json
from pathlib import Path

import pytest

from avlib import seed_rule

RESULTS = Path(__file__).resolve().parents[1] / "results"
CHAPTERS = ("mil", "lvs", "psp", "dsol")


def committed(chapter):
    path = RESULTS / f"{chapter}-book.json"
    if not path.exists():
        pytest.fail(f"{path.name} is not committed: execute book/{chapter}.ipynb at book scale")
    return json.loads(path.read_text())


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_verdicts_rest_on_the_planned_fresh_seeds(chapter):
    run = committed(chapter)
    res = run["results"]
    assert "seed_plan" in res and "confirm_seeds" in res, f"{chapter}: no seed plan in the committed results"
    confirm = res["confirm_seeds"]
    pilot = [s for s in run["provenance"]["seeds"] if s not in confirm]
    assert len(pilot) == seed_rule.N_PILOT, f"{chapter}: the pilot has {len(pilot)} seeds"
    plan = {row["claim"]: row for row in res["seed_plan"]}
    # the confirmatory set is the one the plan fixed: its largest n, from 100 × (largest pilot seed + 1) on
    assert confirm == seed_rule.confirmatory_seeds(pilot, max(row["n"] for row in plan.values()))
    assert not set(pilot) & set(confirm)
    judged = [c for c in res["claims"] if c["diffs"] is not None]
    assert judged, f"{chapter}: no claim was measured"
    for c in judged:
        assert c["claim"] in plan, f"{chapter}: {c['claim']!r} has no row in the seed plan"
        assert len(c["diffs"]) == c["n_seeds"], c["claim"]
        # never judged on fewer seeds than planned, never on more than the fresh set holds
        assert plan[c["claim"]]["n"] <= c["n_seeds"] <= len(confirm), (chapter, c["claim"], c["n_seeds"])
    for row in plan.values():
        if row["capped"]:
            assert row["needed"] > row["n"] and "capped" in row["why"], row
