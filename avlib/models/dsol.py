"""Discriminative Sounding Objects Localization (Hu et al., NeurIPS 2020) — the two-stage model.

Stage one (Sec. 3.1, appendix 8.1–8.2), on single-source (solo) scenes:

- :class:`DSOLNet` — the audio-visual localization network of Table 3: visual map f(v)
  → two 1×1 convs (128, 128); audio embedding g(a) → two FCs (128, 128); both
  L2-normalised; cosine-similarity map → 1×1 conv (no bias, weight initialised to 5) →
  sigmoid → the sounding-area map ``l``; global max pooling gives the match score.
- :func:`localization_loss` — Eq. 1: BCE of GMP(l(g(a_i), f(v_j))) against y_match
  (matched pairs and mismatched pairs from other videos).
- :func:`object_features` — Eq. 2: o_i = GAP(f(v_i) ∘ m_i), the mask m_i being the map
  binarised at ``mask_threshold`` (0.05), with the official code's 4-neighbour dilation
  and masked mean.
- :func:`build_dictionary` — Eq. 3: a K×C dictionary and pseudo-labels by k-means
  (scikit-learn).
- :func:`train_stage_one` — the alternating optimisation of Eq. 1 and the pseudo-label
  classification (appendix 8.2), classifiers re-initialised when the cluster order changes.

Stage two (Sec. 3.2), on cocktail-party scenes (mosaics and duets):

- :meth:`DSOLNet.class_maps` — Eq. 4 (m^k = d^k · f(v), here as a cosine similarity with a
  learnable temperature and a softmax over classes at each location) and Eq. 5, the product
  s^k = m^k ∘ l that suppresses silent objects (``prod=False`` skips it, Table 7).
- :func:`stage_two_loss` — Eq. 6 p_v = softmax(GAP(s^k)), Eq. 7 L_c = KL(p_v ‖ p_a) with p_a from
  the stage-one audio classifier (frozen), Eq. 8 L_2 = L_c + λ·L_1 (λ = 0.5).

Ablation variants (Tables 4–8) are settings of :class:`DSOLConfig`, not copies.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from torch import nn

from ..train import batches


@dataclass(frozen=True)
class DSOLConfig:
    """Hyperparameters; defaults follow the paper / official code unless noted."""
    emb_dim: int = 128            # Table 3: Conv(128) / FC(128)
    loc_init: float = 5.0         # official code: 1×1 conv weight initialised to 5, no bias
    mask_threshold: float = 0.05  # Sec. 4.2 / Table 6
    dilate: bool = True           # official code: 4-neighbour dilation of the object mask
    n_clusters: int = 9           # K = number of classes (paper: 11 on MUSIC); Table 6 varies it
    alternating: bool = True      # Table 5
    cluster_from_epoch: int = 1   # official code: from the second epoch
    cls_epochs: int = 1           # classification passes per alternation (official: 3 iterations)
    stage1_epochs: int = 12       # official: 15
    stage2_epochs: int = 8
    lam: float = 0.5              # Eq. 8, Table 4
    use_l1: bool = True           # Table 7
    use_prod: bool = True         # Table 7
    use_lc: bool = True           # Table 7
    class_temp_init: float = 10.0  # temperature of the class maps (Eq. 4)
    dist_scale_init: float = 10.0  # scale of GAP(s^k) before the softmax of Eq. 6
    lr: float = 1e-3              # paper: 1e-4 (more epochs); see the chapter's deviations
    weight_decay: float = 1e-4
    batch_size: int = 32
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class Pointwise(nn.Module):
    """A per-location MLP on a (B, C, h, w) map — 1×1 convolutions, computed as channels-last
    matrix products (much faster than ``Conv2d`` with 1×1 kernels on a CPU)."""

    def __init__(self, *dims: int, last_relu: bool = False):
        super().__init__()
        layers = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2 or last_relu:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        return self.mlp(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def VisualTop(c_in: int, c_out: int) -> Pointwise:
    """The trainable last layer of the visual network: f(v) = ReLU(W · trunk(v) + b), per location."""
    return Pointwise(c_in, c_out, last_relu=True)


class DSOLNet(nn.Module):
    """Audio-visual localization network (Table 3) with the classifiers and the stage-two maps.

    ``visual_trunk`` maps the visual input to a (B, C, h, w) map and ``audio_trunk`` the
    audio input to (B, D); ``nn.Identity()`` when the inputs are cached features of frozen
    pretrained encoders.
    """

    def __init__(self, visual_dim: int, audio_dim: int, n_clusters: int, cfg: DSOLConfig = DSOLConfig(),
                 visual_trunk: nn.Module | None = None, audio_trunk: nn.Module | None = None):
        super().__init__()
        e, C = cfg.emb_dim, visual_dim
        self.cfg = cfg
        self.visual_trunk = visual_trunk or nn.Identity()
        self.audio_trunk = audio_trunk or nn.Identity()
        self.visual_top = VisualTop(visual_dim, C)
        self.audio_top = nn.Sequential(nn.Linear(audio_dim, audio_dim), nn.ReLU())
        self.v_loc = Pointwise(C, e, e)
        self.a_loc = nn.Sequential(nn.Linear(audio_dim, e), nn.ReLU(), nn.Linear(e, e))
        self.loc_conv = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.constant_(self.loc_conv.weight, cfg.loc_init)
        self.v_cls = nn.Linear(C, n_clusters)
        self.a_cls = nn.Linear(audio_dim, n_clusters)
        self.register_buffer("dictionary", torch.zeros(n_clusters, C))
        self.class_temp = nn.Parameter(torch.tensor(float(cfg.class_temp_init)))
        self.dist_scale = nn.Parameter(torch.tensor(float(cfg.dist_scale_init)))

    # -- the two streams ------------------------------------------------------------------
    def visual(self, v):
        """f(v): (B, C, h, w)."""
        return self.visual_top(self.visual_trunk(v))

    def audio(self, a):
        """g(a): (B, D)."""
        return self.audio_top(self.audio_trunk(a))

    def av_map(self, fv, ga, v_emb=None):
        """Sounding-area map l(g(a), f(v)) in (0, 1), shape (B, 1, h, w) (Table 3).

        ``v_emb`` (the normalised visual embedding, :meth:`embed_visual`) may be passed to
        reuse it across several audio inputs."""
        v = self.embed_visual(fv) if v_emb is None else v_emb
        a = F.normalize(self.a_loc(ga), dim=1)
        cos = torch.einsum("bchw,bc->bhw", v, a)[:, None]
        return torch.sigmoid(self.loc_conv(cos))

    def embed_visual(self, fv):
        """L2-normalised localization embedding of the visual map (Table 3's two 1×1 convs)."""
        return F.normalize(self.v_loc(fv), dim=1)

    def forward(self, v, a):
        """(sounding-area map, match score = GMP of the map) for aligned batches ``v``, ``a``."""
        lmap = self.av_map(self.visual(v), self.audio(a))
        return lmap, lmap.amax(dim=(-2, -1)).squeeze(1)

    def reset_classifiers(self, generator: torch.Generator | None = None):
        """Re-initialise both pseudo-label classifiers (appendix 8.2)."""
        for layer in (self.v_cls, self.a_cls):
            layer.reset_parameters()

    # -- stage two ------------------------------------------------------------------------
    def class_maps(self, fv, lmap=None, prod: bool = True):
        """Eq. 4–5: class-aware maps m^k and (with ``prod``) s^k = m^k ∘ l, shape (B, K, h, w).

        m^k compares each location of f(v) with the dictionary key d^k (cosine similarity
        scaled by a learnable temperature; softmax over the K keys at each location).
        """
        d = F.normalize(self.dictionary, dim=1)
        sim = torch.einsum("bchw,kc->bkhw", F.normalize(fv, dim=1), d)
        m = torch.softmax(self.class_temp * sim, dim=1)
        return m * lmap if (prod and lmap is not None) else m

    def audio_distribution(self, a):
        """p_a: softmax of the audio pseudo-label classifier (Eq. 7's target)."""
        return torch.softmax(self.a_cls(self.audio(a)), dim=1)


# ---- stage one ----------------------------------------------------------------------------

def mismatch(n: int, generator: torch.Generator) -> torch.Tensor:
    """Indices pairing each sample with another one (a random derangement by a cyclic shift)."""
    perm = torch.randperm(n, generator=generator)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    return perm[(inv + 1) % n] if n > 1 else perm


def localization_loss(model: DSOLNet, v, a, generator: torch.Generator):
    """Eq. 1: BCE(y_match, GMP(l(g(a_i), f(v_j)))) over matched (i = j) and mismatched pairs."""
    fv, ga = model.visual(v), model.audio(a)
    return _loc_loss(model, fv, ga, generator)


def _loc_loss(model, fv, ga, generator, v_emb=None):
    neg = mismatch(len(fv), generator)
    v_emb = model.embed_visual(fv) if v_emb is None else v_emb
    pos_score = model.av_map(fv, ga, v_emb).amax(dim=(-2, -1)).squeeze(1)
    neg_score = model.av_map(fv, ga[neg], v_emb).amax(dim=(-2, -1)).squeeze(1)
    scores = torch.cat([pos_score, neg_score]).clamp(1e-6, 1 - 1e-6)
    target = torch.cat([torch.ones_like(pos_score), torch.zeros_like(neg_score)])
    return F.binary_cross_entropy(scores, target)


def dilate4(mask: torch.Tensor) -> torch.Tensor:
    """4-neighbour binary dilation of masks (B, h, w)."""
    m = mask.float()[:, None]
    kernel = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=m.dtype)[None, None]
    return (F.conv2d(m, kernel, padding=1)[:, 0] > 0)


