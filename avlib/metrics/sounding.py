"""Class-aware sounding-object metrics of DSOL (Hu et al. 2020, Eq. 9), built on
:mod:`avlib.metrics.localization`. By default each metric is what the official evaluation
code of DTaoo/Discriminative-Sounding-Objects-Localization computes; deviations are options.

- **Class-aware CIoU** per image (:func:`class_aware_ciou`): the mean, over the image's
  *sounding* classes, of the cIoU between that class's map and the union of that class's
  boxes. Each map is resized bilinearly to the image (``cv2.resize`` there), **not
  normalised**, and binarised as ``map > t × max(map)`` (the ``"max_fraction"`` rule of
  :func:`avlib.metrics.localization.binarize`), with ``t`` set by the protocol
  (:data:`PROTOCOLS`):

  - ``protocol="synthetic"`` — ``music-exp/eval.py`` (synthetic mosaics): ``t = 0.5``
    (:data:`MOSAIC_THRESHOLD`);
  - ``protocol="duet"`` — ``music-exp/eval_duet.py`` (real duets): ``t = 0.2``
    (:data:`DUET_THRESHOLD`).

  Reported as **CIoU@0.3** = the fraction of images with CIoU ``>= 0.05 * 6``
  (``results[6]`` of the official code, i.e. 0.30000000000000004: a CIoU of exactly 0.3 is not
  a success) and **AUC** over the 21 thresholds ``0.05 * i``. Images without a sounding class
  are left out (``eval_duet.py`` skips frames without boxes). An image whose CIoU is 0/0 (a
  sounding class with an empty box and an empty prediction) stays in the denominator as a
  failure, as the official ``np.sum(ious >= t) / len(ious)`` counts its NaN (option
  ``nan_images="drop"``: leave such images out, avlib's former summary).
  Options: ``threshold=`` (any fraction, overrides the protocol; ``0.1`` was avlib's former
  value), ``normalize=True`` (min-max normalise each map first, as avlib did).
- **NSA** (no-sounding area, :func:`nsa`): for each image, the fraction of pixels with
  ``map <= 0.2`` (:data:`NSA_THRESHOLD`; the raw map resized to the image, not normalised)
  in the map of **every class that is not sounding in that image** (visible or not), averaged
  over those classes; then averaged over images (both official files). Images in which every
  class sounds are left out (the official code would make the mean NaN).
  Option: ``classes="visible_silent"`` — avlib's former NSA: only the classes of the
  visible silent objects (``silent`` lists), pooled over (image, class) pairs.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from .localization import auc, box_mask, ciou, predict_mask, resize_maps, success_rate

NSA_THRESHOLD = 0.2
CIOU_AT = 0.3
#: ``thres`` of ``music-exp/eval.py`` (synthetic mosaics)
MOSAIC_THRESHOLD = 0.5
#: ``thres`` of ``music-exp/eval_duet.py`` (real duets)
DUET_THRESHOLD = 0.2
PROTOCOLS = {"synthetic": MOSAIC_THRESHOLD, "duet": DUET_THRESHOLD}
NSA_CLASSES = ("non_sounding", "visible_silent")
NAN_IMAGES = ("failure", "drop")


def _tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().float().cpu()


def protocol_threshold(protocol: str = "synthetic", threshold: float | None = None) -> float:
    """The binarisation fraction of a protocol (``threshold``, if given, wins)."""
    if threshold is not None:
        return float(threshold)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown DSOL protocol {protocol!r}; valid: {tuple(PROTOCOLS)}")
    return PROTOCOLS[protocol]


def class_box_masks(objects, n_classes: int, size: int) -> np.ndarray:
    """Per-class ground truth of one image: (n_classes, size, size), the union of its class's boxes."""
    out = np.zeros((n_classes, size, size), np.float32)
    for o in objects:
        out[o["class"]] = np.maximum(out[o["class"]], box_mask(o["box"], size))
    return out


