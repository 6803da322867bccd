"""DSOL model pieces (Hu et al. 2020): Table 3 network, Eq. 1–8, masking, dictionary, product."""
import numpy as np
import pytest
import torch

from avlib.models import dsol as M


def _net(K=3, C=8, D=6, **cfg):
    torch.manual_seed(0)
    return M.DSOLNet(C, D, K, M.DSOLConfig(emb_dim=8, n_clusters=K, **cfg))


def test_av_map_shapes_range_and_init():
    net = _net()
    lmap, score = net(torch.randn(4, 8, 7, 7), torch.randn(4, 6))
    assert lmap.shape == (4, 1, 7, 7) and score.shape == (4,)
    assert (lmap > 0).all() and (lmap < 1).all()
    torch.testing.assert_close(score, lmap.amax((2, 3))[:, 0])
    assert net.loc_conv.bias is None and net.loc_conv.weight.item() == 5.0
    # cosine in [-1, 1] then ×5 → map within sigmoid(±5)
    assert lmap.min() >= torch.sigmoid(torch.tensor(-5.0)) - 1e-6


def test_localization_loss_has_gradients_and_decreases():
    net = _net()
    v, a = torch.randn(16, 8, 7, 7), torch.randn(16, 6)
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = M.localization_loss(net, v, a, gen)
    first.backward()
    assert net.v_loc.mlp[0].weight.grad.abs().sum() > 0 and net.a_loc[0].weight.grad.abs().sum() > 0
    for _ in range(30):
        opt.zero_grad()
        loss = M.localization_loss(net, v, a, gen)
        loss.backward()
        opt.step()
    assert loss.item() < first.item()


def test_mismatch_never_pairs_a_sample_with_itself():
    idx = M.mismatch(10, torch.Generator().manual_seed(1))
    assert sorted(idx.tolist()) == list(range(10)) and (idx != torch.arange(10)).all()


def test_object_features_masked_mean_hand_worked():
    fmap = torch.zeros(1, 2, 3, 3)
    fmap[0, 0] = torch.arange(9.0).reshape(3, 3)
    fmap[0, 1] = 1.0
    lmap = torch.zeros(1, 3, 3)
    lmap[0, 0, 0], lmap[0, 2, 2] = 0.9, 0.06       # two cells above 0.05
    o = M.object_features(fmap, lmap, threshold=0.05, dilate=False)
    torch.testing.assert_close(o, torch.tensor([[(0 + 8) / 2, 1.0]]))
    # with the 4-neighbour dilation the mask grows to cells 0, 1, 3 and 5, 7, 8
    o = M.object_features(fmap, lmap, threshold=0.05, dilate=True)
    torch.testing.assert_close(o, torch.tensor([[(0 + 1 + 3 + 5 + 7 + 8) / 6, 1.0]]))


def test_object_features_empty_mask_falls_back_to_the_peak():
    fmap = torch.arange(18.0).reshape(1, 2, 3, 3)
    lmap = torch.full((1, 3, 3), 0.01)
    lmap[0, 1, 2] = 0.02
    o = M.object_features(fmap, lmap, threshold=0.05, dilate=False)
    torch.testing.assert_close(o, torch.tensor([[5.0, 14.0]]))


def test_dictionary_by_kmeans_and_cluster_order_check():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c * 10, 0.1, (20, 4)) for c in range(3)])
    D, y = M.build_dictionary(x, 3, seed=0)
    assert D.shape == (3, 4) and len(np.unique(y)) == 3
    assert not M.order_changed(y, y, 3)
    assert M.order_changed(y, (y + 1) % 3, 3)
    assert M.order_changed(None, y, 3)


def test_stage_two_product_suppresses_a_silent_class():
    net = _net(K=2, C=2)
    net.dictionary.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    fv = torch.zeros(1, 2, 2, 2)
    fv[0, 0, 0, 0] = 1.0               # class-0 object at (0, 0): sounding
    fv[0, 1, 1, 1] = 1.0               # class-1 object at (1, 1): silent
    fv[0, :, 0, 1] = fv[0, :, 1, 0] = 0.5  # background
    lmap = torch.zeros(1, 1, 2, 2)
    lmap[0, 0, 0, 0] = 1.0             # the sounding area covers only the class-0 object
    m = net.class_maps(fv, lmap, prod=False)
    s = net.class_maps(fv, lmap, prod=True)
    assert m[0, 1, 1, 1] > 0.99        # without Prod the silent object lights up its class map
    assert s[0, 1].max() < 1e-3        # with Prod (Eq. 5) it is suppressed
    assert s[0, 0, 0, 0] > 0.99


def test_stage_two_loss_terms_follow_the_settings():
    v, a = torch.randn(8, 8, 7, 7), torch.randn(8, 6)
    p = torch.softmax(torch.randn(8, 3), 1)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    full = M.stage_two_loss(_net(), v, a, p, gen())
    only_l1 = M.stage_two_loss(_net(use_lc=False), v, a, p, gen())
    only_lc = M.stage_two_loss(_net(use_l1=False), v, a, p, gen())
    torch.testing.assert_close(full, only_lc + only_l1)
    lam1 = M.stage_two_loss(_net(use_lc=False, lam=1.0), v, a, p, gen())
    torch.testing.assert_close(lam1, 2 * only_l1)
    assert only_lc.item() >= 0


def test_train_stage_one_alternates_and_builds_a_dictionary():
    net = _net(K=2, stage1_epochs=2, stage2_epochs=1, cluster_from_epoch=1, batch_size=8)
    v = torch.randn(16, 8, 7, 7)
    a = torch.randn(16, 6)
    hist = M.train_stage_one(net, v, a)
    assert len(hist["loc_loss"]) == 2 and hist["reinit"] == [True] and len(hist["cls_loss"]) == 1
    assert net.dictionary.abs().sum() > 0
    hist2 = M.train_stage_two(net, v, a)
    assert len(hist2["loss"]) == net.cfg.stage2_epochs


def test_cluster_maps_to_classes_takes_the_max_of_aligned_clusters():
    maps = torch.tensor([[[[0.1]], [[0.7]], [[0.3]]]])       # 3 clusters, 1×1 maps
    out = M.cluster_maps_to_classes(maps, [1, 0, 1], n_classes=3)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.7, 0.3, 0.0]))


def test_baselines_give_maps_in_unit_range():
    for kind in ("ots", "attention"):
        net = M.BaselineNet(kind, 8, 6, emb=8)
        loss = net.loss(torch.randn(4, 8, 7, 7), torch.randn(4, 6), torch.Generator().manual_seed(0))
        loss.backward()
        m = net.maps(torch.randn(4, 8, 7, 7), torch.randn(4, 6))
        assert m.shape == (4, 7, 7) and m.min() >= 0 and m.max() <= 1
    with pytest.raises(ValueError, match="unknown baseline"):
        M.BaselineNet("dmc", 8, 6)
