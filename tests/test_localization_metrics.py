"""cIoU, success rate, AUC and ground-truth maps on hand-worked examples (avlib.metrics.localization)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from avlib.metrics.localization import (THRESHOLDS, auc, binarize, box_mask, ciou, consensus_mask, evaluate_maps,
                                        normalize_maps, predict_mask, resize_maps, success_curve, success_rate,
                                        union_mask)

_spec = importlib.util.spec_from_file_location("lvs_eval", Path(__file__).resolve().parents[1] / "benchmarks" / "lvs_eval.py")
LVS_EVAL = importlib.util.module_from_spec(_spec)   # its official_lvs_ciou: the per-image LVS reference
_spec.loader.exec_module(LVS_EVAL)


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
    # constant maps: the official normalize_img leaves them unchanged → score 1 + c;
    # c >= 0 predicts the whole image, c < 0 nothing
    assert binarize(np.ones((1, 3, 3))).all() and binarize(np.zeros((1, 3, 3))).all()
    assert binarize(-np.ones((1, 3, 3))).sum() == 0
    assert normalize_maps(np.ones((1, 3, 3))).abs().sum() == 0   # the display helper still zeroes them


def test_max_fraction_rule_is_raw_and_strict():
    m = np.array([[[0.0, 0.05], [0.1, 1.0]]])
    # strictly above 0.1 × max: the pixel equal to 0.1 is not predicted
    assert binarize(m, rule="max_fraction", threshold=0.1).int().tolist() == [[[0, 0], [0, 1]]]
    # raw map, not normalised: a sigmoid-like map with a positive minimum predicts everything
    sig = np.array([[[0.5, 0.6], [0.7, 0.9]]])
    assert binarize(sig, rule="max_fraction").all()
    # the former avlib behaviour (min-max first) is the named option normalize=True
    assert binarize(sig, rule="max_fraction", normalize=True).int().tolist() == [[[0, 1], [1, 1]]]
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
    assert THRESHOLDS.tolist() == [0.05 * i for i in range(21)]     # the official floats, not rounded
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
    # the official thresholds are 0.05 * i: 0.05 * 6 = 0.30000000000000004 > 0.3, so 0.3 fails at i = 6
    assert success_curve([0.3])[:6].tolist() == [1.0] * 6 and success_curve([0.3])[6] == 0.0
    assert success_curve([0.31])[:7].tolist() == [1.0] * 7 and success_curve([0.31])[7] == 0.0
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


# ---- per-image re-implementations of the official procedures (plain NumPy, the official operators) ----

def official_dsol_ciou(resized: np.ndarray, gt_map: np.ndarray, threshold: float = 0.1) -> float:
    """DTaoo/... music-exp/tools.py cal_ciou (eval.py / eval_duet.py use the same lines with 0.5 / 0.2).
    ``threshold * np.max(predmap)`` is a float64 product compared in float32 under NumPy 1.x (value-based
    casting, what the official code ran on); NumPy 2 would promote, so the cast is written out."""
    predmap = resized.astype(np.float32)
    thres = np.float32(threshold * float(np.max(predmap)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum((predmap > thres) * (gt_map > 0)) / (np.sum(gt_map) + np.sum((predmap > thres) * (gt_map == 0)))


def official_summary(ious):
    from sklearn.metrics import auc as sk_auc
    results = [np.sum(np.array(ious) >= 0.05 * i) / len(ious) for i in range(21)]
    return np.sum(np.array(ious) >= 0.5) / len(ious), sk_auc([0.05 * i for i in range(21)], results)


def _degenerate_and_random_maps(S: int, rng) -> np.ndarray:
    maps = [rng.standard_normal((S, S)),                                    # random, both signs
            1 / (1 + np.exp(-rng.standard_normal((S, S)))),                 # sigmoid: positive minimum
            np.full((S, S), 0.7), np.zeros((S, S)), np.full((S, S), -0.3),  # constants: positive, zero, negative
            rng.integers(0, 3, (S, S)) / 2.0,                               # heavy ties at the median
            np.where(rng.random((S, S)) < 0.5, 1.0, 0.0),                   # two values
            -np.abs(rng.standard_normal((S, S))) - 1,                       # all negative
            np.pad(np.ones((2, 2)), ((0, S - 2), (0, S - 2)))]              # a single hot corner
    maps += [rng.standard_normal((S, S)) for _ in range(20)]
    return np.stack(maps).astype(np.float32)


def _gts(n: int, S: int, rng) -> np.ndarray:
    gts = []
    for i in range(n):
        if i % 7 == 3 or i == 4:                                           # (4: the negative constant → NaN)
            gts.append(np.zeros((S, S), np.float32))                        # empty ground truth
        elif i % 2:
            x0, y0 = rng.integers(0, S // 2, 2)
            gts.append(box_mask([x0, y0, x0 + rng.integers(2, S), y0 + rng.integers(2, S)], S))
        else:                                                               # soft consensus of 3 annotators
            b = rng.integers(0, S, (3, 2, 2))
            gts.append(consensus_mask(np.concatenate([b.min(1), b.max(1) + 1], 1), S))
    return np.stack(gts)


@pytest.mark.parametrize("S", [16, 15])
def test_lvs_median_rule_equals_the_official_per_image_code(S):
    # maps already at the image size (no resize): the values must be identical, NaNs included
    rng = np.random.default_rng(S)
    maps = _degenerate_and_random_maps(S, rng)
    gt = _gts(len(maps), S, rng)
    ref = np.array([LVS_EVAL.official_lvs_ciou(m, g, resized=True) for m, g in zip(maps, gt)])
    res = evaluate_maps(maps, gt, rule="median", chunk=5)
    np.testing.assert_array_equal(res["ious"], ref)
    assert np.isnan(ref).any() and (ref == 0).any() and (ref > 0.3).any()   # the cases are exercised
    c, a = official_summary(ref)
    assert res["ciou"] == c and res["auc"] == pytest.approx(a, abs=1e-15)
    # constant maps: c >= 0 → whole image, c < 0 → nothing
    P = binarize(maps[2:5])
    assert P[0].all() and P[1].all() and not P[2].any()


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.2])
def test_max_fraction_rule_equals_the_official_per_image_code(threshold):
    rng = np.random.default_rng(7)
    maps = _degenerate_and_random_maps(16, rng)
    gt = (_gts(len(maps), 16, rng) > 0).astype(np.float32)   # DSOL's ground truth is binary (its code uses gt > 0)
    ref = np.array([official_dsol_ciou(m, g, threshold) for m, g in zip(maps, gt)])
    res = evaluate_maps(maps, gt, rule="max_fraction", threshold=threshold)
    np.testing.assert_array_equal(res["ious"], ref)
    # the sigmoid map (positive minimum): the raw rule keeps more pixels than the former normalised one
    raw, old = binarize(maps[1:2], "max_fraction", threshold), binarize(maps[1:2], "max_fraction", threshold, True)
    assert (raw >= old).all() and raw.sum() > old.sum()


@pytest.mark.parametrize("resize", ["ipp", "plain"])
@pytest.mark.parametrize("low,size", [(7, 32), (14, 224), (5, 13), (20, 16)])
def test_resize_equals_the_cv2_formula_bit_for_bit(low, size, resize):
    # cv2's INTER_LINEAR (horizontal then vertical, float32, benchmarks/lvs_eval.py): same values to the last bit,
    # upsampling by powers of two and by odd ratios, and downsampling; both roundings
    rng = np.random.default_rng(low)
    maps = rng.standard_normal((6, low, low)).astype(np.float32)
    np.testing.assert_array_equal(resize_maps(maps, size, resize).numpy(),
                                  np.stack([LVS_EVAL.cv2_resize_linear(m, size, size, resize == "ipp") for m in maps]))


CV2 = np.load(Path(__file__).resolve().parent / "data" / "cv2_resize_ipp.npz")


def _integer_ratio(key):
    name, size = key.rsplit("_", 1)
    return all(int(size) % n == 0 for n in CV2[f"in_{name}"].shape)


@pytest.mark.parametrize("key", sorted(k for k in CV2.files if not k.startswith("in_") and _integer_ratio(k)))
def test_resize_equals_what_the_installed_opencv_computes(key):
    """``tests/data/cv2_resize_ipp.npz``: cv2.resize(m, (S, S), INTER_LINEAR) of opencv-python-headless 5.1.0
    (IPP on, x86-64), for random 7×7 and 14×14 maps and a constant 7×7 map of 0.7, upscaled by whole factors
    (the book's 7 → 112, the papers' 7 / 14 → 224): equal to the last bit."""
    name, size = key.rsplit("_", 1)
    ours = resize_maps(CV2[f"in_{name}"][None], int(size))[0].numpy()
    np.testing.assert_array_equal(ours, CV2[key])
    if name == "const7":                                  # a constant map stays constant
        assert np.unique(ours).tolist() == [np.float32(0.7)]
        plain = resize_maps(CV2[f"in_{name}"][None], int(size), "plain")[0].numpy()
        assert not np.array_equal(plain, CV2[key]) or int(size) == 112   # cv2's generic formula ripples at 224


@pytest.mark.parametrize("key", sorted(k for k in CV2.files if not k.startswith("in_") and not _integer_ratio(k)))
def test_resize_at_other_ratios_is_close_to_opencv_not_equal(key):
    """At a non-integer ratio (7 → 40) the IPP path rounds otherwise: a documented difference (resize_maps),
    within 10⁻⁶ of the map's range (measured: 2.5·10⁻⁷)."""
    name, size = key.rsplit("_", 1)
    m = CV2[f"in_{name}"]
    ours = resize_maps(m[None], int(size))[0].numpy()
    assert not np.array_equal(ours, CV2[key])
    np.testing.assert_allclose(ours, CV2[key], rtol=0, atol=1e-6 * float(m.max() - m.min()))


