"""Class-agnostic localization baselines of the DSOL chapter (Hu et al. 2020, Tables 1–2), on the
same frozen features and trainable visual top as :class:`avlib.models.dsol.DSOLNet`.

- :class:`BaselineNet` — Object-that-sound-style and Attention-style maps.
- :class:`LVSBaseline` — the LVS chapter's model (:mod:`avlib.models.lvs`, imported, not copied).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics.localization import normalize_maps
from ..train import batches
from .dsol import VisualTop, mismatch


class BaselineNet(nn.Module):
    """Class-agnostic localization baselines on the same frozen features and trainable top.

    - ``"ots"`` — Object-that-sound-style (Arandjelović & Zisserman 2018, AVOL-Net): per-location
      dot product of visual and audio embeddings, max pooled, calibrated (scale, bias) and
      sigmoid; BCE on corresponding vs non-corresponding pairs. Map = the per-location sigmoid.
    - ``"attention"`` — Attention-style (Senocak et al. 2018, unsupervised): softmax attention
      over locations from the cosine similarity with the sound; the attended visual vector is
      pulled towards the sound embedding and pushed from another clip's (triplet, margin 0.2).
      Map = the attention, min-max normalised.
    """

    def __init__(self, kind: str, visual_dim: int, audio_dim: int, emb: int = 128):
        super().__init__()
        if kind not in ("ots", "attention"):
            raise ValueError(f"unknown baseline {kind!r}; valid: 'ots', 'attention'")
        self.kind = kind
        self.visual_top = VisualTop(visual_dim, visual_dim)
        self.v_emb = nn.Conv2d(visual_dim, emb, 1)
        self.a_emb = nn.Sequential(nn.Linear(audio_dim, emb), nn.ReLU(), nn.Linear(emb, emb))
        self.calib = nn.Parameter(torch.tensor([1.0, 0.0]))
        self.temp = 0.1

    def _sim(self, v, a):
        fv, ga = self.v_emb(self.visual_top(v)), self.a_emb(a)
        if self.kind == "ots":
            return (fv * ga[:, :, None, None]).sum(1) / fv.shape[1] ** 0.5, fv, ga
        return (F.normalize(fv, dim=1) * F.normalize(ga, dim=1)[:, :, None, None]).sum(1), fv, ga

    def loss(self, v, a, generator):
        neg = mismatch(len(v), generator)
        if self.kind == "ots":
            pos = self._sim(v, a)[0].amax((1, 2))
            negs = self._sim(v, a[neg])[0].amax((1, 2))
            logits = self.calib[0] * torch.cat([pos, negs]) + self.calib[1]
            target = torch.cat([torch.ones_like(pos), torch.zeros_like(negs)])
            return F.binary_cross_entropy_with_logits(logits, target)
        sim, fv, ga = self._sim(v, a)
        att = torch.softmax(sim.flatten(1) / self.temp, 1)
        z = F.normalize((fv.flatten(2) * att[:, None]).sum(2), dim=1)
        h = F.normalize(ga, dim=1)
        d_pos = (z - h).pow(2).sum(1)
        d_neg = (z - h[neg]).pow(2).sum(1)
        return F.relu(d_pos - d_neg + 0.2).mean()

    @torch.no_grad()
    def maps(self, v, a, batch_size: int = 256) -> torch.Tensor:
        """Localization maps (N, h, w) in [0, 1]."""
        self.eval()
        dev = self.calib.device
        out = []
        for vb, ab in batches(v, a, batch_size=batch_size):
            sim = self._sim(vb.to(dev), ab.to(dev))[0]
            if self.kind == "ots":
                out.append(torch.sigmoid(self.calib[0] * sim + self.calib[1]))
            else:
                att = torch.softmax(sim.flatten(1) / self.temp, 1).reshape(sim.shape)
                lo, hi = att.amin((1, 2), keepdim=True), att.amax((1, 2), keepdim=True)
                out.append((att - lo) / (hi - lo).clamp_min(1e-12))
        return torch.cat(out).cpu()


class LVSBaseline(nn.Module):
    """The LVS chapter's model (Chen et al. 2021; :func:`avlib.models.lvs.feature_lvs` and
    :func:`avlib.models.lvs.lvs_loss`, imported, not copied) on the same frozen features;
    its cosine maps are min-max normalised to [0, 1] for NSA."""

    def __init__(self, visual_dim: int, audio_dim: int):
        super().__init__()
        from . import lvs
        self.lvs = lvs
        self.net = lvs.feature_lvs(visual_dim, audio_dim, 128)
        self.loss_cfg = lvs.method_config("lvs")

    def loss(self, v, a, generator=None):
        V, A = self.net(v, a)
        return self.lvs.lvs_loss(V, A, self.loss_cfg)

    @torch.no_grad()
    def maps(self, v, a) -> torch.Tensor:
        return normalize_maps(self.lvs.heatmaps(self.net, v, a))
