"""The operating-point table, the no-room-to-move rule and the calibration search, on hand-worked cases."""
import json

import numpy as np
import pandas as pd
import pytest

from avlib import operating_point as op
from avlib.bounds import capped, mark_capped
from avlib.calibration import CALIBRATIONS, Knob, bisect_knobs, miss
from avlib.scorecard import (Claim, at_bound, difference, headroom, load_results, paired, records, row,
                             scorecard, verdict)


def test_tolerance_is_the_wider_of_5_points_and_15_percent():
    assert op.tolerance(op.Reference("a", "t", "F1", 20.0, [20])) == pytest.approx(5.0)      # 15 % of 20 = 3
    assert op.tolerance(op.Reference("a", "t", "F1", 57.3, [57])) == pytest.approx(8.595)    # 15 % of 57.3
    assert op.tolerance(op.Reference("a", "t", "cIoU", 0.185, [0.2], bounds=(0, 1))) == pytest.approx(0.05)
    assert op.tolerance(op.Reference("a", "t", "cIoU", 0.582, [0.5], bounds=(0, 1))) == pytest.approx(0.0873)
    # a calibration's targets get the same bands
    assert op.target_tolerances({"x": 20.0, "y": 57.3}) == pytest.approx({"x": 5.0, "y": 8.595})
    assert op.target_tolerances({"z": 0.582}, bounds=(0, 1)) == pytest.approx({"z": 0.0873})


def test_status_and_bound_by_hand():
    r = op.Reference("TS audio-only", "test", "F1", 57.3, [93.0, 94.0])
    assert op.status(r) == "above" and at_bound(r.mean, r.bounds) == ""
    assert op.status(op.Reference("x", "t", "F1", 57.3, [49.0])) == "within"       # 57.3 − 8.595 = 48.7
    assert op.status(op.Reference("x", "t", "F1", 57.3, [48.0])) == "below"
    assert at_bound(97.0, (0, 100)) == "ceiling" and at_bound(96.9, (0, 100)) == ""
    assert at_bound(0.03, (0, 1)) == "floor" and at_bound(0.031, (0, 1)) == ""
    table = op.operating_table([r, op.Reference("DSOL", "solo", "NSA", 98.5, [99.6, 99.8], role="method")])
    assert list(table["status"]) == ["above", "within, at its ceiling"]
    assert table.loc[0, "ours"] == "93.5 ± 0.7 (n=2)" and table.loc[0, "ours − paper"] == "+36.2"


def test_reference_rejects_bad_input():
    with pytest.raises(ValueError, match="no measurement"):
        op.Reference("a", "t", "F1", 50.0, [])
    with pytest.raises(ValueError, match="non-finite"):
        op.Reference("a", "t", "F1", 50.0, [np.nan])
    with pytest.raises(ValueError, match="role"):
        op.Reference("a", "t", "F1", 50.0, [1.0], role="ours")


def test_summary_and_load_round_trip(tmp_path):
    refs = [op.Reference("b1", "t", "F1", 50.0, [52.0]), op.Reference("b2", "t", "F1", 50.0, [80.0]),
            op.Reference("m", "t", "F1", 60.0, [99.0], role="method")]
    rows = op.records(refs)
    assert op.summary(rows) == "1/2 baselines within tolerance; m (t) at its ceiling"
    (tmp_path / "mil-book.json").write_text(json.dumps({"results": {"operating_point": rows}}))
    (tmp_path / "psp-book.json").write_text(json.dumps({"results": {}}))
    loaded = load_results(tmp_path, ["mil", "psp", "lvs"], key="operating_point")
    assert list(loaded["chapter"]) == ["mil"] * 3 and list(loaded["status"]) == ["within", "above", "above"]