@pytest.mark.parametrize("low", [1, 7])
def test_constant_maps_through_the_resize_score_as_officially(low):
    """A collapsed model's constant map, resized: LVS predicts the whole image for c >= 0 and nothing for c < 0;
    DSOL's 0.1 × max predicts the whole image for c > 0. A 1×1 map too (no NaN)."""
    S = 24
    gt = np.zeros((4, S, S), np.float32)
    gt[:, 4:12, 4:12] = 1
    maps = np.stack([np.full((low, low), c, np.float32) for c in (0.7, 0.0, -0.3, 2.5)])
    lvs = evaluate_maps(maps, gt)["ious"]
    np.testing.assert_array_equal(lvs, [64 / S**2, 64 / S**2, 0.0, 64 / S**2])
    dsol = evaluate_maps(maps, gt, rule="max_fraction", threshold=0.1)["ious"]
    np.testing.assert_array_equal(dsol, [64 / S**2, 0.0, 0.0, 64 / S**2])
    for m, iou in zip(maps, lvs):
        pred = predict_mask(m[None], S)[0]
        assert ciou(pred, gt[0])[0] == iou


def test_end_to_end_from_low_resolution_equals_the_official_loop():
    # from 7×7 maps: the whole official procedure (resize included) image for image, NaNs and ties included
    rng = np.random.default_rng(3)
    maps = np.concatenate([_degenerate_and_random_maps(7, rng), rng.standard_normal((20, 7, 7)).astype(np.float32)])
    gt = _gts(len(maps), 32, rng)
    np.testing.assert_array_equal(evaluate_maps(maps, gt)["ious"],
                                  [LVS_EVAL.official_lvs_ciou(m, g) for m, g in zip(maps, gt)])
    gt = (gt > 0).astype(np.float32)
    np.testing.assert_array_equal(evaluate_maps(maps, gt, rule="max_fraction")["ious"],
                                  [official_dsol_ciou(LVS_EVAL.cv2_resize_linear(m, 32, 32), g) for m, g in zip(maps, gt)])


