"""DSOL model pieces (Hu et al. 2020): Table 3 network, Eq. 1–8, masking, dictionary, product."""
import math
import warnings

import numpy as np
import pytest
import torch

from avlib.models import dsol as M
from avlib.models import dsol_baselines as B
from avlib.models import dsol_train as T


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
    for n in range(2, 40):
        for seed in range(5):
            idx = M.mismatch(n, torch.Generator().manual_seed(seed))
            assert (idx != torch.arange(n)).all()
    # clips of one video (``groups``) are never paired with each other
    groups = [0, 0, 1, 1, 2, 2, 2]
    for seed in range(20):
        idx = M.mismatch(7, torch.Generator().manual_seed(seed), groups=groups)
        assert all(groups[i] != groups[j] for i, j in enumerate(idx.tolist()))
    with pytest.raises(ValueError, match="at least 2"):
        M.mismatch(1, torch.Generator())


def test_object_features_gap_vs_masked_mean_hand_worked():
    fmap = torch.zeros(1, 2, 3, 3)
    fmap[0, 0] = torch.arange(9.0).reshape(3, 3)
    fmap[0, 1] = 1.0
    lmap = torch.zeros(1, 3, 3)
    lmap[0, 0, 0], lmap[0, 2, 2] = 0.9, 0.06       # two (border) cells above 0.05
    # official / Eq. 2's GAP: the sum over the mask divided by all h·w = 9 cells
    o = M.object_features(fmap, lmap, threshold=0.05, dilate="none")
    torch.testing.assert_close(o, torch.tensor([[(0 + 8) / 9, 2 / 9]]))
    # avlib's earlier masked mean: divided by the 2 mask cells
    o = M.object_features(fmap, lmap, threshold=0.05, dilate="none", pool="masked_mean")
    torch.testing.assert_close(o, torch.tensor([[(0 + 8) / 2, 1.0]]))
    # border cells do not spread under the official dilation; every cell spreads under "all"
    torch.testing.assert_close(M.object_features(fmap, lmap, 0.05, dilate="interior"),
                               M.object_features(fmap, lmap, 0.05, dilate="none"))
    o = M.object_features(fmap, lmap, threshold=0.05, dilate="all", pool="masked_mean")
    torch.testing.assert_close(o, torch.tensor([[(0 + 1 + 3 + 5 + 7 + 8) / 6, 1.0]]))
    # the centre cell is interior: it spreads to its 4 neighbours
    lmap = torch.zeros(1, 3, 3)
    lmap[0, 1, 1] = 0.5
    o = M.object_features(fmap, lmap, threshold=0.05)        # defaults: interior dilation, GAP
    torch.testing.assert_close(o, torch.tensor([[(1 + 3 + 4 + 5 + 7) / 9, 5 / 9]]))


def test_interior_dilation_on_a_4x4_mask():
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, 0, 0] = mask[0, 1, 2] = True            # a corner cell and an interior cell
    want = torch.zeros(1, 4, 4, dtype=torch.bool)
    want[0, 0, 0] = True                              # the corner stays, does not spread
    for i, j in [(1, 2), (0, 2), (2, 2), (1, 1), (1, 3)]:
        want[0, i, j] = True                          # the interior cell and its 4 neighbours
    torch.testing.assert_close(M.dilate4(mask, "interior"), want)
    allm = want.clone()
    allm[0, 0, 1] = allm[0, 1, 0] = True              # "all": the corner spreads too
    torch.testing.assert_close(M.dilate4(mask, "all"), allm)
    torch.testing.assert_close(M.dilate4(mask, "none"), mask)
    # no cascade: a dilated cell does not spread again
    assert M.dilate4(mask, "interior").sum() == 6
    assert M.DSOLConfig(dilate=True).dilate == "interior" and M.DSOLConfig(dilate=False).dilate == "none"
    with pytest.raises(ValueError, match="dilate"):
        M.DSOLConfig(dilate="diagonal")


