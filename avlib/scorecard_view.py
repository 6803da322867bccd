"""The reader's view of a scorecard (:mod:`avlib.scorecard`): verdict badges, the claim with its loss
names typeset, the paper's value with its source, ours with its interval and effect ratio, the reading
beside the verdict; :func:`to_html` lays it out in five columns that fit the book's text column.
"""
from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from .scorecard import COLOURS


def badge(v: str) -> str:
    """A coloured verdict badge (HTML)."""
    return (f'<span style="background:{COLOURS[v]};color:white;padding:1px 6px;border-radius:4px;'
            f'white-space:nowrap">{html.escape(v)}</span>')


def missing(x) -> bool:
    """None or NaN (a table read back from JSON or built by pandas holds NaN where a claim had None)."""
    return x is None or (isinstance(x, (float, np.floating)) and np.isnan(x))


def _fmt(x, digits):
    return "" if missing(x) else f"{x:+.{digits}f}"


#: loss names as the chapters typeset them (MathJax renders ``\\( … \\)`` in an HTML output)
MATH = {"L_avps": r"\(\mathcal{L}_{avps}\)", "L_c": r"\(\mathcal{L}_c\)", "L_1": r"\(\mathcal{L}_1\)",
        "L_ce": r"\(\mathcal{L}_{ce}\)"}


def math_names(text: str) -> str:
    """``text`` with the loss names of :data:`MATH` as inline math (whole words only)."""
    return re.sub(r"\bL_(avps|ce|c|1)\b", lambda m: MATH[m.group(0)], text)


def label(r) -> str:
    """The claim with its direction (and margin): ``"a beats b (>)"``, ``"a ≈ b (≈ ±3)"``."""
    margin = "" if missing(r["margin"]) else f" ±{r['margin']:g}"
    return f"{math_names(html.escape(r['claim']))} ({r['direction']}{margin})"


def paper_html(value, source, fmt: str = "+.3g") -> str:
    """The paper's value formatted by ``fmt``, its ``source`` as a tooltip; empty without a value."""
    if missing(value):
        return ""
    text = f"{value:{fmt}}"
    return f'<span title="{html.escape(source)}">{text}</span>' if isinstance(source, str) and source else text


def _paper(r, digits: int) -> str:
    return paper_html(r["paper"], r.get("source"), f"+.{digits}f")


def reading_text(r) -> str:
    """The reading beside the verdict (:mod:`avlib.readings`), or why the claim has no paper value."""
    reading = r.get("reading")
    if isinstance(reading, str) and reading:
        return reading
    why = r.get("no_paper")
    return f"no paper value: {why}" if isinstance(why, str) and why else ""


def _digits(r, digits: int) -> int:
    """Enough decimals for the claim's scale: a measure bounded by a range of at most 1 (NMI, cIoU) gets
    three, and a unit whose differences are below 0.1 two significant digits of its largest value."""
    b = r.get("bounds")
    if isinstance(b, (list, tuple)) and b[1] - b[0] <= 1:   # a fraction (NMI, cIoU): three decimals at least
        digits = max(digits, 3)
    vals = [abs(v) for v in (r["mean"], r["ci_low"], r["ci_high"], r["paper"]) if not missing(v) and v != 0]
    top = max(vals, default=0.0)
    return digits if top == 0 or top >= 0.1 else max(digits, int(np.ceil(-np.log10(top))) + 1)


def _ratio(r) -> str:
    """``ours / paper`` with its 95 % interval where there is one: ``"0.56 [0.21, 0.90]"``."""
    e = r["effect_vs_paper"]
    if missing(e):
        return ""
    lo, hi = r.get("ratio_low"), r.get("ratio_high")
    return f"{e:.2f}" + ("" if missing(lo) or missing(hi) else f" [{lo:.2f}, {hi:.2f}]")


def display_table(table: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """The reader's view: claim, where, paper's number, ours with its 95 % interval, verdict badge; a
    ``data`` column names the dataset when any claim was measured on real data (not the world)."""
    def ours(r):
        if missing(r["mean"]):
            return ""
        d = _digits(r, digits)
        ci = "" if missing(r["ci_low"]) else f" [{_fmt(r['ci_low'], d)}, {_fmt(r['ci_high'], d)}]"
        return f"{_fmt(r['mean'], d)}{ci} (n={r['n_seeds']})"
    view = pd.DataFrame({
        "claim": [label(r) for _, r in table.iterrows()],
        "where": table["section"],
        "unit": table["unit"],
        "paper": [_paper(r, _digits(r, digits)) for _, r in table.iterrows()],
        "ours, mean [95 % CI]": [ours(r) for _, r in table.iterrows()],
        "ours / paper": [_ratio(r) for _, r in table.iterrows()],
        "verdict": [badge(v) for v in table["verdict"]],
        "reading": [reading_text(r) for _, r in table.iterrows()],
        "note": table["note"],
    })
    if "data" in table and (table["data"] != "world").any():
        view.insert(2, "data", table["data"].to_numpy())
    return view


def to_html(table: pd.DataFrame, digits: int = 1) -> str:
    """:func:`display_table` as a five-column HTML table that fits the book's text column: the claim with
    where, unit (and data) beneath it; the paper's value; ours with its interval and the effect ratio
    beneath; the verdict badge; the reading with the note beneath (for ``IPython.display.HTML``)."""
    v = display_table(table, digits)

    def small(*parts):
        text = " · ".join(str(t) for t in parts if isinstance(t, str) and t)
        return f"<br><small>{text}</small>" if text else ""
    compact = pd.DataFrame({
        "claim": [r["claim"] + small(r["where"], r["unit"], r.get("data", "")) for _, r in v.iterrows()],
        "paper": v["paper"],
        "ours, mean [95 % CI]": [r["ours, mean [95 % CI]"] + (small(f"ours / paper {r['ours / paper']}")
                                                             if r["ours / paper"] else "") for _, r in v.iterrows()],
        "verdict": v["verdict"],
        "reading and note": [r["reading"] + (small(r["note"]) if isinstance(r["note"], str) else "")
                             for _, r in v.iterrows()],
    })
    return compact.to_html(index=False, escape=False, border=0, classes="scorecard table")
