"""The per-image cIoU of the official evaluation codes, compiled: one fused pass per image.

:func:`avlib.metrics.localization.evaluate_maps` calls :func:`image_ious`. For each image it
does, in a cache-resident buffer, what the official loop does with ``cv2`` and NumPy:

1. bilinear resize, cv2 ``INTER_LINEAR`` order, horizontal pass then vertical, float32: with
   ``ipp`` (the default) ``fma(v - u, a, u)`` as the OpenCV wheels compute it (the product and sum
   in float64, then float32), else cv2's generic ``u·(1-a) + v·a`` (no fused multiply-add: numba's
   default, ``fastmath=False``); either way the values equal
   :func:`avlib.metrics.localization.resize_maps` (and the NumPy transcription of cv2 in
   ``benchmarks/lvs_eval.py``) bit for bit;
2. the protocol's score and threshold (:data:`MODES`): the LVS score ``1 - normalize_img(-map)``
   and its upper median, or the raw map (optionally min-max normalised) and ``t × max``;
3. the three sums of cIoU, ``Σ P·G``, ``Σ G`` and ``Σ P·[G = 0]``, in float64 — exact, whatever
   the order, for ground truth in multiples of 1/2 (binary, the Flickr consensus); other soft
   values can differ from NumPy's sums in the last bits — and their ratio (0/0 → NaN, as NumPy).

The median is an exact order statistic found in a few linear passes (:func:`kth_smallest`, a
radix selection on order-preserving integer keys of the float32 scores) instead of ``np.sort``
(official) or a quickselect. Minima and maxima are taken on those integer keys too, a loop the
compiler vectorises (a float ``min`` loop it does not). ``benchmarks/lvs_eval.py`` times the
whole against the per-image official loop; ``tests/test_localization_metrics.py`` checks it
against that loop and against the torch steps, value for value.
"""
from __future__ import annotations

import numba
import numpy as np

#: score / threshold rule → kernel mode
MODES = {("median", True): 0,          # official LVS: 1 - normalize_img(-map) > upper median, or >= 1
         ("median", False): 1,         # raw map > its upper median (option)
         ("max_fraction", False): 2,   # official DSOL: raw map > float32(t × max) (t × max in float64)
         ("max_fraction", True): 3}    # min-max normalised map > float32(t × max) (option)

_ONE = np.float32(1)
_BELOW_ONE = np.nextafter(_ONE, np.float32(0))   # score >= 1  ⟺  score > _BELOW_ONE
_DIGIT = 11                                      # radix digit: bits per level of the selection (3 levels)
_SIGN = np.int32(0x7FFFFFFF)
_TINY_SPAN = np.float32(1e-12)                   # normalize_maps' clamp of max - min


@numba.njit(inline="always")
def _key(bits):
    """Order-preserving integer key of a float32's bits (read as int32): ``key(a) < key(b)`` ⟺
    ``a < b`` for finite floats (and -0.0 below +0.0); it fits in int32 and is its own inverse."""
    return bits ^ ((bits >> 31) & _SIGN)


@numba.njit(inline="always")
def _float(key):
    out = np.empty(1, np.int32)
    out[0] = _key(key)
    return out.view(np.float32)[0]


@numba.njit(inline="always")
def _key_range(keys):
    """Min and max of the keys of float32 bits: the float min / max as an integer loop, which the
    compiler vectorises (a float ``min`` loop it does not)."""
    lo = hi = _key(keys[0])
    for j in range(keys.shape[0]):
        k = _key(keys[j])
        lo, hi = min(lo, k), max(hi, k)
    return lo, hi


