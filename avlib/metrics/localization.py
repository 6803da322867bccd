"""Sound-source localization metrics: cIoU, success rate, AUC, box and consensus maps.

Shared by the LVS chapter (Chen et al. 2021) and the DSOL chapter (Hu et al. 2020).
Maps are arrays ``(N, h, w)``, ground truth ``(N, H, W)``. By default every function
computes what the papers' official evaluation code computes, image for image; each deviation
from it is a named option. :func:`evaluate_maps` runs the whole per-image procedure compiled
(:mod:`avlib.metrics.fused`); :func:`resize_maps`, :func:`binarize`, :func:`predict_mask` and
:func:`ciou` are the same steps in torch, for figures and for the class-aware metrics, and
give the same values bit for bit.

Protocols (the ``rule`` argument, :data:`RULES`):

- ``"median"`` — **LVS**, ``test.py`` + ``utils.py`` of hche11/Localizing-Visual-Sounds-the-Hard-Way:

  1. resize the heatmap to the image size, bilinear: ``cv2.resize(..., INTER_LINEAR)`` there,
     here what the OpenCV wheels users install compute through IPP (:func:`resize_maps`,
     ``resize="ipp"``: a constant map stays constant; option ``resize="plain"``: cv2's generic
     formula). The official code resizes to 224×224; here the size is the ground truth's (the
     world's frames are 112×112);
  2. score = ``1 - normalize_img(-map)`` in float32, as the official code writes it:
     ``normalize_img`` is min-max normalisation that **leaves a constant map unchanged**, so
     a non-constant map scores ``1 - (max - x) / (max - min)`` (1 at the maximum) and a
     constant map ``c`` scores ``1 + c`` everywhere;
  3. threshold = the value at index ``H*W // 2`` of the sorted scores (the upper median;
     an exact selection, no full sort); prediction = scores ``> threshold``
     (``pred[pred > threshold] = 1``) plus every score ``>= 1`` (``pred[pred < 1] = 0`` leaves
     them), then ``>= 0.5`` in ``cal_CIOU``. Consequences: on ties at the median fewer than
     half of the pixels are kept; the maximum is always kept; a constant map ``c >= 0``
     **predicts the whole image**, a constant ``c < 0`` **nothing** (in float32, exactly as the
     official code: ``1 + c`` rounds to 1 for ``-2**-25 < c < 0``, which then counts as
     ``c >= 0``).

  Option: ``normalize=False`` — prediction = raw map ``>`` its upper median (not official).

- ``"max_fraction"`` — **DSOL single source**, ``music-exp/tools.py`` (``cal_ciou``) of
  DTaoo/Discriminative-Sounding-Objects-Localization: resize bilinearly (``cv2.resize``), no
  normalisation, prediction = the **raw** map ``> threshold × max`` of the resized map,
  ``threshold = 0.1`` (:data:`DSOL_THRESHOLD`). ``threshold × max`` is formed in float64 and
  compared in float32, as NumPy 1.x did. A map whose maximum is ≤ 0 (all-zero, negative
  constant) predicts nothing; a positive constant predicts the whole image. The multi-source
  class-aware variant (thresholds 0.5 / 0.2) is in :mod:`avlib.metrics.sounding`.
  Option: ``normalize=True`` — min-max normalise each map first (avlib's former
  behaviour; on sigmoid maps, whose minimum is > 0, this changes 41 % of the predictions).

Scores (both protocols):

- **cIoU** per image (:func:`ciou`): ``Σ(P·G) / (ΣG + Σ P·[G=0])`` with a soft ground truth
  ``G`` in [0, 1] (Flickr consensus) or a binary one (VGG-SS, DSOL). An empty ground truth
  gives 0 with a non-empty prediction and NaN (0/0) with an empty one, as in the official
  code; NaN counts as a failure in :func:`success_rate`.
- **Success rate** (:func:`success_rate`): ``np.sum(ious >= t) / len(ious)``. The official
  thresholds are the floats ``0.05 * i`` (:data:`THRESHOLDS`): ``0.05 * 6`` is
  0.30000000000000004, so a cIoU of exactly 0.3 is *not* a success at "0.3" in the official
  DSOL code, and likewise at 0.15, 0.35, ...; a threshold given on the 0.05 grid is therefore
  evaluated as the official float. **Reported cIoU** = success rate at 0.5 (LVS cIoU, DSOL
  IoU@0.5); **AUC** (:func:`auc`) = trapezoidal area under the success rate at the 21
  thresholds (``sklearn.metrics.auc`` in both official codes).

Ground truth: :func:`box_mask` rasterises boxes ``[x0, y0, x1, y1)`` (``mask[y0:y1, x0:x1] = 1``,
numpy-slice semantics, as the official code); boxes given in another coordinate frame
(Flickr's 256 px, VGG-SS's 0..1) are mapped with ``int(S * max(v, 0) / box_scale)`` exactly as
``testset_gt`` does (``int(224 * v / 256)``, ``int(224 * max(v, 0))``). :func:`consensus_mask`
is the Flickr-SoundNet consensus ``G = min(1, Σ_a box_a / 2)``; :func:`union_mask` the VGG-SS
ground truth (union of the boxes of an image).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

RULES = ("median", "max_fraction")
#: the 21 cIoU thresholds of the success curve, as the official codes form them: ``0.05 * i``
#: (0.15000000000000002, 0.30000000000000004, ... — not the rounded decimals)
THRESHOLDS = np.array([0.05 * i for i in range(21)])
#: DSOL single-source binarisation: raw map ``> 0.1 × max`` (``music-exp/tools.py``)
DSOL_THRESHOLD = 0.1


def _size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def _as_maps(maps) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(maps) if not torch.is_tensor(maps) else maps).detach().float().cpu()
    if x.dim() == 2:
        x = x[None]
    if x.dim() == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 3:
        raise ValueError(f"heatmaps must be shaped (N, h, w) or (N, 1, h, w), got {tuple(x.shape)}")
    return x


def linear_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv2 ``INTER_LINEAR`` along one axis: for each output pixel the two source indices and the
    float32 weight ``a`` of the second (the first gets ``1 - a``).

    As ``cv2::resize`` computes them: ``scale = 1 / (n_out / n_in)``, ``f = float32((d + 0.5) ·
    scale - 0.5)``, ``i0 = floor(f)``, ``a = f - i0``; ``i0 < 0`` → (0, weight 0), ``i0 >= n_in - 1``
    → (n_in - 1, weight 0).
    """
    f = ((np.arange(n_out) + 0.5) * (1.0 / (n_out / n_in)) - 0.5).astype(np.float32)
    i0 = np.floor(f)
    a = (f - i0).astype(np.float32)
    i0 = i0.astype(np.int64)
    a[i0 < 0], i0[i0 < 0] = 0, 0
    last = i0 >= n_in - 1
    a[last], i0[last] = 0, n_in - 1
    return i0, np.minimum(i0 + 1, n_in - 1), a


