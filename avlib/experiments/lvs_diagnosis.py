"""Why hard negatives change little: what the own-image negative contributes to LVS's loss.

The LVS loss (Sec. 2.3; :func:`avlib.models.lvs.lvs_logits`) is a cross-entropy over the logits
``[P_i, N_{i←j} (j ≠ i), N_i^hard] / temperature``. The gradient on a negative logit is its
soft-max probability, so the share of the negatives' gradient that the own image's hard negative
receives is ``p_hard / (1 − p_pos)``: the measure of how much the term can move the model. With
``B − 1`` other clips, a negative as hard as an average other clip takes ``1 / B``.

- :func:`negative_shares` — per row of a logit matrix: that share, whether the hard negative is
  the hardest negative, and its margin over the mean other-clip negative (in cosine units).
- :func:`batch_shares` — the same over a model's training batches (no gradients, fixed batches).
- :func:`grid_cover` — how much of each cell of a map's grid a pixel mask covers.
- :func:`cell_ranking_auc` — per image, how well a map ranks the source's cells above the other
  cells (or above the silent objects' cells): the part of localization a hard negative could change.

The intervention, the hard negative counted ``w`` times in the soft-max, is a setting of the loss
(:attr:`avlib.models.lvs.LVSLossConfig.hard_weight`) that the LVS runner trains through its overrides.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..models.lvs import LVSLossConfig, correspondence, lvs_logits


def negative_shares(logits: torch.Tensor, temperature: float) -> dict:
    """Per row of ``logits (B, 1 + K + 1)`` ordered ``[positive, K other clips, own hard negative]``.

    Returns tensors of shape ``(B,)``: ``share`` = p_hard / Σ_negatives p (the hard negative's
    part of the gradient on the negatives), ``hardest`` (bool: its logit exceeds every other-clip
    logit) and ``margin`` = (hard − mean other-clip logit) × ``temperature`` (cosine units).
    """
    if logits.dim() != 2 or logits.shape[1] < 3:
        raise ValueError(f"need logits (B, positive + ≥1 other clip + hard negative), got {tuple(logits.shape)}")
    others = logits[:, 1:-1]
    return {"share": torch.softmax(logits[:, 1:], 1)[:, -1],   # p_hard / Σ p_negatives: the positive cancels
            "hardest": logits[:, -1] > others.max(1).values,
            "margin": (logits[:, -1] - others.mean(1)) * temperature}


@torch.no_grad()
def batch_shares(model, split: dict, loss_cfg: LVSLossConfig, batch_size: int = 64, n_batches: int = 30,
                 seed: int = 0) -> dict:
    """:func:`negative_shares` over ``n_batches`` training batches of ``split`` (a fixed permutation
    drawn from ``seed``: every model sees the same batches), with ``loss_cfg``'s hard negative
    whether or not the model was trained with it. Returns the three means (share and hardest in %).
    Puts the model in eval mode."""
    if not loss_cfg.hard_negatives:
        raise ValueError("the diagnosis measures the hard negative: use a loss config with hard_negatives=True")
    if loss_cfg.self_pair != "mask":
        raise ValueError("the diagnosis needs the own pair masked out of the other-clip logits (self_pair='mask'); "
                         f"with {loss_cfg.self_pair!r} it would count as a negative")
    model.eval()
    device = next(model.parameters()).device
    order = torch.randperm(split["n"], generator=torch.Generator().manual_seed(seed))
    n = min(n_batches, split["n"] // batch_size)
    if n < 1:
        raise ValueError(f"a split of {split['n']} clips holds no batch of {batch_size}")
    parts = []
    for k in range(n):
        idx = order[k * batch_size:(k + 1) * batch_size]
        V, A = model(split["visual"][idx].float().to(device), split["audio"][idx].float().to(device))
        parts.append(negative_shares(lvs_logits(correspondence(A, V), loss_cfg).cpu(), loss_cfg.temperature))
    cat = {k: torch.cat([p[k] for p in parts]).float() for k in parts[0]}
    return {"share (%)": 100 * float(cat["share"].mean()), "hardest (%)": 100 * float(cat["hardest"].mean()),
            "margin": float(cat["margin"].mean())}


def grid_cover(mask: torch.Tensor, grid) -> torch.Tensor:
    """The fraction of each cell of a ``grid = (h, w)`` that ``mask (N, S, S)`` (bool, pixels) covers:
    ``(N, h, w)`` in [0, 1] (adaptive average pooling; cells of unequal size where ``S`` is no multiple)."""
    return F.adaptive_avg_pool2d(mask.float()[:, None], tuple(grid))[:, 0]


def cell_ranking_auc(maps: torch.Tensor, gt: torch.Tensor, against: torch.Tensor | None = None,
                     cover: float = 0.5) -> float:
    """Mean per-image AUC of a map's cells: source cells above the others (ties count one half).

    ``maps (N, h, w)``; ``gt (N, S, S)`` (> 0 on the source) and ``against (N, S, S)`` (bool, the
    negatives; ``None``: every non-source cell) are pooled to the map's grid, and a cell belongs to a
    set when the set covers at least ``cover`` of it (a cell that is a source cell is never a
    negative). Images without both kinds of cells are left out; NaN when none has both.
    """
    grid = tuple(maps.shape[-2:])
    src = grid_cover(gt > 0, grid).flatten(1)
    neg = grid_cover(against, grid).flatten(1) if against is not None else 1.0 - src
    aucs = []
    for m, s, n in zip(maps.flatten(1), src, neg):
        pos, other = m[s >= cover], m[(n >= cover) & (s < cover)]
        if len(pos) and len(other):
            diff = pos[:, None] - other[None]
            aucs.append(float((diff > 0).float().mean() + 0.5 * (diff == 0).float().mean()))
    return float(np.mean(aucs)) if aucs else float("nan")
