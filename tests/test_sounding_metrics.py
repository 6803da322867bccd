"""DSOL metrics on hand-worked maps: class-aware CIoU, CIoU@0.3, NSA, IoU@0.5/AUC, NMI, Hungarian alignment."""
import numpy as np
import pytest

from avlib.metrics.clustering import align_clusters, aligned_accuracy, nmi
from avlib.metrics.localization import evaluate_maps
from avlib.metrics.sounding import class_aware_ciou, class_box_masks, evaluate_class_maps, nsa

S = 4  # a 4×4 image, maps already at the image size


def _objs():
    # class 0 sounding in the top-left 2×2 quarter, class 1 sounding in the top-right 2×2 quarter,
    # class 2 silent in the bottom-left quarter
    return [{"class": 0, "box": (0, 0, 2, 2), "sounding": True}, {"class": 1, "box": (2, 0, 4, 2), "sounding": True},
            {"class": 2, "box": (0, 2, 2, 4), "sounding": False}]


def test_class_box_masks_union_per_class():
    m = class_box_masks(_objs(), 3, S)
    assert m.shape == (3, S, S)
    assert m[0, :2, :2].all() and m[0].sum() == 4 and m[2, 2:, :2].all() and m[2].sum() == 4


def test_class_aware_ciou_hand_worked():
    maps = np.zeros((1, 3, S, S), np.float32)
    maps[0, 0, :2, :2] = 1.0          # class 0: exactly its box → IoU 1
    maps[0, 1, :2, 1:4] = 1.0         # class 1: 6 pixels predicted, 4 of them in its box → 4 / (4 + 2) = 2/3
    maps[0, 2] = 1.0                  # silent class: ignored by CIoU
    ciou = class_aware_ciou(maps, [_objs()], [[0, 1]], S)
    np.testing.assert_allclose(ciou, [(1 + 2 / 3) / 2])


def test_class_aware_ciou_binarises_at_a_tenth_of_the_max():
    maps = np.zeros((1, 3, S, S), np.float32)
    maps[0, 0, :2, :2] = 1.0
    maps[0, 0, 3, 3] = 0.05           # below 0.1 × max: not predicted
    maps[0, 0, 2, 3] = 0.2            # above 0.1 × max: a false positive → 4 / 5
    maps[0, 1, :2, 2:] = 1.0
    np.testing.assert_allclose(class_aware_ciou(maps, [_objs()], [[0, 1]], S), [(0.8 + 1) / 2])


def test_nsa_fraction_of_low_pixels_in_silent_maps():
    maps = np.zeros((2, 3, S, S), np.float32)
    maps[0, 2, :2, :] = 0.9           # half the pixels above 0.2 → 0.5
    maps[1, 0, 0, 0] = 0.2            # exactly 0.2 counts as low → 1.0
    maps[1, 1, :, :] = 0.5            # a sounding class: ignored
    assert nsa(maps, [[2], [0]]) == pytest.approx((0.5 + 1.0) / 2)


def test_evaluate_class_maps_ciou_at_03_and_no_silent_nan():
    maps = np.zeros((2, 3, S, S), np.float32)
    maps[0, 0, :2, :2] = maps[0, 1, :2, 2:] = 1.0        # CIoU 1
    maps[1, 0, 2:, 2:] = maps[1, 1, 2:, 2:] = 1.0        # CIoU 0
    r = evaluate_class_maps(maps, [_objs(), _objs()], [[0, 1], [0, 1]], [[2], [2]], S)
    assert r["ciou@0.3"] == pytest.approx(0.5)
    assert r["nsa"] == pytest.approx(1.0)
    assert np.isnan(nsa(maps, [[], []]))


def test_single_source_iou_at_05_and_auc_dsol_rule():
    gt = np.zeros((2, S, S), np.float32)
    gt[:, :2, :2] = 1
    maps = np.zeros((2, S, S), np.float32)
    maps[0, :2, :2] = 1.0             # IoU 1
    maps[1, :, :] = 1.0               # whole image: IoU 4/16 = 0.25
    r = evaluate_maps(maps, gt, rule="max_fraction", threshold=0.1)
    assert r["ciou"] == pytest.approx(0.5)
    np.testing.assert_allclose(r["ious"], [1.0, 0.25])
    # success curve: 1.0 up to 0.25, then 0.5 → area = 0.25 + 0.75·0.5 (trapezoids on the 0.05 grid)
    assert r["auc"] == pytest.approx(0.25 * 1.0 + 0.75 * 0.5 + 0.05 * 0.25, abs=1e-9)


def test_hungarian_alignment_recovers_a_permuted_clustering():
    labels = np.repeat(np.arange(4), 5)
    perm = np.array([2, 0, 3, 1])
    clusters = perm[labels]
    clusters[0] = 1                   # one mistake does not change the matching
    mapping = align_clusters(clusters, labels, 4, 4)
    np.testing.assert_array_equal(mapping[perm], np.arange(4))
    assert aligned_accuracy(clusters, labels, mapping) == pytest.approx(19 / 20)
    assert nmi(labels, perm[labels]) == pytest.approx(1.0)


def test_more_clusters_than_classes_join_their_majority_class():
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 0])
    clusters = np.array([0, 0, 0, 1, 1, 1, 2, 2])   # cluster 2 is a second cluster of class 0
    np.testing.assert_array_equal(align_clusters(clusters, labels, 3, 2), [0, 1, 0])


def test_nmi_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="equally long"):
        nmi([0, 1], [0, 1, 1])
