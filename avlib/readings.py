"""Readings beside the one verdict: what a replication study reports next to "reproduced or not".

The verdict (:func:`avlib.scorecard.verdict`) stays the book's one rule. Beside it, for a claim
with a direction (``>`` or ``<``) and the paper's own difference, :func:`readings` gives what
large replication projects report (Errington et al., eLife 2021; Simonsohn's "small telescopes"):

- the **effect ratio** ours / paper's with its 95 % interval (the interval of our mean difference
  divided by the paper's value);
- whether the **paper's effect lies inside** our 95 % interval;
- for an *inconclusive* claim, the **largest effect our interval still allows** in the paper's
  direction, and either *no effect of the paper's size* (the paper's effect is beyond it) or
  *underpowered*, with about how many seeds would detect the paper's effect with 80 % power
  (:func:`seeds_for_power`, from our observed paired standard deviation);
- for a *reproduced* claim, *smaller* (or *larger*) *than the paper's* when our interval excludes
  the paper's effect.

:func:`verdict_chances` gives the chance of each verdict on a fresh seed set if our mean and spread
were the truth (the plug-in replication probability): what a verdict-stability check should expect.
:func:`verdict_agreement`, the chance that two disjoint seed sets of n seeds agree, projects that to other n.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

POWER = 0.80
LEVEL = 0.95
MAX_SEEDS = 1000   # the search for n stops here ("more than 1000 seeds")


def power(n: int, d: float, level: float = LEVEL) -> float:
    """Power of the paired two-sided one-sample t-test at ``level`` with ``n`` seeds for a true
    standardised effect ``d`` (mean / sd): the noncentral-t probability ``P(T > t_crit)`` with
    noncentrality ``d·√n`` (the far tail is negligible)."""
    crit = stats.t.ppf(0.5 + level / 2, n - 1)
    return float(stats.nct.sf(crit, n - 1, abs(d) * math.sqrt(n)))


def seeds_for_power(sd: float, effect: float, target: float = POWER, level: float = LEVEL,
                    max_n: int = MAX_SEEDS) -> int:
    """Smallest number of paired seeds n ≥ 2 whose two-sided one-sample t-test at ``level`` detects a true
    mean difference ``effect`` with probability ``target``, given the per-seed standard deviation ``sd``.

    Power as :func:`power` computes it. ``sd == 0`` needs the minimum, 2; more than ``max_n`` returns
    ``max_n + 1``.
    """
    if effect == 0:
        raise ValueError("no effect to detect")
    if sd < 0 or not np.isfinite(sd):
        raise ValueError(f"sd must be finite and ≥ 0, got {sd}")
    if sd == 0:
        return 2
    d = abs(effect) / sd
    for n in range(2, max_n + 1):
        if power(n, d, level) >= target:
            return n
    return max_n + 1


#: the readings of a claim that has none (no direction, no paper value, or not tested)
EMPTY = {"ratio_low": None, "ratio_high": None, "paper_in_ci": None, "max_effect": None,
         "seeds_needed": None, "reading": ""}


def readings(mean: float, lo: float | None, hi: float | None, sd: float, n: int, direction: str,
             paper: float | None, verdict: str, ratio: bool = True) -> dict:
    """The readings of one claim (see the module docstring); :data:`EMPTY` values where they do not apply.

    Returns ``ratio_low``/``ratio_high`` (the effect ratio's interval), ``paper_in_ci``,
    ``max_effect`` (the largest effect in the paper's direction our interval allows, in the claim's
    unit, for an inconclusive claim), ``seeds_needed`` and ``reading`` (one line for the reader).
    A claim whose paper value is a derived quantity (``ratio=False``, e.g. a range minus a bound) is
    no effect size: it gets no ratio and no power reading.
    """
    out = dict(EMPTY)
    if (direction not in (">", "<") or paper is None or lo is None or hi is None or verdict == "not testable"
            or not ratio):
        return out
    out["paper_in_ci"] = bool(lo <= paper <= hi)
    if paper != 0:
        r = sorted((lo / paper, hi / paper))
        out.update(ratio_low=r[0], ratio_high=r[1])
    sign = 1.0 if direction == ">" else -1.0
    claimed = sign * paper                      # the paper's effect, positive when it has the claimed direction
    if claimed <= 0:
        out["reading"] = "the paper's own difference is not in its claimed direction"
        return out
    lo_s, hi_s = sorted((sign * lo, sign * hi))  # our interval in the paper's direction
    if verdict == "inconclusive":
        out["max_effect"] = sign * hi_s
        if claimed > hi_s:
            out["reading"] = (f"no effect of the paper's size (our interval ends at {sign * hi_s:+.3g}, "
                              f"the paper's is {paper:+.3g})")
        else:
            need = seeds_for_power(sd, claimed)
            out["seeds_needed"] = need
            if need <= n:
                out["reading"] = (f"not underpowered: {n} seeds detect the paper's effect with 80 % power "
                                  "(ours is smaller than the paper's, the interval still holds it)")
            else:
                more = f"more than {MAX_SEEDS}" if need > MAX_SEEDS else f"about {need}"
                out["reading"] = (f"underpowered: {more} seeds would detect the paper's effect with 80 % power "
                                  f"(n={n} now)")
    elif verdict == "reproduced":
        if claimed > hi_s:
            out["reading"] = "smaller than the paper's"
        elif claimed < lo_s:
            out["reading"] = "larger than the paper's"
        else:
            out["reading"] = "the paper's effect is inside our interval"
    elif verdict == "contradicted":
        out["reading"] = "opposite to the paper's direction"
    return out


VERDICT_WORDS = ("reproduced", "contradicted", "inconclusive")
CHANCE_DRAWS = 20000   # Monte-Carlo draws for an equivalence claim (seeded: the same chances every run)


def verdict_chances(mean: float, sd: float, n: int, direction: str = ">", margin: float | None = None,
                    level: float = LEVEL) -> dict:
    """The chance of each verdict of the book's rule (:func:`avlib.scorecard.verdict`) on ``n`` fresh
    seeds whose paired differences are normal with this ``mean`` and ``sd`` (plug in ours: the chance
    that a fresh seed set repeats a verdict). ``{"reproduced": p, "contradicted": p, "inconclusive": p}``.

    A direction (``>``, ``<``): the fresh t statistic is noncentral t with ``n − 1`` degrees of freedom and
    noncentrality ``mean·√n / sd``; the rule decides when it passes ``±t_crit`` (exact, as in :func:`power`).
    So a claim whose interval ends exactly at 0 is decided the same way again about half the time.
    An equivalence claim (``≈``, ``margin``): the fresh mean and sd are drawn (normal; scaled χ²), and the
    interval must lie inside ``±margin`` (reproduced) or wholly outside it (contradicted); seeded, so the
    chances are the same on every run. ``sd == 0`` decides with certainty; ``n < 2`` is inconclusive.
    """
    if direction not in (">", "<", "≈"):
        raise ValueError(f"unknown direction {direction!r}")
    if direction == "≈" and margin is None:
        raise ValueError("an equivalence claim needs a margin")
    if sd < 0 or not np.isfinite(sd) or not np.isfinite(mean):
        raise ValueError(f"mean and sd must be finite, sd ≥ 0; got {mean}, {sd}")
    out = dict.fromkeys(VERDICT_WORDS, 0.0)
    if n < 2:
        return {**out, "inconclusive": 1.0}
    crit = stats.t.ppf(0.5 + level / 2, n - 1)
    if direction == "≈":
        if sd == 0:
            m, h = np.array([mean]), np.zeros(1)
        else:
            rng = np.random.default_rng(0)
            m = mean + sd / math.sqrt(n) * rng.standard_normal(CHANCE_DRAWS)
            h = crit * sd * np.sqrt(rng.chisquare(n - 1, CHANCE_DRAWS) / (n - 1)) / math.sqrt(n)
        inside = float(np.mean((m - h >= -margin) & (m + h <= margin)))
        outside = float(np.mean((m - h > margin) | (m + h < -margin)))
        return {"reproduced": inside, "contradicted": outside, "inconclusive": 1.0 - inside - outside}
    if sd == 0:
        up, down = float(mean > 0), float(mean < 0)
    else:
        nc = mean * math.sqrt(n) / sd
        up, down = float(stats.nct.sf(crit, n - 1, nc)), float(stats.nct.sf(crit, n - 1, -nc))   # T(−nc) = −T(nc); cdf is NaN in far tails
    yes, no = (up, down) if direction == ">" else (down, up)
    return {"reproduced": yes, "contradicted": no, "inconclusive": 1.0 - yes - no}


def verdict_agreement(mean: float, sd: float, n: int, direction: str = ">", margin: float | None = None,
                      level: float = LEVEL) -> float:
    """The chance that two disjoint sets of ``n`` seeds each give a claim the same verdict, if its paired
    differences are normal with this ``mean`` and ``sd``: ``Σ_v p_v²`` over the chances of
    :func:`verdict_chances` (the two sets are independent). Unlike the chance of repeating one committed
    verdict, it does not condition on which verdict the first set gave, so it can be projected to other
    ``n``. For a non-zero effect it tends to 1 as ``n`` grows, after a trough where the rule decides the
    claim about half the time (the smaller the effect against its spread, the later the trough); for no
    effect at all it stays at ``0.95² + 2 · 0.025² ≈ 0.904`` at every ``n`` (both sets inconclusive, or
    both deciding alike by chance).
    """
    return float(sum(p * p for p in verdict_chances(mean, sd, n, direction, margin, level).values()))