def test_object_features_empty_mask():
    fmap = torch.arange(18.0).reshape(1, 2, 3, 3)
    lmap = torch.full((1, 3, 3), 0.01)
    lmap[0, 1, 2] = 0.02
    # masked mean: falls back to the peak; GAP (official): a zero vector
    o = M.object_features(fmap, lmap, threshold=0.05, dilate=False, pool="masked_mean")
    torch.testing.assert_close(o, torch.tensor([[5.0, 14.0]]))
    torch.testing.assert_close(M.object_features(fmap, lmap, threshold=0.05), torch.zeros(1, 2))


def test_kmeans_on_l2_normalised_features():
    # two directions, each at a small and a large magnitude: raw k-means splits by magnitude,
    # the official L2-normalised k-means by direction
    rng = np.random.default_rng(0)
    dirs = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.repeat([0, 1, 0, 1], 10)
    mag = np.repeat([1.0, 1.0, 20.0, 20.0], 10)
    x = dirs[y] * mag[:, None] + rng.normal(0, 0.05, (40, 2))
    D, lab, centres = M.build_dictionary(x, 2, seed=0, l2=True, return_centres=True)
    assert abs(nmi_score(y, lab) - 1.0) < 1e-9
    # the dictionary keys are the raw-feature means of the clusters; the centres are unit-norm
    for c in range(2):
        np.testing.assert_allclose(D[c], x[lab == c].mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, atol=0.01)
    _, lab_raw = M.build_dictionary(x, 2, seed=0, l2=False)
    assert nmi_score(y, lab_raw) < 0.5            # the raw features split the far points from the near ones


def nmi_score(a, b):
    from sklearn.metrics import normalized_mutual_info_score
    return normalized_mutual_info_score(a, b)


def test_dictionary_by_kmeans_and_cluster_order_check():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c * 10, 0.1, (20, 4)) for c in range(3)])
    D, y = M.build_dictionary(x, 3, seed=0)
    assert D.shape == (3, 4) and len(np.unique(y)) == 3
    assert not M.order_changed(y, y, 3)
    assert M.order_changed(y, (y + 1) % 3, 3)
    assert M.order_changed(None, y, 3)


def test_stage_two_product_suppresses_a_silent_class():
    net = _net(K=2, C=2, class_maps="cosine")
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


def test_official_class_maps_are_an_affine_inner_product():
    net = _net(K=2, C=2, class_maps="official", test_softmax=3.0)
    net.dictionary.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    with torch.no_grad():
        net.obj_conv.weight.fill_(0.5)
        net.obj_conv.bias.fill_(0.1)
    fv = torch.tensor([[1.0, 3.0]])[:, :, None, None]              # one location, f = (1, 3)
    m = net.class_maps(fv, prod=False)
    torch.testing.assert_close(m[0, :, 0, 0], torch.tensor([0.5 * 2 + 0.1, 0.5 * 3 + 0.1]))
    lmap = torch.full((1, 1, 1, 1), 0.5)
    torch.testing.assert_close(net.class_maps(fv, lmap), m * 0.5)
    assert not hasattr(_net(class_maps="cosine"), "obj_conv")


def test_test_time_softmax_after_the_product():
    net = _net(K=3, C=8, class_maps="official", test_softmax=3.0)
    net.dictionary.copy_(torch.randn(3, 8))
    v, a = torch.randn(5, 8, 4, 4), torch.randn(5, 6)
    s, lmap = T.predict_class_maps(net, v, a)
    assert s.shape == (5, 3, 4, 4) and lmap.shape == (5, 4, 4)
    with torch.no_grad():
        fv = net.visual(v)
        raw = net.class_maps(fv, net.av_map(fv, net.audio(a)))
    torch.testing.assert_close(s, torch.softmax(3 * raw, dim=1))              # over the classes, ×3
    torch.testing.assert_close(s.sum(1), torch.ones(5, 4, 4))
    # hand-worked: s = (0, ln 2 / 3) at one location → softmax(3 s) = (1/3, 2/3)
    x = torch.tensor([0.0, math.log(2) / 3])
    torch.testing.assert_close(torch.softmax(3 * x, 0), torch.tensor([1 / 3, 2 / 3]))
    net2 = _net(K=3, C=8, class_maps="official", test_softmax=None)
    net2.load_state_dict(net.state_dict())
    torch.testing.assert_close(T.predict_class_maps(net2, v, a)[0], raw)


