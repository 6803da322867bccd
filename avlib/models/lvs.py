"""LVS: Chen et al., *Localizing visual sounds the hard way*, CVPR 2021 — network and loss.

- :class:`LVSNet` — the two-stream network of Sec. 2.1, eqs. (1)–(2): a visual map
  ``V_i ∈ R^{c×h×w}`` and an audio vector ``A_i ∈ R^c``, both L2-normalised. Backbones:
  :func:`resnet_lvs` (ResNet-18s of :mod:`avlib.models.resnet`, the paper's) or
  :func:`feature_lvs` (projection heads on frozen world-pretrained features, the book scale).
- :func:`correspondence` — eq. (3), the cosine map ``S_{i→j}`` for every audio i and image j.
- :func:`soft_threshold` — the smoothed Heaviside ``sigmoid((S − ε)/τ)`` (Sec. 2.3).
- :func:`trimap` — positive ``m_p`` (ε_p = 0.65) and negative ``1 − m_n`` (ε_n = 0.4) regions, τ = 0.03.
- :func:`lvs_logits` / :func:`lvs_loss` — the training objective of Sec. 2.3 with hard
  negatives; :data:`METHODS` names the paper's method and the baselines as settings of the
  same loss (the logic is shared, not copied):

  =====================  =====================================================================
  ``lvs``                tri-map positive region vs other clips + own-image negative region
  ``no_trimap``          one threshold (ε_n = ε_p): no "ignore" zone
  ``no_hard_negatives``  positive region vs other clips only (AVObject / Objects-that-sound style)
  ``attention10k``       softmax attention over locations, attended vector vs other clips
                         (Senocak et al. 2018, unsupervised), no hard negatives
  =====================  =====================================================================

The logits follow the official code: ``[P_i, N_{i→j} for j ≠ i, N_i^hard] / 0.07`` and a
cross-entropy with the positive first. The paper writes one N_i that *sums* the negatives
inside one exponential; the code keeps them as separate logits with a temperature (we do
too; a listed deviation). Three settings of :class:`LVSLossConfig` name where code and paper differ:

- ``other_orientation`` — which pairs are the other-clip negatives of row i. ``"image"``
  (official code, the default): image i with every other clip j's audio, ``S_{j→i}``, pooled
  over image i's positive region for that audio (the code's ``A0 = einsum(img, audᵀ)``).
  ``"audio"`` (the paper's ``Σ_{j≠i} S_{i→j}``): audio i with every other image j. The two
  logit matrices are transposes of each other (off the diagonal).
- ``other_pool`` — the other clips' similarity pooled over the positive region
  (``"positive"``, official code, the default) or over the whole map (``"mean"``, the paper's
  ``(1/hw) Σ S``). The paper's mean pooling has a shortcut: a peaky, audio-agnostic map (e.g.
  bright image corners) makes the soft-max-pooled P_i exceed every mean-pooled negative
  without localizing anything; the chapter measures it.
- ``self_pair`` — how the own pair is removed from the all-pairs block. ``"mask"`` (avlib's
  default, a listed deviation): dropped, B − 1 other-clip logits. ``"times_minus_99"`` (official
  code): the block keeps all B columns and the own pair is multiplied by −99 (``1 − 100·I``),
  which suppresses it while its similarity is positive but turns a negative one into a large
  positive logit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import AudioResNet18, VisualResNet18


@dataclass(frozen=True)
class LVSLossConfig:
    """Settings of the one loss; the defaults are the paper's (Sec. 3.3) and the code's temperature."""
    pool: str = "trimap"            # "trimap" (soft positive region) or "attention" (Attention10k)
    hard_negatives: bool = True     # add the own image's negative region as a negative
    trimap: bool = True             # False: one threshold, ε_n = ε_p (no ignore zone)
    eps_p: float = 0.65
    eps_n: float = 0.40
    tau: float = 0.03
    temperature: float = 0.07
    other_pool: str = "positive"    # "positive" (official code) or "mean" (the paper's formula)
    other_orientation: str = "image"  # "image": image i vs other audios (official code); "audio": the paper's S_{i→j}
    self_pair: str = "mask"         # "mask" (avlib, a deviation) or "times_minus_99" (official code)
    attention_temperature: float = 0.03
    hard_weight: float = 1.0        # exp(N_hard) counted w times in the soft-max (logit + log w); 1: the paper's

    def __post_init__(self):
        if self.pool not in ("trimap", "attention"):
            raise ValueError(f"unknown pool {self.pool!r}; valid: 'trimap', 'attention'")
        if self.other_pool not in ("mean", "positive"):
            raise ValueError(f"unknown other_pool {self.other_pool!r}; valid: 'mean', 'positive'")
        if self.other_orientation not in ("image", "audio"):
            raise ValueError(f"unknown other_orientation {self.other_orientation!r}; valid: 'image' (official), "
                             "'audio' (paper)")
        if self.self_pair not in ("mask", "times_minus_99"):
            raise ValueError(f"unknown self_pair {self.self_pair!r}; valid: 'mask', 'times_minus_99' (official)")
        if not self.hard_weight > 0:
            raise ValueError(f"hard_weight must be positive, got {self.hard_weight}")
        if self.hard_weight != 1.0 and not self.hard_negatives:
            raise ValueError("hard_weight needs a loss with hard negatives (hard_negatives=True)")
        if self.trimap and self.eps_p < self.eps_n:
            raise ValueError(f"the tri-map needs eps_p >= eps_n, got {self.eps_p} < {self.eps_n}")


METHODS = {
    "lvs": LVSLossConfig(),
    "no_trimap": LVSLossConfig(trimap=False),
    "no_hard_negatives": LVSLossConfig(hard_negatives=False),
    "attention10k": LVSLossConfig(pool="attention", hard_negatives=False),
}
LABELS = {"lvs": "Ours (LVS)", "no_trimap": "Ours w/o tri-map", "no_hard_negatives": "AVObject-style (no hard neg.)",
          "attention10k": "Attention10k-style"}


def method_config(method: str, **overrides) -> LVSLossConfig:
    """The loss settings of a named method (:data:`METHODS`), with optional overrides (ε_p, ε_n, τ...)."""
    if method not in METHODS:
        raise ValueError(f"unknown LVS method {method!r}; valid: {sorted(METHODS)}")
    return replace(METHODS[method], **overrides)


class LVSNet(nn.Module):
    """Two-stream network, eqs. (1)–(2): returns L2-normalised ``V (B, D, h, w)`` and ``A (B, D)``.

    ``visual`` / ``audio``: backbones (``None``: the inputs are already features of
    ``visual_dim`` / ``audio_dim`` channels). ``heads``: add trainable projections (a 1×1 conv
    MLP on the map, an MLP on the audio vector) to ``dim`` channels; the paper has none.
    """

    def __init__(self, visual: nn.Module | None = None, audio: nn.Module | None = None, visual_dim: int = 512,
                 audio_dim: int = 512, dim: int | None = None, heads: bool = False):
        super().__init__()
        self.visual, self.audio = visual or nn.Identity(), audio or nn.Identity()
        dim = dim or visual_dim
        if heads:
            # a 1×1-conv MLP, written with Linear layers on channels-last maps (faster on CPU)
            self.v_head = nn.Sequential(nn.Linear(visual_dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
            self.a_head = nn.Sequential(nn.Linear(audio_dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
        elif visual_dim != audio_dim:
            raise ValueError(f"without heads the visual and audio dims must match: {visual_dim} vs {audio_dim}")
        else:
            self.v_head, self.a_head = nn.Identity(), nn.Identity()
        self.dim = dim

    def forward(self, image: torch.Tensor, audio: torch.Tensor):
        V = self.visual(image)
        if not isinstance(self.v_head, nn.Identity):
            V = self.v_head(V.movedim(1, -1)).movedim(-1, 1)
        V = F.normalize(V, dim=1)
        A = F.normalize(self.a_head(self.audio(audio)), dim=1)
        return V, A


def resnet_lvs(width: int = 64, layer3_stride: int = 2) -> LVSNet:
    """The paper's network: visual ResNet-18 (layer4 stride 1) + audio ResNet-18 (max pool), no heads."""
    v, a = VisualResNet18(width, layer3_stride), AudioResNet18(width)
    return LVSNet(v, a, v.out_channels, a.out_channels, heads=False)


