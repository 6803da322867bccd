"""Discriminative Sounding Objects Localization (Hu et al., NeurIPS 2020) — the two-stage model.

Stage one (Sec. 3.1, appendix 8.1–8.2), on single-source (solo) scenes:

- :class:`DSOLNet` — the audio-visual localization network of Table 3: visual map f(v)
  → two 1×1 convs (128, 128); audio embedding g(a) → two FCs (128, 128); both
  L2-normalised; cosine-similarity map → 1×1 conv (no bias, weight initialised to 5) →
  sigmoid → the sounding-area map ``l``; global max pooling gives the match score.
- :func:`localization_loss` — Eq. 1: BCE of GMP(l(g(a_i), f(v_j))) against y_match
  (matched pairs and mismatched pairs from other videos, :func:`mismatch`).
- :func:`object_features` — Eq. 2: o_i = GAP(f(v_i) ∘ m_i), the mask m_i being the map
  binarised at ``mask_threshold`` (0.05) with the official code's dilation (:func:`dilate4`).
- :func:`build_dictionary` — Eq. 3: a K×C dictionary and pseudo-labels by k-means
  (scikit-learn) on L2-normalised features (official code).
- :func:`avlib.models.dsol_train.train_stage_one` — the alternating optimisation of Eq. 1 and the
  pseudo-label classification (appendix 8.2).

Stage two (Sec. 3.2), on cocktail-party scenes (mosaics and duets):

- :meth:`DSOLNet.class_maps` — Eq. 4 m^k = d^k · f(v) and Eq. 5 s^k = m^k ∘ l, which
  suppresses silent objects (``prod=False`` skips it, Table 7).
- :func:`avlib.models.dsol_train.stage_two_loss` — Eq. 6 p_v = softmax(GAP(s^k)), L_c against p_a
  from the stage-one audio classifier (frozen), Eq. 8 L_2 = L_c + λ·L_1 (λ = 0.5).
- :func:`avlib.models.dsol_train.predict_class_maps` — test-time maps, ``softmax(3·s)`` over the
  classes (official test code).

Training and the baselines live in :mod:`avlib.models.dsol_train` and :mod:`avlib.models.dsol_baselines`.

Where the official code (DTaoo/Discriminative-Sounding-Objects-Localization, ``music-exp``)
and the paper differ, :class:`DSOLConfig` names both; the default is the official code (what
produced the paper's numbers). Ablation variants (Tables 4–8) are settings too, not copies.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from torch import nn


@dataclass(frozen=True)
class DSOLConfig:
    """Hyperparameters; defaults follow the official code (noted where the paper differs)."""
    emb_dim: int = 128            # Table 3: Conv(128) / FC(128)
    loc_init: float = 5.0         # official code: 1×1 conv weight initialised to 5, no bias
    mask_threshold: float = 0.05  # Sec. 4.2 / Table 6
    #: object-mask dilation: "interior" (official: mask cells off the border spread to their 4
    #: neighbours), "all" (avlib's earlier variant: every mask cell spreads), "none" (the paper: no dilation)
    dilate: str = "interior"
    #: Eq. 2 pooling: "gap" (official and the paper's GAP: Σ masked features / (h·w)) or
    #: "masked_mean" (avlib's earlier variant: the mean over the mask's cells)
    object_pool: str = "gap"
    kmeans_l2: bool = True        # official: L2-normalise object features before k-means; False: raw (paper silent)
    #: k-means restarts: avlib runs 4 (a deviation, for stable clusters on small sets); the official code
    #: leaves scikit-learn's default (n_init="auto": one k-means++ run since scikit-learn 1.4; 10 before)
    kmeans_n_init: int = 4
    #: Eq. 1's BCE clamps its input to [eps, 1 - eps] (avlib); the official nn.BCELoss clamps the log at -100
    #: instead (eps = 0 here: log(0) then costs 100, as in nn.BCELoss)
    bce_eps: float = 1e-6
    n_clusters: int = 9           # K = number of classes (paper: 11 on MUSIC); Table 6 varies it
    alternating: bool = True      # Table 5
    cluster_from_epoch: int = 1   # official code: from the second epoch
    #: classifier re-initialisation: "every" (official and the paper's appendix: N(0, 0.01) weights,
    #: zero bias, a fresh Adam at every alternation) or "on_reorder" (avlib's earlier variant:
    #: PyTorch's default init when the cluster order changed, trained by the main optimiser)
    reinit: str = "every"
    cls_epochs: int = 3           # classification passes per alternation (official: class_iter = 3)
    cls_lr: float = 1e-3          # official: the fresh classifier Adam, lr 1e-3 (reinit="every")
    stage1_epochs: int = 12       # official: 15
    stage2_epochs: int = 8
    lam: float = 0.5              # Eq. 8, Table 4
    use_l1: bool = True           # Table 7
    use_prod: bool = True         # Table 7
    use_lc: bool = True           # Table 7
    #: L_c: "official" (``nn.KLDivLoss()(log p_v, p_a)``: KL(p_a‖p_v) summed per element and
    #: averaged over the B·K elements) or "paper" (Eq. 7: KL(p_v‖p_a), batch mean)
    lc_form: str = "official"
    #: Eq. 4: "official" (m^k = w·(f(v)·d^k) + b, the raw inner product with d^k the cluster mean
    #: of the raw object features and (w, b) one learnable scalar pair — the code's 1×1×1 Conv3d;
    #: p_v = softmax(GAP(s))) or "cosine" (avlib's earlier variant: cosine similarity with a
    #: learnable temperature, softmax over the K keys at each location, p_v = softmax(scale·GAP(s))).
    #: Default "cosine": a named deviation of the book (the chapter's Deviations section says why)
    class_maps: str = "cosine"
    #: test-time maps: softmax(test_softmax · s) over the classes at each location, after the
    #: product (official test code: 3; the paper: "softmax regression ... for better
    #: visualization"); None: s itself. Default None with class_maps="cosine", whose maps are
    #: already a softmax over the keys; use 3.0 with class_maps="official"
    test_softmax: float | None = None
    class_temp_init: float = 10.0  # temperature of the class maps (class_maps="cosine")
    dist_scale_init: float = 10.0  # scale of GAP(s^k) before the softmax of Eq. 6 (class_maps="cosine")
    lr: float = 1e-3              # paper: 1e-4 (more epochs); see the chapter's deviations
    weight_decay: float = 1e-4
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self):
        choices = {"dilate": ("interior", "all", "none"), "object_pool": ("gap", "masked_mean"),
                   "reinit": ("every", "on_reorder"), "lc_form": ("official", "paper"),
                   "class_maps": ("official", "cosine")}
        if isinstance(self.dilate, bool):  # dilate=True/False: the official dilation / none
            object.__setattr__(self, "dilate", "interior" if self.dilate else "none")
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown DSOLConfig.{name} {getattr(self, name)!r}; valid: {valid}")

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
        self.register_buffer("dictionary", torch.zeros(n_clusters, C))   # D of Eq. 3 (stage two's keys)
        self.register_buffer("centres", torch.zeros(n_clusters, C))      # k-means centres (cluster assignment)
        self.class_temp = nn.Parameter(torch.tensor(float(cfg.class_temp_init)))
        self.dist_scale = nn.Parameter(torch.tensor(float(cfg.dist_scale_init)))
        if cfg.class_maps == "official":  # the code's obj_conv: one scalar weight and bias on m^k
            self.obj_conv = nn.Conv3d(1, 1, 1)

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

    def reset_classifiers(self, std: float | None = None, generator: torch.Generator | None = None):
        """Re-initialise both pseudo-label classifiers (appendix 8.2).

        ``std`` (official code: 0.01): weights N(0, std²) drawn from ``generator``, zero bias;
        ``None``: PyTorch's default initialisation (global RNG)."""
        for layer in (self.v_cls, self.a_cls):
            if std is None:
                layer.reset_parameters()
                continue
            with torch.no_grad():
                w = torch.randn(layer.weight.shape, generator=generator) * std
                layer.weight.copy_(w.to(layer.weight.device))
                layer.bias.zero_()

    # -- stage two ------------------------------------------------------------------------
    def class_maps(self, fv, lmap=None, prod: bool = True):
        """Eq. 4–5: class-aware maps m^k and (with ``prod``) s^k = m^k ∘ l, shape (B, K, h, w).

        ``class_maps="official"``: m^k = w·(f(v)·d^k) + b, the inner product of each location
        with the key d^k and the code's scalar 1×1×1 convolution. ``"cosine"`` (avlib's earlier
        variant): cosine similarity scaled by a learnable temperature, softmax over the K keys.
        """
        if self.cfg.class_maps == "official":
            m = self.obj_conv(torch.einsum("bchw,kc->bkhw", fv, self.dictionary)[:, None])[:, 0]
        else:
            d = F.normalize(self.dictionary, dim=1)
            sim = torch.einsum("bchw,kc->bkhw", F.normalize(fv, dim=1), d)
            m = torch.softmax(self.class_temp * sim, dim=1)
        return m * lmap if (prod and lmap is not None) else m

    def visual_distribution_logits(self, s):
        """Eq. 6 before the softmax: GAP(s^k) (official), × a learnable scale for ``"cosine"`` maps."""
        g = s.mean((2, 3))
        return g if self.cfg.class_maps == "official" else self.dist_scale * g

    def audio_distribution(self, a):
        """p_a: softmax of the audio pseudo-label classifier (Eq. 7's target)."""
        return torch.softmax(self.a_cls(self.audio(a)), dim=1)