def test_lc_official_kl_hand_worked():
    p_v = torch.tensor([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]])
    p_a = torch.tensor([[0.25, 0.25, 0.5], [0.6, 0.2, 0.2]])
    # official: nn.KLDivLoss()(log p_v, p_a), mean over the 2·3 elements = Σ p_a log(p_a / p_v) / 6
    official = sum(float(a * math.log(a / v)) for a, v in zip(p_a.flatten(), p_v.flatten())) / 6
    paper = sum(float(v * math.log(v / a)) for v, a in zip(p_v.flatten(), p_a.flatten())) / 2  # Eq. 7, batch mean
    got = T.lc_loss(p_v.log(), p_a, "official")
    assert got.item() == pytest.approx(official, rel=1e-6)
    with warnings.catch_warnings():   # torch warns that this 'mean' reduction is not KL's batch mean: the official form
        warnings.filterwarnings("ignore", message="reduction: 'mean' divides", category=UserWarning)
        reference = torch.nn.KLDivLoss()(p_v.log(), p_a).item()
    assert got.item() == pytest.approx(reference, rel=1e-6)
    assert T.lc_loss(p_v.log(), p_a, "paper").item() == pytest.approx(paper, rel=1e-5)
    assert abs(official - paper) > 0.05
    # row 0 alone: KL(p_a‖p_v) = .25 ln .5 + .5 ln 2 = .25 ln 2, over 3 elements
    assert T.lc_loss(p_v[:1].log(), p_a[:1]).item() == pytest.approx(0.25 * math.log(2) / 3, rel=1e-6)
    # a zero in p_a contributes 0 (xlogy), not NaN
    assert torch.isfinite(T.lc_loss(p_v.log(), torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])))


def test_stage_two_loss_terms_follow_the_settings():
    v, a = torch.randn(8, 8, 7, 7), torch.randn(8, 6)
    p = torch.softmax(torch.randn(8, 3), 1)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    full = T.stage_two_loss(_net(), v, a, p, gen())
    only_l1 = T.stage_two_loss(_net(use_lc=False), v, a, p, gen())
    only_lc = T.stage_two_loss(_net(use_l1=False), v, a, p, gen())
    torch.testing.assert_close(full, only_lc + only_l1)
    lam1 = T.stage_two_loss(_net(use_lc=False, lam=1.0), v, a, p, gen())
    torch.testing.assert_close(lam1, 2 * only_l1)
    assert only_lc.item() >= 0
    for form in ("official", "paper"):     # gradients reach the maps and the class-map affine
        net = _net(lc_form=form, class_maps="official")
        net.dictionary.copy_(torch.randn(3, 8))
        T.stage_two_loss(net, v, a, p, gen()).backward()
        assert net.obj_conv.weight.grad.abs().sum() > 0 and net.v_loc.mlp[0].weight.grad.abs().sum() > 0


def test_train_stage_one_alternates_and_builds_a_dictionary():
    net = _net(K=2, stage1_epochs=2, stage2_epochs=1, cluster_from_epoch=1, batch_size=8)
    v = torch.randn(16, 8, 7, 7)
    a = torch.randn(16, 6)
    hist = T.train_stage_one(net, v, a)
    assert len(hist["loc_loss"]) == 2 and hist["reinit"] == [True] and len(hist["cls_loss"]) == net.cfg.cls_epochs == 3
    assert net.dictionary.abs().sum() > 0
    hist2 = T.train_stage_two(net, v, a)
    assert len(hist2["loss"]) == net.cfg.stage2_epochs


