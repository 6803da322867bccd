"""Benchmark: avlib's compiled LVS evaluation against a per-image loop of the official procedure.

    .venv/bin/python benchmarks/lvs_eval.py [--maps 5000] [--low 14] [--size 224] [--seed 0]

One thread. Random ``low``×``low`` heatmaps and random box ground truths of ``size``×``size``.
The reference follows hche11/Localizing-Visual-Sounds-the-Hard-Way ``test.py`` image by image:
bilinear resize (cv2's INTER_LINEAR written in NumPy, float32; cv2 itself is not a
dependency), ``1 - normalize_img(-map)``, ``np.sort`` for the median,
``pred[pred > thr] = 1; pred[pred < 1] = 0``, ``cal_CIOU(pred, gt, 0.5)``.
avlib: :func:`avlib.metrics.localization.evaluate_maps` (the per-image work fused and compiled
with numba, :mod:`avlib.metrics.fused`), timed after a first call on two maps, whose time
(compiling, or loading numba's on-disk cache) is printed too.
Prints both times, their ratio, the maximum absolute cIoU difference and the number of images
whose cIoU differs (against the reference as written, and against the same procedure run on
avlib's torch-resized maps), and both reported cIoU / AUC.
"""
import argparse
import time

import numpy as np
import torch

from avlib.metrics.localization import box_mask, evaluate_maps, resize_maps


def _axis(n_in: int, n_out: int):
    """cv2 INTER_LINEAR source index and weight of each output pixel along one axis
    (``resize.cpp``: ``scale = 1/inv_scale``, ``fx = (float)((dx+0.5)*scale - 0.5)``, ``sx = cvFloor(fx)``,
    ``fx -= sx``, clamped at both borders with weight 0)."""
    scale = 1.0 / (n_out / n_in)
    fx = ((np.arange(n_out) + 0.5) * scale - 0.5).astype(np.float32)
    sx = np.floor(fx).astype(int)
    a = fx - sx.astype(np.float32)
    a[sx < 0], sx[sx < 0] = 0, 0
    hi = sx >= n_in - 1
    a[hi], sx[hi] = 0, n_in - 1
    return sx, np.minimum(sx + 1, n_in - 1), a


def cv2_resize_linear(m: np.ndarray, H: int, W: int, ipp: bool = True) -> np.ndarray:
    """``cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR)`` for a float32 map (horizontal then vertical):
    with ``ipp`` as the OpenCV wheels compute it, ``fma(v - u, a, u)`` per pass (in float64, rounded to float32);
    else cv2's generic ``u·(1 - a) + v·a``."""
    y0, y1, b = _axis(m.shape[0], H)
    x0, x1, a = _axis(m.shape[1], W)
    one = np.float32(1)
    if ipp:
        def lerp(u, v, t):
            return ((v - u).astype(np.float64) * t.astype(np.float64) + u.astype(np.float64)).astype(np.float32)
        rows = lerp(m[:, x0], m[:, x1], a)                            # (h, W)
        return lerp(rows[y0], rows[y1], b[:, None])                   # (H, W)
    rows = m[:, x0] * (one - a) + m[:, x1] * a                       # (h, W)
    return rows[y0] * (one - b)[:, None] + rows[y1] * b[:, None]      # (H, W)


def official_lvs_ciou(heatmap: np.ndarray, gt_map: np.ndarray, resized: bool = False) -> float:
    """One image, as the official ``test.py`` loop body (with ``utils.normalize_img`` and ``cal_CIOU``).

    ``resized=True``: ``heatmap`` is already at the image size (skip the resize)."""
    H, W = gt_map.shape
    value = -(heatmap.astype(np.float32) if resized else cv2_resize_linear(heatmap.astype(np.float32), H, W))
    vmin, vmax = value.min(), value.max()
    if not (vmax - vmin) == 0:
        value = (value - vmin) / (vmax - vmin)
    pred = 1 - value
    threshold = np.sort(pred.flatten())[int(pred.shape[0] * pred.shape[1] / 2)]
    pred[pred > threshold] = 1
    pred[pred < 1] = 0
    infer_map = np.zeros((H, W))
    infer_map[pred >= 0.5] = 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(infer_map * gt_map) / (np.sum(gt_map) + np.sum(infer_map * (gt_map == 0)))


def official_summary(ious) -> tuple[float, float]:
    results = [np.sum(np.array(ious) >= 0.05 * i) / len(ious) for i in range(21)]
    x = [0.05 * i for i in range(21)]
    return float(np.sum(np.array(ious) >= 0.5) / len(ious)), float(np.trapezoid(results, x))


def make_data(n: int, low: int, size: int, seed: int):
    """Noise plus a bump of random strength at the box centre (so the cIoUs spread over [0, 1])."""
    rng = np.random.default_rng(seed)
    wh = rng.integers(size // 4, size, (n, 2))
    xy = (rng.uniform(0, 1, (n, 2)) * (size - wh)).astype(int)
    gt = box_mask(np.concatenate([xy, xy + wh], 1), size)
    c = (xy + wh / 2) * low / size - 0.5                                   # box centre, low-res cells
    yy, xx = np.mgrid[:low, :low]
    bump = np.exp(-((xx[None] - c[:, 0, None, None]) ** 2 + (yy[None] - c[:, 1, None, None]) ** 2)
                  / (2 * (wh.mean(1) * low / size / 2)[:, None, None] ** 2))
    maps = (rng.uniform(0, 6, (n, 1, 1)) * bump + rng.standard_normal((n, low, low))).astype(np.float32)
    return maps, gt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=5000)
    parser.add_argument("--low", type=int, default=14)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    maps, gt = make_data(args.maps, args.low, args.size, args.seed)

    t0 = time.perf_counter()
    evaluate_maps(maps[:2], gt[:2], rule="median")        # numba: compiled once, then loaded from its cache
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = evaluate_maps(maps, gt, rule="median")
    t_avlib = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = np.array([official_lvs_ciou(m, g) for m, g in zip(maps, gt)])
    t_ref = time.perf_counter() - t0

    diff = np.abs(res["ious"] - ref)
    # the same procedure on avlib's resized maps: isolates the resize's float rounding
    same = np.array([official_lvs_ciou(m, g, resized=True)
                     for m, g in zip(resize_maps(maps, args.size).numpy(), gt)])
    same_diff = np.abs(res["ious"] - same)
    ciou_ref, auc_ref = official_summary(ref)
    print(f"{args.maps} maps {args.low}x{args.low} -> {args.size}x{args.size}, 1 thread")
    print(f"avlib evaluate_maps       : {t_avlib:7.2f} s   cIoU {res['ciou']:.4f}  AUC {res['auc']:.4f}")
    print(f"per-image official loop   : {t_ref:7.2f} s   cIoU {ciou_ref:.4f}  AUC {auc_ref:.4f}")
    print(f"speed-up                  : {t_ref / t_avlib:7.2f} x   ({t_ref / (t_avlib + t_first):.2f} x counting the "
          f"one-off {t_first:.2f} s of the first call: compiling, or loading numba's cache)")
    print(f"max |cIoU difference|     : {_max(diff):.3g} ({_count(res['ious'], ref)} images differ)")
    print(f"  on avlib's resized maps : {_max(same_diff):.3g} ({_count(res['ious'], same)} images differ)")


def _max(d) -> float:
    return float(np.nanmax(d)) if np.isfinite(d).any() else 0.0


def _count(a, b) -> int:
    return int(np.sum(~((a == b) | (np.isnan(a) & np.isnan(b)))))


if __name__ == "__main__":
    main()