#: how :func:`resize_maps` rounds: ``"ipp"`` — what ``cv2.resize`` computes in the OpenCV wheels the
#: official scripts install (their IPP path); ``"plain"`` — cv2's generic C++ formula (avlib's former default)
RESIZES = ("ipp", "plain")


def _lerp(u: torch.Tensor, v: torch.Tensor, t: torch.Tensor, resize: str) -> torch.Tensor:
    """One bilinear pass in float32: ``ipp`` ``fma(v - u, t, u)``; ``plain`` ``u·(1 - t) + v·t``."""
    if resize == "ipp":   # (v - u) rounded to float32, then one fused multiply-add (float64 holds the product exactly)
        return ((v - u).double() * t.double() + u.double()).float()
    return u * (1 - t) + v * t


def resize_maps(maps, size, resize: str = "ipp") -> torch.Tensor:
    """Heatmaps ``(N, h, w)`` → ``(N, H, W)``, bilinear as ``cv2.resize(..., INTER_LINEAR)`` computes it.

    Pixel-centre aligned (:func:`linear_weights`), horizontal pass then vertical, float32. By default
    (``resize="ipp"``) each pass is ``fma(v - u, a, u)``, which is what the OpenCV wheels (opencv-python
    5.1 with IPP) compute when the size grows by a whole factor, as in the book (7 → 112) and the papers
    (7 or 14 → 224): checked bit for bit on random and constant maps (``tests/data/cv2_resize_ipp.npz``).
    A constant map stays constant, so a collapsed model's maps score as officially. At other ratios
    (7 → 40) OpenCV's IPP path rounds otherwise (measured: up to 2.5·10⁻⁷ of the map's range, more ulps
    near zero): not reproduced, a documented difference. The fused
    multiply-add is formed in float64 and rounded once more to float32 (a double rounding that can
    differ from a true FMA with probability about 2⁻²⁹ per pixel). ``resize="plain"``: cv2's generic
    formula ``u·(1 - a) + v·a`` rounded after every operation (a constant map gains one-ulp ripples).
    Both equal the compiled evaluation (:mod:`avlib.metrics.fused`) bit for bit. A 1×1 map stays
    constant here; cv2 (5.1) leaves a few of its output rows one ulp off (a difference of no consequence
    to a prediction, noted here). ``F.interpolate`` samples the same points but rounds differently.
    """
    if resize not in RESIZES:
        raise ValueError(f"unknown resize {resize!r}; valid: {RESIZES}")
    x = _as_maps(maps)
    H, W = _size(size)
    if x.shape[-2:] == (H, W):
        return x
    y0, y1, b = (torch.from_numpy(v) for v in linear_weights(x.shape[1], H))
    x0, x1, a = (torch.from_numpy(v) for v in linear_weights(x.shape[2], W))
    rows = _lerp(x[:, :, x0], x[:, :, x1], a, resize)
    return _lerp(rows[:, y0], rows[:, y1], b[:, None], resize)


