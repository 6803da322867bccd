"""The book's one summary of seeds: mean ± std with the sample standard deviation (ddof = 1).

- :func:`mean_std` — ``"m ± s"`` of one set of per-seed values;
- :func:`summarize` — mean, std and count per group, with the ``"m ± s"`` string;
- :func:`mean_std_table` — one ``"m ± s"`` column per measure and the number of seeds, per group.

Kept apart from :mod:`avlib.scorecard` (which judges claims) so that a runner that only formats its
seeds does not carry the verdict rule in its cache key (:mod:`avlib.sources`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def mean_std(values, digits: int = 1, scale: float = 1.0) -> str:
    """``"m ± s"`` with the sample standard deviation (ddof = 1); one value prints alone."""
    x = np.asarray(values, dtype=float) * scale
    if x.size < 2:
        return f"{x.mean():.{digits}f}"
    return f"{x.mean():.{digits}f} ± {x.std(ddof=1):.{digits}f}"


def summarize(df: pd.DataFrame, by, value: str = "test", digits: int = 1) -> pd.DataFrame:
    """Mean, std (ddof = 1) and count of ``value`` per group ``by`` (order of first appearance),
    plus a ``mean ± std`` string: the book's one summary of seeds."""
    g = df.groupby(by, sort=False)[value].agg(["mean", "std", "count"]).reset_index()
    g["mean ± std"] = [f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(s) else f"{m:.{digits}f}"
                       for m, s in zip(g["mean"], g["std"])]
    return g


def mean_std_table(df: pd.DataFrame, by, values, digits: int = 3, scale: float = 1.0) -> pd.DataFrame:
    """One ``mean ± std`` string column per value (:func:`mean_std`) and the number of seeds, per group."""
    by = [by] if isinstance(by, str) else list(by)
    values = [values] if isinstance(values, str) else list(values)
    g = df.groupby(by, sort=False)
    out = pd.DataFrame({v: g[v].apply(lambda x: mean_std(x, digits, scale)) for v in values})
    out["seeds"] = g.size()
    return out
