"""cIoU, success rate, AUC and ground-truth maps on hand-worked examples (avlib.metrics.localization)."""
import numpy as np
import pytest
import torch

from avlib.metrics.localization import (THRESHOLDS, auc, binarize, box_mask, ciou, consensus_mask, evaluate_maps,
                                        normalize_maps, predict_mask, resize_maps, success_curve, success_rate,
                                        union_mask)


def test_box_mask_slice_semantics():
    m = box_mask([1, 2, 3, 5], 6)
    assert m.shape == (6, 6) and m.sum() == 2 * 3
    assert m[2:5, 1:3].all() and m[:2].sum() == 0
    # batch of boxes and another coordinate frame (Flickr's 256 px → 8 px)
    mb = box_mask([[0, 0, 128, 128], [128, 128, 256, 256]], 8, box_scale=256)
    assert mb.shape == (2, 8, 8) and mb[0, :4, :4].all() and mb[1, 4:, 4:].all() and mb.sum() == 32
    # huge coordinates are clamped to the image
    assert box_mask([-5, -5, 1e9, 1e9], 4).sum() == 16
    with pytest.raises(ValueError):
        box_mask([1, 2, 3], 4)


def test_perfect_and_disjoint_predictions():
    g = box_mask([[2, 2, 6, 6]], 8)
    assert ciou(g > 0, g)[0] == pytest.approx(1.0)
    assert ciou(box_mask([[0, 0, 2, 2]], 8) > 0, g)[0] == 0.0
    # half the box predicted, nothing outside: 8 / 16
    half = box_mask([[2, 2, 6, 4]], 8) > 0
    assert ciou(half, g)[0] == pytest.approx(0.5)
    # the whole box plus 16 outside pixels: 16 / (16 + 16)
    big = box_mask([[2, 2, 6, 6], [0, 0, 8, 2]], 8).sum(0, keepdims=True) > 0
    assert ciou(big, g)[0] == pytest.approx(0.5)


def test_ciou_with_soft_consensus():
    # consensus: 1 where two annotators agree, 0.5 where only one did
    G = consensus_mask([[0, 0, 2, 1], [0, 0, 1, 1]], (1, 2))
    assert G.tolist() == [[1.0, 0.5]]
    P = np.array([[[1, 1]]], dtype=bool)
    assert ciou(P, G[None])[0] == pytest.approx(1.5 / 1.5)
    P2 = np.array([[[0, 1]]], dtype=bool)
    assert ciou(P2, G[None])[0] == pytest.approx(0.5 / 1.5)


def test_consensus_ground_truth():
    boxes = [[0, 0, 4, 4], [2, 2, 6, 6], [0, 0, 4, 4]]
    G = consensus_mask(boxes, 8)
    assert G[0, 0] == 1.0                 # two annotators: min(1, 2/2)
    assert G[1, 1] == 1.0                 # all three: min(1, 3/2)
    assert G[5, 5] == 0.5                 # one annotator
    assert G[7, 7] == 0.0
    # a ragged batch of images with different numbers of annotators
    Gs = consensus_mask([[[0, 0, 4, 4]], [[0, 0, 2, 2], [1, 1, 3, 3]]], 8)
    assert Gs.shape == (2, 8, 8) and Gs[0].max() == 0.5 and Gs[1, 1, 1] == 1.0
    U = union_mask([[0, 0, 2, 2], [1, 1, 3, 3]], 4)
    assert U.max() == 1.0 and U.sum() == 7


def test_top_half_rule_and_ties():
    m = np.arange(16, dtype=float).reshape(1, 4, 4)
    p = binarize(m)
    assert p.sum() == 7 and bool(p[0, 3, 3]) and not bool(p[0, 2, 0])  # strictly above the upper median (8)
    # a tie at the median: the strict ">" keeps fewer than half, the maximum is always kept
    tie = np.array([[[0.0, 0.5], [0.5, 1.0]]])
    assert binarize(tie).int().tolist() == [[[0, 0], [0, 1]]]
    # a constant map gives an empty prediction (the official code's NaN does the same)
    assert binarize(np.ones((1, 3, 3))).sum() == 0
    assert normalize_maps(np.ones((1, 3, 3))).abs().sum() == 0


def test_max_fraction_rule():
    m = np.array([[[0.0, 0.05], [0.2, 1.0]]])
    assert binarize(m, rule="max_fraction", threshold=0.1).int().tolist() == [[[0, 0], [1, 1]]]
    with pytest.raises(ValueError):
        binarize(m, rule="otsu")


def test_resize_is_bilinear_and_keeps_the_peak():
    m = torch.zeros(1, 2, 2)
    m[0, 1, 1] = 1
    up = resize_maps(m, 8)
    assert up.shape == (1, 8, 8) and up[0, 7, 7] == up.max() and up[0, 0, 0] == 0
    pred = predict_mask(m, 8)
    assert bool(pred[0, 7, 7]) and not bool(pred[0, 0, 0])


def test_success_rate_and_auc_on_known_curves():
    assert list(THRESHOLDS[:3]) == [0.0, 0.05, 0.1] and len(THRESHOLDS) == 21
    ious = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert success_rate(ious, 0.5) == pytest.approx(0.6)
    # uniform cIoUs on [0, 1]: the success curve is 1 - t, its area 1/2
    u = np.linspace(0, 1, 100001)
    assert auc(u) == pytest.approx(0.5, abs=1e-3)
    # all perfect: area 1; all zero: only the t = 0 point succeeds → trapezoid 0.05 / 2
    assert auc(np.ones(10)) == pytest.approx(1.0)
    assert auc(np.zeros(10)) == pytest.approx(0.025)
    # NaN (empty GT and empty prediction) counts as a failure, as in the official code
    assert success_rate([np.nan, 1.0]) == 0.5
    assert success_curve([0.3])[:7].tolist() == [1.0] * 7 and success_curve([0.3])[7] == 0.0
    with pytest.raises(ValueError):
        success_rate([])


def test_evaluate_maps_vectorised():
    gt = np.stack([box_mask([0, 0, 4, 8], 8), box_mask([4, 0, 8, 8], 8)])
    maps = np.zeros((2, 2, 2))
    maps[0, :, 0] = 1     # left half hot, image 0 → hit
    maps[1, :, 0] = 1     # left half hot, image 1 → miss
    res = evaluate_maps(maps, gt)
    assert res["ious"].shape == (2,) and res["ious"][1] == 0 and res["ious"][0] > 0.5
    assert res["ciou"] == 0.5 and res["curve"].shape == (21,)
    with pytest.raises(ValueError):
        evaluate_maps(maps[:1], gt)
