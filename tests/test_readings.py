"""Readings beside the verdict, on hand-worked cases and against G*Power's one-sample t-test sample sizes."""
import numpy as np
import pytest

from avlib.readings import MAX_SEEDS, readings, seeds_for_power
from avlib.scorecard import Claim, row, scorecard
from avlib.scorecard_view import display_table


def test_seeds_for_power_matches_the_standard_table():
    # one-sample (paired) two-sided t-test, alpha 0.05, power 0.80: d = 1 → 10, d = 0.5 → 34 (G*Power 3.1)
    assert seeds_for_power(1.0, 1.0) == 10 and seeds_for_power(2.0, 1.0) == 34 and seeds_for_power(1.0, 0.5) == 34
    assert seeds_for_power(1.0, -1.0) == 10          # the sign of the effect does not matter
    assert seeds_for_power(0.0, 1.0) == 2            # no spread: the minimum
    assert seeds_for_power(100.0, 1.0) == MAX_SEEDS + 1
    with pytest.raises(ValueError, match="no effect"):
        seeds_for_power(1.0, 0.0)
    with pytest.raises(ValueError, match="sd"):
        seeds_for_power(float("nan"), 1.0)


def test_readings_of_each_verdict_by_hand():
    # inconclusive, paper's +2 inside [−0.5, 2.5]: underpowered, with the seeds it needs (sd 1.2, effect 2 → d 1.67)
    r = readings(1.0, -0.5, 2.5, 1.2, 5, ">", 2.0, "inconclusive")
    assert r["paper_in_ci"] and r["max_effect"] == 2.5 and r["seeds_needed"] == seeds_for_power(1.2, 2.0) == 6
    assert r["ratio_low"] == pytest.approx(-0.25) and r["ratio_high"] == pytest.approx(1.25)
    assert r["reading"].startswith("underpowered: about 6 seeds")
    # inconclusive, the paper's +2 beyond the upper end 1.5: no effect of that size
    r = readings(1.0, -0.5, 1.5, 1.2, 5, ">", 2.0, "inconclusive")
    assert not r["paper_in_ci"] and r["seeds_needed"] is None and r["reading"].startswith("no effect of the paper's size")
    # "<": the largest effect allowed is the lower end of the interval
    r = readings(-0.2, -0.6, 0.2, 0.3, 5, "<", -1.0, "inconclusive")
    assert r["max_effect"] == -0.6 and r["reading"] == ("no effect of the paper's size (our interval ends at -0.6, "
                                                        "the paper's is -1)")
    # inconclusive although n seeds already give 80 % power for the paper's effect (sd 0.5, effect 2: 4 seeds):
    # not "underpowered", ours is smaller than the paper's
    r = readings(1.0, -0.1, 2.1, 0.5, 5, ">", 2.0, "inconclusive")
    assert r["seeds_needed"] == seeds_for_power(0.5, 2.0) <= 5 and r["reading"].startswith("not underpowered: 5 seeds")
    # reproduced: smaller, larger, or the paper's effect inside
    assert readings(1.0, 0.5, 1.5, 1, 5, ">", 2.0, "reproduced")["reading"] == "smaller than the paper's"
    assert readings(-1.0, -1.5, -0.5, 1, 5, "<", -0.3, "reproduced")["reading"] == "larger than the paper's"
    assert readings(1.0, 0.5, 1.5, 1, 5, ">", 1.2, "reproduced")["reading"] == "the paper's effect is inside our interval"
    assert readings(-1.0, -1.5, -0.5, 1, 5, ">", 1.0, "contradicted")["reading"] == "opposite to the paper's direction"
    # nothing to read: no paper value, an equivalence claim, or a derived paper value (no ratio)
    assert readings(1.0, 0.5, 1.5, 1, 5, ">", None, "reproduced")["reading"] == ""
    assert readings(1.0, 0.5, 1.5, 1, 5, "≈", 1.0, "reproduced")["reading"] == ""
    derived = readings(1.0, -0.5, 1.5, 1, 5, ">", 1.2, "inconclusive", ratio=False)
    assert derived["ratio_low"] is None and derived["seeds_needed"] is None and derived["reading"] == ""


def test_scorecard_rows_carry_the_readings_and_the_table_shows_them():
    diffs = [1.0, 2.5, -0.5, 0.5, 1.5]                  # mean 1.0, sd 1.1180
    c = Claim("PSP beats ASP", "Table 1", diffs, unit="points", paper=1.5)
    r = row(c)
    assert r["verdict"] == "inconclusive" and r["paper_in_ci"]
    assert r["seeds_needed"] == seeds_for_power(float(np.std(diffs, ddof=1)), 1.5) > 5
    view = display_table(scorecard([c, Claim("x", "y", None, reason="no data")]))
    assert view.loc[0, "reading"].startswith("underpowered") and view.loc[1, "reading"] == ""
    assert view.loc[0, "ours / paper"].startswith("0.67 [")


def test_levels_only_describe_the_differences_they_came_with():
    from avlib.scorecard import difference
    d = difference([0.99, 0.98, 1.0], [0.5, 0.6, 0.55])
    assert Claim("a", "b", d, bounds=(0, 1)).levels == pytest.approx((0.99, 0.55))
    assert Claim("a", "b", -d, direction="<", bounds=(0, 1)).levels is None    # derived: pandas keeps attrs
    with pytest.raises(ValueError, match="reason for having none"):
        Claim("a", "b", d, paper=1.0, no_paper="figure only")


