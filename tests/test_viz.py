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
