"""Operating points: the paper's reference rows beside ours, with a stated tolerance, before any claim.

A claim such as "two-stream beats one-stream" is tested where the paper tested it only if the
world puts the paper's **baselines** where the paper had them. Each chapter lists its reference
rows (:class:`Reference`: a baseline or the method, a test set, a measure, the paper's number
and our per-seed numbers) and shows :func:`operating_table` before its experiments are judged.

- **Tolerance** (:func:`tolerance`, :func:`band`): ``max(5 % of the measure's range, 15 % of the paper's
  value)``, the issue's "±5 points or ±15 % relative", whichever is wider; :func:`target_tolerances`
  gives it for a calibration's targets.
- **Status** (:func:`status`): *within*, *above* or *below* the tolerance band.
- **Bound** (:func:`avlib.scorecard.at_bound`): *ceiling* at ≥ 97 % of the range, *floor* at ≤ 3 % of it (the same
  :data:`avlib.scorecard.ROOM` that marks claims without room to move).

A claim compared with a baseline outside the band carries that as its caveat (:func:`baseline_caveat`,
shown on the scorecard whatever the verdict).

Worlds are calibrated on the ``role="baseline"`` rows only (:mod:`avlib.calibration`); the
``role="method"`` rows are shown, never tuned for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from .scorecard import at_bound
from .summary import mean_std

TOL_RANGE = 0.05   # of the measure's range (5 points on a 0–100 scale)
TOL_REL = 0.15     # of the paper's value
ROLES = ("baseline", "method")


@dataclass
class Reference:
    """One reference row: the paper's number and our per-seed numbers in the same unit.

    ``bounds``: the measure's range (``(0, 100)`` for percentages, ``(0, 1)`` for fractions).
    """
    row: str
    test: str
    measure: str
    paper: float
    ours: Sequence[float] = field(default_factory=list)
    role: str = "baseline"
    bounds: tuple = (0.0, 100.0)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; valid: {ROLES}")
        self.ours = [float(v) for v in np.asarray(self.ours, dtype=float).ravel()]
        if not self.ours:
            raise ValueError(f"reference {self.row!r} on {self.test!r} has no measurement")
        if not all(np.isfinite(self.ours)):
            raise ValueError(f"reference {self.row!r} on {self.test!r} has non-finite values {self.ours}")
        lo, hi = self.bounds
        if not hi > lo:
            raise ValueError(f"bounds must be (low, high) with high > low, got {self.bounds}")

    @property
    def mean(self) -> float:
        return float(np.mean(self.ours))


def band(paper: float, bounds: tuple = (0.0, 100.0)) -> float:
    """The half-width of the accepted band around a paper's value on a measure with these ``bounds``."""
    lo, hi = bounds
    return max(TOL_RANGE * (hi - lo), TOL_REL * abs(paper))


def tolerance(ref: Reference) -> float:
    """The half-width of the accepted band around the reference's paper value (:func:`band`)."""
    return band(ref.paper, ref.bounds)


def target_tolerances(targets: dict, bounds: tuple = (0.0, 100.0)) -> dict:
    """``{baseline: band}`` for a calibration's targets ``{baseline: the paper's value}``: how far from
    the paper each baseline may land (:mod:`avlib.calibration`)."""
    return {name: band(paper, bounds) for name, paper in targets.items()}


def status(ref: Reference) -> str:
    """``"within"``, ``"above"`` or ``"below"`` the paper's value ± :func:`tolerance`."""
    d = ref.mean - ref.paper
    return "within" if abs(d) <= tolerance(ref) else ("above" if d > 0 else "below")


def operating_table(refs: Sequence[Reference], digits: int = 1) -> pd.DataFrame:
    """The reader's table: one row per reference, ours (mean ± std, n) beside the paper's, the
    difference, the tolerance and the status (with *ceiling* / *floor* where ours sits at a bound)."""
    rows = []
    for r in refs:
        b = at_bound(r.mean, r.bounds)
        rows.append({"row": r.row, "test set": r.test, "measure": r.measure, "role": r.role,
                     "paper": f"{r.paper:.{digits}f}", "ours": f"{mean_std(r.ours, digits)} (n={len(r.ours)})",
                     "ours − paper": f"{r.mean - r.paper:+.{digits}f}", "tolerance": f"±{tolerance(r):.{digits}f}",
                     "status": status(r) + (f", at its {b}" if b else "")})
    return pd.DataFrame(rows)


def records(refs: Sequence[Reference]) -> list[dict]:
    """JSON-able rows for ``save_results``."""
    return [{"row": r.row, "test": r.test, "measure": r.measure, "role": r.role, "paper": r.paper,
             "ours": r.ours, "mean": r.mean, "bounds": list(r.bounds), "tolerance": tolerance(r),
             "status": status(r), "bound": at_bound(r.mean, r.bounds)} for r in refs]


def summary(rows: Sequence[dict]) -> str:
    """One line for the dashboard from :func:`records`: baselines within tolerance and rows at a bound."""
    base = [r for r in rows if r["role"] == "baseline"]
    within = sum(r["status"] == "within" for r in base)
    at = [f"{r['row']} ({r['test']}) at its {r['bound']}" for r in rows if r.get("bound")]
    text = f"{within}/{len(base)} baselines within tolerance"
    return text + ("; " + "; ".join(at) if at else "")


def baseline_caveat(rows: Sequence[dict], row: str, test: str | None = None, measure: str | None = None) -> str:
    """A claim's caveat (:class:`avlib.scorecard.Claim`) when the baseline it is compared with sits outside
    the paper's band: ``""`` when its reference row (from :func:`records`; ``test`` and ``measure`` pick
    one where the row is listed on several) is within tolerance or not listed."""
    hits = [r for r in rows if r["row"] == row and test in (None, r["test"]) and measure in (None, r["measure"])]
    if len(hits) > 1:
        raise ValueError(f"{row!r} has {len(hits)} reference rows: name the test and the measure")
    if not hits or hits[0]["status"] == "within":
        return ""
    r = hits[0]
    where = f" ({r['test']}, {r['measure']})" if test or measure else ""
    at = f", at its {r['bound']}" if r.get("bound") else ""
    kind = "stronger" if r["status"] == "above" else "weaker"
    return (f"the {row} baseline{where} sits {r['status']} the paper's band ({r['mean']:.3g} against "
            f"{r['paper']:g}{at}; operating point): a {kind} baseline than the paper's")
