"""How many seeds a claim gets, by a rule fixed before the data: a pilot that sizes a fresh confirmatory set.

The book's verdict (:func:`avlib.scorecard.verdict`, a 95 % Student-t interval of the paired
per-seed differences) stays the one rule. What this module fixes is the seeds it is applied to,
so that an "inconclusive" is not merely "too few seeds" and adding seeds is never "until it turns
significant":

1. **Pilot**: every row runs the scale's default seeds (``n_pilot``, five at ``book``).
2. **Size**: for a claim whose paper reports its own difference, the pilot's paired standard
   deviation and the *paper's* effect (fixed before our data) give the seeds that detect that
   effect with 80 % power (:func:`avlib.readings.seeds_for_power`); :func:`planned_seeds` caps it at
   ``cap`` (the cost a row may take; a capped claim says so) and never goes below the pilot's size.
   The pilot's mean and its verdict are not looked at.
3. **Confirm**: the verdict is computed once, on a **fresh** set of that many seeds, disjoint from
   the pilot's (:func:`confirmatory_seeds`). A chapter whose claims share their rows runs the
   largest planned set (:func:`plan`) and judges every claim on it: the size is still fixed
   before any confirmatory number exists.

Because the confirmatory seeds are independent of the pilot that sized them, the rate of decided
verdicts (reproduced + contradicted) under a true null is the interval's 5 %; :func:`null_rate`
simulates it (``tests/test_seed_rule.py``). Two tempting shortcuts do not keep it, and are simulated
for contrast: adding seeds only to claims whose pilot was inconclusive (``look_at_verdict=True``:
two tests, towards 10 %), and pooling the pilot with the added seeds (``reuse_pilot=True``: with a
five-seed pilot, a pilot whose spread came out small is both extended less and tested on that
small spread, up to about 7 %).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .readings import power, seeds_for_power

N_PILOT = 5
CAP = 20   # the most seeds a book-scale row gets (issue 20: "decided with at most 20 seeds")


def planned_seeds(pilot_diffs, paper: float | None, n_pilot: int = N_PILOT, cap: int = CAP) -> dict:
    """The seeds a claim's rows get: ``{"n": …, "needed": …, "capped": bool, "why": str}``.

    ``pilot_diffs``: the paired per-seed differences of the pilot (its spread is used, not its mean);
    ``paper``: the paper's own difference (``None``: the pilot's seeds, there is no effect to size for).
    """
    d = np.asarray(pilot_diffs, dtype=float)
    if d.size < 2:
        raise ValueError(f"a pilot needs at least two seeds, got {d.size}")
    if paper is None or paper == 0:
        return {"n": max(n_pilot, d.size), "needed": None, "capped": False,
                "why": "no paper effect to size for: the pilot's seeds"}
    needed = seeds_for_power(float(d.std(ddof=1)), float(paper))
    n = min(cap, max(n_pilot, needed))
    why = (f"{needed} seeds detect the paper's effect with 80 % power" if needed <= cap else
           f"capped at {cap}: {needed} seeds would be needed for 80 % power on the paper's effect")
    return {"n": n, "needed": needed, "capped": needed > cap, "why": why}


def effect_to_size(claim) -> float | None:
    """The effect a claim's confirmatory set is sized to detect: the paper's difference for a directed
    claim; for an equivalence claim (``"≈"`` within ``margin``), the room between the paper's
    difference and the margin (``margin − |paper|``, or the margin itself without a paper value)."""
    if claim.direction == "≈":
        room = claim.margin - abs(claim.paper or 0.0)
        return room if room > 0 else None
    return claim.paper


def plan(pilot_claims, n_pilot: int, cap: int = CAP) -> pd.DataFrame:
    """The seed plan of a chapter's claims, from their pilot measurements: one row per claim with the
    pilot's paired SD, the effect sized for (:func:`effect_to_size`), the seeds needed and planned.

    A claim that is not testable, or whose pilot has a single seed (no spread: smoke scale), keeps
    the pilot's size. ``plan(...).n.max()`` is the chapter's confirmatory set.
    """
    rows = []
    for c in pilot_claims:
        d = None if c.diffs is None else np.asarray(c.diffs, dtype=float)
        if d is None or d.size < 2:
            why = "not testable" if d is None else "a one-seed pilot has no spread to size with"
            rows.append({"claim": c.claim, "pilot SD": np.nan, "sized for": np.nan, "needed": None,
                         "n": n_pilot, "capped": False, "why": why})
            continue
        effect = effect_to_size(c)
        p = planned_seeds(d, effect, n_pilot=n_pilot, cap=cap)
        why = p["why"].replace("detect the paper's effect", "keep the interval inside the margin") \
            if c.direction == "≈" and effect is not None else p["why"]
        rows.append({"claim": c.claim, "pilot SD": float(d.std(ddof=1)), "sized for": effect,
                     "needed": p["needed"], "n": p["n"], "capped": p["capped"], "why": why})
    table = pd.DataFrame(rows).set_index("claim")
    table["needed"] = table["needed"].astype("Int64")   # whole seeds; <NA> where nothing was sized
    return table


def plan_records(table: pd.DataFrame) -> list[dict]:
    """A :func:`plan` as JSON-able records (missing values as ``None``, not NaN)."""
    return [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in table.reset_index().to_dict("records")]


def confirmatory_seeds(pilot_seeds, n: int) -> list[int]:
    """``n`` fresh seeds for a pilot: from ``100 × (max(pilot) + 1)`` on. Disjoint from the pilot,
    and two disjoint pilots (whose largest seeds differ) get disjoint sets for any ``n ≤ 100``."""
    if not 1 <= n <= 100:
        raise ValueError(f"a confirmatory set has 1 to 100 seeds, got {n}")
    start = 100 * (max(int(s) for s in pilot_seeds) + 1)
    return list(range(start, start + n))


def _thresholds(n_pilot: int, cap: int) -> np.ndarray:
    """``d_min[k]``: the smallest standardised effect that ``n_pilot + k`` seeds detect with 80 % power."""
    return np.array([optimize.brentq(lambda d: power(n, d) - 0.8, 1e-6, 50.0)
                     for n in range(n_pilot, cap + 1)])


def null_rate(sd: float, paper: float, n_pilot: int = N_PILOT, cap: int = CAP, sims: int = 20000,
              seed: int = 0, look_at_verdict: bool = False, reuse_pilot: bool = False) -> float:
    """Monte-Carlo rate of decided verdicts (reproduced or contradicted) under a true null effect.

    Each simulated claim draws ``n_pilot`` paired differences from N(0, sd²), plans its seeds as
    :func:`planned_seeds` does (vectorised: the pilot's standardised paper effect against the
    smallest effect each n detects with 80 % power), draws a fresh confirmatory set of that size
    and applies the verdict's interval to it. For contrast, ``look_at_verdict=True`` lets a decided
    pilot stand (only inconclusive pilots are confirmed), and ``reuse_pilot=True`` pools the pilot
    with only the seeds it lacks instead of drawing a fresh set.
    """
    rng = np.random.default_rng(seed)
    pilot = rng.normal(0.0, sd, (sims, n_pilot))
    d = abs(paper) / pilot.std(axis=1, ddof=1)
    ok = d[:, None] >= _thresholds(n_pilot, cap)[None, :]
    n = np.where(ok.any(axis=1), n_pilot + ok.argmax(axis=1), cap)

    def decided(x):
        k = x.shape[1]
        return np.abs(x.mean(axis=1)) > stats.t.ppf(0.975, k - 1) * x.std(axis=1, ddof=1) / np.sqrt(k)

    out = np.zeros(sims, bool)
    first = decided(pilot) if look_at_verdict else np.zeros(sims, bool)
    for k in np.unique(n):
        rows = (n == k) & ~first
        m = int(rows.sum())
        x = (np.concatenate([pilot[rows], rng.normal(0.0, sd, (m, k - n_pilot))], axis=1) if reuse_pilot
             else rng.normal(0.0, sd, (m, k)))
        out[rows] = decided(x)
    return float((out | first).mean())
