"""Class-aware sounding-object metrics of DSOL (Hu et al. 2020, Eq. 9), built on
:mod:`avlib.metrics.localization`.

- **CIoU** per image: the mean over the *sounding* classes of the image of the cIoU between
  that class's map (resized to the image, min-max normalised, binarised at 0.1 × max — the
  ``"max_fraction"`` rule of :func:`avlib.metrics.localization.predict_mask`) and the box mask of
  that class. Reported as **CIoU@0.3** = the fraction of images with CIoU ≥ 0.3 (Table 2),
  and **AUC** = the area under the success curve over 21 thresholds.
- **NSA** (no-sounding area): the mean, over the *silent* classes' maps, of the fraction of
  pixels whose activation is ≤ 0.2 (maps in [0, 1], not re-normalised; the official code's
  threshold). Images without a silent class do not count.
"""
from __future__ import annotations

import numpy as np
import torch

from .localization import auc, box_mask, ciou, predict_mask, resize_maps, success_rate

NSA_THRESHOLD = 0.2
CIOU_AT = 0.3


def class_box_masks(objects, n_classes: int, size: int) -> np.ndarray:
    """Per-class ground truth of one image: (n_classes, size, size), the union of its class's boxes."""
    out = np.zeros((n_classes, size, size), np.float32)
    for o in objects:
        out[o["class"]] = np.maximum(out[o["class"]], box_mask(o["box"], size))
    return out


def class_aware_ciou(class_maps, objects, sounding, size: int, threshold: float = 0.1) -> np.ndarray:
    """Per-image CIoU (N,): mean cIoU over each image's sounding classes.

    ``class_maps`` (N, K, h, w) with class k's map at index k; ``objects`` the images' object
    lists (``class``, ``box``); ``sounding`` a list of sounding-class lists.
    """
    maps = torch.as_tensor(np.asarray(class_maps) if not torch.is_tensor(class_maps) else class_maps).float()
    if len(maps) != len(objects) or len(maps) != len(sounding):
        raise ValueError(f"{len(maps)} map sets, {len(objects)} object lists, {len(sounding)} sounding lists")
    K = maps.shape[1]
    out = np.full(len(maps), np.nan)
    for i, (objs, snd) in enumerate(zip(objects, sounding)):
        if not len(snd):
            continue
        snd = [int(c) for c in snd]
        pred = predict_mask(maps[i, snd], size, rule="max_fraction", threshold=threshold)
        gt = class_box_masks(objs, K, size)[snd]
        out[i] = float(np.mean(ciou(pred, gt)))
    return out


def nsa(class_maps, silent, size: int | None = None, threshold: float = NSA_THRESHOLD) -> float:
    """No-sounding area: mean fraction of pixels ≤ ``threshold`` in the silent classes' maps."""
    maps = torch.as_tensor(np.asarray(class_maps) if not torch.is_tensor(class_maps) else class_maps).float()
    fractions = []
    for i, sil in enumerate(silent):
        for c in sil:
            m = maps[i, int(c)]
            if size is not None:
                m = resize_maps(m[None], size)[0]
            fractions.append(float((m <= threshold).float().mean()))
    return float(np.mean(fractions)) if fractions else float("nan")


def evaluate_class_maps(class_maps, objects, sounding, silent, size: int, at: float = CIOU_AT) -> dict:
    """``{"ciou@0.3", "auc", "nsa", "cious"}`` over a test set, as in Table 2."""
    cious = class_aware_ciou(class_maps, objects, sounding, size)
    valid = cious[~np.isnan(cious)]
    return {f"ciou@{at}": success_rate(valid, at), "auc": auc(valid), "nsa": nsa(class_maps, silent, size),
            "cious": cious}
