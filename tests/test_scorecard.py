"""One verdict rule for the whole book: hand-worked t-intervals and every branch of the rule."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from avlib.scorecard import Claim, interval, paired, scorecard, select, totals, verdict
from avlib.summary import mean_std, summarize


def test_interval_matches_the_t_formula_by_hand():
    x = [1.0, 2.0, 3.0]            # mean 2, sd 1, n 3: half-width t(0.975, 2) / sqrt(3)
    m, lo, hi = interval(x)
    half = 4.302652729911275 / np.sqrt(3)
    assert m == 2.0 and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    assert stats.t.ppf(0.975, 2) == pytest.approx(4.302652729911275)
    m, lo, hi = interval([5.0])
    assert m == 5.0 and np.isnan(lo) and np.isnan(hi)


def test_verdict_rule_every_branch():
    assert verdict([1.0, 1.2, 0.9, 1.1, 1.0]) == "reproduced"
    assert verdict([-1.0, -1.2, -0.9, -1.1]) == "contradicted"
    assert verdict([1.0, -0.5, 0.8]) == "inconclusive"           # interval includes 0
    assert verdict([0.1, 0.2, 3.0]) == "inconclusive"            # every seed positive, interval still includes 0
    assert verdict([-1.0, -1.2, -0.9], direction="<") == "reproduced"
    assert verdict([1.0, 1.2, 0.9], direction="<") == "contradicted"
    assert verdict([2.0]) == "inconclusive"                      # one seed: no interval
    assert verdict([0.5, 0.5, 0.5]) == "reproduced"              # zero spread, positive mean
    assert verdict([0.0, 0.0, 0.0]) == "inconclusive"
    assert verdict(None) == "not testable"
    # equivalence: within the margin, outside it, straddling it
    assert verdict([0.1, -0.1, 0.05, 0.0], "≈", margin=1.0) == "reproduced"
    assert verdict([3.0, 3.2, 2.9], "≈", margin=1.0) == "contradicted"
    assert verdict([0.5, 1.5, 1.0], "≈", margin=1.0) == "inconclusive"


def test_claim_validation_and_scorecard_rows():
    with pytest.raises(ValueError, match="direction"):
        Claim("x", "Sec. 1", [1.0], direction="!")
    with pytest.raises(ValueError, match="margin"):
        Claim("x", "Sec. 1", [1.0], direction="≈")
    with pytest.raises(ValueError, match="not testable"):
        Claim("x", "Sec. 1", None)
    with pytest.raises(ValueError, match="non-finite"):
        Claim("x", "Sec. 1", [1.0, float("nan")])
    table = scorecard([Claim("A beats B", "Table 1", [2.0, 2.2, 1.8], unit="pts", paper=4.0, note="n"),
                       Claim("C beats D", "Table 2", [-1.0, 0.5, 0.2], note="noisy"),
                       Claim("SOTA on AVE", "Table 4", None, reason="needs AVE")])
    assert list(table.verdict) == ["reproduced", "inconclusive", "not testable"]
    assert table.effect_vs_paper[0] == pytest.approx(0.5)
    assert list(table.note) == ["", "noisy", "needs AVE"]
    assert totals(table) == {"reproduced": 1, "contradicted": 0, "inconclusive": 1, "not testable": 1, "total": 3}


def test_mean_std_uses_ddof_1_and_summaries_and_pairs_by_seed():
    assert mean_std([1.0, 2.0, 3.0]) == "2.0 ± 1.0"
    assert mean_std([0.5], digits=2) == "0.50"
    df = pd.DataFrame({"row": ["b", "b", "a", "a", "a"], "seed": [0, 1, 0, 1, 2], "test": [1.0, 3.0, 2.0, 2.0, 9.0]})
    s = summarize(df, "row")
    assert list(s.row) == ["b", "a"] and s["std"].tolist()[0] == pytest.approx(np.sqrt(2))
    assert s["mean ± std"].tolist()[0] == "2.0 ± 1.4" and s["count"].tolist() == [2, 3]
    d = paired(df, {"row": "b"}, {"row": "a"})          # seeds 0 and 1 only: b − a = −1, +1
    assert d.tolist() == [-1.0, 1.0] and list(d.index) == [0, 1]
    assert len(select(df, row="a", missing=None)) == 3
    with pytest.raises(ValueError, match="no common seed"):
        paired(df, {"row": "b"}, {"row": "zzz"})


def test_beside_paper_keeps_the_papers_numbers_numeric():
    import numpy as np
    import pandas as pd
    from avlib.scorecard import beside_paper
    ours = pd.DataFrame({"ciou": ["30.1 ± 1.0", "10.0 ± 2.0"], "auc": ["20.0 ± 0.5", "9.0 ± 0.1"]},
                        index=["DSOL", "extra row"])
    t = beside_paper(ours, {"DSOL": (32.3, 23.5)}, names={"ciou": "CIoU@0.3"})
    assert list(t.columns) == [("CIoU@0.3", "ours"), ("CIoU@0.3", "paper"), ("auc", "ours"), ("auc", "paper")]
    assert t.loc["DSOL", ("CIoU@0.3", "paper")] == 32.3 and t[("auc", "paper")].dtype == float
    assert np.isnan(t.loc["extra row", ("auc", "paper")]) and t.loc["extra row", ("auc", "ours")] == "9.0 ± 0.1"
    t2 = beside_paper(ours, {"DSOL": {"auc": 23.5}}, columns=["auc"])
    assert list(t2.columns) == [("auc", "ours"), ("auc", "paper")] and t2.loc["DSOL", ("auc", "paper")] == 23.5


def test_the_reader_table_names_real_data_and_not_the_world():
    from avlib.scorecard_view import display_table
    world = scorecard([Claim("a beats b", "Table 1", np.array([1.0, 2.0, 3.0]))])
    assert "data" not in display_table(world).columns
    real = scorecard([Claim("a beats b", "Table 1", np.array([1.0, 2.0, 3.0]), data="AVE")])
    view = display_table(real)
    assert list(view["data"]) == ["AVE"] and list(view.columns[:3]) == ["claim", "where", "data"]


def test_the_reader_table_shows_no_nan_and_digits_follow_the_scale():
    from avlib.scorecard import records
    from avlib.scorecard_view import display_table
    claims = [Claim("a beats b", "T1", np.array([1.0, 2.0, 3.0]), paper=2.0),
              Claim("a ≈ b", "T2", np.array([0.5, -0.5, 0.2]), direction="≈", margin=3.0),
              Claim("features separate", "F3", np.array([-0.004, -0.002, -0.003]), unit="NMI"),
              Claim("range under 3", "T3", np.array([-1.0, -2.0, -1.5]), direction="<", paper=-0.5, ratio=False),
              Claim("needs the world", "F4", reason="the files have no per-second truth", data="X")]
    table = pd.DataFrame(records(scorecard(claims)))          # read back as the dashboard does: None → NaN
    view = display_table(table)
    text = view.to_string()
    assert "nan" not in text.lower() and "[, ]" not in text
    assert list(view["claim"][:2]) == ["a beats b (>)", "a ≈ b (≈ ±3)"]
    assert view["ours, mean [95 % CI]"][2].startswith("-0.0030 [") and view["ours, mean [95 % CI]"][4] == ""
    assert view["ours / paper"][0] == "1.00 [-0.24, 2.24]" and view["ours / paper"][3] == ""


def test_side_is_the_sign_or_the_margin_of_an_equivalence_claim():
    from avlib.scorecard import side
    assert side(2.5) == 1 and side(-0.1) == -1 and side(0.0) == 0
    assert side(-0.1, "<") == -1   # the sign of the mean, whatever the claimed direction
    assert side(2.9, "≈", margin=3.0) == "inside" and side(-3.0, "≈", margin=3.0) == "inside"
    assert side(3.1, "≈", margin=3.0) == "outside" and side(-3.5, "≈", margin=3.0) == "outside"
    with pytest.raises(ValueError, match="margin"):
        side(1.0, "≈")


def test_moved_claims_lists_the_claims_whose_mean_moved_and_says_how():
    from avlib.scorecard import moved_claims, moves_text
    a = scorecard([Claim("x", "T1", [1.0, 2.0, 3.0], paper=2.0), Claim("y", "T1", [1.0, 1.0, 1.5]),
                   Claim("r", "T3", [0.5, 1.0, 1.5], direction="≈", margin=3.0)])
    b = scorecard([Claim("x", "T1", [-1.0, -0.5, -1.5], paper=2.0), Claim("y", "T1", [1.0, 1.0, 1.5]),
                   Claim("r", "T3", [0.6, 1.1, 1.6], direction="≈", margin=3.0)])
    moved = moved_claims(a, b, labels=("short", "long"))
    assert list(moved.index) == ["x", "r"]            # y did not move
    assert moved.loc["x", "side changed"] and not moved.loc["r", "side changed"]   # r stays inside its margin
    assert moved.loc["x", "shift"] == pytest.approx(3.0) and moved.loc["r", "shift"] == pytest.approx(0.1)
    assert moved.loc["x", "short"].startswith("+2.00 [") and moved.loc["x", "long"].startswith("-1.00 [")
    text = moves_text(moved)
    assert "1 mean(s) change side" in text and "x (+2.00" in text and "at most 3.00 (x)" in text
    assert "for 1 of the 2" in text                   # x moved by more than its interval's half-width (2.48)
    assert moves_text(moved_claims(a, a)) == "no claim's mean moves"
    fine = moved_claims(a, b, labels=("short", "long"), digits=3)
    assert fine.loc["x", "short"].startswith("+2.000 [") and "at most 3.000 (x)" in moves_text(fine, digits=3)
    one = moved_claims(scorecard([Claim("x", "T1", [1.0])]), scorecard([Claim("x", "T1", [2.0])]))   # one seed: no interval
    assert one.loc["x", "shift"] == pytest.approx(1.0) and "no interval" in moves_text(one)