def normalize_maps(maps) -> torch.Tensor:
    """Min-max normalise each map to [0, 1]; a constant map becomes zeros.

    A display / option helper: the official LVS binarisation does *not* use it (it leaves a
    constant map unchanged, see :func:`lvs_scores`); the DSOL protocols do not normalise.
    """
    x = _as_maps(maps)
    flat = x.reshape(len(x), -1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / span.clamp_min(1e-12), torch.zeros_like(flat))
    return out.reshape(x.shape)


def lvs_scores(maps) -> torch.Tensor:
    """The official LVS scores ``1 - normalize_img(-map)`` in float32, shape as ``maps``.

    Non-constant map: ``1 - (max - x) / (max - min)`` (exactly 1 at the maximum, 0 at the
    minimum; the same float32 roundings as the official NumPy code, whose ``(-x) - min(-x)``
    and ``max(-x) - min(-x)`` are ``max - x`` and ``max - min`` bit for bit). Constant map
    ``c``: ``normalize_img`` leaves it unchanged, so the score is ``1 + c`` everywhere.
    """
    x = _as_maps(maps)
    flat = x.reshape(len(x), -1)
    hi, lo = flat.amax(1, keepdim=True), flat.amin(1, keepdim=True)
    span = hi - lo
    const = span == 0
    score = torch.sub(hi, flat).div_(torch.where(const, torch.ones_like(span), span)).neg_().add_(1)
    if const.any():
        rows = const[:, 0]
        score[rows] = 1 - (-flat[rows])
    return score.reshape(x.shape)


#: the largest float32 below 1: ``score >= 1`` ⟺ ``score > _BELOW_ONE``
_BELOW_ONE = float(np.nextafter(np.float32(1), np.float32(0)))