# ---- stage one ----------------------------------------------------------------------------

def mismatch(n: int, generator: torch.Generator, groups=None) -> torch.Tensor:
    """Indices pairing each sample with one of another video (official: the negative image comes
    from a different video). A random derangement by a cyclic shift, so no index is paired with
    itself (n ≥ 2); every sample is its own video unless ``groups`` (video ids, length n) says
    otherwise, in which case pairs within a group are redrawn among the other groups."""
    if n < 2:
        raise ValueError(f"mismatch needs at least 2 samples to pair each with another one, got {n}")
    perm = torch.randperm(n, generator=generator)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    idx = perm[(inv + 1) % n]
    if groups is not None:
        g = torch.as_tensor(np.asarray(groups))
        for i in torch.nonzero(g[idx] == g).flatten().tolist():
            other = torch.nonzero(g != g[i]).flatten()
            if len(other) == 0:
                raise ValueError("mismatch: every sample of the batch belongs to one video; no negative exists")
            idx[i] = other[torch.randint(len(other), (1,), generator=generator)].item()
    return idx


def localization_loss(model: DSOLNet, v, a, generator: torch.Generator):
    """Eq. 1: BCE(y_match, GMP(l(g(a_i), f(v_j)))) over matched (i = j) and mismatched pairs."""
    fv, ga = model.visual(v), model.audio(a)
    return _loc_loss(model, fv, ga, generator)


