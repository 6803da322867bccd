"""Two-stream multiple-instance learning for audio-visual events (Parekh et al., CVPRW 2018).

A video is a bag of image-region proposals and audio-segment proposals (Sec. 3, Fig. 2).
Each modality passes its proposal features through fully connected layers and a scoring
network; the per-modality video scores are ℓ2-normalised and added (Sec. 3.2).

- :class:`ProposalScorer` — the scoring network of one modality, in three settings:

  * ``"two_stream"`` (Sec. 3.2, Eq. 1, after Bilen & Vedaldi's WSDDN): a classification
    stream ``A = Z W_cls`` and a localization stream ``B = Z W_loc`` with a softmax *over
    proposals* per class, ``D = A ⊙ σ(B)``, video score ``Σ_p D_pc``;
  * ``"wsddn"`` (Table 1 (d)): the same with an extra softmax over *classes* on the
    classification stream, so that scores lie in [0, 1], trained with C binary log-losses;
  * ``"one_stream"`` (Table 1 (e)): the classification stream alone, pooled over proposals
    by log-sum-exp (:func:`lse_pool`), a soft maximum.

- :class:`MILNet` — Fig. 2: visual fc6/fc7 with dropout on RoI-pooled region features,
  one fully connected layer on the 128-d audio embeddings, one scorer per modality, and
  ℓ2-normalised fusion; ``modality`` ``"av"``, ``"audio"`` or ``"visual"`` gives Table 1's
  single-modality rows as settings of the same module.
- :func:`multilabel_hinge` — Eq. 2; :func:`binary_log_loss` — WSDDN's C log-losses.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..stacked import KeyedDropout

STREAMS = ("two_stream", "one_stream", "wsddn")
MODALITIES = ("av", "audio", "visual")


def lse_pool(a: torch.Tensor, r: float = 5.0, dim: int = 1) -> torch.Tensor:
    """Log-sum-exp pooling over proposals: ``(1/r) log((1/P) Σ_p exp(r a_p))``.

    A soft maximum (Table 1 (e)): r → ∞ gives the max, r → 0 the mean; it always lies
    between the two. ``r`` is not given in the paper (deviation: we use 5).
    """
    P = a.shape[dim]
    return (torch.logsumexp(r * a, dim=dim) - torch.log(torch.tensor(float(P), dtype=a.dtype))) / r


class ProposalScorer(nn.Module):
    """Scoring network of one modality (Sec. 3.2): proposals ``Z`` (B, P, d) → video scores (B, C).

    ``forward`` returns ``(scores, D)``: ``D`` (B, P, C) holds each proposal's contribution
    to each class (``A ⊙ σ(B)`` for the two-stream settings, ``A`` for one-stream), the
    per-proposal localization scores drawn in Figs. 3–4.
    """

    def __init__(self, d: int, num_classes: int, stream: str = "two_stream", lse_r: float = 5.0):
        super().__init__()
        if stream not in STREAMS:
            raise ValueError(f"unknown stream {stream!r}; valid: {STREAMS}")
        self.stream, self.lse_r = stream, lse_r
        self.cls = nn.Linear(d, num_classes)                                        # W_cls
        self.loc = nn.Linear(d, num_classes) if stream != "one_stream" else None    # W_loc

    def forward(self, z: torch.Tensor):
        a = self.cls(z)                                   # A: (B, P, C)
        if self.stream == "one_stream":
            return lse_pool(a, self.lse_r, dim=1), a
        if self.stream == "wsddn":
            a = torch.softmax(a, dim=-1)                  # softmax over classes (WSDDN)
        d = a * torch.softmax(self.loc(z), dim=1)         # Eq. 1: softmax over proposals
        return d.sum(1), d


class MILNet(nn.Module):
    """The network of Fig. 2 (or one of its Table 1 variants, by its settings).

    Inputs: ``visual`` (B, M, d_v) RoI-pooled region features and ``audio`` (B, T, 128)
    segment embeddings. Visual: fc6 → ReLU → dropout → fc7 → ReLU → dropout (Sec. 3.1);
    audio: one fully connected layer (ReLU) learnt from scratch. Per-modality video
    scores are ℓ2-normalised over classes and added (Sec. 3.2), except for ``"wsddn"``,
    whose scores are probabilities (a single modality; no normalisation).
    """

    def __init__(self, num_classes: int, visual_dim: int, audio_dim: int = 128, modality: str = "av",
                 stream: str = "two_stream", visual_hidden: int = 256, audio_hidden: int = 128,
                 dropout: float = 0.5, lse_r: float = 5.0, l2_normalise: bool = True):
        super().__init__()
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; valid: {MODALITIES}")
        if stream == "wsddn" and modality == "av":
            raise ValueError("the WSDDN-type setting is defined for one modality (Table 1 (d)); "
                             "use modality='visual' or 'audio'")
        self.modality, self.stream = modality, stream
        self.l2_normalise = l2_normalise and stream != "wsddn"
        if modality in ("av", "visual"):
            self.visual_fc = nn.Sequential(nn.Linear(visual_dim, visual_hidden), nn.ReLU(), KeyedDropout(dropout),
                                           nn.Linear(visual_hidden, visual_hidden), nn.ReLU(), KeyedDropout(dropout))
            self.visual_scorer = ProposalScorer(visual_hidden, num_classes, stream, lse_r)
        if modality in ("av", "audio"):
            self.audio_fc = nn.Sequential(nn.Linear(audio_dim, audio_hidden), nn.ReLU())
            self.audio_scorer = ProposalScorer(audio_hidden, num_classes, stream, lse_r)

    @property
    def loss_name(self) -> str:
        return "binary_log_loss" if self.stream == "wsddn" else "multilabel_hinge"

    def forward(self, visual: torch.Tensor | None = None, audio: torch.Tensor | None = None) -> dict:
        """A dict: ``score`` (B, C) φ(V; w) and, per modality used, ``visual_score``/``audio_score``
        (B, C, before normalisation) and ``visual_D``/``audio_D`` (B, P, C) proposal scores."""
        out, parts = {}, []
        for name in ("visual", "audio"):
            if self.modality not in ("av", name):
                continue
            x = visual if name == "visual" else audio
            if x is None:
                raise ValueError(f"a {self.modality} MILNet needs {name} proposal features")
            s, d = getattr(self, f"{name}_scorer")(getattr(self, f"{name}_fc")(x.float()))
            out[f"{name}_score"], out[f"{name}_D"] = s, d
            parts.append(F.normalize(s, dim=-1) if self.l2_normalise else s)
        out["score"] = torch.stack(parts).sum(0)
        return out

    def loss(self, out: dict, labels: torch.Tensor) -> torch.Tensor:
        """Eq. 2 (hinge) for the two- and one-stream settings; C binary log-losses for WSDDN."""
        if self.stream == "wsddn":
            return binary_log_loss(out["score"], labels)
        return multilabel_hinge(out["score"], labels)


def multilabel_hinge(phi: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``1/(CN) Σ_n Σ_c max(0, 1 − y_c φ_c)`` with multi-hot ``labels`` in {0, 1} → y ∈ {−1, +1}."""
    y = labels.float() * 2 - 1
    return torch.clamp(1 - y * phi, min=0).mean()