def feature_lvs(visual_dim: int = 128, audio_dim: int = 128, dim: int = 128) -> LVSNet:
    """Projection heads on frozen pretrained features: inputs ``(B, Cv, h, w)`` maps and ``(B, Ca)`` vectors."""
    return LVSNet(None, None, visual_dim, audio_dim, dim, heads=True)


def correspondence(A: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Eq. (3): ``S[i, j, u, v] = <A_i, V_j[:, u, v]>`` for L2-normalised A ``(B, D)``, V ``(B, D, h, w)``.

    Returns ``(B_audio, B_image, h, w)``; the diagonal ``S[i, i]`` is each clip's own map.
    """
    return torch.einsum("id,jduv->ijuv", A, V)


def soft_threshold(S: torch.Tensor, eps: float, tau: float) -> torch.Tensor:
    """The smoothed Heaviside ``m̂ = sigmoid((S − ε)/τ)`` (Sec. 2.3)."""
    return torch.sigmoid((S - eps) / tau)


def trimap(S: torch.Tensor, eps_p: float = 0.65, eps_n: float = 0.4, tau: float = 0.03):
    """Tri-map of a map ``S``: ``(positive m̂_p, negative 1 − m̂_n)``; the rest is the ignore zone."""
    return soft_threshold(S, eps_p, tau), 1.0 - soft_threshold(S, eps_n, tau)


def _weighted_mean(S: torch.Tensor, log_w: torch.Tensor) -> torch.Tensor:
    """``Σ w S / Σ w`` over the last two dims, from log-weights (stable when all w ≈ 0)."""
    w = torch.softmax(log_w.flatten(-2), dim=-1)
    return (w * S.flatten(-2)).sum(-1)


def lvs_logits(S: torch.Tensor, cfg: LVSLossConfig = LVSLossConfig()) -> torch.Tensor:
    """Logits, positive first, from the all-pairs map ``S (B_audio, B_image, h, w)``.

    Row i: ``[P_i, other-clip negatives, N_i^hard]`` / temperature, with B − 1 other-clip
    columns (``self_pair="mask"``) or B (``"times_minus_99"``, the own pair × −99). The
    other-clip negatives of row i are image i with the other clips' audio (``"image"``,
    official) or audio i with the other images (``"audio"``, paper); see the module docstring.
    ``hard_weight`` w ≠ 1 raises the hard logit by ``log w`` (the LVS chapter's intervention: the hard
    negative's share of the gradient on the negatives grows about w-fold while it is small).
    """
    B = S.shape[0]
    eye = torch.eye(B, dtype=torch.bool, device=S.device)
    eps_n = cfg.eps_n if cfg.trimap else cfg.eps_p
    if cfg.pool == "attention":
        log_w = torch.log_softmax(S.flatten(-2) / cfg.attention_temperature, -1).view_as(S)
    else:
        log_w = F.logsigmoid((S - cfg.eps_p) / cfg.tau)          # log m̂_p
    pooled = _weighted_mean(S, log_w)                            # (B, B): [a, v] = region-pooled S_{a→v}
    pos = pooled.diagonal()                                      # P_i
    if cfg.pool == "attention" or cfg.other_pool == "positive":
        others = pooled
    else:
        others = S.mean(dim=(-2, -1))                            # (1/hw) Σ S_{a→v}
    if cfg.other_orientation == "image":
        others = others.T                                        # row i = image i, column j = audio j
    if cfg.self_pair == "mask":
        others = others[~eye].view(B, B - 1)
    else:
        others = others * (1.0 - 100.0 * eye.to(others.dtype))  # official: own pair × (−99)
    parts = [pos[:, None], others]
    if cfg.hard_negatives:
        own = S[torch.arange(B), torch.arange(B)]                # S_{i→i}
        parts.append(_weighted_mean(own, F.logsigmoid(-(own - eps_n) / cfg.tau))[:, None])  # N_i, 1 − m̂_n
    logits = torch.cat(parts, 1) / cfg.temperature
    if cfg.hard_weight != 1.0:
        logits = torch.cat([logits[:, :-1], logits[:, -1:] + math.log(cfg.hard_weight)], 1)
    return logits


def lvs_loss(V: torch.Tensor, A: torch.Tensor, cfg: LVSLossConfig = LVSLossConfig()) -> torch.Tensor:
    """The contrastive loss L of Sec. 2.3: cross-entropy with the positive logit first."""
    logits = lvs_logits(correspondence(A, V), cfg)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


@torch.no_grad()
def heatmaps(model: LVSNet, images: torch.Tensor, audio: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Each clip's own map ``S_{i→i}`` ``(N, h, w)``: what is evaluated (official code: ``A``)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for k in range(0, len(images), batch_size):
        V, A = model(images[k:k + batch_size].to(device), audio[k:k + batch_size].to(device))
        out.append(torch.einsum("id,iduv->iuv", A, V).float().cpu())
    return torch.cat(out)


def chance_loss(batch_size: int, hard_negatives: bool = True) -> float:
    """The loss of uniform logits, ``log(#logits)``: a reference for training curves."""
    return math.log(batch_size + (1 if hard_negatives else 0))