def object_features(fmap, lmap, threshold: float = 0.05, dilate: bool = True) -> torch.Tensor:
    """Eq. 2: o = GAP(f(v) ∘ m) with m = [l > threshold]; masked mean over the mask's cells.

    ``fmap`` (B, C, h, w), ``lmap`` (B, h, w) or (B, 1, h, w). An empty mask falls back to
    the map's arg-max cell, so that every sample gets a feature.
    """
    fmap, lmap = torch.as_tensor(fmap).float(), torch.as_tensor(lmap).float()
    if lmap.dim() == 4:
        lmap = lmap[:, 0]
    mask = lmap > threshold
    if dilate:
        mask = dilate4(mask)
    flat = lmap.flatten(1)
    empty = ~mask.flatten(1).any(1)
    if empty.any():
        top = F.one_hot(flat.argmax(1), flat.shape[1]).bool().reshape(mask.shape)
        mask = torch.where(empty[:, None, None], top, mask)
    w = mask.float()[:, None]
    return (fmap * w).sum((2, 3)) / w.sum((2, 3))


def build_dictionary(features, k: int, seed: int = 0, n_init: int = 4):
    """Eq. 3 by k-means: (dictionary D (K, C) float32, pseudo-labels y (N,) int64)."""
    km = KMeans(k, n_init=n_init, random_state=seed).fit(np.asarray(features, dtype=np.float64))
    return km.cluster_centers_.astype(np.float32), km.labels_.astype(np.int64)


