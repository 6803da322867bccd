"""Evaluation metrics, one module per family:

- :mod:`avlib.metrics.classification` — segment accuracy (PSP), micro-F1 with tuned thresholds (Parekh et al.)
- :mod:`avlib.metrics.localization` — cIoU, success-rate AUC, consensus ground truth (LVS, DSOL)
- :mod:`avlib.metrics.clustering` — NMI and Hungarian cluster↔class alignment (DSOL)
"""
from .classification import segment_accuracy

__all__ = ["segment_accuracy"]