def class_aware_ciou(class_maps, objects, sounding, size: int, protocol: str = "synthetic",
                     threshold: float | None = None, normalize: bool = False) -> np.ndarray:
    """Per-image CIoU (N,): mean cIoU over each image's sounding classes (NaN: no sounding class).

    ``class_maps`` (N, K, h, w) with class k's map at index k; ``objects`` the images' object
    lists (``class``, ``box``); ``sounding`` a list of sounding-class lists. Binarisation:
    raw map ``> t × max`` with ``t`` = :data:`PROTOCOLS` ``[protocol]`` unless ``threshold``.
    """
    t = protocol_threshold(protocol, threshold)
    maps = _tensor(class_maps)
    if len(maps) != len(objects) or len(maps) != len(sounding):
        raise ValueError(f"{len(maps)} map sets, {len(objects)} object lists, {len(sounding)} sounding lists")
    K = maps.shape[1]
    out = np.full(len(maps), np.nan)
    for i, (objs, snd) in enumerate(zip(objects, sounding)):
        if not len(snd):
            continue
        snd = [int(c) for c in snd]
        pred = predict_mask(maps[i, snd], size, rule="max_fraction", threshold=t, normalize=normalize)
        gt = class_box_masks(objs, K, size)[snd]
        out[i] = float(np.mean(ciou(pred, gt)))
    return out


def nsa(class_maps, sounding, size: int | None = None, threshold: float = NSA_THRESHOLD,
        classes: str = "non_sounding", silent=None) -> float:
    """No-sounding area: per image, the mean over its non-sounding classes of the fraction of
    pixels ``<= threshold``; then the mean over images (see the module notes).

    ``class_maps`` (N, K, h, w); ``sounding`` the images' sounding-class lists; ``size``: resize
    the maps to the image first (the official code does, to 224). ``classes="visible_silent"``
    (with ``silent`` lists): avlib's former NSA, pooled over (image, visible silent class) pairs.
    """
    if classes not in NSA_CLASSES:
        raise ValueError(f"unknown NSA classes {classes!r}; valid: {NSA_CLASSES}")
    maps = _tensor(class_maps)
    N, K = maps.shape[:2]

    def low_fraction(i, cls):
        m = maps[i, cls]
        if size is not None:
            m = resize_maps(m, size)
        return (m <= threshold).flatten(1).sum(1).double().numpy() / m[0].numel()

    if classes == "visible_silent":
        if silent is None or len(silent) != N:
            raise ValueError("classes='visible_silent' needs one `silent` class list per image")
        fr = [low_fraction(i, [int(c) for c in sil]) for i, sil in enumerate(silent) if len(sil)]
        return float(np.mean(np.concatenate(fr))) if fr else float("nan")
    if len(sounding) != N:
        raise ValueError(f"{N} map sets but {len(sounding)} sounding lists")
    per_image = []
    for i, snd in enumerate(sounding):
        snd = {int(c) for c in snd}
        rest = [k for k in range(K) if k not in snd]
        if rest:
            per_image.append(float(np.mean(low_fraction(i, rest))))
    return float(np.mean(per_image)) if per_image else float("nan")


def evaluate_class_maps(class_maps, objects, sounding, size: int, protocol: str = "synthetic", at: float = CIOU_AT,
                        threshold: float | None = None, normalize: bool = False, nsa_classes: str = "non_sounding",
                        silent=None, nan_images: str = "failure") -> dict:
    """``{"ciou@0.3", "auc", "nsa", "cious", "nan_images"}`` over a test set, as in Table 2, by ``protocol``
    (``"synthetic"``: eval.py, 0.5 × max; ``"duet"``: eval_duet.py, 0.2 × max).

    The summaries' denominator is every image with a sounding class; ``nan_images`` counts those
    whose CIoU is 0/0, failures as officially (``nan_images="drop"`` as option: left out).
    ``silent`` is only needed with ``nsa_classes="visible_silent"``.
    """
    if nan_images not in NAN_IMAGES:
        raise ValueError(f"unknown nan_images {nan_images!r}; valid: {NAN_IMAGES}")
    if not isinstance(size, Integral):
        raise TypeError("evaluate_class_maps(class_maps, objects, sounding, size, protocol=...): `size` must be an "
                        f"int, got {type(size).__name__}; the `silent` argument was dropped (NSA now counts every "
                        "non-sounding class); pass silent=... only with nsa_classes='visible_silent'")
    cious = class_aware_ciou(class_maps, objects, sounding, size, protocol, threshold, normalize)
    scored = cious[np.array([len(s) > 0 for s in sounding], dtype=bool)]
    n_nan = int(np.isnan(scored).sum())
    valid = scored if nan_images == "failure" else scored[~np.isnan(scored)]
    return {f"ciou@{at}": success_rate(valid, at), "auc": auc(valid),
            "nsa": nsa(class_maps, sounding, size, classes=nsa_classes, silent=silent), "cious": cious,
            "nan_images": n_nan}