def order_changed(old_labels, new_labels, k: int) -> bool:
    """Whether the best one-to-one matching of the new clusters to the old ones is not the identity."""
    if old_labels is None:
        return True
    cont = np.zeros((k, k))
    np.add.at(cont, (np.asarray(new_labels), np.asarray(old_labels)), 1)
    rows, cols = linear_sum_assignment(-cont)
    return not np.array_equal(cols[np.argsort(rows)], np.arange(k))


@torch.no_grad()
def infer(model: DSOLNet, v, a, batch_size: int = 256) -> dict:
    """Stage-one outputs over a split: f(v) maps, sounding-area maps, global and object features."""
    model.eval()
    out = {"fmap": [], "lmap": []}
    for vb, ab in batches(v, a, batch_size=batch_size):
        fv = model.visual(vb)
        out["fmap"].append(fv)
        out["lmap"].append(model.av_map(fv, model.audio(ab))[:, 0])
    fmap, lmap = torch.cat(out["fmap"]), torch.cat(out["lmap"])
    return {"fmap": fmap, "lmap": lmap, "global": fmap.mean((2, 3)),
            "object": object_features(fmap, lmap, model.cfg.mask_threshold, model.cfg.dilate)}


def _epoch(model, opt, v, a, cfg, epoch, loss_fn):
    model.train()
    total, count = 0.0, 0
    for b in batches(v, a, torch.arange(len(v)), batch_size=cfg.batch_size, shuffle=True,
                     seed=cfg.seed * 1000 + epoch):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(*b)
        loss.backward()
        opt.step()
        total, count = total + float(loss.detach()), count + 1
    return total / max(count, 1)