@numba.njit(nogil=True, cache=True)
def kth_smallest(values, k, cand, hist):
    """The ``k``-th smallest (``0 <= k < len(values)``) of the float32 ``values`` (finite), i.e.
    ``np.sort(values)[k]``.

    Radix selection on the order-preserving keys (:func:`_key`) minus the smallest key: per
    level, a histogram of the next :data:`_DIGIT` bits (the first level starts at the highest
    bit of the largest offset key, so at least half of its buckets can be reached), the bucket
    that holds rank ``k``, and the keys of that bucket kept for the next level; three levels fix all 32 bits.
    ``cand`` (int64, ≥ len(values)) and ``hist`` (int64, (4, 2048)) are scratch. Each level
    counts into 4 interleaved histograms: neighbouring pixels of a smooth map share a bucket,
    and a single counter would serialise the loop.
    """
    bits = values.view(np.int32)
    lo, hi = _key_range(bits)
    if lo == hi:
        return values[0]
    n, m, prefix = values.shape[0], values.shape[0], np.int64(0)
    shift = 0                           # bits of the largest offset key hi - lo
    while (np.int64(hi) - lo) >> shift:
        shift += 1
    for level in range(3):
        width = min(_DIGIT, shift)
        shift -= width
        mask = (1 << width) - 1
        hist[:, :1 << width] = 0
        if level == 0:
            for j in range(n):
                hist[j & 3, (np.int64(_key(bits[j])) - lo) >> shift] += 1
        else:
            for j in range(m):
                hist[j & 3, (cand[j] >> shift) & mask] += 1
        digit = 0
        while True:                     # the bucket that holds rank k, and k's rank inside it
            count = hist[0, digit] + hist[1, digit] + hist[2, digit] + hist[3, digit]
            if k < count:
                break
            k -= count
            digit += 1
        prefix = (prefix << width) | digit
        if level < 2:
            kept = 0                    # the offset keys of that bucket (in place after level 0: kept <= j)
            if level == 0:
                for j in range(n):
                    d = np.int64(_key(bits[j])) - lo
                    if (d >> shift) == digit:
                        cand[kept] = d
                        kept += 1
            else:
                for j in range(m):
                    if ((cand[j] >> shift) & mask) == digit:
                        cand[kept] = cand[j]
                        kept += 1
            m = kept
    return _float(np.int32(prefix + lo))


@numba.njit(nogil=True, cache=True, error_model="numpy")
def image_ious(maps, gt, y0, y1, b, x0, x1, a, mode, fraction, ipp, out):
    """cIoU of each image into ``out`` (float64, ``(N,)``).

    ``maps`` float32 ``(N, h, w)``, finite; ``gt`` float32 ``(N, H, W)`` in [0, 1];
    ``y0, y1, b`` / ``x0, x1, a``: source rows / columns and float32 weights of each output
    row / column (:func:`avlib.metrics.localization.linear_weights`); ``mode``: see
    :data:`MODES`; ``fraction``: ``t`` of the max-fraction rules; ``ipp``: the resize's rounding
    (see the module notes).
    """
    N, h = maps.shape[0], maps.shape[1]
    H, W = gt.shape[1], gt.shape[2]
    one = _ONE                          # float32 arithmetic throughout, as the official NumPy code
    rows = np.empty((h, W), np.float32)
    score = np.empty(H * W, np.float32)
    cand = np.empty(H * W, np.int64)
    hist = np.zeros((4, 2048), np.int64)
    for n in range(N):
        for i in range(h):
            for x in range(W):
                u, v = maps[n, i, x0[x]], maps[n, i, x1[x]]
                if ipp:
                    rows[i, x] = np.float32(np.float64(v - u) * np.float64(a[x]) + np.float64(u))
                else:
                    rows[i, x] = u * (one - a[x]) + v * a[x]
        for y in range(H):
            r0, r1, wb, wa = rows[y0[y]], rows[y1[y]], b[y], one - b[y]
            if ipp:
                for x in range(W):
                    score[y * W + x] = np.float32(np.float64(r1[x] - r0[x]) * np.float64(wb) + np.float64(r0[x]))
            else:
                for x in range(W):
                    score[y * W + x] = r0[x] * wa + r1[x] * wb
        klo, khi = _key_range(score.view(np.int32))
        lo, hi = _float(klo), _float(khi)
        span = hi - lo
        if mode == 0:                   # 1 - normalize_img(-m): (-m) - min(-m) is hi - m bit for bit
            if span != 0:
                for j in range(H * W):
                    score[j] = one - (hi - score[j]) / span
            else:                       # normalize_img leaves a constant map unchanged
                for j in range(H * W):
                    score[j] = one + score[j]
        elif mode == 3:                 # normalize_maps: span clamped at 1e-12, a constant map → zeros
            for j in range(H * W):
                score[j] = (score[j] - lo) / max(span, _TINY_SPAN) if span > 0 else np.float32(0)
        if mode <= 1:
            thr = kth_smallest(score, (H * W) // 2, cand, hist)
            if mode == 0:               # pred[pred > thr] = 1; pred[pred < 1] = 0 keeps every score >= 1
                thr = min(thr, _BELOW_ONE)
        else:
            top = hi if mode == 2 else _float(_key_range(score.view(np.int32))[1])
            thr = np.float32(fraction * np.float64(top))
        inter, total, false_pos = 0.0, 0.0, 0.0
        for y in range(H):
            for x in range(W):
                g = np.float64(gt[n, y, x])
                total += g
                if score[y * W + x] > thr:
                    inter += g
                    if g == 0:
                        false_pos += 1.0
        out[n] = inter / (total + false_pos)
    return out