def test_classifiers_reinitialised_at_every_alternation():
    torch.manual_seed(0)
    net = M.DSOLNet(64, 48, 4, M.DSOLConfig(emb_dim=8, n_clusters=4, stage1_epochs=3, cluster_from_epoch=1,
                                            cls_epochs=0, batch_size=8))
    before = net.v_cls.weight.detach().clone(), net.a_cls.weight.detach().clone()
    v, a = torch.randn(16, 64, 3, 3), torch.randn(16, 48)
    hist = T.train_stage_one(net, v, a)
    assert hist["reinit"] == [True, True]          # both alternations, whatever the cluster order
    for layer, old in zip((net.v_cls, net.a_cls), before):
        assert not torch.allclose(layer.weight, old)
        assert 0.008 < layer.weight.std().item() < 0.012 and abs(layer.weight.mean().item()) < 0.003
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    # the classifiers have their own fresh optimiser: the main one does not hold them
    net2 = M.DSOLNet(64, 48, 4, M.DSOLConfig(emb_dim=8, n_clusters=4, stage1_epochs=2, batch_size=8))
    h2 = T.train_stage_one(net2, v, a)
    assert len(h2["cls_loss"]) == 3 and h2["reinit"] == [True]
    # avlib's earlier variant: re-initialised only when the cluster order changed
    net3 = M.DSOLNet(64, 48, 4, M.DSOLConfig(emb_dim=8, n_clusters=4, stage1_epochs=3, batch_size=8,
                                             reinit="on_reorder", cls_epochs=1))
    h3 = T.train_stage_one(net3, v, a)
    assert h3["reinit"] == [True, h3["reorder"][1]]


def test_cluster_maps_to_classes_sums_the_assigned_clusters_as_officially():
    maps = torch.tensor([[[[0.1]], [[0.7]], [[0.3]]]])       # 3 clusters, 1×1 maps
    out = T.cluster_maps_to_classes(maps, [1, 0, 1], n_classes=3)        # official: np.sum(pred[row == 1], 0)
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.7, 0.4, 0.0]))
    out = T.cluster_maps_to_classes(maps, [1, 0, 1], n_classes=3, reduce="max")
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.7, 0.3, 0.0]))
    with pytest.raises(ValueError, match="reduce"):
        T.cluster_maps_to_classes(maps, [1, 0, 1], n_classes=3, reduce="mean")


def _tiny_data(seed=0):
    """A runner's data dict of random features (2 classes, 7×7 maps, 32-pixel images) and the split maker."""
    g = torch.Generator().manual_seed(seed)

    def split(n):
        return {"vfeat": torch.randn(n, 8, 7, 7, generator=g), "afeat": torch.randn(n, 6, generator=g),
                "labels": np.arange(n) % 2, "boxes": np.tile([[0, 0, 16, 16]], (n, 1))}
    return {"solo_train": split(16), "mix_train": split(16), "solo_test": split(8), "num_classes": 2,
            "image_size": 32}, split


def test_runners_accept_a_device(tmp_path, monkeypatch):
    import avlib.train
    from avlib.experiments import dsol as X
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path)
    data, split = _tiny_data()
    dev = torch.device("cpu")
    r = X.run_dsol(data, "smoke", seed=0, splits=(), device=dev, emb_dim=8, stage1_epochs=2, stage2_epochs=1,
                   batch_size=8)
    r2 = X.run_dsol(data, "smoke", seed=0, splits=(), emb_dim=8, stage1_epochs=2, stage2_epochs=1, batch_size=8)
    assert {"iou@0.5", "auc", "nmi"} <= set(r) and r == r2
    b = X.run_baseline(data, "smoke", "ots", seed=0, splits=(), device=dev)
    assert 0 <= b["auc"] <= 1