def test_a_baseline_outside_the_band_is_a_caveat_shown_whatever_the_verdict():
    rows = op.records([op.Reference("OTS", "mosaics", "CIoU", 3.7, [26.0, 27.0]),
                       op.Reference("OTS", "duets", "CIoU", 13.2, [14.0]),
                       op.Reference("Att", "duets", "CIoU", 21.5, [1.0, 2.0])])
    assert op.baseline_caveat(rows, "OTS", "duets") == ""                       # within ±5 of 13.2
    assert op.baseline_caveat(rows, "absent") == ""
    text = op.baseline_caveat(rows, "OTS", "mosaics", "CIoU")
    assert text == ("the OTS baseline (mosaics, CIoU) sits above the paper's band (26.5 against 3.7; "
                    "operating point): a stronger baseline than the paper's")
    assert "below the paper's band (1.5 against 21.5, at its floor" in op.baseline_caveat(rows, "Att")
    assert "a weaker baseline" in op.baseline_caveat(rows, "Att")
    with pytest.raises(ValueError, match="name the test"):
        op.baseline_caveat(rows, "OTS")
    d = [5.0, 6.0, 7.0]                                          # reproduced: the own note goes, the caveat stays
    kept = row(Claim("c", "s", d, note="why it failed", caveat=text))
    assert kept["verdict"] == "reproduced" and kept["note"] == text
    failed = row(Claim("c", "s", [-x for x in d], note="why it failed", caveat=text))
    assert failed["verdict"] == "contradicted" and failed["note"] == f"why it failed; {text}"


def test_headroom_needs_room_in_the_claimed_direction():
    F1 = (0, 100)
    # the side the paper says is lower already at the ceiling: the difference is squashed
    assert "ceiling" in headroom((98.0, 99.0), F1, ">")
    # the higher side at the ceiling, the lower far below: the effect shows; testable
    assert headroom((99.6, 82.0), F1, ">") == ""
    # the higher side at the floor
    assert "floor" in headroom((2.0, 1.0), F1, ">")
    # "<": mirrored (better = the side the paper says is lower)
    assert "floor" in headroom((0.007, 0.01), (0, 1), "<")
    assert headroom((0.2, 0.5), (0, 1), "<") == ""
    # equivalence: both sides at one bound
    assert "both sides" in headroom((99.0, 98.5), F1, "≈") and headroom((99.0, 60.0), F1, "≈") == ""
    assert headroom(None, F1) == "" and headroom((1.0, 2.0), None) == ""


def test_a_claim_with_room_but_a_side_at_a_bound_is_decided_and_marked_capped():
    F1 = (0, 100)
    # the higher side at the ceiling: decidable (headroom passes), but the difference is capped
    assert headroom((99.7, 87.1), F1, ">") == ""
    assert capped((99.7, 87.1), F1, ">") == ("capped: the side the paper says is higher sits at the measure's "
                                              "ceiling (99.7), so the difference is capped there and can only "
                                              "understate the effect")
    # "<" mirrored: the lower side (better) at the floor
    assert capped((0.02, 0.5), (0, 1), "<").startswith("capped: the side the paper says is lower sits at the measure's floor")
    # the lower side at the floor of a ">" claim: also capped
    assert "the side the paper says is lower sits at the measure's floor (1)" in capped((40.0, 1.0), F1, ">")
    assert "squash the difference toward 0" in capped((99.0, 60.0), F1, "≈")
    # neither side at a bound, no room at all (the rule's not testable), or nothing to read: no mark
    assert capped((96.9, 50.0), F1, ">") == "" and capped((98.0, 99.0), F1, ">") == ""
    assert capped(None, F1) == "" and capped([99.7, 1.0], float("nan")) == ""
    # on scorecard rows, as the dashboard reads them back from the results files (lists, None)
    rows = pd.DataFrame(records(scorecard([
        Claim("the Prod step filters silent objects", "Table 5", difference([99.6, 99.8, 99.7], [87.0, 87.2, 87.1]),
              unit="NSA", bounds=F1, caveat="a caveat"),
        Claim("stuck", "s", difference([98.0, 98.5, 98.2], [99.0, 99.5, 99.2]), bounds=F1),
        Claim("free", "s", [1.0, 2.0, 3.0])])))
    marked = mark_capped(rows)
    assert marked["capped"].tolist() == [True, False, False]
    assert marked.verdict[0] == "reproduced" and marked.note[0].startswith("capped: the side the paper says is higher")
    assert marked.note[0].endswith("; a caveat")
    assert marked.verdict[1] == "not testable" and "capped" not in marked.note[1] and marked.note[2] == ""
    assert "capped" not in rows                                          # the input table is left as it was


