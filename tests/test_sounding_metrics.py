"""DSOL metrics on hand-worked maps: class-aware CIoU, CIoU@0.3, NSA, IoU@0.5/AUC, NMI, Hungarian alignment."""
import numpy as np
import pytest

from avlib.metrics.clustering import align_clusters, aligned_accuracy, match_by_fraction, nmi
from avlib.metrics.localization import evaluate_maps
from avlib.metrics.sounding import (DUET_THRESHOLD, MOSAIC_THRESHOLD, class_aware_ciou, class_box_masks,
                                    evaluate_class_maps, nsa)

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
    for protocol in ("synthetic", "duet"):
        np.testing.assert_allclose(class_aware_ciou(maps, [_objs()], [[0, 1]], S, protocol), [(1 + 2 / 3) / 2])


def test_class_aware_ciou_thresholds_of_the_two_official_protocols():
    assert (MOSAIC_THRESHOLD, DUET_THRESHOLD) == (0.5, 0.2)
    maps = np.zeros((1, 3, S, S), np.float32)
    maps[0, 0] = 0.3                  # class 0: 0.3 everywhere, 1.0 on its box
    maps[0, 0, :2, :2] = 1.0
    maps[0, 1] = 0.5                  # class 1: exactly 0.5 × max outside its box: not > 0.5 × max
    maps[0, 1, :2, 2:] = 1.0
    # eval.py (0.5 × max): both exactly their boxes → 1
    np.testing.assert_allclose(class_aware_ciou(maps, [_objs()], [[0, 1]], S, "synthetic"), [1.0])
    # eval_duet.py (0.2 × max): the whole image for both → 4 / 16
    np.testing.assert_allclose(class_aware_ciou(maps, [_objs()], [[0, 1]], S, "duet"), [0.25])
    # an explicit threshold wins; avlib's former 0.1 on min-max normalised maps is an option
    np.testing.assert_allclose(class_aware_ciou(maps, [_objs()], [[0, 1]], S, threshold=0.6), [1.0])
    np.testing.assert_allclose(class_aware_ciou(maps, [_objs()], [[0, 1]], S, threshold=0.1, normalize=True), [1.0])
    with pytest.raises(ValueError):
        class_aware_ciou(maps, [_objs()], [[0, 1]], S, "mosaic")


def test_nsa_is_averaged_per_image_over_every_non_sounding_class():
    maps = np.zeros((2, 4, S, S), np.float32)
    maps[0, 2, :2, :] = 0.9           # image 0: sounding {0, 1, 3}; class 2 half above 0.2 → 0.5
    maps[1, 0, :, :] = 0.9            # image 1: sounding {2}; classes 0, 1, 3 → 0.0, 1.0, 1.0 → 2/3
    maps[1, 1, 0, 0] = 0.2            # exactly 0.2 counts as low
    maps[1, 2, :, :] = 0.9            # a sounding class: ignored
    # class 3 of image 1 is not visible (no object): it counts all the same
    sounding = [[0, 1, 3], [2]]
    assert nsa(maps, sounding) == pytest.approx((0.5 + 2 / 3) / 2)
    # pooled over (image, class) pairs it would be (0.5 + 0 + 1 + 1) / 4: not what the official code does
    assert nsa(maps, sounding) != pytest.approx((0.5 + 0 + 1 + 1) / 4)
    # the former avlib NSA (visible silent classes only, pooled) is a named option
    assert nsa(maps, sounding, classes="visible_silent", silent=[[2], [0, 1]]) == pytest.approx((0.5 + 0 + 1) / 3)
    assert np.isnan(nsa(maps[:, :1], [[0], [0]]))          # every class sounds: no image counts
    with pytest.raises(ValueError):
        nsa(maps, sounding, classes="visible_silent")


def _official_multi(maps, objects, sounding, K, thres, S_img):
    """music-exp/eval.py (thres 0.5) / eval_duet.py (thres 0.2) per image, maps already at the image size:
    CIoU = mean over sounding classes of cIoU(map > thres·max, box map); NSA = mean over the classes
    without a box of np.sum(map <= 0.2) / pixels; both averaged over images."""
    cious, nosounds = [], []
    for i in range(len(maps)):
        nosound = [np.sum(maps[i, k] <= 0.2) / (S_img * S_img) for k in range(K) if k not in sounding[i]]
        ciou = []
        for k in sounding[i]:
            gtmap = np.zeros((S_img, S_img))
            for o in objects[i]:
                if o["class"] == k:
                    x0, y0, x1, y1 = o["box"]
                    gtmap[y0:y1, x0:x1] = 1
            predmap = maps[i, k]
            t = np.float32(thres * float(np.max(predmap)))
            with np.errstate(invalid="ignore", divide="ignore"):
                ciou.append(np.sum((predmap > t) * (gtmap > 0)) / (np.sum(gtmap) + np.sum((predmap > t) * (gtmap == 0))))
        cious.append(np.mean(ciou))
        nosounds.append(np.mean(nosound))
    results = [np.sum(np.array(cious) >= 0.05 * i) / len(cious) for i in range(21)]
    from sklearn.metrics import auc as sk_auc
    return np.array(cious), results[6], sk_auc([0.05 * i for i in range(21)], results), np.mean(nosounds)