def test_a_cached_baseline_is_the_model_run_baseline_trained(tmp_path, monkeypatch):
    """``dsol_cache.cached_baseline`` loads the model behind a ``run_baseline`` call (its maps score what the
    call reported): the seed, length and data asked for among several cached ones, never a file of older code; it trains nothing."""
    import avlib.train
    from avlib.experiments import dsol as X
    from avlib.experiments.dsol_cache import cached_baseline
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path)
    data, _ = _tiny_data()
    other, _ = _tiny_data(seed=1)   # other features under another data identity, same seeds and lengths
    other["identity"] = "world-scale=[0.2, 0.45]"

    def score(d, model):
        return X.eval_single(model.maps(d["solo_test"]["vfeat"], d["solo_test"]["afeat"]), d["solo_test"], d["image_size"])

    for kind in ("ots", "attention"):
        for d in (data, other):
            runs = {(s, e): X.run_baseline(d, "smoke", kind, seed=s, splits=(), epochs=e) for s in (3, 4) for e in (1, 2)}
            for (s, e), r in runs.items():
                assert score(d, cached_baseline(d, "smoke", kind, s, epochs=e)) == {"iou@0.5": r["iou@0.5"], "auc": r["auc"]}
    a, b = (cached_baseline(data, "smoke", "ots", s, epochs=2).v_emb.weight for s in (3, 4))
    assert not torch.equal(a, b)
    assert not torch.equal(cached_baseline(other, "smoke", "ots", 4, epochs=2).v_emb.weight, b)
    # a file of older code (its name is not its config's key under the current source) is never loaded
    blob = next(blob for blob in (torch.load(p, weights_only=False) for p in sorted(tmp_path.glob("dsol-baseline-ots-*.pt")))
                if blob["config"]["seed"] == 4 and blob["config"]["epochs"] == 2 and "data_id" not in blob["config"])
    blob["state_dict"] = {k: torch.zeros_like(v) for k, v in blob["state_dict"].items()}
    torch.save(blob, tmp_path / "dsol-baseline-ots-0000000000000000.pt")   # same config, sorts first
    before = sorted(tmp_path.iterdir())
    assert torch.equal(cached_baseline(data, "smoke", "ots", 4, epochs=2).v_emb.weight, b)
    with pytest.raises(FileNotFoundError, match="run_baseline"):
        cached_baseline(data, "smoke", "ots", 5, epochs=2)   # never trained
    with pytest.raises(ValueError, match="valid"):
        cached_baseline(data, "smoke", "lvs", 3)
    assert sorted(tmp_path.iterdir()) == before   # loading trains and writes nothing


def test_baselines_give_maps_in_unit_range():
    for kind in ("ots", "attention"):
        net = B.BaselineNet(kind, 8, 6, emb=8)
        loss = net.loss(torch.randn(4, 8, 7, 7), torch.randn(4, 6), torch.Generator().manual_seed(0))
        loss.backward()
        m = net.maps(torch.randn(4, 8, 7, 7), torch.randn(4, 6))
        assert m.shape == (4, 7, 7) and m.min() >= 0 and m.max() <= 1
    with pytest.raises(ValueError, match="unknown baseline"):
        B.BaselineNet("dmc", 8, 6)


def test_kmeans_restarts_and_bce_clamp_are_named_options(monkeypatch):
    """DSOLConfig.kmeans_n_init (avlib 4; official: scikit-learn's default) reaches k-means;
    DSOLConfig.bce_eps (avlib 1e-6; official nn.BCELoss: eps 0, log clamped at -100) reaches Eq. 1's BCE."""
    import avlib.models.dsol_train as T
    seen = []
    real = T.build_dictionary
    monkeypatch.setattr(T, "build_dictionary", lambda *a, **k: seen.append(k["n_init"]) or real(*a, **k))
    g = torch.Generator().manual_seed(0)
    v, a = torch.randn(16, 64, 7, 7, generator=g), torch.randn(16, 48, generator=g)
    net = M.DSOLNet(64, 48, 4, M.DSOLConfig(emb_dim=8, n_clusters=4, stage1_epochs=2, batch_size=8, cls_epochs=1,
                                            kmeans_n_init=1))
    T.train_stage_one(net, v, a)
    assert seen and set(seen) == {1}
    losses = {}
    for eps in (1e-6, 0.0):
        torch.manual_seed(0)
        net = M.DSOLNet(64, 48, 4, M.DSOLConfig(emb_dim=8, n_clusters=4, bce_eps=eps))
        with torch.no_grad():
            net.loc_conv.weight.fill_(1e4)     # saturated scores (0 or 1): the clamp decides the loss
        losses[eps] = M.localization_loss(net, v[:4], a[:4], torch.Generator().manual_seed(1)).item()
    # a wrong saturated score costs -log(1e-6) = 13.8 with the clamp, 100 (nn.BCELoss's log floor) without
    assert losses[1e-6] <= 13.82 < losses[0.0], losses