def binarize(maps, rule: str = "median", threshold: float | None = None,
             normalize: bool | None = None) -> torch.Tensor:
    """Binary predictions ``(N, H, W)`` (bool) from maps already at the image size.

    ``rule="median"`` (LVS ``test.py``): :func:`lvs_scores` ``>`` their upper median, plus
    scores ``>= 1`` (the maximum; a whole constant map ``c >= 0``). ``threshold`` is unused.
    ``normalize=False``: raw map ``>`` its upper median instead (not official).

    ``rule="max_fraction"`` (DSOL ``tools.py`` / ``eval.py`` / ``eval_duet.py``): raw map
    ``> threshold × max``; ``threshold`` defaults to :data:`DSOL_THRESHOLD` (0.1).
    ``normalize=True``: min-max normalise each map first (not official).
    """
    if rule not in RULES:
        raise ValueError(f"unknown binarisation rule {rule!r}; valid: {RULES}")
    x = _as_maps(maps)
    flat = x.reshape(len(x), -1)
    if rule == "median":
        k = flat.shape[1] // 2 + 1                       # 1-based: sorted[H*W // 2]
        if normalize is None or normalize:
            score = lvs_scores(flat[:, None])[:, 0]
            thr = score.kthvalue(k, dim=1, keepdim=True).values
            pred = score > thr.clamp_max(_BELOW_ONE)     # == (score > thr) | (score >= 1)
        else:
            pred = flat > flat.kthvalue(k, dim=1, keepdim=True).values
    else:
        t = DSOL_THRESHOLD if threshold is None else float(threshold)
        y = normalize_maps(flat[:, None])[:, 0] if normalize else flat
        # the official ``thres * np.max(predmap)``: a float64 product compared in float32 (NumPy 1.x)
        thr = (t * y.amax(1, keepdim=True).double()).float()
        pred = y > thr
    return pred.reshape(x.shape)


def predict_mask(maps, size, rule: str = "median", threshold: float | None = None,
                 normalize: bool | None = None, resize: str = "ipp") -> torch.Tensor:
    """Resize heatmaps to ``size`` (:func:`resize_maps`) then :func:`binarize` them: the prediction ``P`` of cIoU."""
    return binarize(resize_maps(maps, size, resize), rule=rule, threshold=threshold, normalize=normalize)


def ciou(pred_mask, gt) -> np.ndarray:
    """Per-image consensus IoU ``Σ(P·G) / (ΣG + Σ P·[G=0])``, shape ``(N,)``.

    ``pred_mask`` binary ``(N, H, W)``; ``gt`` in [0, 1], same shape (soft consensus or binary).
    The sums are exact (multiples of 1/2 far below 2**24 in float32); the ratio is float64,
    as the official code's.
    """
    P = torch.as_tensor(np.asarray(pred_mask) if not torch.is_tensor(pred_mask) else pred_mask)
    G = torch.as_tensor(np.asarray(gt) if not torch.is_tensor(gt) else gt).float()
    if P.dim() == 2:
        P = P[None]
    if G.dim() == 2:
        G = G[None]
    if P.shape != G.shape:
        raise ValueError(f"prediction and ground truth shapes differ: {tuple(P.shape)} vs {tuple(G.shape)}")
    P, G = (P != 0).flatten(1), G.flatten(1)
    inter = (P * G).sum(1)
    false_pos = P.sum(1) - (P & (G != 0)).sum(1)
    union = G.sum(1).double() + false_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return (inter.double() / union).numpy()


def official_threshold(t: float) -> float:
    """``t`` as the official codes form it: a value on the 0.05 grid becomes ``0.05 * i``
    (0.3 → 0.30000000000000004); any other value is returned unchanged."""
    i = round(float(t) / 0.05)
    return 0.05 * i if abs(float(t) - 0.05 * i) < 1e-9 else float(t)


def success_rate(ious, threshold: float = 0.5) -> float:
    """``np.sum(ious >= t) / len(ious)`` with ``t = official_threshold(threshold)``; NaN fails."""
    ious = np.asarray(ious, dtype=float)
    if ious.size == 0:
        raise ValueError("success_rate of an empty set of cIoUs is undefined")
    return float(np.sum(ious >= official_threshold(threshold)) / ious.size)