def _loc_loss(model, fv, ga, generator, v_emb=None):
    v_emb = model.embed_visual(fv) if v_emb is None else v_emb
    eps = model.cfg.bce_eps
    pos_score = model.av_map(fv, ga, v_emb).amax(dim=(-2, -1)).squeeze(1)
    if len(fv) < 2:  # a batch of one has no other video: the positive term only
        return F.binary_cross_entropy(pos_score.clamp(eps, 1 - eps), torch.ones_like(pos_score))
    neg = mismatch(len(fv), generator)
    neg_score = model.av_map(fv, ga[neg], v_emb).amax(dim=(-2, -1)).squeeze(1)
    scores = torch.cat([pos_score, neg_score]).clamp(eps, 1 - eps)
    target = torch.cat([torch.ones_like(pos_score), torch.zeros_like(neg_score)])
    return F.binary_cross_entropy(scores, target)


def dilate4(mask: torch.Tensor, mode: str = "interior") -> torch.Tensor:
    """4-neighbour binary dilation of masks (B, h, w).

    ``"interior"`` (official ``location_dilation``): every mask cell stays, and only the cells
    off the border (0 < i < h−1, 0 < j < w−1) spread to their 4 neighbours (no cascade).
    ``"all"`` (avlib's earlier variant): every mask cell spreads. ``"none"``: the mask itself."""
    m = mask.bool()
    if mode == "none":
        return m
    if mode not in ("interior", "all"):
        raise ValueError(f"unknown dilation {mode!r}; valid: 'interior' (official), 'all', 'none'")
    src = m.clone()
    if mode == "interior":
        inner = torch.zeros_like(m)
        inner[:, 1:-1, 1:-1] = True
        src = src & inner
    kernel = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=torch.float32, device=m.device)[None, None]
    return m | (F.conv2d(src.float()[:, None], kernel, padding=1)[:, 0] > 0)