def test_a_claim_without_room_is_not_testable_and_keeps_its_numbers():
    d = difference([0.990, 0.992, 0.991], [0.995, 0.996, 0.994])
    assert d.attrs["levels"] == pytest.approx((0.991, 0.995))
    c = Claim("alternating optimisation improves NMI", "Fig. 3", d, unit="NMI", bounds=(0, 1))
    r = row(c)
    assert verdict(c.diffs) == "contradicted"           # what the rule alone would say
    assert r["verdict"] == "not testable" and "ceiling" in r["note"]
    assert r["mean"] == pytest.approx(-0.004) and r["levels"] == pytest.approx([0.991, 0.995])
    # without bounds the rule is unchanged
    assert row(Claim("same", "x", d, unit="NMI"))["verdict"] == "contradicted"
    with pytest.raises(ValueError, match="bounds"):
        Claim("bad", "x", d, bounds=(1, 0))


def test_paired_carries_the_sides_means_and_scale():
    import pandas as pd
    df = pd.DataFrame({"row": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2, "v": [0.5, 0.6, 0.7, 0.2, 0.2, np.nan]})
    d = paired(df, {"row": "a"}, {"row": "b"}, "v", scale=100)
    assert list(d.index) == [0, 1] and list(d) == pytest.approx([30.0, 40.0])
    assert d.attrs["levels"] == pytest.approx((55.0, 20.0))


def test_bisection_finds_each_knobs_target_on_a_monotone_world():
    # two separable "baselines": a = 3·x + 10 (increasing in x), b = 80 − 100·y (decreasing in y)
    calls = []

    def evaluate(v):
        calls.append(dict(v))
        return {"a": 3 * v["x"] + 10, "b": 80 - 100 * v["y"]}

    knobs = [Knob("x", "a", 0.0, 20.0, increasing=True), Knob("y", "b", 0.0, 0.6, increasing=False)]
    values, history = bisect_knobs(evaluate, knobs, {"a": 40.0, "b": 50.0}, {"a": 5.0, "b": 5.0}, steps=5)
    assert len(history) == len(calls) == 5
    assert [h["x"] for h in history] == [10.0, 15.0, 12.5, 11.25, 10.625]
    assert [h["y"] for h in history] == pytest.approx([0.3, 0.15, 0.225, 0.2625, 0.28125])
    best = min(history, key=lambda h: h["miss"])
    assert values == {"x": best["x"], "y": best["y"]} and best["miss"] <= 0.25
    assert miss({"a": 45.0, "b": 50.0}, {"a": 40.0, "b": 50.0}, {"a": 5.0, "b": 5.0}) == 1.0
    with pytest.raises(ValueError, match="without a target"):
        bisect_knobs(evaluate, knobs, {"a": 40.0}, {"a": 5.0})
    with pytest.raises(ValueError, match="steps"):
        bisect_knobs(evaluate, knobs, {"a": 40.0, "b": 50.0}, {"a": 5.0, "b": 5.0}, steps=0)


def test_the_mil_calibration_targets_are_the_papers_baselines_only():
    from avlib.experiments.mil import PAPER_TABLE1
    from avlib.experiments.mil_calibration import world_knobs
    spec = CALIBRATIONS["mil"]
    assert spec["targets"] == {k: PAPER_TABLE1[k][0] for k in ("TS audio-only", "TS video-only")}
    assert "AV two-stream" not in spec["targets"] and "AV one-stream" not in spec["targets"]
    assert world_knobs({"snr_shift": -12.5, "p_visual_missing": 0.45}) == {"snr_db": (-12.5, -2.5),
                                                                          "p_visual_missing": 0.45}