def success_curve(ious, thresholds=THRESHOLDS) -> np.ndarray:
    """Success rate at each threshold (default: the official ``0.05 * i``, i = 0..20)."""
    return np.array([success_rate(ious, t) for t in thresholds])


def auc(ious, thresholds=THRESHOLDS) -> float:
    """Trapezoidal area under the success curve over ``thresholds`` (``sklearn.metrics.auc``)."""
    t = np.array([official_threshold(v) for v in np.asarray(thresholds, dtype=float)])
    return float(np.trapezoid(success_curve(ious, t), t))


def box_mask(boxes, size, box_scale=None) -> np.ndarray:
    """Rasterise boxes ``[x0, y0, x1, y1)`` into float masks of ``size`` (H, W).

    ``boxes``: ``(4,)`` → ``(H, W)``; ``(..., 4)`` → ``(..., H, W)``. With ``box_scale``
    (e.g. 256 for Flickr XML, 1.0 for VGG-SS) coordinates are mapped to pixels by
    ``int(S * max(v, 0) / box_scale)`` exactly as the official ``testset_gt`` (no rounding
    nudge: ``int(224 * v)`` of a VGG-SS value just below an integer stays below it). Pixel
    coordinates (no ``box_scale``) are floored after a 1e-9 nudge. Coordinates are clamped
    to the image.
    """
    H, W = _size(size)
    b = _pixel_boxes(boxes, H, W, box_scale)
    ys, xs = np.arange(H), np.arange(W)
    iny = (ys >= b[..., 1:2]) & (ys < b[..., 3:4])          # (..., H)
    inx = (xs >= b[..., 0:1]) & (xs < b[..., 2:3])          # (..., W)
    return (iny[..., :, None] & inx[..., None, :]).astype(np.float32)


def _pixel_boxes(boxes, H: int, W: int, box_scale=None) -> np.ndarray:
    """Boxes ``(..., 4)`` → integer pixel boxes clamped to the image (:func:`box_mask`'s conversion)."""
    b = np.asarray(boxes, dtype=float)
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes must end in a dimension of 4 (x0, y0, x1, y1), got shape {b.shape}")
    S = np.array([W, H, W, H], dtype=float)
    if box_scale is not None:
        b = np.floor((S * np.maximum(b, 0)) / float(box_scale))
    else:
        b = np.floor(b + 1e-9)
    return np.clip(b, 0, S).astype(int)


def consensus_mask(annotator_boxes: Sequence, size, box_scale=None, agree: int = 2) -> np.ndarray:
    """Flickr-SoundNet consensus ``G = min(1, Σ_a box_a / agree)`` for one image or many.

    ``annotator_boxes``: one image's list of boxes ``(A, 4)`` → ``(H, W)``; or a list of
    such lists (lengths may differ) → ``(N, H, W)``.
    """
    arr = np.asarray(annotator_boxes, dtype=object if _ragged(annotator_boxes) else float)
    if arr.dtype != object and arr.ndim == 2:
        return np.minimum(1.0, box_mask(arr, size, box_scale).sum(0) / agree).astype(np.float32)
    return np.stack([consensus_mask(np.asarray(a, dtype=float), size, box_scale, agree) for a in annotator_boxes])


