"""Classification metrics."""
from __future__ import annotations

import numpy as np


def segment_accuracy(pred, target) -> float:
    """Fraction of segments whose predicted class equals the target (background included).

    The AVE / PSP protocol: accuracy over all test segments, 29 classes with background.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    if pred.size == 0:
        raise ValueError("segment_accuracy of an empty set is undefined")
    return float((pred == target).mean())