@pytest.mark.parametrize("rule,normalize", [("median", None), ("median", False), ("max_fraction", None),
                                            ("max_fraction", True)])
def test_compiled_evaluation_equals_the_torch_steps(rule, normalize):
    # evaluate_maps (avlib.metrics.fused) and ciou(predict_mask(...)) (torch, used for figures and the class-aware
    # metrics) are two codings of one procedure: equal for every rule and option, on a chunk boundary too
    rng = np.random.default_rng(11)
    maps = _degenerate_and_random_maps(6, rng)
    gt = _gts(len(maps), 24, rng)
    ious = evaluate_maps(maps, gt, rule=rule, normalize=normalize, chunk=4)["ious"]
    np.testing.assert_array_equal(ious, ciou(predict_mask(maps, 24, rule, None, normalize), gt))
    assert np.isfinite(ious).sum() > 20 and len(np.unique(ious[np.isfinite(ious)])) > 10


def test_radix_selection_is_the_sorted_order_statistic():
    from avlib.metrics.fused import kth_smallest
    rng = np.random.default_rng(0)
    cand, hist = np.empty(4000, np.int64), np.empty((4, 2048), np.int64)
    cases = [rng.standard_normal(4000), np.round(rng.standard_normal(3001) * 2),          # many ties
             np.full(17, -0.25), np.array([0.0, -0.0, -0.0, 0.0, 1e-45, -1e-45]),      # signed zeros, subnormals
             np.array([3.0]), rng.uniform(0.5, 0.5 + 1e-6, 999),                        # one value; one binade
             -np.abs(rng.standard_normal(500)) * 1e30]
    for values in cases:
        v = values.astype(np.float32)
        for k in {0, len(v) // 2, len(v) - 1, int(rng.integers(len(v)))}:
            assert kth_smallest(v, k, cand, hist) == np.sort(v)[k]


def test_evaluation_rejects_non_finite_maps_and_bad_shapes():
    maps, gt = np.zeros((2, 4, 4), np.float32), np.ones((2, 8, 8), np.float32)
    maps[1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        evaluate_maps(maps, gt)
    with pytest.raises(ValueError, match="unknown binarisation rule"):
        evaluate_maps(maps[:1], gt[:1], rule="otsu")
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        evaluate_maps(maps[:1], gt[:1, 0])
    with pytest.raises(ValueError, match="H, W >= 1"):
        evaluate_maps(maps[:1], gt[:1, :0])
    huge = np.full((1, 1, 5), -3e38, np.float32)
    huge[0, 0, 0] = 3e38                                  # finite values whose max - min overflows
    with pytest.raises(ValueError, match="overflows float32"), pytest.warns(RuntimeWarning, match="overflow"):
        evaluate_maps(huge, np.ones((1, 1, 5), np.float32))   # NumPy warns of the overflow, then the clear error


def test_normalised_option_clamps_tiny_spans_as_normalize_maps():
    # max - min below 1e-12: normalize_maps divides by 1e-12, and so does the compiled evaluation
    maps = np.array([[[0.0, 3.562186e-36, 3.562186e-35]], [[1.0, 1.0 + 2e-7, 1.0]]], np.float32)
    gt = np.array([[[0, 1, 1]], [[0, 1, 0]]], np.float32)
    np.testing.assert_array_equal(evaluate_maps(maps, gt, "max_fraction", normalize=True)["ious"],
                                  ciou(predict_mask(maps, (1, 3), "max_fraction", None, True), gt))


def test_success_thresholds_are_the_official_floats():
    # 0.05 * 3 = 0.15000000000000002 and 0.05 * 6 = 0.30000000000000004: a cIoU of exactly 3/20 or 3/10
    # fails there in the official code
    assert success_rate([3 / 20], 0.15) == 0.0 and success_rate([3 / 10], 0.3) == 0.0
    assert success_rate([0.5], 0.5) == 1.0 and success_rate([0.31], 0.3) == 1.0
    assert success_rate([0.123], 0.123) == 1.0          # off the grid: used as given
    ious = np.array([0.15, 0.3, 0.35, 0.5, 0.7, 1.0, 0.0, np.nan])
    c, a = official_summary(ious)
    assert auc(ious) == pytest.approx(a, abs=1e-15) and success_rate(ious, 0.5) == c


def test_flickr_and_vggss_ground_truth_equal_the_official_testset_gt():
    rng = np.random.default_rng(5)
    for _ in range(20):                                  # Flickr: XML boxes in 256 px, int(224 * v / 256)
        xs, ys = np.sort(rng.integers(0, 257, (2, rng.integers(1, 5), 2)), axis=2)
        boxes = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], 1)
        ref = np.zeros((224, 224))
        for b in boxes:
            b = [int(224 * int(v) / 256) for v in b]
            tmp = np.zeros((224, 224))
            tmp[b[1]:b[3], b[0]:b[2]] = 1
            ref += tmp
        ref /= 2
        ref[ref > 1] = 1
        np.testing.assert_array_equal(consensus_mask(boxes, 224, box_scale=256), ref)
    # VGG-SS: int(224 * max(x, 0)); a coordinate just below 64/224 stays at 63 (no rounding nudge)
    x = float(np.nextafter(64 / 224, 0))
    assert int(224 * x) == 63
    for b in ([x, -0.1, 0.9, x], [0.1, 0.2, 1.3, 0.5]):
        ref = np.zeros((224, 224))
        v = [int(224 * max(c, 0)) for c in b]
        ref[v[1]:v[3], v[0]:v[2]] = 1
        np.testing.assert_array_equal(union_mask([b], 224, box_scale=1.0), ref)


