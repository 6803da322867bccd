"""Losses of Zhou et al., *Positive sample propagation along the audio-visual event line*, CVPR 2021.

- :func:`segment_ce`      Eq. 7, cross-entropy over the T segments (fully supervised)
- :func:`avps_similarity` Eq. 8, the ℓ1-normalised audio-visual pair similarity vector S
- :func:`avps_loss`       Eq. 9, L_avps = MSE(S, G), G the ℓ1-normalised event indicator
- :func:`fully_loss`      Eq. 10, L_ce + λ L_avps (λ = 100 in the paper)
- :func:`weak_bce`        Eq. 11, BCE between the video-level prediction and Y_weak
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.nn import functional as F

EPS = 1e-12


@contextmanager
def float32_loss(*tensors: torch.Tensor):
    """Compute a loss in float32 with autocast off, on the tensors' device.

    ``F.binary_cross_entropy`` is refused inside CUDA autocast ("unsafe to autocast") and the
    ℓ1 normalisations here lose precision in half precision, so every loss of this module
    runs in float32. On float32 inputs outside autocast (every CPU run) this changes nothing.
    Yields the tensors cast to float32.
    """
    dev = next((t.device.type for t in tensors if torch.is_tensor(t)), "cpu")
    if dev not in ("cuda", "cpu"):  # autocast knows no other device types (e.g. "meta")
        yield tuple(t.float() for t in tensors)
        return
    with torch.autocast(dev, enabled=False):
        yield tuple(t.float() for t in tensors)


def segment_ce(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 7: mean cross-entropy of per-segment logits ``(B, T, C)`` against labels ``(B, T)``."""
    with float32_loss(scores) as (scores,):
        return F.cross_entropy(scores.flatten(0, 1), labels.flatten())


def avps_similarity(v: torch.Tensor, a: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Eq. 8: per-segment similarity of synchronized pairs, ℓ1-normalised over time.

    ``v, a``: ``(B, T, d)``. The paper writes S = (v ⊙ a)/‖v ⊙ a‖₁ with the
    feature dimension summed; as in the official code the pair similarity is the
    cosine of the two d-vectors, rectified (ReLU) so that the ℓ1 normalisation
    yields a distribution over the T segments. Returns ``(B, T)``.
    """
    with float32_loss(v, a) as (v, a):
        s = F.relu(F.cosine_similarity(v, a, dim=-1, eps=1e-8))
        return s / s.sum(-1, keepdim=True).clamp_min(eps)


def avps_target(event: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """G of Eq. 9: the event indicator g_t ∈ {0, 1} ℓ1-normalised (1/k on k event segments)."""
    g = event.float()
    return g / g.sum(-1, keepdim=True).clamp_min(eps)


def avps_loss(v: torch.Tensor, a: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Eq. 9: L_avps = MSE(S, G), averaged over the batch and the T segments."""
    with float32_loss(v, a) as (v, a):
        return F.mse_loss(avps_similarity(v, a), avps_target(event))


def fully_loss(scores, labels, v, a, event, lam: float = 100.0) -> torch.Tensor:
    """Eq. 10: L_fully = L_ce + λ L_avps (λ = 100; λ = 0 gives plain L_ce)."""
    loss = segment_ce(scores, labels)
    if lam:
        loss = loss + lam * avps_loss(v, a, event)
    return loss


def weak_labels(segment_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Y_weak (Sec. 3): the column mean of the one-hot per-segment labels, ``(B, C)``.

    ``num_classes`` counts the background class (29 on AVE).
    """
    return F.one_hot(segment_labels.long(), num_classes).float().mean(1)


def weak_bce(prob: torch.Tensor, y_weak: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Eq. 11: binary cross-entropy between video-level probabilities ``(B, C)`` and Y_weak.

    Computed in float32 with autocast off (autocast refuses ``binary_cross_entropy`` on CUDA).
    """
    with float32_loss(prob, y_weak) as (prob, y_weak):
        return F.binary_cross_entropy(prob.clamp(eps, 1 - eps), y_weak)