def train_stage_one(model: DSOLNet, v, a, progress=None) -> dict:
    """Stage one: Eq. 1 with (``cfg.alternating``) pseudo-label classification in alternation.

    Each epoch trains the localization objective; from ``cluster_from_epoch`` on, object
    features (Eq. 2) are clustered (Eq. 3), the classifiers are re-initialised when the
    cluster order changed, and both streams are trained to classify the pseudo-labels for
    ``cls_epochs`` passes. Without alternation the dictionary and the audio classifier are
    built once at the end (the visual network never sees the classification loss).
    Returns a history; the final dictionary is stored in ``model.dictionary``.
    """
    cfg = model.cfg
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    hist = {"loc_loss": [], "cls_loss": [], "reinit": []}
    labels = None
    for epoch in range(cfg.stage1_epochs):
        hist["loc_loss"].append(_epoch(model, opt, v, a, cfg, epoch,
                                       lambda vb, ab, _: localization_loss(model, vb, ab, gen)))
        if cfg.alternating and epoch >= cfg.cluster_from_epoch:
            labels = _cluster_and_classify(model, opt, v, a, labels, hist, epoch, visual=True)
        if progress:
            progress(epoch)
    if not cfg.alternating:  # dictionary + audio classifier only, the visual stream untouched
        _cluster_and_classify(model, opt, v, a, None, hist, cfg.stage1_epochs, visual=False)
    return hist


def _cluster_and_classify(model, opt, v, a, old, hist, epoch, visual: bool):
    cfg = model.cfg
    obj = infer(model, v, a)["object"]
    centres, labels = build_dictionary(obj.numpy(), cfg.n_clusters, seed=cfg.seed + epoch)
    model.dictionary.copy_(torch.from_numpy(centres))
    changed = order_changed(old, labels, cfg.n_clusters)
    hist["reinit"].append(bool(changed))
    if changed:
        model.reset_classifiers()
    y = torch.from_numpy(labels)
    params = list(model.a_cls.parameters()) + list(model.audio_top.parameters()) + list(model.audio_trunk.parameters())
    cls_opt = opt if visual else torch.optim.Adam(params, lr=cfg.lr)

    def cls_loss(vb, ab, idx):
        la = F.cross_entropy(model.a_cls(model.audio(ab)), y[idx])
        if not visual:
            return la
        return la + F.cross_entropy(model.v_cls(model.visual(vb).mean((2, 3))), y[idx])

    for e in range(cfg.cls_epochs if visual else max(cfg.cls_epochs, 3)):
        hist["cls_loss"].append(_epoch(model, cls_opt, v, a, cfg, 10_000 + 10 * epoch + e, cls_loss))
    if visual:  # re-extract with the updated visual stream, keep labels for the order check
        return labels
    return labels


# ---- stage two ----------------------------------------------------------------------------

