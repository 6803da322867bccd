"""DSOL (Hu et al., NeurIPS 2020): training of the two stages and test-time maps.

- :func:`infer` — stage-one outputs over a split (maps, global and object features).
- :func:`train_stage_one` — Eq. 1 alternating with the pseudo-label classification (appendix 8.2).
- :func:`lc_loss`, :func:`stage_two_loss`, :func:`train_stage_two` — Eq. 6–8.
- :func:`predict_class_maps`, :func:`cluster_maps_to_classes` — test-time class maps.

Every function runs on the model's device; inputs may stay on the CPU (batches are moved).
The model, the losses of stage one and :class:`~avlib.models.dsol.DSOLConfig` are in
:mod:`avlib.models.dsol` (these names are re-exported there).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ..train import batches
from .dsol import (DSOLNet, _loc_loss, build_dictionary, localization_loss, object_features,
                   order_changed)


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def infer(model: DSOLNet, v, a, batch_size: int = 256) -> dict:
    """Stage-one outputs over a split (on the model's device): f(v) maps, sounding-area maps,
    global and object features (Eq. 2 with the config's dilation and pooling)."""
    model.eval()
    dev = _device(model)
    out = {"fmap": [], "lmap": []}
    for vb, ab in batches(v, a, batch_size=batch_size):
        fv = model.visual(vb.to(dev))
        out["fmap"].append(fv)
        out["lmap"].append(model.av_map(fv, model.audio(ab.to(dev)))[:, 0])
    fmap, lmap = torch.cat(out["fmap"]), torch.cat(out["lmap"])
    cfg = model.cfg
    return {"fmap": fmap, "lmap": lmap, "global": fmap.mean((2, 3)),
            "object": object_features(fmap, lmap, cfg.mask_threshold, cfg.dilate, cfg.object_pool)}


class _Optimizers:
    """Several optimisers stepped together (official: the main one and the fresh classifier one)."""

    def __init__(self, *opts):
        self.opts = opts

    def zero_grad(self, set_to_none: bool = True):
        for o in self.opts:
            o.zero_grad(set_to_none=set_to_none)

    def step(self):
        for o in self.opts:
            o.step()


def _epoch(model, opt, v, a, cfg, epoch, loss_fn):
    model.train()
    dev = _device(model)
    total, count = 0.0, 0
    for vb, ab, idx in batches(v, a, torch.arange(len(v)), batch_size=cfg.batch_size, shuffle=True,
                               seed=cfg.seed * 1000 + epoch):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(vb.to(dev), ab.to(dev), idx)
        loss.backward()
        opt.step()
        total, count = total + float(loss.detach()), count + 1
    return total / max(count, 1)


_CLS = ("v_cls.", "a_cls.")


def train_stage_one(model: DSOLNet, v, a, progress=None) -> dict:
    """Stage one: Eq. 1 with (``cfg.alternating``) pseudo-label classification in alternation.

    Each epoch trains the localization objective; from ``cluster_from_epoch`` on, object
    features (Eq. 2) are clustered (Eq. 3), the classifiers re-initialised (``cfg.reinit``)
    and both streams trained to classify the pseudo-labels for ``cls_epochs`` passes. Without
    alternation the dictionary and the audio classifier are built once at the end (the visual
    network never sees the classification loss). Trains on the model's device (``v``, ``a``
    may stay on the CPU; batches are moved). Returns a history; the final dictionary is stored
    in ``model.dictionary``.
    """
    cfg = model.cfg
    gen = torch.Generator().manual_seed(cfg.seed)
    # official: the main optimiser leaves the classifiers to their own (fresh) optimiser
    params = [p for n, p in model.named_parameters() if cfg.reinit == "on_reorder" or not n.startswith(_CLS)]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    hist = {"loc_loss": [], "cls_loss": [], "reinit": [], "reorder": []}
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
    dev = _device(model)
    obj = infer(model, v, a)["object"].cpu()
    D, labels, centres = build_dictionary(obj.numpy(), cfg.n_clusters, seed=cfg.seed + epoch, l2=cfg.kmeans_l2,
                                          n_init=cfg.kmeans_n_init, return_centres=True)
    model.dictionary.copy_(torch.from_numpy(D))
    model.centres.copy_(torch.from_numpy(centres))
    changed = order_changed(old, labels, cfg.n_clusters)
    hist["reorder"].append(bool(changed))
    audio_params = list(model.audio_top.parameters()) + list(model.audio_trunk.parameters())
    if cfg.reinit == "every":  # official: N(0, 0.01), zero bias, fresh Adam, at every alternation
        model.reset_classifiers(std=0.01, generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        cls_params = list(model.a_cls.parameters()) + (list(model.v_cls.parameters()) if visual else [])
        cls_opt = torch.optim.Adam(cls_params, lr=cfg.cls_lr, weight_decay=cfg.weight_decay)
        main = opt if visual else torch.optim.Adam(audio_params, lr=cfg.lr)
        step_opt = _Optimizers(main, cls_opt)
        hist["reinit"].append(True)
    else:
        if changed:
            model.reset_classifiers()
        hist["reinit"].append(bool(changed))
        step_opt = opt if visual else torch.optim.Adam(list(model.a_cls.parameters()) + audio_params, lr=cfg.lr)
    y = torch.from_numpy(labels).to(dev)

    def cls_loss(vb, ab, idx):
        la = F.cross_entropy(model.a_cls(model.audio(ab)), y[idx.to(dev)])
        if not visual:
            return la
        return la + F.cross_entropy(model.v_cls(model.visual(vb).mean((2, 3))), y[idx.to(dev)])

    for e in range(cfg.cls_epochs if visual else max(cfg.cls_epochs, 3)):
        hist["cls_loss"].append(_epoch(model, step_opt, v, a, cfg, 10_000 + 10 * epoch + e, cls_loss))
    return labels


# ---- stage two ----------------------------------------------------------------------------

def lc_loss(log_pv: torch.Tensor, p_audio: torch.Tensor, form: str = "official") -> torch.Tensor:
    """L_c between the visual (log-)distribution ``log_pv`` and the audio one ``p_audio`` (B, K).

    ``"official"``: ``nn.KLDivLoss()(log_pv, p_audio)`` with the default mean reduction —
    Σ p_a (log p_a − log p_v) per element, averaged over the B·K elements (KL(p_a‖p_v) / K).
    ``"paper"`` (Eq. 7): KL(p_v‖p_a) = Σ_k p_v (log p_v − log p_a), averaged over the batch."""
    if form == "official":
        return (torch.xlogy(p_audio, p_audio) - p_audio * log_pv).mean()
    if form == "paper":
        log_pa = torch.log(p_audio.clamp_min(1e-6))
        return (log_pv.exp() * (log_pv - log_pa)).sum(1).mean()
    raise ValueError(f"unknown lc_form {form!r}; valid: 'official', 'paper'")


def stage_two_loss(model: DSOLNet, v, a, p_audio, generator: torch.Generator):
    """Eq. 8: L_2 = L_c + λ·L_1 (terms switched by ``use_lc`` / ``use_l1``; Eq. 5 by ``use_prod``)."""
    cfg = model.cfg
    fv, ga = model.visual(v), model.audio(a)
    v_emb = model.embed_visual(fv)
    lmap = model.av_map(fv, ga, v_emb)
    loss = fv.new_zeros(())
    if cfg.use_lc:
        s = model.class_maps(fv, lmap, prod=cfg.use_prod)
        log_pv = torch.log_softmax(model.visual_distribution_logits(s), dim=1)     # Eq. 6
        loss = loss + lc_loss(log_pv, p_audio, cfg.lc_form)                          # Eq. 7
    if cfg.use_l1:
        loss = loss + cfg.lam * _loc_loss(model, fv, ga, generator, v_emb)          # Eq. 1 in Eq. 8
    return loss


def train_stage_two(model: DSOLNet, v, a, progress=None) -> dict:
    """Stage two on cocktail-party scenes (on the model's device); the dictionary and the audio
    classifier stay fixed."""
    cfg = model.cfg
    dev = _device(model)
    with torch.no_grad():
        model.eval()
        p_audio = torch.cat([model.audio_distribution(ab.to(dev)) for (ab,) in batches(a, batch_size=256)])
    teacher = copy.deepcopy(model.a_cls)  # frozen audio classifier (Eq. 7's p_a)
    model.a_cls.requires_grad_(False)
    params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(_CLS)]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    hist = {"loss": []}
    for epoch in range(cfg.stage2_epochs):
        hist["loss"].append(_epoch(model, opt, v, a, cfg, 500 + epoch,
                                   lambda vb, ab, idx: stage_two_loss(model, vb, ab, p_audio[idx.to(dev)], gen)))
        if progress:
            progress(epoch)
    model.a_cls.load_state_dict(teacher.state_dict())
    return hist


@torch.no_grad()
def predict_class_maps(model: DSOLNet, v, a, batch_size: int = 256, prod: bool | None = None):
    """Class-aware maps (N, K, h, w) and sounding-area maps l (N, h, w) over a split, on the CPU.

    The class maps are s^k (Eq. 5), then — ``cfg.test_softmax`` (official test code: 3) —
    ``softmax(3·s)`` over the K classes at each location, after the product."""
    model.eval()
    dev = _device(model)
    prod = model.cfg.use_prod if prod is None else prod
    t = model.cfg.test_softmax
    s_all, l_all = [], []
    for vb, ab in batches(v, a, batch_size=batch_size):
        fv = model.visual(vb.to(dev))
        lmap = model.av_map(fv, model.audio(ab.to(dev)))
        s = model.class_maps(fv, lmap, prod=prod)
        s_all.append((torch.softmax(t * s, dim=1) if t is not None else s).cpu())
        l_all.append(lmap[:, 0].cpu())
    return torch.cat(s_all), torch.cat(l_all)


REDUCES = ("sum", "max")


def cluster_maps_to_classes(maps, cluster_to_class, n_classes: int, reduce: str = "sum"):
    """Aggregate cluster maps (N, K, h, w) into class maps (N, n_classes, h, w) over the clusters
    assigned to each class (zeros for a class no cluster maps to).

    ``reduce="sum"``: the official evaluation's ``np.sum(pred[row == 1], 0)`` (``eval.py``,
    ``eval_duet.py``); ``"max"``: avlib's former aggregation (an option).
    """
    if reduce not in REDUCES:
        raise ValueError(f"unknown reduce {reduce!r}; valid: {REDUCES}")
    maps = torch.as_tensor(maps)
    out = maps.new_zeros(maps.shape[0], n_classes, *maps.shape[2:])
    for k, c in enumerate(np.asarray(cluster_to_class)):
        out[:, c] = out[:, c] + maps[:, k] if reduce == "sum" else torch.maximum(out[:, c], maps[:, k])
    return out