def test_validation_curve_is_recorded_without_changing_training(tmp_path, monkeypatch):
    """Stage one's and the baselines' validation curves: IoU@0.5 on ``solo_val`` every ``val_every`` epochs
    and at the last; recording them draws no random numbers, so the trained weights equal a run without them."""
    import avlib.train
    from avlib.experiments import dsol as X
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path)
    data, split = _tiny_data()
    kw = dict(seed=0, splits=(), emb_dim=8, stage1_epochs=3, stage2_epochs=1, batch_size=8, keep_model=True)
    plain = X.run_dsol(data, "smoke", **kw)
    assert plain["val_curve"] == []                      # no validation split (real data): no curve
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path / "with_val")
    curved = X.run_dsol({**data, "solo_val": split(8)}, "smoke", **kw)
    assert [e for e, _ in curved["val_curve"]] == [1, 2, 3]      # smoke: every epoch
    assert all(0 <= v <= 1 for _, v in curved["val_curve"])
    for (k, w1), w2 in zip(plain["stage1"].state_dict().items(), curved["stage1"].state_dict().values()):
        assert torch.equal(w1, w2), k
    record, curve = X._val_recorder({"solo_val": data["solo_test"], "image_size": 32}, every=2, last=5,
                                    maps=lambda v: torch.rand(len(v["afeat"]), 7, 7))
    for epoch in range(5):
        record(epoch)
    assert [e for e, _ in curve] == [2, 4, 5]
    b = X.run_baseline({**data, "solo_val": split(8)}, "smoke", "ots", seed=0, splits=(), epochs=2)
    assert [e for e, _ in b["val_curve"]] == [1, 2]


def test_a_longer_stage_one_is_the_same_model_until_the_shorter_ones_last_epoch(tmp_path, monkeypatch):
    """The chapter's trained-on check reads a longer run as the book's model trained further: stage one
    (with and without alternation) and the baselines must not depend on their total number of epochs
    before it (no schedule keyed to the last epoch), so the maps after every epoch up to there are equal."""
    import avlib.train
    from avlib.experiments import dsol as X
    monkeypatch.setattr(avlib.train, "DEFAULT_CACHE", tmp_path)
    real, seen = X._val_recorder, []

    def spy(data, every, last, maps):   # the validation maps after each epoch (continuous: any change shows)
        record, curve = real(data, every, last, maps)
        return (lambda epoch: seen.append(maps(data["solo_val"]).detach().clone()) or record(epoch)), curve

    monkeypatch.setattr(X, "_val_recorder", spy)
    data, split = _tiny_data()
    data = {**data, "solo_val": split(8)}
    kw = dict(seed=1, splits=(), emb_dim=8, stage2_epochs=1, batch_size=8, cls_epochs=1)
    runs = [lambda e, alt=alt: X.run_dsol(data, "smoke", stage1_epochs=e, alternating=alt, **kw) for alt in (True, False)]
    runs += [lambda e, kind=kind: X.run_baseline(data, "smoke", kind, seed=1, splits=(), epochs=e) for kind in ("ots", "attention")]
    for fn in runs:
        seen.clear()
        fn(2)
        short = list(seen)
        seen.clear()
        fn(4)
        assert len(short) == 2 and len(seen) == 4 and not torch.equal(seen[0], seen[3])   # it trains
        assert all(torch.equal(a, b) for a, b in zip(short, seen[:2]))