def union_mask(image_boxes: Sequence, size, box_scale=None) -> np.ndarray:
    """Binary union of an image's boxes ``(B, 4)`` → ``(H, W)``; a list of images → ``(N, H, W)``.

    Each box is filled by slicing (``gt[y0:y1, x0:x1] = 1``, as the official code draws it) into one
    preallocated array, not rasterised as a full (B, H, W) mask: equal values, faster for many images.
    """
    H, W = _size(size)
    arr = np.asarray(image_boxes, dtype=object if _ragged(image_boxes) else float)
    single = arr.dtype != object and arr.ndim == 2
    images = [arr] if single else [np.asarray(a, dtype=float) for a in image_boxes]
    if not images:
        raise ValueError("union_mask of no images: pass one image's boxes (B, 4) or a non-empty list of them")
    for n, b in enumerate(images):
        if b.ndim != 2:
            raise ValueError(f"image {n}: boxes must be shaped (B, 4), got shape {b.shape}")
    owner = np.repeat(np.arange(len(images)), [len(b) for b in images])
    boxes = _pixel_boxes(np.concatenate(images) if len(owner) else np.zeros((0, 4)), H, W, box_scale)
    out = np.zeros((len(images), H, W), np.float32)
    for n, (x0, y0, x1, y1) in zip(owner.tolist(), boxes.tolist()):
        out[n, y0:y1, x0:x1] = 1
    return out[0] if single else out


def _ragged(x) -> bool:
    try:
        np.asarray(x, dtype=float)
        return False
    except ValueError:
        return True


def evaluate_maps(maps, gt, rule: str = "median", threshold: float | None = None, normalize: bool | None = None,
                  chunk: int = 256, resize: str = "ipp") -> dict:
    """Whole-test-set evaluation: ``{"ciou": success at 0.5, "auc", "ious" (N,), "curve" (21,)}``.

    ``maps`` ``(N, h, w)`` at any resolution (finite, and ``max - min`` of each map finite in
    float32), ``gt`` ``(N, H, W)`` in multiples of 1/2 (binary, or the Flickr consensus; binary
    for ``"max_fraction"``, whose official code counts ``gt > 0`` in the intersection); each map
    is resized to the ground truth's size and binarised by ``rule`` (``"median"``: LVS;
    ``"max_fraction"``: DSOL single source, ``threshold`` 0.1), see the module notes. The
    per-image work runs compiled (:func:`avlib.metrics.fused.image_ious`), ``chunk`` images of
    ground truth at a time; on such inputs it equals ``ciou(predict_mask(...), gt)`` and the
    official per-image code bit for bit (other soft ground truths can differ in the last bits
    of the sums). ``resize``: see :func:`resize_maps`.
    """
    if resize not in RESIZES:
        raise ValueError(f"unknown resize {resize!r}; valid: {RESIZES}")
    if rule not in RULES:
        raise ValueError(f"unknown binarisation rule {rule!r}; valid: {RULES}")
    gt = np.asarray(gt)
    if len(maps) != len(gt):
        raise ValueError(f"{len(maps)} heatmaps but {len(gt)} ground-truth maps")
    if gt.ndim != 3 or 0 in gt.shape[1:]:
        raise ValueError(f"ground truth must be shaped (N, H, W) with H, W >= 1, got {gt.shape}")
    x = np.ascontiguousarray(_as_maps(maps).numpy())
    if not np.isfinite(x).all():
        raise ValueError(f"{int((~np.isfinite(x)).sum())} heatmap values are NaN or infinite; "
                         "the protocols rank finite scores (check the model's output)")
    if len(x) and not np.isfinite(x.max((1, 2)) - x.min((1, 2))).all():
        raise ValueError("a heatmap's max - min overflows float32 (values near ±1.7e38): its normalised "
                         "scores would be NaN; rescale the maps")
    from . import fused   # numba loads here, not when the metrics module is imported (≈ 0.25 s)
    H, W = gt.shape[-2:]
    mode = fused.MODES[rule, (normalize is None or bool(normalize)) if rule == "median" else bool(normalize)]
    fraction = DSOL_THRESHOLD if threshold is None else float(threshold)
    weights = linear_weights(x.shape[1], H) + linear_weights(x.shape[2], W)
    ious = np.empty(len(gt))
    for i in range(0, len(gt), chunk):
        fused.image_ious(x[i:i + chunk], np.ascontiguousarray(gt[i:i + chunk], dtype=np.float32), *weights,
                         mode, fraction, resize == "ipp", ious[i:i + chunk])
    return {"ciou": success_rate(ious, 0.5), "auc": auc(ious), "ious": ious, "curve": success_curve(ious)}