def object_features(fmap, lmap, threshold: float = 0.05, dilate="interior", pool: str = "gap") -> torch.Tensor:
    """Eq. 2: o = GAP(f(v) ∘ m) with m = [l > threshold], dilated (:func:`dilate4`).

    ``pool="gap"`` (official code and the paper's GAP): Σ_cells f(v)·m / (h·w), an empty mask
    giving a zero vector. ``"masked_mean"`` (avlib's earlier variant): the mean over the mask's
    cells, an empty mask falling back to the map's arg-max cell. ``dilate``: a :func:`dilate4`
    mode, or True / False for the official dilation / none. ``fmap`` (B, C, h, w), ``lmap``
    (B, h, w) or (B, 1, h, w).
    """
    fmap, lmap = torch.as_tensor(fmap).float(), torch.as_tensor(lmap).float()
    if lmap.dim() == 4:
        lmap = lmap[:, 0]
    if isinstance(dilate, bool):
        dilate = "interior" if dilate else "none"
    mask = dilate4(lmap > threshold, dilate)
    if pool == "gap":
        return (fmap * mask.float()[:, None]).mean((2, 3))
    if pool != "masked_mean":
        raise ValueError(f"unknown pool {pool!r}; valid: 'gap' (official), 'masked_mean'")
    flat = lmap.flatten(1)
    empty = ~mask.flatten(1).any(1)
    if empty.any():
        top = F.one_hot(flat.argmax(1), flat.shape[1]).bool().reshape(mask.shape)
        mask = torch.where(empty[:, None, None], top, mask)
    w = mask.float()[:, None]
    return (fmap * w).sum((2, 3)) / w.sum((2, 3))


def build_dictionary(features, k: int, seed: int = 0, n_init: int = 4, l2: bool = True,
                     return_centres: bool = False):
    """Eq. 3 by k-means: (dictionary D (K, C) float32, pseudo-labels y (N,) int64[, centres]).

    ``l2`` (official code): k-means on the L2-normalised features, and D = the per-cluster mean
    of the raw features (the official stage-two keys); ``centres`` are the k-means centres (in
    the normalised space), for assigning new features (:func:`assign_clusters`). Without
    ``l2`` the k-means runs on the raw features and D = the centres."""
    x = np.asarray(features, dtype=np.float64)
    z = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12) if l2 else x
    km = KMeans(k, n_init=n_init, random_state=seed).fit(z)
    labels, centres = km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32)
    if l2:
        D = np.stack([x[labels == c].mean(0) if (labels == c).any() else np.zeros(x.shape[1]) for c in range(k)])
        D = D.astype(np.float32)
    else:
        D = centres
    return (D, labels, centres) if return_centres else (D, labels)


def assign_clusters(model: "DSOLNet", features) -> np.ndarray:
    """Nearest k-means centre of each feature (L2-normalised first when ``cfg.kmeans_l2``)."""
    f = torch.as_tensor(features).float().to(model.centres.device)
    if model.cfg.kmeans_l2:
        f = F.normalize(f, dim=1)
    return torch.cdist(f, model.centres.float()).argmin(1).cpu().numpy()


def order_changed(old_labels, new_labels, k: int) -> bool:
    """Whether the best one-to-one matching of the new clusters to the old ones is not the identity."""
    if old_labels is None:
        return True
    cont = np.zeros((k, k))
    np.add.at(cont, (np.asarray(new_labels), np.asarray(old_labels)), 1)
    rows, cols = linear_sum_assignment(-cont)
    return not np.array_equal(cols[np.argsort(rows)], np.arange(k))