@pytest.mark.parametrize("protocol,thres", [("synthetic", 0.5), ("duet", 0.2)])
def test_evaluate_class_maps_equals_the_official_per_image_code(protocol, thres):
    rng = np.random.default_rng(11)
    N, K, S_img = 24, 5, 12
    sig = 1 / (1 + np.exp(-2 * rng.standard_normal((N, K, S_img, S_img))))     # positive minimum
    sig[0] = 0.0                                                                # all-zero maps
    sig[1, :] = 0.7                                                             # constant maps
    sig[2] = np.round(sig[2] * 2) / 2                                           # ties at 0.5 / max
    maps = sig.astype(np.float32)
    objects, sounding = [], []
    for i in range(N):
        snd = sorted(rng.choice(K, rng.integers(1, 3), replace=False).tolist())
        objs = []
        for c in snd + [int(rng.integers(K))]:
            x0, y0 = rng.integers(0, S_img - 3, 2)
            objs.append({"class": c, "box": (int(x0), int(y0), int(x0 + rng.integers(2, 6)), int(y0 + rng.integers(2, 6)))})
        objects.append(objs)
        sounding.append(snd)
        if i % 2 and i > 2:                                                     # a hit: the box lights up
            for o in objs[:-1]:
                x0, y0, x1, y1 = o["box"]
                maps[i, o["class"], y0:y1, x0:x1] += 1.5
    cious, at03, auc_, nsa_ = _official_multi(maps, objects, sounding, K, thres, S_img)
    r = evaluate_class_maps(maps, objects, sounding, S_img, protocol=protocol)
    np.testing.assert_array_equal(r["cious"], cious)
    assert r["ciou@0.3"] == at03 and r["auc"] == pytest.approx(auc_, abs=1e-15)
    assert r["nsa"] == pytest.approx(nsa_, rel=1e-15)
    assert 0 < nsa_ < 1 and np.nanmax(cious) > 0.2 and np.isnan(cious).sum() == 0   # not a degenerate case


def test_evaluate_class_maps_ciou_at_03_and_no_silent_nan():
    maps = np.zeros((2, 3, S, S), np.float32)
    maps[0, 0, :2, :2] = maps[0, 1, :2, 2:] = 1.0        # CIoU 1
    maps[1, 0, 2:, 2:] = maps[1, 1, 2:, 2:] = 1.0        # CIoU 0
    r = evaluate_class_maps(maps, [_objs(), _objs()], [[0, 1], [0, 1]], S)
    assert r["ciou@0.3"] == pytest.approx(0.5)
    assert r["nsa"] == pytest.approx(1.0)
    # the former signature (a `silent` list before `size`) is refused with a clear message
    with pytest.raises(TypeError, match="silent"):
        evaluate_class_maps(maps, [_objs(), _objs()], [[0, 1], [0, 1]], [[2], [2]], S)


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


def test_a_nan_image_is_a_failure_in_the_denominator_as_officially():
    """Image 0: its sounding class has an empty box and an all-zero map, so its CIoU is 0/0 (NaN); the
    official ``np.sum(ious >= t) / len(ious)`` counts it as a failure. Image 1 is a perfect hit."""
    S = 8
    maps = np.zeros((2, 2, S, S), np.float32)
    maps[1, 0, 2:6, 2:6] = 1.0
    objects = [[{"class": 0, "box": (3, 3, 3, 6)}], [{"class": 0, "box": (2, 2, 6, 6)}]]
    r = evaluate_class_maps(maps, objects, [[0], [0]], S, protocol="duet")
    assert np.isnan(r["cious"][0]) and r["cious"][1] == 1.0 and r["nan_images"] == 1
    assert r["ciou@0.3"] == 0.5
    dropped = evaluate_class_maps(maps, objects, [[0], [0]], S, protocol="duet", nan_images="drop")
    assert dropped["ciou@0.3"] == 1.0 and dropped["auc"] == pytest.approx(1.0)
    assert r["auc"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="nan_images"):
        evaluate_class_maps(maps, objects, [[0], [0]], S, nan_images="keep")


def test_match_by_fraction_is_the_optimum_of_the_official_random_search():
    """match_cluster.py: maximise Σ_j f[j, class(j)], f the per-class fraction, every class holding a cluster.
    Checked against every assignment of 5 clusters to 3 classes (brute force), on unbalanced classes where
    the count-based Hungarian alignment differs."""
    import itertools
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1, 2], [60, 10, 30])
    clusters = np.where(rng.random(100) < 0.6, labels + rng.integers(0, 2, 100) * 3 % 5, rng.integers(0, 5, 100)) % 5
    table = np.zeros((5, 3))
    np.add.at(table, (clusters, labels), 1)
    frac = table / table.sum(0)
    best = max((sum(frac[j, c] for j, c in enumerate(a)), a) for a in itertools.product(range(3), repeat=5)
               if set(a) == {0, 1, 2})
    got = match_by_fraction(clusters, labels, 5, 3)
    assert sum(frac[j, c] for j, c in enumerate(got)) == pytest.approx(best[0]) and set(got) == {0, 1, 2}
    # one cluster per class: plain Hungarian on the fractions
    np.testing.assert_array_equal(match_by_fraction([0, 0, 1, 2, 2], [1, 1, 0, 2, 2], 3, 3), [1, 0, 2])
