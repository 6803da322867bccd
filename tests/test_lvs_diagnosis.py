"""The LVS chapter's hard-negative diagnosis: shares of the loss's gradient and cell-ranking AUC."""
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from avlib.experiments.lvs_diagnosis import batch_shares, cell_ranking_auc, grid_cover, negative_shares
from avlib.models.lvs import METHODS, correspondence, feature_lvs, lvs_logits, lvs_loss


def test_negative_shares_hand_worked():
    logits = torch.tensor([[3.0, 1.0, 0.0, 1.0],     # hard negative ties the hardest other clip
                           [0.0, 0.0, 0.0, 2.0]])    # hard negative is the hardest
    out = negative_shares(logits, temperature=0.1)
    e = math.e
    assert out["share"].tolist() == pytest.approx([e / (2 * e + 1), e ** 2 / (2 + e ** 2)])
    assert out["hardest"].tolist() == [False, True]   # a tie is not "harder"
    assert out["margin"].tolist() == pytest.approx([0.05, 0.2])


def test_share_is_the_hard_negatives_part_of_the_gradient():
    """∂CE/∂logit_k = p_k on a negative: the share is grad_hard / Σ grad_negatives of the loss itself."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 9, generator=g, requires_grad=True)
    F.cross_entropy(logits, torch.zeros(6, dtype=torch.long), reduction="sum").backward()
    grad = logits.grad
    expect = grad[:, -1] / grad[:, 1:].sum(1)
    assert negative_shares(logits.detach(), 0.07)["share"].tolist() == pytest.approx(expect.tolist())


def test_negative_shares_rejects_logits_without_negatives():
    with pytest.raises(ValueError, match="hard negative"):
        negative_shares(torch.zeros(3, 2), 0.07)


def test_cell_ranking_auc_hand_worked():
    gt = torch.zeros(1, 4, 4)
    gt[0, :2, :2] = 1.0                                           # the source covers the top-left cell of a 2×2 map
    assert cell_ranking_auc(torch.tensor([[[1.0, 0.0], [0.5, 0.5]]]), gt) == 1.0
    # source 0.5 against 0, 0.5 (a tie, one half) and 1: (1 + 0.5 + 0) / 3
    assert cell_ranking_auc(torch.tensor([[[0.5, 0.0], [0.5, 1.0]]]), gt) == pytest.approx(0.5)
    silent = torch.zeros(1, 4, 4, dtype=torch.bool)
    silent[0, 2:, 2:] = True                                      # only the bottom-right cell is a negative
    assert cell_ranking_auc(torch.tensor([[[0.5, 0.0], [0.5, 1.0]]]), gt, silent) == 0.0
    # a cell half covered by the source is a source cell, not also one of the rest
    half = torch.zeros(1, 4, 4)
    half[0, :2, :1] = 1.0                                         # covers half of the top-left cell
    assert cell_ranking_auc(torch.tensor([[[1.0, 0.0], [0.5, 0.5]]]), half) == 1.0
    # a map that is not square: pooled to its own grid
    wide = torch.zeros(1, 4, 8)
    wide[0, :2, :2] = 1.0
    assert cell_ranking_auc(torch.tensor([[[0.5, 0.0, 0.2, 0.1], [0.3, 0.0, 0.2, 0.9]]]), wide) == pytest.approx(6 / 7)
    # no negative cell in any image: nothing to rank
    assert math.isnan(cell_ranking_auc(torch.ones(1, 2, 2), gt, torch.zeros(1, 4, 4, dtype=torch.bool)))


def _split(n=24, c=8, h=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"visual": torch.randn(n, c, h, h, generator=g).half(), "audio": torch.randn(n, c, generator=g), "n": n}


def test_batch_shares_matches_the_logits_of_each_batch():
    torch.manual_seed(0)
    model, split, cfg = feature_lvs(8, 8, 4), _split(), METHODS["lvs"]
    got = batch_shares(model, split, cfg, batch_size=8, n_batches=2, seed=3)
    order = torch.randperm(split["n"], generator=torch.Generator().manual_seed(3))
    refs = []
    with torch.no_grad():
        for idx in (order[:8], order[8:16]):   # the first two batches of the permutation, nothing else
            V, A = model(split["visual"][idx].float(), split["audio"][idx].float())
            refs.append(negative_shares(lvs_logits(correspondence(A, V), cfg), cfg.temperature))
    ref = {k: torch.cat([r[k] for r in refs]).float() for k in refs[0]}
    assert got["share (%)"] == pytest.approx(100 * float(ref["share"].mean()))
    assert got["hardest (%)"] == pytest.approx(100 * float(ref["hardest"].mean()))
    assert got["margin"] == pytest.approx(float(ref["margin"].mean()))
    assert got == batch_shares(model, split, cfg, batch_size=8, n_batches=2, seed=3)   # same batches, same numbers
    assert got != batch_shares(model, split, cfg, batch_size=8, n_batches=1, seed=3)   # the second batch counts
    # the paper's mean-pooled other clips give the hard negative a different share on the same maps
    assert batch_shares(model, split, replace(cfg, other_pool="mean"), batch_size=8, n_batches=1, seed=3) != got


def test_batch_shares_clear_errors():
    model, split = feature_lvs(8, 8, 4), _split()
    with pytest.raises(ValueError, match="hard_negatives=True"):
        batch_shares(model, split, METHODS["no_hard_negatives"])
    with pytest.raises(ValueError, match="self_pair='mask'"):
        batch_shares(model, split, replace(METHODS["lvs"], self_pair="times_minus_99"))
    with pytest.raises(ValueError, match="no batch of 64"):
        batch_shares(model, split, METHODS["lvs"], batch_size=64)


def test_hard_weight_raises_the_hard_logit_by_log_w():
    g = torch.Generator().manual_seed(1)
    V = F.normalize(torch.randn(5, 4, 3, 3, generator=g), dim=1)
    A = F.normalize(torch.randn(5, 4, generator=g), dim=1)
    cfg = METHODS["lvs"]
    assert torch.equal(lvs_loss(V, A, replace(cfg, hard_weight=1.0)), lvs_loss(V, A, cfg))   # w = 1: the loss itself
    logits = lvs_logits(correspondence(A, V), cfg)
    weighted = {w: lvs_loss(V, A, replace(cfg, hard_weight=w)) for w in (4.0, 64.0)}
    for w, loss in weighted.items():
        p = torch.softmax(logits, 1)
        expect = -torch.log(p[:, 0] / (1 + (w - 1) * p[:, -1])).mean()               # exp(N_hard) counted w times
        assert float(loss) == pytest.approx(float(expect), rel=1e-5)
    assert weighted[64.0] > weighted[4.0] > lvs_loss(V, A, cfg)
    with pytest.raises(ValueError, match="positive"):
        replace(cfg, hard_weight=0.0)
    with pytest.raises(ValueError, match="hard_negatives=True"):
        replace(METHODS["no_hard_negatives"], hard_weight=4.0)


def test_grid_cover_by_hand():
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2, :1] = True                                    # half of the top-left 2×2 cell
    mask[0, 2:, 2:] = True                                    # all of the bottom-right one
    assert torch.equal(grid_cover(mask, (2, 2)), torch.tensor([[[0.5, 0.0], [0.0, 1.0]]]))
    assert grid_cover(mask, (3, 3)).shape == (1, 3, 3)        # cells of unequal size


def test_the_runner_trains_and_caches_the_weighted_loss_apart(tmp_path, monkeypatch):
    """overrides={"hard_weight": w} trains another model under its own cache key; w = 1 is LVS itself."""
    from avlib.experiments import lvs as X
    import avlib.train as T
    monkeypatch.setattr(T, "DEFAULT_CACHE", tmp_path)
    cfg = X.settings("smoke")
    cfg.update(backbone="resnet18", width=4, dim=None, steps=2, batch_size=8, selection="last")
    train = X.world_split("train", 16, cfg, cache_dir=tmp_path)
    base, _ = X.train_one("lvs", train, 0, cfg, torch.device("cpu"))
    same, _ = X.train_one("lvs", train, 0, cfg, torch.device("cpu"), {"hard_weight": 1.0})
    heavy, _ = X.train_one("lvs", train, 0, cfg, torch.device("cpu"), {"hard_weight": 1000.0})
    assert all(torch.equal(v, same.state_dict()[k]) for k, v in base.state_dict().items())
    assert any(not torch.equal(v, heavy.state_dict()[k]) for k, v in base.state_dict().items())
    assert len(list(tmp_path.glob("lvs-lvs-*.pt"))) == 2
