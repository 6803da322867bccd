"""The seed rule (avlib.seed_rule): sized from the pilot's spread and the paper's effect, capped, and its
false-positive rate under a null effect at the interval's 5 % (simulated), unlike the rule that looks first."""
import numpy as np
import pytest

from avlib.readings import seeds_for_power
from avlib.scorecard import verdict
from avlib.seed_rule import _thresholds, null_rate, planned_seeds


def test_planned_seeds_by_hand():
    pilot = [1.0, 2.5, -0.5, 0.5, 1.5]                         # sd 1.118
    sd = float(np.std(pilot, ddof=1))
    p = planned_seeds(pilot, 1.0)                              # d 0.89: 12 seeds
    assert p["n"] == p["needed"] == seeds_for_power(sd, 1.0) == 12 and not p["capped"]
    assert planned_seeds(pilot, 5.0)["n"] == 5                 # a large effect: never fewer than the pilot
    capped = planned_seeds(pilot, 0.3)                         # d 0.27: more than 20
    assert capped["n"] == 20 and capped["capped"] and capped["needed"] > 20 and "capped at 20" in capped["why"]
    assert planned_seeds(pilot, None)["n"] == 5                # no paper effect: the pilot's seeds
    # the mean does not enter: shifting the pilot leaves the plan unchanged
    assert planned_seeds(np.add(pilot, 10.0), 1.0) == p
    with pytest.raises(ValueError, match="two seeds"):
        planned_seeds([1.0], 1.0)


def test_vectorised_thresholds_agree_with_seeds_for_power():
    d_min = _thresholds(5, 20)
    for n, d in zip(range(5, 21), d_min):
        assert seeds_for_power(1.0, d * 1.001) <= n < seeds_for_power(1.0, d * 0.98) or n == 5


@pytest.mark.parametrize("paper", [0.3, 0.8, 2.0])          # pilots mostly capped, mostly extended, mostly kept
def test_null_rate_stays_at_five_percent(paper):
    sims = 40000
    mc = 3 * np.sqrt(0.05 * 0.95 / sims)                       # three Monte-Carlo standard errors
    assert null_rate(1.0, paper, sims=sims) <= 0.05 + mc


def test_the_shortcuts_inflate_it():
    # confirming only inconclusive pilots tests twice; pooling the pilot with the added seeds tests on a
    # spread that also chose n: both well above 5 % (what the fresh confirmatory set avoids)
    assert null_rate(1.0, 0.8, sims=40000, look_at_verdict=True) > 0.08
    assert null_rate(1.0, 0.8, sims=40000, reuse_pilot=True) > 0.06


def test_simulated_verdicts_match_the_books_rule():
    rng = np.random.default_rng(1)
    for _ in range(200):
        x = rng.normal(0.3, 1.0, 6)
        m, s = x.mean(), x.std(ddof=1)
        from scipy import stats
        decided = abs(m) > stats.t.ppf(0.975, 5) * s / np.sqrt(6)
        assert decided == (verdict(x) != "inconclusive")


def test_plan_sizes_each_claim_and_the_chapter_runs_the_largest():
    from avlib.scorecard import Claim
    from avlib.seed_rule import effect_to_size, plan
    pilot = [1.0, 2.5, -0.5, 0.5, 1.5]
    claims = [Claim("a", "s", pilot, paper=1.0),                                  # 12 seeds (above)
              Claim("b", "s", pilot, paper=-5.0, direction="<"),                  # large: the pilot's 5
              Claim("c", "s", pilot, direction="≈", margin=3.0, paper=2.0),       # room 1.0: as "a"
              Claim("d", "s", pilot, no_paper="figure only"),                     # nothing to size for
              Claim("e", "s", None, reason="real data"),                          # not testable
              Claim("f", "s", [1.0], paper=1.0)]                                  # one seed: no spread
    assert effect_to_size(claims[2]) == 1.0 and effect_to_size(Claim("g", "s", pilot, direction="≈", margin=2.0,
                                                                      paper=-2.5)) is None
    p = plan(claims, n_pilot=5)
    assert p.n.tolist() == [12, 5, 12, 5, 5, 5] and p.n.max() == 12
    assert p.loc["a", "needed"] == 12 and p.loc["a", "sized for"] == 1.0 and p.loc["c", "sized for"] == 1.0
    assert p.loc["e", "why"] == "not testable" and "one-seed pilot" in p.loc["f", "why"]
    assert not p.capped.any() and plan([Claim("h", "s", pilot, paper=0.1)], 5).capped.all()
    import json
    from avlib.seed_rule import plan_records
    rec = plan_records(p)
    assert rec[0] == {"claim": "a", "pilot SD": pytest.approx(1.118, abs=1e-3), "sized for": 1.0, "needed": 12, "n": 12,
                      "capped": False, "why": "12 seeds detect the paper's effect with 80 % power"}
    assert rec[3]["needed"] is None and rec[4]["pilot SD"] is None
    assert rec[2]["why"] == "12 seeds keep the interval inside the margin with 80 % power"
    assert "NaN" not in json.dumps(rec, allow_nan=False)


def test_confirmatory_seeds_are_fresh():
    from avlib.seed_rule import confirmatory_seeds
    assert confirmatory_seeds([0, 1, 2, 3, 4], 6) == [500, 501, 502, 503, 504, 505]
    a, b = confirmatory_seeds(range(5), 20), confirmatory_seeds(range(101, 106), 20)
    assert not set(a) & set(range(5)) and not set(b) & set(range(101, 106)) and not set(a) & set(b)
    assert not set(b) & set(range(5)) and not set(a) & set(range(101, 106))
    with pytest.raises(ValueError, match="1 to 100"):
        confirmatory_seeds([0], 0)