def binary_log_loss(prob: torch.Tensor, labels: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """WSDDN's loss: C binary log-losses on scores in [0, 1] (Bilen & Vedaldi, 2016), averaged.

    Computed in float32 with autocast off: autocast refuses ``binary_cross_entropy`` on CUDA
    (float32 inputs outside autocast, every CPU run, give the same numbers as before).
    """
    from ..losses import float32_loss
    with float32_loss(prob, labels) as (prob, labels):
        return F.binary_cross_entropy(prob.clamp(eps, 1 - eps), labels)


def class_balanced_batches(labels, batch_size: int = 24, num_batches: int | None = None, seed: int = 0,
                           step: float = 1000.0, max_repeat: int = 5):
    """Class-balanced mini-batches of clip indices, as the paper describes (Sec. 4, "Dataset").

    A re-implementation of the rule of the CVSSP ``RatioDataGenerator`` the paper cites:
    a label list holds class ``c`` ``min(max_repeat, 1 + n_c // step)`` times (``n_c`` its
    number of training clips: "higher but limited presence of classes with more
    examples"); each batch draws ``batch_size`` labels from the shuffled list and then
    that many clips of each drawn label (cycling through each class's shuffled clips).
    So every batch holds rare classes. CVSSP's ``step`` is 1000 clips for DCASE's 51,172;
    :func:`avlib.experiments.mil` scales it with the training-set size. Yields lists of
    indices; ``num_batches`` defaults to one epoch's worth (``N // batch_size``).
    """
    import numpy as np
    y = np.asarray(labels) > 0
    n, C = y.shape
    rng = np.random.default_rng(seed)
    counts = y.sum(0)
    lb_list = np.concatenate([[c] * min(max_repeat, 1 + int(counts[c] // step)) for c in range(C) if counts[c] > 0])
    pools = [rng.permutation(np.flatnonzero(y[:, c])) for c in range(C)]
    pointers = [0] * C
    queue: list = []
    for _ in range(num_batches if num_batches is not None else max(1, n // batch_size)):
        while len(queue) < batch_size:
            queue.extend(rng.permutation(lb_list).tolist())
        drawn, queue = queue[:batch_size], queue[batch_size:]
        batch = []
        for c in range(C):
            k = drawn.count(c)
            if k == 0:
                continue
            if pointers[c] + k > len(pools[c]):
                pools[c], pointers[c] = rng.permutation(pools[c]), 0
            batch.extend(pools[c][pointers[c]:pointers[c] + k].tolist())
            pointers[c] += k
        yield batch
