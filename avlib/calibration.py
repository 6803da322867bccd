"""World calibration: how hard is the default ``events`` world for simple baselines?

Trains :class:`~avlib.models.baselines.SegmentClassifier` on frozen features for audio
only, visual only and both (synchronized), and reports per-segment test accuracy. The
world chapter shows the result; the chapters rely on it landing in a useful range.
"""
from __future__ import annotations

import torch
from torch import nn

from .metrics import segment_accuracy
from .models.baselines import MODALITIES, SegmentClassifier
from .repro import resolve_device, seed_everything
from .train import batches, fit

AVE_SPLIT = (3339, 402, 402)  # AVE's train / val / test sizes


def ave_split(n: int) -> tuple[slice, slice, slice]:
    """Train / val / test slices of ``n`` videos in AVE's proportions (at least 1 val and test)."""
    total = sum(AVE_SPLIT)
    n_val = max(1, round(n * AVE_SPLIT[1] / total))
    n_test = max(1, round(n * AVE_SPLIT[2] / total))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"need at least 3 videos for an AVE-like split, got {n}")
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)


def segment_baseline(feats: dict, modality: str, seed: int = 0, epochs: int = 30, lr: float = 1e-3,
                     batch_size: int = 64, device="cpu", progress: bool = False) -> dict:
    """Train a per-segment classifier on frozen ``events`` features; test accuracy with val selection.

    ``device``: ``"cpu"``, ``"cuda"``, ``"auto"`` or a ``torch.device``; resolved once. The
    features are moved to it once (training and validation run there, no per-batch copies).
    """
    device = resolve_device(device)
    seed_everything(seed)
    tr, va, te = ave_split(len(feats["segment_labels"]))
    # the classifier max-pools the 7×7 map; pooling once here gives the same numbers, faster
    V = torch.from_numpy(feats["visual"]).float().amax(dim=(2, 3))
    A = torch.from_numpy(feats["audio"])
    Y = torch.from_numpy(feats["segment_labels"])
    K = int(len(feats["classes"])) + 1
    model = SegmentClassifier(modality, V.shape[-1], A.shape[-1], K, device=device)
    Vd, Ad, Yd = V.to(device), A.to(device), Y.to(device)  # resident on the training device

    def loss_fn(m, b):
        return nn.functional.cross_entropy(m(b[0], b[1]).flatten(0, 1), b[2].flatten())

    def acc(m, s):
        with torch.no_grad():
            return segment_accuracy(m(Vd[s], Ad[s]).argmax(-1).cpu().numpy(), Y[s].numpy())

    hist = fit(model, lambda e: batches(Vd[tr], Ad[tr], Yd[tr], batch_size=batch_size, shuffle=True, seed=seed * 1000 + e),
               loss_fn, epochs=epochs, lr=lr, weight_decay=1e-4, val_fn=lambda m: acc(m, va), device=device,
               progress=progress, desc=f"baseline {modality}")
    test = acc(model, te)
    model.cpu()
    return {"modality": modality, "seed": seed, "val": hist.best_val, "test": test,
            "best_epoch": hist.best_epoch}


def calibrate(feats: dict, seeds=(0, 1, 2), device="cpu", **kw) -> list[dict]:
    """:func:`segment_baseline` for every modality and seed (``device`` resolved once)."""
    kw["device"] = resolve_device(device)
    return [segment_baseline(feats, m, s, **kw) for m in MODALITIES for s in seeds]