def test_no_room_keeps_the_chapters_note_and_shows_no_ratio():
    from avlib.scorecard import difference
    d = difference([0.99, 0.995, 0.992], [0.97, 0.98, 0.985])   # the lower side at the ceiling of (0, 1)
    r = row(Claim("a", "b", d, paper=0.1, bounds=(0, 1), note="measured on one test set"))
    assert r["verdict"] == "not testable" and r["effect_vs_paper"] is None
    assert r["note"].startswith("no room to move") and r["note"].endswith("; measured on one test set")


def _simulated(mean, sd, n, direction, margin=None, sims=3000):
    from avlib.scorecard import verdict
    rng = np.random.default_rng(1)
    words = [verdict(mean + sd * rng.standard_normal(n), direction, margin) for _ in range(sims)]
    return {w: words.count(w) / sims for w in ("reproduced", "contradicted", "inconclusive")}


@pytest.mark.parametrize("mean, sd, n, direction, margin", [
    (1.0, 1.5, 8, ">", None),     # about half the seed sets decide
    (-0.4, 1.0, 10, ">", None),   # some decide the other way
    (0.6, 1.0, 6, "<", None),
    (0.5, 1.2, 10, "≈", 2.0),     # equivalence: inside, straddling and outside the margin all occur
])
def test_verdict_chances_match_the_rule_on_simulated_seeds(mean, sd, n, direction, margin):
    from avlib.readings import verdict_chances
    got = verdict_chances(mean, sd, n, direction, margin)
    assert sum(got.values()) == pytest.approx(1.0)
    sim = _simulated(mean, sd, n, direction, margin)
    for w in got:   # 3000 draws: Monte-Carlo SE ≤ 0.009
        assert got[w] == pytest.approx(sim[w], abs=0.03), (w, got, sim)


def test_verdict_chances_hand_worked_cases():
    from scipy import stats
    from avlib.readings import verdict_chances
    # an interval ending exactly at 0 (t statistic = t_crit): a fresh set decides the same way about half the time
    n, sd = 10, 1.0
    crit = stats.t.ppf(0.975, n - 1)
    edge = verdict_chances(crit * sd / np.sqrt(n), sd, n)
    assert 0.45 < edge["reproduced"] < 0.55 and edge["contradicted"] < 0.001
    # no spread: the verdict is certain; one seed: never decided
    assert verdict_chances(0.3, 0.0, 5) == {"reproduced": 1.0, "contradicted": 0.0, "inconclusive": 0.0}
    assert verdict_chances(-0.3, 0.0, 5, "<")["reproduced"] == 1.0
    assert verdict_chances(5.0, 1.0, 1)["inconclusive"] == 1.0
    # direction "<" mirrors ">"
    a, b = verdict_chances(0.7, 1.0, 7, ">"), verdict_chances(-0.7, 1.0, 7, "<")
    assert a == pytest.approx(b)
    with pytest.raises(ValueError, match="margin"):
        verdict_chances(0.0, 1.0, 5, "≈")
    with pytest.raises(ValueError, match="direction"):
        verdict_chances(0.0, 1.0, 5, "=")


def test_verdict_chances_stay_finite_in_the_far_tails():
    # scipy's noncentral-t cdf is NaN for some large noncentralities (e.g. 37 at 2 or 199 degrees of freedom)
    from avlib.readings import verdict_chances
    for mean in (-60.0, -12.0, -4.0, 4.0, 12.0, 37.0 / np.sqrt(200), 60.0):
        for n in (3, 10, 40, 200):
            got = verdict_chances(mean, 1.0, n)
            assert all(np.isfinite(v) for v in got.values()) and sum(got.values()) == pytest.approx(1.0), (mean, n, got)
    assert verdict_chances(37.0 / np.sqrt(200), 1.0, 200)["reproduced"] == 1.0   # noncentrality 37, 199 df


@pytest.mark.parametrize("mean, sd, n, direction, margin", [(1.0, 1.5, 8, ">", None), (0.5, 1.2, 10, "≈", 2.0)])
def test_verdict_agreement_matches_two_simulated_seed_sets(mean, sd, n, direction, margin):
    from avlib.readings import verdict_agreement
    from avlib.scorecard import verdict
    rng = np.random.default_rng(2)
    sims = 3000
    same = sum(verdict(mean + sd * rng.standard_normal(n), direction, margin)
               == verdict(mean + sd * rng.standard_normal(n), direction, margin) for _ in range(sims))
    assert verdict_agreement(mean, sd, n, direction, margin) == pytest.approx(same / sims, abs=0.03)


def test_verdict_agreement_hand_worked_cases():
    from scipy import stats
    from avlib.readings import verdict_agreement
    # no spread, or one seed (never decided): both sets always agree
    assert verdict_agreement(0.3, 0.0, 5) == 1.0 and verdict_agreement(5.0, 1.0, 1) == 1.0
    # no effect: each set is inconclusive with 95 %, either decision with 2.5 %: 0.95² + 2 · 0.025²
    assert verdict_agreement(0.0, 1.0, 12) == pytest.approx(0.95 ** 2 + 2 * 0.025 ** 2)
    # an interval ending exactly at 0: decided about half the time, so two sets agree about half the time
    n = 10
    edge = verdict_agreement(stats.t.ppf(0.975, n - 1) / np.sqrt(n), 1.0, n)
    assert 0.45 < edge < 0.55
    # a large effect: the trough is passed, agreement returns towards 1
    assert verdict_agreement(0.5, 1.0, 200) > 0.99 > verdict_agreement(0.5, 1.0, 30)
