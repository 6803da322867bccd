"""Clustering metrics for DSOL (Hu et al. 2020, Sec. 4.3 and appendix 8.2).

- :func:`nmi` — normalised mutual information of clusters and classes (scikit-learn).
- :func:`align_clusters` — cluster → class alignment: the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment``) on the cluster × class contingency table, one
  cluster per class; with more clusters than classes the unmatched clusters join their
  majority class ("we adaptively aggregate multiple clusters to one specific category",
  appendix 8.3). The standard cluster accuracy's alignment.
- :func:`match_by_fraction` — DSOL's own cluster → class assignment (``music-exp/match_cluster.py``):
  every class gets a distinct cluster and every other cluster a class, maximising the summed
  per-class fraction of samples; the official code keeps the best of 10⁶ unseeded random
  assignments, this function finds the exact optimum (the Hungarian algorithm on
  ``fraction − the cluster's best fraction``). Used for evaluation only: the model never sees a label.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score


def nmi(labels, clusters) -> float:
    """Normalised mutual information (arithmetic mean normalisation, scikit-learn's default)."""
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    if labels.shape != clusters.shape or labels.ndim != 1:
        raise ValueError(f"labels and clusters must be 1-d and equally long, got {labels.shape} and {clusters.shape}")
    return float(normalized_mutual_info_score(labels, clusters))


def contingency(clusters, labels, n_clusters: int, n_classes: int) -> np.ndarray:
    """Counts (n_clusters, n_classes) of samples in each cluster with each class."""
    table = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(table, (np.asarray(clusters, dtype=int), np.asarray(labels, dtype=int)), 1)
    return table


def align_clusters(clusters, labels, n_clusters: int, n_classes: int) -> np.ndarray:
    """Map each cluster to a class; returns ``cluster_to_class`` (n_clusters,) int.

    Hungarian matching maximises the number of samples whose cluster's class equals their
    label; clusters left unmatched (when ``n_clusters > n_classes``) take their majority class.
    """
    table = contingency(clusters, labels, n_clusters, n_classes)
    rows, cols = linear_sum_assignment(-table)
    mapping = table.argmax(1)
    mapping[rows] = cols
    return mapping.astype(np.int64)


def aligned_accuracy(clusters, labels, cluster_to_class) -> float:
    """Accuracy of the clusters read as classes through ``cluster_to_class``."""
    return float((np.asarray(cluster_to_class)[np.asarray(clusters)] == np.asarray(labels)).mean())


def match_by_fraction(clusters, labels, n_clusters: int, n_classes: int) -> np.ndarray:
    """DSOL's cluster → class assignment (``match_cluster.py``), exactly optimal: ``cluster_to_class`` (n_clusters,).

    Score of an assignment: ``Σ_j f[j, class(j)]`` with ``f[j, i]`` the fraction of class ``i``'s samples in
    cluster ``j``, every class holding at least one cluster. The clusters left over after one distinct
    cluster per class each take their best class, so the optimum matches classes to clusters by the
    Hungarian algorithm on ``f[j, i] − max_i' f[j, i']`` and gives every other cluster its best class.
    With fewer clusters than classes (which the official code cannot run) each cluster gets a distinct class.
    """
    table = contingency(clusters, labels, n_clusters, n_classes).astype(float)
    frac = table / np.maximum(table.sum(0, keepdims=True), 1)
    best = frac.max(1, keepdims=True)
    rows, cols = linear_sum_assignment(-(frac - best) if n_clusters >= n_classes else -frac)
    mapping = frac.argmax(1)
    mapping[rows] = cols
    return mapping.astype(np.int64)
