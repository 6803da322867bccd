"""Sound-source localization metrics: cIoU, success rate, AUC, box and consensus maps.

Shared by the LVS chapter (Chen et al. 2021) and the DSOL chapter (Hu et al. 2020).
Everything is vectorised over a whole test set: maps are arrays ``(N, h, w)``, ground
truth ``(N, H, W)``; work is done in chunks of images so memory stays bounded.

Conventions (matching the official LVS test code, hche11/Localizing-Visual-Sounds-the-Hard-Way):

1. **Resize** each heatmap to the image size with bilinear interpolation
   (``cv2.INTER_LINEAR`` there, ``torch.nn.functional.interpolate(mode="bilinear",
   align_corners=False)`` here; both sample at pixel centres). The official code resizes to
   224×224; here ``size`` is the evaluation image size (the world's frames are 112×112).
2. **Min-max normalise** each map to [0, 1]. A constant map (official code: 0/0 = NaN, which
   ends as an empty prediction) becomes all zeros here, which also gives an empty prediction.
3. **Binarise** with one of two rules (:data:`RULES`), chosen by the ``rule`` argument:

   - ``"median"`` (LVS): threshold = the value at index ``H*W // 2`` of the sorted map
     (the upper median) and prediction = pixels *strictly above* it, i.e. the top 50 %.
     On ties at the median the strict ``>`` keeps fewer than half of the pixels, exactly
     as the official ``pred[pred > threshold] = 1``; pixels equal to 1 (the maximum) are
     always kept, as the official ``pred[pred < 1] = 0`` leaves them.
   - ``"max_fraction"`` (DSOL): prediction = pixels ``>= threshold × max`` of the
     (normalised, unless ``normalize=False``) map; DSOL uses ``threshold=0.1``.

4. **cIoU** per image (:func:`ciou`): ``Σ(P·G) / (ΣG + Σ P·[G=0])`` with a soft ground
   truth ``G`` in [0, 1] (Flickr consensus) or a binary one (VGG-SS). An image with an
   empty ground truth and an empty prediction gives NaN, as in the official code; NaN
   counts as a failure in :func:`success_rate` (the official ``np.sum(ious >= t) / len``).
5. **Reported cIoU** = :func:`success_rate` at 0.5: the fraction of test images with
   cIoU ≥ 0.5. **AUC** (:func:`auc`) = trapezoidal area under the success rate at the 21
   thresholds 0, 0.05, …, 1 (``sklearn.metrics.auc`` in the official code).

Ground truth: :func:`box_mask` rasterises boxes ``[x0, y0, x1, y1)`` (``mask[y0:y1, x0:x1] = 1``,
numpy-slice semantics, as the official code); boxes given in another coordinate frame
(Flickr's 256 px, VGG-SS's 0..1) are mapped with ``int(size * v / box_scale)``.
:func:`consensus_mask` is the Flickr-SoundNet consensus ``G = min(1, Σ_a box_a / 2)``;
:func:`union_mask` the VGG-SS ground truth (union of the boxes of an image).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

RULES = ("median", "max_fraction")
#: the 21 cIoU thresholds 0, 0.05, ..., 1 of the success curve
THRESHOLDS = np.round(np.linspace(0.0, 1.0, 21), 10)


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


def resize_maps(maps, size) -> torch.Tensor:
    """Heatmaps ``(N, h, w)`` → ``(N, H, W)`` by bilinear interpolation (pixel-centre aligned)."""
    x = _as_maps(maps)
    H, W = _size(size)
    if x.shape[-2:] == (H, W):
        return x
    return F.interpolate(x[:, None], size=(H, W), mode="bilinear", align_corners=False)[:, 0]


def normalize_maps(maps) -> torch.Tensor:
    """Min-max normalise each map to [0, 1]; a constant map becomes zeros (see module notes)."""
    x = _as_maps(maps)
    flat = x.reshape(len(x), -1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = hi - lo
    out = torch.where(span > 0, (flat - lo) / span.clamp_min(1e-12), torch.zeros_like(flat))
    return out.reshape(x.shape)


def binarize(maps, rule: str = "median", threshold: float = 0.1, normalize: bool = True) -> torch.Tensor:
    """Binary predictions ``(N, H, W)`` (bool) from maps already at the image size.

    ``rule="median"``: LVS top 50 % (strictly above the upper median; max always kept).
    ``rule="max_fraction"``: DSOL, pixels ``>= threshold * max``. ``normalize`` min-max
    normalises each map first (both official codes do).
    """
    if rule not in RULES:
        raise ValueError(f"unknown binarisation rule {rule!r}; valid: {RULES}")
    x = normalize_maps(maps) if normalize else _as_maps(maps)
    flat = x.reshape(len(x), -1)
    if rule == "median":
        thr = flat.sort(dim=1).values[:, flat.shape[1] // 2].unsqueeze(1)
        pred = (flat > thr) | (flat >= 1.0) if normalize else flat > thr
    else:
        pred = flat >= threshold * flat.max(1, keepdim=True).values
    return pred.reshape(x.shape)


def predict_mask(maps, size, rule: str = "median", threshold: float = 0.1, normalize: bool = True) -> torch.Tensor:
    """Resize heatmaps to ``size`` then :func:`binarize` them: the prediction ``P`` of cIoU."""
    return binarize(resize_maps(maps, size), rule=rule, threshold=threshold, normalize=normalize)


def ciou(pred_mask, gt) -> np.ndarray:
    """Per-image consensus IoU ``Σ(P·G) / (ΣG + Σ P·[G=0])``, shape ``(N,)``.

    ``pred_mask`` binary ``(N, H, W)``; ``gt`` in [0, 1], same shape (soft consensus or binary).
    """
    P = torch.as_tensor(np.asarray(pred_mask) if not torch.is_tensor(pred_mask) else pred_mask).float()
    G = torch.as_tensor(np.asarray(gt) if not torch.is_tensor(gt) else gt).float()
    if P.dim() == 2:
        P, G = P[None], G[None] if G.dim() == 2 else G
    if P.shape != G.shape:
        raise ValueError(f"prediction and ground truth shapes differ: {tuple(P.shape)} vs {tuple(G.shape)}")
    inter = (P * G).flatten(1).sum(1)
    union = G.flatten(1).sum(1) + (P * (G == 0)).flatten(1).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (inter.double() / union.double()).numpy()


def success_rate(ious, threshold: float = 0.5) -> float:
    """Fraction of images with cIoU ≥ ``threshold`` (NaN counts as a failure)."""
    ious = np.asarray(ious, dtype=float)
    if ious.size == 0:
        raise ValueError("success_rate of an empty set of cIoUs is undefined")
    with np.errstate(invalid="ignore"):
        return float(np.sum(ious >= threshold - 1e-12) / ious.size)


def success_curve(ious, thresholds=THRESHOLDS) -> np.ndarray:
    """Success rate at each threshold (default: 0, 0.05, …, 1)."""
    return np.array([success_rate(ious, t) for t in thresholds])


def auc(ious, thresholds=THRESHOLDS) -> float:
    """Trapezoidal area under the success curve over ``thresholds`` (the official AUC)."""
    t = np.asarray(thresholds, dtype=float)
    return float(np.trapezoid(success_curve(ious, t), t))


def box_mask(boxes, size, box_scale=None) -> np.ndarray:
    """Rasterise boxes ``[x0, y0, x1, y1)`` into float masks of ``size`` (H, W).

    ``boxes``: ``(4,)`` → ``(H, W)``; ``(..., 4)`` → ``(..., H, W)``. With ``box_scale``
    (e.g. 256 for Flickr XML, 1.0 for VGG-SS) coordinates are mapped to pixels by
    ``int(S * v / box_scale)`` as in the official code; coordinates are clamped to the image.
    """
    H, W = _size(size)
    b = np.asarray(boxes, dtype=float)
    if b.shape[-1:] != (4,):
        raise ValueError(f"boxes must end in a dimension of 4 (x0, y0, x1, y1), got shape {b.shape}")
    if box_scale is not None:
        b = (b / float(box_scale)) * np.array([W, H, W, H])
    b = np.clip(np.floor(b + 1e-9), 0, np.array([W, H, W, H])).astype(int)
    ys, xs = np.arange(H), np.arange(W)
    iny = (ys >= b[..., 1:2]) & (ys < b[..., 3:4])          # (..., H)
    inx = (xs >= b[..., 0:1]) & (xs < b[..., 2:3])          # (..., W)
    return (iny[..., :, None] & inx[..., None, :]).astype(np.float32)


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
    """Binary union of an image's boxes ``(B, 4)`` → ``(H, W)``; a list of images → ``(N, H, W)``."""
    arr = np.asarray(image_boxes, dtype=object if _ragged(image_boxes) else float)
    if arr.dtype != object and arr.ndim == 2:
        return (box_mask(arr, size, box_scale).sum(0) > 0).astype(np.float32)
    return np.stack([union_mask(np.asarray(a, dtype=float), size, box_scale) for a in image_boxes])


def _ragged(x) -> bool:
    try:
        np.asarray(x, dtype=float)
        return False
    except ValueError:
        return True


def evaluate_maps(maps, gt, rule: str = "median", threshold: float = 0.1, normalize: bool = True,
                  chunk: int = 512) -> dict:
    """Whole-test-set evaluation: ``{"ciou": success at 0.5, "auc", "ious" (N,), "curve" (21,)}``.

    ``maps`` ``(N, h, w)`` at any resolution, ``gt`` ``(N, H, W)``; each map is resized to
    the ground truth's size, normalised and binarised by ``rule`` (see the module notes).
    """
    gt = np.asarray(gt)
    if len(maps) != len(gt):
        raise ValueError(f"{len(maps)} heatmaps but {len(gt)} ground-truth maps")
    ious = np.concatenate([ciou(predict_mask(maps[i:i + chunk], gt.shape[-2:], rule, threshold, normalize),
                                gt[i:i + chunk]) for i in range(0, len(gt), chunk)])
    return {"ciou": success_rate(ious, 0.5), "auc": auc(ious), "ious": ious, "curve": success_curve(ious)}