def test_union_mask_fills_by_slicing_what_box_mask_rasterises():
    """The fast union (one preallocated array, boxes filled by slicing) equals the union of box_mask's
    rasterised boxes, for ragged lists with empty images, boxes past the edges, inverted and scaled boxes."""
    rng = np.random.default_rng(7)
    images = []
    for n in range(60):
        k = int(rng.integers(0, 4))
        x0, y0 = rng.integers(-6, 30, (2, k))
        images.append(np.stack([x0, y0, x0 + rng.integers(-4, 20, k), y0 + rng.integers(-4, 20, k)], 1).reshape(-1, 4))
    got = union_mask(images, (24, 32))
    ref = np.stack([(box_mask(b, (24, 32)).sum(0) > 0) if len(b) else np.zeros((24, 32)) for b in images])
    np.testing.assert_array_equal(got, ref.astype(np.float32))
    assert got.dtype == np.float32 and got[[len(b) == 0 for b in images]].sum() == 0
    np.testing.assert_array_equal(union_mask(images[3], (24, 32)), got[3])
    scaled = [[[0.1, 0.2, 0.6, 0.9]], [[0.0, 0.0, 1.0, 0.5], [0.5, 0.5, 1.2, 1.0]]]
    ref = np.stack([(box_mask(np.array(b), 16, box_scale=1.0).sum(0) > 0) for b in scaled]).astype(np.float32)
    np.testing.assert_array_equal(union_mask(scaled, 16, box_scale=1.0), ref)
    with pytest.raises(ValueError, match="no images"):
        union_mask([], 16)