def stage_two_loss(model: DSOLNet, v, a, p_audio, generator: torch.Generator):
    """Eq. 8: L_2 = L_c + λ·L_1 (terms switched by ``use_lc`` / ``use_l1``; Eq. 5 by ``use_prod``)."""
    cfg = model.cfg
    fv, ga = model.visual(v), model.audio(a)
    v_emb = model.embed_visual(fv)
    lmap = model.av_map(fv, ga, v_emb)
    loss = fv.new_zeros(())
    if cfg.use_lc:
        s = model.class_maps(fv, lmap, prod=cfg.use_prod)
        log_pv = torch.log_softmax(model.dist_scale * s.mean((2, 3)), dim=1)       # Eq. 6
        log_pa = torch.log(p_audio.clamp_min(1e-6))
        loss = loss + (log_pv.exp() * (log_pv - log_pa)).sum(1).mean()            # Eq. 7
    if cfg.use_l1:
        loss = loss + cfg.lam * _loc_loss(model, fv, ga, generator, v_emb)          # Eq. 1 in Eq. 8
    return loss


def train_stage_two(model: DSOLNet, v, a, progress=None) -> dict:
    """Stage two on cocktail-party scenes; the dictionary and the audio classifier stay fixed."""
    cfg = model.cfg
    with torch.no_grad():
        model.eval()
        p_audio = torch.cat([model.audio_distribution(ab) for (ab,) in batches(a, batch_size=256)])
    teacher = copy.deepcopy(model.a_cls)  # frozen audio classifier (Eq. 7's p_a)
    model.a_cls.requires_grad_(False)
    params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(("v_cls", "a_cls"))]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    hist = {"loss": []}
    for epoch in range(cfg.stage2_epochs):
        hist["loss"].append(_epoch(model, opt, v, a, cfg, 500 + epoch,
                                   lambda vb, ab, idx: stage_two_loss(model, vb, ab, p_audio[idx], gen)))
        if progress:
            progress(epoch)
    model.a_cls.load_state_dict(teacher.state_dict())
    return hist


@torch.no_grad()
def predict_class_maps(model: DSOLNet, v, a, batch_size: int = 256, prod: bool | None = None):
    """Class-aware maps s^k (N, K, h, w) and sounding-area maps l (N, h, w) over a split."""
    model.eval()
    prod = model.cfg.use_prod if prod is None else prod
    s_all, l_all = [], []
    for vb, ab in batches(v, a, batch_size=batch_size):
        fv = model.visual(vb)
        lmap = model.av_map(fv, model.audio(ab))
        s_all.append(model.class_maps(fv, lmap, prod=prod))
        l_all.append(lmap[:, 0])
    return torch.cat(s_all), torch.cat(l_all)


def cluster_maps_to_classes(maps, cluster_to_class, n_classes: int):
    """Aggregate cluster maps (N, K, h, w) into class maps (N, n_classes, h, w) by max over the
    clusters aligned to each class (zeros for a class no cluster maps to)."""
    maps = torch.as_tensor(maps)
    out = maps.new_zeros(maps.shape[0], n_classes, *maps.shape[2:])
    for k, c in enumerate(np.asarray(cluster_to_class)):
        out[:, c] = torch.maximum(out[:, c], maps[:, k])
    return out


# ---- class-agnostic baselines on the same inputs (Table 1 / Table 2) -------------------------

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
        out = []
        for vb, ab in batches(v, a, batch_size=batch_size):
            sim = self._sim(vb, ab)[0]
            if self.kind == "ots":
                out.append(torch.sigmoid(self.calib[0] * sim + self.calib[1]))
            else:
                att = torch.softmax(sim.flatten(1) / self.temp, 1).reshape(sim.shape)
                lo, hi = att.amin((1, 2), keepdim=True), att.amax((1, 2), keepdim=True)
                out.append((att - lo) / (hi - lo).clamp_min(1e-12))
        return torch.cat(out)
