"""Multi-label tagging metrics of DCASE 2017 task 4, as Parekh et al. (2018, Sec. 4) use them.

- :func:`tune_thresholds` — one score threshold per class, chosen on the validation split
  to maximise that class's F1;
- :func:`micro_prf` — micro-averaged precision, recall and F1: true positives, false
  positives and false negatives pooled over every (clip, class) pair of the split;
- :func:`per_class_f1` — Table 2's class-wise F1;
- :func:`evaluate_tagging` — the whole protocol: tune on validation, apply to test.

Unlike the official DCASE evaluation script, which iterates only over the files present
in the prediction file (a clip never predicted adds no false negatives), every clip of
the split is counted here: a clip with no prediction contributes its labels as false
negatives.
"""
from __future__ import annotations

import numpy as np


def _check(pred, target):
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"expected (clips, classes) arrays of one shape, got {pred.shape} and {target.shape}")
    return pred.astype(bool), target.astype(bool)


def _f1(tp, fp, fn):
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def micro_prf(pred, target) -> dict:
    """Micro precision, recall, F1 of binary predictions (clips, classes); 0 where undefined."""
    p, t = _check(pred, target)
    tp, fp, fn = int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"f1": float(_f1(tp, fp, fn)), "precision": precision, "recall": recall, "tp": tp, "fp": fp, "fn": fn}


def per_class_f1(pred, target) -> np.ndarray:
    """F1 of each class (classes,); 0 for a class with no positive and no prediction."""
    p, t = _check(pred, target)
    tp, fp, fn = (p & t).sum(0), (p & ~t).sum(0), (~p & t).sum(0)
    return _f1(tp, fp, fn).astype(float)


def best_threshold(scores, target) -> tuple[float, float]:
    """The threshold maximising F1 of one class (predict ``score >= threshold``) and that F1.

    Candidates are the midpoints between consecutive distinct scores, plus one above the
    maximum (predict nothing). Ties in F1 go to the higher threshold. A class without
    positives gets the threshold above the maximum (F1 0: nothing to find).
    """
    s, t = np.asarray(scores, float), np.asarray(target).astype(bool)
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    P = int(t.sum())
    top = (s[0] + 1.0) if len(s) else 0.0
    if P == 0 or len(s) == 0:
        return float(top), 0.0
    tp = np.cumsum(t)                      # predicting the first k+1 scores
    k = np.arange(1, len(s) + 1)
    f1 = 2 * tp / (k + P)
    valid = np.r_[s[:-1] > s[1:], True]     # only cut between distinct scores
    f1 = np.where(valid, f1, -1.0)
    best = int(np.argmax(f1))              # first maximum = highest threshold
    thr = (s[best] + s[best + 1]) / 2 if best + 1 < len(s) else s[best] - 1.0
    return float(thr), float(f1[best])


def tune_thresholds(scores, target) -> np.ndarray:
    """Per-class thresholds (classes,) maximising each class's F1 on (validation) scores."""
    scores, target = np.asarray(scores, float), np.asarray(target)
    if scores.shape != target.shape or scores.ndim != 2:
        raise ValueError(f"expected (clips, classes) arrays of one shape, got {scores.shape} and {target.shape}")
    return np.array([best_threshold(scores[:, c], target[:, c])[0] for c in range(scores.shape[1])])


def apply_thresholds(scores, thresholds) -> np.ndarray:
    """Binary predictions ``score >= threshold`` per class."""
    return np.asarray(scores) >= np.asarray(thresholds)[None, :]


def evaluate_tagging(val_scores, val_target, test_scores, test_target) -> dict:
    """Tune thresholds on validation, apply them to test; micro P/R/F1 and per-class F1 on test."""
    thr = tune_thresholds(val_scores, val_target)
    pred = apply_thresholds(test_scores, thr)
    out = micro_prf(pred, test_target)
    out["per_class_f1"] = per_class_f1(pred, test_target).tolist()
    out["thresholds"] = thr.tolist()
    return out
