"""One rule for every claim verdict in the book, and one mean ± std.

A :class:`Claim` is data: what the paper says (and where), the direction it asserts, the
paper's own number where it gives one, and our **paired per-seed differences** (the same
seeds and the same world for both sides of the comparison). :func:`verdict` decides, the
same way in every chapter (:data:`RULE`):

- **reproduced** — the mean difference has the paper's direction and its 95 % Student-t
  interval over seeds excludes 0;
- **contradicted** — the interval excludes 0 on the other side;
- **inconclusive** — the interval includes 0 (or fewer than two seeds);
- for an equivalence claim (``direction="≈"``, "robust to τ"), *reproduced* when the
  whole interval lies within ``±margin``, *contradicted* when it lies wholly outside,
  else inconclusive;
- **not testable** — no measurement, with the reason; or no room to move (:func:`headroom`): the
  side the paper says is lower already sits within :data:`ROOM` of the measure's ceiling, or the
  side it says is higher within :data:`ROOM` of its floor (for ``≈``: both sides at one bound), so
  the difference is squashed and cannot decide the claim.

:func:`scorecard` turns a list of claims into the table each chapter shows (with the
effect size against the paper's, ours / paper's with its interval, where the paper gives one, and
the readings of :mod:`avlib.readings` beside the verdict: underpowered or no effect of the paper's
size, smaller or larger than the paper's), which :mod:`avlib.scorecard_view` renders for the reader;
:mod:`avlib.summary` holds the book's single mean ± std (ddof = 1).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .readings import EMPTY, readings

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not testable")
DIRECTIONS = (">", "<", "≈")
RULE = ("A claim is *reproduced* when the paired mean difference over seeds has the paper's direction "
        "and its 95 % Student-t interval excludes 0, *contradicted* when the interval excludes 0 on the "
        "other side, and *inconclusive* when it includes 0. An equivalence claim (≈) is reproduced when the "
        "whole interval lies within its stated margin. *Not testable* claims give the reason: no measurement, "
        "or no room to move (the side the paper says is lower sits within 3 % of the measure's ceiling, or the "
        "side it says is higher within 3 % of its floor).")
#: a measure within this fraction of its range from a bound has no room to move (ceiling / floor)
ROOM = 0.03
COLOURS = {"reproduced": "#1b7837", "contradicted": "#b2182b", "inconclusive": "#8c6d1f",
           "not testable": "#5e5e5e"}


@dataclass
class Claim:
    """One claim of a paper and our paired measurement of it.

    ``diffs``: per-seed differences, ``ours(better) − ours(worse)`` in ``unit``, paired by seed
    (``None`` when not testable, with ``reason``). ``direction``: ``">"`` the paper claims a
    positive difference, ``"<"`` a negative one, ``"≈"`` no difference beyond ``margin``.
    ``paper``: the paper's own difference in the same unit, if it reports one, and ``source`` where
    (table and rows); without one, ``no_paper`` says why (e.g. "shown only as a figure"). ``ratio``: whether
    ``ours / paper`` means something (False where ``paper`` is a derived quantity, e.g. a range
    minus a bound, whose ratio to ours is no effect size). ``levels``: the mean of each side,
    ``(better, worse)`` as the paper orders them, in ``unit`` (taken from ``diffs.attrs["levels"]``
    when ``diffs`` comes unchanged from :func:`paired` or :func:`difference`; a series derived from one,
    e.g. its negation, keeps pandas' attrs but not the differences they describe, and gets none); with
    ``bounds`` (the measure's range in ``unit``) they decide whether the claim has room to move
    (:func:`headroom`). ``note``: why a claim did not reproduce (shown only when it did not);
    ``caveat``: what the reader needs whatever the verdict, e.g. that the baseline compared with sits
    outside the paper's band (:func:`avlib.operating_point.baseline_caveat`).
    """
    claim: str
    section: str
    diffs: Sequence[float] | None = None
    direction: str = ">"
    unit: str = ""
    paper: float | None = None
    margin: float | None = None
    reason: str = ""
    note: str = ""
    caveat: str = ""
    data: str = "world"
    ratio: bool = True
    levels: tuple | None = None
    bounds: tuple | None = None
    source: str = ""
    no_paper: str = ""

    def __post_init__(self):
        if self.levels is None and self.diffs is not None:
            attrs = getattr(self.diffs, "attrs", {})
            if "levels" in attrs and np.array_equal(np.asarray(self.diffs, dtype=float), attrs.get("of")):
                self.levels = attrs["levels"]
        if self.paper is not None and self.no_paper:
            raise ValueError(f"claim {self.claim!r} has a paper value and a reason for having none")
        if self.bounds is not None and not self.bounds[1] > self.bounds[0]:
            raise ValueError(f"claim {self.claim!r}: bounds must be (low, high) with high > low, got {self.bounds}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}; valid: {DIRECTIONS}")
        if self.direction == "≈" and (self.margin is None or self.margin <= 0):
            raise ValueError(f"equivalence claim {self.claim!r} needs a positive margin")
        if self.diffs is None and not self.reason:
            raise ValueError(f"claim {self.claim!r} has no measurement: give the reason it is not testable")
        if self.diffs is not None:
            self.diffs = [float(d) for d in np.asarray(self.diffs, dtype=float).ravel()]
            if any(not np.isfinite(d) for d in self.diffs):
                raise ValueError(f"claim {self.claim!r} has non-finite differences {self.diffs}")


def world_only(data: str, diffs, needs: str) -> dict:
    """:class:`Claim` keyword arguments for a claim whose test needs the world's ground truth ``needs``.

    On the world (``data == "world"``) the measured ``diffs``; on a real dataset ``diffs=None``
    and the reason, so the claim reads *not testable* rather than a number nobody computed::

        Claim("PSP localizes asynchronous events better", "§4.3", direction=">",
              **world_only(data_name, diffs, "per-second audibility and visibility"))
    """
    if data == "world":
        return {"diffs": diffs, "data": data}
    return {"diffs": None, "data": data, "reason": f"needs {needs}, which only the world provides; the {data} files have none"}


def interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided Student-t ``level`` interval of the mean: ``(mean, lo, hi)``.

    Fewer than two values give ``(mean, nan, nan)``; identical values a zero-width interval.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("interval of no values")
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def verdict(diffs, direction: str = ">", margin: float | None = None) -> str:
    """The book's one verdict rule (:data:`RULE`) for paired per-seed differences."""
    if diffs is None:
        return "not testable"
    m, lo, hi = interval(diffs)
    if np.isnan(lo):
        return "inconclusive"
    if direction == "≈":
        if margin is None:
            raise ValueError("an equivalence claim needs a margin")
        if -margin <= lo and hi <= margin:
            return "reproduced"
        return "contradicted" if (lo > margin or hi < -margin) else "inconclusive"
    sign = 1.0 if direction == ">" else -1.0
    lo_s, hi_s = sorted((sign * lo, sign * hi))
    if lo_s > 0:
        return "reproduced"
    if hi_s < 0:
        return "contradicted"
    return "inconclusive"


def side(mean: float, direction: str = ">", margin: float | None = None):
    """Where a claim's mean difference lies: its sign (−1, 0 or +1), or for an equivalence claim
    (``direction="≈"``) ``"inside"`` or ``"outside"`` its ``±margin``. Two runs of a claim whose means
    lie on the same side can differ in verdict only between a decision and *inconclusive*."""
    if direction == "≈":
        if margin is None:
            raise ValueError("an equivalence claim needs a margin")
        return "inside" if abs(mean) <= margin else "outside"
    return int(mean > 0) - int(mean < 0)


def moved_claims(before: pd.DataFrame, after: pd.DataFrame, labels=("before", "after"), digits: int = 2) -> pd.DataFrame:
    """The claims whose mean difference differs between two :func:`scorecard` tables of the same claims
    (e.g. the pilot with some rows trained for the book's epochs, then trained on): per claim the paper's
    value, each table's ``mean [low, high]`` under ``labels``, the ``shift`` of the mean, the first
    interval's ``half-width`` and whether the mean changed :func:`side`; ``digits`` after the point."""
    b, a = before.set_index("claim"), after.set_index("claim")
    for t in (b, a):   # a claim with fewer than two seeds has no interval (None)
        t[["mean", "ci_low", "ci_high"]] = t[["mean", "ci_low", "ci_high"]].apply(pd.to_numeric)

    def text(t, c):
        ci = f" [{t.ci_low[c]:+.{digits}f}, {t.ci_high[c]:+.{digits}f}]" if pd.notna(t.ci_low[c]) else ""
        return f"{t['mean'][c]:+.{digits}f}{ci}"

    rows = [{"claim": c, "paper": b.paper[c], labels[0]: text(b, c), labels[1]: text(a, c),
             "shift": abs(a["mean"][c] - b["mean"][c]), "half-width": (b.ci_high[c] - b.ci_low[c]) / 2,
             "side changed": side(b["mean"][c], b.direction[c], b.margin[c]) != side(a["mean"][c], b.direction[c], b.margin[c])}
            for c in b.index if pd.notna(b["mean"][c]) and not np.isclose(b["mean"][c], a["mean"][c], rtol=0, atol=1e-12)]
    return pd.DataFrame(rows, columns=["claim", "paper", *labels, "shift", "half-width", "side changed"]).set_index("claim")


def moves_text(moved: pd.DataFrame, digits: int = 2) -> str:
    """One sentence on a :func:`moved_claims` table: which means changed side, and the largest shift
    against the intervals' half-widths (``digits`` after the point)."""
    if moved.empty:
        return "no claim's mean moves"
    flips = moved[moved["side changed"]]
    first, second = moved.columns[1], moved.columns[2]
    sides = ("no mean changes side (of 0; of the margin for an equivalence claim)" if flips.empty else
             f"{len(flips)} mean(s) change side (of 0; of the margin for an equivalence claim): "
             + "; ".join(f"{c} ({flips.loc[c, first]} → {flips.loc[c, second]})" for c in flips.index))
    wide = moved["shift"] >= moved["half-width"]
    size = (f"the means move by at most {moved['shift'].max():.{digits}f} ({moved['shift'].idxmax()}), "
            + ("with no interval to compare with (fewer than two seeds)" if moved["half-width"].isna().all() else
               "less than the half-width of every one of their 95 % intervals" if not wide.any() else
               f"by at least their interval's half-width for {int(wide.sum())} of the {len(moved)}"))
    return f"{sides}; {size}"


def at_bound(value: float, bounds: tuple) -> str:
    """``"ceiling"`` / ``"floor"`` when ``value`` lies within :data:`ROOM` of the top / bottom of
    ``bounds = (low, high)``, else ``""``."""
    lo, hi = bounds
    x = (value - lo) / (hi - lo)
    return "ceiling" if x >= 1 - ROOM else ("floor" if x <= ROOM else "")


def headroom(levels, bounds, direction: str = ">") -> str:
    """Why a claim has no room to move (``""`` when it has): ``levels = (better, worse)`` as the paper
    orders the two sides, ``bounds`` the measure's range. For ``">"`` the worse side must not sit at
    the ceiling nor the better side at the floor (within :data:`ROOM` of the range); ``"<"`` mirrors
    it; for ``"≈"`` both sides must not sit at the same bound."""
    if levels is None or bounds is None:
        return ""
    better, worse = (float(v) for v in levels)
    at_b, at_w = at_bound(better, bounds), at_bound(worse, bounds)
    if direction == "≈":
        stuck = at_b and at_b == at_w
        return f"no room to move: both sides at the measure's {at_b} ({better:.3g}, {worse:.3g})" if stuck else ""
    high, low, high_at, low_at = (better, worse, at_b, at_w) if direction == ">" else (worse, better, at_w, at_b)
    if low_at == "ceiling":
        return (f"no room to move: the side the paper says is lower is already at the measure's ceiling "
                f"({low:.3g} of {bounds[1]:g})")
    if high_at == "floor":
        return (f"no room to move: the side the paper says is higher is at the measure's floor "
                f"({high:.3g}, floor {bounds[0]:g})")
    return ""


def difference(better, worse, scale: float = 1.0) -> pd.Series:
    """Per-seed ``scale · (better − worse)`` of two aligned per-seed arrays, with the two sides' means
    in ``attrs["levels"]`` (what :class:`Claim` reads to check :func:`headroom`)."""
    a, b = scale * np.asarray(better, dtype=float), scale * np.asarray(worse, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"sides differ in shape: {a.shape} vs {b.shape}")
    d = pd.Series(a - b)
    d.attrs["levels"] = (float(a.mean()), float(b.mean()))
    d.attrs["of"] = d.to_numpy().copy()   # the differences the levels describe (see Claim)
    return d


def beside_paper(ours: pd.DataFrame, paper: dict, columns=None, names=None) -> pd.DataFrame:
    """Our table beside the paper's numbers: two-level columns ``(metric, "ours" | "paper")``.

    ``ours``: rows × metrics (e.g. ``"m ± s"`` strings); ``paper``: ``{row: (v1, v2, …)}`` aligned
    with ``columns`` (default: all of ``ours``' columns) or ``{row: {metric: v}}``; the paper's
    values stay numbers (NaN where the paper has no such row). ``names`` renames the metrics.
    """
    columns = list(ours.columns if columns is None else columns)
    out = {}
    for m in columns:
        label = (names or {}).get(m, m)
        out[(label, "ours")] = ours[m]
        vals = []
        for r in ours.index:
            p = paper.get(r)
            v = p.get(m) if isinstance(p, dict) else (p[columns.index(m)] if p is not None else None)
            vals.append(np.nan if v is None else float(v))
        out[(label, "paper")] = pd.Series(vals, index=ours.index, dtype=float)
    table = pd.DataFrame(out)
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def select(df: pd.DataFrame, **where) -> pd.DataFrame:
    """Rows of ``df`` whose columns equal the given values (a missing column or NaN matches ``None``)."""
    keep = np.ones(len(df), bool)
    for col, val in where.items():
        col_vals = df[col] if col in df else pd.Series([None] * len(df), index=df.index)
        keep &= col_vals.isna().to_numpy() if val is None else (col_vals == val).to_numpy()
    return df[keep]


def paired(df: pd.DataFrame, better: dict, worse: dict, value: str = "test", by: str = "seed",
           scale: float = 1.0) -> pd.Series:
    """Per-seed differences ``scale · (better − worse)`` of ``value`` (rows chosen by :func:`select`),
    on the seeds both sides share: the ``diffs`` of a :class:`Claim` (the sides' means in
    ``attrs["levels"]``, see :func:`difference`)."""
    a = select(df, **better).groupby(by)[value].mean()
    b = select(df, **worse).groupby(by)[value].mean()
    common = a.index.intersection(b.index)
    common = common[(a[common].notna() & b[common].notna()).to_numpy()]
    if common.empty:
        raise ValueError(f"no common {by} values for {better} vs {worse}")
    d = difference(a[common].to_numpy(), b[common].to_numpy(), scale)
    d.index = common
    return d


def row(c: Claim) -> dict:
    """One claim as a scorecard row (JSON-able)."""
    stuck = "" if c.diffs is None else headroom(c.levels, c.bounds, c.direction)
    v = "not testable" if stuck else verdict(c.diffs, c.direction, c.margin)
    own = c.note if v != "reproduced" else ""
    note = c.reason if c.diffs is None else "; ".join(t for t in (stuck, own, c.caveat) if t)
    out = {"claim": c.claim, "section": c.section, "direction": c.direction, "unit": c.unit,
           "paper": c.paper, "source": c.source, "no_paper": c.no_paper, "margin": c.margin, "data": c.data,
           "verdict": v,
           "n_seeds": 0 if c.diffs is None else len(c.diffs), "diffs": c.diffs,
           "mean": None, "ci_low": None, "ci_high": None, "effect_vs_paper": None,
           "levels": None if c.levels is None else [float(x) for x in c.levels],
           "bounds": None if c.bounds is None else [float(x) for x in c.bounds], "note": note}
    out.update(EMPTY)
    if c.diffs is not None:
        m, lo, hi = interval(c.diffs)
        out.update(mean=m, ci_low=None if np.isnan(lo) else lo, ci_high=None if np.isnan(hi) else hi)
        if c.paper not in (None, 0) and c.direction != "≈" and c.ratio and v != "not testable":
            out["effect_vs_paper"] = m / c.paper
        sd = float(np.std(c.diffs, ddof=1)) if len(c.diffs) > 1 else float("nan")
        out.update(readings(m, out["ci_low"], out["ci_high"], sd, len(c.diffs), c.direction, c.paper, v, c.ratio))
    return out


def scorecard(claims: Sequence[Claim]) -> pd.DataFrame:
    """The verdict table of a chapter: one row per claim (see :func:`row`)."""
    return pd.DataFrame([row(c) for c in claims])


def totals(table: pd.DataFrame) -> dict:
    """Count of each verdict (every verdict present, zeros included) and the total."""
    counts = {v: int((table["verdict"] == v).sum()) for v in VERDICTS}
    return {**counts, "total": int(len(table))}


def records(table: pd.DataFrame) -> list[dict]:
    """JSON-able rows for ``save_results`` (NaN → None)."""
    return json.loads(table.to_json(orient="records"))


def load_results(results_dir, chapters, scale: str = "book", key: str = "claims") -> pd.DataFrame:
    """One list of every chapter's saved results (``results/<chapter>-<scale>.json``, ``results[key]``:
    the scorecard rows by default, ``"operating_point"`` for the reference rows) in one table, with
    ``chapter`` and ``scale`` columns; chapters without a results file or without that key are left out."""
    frames = []
    for ch in chapters:
        path = Path(results_dir) / f"{ch}-{scale}.json"
        rows = json.loads(path.read_text())["results"].get(key) if path.exists() else None
        if rows:
            frames.append(pd.DataFrame(rows).assign(chapter=ch, scale=scale))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
