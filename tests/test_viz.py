"""Plots draw what they are given; the category table carries a player per category."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from avlib import viz  # noqa: E402
from avlib.world import CATEGORIES, SingleSource  # noqa: E402


def test_show_frame_draws_one_rectangle_per_object_coloured_by_sounding():
    s = SingleSource(2, seed=0, distractors=(2, 2))[0]
    ax = viz.show_frame(s["frame"], s["objects"], SingleSource(1).classes)
    colours = [p.get_edgecolor() for p in ax.patches]
    assert len(colours) == 3
    assert sum(np.allclose(c[:3], matplotlib.colors.to_rgb(viz.SOUNDING)) for c in colours) == 1


def test_segment_timeline_fills_true_cells_only():
    ax = viz.segment_timeline({"audible": np.array([1, 0, 1, 1], bool)})
    assert len(ax.patches) == 3


def test_category_table_has_an_icon_and_a_player_per_category():
    html = viz.category_table(CATEGORIES[:3])
    assert html.count("<audio") == 3 and html.count("<img") == 3
    assert "data:audio/flac;base64," in html


def test_forest_values_put_each_claim_on_its_scale():
    import pytest
    from avlib.scorecard import Claim, scorecard
    from avlib.viz import forest_plot, forest_values
    rows = scorecard([Claim("ratio", "T1", [1.0, 2.0, 3.0], paper=4.0),                  # mean 2, paper 4 → 0.5
                      Claim("std", "T2", [1.0, 2.0, 3.0]),                               # no paper: mean / sd = 2
                      Claim("lower", "T3", [-1.0, -2.0, -3.0], direction="<"),           # in the paper's direction: +2
                      Claim("same", "T4", [1.0, 2.0, 3.0], direction="≈", margin=4.0),  # mean / margin = 0.5
                      Claim("none", "T5", None, reason="no data")])
    v = [forest_values(r) for _, r in rows.iterrows()]
    assert v[0][0] == "ratio" and v[0][1] == pytest.approx(0.5) and v[0][2] < 0.5 < v[0][3]
    assert v[1][:2] == ("standardised", pytest.approx(2.0)) and v[2][:2] == ("standardised", pytest.approx(2.0))
    assert v[3][:2] == ("equivalence", pytest.approx(0.5)) and v[4] is None
    fig = forest_plot(rows.assign(paper=["A", "A", "B", "B", "B"]))
    assert len(fig.axes) == 3 and fig.get_figwidth() <= 8.0
