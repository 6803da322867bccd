"""Claims decided with one side at a bound of their measure: the mark the dashboard gives them.

The verdict rule (:mod:`avlib.scorecard`) makes a claim *not testable* when it has no room to move in the
paper's direction (:func:`avlib.scorecard.headroom`: the side the paper says is lower at the measure's
ceiling, or the higher side at its floor). A claim that passes that check can still have a side at a
bound (:func:`avlib.scorecard.at_bound`), e.g. DSOL's NSA at 99.7 % against a baseline at 87 %: the rule
decides it as usual, but its difference cannot grow past the bound, so its size can only understate the
effect. :func:`capped` words that, and :func:`mark_capped` marks such claims in a table of scorecard rows
(``load_results``), so that no claim on the dashboard rests on a side at a bound unmarked.
"""
from __future__ import annotations

import pandas as pd

from .scorecard import at_bound, headroom

SIDES = {">": ("the side the paper says is higher", "the side the paper says is lower"),
         "<": ("the side the paper says is lower", "the side the paper says is higher"),
         "≈": ("one side", "the other side")}


def _pair(x):
    """``x`` as a two-number tuple, or None (a table read from JSON holds None or NaN where a claim has none)."""
    return tuple(float(v) for v in x) if isinstance(x, (list, tuple)) and len(x) == 2 else None


def capped(levels, bounds, direction: str = ">") -> str:
    """The mark of a claim with room to move (:func:`avlib.scorecard.headroom` is ``""``) and a side at a
    bound; ``""`` when neither side is at one, when it has no room (the rule already makes it not testable)
    or when ``levels``/``bounds`` are missing. ``levels = (better, worse)`` as the paper orders the sides.
    For ``">"`` the higher side at the ceiling or the lower at the floor caps the difference (``"<"``
    mirrors it); for ``"≈"`` one side at a bound can squash the difference toward 0."""
    levels, bounds = _pair(levels), _pair(bounds)
    if levels is None or bounds is None or headroom(levels, bounds, direction):
        return ""
    parts = [f"{who} sits at the measure's {b} ({v:.3g})"
             for who, v in zip(SIDES[direction], levels) if (b := at_bound(v, bounds))]
    if not parts:
        return ""
    effect = ("which can squash the difference toward 0" if direction == "≈" else
              "so the difference is capped there and can only understate the effect")
    return f"capped: {' and '.join(parts)}, {effect}"


def mark_capped(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` (scorecard rows) with a boolean ``capped`` column and, on the capped claims,
    the :func:`capped` mark before their note. A claim not tested is never capped."""
    marks = [("" if r["verdict"] == "not testable" else capped(r["levels"], r["bounds"], r["direction"]))
             for _, r in table.iterrows()]
    out = table.copy()
    out["capped"] = [bool(m) for m in marks]
    notes = [n if isinstance(n, str) else "" for n in out["note"]]
    out["note"] = ["; ".join(t for t in (m, n) if t) for m, n in zip(marks, notes)]
    return out
